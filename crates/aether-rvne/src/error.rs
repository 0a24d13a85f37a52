//! One error type for every RVNE failure, v1 and v2.
//!
//! Each failure has its own variant so a device can map it to its own status code.
//! The v1 variants print the seed's host messages verbatim (the seed's tests match on
//! "magic", "version", "length", "CRC" and "gqa").

use core::fmt;

/// `Result` with [`RvneError`].
pub type Result<T> = core::result::Result<T, RvneError>;

/// Why bytes are not a valid RVNE file, or why a file cannot be built.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvneError {
    // ---- shared by v1 and v2 (first checks on any file) ----
    /// Fewer bytes than the smallest possible file of that version.
    TooShort,
    /// The first four bytes are not `45 4E 56 52` ("ENVR").
    BadMagic,
    /// The version field is neither 1 nor 2 (or not the one the caller asked for).
    WrongVersion(u16),
    /// Stored CRC-32 differs from the CRC-32 of the bytes before it.
    CrcMismatch {
        /// The trailing four bytes, little-endian.
        stored: u32,
        /// CRC-32 (IEEE) over everything before them.
        computed: u32,
    },

    // ---- v1 ----
    /// v1: buffer length is not `24 + weights_len + 4`.
    SizeMismatch,
    /// v1 header: input_dim, n_q_heads, n_kv_heads or head_dim is 0.
    ZeroDim,
    /// v1 header: n_q_heads is not a multiple of n_kv_heads.
    InvalidGqaRatio,
    /// v1 header: n_layers is 0 or n_classes is below 2.
    DegenerateShape,
    /// v1: the weights length is not a multiple of the element size.
    WeightsNotElemMultiple,
    /// v1: the weights length differs from the size the header's shape implies
    /// (only checked by [`crate::WeightBlobView::check_shape`], not by parse, as in the seed).
    WeightsShapeMismatch,
    /// The weights (v1) or a section (v2) do not fit the format's u32 length fields.
    TooLarge,

    // ---- v2 ----
    /// v2: the header's file_len differs from the buffer length.
    FileLengthMismatch,
    /// v2: flag bits this reader does not know are set.
    UnsupportedFlags(u16),
    /// v2: the metadata section, the tensor table or the data region does not fit
    /// between the header and the CRC, or they are out of order.
    SectionOutOfBounds,
    /// v2: data_offset is not a multiple of 16.
    MisalignedSection,
    /// v2: a metadata entry runs past the end of the metadata section.
    MetaTruncated,
    /// v2: bytes are left in the metadata section after meta_count entries.
    MetaTrailingBytes,
    /// v2: a metadata type code this reader does not know.
    BadMetaType(u8),
    /// v2: a metadata value's bytes contradict its type (wrong length, bool not 0/1,
    /// malformed string array).
    BadMetaValue,
    /// v2: two metadata entries have the same key.
    DuplicateKey,
    /// v2: a tensor table entry runs past the end of the table.
    TableTruncated,
    /// v2: bytes are left in the tensor table after tensor_count entries.
    TableTrailingBytes,
    /// v2: a tensor dtype code this reader does not know.
    BadDtype(u8),
    /// v2: a tensor with no dimensions.
    ZeroRank,
    /// v2: a tensor with more than [`crate::v2::MAX_DIMS`] dimensions.
    TooManyDims(u8),
    /// A shape product or byte size overflows.
    SizeOverflow,
    /// v2: a tensor's byte length contradicts its dtype and shape
    /// (builder: the data length contradicts the shape).
    ShapeLengthMismatch,
    /// v2: a tensor's byte offset is not a multiple of 16.
    MisalignedTensor,
    /// v2: a tensor's bytes lie outside the data region.
    TensorOutOfBounds,
    /// v2: a tensor starts before the previous one ends (tensors are stored in table order).
    TensorOverlap,
    /// v2: two tensors have the same name.
    DuplicateName,
    /// v2: a name, key or string value is not UTF-8.
    BadUtf8,
    /// v2: an empty tensor name or metadata key.
    EmptyName,
    /// Builder: a name or key longer than 65,535 bytes.
    NameTooLong,
    /// Builder: a non-finite value in a tensor to be stored as int8.
    NonFiniteValue,
    /// Builder: a finite value too large for f16 (|x| > 65504).
    F16Overflow,
    /// v2: more metadata entries or tensors than [`crate::v2::MAX_ENTRIES`].
    TooManyEntries,

    // ---- readers ----
    /// [`crate::RvneV2View::require_tensor`]: no tensor has that name.
    MissingTensor,
    /// [`crate::RvneV2View::require_tensor`]: the tensor's shape is not the one expected.
    UnexpectedShape,
    /// A row or element index past the end of a tensor or matrix.
    IndexOutOfRange,
    /// The output slice has the wrong length for the decoded row or tensor.
    OutputLenMismatch,
}

impl fmt::Display for RvneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RvneError::*;
        match *self {
            TooShort => f.write_str("blob too short"),
            BadMagic => f.write_str("bad magic"),
            WrongVersion(v) => write!(f, "unsupported blob version {v}"),
            CrcMismatch { stored, computed } => write!(
                f,
                "blob CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            SizeMismatch => f.write_str("blob length doesn't match weights_len in header"),
            ZeroDim => f.write_str("header: zero-valued dimension(s)"),
            InvalidGqaRatio => {
                f.write_str("header: n_q_heads must be divisible by n_kv_heads (GQA)")
            }
            DegenerateShape => f.write_str("header: n_layers must be ≥ 1 and n_classes ≥ 2"),
            WeightsNotElemMultiple => {
                f.write_str("weights length is not a multiple of dtype element size")
            }
            WeightsShapeMismatch => {
                f.write_str("weights length doesn't match the size the header's shape implies")
            }
            TooLarge => f.write_str("weights or section too large for a u32 length field"),
            FileLengthMismatch => f.write_str("file length doesn't match file_len in header"),
            UnsupportedFlags(v) => write!(f, "unsupported header flags {v:#06x}"),
            SectionOutOfBounds => f.write_str("section out of bounds or out of order"),
            MisalignedSection => f.write_str("data section offset is not 16-byte aligned"),
            MetaTruncated => f.write_str("metadata entry runs past the metadata section"),
            MetaTrailingBytes => f.write_str("trailing bytes after the last metadata entry"),
            BadMetaType(t) => write!(f, "unknown metadata type code {t}"),
            BadMetaValue => f.write_str("metadata value bytes contradict its type"),
            DuplicateKey => f.write_str("duplicate metadata key"),
            TableTruncated => f.write_str("tensor table entry runs past the tensor table"),
            TableTrailingBytes => f.write_str("trailing bytes after the last tensor table entry"),
            BadDtype(d) => write!(f, "unknown tensor dtype code {d}"),
            ZeroRank => f.write_str("tensor has no dimensions"),
            TooManyDims(n) => write!(f, "tensor has {n} dimensions (at most 4)"),
            SizeOverflow => f.write_str("tensor shape or size overflows"),
            ShapeLengthMismatch => f.write_str("tensor length doesn't match its dtype and shape"),
            MisalignedTensor => f.write_str("tensor offset is not 16-byte aligned"),
            TensorOutOfBounds => f.write_str("tensor bytes lie outside the data section"),
            TensorOverlap => f.write_str("tensor overlaps the previous tensor"),
            DuplicateName => f.write_str("duplicate tensor name"),
            BadUtf8 => f.write_str("name, key or string value is not valid UTF-8"),
            EmptyName => f.write_str("empty tensor name or metadata key"),
            NameTooLong => f.write_str("name or key longer than 65535 bytes"),
            NonFiniteValue => f.write_str("non-finite value cannot be quantized to int8"),
            F16Overflow => f.write_str("value out of f16 range"),
            TooManyEntries => f.write_str("too many metadata entries or tensors"),
            MissingTensor => f.write_str("required tensor is missing"),
            UnexpectedShape => f.write_str("tensor shape differs from the expected shape"),
            IndexOutOfRange => f.write_str("row or element index out of range"),
            OutputLenMismatch => f.write_str("output slice length doesn't match"),
        }
    }
}

impl core::error::Error for RvneError {}

/// Coarse class of an [`RvneError`], for callers that map failures to a few status codes
/// (the device maps each kind to one `esp_err_t`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvneErrorKind {
    /// Not a well-formed RVNE file this reader supports: too short, magic, version,
    /// lengths, sections, entries, codes, names.
    InvalidFormat,
    /// Well-formed but the CRC-32 does not match.
    Checksum,
    /// Well-formed, but the declared shape is impossible or contradicts the data.
    InvalidShape,
    /// The caller asked for something impossible (index, output length, unencodable input).
    Usage,
}

impl RvneError {
    /// The coarse class of this error.
    pub const fn kind(&self) -> RvneErrorKind {
        use RvneError::*;
        match self {
            CrcMismatch { .. } => RvneErrorKind::Checksum,
            ZeroDim
            | InvalidGqaRatio
            | DegenerateShape
            | WeightsNotElemMultiple
            | WeightsShapeMismatch
            | TooLarge
            | ZeroRank
            | TooManyDims(_)
            | SizeOverflow
            | ShapeLengthMismatch => RvneErrorKind::InvalidShape,
            NameTooLong | NonFiniteValue | F16Overflow | IndexOutOfRange | OutputLenMismatch => {
                RvneErrorKind::Usage
            }
            MissingTensor | UnexpectedShape => RvneErrorKind::InvalidShape,
            TooShort | BadMagic | WrongVersion(_) | SizeMismatch | FileLengthMismatch
            | UnsupportedFlags(_) | SectionOutOfBounds | MisalignedSection | MetaTruncated
            | MetaTrailingBytes | BadMetaType(_) | BadMetaValue | DuplicateKey | TooManyEntries
            | TableTruncated | TableTrailingBytes | BadDtype(_) | MisalignedTensor
            | TensorOutOfBounds | TensorOverlap | DuplicateName | BadUtf8 | EmptyName => {
                RvneErrorKind::InvalidFormat
            }
        }
    }
}

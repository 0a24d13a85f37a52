//! RVNE v1: the seed's weight blob, byte for byte.
//!
//! ```text
//! 0x00 u32 magic 0x52564E45 ("ENVR" on disk)   0x0E u16 head_dim
//! 0x04 u16 version = 1                          0x10 u16 n_layers
//! 0x06 u8  flags (bit 0: 0 = f32, 1 = f16)      0x12 u16 n_classes
//! 0x07 u8  reserved (written 0)                 0x14 u32 weights_len
//! 0x08 u16 input_dim                            0x18 weights (weights_len bytes)
//! 0x0A u16 n_q_heads                            end-4 u32 CRC-32 of everything before
//! 0x0C u16 n_kv_heads
//! ```
//!
//! Two layers, as in smoltcp: [`RvneV1View`] reads and writes fields in place and judges
//! nothing; [`WeightBlobHeader`] is the validated meaning. [`WeightBlobView`] is the checked,
//! borrowed result of [`WeightBlobView::parse`] (no allocation: this is what the device uses);
//! [`WeightBlob`] owns its weights (host side).
//!
//! Model semantics fixed by this crate (the seed left the matrix orientation open): the
//! weights are, per layer, Wq `[input_dim][q_total]`, Wk `[input_dim][kv_total]`,
//! Wv `[input_dim][kv_total]`, Wo `[q_total][input_dim]`, then the classifier
//! `[input_dim][n_classes]`; each matrix is row-major `[in][out]`, so `y = x · W`.
//! See `docs/rvne.md`.

use core::ops::Range;

use crate::error::{Result, RvneError};
use crate::le;

/// Byte ranges of the v1 header fields.
mod field {
    pub type Field = core::ops::Range<usize>;
    pub const MAGIC: Field = 0..4;
    pub const VERSION: Field = 4..6;
    pub const FLAGS: usize = 6;
    pub const RESERVED: usize = 7;
    pub const INPUT_DIM: Field = 8..10;
    pub const N_Q_HEADS: Field = 10..12;
    pub const N_KV_HEADS: Field = 12..14;
    pub const HEAD_DIM: Field = 14..16;
    pub const N_LAYERS: Field = 16..18;
    pub const N_CLASSES: Field = 18..20;
    pub const WEIGHTS_LEN: Field = 20..24;
    pub const fn weights(len: usize) -> Field {
        WEIGHTS_LEN.end..WEIGHTS_LEN.end + len
    }
}

/// `0x52564E45`; on disk `45 4E 56 52` ("ENVR"). Shared by v1 and v2.
pub const WEIGHT_BLOB_MAGIC: u32 = 0x5256_4E45;
/// The version field of a v1 file.
pub const WEIGHT_BLOB_VERSION: u16 = 1;
/// Bytes before the weights.
pub const WEIGHT_BLOB_HEADER_LEN: usize = field::WEIGHTS_LEN.end;
/// Bytes after the weights (the CRC-32).
pub const WEIGHT_BLOB_FOOTER_LEN: usize = 4;

/// Storage type of v1 weights (flags bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightDtype {
    /// IEEE 754 binary32, little-endian (flags bit 0 clear).
    F32,
    /// IEEE 754 binary16, little-endian (flags bit 0 set).
    F16,
}

impl WeightDtype {
    /// Bytes per element: 4 or 2.
    pub const fn elem_bytes(self) -> usize {
        match self {
            WeightDtype::F32 => 4,
            WeightDtype::F16 => 2,
        }
    }

    /// Lower-case name, `"f32"` or `"f16"`.
    pub const fn name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "f32",
            WeightDtype::F16 => "f16",
        }
    }

    /// Decode element `i` of a little-endian array of this dtype.
    #[inline]
    pub fn read(self, bytes: &[u8], i: usize) -> Option<f32> {
        let at = i.checked_mul(self.elem_bytes())?;
        match self {
            WeightDtype::F32 => le::f32_at(bytes, at),
            WeightDtype::F16 => le::f16_at(bytes, at),
        }
    }
}

/// A field-level view of v1 bytes, in place. Judges nothing.
///
/// Use [`RvneV1View::new_checked`] on untrusted bytes: after it returns `Ok`, no accessor
/// panics. [`RvneV1View::new_unchecked`] is for writing a header into a buffer of exactly
/// [`WeightBlobHeader::buffer_len`] bytes; on such a view accessors panic if the buffer is
/// shorter than the fields they touch.
#[derive(Debug, Clone)]
pub struct RvneV1View<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RvneV1View<T> {
    /// Wrap a buffer without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        RvneV1View { buffer }
    }

    /// Wrap a buffer after [`RvneV1View::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let view = Self::new_unchecked(buffer);
        view.check_len()?;
        Ok(view)
    }

    /// `Err(TooShort)` below 28 bytes, `Err(SizeMismatch)` unless the buffer is exactly
    /// `24 + weights_len + 4` bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < WEIGHT_BLOB_HEADER_LEN + WEIGHT_BLOB_FOOTER_LEN {
            return Err(RvneError::TooShort);
        }
        let expected = (self.weights_len() as usize)
            .checked_add(WEIGHT_BLOB_HEADER_LEN + WEIGHT_BLOB_FOOTER_LEN)
            .ok_or(RvneError::SizeMismatch)?;
        if len != expected {
            return Err(RvneError::SizeMismatch);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_field(&self, f: Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_le_bytes([b[0], b[1]])
    }

    /// Magic number (should be [`WEIGHT_BLOB_MAGIC`]).
    pub fn magic(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::MAGIC];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Version field.
    pub fn version(&self) -> u16 {
        self.u16_field(field::VERSION)
    }
    /// Flags byte (bit 0 is the dtype; other bits are ignored).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Reserved byte (written 0, not checked).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }
    /// Weight dtype from flags bit 0.
    pub fn dtype(&self) -> WeightDtype {
        if self.flags() & 1 == 0 {
            WeightDtype::F32
        } else {
            WeightDtype::F16
        }
    }
    /// Per-frame input feature dimension.
    pub fn input_dim(&self) -> u16 {
        self.u16_field(field::INPUT_DIM)
    }
    /// Query heads.
    pub fn n_q_heads(&self) -> u16 {
        self.u16_field(field::N_Q_HEADS)
    }
    /// Key/value heads.
    pub fn n_kv_heads(&self) -> u16 {
        self.u16_field(field::N_KV_HEADS)
    }
    /// Per-head dimension.
    pub fn head_dim(&self) -> u16 {
        self.u16_field(field::HEAD_DIM)
    }
    /// Attention layers.
    pub fn n_layers(&self) -> u16 {
        self.u16_field(field::N_LAYERS)
    }
    /// Classifier outputs.
    pub fn n_classes(&self) -> u16 {
        self.u16_field(field::N_CLASSES)
    }
    /// Payload bytes declared by the header.
    pub fn weights_len(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::WEIGHTS_LEN];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    /// The trailing CRC-32 as stored.
    pub fn stored_crc(&self) -> u32 {
        let b = self.buffer.as_ref();
        let at = b.len() - WEIGHT_BLOB_FOOTER_LEN;
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    /// CRC-32 of everything before the trailing four bytes.
    pub fn computed_crc(&self) -> u32 {
        let b = self.buffer.as_ref();
        le::crc32(&b[..b.len() - WEIGHT_BLOB_FOOTER_LEN])
    }
    /// Whether the stored CRC matches.
    pub fn verify_crc(&self) -> bool {
        self.stored_crc() == self.computed_crc()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> RvneV1View<&'a T> {
    /// The weight payload, borrowed for the buffer's lifetime.
    pub fn weights(&self) -> &'a [u8] {
        let len = self.weights_len() as usize;
        &self.buffer.as_ref()[field::weights(len)]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RvneV1View<T> {
    fn set_u16_field(&mut self, f: Range<usize>, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_le_bytes());
    }
    /// Set the magic number.
    pub fn set_magic(&mut self, v: u32) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&v.to_le_bytes());
    }
    /// Set the version field.
    pub fn set_version(&mut self, v: u16) {
        self.set_u16_field(field::VERSION, v);
    }
    /// Set the flags byte.
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    /// Set the reserved byte.
    pub fn set_reserved(&mut self, v: u8) {
        self.buffer.as_mut()[field::RESERVED] = v;
    }
    /// Set input_dim.
    pub fn set_input_dim(&mut self, v: u16) {
        self.set_u16_field(field::INPUT_DIM, v);
    }
    /// Set n_q_heads.
    pub fn set_n_q_heads(&mut self, v: u16) {
        self.set_u16_field(field::N_Q_HEADS, v);
    }
    /// Set n_kv_heads.
    pub fn set_n_kv_heads(&mut self, v: u16) {
        self.set_u16_field(field::N_KV_HEADS, v);
    }
    /// Set head_dim.
    pub fn set_head_dim(&mut self, v: u16) {
        self.set_u16_field(field::HEAD_DIM, v);
    }
    /// Set n_layers.
    pub fn set_n_layers(&mut self, v: u16) {
        self.set_u16_field(field::N_LAYERS, v);
    }
    /// Set n_classes.
    pub fn set_n_classes(&mut self, v: u16) {
        self.set_u16_field(field::N_CLASSES, v);
    }
    /// Set weights_len.
    pub fn set_weights_len(&mut self, v: u32) {
        self.buffer.as_mut()[field::WEIGHTS_LEN].copy_from_slice(&v.to_le_bytes());
    }
    /// The weight payload, writable (length from the weights_len field).
    pub fn weights_mut(&mut self) -> &mut [u8] {
        let len = self.weights_len() as usize;
        &mut self.buffer.as_mut()[field::weights(len)]
    }
    /// Compute and store the trailing CRC-32.
    pub fn fill_crc(&mut self) {
        let crc = self.computed_crc();
        let b = self.buffer.as_mut();
        let at = b.len() - WEIGHT_BLOB_FOOTER_LEN;
        b[at..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// One of the four per-layer attention matrices of a v1 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum V1Matrix {
    /// Query projection, `[input_dim][q_total]`.
    Wq,
    /// Key projection, `[input_dim][kv_total]`.
    Wk,
    /// Value projection, `[input_dim][kv_total]`.
    Wv,
    /// Output projection, `[q_total][input_dim]`.
    Wo,
}

impl V1Matrix {
    /// The four matrices in file order.
    pub const ALL: [V1Matrix; 4] = [V1Matrix::Wq, V1Matrix::Wk, V1Matrix::Wv, V1Matrix::Wo];

    /// Short name (`"wq"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            V1Matrix::Wq => "wq",
            V1Matrix::Wk => "wk",
            V1Matrix::Wv => "wv",
            V1Matrix::Wo => "wo",
        }
    }
}

/// Where a matrix lives in the weight payload.
///
/// Row-major `[rows = in][cols = out]`: element `(r, c)` is element `r * cols + c`
/// counted from the start of `byte_range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixLayout {
    /// Input dimension (rows).
    pub rows: usize,
    /// Output dimension (columns).
    pub cols: usize,
    /// Byte range inside the weight payload (not the file).
    pub byte_range: Range<usize>,
}

/// The validated meaning of a v1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeightBlobHeader {
    /// Weight storage type.
    pub dtype: WeightDtype,
    /// Per-frame input feature dimension.
    pub input_dim: u16,
    /// Query heads.
    pub n_q_heads: u16,
    /// Key/value heads (must divide `n_q_heads`).
    pub n_kv_heads: u16,
    /// Per-head dimension.
    pub head_dim: u16,
    /// Attention layers (at least 1).
    pub n_layers: u16,
    /// Classifier outputs (at least 2).
    pub n_classes: u16,
}

impl WeightBlobHeader {
    /// The seed's default AETHER shape: f32, input 16, 4 query heads, 1 kv head, head_dim 32,
    /// 2 layers, 4 classes (41,216 weight bytes).
    pub const DEFAULT_AETHER: WeightBlobHeader = WeightBlobHeader {
        dtype: WeightDtype::F32,
        input_dim: 16,
        n_q_heads: 4,
        n_kv_heads: 1,
        head_dim: 32,
        n_layers: 2,
        n_classes: 4,
    };

    /// Bytes per weight element: 4 or 2.
    pub const fn elem_bytes(&self) -> usize {
        self.dtype.elem_bytes()
    }

    /// Seed checks, in the seed's order: zero dims, GQA ratio, degenerate shape.
    pub fn validate(&self) -> Result<()> {
        if self.input_dim == 0 || self.n_q_heads == 0 || self.n_kv_heads == 0 || self.head_dim == 0
        {
            return Err(RvneError::ZeroDim);
        }
        if !self.n_q_heads.is_multiple_of(self.n_kv_heads) {
            return Err(RvneError::InvalidGqaRatio);
        }
        if self.n_layers == 0 || self.n_classes < 2 {
            return Err(RvneError::DegenerateShape);
        }
        Ok(())
    }

    /// `n_q_heads * head_dim` (at most 65535², fits a u32).
    pub const fn q_total(&self) -> usize {
        self.n_q_heads as usize * self.head_dim as usize
    }

    /// `n_kv_heads * head_dim`.
    pub const fn kv_total(&self) -> usize {
        self.n_kv_heads as usize * self.head_dim as usize
    }

    /// Elements of one layer: `2·input_dim·q_total + 2·input_dim·kv_total`.
    pub fn layer_elems(&self) -> Option<usize> {
        let d = self.input_dim as usize;
        let q = d.checked_mul(self.q_total())?;
        let kv = d.checked_mul(self.kv_total())?;
        q.checked_add(kv)?.checked_mul(2)
    }

    /// Elements the shape implies: all layers plus the classifier.
    pub fn expected_weight_elems(&self) -> Option<usize> {
        let layers = self.layer_elems()?.checked_mul(self.n_layers as usize)?;
        layers.checked_add(self.input_dim as usize * self.n_classes as usize)
    }

    /// Bytes the shape implies (`None` if it overflows `usize`).
    pub fn expected_weights_len(&self) -> Option<usize> {
        self.expected_weight_elems()?.checked_mul(self.elem_bytes())
    }

    /// Where matrix `m` of layer `layer` lives in the payload, or `None` if
    /// `layer >= n_layers` or the arithmetic overflows.
    pub fn matrix_layout(&self, layer: usize, m: V1Matrix) -> Option<MatrixLayout> {
        if layer >= self.n_layers as usize {
            return None;
        }
        let d = self.input_dim as usize;
        let (q, kv) = (self.q_total(), self.kv_total());
        // Checked: on a 32-bit target two u16 header fields multiply past usize.
        let sizes = [
            d.checked_mul(q)?,
            d.checked_mul(kv)?,
            d.checked_mul(kv)?,
            q.checked_mul(d)?,
        ];
        let (rows, cols, index) = match m {
            V1Matrix::Wq => (d, q, 0),
            V1Matrix::Wk => (d, kv, 1),
            V1Matrix::Wv => (d, kv, 2),
            V1Matrix::Wo => (q, d, 3),
        };
        let before = sizes[..index]
            .iter()
            .try_fold(0usize, |acc, &x| acc.checked_add(x))?;
        let start_elem = self
            .layer_elems()?
            .checked_mul(layer)?
            .checked_add(before)?;
        self.layout(rows, cols, start_elem)
    }

    /// Where the classifier `[input_dim][n_classes]` lives in the payload.
    pub fn classifier_layout(&self) -> Option<MatrixLayout> {
        let start_elem = self.layer_elems()?.checked_mul(self.n_layers as usize)?;
        self.layout(self.input_dim as usize, self.n_classes as usize, start_elem)
    }

    fn layout(&self, rows: usize, cols: usize, start_elem: usize) -> Option<MatrixLayout> {
        let eb = self.elem_bytes();
        let start = start_elem.checked_mul(eb)?;
        let len = rows.checked_mul(cols)?.checked_mul(eb)?;
        Some(MatrixLayout {
            rows,
            cols,
            byte_range: start..start.checked_add(len)?,
        })
    }

    /// File size for a payload of `weights_len` bytes: `24 + weights_len + 4`.
    pub const fn buffer_len(weights_len: usize) -> usize {
        WEIGHT_BLOB_HEADER_LEN + weights_len + WEIGHT_BLOB_FOOTER_LEN
    }

    /// Check bytes in the seed's order (§2.3 of the spec) and return the header:
    /// too short, magic, version, length, CRC, then [`WeightBlobHeader::validate`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(view: &RvneV1View<&T>) -> Result<Self> {
        let len = view.buffer.as_ref().len();
        if len < WEIGHT_BLOB_HEADER_LEN + WEIGHT_BLOB_FOOTER_LEN {
            return Err(RvneError::TooShort);
        }
        if view.magic() != WEIGHT_BLOB_MAGIC {
            return Err(RvneError::BadMagic);
        }
        if view.version() != WEIGHT_BLOB_VERSION {
            return Err(RvneError::WrongVersion(view.version()));
        }
        let header = WeightBlobHeader {
            dtype: view.dtype(),
            input_dim: view.input_dim(),
            n_q_heads: view.n_q_heads(),
            n_kv_heads: view.n_kv_heads(),
            head_dim: view.head_dim(),
            n_layers: view.n_layers(),
            n_classes: view.n_classes(),
        };
        view.check_len()?;
        let (stored, computed) = (view.stored_crc(), view.computed_crc());
        if stored != computed {
            return Err(RvneError::CrcMismatch { stored, computed });
        }
        header.validate()?;
        Ok(header)
    }

    /// Write the header fields (magic, version, flags, reserved 0, dims, weights_len).
    /// The view must be at least [`WEIGHT_BLOB_HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut RvneV1View<T>, weights_len: u32) {
        view.set_magic(WEIGHT_BLOB_MAGIC);
        view.set_version(WEIGHT_BLOB_VERSION);
        view.set_flags(match self.dtype {
            WeightDtype::F32 => 0,
            WeightDtype::F16 => 1,
        });
        view.set_reserved(0);
        view.set_input_dim(self.input_dim);
        view.set_n_q_heads(self.n_q_heads);
        view.set_n_kv_heads(self.n_kv_heads);
        view.set_head_dim(self.head_dim);
        view.set_n_layers(self.n_layers);
        view.set_n_classes(self.n_classes);
        view.set_weights_len(weights_len);
    }
}

/// A checked v1 file borrowed from its bytes. No allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightBlobView<'a> {
    /// The validated header.
    pub header: WeightBlobHeader,
    /// The weight payload (`weights_len` bytes).
    pub weights: &'a [u8],
    /// The stored (and verified) CRC-32.
    pub crc32: u32,
}

impl<'a> WeightBlobView<'a> {
    /// Check `bytes` in the seed's order (see [`WeightBlobHeader::parse`]) and borrow them.
    /// Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let view = RvneV1View::new_unchecked(bytes);
        let header = WeightBlobHeader::parse(&view)?;
        Ok(WeightBlobView {
            header,
            weights: view.weights(),
            crc32: view.stored_crc(),
        })
    }

    /// Total file size: `24 + weights.len() + 4`.
    pub fn file_len(&self) -> usize {
        WeightBlobHeader::buffer_len(self.weights.len())
    }

    /// Stricter than the seed's parse: `Err(WeightsShapeMismatch)` unless the payload is
    /// exactly the size the header's shape implies. Call before [`Self::matrix`] if the
    /// consumer needs every matrix.
    pub fn check_shape(&self) -> Result<()> {
        match self.header.expected_weights_len() {
            Some(n) if n == self.weights.len() => Ok(()),
            Some(_) => Err(RvneError::WeightsShapeMismatch),
            None => Err(RvneError::SizeOverflow),
        }
    }

    /// Matrix `m` of layer `layer`, or `None` if the layer does not exist or the payload
    /// is too short to hold it.
    pub fn matrix(&self, layer: usize, m: V1Matrix) -> Option<WeightMatrix<'a>> {
        self.matrix_at(self.header.matrix_layout(layer, m)?)
    }

    /// The classifier `[input_dim][n_classes]`, or `None` if the payload is too short.
    pub fn classifier(&self) -> Option<WeightMatrix<'a>> {
        self.matrix_at(self.header.classifier_layout()?)
    }

    fn matrix_at(&self, layout: MatrixLayout) -> Option<WeightMatrix<'a>> {
        Some(WeightMatrix {
            dtype: self.header.dtype,
            rows: layout.rows,
            cols: layout.cols,
            bytes: self.weights.get(layout.byte_range)?,
        })
    }
}

/// A borrowed row-major `[rows][cols]` matrix of v1 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightMatrix<'a> {
    /// Element storage type.
    pub dtype: WeightDtype,
    /// Rows (the input dimension).
    pub rows: usize,
    /// Columns (the output dimension).
    pub cols: usize,
    /// `rows * cols * elem_bytes` raw little-endian bytes.
    pub bytes: &'a [u8],
}

impl WeightMatrix<'_> {
    /// Element `(row, col)` as f32, or `None` if out of range.
    pub fn get(&self, row: usize, col: usize) -> Option<f32> {
        if row >= self.rows || col >= self.cols {
            return None;
        }
        self.dtype.read(self.bytes, row * self.cols + col)
    }

    /// Decode row `row` into `out` (length `cols`).
    pub fn row_into(&self, row: usize, out: &mut [f32]) -> Result<()> {
        if row >= self.rows {
            return Err(RvneError::IndexOutOfRange);
        }
        if out.len() != self.cols {
            return Err(RvneError::OutputLenMismatch);
        }
        let base = row * self.cols;
        for (c, o) in out.iter_mut().enumerate() {
            *o = self
                .dtype
                .read(self.bytes, base + c)
                .ok_or(RvneError::IndexOutOfRange)?;
        }
        Ok(())
    }
}

/// An owned v1 file (host side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightBlob {
    /// The header.
    pub header: WeightBlobHeader,
    /// Raw little-endian weights.
    pub weights: alloc::vec::Vec<u8>,
}

impl WeightBlob {
    /// Validate the header and the weights length (a multiple of the element size that
    /// fits the u32 length field).
    pub fn new(header: WeightBlobHeader, weights: alloc::vec::Vec<u8>) -> Result<Self> {
        header.validate()?;
        if !weights.len().is_multiple_of(header.elem_bytes()) {
            return Err(RvneError::WeightsNotElemMultiple);
        }
        if u32::try_from(weights.len()).is_err() {
            return Err(RvneError::TooLarge);
        }
        Ok(WeightBlob { header, weights })
    }

    /// Encode: header, weights, CRC-32.
    ///
    /// # Panics
    /// If the fields were edited after [`WeightBlob::new`] into something it refuses (weights
    /// past `u32::MAX` bytes, an invalid header); use [`WeightBlob::try_serialize`] to get an
    /// error instead.
    pub fn serialize(&self) -> alloc::vec::Vec<u8> {
        match self.try_serialize() {
            Ok(bytes) => bytes,
            Err(e) => panic!("WeightBlob::serialize: {e}"),
        }
    }

    /// Encode, or the error [`WeightBlob::new`] would give for these (public, so possibly
    /// hand-edited) fields: `TooLarge` if the weights do not fit the u32 length field, the
    /// header's own check, `WeightsNotElemMultiple`. A file `parse` would refuse is not written.
    pub fn try_serialize(&self) -> Result<alloc::vec::Vec<u8>> {
        self.header.validate()?;
        if !self.weights.len().is_multiple_of(self.header.elem_bytes()) {
            return Err(RvneError::WeightsNotElemMultiple);
        }
        let weights_len = u32::try_from(self.weights.len()).map_err(|_| RvneError::TooLarge)?;
        let mut out = alloc::vec![0u8; WeightBlobHeader::buffer_len(self.weights.len())];
        let mut view = RvneV1View::new_unchecked(&mut out[..]);
        self.header.emit(&mut view, weights_len);
        view.weights_mut().copy_from_slice(&self.weights);
        view.fill_crc();
        Ok(out)
    }

    /// Parse and copy the weights (see [`WeightBlobView::parse`]).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let view = WeightBlobView::parse(bytes)?;
        Ok(WeightBlob {
            header: view.header,
            weights: view.weights.to_vec(),
        })
    }

    /// Borrow as a view (the CRC is that of [`WeightBlob::serialize`]'s output).
    pub fn as_view(&self) -> WeightBlobView<'_> {
        let mut h = crc32fast::Hasher::new();
        let mut head = [0u8; WEIGHT_BLOB_HEADER_LEN];
        // A blob from `new` or `parse` fits the u32 field; an edited one past it saturates,
        // and `try_serialize` refuses it.
        self.header.emit(
            &mut RvneV1View::new_unchecked(&mut head[..]),
            u32::try_from(self.weights.len()).unwrap_or(u32::MAX),
        );
        h.update(&head);
        h.update(&self.weights);
        WeightBlobView {
            header: self.header,
            weights: &self.weights,
            crc32: h.finalize(),
        }
    }
}

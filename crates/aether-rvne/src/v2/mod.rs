//! RVNE v2: self-describing model file (typed metadata + named tensors).
//!
//! ```text
//! 0x00 u32 magic 0x52564E45 ("ENVR")    0x14 u32 tensor_count
//! 0x04 u16 version = 2                  0x18 u32 table_len
//! 0x06 u16 flags = 0                    0x1C u32 data_offset (multiple of 16)
//! 0x08 u32 file_len                     0x20 metadata section (meta_len bytes)
//! 0x0C u32 meta_count                        tensor table (table_len bytes)
//! 0x10 u32 meta_len                          zero padding, data region, CRC-32
//! ```
//!
//! The full byte-by-byte description is `docs/rvne.md`. [`RvneV2View::parse`] checks
//! everything once and allocates nothing; afterwards every accessor is infallible or returns
//! `Option`. [`RvneV2Builder`] (alloc) writes files.

mod builder;
mod meta;
mod tensor;

pub use builder::RvneV2Builder;
pub use meta::{MetaEntry, MetaIter, MetaType, MetaValue, StrArray, U32Array};
pub use tensor::{TensorDtype, TensorIter, TensorView};

use crate::error::{Result, RvneError};
use crate::le;
use crate::v1::WEIGHT_BLOB_MAGIC;

/// Byte ranges of the v2 header fields.
mod field {
    pub type Field = core::ops::Range<usize>;
    pub const MAGIC: Field = 0..4;
    pub const VERSION: Field = 4..6;
    pub const FLAGS: Field = 6..8;
    pub const FILE_LEN: Field = 8..12;
    pub const META_COUNT: Field = 12..16;
    pub const META_LEN: Field = 16..20;
    pub const TENSOR_COUNT: Field = 20..24;
    pub const TABLE_LEN: Field = 24..28;
    pub const DATA_OFFSET: Field = 28..32;
}

/// The version field of a v2 file.
pub const VERSION: u16 = 2;
/// Fixed header bytes; the metadata section starts here.
pub const HEADER_LEN: usize = field::DATA_OFFSET.end;
/// Trailing CRC-32 bytes.
pub const FOOTER_LEN: usize = 4;
/// Alignment of the data region and of every tensor, counted from the start of the file.
pub const ALIGN: usize = 16;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 4;
/// Most metadata entries, and most tensors, in one file (bounds the duplicate checks,
/// which are quadratic because parsing allocates nothing).
pub const MAX_ENTRIES: u32 = 4096;

/// A checked v2 file borrowed from its bytes.
///
/// Built only by [`RvneV2View::parse`], so every section and entry inside has been
/// validated; lookups re-decode entries from the bytes (no allocation, `O(entries)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RvneV2View<'a> {
    bytes: &'a [u8],
    meta_count: u32,
    meta: &'a [u8],
    tensor_count: u32,
    table: &'a [u8],
    data_offset: usize,
    crc32: u32,
}

fn field_u32(b: &[u8], f: core::ops::Range<usize>) -> u32 {
    // Only called after the length check against HEADER_LEN.
    le::u32_at(b, f.start).unwrap_or(0)
}

impl<'a> RvneV2View<'a> {
    /// Check everything, in this order: length ≥ 36, magic, version, file_len, CRC, flags,
    /// section bounds and alignment, metadata entries, tensor table entries. Never panics;
    /// every failure is its own [`RvneError`] variant.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN + FOOTER_LEN {
            return Err(RvneError::TooShort);
        }
        if field_u32(bytes, field::MAGIC) != WEIGHT_BLOB_MAGIC {
            return Err(RvneError::BadMagic);
        }
        let version = le::u16_at(bytes, field::VERSION.start).unwrap_or(0);
        if version != VERSION {
            return Err(RvneError::WrongVersion(version));
        }
        if field_u32(bytes, field::FILE_LEN) as usize != bytes.len() {
            return Err(RvneError::FileLengthMismatch);
        }
        let crc_at = bytes.len() - FOOTER_LEN;
        let stored = le::u32_at(bytes, crc_at).unwrap_or(0);
        let computed = le::crc32(&bytes[..crc_at]);
        if stored != computed {
            return Err(RvneError::CrcMismatch { stored, computed });
        }
        let flags = le::u16_at(bytes, field::FLAGS.start).unwrap_or(0);
        if flags != 0 {
            return Err(RvneError::UnsupportedFlags(flags));
        }

        let meta_count = field_u32(bytes, field::META_COUNT);
        let meta_len = field_u32(bytes, field::META_LEN) as usize;
        let tensor_count = field_u32(bytes, field::TENSOR_COUNT);
        let table_len = field_u32(bytes, field::TABLE_LEN) as usize;
        let data_offset = field_u32(bytes, field::DATA_OFFSET) as usize;
        let meta_end = HEADER_LEN
            .checked_add(meta_len)
            .ok_or(RvneError::SectionOutOfBounds)?;
        let table_end = meta_end
            .checked_add(table_len)
            .ok_or(RvneError::SectionOutOfBounds)?;
        if table_end > data_offset || data_offset > crc_at {
            return Err(RvneError::SectionOutOfBounds);
        }
        if !data_offset.is_multiple_of(ALIGN) {
            return Err(RvneError::MisalignedSection);
        }
        if meta_count > MAX_ENTRIES || tensor_count > MAX_ENTRIES {
            return Err(RvneError::TooManyEntries);
        }

        let view = RvneV2View {
            bytes,
            meta_count,
            meta: &bytes[HEADER_LEN..meta_end],
            tensor_count,
            table: &bytes[meta_end..table_end],
            data_offset,
            crc32: stored,
        };
        view.validate_meta()?;
        view.validate_tensors()?;
        Ok(view)
    }

    fn validate_meta(&self) -> Result<()> {
        let mut pos = 0;
        for i in 0..self.meta_count {
            let (entry, next) = meta::decode_entry(self.meta, pos)?;
            // Duplicates: compare with every earlier key (no allocation).
            let mut earlier = 0;
            for _ in 0..i {
                let (prev, n) =
                    meta::entry_key(self.meta, earlier).ok_or(RvneError::MetaTruncated)?;
                if prev == entry.key.as_bytes() {
                    return Err(RvneError::DuplicateKey);
                }
                earlier = n;
            }
            pos = next;
        }
        if pos != self.meta.len() {
            return Err(RvneError::MetaTrailingBytes);
        }
        Ok(())
    }

    fn validate_tensors(&self) -> Result<()> {
        let mut pos = 0;
        let mut prev_end = self.data_offset;
        let data_end = self.bytes.len() - FOOTER_LEN;
        for i in 0..self.tensor_count {
            let (t, next) = tensor::decode_entry(self.table, pos, self.bytes)?;
            if t.offset() % ALIGN != 0 {
                return Err(RvneError::MisalignedTensor);
            }
            let end = t.offset() + t.byte_len(); // both ≤ file length, checked in decode
            if t.offset() < self.data_offset || end > data_end {
                return Err(RvneError::TensorOutOfBounds);
            }
            if t.offset() < prev_end {
                return Err(RvneError::TensorOverlap);
            }
            let mut earlier = 0;
            for _ in 0..i {
                let (p, n) =
                    tensor::entry_name(self.table, earlier).ok_or(RvneError::TableTruncated)?;
                if p == t.name().as_bytes() {
                    return Err(RvneError::DuplicateName);
                }
                earlier = n;
            }
            prev_end = end;
            pos = next;
        }
        if pos != self.table.len() {
            return Err(RvneError::TableTrailingBytes);
        }
        Ok(())
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// File length in bytes.
    pub fn file_len(&self) -> usize {
        self.bytes.len()
    }
    /// The stored (and verified) CRC-32.
    pub fn crc32(&self) -> u32 {
        self.crc32
    }
    /// Start of the data region (a multiple of 16).
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }
    /// Number of metadata entries.
    pub fn meta_count(&self) -> usize {
        self.meta_count as usize
    }
    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensor_count as usize
    }

    /// All metadata entries in file order.
    pub fn meta_entries(&self) -> MetaIter<'a> {
        MetaIter::new(self.meta, self.meta_count)
    }
    /// The value stored under `key`, of whatever type.
    pub fn meta(&self, key: &str) -> Option<MetaValue<'a>> {
        self.meta_entries().find(|e| e.key == key).map(|e| e.value)
    }
    /// `key` as u32 (`None` if absent or of another type).
    pub fn meta_u32(&self, key: &str) -> Option<u32> {
        match self.meta(key)? {
            MetaValue::U32(v) => Some(v),
            _ => None,
        }
    }
    /// `key` as f32.
    pub fn meta_f32(&self, key: &str) -> Option<f32> {
        match self.meta(key)? {
            MetaValue::F32(v) => Some(v),
            _ => None,
        }
    }
    /// `key` as bool.
    pub fn meta_bool(&self, key: &str) -> Option<bool> {
        match self.meta(key)? {
            MetaValue::Bool(v) => Some(v),
            _ => None,
        }
    }
    /// `key` as a string.
    pub fn meta_str(&self, key: &str) -> Option<&'a str> {
        match self.meta(key)? {
            MetaValue::Str(v) => Some(v),
            _ => None,
        }
    }
    /// `key` as an iterator over u32 values.
    pub fn meta_u32_array(&self, key: &str) -> Option<U32Array<'a>> {
        match self.meta(key)? {
            MetaValue::U32Array(v) => Some(v),
            _ => None,
        }
    }
    /// `key` as an iterator over strings.
    pub fn meta_str_array(&self, key: &str) -> Option<StrArray<'a>> {
        match self.meta(key)? {
            MetaValue::StrArray(v) => Some(v),
            _ => None,
        }
    }

    /// All tensors in table (and data) order.
    pub fn tensors(&self) -> TensorIter<'a> {
        TensorIter::new(self.table, self.bytes, self.tensor_count)
    }
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'a>> {
        self.tensors().find(|t| t.name() == name)
    }

    /// The tensor called `name`, which must have exactly `shape`: `Err(MissingTensor)` or
    /// `Err(UnexpectedShape)` otherwise. For loaders that know the architecture.
    pub fn require_tensor(&self, name: &str, shape: &[usize]) -> Result<TensorView<'a>> {
        let t = self.tensor(name).ok_or(RvneError::MissingTensor)?;
        if t.shape() != shape {
            return Err(RvneError::UnexpectedShape);
        }
        Ok(t)
    }
}

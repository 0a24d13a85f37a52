//! Writing v2 files (alloc).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{Result, RvneError};
use crate::le;
use crate::v1::WEIGHT_BLOB_MAGIC;
use crate::v2::meta::{MetaType, MetaValue};
use crate::v2::tensor::TensorDtype;
use crate::v2::{field, ALIGN, FOOTER_LEN, HEADER_LEN, MAX_DIMS, MAX_ENTRIES, VERSION};

#[derive(Debug, Clone, PartialEq)]
enum OwnedMeta {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    U32Array(Vec<u32>),
    StrArray(Vec<String>),
}

impl OwnedMeta {
    fn meta_type(&self) -> MetaType {
        match self {
            OwnedMeta::U32(_) => MetaType::U32,
            OwnedMeta::F32(_) => MetaType::F32,
            OwnedMeta::Bool(_) => MetaType::Bool,
            OwnedMeta::Str(_) => MetaType::Str,
            OwnedMeta::U32Array(_) => MetaType::U32Array,
            OwnedMeta::StrArray(_) => MetaType::StrArray,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OwnedMeta::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedMeta::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            OwnedMeta::Bool(v) => out.push(*v as u8),
            OwnedMeta::Str(s) => out.extend_from_slice(s.as_bytes()),
            OwnedMeta::U32Array(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            OwnedMeta::StrArray(a) => {
                out.extend_from_slice(&(a.len() as u32).to_le_bytes());
                for s in a {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dtype: TensorDtype,
    shape: Vec<u32>,
    /// Encoded bytes: int8 scales then values, or the f32/f16 values.
    payload: Vec<u8>,
}

/// Builds a v2 file: metadata (insertion order, a repeated key replaces the value) and
/// tensors (insertion order = file order), each given as f32 and stored as f32, f16 or int8.
///
/// ```
/// use aether_rvne::v2::{RvneV2Builder, RvneV2View, TensorDtype};
/// let mut b = RvneV2Builder::new();
/// b.meta_u32("d_model", 2).meta_str("pooling", "mean");
/// b.add_tensor("head.weight", TensorDtype::Int8, &[2, 3], &[0.5, -1.0, 0.25, 2.0, 0.0, -2.0])?;
/// let bytes = b.to_bytes()?;
/// let view = RvneV2View::parse(&bytes)?;
/// assert_eq!(view.meta_u32("d_model"), Some(2));
/// let w = view.tensor("head.weight").unwrap();
/// assert_eq!(w.shape(), &[2, 3]);
/// assert_eq!(w.get_f32(1), Some(-1.0));
/// # Ok::<(), aether_rvne::RvneError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RvneV2Builder {
    meta: Vec<(String, OwnedMeta)>,
    tensors: Vec<PendingTensor>,
}

impl RvneV2Builder {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&mut self, key: &str, value: OwnedMeta) -> &mut Self {
        match self.meta.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.meta.push((key.to_string(), value)),
        }
        self
    }

    /// Set a u32 value.
    pub fn meta_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.set(key, OwnedMeta::U32(v))
    }
    /// Set an f32 value.
    pub fn meta_f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.set(key, OwnedMeta::F32(v))
    }
    /// Set a bool value.
    pub fn meta_bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.set(key, OwnedMeta::Bool(v))
    }
    /// Set a string value.
    pub fn meta_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.set(key, OwnedMeta::Str(v.to_string()))
    }
    /// Set a u32 array value.
    pub fn meta_u32_array(&mut self, key: &str, v: &[u32]) -> &mut Self {
        self.set(key, OwnedMeta::U32Array(v.to_vec()))
    }
    /// Set a string array value.
    pub fn meta_str_array<S: AsRef<str>>(&mut self, key: &str, v: &[S]) -> &mut Self {
        let v = v.iter().map(|s| s.as_ref().to_string()).collect();
        self.set(key, OwnedMeta::StrArray(v))
    }

    /// Set a value of any type, as a parsed file holds it: copying a file's metadata is
    /// `for e in view.meta_entries() { b.meta_value(e.key, e.value); }`.
    pub fn meta_value(&mut self, key: &str, v: MetaValue<'_>) -> &mut Self {
        let owned = match v {
            MetaValue::U32(x) => OwnedMeta::U32(x),
            MetaValue::F32(x) => OwnedMeta::F32(x),
            MetaValue::Bool(x) => OwnedMeta::Bool(x),
            MetaValue::Str(x) => OwnedMeta::Str(x.to_string()),
            MetaValue::U32Array(a) => OwnedMeta::U32Array(a.collect()),
            MetaValue::StrArray(a) => OwnedMeta::StrArray(a.map(str::to_string).collect()),
        };
        self.set(key, owned)
    }

    /// Number of tensors added so far.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Add tensor `name` of `shape` (1 to 4 dims, row-major `data`), encoded as `dtype`.
    ///
    /// Int8 rows are the first dimension; each gets the symmetric scale
    /// `max|row| / 127` and values `round(x / scale)` (an all-zero row has scale 0).
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: TensorDtype,
        shape: &[usize],
        data: &[f32],
    ) -> Result<&mut Self> {
        check_name(name)?;
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(RvneError::DuplicateName);
        }
        if shape.is_empty() {
            return Err(RvneError::ZeroRank);
        }
        if shape.len() > MAX_DIMS {
            return Err(RvneError::TooManyDims(shape.len().min(255) as u8));
        }
        let mut dims = Vec::with_capacity(shape.len());
        let mut numel: usize = 1;
        for &d in shape {
            dims.push(u32::try_from(d).map_err(|_| RvneError::SizeOverflow)?);
            numel = numel.checked_mul(d).ok_or(RvneError::SizeOverflow)?;
        }
        if numel != data.len() {
            return Err(RvneError::ShapeLengthMismatch);
        }
        let rows = shape[0];
        let byte_len = dtype
            .byte_len(rows as u64, numel as u64)
            .ok_or(RvneError::SizeOverflow)?;
        if u32::try_from(byte_len).is_err() {
            return Err(RvneError::TooLarge);
        }
        let payload = match dtype {
            TensorDtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            TensorDtype::F16 => {
                let mut out = Vec::with_capacity(numel * 2);
                for &v in data {
                    let h = half::f16::from_f32(v);
                    if v.is_finite() && h.is_infinite() {
                        return Err(RvneError::F16Overflow);
                    }
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            TensorDtype::Int8 => quantize_int8(data, rows)?,
        };
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            dtype,
            shape: dims,
            payload,
        });
        Ok(self)
    }

    /// Encode the file: header, metadata, tensor table, zero padding, 16-aligned tensors, CRC.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.meta.len() > MAX_ENTRIES as usize || self.tensors.len() > MAX_ENTRIES as usize {
            return Err(RvneError::TooManyEntries);
        }
        let mut meta = Vec::new();
        for (key, value) in &self.meta {
            check_name(key)?;
            let mut v = Vec::new();
            value.encode(&mut v);
            meta.extend_from_slice(&(key.len() as u16).to_le_bytes());
            meta.extend_from_slice(key.as_bytes());
            meta.push(value.meta_type().code());
            meta.extend_from_slice(&to_u32(v.len())?.to_le_bytes());
            meta.extend_from_slice(&v);
        }
        let table_len: usize = self
            .tensors
            .iter()
            .map(|t| 2 + t.name.len() + 2 + 4 * t.shape.len() + 8)
            .sum();
        let data_offset = align(HEADER_LEN + meta.len() + table_len);
        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut end = data_offset;
        for t in &self.tensors {
            let at = align(end);
            offsets.push(at);
            end = at.checked_add(t.payload.len()).ok_or(RvneError::TooLarge)?;
        }
        let file_len = to_u32(end.checked_add(FOOTER_LEN).ok_or(RvneError::TooLarge)?)?;

        let mut out = Vec::with_capacity(file_len as usize);
        out.extend_from_slice(&WEIGHT_BLOB_MAGIC.to_le_bytes());
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&file_len.to_le_bytes());
        out.extend_from_slice(&(self.meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&to_u32(meta.len())?.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u32).to_le_bytes());
        out.extend_from_slice(&to_u32(table_len)?.to_le_bytes());
        out.extend_from_slice(&to_u32(data_offset)?.to_le_bytes());
        debug_assert_eq!(out.len(), field::DATA_OFFSET.end);
        out.extend_from_slice(&meta);
        for (t, &at) in self.tensors.iter().zip(&offsets) {
            out.extend_from_slice(&(t.name.len() as u16).to_le_bytes());
            out.extend_from_slice(t.name.as_bytes());
            out.push(t.dtype.code());
            out.push(t.shape.len() as u8);
            t.shape
                .iter()
                .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&to_u32(at)?.to_le_bytes());
            out.extend_from_slice(&to_u32(t.payload.len())?.to_le_bytes());
        }
        for (t, &at) in self.tensors.iter().zip(&offsets) {
            out.resize(at, 0);
            out.extend_from_slice(&t.payload);
        }
        out.resize(end, 0);
        let crc = le::crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

fn to_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| RvneError::TooLarge)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(RvneError::EmptyName);
    }
    if name.len() > u16::MAX as usize {
        return Err(RvneError::NameTooLong);
    }
    Ok(())
}

fn abs(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7FFF_FFFF)
}

/// Per-row symmetric int8: `scale = max|row| / 127`, `q = round(x / scale)` (half away
/// from zero), clamped to ±127. Layout: `rows` f32 scales, then the values.
fn quantize_int8(data: &[f32], rows: usize) -> Result<Vec<u8>> {
    if data.iter().any(|v| !v.is_finite()) {
        return Err(RvneError::NonFiniteValue);
    }
    let row_len = data.len().checked_div(rows).unwrap_or(0);
    let mut scales = Vec::with_capacity(rows * 4);
    let mut values = Vec::with_capacity(data.len());
    for r in 0..rows {
        let row = &data[r * row_len..(r + 1) * row_len];
        let max = row
            .iter()
            .fold(0.0f32, |m, &v| if abs(v) > m { abs(v) } else { m });
        let scale = max / 127.0;
        scales.extend_from_slice(&scale.to_le_bytes());
        for &v in row {
            let q = if scale > 0.0 {
                let r = v / scale;
                let r = if r >= 0.0 { r + 0.5 } else { r - 0.5 };
                (r as i32).clamp(-127, 127) as i8
            } else {
                0
            };
            values.push(q as u8);
        }
    }
    scales.extend_from_slice(&values);
    Ok(scales)
}

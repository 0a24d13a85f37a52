//! v2 tensor table entries and borrowed tensors.
//!
//! Entry: `u16 name_len | name | u8 dtype | u8 rank | u32 dims[rank] | u32 offset | u32 byte_len`.
//! An int8 tensor's bytes are `rows` f32 scales (rows = `dims[0]`) followed by the values.

use crate::error::{Result, RvneError};
use crate::le;
use crate::v2::meta::name_at;
use crate::v2::MAX_DIMS;

/// Storage type of a v2 tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorDtype {
    /// Code 1: IEEE binary32, little-endian.
    F32,
    /// Code 2: IEEE binary16, little-endian.
    F16,
    /// Code 3: signed 8-bit with one f32 scale per row (`value = q · scale[row]`).
    Int8,
}

impl TensorDtype {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            TensorDtype::F32 => 1,
            TensorDtype::F16 => 2,
            TensorDtype::Int8 => 3,
        }
    }

    /// The dtype for a wire code, if known.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => TensorDtype::F32,
            2 => TensorDtype::F16,
            3 => TensorDtype::Int8,
            _ => return None,
        })
    }

    /// Bytes per element (not counting int8 scales).
    pub const fn elem_bytes(self) -> usize {
        match self {
            TensorDtype::F32 => 4,
            TensorDtype::F16 => 2,
            TensorDtype::Int8 => 1,
        }
    }

    /// Lower-case name: `"f32"`, `"f16"`, `"int8"`.
    pub const fn name(self) -> &'static str {
        match self {
            TensorDtype::F32 => "f32",
            TensorDtype::F16 => "f16",
            TensorDtype::Int8 => "int8",
        }
    }

    /// Bytes a tensor of this dtype with `rows` rows and `numel` elements occupies,
    /// or `None` on overflow. Computed in u64 so 32-bit targets see the same limits.
    pub fn byte_len(self, rows: u64, numel: u64) -> Option<u64> {
        let values = numel.checked_mul(self.elem_bytes() as u64)?;
        match self {
            TensorDtype::Int8 => rows.checked_mul(4)?.checked_add(values),
            _ => Some(values),
        }
    }
}

/// A borrowed tensor of a checked v2 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'a> {
    name: &'a str,
    dtype: TensorDtype,
    rank: u8,
    dims: [usize; MAX_DIMS],
    numel: usize,
    row_len: usize,
    offset: usize,
    /// Everything in `[offset, offset + byte_len)`: scales (int8) then values.
    bytes: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Name (non-empty UTF-8, unique in the file).
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// Storage type.
    pub fn dtype(&self) -> TensorDtype {
        self.dtype
    }
    /// Dimensions, 1 to 4 of them, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }
    /// Number of elements (product of the shape).
    pub fn numel(&self) -> usize {
        self.numel
    }
    /// Rows: the first dimension.
    pub fn rows(&self) -> usize {
        self.dims[0]
    }
    /// Elements per row: the product of all but the first dimension (1 for rank 1).
    pub fn row_len(&self) -> usize {
        self.row_len
    }
    /// Byte offset of the tensor in the file (a multiple of 16).
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Bytes the tensor occupies in the file, int8 scales included.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
    /// The int8 scales as raw little-endian f32 (empty for f32/f16).
    pub fn scales_raw(&self) -> &'a [u8] {
        &self.bytes[..self.scales_len()]
    }
    /// The element bytes (little-endian f32/f16, or i8), without scales.
    pub fn data(&self) -> &'a [u8] {
        &self.bytes[self.scales_len()..]
    }

    fn scales_len(&self) -> usize {
        match self.dtype {
            TensorDtype::Int8 => self.rows() * 4,
            _ => 0,
        }
    }

    /// Scale of int8 row `row` (`None` for other dtypes or out of range).
    pub fn scale(&self, row: usize) -> Option<f32> {
        if self.dtype != TensorDtype::Int8 || row >= self.rows() {
            return None;
        }
        le::f32_at(self.bytes, row * 4)
    }

    /// Element `i` (row-major) as f32: the value for f32/f16, `q · scale[row]` for int8.
    pub fn get_f32(&self, i: usize) -> Option<f32> {
        if i >= self.numel {
            return None;
        }
        let data = self.data();
        match self.dtype {
            TensorDtype::F32 => le::f32_at(data, i * 4),
            TensorDtype::F16 => le::f16_at(data, i * 2),
            TensorDtype::Int8 => {
                let q = *data.get(i)? as i8;
                Some(q as f32 * self.scale(i / self.row_len)?)
            }
        }
    }

    /// Decode row `row` (`row_len` elements) into `out`. No allocation.
    pub fn decode_row(&self, row: usize, out: &mut [f32]) -> Result<()> {
        if row >= self.rows() {
            return Err(RvneError::IndexOutOfRange);
        }
        if out.len() != self.row_len {
            return Err(RvneError::OutputLenMismatch);
        }
        let start = row * self.row_len;
        self.decode_range(start, out)
    }

    /// Decode the whole tensor into `out` (`numel` elements). No allocation.
    pub fn decode_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.numel {
            return Err(RvneError::OutputLenMismatch);
        }
        self.decode_range(0, out)
    }

    /// Decode the whole tensor into a new vector.
    pub fn to_f32_vec(&self) -> alloc::vec::Vec<f32> {
        let mut v = alloc::vec![0.0; self.numel];
        // Cannot fail: the length is right and parse checked the byte length.
        let _ = self.decode_into(&mut v);
        v
    }

    fn decode_range(&self, start: usize, out: &mut [f32]) -> Result<()> {
        let eb = self.dtype.elem_bytes();
        let n = out.len();
        let bytes = le::bytes(self.data(), start * eb, n * eb).ok_or(RvneError::IndexOutOfRange)?;
        match self.dtype {
            TensorDtype::F32 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            TensorDtype::F16 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            TensorDtype::Int8 => {
                for (k, (o, &q)) in out.iter_mut().zip(bytes).enumerate() {
                    let scale = self
                        .scale((start + k) / self.row_len)
                        .ok_or(RvneError::IndexOutOfRange)?;
                    *o = (q as i8) as f32 * scale;
                }
            }
        }
        Ok(())
    }
}

/// Iterator over the tensors of a validated table.
#[derive(Debug, Clone)]
pub struct TensorIter<'a> {
    table: &'a [u8],
    file: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> TensorIter<'a> {
    pub(crate) fn new(table: &'a [u8], file: &'a [u8], count: u32) -> Self {
        TensorIter {
            table,
            file,
            pos: 0,
            remaining: count,
        }
    }
}

impl<'a> Iterator for TensorIter<'a> {
    type Item = TensorView<'a>;
    fn next(&mut self) -> Option<TensorView<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // Validated by parse; an error cannot happen here, and would end iteration.
        let (t, next) = decode_entry(self.table, self.pos, self.file).ok()?;
        self.pos = next;
        self.remaining -= 1;
        Some(t)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

/// Decode the table entry at `pos` and check its shape against its byte length, and that
/// its bytes lie inside `file`. Placement rules (alignment, data region, order) are
/// checked by the caller.
/// Name and end of an entry `decode_entry` has already accepted: the duplicate check compares
/// each new name with every earlier one, and skipping the earlier entries without decoding them
/// again keeps that quadratic scan cheap on a device.
pub(crate) fn entry_name(table: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let name_len = le::u16_at(table, pos)? as usize;
    let name = le::bytes(table, pos + 2, name_len)?;
    let rank = le::u8_at(table, pos + 2 + name_len + 1)? as usize;
    Some((name, pos + 2 + name_len + 2 + 4 * rank + 8))
}

pub(crate) fn decode_entry<'a>(
    table: &'a [u8],
    pos: usize,
    file: &'a [u8],
) -> Result<(TensorView<'a>, usize)> {
    const T: RvneError = RvneError::TableTruncated;
    let name_len = le::u16_at(table, pos).ok_or(T)? as usize;
    let name = name_at(table, pos + 2, name_len, T)?;
    let mut at = pos + 2 + name_len;
    let code = le::u8_at(table, at).ok_or(T)?;
    let rank = le::u8_at(table, at + 1).ok_or(T)?;
    at += 2;
    let dtype = TensorDtype::from_code(code).ok_or(RvneError::BadDtype(code))?;
    if rank == 0 {
        return Err(RvneError::ZeroRank);
    }
    if rank as usize > MAX_DIMS {
        return Err(RvneError::TooManyDims(rank));
    }
    let mut dims = [0usize; MAX_DIMS];
    let mut dims64 = [0u64; MAX_DIMS];
    for k in 0..rank as usize {
        let d = le::u32_at(table, at).ok_or(T)?;
        dims64[k] = d as u64;
        dims[k] = usize::try_from(d).map_err(|_| RvneError::SizeOverflow)?;
        at += 4;
    }
    let offset = le::u32_at(table, at).ok_or(T)? as usize;
    let byte_len = le::u32_at(table, at + 4).ok_or(T)? as u64;
    let next = at + 8;

    // Shape products in u64, checked: absurd dims are an error, not a wrap-around.
    let mut row_len: u64 = 1;
    for &d in &dims64[1..rank as usize] {
        row_len = row_len.checked_mul(d).ok_or(RvneError::SizeOverflow)?;
    }
    let numel = row_len
        .checked_mul(dims64[0])
        .ok_or(RvneError::SizeOverflow)?;
    let expected = dtype
        .byte_len(dims64[0], numel)
        .ok_or(RvneError::SizeOverflow)?;
    if expected != byte_len {
        return Err(RvneError::ShapeLengthMismatch);
    }
    // byte_len fits u32, so numel and row_len (≤ numel unless rows = 0) are bounded...
    // except row_len when rows = 0; keep it only if it fits usize.
    let row_len = usize::try_from(row_len).map_err(|_| RvneError::SizeOverflow)?;
    let numel = numel as usize; // ≤ byte_len ≤ u32::MAX
    let bytes = le::bytes(file, offset, byte_len as usize).ok_or(RvneError::TensorOutOfBounds)?;
    Ok((
        TensorView {
            name,
            dtype,
            rank,
            dims,
            numel,
            row_len,
            offset,
            bytes,
        },
        next,
    ))
}

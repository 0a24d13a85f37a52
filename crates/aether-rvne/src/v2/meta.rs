//! v2 metadata entries: `u16 key_len | key | u8 type | u32 value_len | value`.

use crate::error::{Result, RvneError};
use crate::le;

/// Metadata value type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaType {
    /// 1: u32, 4 bytes.
    U32,
    /// 2: f32, 4 bytes.
    F32,
    /// 3: bool, 1 byte, 0 or 1.
    Bool,
    /// 4: UTF-8 string, value_len bytes.
    Str,
    /// 5: u32 array, value_len / 4 elements.
    U32Array,
    /// 6: string array: u32 count, then count × (u32 len, UTF-8 bytes).
    StrArray,
}

impl MetaType {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            MetaType::U32 => 1,
            MetaType::F32 => 2,
            MetaType::Bool => 3,
            MetaType::Str => 4,
            MetaType::U32Array => 5,
            MetaType::StrArray => 6,
        }
    }

    /// The type for a wire code, if known.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => MetaType::U32,
            2 => MetaType::F32,
            3 => MetaType::Bool,
            4 => MetaType::Str,
            5 => MetaType::U32Array,
            6 => MetaType::StrArray,
            _ => return None,
        })
    }

    /// Lower-case name used in docs and `aether inspect`.
    pub const fn name(self) -> &'static str {
        match self {
            MetaType::U32 => "u32",
            MetaType::F32 => "f32",
            MetaType::Bool => "bool",
            MetaType::Str => "str",
            MetaType::U32Array => "u32[]",
            MetaType::StrArray => "str[]",
        }
    }
}

/// A typed metadata value borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetaValue<'a> {
    /// u32.
    U32(u32),
    /// f32.
    F32(f32),
    /// bool.
    Bool(bool),
    /// UTF-8 string.
    Str(&'a str),
    /// u32 array.
    U32Array(U32Array<'a>),
    /// String array.
    StrArray(StrArray<'a>),
}

impl MetaValue<'_> {
    /// The value's type.
    pub fn meta_type(&self) -> MetaType {
        match self {
            MetaValue::U32(_) => MetaType::U32,
            MetaValue::F32(_) => MetaType::F32,
            MetaValue::Bool(_) => MetaType::Bool,
            MetaValue::Str(_) => MetaType::Str,
            MetaValue::U32Array(_) => MetaType::U32Array,
            MetaValue::StrArray(_) => MetaType::StrArray,
        }
    }
}

/// One metadata entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetaEntry<'a> {
    /// The key (non-empty UTF-8).
    pub key: &'a str,
    /// The value.
    pub value: MetaValue<'a>,
}

/// Iterator over a u32 array value (little-endian words, validated at parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32Array<'a> {
    bytes: &'a [u8],
}

impl<'a> U32Array<'a> {
    /// Element `i`.
    pub fn get(&self, i: usize) -> Option<u32> {
        le::u32_at(self.bytes, i.checked_mul(4)?)
    }
    /// Remaining elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 4
    }
}

impl Iterator for U32Array<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let v = le::u32_at(self.bytes, 0)?;
        self.bytes = &self.bytes[4..];
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for U32Array<'_> {}

/// Iterator over a string array value (validated at parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrArray<'a> {
    remaining: u32,
    /// The `(u32 len, bytes)` items after the count.
    items: &'a [u8],
}

impl<'a> Iterator for StrArray<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.remaining == 0 {
            return None;
        }
        let len = le::u32_at(self.items, 0)? as usize;
        let s = le::bytes(self.items, 4, len)?;
        let s = core::str::from_utf8(s).ok()?;
        self.items = &self.items[4 + len..];
        self.remaining -= 1;
        Some(s)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for StrArray<'_> {}

/// Iterator over the entries of a validated metadata section.
#[derive(Debug, Clone)]
pub struct MetaIter<'a> {
    section: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> MetaIter<'a> {
    pub(crate) fn new(section: &'a [u8], count: u32) -> Self {
        MetaIter {
            section,
            pos: 0,
            remaining: count,
        }
    }
}

impl<'a> Iterator for MetaIter<'a> {
    type Item = MetaEntry<'a>;
    fn next(&mut self) -> Option<MetaEntry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // The section was validated by parse; an error here cannot happen, and ends iteration.
        let (entry, next) = decode_entry(self.section, self.pos).ok()?;
        self.pos = next;
        self.remaining -= 1;
        Some(entry)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

/// Decode a UTF-8 name of `len` bytes at `at`: truncation error `trunc`, then empty, then UTF-8.
pub(crate) fn name_at(b: &[u8], at: usize, len: usize, trunc: RvneError) -> Result<&str> {
    let raw = le::bytes(b, at, len).ok_or(trunc)?;
    if raw.is_empty() {
        return Err(RvneError::EmptyName);
    }
    core::str::from_utf8(raw).map_err(|_| RvneError::BadUtf8)
}

/// The key of the (already validated) entry at `pos` and the position after the entry,
/// without decoding the value: the duplicate-key scan stays cheap for large values.
pub(crate) fn entry_key(section: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let key_len = le::u16_at(section, pos)? as usize;
    let key = le::bytes(section, pos + 2, key_len)?;
    let at = pos + 2 + key_len;
    let value_len = le::u32_at(section, at + 1)? as usize;
    le::bytes(section, at + 5, value_len)?;
    Some((key, at + 5 + value_len))
}

/// Decode the entry at `pos`; returns it and the position after it.
pub(crate) fn decode_entry(section: &[u8], pos: usize) -> Result<(MetaEntry<'_>, usize)> {
    const T: RvneError = RvneError::MetaTruncated;
    let key_len = le::u16_at(section, pos).ok_or(T)? as usize;
    let key = name_at(section, pos + 2, key_len, T)?;
    let at = pos + 2 + key_len;
    let code = le::u8_at(section, at).ok_or(T)?;
    let value_len = le::u32_at(section, at + 1).ok_or(T)? as usize;
    let value = le::bytes(section, at + 5, value_len).ok_or(T)?;
    let next = at + 5 + value_len;
    let ty = MetaType::from_code(code).ok_or(RvneError::BadMetaType(code))?;
    let four = |v: &[u8]| -> Result<[u8; 4]> { v.try_into().map_err(|_| RvneError::BadMetaValue) };
    let value = match ty {
        MetaType::U32 => MetaValue::U32(u32::from_le_bytes(four(value)?)),
        MetaType::F32 => MetaValue::F32(f32::from_le_bytes(four(value)?)),
        MetaType::Bool => match value {
            [0] => MetaValue::Bool(false),
            [1] => MetaValue::Bool(true),
            _ => return Err(RvneError::BadMetaValue),
        },
        MetaType::Str => {
            MetaValue::Str(core::str::from_utf8(value).map_err(|_| RvneError::BadUtf8)?)
        }
        MetaType::U32Array => {
            if value.len() % 4 != 0 {
                return Err(RvneError::BadMetaValue);
            }
            MetaValue::U32Array(U32Array { bytes: value })
        }
        MetaType::StrArray => MetaValue::StrArray(check_str_array(value)?),
    };
    Ok((MetaEntry { key, value }, next))
}

fn check_str_array(value: &[u8]) -> Result<StrArray<'_>> {
    let count = le::u32_at(value, 0).ok_or(RvneError::BadMetaValue)?;
    let items = &value[4..];
    let mut pos = 0usize;
    for _ in 0..count {
        let len = le::u32_at(items, pos).ok_or(RvneError::BadMetaValue)? as usize;
        let s = le::bytes(items, pos + 4, len).ok_or(RvneError::BadMetaValue)?;
        core::str::from_utf8(s).map_err(|_| RvneError::BadUtf8)?;
        pos += 4 + len;
    }
    if pos != items.len() {
        return Err(RvneError::BadMetaValue);
    }
    Ok(StrArray {
        remaining: count,
        items,
    })
}

//! Little-endian reads that never panic, plus element decoding shared by v1 and v2.

/// `n` bytes at `at`, or `None` if they are not all inside `b`.
#[inline]
pub(crate) fn bytes(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    b.get(at..at.checked_add(n)?)
}

#[inline]
pub(crate) fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

#[inline]
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = bytes(b, at, 2)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = bytes(b, at, 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
pub(crate) fn f32_at(b: &[u8], at: usize) -> Option<f32> {
    u32_at(b, at).map(f32::from_bits)
}

#[inline]
pub(crate) fn f16_at(b: &[u8], at: usize) -> Option<f32> {
    u16_at(b, at).map(|bits| half::f16::from_bits(bits).to_f32())
}

/// CRC-32 (IEEE 802.3 / zlib: reflected, poly 0xEDB88320, init and final XOR 0xFFFFFFFF).
#[inline]
pub(crate) fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

//! Little-endian field helpers shared by the codecs. Field ranges are static and the views check
//! the buffer length before any accessor runs, so the slicing below cannot go out of bounds.

use core::ops::Range;

/// A byte range of a fixed field.
pub(crate) type Field = Range<usize>;

pub(crate) fn get_u16(buf: &[u8], f: Field) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&buf[f]);
    u16::from_le_bytes(a)
}

pub(crate) fn get_u32(buf: &[u8], f: Field) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&buf[f]);
    u32::from_le_bytes(a)
}

pub(crate) fn get_u64(buf: &[u8], f: Field) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&buf[f]);
    u64::from_le_bytes(a)
}

pub(crate) fn get_f32(buf: &[u8], f: Field) -> f32 {
    f32::from_bits(get_u32(buf, f))
}

pub(crate) fn set_u16(buf: &mut [u8], f: Field, v: u16) {
    buf[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn set_u32(buf: &mut [u8], f: Field, v: u32) {
    buf[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn set_u64(buf: &mut [u8], f: Field, v: u64) {
    buf[f].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn set_f32(buf: &mut [u8], f: Field, v: f32) {
    set_u32(buf, f, v.to_bits());
}

/// Magic of a buffer of at least 4 bytes, else `None`.
pub(crate) fn peek_magic(buf: &[u8]) -> Option<u32> {
    if buf.len() < 4 {
        return None;
    }
    Some(get_u32(buf, 0..4))
}

/// IEEE 802.3 / zlib CRC-32 (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Common length checks of fixed-size packets: exactly `len` bytes.
pub(crate) fn check_exact_len(buf: &[u8], len: usize) -> Result<(), crate::PacketError> {
    if buf.len() < len {
        Err(crate::PacketError::Truncated {
            needed: len,
            got: buf.len(),
        })
    } else if buf.len() != len {
        Err(crate::PacketError::WrongLength {
            expected: len,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Magic check shared by every `Repr::parse`.
pub(crate) fn check_magic(got: u32, expected: u32) -> Result<(), crate::PacketError> {
    if got != expected {
        Err(crate::PacketError::BadMagic { expected, got })
    } else {
        Ok(())
    }
}

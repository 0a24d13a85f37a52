//! `0xC5110005` compressed CSI (ADR-039 tier 1): the I/Q bytes XORed with the node's previous
//! frame, run-length encoded as `(value, run)` byte pairs, runs 1..=255.
//!
//! The firmware only sends it when a previous frame of the same length exists and the encoding is
//! shorter than the frame, and it updates its reference on *every* frame, sent or not. A host can
//! therefore only reconstruct frames when it saw every frame of that node, raw (`0xC5110001`,
//! fed to [`CompressedCsiDecoder::observe_raw`]) or compressed. The packet carries no sequence
//! number, so a lost frame cannot be detected; a length change is (see
//! [`PacketError::ReferenceLengthMismatch`]).

use crate::raw_csi::CSI_MAX_IQ_LEN;
use crate::wire::{check_magic, get_u16, get_u32, set_u16, set_u32, Field};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0005;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const CHANNEL: usize = 5;
    pub const ORIGINAL_LEN: Field = 6..8;
    pub const COMPRESSED_LEN: Field = 8..10;
    pub const fn rle(len: usize) -> Field {
        COMPRESSED_LEN.end..COMPRESSED_LEN.end + len
    }
}

/// Header length (10).
pub const COMPRESSED_HEADER_LEN: usize = field::COMPRESSED_LEN.end;

/// Check that `rle` is well-formed `(value, run)` pairs whose runs add up to exactly `expected`.
fn validate_rle(rle: &[u8], expected: usize) -> Result<(), PacketError> {
    if !rle.len().is_multiple_of(2) {
        return Err(PacketError::RleOddLength(rle.len()));
    }
    let mut produced = 0usize;
    for (i, pair) in rle.chunks_exact(2).enumerate() {
        let run = usize::from(pair[1]);
        if run == 0 {
            return Err(PacketError::RleZeroRun { at: 2 * i });
        }
        produced += run;
        if produced > expected {
            return Err(PacketError::RleOverrun { expected, produced });
        }
    }
    if produced < expected {
        return Err(PacketError::RleUnderrun { expected, produced });
    }
    Ok(())
}

/// Apply an RLE-coded XOR delta to `reference` in place, turning the previous frame into the
/// current one. The payload is validated first, so on error `reference` is untouched.
pub fn rle_xor_decode(rle: &[u8], reference: &mut [u8]) -> Result<(), PacketError> {
    validate_rle(rle, reference.len())?;
    let mut at = 0;
    for pair in rle.chunks_exact(2) {
        let (value, run) = (pair[0], usize::from(pair[1]));
        if value != 0 {
            for b in &mut reference[at..at + run] {
                *b ^= value;
            }
        }
        at += run;
    }
    Ok(())
}

/// Encode `current` against `previous` (same length) as XOR delta + `(value, run)` pairs into
/// `out`; returns the encoded length. Greedy runs of at most 255, as the firmware does.
pub fn rle_xor_encode(
    previous: &[u8],
    current: &[u8],
    out: &mut [u8],
) -> Result<usize, PacketError> {
    if previous.len() != current.len() {
        return Err(PacketError::ReferenceLengthMismatch {
            reference: previous.len(),
            frame: current.len(),
        });
    }
    let n = current.len();
    let mut i = 0;
    let mut o = 0;
    while i < n {
        let value = current[i] ^ previous[i];
        let mut run = 1;
        while i + run < n && run < 255 && current[i + run] ^ previous[i + run] == value {
            run += 1;
        }
        if o + 2 > out.len() {
            // Report the full size the encoding needs, so the caller can size its buffer.
            let rest = count_pairs(&previous[i + run..], &current[i + run..]);
            return Err(PacketError::BufferTooSmall {
                needed: o + 2 + 2 * rest,
                got: out.len(),
            });
        }
        out[o] = value;
        out[o + 1] = run as u8;
        o += 2;
        i += run;
    }
    Ok(o)
}

fn count_pairs(previous: &[u8], current: &[u8]) -> usize {
    let (mut i, mut pairs) = (0, 0);
    while i < current.len() {
        let value = current[i] ^ previous[i];
        let mut run = 1;
        while i + run < current.len() && run < 255 && current[i + run] ^ previous[i + run] == value
        {
            run += 1;
        }
        pairs += 1;
        i += run;
    }
    pairs
}

/// A read/write view of a compressed CSI packet.
#[derive(Debug, Clone)]
pub struct CompressedCsiPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CompressedCsiPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        CompressedCsiPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// The header and the declared RLE payload fit. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < COMPRESSED_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: COMPRESSED_HEADER_LEN,
                got: len,
            });
        }
        let needed = COMPRESSED_HEADER_LEN + usize::from(self.compressed_len());
        if len < needed {
            return Err(PacketError::Truncated { needed, got: len });
        }
        Ok(())
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Magic.
    pub fn magic(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }
    /// Node id.
    pub fn node_id(&self) -> u8 {
        self.buffer.as_ref()[field::NODE_ID]
    }
    /// WiFi channel number.
    pub fn channel(&self) -> u8 {
        self.buffer.as_ref()[field::CHANNEL]
    }
    /// Length of the reconstructed I/Q payload.
    pub fn original_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ORIGINAL_LEN)
    }
    /// Length of the RLE payload.
    pub fn compressed_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::COMPRESSED_LEN)
    }
    /// The declared RLE payload.
    pub fn rle(&self) -> &[u8] {
        &self.buffer.as_ref()[field::rle(usize::from(self.compressed_len()))]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CompressedCsiPacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set the channel.
    pub fn set_channel(&mut self, v: u8) {
        self.buffer.as_mut()[field::CHANNEL] = v
    }
    /// Set the original length.
    pub fn set_original_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::ORIGINAL_LEN, v)
    }
    /// Set the compressed length.
    pub fn set_compressed_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::COMPRESSED_LEN, v)
    }
    /// The declared RLE payload, writable.
    pub fn rle_mut(&mut self) -> &mut [u8] {
        let f: Field = field::rle(usize::from(self.compressed_len()));
        &mut self.buffer.as_mut()[f]
    }
}

/// A validated compressed CSI packet; the RLE payload borrows the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressedCsiRepr<'a> {
    /// Node id.
    pub node_id: u8,
    /// WiFi channel number.
    pub channel: u8,
    /// Length of the reconstructed I/Q payload, 1..=2048.
    pub original_len: u16,
    /// `(value, run)` pairs whose runs add up to `original_len`.
    pub rle: &'a [u8],
}

impl<'a> CompressedCsiRepr<'a> {
    /// Check length, magic, original length, and the RLE structure (even length, no zero run,
    /// runs adding up to exactly `original_len`). Needs no reference frame.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CompressedCsiPacket<&'a T>,
    ) -> Result<Self, PacketError> {
        let buf: &'a [u8] = packet.buffer.as_ref();
        if buf.len() < COMPRESSED_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: COMPRESSED_HEADER_LEN,
                got: buf.len(),
            });
        }
        check_magic(packet.magic(), MAGIC_VALUE)?;
        let expected = COMPRESSED_HEADER_LEN + usize::from(packet.compressed_len());
        if buf.len() < expected {
            return Err(PacketError::Truncated {
                needed: expected,
                got: buf.len(),
            });
        }
        if buf.len() != expected {
            return Err(PacketError::WrongLength {
                expected,
                got: buf.len(),
            });
        }
        let original_len = packet.original_len();
        // I/Q bytes come in (imag, real) pairs: an odd length is no raw frame's.
        if original_len == 0
            || !original_len.is_multiple_of(2)
            || usize::from(original_len) > CSI_MAX_IQ_LEN
        {
            return Err(PacketError::BadIqLength(original_len));
        }
        let rle = &buf[field::rle(expected - COMPRESSED_HEADER_LEN)];
        validate_rle(rle, usize::from(original_len))?;
        Ok(CompressedCsiRepr {
            node_id: packet.node_id(),
            channel: packet.channel(),
            original_len,
            rle,
        })
    }
    /// Header + RLE length.
    pub fn buffer_len(&self) -> usize {
        COMPRESSED_HEADER_LEN + self.rle.len()
    }
    /// Write into a buffer of `buffer_len()` bytes. `rle` must fit the 16-bit length field
    /// (every parsed packet's does; [`AnyPacket::emit`](crate::AnyPacket::emit) checks it and
    /// returns `None` otherwise).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut CompressedCsiPacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_channel(self.channel);
        packet.set_original_len(self.original_len);
        packet.set_compressed_len(self.rle.len() as u16);
        packet.rle_mut().copy_from_slice(self.rle);
    }
}

/// One node's previous frame.
#[derive(Clone)]
struct Reference {
    node_id: u8,
    in_use: bool,
    len: usize,
    last_used: u32,
    iq: [u8; CSI_MAX_IQ_LEN],
}

impl Reference {
    const EMPTY: Reference = Reference {
        node_id: 0,
        in_use: false,
        len: 0,
        last_used: 0,
        iq: [0; CSI_MAX_IQ_LEN],
    };
}

/// Reconstructs compressed frames. Keeps the previous frame of up to `NODES` nodes in fixed
/// storage (`NODES * 2 KiB`); when a new node arrives and all slots are taken, the least
/// recently used node is forgotten.
pub struct CompressedCsiDecoder<const NODES: usize> {
    slots: [Reference; NODES],
    tick: u32,
}

impl<const NODES: usize> Default for CompressedCsiDecoder<NODES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const NODES: usize> CompressedCsiDecoder<NODES> {
    /// An empty decoder.
    pub const fn new() -> Self {
        CompressedCsiDecoder {
            slots: [Reference::EMPTY; NODES],
            tick: 0,
        }
    }

    /// Forget every node.
    pub fn reset(&mut self) {
        for s in &mut self.slots {
            s.in_use = false;
        }
    }

    fn find(&self, node_id: u8) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.in_use && s.node_id == node_id)
    }

    fn touch(&mut self, i: usize) {
        self.tick = self.tick.wrapping_add(1);
        self.slots[i].last_used = self.tick;
    }

    /// Record an uncompressed I/Q payload (from a `0xC5110001` frame) as the node's reference.
    pub fn observe_raw(&mut self, node_id: u8, iq: &[u8]) -> Result<(), PacketError> {
        if iq.is_empty() || !iq.len().is_multiple_of(2) || iq.len() > CSI_MAX_IQ_LEN {
            return Err(PacketError::BadIqLength(
                iq.len().min(usize::from(u16::MAX)) as u16,
            ));
        }
        let i = match self.find(node_id) {
            Some(i) => i,
            None => match self.slots.iter().position(|s| !s.in_use) {
                Some(free) => free,
                None => {
                    // Evict the least recently used node (oldest tick, wrap-aware).
                    let now = self.tick;
                    match (0..NODES).max_by_key(|&j| now.wrapping_sub(self.slots[j].last_used)) {
                        Some(j) => j,
                        None => return Ok(()), // NODES == 0: nothing can be remembered.
                    }
                }
            },
        };
        let slot = &mut self.slots[i];
        slot.node_id = node_id;
        slot.in_use = true;
        slot.len = iq.len();
        slot.iq[..iq.len()].copy_from_slice(iq);
        self.touch(i);
        Ok(())
    }

    /// Reconstruct a compressed frame against the node's reference, make the result the new
    /// reference, and return it. On error the reference is unchanged.
    pub fn decode(&mut self, frame: &CompressedCsiRepr<'_>) -> Result<&[u8], PacketError> {
        let i = self.find(frame.node_id).ok_or(PacketError::NoReference {
            node_id: frame.node_id,
        })?;
        let len = usize::from(frame.original_len);
        if self.slots[i].len != len {
            return Err(PacketError::ReferenceLengthMismatch {
                reference: self.slots[i].len,
                frame: len,
            });
        }
        rle_xor_decode(frame.rle, &mut self.slots[i].iq[..len])?;
        self.touch(i);
        Ok(&self.slots[i].iq[..len])
    }

    /// The stored previous frame of a node.
    pub fn reference(&self, node_id: u8) -> Option<&[u8]> {
        self.find(node_id)
            .map(|i| &self.slots[i].iq[..self.slots[i].len])
    }
}

/// The device side: keeps the previous frame of one node and compresses the next one against it,
/// with the firmware's rules.
pub struct CompressedCsiEncoder {
    previous: [u8; CSI_MAX_IQ_LEN],
    len: usize,
}

impl Default for CompressedCsiEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl CompressedCsiEncoder {
    /// No previous frame yet.
    pub const fn new() -> Self {
        CompressedCsiEncoder {
            previous: [0; CSI_MAX_IQ_LEN],
            len: 0,
        }
    }

    /// Encode `iq` as a full `0xC5110005` datagram into `out`. Returns `Ok(Some(len))` when a
    /// packet was written, `Ok(None)` when the firmware would not send one (no previous frame,
    /// a different length, or an encoding not shorter than the frame). Either way `iq` becomes
    /// the new reference.
    pub fn encode_packet(
        &mut self,
        node_id: u8,
        channel: u8,
        iq: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, PacketError> {
        if iq.is_empty() || !iq.len().is_multiple_of(2) || iq.len() > CSI_MAX_IQ_LEN {
            return Err(PacketError::BadIqLength(
                iq.len().min(usize::from(u16::MAX)) as u16,
            ));
        }
        let written = if self.len == iq.len() && out.len() > COMPRESSED_HEADER_LEN {
            // Only encodings shorter than the frame are sent, so cap the RLE area there.
            let cap = (out.len() - COMPRESSED_HEADER_LEN).min(iq.len() - 1);
            match rle_xor_encode(
                &self.previous[..self.len],
                iq,
                &mut out[COMPRESSED_HEADER_LEN..COMPRESSED_HEADER_LEN + cap],
            ) {
                Ok(n) => Some(n),
                Err(PacketError::BufferTooSmall { needed, .. }) if needed >= iq.len() => None,
                Err(e) => return Err(e),
            }
        } else if self.len == iq.len() {
            return Err(PacketError::BufferTooSmall {
                needed: COMPRESSED_HEADER_LEN + 2,
                got: out.len(),
            });
        } else {
            None
        };
        self.previous[..iq.len()].copy_from_slice(iq);
        self.len = iq.len();
        let Some(n) = written else { return Ok(None) };
        let mut p = CompressedCsiPacket::new_unchecked(&mut out[..COMPRESSED_HEADER_LEN + n]);
        p.set_magic(MAGIC_VALUE);
        p.set_node_id(node_id);
        p.set_channel(channel);
        p.set_original_len(iq.len() as u16);
        p.set_compressed_len(n as u16);
        Ok(Some(COMPRESSED_HEADER_LEN + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // node 1, channel 6, original 8 bytes, RLE [(0x00,4), (0x01,2), (0x00,2)].
    static PACKET_BYTES: [u8; 16] = [
        0x05, 0x00, 0x11, 0xc5, 0x01, 0x06, 0x08, 0x00, 0x06, 0x00, 0x00, 0x04, 0x01, 0x02, 0x00,
        0x02,
    ];
    const PREVIOUS: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const CURRENT: [u8; 8] = [1, 2, 3, 4, 4, 7, 7, 8];

    fn repr() -> CompressedCsiRepr<'static> {
        CompressedCsiRepr {
            node_id: 1,
            channel: 6,
            original_len: 8,
            rle: &PACKET_BYTES[10..],
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = CompressedCsiPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0005);
        assert_eq!(p.node_id(), 1);
        assert_eq!(p.channel(), 6);
        assert_eq!(p.original_len(), 8);
        assert_eq!(p.compressed_len(), 6);
        assert_eq!(p.rle(), &[0, 4, 1, 2, 0, 2]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 16];
        let mut p = CompressedCsiPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0005);
        p.set_node_id(1);
        p.set_channel(6);
        p.set_original_len(8);
        p.set_compressed_len(6);
        p.rle_mut().copy_from_slice(&[0, 4, 1, 2, 0, 2]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let p = CompressedCsiPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(CompressedCsiRepr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 16];
        repr().emit(&mut CompressedCsiPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn encoder_produces_the_golden_packet_and_decoder_inverts_it() {
        let mut enc = CompressedCsiEncoder::new();
        let mut out = [0xa5u8; 64];
        assert_eq!(enc.encode_packet(1, 6, &PREVIOUS, &mut out).unwrap(), None);
        let n = enc
            .encode_packet(1, 6, &CURRENT, &mut out)
            .unwrap()
            .unwrap();
        assert_eq!(&out[..n], &PACKET_BYTES[..]);

        let mut dec = CompressedCsiDecoder::<2>::new();
        let r = repr();
        assert_eq!(
            dec.decode(&r).unwrap_err(),
            PacketError::NoReference { node_id: 1 }
        );
        dec.observe_raw(1, &PREVIOUS).unwrap();
        assert_eq!(dec.decode(&r).unwrap(), &CURRENT);
        assert_eq!(dec.reference(1).unwrap(), &CURRENT);
        dec.observe_raw(1, &PREVIOUS[..6]).unwrap();
        assert_eq!(
            dec.decode(&r).unwrap_err(),
            PacketError::ReferenceLengthMismatch {
                reference: 6,
                frame: 8
            }
        );
    }

    #[test]
    fn encoder_skips_incompressible_frames_but_updates_reference() {
        let mut enc = CompressedCsiEncoder::new();
        let mut out = [0u8; 64];
        let a: [u8; 8] = [0; 8];
        let b: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8]; // 8 distinct deltas -> 16 bytes of RLE
        assert_eq!(enc.encode_packet(0, 1, &a, &mut out).unwrap(), None);
        assert_eq!(enc.encode_packet(0, 1, &b, &mut out).unwrap(), None);
        // Reference is now b: an identical frame compresses to one pair.
        assert_eq!(enc.encode_packet(0, 1, &b, &mut out).unwrap(), Some(12));
        assert_eq!(&out[10..12], &[0, 8]);
        assert_eq!(enc.encode_packet(0, 1, &b[..6], &mut out).unwrap(), None);
    }

    #[test]
    fn long_runs_split_at_255() {
        let prev = [0u8; 600];
        let mut cur = [0u8; 600];
        cur[599] = 9;
        let mut out = [0u8; 16];
        let n = rle_xor_encode(&prev, &cur, &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 255, 0, 255, 0, 89, 9, 1]);
        let mut r = prev;
        rle_xor_decode(&out[..n], &mut r).unwrap();
        assert_eq!(r, cur);
        let mut tiny = [0u8; 4];
        assert_eq!(
            rle_xor_encode(&prev, &cur, &mut tiny).unwrap_err(),
            PacketError::BufferTooSmall { needed: 8, got: 4 }
        );
    }

    #[test]
    fn malformed_rle_is_rejected_with_distinct_errors() {
        let mut r = [0u8; 8];
        assert_eq!(
            rle_xor_decode(&[0, 4, 1], &mut r).unwrap_err(),
            PacketError::RleOddLength(3)
        );
        assert_eq!(
            rle_xor_decode(&[0, 4, 1, 0], &mut r).unwrap_err(),
            PacketError::RleZeroRun { at: 2 }
        );
        assert_eq!(
            rle_xor_decode(&[7, 4, 1, 5], &mut r).unwrap_err(),
            PacketError::RleOverrun {
                expected: 8,
                produced: 9
            }
        );
        assert_eq!(
            rle_xor_decode(&[7, 4, 1, 3], &mut r).unwrap_err(),
            PacketError::RleUnderrun {
                expected: 8,
                produced: 7
            }
        );
        assert_eq!(r, [0u8; 8], "reference untouched on error");

        let mut b = PACKET_BYTES;
        b[6] = 0;
        assert_eq!(
            CompressedCsiRepr::parse(&CompressedCsiPacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadIqLength(0)
        );
        let mut b = PACKET_BYTES;
        b[6] = 10;
        assert_eq!(
            CompressedCsiRepr::parse(&CompressedCsiPacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::RleUnderrun {
                expected: 10,
                produced: 8
            }
        );
        // An odd length is no raw frame's (I/Q bytes come in pairs).
        let mut b = PACKET_BYTES;
        b[6] = 7;
        assert_eq!(
            CompressedCsiRepr::parse(&CompressedCsiPacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadIqLength(7)
        );
        assert_eq!(
            CompressedCsiRepr::parse(&CompressedCsiPacket::new_unchecked(&PACKET_BYTES[..15]))
                .unwrap_err(),
            PacketError::Truncated {
                needed: 16,
                got: 15
            }
        );
    }

    #[test]
    fn decoder_evicts_least_recently_used_node() {
        let mut dec = CompressedCsiDecoder::<2>::new();
        dec.observe_raw(1, &[1, 1]).unwrap();
        dec.observe_raw(2, &[2, 2]).unwrap();
        dec.observe_raw(1, &[1, 1]).unwrap(); // node 2 is now the oldest
        dec.observe_raw(3, &[3, 3]).unwrap();
        assert!(dec.reference(2).is_none());
        assert_eq!(dec.reference(1), Some(&[1u8, 1][..]));
        assert_eq!(dec.reference(3), Some(&[3u8, 3][..]));
        assert_eq!(dec.observe_raw(4, &[4]), Err(PacketError::BadIqLength(1)));
        dec.reset();
        assert!(dec.reference(1).is_none());
    }
}

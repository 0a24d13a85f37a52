//! `0xC5110001` raw CSI frame (ADR-018): a 20-byte header and int8 I/Q pairs.
//!
//! The I/Q bytes are the ESP-IDF CSI buffer as the chip delivers it: per subcarrier two signed
//! bytes, **imaginary part first, then real part** (Espressif, ESP-IDF Programming Guide, "Wi-Fi
//! Channel State Information"; citation in `docs/packets.md`). Accessors return `(re, im)`.
//! With several antennas the payload is antenna-major: all subcarriers of antenna 0, then of
//! antenna 1, and so on.

use crate::wire::{check_magic, get_u16, get_u32, set_u16, set_u32, Field};
use crate::PacketError;

/// Magic of this packet.
const MAGIC_VALUE: u32 = 0xC511_0001;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const N_ANTENNAS: usize = 5;
    pub const N_SUBCARRIERS: Field = 6..8;
    pub const FREQ_MHZ: Field = 8..12;
    pub const SEQUENCE: Field = 12..16;
    pub const RSSI: usize = 16;
    pub const NOISE_FLOOR: usize = 17;
    pub const RESERVED: Field = 18..20;
    pub const fn iq(len: usize) -> Field {
        RESERVED.end..RESERVED.end + len
    }
}

/// Header length (20).
pub const CSI_HEADER_LEN: usize = field::RESERVED.end;
/// Most antennas a frame may carry.
pub const CSI_MAX_ANTENNAS: usize = 4;
/// Most subcarriers per antenna.
pub const CSI_MAX_SUBCARRIERS: usize = 256;
/// Largest I/Q payload: 4 antennas x 256 subcarriers x 2 bytes.
pub const CSI_MAX_IQ_LEN: usize = CSI_MAX_ANTENNAS * CSI_MAX_SUBCARRIERS * 2;
/// Largest frame (header + payload), 2068 bytes.
pub const CSI_MAX_FRAME_LEN: usize = CSI_HEADER_LEN + CSI_MAX_IQ_LEN;

/// Two buffer bytes `[imag, real]` as `(re, im)`.
#[inline]
pub(crate) fn pair_from_bytes(b0: u8, b1: u8) -> (i8, i8) {
    (b1 as i8, b0 as i8)
}

/// A read/write view of a raw CSI frame.
#[derive(Debug, Clone)]
pub struct CsiFramePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CsiFramePacket<T> {
    /// Wrap a buffer without checks (for emitting into exactly `buffer_len()` bytes).
    pub const fn new_unchecked(buffer: T) -> Self {
        CsiFramePacket { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds the header and the payload the header declares. After `Ok`, no accessor
    /// panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < CSI_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: CSI_HEADER_LEN,
                got: len,
            });
        }
        let needed = CSI_HEADER_LEN + self.iq_len();
        if len < needed {
            return Err(PacketError::Truncated { needed, got: len });
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Magic (0xC5110001 for a valid frame).
    pub fn magic(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }
    /// Node id.
    pub fn node_id(&self) -> u8 {
        self.buffer.as_ref()[field::NODE_ID]
    }
    /// Antenna count (the firmware writes 1).
    pub fn n_antennas(&self) -> u8 {
        self.buffer.as_ref()[field::N_ANTENNAS]
    }
    /// Subcarriers per antenna.
    pub fn n_subcarriers(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::N_SUBCARRIERS)
    }
    /// Channel centre frequency in MHz (0 when the channel has none).
    pub fn freq_mhz(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::FREQ_MHZ)
    }
    /// Sequence number.
    pub fn sequence(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQUENCE)
    }
    /// RSSI in dBm.
    pub fn rssi(&self) -> i8 {
        self.buffer.as_ref()[field::RSSI] as i8
    }
    /// Noise floor in dBm.
    pub fn noise_floor(&self) -> i8 {
        self.buffer.as_ref()[field::NOISE_FLOOR] as i8
    }
    /// I/Q payload length the header declares: `n_antennas * n_subcarriers * 2`.
    pub fn iq_len(&self) -> usize {
        usize::from(self.n_antennas()) * usize::from(self.n_subcarriers()) * 2
    }
    /// The declared I/Q payload (raw ESP-IDF bytes, `[imag, real]` per subcarrier).
    pub fn iq(&self) -> &[u8] {
        &self.buffer.as_ref()[field::iq(self.iq_len())]
    }
    /// Subcarrier `index` of `antenna` as `(re, im)`. Panics if out of range of the header counts.
    pub fn subcarrier(&self, antenna: usize, index: usize) -> (i8, i8) {
        let at = (antenna * usize::from(self.n_subcarriers()) + index) * 2;
        let iq = self.iq();
        pair_from_bytes(iq[at], iq[at + 1])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CsiFramePacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set the antenna count.
    pub fn set_n_antennas(&mut self, v: u8) {
        self.buffer.as_mut()[field::N_ANTENNAS] = v
    }
    /// Set the subcarrier count.
    pub fn set_n_subcarriers(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::N_SUBCARRIERS, v)
    }
    /// Set the frequency in MHz.
    pub fn set_freq_mhz(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::FREQ_MHZ, v)
    }
    /// Set the sequence number.
    pub fn set_sequence(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::SEQUENCE, v)
    }
    /// Set the RSSI.
    pub fn set_rssi(&mut self, v: i8) {
        self.buffer.as_mut()[field::RSSI] = v as u8
    }
    /// Set the noise floor.
    pub fn set_noise_floor(&mut self, v: i8) {
        self.buffer.as_mut()[field::NOISE_FLOOR] = v as u8
    }
    /// Zero the reserved bytes.
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[field::RESERVED].fill(0)
    }
    /// The declared I/Q payload, writable.
    pub fn iq_mut(&mut self) -> &mut [u8] {
        let f: Field = field::iq(self.iq_len());
        &mut self.buffer.as_mut()[f]
    }
    /// Write subcarrier `index` of `antenna` from `(re, im)` (stored imaginary byte first).
    pub fn set_subcarrier(&mut self, antenna: usize, index: usize, re: i8, im: i8) {
        let at = (antenna * usize::from(self.n_subcarriers()) + index) * 2;
        let iq = self.iq_mut();
        iq[at] = im as u8;
        iq[at + 1] = re as u8;
    }
}

/// A validated raw CSI frame. The I/Q payload borrows the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsiFrameRepr<'a> {
    /// Node id.
    pub node_id: u8,
    /// Antennas, 1..=4.
    pub n_antennas: u8,
    /// Subcarriers per antenna, 1..=256.
    pub n_subcarriers: u16,
    /// Channel centre frequency in MHz (see [`crate::channel_to_mhz`]).
    pub freq_mhz: u32,
    /// Sequence number.
    pub sequence: u32,
    /// RSSI in dBm.
    pub rssi: i8,
    /// Noise floor in dBm.
    pub noise_floor: i8,
    /// `n_antennas * n_subcarriers * 2` raw bytes, `[imag, real]` per subcarrier.
    pub iq: &'a [u8],
}

impl<'a> CsiFrameRepr<'a> {
    /// Check and decode a frame: length, magic, antenna and subcarrier counts, and that the
    /// datagram holds exactly the declared payload. The reserved bytes are ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CsiFramePacket<&'a T>,
    ) -> Result<Self, PacketError> {
        let buf: &'a [u8] = packet.buffer.as_ref();
        if buf.len() < CSI_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: CSI_HEADER_LEN,
                got: buf.len(),
            });
        }
        check_magic(packet.magic(), MAGIC_VALUE)?;
        let n_antennas = packet.n_antennas();
        if !(1..=CSI_MAX_ANTENNAS as u8).contains(&n_antennas) {
            return Err(PacketError::BadAntennaCount(n_antennas));
        }
        let n_subcarriers = packet.n_subcarriers();
        if n_subcarriers == 0 || usize::from(n_subcarriers) > CSI_MAX_SUBCARRIERS {
            return Err(PacketError::BadSubcarrierCount(n_subcarriers));
        }
        let expected = CSI_HEADER_LEN + packet.iq_len();
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
        Ok(CsiFrameRepr {
            node_id: packet.node_id(),
            n_antennas,
            n_subcarriers,
            freq_mhz: packet.freq_mhz(),
            sequence: packet.sequence(),
            rssi: packet.rssi(),
            noise_floor: packet.noise_floor(),
            iq: &buf[field::iq(expected - CSI_HEADER_LEN)],
        })
    }

    /// A frame from an I/Q payload; the subcarrier count is derived from its length. Errors
    /// when the antenna count is outside 1..=4 or the payload does not split into 1..=256
    /// subcarriers per antenna.
    pub fn new(
        node_id: u8,
        n_antennas: u8,
        freq_mhz: u32,
        sequence: u32,
        rssi: i8,
        noise_floor: i8,
        iq: &'a [u8],
    ) -> Result<Self, PacketError> {
        if !(1..=CSI_MAX_ANTENNAS as u8).contains(&n_antennas) {
            return Err(PacketError::BadAntennaCount(n_antennas));
        }
        let per_antenna = 2 * usize::from(n_antennas);
        let n = iq.len() / per_antenna;
        if !iq.len().is_multiple_of(per_antenna) || n == 0 || n > CSI_MAX_SUBCARRIERS {
            let shown = if !iq.len().is_multiple_of(per_antenna) {
                0
            } else {
                n.min(usize::from(u16::MAX)) as u16
            };
            return Err(PacketError::BadSubcarrierCount(shown));
        }
        Ok(CsiFrameRepr {
            node_id,
            n_antennas,
            n_subcarriers: n as u16,
            freq_mhz,
            sequence,
            rssi,
            noise_floor,
            iq,
        })
    }

    /// Bytes `emit` writes: header + `n_antennas * n_subcarriers * 2`.
    pub fn buffer_len(&self) -> usize {
        CSI_HEADER_LEN + usize::from(self.n_antennas) * usize::from(self.n_subcarriers) * 2
    }

    /// Write the frame into a buffer of at least `buffer_len()` bytes. The payload is the first
    /// `n_antennas * n_subcarriers * 2` bytes of `iq` (all of it for a parsed or `new` frame);
    /// if `iq` is shorter, the rest is zero-filled rather than panicking.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut CsiFramePacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_n_antennas(self.n_antennas);
        packet.set_n_subcarriers(self.n_subcarriers);
        packet.set_freq_mhz(self.freq_mhz);
        packet.set_sequence(self.sequence);
        packet.set_rssi(self.rssi);
        packet.set_noise_floor(self.noise_floor);
        packet.clear_reserved();
        let dst = packet.iq_mut();
        let m = dst.len().min(self.iq.len());
        dst[..m].copy_from_slice(&self.iq[..m]);
        dst[m..].fill(0);
    }

    /// Subcarrier `index` of `antenna` as `(re, im)`. Panics if out of range.
    pub fn subcarrier(&self, antenna: usize, index: usize) -> (i8, i8) {
        let at = (antenna * usize::from(self.n_subcarriers) + index) * 2;
        pair_from_bytes(self.iq[at], self.iq[at + 1])
    }

    /// The `(re, im)` values of one antenna in buffer order (empty if `antenna` is out of range).
    pub fn antenna(&self, antenna: usize) -> impl Iterator<Item = (i8, i8)> + 'a {
        let n = usize::from(self.n_subcarriers) * 2;
        let start = (antenna * n).min(self.iq.len());
        let end = (start + n).min(self.iq.len());
        self.iq[start..end]
            .chunks_exact(2)
            .map(|p| pair_from_bytes(p[0], p[1]))
    }

    /// Fill `out` (`n_antennas * n_subcarriers * 2` bytes) from `(re, im)` pairs in antenna-major
    /// order, in the wire's `[imag, real]` byte order. Returns the bytes written.
    pub fn write_iq(pairs: impl IntoIterator<Item = (i8, i8)>, out: &mut [u8]) -> usize {
        let mut n = 0;
        for ((re, im), dst) in pairs.into_iter().zip(out.chunks_exact_mut(2)) {
            dst[0] = im as u8;
            dst[1] = re as u8;
            n += 2;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // node 3, 1 antenna, 4 subcarriers, 2437 MHz (ch 6), seq 0x01020304, rssi -40, noise -95.
    // Subcarriers (re, im): (3, 5), (-3, 5), (0, 0), (127, -128) stored as [im, re].
    static PACKET_BYTES: [u8; 28] = [
        0x01, 0x00, 0x11, 0xc5, 0x03, 0x01, 0x04, 0x00, 0x85, 0x09, 0x00, 0x00, 0x04, 0x03, 0x02,
        0x01, 0xd8, 0xa1, 0x00, 0x00, 0x05, 0x03, 0x05, 0xfd, 0x00, 0x00, 0x80, 0x7f,
    ];

    fn repr() -> CsiFrameRepr<'static> {
        CsiFrameRepr {
            node_id: 3,
            n_antennas: 1,
            n_subcarriers: 4,
            freq_mhz: 2437,
            sequence: 0x0102_0304,
            rssi: -40,
            noise_floor: -95,
            iq: &PACKET_BYTES[20..],
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = CsiFramePacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0001);
        assert_eq!(p.node_id(), 3);
        assert_eq!(p.n_antennas(), 1);
        assert_eq!(p.n_subcarriers(), 4);
        assert_eq!(p.freq_mhz(), 2437);
        assert_eq!(p.sequence(), 0x0102_0304);
        assert_eq!(p.rssi(), -40);
        assert_eq!(p.noise_floor(), -95);
        assert_eq!(p.iq_len(), 8);
        assert_eq!(p.subcarrier(0, 0), (3, 5));
        assert_eq!(p.subcarrier(0, 1), (-3, 5));
        assert_eq!(p.subcarrier(0, 2), (0, 0));
        assert_eq!(p.subcarrier(0, 3), (127, -128));
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 28];
        let mut p = CsiFramePacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0001);
        p.set_node_id(3);
        p.set_n_antennas(1);
        p.set_n_subcarriers(4);
        p.set_freq_mhz(2437);
        p.set_sequence(0x0102_0304);
        p.set_rssi(-40);
        p.set_noise_floor(-95);
        p.clear_reserved();
        for (k, (re, im)) in [(3, 5), (-3, 5), (0, 0), (127, -128)]
            .into_iter()
            .enumerate()
        {
            p.set_subcarrier(0, k, re, im);
        }
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_parse() {
        let p = CsiFramePacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(CsiFrameRepr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let r = repr();
        let mut bytes = [0xa5u8; 28];
        assert_eq!(r.buffer_len(), 28);
        r.emit(&mut CsiFramePacket::new_unchecked(&mut bytes[..]));
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn iq_order_is_imaginary_then_real() {
        // Espressif: "imaginary part followed by real part". Byte 0 = im, byte 1 = re.
        let r = repr();
        let pairs: [(i8, i8); 4] = core::array::from_fn(|k| r.subcarrier(0, k));
        assert_eq!(pairs[1], (-3, 5));
        assert_eq!(PACKET_BYTES[22], 5); // imaginary byte of subcarrier 1
        assert_eq!(PACKET_BYTES[23] as i8, -3); // real byte of subcarrier 1
        let mut out = [0u8; 8];
        assert_eq!(CsiFrameRepr::write_iq(pairs, &mut out), 8);
        assert_eq!(&out[..], &PACKET_BYTES[20..]);
        assert!(r.antenna(0).eq(pairs));
        assert_eq!(r.antenna(1).count(), 0);
    }

    #[test]
    fn multi_antenna_is_antenna_major() {
        let mut bytes = [0u8; 20 + 2 * 3 * 2];
        let mut p = CsiFramePacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0001);
        p.set_n_antennas(2);
        p.set_n_subcarriers(3);
        for a in 0..2 {
            for k in 0..3 {
                p.set_subcarrier(a, k, (10 * a + k) as i8, -((10 * a + k) as i8));
            }
        }
        let r = CsiFrameRepr::parse(&CsiFramePacket::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(r.subcarrier(1, 2), (12, -12));
        assert_eq!(bytes[20 + 3 * 2], 0xf6); // antenna 1 starts after 3 pairs: im = -10
    }

    #[test]
    fn new_derives_the_subcarrier_count() {
        let r = CsiFrameRepr::new(3, 1, 2437, 0x0102_0304, -40, -95, &PACKET_BYTES[20..]).unwrap();
        assert_eq!(r, repr());
        assert_eq!(
            CsiFrameRepr::new(0, 2, 0, 0, 0, 0, &[0; 8])
                .unwrap()
                .n_subcarriers,
            2
        );
        assert_eq!(
            CsiFrameRepr::new(0, 0, 0, 0, 0, 0, &[0; 8]).unwrap_err(),
            PacketError::BadAntennaCount(0)
        );
        assert_eq!(
            CsiFrameRepr::new(0, 2, 0, 0, 0, 0, &[0; 6]).unwrap_err(),
            PacketError::BadSubcarrierCount(0)
        );
        assert_eq!(
            CsiFrameRepr::new(0, 1, 0, 0, 0, 0, &[]).unwrap_err(),
            PacketError::BadSubcarrierCount(0)
        );
        assert_eq!(
            CsiFrameRepr::new(0, 1, 0, 0, 0, 0, &[0; 514]).unwrap_err(),
            PacketError::BadSubcarrierCount(257)
        );
    }

    #[test]
    fn emit_with_short_iq_zero_fills() {
        let mut r = repr();
        r.iq = &PACKET_BYTES[20..24];
        let mut bytes = [0xa5u8; 28];
        assert_eq!(r.buffer_len(), 28);
        r.emit(&mut CsiFramePacket::new_unchecked(&mut bytes[..]));
        assert_eq!(&bytes[..24], &PACKET_BYTES[..24]);
        assert_eq!(&bytes[24..], &[0, 0, 0, 0]);
    }

    #[test]
    fn test_impossible_len_and_counts() {
        // Truncated header.
        assert_eq!(
            CsiFramePacket::new_checked(&PACKET_BYTES[..19]).unwrap_err(),
            PacketError::Truncated {
                needed: 20,
                got: 19
            }
        );
        // Truncated payload.
        assert_eq!(
            CsiFramePacket::new_checked(&PACKET_BYTES[..27]).unwrap_err(),
            PacketError::Truncated {
                needed: 28,
                got: 27
            }
        );
        // Trailing byte.
        let mut long = [0u8; 29];
        long[..28].copy_from_slice(&PACKET_BYTES);
        let p = CsiFramePacket::new_checked(&long[..]).unwrap();
        assert_eq!(
            CsiFrameRepr::parse(&p).unwrap_err(),
            PacketError::WrongLength {
                expected: 28,
                got: 29
            }
        );
        let mut b = PACKET_BYTES;
        b[5] = 0;
        assert_eq!(
            CsiFrameRepr::parse(&CsiFramePacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadAntennaCount(0)
        );
        b[5] = 5;
        assert_eq!(
            CsiFrameRepr::parse(&CsiFramePacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadAntennaCount(5)
        );
        let mut b = PACKET_BYTES;
        b[6] = 0x01;
        b[7] = 0x01; // 257
        assert_eq!(
            CsiFramePacket::new_checked(&b[..]).unwrap_err(),
            PacketError::Truncated {
                needed: 20 + 257 * 2,
                got: 28
            }
        );
        assert_eq!(
            CsiFrameRepr::parse(&CsiFramePacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadSubcarrierCount(257)
        );
        let mut b = PACKET_BYTES;
        b[0] = 0x02;
        assert_eq!(
            CsiFrameRepr::parse(&CsiFramePacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadMagic {
                expected: 0xC511_0001,
                got: 0xC511_0002
            }
        );
    }
}

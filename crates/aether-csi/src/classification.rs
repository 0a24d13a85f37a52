//! `0xC5110007` temporal classification (`rv_temporal_pkt_t`, ADR-095/096), 40 bytes, CRC-32
//! over bytes 0..36.

use crate::wire::{
    check_exact_len, check_magic, crc32, get_f32, get_u16, get_u32, get_u64, set_f32, set_u16,
    set_u32, set_u64,
};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0007;
/// The only version defined.
pub const CLASSIFICATION_VERSION: u16 = 1;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const VERSION: Field = 4..6;
    pub const N_CLASSES: Field = 6..8;
    pub const NODE_ID: usize = 8;
    pub const RESERVED: Field = 9..12;
    pub const TS_US: Field = 12..20;
    pub const SEQ: Field = 20..24;
    pub const ARGMAX: usize = 24;
    pub const RESERVED2: Field = 25..28;
    pub const TOP_LOGIT: Field = 28..32;
    pub const MARGIN: Field = 32..36;
    pub const CRC: Field = 36..40;
}

/// Packet length (40).
pub const CLASSIFICATION_LEN: usize = field::CRC.end;

/// A read/write view of a classification packet.
#[derive(Debug, Clone)]
pub struct ClassificationPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ClassificationPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        ClassificationPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly 40 bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        check_exact_len(self.buffer.as_ref(), CLASSIFICATION_LEN)
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Magic.
    pub fn magic(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }
    /// Version (1).
    pub fn version(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::VERSION)
    }
    /// Number of classes the logits had.
    pub fn n_classes(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::N_CLASSES)
    }
    /// Node id.
    pub fn node_id(&self) -> u8 {
        self.buffer.as_ref()[field::NODE_ID]
    }
    /// Reserved bytes 9..12.
    pub fn reserved(&self) -> [u8; 3] {
        let b = self.buffer.as_ref();
        [b[9], b[10], b[11]]
    }
    /// Microseconds since boot at emit.
    pub fn ts_us(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::TS_US)
    }
    /// Sequence number (first packet is 1).
    pub fn seq(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }
    /// Index of the largest logit.
    pub fn argmax(&self) -> u8 {
        self.buffer.as_ref()[field::ARGMAX]
    }
    /// Reserved bytes 25..28.
    pub fn reserved2(&self) -> [u8; 3] {
        let b = self.buffer.as_ref();
        [b[25], b[26], b[27]]
    }
    /// `logits[argmax]`.
    pub fn top_logit(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::TOP_LOGIT)
    }
    /// Top-1 minus top-2 logit (the wire's `top1_minus_top2`).
    pub fn margin(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::MARGIN)
    }
    /// Stored CRC-32.
    pub fn crc(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::CRC)
    }
    /// CRC-32 (IEEE) of bytes 0..36.
    pub fn computed_crc(&self) -> u32 {
        crc32(&self.buffer.as_ref()[..field::CRC.start])
    }
    /// Stored CRC equals computed CRC.
    pub fn verify_crc(&self) -> bool {
        self.crc() == self.computed_crc()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ClassificationPacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the version.
    pub fn set_version(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::VERSION, v)
    }
    /// Set the class count.
    pub fn set_n_classes(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::N_CLASSES, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Zero both reserved runs.
    pub fn clear_reserved(&mut self) {
        let b = self.buffer.as_mut();
        b[field::RESERVED].fill(0);
        b[field::RESERVED2].fill(0);
    }
    /// Set the timestamp.
    pub fn set_ts_us(&mut self, v: u64) {
        set_u64(self.buffer.as_mut(), field::TS_US, v)
    }
    /// Set the sequence number.
    pub fn set_seq(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ, v)
    }
    /// Set the argmax.
    pub fn set_argmax(&mut self, v: u8) {
        self.buffer.as_mut()[field::ARGMAX] = v
    }
    /// Set the top logit.
    pub fn set_top_logit(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::TOP_LOGIT, v)
    }
    /// Set the margin.
    pub fn set_margin(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::MARGIN, v)
    }
    /// Store a given CRC.
    pub fn set_crc(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::CRC, v)
    }
    /// Compute and store the CRC of bytes 0..36.
    pub fn fill_crc(&mut self) {
        let c = self.computed_crc();
        self.set_crc(c)
    }
}

/// A validated classification. Reserved bytes are ignored on parse and written as 0; the CRC is
/// checked by `parse` and computed by `emit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassificationRepr {
    /// Node id.
    pub node_id: u8,
    /// Number of classes.
    pub n_classes: u16,
    /// Microseconds since boot at emit.
    pub ts_us: u64,
    /// Sequence number (first packet is 1).
    pub seq: u32,
    /// Index of the largest logit (first maximum wins).
    pub argmax: u8,
    /// `logits[argmax]`.
    pub top_logit: f32,
    /// Top-1 minus top-2 logit.
    pub margin: f32,
}

impl ClassificationRepr {
    /// The firmware rule (spec §3.9): one pass with `top1 = logits[0]`, `top2 = -1e30`; for
    /// `i >= 1`, if `v > top1` then `top2 = top1, top1 = v, argmax = i`, else if `v > top2` then
    /// `top2 = v`. Strict comparisons: the first maximum wins, and NaN never wins unless it is
    /// `logits[0]` (then argmax 0, top logit and margin NaN, as on the device). With one class
    /// the margin is `top1 + 1e30`, as on the device. Errors when `logits` is empty or longer than
    /// 256 (the argmax is a byte).
    pub fn from_logits(
        node_id: u8,
        ts_us: u64,
        seq: u32,
        logits: &[f32],
    ) -> Result<Self, PacketError> {
        if logits.is_empty() || logits.len() > 256 {
            return Err(PacketError::BadClassCount {
                n_classes: logits.len(),
                argmax: 0,
            });
        }
        let mut top1 = logits[0];
        let mut top2 = -1e30f32;
        let mut argmax = 0usize;
        for (i, &v) in logits.iter().enumerate().skip(1) {
            if v > top1 {
                top2 = top1;
                top1 = v;
                argmax = i;
            } else if v > top2 {
                top2 = v;
            }
        }
        Ok(ClassificationRepr {
            node_id,
            n_classes: logits.len() as u16,
            ts_us,
            seq,
            argmax: argmax as u8,
            top_logit: top1,
            margin: top1 - top2,
        })
    }

    /// Check length (exactly 40), magic, version, `argmax < n_classes` (when `n_classes > 0`) and
    /// the CRC.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &ClassificationPacket<&T>,
    ) -> Result<Self, PacketError> {
        let r = Self::parse_unverified(packet)?;
        if !packet.verify_crc() {
            return Err(PacketError::BadCrc {
                stored: packet.crc(),
                computed: packet.computed_crc(),
            });
        }
        Ok(r)
    }

    /// Like [`parse`](Self::parse) without the CRC check, to show what a corrupted packet says.
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(
        packet: &ClassificationPacket<&T>,
    ) -> Result<Self, PacketError> {
        packet.check_len()?;
        check_magic(packet.magic(), MAGIC_VALUE)?;
        if packet.version() != CLASSIFICATION_VERSION {
            return Err(PacketError::BadVersion(packet.version()));
        }
        let (n_classes, argmax) = (packet.n_classes(), packet.argmax());
        if n_classes > 0 && u16::from(argmax) >= n_classes {
            return Err(PacketError::BadClassCount {
                n_classes: usize::from(n_classes),
                argmax,
            });
        }
        Ok(ClassificationRepr {
            node_id: packet.node_id(),
            n_classes,
            ts_us: packet.ts_us(),
            seq: packet.seq(),
            argmax,
            top_logit: packet.top_logit(),
            margin: packet.margin(),
        })
    }

    /// 40.
    pub const fn buffer_len(&self) -> usize {
        CLASSIFICATION_LEN
    }

    /// Write into a 40-byte buffer, CRC included.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ClassificationPacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_version(CLASSIFICATION_VERSION);
        packet.set_n_classes(self.n_classes);
        packet.set_node_id(self.node_id);
        packet.clear_reserved();
        packet.set_ts_us(self.ts_us);
        packet.set_seq(self.seq);
        packet.set_argmax(self.argmax);
        packet.set_top_logit(self.top_logit);
        packet.set_margin(self.margin);
        packet.fill_crc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §3.9 golden vector: node 1, ts 1,000,000, seq 1, 4 classes, zero logits.
    static PACKET_BYTES: [u8; 40] = [
        0x07, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x42, 0x0f,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa3, 0xc7, 0xb7, 0xce,
    ];

    fn repr() -> ClassificationRepr {
        ClassificationRepr {
            node_id: 1,
            n_classes: 4,
            ts_us: 1_000_000,
            seq: 1,
            argmax: 0,
            top_logit: 0.0,
            margin: 0.0,
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = ClassificationPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0007);
        assert_eq!(p.version(), 1);
        assert_eq!(p.n_classes(), 4);
        assert_eq!(p.node_id(), 1);
        assert_eq!(p.reserved(), [0; 3]);
        assert_eq!(p.ts_us(), 1_000_000);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.argmax(), 0);
        assert_eq!(p.reserved2(), [0; 3]);
        assert_eq!(p.top_logit(), 0.0);
        assert_eq!(p.margin(), 0.0);
        assert_eq!(p.crc(), 0xCEB7_C7A3);
        assert_eq!(p.computed_crc(), 0xCEB7_C7A3);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 40];
        let mut p = ClassificationPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0007);
        p.set_version(1);
        p.set_n_classes(4);
        p.set_node_id(1);
        p.clear_reserved();
        p.set_ts_us(1_000_000);
        p.set_seq(1);
        p.set_argmax(0);
        p.set_top_logit(0.0);
        p.set_margin(0.0);
        p.fill_crc();
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let p = ClassificationPacket::new_unchecked(&PACKET_BYTES[..]);
        assert_eq!(ClassificationRepr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 40];
        repr().emit(&mut ClassificationPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn golden_from_zero_logits() {
        let r = ClassificationRepr::from_logits(1, 1_000_000, 1, &[0.0; 4]).unwrap();
        assert_eq!(r, repr());
        let mut bytes = [0xa5u8; 40];
        r.emit(&mut ClassificationPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn argmax_margin_rule() {
        let r = ClassificationRepr::from_logits(0, 0, 0, &[0.5, 2.0, -1.0, 1.5]).unwrap();
        assert_eq!((r.argmax, r.top_logit, r.margin), (1, 2.0, 0.5));
        // First maximum wins on ties; the tie is not a top2 candidate because of strict `>`
        // against top1, but it is via `v > top2`.
        let r = ClassificationRepr::from_logits(0, 0, 0, &[1.0, 3.0, 3.0]).unwrap();
        assert_eq!((r.argmax, r.top_logit, r.margin), (1, 3.0, 0.0));
        // logits[0] is the initial top1 and never enters top2 unless displaced.
        let r = ClassificationRepr::from_logits(0, 0, 0, &[5.0, 1.0, 2.0]).unwrap();
        assert_eq!((r.argmax, r.top_logit, r.margin), (0, 5.0, 3.0));
        // Displacing top1 pushes it into top2.
        let r = ClassificationRepr::from_logits(0, 0, 0, &[1.0, 4.0]).unwrap();
        assert_eq!((r.argmax, r.margin), (1, 3.0));
        // NaN never wins, unless it comes first (the device's rule starts from logits[0]).
        let r = ClassificationRepr::from_logits(0, 0, 0, &[0.0, f32::NAN, 1.0]).unwrap();
        assert_eq!((r.argmax, r.top_logit, r.margin), (2, 1.0, 1.0));
        let r = ClassificationRepr::from_logits(0, 0, 0, &[f32::NAN, 1.0, 2.0]).unwrap();
        assert!(r.argmax == 0 && r.top_logit.is_nan() && r.margin.is_nan());
        // One class: margin against the -1e30 sentinel.
        let r = ClassificationRepr::from_logits(0, 0, 0, &[2.0]).unwrap();
        assert_eq!((r.argmax, r.margin), (0, 2.0 + 1e30));
        assert!(ClassificationRepr::from_logits(0, 0, 0, &[]).is_err());
        assert!(ClassificationRepr::from_logits(0, 0, 0, &[0.0; 257]).is_err());
        assert!(ClassificationRepr::from_logits(0, 0, 0, &[0.0; 256]).is_ok());
    }

    #[test]
    fn test_errors() {
        let mut b = PACKET_BYTES;
        b[36] ^= 0xff;
        let p = ClassificationPacket::new_unchecked(&b[..]);
        assert!(matches!(
            ClassificationRepr::parse(&p),
            Err(PacketError::BadCrc {
                computed: 0xCEB7_C7A3,
                ..
            })
        ));
        assert_eq!(ClassificationRepr::parse_unverified(&p).unwrap(), repr());
        let mut b = PACKET_BYTES;
        b[4] = 2;
        assert_eq!(
            ClassificationRepr::parse(&ClassificationPacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadVersion(2)
        );
        let mut b = PACKET_BYTES;
        b[24] = 4;
        assert_eq!(
            ClassificationRepr::parse(&ClassificationPacket::new_unchecked(&b[..])).unwrap_err(),
            PacketError::BadClassCount {
                n_classes: 4,
                argmax: 4
            }
        );
        assert_eq!(
            ClassificationRepr::parse(&ClassificationPacket::new_unchecked(&PACKET_BYTES[..39]))
                .unwrap_err(),
            PacketError::Truncated {
                needed: 40,
                got: 39
            }
        );
    }
}

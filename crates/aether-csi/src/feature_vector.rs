//! `0xC5110003` feature vector (ADR-069, `edge_feature_pkt_t`), 48 bytes, sent at 1 Hz.

use crate::wire::{
    check_exact_len, check_magic, get_f32, get_u16, get_u32, get_u64, set_f32, set_u16, set_u32,
    set_u64,
};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0003;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const RESERVED: usize = 5;
    pub const SEQ: Field = 6..8;
    pub const TIMESTAMP_US: Field = 8..16;
    pub const FEATURES: Field = 16..48;
    pub const fn feature(i: usize) -> Field {
        FEATURES.start + 4 * i..FEATURES.start + 4 * i + 4
    }
}

/// Packet length (48).
pub const FEATURE_VECTOR_LEN: usize = field::FEATURES.end;

/// A read/write view of a feature-vector packet.
#[derive(Debug, Clone)]
pub struct FeatureVectorPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FeatureVectorPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        FeatureVectorPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly 48 bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        check_exact_len(self.buffer.as_ref(), FEATURE_VECTOR_LEN)
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
    /// Reserved byte 5.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }
    /// Sequence number.
    pub fn seq(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SEQ)
    }
    /// Microseconds since boot (signed on the wire).
    pub fn timestamp_us(&self) -> i64 {
        get_u64(self.buffer.as_ref(), field::TIMESTAMP_US) as i64
    }
    /// Feature `i` (0..8).
    pub fn feature(&self, i: usize) -> f32 {
        get_f32(self.buffer.as_ref(), field::feature(i))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FeatureVectorPacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set reserved byte 5.
    pub fn set_reserved(&mut self, v: u8) {
        self.buffer.as_mut()[field::RESERVED] = v
    }
    /// Set the sequence number.
    pub fn set_seq(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SEQ, v)
    }
    /// Set the timestamp.
    pub fn set_timestamp_us(&mut self, v: i64) {
        set_u64(self.buffer.as_mut(), field::TIMESTAMP_US, v as u64)
    }
    /// Set feature `i` (0..8).
    pub fn set_feature(&mut self, i: usize, v: f32) {
        set_f32(self.buffer.as_mut(), field::feature(i), v)
    }
}

/// A validated feature vector. The firmware clamps each feature to [0, 1]: presence/10, motion
/// energy/10, breathing BPM/30, heart-rate BPM/120, phase variance, persons/4, fall flag,
/// (RSSI+100)/100. The parser does not enforce the range (older firmware sent raw values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureVectorRepr {
    /// Node id.
    pub node_id: u8,
    /// Sequence number.
    pub seq: u16,
    /// Microseconds since boot.
    pub timestamp_us: i64,
    /// The 8 features.
    pub features: [f32; 8],
}

impl FeatureVectorRepr {
    /// Check length (exactly 48) and magic, then decode. Reserved byte 5 is ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &FeatureVectorPacket<&T>,
    ) -> Result<Self, PacketError> {
        packet.check_len()?;
        check_magic(packet.magic(), MAGIC_VALUE)?;
        Ok(FeatureVectorRepr {
            node_id: packet.node_id(),
            seq: packet.seq(),
            timestamp_us: packet.timestamp_us(),
            features: core::array::from_fn(|i| packet.feature(i)),
        })
    }
    /// 48.
    pub const fn buffer_len(&self) -> usize {
        FEATURE_VECTOR_LEN
    }
    /// Write into a 48-byte buffer (reserved byte written as 0).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut FeatureVectorPacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_reserved(0);
        packet.set_seq(self.seq);
        packet.set_timestamp_us(self.timestamp_us);
        for (i, &v) in self.features.iter().enumerate() {
            packet.set_feature(i, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACKET_BYTES: [u8; 48] = [
        0x03, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x01, 0x02, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00,
        0x20, 0x3f, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x80, 0x3f, 0x14,
        0xae, 0x07, 0x3f,
    ];
    const FEATURES: [f32; 8] = [0.5, 0.25, 0.5, 0.625, 0.125, 0.25, 1.0, 0.53];

    fn repr() -> FeatureVectorRepr {
        FeatureVectorRepr {
            node_id: 1,
            seq: 513,
            timestamp_us: -5,
            features: FEATURES,
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = FeatureVectorPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0003);
        assert_eq!(p.node_id(), 1);
        assert_eq!(p.reserved(), 0);
        assert_eq!(p.seq(), 513);
        assert_eq!(p.timestamp_us(), -5);
        for (i, &f) in FEATURES.iter().enumerate() {
            assert_eq!(p.feature(i), f);
        }
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 48];
        let mut p = FeatureVectorPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0003);
        p.set_node_id(1);
        p.set_reserved(0);
        p.set_seq(513);
        p.set_timestamp_us(-5);
        for (i, &f) in FEATURES.iter().enumerate() {
            p.set_feature(i, f);
        }
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let p = FeatureVectorPacket::new_unchecked(&PACKET_BYTES[..]);
        assert_eq!(FeatureVectorRepr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 48];
        repr().emit(&mut FeatureVectorPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_impossible_len() {
        assert_eq!(
            FeatureVectorRepr::parse(&FeatureVectorPacket::new_unchecked(&PACKET_BYTES[..47]))
                .unwrap_err(),
            PacketError::Truncated {
                needed: 48,
                got: 47
            }
        );
    }
}

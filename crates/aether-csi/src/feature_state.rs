//! `0xC5110006` feature state (ADR-081 `rv_feature_state_t`), 60 bytes, CRC-32 over bytes 0..56.

use crate::wire::{
    check_exact_len, check_magic, crc32, get_f32, get_u16, get_u32, get_u64, set_f32, set_u16,
    set_u32, set_u64,
};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0006;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const MODE: usize = 5;
    pub const SEQ: Field = 6..8;
    pub const TS_US: Field = 8..16;
    /// The nine floats, in §3.10 order: motion, presence, respiration bpm/conf, heartbeat
    /// bpm/conf, anomaly, env shift, node coherence.
    pub const SCORES: Field = 16..52;
    pub const fn score(i: usize) -> Field {
        SCORES.start + 4 * i..SCORES.start + 4 * i + 4
    }
    pub const QUALITY_FLAGS: Field = 52..54;
    pub const RESERVED: Field = 54..56;
    pub const CRC: Field = 56..60;
}

/// Packet length (60).
pub const FEATURE_STATE_LEN: usize = field::CRC.end;

/// Quality flag bit 0.
pub const QUALITY_PRESENCE_VALID: u16 = 1 << 0;
/// Quality flag bit 1.
pub const QUALITY_RESPIRATION_VALID: u16 = 1 << 1;
/// Quality flag bit 2.
pub const QUALITY_HEARTBEAT_VALID: u16 = 1 << 2;
/// Quality flag bit 3 (set from the vitals fall bit).
pub const QUALITY_ANOMALY_TRIGGERED: u16 = 1 << 3;
/// Quality flag bit 4.
pub const QUALITY_ENV_SHIFT_DETECTED: u16 = 1 << 4;
/// Quality flag bit 5.
pub const QUALITY_DEGRADED_MODE: u16 = 1 << 5;
/// Quality flag bit 6.
pub const QUALITY_CALIBRATING: u16 = 1 << 6;
/// Quality flag bit 7.
pub const QUALITY_RECOMMEND_RECAL: u16 = 1 << 7;

/// Radio capture profile (`rv_capture_profile_t`). Open: unknown codes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureProfile {
    /// 0.
    PassiveLowRate,
    /// 1.
    ActiveProbe,
    /// 2.
    RespHighSens,
    /// 3.
    FastMotion,
    /// 4.
    Calibration,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for CaptureProfile {
    fn from(v: u8) -> Self {
        match v {
            0 => CaptureProfile::PassiveLowRate,
            1 => CaptureProfile::ActiveProbe,
            2 => CaptureProfile::RespHighSens,
            3 => CaptureProfile::FastMotion,
            4 => CaptureProfile::Calibration,
            other => CaptureProfile::Unknown(other),
        }
    }
}

impl From<CaptureProfile> for u8 {
    fn from(p: CaptureProfile) -> u8 {
        match p {
            CaptureProfile::PassiveLowRate => 0,
            CaptureProfile::ActiveProbe => 1,
            CaptureProfile::RespHighSens => 2,
            CaptureProfile::FastMotion => 3,
            CaptureProfile::Calibration => 4,
            CaptureProfile::Unknown(v) => v,
        }
    }
}

/// A read/write view of a feature-state packet.
#[derive(Debug, Clone)]
pub struct FeatureStatePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FeatureStatePacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        FeatureStatePacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly 60 bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        check_exact_len(self.buffer.as_ref(), FEATURE_STATE_LEN)
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
    /// Capture profile code.
    pub fn mode(&self) -> u8 {
        self.buffer.as_ref()[field::MODE]
    }
    /// Sequence number.
    pub fn seq(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SEQ)
    }
    /// Microseconds since boot.
    pub fn ts_us(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::TS_US)
    }
    /// Score `i` of the nine (0..9), in §3.10 order.
    pub fn score(&self, i: usize) -> f32 {
        get_f32(self.buffer.as_ref(), field::score(i))
    }
    /// Quality flags.
    pub fn quality_flags(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::QUALITY_FLAGS)
    }
    /// Reserved bytes 54..56.
    pub fn reserved(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::RESERVED)
    }
    /// Stored CRC-32.
    pub fn crc(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::CRC)
    }
    /// CRC-32 (IEEE) of bytes 0..56.
    pub fn computed_crc(&self) -> u32 {
        crc32(&self.buffer.as_ref()[..field::CRC.start])
    }
    /// Stored CRC equals computed CRC.
    pub fn verify_crc(&self) -> bool {
        self.crc() == self.computed_crc()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FeatureStatePacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set the capture profile code.
    pub fn set_mode(&mut self, v: u8) {
        self.buffer.as_mut()[field::MODE] = v
    }
    /// Set the sequence number.
    pub fn set_seq(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SEQ, v)
    }
    /// Set the timestamp.
    pub fn set_ts_us(&mut self, v: u64) {
        set_u64(self.buffer.as_mut(), field::TS_US, v)
    }
    /// Set score `i` (0..9).
    pub fn set_score(&mut self, i: usize, v: f32) {
        set_f32(self.buffer.as_mut(), field::score(i), v)
    }
    /// Set the quality flags.
    pub fn set_quality_flags(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::QUALITY_FLAGS, v)
    }
    /// Set reserved bytes 54..56.
    pub fn set_reserved(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::RESERVED, v)
    }
    /// Store a given CRC.
    pub fn set_crc(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::CRC, v)
    }
    /// Compute and store the CRC of bytes 0..56.
    pub fn fill_crc(&mut self) {
        let c = self.computed_crc();
        self.set_crc(c)
    }
}

/// A validated feature-state packet. `reserved` is ignored on parse and written as 0; the CRC
/// is checked by `parse` and computed by `emit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureStateRepr {
    /// Node id.
    pub node_id: u8,
    /// Capture profile.
    pub mode: CaptureProfile,
    /// Sequence number.
    pub seq: u16,
    /// Microseconds since boot.
    pub ts_us: u64,
    /// Motion score, 0..1.
    pub motion_score: f32,
    /// Presence score, 0..1.
    pub presence_score: f32,
    /// Respiration rate, BPM.
    pub respiration_bpm: f32,
    /// Respiration confidence.
    pub respiration_conf: f32,
    /// Heart rate, BPM.
    pub heartbeat_bpm: f32,
    /// Heart-rate confidence.
    pub heartbeat_conf: f32,
    /// Anomaly score.
    pub anomaly_score: f32,
    /// Environment-shift score (the PR's firmware never assigns it: always 0).
    pub env_shift_score: f32,
    /// Node coherence.
    pub node_coherence: f32,
    /// `QUALITY_*` bits.
    pub quality_flags: u16,
}

impl FeatureStateRepr {
    /// Check length (exactly 60), magic and CRC, then decode.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &FeatureStatePacket<&T>,
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
        packet: &FeatureStatePacket<&T>,
    ) -> Result<Self, PacketError> {
        packet.check_len()?;
        check_magic(packet.magic(), MAGIC_VALUE)?;
        Ok(FeatureStateRepr {
            node_id: packet.node_id(),
            mode: CaptureProfile::from(packet.mode()),
            seq: packet.seq(),
            ts_us: packet.ts_us(),
            motion_score: packet.score(0),
            presence_score: packet.score(1),
            respiration_bpm: packet.score(2),
            respiration_conf: packet.score(3),
            heartbeat_bpm: packet.score(4),
            heartbeat_conf: packet.score(5),
            anomaly_score: packet.score(6),
            env_shift_score: packet.score(7),
            node_coherence: packet.score(8),
            quality_flags: packet.quality_flags(),
        })
    }

    /// The nine scores in wire (and §3.10 push) order.
    pub fn scores(&self) -> [f32; 9] {
        [
            self.motion_score,
            self.presence_score,
            self.respiration_bpm,
            self.respiration_conf,
            self.heartbeat_bpm,
            self.heartbeat_conf,
            self.anomaly_score,
            self.env_shift_score,
            self.node_coherence,
        ]
    }

    /// 60.
    pub const fn buffer_len(&self) -> usize {
        FEATURE_STATE_LEN
    }

    /// Write into a 60-byte buffer, CRC included.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut FeatureStatePacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_mode(u8::from(self.mode));
        packet.set_seq(self.seq);
        packet.set_ts_us(self.ts_us);
        for (i, v) in self.scores().into_iter().enumerate() {
            packet.set_score(i, v);
        }
        packet.set_quality_flags(self.quality_flags);
        packet.set_reserved(0);
        packet.fill_crc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated independently with Python's struct + zlib.crc32.
    static PACKET_BYTES: [u8; 60] = [
        0x06, 0x00, 0x11, 0xc5, 0x02, 0x01, 0x2c, 0x01, 0x40, 0x4b, 0x4c, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x40, 0x3f, 0x9a, 0x99, 0x19, 0x3e, 0x00, 0x00,
        0x00, 0x3f, 0xec, 0x51, 0x38, 0x3f, 0xcd, 0xcc, 0x4c, 0x3f, 0x00, 0x00, 0x00, 0x3e, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0x3f, 0x03, 0x00, 0x00, 0x00, 0x62, 0xe6, 0x33, 0x2e,
    ];
    const SCORES: [f32; 9] = [0.25, 0.75, 0.15, 0.5, 0.72, 0.8, 0.125, 0.0, 0.875];

    fn repr() -> FeatureStateRepr {
        FeatureStateRepr {
            node_id: 2,
            mode: CaptureProfile::ActiveProbe,
            seq: 300,
            ts_us: 5_000_000,
            motion_score: SCORES[0],
            presence_score: SCORES[1],
            respiration_bpm: SCORES[2],
            respiration_conf: SCORES[3],
            heartbeat_bpm: SCORES[4],
            heartbeat_conf: SCORES[5],
            anomaly_score: SCORES[6],
            env_shift_score: SCORES[7],
            node_coherence: SCORES[8],
            quality_flags: QUALITY_PRESENCE_VALID | QUALITY_RESPIRATION_VALID,
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = FeatureStatePacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0006);
        assert_eq!(p.node_id(), 2);
        assert_eq!(p.mode(), 1);
        assert_eq!(p.seq(), 300);
        assert_eq!(p.ts_us(), 5_000_000);
        for (i, &s) in SCORES.iter().enumerate() {
            assert_eq!(p.score(i), s);
        }
        assert_eq!(p.quality_flags(), 3);
        assert_eq!(p.reserved(), 0);
        assert_eq!(p.crc(), 0x2E33_E662);
        assert!(p.verify_crc());
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 60];
        let mut p = FeatureStatePacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0006);
        p.set_node_id(2);
        p.set_mode(1);
        p.set_seq(300);
        p.set_ts_us(5_000_000);
        for (i, &s) in SCORES.iter().enumerate() {
            p.set_score(i, s);
        }
        p.set_quality_flags(3);
        p.set_reserved(0);
        p.fill_crc();
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let p = FeatureStatePacket::new_unchecked(&PACKET_BYTES[..]);
        let r = FeatureStateRepr::parse(&p).unwrap();
        assert_eq!(r, repr());
        assert_eq!(r.scores(), SCORES);
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 60];
        repr().emit(&mut FeatureStatePacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_bad_crc_and_length() {
        let mut b = PACKET_BYTES;
        b[20] ^= 0x01;
        let p = FeatureStatePacket::new_unchecked(&b[..]);
        assert!(matches!(
            FeatureStateRepr::parse(&p),
            Err(PacketError::BadCrc {
                stored: 0x2E33_E662,
                ..
            })
        ));
        assert!(FeatureStateRepr::parse_unverified(&p).is_ok());
        assert_eq!(
            FeatureStateRepr::parse(&FeatureStatePacket::new_unchecked(&PACKET_BYTES[..59]))
                .unwrap_err(),
            PacketError::Truncated {
                needed: 60,
                got: 59
            }
        );
    }

    #[test]
    fn capture_profile_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(CaptureProfile::from(v)), v);
        }
    }
}

//! `0xC5110004` fused vitals (ADR-063, WiFi CSI + mmWave), 48 bytes.
//!
//! The same firmware also sends WASM output (`8 + 5n` bytes) under `0xC5110004`; see
//! [`crate::WasmOutputRepr`] and `docs/packets.md` for how [`crate::parse_any`] tells them apart.
//! Bytes 0..28 follow the vitals layout except bytes 14/15 (mmWave type, fusion confidence); the
//! firmware comment's "first 32 bytes match" is wrong: there is no reserved u32 at 28.

use crate::wire::{
    check_exact_len, check_magic, get_f32, get_u16, get_u32, set_f32, set_u16, set_u32,
};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0004;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const FLAGS: usize = 5;
    pub const BREATHING_CENTI_BPM: Field = 6..8;
    pub const HEARTRATE_DECIMILLI_BPM: Field = 8..12;
    pub const RSSI: usize = 12;
    pub const N_PERSONS: usize = 13;
    pub const MMWAVE_TYPE: usize = 14;
    pub const FUSION_CONFIDENCE: usize = 15;
    pub const MOTION_ENERGY: Field = 16..20;
    pub const PRESENCE_SCORE: Field = 20..24;
    pub const TIMESTAMP_MS: Field = 24..28;
    pub const MMWAVE_HR_BPM: Field = 28..32;
    pub const MMWAVE_BR_BPM: Field = 32..36;
    pub const MMWAVE_DISTANCE_CM: Field = 36..40;
    pub const MMWAVE_TARGETS: usize = 40;
    pub const MMWAVE_CONFIDENCE: usize = 41;
    pub const RESERVED3: Field = 42..44;
    pub const RESERVED4: Field = 44..48;
}

/// Packet length (48).
pub const FUSED_VITALS_LEN: usize = field::RESERVED4.end;

/// A read/write view of a fused-vitals packet.
#[derive(Debug, Clone)]
pub struct FusedVitalsPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FusedVitalsPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        FusedVitalsPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly 48 bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        check_exact_len(self.buffer.as_ref(), FUSED_VITALS_LEN)
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
    /// Flags: bit0 presence, bit1 fall, bit2 motion, bit3 mmWave present.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Breathing rate, BPM x 100.
    pub fn breathing_centi_bpm(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::BREATHING_CENTI_BPM)
    }
    /// Heart rate, BPM x 10000.
    pub fn heartrate_decimilli_bpm(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::HEARTRATE_DECIMILLI_BPM)
    }
    /// RSSI in dBm.
    pub fn rssi(&self) -> i8 {
        self.buffer.as_ref()[field::RSSI] as i8
    }
    /// Persons detected.
    pub fn n_persons(&self) -> u8 {
        self.buffer.as_ref()[field::N_PERSONS]
    }
    /// mmWave sensor type.
    pub fn mmwave_type(&self) -> u8 {
        self.buffer.as_ref()[field::MMWAVE_TYPE]
    }
    /// Fusion confidence, 0-100.
    pub fn fusion_confidence(&self) -> u8 {
        self.buffer.as_ref()[field::FUSION_CONFIDENCE]
    }
    /// Motion energy.
    pub fn motion_energy(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::MOTION_ENERGY)
    }
    /// Presence score.
    pub fn presence_score(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::PRESENCE_SCORE)
    }
    /// Milliseconds since boot.
    pub fn timestamp_ms(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::TIMESTAMP_MS)
    }
    /// mmWave heart rate in BPM.
    pub fn mmwave_hr_bpm(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::MMWAVE_HR_BPM)
    }
    /// mmWave breathing rate in BPM.
    pub fn mmwave_br_bpm(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::MMWAVE_BR_BPM)
    }
    /// mmWave target distance in cm.
    pub fn mmwave_distance_cm(&self) -> f32 {
        get_f32(self.buffer.as_ref(), field::MMWAVE_DISTANCE_CM)
    }
    /// mmWave targets.
    pub fn mmwave_targets(&self) -> u8 {
        self.buffer.as_ref()[field::MMWAVE_TARGETS]
    }
    /// mmWave confidence, 0-100.
    pub fn mmwave_confidence(&self) -> u8 {
        self.buffer.as_ref()[field::MMWAVE_CONFIDENCE]
    }
    /// Reserved bytes 42..44.
    pub fn reserved3(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::RESERVED3)
    }
    /// Reserved bytes 44..48.
    pub fn reserved4(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::RESERVED4)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FusedVitalsPacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set the flags.
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v
    }
    /// Set breathing BPM x 100.
    pub fn set_breathing_centi_bpm(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::BREATHING_CENTI_BPM, v)
    }
    /// Set heart rate BPM x 10000.
    pub fn set_heartrate_decimilli_bpm(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::HEARTRATE_DECIMILLI_BPM, v)
    }
    /// Set the RSSI.
    pub fn set_rssi(&mut self, v: i8) {
        self.buffer.as_mut()[field::RSSI] = v as u8
    }
    /// Set the person count.
    pub fn set_n_persons(&mut self, v: u8) {
        self.buffer.as_mut()[field::N_PERSONS] = v
    }
    /// Set the mmWave type.
    pub fn set_mmwave_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::MMWAVE_TYPE] = v
    }
    /// Set the fusion confidence.
    pub fn set_fusion_confidence(&mut self, v: u8) {
        self.buffer.as_mut()[field::FUSION_CONFIDENCE] = v
    }
    /// Set the motion energy.
    pub fn set_motion_energy(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::MOTION_ENERGY, v)
    }
    /// Set the presence score.
    pub fn set_presence_score(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::PRESENCE_SCORE, v)
    }
    /// Set the timestamp.
    pub fn set_timestamp_ms(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::TIMESTAMP_MS, v)
    }
    /// Set the mmWave heart rate.
    pub fn set_mmwave_hr_bpm(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::MMWAVE_HR_BPM, v)
    }
    /// Set the mmWave breathing rate.
    pub fn set_mmwave_br_bpm(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::MMWAVE_BR_BPM, v)
    }
    /// Set the mmWave distance.
    pub fn set_mmwave_distance_cm(&mut self, v: f32) {
        set_f32(self.buffer.as_mut(), field::MMWAVE_DISTANCE_CM, v)
    }
    /// Set the mmWave target count.
    pub fn set_mmwave_targets(&mut self, v: u8) {
        self.buffer.as_mut()[field::MMWAVE_TARGETS] = v
    }
    /// Set the mmWave confidence.
    pub fn set_mmwave_confidence(&mut self, v: u8) {
        self.buffer.as_mut()[field::MMWAVE_CONFIDENCE] = v
    }
    /// Set reserved bytes 42..44.
    pub fn set_reserved3(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::RESERVED3, v)
    }
    /// Set reserved bytes 44..48.
    pub fn set_reserved4(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::RESERVED4, v)
    }
}

/// A validated fused-vitals packet. Reserved fields are ignored on parse and written as 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedVitalsRepr {
    /// Node id.
    pub node_id: u8,
    /// Bit0 presence, bit1 fall, bit2 motion, bit3 mmWave present.
    pub flags: u8,
    /// Breathing rate, BPM x 100.
    pub breathing_centi_bpm: u16,
    /// Heart rate, BPM x 10000.
    pub heartrate_decimilli_bpm: u32,
    /// RSSI in dBm.
    pub rssi: i8,
    /// Persons detected.
    pub n_persons: u8,
    /// mmWave sensor type.
    pub mmwave_type: u8,
    /// Fusion confidence, 0-100.
    pub fusion_confidence: u8,
    /// Motion energy.
    pub motion_energy: f32,
    /// Presence score.
    pub presence_score: f32,
    /// Milliseconds since boot.
    pub timestamp_ms: u32,
    /// mmWave heart rate, BPM.
    pub mmwave_hr_bpm: f32,
    /// mmWave breathing rate, BPM.
    pub mmwave_br_bpm: f32,
    /// mmWave target distance, cm.
    pub mmwave_distance_cm: f32,
    /// mmWave targets.
    pub mmwave_targets: u8,
    /// mmWave confidence, 0-100.
    pub mmwave_confidence: u8,
}

impl FusedVitalsRepr {
    /// Check length (exactly 48) and magic, then decode.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &FusedVitalsPacket<&T>,
    ) -> Result<Self, PacketError> {
        packet.check_len()?;
        check_magic(packet.magic(), MAGIC_VALUE)?;
        Ok(FusedVitalsRepr {
            node_id: packet.node_id(),
            flags: packet.flags(),
            breathing_centi_bpm: packet.breathing_centi_bpm(),
            heartrate_decimilli_bpm: packet.heartrate_decimilli_bpm(),
            rssi: packet.rssi(),
            n_persons: packet.n_persons(),
            mmwave_type: packet.mmwave_type(),
            fusion_confidence: packet.fusion_confidence(),
            motion_energy: packet.motion_energy(),
            presence_score: packet.presence_score(),
            timestamp_ms: packet.timestamp_ms(),
            mmwave_hr_bpm: packet.mmwave_hr_bpm(),
            mmwave_br_bpm: packet.mmwave_br_bpm(),
            mmwave_distance_cm: packet.mmwave_distance_cm(),
            mmwave_targets: packet.mmwave_targets(),
            mmwave_confidence: packet.mmwave_confidence(),
        })
    }
    /// 48.
    pub const fn buffer_len(&self) -> usize {
        FUSED_VITALS_LEN
    }
    /// Write into a 48-byte buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut FusedVitalsPacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_flags(self.flags);
        packet.set_breathing_centi_bpm(self.breathing_centi_bpm);
        packet.set_heartrate_decimilli_bpm(self.heartrate_decimilli_bpm);
        packet.set_rssi(self.rssi);
        packet.set_n_persons(self.n_persons);
        packet.set_mmwave_type(self.mmwave_type);
        packet.set_fusion_confidence(self.fusion_confidence);
        packet.set_motion_energy(self.motion_energy);
        packet.set_presence_score(self.presence_score);
        packet.set_timestamp_ms(self.timestamp_ms);
        packet.set_mmwave_hr_bpm(self.mmwave_hr_bpm);
        packet.set_mmwave_br_bpm(self.mmwave_br_bpm);
        packet.set_mmwave_distance_cm(self.mmwave_distance_cm);
        packet.set_mmwave_targets(self.mmwave_targets);
        packet.set_mmwave_confidence(self.mmwave_confidence);
        packet.set_reserved3(0);
        packet.set_reserved4(0);
    }
    /// Breathing rate in BPM.
    pub fn breathing_bpm(&self) -> f32 {
        f32::from(self.breathing_centi_bpm) / 100.0
    }
    /// Heart rate in BPM.
    pub fn heartrate_bpm(&self) -> f32 {
        self.heartrate_decimilli_bpm as f32 / 10_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACKET_BYTES: [u8; 48] = [
        0x04, 0x00, 0x11, 0xc5, 0x07, 0x0d, 0x08, 0x07, 0x10, 0xeb, 0x09, 0x00, 0xc4, 0x02, 0x03,
        0x57, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x3f, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x8d, 0x42, 0x00, 0x00, 0x80, 0x41, 0x00, 0x00, 0xf7, 0x42, 0x02, 0x5a, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00,
    ];

    fn repr() -> FusedVitalsRepr {
        FusedVitalsRepr {
            node_id: 7,
            flags: 0x0d,
            breathing_centi_bpm: 1800,
            heartrate_decimilli_bpm: 650_000,
            rssi: -60,
            n_persons: 2,
            mmwave_type: 3,
            fusion_confidence: 87,
            motion_energy: 0.25,
            presence_score: 0.5,
            timestamp_ms: 1000,
            mmwave_hr_bpm: 70.5,
            mmwave_br_bpm: 16.0,
            mmwave_distance_cm: 123.5,
            mmwave_targets: 2,
            mmwave_confidence: 90,
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = FusedVitalsPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0004);
        assert_eq!(p.node_id(), 7);
        assert_eq!(p.flags(), 0x0d);
        assert_eq!(p.breathing_centi_bpm(), 1800);
        assert_eq!(p.heartrate_decimilli_bpm(), 650_000);
        assert_eq!(p.rssi(), -60);
        assert_eq!(p.n_persons(), 2);
        assert_eq!(p.mmwave_type(), 3);
        assert_eq!(p.fusion_confidence(), 87);
        assert_eq!(p.motion_energy(), 0.25);
        assert_eq!(p.presence_score(), 0.5);
        assert_eq!(p.timestamp_ms(), 1000);
        assert_eq!(p.mmwave_hr_bpm(), 70.5);
        assert_eq!(p.mmwave_br_bpm(), 16.0);
        assert_eq!(p.mmwave_distance_cm(), 123.5);
        assert_eq!(p.mmwave_targets(), 2);
        assert_eq!(p.mmwave_confidence(), 90);
        assert_eq!(p.reserved3(), 0);
        assert_eq!(p.reserved4(), 0);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 48];
        let mut p = FusedVitalsPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0004);
        p.set_node_id(7);
        p.set_flags(0x0d);
        p.set_breathing_centi_bpm(1800);
        p.set_heartrate_decimilli_bpm(650_000);
        p.set_rssi(-60);
        p.set_n_persons(2);
        p.set_mmwave_type(3);
        p.set_fusion_confidence(87);
        p.set_motion_energy(0.25);
        p.set_presence_score(0.5);
        p.set_timestamp_ms(1000);
        p.set_mmwave_hr_bpm(70.5);
        p.set_mmwave_br_bpm(16.0);
        p.set_mmwave_distance_cm(123.5);
        p.set_mmwave_targets(2);
        p.set_mmwave_confidence(90);
        p.set_reserved3(0);
        p.set_reserved4(0);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let p = FusedVitalsPacket::new_unchecked(&PACKET_BYTES[..]);
        let r = FusedVitalsRepr::parse(&p).unwrap();
        assert_eq!(r, repr());
        assert_eq!(r.breathing_bpm(), 18.0);
        assert_eq!(r.heartrate_bpm(), 65.0);
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 48];
        repr().emit(&mut FusedVitalsPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }
}

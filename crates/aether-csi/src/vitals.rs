//! `0xC5110002` edge vitals (ADR-039, `edge_vitals_pkt_t`), 32 bytes.

use crate::wire::{
    check_exact_len, check_magic, get_f32, get_u16, get_u32, set_f32, set_u16, set_u32,
};
use crate::PacketError;

const MAGIC_VALUE: u32 = 0xC511_0002;

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const FLAGS: usize = 5;
    pub const BREATHING_CENTI_BPM: Field = 6..8;
    pub const HEARTRATE_DECIMILLI_BPM: Field = 8..12;
    pub const RSSI: usize = 12;
    pub const N_PERSONS: usize = 13;
    pub const RESERVED: Field = 14..16;
    pub const MOTION_ENERGY: Field = 16..20;
    pub const PRESENCE_SCORE: Field = 20..24;
    pub const TIMESTAMP_MS: Field = 24..28;
    pub const RESERVED2: Field = 28..32;
}

/// Packet length (32).
pub const VITALS_LEN: usize = field::RESERVED2.end;

/// A read/write view of a vitals packet.
#[derive(Debug, Clone)]
pub struct VitalsPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VitalsPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        VitalsPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly 32 bytes. After `Ok`, no accessor panics.
    pub fn check_len(&self) -> Result<(), PacketError> {
        check_exact_len(self.buffer.as_ref(), VITALS_LEN)
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
    /// Flags: bit0 presence, bit1 fall, bit2 motion.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Breathing rate in BPM x 100.
    pub fn breathing_centi_bpm(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::BREATHING_CENTI_BPM)
    }
    /// Heart rate in BPM x 10000.
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
    /// Bytes 14..16 (reserved at ADR-039; later firmware puts die temperature and radio metadata here).
    pub fn reserved(&self) -> [u8; 2] {
        let b = self.buffer.as_ref();
        [b[field::RESERVED.start], b[field::RESERVED.start + 1]]
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
    /// Bytes 28..32 (reserved).
    pub fn reserved2(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::RESERVED2)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VitalsPacket<T> {
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
    /// Set bytes 14..16.
    pub fn set_reserved(&mut self, v: [u8; 2]) {
        self.buffer.as_mut()[field::RESERVED].copy_from_slice(&v)
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
    /// Set bytes 28..32.
    pub fn set_reserved2(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::RESERVED2, v)
    }
}

/// A validated vitals packet. Fixed-point rates are kept as sent; `breathing_bpm()` and
/// `heartrate_bpm()` convert. The reserved bytes are kept so a packet from later firmware, which
/// uses them, re-emits byte for byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalsRepr {
    /// Node id.
    pub node_id: u8,
    /// Bit0 presence, bit1 fall, bit2 motion.
    pub flags: u8,
    /// Breathing rate, BPM x 100.
    pub breathing_centi_bpm: u16,
    /// Heart rate, BPM x 10000.
    pub heartrate_decimilli_bpm: u32,
    /// RSSI in dBm.
    pub rssi: i8,
    /// Persons detected.
    pub n_persons: u8,
    /// Bytes 14..16.
    pub reserved: [u8; 2],
    /// Motion energy.
    pub motion_energy: f32,
    /// Presence score.
    pub presence_score: f32,
    /// Milliseconds since boot.
    pub timestamp_ms: u32,
    /// Bytes 28..32.
    pub reserved2: u32,
}

impl VitalsRepr {
    /// Check length (exactly 32) and magic, then decode.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &VitalsPacket<&T>) -> Result<Self, PacketError> {
        packet.check_len()?;
        check_magic(packet.magic(), MAGIC_VALUE)?;
        Ok(VitalsRepr {
            node_id: packet.node_id(),
            flags: packet.flags(),
            breathing_centi_bpm: packet.breathing_centi_bpm(),
            heartrate_decimilli_bpm: packet.heartrate_decimilli_bpm(),
            rssi: packet.rssi(),
            n_persons: packet.n_persons(),
            reserved: packet.reserved(),
            motion_energy: packet.motion_energy(),
            presence_score: packet.presence_score(),
            timestamp_ms: packet.timestamp_ms(),
            reserved2: packet.reserved2(),
        })
    }
    /// 32.
    pub const fn buffer_len(&self) -> usize {
        VITALS_LEN
    }
    /// Write into a 32-byte buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut VitalsPacket<T>) {
        packet.set_magic(MAGIC_VALUE);
        packet.set_node_id(self.node_id);
        packet.set_flags(self.flags);
        packet.set_breathing_centi_bpm(self.breathing_centi_bpm);
        packet.set_heartrate_decimilli_bpm(self.heartrate_decimilli_bpm);
        packet.set_rssi(self.rssi);
        packet.set_n_persons(self.n_persons);
        packet.set_reserved(self.reserved);
        packet.set_motion_energy(self.motion_energy);
        packet.set_presence_score(self.presence_score);
        packet.set_timestamp_ms(self.timestamp_ms);
        packet.set_reserved2(self.reserved2);
    }
    /// Breathing rate in BPM.
    pub fn breathing_bpm(&self) -> f32 {
        f32::from(self.breathing_centi_bpm) / 100.0
    }
    /// Heart rate in BPM.
    pub fn heartrate_bpm(&self) -> f32 {
        self.heartrate_decimilli_bpm as f32 / 10_000.0
    }
    /// Flag bit 0.
    pub fn presence(&self) -> bool {
        self.flags & 1 != 0
    }
    /// Flag bit 1.
    pub fn fall(&self) -> bool {
        self.flags & 2 != 0
    }
    /// Flag bit 2.
    pub fn motion(&self) -> bool {
        self.flags & 4 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // node 2, flags presence|motion, 15.25 BPM, 72.5 BPM, rssi -47, 1 person, motion 0.5,
    // presence 0.75, 123456 ms.
    static PACKET_BYTES: [u8; 32] = [
        0x02, 0x00, 0x11, 0xc5, 0x02, 0x05, 0xf5, 0x05, 0x08, 0x10, 0x0b, 0x00, 0xd1, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x3f, 0x40, 0xe2, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ];

    fn repr() -> VitalsRepr {
        VitalsRepr {
            node_id: 2,
            flags: 0b101,
            breathing_centi_bpm: 1525,
            heartrate_decimilli_bpm: 725_000,
            rssi: -47,
            n_persons: 1,
            reserved: [0, 0],
            motion_energy: 0.5,
            presence_score: 0.75,
            timestamp_ms: 123_456,
            reserved2: 0,
        }
    }

    #[test]
    fn test_deconstruct() {
        let p = VitalsPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0002);
        assert_eq!(p.node_id(), 2);
        assert_eq!(p.flags(), 5);
        assert_eq!(p.breathing_centi_bpm(), 1525);
        assert_eq!(p.heartrate_decimilli_bpm(), 725_000);
        assert_eq!(p.rssi(), -47);
        assert_eq!(p.n_persons(), 1);
        assert_eq!(p.reserved(), [0, 0]);
        assert_eq!(p.motion_energy(), 0.5);
        assert_eq!(p.presence_score(), 0.75);
        assert_eq!(p.timestamp_ms(), 123_456);
        assert_eq!(p.reserved2(), 0);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 32];
        let mut p = VitalsPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0002);
        p.set_node_id(2);
        p.set_flags(5);
        p.set_breathing_centi_bpm(1525);
        p.set_heartrate_decimilli_bpm(725_000);
        p.set_rssi(-47);
        p.set_n_persons(1);
        p.set_reserved([0, 0]);
        p.set_motion_energy(0.5);
        p.set_presence_score(0.75);
        p.set_timestamp_ms(123_456);
        p.set_reserved2(0);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let r = VitalsRepr::parse(&VitalsPacket::new_unchecked(&PACKET_BYTES[..])).unwrap();
        assert_eq!(r, repr());
        assert_eq!(r.breathing_bpm(), 15.25);
        assert_eq!(r.heartrate_bpm(), 72.5);
        assert!(r.presence() && !r.fall() && r.motion());
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 32];
        repr().emit(&mut VitalsPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_impossible_len() {
        assert_eq!(
            VitalsRepr::parse(&VitalsPacket::new_unchecked(&PACKET_BYTES[..31])).unwrap_err(),
            PacketError::Truncated {
                needed: 32,
                got: 31
            }
        );
        let mut long = [0u8; 33];
        long[..32].copy_from_slice(&PACKET_BYTES);
        assert_eq!(
            VitalsRepr::parse(&VitalsPacket::new_unchecked(&long[..])).unwrap_err(),
            PacketError::WrongLength {
                expected: 32,
                got: 33
            }
        );
    }
}

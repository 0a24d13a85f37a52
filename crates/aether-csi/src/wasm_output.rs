//! WASM module output (ADR-040): `8 + 5n` bytes, n <= 16 events of `(u8 type, f32 value)`.
//!
//! At the spec's merge base the firmware sends it under `0xC5110004`, colliding with fused
//! vitals (48 bytes); later upstream firmware moved it to `0xC5110007`, colliding with temporal
//! classification (40 bytes). Both are accepted; `docs/packets.md` explains the size rules.

use crate::wire::{get_f32, get_u16, get_u32, set_f32, set_u16, set_u32};
use crate::{Magic, PacketError};

mod field {
    use crate::wire::Field;
    pub const MAGIC: Field = 0..4;
    pub const NODE_ID: usize = 4;
    pub const MODULE_ID: usize = 5;
    pub const EVENT_COUNT: Field = 6..8;
    pub const EVENT_LEN: usize = 5;
    pub const fn event_type(i: usize) -> usize {
        EVENT_COUNT.end + EVENT_LEN * i
    }
    pub const fn event_value(i: usize) -> Field {
        event_type(i) + 1..event_type(i) + EVENT_LEN
    }
}

/// Header length (8).
pub const WASM_OUTPUT_HEADER_LEN: usize = field::EVENT_COUNT.end;
/// Most events in one packet.
pub const WASM_MAX_EVENTS: usize = 16;

/// One WASM event.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WasmEvent {
    /// Event type (module-defined).
    pub event_type: u8,
    /// Event value.
    pub value: f32,
}

/// A read/write view of a WASM output packet.
#[derive(Debug, Clone)]
pub struct WasmOutputPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> WasmOutputPacket<T> {
    /// Wrap without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        WasmOutputPacket { buffer }
    }
    /// Wrap after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// The header and the declared events fit. After `Ok`, no accessor panics for
    /// `i < event_count()`.
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < WASM_OUTPUT_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: WASM_OUTPUT_HEADER_LEN,
                got: len,
            });
        }
        let needed = Self::len_for(usize::from(self.event_count()));
        if len < needed {
            return Err(PacketError::Truncated { needed, got: len });
        }
        Ok(())
    }
    /// Datagram length of a packet with `n` events.
    pub const fn len_for(n: usize) -> usize {
        WASM_OUTPUT_HEADER_LEN + field::EVENT_LEN * n
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
    /// WASM module slot.
    pub fn module_id(&self) -> u8 {
        self.buffer.as_ref()[field::MODULE_ID]
    }
    /// Declared event count.
    pub fn event_count(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::EVENT_COUNT)
    }
    /// Event `i`.
    pub fn event(&self, i: usize) -> WasmEvent {
        let b = self.buffer.as_ref();
        WasmEvent {
            event_type: b[field::event_type(i)],
            value: get_f32(b, field::event_value(i)),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> WasmOutputPacket<T> {
    /// Set the magic.
    pub fn set_magic(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v)
    }
    /// Set the node id.
    pub fn set_node_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::NODE_ID] = v
    }
    /// Set the module slot.
    pub fn set_module_id(&mut self, v: u8) {
        self.buffer.as_mut()[field::MODULE_ID] = v
    }
    /// Set the event count.
    pub fn set_event_count(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::EVENT_COUNT, v)
    }
    /// Set event `i`.
    pub fn set_event(&mut self, i: usize, e: WasmEvent) {
        let b = self.buffer.as_mut();
        b[field::event_type(i)] = e.event_type;
        set_f32(b, field::event_value(i), e.value);
    }
}

/// A validated WASM output packet. Entries of `events` past `event_count` are zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WasmOutputRepr {
    /// The magic it came under: [`Magic::FusedVitals`] (0xC5110004, ADR-040 firmware) or
    /// [`Magic::Classification`] (0xC5110007, later firmware).
    pub magic: Magic,
    /// Node id.
    pub node_id: u8,
    /// WASM module slot.
    pub module_id: u8,
    /// Number of events, 0..=16.
    pub event_count: u8,
    /// Event storage.
    pub events: [WasmEvent; WASM_MAX_EVENTS],
}

impl WasmOutputRepr {
    /// Build from a slice of at most 16 events.
    pub fn new(
        magic: Magic,
        node_id: u8,
        module_id: u8,
        events: &[WasmEvent],
    ) -> Result<Self, PacketError> {
        if events.len() > WASM_MAX_EVENTS {
            return Err(PacketError::BadEventCount(
                events.len().min(usize::from(u16::MAX)) as u16,
            ));
        }
        let mut store = [WasmEvent::default(); WASM_MAX_EVENTS];
        store[..events.len()].copy_from_slice(events);
        Ok(WasmOutputRepr {
            magic,
            node_id,
            module_id,
            event_count: events.len() as u8,
            events: store,
        })
    }

    /// Check the magic (0xC5110004 or 0xC5110007), event count (<= 16) and that the datagram is
    /// exactly `8 + 5 * event_count` bytes.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &WasmOutputPacket<&T>,
    ) -> Result<Self, PacketError> {
        let len = packet.buffer.as_ref().len();
        if len < WASM_OUTPUT_HEADER_LEN {
            return Err(PacketError::Truncated {
                needed: WASM_OUTPUT_HEADER_LEN,
                got: len,
            });
        }
        let magic = Magic::from(packet.magic());
        if !matches!(magic, Magic::FusedVitals | Magic::Classification) {
            return Err(PacketError::BadMagic {
                expected: 0xC511_0004,
                got: packet.magic(),
            });
        }
        let n = packet.event_count();
        if usize::from(n) > WASM_MAX_EVENTS {
            return Err(PacketError::BadEventCount(n));
        }
        let expected = WasmOutputPacket::<&[u8]>::len_for(usize::from(n));
        if len < expected {
            return Err(PacketError::Truncated {
                needed: expected,
                got: len,
            });
        }
        if len != expected {
            return Err(PacketError::WrongLength { expected, got: len });
        }
        let mut events = [WasmEvent::default(); WASM_MAX_EVENTS];
        for (i, e) in events.iter_mut().enumerate().take(usize::from(n)) {
            *e = packet.event(i);
        }
        Ok(WasmOutputRepr {
            magic,
            node_id: packet.node_id(),
            module_id: packet.module_id(),
            event_count: n as u8,
            events,
        })
    }
    /// The events carried.
    pub fn events(&self) -> &[WasmEvent] {
        &self.events[..usize::from(self.event_count).min(WASM_MAX_EVENTS)]
    }
    /// `8 + 5 * event_count`.
    pub fn buffer_len(&self) -> usize {
        WasmOutputPacket::<&[u8]>::len_for(self.events().len())
    }
    /// Write into a buffer of `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut WasmOutputPacket<T>) {
        packet.set_magic(u32::from(self.magic));
        packet.set_node_id(self.node_id);
        packet.set_module_id(self.module_id);
        let events = self.events();
        packet.set_event_count(events.len() as u16);
        for (i, &e) in events.iter().enumerate() {
            packet.set_event(i, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACKET_BYTES: [u8; 18] = [
        0x04, 0x00, 0x11, 0xc5, 0x04, 0x01, 0x02, 0x00, 0x03, 0x00, 0x00, 0xc0, 0x3f, 0x09, 0x00,
        0x00, 0x00, 0xc0,
    ];
    const EVENTS: [WasmEvent; 2] = [
        WasmEvent {
            event_type: 3,
            value: 1.5,
        },
        WasmEvent {
            event_type: 9,
            value: -2.0,
        },
    ];

    fn repr() -> WasmOutputRepr {
        WasmOutputRepr::new(Magic::FusedVitals, 4, 1, &EVENTS).unwrap()
    }

    #[test]
    fn test_deconstruct() {
        let p = WasmOutputPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.magic(), 0xC511_0004);
        assert_eq!(p.node_id(), 4);
        assert_eq!(p.module_id(), 1);
        assert_eq!(p.event_count(), 2);
        assert_eq!(p.event(0), EVENTS[0]);
        assert_eq!(p.event(1), EVENTS[1]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 18];
        let mut p = WasmOutputPacket::new_unchecked(&mut bytes[..]);
        p.set_magic(0xC511_0004);
        p.set_node_id(4);
        p.set_module_id(1);
        p.set_event_count(2);
        p.set_event(0, EVENTS[0]);
        p.set_event(1, EVENTS[1]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_parse() {
        let r = WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(&PACKET_BYTES[..])).unwrap();
        assert_eq!(r, repr());
        assert_eq!(r.events(), &EVENTS[..]);
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0xa5u8; 18];
        let r = repr();
        assert_eq!(r.buffer_len(), 18);
        r.emit(&mut WasmOutputPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_counts_and_lengths() {
        let mut b = PACKET_BYTES;
        b[6] = 17;
        let mut long = [0u8; 8 + 5 * 17];
        long[..18].copy_from_slice(&b);
        assert_eq!(
            WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(&long[..])).unwrap_err(),
            PacketError::BadEventCount(17)
        );
        assert_eq!(
            WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(&PACKET_BYTES[..17]))
                .unwrap_err(),
            PacketError::Truncated {
                needed: 18,
                got: 17
            }
        );
        assert_eq!(
            WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(&long[..19])).unwrap_err(),
            PacketError::BadEventCount(17)
        );
        assert!(
            WasmOutputRepr::new(Magic::FusedVitals, 0, 0, &[WasmEvent::default(); 17]).is_err()
        );
    }
}

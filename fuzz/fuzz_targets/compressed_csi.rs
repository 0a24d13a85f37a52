//! A stream of datagrams through the per-node compressed-CSI decoder: raw frames set the
//! reference, compressed ones decode against it. Errors, never panics, bounded memory.
#![no_main]

use aether_csi::{parse_any, AnyPacket, CompressedCsiDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = CompressedCsiDecoder::<4>::default();
    // Length-prefixed datagrams: [len u8][bytes]...
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (len as usize).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        match parse_any(datagram) {
            Ok(AnyPacket::RawCsi(frame)) => {
                let _ = decoder.observe_raw(frame.node_id, frame.iq);
            }
            Ok(AnyPacket::CompressedCsi(c)) => {
                if let Ok(iq) = decoder.decode(&c) {
                    assert_eq!(iq.len(), c.original_len as usize);
                }
            }
            _ => {}
        }
    }
});

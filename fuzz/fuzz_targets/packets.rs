//! Any bytes through the packet dispatcher: errors, never panics. A datagram that parses must
//! emit to bytes that parse again to the same type and re-emit to the same bytes (compared as
//! bytes, so NaN fields count as equal to themselves). Inputs shaped like a CRC-carrying packet
//! (feature state, classification) are also tried with the CRC recomputed, so mutations reach
//! the field checks behind it.
#![no_main]

use aether_csi::{parse_any, AnyPacket, CLASSIFICATION_LEN, FEATURE_STATE_LEN};
use libfuzzer_sys::fuzz_target;

/// The canonical bytes of a parsed packet.
fn emit(p: &AnyPacket<'_>) -> Vec<u8> {
    let mut b = vec![0u8; p.buffer_len()];
    assert_eq!(p.emit(&mut b), Some(b.len()));
    b
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let magic = data
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let crc_end = match (magic, data.len()) {
        (Some(0xC511_0006), FEATURE_STATE_LEN) => Some(FEATURE_STATE_LEN - 4),
        (Some(0xC511_0007), CLASSIFICATION_LEN) => Some(CLASSIFICATION_LEN - 4),
        _ => None,
    };
    if let Some(end) = crc_end {
        let mut fixed = data.to_vec();
        let crc = crc32fast::hash(&fixed[..end]);
        fixed[end..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let Ok(first) = parse_any(data) else {
        return;
    };
    let bytes = emit(&first);
    let again = match parse_any(&bytes) {
        Ok(p) => p,
        Err(e) => panic!("re-emitted {} did not parse: {e:?}", first.type_name()),
    };
    assert_eq!(again.type_name(), first.type_name());
    assert_eq!(again.node_id(), first.node_id());
    assert_eq!(
        emit(&again),
        bytes,
        "emit is not stable for {}",
        first.type_name()
    );
}

//! RuView JSONL: the streaming reader over arbitrary bytes must not panic, must count every
//! item, and on every line the fast path must agree with the serde path.
#![no_main]

use std::io::Cursor;

use aether_io::ruview::{parse_line, parse_line_serde, RuviewReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = RuviewReader::new(Cursor::new(data));
    let n = reader.by_ref().count() as u64;
    let s = reader.stats();
    assert_eq!(n, s.records + s.malformed);
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            match (parse_line(line, 1), parse_line_serde(line, 1)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("fast {a:?} vs serde {b:?}"),
            }
        }
    }
});

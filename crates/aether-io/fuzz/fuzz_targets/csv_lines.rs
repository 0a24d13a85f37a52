//! ESP32-CSI-Tool and esp-csi lines: no panics, every item counted.
#![no_main]

use std::io::Cursor;

use aether_io::csv::{CsvDialect, CsvReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for dialect in [CsvDialect::Esp32CsiTool, CsvDialect::EspCsi] {
        let mut reader = CsvReader::new(Cursor::new(data), dialect);
        let n = reader.by_ref().count() as u64;
        let s = reader.stats();
        assert_eq!(n, s.records + s.malformed);
    }
});

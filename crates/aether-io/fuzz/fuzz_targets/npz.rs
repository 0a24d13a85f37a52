//! ESPectre npz: any bytes as a file either fail to open with an error or stream rows (ending
//! on at most one error); never a panic. Seed the corpus with ../shared/data/espectre/*/*.npz.
#![no_main]

use aether_io::npz::NpzReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("aether-io-fuzz-{}.npz", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(reader) = NpzReader::open(&path) {
        let errors = reader.take(100_000).filter(|r| r.is_err()).count();
        assert!(errors <= 1);
    }
});

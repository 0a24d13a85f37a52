//! Locating `../shared/data` for tests (see the project rules: fail loudly when a file is
//! missing while `../shared` exists; skip with a message only when `../shared` is absent).

#![allow(dead_code)]

use std::path::PathBuf;

/// `<repo>/../shared`, found from this crate's manifest directory.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The data directory, or `None` (with a printed message) when `../shared` is absent.
pub fn data_dir() -> Option<PathBuf> {
    let shared = shared_dir();
    if !shared.exists() {
        eprintln!(
            "SKIP: {} is absent; real-data tests not run",
            shared.display()
        );
        return None;
    }
    Some(shared.join("data"))
}

/// A file under the data directory; panics if it is missing while `../shared` exists.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let p = data_dir()?.join(rel);
    assert!(
        p.is_file(),
        "missing shared data file {} (../shared exists)",
        p.display()
    );
    Some(p)
}

//! The seed's `tests/blob_e2e.rs` (2 tests), ported to this crate's API.

use aether_rvne::{init_random_blob, random_weights, WeightBlob, WeightBlobHeader, WeightDtype};

#[test]
fn realistic_blob_roundtrips_through_filesystem() {
    let header = WeightBlobHeader::DEFAULT_AETHER;
    let blob = init_random_blob(header, 0xC511_0007_DEAD_BEEF).unwrap();
    assert!(blob.weights.len() > 25_000);
    assert_eq!(blob.weights.len(), 41_216);

    let bytes = blob.serialize();
    let path = std::env::temp_dir().join(format!("aether-rvne-e2e-{}.rvne", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let read = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read, bytes);

    let back = WeightBlob::parse(&read).unwrap();
    assert_eq!(back.header, header);
    assert_eq!(back.weights.len(), blob.weights.len());
}

#[test]
fn deterministic_seed_produces_byte_identical_blobs() {
    let a = random_weights(WeightDtype::F32, 4096 / 4, 0x1234);
    let b = random_weights(WeightDtype::F32, 4096 / 4, 0x1234);
    assert_eq!(a.len(), 4096);
    assert_eq!(a, b);
    let header = WeightBlobHeader::DEFAULT_AETHER;
    let sa = WeightBlob::new(header, a).unwrap().serialize();
    let sb = WeightBlob::new(header, b).unwrap().serialize();
    assert_eq!(sa, sb);
    // A different seed gives different weights.
    assert_ne!(
        random_weights(WeightDtype::F32, 1024, 0x1235),
        sa[24..24 + 4096]
    );
}

//! The seed's `tests/weight_blob.rs` (8 tests), ported to this crate's API.

use aether_rvne::{
    WeightBlob, WeightBlobHeader, WeightDtype, WEIGHT_BLOB_HEADER_LEN, WEIGHT_BLOB_MAGIC,
    WEIGHT_BLOB_VERSION,
};

fn header(dtype: WeightDtype) -> WeightBlobHeader {
    WeightBlobHeader {
        dtype,
        input_dim: 16,
        n_q_heads: 4,
        n_kv_heads: 1,
        head_dim: 32,
        n_layers: 2,
        n_classes: 4,
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i & 0xFF) as u8).collect()
}

#[test]
fn roundtrip_fp32() {
    let blob = WeightBlob::new(header(WeightDtype::F32), pattern(1024)).unwrap();
    let back = WeightBlob::parse(&blob.serialize()).unwrap();
    assert_eq!(back.header, blob.header);
    assert_eq!(back.header.dtype, WeightDtype::F32);
    assert_eq!(back.header.input_dim, 16);
    assert_eq!(back.header.n_q_heads, 4);
    assert_eq!(back.header.n_kv_heads, 1);
    assert_eq!(back.header.head_dim, 32);
    assert_eq!(back.header.n_layers, 2);
    assert_eq!(back.header.n_classes, 4);
    assert_eq!(back.weights.len(), 1024);
    assert_eq!(back.weights, blob.weights);
}

#[test]
fn roundtrip_fp16() {
    let blob = WeightBlob::new(header(WeightDtype::F16), pattern(512)).unwrap();
    let back = WeightBlob::parse(&blob.serialize()).unwrap();
    assert_eq!(back.header.dtype, WeightDtype::F16);
    assert_eq!(back.weights, blob.weights);
}

#[test]
fn parse_rejects_bad_magic() {
    let mut bytes = WeightBlob::new(header(WeightDtype::F32), pattern(64))
        .unwrap()
        .serialize();
    bytes[0] = 0xFF;
    let err = WeightBlob::parse(&bytes).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn parse_rejects_wrong_version() {
    let mut bytes = WeightBlob::new(header(WeightDtype::F32), pattern(64))
        .unwrap()
        .serialize();
    bytes[4] = 99;
    bytes[5] = 0;
    let err = WeightBlob::parse(&bytes).unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn parse_rejects_size_mismatch() {
    let mut bytes = WeightBlob::new(header(WeightDtype::F32), pattern(64))
        .unwrap()
        .serialize();
    bytes.drain(24..28);
    let msg = WeightBlob::parse(&bytes).unwrap_err().to_string();
    assert!(msg.contains("length") || msg.contains("CRC"), "{msg}");
}

#[test]
fn parse_rejects_crc_corruption() {
    let mut bytes = WeightBlob::new(header(WeightDtype::F32), vec![0xAA; 32])
        .unwrap()
        .serialize();
    bytes[29] ^= 1;
    let err = WeightBlob::parse(&bytes).unwrap_err();
    assert!(err.to_string().contains("CRC"), "{err}");
}

#[test]
fn parse_rejects_invalid_gqa_ratio_in_header() {
    let mut bytes = WeightBlob::new(header(WeightDtype::F32), pattern(64))
        .unwrap()
        .serialize();
    bytes[12..14].copy_from_slice(&3u16.to_le_bytes());
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let err = WeightBlob::parse(&bytes).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("gqa"), "{err}");
}

#[test]
fn header_constants_match_wire_layout() {
    assert_eq!(WEIGHT_BLOB_MAGIC, 0x5256_4E45);
    assert_eq!(WEIGHT_BLOB_VERSION, 1);
    assert_eq!(WEIGHT_BLOB_HEADER_LEN, 24);
}

//! The seed's tests/weight_blob.rs (8) and tests/blob_e2e.rs (2), ported by changing the import.

use aether_model::{
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

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise IEEE CRC-32, independent of the crate's implementation.
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn refresh_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    let c = crc32(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn roundtrip_fp32() {
    let weights: Vec<u8> = (0..1024).map(|i| (i & 0xFF) as u8).collect();
    let blob = WeightBlob::new(header(WeightDtype::F32), weights.clone()).unwrap();
    let back = WeightBlob::parse(&blob.serialize()).unwrap();
    assert_eq!(back.header, header(WeightDtype::F32));
    assert_eq!(back.weights, weights);
}

#[test]
fn roundtrip_fp16() {
    let blob = WeightBlob::new(header(WeightDtype::F16), vec![7u8; 512]).unwrap();
    let back = WeightBlob::parse(&blob.serialize()).unwrap();
    assert_eq!(back.header.dtype, WeightDtype::F16);
    assert_eq!(back.weights.len(), 512);
}

#[test]
fn parse_rejects_bad_magic() {
    let mut b = WeightBlob::new(header(WeightDtype::F32), vec![0; 64])
        .unwrap()
        .serialize();
    b[0] = 0xFF;
    assert!(WeightBlob::parse(&b)
        .unwrap_err()
        .to_string()
        .contains("magic"));
}

#[test]
fn parse_rejects_wrong_version() {
    let mut b = WeightBlob::new(header(WeightDtype::F32), vec![0; 64])
        .unwrap()
        .serialize();
    b[4] = 99;
    b[5] = 0;
    assert!(WeightBlob::parse(&b)
        .unwrap_err()
        .to_string()
        .contains("version"));
}

#[test]
fn parse_rejects_size_mismatch() {
    let mut b = WeightBlob::new(header(WeightDtype::F32), vec![0; 64])
        .unwrap()
        .serialize();
    b.drain(24..28);
    let msg = WeightBlob::parse(&b).unwrap_err().to_string();
    assert!(msg.contains("length") || msg.contains("CRC"), "{msg}");
}

#[test]
fn parse_rejects_crc_corruption() {
    let mut b = WeightBlob::new(header(WeightDtype::F32), vec![0xAA; 32])
        .unwrap()
        .serialize();
    b[29] ^= 1;
    assert!(WeightBlob::parse(&b)
        .unwrap_err()
        .to_string()
        .contains("CRC"));
}

#[test]
fn parse_rejects_invalid_gqa_ratio_in_header() {
    let mut b = WeightBlob::new(header(WeightDtype::F32), vec![0; 64])
        .unwrap()
        .serialize();
    b[12] = 3;
    b[13] = 0;
    refresh_crc(&mut b);
    assert!(WeightBlob::parse(&b)
        .unwrap_err()
        .to_string()
        .to_lowercase()
        .contains("gqa"));
}

#[test]
fn header_constants_match_wire_layout() {
    assert_eq!(WEIGHT_BLOB_MAGIC, 0x5256_4E45);
    assert_eq!(WEIGHT_BLOB_VERSION, 1);
    assert_eq!(WEIGHT_BLOB_HEADER_LEN, 24);
}

/// The seed's deterministic fill (xorshift64*), written out here so the test is independent.
fn seeded_weights(n_bytes: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(n_bytes);
    while out.len() < n_bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let unit = ((r >> 32) as u32) as f32 / u32::MAX as f32;
        out.extend_from_slice(&((unit - 0.5) * 0.2).to_le_bytes());
    }
    out.truncate(n_bytes);
    out
}

#[test]
fn realistic_blob_roundtrips_through_filesystem() {
    let h = header(WeightDtype::F32);
    let n = h.expected_weights_len().unwrap();
    assert!(n > 25_000);
    assert_eq!(n, 41_216);
    let blob = WeightBlob::new(h, seeded_weights(n, 0xC511_0007_DEAD_BEEF)).unwrap();
    let bytes = blob.serialize();
    let path = std::env::temp_dir().join(format!("aether-model-e2e-{}.rvne", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let back = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(back, bytes);
    let parsed = WeightBlob::parse(&back).unwrap();
    assert_eq!(parsed.header, h);
    assert_eq!(parsed.weights.len(), 41_216);
}

#[test]
fn deterministic_seed_produces_byte_identical_blobs() {
    let a = WeightBlob::new(header(WeightDtype::F32), seeded_weights(4096, 0x1234)).unwrap();
    let b = WeightBlob::new(header(WeightDtype::F32), seeded_weights(4096, 0x1234)).unwrap();
    assert_eq!(a.weights, b.weights);
    assert_eq!(a.serialize(), b.serialize());
}

//! Parsers never panic: every truncation, every bit flip (with and without a recomputed CRC),
//! and seeded random and mutated inputs. When a mutated file still parses, every accessor
//! is exercised too.

use aether_rvne::v2::{MetaValue, RvneV2Builder, RvneV2View, TensorDtype};
use aether_rvne::{
    init_random_blob, parse_any, RvneError, RvneFile, V1Matrix, WeightBlob, WeightBlobHeader,
    WeightBlobView, WeightDtype, Xorshift64Star,
};

fn small_v2() -> Vec<u8> {
    let mut b = RvneV2Builder::new();
    b.meta_u32("d_model", 4)
        .meta_bool("attn.causal", true)
        .meta_str_array("class_names", &["a", "bc"])
        .meta_u32_array("attn.global_tokens", &[0]);
    b.add_tensor("w", TensorDtype::Int8, &[2, 2], &[0.5, -1.0, 0.25, 2.0])
        .unwrap();
    b.add_tensor("b", TensorDtype::F16, &[3], &[1.0, 2.0, 3.0])
        .unwrap();
    b.to_bytes().unwrap()
}

fn small_v1() -> Vec<u8> {
    let h = WeightBlobHeader {
        dtype: WeightDtype::F32,
        input_dim: 2,
        n_q_heads: 2,
        n_kv_heads: 1,
        head_dim: 1,
        n_layers: 1,
        n_classes: 2,
    };
    init_random_blob(h, 5).unwrap().serialize()
}

fn recrc(bytes: &mut [u8]) {
    if bytes.len() >= 4 {
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Touch everything a parsed file offers; returns a checksum so nothing is optimised out.
fn exercise(bytes: &[u8]) -> Result<f64, RvneError> {
    let mut acc = 0.0f64;
    match parse_any(bytes)? {
        RvneFile::V1(v) => {
            let _ = v.check_shape();
            for layer in 0..v.header.n_layers as usize + 1 {
                for m in V1Matrix::ALL {
                    if let Some(w) = v.matrix(layer, m) {
                        let mut row = vec![0f32; w.cols];
                        for r in 0..w.rows {
                            w.row_into(r, &mut row).unwrap();
                            acc += row.iter().map(|&x| x as f64).sum::<f64>();
                        }
                    }
                }
            }
            if let Some(c) = v.classifier() {
                acc += c.get(0, 0).unwrap_or(0.0) as f64;
            }
        }
        RvneFile::V2(v) => {
            for e in v.meta_entries() {
                match e.value {
                    MetaValue::U32Array(a) => acc += a.map(|x| x as f64).sum::<f64>(),
                    MetaValue::StrArray(s) => acc += s.map(|x| x.len() as f64).sum::<f64>(),
                    MetaValue::Str(s) => acc += s.len() as f64,
                    _ => acc += 1.0,
                }
                let _ = v.meta(e.key);
            }
            assert_eq!(v.meta_entries().count(), v.meta_count());
            assert_eq!(v.tensors().count(), v.tensor_count());
            for t in v.tensors() {
                let all = t.to_f32_vec();
                let mut row = vec![0f32; t.row_len()];
                for r in 0..t.rows().min(64) {
                    t.decode_row(r, &mut row).unwrap();
                }
                for (i, x) in all.iter().enumerate().take(64) {
                    assert_eq!(t.get_f32(i).map(f32::to_bits), Some(x.to_bits()));
                }
                assert!(v.tensor(t.name()).is_some());
                acc += all.len() as f64;
            }
        }
    }
    Ok(acc)
}

#[test]
fn every_truncation_is_an_error() {
    for file in [small_v1(), small_v2()] {
        assert!(exercise(&file).is_ok());
        for n in 0..file.len() {
            assert!(
                parse_any(&file[..n]).is_err(),
                "prefix {n} of {} parsed",
                file.len()
            );
            // Also with a CRC made valid for the prefix.
            let mut p = file[..n].to_vec();
            recrc(&mut p);
            assert!(parse_any(&p).is_err(), "re-CRC'd prefix {n} parsed");
        }
    }
    // And the version-specific parsers directly.
    let v1 = small_v1();
    for n in 0..v1.len() {
        assert!(WeightBlobView::parse(&v1[..n]).is_err());
    }
    let v2 = small_v2();
    for n in 0..v2.len() {
        assert!(RvneV2View::parse(&v2[..n]).is_err());
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    for file in [small_v1(), small_v2()] {
        for bit in 0..file.len() * 8 {
            let mut b = file.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(parse_any(&b).is_err(), "flip of bit {bit} not detected");
        }
    }
}

#[test]
fn every_single_bit_flip_with_valid_crc_never_panics() {
    let mut parsed_after_flip = 0;
    for file in [small_v1(), small_v2()] {
        for bit in 0..(file.len() - 4) * 8 {
            let mut b = file.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            recrc(&mut b);
            if exercise(&b).is_ok() {
                parsed_after_flip += 1;
            }
        }
    }
    // Flips inside weight values stay valid files; flips in structure do not.
    assert!(parsed_after_flip > 0);
}

#[test]
fn seeded_random_bytes_never_panic() {
    let mut rng = Xorshift64Star::new(0x5EED_0000_0000_0001);
    let mut errors = 0;
    for round in 0..20_000 {
        let len = (rng.next_u64() % 200) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Most rounds get a plausible header so the deep checks are reached.
        if len >= 36 && round % 4 != 0 {
            b[..4].copy_from_slice(b"ENVR");
            b[4] = if round % 2 == 0 { 1 } else { 2 };
            b[5] = 0;
            if b[4] == 2 {
                b[6] = 0;
                b[7] = 0;
                b[8..12].copy_from_slice(&(len as u32).to_le_bytes());
                // Small section lengths and counts.
                for f in [12usize, 16, 20, 24, 28] {
                    let v = (rng.next_u64() % 64) as u32;
                    b[f..f + 4].copy_from_slice(&v.to_le_bytes());
                }
            } else {
                b[20..24].copy_from_slice(&(len as u32 - 28).to_le_bytes());
            }
            recrc(&mut b);
        }
        if exercise(&b).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);
}

#[test]
fn seeded_mutations_of_valid_files_never_panic() {
    let mut rng = Xorshift64Star::new(0xC0FF_EE00_1234_5678);
    let files = [small_v1(), small_v2()];
    let mut ok = 0;
    for round in 0..20_000 {
        let mut b = files[round % 2].clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let at = (rng.next_u64() as usize) % b.len();
            match rng.next_u64() % 3 {
                0 => b[at] = rng.next_u64() as u8,
                1 => b[at] ^= 0x80,
                _ => {
                    // Write a boundary u32 (0, 1, MAX, a large power of two).
                    let v = [0u32, 1, u32::MAX, 1 << 31, 16][(rng.next_u64() % 5) as usize];
                    let end = (at + 4).min(b.len());
                    let n = end - at;
                    b[at..end].copy_from_slice(&v.to_le_bytes()[..n]);
                }
            }
        }
        recrc(&mut b);
        if exercise(&b).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 0);
}

#[test]
fn owned_v1_parse_matches_view() {
    let bytes = small_v1();
    let owned = WeightBlob::parse(&bytes).unwrap();
    let view = WeightBlobView::parse(&bytes).unwrap();
    assert_eq!(owned.weights, view.weights);
    assert_eq!(owned.as_view(), view);
    assert_eq!(owned.serialize(), bytes);
}

/// The fields of `WeightBlob` are public: edited into a header `parse` refuses, the blob is
/// not serialised into a file that cannot be read back.
#[test]
fn an_edited_blob_with_an_invalid_header_is_not_serialised() {
    let mut blob = init_random_blob(WeightBlobHeader::DEFAULT_AETHER, 5).unwrap();
    assert!(blob.try_serialize().is_ok());
    blob.header.n_classes = 1;
    assert_eq!(blob.try_serialize(), Err(RvneError::DegenerateShape));
    blob.header.n_classes = 4;
    blob.header.head_dim = 0;
    assert_eq!(blob.try_serialize(), Err(RvneError::ZeroDim));
}

//! RVNE v2: round trips, metadata, layout rules and one test per parse failure.

use aether_rvne::v2::{
    MetaType, MetaValue, RvneV2Builder, RvneV2View, TensorDtype, ALIGN, HEADER_LEN, MAX_ENTRIES,
};
use aether_rvne::{parse_any, RvneError, RvneFile, Xorshift64Star};

/// Deterministic test data in roughly [-scale, scale].
fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = Xorshift64Star::new(seed);
    (0..n).map(|_| rng.next_weight() * 10.0 * scale).collect()
}

fn small_file() -> Vec<u8> {
    let mut b = RvneV2Builder::new();
    b.meta_u32("d_model", 8)
        .meta_f32("norm_eps", 1e-5)
        .meta_bool("attn.causal", true)
        .meta_str("pooling", "mean")
        .meta_u32_array("attn.global_tokens", &[0, 5])
        .meta_str_array("class_names", &["empty", "walk", "sit"]);
    b.add_tensor("input.mean", TensorDtype::F32, &[3], &[0.5, -1.0, 2.0])
        .unwrap();
    b.add_tensor("head.weight", TensorDtype::Int8, &[3, 2], &data(6, 1, 1.0))
        .unwrap();
    b.add_tensor(
        "layers.0.attn.wq.weight",
        TensorDtype::F16,
        &[2, 3],
        &data(6, 2, 1.0),
    )
    .unwrap();
    b.to_bytes().unwrap()
}

fn recrc(bytes: &mut [u8]) {
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn roundtrip_f32_exact() {
    let x = data(4 * 5 * 3, 7, 3.0);
    let mut b = RvneV2Builder::new();
    b.add_tensor("w", TensorDtype::F32, &[4, 5, 3], &x).unwrap();
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    let t = v.tensor("w").unwrap();
    assert_eq!(t.dtype(), TensorDtype::F32);
    assert_eq!(t.shape(), &[4, 5, 3]);
    assert_eq!((t.rows(), t.row_len(), t.numel()), (4, 15, 60));
    assert_eq!(t.to_f32_vec(), x);
    for (i, &xi) in x.iter().enumerate() {
        assert_eq!(t.get_f32(i), Some(xi));
    }
    assert_eq!(t.get_f32(60), None);
    assert_eq!(t.data().len(), 240);
    assert!(t.scales_raw().is_empty());
    assert_eq!(t.scale(0), None);
}

#[test]
fn roundtrip_f16_within_half_ulp() {
    let mut x = data(64 * 3, 8, 100.0);
    x[0] = 0.0;
    x[1] = 1e-6; // subnormal in f16
    x[2] = -65504.0;
    let mut b = RvneV2Builder::new();
    b.add_tensor("w", TensorDtype::F16, &[64, 3], &x).unwrap();
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    let t = v.tensor("w").unwrap();
    assert_eq!(t.byte_len(), 64 * 3 * 2);
    let y = t.to_f32_vec();
    for (a, b) in x.iter().zip(&y) {
        // Round to nearest: relative error ≤ 2^-11 for normals, absolute ≤ 2^-25 below.
        let bound = a.abs() * 2f32.powi(-11) + 2f32.powi(-25);
        assert!((a - b).abs() <= bound, "{a} -> {b}");
    }
    assert_eq!(y[2], -65504.0);
}

#[test]
fn roundtrip_int8_within_half_step_per_row() {
    let rows = 9;
    let row_len = 13;
    let mut x = data(rows * row_len, 9, 2.0);
    x[row_len..2 * row_len].iter_mut().for_each(|v| *v = 0.0); // an all-zero row
    x[2 * row_len] = 1e9; // one big row
    let mut b = RvneV2Builder::new();
    b.add_tensor("w", TensorDtype::Int8, &[rows, row_len], &x)
        .unwrap();
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    let t = v.tensor("w").unwrap();
    assert_eq!(t.byte_len(), rows * 4 + rows * row_len);
    assert_eq!(t.scales_raw().len(), rows * 4);
    assert_eq!(t.data().len(), rows * row_len);
    let mut out = vec![0f32; row_len];
    for r in 0..rows {
        let row = &x[r * row_len..(r + 1) * row_len];
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = t.scale(r).unwrap();
        assert_eq!(scale, max / 127.0);
        t.decode_row(r, &mut out).unwrap();
        for (c, (&a, &b)) in row.iter().zip(&out).enumerate() {
            assert!((a - b).abs() <= scale * 0.5 * 1.0001, "row {r}: {a} -> {b}");
            assert_eq!(t.get_f32(r * row_len + c), Some(b));
        }
    }
    assert_eq!(t.scale(1), Some(0.0));
    assert!(t.decode_row(rows, &mut out).is_err());
    assert_eq!(
        t.decode_row(0, &mut [0.0; 3]),
        Err(RvneError::OutputLenMismatch)
    );
    // The largest element of each row is exactly ±127 · scale.
    assert_eq!(t.data()[2 * row_len] as i8, 127);
}

#[test]
fn int8_rank1_has_one_scale_per_element() {
    let x = [0.3f32, -2.0, 0.0, 5.5];
    let mut b = RvneV2Builder::new();
    b.add_tensor("bias", TensorDtype::Int8, &[4], &x).unwrap();
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    let t = v.tensor("bias").unwrap();
    assert_eq!(t.row_len(), 1);
    for (i, &xi) in x.iter().enumerate() {
        assert!((t.get_f32(i).unwrap() - xi).abs() <= xi.abs() / 254.0 + 1e-7);
    }
}

#[test]
fn metadata_roundtrip_all_types() {
    let bytes = small_file();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.meta_count(), 6);
    assert_eq!(v.meta_u32("d_model"), Some(8));
    assert_eq!(v.meta_f32("norm_eps"), Some(1e-5));
    assert_eq!(v.meta_bool("attn.causal"), Some(true));
    assert_eq!(v.meta_str("pooling"), Some("mean"));
    let g = v.meta_u32_array("attn.global_tokens").unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g.get(1), Some(5));
    assert_eq!(g.collect::<Vec<_>>(), vec![0, 5]);
    let names = v.meta_str_array("class_names").unwrap();
    assert_eq!(names.len(), 3);
    assert_eq!(names.collect::<Vec<_>>(), vec!["empty", "walk", "sit"]);
    // Wrong type or absent key: None.
    assert_eq!(v.meta_u32("pooling"), None);
    assert_eq!(v.meta_str("missing"), None);
    let types: Vec<MetaType> = v.meta_entries().map(|e| e.value.meta_type()).collect();
    assert_eq!(
        types,
        [
            MetaType::U32,
            MetaType::F32,
            MetaType::Bool,
            MetaType::Str,
            MetaType::U32Array,
            MetaType::StrArray
        ]
    );
}

#[test]
fn repeated_meta_key_replaces_value() {
    let mut b = RvneV2Builder::new();
    b.meta_u32("n", 1).meta_u32("n", 2);
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.meta_count(), 1);
    assert_eq!(v.meta_u32("n"), Some(2));
}

#[test]
fn unknown_metadata_keys_are_skipped() {
    // A newer writer adds keys; this reader finds the ones it knows and ignores the rest.
    let mut b = RvneV2Builder::new();
    b.meta_str("future.thing", "x")
        .meta_u32_array("future.list", &[1, 2, 3])
        .meta_u32("d_model", 8)
        .meta_str_array("future.names", &["a"]);
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.meta_u32("d_model"), Some(8));
    assert_eq!(v.meta_entries().count(), 4);
}

#[test]
fn tensors_are_aligned_ordered_and_inside_the_data_region() {
    let bytes = small_file();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.data_offset() % ALIGN, 0);
    assert!(v.data_offset() >= HEADER_LEN);
    let names: Vec<&str> = v.tensors().map(|t| t.name()).collect();
    assert_eq!(
        names,
        ["input.mean", "head.weight", "layers.0.attn.wq.weight"]
    );
    let mut prev_end = v.data_offset();
    for t in v.tensors() {
        assert_eq!(t.offset() % ALIGN, 0, "{}", t.name());
        assert!(t.offset() >= prev_end);
        prev_end = t.offset() + t.byte_len();
        assert_eq!(
            &bytes[t.offset()..prev_end][..t.scales_raw().len()],
            t.scales_raw()
        );
    }
    assert_eq!(prev_end + 4, bytes.len());
    assert!(v.tensor("nope").is_none());
    assert_eq!(
        v.tensor("input.mean").unwrap().to_f32_vec(),
        [0.5, -1.0, 2.0]
    );
}

#[test]
fn empty_file_and_zero_sized_tensor() {
    let bytes = RvneV2Builder::new().to_bytes().unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + 4);
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!((v.meta_count(), v.tensor_count()), (0, 0));

    let mut b = RvneV2Builder::new();
    b.add_tensor("empty", TensorDtype::Int8, &[0, 7], &[])
        .unwrap();
    // No values, but three rows: an int8 tensor keeps its three scales (docs/rvne.md).
    b.add_tensor("scales_only", TensorDtype::Int8, &[3, 0], &[])
        .unwrap();
    b.add_tensor("after", TensorDtype::F32, &[1], &[1.0])
        .unwrap();
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    let e = v.tensor("empty").unwrap();
    assert_eq!((e.numel(), e.byte_len(), e.row_len()), (0, 0, 7));
    let s = v.tensor("scales_only").unwrap();
    assert_eq!((s.numel(), s.byte_len(), s.row_len()), (0, 12, 0));
    assert_eq!(v.tensor("after").unwrap().get_f32(0), Some(1.0));
}

#[test]
fn parse_any_dispatches_on_version() {
    let v2 = small_file();
    assert!(matches!(parse_any(&v2), Ok(RvneFile::V2(_))));
    assert_eq!(parse_any(&v2).unwrap().version(), 2);
    let v1 = aether_rvne::init_random_blob(
        aether_rvne::WeightBlobHeader::DEFAULT_AETHER,
        aether_rvne::DEFAULT_INIT_SEED,
    )
    .unwrap()
    .serialize();
    let f = parse_any(&v1).unwrap();
    assert!(matches!(f, RvneFile::V1(_)));
    assert_eq!(f.crc32(), 0xDC80_7956);
    let mut v3 = v2.clone();
    v3[4] = 3;
    assert_eq!(parse_any(&v3).unwrap_err(), RvneError::WrongVersion(3));
    assert_eq!(parse_any(b"ENV").unwrap_err(), RvneError::TooShort);
    assert_eq!(parse_any(b"PK\x03\x04").unwrap_err(), RvneError::BadMagic);
    assert_eq!(parse_any(b"").unwrap_err(), RvneError::TooShort);
    // A v1 file is not a v2 file and vice versa.
    assert_eq!(
        RvneV2View::parse(&v1).unwrap_err(),
        RvneError::WrongVersion(1)
    );
    assert_eq!(
        aether_rvne::WeightBlobView::parse(&v2).unwrap_err(),
        RvneError::WrongVersion(2)
    );
}

// ---- one test per parse failure (CRC recomputed so the structural check is reached) ----

fn parse_patched(f: impl FnOnce(&mut Vec<u8>)) -> RvneError {
    let mut bytes = small_file();
    f(&mut bytes);
    recrc(&mut bytes);
    RvneV2View::parse(&bytes).unwrap_err()
}

#[test]
fn header_failures() {
    let good = small_file();
    assert_eq!(
        RvneV2View::parse(&good[..35]).unwrap_err(),
        RvneError::TooShort
    );
    let mut b = good.clone();
    b[3] = 0;
    assert_eq!(RvneV2View::parse(&b).unwrap_err(), RvneError::BadMagic);
    assert_eq!(parse_patched(|b| b[4] = 7), RvneError::WrongVersion(7));
    // Truncated by 16 bytes: the header's file_len no longer matches.
    let mut b = good[..good.len() - 16].to_vec();
    recrc(&mut b);
    assert_eq!(
        RvneV2View::parse(&b).unwrap_err(),
        RvneError::FileLengthMismatch
    );
    let mut b = good.clone();
    b[40] ^= 0x10;
    assert!(matches!(
        RvneV2View::parse(&b).unwrap_err(),
        RvneError::CrcMismatch { .. }
    ));
    assert_eq!(parse_patched(|b| b[6] = 1), RvneError::UnsupportedFlags(1));
}

#[test]
fn section_failures() {
    // meta_len past the end of the file.
    assert_eq!(
        parse_patched(|b| b[16..20].copy_from_slice(&u32::MAX.to_le_bytes())),
        RvneError::SectionOutOfBounds
    );
    // table_len past data_offset.
    assert_eq!(
        parse_patched(|b| {
            let t = u32_at(b, 24) + 64;
            b[24..28].copy_from_slice(&t.to_le_bytes())
        }),
        RvneError::SectionOutOfBounds
    );
    // data_offset past the CRC.
    assert_eq!(
        parse_patched(|b| b[28..32].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes())),
        RvneError::SectionOutOfBounds
    );
    // data_offset misaligned (but still after the table: the padding absorbs 1 byte or the
    // tensors move out of bounds; alignment is checked first).
    assert_eq!(
        parse_patched(|b| {
            let d = u32_at(b, 28) + 1;
            b[28..32].copy_from_slice(&d.to_le_bytes())
        }),
        RvneError::MisalignedSection
    );
    assert_eq!(
        parse_patched(|b| b[12..16].copy_from_slice(&(MAX_ENTRIES + 1).to_le_bytes())),
        RvneError::TooManyEntries
    );
}

#[test]
fn metadata_failures() {
    // The metadata section starts right after the header.
    let m = HEADER_LEN;
    // First entry: key_len u16 = 7 ("d_model"), key, type u8, value_len u32, value u32.
    assert_eq!(parse_patched(|b| b[m + 9] = 99), RvneError::BadMetaType(99));
    assert_eq!(
        parse_patched(|b| b[m + 10..m + 14].copy_from_slice(&3u32.to_le_bytes())),
        RvneError::BadMetaValue
    );
    assert_eq!(
        parse_patched(|b| b[m + 10..m + 14].copy_from_slice(&u32::MAX.to_le_bytes())),
        RvneError::MetaTruncated
    );
    assert_eq!(parse_patched(|b| b[m + 2] = 0xFF), RvneError::BadUtf8);
    assert_eq!(
        parse_patched(|b| b[m..m + 2].copy_from_slice(&0u16.to_le_bytes())),
        RvneError::EmptyName
    );
    // One entry fewer than present: trailing bytes. One more: truncated.
    assert_eq!(
        parse_patched(|b| b[12..16].copy_from_slice(&5u32.to_le_bytes())),
        RvneError::MetaTrailingBytes
    );
    assert_eq!(
        parse_patched(|b| b[12..16].copy_from_slice(&7u32.to_le_bytes())),
        RvneError::MetaTruncated
    );
    // Two keys of equal length; overwrite the second with the first.
    let mut b = RvneV2Builder::new();
    b.meta_u32("aa", 1).meta_u32("ab", 2);
    let mut bytes = b.to_bytes().unwrap();
    let second_key = HEADER_LEN + 2 + 2 + 1 + 4 + 4 + 2;
    assert_eq!(&bytes[second_key..second_key + 2], b"ab");
    bytes[second_key + 1] = b'a';
    recrc(&mut bytes);
    assert_eq!(
        RvneV2View::parse(&bytes).unwrap_err(),
        RvneError::DuplicateKey
    );
    // bool other than 0/1.
    let mut b = RvneV2Builder::new();
    b.meta_bool("c", true);
    let mut bytes = b.to_bytes().unwrap();
    let at = HEADER_LEN + 2 + 1 + 1 + 4;
    assert_eq!(bytes[at], 1);
    bytes[at] = 2;
    recrc(&mut bytes);
    assert_eq!(
        RvneV2View::parse(&bytes).unwrap_err(),
        RvneError::BadMetaValue
    );
    // String array whose count says more strings than it holds.
    let mut b = RvneV2Builder::new();
    b.meta_str_array("s", &["x"]);
    let mut bytes = b.to_bytes().unwrap();
    let at = HEADER_LEN + 2 + 1 + 1 + 4;
    bytes[at] = 2;
    recrc(&mut bytes);
    assert_eq!(
        RvneV2View::parse(&bytes).unwrap_err(),
        RvneError::BadMetaValue
    );
}

fn one_tensor(dtype: TensorDtype, shape: &[usize]) -> (Vec<u8>, usize) {
    let n: usize = shape.iter().product();
    let mut b = RvneV2Builder::new();
    b.add_tensor("t", dtype, shape, &data(n, 3, 1.0)).unwrap();
    let bytes = b.to_bytes().unwrap();
    // Entry: name_len u16, "t", dtype u8, rank u8, dims, offset u32, byte_len u32.
    (bytes, HEADER_LEN)
}

fn patched(mut bytes: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> RvneError {
    f(&mut bytes);
    recrc(&mut bytes);
    RvneV2View::parse(&bytes).unwrap_err()
}

#[test]
fn tensor_failures() {
    let (good, t) = one_tensor(TensorDtype::F32, &[2, 3]);
    let dims = t + 5;
    let off = dims + 8;
    let len = off + 4;
    assert_eq!(u32_at(&good, dims), 2);
    assert_eq!(u32_at(&good, len), 24);
    assert_eq!(
        patched(good.clone(), |b| b[t + 3] = 9),
        RvneError::BadDtype(9)
    );
    assert_eq!(
        patched(good.clone(), |b| b[t + 3] = 0),
        RvneError::BadDtype(0)
    );
    assert_eq!(patched(good.clone(), |b| b[t + 4] = 0), RvneError::ZeroRank);
    assert_eq!(
        patched(good.clone(), |b| b[t + 4] = 5),
        RvneError::TooManyDims(5)
    );
    assert_eq!(
        patched(good.clone(), |b| b[t + 2] = 0xC0),
        RvneError::BadUtf8
    );
    assert_eq!(
        patched(good.clone(), |b| b[dims] = 3),
        RvneError::ShapeLengthMismatch
    );
    assert_eq!(
        patched(good.clone(), |b| b[len] = 28),
        RvneError::ShapeLengthMismatch
    );
    let o = u32_at(&good, off);
    assert_eq!(
        patched(good.clone(), |b| b[off..off + 4]
            .copy_from_slice(&(o + 4).to_le_bytes())),
        RvneError::MisalignedTensor
    );
    assert_eq!(
        patched(good.clone(), |b| b[off..off + 4]
            .copy_from_slice(&(o + 16).to_le_bytes())),
        RvneError::TensorOutOfBounds
    );
    assert_eq!(
        patched(good.clone(), |b| b[off..off + 4]
            .copy_from_slice(&0u32.to_le_bytes())),
        RvneError::TensorOutOfBounds
    );
    assert_eq!(
        patched(good.clone(), |b| b[off..off + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes())),
        RvneError::TensorOutOfBounds
    );
    assert_eq!(
        patched(good.clone(), |b| b[20..24]
            .copy_from_slice(&2u32.to_le_bytes())),
        RvneError::TableTruncated
    );
    assert_eq!(
        patched(good.clone(), |b| b[20..24]
            .copy_from_slice(&0u32.to_le_bytes())),
        RvneError::TableTrailingBytes
    );

    // Two tensors: make the second overlap the first, and give both the same name.
    let mut b = RvneV2Builder::new();
    b.add_tensor("a", TensorDtype::F32, &[8], &[0.0; 8])
        .unwrap();
    b.add_tensor("b", TensorDtype::F32, &[8], &[0.0; 8])
        .unwrap();
    let two = b.to_bytes().unwrap();
    let entry = 2 + 1 + 2 + 4 + 8;
    let second = HEADER_LEN + entry;
    let off_a = u32_at(&two, HEADER_LEN + 9);
    let off_b = u32_at(&two, second + 9);
    assert_eq!(off_b, off_a + 32);
    assert_eq!(
        patched(two.clone(), |b| b[second + 9..second + 13]
            .copy_from_slice(&(off_a + 16).to_le_bytes())),
        RvneError::TensorOverlap
    );
    assert_eq!(
        patched(two.clone(), |b| b[second + 2] = b'a'),
        RvneError::DuplicateName
    );
}

#[test]
fn absurd_dims_are_errors_not_panics() {
    // Rank 4 with every dim u32::MAX: the product overflows u64.
    let (good, t) = one_tensor(TensorDtype::F32, &[1, 1, 1, 2]);
    let dims = t + 5;
    let e = patched(good.clone(), |b| {
        for k in 0..4 {
            b[dims + 4 * k..dims + 4 * k + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
    });
    assert_eq!(e, RvneError::SizeOverflow);
    // Product fits u64 but not the u32 byte length: a contradiction, not an overflow panic.
    let e = patched(good.clone(), |b| {
        b[dims..dims + 4].copy_from_slice(&0x10000u32.to_le_bytes());
        b[dims + 4..dims + 8].copy_from_slice(&0x10000u32.to_le_bytes());
    });
    assert_eq!(e, RvneError::ShapeLengthMismatch);
    // Zero rows hide a huge inner product: still checked.
    let e = patched(good, |b| {
        b[dims..dims + 4].copy_from_slice(&0u32.to_le_bytes());
        for k in 1..4 {
            b[dims + 4 * k..dims + 4 * k + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
    });
    assert_eq!(e, RvneError::SizeOverflow);
    // int8 with scales: u32::MAX rows overflows nothing in u64 but contradicts the length.
    let (good, t) = one_tensor(TensorDtype::Int8, &[2, 2]);
    let e = patched(good, |b| {
        b[t + 5..t + 9].copy_from_slice(&u32::MAX.to_le_bytes())
    });
    assert_eq!(e, RvneError::ShapeLengthMismatch);
}

#[test]
fn builder_rejects_bad_input() {
    let mut b = RvneV2Builder::new();
    assert_eq!(
        b.add_tensor("w", TensorDtype::F32, &[2, 3], &[0.0; 5])
            .unwrap_err(),
        RvneError::ShapeLengthMismatch
    );
    assert_eq!(
        b.add_tensor("w", TensorDtype::F32, &[], &[]).unwrap_err(),
        RvneError::ZeroRank
    );
    assert_eq!(
        b.add_tensor("w", TensorDtype::F32, &[1, 1, 1, 1, 1], &[0.0])
            .unwrap_err(),
        RvneError::TooManyDims(5)
    );
    assert_eq!(
        b.add_tensor("", TensorDtype::F32, &[1], &[0.0])
            .unwrap_err(),
        RvneError::EmptyName
    );
    assert_eq!(
        b.add_tensor(&"x".repeat(70_000), TensorDtype::F32, &[1], &[0.0])
            .unwrap_err(),
        RvneError::NameTooLong
    );
    assert_eq!(
        b.add_tensor("w", TensorDtype::Int8, &[1], &[f32::NAN])
            .unwrap_err(),
        RvneError::NonFiniteValue
    );
    assert_eq!(
        b.add_tensor("w", TensorDtype::F16, &[1], &[1e6])
            .unwrap_err(),
        RvneError::F16Overflow
    );
    assert_eq!(
        b.add_tensor("w", TensorDtype::F32, &[usize::MAX, 2], &[])
            .unwrap_err(),
        RvneError::SizeOverflow
    );
    b.add_tensor("w", TensorDtype::F32, &[1], &[0.0]).unwrap();
    assert_eq!(
        b.add_tensor("w", TensorDtype::F32, &[1], &[0.0])
            .unwrap_err(),
        RvneError::DuplicateName
    );
    let mut b = RvneV2Builder::new();
    b.meta_u32("", 1);
    assert_eq!(b.to_bytes().unwrap_err(), RvneError::EmptyName);
}

#[test]
fn meta_value_enum_matches_accessors() {
    let bytes = small_file();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert!(matches!(v.meta("pooling"), Some(MetaValue::Str("mean"))));
    assert!(matches!(v.meta("d_model"), Some(MetaValue::U32(8))));
}

#[test]
fn require_tensor_checks_name_and_shape() {
    let bytes = small_file();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.require_tensor("head.weight", &[3, 2]).unwrap().numel(), 6);
    assert_eq!(
        v.require_tensor("head.weight", &[2, 3]).unwrap_err(),
        RvneError::UnexpectedShape
    );
    assert_eq!(
        v.require_tensor("head.bias", &[3]).unwrap_err(),
        RvneError::MissingTensor
    );
}

#[test]
fn max_entries_parse_and_one_more_is_refused() {
    let mut b = RvneV2Builder::new();
    for i in 0..MAX_ENTRIES {
        b.meta_u32(&format!("k{i}"), i);
        b.add_tensor(&format!("t{i}"), TensorDtype::F32, &[1], &[i as f32])
            .unwrap();
    }
    let bytes = b.to_bytes().unwrap();
    let v = RvneV2View::parse(&bytes).unwrap();
    assert_eq!(v.meta_u32("k4095"), Some(4095));
    assert_eq!(v.tensor("t4095").unwrap().get_f32(0), Some(4095.0));
    b.meta_u32("one_more", 0);
    assert_eq!(b.to_bytes().unwrap_err(), RvneError::TooManyEntries);
}

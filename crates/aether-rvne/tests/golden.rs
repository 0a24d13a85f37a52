//! Golden values of the seed's `model_init.rvne` (spec §2.6/§2.7) and the smoltcp-style
//! deconstruct / construct / parse / emit tests for v1.

use aether_rvne::{
    init_random_blob, RvneV1View, V1Matrix, WeightBlob, WeightBlobHeader, WeightBlobView,
    WeightDtype, DEFAULT_INIT_SEED,
};
use sha2::{Digest, Sha256};

const GOLDEN_HEADER: [u8; 24] = [
    0x45, 0x4E, 0x56, 0x52, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x04, 0x00, 0x01, 0x00, 0x20, 0x00,
    0x02, 0x00, 0x04, 0x00, 0x00, 0xA1, 0x00, 0x00,
];
const GOLDEN_SHA256: &str = "7c6c074ef3b6b23b4d9ae2327deaade81329f003c3a52b59581492c08252d49d";

fn golden_file() -> Vec<u8> {
    init_random_blob(WeightBlobHeader::DEFAULT_AETHER, DEFAULT_INIT_SEED)
        .unwrap()
        .serialize()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn init_blob_matches_seed_sha256_size_and_crc() {
    let bytes = golden_file();
    assert_eq!(bytes.len(), 41_244);
    assert_eq!(&bytes[..24], &GOLDEN_HEADER);
    assert_eq!(&bytes[bytes.len() - 4..], &[0x56, 0x79, 0x80, 0xDC]);
    assert_eq!(hex(&Sha256::digest(&bytes)), GOLDEN_SHA256);
    assert_eq!(WeightBlobView::parse(&bytes).unwrap().crc32, 0xDC80_7956);
}

// The spec quotes the weights with more digits than f32 holds; keep its text.
#[allow(clippy::excessive_precision)]
#[test]
fn init_blob_first_weights_and_range() {
    let bytes = golden_file();
    let view = WeightBlobView::parse(&bytes).unwrap();
    let w: Vec<f32> = view
        .weights
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(w.len(), 10_304);
    for (got, want) in w
        .iter()
        .zip([-0.054492723f32, 0.099381581, -0.088185102, 0.020757342])
    {
        assert!((got - want).abs() < 1e-8, "{got} vs {want}");
    }
    let min = w.iter().cloned().fold(f32::INFINITY, f32::min);
    let max = w.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
    assert!((min - -0.0999932).abs() < 1e-6, "{min}");
    assert!((max - 0.0999952).abs() < 1e-6, "{max}");
    assert!((mean - -0.000814).abs() < 1e-5, "{mean}");
}

#[test]
fn test_deconstruct() {
    let bytes = golden_file();
    let view = RvneV1View::new_checked(&bytes[..]).unwrap();
    assert_eq!(view.magic(), 0x5256_4E45);
    assert_eq!(view.version(), 1);
    assert_eq!(view.flags(), 0);
    assert_eq!(view.reserved(), 0);
    assert_eq!(view.dtype(), WeightDtype::F32);
    assert_eq!(view.input_dim(), 16);
    assert_eq!(view.n_q_heads(), 4);
    assert_eq!(view.n_kv_heads(), 1);
    assert_eq!(view.head_dim(), 32);
    assert_eq!(view.n_layers(), 2);
    assert_eq!(view.n_classes(), 4);
    assert_eq!(view.weights_len(), 41_216);
    assert_eq!(view.weights().len(), 41_216);
    assert_eq!(view.stored_crc(), 0xDC80_7956);
    assert!(view.verify_crc());
}

#[test]
fn test_construct() {
    // Setters on a buffer full of 0xa5, so a field never written shows up.
    let golden = golden_file();
    let mut buf = vec![0xa5u8; golden.len()];
    let mut view = RvneV1View::new_unchecked(&mut buf[..]);
    view.set_magic(0x5256_4E45);
    view.set_version(1);
    view.set_flags(0);
    view.set_reserved(0);
    view.set_input_dim(16);
    view.set_n_q_heads(4);
    view.set_n_kv_heads(1);
    view.set_head_dim(32);
    view.set_n_layers(2);
    view.set_n_classes(4);
    view.set_weights_len(41_216);
    view.weights_mut()
        .copy_from_slice(&golden[24..golden.len() - 4]);
    view.fill_crc();
    assert_eq!(buf, golden);
}

#[test]
fn test_parse() {
    let bytes = golden_file();
    let header = WeightBlobHeader::parse(&RvneV1View::new_unchecked(&bytes[..])).unwrap();
    assert_eq!(header, WeightBlobHeader::DEFAULT_AETHER);
}

#[test]
fn test_emit() {
    let mut buf = [0xa5u8; 24];
    WeightBlobHeader::DEFAULT_AETHER.emit(&mut RvneV1View::new_unchecked(&mut buf[..]), 41_216);
    assert_eq!(buf, GOLDEN_HEADER);
    assert_eq!(WeightBlobHeader::buffer_len(41_216), 41_244);
}

#[test]
fn test_impossible_len() {
    let mut bytes = golden_file();
    // weights_len claims more than the buffer holds: an error, and no accessor is reached.
    bytes[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(RvneV1View::new_checked(&bytes[..]).is_err());
    assert_eq!(
        WeightBlobView::parse(&bytes).unwrap_err(),
        aether_rvne::RvneError::SizeMismatch
    );
}

#[test]
fn matrix_layout_follows_file_order() {
    let h = WeightBlobHeader::DEFAULT_AETHER;
    assert_eq!(h.q_total(), 128);
    assert_eq!(h.kv_total(), 32);
    assert_eq!(h.layer_elems(), Some(5_120));
    assert_eq!(h.expected_weights_len(), Some(41_216));
    let l1_wq = h.matrix_layout(1, V1Matrix::Wq).unwrap();
    assert_eq!((l1_wq.rows, l1_wq.cols), (16, 128));
    assert_eq!(l1_wq.byte_range, 5_120 * 4..(5_120 + 2_048) * 4);
    let l0_wk = h.matrix_layout(0, V1Matrix::Wk).unwrap();
    assert_eq!((l0_wk.rows, l0_wk.cols), (16, 32));
    assert_eq!(l0_wk.byte_range, 2_048 * 4..2_560 * 4);
    let l0_wv = h.matrix_layout(0, V1Matrix::Wv).unwrap();
    assert_eq!(l0_wv.byte_range, 2_560 * 4..3_072 * 4);
    let l0_wo = h.matrix_layout(0, V1Matrix::Wo).unwrap();
    assert_eq!((l0_wo.rows, l0_wo.cols), (128, 16));
    assert_eq!(l0_wo.byte_range, 3_072 * 4..5_120 * 4);
    let c = h.classifier_layout().unwrap();
    assert_eq!((c.rows, c.cols), (16, 4));
    assert_eq!(c.byte_range, 10_240 * 4..41_216);
    assert!(h.matrix_layout(2, V1Matrix::Wq).is_none());

    // The matrices tile the payload exactly, in order.
    let mut end = 0;
    for layer in 0..2 {
        for m in V1Matrix::ALL {
            let l = h.matrix_layout(layer, m).unwrap();
            assert_eq!(l.byte_range.start, end);
            end = l.byte_range.end;
        }
    }
    assert_eq!(end, c.byte_range.start);
}

#[test]
fn matrix_accessors_read_row_major_in_out() {
    let bytes = golden_file();
    let view = WeightBlobView::parse(&bytes).unwrap();
    view.check_shape().unwrap();
    let w: Vec<f32> = view
        .weights
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let wq1 = view.matrix(1, V1Matrix::Wq).unwrap();
    // Element (r, c) of [in][out] row-major is r * cols + c from the matrix start.
    assert_eq!(wq1.get(3, 7), Some(w[5_120 + 3 * 128 + 7]));
    assert_eq!(wq1.get(16, 0), None);
    assert_eq!(wq1.get(0, 128), None);
    let cls = view.classifier().unwrap();
    let mut row = [0f32; 4];
    cls.row_into(15, &mut row).unwrap();
    assert_eq!(row, [w[10_300], w[10_301], w[10_302], w[10_303]]);
    assert!(cls.row_into(16, &mut row).is_err());
    assert!(cls.row_into(0, &mut [0f32; 3]).is_err());

    // F16 matrices decode through half.
    let mut h = WeightBlobHeader::DEFAULT_AETHER;
    h.dtype = WeightDtype::F16;
    let blob = init_random_blob(h, DEFAULT_INIT_SEED).unwrap();
    assert_eq!(blob.weights.len(), 41_216 / 2);
    let v = blob.as_view();
    v.check_shape().unwrap();
    let got = v.matrix(0, V1Matrix::Wq).unwrap().get(0, 0).unwrap();
    assert!((got - -0.054492723).abs() < 1e-4);
    assert_eq!(WeightBlobView::parse(&blob.serialize()).unwrap(), v);
}

#[test]
fn short_payload_is_a_shape_mismatch_not_a_panic() {
    // The seed's parse does not tie weights_len to the shape; check_shape and the
    // accessors do.
    // 8,192 bytes hold exactly layer 0's Wq (16 x 128 f32).
    let blob = WeightBlob::new(WeightBlobHeader::DEFAULT_AETHER, vec![0; 8_192]).unwrap();
    let bytes = blob.serialize();
    let view = WeightBlobView::parse(&bytes).unwrap();
    assert_eq!(
        view.check_shape(),
        Err(aether_rvne::RvneError::WeightsShapeMismatch)
    );
    assert!(view.matrix(0, V1Matrix::Wq).is_some());
    assert!(view.matrix(0, V1Matrix::Wk).is_none());
    assert!(view.matrix(1, V1Matrix::Wq).is_none());
    assert!(view.classifier().is_none());
}

#[test]
fn new_rejects_bad_headers_and_lengths() {
    use aether_rvne::RvneError;
    let mut h = WeightBlobHeader::DEFAULT_AETHER;
    h.head_dim = 0;
    assert_eq!(WeightBlob::new(h, vec![]), Err(RvneError::ZeroDim));
    let mut h = WeightBlobHeader::DEFAULT_AETHER;
    h.n_classes = 1;
    assert_eq!(WeightBlob::new(h, vec![]), Err(RvneError::DegenerateShape));
    assert_eq!(
        WeightBlob::new(WeightBlobHeader::DEFAULT_AETHER, vec![0; 6]),
        Err(RvneError::WeightsNotElemMultiple)
    );
}

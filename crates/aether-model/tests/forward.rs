//! The forward pass against an independent f64 restatement of the crate README ("The model") and docs/rvne.md.

mod common;

use aether_model::{
    Backend, HeadParams, HeadScratch, HeadSpec, ModelError, OutputKind, Pooling, TemporalHead,
    TensorDtype, WeightBlob, WeightBlobHeader, WeightDtype,
};
use common::*;

fn worst(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .map(|d| if d.is_nan() { f64::INFINITY } else { d })
        .fold(0.0, f64::max)
}

fn check_v2(spec: &HeadSpec, t: usize, backend: Backend) -> f64 {
    let p = params(spec, 11);
    let head = TemporalHead::from_params(&p).unwrap().with_backend(backend);
    let w = window(t, spec.input_dim, 5);
    let mut out = vec![0.0; spec.n_out];
    head.run(&w, &mut out, &mut HeadScratch::new()).unwrap();
    let r = reference::run(&p, &w, backend == Backend::Dense);
    worst(&out, &r)
}

#[test]
fn v2_forward_matches_f64_reference() {
    for pooling in [Pooling::Mean, Pooling::Last] {
        for kind in [OutputKind::Classes, OutputKind::Embedding] {
            for backend in [Backend::Sparse, Backend::Dense] {
                let mut spec = small_spec();
                spec.pooling = pooling;
                spec.output_kind = kind;
                for t in [1, 3, 17, 40] {
                    let e = check_v2(&spec, t, backend);
                    assert!(e < 2e-5, "{pooling:?} {kind:?} {backend:?} T={t}: {e}");
                }
            }
        }
    }
}

#[test]
fn default_head_matches_f64_reference_at_256_frames() {
    let e = check_v2(&HeadSpec::default_v2(), 256, Backend::Sparse);
    assert!(e < 2e-5, "{e}");
}

#[test]
fn improved_landmarks_and_mha_match_reference() {
    let mut spec = small_spec();
    spec.attn = spec.attn.clone().improved();
    spec.q_heads = 2;
    spec.kv_heads = 2;
    assert!(check_v2(&spec, 33, Backend::Sparse) < 2e-5);
}

/// v1 per docs/rvne.md: x_t rows, y = x·W ([in][out]), residual attention, mean pool, classifier.
fn v1_reference(blob: &WeightBlob, window: &[f32]) -> Vec<f64> {
    use aether_kernel::reference::sparse_forward_f64;
    use aether_kernel::{AttnShape, SparseConfig};
    let h = blob.header;
    let (i, qt, kt, c) = (
        h.input_dim as usize,
        h.q_total(),
        h.kv_total(),
        h.n_classes as usize,
    );
    let w: Vec<f64> = match h.dtype {
        WeightDtype::F32 => blob
            .weights
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        WeightDtype::F16 => blob
            .weights
            .chunks(2)
            .map(|b| half_to_f64(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
    };
    let mut off = 0;
    let mut take = |rows: usize, cols: usize| {
        let m = w[off..off + rows * cols].to_vec();
        off += rows * cols;
        (m, cols)
    };
    let xw = |x: &[f64], (m, cols): &(Vec<f64>, usize)| -> Vec<f64> {
        (0..*cols)
            .map(|cc| {
                x.iter()
                    .enumerate()
                    .map(|(r, xv)| xv * m[r * cols + cc])
                    .sum()
            })
            .collect()
    };
    let t = window.len() / i;
    let mut x: Vec<Vec<f64>> = window
        .chunks(i)
        .map(|f| f.iter().map(|&v| v as f64).collect())
        .collect();
    for _ in 0..h.n_layers {
        let (wq, wk, wv, wo) = (take(i, qt), take(i, kt), take(i, kt), take(qt, i));
        let q: Vec<f64> = x.iter().flat_map(|r| xw(r, &wq)).collect();
        let k: Vec<f64> = x.iter().flat_map(|r| xw(r, &wk)).collect();
        let v: Vec<f64> = x.iter().flat_map(|r| xw(r, &wv)).collect();
        let shape = AttnShape {
            seq: t,
            q_heads: h.n_q_heads as usize,
            kv_heads: h.n_kv_heads as usize,
            head_dim: h.head_dim as usize,
        };
        let a = sparse_forward_f64(&SparseConfig::upstream(32, 16), shape, &q, &k, &v).unwrap();
        for (r, ar) in x.iter_mut().zip(a.chunks(qt)) {
            let o = xw(ar, &wo);
            r.iter_mut().zip(o).for_each(|(p, q)| *p += q);
        }
    }
    let wc = take(i, c);
    let pooled: Vec<f64> = (0..i)
        .map(|d| x.iter().map(|r| r[d]).sum::<f64>() / t as f64)
        .collect();
    xw(&pooled, &wc)
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let man = (bits & 0x3ff) as f64;
    sign * if exp == 0 {
        man * 2f64.powi(-24)
    } else {
        (1.0 + man / 1024.0) * 2f64.powi(exp - 15)
    }
}

#[test]
fn v1_golden_blob_classifies_per_docs_rvne() {
    let blob = aether_rvne::init_random_blob(
        WeightBlobHeader::DEFAULT_AETHER,
        aether_rvne::DEFAULT_INIT_SEED,
    )
    .unwrap();
    let bytes = blob.serialize();
    assert_eq!(bytes.len(), 41_244);
    let head = TemporalHead::from_bytes(&bytes).unwrap();
    assert_eq!(head.spec().n_out, 4);
    assert_eq!(head.params(), 10_304);
    for t in [1, 20, 100] {
        let w = window(t, 16, 2);
        let mut out = [0f32; 4];
        head.classify(&w, &mut out, &mut HeadScratch::new())
            .unwrap();
        let r = v1_reference(&blob, &w);
        assert!(worst(&out, &r) < 1e-5, "T={t}: {out:?} vs {r:?}");
    }
}

#[test]
fn v1_f16_blob_classifies() {
    let mut h = WeightBlobHeader::DEFAULT_AETHER;
    h.dtype = WeightDtype::F16;
    h.n_q_heads = 2;
    h.n_kv_heads = 2;
    h.head_dim = 8;
    let blob = aether_rvne::init_random_blob(h, 99).unwrap();
    let head = TemporalHead::from_bytes(&blob.serialize()).unwrap();
    let w = window(50, 16, 4);
    let mut out = [0f32; 4];
    head.classify(&w, &mut out, &mut HeadScratch::new())
        .unwrap();
    assert!(worst(&out, &v1_reference(&blob, &w)) < 1e-5);
}

#[test]
fn v1_payload_that_contradicts_its_shape_is_an_error() {
    let blob = WeightBlob::new(WeightBlobHeader::DEFAULT_AETHER, vec![0; 400]).unwrap();
    let r = TemporalHead::from_bytes(&blob.serialize());
    assert!(
        matches!(
            r,
            Err(ModelError::File(
                aether_rvne::RvneError::WeightsShapeMismatch
            ))
        ),
        "{r:?}"
    );
}

#[test]
fn v2_round_trip_f32_is_exact_and_f16_close() {
    let p = params(&small_spec(), 3);
    let bytes = p.to_rvne_v2(TensorDtype::F32).unwrap();
    assert_eq!(HeadParams::from_rvne_v2(&bytes).unwrap(), p);
    let p16 = HeadParams::from_rvne_v2(&p.to_rvne_v2(TensorDtype::F16).unwrap()).unwrap();
    let a = p.named_tensors();
    for (x, y) in a.iter().zip(p16.named_tensors()) {
        assert_eq!(x.name, y.name);
        for (u, v) in x.data.iter().zip(y.data) {
            assert!(
                (u - v).abs() <= u.abs() * 1e-3 + 1e-7,
                "{}: {u} vs {v}",
                x.name
            );
        }
    }
    let head = TemporalHead::from_bytes(&bytes).unwrap();
    assert_eq!(head.spec(), &p.spec);
    assert_eq!(head.params(), p.spec.params());
    assert_eq!(p.params(), p.spec.params());
}

#[test]
fn shape_errors_are_values() {
    let spec = small_spec();
    let head = TemporalHead::from_params(&params(&spec, 1)).unwrap();
    let mut s = HeadScratch::new();
    let mut out = vec![0.0; 3];
    assert_eq!(
        head.classify(&[], &mut out, &mut s),
        Err(ModelError::EmptyWindow)
    );
    assert!(matches!(
        head.classify(&[0.0; 7], &mut out, &mut s),
        Err(ModelError::InputLen { got: 7, .. })
    ));
    assert_eq!(
        head.classify(&[0.0; 10], &mut [0.0; 2], &mut s),
        Err(ModelError::OutputLen {
            expected: 3,
            got: 2
        })
    );
    let mut w = vec![0.0; 10];
    w[6] = f32::NAN;
    assert_eq!(
        head.classify(&w, &mut out, &mut s),
        Err(ModelError::NonFiniteInput { index: 6 })
    );
    assert_eq!(
        head.embed(&[0.0; 10], &mut out, &mut s),
        Err(ModelError::WrongOutputKind)
    );
    let mut z = vec![0.0; 2 * spec.d_model];
    assert_eq!(head.hidden(&[0.0; 10], &mut z, &mut s), Ok(2));
    assert!(matches!(
        head.hidden(&[0.0; 10], &mut [0.0; 3], &mut s),
        Err(ModelError::OutputLen { .. })
    ));
}

//! Backward passes against central finite differences of the f64 slow twin, and sparse
//! backward against dense backward where the pattern covers every key.

mod common;

use aether_kernel::reference::{dense_forward_f64, sparse_forward_f64};
use aether_kernel::{dense_backward, AttnShape, Scratch, SparseAttention, SparseConfig};
use common::{max_abs_diff, Rng};

type Grads = (Vec<f32>, Vec<f32>, Vec<f32>);
/// A forward pass in f64 over (q, k, v).
type Forward64<'a> = &'a dyn Fn(&[f64], &[f64], &[f64]) -> Vec<f64>;

/// d/dx of L = sum(f(q,k,v) * r) by central differences in f64, for q, k and v.
fn finite_differences(
    f: Forward64<'_>,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    r: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let to64 = |x: &[f32]| x.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let (q, k, v, r) = (to64(q), to64(k), to64(v), to64(r));
    let loss = |q: &[f64], k: &[f64], v: &[f64]| {
        f(q, k, v).iter().zip(&r).map(|(a, b)| a * b).sum::<f64>()
    };
    let h = 1e-6;
    let grad = |which: usize| {
        let base = [&q, &k, &v][which];
        (0..base.len())
            .map(|i| {
                let mut plus = [q.clone(), k.clone(), v.clone()];
                let mut minus = [q.clone(), k.clone(), v.clone()];
                plus[which][i] += h;
                minus[which][i] -= h;
                (loss(&plus[0], &plus[1], &plus[2]) - loss(&minus[0], &minus[1], &minus[2]))
                    / (2.0 * h)
            })
            .collect::<Vec<f64>>()
    };
    (grad(0), grad(1), grad(2))
}

fn rel_err(ours: &[f32], fd: &[f64]) -> f64 {
    let scale = fd.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let err = ours
        .iter()
        .zip(fd)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(
            0.0f64,
            |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
        );
    err / scale.max(1e-12)
}

fn sparse_grads(
    attn: &SparseAttention,
    shape: AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    r: &[f32],
) -> Grads {
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    attn.backward_into(
        shape,
        q,
        k,
        v,
        r,
        &mut dq,
        &mut dk,
        &mut dv,
        &mut Scratch::new(),
    )
    .unwrap();
    (dq, dk, dv)
}

/// Random q, k, v and d_out for `shape`; the sparse backward on the best ISA and on the scalar
/// path, each against central differences of the f64 twin (relative error <= 1e-3).
fn assert_backward_matches_finite_differences(cfg: &SparseConfig, shape: AttnShape, rng: &mut Rng) {
    let (n, d) = (shape.seq, shape.head_dim);
    let q = rng.vec(n * shape.q_heads * d);
    let k = rng.vec(n * shape.kv_heads * d);
    let v = rng.vec(n * shape.kv_heads * d);
    let r = rng.vec(n * shape.q_heads * d);
    let f = |q: &[f64], k: &[f64], v: &[f64]| sparse_forward_f64(cfg, shape, q, k, v).unwrap();
    let (fq, fk, fv) = finite_differences(&f, &q, &k, &v, &r);
    let attn = SparseAttention::new(cfg.clone()).unwrap();
    for a in [attn.clone(), attn.with_scalar()] {
        let (dq, dk, dv) = sparse_grads(&a, shape, &q, &k, &v, &r);
        for (name, ours, fd) in [("dq", &dq, &fq), ("dk", &dk, &fk), ("dv", &dv, &fv)] {
            let e = rel_err(ours, fd);
            assert!(
                e <= 1e-3,
                "{name} {cfg:?} {shape:?} isa={:?}: rel err {e:e}",
                a.isa()
            );
        }
    }
}

#[test]
fn sparse_backward_matches_finite_differences() {
    let mut rng = Rng::new(7);
    let cases = [
        // (causal, window, block, q_heads, kv_heads, n, improved options)
        (true, 2, 3, 2, 2, 13, false),
        (true, 1, 2, 4, 1, 17, false),
        (false, 2, 4, 4, 2, 15, false),
        (true, 2, 3, 2, 1, 14, true),
        (false, 1, 3, 2, 2, 11, true),
        (true, 0, 1, 2, 2, 9, false),
    ];
    for (causal, window, block, qh, kvh, n, improved) in cases {
        let mut cfg = SparseConfig {
            window,
            block_size: block,
            causal,
            global_tokens: vec![0, 5],
            ..SparseConfig::default()
        };
        if improved {
            cfg = cfg.improved();
        }
        let shape = AttnShape {
            seq: n,
            q_heads: qh,
            kv_heads: kvh,
            head_dim: 4,
        };
        assert_backward_matches_finite_differences(&cfg, shape, &mut rng);
    }
}

/// Longer sequences with a narrow window, so windows slide across several tiles of the
/// backward's key-by-key window gradients (32 queries per tile), with head widths the vector
/// paths specialise (16): GQA, MHA in a block of four, and an odd MHA head count.
#[test]
fn sparse_backward_matches_finite_differences_across_window_tiles() {
    let mut rng = Rng::new(9);
    for (causal, qh, kvh) in [(true, 4, 2), (false, 4, 4), (true, 3, 3)] {
        let cfg = SparseConfig {
            window: 3,
            block_size: 8,
            causal,
            global_tokens: vec![0],
            ..SparseConfig::default()
        };
        let shape = AttnShape {
            seq: 70,
            q_heads: qh,
            kv_heads: kvh,
            head_dim: 16,
        };
        assert_backward_matches_finite_differences(&cfg, shape, &mut rng);
    }
}

#[test]
fn dense_backward_matches_finite_differences() {
    let mut rng = Rng::new(8);
    for (causal, qh, kvh, n) in [(true, 2, 2, 9), (false, 4, 1, 7)] {
        let d = 4;
        let shape = AttnShape {
            seq: n,
            q_heads: qh,
            kv_heads: kvh,
            head_dim: d,
        };
        let (q, k, v, r) = (
            rng.vec(n * qh * d),
            rng.vec(n * kvh * d),
            rng.vec(n * kvh * d),
            rng.vec(n * qh * d),
        );
        let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
        dense_backward(shape, causal, &q, &k, &v, &r, &mut dq, &mut dk, &mut dv).unwrap();
        let f =
            |q: &[f64], k: &[f64], v: &[f64]| dense_forward_f64(shape, causal, q, k, v).unwrap();
        let (fq, fk, fv) = finite_differences(&f, &q, &k, &v, &r);
        for (name, ours, fd) in [("dq", &dq, &fq), ("dk", &dk, &fk), ("dv", &dv, &fv)] {
            let e = rel_err(ours, fd);
            assert!(e <= 1e-3, "dense {name} causal={causal}: rel err {e:e}");
        }
    }
}

#[test]
fn sparse_backward_equals_dense_backward_when_pattern_covers_every_key() {
    let mut rng = Rng::new(9);
    // (n = 300 with 8 heads: windows so wide that the backward shortens its gradient tiles.)
    for (causal, qh, kvh, n) in [
        (true, 4, 4, 40),
        (false, 4, 1, 33),
        (true, 8, 2, 64),
        (false, 8, 2, 300),
    ] {
        let cfg = SparseConfig {
            window: n,
            landmarks: false,
            causal,
            ..SparseConfig::upstream(n, 8)
        };
        let attn = SparseAttention::new(cfg).unwrap();
        let d = 16;
        let shape = AttnShape {
            seq: n,
            q_heads: qh,
            kv_heads: kvh,
            head_dim: d,
        };
        let (q, k, v, r) = (
            rng.vec(n * qh * d),
            rng.vec(n * kvh * d),
            rng.vec(n * kvh * d),
            rng.vec(n * qh * d),
        );
        let (sq, sk, sv) = sparse_grads(&attn, shape, &q, &k, &v, &r);
        let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
        dense_backward(shape, causal, &q, &k, &v, &r, &mut dq, &mut dk, &mut dv).unwrap();
        for (name, a, b) in [("dq", &sq, &dq), ("dk", &sk, &dk), ("dv", &sv, &dv)] {
            let e = max_abs_diff(a, b);
            assert!(e <= 1e-5, "{name} causal={causal} heads={qh}/{kvh}: {e:e}");
        }
    }
}

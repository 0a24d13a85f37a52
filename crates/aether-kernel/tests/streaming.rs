//! Decode against prefill: growing caches equal `forward` at every position, f16 caches equal
//! `forward` on f16-rounded keys/values, sliding caches equal `forward` over the retained frames.

mod common;

use aether_kernel::{
    AttnShape, CacheMode, DecodeScratch, KernelError, KvCache, Scratch, SparseAttention,
    SparseConfig,
};
use common::{max_abs_diff, sincos, Rng};
use half::f16;

fn stream<E: aether_kernel::KvElem>(
    attn: &SparseAttention,
    shape: AttnShape,
    cache: &mut KvCache<E>,
    q: &[f32],
    k: &[f32],
    v: &[f32],
) -> Vec<f32> {
    let (qr, kr) = (
        shape.q_heads * shape.head_dim,
        shape.kv_heads * shape.head_dim,
    );
    let mut scratch = DecodeScratch::new_for(attn.config(), shape.q_heads, cache).unwrap();
    let mut out = vec![0.0; q.len()];
    for i in 0..shape.seq {
        cache
            .append(&k[i * kr..(i + 1) * kr], &v[i * kr..(i + 1) * kr])
            .unwrap();
        attn.decode_step(
            &q[i * qr..(i + 1) * qr],
            cache,
            &mut out[i * qr..(i + 1) * qr],
            &mut scratch,
        )
        .unwrap();
    }
    out
}

fn forward(attn: &SparseAttention, shape: AttnShape, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; q.len()];
    attn.forward_into(shape, q, k, v, &mut out, &mut Scratch::new())
        .unwrap();
    out
}

fn configs() -> Vec<SparseConfig> {
    vec![
        SparseConfig::upstream(16, 32),
        SparseConfig::upstream(32, 16),
        SparseConfig::upstream(5, 7).improved(),
        SparseConfig {
            global_tokens: vec![0, 3],
            ..SparseConfig::upstream(0, 1)
        },
        SparseConfig {
            causal: false,
            ..SparseConfig::upstream(8, 4)
        },
    ]
}

#[test]
fn growing_f32_decode_equals_forward_at_every_position() {
    let mut rng = Rng::new(11);
    for cfg in configs() {
        let attn = SparseAttention::new(cfg.clone()).unwrap();
        for (qh, kvh) in [(4, 4), (4, 1)] {
            let shape = AttnShape {
                seq: 300,
                q_heads: qh,
                kv_heads: kvh,
                head_dim: 32,
            };
            let (q, k, v) = (
                rng.vec(300 * qh * 32),
                rng.vec(300 * kvh * 32),
                rng.vec(300 * kvh * 32),
            );
            let mut cache = attn.make_cache::<f32>(300, kvh, 32, false).unwrap();
            let streamed = stream(&attn, shape, &mut cache, &q, &k, &v);
            if cfg.causal {
                let err = max_abs_diff(&streamed, &forward(&attn, shape, &q, &k, &v));
                assert!(err <= 1e-5, "{cfg:?} heads {qh}/{kvh}: {err:e}");
            } else {
                // Non-causal decode is the last row of a non-causal forward over the prefix.
                let row = qh * 32;
                for i in [0, 1, 17, 150, 299] {
                    let s = AttnShape {
                        seq: i + 1,
                        ..shape
                    };
                    let f = forward(
                        &attn,
                        s,
                        &q[..(i + 1) * row],
                        &k[..(i + 1) * kvh * 32],
                        &v[..(i + 1) * kvh * 32],
                    );
                    let err = max_abs_diff(&streamed[i * row..(i + 1) * row], &f[i * row..]);
                    assert!(err <= 1e-5, "non-causal pos {i}: {err:e}");
                }
            }
        }
    }
}

#[test]
fn f16_decode_equals_forward_on_rounded_inputs_and_reports_error_vs_f32() {
    let mut rng = Rng::new(12);
    let attn = SparseAttention::new(SparseConfig::upstream(32, 16)).unwrap();
    let shape = AttnShape {
        seq: 512,
        q_heads: 4,
        kv_heads: 1,
        head_dim: 32,
    };
    let round = |x: &[f32]| {
        x.iter()
            .map(|&a| f16::from_f32(a).to_f32())
            .collect::<Vec<_>>()
    };
    for (label, (q, k, v)) in [
        (
            "random",
            (rng.vec(512 * 128), rng.vec(512 * 32), rng.vec(512 * 32)),
        ),
        ("sincos", {
            let (q, k, v) = sincos(512, 4, 32);
            // kv=1: the h=0 slices of k and v.
            let pick = |x: &[f32]| {
                x.chunks(128)
                    .flat_map(|r| r[..32].to_vec())
                    .collect::<Vec<_>>()
            };
            (q, pick(&k), pick(&v))
        }),
    ] {
        let mut cache = attn.make_cache::<f16>(512, 1, 32, false).unwrap();
        let streamed = stream(&attn, shape, &mut cache, &q, &k, &v);
        let exact = forward(&attn, shape, &q, &round(&k), &round(&v));
        let err_rounded = max_abs_diff(&streamed, &exact);
        assert!(
            err_rounded <= 1e-5,
            "f16 decode vs forward on rounded kv: {err_rounded:e}"
        );
        let err_f32 = max_abs_diff(&streamed, &forward(&attn, shape, &q, &k, &v));
        println!("f16 cache, {label} inputs: max |f16 decode - f32 forward| = {err_f32:e}");
        assert!(err_f32 < 5e-3, "f16 error unexpectedly large: {err_f32:e}");
    }
}

#[test]
fn sliding_cache_equals_forward_over_retained_frames() {
    let mut rng = Rng::new(13);
    // Globals [0] pin one frame; [0, 3] and [2, 5] pin a prefix of 4 and 6 frames, of which
    // the non-global ones (1, 2 / 0, 1, 3, 4) are kept too: the retained sequence is the
    // prefix, then the most recent frames.
    let with_globals = |mut c: SparseConfig, g: &[usize]| {
        c.global_tokens = g.to_vec();
        c
    };
    for (cfg, pinned) in [
        (SparseConfig::upstream(8, 4), 1),
        (SparseConfig::upstream(3, 5).improved(), 1),
        (SparseConfig::upstream(16, 32), 1),
        (with_globals(SparseConfig::upstream(2, 4), &[0, 3]), 4),
        (
            with_globals(SparseConfig::upstream(3, 5).improved(), &[2, 5]),
            6,
        ),
    ] {
        let attn = SparseAttention::new(cfg.clone()).unwrap();
        let (qh, kvh, d, cap, total) = (4, 1, 16, 40, 130);
        let mut cache = attn.make_cache::<f32>(cap, kvh, d, true).unwrap();
        assert_eq!(cache.mode(), CacheMode::Sliding { pinned });
        let mut scratch = DecodeScratch::new_for(attn.config(), qh, &cache).unwrap();
        let (q, k, v) = (
            rng.vec(total * qh * d),
            rng.vec(total * kvh * d),
            rng.vec(total * kvh * d),
        );
        let (qr, kr) = (qh * d, kvh * d);
        let mut out = vec![0.0; qr];
        for t in 0..total {
            cache
                .append(&k[t * kr..(t + 1) * kr], &v[t * kr..(t + 1) * kr])
                .unwrap();
            attn.decode_step(&q[t * qr..(t + 1) * qr], &cache, &mut out, &mut scratch)
                .unwrap();
            // Retained frames: the pinned prefix, then the most recent cap - pinned frames.
            let retained: Vec<usize> = if t < cap {
                (0..=t).collect()
            } else {
                (0..pinned).chain(t + 1 + pinned - cap..=t).collect()
            };
            assert_eq!(cache.len(), retained.len());
            let gather = |x: &[f32], w: usize| {
                retained
                    .iter()
                    .flat_map(|&i| x[i * w..(i + 1) * w].to_vec())
                    .collect::<Vec<_>>()
            };
            let n = retained.len();
            let mut qq = vec![0.0; n * qr];
            qq[(n - 1) * qr..].copy_from_slice(&q[t * qr..(t + 1) * qr]);
            let shape = AttnShape {
                seq: n,
                q_heads: qh,
                kv_heads: kvh,
                head_dim: d,
            };
            let f = forward(&attn, shape, &qq, &gather(&k, kr), &gather(&v, kr));
            let err = max_abs_diff(&out, &f[(n - 1) * qr..]);
            assert!(err <= 1e-5, "{cfg:?} step {t}: {err:e}");
        }
    }
}

#[test]
fn full_growing_cache_is_an_error_and_reset_reuses_it() {
    let attn = SparseAttention::new(SparseConfig::upstream(4, 2)).unwrap();
    let mut cache = attn.make_cache::<f32>(3, 1, 2, false).unwrap();
    for _ in 0..3 {
        cache.append(&[0.1, 0.2], &[0.3, 0.4]).unwrap();
    }
    assert_eq!(
        cache.append(&[0.1, 0.2], &[0.3, 0.4]),
        Err(KernelError::CacheFull { capacity: 3 })
    );
    assert_eq!(cache.len(), 3);
    cache.reset();
    assert!(cache.is_empty());
    cache.append(&[0.1, 0.2], &[0.3, 0.4]).unwrap();
}

#[test]
fn empty_cache_decodes_to_zeros() {
    let attn = SparseAttention::new(SparseConfig::upstream(4, 2)).unwrap();
    let cache = attn.make_cache::<f32>(8, 1, 4, false).unwrap();
    let mut scratch = DecodeScratch::new_for(attn.config(), 2, &cache).unwrap();
    let mut out = vec![1.0; 8];
    attn.decode_step(&[0.5; 8], &cache, &mut out, &mut scratch)
        .unwrap();
    assert_eq!(out, vec![0.0; 8]);
}

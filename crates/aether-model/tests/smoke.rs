//! The seed's tests/smoke.rs (6), ported by changing the import. Smoke 4 and 5 now assert the
//! variant, and smoke 4 calls `step`.

use aether_model::{
    AetherTemporalHead, TemporalBackendKind, TemporalError, TemporalHeadConfig, Tensor3,
};

/// The seed's synthetic input: q = sin(s·31 + h·7 + d)·0.1, k = cos(s·17 + h·3 + d)·0.1, v = 0.5·k.
pub fn make_qkv(
    seq: usize,
    heads: usize,
    kv_heads: usize,
    dim: usize,
) -> (Tensor3, Tensor3, Tensor3) {
    let mut q = Tensor3::zeros(seq, heads, dim);
    let mut k = Tensor3::zeros(seq, kv_heads, dim);
    let mut v = Tensor3::zeros(seq, kv_heads, dim);
    for s in 0..seq {
        for h in 0..heads {
            for d in 0..dim {
                q.set(s, h, d, ((s * 31 + h * 7 + d) as f32).sin() * 0.1);
            }
        }
        for h in 0..kv_heads {
            for d in 0..dim {
                let x = ((s * 17 + h * 3 + d) as f32).cos() * 0.1;
                k.set(s, h, d, x);
                v.set(s, h, d, 0.5 * x);
            }
        }
    }
    (q, k, v)
}

#[test]
fn sparse_gqa_forward_runs_at_aether_default() {
    let cfg = TemporalHeadConfig::default_aether();
    let head = AetherTemporalHead::new(&cfg).unwrap();
    let (q, k, v) = make_qkv(64, cfg.q_heads, cfg.kv_heads, cfg.head_dim);
    let out = head.forward(&q, &k, &v).unwrap();
    assert_eq!(out.shape(), (64, 4, 32));
}

#[test]
fn sparse_mha_path_runs_when_qkv_heads_match() {
    let cfg = TemporalHeadConfig {
        q_heads: 2,
        kv_heads: 2,
        head_dim: 16,
        window: 8,
        block_size: 4,
        ..TemporalHeadConfig::default_aether()
    };
    let head = AetherTemporalHead::new(&cfg).unwrap();
    let (q, k, v) = make_qkv(32, 2, 2, 16);
    assert_eq!(head.forward(&q, &k, &v).unwrap().shape(), (32, 2, 16));
}

#[test]
fn dense_backend_forward_runs_with_matching_shape() {
    let cfg = TemporalHeadConfig {
        backend: TemporalBackendKind::Dense,
        q_heads: 4,
        kv_heads: 4,
        head_dim: 16,
        ..TemporalHeadConfig::default_aether()
    };
    let head = AetherTemporalHead::new(&cfg).unwrap();
    let (q, k, v) = make_qkv(32, 4, 4, 16);
    assert_eq!(head.forward(&q, &k, &v).unwrap().shape(), (32, 4, 16));
}

#[test]
fn dense_backend_step_returns_streaming_error() {
    let cfg = TemporalHeadConfig {
        backend: TemporalBackendKind::Dense,
        q_heads: 4,
        kv_heads: 4,
        head_dim: 16,
        ..TemporalHeadConfig::default_aether()
    };
    let head = AetherTemporalHead::new(&cfg).unwrap();
    assert!(matches!(
        head.make_cache(32),
        Err(TemporalError::BackendDoesNotSupportStreaming)
    ));
    // A cache built elsewhere does not make Dense stream either.
    let mut cache = aether_model::KvCache::new(32, 4, 16, cfg.block_size);
    let (q, k, v) = make_qkv(1, 4, 4, 16);
    let r = head.step(&q, &k, &v, &mut cache);
    assert!(
        matches!(r, Err(TemporalError::BackendDoesNotSupportStreaming)),
        "{r:?}"
    );
    assert_eq!(cache.len(), 0, "a refused step must not touch the cache");
}

#[test]
fn invalid_gqa_ratio_rejected_at_construction() {
    let cfg = TemporalHeadConfig {
        q_heads: 5,
        kv_heads: 2,
        ..TemporalHeadConfig::default_aether()
    };
    let r = AetherTemporalHead::new(&cfg);
    assert!(
        matches!(
            r,
            Err(TemporalError::InvalidConfig(
                "q_heads must be divisible by kv_heads (GQA constraint)"
            ))
        ),
        "{r:?}"
    );
}

#[test]
fn long_window_at_aether_roadmap_target() {
    let cfg = TemporalHeadConfig {
        q_heads: 4,
        kv_heads: 1,
        head_dim: 16,
        window: 64,
        block_size: 32,
        ..TemporalHeadConfig::default_aether()
    };
    let head = AetherTemporalHead::new(&cfg).unwrap();
    let (q, k, v) = make_qkv(1000, 4, 1, 16);
    assert_eq!(head.forward(&q, &k, &v).unwrap().shape(), (1000, 4, 16));
}

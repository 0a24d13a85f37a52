//! Shared fixtures: small random heads and deterministic windows.
#![allow(dead_code)]

pub mod reference;

use aether_model::{HeadParams, HeadSpec, SparseConfig};

/// A small v2 head (fast to load and to corrupt exhaustively).
pub fn small_spec() -> HeadSpec {
    HeadSpec {
        input_dim: 5,
        d_model: 8,
        n_layers: 2,
        q_heads: 2,
        kv_heads: 1,
        head_dim: 4,
        d_ff: 12,
        n_out: 3,
        attn: SparseConfig::upstream(4, 4),
        class_names: vec!["a".into(), "b".into(), "c".into()],
        window_len: 32,
        ..HeadSpec::default_v2()
    }
}

pub fn params(spec: &HeadSpec, seed: u64) -> HeadParams {
    HeadParams::random(spec, seed).expect("valid spec")
}

/// `t` frames of `dim` features: smooth, different per feature, deterministic.
pub fn window(t: usize, dim: usize, salt: u32) -> Vec<f32> {
    (0..t * dim)
        .map(|i| {
            let (f, c) = ((i / dim) as f32, (i % dim) as f32);
            ((f * 0.37 + c * 1.3 + salt as f32).sin() * 1.5 + (f * 0.05).cos() * 0.5)
                * (1.0 + c * 0.1)
        })
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        // A NaN difference would vanish under max (it returns the other operand): a NaN
        // output must fail every comparison, so it counts as infinite.
        .map(|d| if d.is_nan() { f32::INFINITY } else { d })
        .fold(0.0, f32::max)
}

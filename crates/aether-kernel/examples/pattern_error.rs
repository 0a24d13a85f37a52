//! Error of the sparse pattern against exact dense attention, for the upstream pattern and each
//! accuracy option. Reproduces the table in this crate's README:
//!
//! `cargo run --release -p aether-kernel --example pattern_error`

use aether_kernel::{dense_forward, AttnShape, Scratch, SparseAttention, SparseConfig};

fn sincos(n: usize, h: usize, d: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut q = Vec::new();
    let mut k = Vec::new();
    for s in 0..n {
        for hh in 0..h {
            for dd in 0..d {
                q.push(((s * 31 + hh * 7 + dd) as f32).sin() * 0.1);
                k.push(((s * 17 + hh * 3 + dd) as f32).cos() * 0.1);
            }
        }
    }
    let v = k.iter().map(|x| x * 0.5).collect();
    (q, k, v)
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            (u * 2.0 - 1.0) * 1.732_050_8
        })
        .collect()
}

fn main() {
    let (h, d) = (4, 32);
    println!("pattern: W=16, B=32, globals [0], causal, MHA 4x32 (the seed bench config)");
    println!("| inputs | N | pattern | max abs err | mean abs err | mean abs dense |");
    println!("|---|---|---|---|---|---|");
    for n in [256, 1024] {
        let shape = AttnShape::mha(n, h, d);
        let inputs = [
            ("sin/cos", sincos(n, h, d)),
            (
                "random unit",
                (
                    random(n * h * d, 1),
                    random(n * h * d, 2),
                    random(n * h * d, 3),
                ),
            ),
        ];
        for (label, (q, k, v)) in &inputs {
            let mut dense = vec![0.0; q.len()];
            dense_forward(shape, true, q, k, v, &mut dense).expect("dense");
            let mean_dense = dense.iter().map(|x| x.abs() as f64).sum::<f64>() / dense.len() as f64;
            let base = SparseConfig::upstream(16, 32);
            let variants = [
                ("upstream", base.clone()),
                (
                    "+ln(count)",
                    SparseConfig {
                        landmark_log_count: true,
                        ..base.clone()
                    },
                ),
                (
                    "exclude window",
                    SparseConfig {
                        landmark_exclude_window: true,
                        ..base.clone()
                    },
                ),
                ("both", base.clone().improved()),
            ];
            for (name, cfg) in variants {
                let attn = SparseAttention::new(cfg).expect("config");
                let mut out = vec![0.0; q.len()];
                attn.forward_into(shape, q, k, v, &mut out, &mut Scratch::new())
                    .expect("forward");
                let (mut max, mut sum) = (0.0f64, 0.0f64);
                for (a, b) in out.iter().zip(&dense) {
                    let e = (a - b).abs() as f64;
                    max = max.max(e);
                    sum += e;
                }
                println!(
                    "| {label} | {n} | {name} | {max:.3e} | {:.3e} | {mean_dense:.3e} |",
                    sum / out.len() as f64
                );
            }
        }
    }
    // Where the pattern covers every key, the options make sparse exactly dense.
    let n = 256;
    let shape = AttnShape::mha(n, h, d);
    let (q, k, v) = (
        random(n * h * d, 4),
        random(n * h * d, 5),
        random(n * h * d, 6),
    );
    let mut dense = vec![0.0; q.len()];
    dense_forward(shape, true, &q, &k, &v, &mut dense).expect("dense");
    for (name, cfg) in [
        ("upstream, W >= N", SparseConfig::upstream(n, 32)),
        (
            "both options, W >= N",
            SparseConfig::upstream(n, 32).improved(),
        ),
    ] {
        let mut out = vec![0.0; q.len()];
        SparseAttention::new(cfg)
            .expect("config")
            .forward_into(shape, &q, &k, &v, &mut out, &mut Scratch::new())
            .expect("forward");
        let max = out
            .iter()
            .zip(&dense)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("random unit, N={n}, {name}: max abs err vs dense {max:.3e}");
    }
}

//! An independent f64 restatement of the v2 forward pass (the crate README, "The model"), written from the
//! spec and `HeadParams` only: no code shared with the crate except the kernel's f64 sparse
//! attention reference (`aether_kernel::reference`).
#![allow(dead_code)]

use aether_kernel::reference::{dense_forward_f64, sparse_forward_f64};
use aether_kernel::AttnShape;
use aether_model::{HeadParams, OutputKind, Pooling};

fn f64v(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// y = W x + b with W [out][in].
fn linear(w: &[f32], b: &[f32], x: &[f64]) -> Vec<f64> {
    let n_in = x.len();
    (0..b.len())
        .map(|r| {
            b[r] as f64
                + (0..n_in)
                    .map(|c| w[r * n_in + c] as f64 * x[c])
                    .sum::<f64>()
        })
        .collect()
}

fn layer_norm(x: &[f64], w: &[f32], b: &[f32], eps: f32) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - mean) / (var + eps as f64).sqrt() * w[i] as f64 + b[i] as f64)
        .collect()
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

pub fn embed(p: &HeadParams, frame: &[f32]) -> Vec<f64> {
    let x: Vec<f64> = frame
        .iter()
        .zip(&p.input_mean)
        .zip(&p.input_std)
        .map(|((&f, &m), &s)| (f as f64 - m as f64) / s as f64)
        .collect();
    linear(&p.input_proj_weight, &p.input_proj_bias, &x)
}

/// Q, K, V of one state entering layer `l`.
pub fn qkv(p: &HeadParams, l: usize, h: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let lp = &p.layers[l];
    let a = layer_norm(h, &lp.norm1_weight, &lp.norm1_bias, p.spec.norm_eps);
    (
        linear(&lp.wq_weight, &lp.wq_bias, &a),
        linear(&lp.wk_weight, &lp.wk_bias, &a),
        linear(&lp.wv_weight, &lp.wv_bias, &a),
    )
}

/// The state after layer `l` given its input `h` and the attention output `att`.
pub fn post(p: &HeadParams, l: usize, h: &[f64], att: &[f64]) -> Vec<f64> {
    let lp = &p.layers[l];
    let o = linear(&lp.wo_weight, &lp.wo_bias, att);
    let h1: Vec<f64> = h.iter().zip(&o).map(|(a, b)| a + b).collect();
    let f = layer_norm(&h1, &lp.norm2_weight, &lp.norm2_bias, p.spec.norm_eps);
    let g: Vec<f64> = linear(&lp.w1_weight, &lp.w1_bias, &f)
        .into_iter()
        .map(gelu)
        .collect();
    let o2 = linear(&lp.w2_weight, &lp.w2_bias, &g);
    h1.iter().zip(&o2).map(|(a, b)| a + b).collect()
}

pub fn final_state(p: &HeadParams, h: &[f64]) -> Vec<f64> {
    layer_norm(h, &p.final_norm_weight, &p.final_norm_bias, p.spec.norm_eps)
}

/// Attention over a sequence of per-frame q/k/v rows; `dense` selects exact causal attention.
pub fn attend(
    p: &HeadParams,
    q: &[Vec<f64>],
    k: &[Vec<f64>],
    v: &[Vec<f64>],
    dense: bool,
) -> Vec<Vec<f64>> {
    let s = &p.spec;
    let shape = AttnShape {
        seq: q.len(),
        q_heads: s.q_heads,
        kv_heads: s.kv_heads,
        head_dim: s.head_dim,
    };
    let (qf, kf, vf): (Vec<f64>, Vec<f64>, Vec<f64>) = (q.concat(), k.concat(), v.concat());
    let out = if dense {
        dense_forward_f64(shape, s.attn.causal, &qf, &kf, &vf).unwrap()
    } else {
        sparse_forward_f64(&s.attn, shape, &qf, &kf, &vf).unwrap()
    };
    out.chunks(s.q_total()).map(|c| c.to_vec()).collect()
}

/// Final states z of every frame of a window.
pub fn states(p: &HeadParams, window: &[f32], dense: bool) -> Vec<Vec<f64>> {
    let mut h: Vec<Vec<f64>> = window
        .chunks(p.spec.input_dim)
        .map(|f| embed(p, f))
        .collect();
    for l in 0..p.spec.n_layers {
        let (mut q, mut k, mut v) = (vec![], vec![], vec![]);
        for hr in &h {
            let (a, b, c) = qkv(p, l, hr);
            q.push(a);
            k.push(b);
            v.push(c);
        }
        let att = attend(p, &q, &k, &v, dense);
        h = h
            .iter()
            .zip(&att)
            .map(|(hr, ar)| post(p, l, hr, ar))
            .collect();
    }
    h.iter().map(|hr| final_state(p, hr)).collect()
}

/// Pooled states to outputs.
pub fn output(p: &HeadParams, z: &[Vec<f64>]) -> Vec<f64> {
    let d = p.spec.d_model;
    let pooled: Vec<f64> = match p.spec.pooling {
        Pooling::Last => z.last().unwrap().clone(),
        Pooling::Mean => (0..d)
            .map(|i| z.iter().map(|r| r[i]).sum::<f64>() / z.len() as f64)
            .collect(),
    };
    let mut y = linear(&p.head_weight, &p.head_bias, &pooled);
    if p.spec.output_kind == OutputKind::Embedding {
        let n = y.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        y.iter_mut().for_each(|x| *x /= n);
    }
    y
}

pub fn run(p: &HeadParams, window: &[f32], dense: bool) -> Vec<f64> {
    output(p, &states(p, window, dense))
}

/// The sliding-session recurrence: each frame, at each layer, attends over the states the
/// caches retained when it arrived (pinned prefix `0..pinned` + the last `len` frames).
/// Returns the outputs after every push.
pub fn sliding(p: &HeadParams, window: &[f32], len: usize, pinned: usize) -> Vec<Vec<f64>> {
    let s = &p.spec;
    // inputs[l][j]: frame j's state entering layer l, computed at its arrival.
    let mut inputs: Vec<Vec<Vec<f64>>> = vec![vec![]; s.n_layers];
    let mut zs: Vec<Vec<f64>> = vec![];
    let mut outs = vec![];
    for (t, frame) in window.chunks(s.input_dim).enumerate() {
        let retained: Vec<usize> = (0..=t).filter(|&j| j < pinned || j + len > t).collect();
        let mut h = embed(p, frame);
        for (l, layer_inputs) in inputs.iter_mut().enumerate() {
            layer_inputs.push(h.clone());
            let (mut q, mut k, mut v) = (vec![], vec![], vec![]);
            for &j in &retained {
                let (a, b, c) = qkv(p, l, &layer_inputs[j]);
                q.push(a);
                k.push(b);
                v.push(c);
            }
            let att = attend(p, &q, &k, &v, false);
            h = post(p, l, &h, att.last().unwrap());
        }
        zs.push(final_state(p, &h));
        let from = (t + 1).saturating_sub(len);
        outs.push(output(p, &zs[from..]));
    }
    outs
}

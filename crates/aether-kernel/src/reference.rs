//! f64 restatement of the sparse forward ("slow twin"): one candidate at a time, no SIMD,
//! no scratch reuse. Tests use it for parity checks and central finite differences.

use crate::config::{AttnShape, SparseConfig};
use crate::error::KernelError;
use crate::pattern::{block_range, QueryPattern};
use alloc::vec;
use alloc::vec::Vec;

/// Sparse attention in f64 over the same candidate sets as the fast kernel. Shape, lengths and
/// block size are checked as by the fast kernel (typed errors, never a panic).
pub fn sparse_forward_f64(
    cfg: &SparseConfig,
    shape: AttnShape,
    q: &[f64],
    k: &[f64],
    v: &[f64],
) -> Result<Vec<f64>, KernelError> {
    cfg.validate()?;
    shape.check(q.len(), k.len(), v.len())?;
    let (n, d, kvh, qh) = (shape.seq, shape.head_dim, shape.kv_heads, shape.q_heads);
    let group = qh / kvh;
    let mut out = vec![0.0; n * qh * d];
    let nb = if n == 0 {
        0
    } else {
        n.div_ceil(cfg.block_size)
    };
    // Block means per KV head.
    let mut lm_k = vec![0.0; nb * kvh * d];
    let mut lm_v = vec![0.0; nb * kvh * d];
    for b in 0..nb {
        let (s, e) = block_range(b, cfg.block_size, n);
        for j in s..e {
            for x in 0..kvh * d {
                lm_k[b * kvh * d + x] += k[j * kvh * d + x] / (e - s) as f64;
                lm_v[b * kvh * d + x] += v[j * kvh * d + x] / (e - s) as f64;
            }
        }
    }
    let scale = 1.0 / libm::sqrt(d as f64);
    let mut pat = QueryPattern::with_capacity(cfg);
    for i in 0..n {
        pat.build(cfg, n, i);
        for h in 0..qh {
            let g = h / group;
            let qr = &q[(i * qh + h) * d..][..d];
            let mut keys: Vec<(f64, &[f64])> = Vec::new();
            let tokens = (pat.lo..=pat.hi).chain(pat.extra.iter().copied());
            for j in tokens {
                let kr = &k[(j * kvh + g) * d..][..d];
                let s: f64 = qr.iter().zip(kr).map(|(a, b)| a * b).sum::<f64>() * scale;
                keys.push((s, &v[(j * kvh + g) * d..][..d]));
            }
            for &b in &pat.blocks {
                let kr = &lm_k[(b * kvh + g) * d..][..d];
                let mut s: f64 = qr.iter().zip(kr).map(|(a, b)| a * b).sum::<f64>() * scale;
                if cfg.landmark_log_count {
                    let (bs, be) = block_range(b, cfg.block_size, n);
                    s += libm::log((be - bs) as f64);
                }
                keys.push((s, &lm_v[(b * kvh + g) * d..][..d]));
            }
            let m = keys.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = keys.iter().map(|x| libm::exp(x.0 - m)).sum();
            let o = &mut out[(i * qh + h) * d..][..d];
            for (s, vr) in keys {
                let w = libm::exp(s - m) / z;
                for (oo, vv) in o.iter_mut().zip(vr) {
                    *oo += w * vv;
                }
            }
        }
    }
    Ok(out)
}

/// Exact dense attention in f64 (GQA head mapping, optional causal mask).
pub fn dense_forward_f64(
    shape: AttnShape,
    causal: bool,
    q: &[f64],
    k: &[f64],
    v: &[f64],
) -> Result<Vec<f64>, KernelError> {
    shape.check(q.len(), k.len(), v.len())?;
    let (n, d, kvh, qh) = (shape.seq, shape.head_dim, shape.kv_heads, shape.q_heads);
    let group = qh / kvh;
    let scale = 1.0 / libm::sqrt(d as f64);
    let mut out = vec![0.0; n * qh * d];
    for i in 0..n {
        let len = if causal { i + 1 } else { n };
        for h in 0..qh {
            let g = h / group;
            let qr = &q[(i * qh + h) * d..][..d];
            let s: Vec<f64> = (0..len)
                .map(|j| {
                    qr.iter()
                        .zip(&k[(j * kvh + g) * d..][..d])
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|x| libm::exp(x - m)).sum();
            let o = &mut out[(i * qh + h) * d..][..d];
            for (j, sj) in s.iter().enumerate() {
                let w = libm::exp(sj - m) / z;
                for (oo, vv) in o.iter_mut().zip(&v[(j * kvh + g) * d..][..d]) {
                    *oo += w * vv;
                }
            }
        }
    }
    Ok(out)
}

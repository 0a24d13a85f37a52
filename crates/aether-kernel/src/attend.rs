//! The per-query core shared by prefill, decode and (through recomputation) backward:
//! scores for every candidate, softmax, weighted sum of values.

use crate::config::{AttnShape, SparseConfig};
use crate::pattern::{block_range, QueryPattern};
use crate::simd::Isa;

/// Where key/value rows come from. `c` is the candidate's ordinal among the query's tokens
/// (window first, then extras) and `j` its position; a source uses whichever it indexes by.
/// Landmark rows are addressed by their ordinal `bi` in `pattern.blocks` and their block `b`.
pub(crate) trait KvRows {
    fn key(&self, c: usize, j: usize, g: usize) -> &[f32];
    fn value(&self, c: usize, j: usize, g: usize) -> &[f32];
    fn lm_key(&self, bi: usize, b: usize, g: usize) -> &[f32];
    fn lm_value(&self, bi: usize, b: usize, g: usize) -> &[f32];
}

/// Contiguous `[seq][kv_heads][dim]` keys and values plus `[blocks][kv_heads][dim]` landmarks.
pub(crate) struct DenseRows<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub lm_k: &'a [f32],
    pub lm_v: &'a [f32],
    pub kv_heads: usize,
    pub dim: usize,
}

impl KvRows for DenseRows<'_> {
    #[inline(always)]
    fn key(&self, _c: usize, j: usize, g: usize) -> &[f32] {
        let o = (j * self.kv_heads + g) * self.dim;
        &self.k[o..o + self.dim]
    }
    #[inline(always)]
    fn value(&self, _c: usize, j: usize, g: usize) -> &[f32] {
        let o = (j * self.kv_heads + g) * self.dim;
        &self.v[o..o + self.dim]
    }
    #[inline(always)]
    fn lm_key(&self, _bi: usize, b: usize, g: usize) -> &[f32] {
        let o = (b * self.kv_heads + g) * self.dim;
        &self.lm_k[o..o + self.dim]
    }
    #[inline(always)]
    fn lm_value(&self, _bi: usize, b: usize, g: usize) -> &[f32] {
        let o = (b * self.kv_heads + g) * self.dim;
        &self.lm_v[o..o + self.dim]
    }
}

/// Logit offset of landmark block `b`: `ln(count)` with the correction on, else 0.
#[inline(always)]
pub(crate) fn landmark_bias(cfg: &SparseConfig, b: usize, n: usize) -> f32 {
    if cfg.landmark_log_count {
        let (s, e) = block_range(b, cfg.block_size, n);
        libm::logf((e - s) as f32)
    } else {
        0.0
    }
}

/// Computes, for one query and one KV head group, the softmax weights into
/// `probs[h * nc + c]` (`nc = pattern.len()`), for the `group` query heads starting at `h0`.
/// `q_row` is the query's `[q_heads][dim]` row. Returns nothing; weights sum to 1 per head.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_weights<I: Isa, R: KvRows>(
    cfg: &SparseConfig,
    shape: &AttnShape,
    n: usize,
    pat: &QueryPattern,
    rows: &R,
    g: usize,
    q_row: &[f32],
    probs: &mut [f32],
) {
    let d = shape.head_dim;
    let group = shape.group();
    let nc = pat.len();
    let scale = 1.0 / libm::sqrtf(d as f32);
    let h0 = g * group;
    let mut c = 0;
    for j in pat.lo..=pat.hi {
        let kr = rows.key(c, j, g);
        for h in 0..group {
            let qh = &q_row[(h0 + h) * d..(h0 + h + 1) * d];
            probs[h * nc + c] = I::dot(qh, kr) * scale;
        }
        c += 1;
    }
    for &j in &pat.extra {
        let kr = rows.key(c, j, g);
        for h in 0..group {
            let qh = &q_row[(h0 + h) * d..(h0 + h + 1) * d];
            probs[h * nc + c] = I::dot(qh, kr) * scale;
        }
        c += 1;
    }
    for (bi, &b) in pat.blocks.iter().enumerate() {
        let kr = rows.lm_key(bi, b, g);
        let bias = landmark_bias(cfg, b, n);
        for h in 0..group {
            let qh = &q_row[(h0 + h) * d..(h0 + h + 1) * d];
            probs[h * nc + c] = I::dot(qh, kr) * scale + bias;
        }
        c += 1;
    }
    for h in 0..group {
        let s = &mut probs[h * nc..(h + 1) * nc];
        let mut m = f32::NEG_INFINITY;
        for &x in s.iter() {
            m = if x > m { x } else { m };
        }
        let sum = I::exp_shift_sum(s, m);
        let inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        I::scale(s, inv);
    }
}

/// Writes `out[h] = sum_c probs[h][c] * value_c` for the group's heads (`out` is the query's
/// `[q_heads][dim]` row).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn weighted_values<I: Isa, R: KvRows>(
    shape: &AttnShape,
    pat: &QueryPattern,
    rows: &R,
    g: usize,
    probs: &[f32],
    out_row: &mut [f32],
) {
    let d = shape.head_dim;
    let group = shape.group();
    let nc = pat.len();
    let h0 = g * group;
    let out = &mut out_row[h0 * d..(h0 + group) * d];
    out.fill(0.0);
    let mut c = 0;
    for j in pat.lo..=pat.hi {
        let vr = rows.value(c, j, g);
        for h in 0..group {
            I::axpy(&mut out[h * d..(h + 1) * d], probs[h * nc + c], vr);
        }
        c += 1;
    }
    for &j in &pat.extra {
        let vr = rows.value(c, j, g);
        for h in 0..group {
            I::axpy(&mut out[h * d..(h + 1) * d], probs[h * nc + c], vr);
        }
        c += 1;
    }
    for (bi, &b) in pat.blocks.iter().enumerate() {
        let vr = rows.lm_value(bi, b, g);
        for h in 0..group {
            I::axpy(&mut out[h * d..(h + 1) * d], probs[h * nc + c], vr);
        }
        c += 1;
    }
}

/// Block means of `x` (`[n][row]`) into `out` (`[ceil(n/B)][row]`), summing rows in order and
/// multiplying by `1/count`; decode reproduces exactly these operations.
#[inline(always)]
pub(crate) fn block_means<I: Isa>(x: &[f32], n: usize, row: usize, block: usize, out: &mut [f32]) {
    let nb = n.div_ceil(block);
    for b in 0..nb {
        let (s, e) = block_range(b, block, n);
        let o = &mut out[b * row..(b + 1) * row];
        o.fill(0.0);
        for j in s..e {
            I::axpy(o, 1.0, &x[j * row..(j + 1) * row]);
        }
        I::scale(o, 1.0 / (e - s) as f32);
    }
}

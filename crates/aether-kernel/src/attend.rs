//! The per-query core shared by prefill, decode and backward: scores for every candidate,
//! softmax, weighted sum of values.

use crate::config::{AttnShape, SparseConfig};
use crate::pattern::{block_range, QueryPattern};
use crate::simd::Isa;

/// Where key/value rows come from, as offsets into flat buffers. `c` is the candidate's
/// ordinal among the query's tokens (window first, then extras) and `j` its position; a source
/// uses whichever it indexes by. Landmark rows are addressed by their ordinal `bi` in
/// `pattern.blocks` and their block `b`.
pub(crate) trait KvRows {
    fn keys(&self) -> &[f32];
    fn values(&self) -> &[f32];
    fn token_off(&self, c: usize, j: usize, g: usize) -> usize;
    fn lm_keys(&self) -> &[f32];
    fn lm_values(&self) -> &[f32];
    fn lm_off(&self, bi: usize, b: usize, g: usize) -> usize;
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
    fn keys(&self) -> &[f32] {
        self.k
    }
    #[inline(always)]
    fn values(&self) -> &[f32] {
        self.v
    }
    #[inline(always)]
    fn token_off(&self, _c: usize, j: usize, g: usize) -> usize {
        (j * self.kv_heads + g) * self.dim
    }
    #[inline(always)]
    fn lm_keys(&self) -> &[f32] {
        self.lm_k
    }
    #[inline(always)]
    fn lm_values(&self) -> &[f32] {
        self.lm_v
    }
    #[inline(always)]
    fn lm_off(&self, _bi: usize, b: usize, g: usize) -> usize {
        (b * self.kv_heads + g) * self.dim
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

/// Softmax weights of the query's group `g` heads into `probs[h * nc + c]`
/// (`nc = pattern.len()`); `q_row` is the query's `[q_heads][dim]` row.
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
    let q = &q_row[g * group * d..(g + 1) * group * d];
    let wl = pat.window_len();
    let lo = pat.lo;
    I::scores(q, d, group, rows.keys(), wl, |c| rows.token_off(c, lo + c, g), scale, 0.0, probs, nc);
    let extra = &pat.extra;
    I::scores(q, d, group, rows.keys(), extra.len(), |c| rows.token_off(wl + c, extra[c], g), scale, 0.0, &mut probs[wl..], nc);
    let t = pat.tokens();
    let blocks = &pat.blocks;
    I::scores(q, d, group, rows.lm_keys(), blocks.len(), |bi| rows.lm_off(bi, blocks[bi], g), scale, 0.0, &mut probs[t..], nc);
    if cfg.landmark_log_count {
        for (bi, &b) in blocks.iter().enumerate() {
            let bias = landmark_bias(cfg, b, n);
            for h in 0..group {
                probs[h * nc + t + bi] += bias;
            }
        }
    }
    for h in 0..group {
        let s = &mut probs[h * nc..(h + 1) * nc];
        let m = I::max(s);
        let sum = I::exp_shift_sum(s, m);
        let inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        I::scale(s, inv);
    }
}

/// Writes `out[h] = sum_c probs[h][c] * value_c` for the group's heads (`out_row` is the
/// query's `[q_heads][dim]` row).
#[inline(always)]
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
    let out = &mut out_row[g * group * d..(g + 1) * group * d];
    out.fill(0.0);
    let wl = pat.window_len();
    let lo = pat.lo;
    I::accumulate(out, d, group, rows.values(), wl, |c| rows.token_off(c, lo + c, g), probs, nc);
    let extra = &pat.extra;
    I::accumulate(out, d, group, rows.values(), extra.len(), |c| rows.token_off(wl + c, extra[c], g), &probs[wl..], nc);
    let blocks = &pat.blocks;
    let t = pat.tokens();
    I::accumulate(out, d, group, rows.lm_values(), blocks.len(), |bi| rows.lm_off(bi, blocks[bi], g), &probs[t..], nc);
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

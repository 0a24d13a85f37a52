//! The per-query core shared by prefill, decode and backward: scores for every candidate,
//! softmax, weighted sum of values.

use crate::config::{AttnShape, SparseConfig};
use crate::pattern::{block_range, QueryPattern};
use crate::simd::{exp_rows, Heads, Isa};

/// Where key/value rows come from, as offsets into flat buffers. Offsets address the row of
/// KV head 0; KV head `g` is `g * dim` further. `c` is the candidate's ordinal among the
/// query's tokens (window first, then extras) and `j` its position; a source uses whichever
/// it indexes by. Landmark rows are addressed by their ordinal `bi` in `pattern.blocks` and
/// their block `b`.
pub(crate) trait KvRows {
    fn keys(&self) -> &[f32];
    fn values(&self) -> &[f32];
    fn token_off(&self, c: usize, j: usize) -> usize;
    fn lm_keys(&self) -> &[f32];
    fn lm_values(&self) -> &[f32];
    fn lm_off(&self, bi: usize, b: usize) -> usize;
}

/// Contiguous `[seq][kv_heads][dim]` keys and values plus `[blocks][kv_heads][dim]` landmarks.
pub(crate) struct DenseRows<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub lm_k: &'a [f32],
    pub lm_v: &'a [f32],
    /// `kv_heads * dim`.
    pub row: usize,
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
    fn token_off(&self, _c: usize, j: usize) -> usize {
        j * self.row
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
    fn lm_off(&self, _bi: usize, b: usize) -> usize {
        b * self.row
    }
}

#[inline(always)]
pub(crate) fn heads_of(shape: &AttnShape) -> Heads {
    Heads {
        q_heads: shape.q_heads,
        group: shape.group(),
        d: shape.head_dim,
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

/// Candidate offsets of the query (KV-head-0 rows: tokens into keys/values, then landmarks into
/// the landmark buffers), built once per query and shared by every head. The scattered rows
/// (globals, log-stride, landmarks) are prefetched here; the window is sequential.
#[inline(always)]
pub(crate) fn candidate_offsets<I: Isa, R: KvRows>(
    pat: &QueryPattern,
    rows: &R,
    offs: &mut [usize],
) -> usize {
    let (wl, lo) = (pat.window_len(), pat.lo);
    let mut c = 0;
    for j in lo..lo + wl {
        offs[c] = rows.token_off(c, j);
        c += 1;
    }
    for &j in &pat.extra {
        let o = rows.token_off(c, j);
        offs[c] = o;
        if let (Some(k), Some(v)) = (rows.keys().get(o..), rows.values().get(o..)) {
            I::prefetch(k);
            I::prefetch(v);
        }
        c += 1;
    }
    for (bi, &b) in pat.blocks.iter().enumerate() {
        let o = rows.lm_off(bi, b);
        offs[c] = o;
        if let (Some(k), Some(v)) = (rows.lm_keys().get(o..), rows.lm_values().get(o..)) {
            I::prefetch(k);
            I::prefetch(v);
        }
        c += 1;
    }
    c
}

/// Unnormalised softmax weights `exp(s - max)` of every query head into `probs[hh * nc + c]`
/// (`nc = offs.len()`), and each head's `1 / sum` into `probs[q_heads * nc + hh]` (callers size
/// `probs` for `(nc + 1) * q_heads`). `q_row` is the query's `[q_heads][dim]` row. The forward
/// passes apply `1 / sum` to the `dim`-wide output instead of the `nc`-wide weights.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn exp_weights<I: Isa, R: KvRows>(
    cfg: &SparseConfig,
    shape: &AttnShape,
    n: usize,
    pat: &QueryPattern,
    rows: &R,
    offs: &[usize],
    q_row: &[f32],
    probs: &mut [f32],
) {
    let heads = heads_of(shape);
    let nc = offs.len();
    let scale = 1.0 / libm::sqrtf(heads.d as f32);
    let (weights, inv) = probs.split_at_mut(heads.q_heads * nc);
    let inv = &mut inv[..heads.q_heads];
    let (keys, lm_keys, t) = (rows.keys(), rows.lm_keys(), pat.tokens());
    if !cfg.landmark_log_count {
        I::exp_scores_list(
            q_row, heads, keys, lm_keys, offs, t, scale, weights, nc, inv,
        );
        return;
    }
    I::scores_list(q_row, heads, keys, lm_keys, offs, t, scale, weights, nc);
    for (bi, &b) in pat.blocks.iter().enumerate() {
        let bias = landmark_bias(cfg, b, n);
        for hh in 0..heads.q_heads {
            weights[hh * nc + t + bi] += bias;
        }
    }
    exp_rows::<I>(weights, nc, nc, inv);
}

/// Normalised softmax weights (`exp_weights` then `/ sum`), for the backward pass.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_weights<I: Isa, R: KvRows>(
    cfg: &SparseConfig,
    shape: &AttnShape,
    n: usize,
    pat: &QueryPattern,
    rows: &R,
    offs: &[usize],
    q_row: &[f32],
    probs: &mut [f32],
) {
    exp_weights::<I, R>(cfg, shape, n, pat, rows, offs, q_row, probs);
    let nc = offs.len();
    let (weights, inv) = probs.split_at_mut(shape.q_heads * nc);
    for (s, &inv) in weights.chunks_exact_mut(nc).zip(inv.iter()) {
        I::scale(s, inv);
    }
}

/// Writes `out_hh = sum_c probs[hh][c] * value_c / sum_c probs[hh][c]` for every query head,
/// from `exp_weights`' output.
#[inline(always)]
pub(crate) fn weighted_values<I: Isa, R: KvRows>(
    shape: &AttnShape,
    pat: &QueryPattern,
    rows: &R,
    offs: &[usize],
    probs: &[f32],
    out_row: &mut [f32],
) {
    let n_tok = pat.tokens();
    let nc = offs.len();
    I::weighted_list(
        out_row,
        heads_of(shape),
        rows.values(),
        rows.lm_values(),
        offs,
        n_tok,
        probs,
        nc,
    );
    let inv = &probs[shape.q_heads * nc..shape.q_heads * (nc + 1)];
    for (o, &inv) in out_row.chunks_exact_mut(shape.head_dim).zip(inv) {
        I::scale(o, inv);
    }
}

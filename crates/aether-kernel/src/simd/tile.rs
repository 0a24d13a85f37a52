//! AVX-512 prefill over tiles of 16 consecutive queries, one query per lane.
//!
//! Neighbouring queries attend to the same *offsets*: query `i`'s window key `i - δ`, its
//! log-stride keys `i ∓ 2^k`. With keys and values transposed (`kt[g * dim + d][j]`), the
//! scores of 16 queries against offset `δ` are `dim` FMAs of the tile's transposed queries with
//! one unaligned 16-lane load of `kt` each, and the weighted sum is `dim` FMAs per offset into
//! transposed output rows: no horizontal reductions, no per-edge broadcasts, and the softmax
//! runs lane-wise. Globals and landmarks (the same row for every lane) are broadcast.
//!
//! Every candidate class carries a lane mask built from each query's [`QueryPattern`], so the
//! candidate sets (and therefore the results, to rounding) are exactly the per-query path's;
//! a class absent from some lanes costs those lanes nothing but idle FMA lanes.

use super::avx512::exp16;
use crate::aligned::LineAligned;
use crate::attend::landmark_bias;
use crate::config::{AttnShape, SparseConfig};
use crate::pattern::QueryPattern;
use alloc::vec::Vec;
use core::arch::x86_64::*;

/// Queries per tile (the lanes of one register).
pub(crate) const TILE: usize = 16;

/// A candidate that is the same row for every lane of the tile.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fixed {
    /// Global token `j` (its key/value rows).
    Token(usize),
    /// Landmark block `b` (its block means).
    Landmark(usize),
}

/// Working memory of the tiled forward. Grows to the largest call and is reused.
#[derive(Debug, Default)]
pub(crate) struct TileScratch {
    kt: LineAligned,
    vt: LineAligned,
    /// Lane masks of the window offsets, indexed by `δ + base`.
    window: Vec<u16>,
    /// Offset classes (window first, then log-stride): `(δ, lanes)`.
    diag: Vec<(isize, u16)>,
    /// Far offsets (log-stride) while the plan is built.
    far: Vec<(isize, u16, ())>,
    /// Row classes: `(row, lanes, logit bias)`.
    fixed: Vec<(Fixed, u16, f32)>,
    /// Scores, then weights, of one head: 16 lanes per class, diag classes first.
    probs: Vec<f32>,
    /// One head's tile of queries, transposed: `qt[d * 16 + lane]`.
    qt: Vec<f32>,
}

/// Whether the tiled path serves this shape (head width a multiple of 16).
pub(crate) fn applies(shape: &AttnShape) -> bool {
    shape.head_dim.is_multiple_of(16) && shape.head_dim > 0 && shape.seq >= TILE
}

impl TileScratch {
    /// Classes of queries `i0..i0 + 16`, from each query's own pattern.
    fn plan(&mut self, cfg: &SparseConfig, n: usize, i0: usize, pattern: &mut QueryPattern) {
        let wmax = cfg.window.min(n - 1);
        let base = if cfg.causal { 0 } else { wmax };
        let nwin = base + wmax + 1;
        self.window.clear();
        self.window.resize(nwin, 0);
        self.far.clear();
        self.fixed.clear();
        for l in 0..TILE {
            let i = i0 + l;
            let bit = 1u16 << l;
            let mut at_far = 0;
            pattern.build(cfg, n, i);
            // Window key j is offset δ = i - j, at index δ + base (never negative).
            for j in pattern.lo..=pattern.hi {
                self.window[(i + base) - j] |= bit;
            }
            // Neighbouring lanes list their far offsets and blocks in the same order, so each
            // lookup tries the entry after the previous match first.
            let mut at = 0;
            for (x, &j) in pattern.extra.iter().enumerate() {
                if x < pattern.globals {
                    add_fixed(&mut self.fixed, &mut at, Fixed::Token(j), bit, 0.0);
                } else {
                    add_far(&mut self.far, &mut at_far, i as isize - j as isize, bit);
                }
            }
            for &b in &pattern.blocks {
                let bias = if cfg.landmark_log_count {
                    landmark_bias(cfg, b, n)
                } else {
                    0.0
                };
                add_fixed(&mut self.fixed, &mut at, Fixed::Landmark(b), bit, bias);
            }
        }
        self.diag.clear();
        for (idx, &m) in self.window.iter().enumerate() {
            if m != 0 {
                self.diag.push((idx as isize - base as isize, m));
            }
        }
        self.diag.extend(self.far.iter().map(|&(d, m, ())| (d, m)));
        let classes = self.diag.len() + self.fixed.len();
        if self.probs.len() < classes * TILE {
            self.probs.resize(classes * TILE, 0.0);
        }
    }
}

/// ORs `bit` into the class `key`, adding it if new; `at` is where to look first.
fn add_class<K: Copy + PartialEq, X: Copy>(
    list: &mut Vec<(K, u16, X)>,
    at: &mut usize,
    key: K,
    bit: u16,
    extra: X,
) {
    let found = match list.get(*at) {
        Some(e) if e.0 == key => Some(*at),
        _ => list.iter().position(|e| e.0 == key),
    };
    match found {
        Some(x) => {
            list[x].1 |= bit;
            *at = x + 1;
        }
        None => {
            list.push((key, bit, extra));
            *at = list.len();
        }
    }
}

fn add_fixed(fixed: &mut Vec<(Fixed, u16, f32)>, at: &mut usize, row: Fixed, bit: u16, bias: f32) {
    add_class(fixed, at, row, bit, bias);
}

fn add_far(far: &mut Vec<(isize, u16, ())>, at: &mut usize, d: isize, bit: u16) {
    add_class(far, at, d, bit, ());
}

/// In-register transpose: lane `c` of row `r` becomes lane `r` of row `c`.
#[inline(always)]
unsafe fn transpose16(r: &mut [__m512; 16]) {
    let mut a = [_mm512_setzero_ps(); 16];
    for k in 0..8 {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    let pd = _mm512_castps_pd;
    let mut b = [_mm512_setzero_ps(); 16];
    for k in 0..4 {
        let (x0, x1, x2, x3) = (
            pd(a[4 * k]),
            pd(a[4 * k + 1]),
            pd(a[4 * k + 2]),
            pd(a[4 * k + 3]),
        );
        b[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, x2));
        b[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, x2));
        b[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, x3));
        b[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, x3));
    }
    // b[4k + m], 128-bit lane L, holds column 4L + m of rows 4k..4k + 4.
    for m in 0..4 {
        let c1 = _mm512_shuffle_f32x4::<0x88>(b[m], b[4 + m]);
        let c2 = _mm512_shuffle_f32x4::<0xDD>(b[m], b[4 + m]);
        let c3 = _mm512_shuffle_f32x4::<0x88>(b[8 + m], b[12 + m]);
        let c4 = _mm512_shuffle_f32x4::<0xDD>(b[8 + m], b[12 + m]);
        r[m] = _mm512_shuffle_f32x4::<0x88>(c1, c3);
        r[4 + m] = _mm512_shuffle_f32x4::<0x88>(c2, c4);
        r[8 + m] = _mm512_shuffle_f32x4::<0xDD>(c1, c3);
        r[12 + m] = _mm512_shuffle_f32x4::<0xDD>(c2, c4);
    }
}

/// `dst[c * stride + r] = src[r * cols + c]` for `rows x cols` (`cols` a multiple of 16).
#[inline(always)]
unsafe fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], stride: usize) {
    assert!(
        cols.is_multiple_of(16)
            && src.len() >= rows * cols
            && stride >= rows
            && dst.len() >= cols * stride
    );
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    let full = rows / 16 * 16;
    for r0 in (0..full).step_by(16) {
        for c0 in (0..cols).step_by(16) {
            let mut t: [__m512; 16] =
                core::array::from_fn(|x| _mm512_loadu_ps(s.add((r0 + x) * cols + c0)));
            transpose16(&mut t);
            for (x, t) in t.iter().enumerate() {
                _mm512_storeu_ps(d.add((c0 + x) * stride + r0), *t);
            }
        }
    }
    for r in full..rows {
        for c in 0..cols {
            *d.add(c * stride + r) = *s.add(r * cols + c);
        }
    }
}

/// Scores of `U` offset classes: `dim` FMAs of the transposed queries with shifted key rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn diag_scores<const U: usize>(
    qt: *const f32,
    dim: usize,
    kt: *const f32,
    stride: usize,
    i0: usize,
    cls: &[(isize, u16)],
    scale: __m512,
    out: *mut f32,
) {
    let p: [*const f32; U] = core::array::from_fn(|u| kt.wrapping_offset(i0 as isize - cls[u].0));
    let m: [__mmask16; U] = core::array::from_fn(|u| cls[u].1);
    let mut acc = [_mm512_setzero_ps(); U];
    for x in 0..dim {
        let qv = _mm512_loadu_ps(qt.add(16 * x));
        for u in 0..U {
            // Lanes outside the class are never read: their keys may lie outside the buffer.
            let kv = _mm512_maskz_loadu_ps(m[u], p[u].wrapping_add(x * stride));
            acc[u] = _mm512_fmadd_ps(qv, kv, acc[u]);
        }
    }
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    for u in 0..U {
        let s = _mm512_mul_ps(acc[u], scale);
        _mm512_storeu_ps(out.add(16 * u), _mm512_mask_mov_ps(neg_inf, m[u], s));
    }
}

/// Scores of `U` row classes (the same key row for every lane, broadcast).
#[inline(always)]
unsafe fn fixed_scores<const U: usize>(
    qt: *const f32,
    dim: usize,
    rows: &[*const f32; U],
    cls: &[(Fixed, u16, f32)],
    scale: __m512,
    out: *mut f32,
) {
    let mut acc = [_mm512_setzero_ps(); U];
    for x in 0..dim {
        let qv = _mm512_loadu_ps(qt.add(16 * x));
        for u in 0..U {
            acc[u] = _mm512_fmadd_ps(qv, _mm512_set1_ps(*rows[u].add(x)), acc[u]);
        }
    }
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    for u in 0..U {
        let s = _mm512_fmadd_ps(acc[u], scale, _mm512_set1_ps(cls[u].2));
        _mm512_storeu_ps(out.add(16 * u), _mm512_mask_mov_ps(neg_inf, cls[u].1, s));
    }
}

/// The inputs of one tiled forward call (rows are `[seq][heads][dim]`, as `forward_into`).
pub(crate) struct TileInputs<'a> {
    pub cfg: &'a SparseConfig,
    pub shape: AttnShape,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub lm_k: &'a [f32],
    pub lm_v: &'a [f32],
}

/// Writes the output rows of queries `0..seq / 16 * 16` (the caller finishes the rest).
///
/// # Safety
/// AVX-512F, AVX2 and FMA must be available; `applies(&inputs.shape)` must hold and the slices
/// must have the shape's lengths (landmark buffers: one row per block when landmarks are on).
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn forward_tiles(
    inputs: TileInputs<'_>,
    out: &mut [f32],
    pattern: &mut QueryPattern,
    ts: &mut TileScratch,
) {
    let TileInputs {
        cfg,
        shape,
        q,
        k,
        v,
        lm_k,
        lm_v,
    } = inputs;
    let (n, dim) = (shape.seq, shape.head_dim);
    let group = shape.group();
    let kv_row = shape.kv_heads * dim;
    let q_row = shape.q_heads * dim;
    assert!(
        applies(&shape)
            && q.len() == n * q_row
            && out.len() == q.len()
            && k.len() == n * kv_row
            && v.len() == n * kv_row
    );
    // Rows of the transposed keys/values: whole lines, plus one so that the `dim` rows one
    // score reads do not all map to the same L1 set (rows 4 KiB apart alias).
    let stride = n.next_multiple_of(16) + 16;
    transpose_into(k, n, kv_row, ts.kt.get_mut(kv_row * stride), stride);
    transpose_into(v, n, kv_row, ts.vt.get_mut(kv_row * stride), stride);
    let (kt, vt) = (
        ts.kt.staged(kv_row * stride).as_ptr(),
        ts.vt.staged(kv_row * stride).as_ptr(),
    );
    if ts.qt.len() < dim * TILE {
        ts.qt.resize(dim * TILE, 0.0);
    }
    let scale = _mm512_set1_ps(1.0 / libm::sqrtf(dim as f32));
    let tiles = n / TILE;
    for t in 0..tiles {
        let i0 = t * TILE;
        ts.plan(cfg, n, i0, pattern);
        let nd = ts.diag.len();
        let nf = ts.fixed.len();
        let classes = nd + nf;
        // Every lane has at least its own key (window offset 0), so the bounds below hold.
        assert!(ts.probs.len() >= classes * TILE && classes > 0);
        for hh in 0..shape.q_heads {
            let g = hh / group;
            // The tile's query rows of this head, transposed to one register per dim.
            let qt = ts.qt.as_mut_ptr();
            for c0 in (0..dim).step_by(16) {
                let mut r: [__m512; 16] = core::array::from_fn(|l| {
                    _mm512_loadu_ps(q.as_ptr().add((i0 + l) * q_row + hh * dim + c0))
                });
                transpose16(&mut r);
                for (x, r) in r.iter().enumerate() {
                    _mm512_storeu_ps(qt.add((c0 + x) * 16), *r);
                }
            }
            let probs = ts.probs.as_mut_ptr();
            let kt_g = kt.add(g * dim * stride);
            // Scores: offset classes eight at a time, then row classes four at a time.
            let mut c = 0;
            while c + 8 <= nd {
                diag_scores::<8>(
                    qt,
                    dim,
                    kt_g,
                    stride,
                    i0,
                    &ts.diag[c..],
                    scale,
                    probs.add(16 * c),
                );
                c += 8;
            }
            while c + 2 <= nd {
                diag_scores::<2>(
                    qt,
                    dim,
                    kt_g,
                    stride,
                    i0,
                    &ts.diag[c..],
                    scale,
                    probs.add(16 * c),
                );
                c += 2;
            }
            if c < nd {
                diag_scores::<1>(
                    qt,
                    dim,
                    kt_g,
                    stride,
                    i0,
                    &ts.diag[c..],
                    scale,
                    probs.add(16 * c),
                );
            }
            let key_row = |f: Fixed| -> *const f32 {
                match f {
                    Fixed::Token(j) => k.as_ptr().add(j * kv_row + g * dim),
                    Fixed::Landmark(b) => lm_k.as_ptr().add(b * kv_row + g * dim),
                }
            };
            let mut f = 0;
            while f + 4 <= nf {
                let rows = core::array::from_fn(|u| key_row(ts.fixed[f + u].0));
                fixed_scores::<4>(
                    qt,
                    dim,
                    &rows,
                    &ts.fixed[f..],
                    scale,
                    probs.add(16 * (nd + f)),
                );
                f += 4;
            }
            while f < nf {
                let rows = [key_row(ts.fixed[f].0)];
                fixed_scores::<1>(
                    qt,
                    dim,
                    &rows,
                    &ts.fixed[f..],
                    scale,
                    probs.add(16 * (nd + f)),
                );
                f += 1;
            }
            // Lane-wise softmax (unnormalised; 1 / sum goes on the output).
            let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in 0..classes {
                mx = _mm512_max_ps(mx, _mm512_loadu_ps(probs.add(16 * c)));
            }
            let mut sum = _mm512_setzero_ps();
            for c in 0..classes {
                let lanes = if c < nd {
                    ts.diag[c].1
                } else {
                    ts.fixed[c - nd].1
                };
                let s = _mm512_loadu_ps(probs.add(16 * c));
                let e = _mm512_maskz_mov_ps(lanes, exp16(_mm512_sub_ps(s, mx)));
                _mm512_storeu_ps(probs.add(16 * c), e);
                sum = _mm512_add_ps(sum, e);
            }
            let inv = _mm512_div_ps(_mm512_set1_ps(1.0), sum);
            // Weighted values, 16 dims at a time: one accumulator per dim, lanes = queries.
            for c0 in (0..dim).step_by(16) {
                let mut acc = [_mm512_setzero_ps(); 16];
                let vt_c = vt.add((g * dim + c0) * stride);
                for (c, &(d, lanes)) in ts.diag.iter().enumerate() {
                    let p = _mm512_loadu_ps(probs.add(16 * c));
                    let base = vt_c.wrapping_offset(i0 as isize - d);
                    for (x, a) in acc.iter_mut().enumerate() {
                        let vv = _mm512_maskz_loadu_ps(lanes, base.wrapping_add(x * stride));
                        *a = _mm512_fmadd_ps(p, vv, *a);
                    }
                }
                for (f, &(row, _, _)) in ts.fixed.iter().enumerate() {
                    let p = _mm512_loadu_ps(probs.add(16 * (nd + f)));
                    let r = match row {
                        Fixed::Token(j) => v.as_ptr().add(j * kv_row + g * dim + c0),
                        Fixed::Landmark(b) => lm_v.as_ptr().add(b * kv_row + g * dim + c0),
                    };
                    for (x, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(p, _mm512_set1_ps(*r.add(x)), *a);
                    }
                }
                for a in acc.iter_mut() {
                    *a = _mm512_mul_ps(*a, inv);
                }
                transpose16(&mut acc);
                for (l, a) in acc.iter().enumerate() {
                    _mm512_storeu_ps(out.as_mut_ptr().add((i0 + l) * q_row + hh * dim + c0), *a);
                }
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn transpose_matches_scalar() {
        if !(std::is_x86_feature_detected!("avx512f")) {
            return;
        }
        for (rows, cols) in [(16usize, 16usize), (33, 32), (7, 48), (64, 16)] {
            let src: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
            let stride = rows.next_multiple_of(16);
            let mut dst = vec![0.0; cols * stride];
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn run(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], stride: usize) {
                unsafe { transpose_into(src, rows, cols, dst, stride) }
            }
            unsafe { run(&src, rows, cols, &mut dst, stride) };
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * stride + r],
                        src[r * cols + c],
                        "{rows}x{cols} at {r},{c}"
                    );
                }
            }
        }
    }
}

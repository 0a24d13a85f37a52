//! AVX-512 prefill and its backward over tiles of 16 consecutive queries, one query per lane.
//!
//! Neighbouring queries attend to the same *offsets*: query `i`'s window key `i - δ`, its
//! log-stride keys `i ∓ 2^k`. With keys and values transposed (`kt[g * dim + d][j]`), the
//! scores of 16 queries against offset `δ` are `dim` FMAs of the tile's transposed queries with
//! one 16-key slice of `kt` each, and the weighted sum is `dim` FMAs per offset into transposed
//! output rows: no horizontal reductions, no per-edge broadcasts, and the softmax runs
//! lane-wise. Offsets whose slices start in the same 16-key block (the window) share two aligned
//! loads per row and shift them with a permute; single offsets are loaded unaligned. Globals and
//! landmarks (the same row for every lane) are broadcast.
//!
//! Every candidate class carries a lane mask built from each query's [`QueryPattern`], so the
//! candidate sets (and therefore the results, to rounding) are exactly the per-query path's;
//! a class absent from some lanes costs those lanes nothing but idle FMA lanes.
//!
//! The backward repeats the scores and softmax, then runs the gradients through the same
//! classes: `dp` like a score, `d_q` like the weighted sum, and `d_k`/`d_v` the other way round,
//! into transposed gradient rows that are transposed back once at the end. A run's classes
//! are rotated into its two aligned key blocks and added in registers, so overlapping offsets
//! never read back each other's unaligned stores.

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

/// Keys and values transposed (`kt[g * dim + d][j]`), read by every tile of a call (and shared
/// by the threads of a threaded forward). Grows to the largest call and is reused.
#[derive(Debug, Default)]
pub(crate) struct TransposedKv {
    kt: LineAligned,
    vt: LineAligned,
    /// Row length of `kt` and `vt`.
    stride: usize,
}

/// Working memory of the tiled forward and backward (one per thread). Grows to the largest call
/// and is reused.
#[derive(Debug, Default)]
pub(crate) struct TileScratch {
    /// Lane masks of the window offsets, indexed by `δ + base`.
    window: Vec<u16>,
    /// Offset classes (window first, then log-stride): `(δ, lanes)`.
    diag: Vec<(isize, u16)>,
    /// Runs of `diag` whose keys start in the same 16-key block: `(first class, count, block
    /// start)`. A run reads two aligned blocks per row and shifts them per class.
    runs: Vec<(usize, usize, isize)>,
    /// `diag[..shared]` belong to `runs`; the rest are single classes.
    shared: usize,
    /// Far offsets (log-stride) while the plan is built.
    far: Vec<(isize, u16, ())>,
    /// Row classes: `(row, lanes, logit bias)`.
    fixed: Vec<(Fixed, u16, f32)>,
    /// Scores, then weights, of one head: 16 lanes per class, diag classes first.
    probs: Vec<f32>,
    /// One head's tile of queries, transposed: `qt[d * 16 + lane]`.
    qt: Vec<f32>,
    /// Backward only: the tile's output gradients transposed (as `qt`), the score gradients
    /// (16 lanes per class, as `probs`), and the key/value gradients transposed (as `kt`/`vt`)
    /// until they are transposed back into the caller's rows.
    dot: Vec<f32>,
    ds: Vec<f32>,
    dkt: LineAligned,
    dvt: LineAligned,
    /// Row length of the transposed rows of this call (`TransposedKv::stride`).
    stride: usize,
}

/// Whether the tiled path serves this shape (head width a multiple of 16).
pub(crate) fn applies(shape: &AttnShape) -> bool {
    shape.head_dim.is_multiple_of(16) && shape.head_dim > 0 && shape.seq >= TILE
}

impl TransposedKv {
    /// Reads keys and values (`[n][row]`) once: transposes them into `kt`/`vt`, writes their
    /// landmark block means (when `means` is given, as `[blocks][row]`) and returns their
    /// finiteness flags (bit 31 set: some value is NaN or infinite).
    ///
    /// # Safety
    /// AVX-512F, AVX2 and FMA must be available; `row` a multiple of 16; `k` and `v` hold
    /// `n * row` values and the means `n.div_ceil(block) * row`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn transpose_kv(
        &mut self,
        [k, v]: [&[f32]; 2],
        n: usize,
        row: usize,
        block: usize,
        means: Option<[&mut [f32]; 2]>,
    ) -> u32 {
        // Rows of the transposed keys/values: an odd number of whole lines, at least one more
        // than `n` needs. One score reads `dim` rows at the same column; with an odd line
        // stride up to 64 of them fall in distinct L1 sets, while an even one (rows 1, 2 or
        // 4 KiB apart) maps them onto a few sets and runs up to 1.5x slower.
        let lines = n.div_ceil(16) + 1;
        self.stride = 16 * (lines | 1);
        let stride = self.stride;
        let [mk, mv] = match means {
            Some([a, b]) => [Some(a), Some(b)],
            None => [None, None],
        };
        let mut flags = 0;
        for (x, m, dst) in [(k, mk, &mut self.kt), (v, mv, &mut self.vt)] {
            flags |= scan_transpose(x, n, row, block, m, dst.get_mut(row * stride), stride);
        }
        flags
    }

    /// The transposed keys and values (`row` = `kv_heads * dim` rows of `stride`).
    fn rows(&self, row: usize) -> (*const f32, *const f32) {
        let len = row * self.stride;
        (self.kt.staged(len).as_ptr(), self.vt.staged(len).as_ptr())
    }
}

impl TileScratch {
    /// Lane mask of class `c` (`nd` = offset classes).
    #[inline(always)]
    fn lanes(&self, c: usize, nd: usize) -> u16 {
        if c < nd {
            self.diag[c].1
        } else {
            self.fixed[c - nd].1
        }
    }

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
            // Window key j is offset δ = i - j, at index δ + base (never negative): keys
            // hi..=lo are indices i + base - hi ..= i + base - lo. (A slice, not a loop over an
            // inclusive range with an index each: this loop was a sixth of planning.)
            for w in &mut self.window[(i + base) - pattern.hi..=(i + base) - pattern.lo] {
                *w |= bit;
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
        // Runs of two or more classes share their blocks; single classes (the far offsets,
        // mostly) are put last and read with unaligned loads, several at a time.
        self.runs.clear();
        for (c, &(d, _)) in self.diag.iter().enumerate() {
            let a = (i0 as isize - d).div_euclid(16) * 16;
            match self.runs.last_mut() {
                Some(r) if r.2 == a => r.1 += 1,
                _ => self.runs.push((c, 1, a)),
            }
        }
        // Reorder: shared runs first, then singles (`far` is free again and holds the old order).
        let old = &mut self.far;
        old.clear();
        old.extend(self.diag.iter().map(|&(d, m)| (d, m, ())));
        self.diag.clear();
        for r in self.runs.iter_mut().filter(|r| r.1 > 1) {
            let first = self.diag.len();
            self.diag
                .extend(old[r.0..r.0 + r.1].iter().map(|&(d, m, ())| (d, m)));
            r.0 = first;
        }
        self.shared = self.diag.len();
        for r in self.runs.iter().filter(|r| r.1 == 1) {
            let (d, m, ()) = old[r.0];
            self.diag.push((d, m));
        }
        self.runs.retain(|r| r.1 > 1);
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

/// Two aligned 16-key blocks of `kt`/`vt` rows starting at key `a` (may be negative or past
/// the end: lanes outside `0..n` are not read) and which lanes of each lie inside.
#[derive(Clone, Copy)]
struct Blocks {
    lo: *const f32,
    hi: *const f32,
    lo_lanes: __mmask16,
    hi_lanes: __mmask16,
}

impl Blocks {
    #[inline(always)]
    fn new(rows: *const f32, a: isize, n: usize) -> Self {
        Self {
            lo: rows.wrapping_offset(a),
            hi: rows.wrapping_offset(a + 16),
            lo_lanes: lanes_in(a, n),
            hi_lanes: lanes_in(a + 16, n),
        }
    }

    /// Row `x`'s two blocks.
    #[inline(always)]
    unsafe fn load(&self, x: usize, stride: usize) -> (__m512, __m512) {
        (
            _mm512_maskz_loadu_ps(self.lo_lanes, self.lo.wrapping_add(x * stride)),
            _mm512_maskz_loadu_ps(self.hi_lanes, self.hi.wrapping_add(x * stride)),
        )
    }
}

/// Lanes `l` of a 16-key block starting at key `start` with `0 <= start + l < n`.
#[inline(always)]
fn lanes_in(start: isize, n: usize) -> __mmask16 {
    let lo = (-start).clamp(0, 16) as u32;
    let hi = (n as isize - start).clamp(0, 16) as u32;
    if hi <= lo {
        0
    } else {
        (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
    }
}

/// Lane `l` picks key `i0 + l - δ` out of the blocks at `a`: index `i0 - δ - a + l` (0..32).
#[inline(always)]
unsafe fn shift(i0: usize, a: isize, d: isize) -> __m512i {
    let iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    _mm512_add_epi32(iota, _mm512_set1_epi32((i0 as isize - d - a) as i32))
}

/// Scores of `U` offset classes of one run: `dim` FMAs of the transposed queries with key
/// rows shifted out of the run's two aligned blocks (no loads crossing cache lines).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn diag_scores<const U: usize>(
    qt: *const f32,
    dim: usize,
    blocks: Blocks,
    stride: usize,
    i0: usize,
    a: isize,
    cls: &[(isize, u16)],
    scale: __m512,
    out: *mut f32,
) {
    let mut idx = [_mm512_setzero_si512(); U];
    for (x, c) in idx.iter_mut().zip(cls) {
        *x = shift(i0, a, c.0);
    }
    let mut acc = [_mm512_setzero_ps(); U];
    for x in 0..dim {
        let qv = _mm512_loadu_ps(qt.add(16 * x));
        let (lo, hi) = blocks.load(x, stride);
        for u in 0..U {
            let kv = _mm512_permutex2var_ps(lo, idx[u], hi);
            acc[u] = _mm512_fmadd_ps(qv, kv, acc[u]);
        }
    }
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    for u in 0..U {
        let s = _mm512_mul_ps(acc[u], scale);
        _mm512_storeu_ps(out.add(16 * u), _mm512_mask_mov_ps(neg_inf, cls[u].1, s));
    }
}

/// Adds `U` offset classes of one run to the transposed output of 16 dims (`acc[x]`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn diag_weighted<const U: usize>(
    acc: &mut [__m512; 16],
    blocks: Blocks,
    stride: usize,
    i0: usize,
    a: isize,
    cls: &[(isize, u16)],
    probs: *const f32,
) {
    // (Loops, not `array::from_fn`: closures do not inherit the target features.)
    let (mut idx, mut p) = ([_mm512_setzero_si512(); U], [_mm512_setzero_ps(); U]);
    for u in 0..U {
        idx[u] = shift(i0, a, cls[u].0);
        p[u] = _mm512_loadu_ps(probs.add(16 * u));
    }
    for (x, acc) in acc.iter_mut().enumerate() {
        let (lo, hi) = blocks.load(x, stride);
        for u in 0..U {
            *acc = _mm512_fmadd_ps(p[u], _mm512_permutex2var_ps(lo, idx[u], hi), *acc);
        }
    }
}

/// One pass over `x` (`[n][row]`): finiteness flags, block means, transpose into `dst`.
#[inline(always)]
unsafe fn scan_transpose(
    x: &[f32],
    n: usize,
    row: usize,
    block: usize,
    mut means: Option<&mut [f32]>,
    dst: &mut [f32],
    stride: usize,
) -> u32 {
    assert!(
        row.is_multiple_of(16)
            && block > 0
            && x.len() >= n * row
            && dst.len() >= row * stride
            && means
                .as_ref()
                .is_none_or(|m| m.len() >= n.div_ceil(block) * row)
    );
    if let Some(m) = means.as_deref_mut() {
        m[..n.div_ceil(block) * row].fill(0.0);
    }
    let (s, d) = (x.as_ptr(), dst.as_mut_ptr());
    let mut flags = _mm512_setzero_si512();
    for r0 in (0..n).step_by(16) {
        let rows = (n - r0).min(16);
        // Flags and block sums (the rows stay in L1 for the transpose). Each run of rows in
        // one block adds into a register, row by row from the stored partial sum: the same
        // additions in the same order as adding into memory row by row, without a store to
        // load chain through the means for every row.
        let mut r = r0;
        while r < r0 + rows {
            let b = r / block;
            let end = ((b + 1) * block).min(r0 + rows);
            let m = means.as_deref_mut().map(|m| m.as_mut_ptr().add(b * row));
            for c in (0..row).step_by(16) {
                let mut sum = match m {
                    Some(m) => _mm512_loadu_ps(m.add(c)),
                    None => _mm512_setzero_ps(),
                };
                for rr in r..end {
                    let xv = _mm512_loadu_ps(s.add(rr * row + c));
                    flags = _mm512_or_si512(flags, finite_bits(xv));
                    sum = _mm512_add_ps(sum, xv);
                }
                if let Some(m) = m {
                    _mm512_storeu_ps(m.add(c), sum);
                }
            }
            r = end;
        }
        if rows == 16 {
            for c0 in (0..row).step_by(16) {
                let mut t = [_mm512_setzero_ps(); 16];
                for (x, t) in t.iter_mut().enumerate() {
                    *t = _mm512_loadu_ps(s.add((r0 + x) * row + c0));
                }
                transpose16(&mut t);
                for (x, t) in t.iter().enumerate() {
                    _mm512_storeu_ps(d.add((c0 + x) * stride + r0), *t);
                }
            }
        } else {
            for r in r0..n {
                for c in 0..row {
                    *d.add(c * stride + r) = *s.add(r * row + c);
                }
            }
        }
    }
    if let Some(m) = means {
        for b in 0..n.div_ceil(block) {
            let (s, e) = crate::pattern::block_range(b, block, n);
            let inv = _mm512_set1_ps(1.0 / (e - s) as f32);
            for c in (0..row).step_by(16) {
                let mp = m.as_mut_ptr().add(b * row + c);
                _mm512_storeu_ps(mp, _mm512_mul_ps(_mm512_loadu_ps(mp), inv));
            }
        }
    }
    reduce_flags(flags)
}

/// Scores of `U` single offset classes, each row read with one unaligned load.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn single_scores<const U: usize>(
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
    bias: bool,
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
        let b = if bias { cls[u].2 } else { 0.0 };
        let s = _mm512_fmadd_ps(acc[u], scale, _mm512_set1_ps(b));
        _mm512_storeu_ps(out.add(16 * u), _mm512_mask_mov_ps(neg_inf, cls[u].1, s));
    }
}

/// The inputs of one tiled call (rows are `[seq][heads][dim]`, as `forward_into`).
#[derive(Clone, Copy)]
pub(crate) struct TileInputs<'a> {
    pub cfg: &'a SparseConfig,
    pub shape: AttnShape,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub lm_k: &'a [f32],
    pub lm_v: &'a [f32],
}

impl TileInputs<'_> {
    fn check(&self, kv: &TransposedKv) {
        let (n, dim) = (self.shape.seq, self.shape.head_dim);
        let kv_row = self.shape.kv_heads * dim;
        let nb = if self.cfg.landmarks {
            n.div_ceil(self.cfg.block_size)
        } else {
            0
        };
        assert!(
            applies(&self.shape)
                && self.q.len() == n * self.shape.q_heads * dim
                && self.k.len() == n * kv_row
                && self.v.len() == n * kv_row
                && self.lm_k.len() >= nb * kv_row
                && self.lm_v.len() >= nb * kv_row
                && kv.stride >= n
        );
    }
}

impl TileInputs<'_> {
    /// Query head `hh`'s key and value rows: its KV head's transposed rows (`kt`, `vt` with row
    /// length `stride`) and the row-major tokens and landmarks.
    #[inline(always)]
    unsafe fn head_rows(
        &self,
        [kt, vt]: [*const f32; 2],
        stride: usize,
        hh: usize,
    ) -> [HeadRows; 2] {
        let dim = self.shape.head_dim;
        let off = hh / self.shape.group() * dim;
        let keys = HeadRows {
            t: kt.add(off * stride),
            tokens: self.k.as_ptr(),
            landmarks: self.lm_k.as_ptr(),
            row: self.shape.kv_heads * dim,
            off,
        };
        let values = HeadRows {
            t: vt.add(off * stride),
            tokens: self.v.as_ptr(),
            landmarks: self.lm_v.as_ptr(),
            ..keys
        };
        [keys, values]
    }
}

/// Where one head's candidate rows live: transposed token rows (`[dim][stride]`, from the
/// head's first dim) for offset classes, row-major tokens and landmarks for row classes.
#[derive(Clone, Copy)]
struct HeadRows {
    t: *const f32,
    tokens: *const f32,
    landmarks: *const f32,
    /// `kv_heads * dim` (row length of `tokens` and `landmarks`).
    row: usize,
    /// `g * dim`: the head's offset in a row.
    off: usize,
}

impl HeadRows {
    #[inline(always)]
    unsafe fn fixed(&self, f: Fixed) -> *const f32 {
        match f {
            Fixed::Token(j) => self.tokens.add(j * self.row + self.off),
            Fixed::Landmark(b) => self.landmarks.add(b * self.row + self.off),
        }
    }
}

/// Rows `i0..i0 + 16` of one head (`[seq][row]` with the head at `off`), transposed into
/// `dst[d * 16 + lane]`; returns their finiteness bits.
#[inline(always)]
unsafe fn transpose_tile(
    src: &[f32],
    row: usize,
    off: usize,
    i0: usize,
    dim: usize,
    dst: *mut f32,
) -> __m512i {
    assert!(off + dim <= row && (i0 + 16) * row <= src.len());
    let mut flags = _mm512_setzero_si512();
    for c0 in (0..dim).step_by(16) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (l, r) in r.iter_mut().enumerate() {
            *r = _mm512_loadu_ps(src.as_ptr().add((i0 + l) * row + off + c0));
        }
        for r in &r {
            flags = _mm512_or_si512(flags, finite_bits(*r));
        }
        transpose16(&mut r);
        for (x, r) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add((c0 + x) * 16), *r);
        }
    }
    flags
}

/// Every class's dot products of the transposed tile `xt` with its rows, times `scale`, plus
/// (with `bias`) the landmark bias, into `out[c * 16 + lane]`; lanes outside a class get -inf.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn class_dots(
    ts: &TileScratch,
    xt: *const f32,
    dim: usize,
    rows: HeadRows,
    n: usize,
    i0: usize,
    scale: __m512,
    bias: bool,
    out: *mut f32,
) {
    let (nd, nf, stride) = (ts.diag.len(), ts.fixed.len(), ts.stride);
    // Offset classes: runs up to eight at a time, then singles eight at a time.
    for &(first, count, a) in &ts.runs {
        let blocks = Blocks::new(rows.t, a, n);
        let (mut c, end) = (first, first + count);
        macro_rules! scores {
            ($u:literal) => {
                while end - c >= $u {
                    let cls = &ts.diag[c..c + $u];
                    let o = out.add(16 * c);
                    diag_scores::<$u>(xt, dim, blocks, stride, i0, a, cls, scale, o);
                    c += $u;
                }
            };
        }
        scores!(8);
        scores!(4);
        scores!(2);
        scores!(1);
    }
    let mut c = ts.shared;
    macro_rules! singles {
        ($u:literal) => {
            while nd - c >= $u {
                let cls = &ts.diag[c..c + $u];
                let o = out.add(16 * c);
                single_scores::<$u>(xt, dim, rows.t, stride, i0, cls, scale, o);
                c += $u;
            }
        };
    }
    singles!(8);
    singles!(2);
    singles!(1);
    // Row classes, four at a time.
    let mut f = 0;
    while f + 4 <= nf {
        let r = core::array::from_fn(|u| rows.fixed(ts.fixed[f + u].0));
        let o = out.add(16 * (nd + f));
        fixed_scores::<4>(xt, dim, &r, &ts.fixed[f..], scale, bias, o);
        f += 4;
    }
    while f < nf {
        let r = [rows.fixed(ts.fixed[f].0)];
        let o = out.add(16 * (nd + f));
        fixed_scores::<1>(xt, dim, &r, &ts.fixed[f..], scale, bias, o);
        f += 1;
    }
}

/// Lane-wise softmax of the scores in `p` (16 lanes per class), in place and unnormalised;
/// returns `1 / sum` per lane.
#[inline(always)]
unsafe fn softmax_lanes(ts: &TileScratch, p: *mut f32) -> __m512 {
    let (nd, classes) = (ts.diag.len(), ts.diag.len() + ts.fixed.len());
    let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in 0..classes {
        mx = _mm512_max_ps(mx, _mm512_loadu_ps(p.add(16 * c)));
    }
    let mut sum = _mm512_setzero_ps();
    for c in 0..classes {
        let lanes = ts.lanes(c, nd);
        let s = _mm512_loadu_ps(p.add(16 * c));
        let e = _mm512_maskz_mov_ps(lanes, exp16(_mm512_sub_ps(s, mx)));
        _mm512_storeu_ps(p.add(16 * c), e);
        sum = _mm512_add_ps(sum, e);
    }
    _mm512_div_ps(_mm512_set1_ps(1.0), sum)
}

/// `out[lane][off + d] = mul * sum_c w[c][lane] * row_c[d]` for the tile's 16 rows (`out` points
/// at the tile's first row).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn class_weighted(
    ts: &TileScratch,
    w: *const f32,
    dim: usize,
    rows: HeadRows,
    n: usize,
    i0: usize,
    mul: __m512,
    out: *mut f32,
    out_row: usize,
    out_off: usize,
) {
    let (nd, stride) = (ts.diag.len(), ts.stride);
    for c0 in (0..dim).step_by(16) {
        let mut acc = [_mm512_setzero_ps(); 16];
        let t_c = rows.t.add(c0 * stride);
        for &(first, count, a) in &ts.runs {
            let blocks = Blocks::new(t_c, a, n);
            let (mut c, end) = (first, first + count);
            macro_rules! weighted {
                ($u:literal) => {
                    while end - c >= $u {
                        let cls = &ts.diag[c..c + $u];
                        diag_weighted::<$u>(&mut acc, blocks, stride, i0, a, cls, w.add(16 * c));
                        c += $u;
                    }
                };
            }
            weighted!(4);
            weighted!(2);
            weighted!(1);
        }
        for (c, &(d, lanes)) in ts.diag.iter().enumerate().skip(ts.shared) {
            let p = _mm512_loadu_ps(w.add(16 * c));
            let base = t_c.wrapping_offset(i0 as isize - d);
            for (x, a) in acc.iter_mut().enumerate() {
                let vv = _mm512_maskz_loadu_ps(lanes, base.wrapping_add(x * stride));
                *a = _mm512_fmadd_ps(p, vv, *a);
            }
        }
        for (f, &(row, _, _)) in ts.fixed.iter().enumerate() {
            let p = _mm512_loadu_ps(w.add(16 * (nd + f)));
            let r = rows.fixed(row).add(c0);
            for (x, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(p, _mm512_set1_ps(*r.add(x)), *a);
            }
        }
        for a in acc.iter_mut() {
            *a = _mm512_mul_ps(*a, mul);
        }
        transpose16(&mut acc);
        for (l, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(out.add(l * out_row + out_off + c0), *a);
        }
    }
}

/// Writes the output rows of the queries of `tiles` (tile `t` holds queries `16 t..16 t + 16`;
/// `out` holds exactly their rows) from the keys and values [`TransposedKv::transpose_kv`]
/// transposed; returns the finiteness flags of the query rows read (bit 31 set: some value is
/// NaN or infinite). The caller finishes the last `seq % 16` rows.
///
/// # Safety
/// AVX-512F, AVX2 and FMA must be available; `applies(&inputs.shape)` must hold, the slices
/// must have the shape's lengths (landmark buffers: one row per block when landmarks are on),
/// and `transpose_kv` must have run on this call's keys and values.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn forward_tiles(
    inputs: TileInputs<'_>,
    out: &mut [f32],
    tiles: core::ops::Range<usize>,
    kv: &TransposedKv,
    pattern: &mut QueryPattern,
    ts: &mut TileScratch,
) -> u32 {
    inputs.check(kv);
    let TileInputs { cfg, shape, q, .. } = inputs;
    let (n, dim) = (shape.seq, shape.head_dim);
    let (kv_row, q_row) = (shape.kv_heads * dim, shape.q_heads * dim);
    assert!(tiles.end <= n / TILE && out.len() == tiles.len() * TILE * q_row);
    let row0 = tiles.start * TILE;
    ts.stride = kv.stride;
    let stride = ts.stride;
    let (kt, vt) = kv.rows(kv_row);
    if ts.qt.len() < dim * TILE {
        ts.qt.resize(dim * TILE, 0.0);
    }
    let scale = _mm512_set1_ps(1.0 / libm::sqrtf(dim as f32));
    let mut flags = _mm512_setzero_si512();
    for t in tiles {
        let i0 = t * TILE;
        ts.plan(cfg, n, i0, pattern);
        for hh in 0..shape.q_heads {
            let [keys, values] = inputs.head_rows([kt, vt], stride, hh);
            let qt = ts.qt.as_mut_ptr();
            flags = _mm512_or_si512(flags, transpose_tile(q, q_row, hh * dim, i0, dim, qt));
            let p = ts.probs.as_mut_ptr();
            class_dots(ts, qt, dim, keys, n, i0, scale, true, p);
            let inv = softmax_lanes(ts, p);
            let o = out.as_mut_ptr().add((i0 - row0) * q_row);
            class_weighted(ts, p, dim, values, n, i0, inv, o, q_row, hh * dim);
        }
    }
    reduce_flags(flags)
}

/// The gradient buffers of one tiled backward call (rows `[seq][heads][dim]`, as `forward_into`).
/// The key/value gradients stay transposed in the `TileScratch` until
/// [`TileScratch::untranspose_grads`].
pub(crate) struct TileGrads<'a> {
    pub d_out: &'a [f32],
    /// Written: the `d_q` rows of exactly the call's tiles.
    pub d_q: &'a mut [f32],
    /// Added to: landmark block means' gradients (`[blocks][kv_heads * dim]`).
    pub d_lm_k: &'a mut [f32],
    pub d_lm_v: &'a mut [f32],
}

/// Scatters the weights `w` (16 lanes per offset class) times the transposed tile `xt` into
/// transposed gradient rows `t` (`[dim][stride]` from the head's first dim): lane `l` of class
/// `δ` adds to key `i0 + l - δ`. Only keys inside `0..n` are read and written.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn diag_scatter(
    ts: &TileScratch,
    w: *const f32,
    xt: *const f32,
    dim: usize,
    t: *mut f32,
    n: usize,
    i0: usize,
) {
    let stride = ts.stride;
    for &(first, count, a) in &ts.runs {
        let (mut c, end) = (first, first + count);
        macro_rules! scatter {
            ($u:literal) => {
                while end - c >= $u {
                    let cls = &ts.diag[c..c + $u];
                    run_scatter::<$u>(t, stride, dim, n, i0, a, cls, w.add(16 * c), xt);
                    c += $u;
                }
            };
        }
        scatter!(8);
        scatter!(4);
        scatter!(2);
        scatter!(1);
    }
    for (c, &(d, lanes)) in ts.diag.iter().enumerate().skip(ts.shared) {
        let wv = _mm512_loadu_ps(w.add(16 * c));
        let base = t.wrapping_offset(i0 as isize - d);
        for x in 0..dim {
            let p = base.wrapping_add(x * stride);
            let xv = _mm512_loadu_ps(xt.add(16 * x));
            let cur = _mm512_maskz_loadu_ps(lanes, p);
            _mm512_mask_storeu_ps(p, lanes, _mm512_fmadd_ps(wv, xv, cur));
        }
    }
}

/// `diag_scatter` for `U` classes of one run, whose keys all fall in the two aligned 16-key
/// blocks at `a`: the blocks are read and written once per row (aligned, in registers between)
/// and each class's lanes are rotated onto them with a permute. Class `δ` starts at lane
/// `s = i0 - δ - a` of the pair, so key lane `m` of the low block takes query lane `m - s`
/// (`m >= s`) and of the high block query lane `m + 16 - s` (`m < s`): one rotation by `s`
/// serves both, split by mask.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_scatter<const U: usize>(
    t: *mut f32,
    stride: usize,
    dim: usize,
    n: usize,
    i0: usize,
    a: isize,
    cls: &[(isize, u16)],
    w: *const f32,
    xt: *const f32,
) {
    let (lo_lanes, hi_lanes) = (lanes_in(a, n), lanes_in(a + 16, n));
    let (lo_p, hi_p) = (t.wrapping_offset(a), t.wrapping_offset(a + 16));
    let iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    let (mut idx, mut w_lo, mut w_hi) = (
        [_mm512_setzero_si512(); U],
        [_mm512_setzero_ps(); U],
        [_mm512_setzero_ps(); U],
    );
    for u in 0..U {
        let s = (i0 as isize - cls[u].0 - a) as u32;
        idx[u] = _mm512_and_si512(
            _mm512_sub_epi32(iota, _mm512_set1_epi32(s as i32)),
            _mm512_set1_epi32(15),
        );
        // Weights are zero outside the class, so only the block split needs a mask.
        let rotated = _mm512_permutexvar_ps(idx[u], _mm512_loadu_ps(w.add(16 * u)));
        let low = (0xffff_u32 << s) as __mmask16;
        w_lo[u] = _mm512_maskz_mov_ps(low, rotated);
        w_hi[u] = _mm512_maskz_mov_ps(!low, rotated);
    }
    for x in 0..dim {
        let (lp, hp) = (lo_p.wrapping_add(x * stride), hi_p.wrapping_add(x * stride));
        let mut lo = _mm512_maskz_loadu_ps(lo_lanes, lp);
        let mut hi = _mm512_maskz_loadu_ps(hi_lanes, hp);
        let xv = _mm512_loadu_ps(xt.add(16 * x));
        for u in 0..U {
            let r = _mm512_permutexvar_ps(idx[u], xv);
            lo = _mm512_fmadd_ps(w_lo[u], r, lo);
            hi = _mm512_fmadd_ps(w_hi[u], r, hi);
        }
        _mm512_mask_storeu_ps(lp, lo_lanes, lo);
        _mm512_mask_storeu_ps(hp, hi_lanes, hi);
    }
}

/// Adds, for every row class, `sum_l w[c][l] * src[i0 + l][off..off + dim]` to its gradient
/// row: the global token's column of the transposed `tokens` (`[dim][stride]` from the head's
/// first dim) or the landmark block's row of `landmarks` (`[blocks][row]`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn fixed_scatter(
    ts: &TileScratch,
    w: *const f32,
    src: *const f32,
    src_row: usize,
    i0: usize,
    dim: usize,
    dst: [*mut f32; 2],
    row: usize,
    off: usize,
) {
    let (nd, nf) = (ts.diag.len(), ts.fixed.len());
    let mut f = 0;
    macro_rules! group {
        ($u:literal) => {
            while nf - f >= $u {
                let cls = &ts.fixed[f..f + $u];
                let wf = w.add(16 * (nd + f));
                fixed_group::<$u>(ts, cls, wf, src, src_row, i0, dim, dst, row, off);
                f += $u;
            }
        };
    }
    group!(8);
    group!(4);
    group!(1);
}

/// `fixed_scatter` for `U` row classes: each source row is loaded once for all of them.
/// Weights are zero outside a class's lanes, so every lane is summed without a branch.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn fixed_group<const U: usize>(
    ts: &TileScratch,
    cls: &[(Fixed, u16, f32)],
    w: *const f32,
    src: *const f32,
    src_row: usize,
    i0: usize,
    dim: usize,
    [tokens, landmarks]: [*mut f32; 2],
    row: usize,
    off: usize,
) {
    for c0 in (0..dim).step_by(16) {
        let mut acc = [_mm512_setzero_ps(); U];
        for l in 0..TILE {
            let x = _mm512_loadu_ps(src.add((i0 + l) * src_row + c0));
            for (u, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*w.add(16 * u + l)), x, *acc);
            }
        }
        for (acc, &(fixed, _, _)) in acc.iter().zip(cls) {
            match fixed {
                Fixed::Token(j) => {
                    // A handful of globals: sixteen scalar adds down the column.
                    let mut g = [0.0f32; 16];
                    _mm512_storeu_ps(g.as_mut_ptr(), *acc);
                    for (x, g) in g.iter().enumerate() {
                        *tokens.add((c0 + x) * ts.stride + j) += g;
                    }
                }
                Fixed::Landmark(b) => {
                    let d = landmarks.add(b * row + off + c0);
                    _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), *acc));
                }
            }
        }
    }
}

/// `rows[j][c] = t[c][j]` (with `add`: `+=`) for `j < n`, `c < row` (`t` transposed with row
/// length `stride`).
#[inline(always)]
unsafe fn untranspose(
    rows: &mut [f32],
    t: *const f32,
    n: usize,
    row: usize,
    stride: usize,
    add: bool,
) {
    assert!(rows.len() >= n * row && row.is_multiple_of(16));
    let r = rows.as_mut_ptr();
    let full = n / 16 * 16;
    for j0 in (0..full).step_by(16) {
        for c0 in (0..row).step_by(16) {
            let mut b = [_mm512_setzero_ps(); 16];
            for (x, b) in b.iter_mut().enumerate() {
                *b = _mm512_loadu_ps(t.add((c0 + x) * stride + j0));
            }
            transpose16(&mut b);
            for (l, b) in b.iter().enumerate() {
                let p = r.add((j0 + l) * row + c0);
                let v = if add {
                    _mm512_add_ps(_mm512_loadu_ps(p), *b)
                } else {
                    *b
                };
                _mm512_storeu_ps(p, v);
            }
        }
    }
    for j in full..n {
        for c in 0..row {
            let v = *t.add(c * stride + j);
            let p = r.add(j * row + c);
            *p = if add { *p + v } else { v };
        }
    }
}

impl TileScratch {
    /// Writes (with `add`: adds) the key and value gradients the last [`backward_tiles`] left
    /// transposed here into `d_k` / `d_v` (`[n][row]`).
    ///
    /// # Safety
    /// AVX-512F, AVX2 and FMA must be available; `backward_tiles` must have run with this
    /// scratch for a sequence of `n` and rows of `row` floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn untranspose_grads(
        &self,
        [d_k, d_v]: [&mut [f32]; 2],
        n: usize,
        row: usize,
        add: bool,
    ) {
        let len = row * self.stride;
        assert!(self.stride >= n);
        untranspose(d_k, self.dkt.staged(len).as_ptr(), n, row, self.stride, add);
        untranspose(d_v, self.dvt.staged(len).as_ptr(), n, row, self.stride, add);
    }
}

/// The backward of [`forward_tiles`] for the queries of `tiles` (tile `t` holds queries
/// `16 t..16 t + 16`): writes their `d_q` rows (`grads.d_q` holds exactly those rows), adds
/// their landmark gradients, and leaves their share of the key and value gradients transposed
/// in `ts` (zeroed first) for [`TileScratch::untranspose_grads`]; returns the finiteness flags
/// of the query and output-gradient rows read. Per tile and head, in lanes: the scores and
/// softmax again, `dp = d_out · v` per class, `ds = p (dp - Σ p dp) / sqrt(dim)`, then
/// `d_q = Σ ds k` (transposed back like the forward's output), and `d_k += ds q`,
/// `d_v += p d_out` into transposed rows (landmark classes: row by row).
///
/// # Safety
/// As [`forward_tiles`]; `d_out` must have the length of `q` and the landmark gradients that
/// of the landmark means.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn backward_tiles(
    inputs: TileInputs<'_>,
    grads: TileGrads<'_>,
    tiles: core::ops::Range<usize>,
    kv: &TransposedKv,
    pattern: &mut QueryPattern,
    ts: &mut TileScratch,
) -> u32 {
    inputs.check(kv);
    let TileInputs {
        cfg,
        shape,
        q,
        k,
        v,
        ..
    } = inputs;
    let TileGrads {
        d_out,
        d_q,
        d_lm_k,
        d_lm_v,
    } = grads;
    let (n, dim) = (shape.seq, shape.head_dim);
    let (kv_row, q_row) = (shape.kv_heads * dim, shape.q_heads * dim);
    assert!(
        d_out.len() == q.len()
            && tiles.end <= n / TILE
            && d_q.len() == tiles.len() * TILE * q_row
            && k.len() == v.len()
            && d_lm_v.len() == d_lm_k.len()
            && (!cfg.landmarks || d_lm_k.len() >= n.div_ceil(cfg.block_size) * kv_row)
    );
    let row0 = tiles.start * TILE;
    ts.stride = kv.stride;
    let stride = ts.stride;
    let (kt, vt) = kv.rows(kv_row);
    let dkt = ts.dkt.get_mut(kv_row * stride);
    dkt.fill(0.0);
    let dkt = dkt.as_mut_ptr();
    let dvt = ts.dvt.get_mut(kv_row * stride);
    dvt.fill(0.0);
    let dvt = dvt.as_mut_ptr();
    for buf in [&mut ts.qt, &mut ts.dot] {
        if buf.len() < dim * TILE {
            buf.resize(dim * TILE, 0.0);
        }
    }
    let scale = _mm512_set1_ps(1.0 / libm::sqrtf(dim as f32));
    let one = _mm512_set1_ps(1.0);
    let mut flags = _mm512_setzero_si512();
    for t in tiles {
        let i0 = t * TILE;
        ts.plan(cfg, n, i0, pattern);
        let (nd, classes) = (ts.diag.len(), ts.diag.len() + ts.fixed.len());
        if ts.ds.len() < classes * TILE {
            ts.ds.resize(classes * TILE, 0.0);
        }
        for hh in 0..shape.q_heads {
            let [keys, values] = inputs.head_rows([kt, vt], stride, hh);
            let off = keys.off;
            let (qt, dot) = (ts.qt.as_mut_ptr(), ts.dot.as_mut_ptr());
            flags = _mm512_or_si512(flags, transpose_tile(q, q_row, hh * dim, i0, dim, qt));
            flags = _mm512_or_si512(flags, transpose_tile(d_out, q_row, hh * dim, i0, dim, dot));
            let (p, ds) = (ts.probs.as_mut_ptr(), ts.ds.as_mut_ptr());
            class_dots(ts, qt, dim, keys, n, i0, scale, true, p);
            let inv = softmax_lanes(ts, p);
            class_dots(ts, dot, dim, values, n, i0, one, false, ds);
            // ds = p (dp - delta) * scale with delta = sum_c p dp, lanes outside a class 0.
            let mut delta = _mm512_setzero_ps();
            for c in 0..classes {
                let lanes = ts.lanes(c, nd);
                // Masked: a lane whose sum overflowed has `inv` NaN, and the scatters rely on
                // weights being zero outside each class's lanes.
                let pc = _mm512_maskz_mul_ps(lanes, _mm512_loadu_ps(p.add(16 * c)), inv);
                _mm512_storeu_ps(p.add(16 * c), pc);
                let dp = _mm512_maskz_mov_ps(lanes, _mm512_loadu_ps(ds.add(16 * c)));
                _mm512_storeu_ps(ds.add(16 * c), dp);
                delta = _mm512_fmadd_ps(pc, dp, delta);
            }
            for c in 0..classes {
                let lanes = ts.lanes(c, nd);
                let pc = _mm512_loadu_ps(p.add(16 * c));
                let dp = _mm512_loadu_ps(ds.add(16 * c));
                let g = _mm512_mul_ps(_mm512_mul_ps(pc, _mm512_sub_ps(dp, delta)), scale);
                _mm512_storeu_ps(ds.add(16 * c), _mm512_maskz_mov_ps(lanes, g));
            }
            let dq = d_q.as_mut_ptr().add((i0 - row0) * q_row);
            class_weighted(ts, ds, dim, keys, n, i0, one, dq, q_row, hh * dim);
            diag_scatter(ts, ds, qt, dim, dkt.add(off * stride), n, i0);
            diag_scatter(ts, p, dot, dim, dvt.add(off * stride), n, i0);
            let qh = q.as_ptr().add(hh * dim);
            let doh = d_out.as_ptr().add(hh * dim);
            let (dk, dlk) = (dkt.add(off * stride), d_lm_k.as_mut_ptr());
            fixed_scatter(ts, ds, qh, q_row, i0, dim, [dk, dlk], kv_row, off);
            let (dv, dlv) = (dvt.add(off * stride), d_lm_v.as_mut_ptr());
            fixed_scatter(ts, p, doh, q_row, i0, dim, [dv, dlv], kv_row, off);
        }
    }
    reduce_flags(flags)
}

/// Per lane, bit 31 set iff the value is NaN or infinite (see `sparse::finite_flags`).
#[inline(always)]
unsafe fn finite_bits(v: __m512) -> __m512i {
    let bits = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7f80_0000));
    _mm512_add_epi32(bits, _mm512_set1_epi32(0x0080_0000))
}

#[inline(always)]
unsafe fn reduce_flags(flags: __m512i) -> u32 {
    _mm512_reduce_or_epi32(flags) as u32
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn scan_transposes_sums_blocks_and_flags() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn run(
            x: &[f32],
            n: usize,
            row: usize,
            block: usize,
            m: &mut [f32],
            d: &mut [f32],
            stride: usize,
        ) -> u32 {
            unsafe { scan_transpose(x, n, row, block, Some(m), d, stride) }
        }
        for (n, row, block) in [
            (16usize, 16usize, 16usize),
            (33, 32, 7),
            (7, 48, 32),
            (64, 16, 1),
        ] {
            let mut x: Vec<f32> = (0..n * row).map(|v| (v as f32 * 0.37).sin()).collect();
            let stride = n.next_multiple_of(16) + 16;
            let nb = n.div_ceil(block);
            let (mut m, mut d) = (vec![f32::NAN; nb * row], vec![0.0; row * stride]);
            assert_eq!(
                unsafe { run(&x, n, row, block, &mut m, &mut d, stride) } & 0x8000_0000,
                0
            );
            for r in 0..n {
                for c in 0..row {
                    assert_eq!(d[c * stride + r], x[r * row + c], "{n}x{row} at {r},{c}");
                }
            }
            for b in 0..nb {
                let (s, e) = crate::pattern::block_range(b, block, n);
                for c in 0..row {
                    let mean = (s..e).map(|r| x[r * row + c]).sum::<f32>() / (e - s) as f32;
                    assert!((m[b * row + c] - mean).abs() < 1e-6, "block {b} col {c}");
                }
            }
            x[n * row - 1] = f32::INFINITY;
            assert_ne!(
                unsafe { run(&x, n, row, block, &mut m, &mut d, stride) } & 0x8000_0000,
                0
            );
        }
    }
}

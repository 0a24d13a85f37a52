//! Vector primitives behind one trait, so each kernel is written once and compiled per ISA.
//!
//! `Scalar` builds everywhere (no_std, RISC-V, Xtensa). `Avx2` is selected at run time on x86_64
//! when the `std` feature can detect AVX2+FMA, or at compile time when those target features are
//! enabled. Kernels are generic over `Isa` and `#[inline(always)]` down to the entry point, which
//! carries `#[target_feature]`, so the intrinsics inline into AVX2 code.

/// The operations every kernel is built from.
pub(crate) trait Isa: Copy {
    /// `sum(a[i] * b[i])`; `a.len() == b.len()`.
    fn dot(a: &[f32], b: &[f32]) -> f32;
    /// `y += alpha * x`.
    fn axpy(y: &mut [f32], alpha: f32, x: &[f32]);
    /// `y *= alpha`.
    fn scale(y: &mut [f32], alpha: f32);
    /// `s[i] = exp(s[i] - shift)`, returns the sum of the results.
    fn exp_shift_sum(s: &mut [f32], shift: f32) -> f32;
    /// Hints that `row` (a key/value row about to be read) should be brought into cache.
    #[inline(always)]
    fn prefetch(_row: &[f32]) {}

    /// Largest element (`-inf` for an empty slice).
    fn max(s: &[f32]) -> f32 {
        s.iter()
            .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
    }

    /// Scores of every query head against a query's whole candidate list. `offs[c]` is the
    /// offset of candidate `c`'s KV-head-0 row: in `tok` for `c < n_tok`, in `lm` after.
    /// `out[hh * stride + c] = dot(q_hh, row_c(g)) * scale`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn scores_list(
        q: &[f32],
        heads: Heads,
        tok: &[f32],
        lm: &[f32],
        offs: &[usize],
        n_tok: usize,
        scale: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        per_candidate_scores::<Self>(q, heads, tok, lm, offs, n_tok, scale, out, stride)
    }

    /// `scores_list`, then per head `out_hh = exp(s_hh - max s_hh)` and `inv[hh] = 1 / sum`
    /// (0 when the sum is 0): the unnormalised softmax weights of every query head.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn exp_scores_list(
        q: &[f32],
        heads: Heads,
        tok: &[f32],
        lm: &[f32],
        offs: &[usize],
        n_tok: usize,
        scale: f32,
        out: &mut [f32],
        stride: usize,
        inv: &mut [f32],
    ) {
        Self::scores_list(q, heads, tok, lm, offs, n_tok, scale, out, stride);
        exp_rows::<Self>(out, offs.len(), stride, inv);
    }

    /// `out_hh = sum_c w[hh * stride + c] * row_c(g)` over a whole candidate list (overwrites).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn weighted_list(
        out: &mut [f32],
        heads: Heads,
        tok: &[f32],
        lm: &[f32],
        offs: &[usize],
        n_tok: usize,
        w: &[f32],
        stride: usize,
    ) {
        per_candidate_weighted::<Self>(out, heads, tok, lm, offs, n_tok, w, stride)
    }

    /// The transpose of `weighted_list`: `row_c(g) += sum_{hh in g} w[hh * stride + c] * src_hh`
    /// into `tok` (`c < n_tok`) or `lm` rows (backward's scatter into key/value gradients).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn scatter_list(
        tok: &mut [f32],
        lm: &mut [f32],
        offs: &[usize],
        n_tok: usize,
        heads: Heads,
        src: &[f32],
        w: &[f32],
        stride: usize,
    ) {
        per_candidate_scatter::<Self>(tok, lm, offs, n_tok, heads, src, w, stride)
    }

    /// `scatter_list` turned key-major, for the backward's local window: into one key/value
    /// row `dst` (`kv_heads * d` wide), `dst_g += sum_s sum_{hh in g} w[w_at[s] + hh *
    /// w_stride] * src_hh(first + s)`, where source `s` is the query row `first + s` of `src`
    /// (`q_heads * d` wide). The row is read and written once for all its queries.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn gather_rows(
        dst: &mut [f32],
        heads: Heads,
        src: &[f32],
        first: usize,
        w: &[f32],
        w_at: &[usize],
        w_stride: usize,
    ) {
        per_row_gather::<Self>(dst, heads, src, first, w, w_at, w_stride)
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn per_row_gather<I: Isa>(
    dst: &mut [f32],
    heads: Heads,
    src: &[f32],
    first: usize,
    w: &[f32],
    w_at: &[usize],
    w_stride: usize,
) {
    let d = heads.d;
    let row = heads.q_heads * d;
    for (s, &at) in w_at.iter().enumerate() {
        let src_row = &src[(first + s) * row..(first + s + 1) * row];
        for hh in 0..heads.q_heads {
            let g = hh / heads.group;
            I::axpy(
                &mut dst[g * d..(g + 1) * d],
                w[at + hh * w_stride],
                &src_row[hh * d..(hh + 1) * d],
            );
        }
    }
}

/// Per row of `count` scores (rows `stride` apart, one per `inv` entry): `exp(s - max)` in
/// place and `1 / sum` into `inv` (0 when the sum is 0).
#[inline(always)]
pub(crate) fn exp_rows<I: Isa>(s: &mut [f32], count: usize, stride: usize, inv: &mut [f32]) {
    // Every row's max first (parked in `inv`), then the exponentials: the rows are
    // independent, and in this order the core overlaps their latency chains.
    for (hh, m) in inv.iter_mut().enumerate() {
        *m = I::max(&s[hh * stride..hh * stride + count]);
    }
    for (hh, inv) in inv.iter_mut().enumerate() {
        let sum = I::exp_shift_sum(&mut s[hh * stride..hh * stride + count], *inv);
        *inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
    }
}

// The list operations one candidate and one head at a time, from `dot` and `axpy`: the scalar
// path, and the AVX2 path's fallback for head widths it has no specialisation for.

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn per_candidate_scores<I: Isa>(
    q: &[f32],
    heads: Heads,
    tok: &[f32],
    lm: &[f32],
    offs: &[usize],
    n_tok: usize,
    scale: f32,
    out: &mut [f32],
    stride: usize,
) {
    let d = heads.d;
    for (c, &o) in offs.iter().enumerate() {
        let base = if c < n_tok { tok } else { lm };
        for hh in 0..heads.q_heads {
            let r = &base[o + (hh / heads.group) * d..][..d];
            out[hh * stride + c] = I::dot(&q[hh * d..(hh + 1) * d], r) * scale;
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn per_candidate_weighted<I: Isa>(
    out: &mut [f32],
    heads: Heads,
    tok: &[f32],
    lm: &[f32],
    offs: &[usize],
    n_tok: usize,
    w: &[f32],
    stride: usize,
) {
    let d = heads.d;
    out[..heads.q_heads * d].fill(0.0);
    for (c, &o) in offs.iter().enumerate() {
        let base = if c < n_tok { tok } else { lm };
        for hh in 0..heads.q_heads {
            let r = &base[o + (hh / heads.group) * d..][..d];
            I::axpy(&mut out[hh * d..(hh + 1) * d], w[hh * stride + c], r);
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn per_candidate_scatter<I: Isa>(
    tok: &mut [f32],
    lm: &mut [f32],
    offs: &[usize],
    n_tok: usize,
    heads: Heads,
    src: &[f32],
    w: &[f32],
    stride: usize,
) {
    let d = heads.d;
    for (c, &o) in offs.iter().enumerate() {
        let base: &mut [f32] = if c < n_tok { &mut *tok } else { &mut *lm };
        for hh in 0..heads.q_heads {
            let g = hh / heads.group;
            I::axpy(
                &mut base[o + g * d..o + (g + 1) * d],
                w[hh * stride + c],
                &src[hh * d..(hh + 1) * d],
            );
        }
    }
}

/// Head layout of one call: `q_heads` query heads of dimension `d`, `group` per KV head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    pub q_heads: usize,
    pub group: usize,
    pub d: usize,
}

// Cephes-style single-precision exp: range reduction by ln 2 in two parts, then a degree-6
// polynomial. Relative error is about 1e-7 over the range used by softmax (x <= 0).
const EXP_HI: f32 = 88.376_26;
const EXP_LO: f32 = -87.336_55;
const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const P0: f32 = 1.987_569_1e-4;
const P1: f32 = 1.398_199_9e-3;
const P2: f32 = 8.333_452e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_5e-1;
const P5: f32 = 0.5;

/// Scalar exp with the same polynomial as the vector paths.
#[inline(always)]
pub(crate) fn exp_scalar(x: f32) -> f32 {
    let x = x.clamp(EXP_LO, EXP_HI);
    // floor(t) for |t| < 2^31 without a libm call.
    let t = x * LOG2E + 0.5;
    let ti = t as i32 as f32;
    let fx = if ti > t { ti - 1.0 } else { ti };
    let r = x - fx * LN2_HI - fx * LN2_LO;
    let r2 = r * r;
    let p = (((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5) * r2 + r + 1.0;
    // 2^fx by building the exponent bits; fx is in [-126, 128] after the clamp.
    let e = ((fx as i32 + 127).clamp(0, 255) as u32) << 23;
    let result = p * f32::from_bits(e);
    if fx >= 128.0 {
        // 2^128 is not representable; split the scaling.
        p * 2.0 * f32::from_bits(254 << 23)
    } else {
        result
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Scalar;

impl Isa for Scalar {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // Eight independent partial sums: the compiler keeps them in vector lanes where it can.
        let mut acc = [0.0f32; 8];
        let chunks = a.len() / 8;
        for c in 0..chunks {
            let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut tail = 0.0;
        for i in chunks * 8..a.len() {
            tail += a[i] * b[i];
        }
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }

    #[inline(always)]
    fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }

    #[inline(always)]
    fn scale(y: &mut [f32], alpha: f32) {
        for yi in y {
            *yi *= alpha;
        }
    }

    #[inline(always)]
    fn exp_shift_sum(s: &mut [f32], shift: f32) -> f32 {
        let mut sum = 0.0;
        for x in s {
            *x = exp_scalar(*x - shift);
            sum += *x;
        }
        sum
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx2;

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::Avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) mod tile;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use core::arch::x86_64::*;

    /// AVX2 + FMA. Only constructed after the CPU has been checked (or the build targets it).
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2;

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
        _mm_cvtss_f32(s)
    }

    /// Lane mask with the first `rest` (1..=7) lanes set.
    #[inline(always)]
    unsafe fn tail_mask(rest: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(rest as i32), idx)
    }

    #[inline(always)]
    unsafe fn exp8(x: __m256) -> __m256 {
        // max/min return their second operand when either is NaN: keep x second so NaN
        // scores stay NaN (documented: an overflowing row becomes NaN, never silently finite).
        let x = _mm256_min_ps(
            _mm256_set1_ps(EXP_HI),
            _mm256_max_ps(_mm256_set1_ps(EXP_LO), x),
        );
        let fx = _mm256_floor_ps(_mm256_fmadd_ps(
            x,
            _mm256_set1_ps(LOG2E),
            _mm256_set1_ps(0.5),
        ));
        let r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(LN2_LO), r);
        let r2 = _mm256_mul_ps(r, r);
        let mut p = _mm256_set1_ps(P0);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P5));
        p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        // fx <= 128; 2^128 overflows the exponent field, so scale by 2^(fx-1) * 2.
        let k = _mm256_cvtps_epi32(_mm256_sub_ps(fx, _mm256_set1_ps(1.0)));
        let pow = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_max_epi32(
                _mm256_add_epi32(k, _mm256_set1_epi32(127)),
                _mm256_setzero_si256(),
            ),
            23,
        ));
        _mm256_mul_ps(_mm256_mul_ps(p, pow), _mm256_set1_ps(2.0))
    }

    /// Sums of four vectors' lanes, as one 4-lane vector: `[sum(a), sum(b), sum(c), sum(d)]`.
    #[inline(always)]
    pub(super) unsafe fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
        let ab = _mm256_hadd_ps(a, b);
        let cd = _mm256_hadd_ps(c, d);
        let abcd = _mm256_hadd_ps(ab, cd);
        _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1))
    }

    #[inline(always)]
    unsafe fn dot_row<const C: usize>(qr: &[__m256; C], r: *const f32) -> __m256 {
        let mut a = _mm256_mul_ps(qr[0], _mm256_loadu_ps(r));
        for (x, qx) in qr.iter().enumerate().skip(1) {
            a = _mm256_fmadd_ps(*qx, _mm256_loadu_ps(r.add(8 * x)), a);
        }
        a
    }

    /// Checks every candidate offset once, so the loops below can use raw pointers.
    #[inline(always)]
    pub(super) fn check_list(tok: &[f32], lm: &[f32], offs: &[usize], n_tok: usize, span: usize) {
        for (c, &o) in offs.iter().enumerate() {
            assert!(o + span <= if c < n_tok { tok.len() } else { lm.len() });
        }
    }

    /// Dots of `q` (in registers) with candidates `from..to` of one base, four at a time.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn dots_run<const C: usize>(
        qr: &[__m256; C],
        base: *const f32,
        offs: &[usize],
        from: usize,
        to: usize,
        g_off: usize,
        vs: __m128,
        scale: f32,
        out: *mut f32,
    ) {
        let mut c = from;
        while c + 4 <= to {
            let s = hsum4(
                dot_row::<C>(qr, base.add(*offs.get_unchecked(c) + g_off)),
                dot_row::<C>(qr, base.add(*offs.get_unchecked(c + 1) + g_off)),
                dot_row::<C>(qr, base.add(*offs.get_unchecked(c + 2) + g_off)),
                dot_row::<C>(qr, base.add(*offs.get_unchecked(c + 3) + g_off)),
            );
            _mm_storeu_ps(out.add(c), _mm_mul_ps(s, vs));
            c += 4;
        }
        while c < to {
            *out.add(c) = hsum(dot_row::<C>(qr, base.add(*offs.get_unchecked(c) + g_off))) * scale;
            c += 1;
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn scores_list_c<const C: usize>(
        q: &[f32],
        heads: Heads,
        tok: &[f32],
        lm: &[f32],
        offs: &[usize],
        n_tok: usize,
        scale: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        let d = 8 * C;
        let count = offs.len();
        check_list(tok, lm, offs, n_tok, (heads.q_heads / heads.group) * d);
        assert!(
            n_tok <= count
                && q.len() >= heads.q_heads * d
                && out.len() >= (heads.q_heads - 1) * stride + count
        );
        let vs = _mm_set1_ps(scale);
        for hh in 0..heads.q_heads {
            let g_off = (hh / heads.group) * d;
            let mut qr = [_mm256_setzero_ps(); C];
            for (x, r) in qr.iter_mut().enumerate() {
                *r = _mm256_loadu_ps(q.as_ptr().add(hh * d + 8 * x));
            }
            let row_out = out.as_mut_ptr().add(hh * stride);
            dots_run::<C>(&qr, tok.as_ptr(), offs, 0, n_tok, g_off, vs, scale, row_out);
            dots_run::<C>(
                &qr,
                lm.as_ptr(),
                offs,
                n_tok,
                count,
                g_off,
                vs,
                scale,
                row_out,
            );
        }
    }

    /// Accumulates candidates `from..to` of one base into one or two heads' registers.
    #[inline(always)]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn weigh_run<const C: usize, const PAIR: bool>(
        r0: &mut [__m256; C],
        r1: &mut [__m256; C],
        base: *const f32,
        offs: &[usize],
        from: usize,
        to: usize,
        g0: usize,
        g1: usize,
        w0p: *const f32,
        w1p: *const f32,
    ) {
        for c in from..to {
            let p = base.add(*offs.get_unchecked(c));
            let w0 = _mm256_set1_ps(*w0p.add(c));
            if PAIR {
                let w1 = _mm256_set1_ps(*w1p.add(c));
                for x in 0..C {
                    r0[x] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(p.add(g0 + 8 * x)), r0[x]);
                    r1[x] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(p.add(g1 + 8 * x)), r1[x]);
                }
            } else {
                for x in 0..C {
                    r0[x] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(p.add(g0 + 8 * x)), r0[x]);
                }
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    unsafe fn weighted_list_c<const C: usize>(
        out: &mut [f32],
        heads: Heads,
        tok: &[f32],
        lm: &[f32],
        offs: &[usize],
        n_tok: usize,
        w: &[f32],
        stride: usize,
    ) {
        let d = 8 * C;
        let count = offs.len();
        check_list(tok, lm, offs, n_tok, (heads.q_heads / heads.group) * d);
        assert!(
            n_tok <= count
                && out.len() >= heads.q_heads * d
                && w.len() >= (heads.q_heads - 1) * stride + count
        );
        let wp = w.as_ptr();
        let (tp, lp) = (tok.as_ptr(), lm.as_ptr());
        let mut hh = 0;
        // Two heads per pass; when they share a KV head the row is loaded once for both.
        while hh < heads.q_heads {
            let pair = hh + 1 < heads.q_heads;
            let g0 = (hh / heads.group) * d;
            let g1 = if pair {
                ((hh + 1) / heads.group) * d
            } else {
                g0
            };
            let mut r0 = [_mm256_setzero_ps(); C];
            let mut r1 = [_mm256_setzero_ps(); C];
            let w0 = wp.add(hh * stride);
            if pair {
                let w1 = wp.add((hh + 1) * stride);
                weigh_run::<C, true>(&mut r0, &mut r1, tp, offs, 0, n_tok, g0, g1, w0, w1);
                weigh_run::<C, true>(&mut r0, &mut r1, lp, offs, n_tok, count, g0, g1, w0, w1);
            } else {
                weigh_run::<C, false>(&mut r0, &mut r1, tp, offs, 0, n_tok, g0, g0, w0, w0);
                weigh_run::<C, false>(&mut r0, &mut r1, lp, offs, n_tok, count, g0, g0, w0, w0);
            }
            let a = out.as_mut_ptr().add(hh * d);
            for x in 0..C {
                _mm256_storeu_ps(a.add(8 * x), r0[x]);
                if pair {
                    _mm256_storeu_ps(a.add(d + 8 * x), r1[x]);
                }
            }
            hh += 2;
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn scatter_list_c<const C: usize>(
        tok: &mut [f32],
        lm: &mut [f32],
        offs: &[usize],
        n_tok: usize,
        heads: Heads,
        src: &[f32],
        w: &[f32],
        stride: usize,
    ) {
        let d = 8 * C;
        let count = offs.len();
        let kv_heads = heads.q_heads / heads.group;
        check_list(tok, lm, offs, n_tok, kv_heads * d);
        assert!(
            n_tok <= count
                && src.len() >= heads.q_heads * d
                && w.len() >= (heads.q_heads - 1) * stride + count
        );
        let (sp, wp) = (src.as_ptr(), w.as_ptr());
        let (tp, lp) = (tok.as_mut_ptr(), lm.as_mut_ptr());
        for (c, &o) in offs.iter().enumerate() {
            let base = if c < n_tok { tp } else { lp };
            for g in 0..kv_heads {
                let t = base.add(o + g * d);
                let mut a = [_mm256_setzero_ps(); C];
                for (x, a) in a.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(t.add(8 * x));
                }
                for hh in g * heads.group..(g + 1) * heads.group {
                    let wv = _mm256_set1_ps(*wp.add(hh * stride + c));
                    for (x, a) in a.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(sp.add(hh * d + 8 * x)), *a);
                    }
                }
                for (x, a) in a.iter().enumerate() {
                    _mm256_storeu_ps(t.add(8 * x), *a);
                }
            }
        }
    }

    /// `acc += w * row` (one source row's head).
    #[inline(always)]
    unsafe fn gather_term<const C: usize>(acc: &mut [__m256; C], w: f32, r: *const f32) {
        let wv = _mm256_set1_ps(w);
        for (x, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r.add(8 * x)), *a);
        }
    }

    #[inline(always)]
    unsafe fn load_row<const C: usize>(r: *const f32) -> [__m256; C] {
        core::array::from_fn(|x| _mm256_loadu_ps(r.add(8 * x)))
    }

    #[inline(always)]
    unsafe fn store_row<const C: usize>(r: *mut f32, acc: &[__m256; C]) {
        for (x, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(r.add(8 * x), *a);
        }
    }

    /// `Isa::gather_rows` (see the AVX-512 version): MHA heads in pairs, each GQA group's
    /// sources alternating between two accumulator sets.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn gather_rows_c<const C: usize>(
        dst: &mut [f32],
        heads: Heads,
        src: &[f32],
        first: usize,
        w: &[f32],
        w_at: &[usize],
        w_stride: usize,
    ) {
        let d = 8 * C;
        let row = heads.q_heads * d;
        let count = w_at.len();
        assert!(
            dst.len() >= (heads.q_heads / heads.group) * d
                && src.len() >= (first + count) * row
                && w_at
                    .iter()
                    .all(|&at| at + (heads.q_heads - 1) * w_stride < w.len())
        );
        let (dp, sp, wp) = (dst.as_mut_ptr(), src.as_ptr(), w.as_ptr());
        if heads.group == 1 {
            let mut hh = 0;
            while hh + 2 <= heads.q_heads {
                let (mut a0, mut a1) = (
                    load_row::<C>(dp.add(hh * d)),
                    load_row::<C>(dp.add((hh + 1) * d)),
                );
                for (s, &at) in w_at.iter().enumerate() {
                    let r = sp.add((first + s) * row + hh * d);
                    gather_term(&mut a0, *wp.add(at + hh * w_stride), r);
                    gather_term(&mut a1, *wp.add(at + (hh + 1) * w_stride), r.add(d));
                }
                store_row(dp.add(hh * d), &a0);
                store_row(dp.add((hh + 1) * d), &a1);
                hh += 2;
            }
            if hh < heads.q_heads {
                let mut a0 = load_row::<C>(dp.add(hh * d));
                for (s, &at) in w_at.iter().enumerate() {
                    let r = sp.add((first + s) * row + hh * d);
                    gather_term(&mut a0, *wp.add(at + hh * w_stride), r);
                }
                store_row(dp.add(hh * d), &a0);
            }
            return;
        }
        for g in 0..heads.q_heads / heads.group {
            let (mut a0, mut a1) = (load_row::<C>(dp.add(g * d)), [_mm256_setzero_ps(); C]);
            let group = g * heads.group..(g + 1) * heads.group;
            let mut s = 0;
            while s + 2 <= count {
                let (at0, at1) = (w_at[s], w_at[s + 1]);
                for hh in group.clone() {
                    let r = sp.add((first + s) * row + hh * d);
                    gather_term(&mut a0, *wp.add(at0 + hh * w_stride), r);
                    gather_term(&mut a1, *wp.add(at1 + hh * w_stride), r.add(row));
                }
                s += 2;
            }
            if s < count {
                for hh in group {
                    let r = sp.add((first + s) * row + hh * d);
                    gather_term(&mut a0, *wp.add(w_at[s] + hh * w_stride), r);
                }
            }
            for (a0, a1) in a0.iter_mut().zip(a1) {
                *a0 = _mm256_add_ps(*a0, a1);
            }
            store_row(dp.add(g * d), &a0);
        }
    }

    macro_rules! by_width {
        ($d:expr, $f:ident, ($($arg:expr),*), $fallback:expr) => {
            // SAFETY: Avx2 exists only when AVX2+FMA are available; the helpers assert their
            // bounds before using raw pointers.
            unsafe {
                match $d {
                    8 => $f::<1>($($arg),*),
                    16 => $f::<2>($($arg),*),
                    32 => $f::<4>($($arg),*),
                    64 => $f::<8>($($arg),*),
                    _ => $fallback,
                }
            }
        };
    }

    impl Isa for Avx2 {
        #[inline(always)]
        fn scores_list(
            q: &[f32],
            heads: Heads,
            tok: &[f32],
            lm: &[f32],
            offs: &[usize],
            n_tok: usize,
            scale: f32,
            out: &mut [f32],
            stride: usize,
        ) {
            by_width!(
                heads.d,
                scores_list_c,
                (q, heads, tok, lm, offs, n_tok, scale, out, stride),
                per_candidate_scores::<Self>(q, heads, tok, lm, offs, n_tok, scale, out, stride)
            )
        }

        #[inline(always)]
        fn weighted_list(
            out: &mut [f32],
            heads: Heads,
            tok: &[f32],
            lm: &[f32],
            offs: &[usize],
            n_tok: usize,
            w: &[f32],
            stride: usize,
        ) {
            by_width!(
                heads.d,
                weighted_list_c,
                (out, heads, tok, lm, offs, n_tok, w, stride),
                per_candidate_weighted::<Self>(out, heads, tok, lm, offs, n_tok, w, stride)
            )
        }

        #[inline(always)]
        fn scatter_list(
            tok: &mut [f32],
            lm: &mut [f32],
            offs: &[usize],
            n_tok: usize,
            heads: Heads,
            src: &[f32],
            w: &[f32],
            stride: usize,
        ) {
            by_width!(
                heads.d,
                scatter_list_c,
                (tok, lm, offs, n_tok, heads, src, w, stride),
                per_candidate_scatter::<Self>(tok, lm, offs, n_tok, heads, src, w, stride)
            )
        }

        #[inline(always)]
        fn gather_rows(
            dst: &mut [f32],
            heads: Heads,
            src: &[f32],
            first: usize,
            w: &[f32],
            w_at: &[usize],
            w_stride: usize,
        ) {
            by_width!(
                heads.d,
                gather_rows_c,
                (dst, heads, src, first, w, w_at, w_stride),
                per_row_gather::<Self>(dst, heads, src, first, w, w_at, w_stride)
            )
        }

        #[inline(always)]
        fn prefetch(row: &[f32]) {
            // SAFETY: a prefetch never faults; the pointer comes from a live slice.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr() as *const i8) }
        }

        #[inline(always)]
        fn max(s: &[f32]) -> f32 {
            let n = s.len();
            let chunks = n / 8;
            // SAFETY: as in `dot`.
            unsafe {
                let p = s.as_ptr();
                let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
                for c in 0..chunks {
                    m = _mm256_max_ps(m, _mm256_loadu_ps(p.add(c * 8)));
                }
                let lo = _mm256_castps256_ps128(m);
                let hi = _mm256_extractf128_ps(m, 1);
                let x = _mm_max_ps(lo, hi);
                let x = _mm_max_ps(x, _mm_movehl_ps(x, x));
                let x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 0x55));
                let mut best = _mm_cvtss_f32(x);
                for i in chunks * 8..n {
                    let v = *p.add(i);
                    best = if v > best { v } else { best };
                }
                // (The scalar tail is at most 7 compares.)
                best
            }
        }

        #[inline(always)]
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let chunks = n / 8;
            // SAFETY: Avx2 exists only when AVX2+FMA are available; every load is in bounds.
            unsafe {
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut acc0 = _mm256_setzero_ps();
                let mut acc1 = _mm256_setzero_ps();
                let mut c = 0;
                while c + 2 <= chunks {
                    acc0 = _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.add(c * 8)),
                        _mm256_loadu_ps(pb.add(c * 8)),
                        acc0,
                    );
                    acc1 = _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.add(c * 8 + 8)),
                        _mm256_loadu_ps(pb.add(c * 8 + 8)),
                        acc1,
                    );
                    c += 2;
                }
                if c < chunks {
                    acc0 = _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.add(c * 8)),
                        _mm256_loadu_ps(pb.add(c * 8)),
                        acc0,
                    );
                }
                let mut s = hsum(_mm256_add_ps(acc0, acc1));
                for i in chunks * 8..n {
                    s += *pa.add(i) * *pb.add(i);
                }
                s
            }
        }

        #[inline(always)]
        fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
            let n = y.len().min(x.len());
            let chunks = n / 8;
            // SAFETY: as in `dot`; y and x do not alias (distinct borrows).
            unsafe {
                let (py, px) = (y.as_mut_ptr(), x.as_ptr());
                let a = _mm256_set1_ps(alpha);
                for c in 0..chunks {
                    let p = py.add(c * 8);
                    _mm256_storeu_ps(
                        p,
                        _mm256_fmadd_ps(a, _mm256_loadu_ps(px.add(c * 8)), _mm256_loadu_ps(p)),
                    );
                }
                for i in chunks * 8..n {
                    *py.add(i) += alpha * *px.add(i);
                }
            }
        }

        #[inline(always)]
        fn scale(y: &mut [f32], alpha: f32) {
            let n = y.len();
            let chunks = n / 8;
            // SAFETY: as in `dot`.
            unsafe {
                let py = y.as_mut_ptr();
                let a = _mm256_set1_ps(alpha);
                for c in 0..chunks {
                    let p = py.add(c * 8);
                    _mm256_storeu_ps(p, _mm256_mul_ps(a, _mm256_loadu_ps(p)));
                }
                let rest = n - chunks * 8;
                if rest > 0 {
                    let m = tail_mask(rest);
                    let p = py.add(chunks * 8);
                    _mm256_maskstore_ps(p, m, _mm256_mul_ps(a, _mm256_maskload_ps(p, m)));
                }
            }
        }

        #[inline(always)]
        fn exp_shift_sum(s: &mut [f32], shift: f32) -> f32 {
            let n = s.len();
            let chunks = n / 8;
            // SAFETY: as in `dot`.
            unsafe {
                let ps = s.as_mut_ptr();
                let sh = _mm256_set1_ps(shift);
                let mut acc = _mm256_setzero_ps();
                for c in 0..chunks {
                    let p = ps.add(c * 8);
                    let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p), sh));
                    _mm256_storeu_ps(p, e);
                    acc = _mm256_add_ps(acc, e);
                }
                let rest = n - chunks * 8;
                if rest > 0 {
                    // Masked lanes load as 0 and are not stored; zero them before summing.
                    let m = tail_mask(rest);
                    let p = ps.add(chunks * 8);
                    let e = exp8(_mm256_sub_ps(_mm256_maskload_ps(p, m), sh));
                    let e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
                    _mm256_maskstore_ps(p, m, e);
                    acc = _mm256_add_ps(acc, e);
                }
                hsum(acc)
            }
        }
    }
}

/// Which implementation the dispatching entry points use on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsaKind {
    /// Portable Rust; the only path on no_std targets.
    Scalar,
    /// x86_64 AVX2 + FMA (8 lanes).
    Avx2Fma,
    /// x86_64 AVX-512F on top of AVX2 + FMA (16 lanes for head widths 16, 32 and 64).
    Avx512,
}

impl IsaKind {
    /// Every ISA, slowest first.
    pub const ALL: [IsaKind; 3] = [IsaKind::Scalar, IsaKind::Avx2Fma, IsaKind::Avx512];

    /// Whether this machine (with `std`: detected at run time; without: the build's target
    /// features) can run this ISA.
    pub fn is_available(self) -> bool {
        match self {
            IsaKind::Scalar => true,
            IsaKind::Avx2Fma => x86_has("avx2,fma"),
            IsaKind::Avx512 => x86_has("avx512f") && x86_has("avx2,fma"),
        }
    }

    /// Short lower-case name, as the CLI spells it (`scalar`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            IsaKind::Scalar => "scalar",
            IsaKind::Avx2Fma => "avx2",
            IsaKind::Avx512 => "avx512",
        }
    }
}

#[allow(unreachable_code)]
fn x86_has(features: &str) -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        return match features {
            "avx2,fma" => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            _ => false,
        };
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    {
        return match features {
            "avx2,fma" => cfg!(all(target_feature = "avx2", target_feature = "fma")),
            "avx512f" => cfg!(target_feature = "avx512f"),
            _ => false,
        };
    }
    let _ = features;
    false
}

/// The best ISA available: detected at run time with `std`, fixed at compile time without.
pub fn detected_isa() -> IsaKind {
    IsaKind::ALL
        .into_iter()
        .rev()
        .find(|isa| isa.is_available())
        .unwrap_or(IsaKind::Scalar)
}

/// A computation that can run on any `Isa`. Entry points wrap their arguments in a struct
/// implementing this and call [`dispatch`]; `run` must be `#[inline(always)]` so the whole kernel
/// compiles inside the `#[target_feature]` function.
pub(crate) trait WithIsa {
    type Output;
    fn run<I: Isa>(self) -> Self::Output;
}

/// Runs `work` on `isa` (which must be available: see [`IsaKind::is_available`]).
#[inline]
pub(crate) fn dispatch<W: WithIsa>(isa: IsaKind, work: W) -> W::Output {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: callers only hold an IsaKind other than Scalar after `is_available` said yes.
        match isa {
            IsaKind::Avx512 => return unsafe { avx512_entry(work) },
            IsaKind::Avx2Fma => return unsafe { avx2_entry(work) },
            IsaKind::Scalar => {}
        }
    }
    let _ = isa;
    work.run::<Scalar>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_entry<W: WithIsa>(work: W) -> W::Output {
    work.run::<Avx2>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512_entry<W: WithIsa>(work: W) -> W::Output {
    work.run::<Avx512>()
}

//! AVX-512F: the list operations on 16-lane registers, so a 32-wide head row is two loads and
//! two FMAs instead of four, and softmax tails use mask registers instead of masked moves.
//! Head widths that are not a multiple of 16 (and `dot`/`axpy`/`scale`) use the AVX2 code,
//! which the entry point's `#[target_feature]` also enables.

use super::x86::{check_list, hsum4, Avx2};
use super::*;
use core::arch::x86_64::*;

/// AVX-512F (plus AVX2 + FMA). Only constructed after the CPU has been checked.
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

/// `lo + hi` halves of a 16-lane vector: 8 lanes with the same total.
#[inline(always)]
unsafe fn fold(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}

/// Mask with the first `rest` (0..=16) lanes set.
#[inline(always)]
fn lanes(rest: usize) -> __mmask16 {
    ((1u32 << rest) - 1) as __mmask16
}

#[inline(always)]
pub(super) unsafe fn exp16(x: __m512) -> __m512 {
    // Same polynomial and clamp order as `exp8` (NaN stays NaN: x is the second operand).
    let x = _mm512_min_ps(
        _mm512_set1_ps(EXP_HI),
        _mm512_max_ps(_mm512_set1_ps(EXP_LO), x),
    );
    let fx = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(
        _mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), _mm512_set1_ps(0.5)),
    );
    let r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(LN2_LO), r);
    let r2 = _mm512_mul_ps(r, r);
    let mut p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
    // p * 2^fx in one rounding, with no intermediate overflow at fx = 128.
    _mm512_scalef_ps(p, fx)
}

#[inline(always)]
unsafe fn dot_row<const C: usize>(qr: &[__m512; C], r: *const f32) -> __m256 {
    let mut a = _mm512_mul_ps(qr[0], _mm512_loadu_ps(r));
    for (x, qx) in qr.iter().enumerate().skip(1) {
        a = _mm512_fmadd_ps(*qx, _mm512_loadu_ps(r.add(16 * x)), a);
    }
    fold(a)
}

// Plain functions, not closures: closures do not inherit the entry's target features, so
// intrinsics inside them would not inline.

/// Row of candidate `c` (its KV-head-0 row; add the head offset).
#[inline(always)]
unsafe fn row(
    tok: *const f32,
    lm: *const f32,
    offs: &[usize],
    n_tok: usize,
    c: usize,
) -> *const f32 {
    let base = if c < n_tok { tok } else { lm };
    base.add(*offs.get_unchecked(c))
}

/// Scaled scores of candidates `c..c + 4` in one horizontal reduction. Candidates past `last`
/// repeat the last row; callers drop those lanes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn quad<const C: usize>(
    qr: &[__m512; C],
    tok: *const f32,
    lm: *const f32,
    offs: &[usize],
    n_tok: usize,
    g_off: usize,
    c: usize,
    last: usize,
    vs: __m128,
) -> __m128 {
    let r = |i: usize| row(tok, lm, offs, n_tok, (c + i).min(last)).add(g_off);
    let s = hsum4(
        dot_row::<C>(qr, r(0)),
        dot_row::<C>(qr, r(1)),
        dot_row::<C>(qr, r(2)),
        dot_row::<C>(qr, r(3)),
    );
    _mm_mul_ps(s, vs)
}

/// Scores of one head's `q` (in registers) against the whole candidate list, four rows per
/// horizontal reduction, tokens and landmarks in one run so only the last group is partial.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dots_list<const C: usize>(
    qr: &[__m512; C],
    tok: *const f32,
    lm: *const f32,
    offs: &[usize],
    n_tok: usize,
    g_off: usize,
    scale: f32,
    out: *mut f32,
) {
    let count = offs.len();
    let (last, vs) = (count.saturating_sub(1), _mm_set1_ps(scale));
    let mut c = 0;
    while c < count {
        let s = quad::<C>(qr, tok, lm, offs, n_tok, g_off, c, last, vs);
        if c + 4 <= count {
            _mm_storeu_ps(out.add(c), s);
        } else {
            let mut tail = [0.0f32; 4];
            _mm_storeu_ps(tail.as_mut_ptr(), s);
            for (x, &t) in tail.iter().enumerate().take(count - c) {
                *out.add(c + x) = t;
            }
        }
        c += 4;
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
    let d = 16 * C;
    let count = offs.len();
    check_list(tok, lm, offs, n_tok, (heads.q_heads / heads.group) * d);
    assert!(
        n_tok <= count
            && q.len() >= heads.q_heads * d
            && out.len() >= (heads.q_heads - 1) * stride + count
    );
    for hh in 0..heads.q_heads {
        let g_off = (hh / heads.group) * d;
        let mut qr = [_mm512_setzero_ps(); C];
        for (x, r) in qr.iter_mut().enumerate() {
            *r = _mm512_loadu_ps(q.as_ptr().add(hh * d + 16 * x));
        }
        let row_out = out.as_mut_ptr().add(hh * stride);
        dots_list::<C>(
            &qr,
            tok.as_ptr(),
            lm.as_ptr(),
            offs,
            n_tok,
            g_off,
            scale,
            row_out,
        );
    }
}

/// Scores of one head against the whole list (at most 64 candidates, `count >= 1`), straight
/// from the reductions into four 16-lane registers, lanes past `count` set to `-inf`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scores_regs<const C: usize>(
    qr: &[__m512; C],
    tok: *const f32,
    lm: *const f32,
    offs: &[usize],
    n_tok: usize,
    g_off: usize,
    scale: f32,
) -> [__m512; 4] {
    let count = offs.len();
    let last = count - 1;
    let vs = _mm_set1_ps(scale);
    let nv = count.div_ceil(16);
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut r = [neg_inf; 4];
    for (v, r) in r.iter_mut().enumerate().take(nv) {
        let c0 = 16 * v;
        let mut z =
            _mm512_castps128_ps512(quad::<C>(qr, tok, lm, offs, n_tok, g_off, c0, last, vs));
        if c0 + 4 < count {
            z = _mm512_insertf32x4::<1>(
                z,
                quad::<C>(qr, tok, lm, offs, n_tok, g_off, c0 + 4, last, vs),
            );
        }
        if c0 + 8 < count {
            z = _mm512_insertf32x4::<2>(
                z,
                quad::<C>(qr, tok, lm, offs, n_tok, g_off, c0 + 8, last, vs),
            );
        }
        if c0 + 12 < count {
            z = _mm512_insertf32x4::<3>(
                z,
                quad::<C>(qr, tok, lm, offs, n_tok, g_off, c0 + 12, last, vs),
            );
        }
        *r = _mm512_mask_mov_ps(neg_inf, lanes((count - c0).min(16)), z);
    }
    r
}

/// Query heads whose scores `exp_scores_list_c` keeps in registers at once.
const HEADS_AT_ONCE: usize = 8;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn exp_scores_list_c<const C: usize>(
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
    let d = 16 * C;
    let count = offs.len();
    check_list(tok, lm, offs, n_tok, (heads.q_heads / heads.group) * d);
    assert!(
        (1..=64).contains(&count)
            && n_tok <= count
            && q.len() >= heads.q_heads * d
            && out.len() >= (heads.q_heads - 1) * stride + count
            && inv.len() >= heads.q_heads
    );
    // All heads' scores first, then all their exponentials: the heads' exp chains are
    // independent, and next to each other the core overlaps them instead of waiting on each.
    let nv = count.div_ceil(16);
    let mut h0 = 0;
    while h0 < heads.q_heads {
        let hn = (heads.q_heads - h0).min(HEADS_AT_ONCE);
        let mut regs = [[_mm512_setzero_ps(); 4]; HEADS_AT_ONCE];
        for (h, regs) in regs.iter_mut().enumerate().take(hn) {
            let hh = h0 + h;
            let mut qr = [_mm512_setzero_ps(); C];
            for (x, r) in qr.iter_mut().enumerate() {
                *r = _mm512_loadu_ps(q.as_ptr().add(hh * d + 16 * x));
            }
            let g_off = (hh / heads.group) * d;
            *regs = scores_regs::<C>(&qr, tok.as_ptr(), lm.as_ptr(), offs, n_tok, g_off, scale);
        }
        let mut shift = [_mm512_setzero_ps(); HEADS_AT_ONCE];
        for (sh, regs) in shift.iter_mut().zip(&regs).take(hn) {
            let mut mx = regs[0];
            for r in regs.iter().take(nv).skip(1) {
                mx = _mm512_max_ps(mx, *r);
            }
            *sh = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        }
        for (h, regs) in regs.iter().enumerate().take(hn) {
            let row_out = out.as_mut_ptr().add((h0 + h) * stride);
            let mut acc = _mm512_setzero_ps();
            for (v, r) in regs.iter().enumerate().take(nv) {
                let m = lanes((count - 16 * v).min(16));
                let e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(*r, shift[h])));
                _mm512_mask_storeu_ps(row_out.add(16 * v), m, e);
                acc = _mm512_add_ps(acc, e);
            }
            let sum = _mm512_reduce_add_ps(acc);
            inv[h0 + h] = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        }
        h0 += hn;
    }
}

/// Accumulates candidates `from..to` of one base into `HB` heads' registers, `U` candidates per
/// step into separate accumulator sets: an FMA chain per register would otherwise cap the loop
/// at one candidate per FMA latency, whatever the vector width.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weigh_run<const C: usize, const HB: usize, const U: usize>(
    acc: &mut [[[__m512; C]; HB]; U],
    base: *const f32,
    offs: &[usize],
    from: usize,
    to: usize,
    g: &[usize; HB],
    w: &[*const f32; HB],
) {
    let mut c = from;
    while c + U <= to {
        for (u, acc) in acc.iter_mut().enumerate() {
            let p = base.add(*offs.get_unchecked(c + u));
            for (h, acc) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(*w[h].add(c + u));
                for (x, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p.add(g[h] + 16 * x)), *a);
                }
            }
        }
        c += U;
    }
    while c < to {
        let p = base.add(*offs.get_unchecked(c));
        for (h, acc) in acc[0].iter_mut().enumerate() {
            let wv = _mm512_set1_ps(*w[h].add(c));
            for (x, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p.add(g[h] + 16 * x)), *a);
            }
        }
        c += 1;
    }
}

/// Weighted sum for query heads `hh..hh + HB` over the whole candidate list (bounds checked by
/// the caller).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weigh_heads<const C: usize, const HB: usize, const U: usize>(
    out: *mut f32,
    heads: Heads,
    hh: usize,
    tok: *const f32,
    lm: *const f32,
    offs: &[usize],
    n_tok: usize,
    w: *const f32,
    stride: usize,
) {
    let d = 16 * C;
    let g: [usize; HB] = core::array::from_fn(|h| ((hh + h) / heads.group) * d);
    let wp: [*const f32; HB] = core::array::from_fn(|h| w.add((hh + h) * stride));
    let mut acc = [[[_mm512_setzero_ps(); C]; HB]; U];
    weigh_run::<C, HB, U>(&mut acc, tok, offs, 0, n_tok, &g, &wp);
    weigh_run::<C, HB, U>(&mut acc, lm, offs, n_tok, offs.len(), &g, &wp);
    for h in 0..HB {
        for x in 0..C {
            let mut a = acc[0][h][x];
            for set in acc.iter().skip(1) {
                a = _mm512_add_ps(a, set[h][x]);
            }
            _mm512_storeu_ps(out.add((hh + h) * d + 16 * x), a);
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weighted_list_c<const C: usize, const U: usize>(
    out: &mut [f32],
    heads: Heads,
    tok: &[f32],
    lm: &[f32],
    offs: &[usize],
    n_tok: usize,
    w: &[f32],
    stride: usize,
) {
    let d = 16 * C;
    let count = offs.len();
    check_list(tok, lm, offs, n_tok, (heads.q_heads / heads.group) * d);
    assert!(
        n_tok <= count
            && out.len() >= heads.q_heads * d
            && w.len() >= (heads.q_heads - 1) * stride + count
    );
    let (o, wp) = (out.as_mut_ptr(), w.as_ptr());
    let (tp, lp) = (tok.as_ptr(), lm.as_ptr());
    let mut hh = 0;
    // Four heads per pass where possible: with GQA they read the same row.
    while hh + 4 <= heads.q_heads {
        weigh_heads::<C, 4, U>(o, heads, hh, tp, lp, offs, n_tok, wp, stride);
        hh += 4;
    }
    if hh + 2 <= heads.q_heads {
        weigh_heads::<C, 2, U>(o, heads, hh, tp, lp, offs, n_tok, wp, stride);
        hh += 2;
    }
    if hh < heads.q_heads {
        weigh_heads::<C, 1, U>(o, heads, hh, tp, lp, offs, n_tok, wp, stride);
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
    let d = 16 * C;
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
            let mut a = [_mm512_setzero_ps(); C];
            for (x, a) in a.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(t.add(16 * x));
            }
            for hh in g * heads.group..(g + 1) * heads.group {
                let wv = _mm512_set1_ps(*wp.add(hh * stride + c));
                for (x, a) in a.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(sp.add(hh * d + 16 * x)), *a);
                }
            }
            for (x, a) in a.iter().enumerate() {
                _mm512_storeu_ps(t.add(16 * x), *a);
            }
        }
    }
}

/// `acc += w * row` (one source row's head).
#[inline(always)]
unsafe fn gather_term<const C: usize>(acc: &mut [__m512; C], w: f32, r: *const f32) {
    let wv = _mm512_set1_ps(w);
    for (x, a) in acc.iter_mut().enumerate() {
        *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(r.add(16 * x)), *a);
    }
}

/// `Isa::gather_rows` for MHA heads `hh..hh + HB`, each in its own registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gather_heads<const C: usize, const HB: usize>(
    dst: *mut f32,
    src: *const f32,
    w: *const f32,
    hh: usize,
    d: usize,
    row: usize,
    first: usize,
    w_at: &[usize],
    w_stride: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); C]; HB];
    for (h, acc) in acc.iter_mut().enumerate() {
        for (x, a) in acc.iter_mut().enumerate() {
            *a = _mm512_loadu_ps(dst.add((hh + h) * d + 16 * x));
        }
    }
    for (s, &at) in w_at.iter().enumerate() {
        let r = src.add((first + s) * row + hh * d);
        for (h, acc) in acc.iter_mut().enumerate() {
            gather_term(acc, *w.add(at + (hh + h) * w_stride), r.add(h * d));
        }
    }
    for (h, acc) in acc.iter().enumerate() {
        for (x, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(dst.add((hh + h) * d + 16 * x), *a);
        }
    }
}

/// `Isa::gather_rows`: each KV head's row loaded and stored once. MHA rows accumulate four
/// heads side by side (`gather_heads`); a GQA group's sources alternate between `U`
/// accumulator sets, so the FMAs of successive sources do not wait on each other.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gather_rows_c<const C: usize, const U: usize>(
    dst: &mut [f32],
    heads: Heads,
    src: &[f32],
    first: usize,
    w: &[f32],
    w_at: &[usize],
    w_stride: usize,
) {
    let d = 16 * C;
    let row = heads.q_heads * d;
    let kv_heads = heads.q_heads / heads.group;
    let count = w_at.len();
    assert!(
        dst.len() >= kv_heads * d
            && src.len() >= (first + count) * row
            && w_at
                .iter()
                .all(|&at| at + (heads.q_heads - 1) * w_stride < w.len())
    );
    let (dp, sp, wp) = (dst.as_mut_ptr(), src.as_ptr(), w.as_ptr());
    if heads.group == 1 {
        // MHA: every head is its own KV head; a block of heads accumulates side by side.
        let mut hh = 0;
        while hh + 4 <= heads.q_heads {
            gather_heads::<C, 4>(dp, sp, wp, hh, d, row, first, w_at, w_stride);
            hh += 4;
        }
        while hh < heads.q_heads {
            gather_heads::<C, 1>(dp, sp, wp, hh, d, row, first, w_at, w_stride);
            hh += 1;
        }
        return;
    }
    for g in 0..kv_heads {
        let t = dp.add(g * d);
        let mut acc = [[_mm512_setzero_ps(); C]; U];
        for (x, a) in acc[0].iter_mut().enumerate() {
            *a = _mm512_loadu_ps(t.add(16 * x));
        }
        let heads_of_g = g * heads.group..(g + 1) * heads.group;
        let mut s = 0;
        while s + U <= count {
            for (u, acc) in acc.iter_mut().enumerate() {
                let at = *w_at.get_unchecked(s + u);
                for hh in heads_of_g.clone() {
                    let r = sp.add((first + s + u) * row + hh * d);
                    gather_term(acc, *wp.add(at + hh * w_stride), r);
                }
            }
            s += U;
        }
        while s < count {
            let at = *w_at.get_unchecked(s);
            for hh in heads_of_g.clone() {
                let r = sp.add((first + s) * row + hh * d);
                gather_term(&mut acc[0], *wp.add(at + hh * w_stride), r);
            }
            s += 1;
        }
        for x in 0..C {
            let mut a = acc[0][x];
            for set in acc.iter().skip(1) {
                a = _mm512_add_ps(a, set[x]);
            }
            _mm512_storeu_ps(t.add(16 * x), a);
        }
    }
}

macro_rules! by_width {
    ($d:expr, $f:ident $(::<$u2:literal, $u4:literal>)?, ($($arg:expr),*), $fallback:expr) => {
        // SAFETY: Avx512 exists only when AVX-512F, AVX2 and FMA are available; the helpers
        // assert their bounds before using raw pointers.
        unsafe {
            match $d {
                16 => $f::<1 $(, $u2)?>($($arg),*),
                32 => $f::<2 $(, $u2)?>($($arg),*),
                64 => $f::<4 $(, $u4)?>($($arg),*),
                _ => $fallback,
            }
        }
    };
}

impl Isa for Avx512 {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        Avx2::dot(a, b)
    }

    #[inline(always)]
    fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
        Avx2::axpy(y, alpha, x)
    }

    #[inline(always)]
    fn scale(y: &mut [f32], alpha: f32) {
        let n = y.len();
        // SAFETY: every load and store is masked to the slice. (Mask registers make the tail
        // one more vector; AVX2's masked moves are slow on some cores.)
        unsafe {
            let p = y.as_mut_ptr();
            let a = _mm512_set1_ps(alpha);
            let mut i = 0;
            while i + 16 <= n {
                _mm512_storeu_ps(p.add(i), _mm512_mul_ps(a, _mm512_loadu_ps(p.add(i))));
                i += 16;
            }
            if i < n {
                let m = lanes(n - i);
                let x = _mm512_maskz_loadu_ps(m, p.add(i));
                _mm512_mask_storeu_ps(p.add(i), m, _mm512_mul_ps(a, x));
            }
        }
    }

    #[inline(always)]
    fn prefetch(row: &[f32]) {
        Avx2::prefetch(row)
    }

    #[inline(always)]
    fn max(s: &[f32]) -> f32 {
        let n = s.len();
        // SAFETY: every load is masked to the slice.
        unsafe {
            let p = s.as_ptr();
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut i = 0;
            while i + 16 <= n {
                m = _mm512_max_ps(m, _mm512_loadu_ps(p.add(i)));
                i += 16;
            }
            if i < n {
                m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, lanes(n - i), p.add(i)));
            }
            _mm512_reduce_max_ps(m)
        }
    }

    #[inline(always)]
    fn exp_shift_sum(s: &mut [f32], shift: f32) -> f32 {
        let n = s.len();
        // SAFETY: every load and store is masked to the slice.
        unsafe {
            let ps = s.as_mut_ptr();
            let sh = _mm512_set1_ps(shift);
            let mut acc = _mm512_setzero_ps();
            let mut i = 0;
            while i + 16 <= n {
                let p = ps.add(i);
                let e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p), sh));
                _mm512_storeu_ps(p, e);
                acc = _mm512_add_ps(acc, e);
                i += 16;
            }
            if i < n {
                let m = lanes(n - i);
                let p = ps.add(i);
                let e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p), sh));
                _mm512_mask_storeu_ps(p, m, e);
                acc = _mm512_mask_add_ps(acc, m, acc, e);
            }
            _mm512_reduce_add_ps(acc)
        }
    }

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
            Avx2::scores_list(q, heads, tok, lm, offs, n_tok, scale, out, stride)
        )
    }

    #[inline(always)]
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
        let unfused = |out: &mut [f32], inv: &mut [f32]| {
            Self::scores_list(q, heads, tok, lm, offs, n_tok, scale, out, stride);
            exp_rows::<Self>(out, offs.len(), stride, inv);
        };
        if offs.is_empty() || offs.len() > 64 {
            return unfused(out, inv);
        }
        by_width!(
            heads.d,
            exp_scores_list_c,
            (q, heads, tok, lm, offs, n_tok, scale, out, stride, inv),
            unfused(out, inv)
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
            weighted_list_c::<2, 1>,
            (out, heads, tok, lm, offs, n_tok, w, stride),
            Avx2::weighted_list(out, heads, tok, lm, offs, n_tok, w, stride)
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
            Avx2::scatter_list(tok, lm, offs, n_tok, heads, src, w, stride)
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
            gather_rows_c::<2, 2>,
            (dst, heads, src, first, w, w_at, w_stride),
            Avx2::gather_rows(dst, heads, src, first, w, w_at, w_stride)
        )
    }
}

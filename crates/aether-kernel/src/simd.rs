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
    /// Largest element (`-inf` for an empty slice).
    fn max(s: &[f32]) -> f32 {
        s.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
    }

    /// Scores of `group` query rows (`q`, `[group][d]`) against `count` rows of `base`
    /// (row `c` starts at `off(c)`): `out[h * stride + c] = dot(q_h, row_c) * scale + bias`.
    /// Each row is loaded once for the whole group.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn scores<F: Fn(usize) -> usize>(
        q: &[f32],
        d: usize,
        group: usize,
        base: &[f32],
        count: usize,
        off: F,
        scale: f32,
        bias: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        for c in 0..count {
            let o = off(c);
            let r = &base[o..o + d];
            for h in 0..group {
                out[h * stride + c] = Self::dot(&q[h * d..(h + 1) * d], r) * scale + bias;
            }
        }
    }

    /// `acc[h] += sum_c w[h * stride + c] * row_c` for the group's `[group][d]` accumulators.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn accumulate<F: Fn(usize) -> usize>(
        acc: &mut [f32],
        d: usize,
        group: usize,
        base: &[f32],
        count: usize,
        off: F,
        w: &[f32],
        stride: usize,
    ) {
        for c in 0..count {
            let o = off(c);
            let r = &base[o..o + d];
            for h in 0..group {
                Self::axpy(&mut acc[h * d..(h + 1) * d], w[h * stride + c], r);
            }
        }
    }

    /// `dst[off(c)..][..d] += sum_h w[h * stride + c] * src_h` (the transpose of `accumulate`,
    /// used by backward to scatter into key/value gradients).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn scatter<F: Fn(usize) -> usize>(
        dst: &mut [f32],
        d: usize,
        group: usize,
        count: usize,
        off: F,
        src: &[f32],
        w: &[f32],
        stride: usize,
    ) {
        for c in 0..count {
            let o = off(c);
            for h in 0..group {
                Self::axpy(&mut dst[o..o + d], w[h * stride + c], &src[h * d..(h + 1) * d]);
            }
        }
    }
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
const P5: f32 = 5.000_000_1e-1;

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
        let x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), _mm256_max_ps(_mm256_set1_ps(EXP_LO), x));
        let fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(LOG2E), _mm256_set1_ps(0.5)));
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
            _mm256_max_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), _mm256_setzero_si256()),
            23,
        ));
        _mm256_mul_ps(_mm256_mul_ps(p, pow), _mm256_set1_ps(2.0))
    }

    /// Sums of four vectors' lanes, as one 4-lane vector: `[sum(a), sum(b), sum(c), sum(d)]`.
    #[inline(always)]
    unsafe fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
        let ab = _mm256_hadd_ps(a, b);
        let cd = _mm256_hadd_ps(c, d);
        let abcd = _mm256_hadd_ps(ab, cd);
        _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1))
    }

    /// `d = 8 * C` specialisations: the query row stays in registers, keys are streamed as
    /// FMA memory operands four candidates at a time, and the four dot products are reduced
    /// together.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn scores_c<const C: usize, F: Fn(usize) -> usize>(
        q: &[f32],
        group: usize,
        base: &[f32],
        count: usize,
        off: F,
        scale: f32,
        bias: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        let d = 8 * C;
        assert!(q.len() >= group * d && (group == 0 || out.len() >= (group - 1) * stride + count));
        for c in 0..count {
            assert!(off(c) + d <= base.len());
        }
        let bp = base.as_ptr();
        let op = out.as_mut_ptr();
        let vs = _mm_set1_ps(scale);
        let vb = _mm_set1_ps(bias);
        for h in 0..group {
            let mut qr = [_mm256_setzero_ps(); C];
            for (x, r) in qr.iter_mut().enumerate() {
                *r = _mm256_loadu_ps(q.as_ptr().add(h * d + 8 * x));
            }
            let dot = |o: usize| {
                let r = bp.add(o);
                let mut a = _mm256_mul_ps(qr[0], _mm256_loadu_ps(r));
                for (x, qx) in qr.iter().enumerate().skip(1) {
                    a = _mm256_fmadd_ps(*qx, _mm256_loadu_ps(r.add(8 * x)), a);
                }
                a
            };
            let row_out = op.add(h * stride);
            let mut c = 0;
            while c + 4 <= count {
                let s = hsum4(dot(off(c)), dot(off(c + 1)), dot(off(c + 2)), dot(off(c + 3)));
                _mm_storeu_ps(row_out.add(c), _mm_add_ps(_mm_mul_ps(s, vs), vb));
                c += 4;
            }
            while c < count {
                *row_out.add(c) = hsum(dot(off(c))) * scale + bias;
                c += 1;
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn accumulate_c<const C: usize, F: Fn(usize) -> usize>(
        acc: &mut [f32],
        group: usize,
        base: &[f32],
        count: usize,
        off: F,
        w: &[f32],
        stride: usize,
    ) {
        let d = 8 * C;
        assert!(acc.len() >= group * d && (group == 0 || w.len() >= (group - 1) * stride + count));
        let wp = w.as_ptr();
        let mut h = 0;
        // Two heads per pass share each row load (the pair's accumulators stay in registers).
        while h + 2 <= group {
            let a = acc[h * d..(h + 2) * d].as_mut_ptr();
            let mut r0 = [_mm256_setzero_ps(); C];
            let mut r1 = [_mm256_setzero_ps(); C];
            for x in 0..C {
                r0[x] = _mm256_loadu_ps(a.add(8 * x));
                r1[x] = _mm256_loadu_ps(a.add(d + 8 * x));
            }
            for c in 0..count {
                let o = off(c);
                let r = &base[o..o + d];
                let w0 = _mm256_set1_ps(*wp.add(h * stride + c));
                let w1 = _mm256_set1_ps(*wp.add((h + 1) * stride + c));
                for x in 0..C {
                    let v = _mm256_loadu_ps(r.as_ptr().add(8 * x));
                    r0[x] = _mm256_fmadd_ps(w0, v, r0[x]);
                    r1[x] = _mm256_fmadd_ps(w1, v, r1[x]);
                }
            }
            for x in 0..C {
                _mm256_storeu_ps(a.add(8 * x), r0[x]);
                _mm256_storeu_ps(a.add(d + 8 * x), r1[x]);
            }
            h += 2;
        }
        if h < group {
            let a = acc[h * d..(h + 1) * d].as_mut_ptr();
            let mut r0 = [_mm256_setzero_ps(); C];
            for (x, r) in r0.iter_mut().enumerate() {
                *r = _mm256_loadu_ps(a.add(8 * x));
            }
            for c in 0..count {
                let o = off(c);
                let r = &base[o..o + d];
                let w0 = _mm256_set1_ps(*wp.add(h * stride + c));
                for (x, acc) in r0.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(w0, _mm256_loadu_ps(r.as_ptr().add(8 * x)), *acc);
                }
            }
            for (x, r) in r0.iter().enumerate() {
                _mm256_storeu_ps(a.add(8 * x), *r);
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn scatter_c<const C: usize, F: Fn(usize) -> usize>(
        dst: &mut [f32],
        group: usize,
        count: usize,
        off: F,
        src: &[f32],
        w: &[f32],
        stride: usize,
    ) {
        let d = 8 * C;
        assert!(src.len() >= group * d && (group == 0 || w.len() >= (group - 1) * stride + count));
        let (sp, wp) = (src.as_ptr(), w.as_ptr());
        for c in 0..count {
            let o = off(c);
            let t = dst[o..o + d].as_mut_ptr();
            let mut a = [_mm256_setzero_ps(); C];
            for (x, a) in a.iter_mut().enumerate() {
                *a = _mm256_loadu_ps(t.add(8 * x));
            }
            for h in 0..group {
                let wv = _mm256_set1_ps(*wp.add(h * stride + c));
                for (x, a) in a.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(sp.add(h * d + 8 * x)), *a);
                }
            }
            for (x, a) in a.iter().enumerate() {
                _mm256_storeu_ps(t.add(8 * x), *a);
            }
        }
    }

    macro_rules! by_width {
        ($d:expr, $f:ident, ($($arg:expr),*), $fallback:expr) => {
            // SAFETY: Avx2 exists only when AVX2+FMA are available; the helpers assert their
            // bounds before using raw pointers.
            unsafe {
                match $d {
                    8 => $f::<1, _>($($arg),*),
                    16 => $f::<2, _>($($arg),*),
                    32 => $f::<4, _>($($arg),*),
                    64 => $f::<8, _>($($arg),*),
                    _ => $fallback,
                }
            }
        };
    }

    impl Isa for Avx2 {
        #[inline(always)]
        fn scores<F: Fn(usize) -> usize>(
            q: &[f32],
            d: usize,
            group: usize,
            base: &[f32],
            count: usize,
            off: F,
            scale: f32,
            bias: f32,
            out: &mut [f32],
            stride: usize,
        ) {
            by_width!(d, scores_c, (q, group, base, count, off, scale, bias, out, stride), {
                for c in 0..count {
                    let o = off(c);
                    let r = &base[o..o + d];
                    for h in 0..group {
                        out[h * stride + c] = Self::dot(&q[h * d..(h + 1) * d], r) * scale + bias;
                    }
                }
            })
        }

        #[inline(always)]
        fn accumulate<F: Fn(usize) -> usize>(
            acc: &mut [f32],
            d: usize,
            group: usize,
            base: &[f32],
            count: usize,
            off: F,
            w: &[f32],
            stride: usize,
        ) {
            by_width!(d, accumulate_c, (acc, group, base, count, off, w, stride), {
                for c in 0..count {
                    let o = off(c);
                    let r = &base[o..o + d];
                    for h in 0..group {
                        Self::axpy(&mut acc[h * d..(h + 1) * d], w[h * stride + c], r);
                    }
                }
            })
        }

        #[inline(always)]
        fn scatter<F: Fn(usize) -> usize>(
            dst: &mut [f32],
            d: usize,
            group: usize,
            count: usize,
            off: F,
            src: &[f32],
            w: &[f32],
            stride: usize,
        ) {
            by_width!(d, scatter_c, (dst, group, count, off, src, w, stride), {
                for c in 0..count {
                    let o = off(c);
                    for h in 0..group {
                        Self::axpy(&mut dst[o..o + d], w[h * stride + c], &src[h * d..(h + 1) * d]);
                    }
                }
            })
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
                    _mm256_storeu_ps(p, _mm256_fmadd_ps(a, _mm256_loadu_ps(px.add(c * 8)), _mm256_loadu_ps(p)));
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
    Scalar,
    Avx2Fma,
}

/// The best ISA available: detected at run time with `std`, fixed at compile time without.
pub fn detected_isa() -> IsaKind {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return IsaKind::Avx2Fma;
        }
    }
    #[cfg(all(
        target_arch = "x86_64",
        not(feature = "std"),
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        return IsaKind::Avx2Fma;
    }
    #[allow(unreachable_code)]
    IsaKind::Scalar
}

/// A computation that can run on any `Isa`. Entry points wrap their arguments in a struct
/// implementing this and call [`dispatch`]; `run` must be `#[inline(always)]` so the whole kernel
/// compiles inside the `#[target_feature]` function.
pub(crate) trait WithIsa {
    type Output;
    fn run<I: Isa>(self) -> Self::Output;
}

/// Runs `work` on `isa` (which must come from [`detected_isa`] or be `Scalar`).
#[inline]
pub(crate) fn dispatch<W: WithIsa>(isa: IsaKind, work: W) -> W::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if isa == IsaKind::Avx2Fma {
            // SAFETY: IsaKind::Avx2Fma is only produced when the CPU supports AVX2 and FMA.
            return unsafe { avx2_entry(work) };
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

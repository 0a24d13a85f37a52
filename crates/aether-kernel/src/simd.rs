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
    let fx = libm::floorf(x * LOG2E + 0.5);
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

    #[inline(always)]
    unsafe fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
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

    impl Isa for Avx2 {
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
                for i in chunks * 8..n {
                    *py.add(i) *= alpha;
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
                let mut sum = hsum(acc);
                for i in chunks * 8..n {
                    let e = exp_scalar(*ps.add(i) - shift);
                    *ps.add(i) = e;
                    sum += e;
                }
                sum
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

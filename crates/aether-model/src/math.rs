//! The arithmetic of the forward pass: matrix-vector products (f32 or int8 weights), LayerNorm,
//! GELU. Every function is used by both the full-window and the streaming path, so the two
//! compute each frame's projections with identical operations.

use alloc::vec::Vec;

/// Whether `matmul` blocks four frames per f32 weight row (each row loaded once per four
/// frames). On RISC-V and Xtensa cores the 4 x 8 partial sums outgrow the FP registers and
/// spill, so f32 frames go one at a time there. Int8 rows stay blocked everywhere: converting
/// each weight once per four frames is what matters on soft-float cores. Measured on the
/// default head's window classify (QEMU, instructions retired): riscv32imafc f32 55.0 M ->
/// 46.6 M; riscv32imc (soft float) f32 880 M -> 885 M, int8 unblocked would rise 936 M ->
/// 1,086 M. Results are bit-identical either way.
const BLOCK_F32_FRAMES: bool = !cfg!(any(target_arch = "riscv32", target_arch = "xtensa"));

/// A weight matrix `[rows = out][cols = in]`, row-major, `y = W x`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Matrix {
    F32 {
        rows: usize,
        cols: usize,
        w: Vec<f32>,
    },
    /// Symmetric per-row int8: `W[r][c] = q[r][c] * scales[r]`.
    Int8 {
        rows: usize,
        cols: usize,
        q: Vec<i8>,
        scales: Vec<f32>,
    },
}

impl Matrix {
    pub(crate) fn rows(&self) -> usize {
        match self {
            Matrix::F32 { rows, .. } | Matrix::Int8 { rows, .. } => *rows,
        }
    }

    pub(crate) fn cols(&self) -> usize {
        match self {
            Matrix::F32 { cols, .. } | Matrix::Int8 { cols, .. } => *cols,
        }
    }

    /// Bytes the matrix occupies in memory.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Matrix::F32 { w, .. } => w.len() * 4,
            Matrix::Int8 { q, scales, .. } => q.len() + scales.len() * 4,
        }
    }

    /// `y = W x + b`. Lengths are the caller's invariant (checked at load and in scratch sizing).
    #[inline]
    pub(crate) fn matvec(&self, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        match self {
            Matrix::F32 { cols, w, .. } => {
                for (r, out) in y.iter_mut().enumerate() {
                    *out = dot(&w[r * cols..(r + 1) * cols], x);
                }
            }
            Matrix::Int8 {
                cols, q, scales, ..
            } => {
                // Dequantise on the fly: the row's integer-weighted sum, then one scale multiply.
                for (r, out) in y.iter_mut().enumerate() {
                    *out = dot_i8(&q[r * cols..(r + 1) * cols], x) * scales[r];
                }
            }
        }
        if let Some(b) = bias {
            for (o, b) in y.iter_mut().zip(b) {
                *o += b;
            }
        }
    }

    /// `y += W x + b` (residual add).
    #[inline]
    pub(crate) fn matvec_add(
        &self,
        x: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        tmp: &mut [f32],
    ) {
        self.matvec(x, bias, tmp);
        for (o, t) in y.iter_mut().zip(tmp.iter()) {
            *o += t;
        }
    }
    /// `Y[f] = W X[f] + b` for `n` frames (`xs` is `[n][cols]`, `ys` is `[n][rows]`). Frames
    /// go four at a time (see [`BLOCK_F32_FRAMES`]) so each weight row is loaded (and for int8
    /// converted) once per four frames; every element is computed with exactly the operations of [`Matrix::matvec`],
    /// so results are bit-identical to the per-frame path the streaming session uses.
    pub(crate) fn matmul(&self, xs: &[f32], n: usize, bias: Option<&[f32]>, ys: &mut [f32]) {
        let (rows, cols) = (self.rows(), self.cols());
        let mut f = 0;
        let blocked = BLOCK_F32_FRAMES || matches!(self, Matrix::Int8 { .. });
        while blocked && f + 4 <= n {
            let x = |k: usize| &xs[(f + k) * cols..(f + k + 1) * cols];
            let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
            for r in 0..rows {
                let d = match self {
                    Matrix::F32 { w, .. } => {
                        dot4(&w[r * cols..(r + 1) * cols], [x0, x1, x2, x3], |v| v)
                    }
                    Matrix::Int8 { q, scales, .. } => {
                        let s = scales[r];
                        let d = dot4(&q[r * cols..(r + 1) * cols], [x0, x1, x2, x3], |v| v as f32);
                        [d[0] * s, d[1] * s, d[2] * s, d[3] * s]
                    }
                };
                for (k, dk) in d.into_iter().enumerate() {
                    ys[(f + k) * rows + r] = dk;
                }
            }
            f += 4;
        }
        for g in f..n {
            self.matvec(
                &xs[g * cols..(g + 1) * cols],
                None,
                &mut ys[g * rows..(g + 1) * rows],
            );
        }
        if let Some(b) = bias {
            for y in ys[..n * rows].chunks_exact_mut(rows) {
                for (o, b) in y.iter_mut().zip(b) {
                    *o += b;
                }
            }
        }
    }
}

/// Four dot products of one weight row with four frames, each with the lane layout, order and
/// reduction of [`dot`] / `dot_i8`, so each result equals the single-frame one bit for bit.
#[inline]
fn dot4<T: Copy>(w: &[T], x: [&[f32]; 4], conv: impl Fn(T) -> f32) -> [f32; 4] {
    let mut acc = [[0f32; 8]; 4];
    let full = w.len() / 8 * 8;
    let mut c = 0;
    while c < full {
        let mut wc = [0f32; 8];
        for k in 0..8 {
            wc[k] = conv(w[c + k]);
        }
        for (a, xf) in acc.iter_mut().zip(x) {
            let xc = &xf[c..c + 8];
            for k in 0..8 {
                a[k] += wc[k] * xc[k];
            }
        }
        c += 8;
    }
    let mut out = [0f32; 4];
    for ((o, a), xf) in out.iter_mut().zip(acc).zip(x) {
        let mut s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        for (wv, xv) in w[full..].iter().zip(&xf[full..]) {
            s += conv(*wv) * xv;
        }
        *o = s;
    }
    out
}

/// Eight independent partial sums (vectorises without fast-math), then a fixed reduction.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

#[inline]
fn dot_i8(q: &[i8], x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (qc, qr) = q.split_at(q.len() / 8 * 8);
    let (xc, xr) = x.split_at(qc.len());
    for (a, b) in qc.chunks_exact(8).zip(xc.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += a[k] as f32 * b[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (a, b) in qr.iter().zip(xr) {
        s += *a as f32 * b;
    }
    s
}

/// LayerNorm with affine: `(x - mean) / sqrt(var + eps) * w + b`, biased variance (divide by n).
#[inline]
pub(crate) fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, y: &mut [f32]) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / libm::sqrtf(var + eps);
    for (((o, &v), &w), &b) in y.iter_mut().zip(x).zip(w).zip(b) {
        *o = (v - mean) * inv * w + b;
    }
}

/// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, with
/// `libm::tanhf`. (A rational `tanh` was 5× cheaper but moved logits in the 8th digit, which
/// the device library's committed self-test pins; the speed-up is not worth that churn.)
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + libm::tanhf(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
}

/// Whether all values are finite (no NaN or infinity).
#[inline]
pub(crate) fn all_finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

//! Exact dense attention (two-pass softmax) and its backward: the A/B reference.

use crate::config::AttnShape;
use crate::simd::{detected_isa, dispatch, Isa, WithIsa};
use crate::sparse::{check_finite, prepare_backward};
use crate::KernelError;
use alloc::vec;

/// `out = softmax(q k^T / sqrt(d)) v` over all keys (`j <= i` when causal), GQA head mapping.
pub fn dense_forward(
    shape: AttnShape,
    causal: bool,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    shape.check(q.len(), k.len(), v.len())?;
    if out.len() != q.len() {
        return Err(KernelError::Length {
            tensor: "out",
            expected: q.len(),
            got: out.len(),
        });
    }
    check_finite("q", q)?;
    check_finite("k", k)?;
    check_finite("v", v)?;
    dispatch(
        detected_isa(),
        DenseFwd {
            shape,
            causal,
            q,
            k,
            v,
            out,
        },
    );
    Ok(())
}

/// Gradients of `sum(out * d_out)` for [`dense_forward`] (written, not added).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    shape: AttnShape,
    causal: bool,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    d_out: &[f32],
    d_q: &mut [f32],
    d_k: &mut [f32],
    d_v: &mut [f32],
) -> Result<(), KernelError> {
    prepare_backward(shape, [q, k, v, d_out], [&mut *d_q, &mut *d_k, &mut *d_v])?;
    dispatch(
        detected_isa(),
        DenseBwd {
            shape,
            causal,
            q,
            k,
            v,
            d_out,
            d_q,
            d_k,
            d_v,
        },
    );
    Ok(())
}

struct DenseFwd<'a> {
    shape: AttnShape,
    causal: bool,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    out: &'a mut [f32],
}

/// Softmax weights of query `i`, head `hh`, over keys `0..len` into `p`.
#[inline(always)]
fn dense_probs<I: Isa>(
    shape: &AttnShape,
    q: &[f32],
    k: &[f32],
    i: usize,
    hh: usize,
    p: &mut [f32],
) {
    let d = shape.head_dim;
    let g = hh / shape.group();
    let scale = 1.0 / libm::sqrtf(d as f32);
    let qr = &q[(i * shape.q_heads + hh) * d..][..d];
    let mut m = f32::NEG_INFINITY;
    for (j, pj) in p.iter_mut().enumerate() {
        let s = I::dot(qr, &k[(j * shape.kv_heads + g) * d..][..d]) * scale;
        *pj = s;
        m = if s > m { s } else { m };
    }
    let sum = I::exp_shift_sum(p, m);
    I::scale(p, 1.0 / sum);
}

impl WithIsa for DenseFwd<'_> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self) {
        let DenseFwd {
            shape,
            causal,
            q,
            k,
            v,
            out,
        } = self;
        let n = shape.seq;
        let d = shape.head_dim;
        let mut p = vec![0.0f32; n];
        for i in 0..n {
            let len = if causal { i + 1 } else { n };
            for hh in 0..shape.q_heads {
                let g = hh / shape.group();
                dense_probs::<I>(&shape, q, k, i, hh, &mut p[..len]);
                let o = &mut out[(i * shape.q_heads + hh) * d..][..d];
                o.fill(0.0);
                for (j, &pj) in p[..len].iter().enumerate() {
                    I::axpy(o, pj, &v[(j * shape.kv_heads + g) * d..][..d]);
                }
            }
        }
    }
}

struct DenseBwd<'a> {
    shape: AttnShape,
    causal: bool,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    d_out: &'a [f32],
    d_q: &'a mut [f32],
    d_k: &'a mut [f32],
    d_v: &'a mut [f32],
}

impl WithIsa for DenseBwd<'_> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self) {
        let DenseBwd {
            shape,
            causal,
            q,
            k,
            v,
            d_out,
            d_q,
            d_k,
            d_v,
        } = self;
        let n = shape.seq;
        let d = shape.head_dim;
        let scale = 1.0 / libm::sqrtf(d as f32);
        let mut p = vec![0.0f32; n];
        let mut dp = vec![0.0f32; n];
        for i in 0..n {
            let len = if causal { i + 1 } else { n };
            for hh in 0..shape.q_heads {
                let g = hh / shape.group();
                dense_probs::<I>(&shape, q, k, i, hh, &mut p[..len]);
                let qo = (i * shape.q_heads + hh) * d;
                let dor = &d_out[qo..qo + d];
                let mut delta = 0.0;
                for j in 0..len {
                    dp[j] = I::dot(dor, &v[(j * shape.kv_heads + g) * d..][..d]);
                    delta += p[j] * dp[j];
                }
                for j in 0..len {
                    let ds = p[j] * (dp[j] - delta) * scale;
                    let ko = (j * shape.kv_heads + g) * d;
                    I::axpy(&mut d_q[qo..qo + d], ds, &k[ko..ko + d]);
                    I::axpy(&mut d_k[ko..ko + d], ds, &q[qo..qo + d]);
                    I::axpy(&mut d_v[ko..ko + d], p[j], dor);
                }
            }
        }
    }
}

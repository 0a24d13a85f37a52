//! The sparse attention kernel as a differentiable candle op, and a dense twin made of plain
//! candle ops for A/B comparisons.
//!
//! The forward runs `aether_kernel::SparseAttention::forward_into` and the backward runs
//! `backward_into`, so gradients flow into the q/k/v projections (the seed's bridge detached
//! them, spec §5.4).

use aether_kernel::{AttnShape, Scratch, SparseAttention, SparseConfig};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};

/// How the head dimension is laid out in the op's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadLayout {
    /// `[..., T, heads * head_dim]` (leading dims are independent sequences).
    Packed,
    /// `[..., T, heads, head_dim]`.
    Split,
}

/// Causal sparse attention over q `[.., T, q_heads*dim]`, k/v `[.., T, kv_heads*dim]`.
#[derive(Clone, Debug)]
pub struct SparseAttnOp {
    attn: SparseAttention,
    q_heads: usize,
    kv_heads: usize,
    head_dim: usize,
    layout: HeadLayout,
}

impl SparseAttnOp {
    pub fn new(
        cfg: SparseConfig,
        q_heads: usize,
        kv_heads: usize,
        head_dim: usize,
        layout: HeadLayout,
    ) -> Result<Self> {
        let attn = SparseAttention::new(cfg).map_err(kernel_err)?;
        if q_heads == 0 || kv_heads == 0 || head_dim == 0 || !q_heads.is_multiple_of(kv_heads) {
            candle_core::bail!(
                "sparse attention: invalid heads q={q_heads} kv={kv_heads} dim={head_dim}"
            );
        }
        Ok(Self {
            attn,
            q_heads,
            kv_heads,
            head_dim,
            layout,
        })
    }

    pub fn config(&self) -> &SparseConfig {
        self.attn.config()
    }

    /// Applies the op (with backward) to `q`, `k`, `v`.
    pub fn apply(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        q.apply_op3(k, v, self.clone())
    }

    /// (batch, seq) of a tensor of this op's layout with `heads` heads.
    fn batch_seq(&self, dims: &[usize], heads: usize, what: &str) -> Result<(usize, usize)> {
        let (inner, rest): (&[usize], &[usize]) = match self.layout {
            HeadLayout::Packed if dims.len() >= 2 => {
                (&dims[dims.len() - 1..], &dims[..dims.len() - 1])
            }
            HeadLayout::Split if dims.len() >= 3 => {
                (&dims[dims.len() - 2..], &dims[..dims.len() - 2])
            }
            _ => candle_core::bail!("sparse attention: {what} has shape {dims:?}, too few dims"),
        };
        let width: usize = inner.iter().product();
        let ok = match self.layout {
            HeadLayout::Packed => width == heads * self.head_dim,
            HeadLayout::Split => inner == [heads, self.head_dim],
        };
        if !ok {
            candle_core::bail!(
                "sparse attention: {what} has shape {dims:?}, expected {heads} heads of {}",
                self.head_dim
            );
        }
        let seq = *rest.last().expect("at least one leading dim");
        let batch = rest[..rest.len() - 1].iter().product();
        Ok((batch, seq))
    }

    fn shapes(&self, q: &Shape, k: &Shape, v: &Shape) -> Result<(usize, AttnShape)> {
        let (bq, tq) = self.batch_seq(q.dims(), self.q_heads, "q")?;
        let (bk, tk) = self.batch_seq(k.dims(), self.kv_heads, "k")?;
        if k.dims() != v.dims() {
            candle_core::bail!("sparse attention: k {k:?} and v {v:?} differ");
        }
        // The leading (batch) dims themselves, not only their product: [2,3,..] and [3,2,..]
        // would pair other rows.
        let lead = |d: &[usize], inner: usize| d[..d.len() - inner].to_vec();
        let inner = match self.layout {
            HeadLayout::Packed => 2,
            HeadLayout::Split => 3,
        };
        if bq != bk || tq != tk || lead(q.dims(), inner) != lead(k.dims(), inner) {
            candle_core::bail!("sparse attention: q {q:?} and k {k:?} disagree on batch/seq");
        }
        Ok((
            bq,
            AttnShape {
                seq: tq,
                q_heads: self.q_heads,
                kv_heads: self.kv_heads,
                head_dim: self.head_dim,
            },
        ))
    }
}

fn kernel_err(e: aether_kernel::KernelError) -> candle_core::Error {
    candle_core::Error::Msg(format!("sparse attention kernel: {e:?}"))
}

/// The f32 elements of `storage` seen through `layout`, borrowed when contiguous and copied
/// in logical order otherwise.
fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    let data = match storage {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("sparse attention needs f32 tensors"),
    };
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Ok(std::borrow::Cow::Borrowed(&data[start..end]));
    }
    let dims = layout.dims();
    let strides = layout.stride();
    let n: usize = dims.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        let off =
            layout.start_offset() + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        out.push(data[off]);
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

impl CustomOp3 for SparseAttnOp {
    fn name(&self) -> &'static str {
        "aether-sparse-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, shape) = self.shapes(l1.shape(), l2.shape(), l3.shape())?;
        let q = contiguous_f32(s1, l1)?;
        let k = contiguous_f32(s2, l2)?;
        let v = contiguous_f32(s3, l3)?;
        let (qn, kn) = (q.len() / batch.max(1), k.len() / batch.max(1));
        let mut out = vec![0f32; q.len()];
        let mut scratch = Scratch::new();
        for b in 0..batch {
            self.attn
                .forward_into(
                    shape,
                    &q[b * qn..][..qn],
                    &k[b * kn..][..kn],
                    &v[b * kn..][..kn],
                    &mut out[b * qn..][..qn],
                    &mut scratch,
                )
                .map_err(kernel_err)?;
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, shape) = self.shapes(q.shape(), k.shape(), v.shape())?;
        let flat = |t: &Tensor| -> Result<Vec<f32>> {
            t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
        };
        let (qv, kv, vv, go) = (flat(q)?, flat(k)?, flat(v)?, flat(grad_res)?);
        let (qn, kn) = (qv.len() / batch.max(1), kv.len() / batch.max(1));
        let mut dq = vec![0f32; qv.len()];
        let mut dk = vec![0f32; kv.len()];
        let mut dv = vec![0f32; kv.len()];
        let mut scratch = Scratch::new();
        for b in 0..batch {
            self.attn
                .backward_into(
                    shape,
                    &qv[b * qn..][..qn],
                    &kv[b * kn..][..kn],
                    &vv[b * kn..][..kn],
                    &go[b * qn..][..qn],
                    &mut dq[b * qn..][..qn],
                    &mut dk[b * kn..][..kn],
                    &mut dv[b * kn..][..kn],
                    &mut scratch,
                )
                .map_err(kernel_err)?;
        }
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), dev)?),
            Some(Tensor::from_vec(dk, k.shape(), dev)?),
            Some(Tensor::from_vec(dv, v.shape(), dev)?),
        ))
    }
}

/// Exact causal (or full) attention from plain candle ops: q `[B, T, q_heads*dim]`,
/// k/v `[B, T, kv_heads*dim]` -> `[B, T, q_heads*dim]`. The A/B reference for the kernel op,
/// differentiable by candle's own autograd, any float dtype.
pub fn dense_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    q_heads: usize,
    kv_heads: usize,
    head_dim: usize,
    causal: bool,
) -> Result<Tensor> {
    let (b, t, _) = q.dims3()?;
    let group = q_heads / kv_heads;
    // [B, H, T, D]
    let q = q
        .reshape((b, t, q_heads, head_dim))?
        .transpose(1, 2)?
        .contiguous()?;
    let expand = |x: &Tensor| -> Result<Tensor> {
        let x = x.reshape((b, t, kv_heads, 1, head_dim))?;
        let x = x.broadcast_as((b, t, kv_heads, group, head_dim))?;
        x.reshape((b, t, q_heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (k, v) = (expand(k)?, expand(v)?);
    let scale = 1.0 / (head_dim as f64).sqrt();
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let scores = if causal {
        let mask: Vec<u8> = (0..t)
            .flat_map(|i| (0..t).map(move |j| u8::from(j > i)))
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), q.device())?.broadcast_as(scores.shape())?;
        let neg = Tensor::full(f32::NEG_INFINITY, scores.shape(), q.device())?
            .to_dtype(scores.dtype())?;
        mask.where_cond(&neg, &scores)?
    } else {
        scores
    };
    let max = scores.max_keepdim(D::Minus1)?.detach();
    let e = scores.broadcast_sub(&max)?.exp()?;
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    p.matmul(&v)?
        .transpose(1, 2)?
        .reshape((b, t, q_heads * head_dim))
}

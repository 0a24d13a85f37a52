//! `TemporalHead`: a loaded model and its full-window forward pass.

use crate::error::{ModelError, Result};
use crate::math::{all_finite, gelu, layer_norm, Matrix};
use crate::spec::{HeadSpec, OutputKind, Pooling};
use aether_kernel::{dense_forward, AttnShape, KernelError, Scratch, SparseAttention};
use alloc::vec::Vec;

/// Which attention computes the layers: the sparse kernel, or exact dense attention (A/B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `aether_kernel::SparseAttention` with the file's pattern.
    Sparse,
    /// `aether_kernel::dense_forward` (causal as the file says); streaming attends all
    /// retained frames. O(T²) per window, O(T) per streamed frame.
    Dense,
}

/// `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Linear {
    pub(crate) w: Matrix,
    pub(crate) b: Option<Vec<f32>>,
}

impl Linear {
    #[inline]
    pub(crate) fn apply(&self, x: &[f32], y: &mut [f32]) {
        self.w.matvec(x, self.b.as_deref(), y);
    }
    #[inline]
    pub(crate) fn apply_add(&self, x: &[f32], y: &mut [f32], tmp: &mut [f32]) {
        self.w.matvec_add(x, self.b.as_deref(), y, tmp);
    }
    pub(crate) fn bytes(&self) -> usize {
        self.w.bytes() + self.b.as_ref().map_or(0, |b| b.len() * 4)
    }
    pub(crate) fn params(&self) -> usize {
        self.w.rows() * self.w.cols() + self.b.as_ref().map_or(0, |b| b.len())
    }
}

/// LayerNorm affine parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Norm {
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layer {
    pub(crate) norm1: Option<Norm>,
    pub(crate) wq: Linear,
    pub(crate) wk: Linear,
    pub(crate) wv: Linear,
    pub(crate) wo: Linear,
    pub(crate) norm2: Option<Norm>,
    pub(crate) ffn: Option<(Linear, Linear)>,
}

/// A loaded temporal head (from an RVNE v1 or v2 file, or from [`crate::HeadParams`]).
///
/// Weights are f32 in memory (f16 files are widened at load) except int8 matrices, which stay
/// int8 with their per-row scales and are dequantised inside the dot products.
#[derive(Clone, Debug)]
pub struct TemporalHead {
    pub(crate) spec: HeadSpec,
    pub(crate) backend: Backend,
    pub(crate) attn: SparseAttention,
    /// `(mean, std)`: `x = (frame - mean) / std`. None for v1.
    pub(crate) input_stats: Option<(Vec<f32>, Vec<f32>)>,
    /// None for v1 (the frame is the model state).
    pub(crate) input_proj: Option<Linear>,
    pub(crate) layers: Vec<Layer>,
    pub(crate) final_norm: Option<Norm>,
    pub(crate) head: Linear,
}

/// Working memory of [`TemporalHead::classify`] / [`TemporalHead::embed`]. Grows to the
/// largest window seen and is reused: once sized, calls do not allocate.
#[derive(Debug, Default)]
pub struct HeadScratch {
    h: Vec<f32>,
    a: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    /// `[T][d_model]`: output projections before their residual add.
    o: Vec<f32>,
    /// `[T][d_ff]`: FFN hidden activations.
    g: Vec<f32>,
    pooled: Vec<f32>,
    attn: Scratch,
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

impl HeadScratch {
    /// Empty scratch; the first call sizes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scratch already sized for windows of up to `max_frames` frames of `head`
    /// (the kernel's own scratch is sized on the first call).
    pub fn for_head(head: &TemporalHead, max_frames: usize) -> Result<Self> {
        let mut s = Self::new();
        s.ensure(head, max_frames)?;
        Ok(s)
    }

    fn ensure(&mut self, head: &TemporalHead, t: usize) -> Result<()> {
        let s = &head.spec;
        let n = |w: usize| {
            t.checked_mul(w).ok_or(ModelError::TooLarge {
                what: "window frames",
                value: t as u64,
            })
        };
        grow(&mut self.h, n(s.d_model)?);
        grow(&mut self.a, n(s.d_model.max(s.input_dim))?);
        grow(&mut self.q, n(s.q_total())?);
        grow(&mut self.k, n(s.kv_total())?);
        grow(&mut self.v, n(s.kv_total())?);
        grow(&mut self.att, n(s.q_total())?);
        grow(&mut self.o, n(s.d_model)?);
        grow(&mut self.g, n(s.d_ff)?);
        grow(&mut self.pooled, s.d_model);
        Ok(())
    }

    /// Bytes held (excluding the kernel's scratch).
    pub fn bytes(&self) -> usize {
        4 * (self.h.len()
            + self.a.len()
            + self.q.len()
            + self.k.len()
            + self.v.len()
            + self.att.len()
            + self.o.len()
            + self.g.len()
            + self.pooled.len())
    }
}

pub(crate) fn map_kernel(e: KernelError) -> ModelError {
    match e {
        KernelError::NonFinite { .. } | KernelError::OutOfRange { .. } => {
            ModelError::NonFiniteActivation
        }
        e => ModelError::Kernel(e),
    }
}

impl TemporalHead {
    /// The architecture and options.
    pub fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    /// The attention backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Switches the attention backend (weights are shared; no reload).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The sparse attention operator (its pattern is `spec().attn`).
    pub fn attention(&self) -> &SparseAttention {
        &self.attn
    }

    /// Whether any weight matrix is stored as int8.
    pub fn is_int8(&self) -> bool {
        self.matrices().any(|m| matches!(m.w, Matrix::Int8 { .. }))
    }

    pub(crate) fn matrices(&self) -> impl Iterator<Item = &Linear> {
        self.input_proj
            .iter()
            .chain(self.layers.iter().flat_map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo]
                    .into_iter()
                    .chain(l.ffn.iter().flat_map(|(a, b)| [a, b]))
            }))
            .chain(core::iter::once(&self.head))
    }

    /// Bytes the weights occupy in memory (f32 matrices 4 per element, int8 1 plus a 4-byte
    /// scale per row; norms, biases and input stats 4 per element).
    pub fn weight_bytes(&self) -> usize {
        let norm = |n: &Option<Norm>| n.as_ref().map_or(0, |n| 4 * (n.w.len() + n.b.len()));
        self.matrices().map(Linear::bytes).sum::<usize>()
            + self
                .input_stats
                .as_ref()
                .map_or(0, |(m, s)| 4 * (m.len() + s.len()))
            + self
                .layers
                .iter()
                .map(|l| norm(&l.norm1) + norm(&l.norm2))
                .sum::<usize>()
            + norm(&self.final_norm)
    }

    /// Parameters (elements) held, counted from the loaded tensors.
    pub fn params(&self) -> u64 {
        let norm = |n: &Option<Norm>| n.as_ref().map_or(0, |n| n.w.len() + n.b.len());
        (self.matrices().map(Linear::params).sum::<usize>()
            + self
                .input_stats
                .as_ref()
                .map_or(0, |(m, s)| m.len() + s.len())
            + self
                .layers
                .iter()
                .map(|l| norm(&l.norm1) + norm(&l.norm2))
                .sum::<usize>()
            + norm(&self.final_norm)) as u64
    }

    // ---- per-frame steps, shared by the full-window and the streaming path ----

    /// Frame (`input_dim`) to model state `h` (`d_model`). `xn` is `input_dim` scratch.
    #[inline]
    pub(crate) fn embed_frame(&self, frame: &[f32], xn: &mut [f32], h: &mut [f32]) {
        match (&self.input_stats, &self.input_proj) {
            (Some((mean, std)), Some(p)) => {
                for (((x, &f), &m), &s) in xn.iter_mut().zip(frame).zip(mean).zip(std) {
                    *x = (f - m) / s;
                }
                p.apply(xn, h);
            }
            _ => h.copy_from_slice(frame),
        }
    }

    /// Layer `l`'s queries, keys and values of one frame's state `h`. `a` is `d_model` scratch.
    #[inline]
    pub(crate) fn frame_qkv(
        &self,
        l: usize,
        h: &[f32],
        a: &mut [f32],
        q: &mut [f32],
        k: &mut [f32],
        v: &mut [f32],
    ) {
        let layer = &self.layers[l];
        let src: &[f32] = match &layer.norm1 {
            Some(n) => {
                layer_norm(h, &n.w, &n.b, self.spec.norm_eps, a);
                a
            }
            None => h,
        };
        layer.wq.apply(src, q);
        layer.wk.apply(src, k);
        layer.wv.apply(src, v);
    }

    /// Layer `l` after attention: `h += Wo att + b`, then the FFN block with its residual.
    /// `tmp` is `2 * d_model` scratch, `ff` is `d_ff`.
    #[inline]
    pub(crate) fn frame_post(
        &self,
        l: usize,
        h: &mut [f32],
        att: &[f32],
        tmp: &mut [f32],
        ff: &mut [f32],
    ) {
        let layer = &self.layers[l];
        let d = h.len();
        let (t1, t2) = tmp[..2 * d].split_at_mut(d);
        layer.wo.apply_add(att, h, t1);
        if let (Some(n), Some((w1, w2))) = (&layer.norm2, &layer.ffn) {
            layer_norm(h, &n.w, &n.b, self.spec.norm_eps, t1);
            w1.apply(t1, ff);
            for x in ff.iter_mut() {
                *x = gelu(*x);
            }
            w2.apply_add(ff, h, t2);
        }
    }

    /// Final per-frame state `z` (after the final norm, if any).
    #[inline]
    pub(crate) fn frame_final(&self, h: &[f32], z: &mut [f32]) {
        match &self.final_norm {
            Some(n) => layer_norm(h, &n.w, &n.b, self.spec.norm_eps, z),
            None => z.copy_from_slice(h),
        }
    }

    /// Pooled vector to outputs (logits, or the L2-normalised embedding).
    pub(crate) fn output(&self, pooled: &[f32], out: &mut [f32]) -> Result<()> {
        self.head.apply(pooled, out);
        if self.spec.output_kind == OutputKind::Embedding {
            // F.normalize semantics: divide by max(||y||, 1e-12).
            let norm = libm::sqrtf(out.iter().map(|x| x * x).sum::<f32>()).max(1e-12);
            for x in out.iter_mut() {
                *x /= norm;
            }
        }
        if !all_finite(out) {
            return Err(ModelError::NonFiniteActivation);
        }
        Ok(())
    }

    pub(crate) fn check_frame_len(&self, got: usize) -> Result<()> {
        if got != self.spec.input_dim {
            return Err(ModelError::InputLen {
                expected: self.spec.input_dim,
                got,
            });
        }
        Ok(())
    }

    fn check_out(&self, out: &[f32], kind: Option<OutputKind>) -> Result<()> {
        if let Some(k) = kind {
            if self.spec.output_kind != k {
                return Err(ModelError::WrongOutputKind);
            }
        }
        if out.len() != self.spec.n_out {
            return Err(ModelError::OutputLen {
                expected: self.spec.n_out,
                got: out.len(),
            });
        }
        Ok(())
    }

    /// Frames in `window` (`[T][input_dim]` flat), after checking it.
    fn frames_of(&self, window: &[f32]) -> Result<usize> {
        let d = self.spec.input_dim;
        if window.is_empty() {
            return Err(ModelError::EmptyWindow);
        }
        if !window.len().is_multiple_of(d) {
            return Err(ModelError::InputLen {
                expected: (window.len() / d + 1) * d,
                got: window.len(),
            });
        }
        if let Some(index) = window.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFiniteInput { index });
        }
        Ok(window.len() / d)
    }

    /// Runs every layer over the window; leaves the final states `z` in `scratch.a`.
    fn forward_states(&self, window: &[f32], scratch: &mut HeadScratch) -> Result<usize> {
        let t = self.frames_of(window)?;
        scratch.ensure(self, t)?;
        let s = &self.spec;
        let (d, di, qt, kt, dff) = (s.d_model, s.input_dim, s.q_total(), s.kv_total(), s.d_ff);
        let HeadScratch {
            h,
            a,
            q,
            k,
            v,
            att,
            o,
            g,
            attn,
            ..
        } = scratch;
        // Whole-window matrix products (`Matrix::matmul`) compute every element with the same
        // operations as the per-frame path of `Session::push`, so the two agree bit for bit
        // apart from attention (prefill vs decode).
        let h = &mut h[..t * d];
        match (&self.input_stats, &self.input_proj) {
            (Some((mean, std)), Some(p)) => {
                for (frame, xn) in window.chunks_exact(di).zip(a.chunks_exact_mut(di)) {
                    for (((x, &f), &m), &sd) in xn.iter_mut().zip(frame).zip(mean).zip(std) {
                        *x = (f - m) / sd;
                    }
                }
                p.w.matmul(&a[..t * di], t, p.b.as_deref(), h);
            }
            _ => h.copy_from_slice(window),
        }
        let shape = AttnShape {
            seq: t,
            q_heads: s.q_heads,
            kv_heads: s.kv_heads,
            head_dim: s.head_dim,
        };
        let (q, k, v, att) = (
            &mut q[..t * qt],
            &mut k[..t * kt],
            &mut v[..t * kt],
            &mut att[..t * qt],
        );
        let (a, o, g) = (&mut a[..t * d], &mut o[..t * d], &mut g[..t * dff]);
        for layer in &self.layers {
            let src: &[f32] = match &layer.norm1 {
                Some(n) => {
                    for (hr, ar) in h.chunks_exact(d).zip(a.chunks_exact_mut(d)) {
                        layer_norm(hr, &n.w, &n.b, s.norm_eps, ar);
                    }
                    a
                }
                None => h,
            };
            layer.wq.w.matmul(src, t, layer.wq.b.as_deref(), q);
            layer.wk.w.matmul(src, t, layer.wk.b.as_deref(), k);
            layer.wv.w.matmul(src, t, layer.wv.b.as_deref(), v);
            match self.backend {
                Backend::Sparse => self.attn.forward_into(shape, q, k, v, att, attn),
                Backend::Dense => dense_forward(shape, s.attn.causal, q, k, v, att),
            }
            .map_err(map_kernel)?;
            layer.wo.w.matmul(att, t, layer.wo.b.as_deref(), o);
            for (x, y) in h.iter_mut().zip(o.iter()) {
                *x += y;
            }
            if let (Some(n), Some((w1, w2))) = (&layer.norm2, &layer.ffn) {
                for (hr, ar) in h.chunks_exact(d).zip(a.chunks_exact_mut(d)) {
                    layer_norm(hr, &n.w, &n.b, s.norm_eps, ar);
                }
                w1.w.matmul(a, t, w1.b.as_deref(), g);
                for x in g.iter_mut() {
                    *x = gelu(*x);
                }
                w2.w.matmul(g, t, w2.b.as_deref(), o);
                for (x, y) in h.iter_mut().zip(o.iter()) {
                    *x += y;
                }
            }
        }
        for (hr, zr) in h.chunks_exact(d).zip(a.chunks_exact_mut(d)) {
            self.frame_final(hr, zr);
        }
        Ok(t)
    }

    fn forward_pooled(&self, window: &[f32], scratch: &mut HeadScratch) -> Result<()> {
        let t = self.forward_states(window, scratch)?;
        let d = self.spec.d_model;
        let pooled = &mut scratch.pooled[..d];
        match self.spec.pooling {
            Pooling::Last => pooled.copy_from_slice(&scratch.a[(t - 1) * d..t * d]),
            Pooling::Mean => {
                pooled.fill(0.0);
                for zr in scratch.a.chunks_exact(d).take(t) {
                    for (p, z) in pooled.iter_mut().zip(zr) {
                        *p += z;
                    }
                }
                let n = t as f32;
                for p in pooled.iter_mut() {
                    *p /= n;
                }
            }
        }
        Ok(())
    }

    /// Class logits of a window `[T][input_dim]` (flat) into `logits` (`n_out`).
    /// Errors: `WrongOutputKind` on an embedding head, `OutputLen`, `EmptyWindow`,
    /// `InputLen` (not a whole number of frames), `NonFiniteInput`.
    pub fn classify(
        &self,
        window: &[f32],
        logits: &mut [f32],
        scratch: &mut HeadScratch,
    ) -> Result<()> {
        self.check_out(logits, Some(OutputKind::Classes))?;
        self.forward_pooled(window, scratch)?;
        self.output(&scratch.pooled[..self.spec.d_model], logits)
    }

    /// L2-normalised embedding of a window (embedding heads only).
    pub fn embed(&self, window: &[f32], out: &mut [f32], scratch: &mut HeadScratch) -> Result<()> {
        self.check_out(out, Some(OutputKind::Embedding))?;
        self.forward_pooled(window, scratch)?;
        self.output(&scratch.pooled[..self.spec.d_model], out)
    }

    /// The head's outputs whatever their kind (logits or embedding).
    pub fn run(&self, window: &[f32], out: &mut [f32], scratch: &mut HeadScratch) -> Result<()> {
        self.check_out(out, None)?;
        self.forward_pooled(window, scratch)?;
        self.output(&scratch.pooled[..self.spec.d_model], out)
    }

    /// Per-frame final states `z` (after the final norm; before pooling), `[T][d_model]`.
    /// Returns `T`.
    pub fn hidden(
        &self,
        window: &[f32],
        out: &mut [f32],
        scratch: &mut HeadScratch,
    ) -> Result<usize> {
        let t = self.frames_of(window)?;
        let need = t * self.spec.d_model;
        if out.len() != need {
            return Err(ModelError::OutputLen {
                expected: need,
                got: out.len(),
            });
        }
        self.forward_states(window, scratch)?;
        out.copy_from_slice(&scratch.a[..need]);
        Ok(t)
    }
}

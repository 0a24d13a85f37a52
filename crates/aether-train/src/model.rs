//! The temporal head (`crates/aether-model/README.md`, "The model") as a candle graph whose parameter names are the
//! RVNE v2 tensor names, so export is a lookup.
//!
//! Every op here is a plain differentiable candle op or the kernel op: candle-nn's fused
//! `LayerNorm` and `softmax_last_dim` run without backward, so they are not used.

use std::collections::BTreeMap;

use aether_kernel::SparseConfig;
use aether_rvne::v2::RvneV2Builder;
pub use aether_rvne::v2::TensorDtype;
use anyhow::{bail, Context};
use candle_core::{DType, Device, Result, Tensor, Var, D};

use crate::attn_op::{dense_attention, HeadLayout, SparseAttnOp};

/// Mean over frames or the last frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Last,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Last => "last",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "mean" => Some(Pooling::Mean),
            "last" => Some(Pooling::Last),
            _ => None,
        }
    }
}

/// Class logits or an L2-normalised embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Classes,
    Embedding,
}

impl OutputKind {
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Classes => "classes",
            OutputKind::Embedding => "embedding",
        }
    }
}

/// Which attention the training graph uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttnBackend {
    /// The kernel (forward + backward) as a custom op.
    Sparse,
    /// Exact causal attention from plain candle ops.
    Dense,
}

/// Architecture of the head.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadConfig {
    pub input_dim: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub n_out: usize,
    pub attn: SparseConfig,
    pub pooling: Pooling,
    pub output_kind: OutputKind,
    pub norm_eps: f32,
}

impl HeadConfig {
    /// The default motion head on `input_dim` features per frame: d_model 32, 2 layers, 4 query
    /// heads sharing 2 KV heads of 8, FFN 64, causal window 32 with block-mean landmarks.
    pub fn motion(input_dim: usize, n_out: usize) -> Self {
        Self {
            input_dim,
            d_model: 32,
            n_layers: 2,
            q_heads: 4,
            kv_heads: 2,
            head_dim: 8,
            d_ff: 64,
            n_out,
            attn: SparseConfig::upstream(32, 16).improved(),
            pooling: Pooling::Mean,
            output_kind: OutputKind::Classes,
            norm_eps: 1e-5,
        }
    }

    /// Names and shapes of every trainable tensor, in export order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, qd, kd) = (
            self.d_model,
            self.q_heads * self.head_dim,
            self.kv_heads * self.head_dim,
        );
        let mut v = vec![
            ("input_proj.weight".to_string(), vec![d, self.input_dim]),
            ("input_proj.bias".to_string(), vec![d]),
        ];
        for i in 0..self.n_layers {
            let p = |s: &str| format!("layers.{i}.{s}");
            v.push((p("norm1.weight"), vec![d]));
            v.push((p("norm1.bias"), vec![d]));
            v.push((p("attn.wq.weight"), vec![qd, d]));
            v.push((p("attn.wq.bias"), vec![qd]));
            v.push((p("attn.wk.weight"), vec![kd, d]));
            v.push((p("attn.wk.bias"), vec![kd]));
            v.push((p("attn.wv.weight"), vec![kd, d]));
            v.push((p("attn.wv.bias"), vec![kd]));
            v.push((p("attn.wo.weight"), vec![d, qd]));
            v.push((p("attn.wo.bias"), vec![d]));
            v.push((p("norm2.weight"), vec![d]));
            v.push((p("norm2.bias"), vec![d]));
            v.push((p("ffn.w1.weight"), vec![self.d_ff, d]));
            v.push((p("ffn.w1.bias"), vec![self.d_ff]));
            v.push((p("ffn.w2.weight"), vec![d, self.d_ff]));
            v.push((p("ffn.w2.bias"), vec![d]));
        }
        v.push(("final_norm.weight".to_string(), vec![d]));
        v.push(("final_norm.bias".to_string(), vec![d]));
        v.push(("head.weight".to_string(), vec![self.n_out, d]));
        v.push(("head.bias".to_string(), vec![self.n_out]));
        v
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.input_dim == 0
            || self.d_model == 0
            || self.n_layers == 0
            || self.head_dim == 0
            || self.d_ff == 0
            || self.n_out == 0
        {
            bail!("head config has a zero dimension: {self:?}");
        }
        if self.kv_heads == 0 || !self.q_heads.is_multiple_of(self.kv_heads) {
            bail!(
                "q_heads ({}) must be a multiple of kv_heads ({})",
                self.q_heads,
                self.kv_heads
            );
        }
        self.attn
            .validate()
            .map_err(|e| anyhow::anyhow!("attention pattern: {e:?}"))?;
        if !self.attn.causal {
            bail!("the head is causal so streaming equals the full window");
        }
        Ok(())
    }
}

/// Deterministic xorshift64* stream for initialisation and shuffling.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The state is the SplitMix64 finaliser of `seed`: a bijection, so distinct seeds give
    /// distinct streams (forcing the low bit instead made seeds `2k` and `2k + 1` identical), and
    /// nearby seeds start far apart. Only the one seed whose image is 0 (xorshift's fixed
    /// point) is moved.
    pub fn new(seed: u64) -> Self {
        // The first SplitMix64 output for `seed` is exactly that finaliser (the simulator's
        // generator, reused rather than written twice).
        let z = aether_io::sim::rng::Rng::new(seed).next_u64();
        Rng(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The trainable head: parameters by RVNE name plus the attention op.
pub struct HeadNet {
    pub cfg: HeadConfig,
    /// Ordered by name so iteration (optimiser, checkpoints) is deterministic.
    pub params: BTreeMap<String, Var>,
    pub backend: AttnBackend,
    op: SparseAttnOp,
}

impl HeadNet {
    /// Fresh parameters: weights uniform in ±1/sqrt(fan_in) from `seed`, biases 0, norms 1/0.
    pub fn new(
        cfg: HeadConfig,
        backend: AttnBackend,
        seed: u64,
        dtype: DType,
    ) -> anyhow::Result<Self> {
        cfg.validate()?;
        let mut rng = Rng::new(seed);
        let dev = Device::Cpu;
        let mut params = BTreeMap::new();
        for (name, shape) in cfg.param_shapes() {
            let n: usize = shape.iter().product();
            let data: Vec<f64> = if name.ends_with(".weight") && shape.len() == 2 {
                let bound = 1.0 / (shape[1] as f64).sqrt();
                (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * bound).collect()
            } else if name.ends_with("norm1.weight")
                || name.ends_with("norm2.weight")
                || name == "final_norm.weight"
            {
                vec![1.0; n]
            } else {
                vec![0.0; n]
            };
            let t = Tensor::from_vec(data, shape.as_slice(), &dev)?.to_dtype(dtype)?;
            params.insert(name, Var::from_tensor(&t)?);
        }
        Self::from_params(cfg, backend, params)
    }

    /// Wraps existing parameters (checked against the config's names and shapes).
    pub fn from_params(
        cfg: HeadConfig,
        backend: AttnBackend,
        params: BTreeMap<String, Var>,
    ) -> anyhow::Result<Self> {
        cfg.validate()?;
        for (name, shape) in cfg.param_shapes() {
            let v = params
                .get(&name)
                .with_context(|| format!("missing parameter {name}"))?;
            if v.dims() != shape.as_slice() {
                bail!(
                    "parameter {name} has shape {:?}, expected {shape:?}",
                    v.dims()
                );
            }
        }
        let op = SparseAttnOp::new(
            cfg.attn.clone(),
            cfg.q_heads,
            cfg.kv_heads,
            cfg.head_dim,
            HeadLayout::Packed,
        )?;
        Ok(Self {
            cfg,
            params,
            backend,
            op,
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        self.params.values().cloned().collect()
    }

    pub fn param_count(&self) -> usize {
        self.params.values().map(|v| v.elem_count()).sum()
    }

    fn p(&self, name: &str) -> Result<&Tensor> {
        self.params
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg(format!("missing parameter {name}")))
    }

    /// `x W^T + b` for x `[B, T, in]` or `[B, in]`.
    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let w = self.p(&format!("{name}.weight"))?;
        let b = self.p(&format!("{name}.bias"))?;
        x.broadcast_matmul(&w.t()?)?.broadcast_add(b)
    }

    fn layer_norm(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let w = self.p(&format!("{name}.weight"))?;
        let b = self.p(&format!("{name}.bias"))?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (var + f64::from(self.cfg.norm_eps))?.sqrt()?.recip()?;
        xc.broadcast_mul(&inv)?.broadcast_mul(w)?.broadcast_add(b)
    }

    fn attention(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        match self.backend {
            AttnBackend::Sparse => self.op.apply(q, k, v),
            AttnBackend::Dense => dense_attention(
                q,
                k,
                v,
                self.cfg.q_heads,
                self.cfg.kv_heads,
                self.cfg.head_dim,
                true,
            ),
        }
    }

    /// Frame features after the transformer and final norm: x `[B, T, input_dim]`
    /// (already normalised) -> `[B, T, d_model]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.linear(x, "input_proj")?;
        for i in 0..self.cfg.n_layers {
            let a = self.layer_norm(&h, &format!("layers.{i}.norm1"))?;
            let q = self.linear(&a, &format!("layers.{i}.attn.wq"))?;
            let k = self.linear(&a, &format!("layers.{i}.attn.wk"))?;
            let v = self.linear(&a, &format!("layers.{i}.attn.wv"))?;
            let att = self.attention(&q, &k, &v)?;
            h = (h + self.linear(&att, &format!("layers.{i}.attn.wo"))?)?;
            let f = self.layer_norm(&h, &format!("layers.{i}.norm2"))?;
            let f = self.linear(&f, &format!("layers.{i}.ffn.w1"))?.gelu()?;
            h = (h + self.linear(&f, &format!("layers.{i}.ffn.w2"))?)?;
        }
        self.layer_norm(&h, "final_norm")
    }

    /// Head outputs before any L2 normalisation, `[B, n_out]`.
    pub fn forward_raw(&self, x: &Tensor) -> Result<Tensor> {
        let z = self.encode(x)?;
        let pooled = match self.cfg.pooling {
            Pooling::Mean => z.mean(1)?,
            Pooling::Last => {
                let t = z.dim(1)?;
                z.narrow(1, t - 1, 1)?.squeeze(1)?
            }
        };
        self.linear(&pooled, "head")
    }

    /// Logits (or the L2-normalised embedding) `[B, n_out]` for x `[B, T, input_dim]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let z = self.encode(x)?;
        let pooled = match self.cfg.pooling {
            Pooling::Mean => z.mean(1)?,
            Pooling::Last => {
                let t = z.dim(1)?;
                z.narrow(1, t - 1, 1)?.squeeze(1)?
            }
        };
        let out = self.linear(&pooled, "head")?;
        match self.cfg.output_kind {
            OutputKind::Classes => Ok(out),
            OutputKind::Embedding => l2_normalise(&out),
        }
    }

    /// Parameter values as f32 by name.
    pub fn param_values(&self) -> anyhow::Result<BTreeMap<String, Vec<f32>>> {
        let mut m = BTreeMap::new();
        for (k, v) in &self.params {
            m.insert(
                k.clone(),
                v.as_tensor()
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            );
        }
        Ok(m)
    }
}

/// Rows scaled to unit L2 norm (floored so a zero row stays finite).
pub fn l2_normalise(x: &Tensor) -> Result<Tensor> {
    let n = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&n)
}

/// Everything an RVNE v2 export needs beyond the weights.
#[derive(Clone, Debug)]
pub struct ExportMeta {
    pub feature_set: u16,
    pub frame_rate_hz: f32,
    pub window_len: usize,
    pub hop: usize,
    /// Training's window labelling rule (`train.event_classes`, `train.event_min_frames`).
    pub window_labels: crate::data::WindowLabels,
    pub class_names: Vec<String>,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    /// Per-node calibration reference (`calib.mean`, `calib.std`), if any.
    pub calib: Option<(Vec<f32>, Vec<f32>)>,
    /// Trained on frames mapped through their session's empty-room reference
    /// (`input.reference`): such a head needs `calib.*` before it runs (`aether run` and the
    /// device library refuse it without).
    pub needs_reference: bool,
    /// Pooled empty-room feature mean/std of the training data (`input.idle_mean`,
    /// `input.idle_std`): what `aether calibrate` maps a node's reference onto.
    pub idle_ref: Option<(Vec<f32>, Vec<f32>)>,
    /// The attention the head was trained with (`train.attention`, written only for dense):
    /// `eval` and `run` score a dense-trained A/B head with dense attention.
    pub trained_attention: AttnBackend,
}

/// The `calib.*` pair that maps a node whose empty room has feature stats
/// (`node_mean`, `node_std`) onto the training empty room (`idle_mean`, `idle_std`):
/// `(f - calib.mean) / calib.std = (f - node_mean) / node_std * idle_std + idle_mean`.
/// A node reference may cover more features than the head reads (every feature a stream
/// keeps); the pair covers the head's (`idle_mean.len()`). A shorter reference is an error.
pub fn fold_reference(
    node_mean: &[f32],
    node_std: &[f32],
    idle_mean: &[f32],
    idle_std: &[f32],
) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let n = idle_mean.len();
    if node_mean.len() < n || node_std.len() < n || idle_std.len() != n {
        bail!(
            "a node reference of {} features cannot calibrate a head of {n}",
            node_mean.len()
        );
    }
    let std: Vec<f32> = (0..n).map(|d| node_std[d] / idle_std[d]).collect();
    let mean: Vec<f32> = (0..n)
        .map(|d| node_mean[d] - idle_mean[d] * std[d])
        .collect();
    Ok((mean, std))
}

/// Checks that recordings can feed a head of `input_dim` inputs recorded as feature set
/// `feature_set` (0 = unspecified): the host tools compute CSI feature set 1, 3 or 4 (see
/// `aether_csi::FeatureSet::csi_width`).
pub fn csi_input(feature_set: u32, input_dim: usize) -> anyhow::Result<()> {
    if aether_csi::FeatureSet::csi_width(feature_set, input_dim) != Some(input_dim) {
        bail!(
            "the head takes {input_dim} features per frame of feature set {feature_set}; \
             recordings give CSI feature set 1 (16), 3 (19) or 4 (22)"
        );
    }
    Ok(())
}

/// Parses `f32|f16|int8`.
pub fn parse_dtype(s: &str) -> anyhow::Result<TensorDtype> {
    match s {
        "f32" => Ok(TensorDtype::F32),
        "f16" => Ok(TensorDtype::F16),
        "int8" => Ok(TensorDtype::Int8),
        other => bail!("unknown dtype {other:?} (expected f32, f16 or int8)"),
    }
}

/// Writes the RVNE v2 bytes of a head: metadata keys and tensor names as `docs/rvne.md` gives them.
/// Matrices use `dtype`; norms, biases and input/calibration stats stay f32.
pub fn export_rvne_v2(
    cfg: &HeadConfig,
    params: &BTreeMap<String, Vec<f32>>,
    meta: &ExportMeta,
    dtype: TensorDtype,
) -> anyhow::Result<Vec<u8>> {
    if meta.input_mean.len() != cfg.input_dim || meta.input_std.len() != cfg.input_dim {
        bail!(
            "input stats must have input_dim ({}) entries",
            cfg.input_dim
        );
    }
    if cfg.output_kind == OutputKind::Classes && meta.class_names.len() != cfg.n_out {
        bail!(
            "{} class names for {} outputs",
            meta.class_names.len(),
            cfg.n_out
        );
    }
    let mut b = RvneV2Builder::new();
    let u = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    b.meta_u32("feature_set", u32::from(meta.feature_set))
        .meta_f32("frame_rate_hz", meta.frame_rate_hz)
        .meta_u32("window_len", u(meta.window_len))
        .meta_u32("hop", u(meta.hop))
        .meta_u32("input_dim", u(cfg.input_dim))
        .meta_u32("d_model", u(cfg.d_model))
        .meta_u32("n_layers", u(cfg.n_layers))
        .meta_u32("n_q_heads", u(cfg.q_heads))
        .meta_u32("n_kv_heads", u(cfg.kv_heads))
        .meta_u32("head_dim", u(cfg.head_dim))
        .meta_u32("d_ff", u(cfg.d_ff))
        .meta_u32("n_out", u(cfg.n_out))
        .meta_u32("attn.window", u(cfg.attn.window))
        .meta_u32("attn.block_size", u(cfg.attn.block_size))
        .meta_u32_array(
            "attn.global_tokens",
            &cfg.attn
                .global_tokens
                .iter()
                .map(|&g| u(g))
                .collect::<Vec<_>>(),
        )
        .meta_bool("attn.causal", cfg.attn.causal)
        .meta_bool("attn.log_stride", cfg.attn.log_stride)
        .meta_bool("attn.landmarks", cfg.attn.landmarks)
        .meta_bool("attn.landmark_log_count", cfg.attn.landmark_log_count)
        .meta_bool(
            "attn.landmark_exclude_window",
            cfg.attn.landmark_exclude_window,
        )
        .meta_f32("norm_eps", cfg.norm_eps)
        .meta_str("activation", "gelu")
        .meta_str("pooling", cfg.pooling.name())
        .meta_str("output_kind", cfg.output_kind.name())
        .meta_bool("input.reference", meta.needs_reference);
    // Only the A/B dense heads say so, so the default (sparse) files are unchanged.
    if meta.trained_attention == AttnBackend::Dense {
        b.meta_str("train.attention", "dense");
    }
    if cfg.output_kind == OutputKind::Classes {
        b.meta_str_array("class_names", &meta.class_names);
    }
    // Written only when a rule other than the default was used, so default files are unchanged.
    if !meta.window_labels.events.is_empty() {
        b.meta_str_array("train.event_classes", &meta.window_labels.events)
            .meta_u32(
                "train.event_min_frames",
                u(meta.window_labels.event_min_frames),
            );
        for (event, &frames) in &meta.window_labels.min_frames_by_event {
            b.meta_u32(&format!("train.event_min_frames.{event}"), u(frames));
        }
    }
    let rvne = |e: aether_rvne::RvneError| anyhow::anyhow!("RVNE v2 writer: {e}");
    b.add_tensor(
        "input.mean",
        TensorDtype::F32,
        &[cfg.input_dim],
        &meta.input_mean,
    )
    .map_err(rvne)?;
    b.add_tensor(
        "input.std",
        TensorDtype::F32,
        &[cfg.input_dim],
        &meta.input_std,
    )
    .map_err(rvne)?;
    for (name, shape) in cfg.param_shapes() {
        let data = params
            .get(&name)
            .with_context(|| format!("missing parameter {name}"))?;
        let dt = if shape.len() == 2 {
            dtype
        } else {
            TensorDtype::F32
        };
        b.add_tensor(&name, dt, &shape, data).map_err(rvne)?;
    }
    if let Some((m, s)) = &meta.idle_ref {
        b.add_tensor("input.idle_mean", TensorDtype::F32, &[cfg.input_dim], m)
            .map_err(rvne)?;
        b.add_tensor("input.idle_std", TensorDtype::F32, &[cfg.input_dim], s)
            .map_err(rvne)?;
    }
    if let Some((m, s)) = &meta.calib {
        b.add_tensor("calib.mean", TensorDtype::F32, &[cfg.input_dim], m)
            .map_err(rvne)?;
        b.add_tensor("calib.std", TensorDtype::F32, &[cfg.input_dim], s)
            .map_err(rvne)?;
    }
    b.to_bytes().map_err(rvne)
}

/// A head read back from an RVNE v2 file: config, f32 parameters and metadata.
pub struct LoadedHead {
    pub cfg: HeadConfig,
    pub params: BTreeMap<String, Vec<f32>>,
    pub meta: ExportMeta,
}

/// Why bytes are not an RVNE v2 model, in words (a v1 file is the seed's format: `inspect`
/// reads it, the trained-head commands need v2).
fn not_v2(e: aether_rvne::RvneError) -> anyhow::Error {
    match e {
        aether_rvne::RvneError::WrongVersion(1) => anyhow::anyhow!(
            "an RVNE v1 file (the seed's format): this command needs an RVNE v2 model, as `aether train` writes"
        ),
        e => anyhow::anyhow!("not a valid RVNE v2 model: {e}"),
    }
}

/// Reads an RVNE v2 head written by [`export_rvne_v2`] (or any file with the same names).
pub fn load_rvne_v2(bytes: &[u8]) -> anyhow::Result<LoadedHead> {
    use aether_rvne::v2::RvneV2View;
    let view = RvneV2View::parse(bytes).map_err(not_v2)?;
    // Every check the runtime (`run`, the device library) makes of a file runs first, before
    // any size from the metadata sizes an allocation: a head the runtime refuses is never
    // scored, calibrated or trained from.
    let head = aether_model::TemporalHead::from_v2(&view).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The architecture as the runtime read it, defaults included (`docs/rvne.md`: absent
    // `attn.global_tokens` is [0], `attn.log_stride` and `attn.landmarks` true): parsing the
    // metadata a second time here once defaulted them otherwise, and `eval` scored a different
    // model from the one `run` and the device run.
    let spec = head.spec();
    let u = |k: &str| -> anyhow::Result<usize> {
        view.meta_u32(k)
            .map(|v| v as usize)
            .with_context(|| format!("model metadata lacks {k}"))
    };
    let cfg = HeadConfig {
        input_dim: spec.input_dim,
        d_model: spec.d_model,
        n_layers: spec.n_layers,
        q_heads: spec.q_heads,
        kv_heads: spec.kv_heads,
        head_dim: spec.head_dim,
        d_ff: spec.d_ff,
        n_out: spec.n_out,
        attn: spec.attn.clone(),
        pooling: match spec.pooling {
            aether_model::Pooling::Mean => Pooling::Mean,
            aether_model::Pooling::Last => Pooling::Last,
        },
        output_kind: match spec.output_kind {
            aether_model::OutputKind::Classes => OutputKind::Classes,
            aether_model::OutputKind::Embedding => OutputKind::Embedding,
        },
        norm_eps: spec.norm_eps,
    };
    cfg.validate()?;
    let mut params = BTreeMap::new();
    for (name, shape) in cfg.param_shapes() {
        let t = view
            .require_tensor(&name, &shape)
            .map_err(|e| anyhow::anyhow!("tensor {name}: {e}"))?;
        let values = t.to_f32_vec();
        // Found here, by name, rather than as a NaN activation deep in the first forward pass.
        if values.iter().any(|v| !v.is_finite()) {
            bail!("tensor {name} holds NaN or infinity");
        }
        params.insert(name, values);
    }
    let vec_of = |name: &str| -> Option<Vec<f32>> {
        view.require_tensor(name, &[cfg.input_dim])
            .ok()
            .map(|t| t.to_f32_vec())
    };
    let input_mean = vec_of("input.mean").context("model lacks input.mean")?;
    let input_std = vec_of("input.std").context("model lacks input.std")?;
    if input_mean.iter().any(|v| !v.is_finite()) {
        bail!("tensor input.mean holds NaN or infinity");
    }
    if input_std.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        bail!("tensor input.std holds a value that is not a positive number");
    }
    let calib = match (vec_of("calib.mean"), vec_of("calib.std")) {
        (Some(m), Some(s)) => Some((m, s)),
        _ => None,
    };
    let class_names = view
        .meta_str_array("class_names")
        .map(|a| a.map(str::to_owned).collect())
        .unwrap_or_default();
    let meta = ExportMeta {
        feature_set: u16::try_from(spec.feature_set).context("feature_set out of range")?,
        frame_rate_hz: view.meta_f32("frame_rate_hz").unwrap_or(0.0),
        window_len: u("window_len")?,
        hop: match view.meta_u32("hop") {
            Some(0) => bail!("model metadata: hop is 0 (a decision needs at least one new frame)"),
            Some(h) => h as usize,
            None => 1,
        },
        window_labels: {
            let events: Vec<String> = view
                .meta_str_array("train.event_classes")
                .map(|a| a.map(str::to_owned).collect())
                .unwrap_or_default();
            let min_frames_by_event = (events.iter())
                .filter_map(|e| {
                    let key = format!("train.event_min_frames.{e}");
                    view.meta_u32(&key).map(|n| (e.clone(), n as usize))
                })
                .collect();
            crate::data::WindowLabels {
                events,
                event_min_frames: view
                    .meta_u32("train.event_min_frames")
                    .map(|n| n as usize)
                    .unwrap_or(0),
                min_frames_by_event,
            }
        },
        class_names,
        input_mean,
        input_std,
        calib,
        needs_reference: view.meta_bool("input.reference").unwrap_or(false),
        trained_attention: match view.meta_str("train.attention").unwrap_or("sparse") {
            "sparse" => AttnBackend::Sparse,
            "dense" => AttnBackend::Dense,
            o => bail!("model metadata: train.attention {o:?} is neither sparse nor dense"),
        },
        idle_ref: match (vec_of("input.idle_mean"), vec_of("input.idle_std")) {
            // What `calibrate` divides by: a zero or non-finite value would write a model
            // whose calibration is infinite.
            (Some(m), Some(s)) => {
                if m.iter().any(|v| !v.is_finite()) {
                    bail!("tensor input.idle_mean holds NaN or infinity");
                }
                if s.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                    bail!("tensor input.idle_std holds a value that is not a positive number");
                }
                Some((m, s))
            }
            (None, None) => None,
            _ => {
                bail!("input.idle_mean and input.idle_std come together, each of input_dim values")
            }
        },
    };
    Ok(LoadedHead { cfg, params, meta })
}

impl LoadedHead {
    /// The candle graph of this head (for evaluation on the host).
    pub fn net(&self, backend: AttnBackend) -> anyhow::Result<HeadNet> {
        let mut vars = BTreeMap::new();
        for (name, shape) in self.cfg.param_shapes() {
            let t = Tensor::from_vec(self.params[&name].clone(), shape.as_slice(), &Device::Cpu)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
        HeadNet::from_params(self.cfg.clone(), backend, vars)
    }
}

/// A copy of an RVNE v2 file whose `calib.mean` / `calib.std` map a node's empty-room
/// reference (`mean`, `std`: raw feature stats) onto the training empty room (see
/// [`fold_reference`]); needs the file's `input.idle_*`. Every other tensor keeps its bytes' dtype and values (int8 rows re-encode to the same codes, f16
/// round-trips through f32 exactly) and every metadata entry is kept. A reference over more
/// features than the head reads (set 3 stats for a set-1 head) is cut to its prefix.
pub fn with_calibration(bytes: &[u8], mean: &[f32], std: &[f32]) -> anyhow::Result<Vec<u8>> {
    use aether_rvne::v2::RvneV2View;
    let view = RvneV2View::parse(bytes).map_err(not_v2)?;
    let input_dim = view
        .meta_u32("input_dim")
        .context("model metadata lacks input_dim")? as usize;
    csi_input(view.meta_u32("feature_set").unwrap_or(0), input_dim)?;
    if mean.len() < input_dim || std.len() != mean.len() {
        bail!(
            "reference has {} features, the model takes {input_dim}",
            mean.len()
        );
    }
    let (mean, std) = (&mean[..input_dim], &std[..input_dim]);
    if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || mean.iter().any(|m| !m.is_finite()) {
        bail!("reference statistics must be finite with std > 0");
    }
    let idle = |n: &str| {
        view.require_tensor(n, &[input_dim])
            .map(|t| t.to_f32_vec())
            .map_err(|_| anyhow::anyhow!("the model has no {n} (training empty-room statistics), so a node reference cannot be mapped onto it"))
    };
    let (mean, std) = fold_reference(
        mean,
        std,
        &idle("input.idle_mean")?,
        &idle("input.idle_std")?,
    )?;
    let mut b = RvneV2Builder::new();
    for e in view.meta_entries() {
        b.meta_value(e.key, e.value);
    }
    let rvne = |e: aether_rvne::RvneError| anyhow::anyhow!("RVNE v2 writer: {e}");
    for t in view.tensors() {
        if t.name() == "calib.mean" || t.name() == "calib.std" {
            continue;
        }
        b.add_tensor(t.name(), t.dtype(), t.shape(), &t.to_f32_vec())
            .map_err(rvne)?;
    }
    b.add_tensor("calib.mean", TensorDtype::F32, &[input_dim], &mean)
        .map_err(rvne)?;
    b.add_tensor("calib.std", TensorDtype::F32, &[input_dim], &std)
        .map_err(rvne)?;
    b.to_bytes().map_err(rvne)
}

/// The metadata key recording the logit bias [`with_class_bias`] folded into `head.bias` for a
/// class (informational: readers run `head.bias` as it is).
pub fn class_bias_key(class: &str) -> String {
    format!("decision.class_bias.{class}")
}

/// A copy of an RVNE v2 class head with `bias` added to `class`'s entry of `head.bias`, so
/// every reader (eval, run, the device library) calls the class e^bias times as readily; the
/// sum of the biases so added is recorded under [`class_bias_key`]. Every other tensor and
/// metadata entry is kept as in [`with_calibration`].
pub fn with_class_bias(bytes: &[u8], class: &str, bias: f32) -> anyhow::Result<Vec<u8>> {
    use aether_rvne::v2::RvneV2View;
    let view = RvneV2View::parse(bytes).map_err(not_v2)?;
    if view.meta_str("output_kind").unwrap_or("classes") != "classes" {
        bail!("an embedding head has no classes to bias");
    }
    let names: Vec<&str> = (view.meta_str_array("class_names"))
        .context("the model names no classes (class_names)")?
        .collect();
    let index = (names.iter().position(|n| *n == class))
        .with_context(|| format!("{class:?} is not one of the model's classes {names:?}"))?;
    if !bias.is_finite() {
        bail!("a class bias must be finite, not {bias}");
    }
    let key = class_bias_key(class);
    let before = match view.meta(&key) {
        None => 0.0,
        Some(_) => view
            .meta_f32(&key)
            .with_context(|| format!("{key} is not an f32"))?,
    };
    let total = before + bias;
    let mut b = RvneV2Builder::new();
    for e in view.meta_entries() {
        if e.key != key {
            b.meta_value(e.key, e.value);
        }
    }
    b.meta_f32(&key, total);
    let rvne = |e: aether_rvne::RvneError| anyhow::anyhow!("RVNE v2 writer: {e}");
    let mut found = false;
    for t in view.tensors() {
        let mut values = t.to_f32_vec();
        if t.name() == "head.bias" {
            found = true;
            if values.len() != names.len() {
                bail!(
                    "head.bias has {} entries for {} classes",
                    values.len(),
                    names.len()
                );
            }
            values[index] += bias;
        }
        b.add_tensor(t.name(), t.dtype(), t.shape(), &values)
            .map_err(rvne)?;
    }
    if !found {
        bail!("the model has no head.bias");
    }
    b.to_bytes().map_err(rvne)
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn distinct_seeds_give_distinct_streams() {
        // Neighbouring seeds (the ones people pass to `--seed`) and the pairs the old low-bit
        // forcing merged: every stream's first draws differ from every other's.
        let firsts: Vec<[u64; 2]> = (0u64..256)
            .chain([0xAE7E5, 0xAE7E4, u64::MAX, u64::MAX - 1])
            .map(|s| {
                let mut r = Rng::new(s);
                [r.next_u64(), r.next_u64()]
            })
            .collect();
        let unique: std::collections::BTreeSet<_> = firsts.iter().collect();
        assert_eq!(unique.len(), firsts.len());
        // And the seed that maps to xorshift's fixed point still yields a live stream.
        let mut r = Rng::new(0);
        assert_ne!(r.next_u64(), r.next_u64());
    }
}

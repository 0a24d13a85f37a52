//! Loading a `TemporalHead` from RVNE v1 or v2 bytes, or from `HeadParams`.

use crate::error::{ModelError, Result, TensorId};
use crate::head::{Backend, Layer, Linear, Norm, TemporalHead};
use crate::math::{all_finite, Matrix};
use crate::params::HeadParams;
use crate::spec::{Architecture, HeadSpec, OutputKind, Pooling};
use aether_kernel::{SparseAttention, SparseConfig};
use aether_rvne::v2::{RvneV2View, TensorDtype, TensorView};
use aether_rvne::{parse_any, RvneFile, V1Matrix, WeightBlobView, WeightMatrix};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

const fn id(layer: Option<u32>, name: &'static str) -> TensorId {
    TensorId { layer, name }
}

/// The architecture of a v1 (seed) blob: its header's numbers, the seed's fixed pattern.
fn v1_spec(view: &WeightBlobView<'_>) -> Result<HeadSpec> {
    view.check_shape()?;
    let h = view.header;
    let i = h.input_dim as usize;
    let spec = HeadSpec {
        architecture: Architecture::SeedV1,
        input_dim: i,
        d_model: i,
        n_layers: h.n_layers as usize,
        q_heads: h.n_q_heads as usize,
        kv_heads: h.n_kv_heads as usize,
        head_dim: h.head_dim as usize,
        d_ff: 0,
        n_out: h.n_classes as usize,
        attn: SparseConfig::upstream(32, 16),
        norm_eps: 1e-5,
        pooling: Pooling::Mean,
        output_kind: OutputKind::Classes,
        class_names: Vec::new(),
        feature_set: 0,
        frame_rate_hz: 0.0,
        window_len: 256,
    };
    spec.validate()?;
    Ok(spec)
}

impl HeadSpec {
    /// The validated architecture a model file describes (v1 header or v2 metadata), without
    /// reading its weights: what firmware needs to size memory before loading. The same
    /// errors as [`TemporalHead::from_bytes`] for the header and metadata.
    pub fn of_file(bytes: &[u8]) -> Result<HeadSpec> {
        match parse_any(bytes)? {
            RvneFile::V1(v) => v1_spec(&v),
            RvneFile::V2(v) => {
                let spec = spec_from_meta(&v)?;
                spec.validate()?;
                Ok(spec)
            }
        }
    }
}

fn attention(spec: &HeadSpec) -> Result<SparseAttention> {
    SparseAttention::new(spec.attn.clone()).map_err(ModelError::Kernel)
}

impl TemporalHead {
    /// Loads an RVNE v1 or v2 file. Every parse failure is `ModelError::File(RvneError)`;
    /// an architecture the file contradicts is `MissingMeta`, `BadMeta`, `InvalidSpec`,
    /// `TooLarge`, `MissingTensor`, `WrongShape`, `WrongDtype` or `NonFiniteWeight`.
    /// Never panics on any bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match parse_any(bytes)? {
            RvneFile::V1(v) => Self::from_v1(&v),
            RvneFile::V2(v) => Self::from_v2(&v),
        }
    }

    /// A v1 (seed) blob: docs/rvne.md "Weight order and orientation".
    pub fn from_v1(view: &WeightBlobView<'_>) -> Result<Self> {
        let spec = v1_spec(view)?;
        // v1 stores [in][out] (y = x W); we hold [out][in] (y = W x).
        let transpose = |m: Option<WeightMatrix<'_>>, tid: TensorId| -> Result<Linear> {
            let m = m.ok_or(ModelError::MissingTensor(tid))?;
            let mut w = vec![0f32; m.rows * m.cols];
            for r in 0..m.rows {
                for c in 0..m.cols {
                    w[c * m.rows + r] = m.get(r, c).ok_or(ModelError::MissingTensor(tid))?;
                }
            }
            if !all_finite(&w) {
                return Err(ModelError::NonFiniteWeight(tid));
            }
            Ok(Linear {
                w: Matrix::F32 {
                    rows: m.cols,
                    cols: m.rows,
                    w,
                },
                b: None,
            })
        };
        let mut layers = Vec::with_capacity(spec.n_layers);
        for l in 0..spec.n_layers {
            let lid = Some(l as u32);
            let get = |m: V1Matrix, name| transpose(view.matrix(l, m), id(lid, name));
            layers.push(Layer {
                norm1: None,
                wq: get(V1Matrix::Wq, "Wq")?,
                wk: get(V1Matrix::Wk, "Wk")?,
                wv: get(V1Matrix::Wv, "Wv")?,
                wo: get(V1Matrix::Wo, "Wo")?,
                norm2: None,
                ffn: None,
            });
        }
        let head = transpose(view.classifier(), id(None, "classifier"))?;
        Ok(TemporalHead {
            attn: attention(&spec)?,
            spec,
            backend: Backend::Sparse,
            input_stats: None,
            input_proj: None,
            layers,
            final_norm: None,
            head,
        })
    }

    /// A v2 file with the tensor names and metadata of `docs/rvne.md` ("Naming convention for the temporal head").
    pub fn from_v2(view: &RvneV2View<'_>) -> Result<Self> {
        let spec = spec_from_meta(view)?;
        spec.validate()?;
        let s = &spec;
        let (i, d, ff, o) = (s.input_dim, s.d_model, s.d_ff, s.n_out);
        let (qt, kt) = (s.q_total(), s.kv_total());
        let mut name = String::new();
        let mut find = |tid: TensorId, shape: &[usize]| -> Result<TensorView<'_>> {
            name.clear();
            use core::fmt::Write;
            let _ = write!(name, "{tid}");
            let t = view.tensor(&name).ok_or(ModelError::MissingTensor(tid))?;
            if t.shape() != shape {
                return Err(ModelError::WrongShape(tid));
            }
            Ok(t)
        };
        let mut vector = |tid: TensorId, n: usize| -> Result<Vec<f32>> {
            let t = find(tid, &[n])?;
            if t.dtype() != TensorDtype::F32 {
                return Err(ModelError::WrongDtype(tid));
            }
            let v = t.to_f32_vec();
            if !all_finite(&v) {
                return Err(ModelError::NonFiniteWeight(tid));
            }
            Ok(v)
        };
        let input_mean = vector(id(None, "input.mean"), i)?;
        let input_std = vector(id(None, "input.std"), i)?;
        if input_std.iter().any(|&x| x <= 0.0) {
            return Err(ModelError::InvalidSpec("input.std must be > 0"));
        }
        // A node reference (`aether calibrate`) maps this node's frames onto the training empty
        // room before the input statistics; both maps are affine, so fold them into one and
        // the device runs a calibrated file exactly as the host does.
        let has = |name| view.tensor(name).is_some();
        let (input_mean, input_std) = match (has("calib.mean"), has("calib.std")) {
            (false, false) => (input_mean, input_std),
            (true, true) => {
                let cm = vector(id(None, "calib.mean"), i)?;
                let cs = vector(id(None, "calib.std"), i)?;
                if cs.iter().any(|&x| x <= 0.0) {
                    return Err(ModelError::InvalidSpec("calib.std must be > 0"));
                }
                let mean: Vec<f32> = (0..i).map(|d| cm[d] + input_mean[d] * cs[d]).collect();
                let std: Vec<f32> = (0..i).map(|d| cs[d] * input_std[d]).collect();
                if !all_finite(&std) || std.iter().any(|&x| x <= 0.0) {
                    return Err(ModelError::InvalidSpec("calib.std * input.std must be > 0"));
                }
                // Finite factors can still overflow: found here, not as a NaN activation.
                if !all_finite(&mean) {
                    return Err(ModelError::InvalidSpec(
                        "calib.mean + input.mean * calib.std overflows",
                    ));
                }
                (mean, std)
            }
            _ => {
                return Err(ModelError::InvalidSpec(
                    "calib.mean and calib.std come together",
                ))
            }
        };
        let ip_b = vector(id(None, "input_proj.bias"), d)?;
        let mut norm = |l: Option<u32>, w: &'static str, b: &'static str| -> Result<Norm> {
            Ok(Norm {
                w: vector(id(l, w), d)?,
                b: vector(id(l, b), d)?,
            })
        };
        let mut norms = Vec::with_capacity(s.n_layers);
        for l in 0..s.n_layers {
            let lid = Some(l as u32);
            norms.push((
                norm(lid, "norm1.weight", "norm1.bias")?,
                norm(lid, "norm2.weight", "norm2.bias")?,
            ));
        }
        let final_norm = norm(None, "final_norm.weight", "final_norm.bias")?;
        let mut biases = Vec::with_capacity(s.n_layers);
        for l in 0..s.n_layers {
            let lid = Some(l as u32);
            biases.push([
                vector(id(lid, "attn.wq.bias"), qt)?,
                vector(id(lid, "attn.wk.bias"), kt)?,
                vector(id(lid, "attn.wv.bias"), kt)?,
                vector(id(lid, "attn.wo.bias"), d)?,
                vector(id(lid, "ffn.w1.bias"), ff)?,
                vector(id(lid, "ffn.w2.bias"), d)?,
            ]);
        }
        let head_b = vector(id(None, "head.bias"), o)?;
        let mut matrix = |tid: TensorId, rows: usize, cols: usize| -> Result<Matrix> {
            let t = find(tid, &[rows, cols])?;
            let m = match t.dtype() {
                TensorDtype::F32 | TensorDtype::F16 => Matrix::F32 {
                    rows,
                    cols,
                    w: t.to_f32_vec(),
                },
                TensorDtype::Int8 => {
                    let scales: Vec<f32> =
                        (0..rows).map(|r| t.scale(r).unwrap_or(f32::NAN)).collect();
                    let q: Vec<i8> = t.data().iter().map(|&b| b as i8).collect();
                    Matrix::Int8 {
                        rows,
                        cols,
                        q,
                        scales,
                    }
                }
            };
            let finite = match &m {
                Matrix::F32 { w, .. } => all_finite(w),
                Matrix::Int8 { scales, .. } => all_finite(scales),
            };
            if !finite {
                return Err(ModelError::NonFiniteWeight(tid));
            }
            Ok(m)
        };
        let input_proj = Linear {
            w: matrix(id(None, "input_proj.weight"), d, i)?,
            b: Some(ip_b),
        };
        let mut layers = Vec::with_capacity(s.n_layers);
        for (l, ((n1, n2), [bq, bk, bv, bo, b1, b2])) in norms.into_iter().zip(biases).enumerate() {
            let lid = Some(l as u32);
            layers.push(Layer {
                norm1: Some(n1),
                wq: Linear {
                    w: matrix(id(lid, "attn.wq.weight"), qt, d)?,
                    b: Some(bq),
                },
                wk: Linear {
                    w: matrix(id(lid, "attn.wk.weight"), kt, d)?,
                    b: Some(bk),
                },
                wv: Linear {
                    w: matrix(id(lid, "attn.wv.weight"), kt, d)?,
                    b: Some(bv),
                },
                wo: Linear {
                    w: matrix(id(lid, "attn.wo.weight"), d, qt)?,
                    b: Some(bo),
                },
                norm2: Some(n2),
                ffn: Some((
                    Linear {
                        w: matrix(id(lid, "ffn.w1.weight"), ff, d)?,
                        b: Some(b1),
                    },
                    Linear {
                        w: matrix(id(lid, "ffn.w2.weight"), d, ff)?,
                        b: Some(b2),
                    },
                )),
            });
        }
        let head = Linear {
            w: matrix(id(None, "head.weight"), o, d)?,
            b: Some(head_b),
        };
        Ok(TemporalHead {
            attn: attention(&spec)?,
            spec,
            backend: Backend::Sparse,
            input_stats: Some((input_mean, input_std)),
            input_proj: Some(input_proj),
            layers,
            final_norm: Some(final_norm),
            head,
        })
    }

    /// A head computing with `params` directly in f32 (no file round trip).
    pub fn from_params(params: &HeadParams) -> Result<Self> {
        // One code path for every check: encode as f32 v2 and load. f32 round-trips exactly.
        let bytes = params.to_rvne_v2(TensorDtype::F32)?;
        Self::from_bytes(&bytes)
    }
}

fn req_u32(view: &RvneV2View<'_>, key: &'static str) -> Result<usize> {
    let v = view.meta_u32(key).ok_or(ModelError::MissingMeta(key))?;
    usize::try_from(v).map_err(|_| ModelError::TooLarge {
        what: key,
        value: v as u64,
    })
}

fn opt_bool(view: &RvneV2View<'_>, key: &'static str, default: bool) -> Result<bool> {
    match view.meta(key) {
        None => Ok(default),
        Some(_) => view.meta_bool(key).ok_or(ModelError::MissingMeta(key)),
    }
}

/// The architecture from v2 metadata. Required: the eight dimensions, `attn.window`,
/// `attn.block_size`. Optional with defaults: `attn.global_tokens` [0], `attn.causal`,
/// `attn.log_stride`, `attn.landmarks` true, the two improvement flags false, `norm_eps` 1e-5,
/// `activation` "gelu" (the only one), `pooling` "mean", `output_kind` "classes",
/// `class_names` none, `feature_set` 0, `frame_rate_hz` 0, `window_len` 0. A key present with
/// another type than documented is `MissingMeta`.
fn spec_from_meta(view: &RvneV2View<'_>) -> Result<HeadSpec> {
    let opt_u32 = |key: &'static str, default: u32| match view.meta(key) {
        None => Ok(default),
        Some(_) => view.meta_u32(key).ok_or(ModelError::MissingMeta(key)),
    };
    let opt_str = |key: &'static str, default: &'static str| match view.meta(key) {
        None => Ok(default),
        Some(_) => view.meta_str(key).ok_or(ModelError::MissingMeta(key)),
    };
    let global_tokens = match view.meta("attn.global_tokens") {
        None => vec![0],
        Some(_) => {
            let a = view
                .meta_u32_array("attn.global_tokens")
                .ok_or(ModelError::MissingMeta("attn.global_tokens"))?;
            if a.len() > 64 {
                return Err(ModelError::TooLarge {
                    what: "attn.global_tokens",
                    value: a.len() as u64,
                });
            }
            a.map(|g| g as usize).collect()
        }
    };
    let attn = SparseConfig {
        window: req_u32(view, "attn.window")?,
        block_size: req_u32(view, "attn.block_size")?,
        global_tokens,
        causal: opt_bool(view, "attn.causal", true)?,
        log_stride: opt_bool(view, "attn.log_stride", true)?,
        landmarks: opt_bool(view, "attn.landmarks", true)?,
        landmark_log_count: opt_bool(view, "attn.landmark_log_count", false)?,
        landmark_exclude_window: opt_bool(view, "attn.landmark_exclude_window", false)?,
    };
    let norm_eps = match view.meta("norm_eps") {
        None => 1e-5,
        Some(_) => view
            .meta_f32("norm_eps")
            .ok_or(ModelError::MissingMeta("norm_eps"))?,
    };
    if opt_str("activation", "gelu")? != "gelu" {
        return Err(ModelError::BadMeta {
            key: "activation",
            reason: "only \"gelu\" is defined",
        });
    }
    let pooling = match opt_str("pooling", "mean")? {
        "mean" => Pooling::Mean,
        "last" => Pooling::Last,
        _ => {
            return Err(ModelError::BadMeta {
                key: "pooling",
                reason: "must be \"mean\" or \"last\"",
            })
        }
    };
    let output_kind = match opt_str("output_kind", "classes")? {
        "classes" => OutputKind::Classes,
        "embedding" => OutputKind::Embedding,
        _ => {
            return Err(ModelError::BadMeta {
                key: "output_kind",
                reason: "must be \"classes\" or \"embedding\"",
            })
        }
    };
    let n_out = req_u32(view, "n_out")?;
    let class_names: Vec<String> = match view.meta("class_names") {
        None => Vec::new(),
        Some(_) => {
            let a = view
                .meta_str_array("class_names")
                .ok_or(ModelError::MissingMeta("class_names"))?;
            if a.len() != n_out {
                return Err(ModelError::InvalidSpec(
                    "class_names must have n_out entries",
                ));
            }
            a.map(String::from).collect()
        }
    };
    let frame_rate_hz = match view.meta("frame_rate_hz") {
        None => 0.0,
        Some(_) => view
            .meta_f32("frame_rate_hz")
            .ok_or(ModelError::MissingMeta("frame_rate_hz"))?,
    };
    Ok(HeadSpec {
        architecture: Architecture::PreNorm,
        input_dim: req_u32(view, "input_dim")?,
        d_model: req_u32(view, "d_model")?,
        n_layers: req_u32(view, "n_layers")?,
        q_heads: req_u32(view, "n_q_heads")?,
        kv_heads: req_u32(view, "n_kv_heads")?,
        head_dim: req_u32(view, "head_dim")?,
        d_ff: req_u32(view, "d_ff")?,
        n_out,
        attn,
        norm_eps,
        pooling,
        output_kind,
        class_names,
        feature_set: opt_u32("feature_set", 0)?,
        frame_rate_hz,
        window_len: opt_u32("window_len", 0)? as usize,
    })
}

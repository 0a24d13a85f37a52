//! The head's architecture: every dimension, the attention pattern, pooling, output kind and
//! the data contract (feature set, frame rate, trained window length).

use crate::error::{ModelError, Result};
use aether_kernel::SparseConfig;
use alloc::string::String;
use alloc::vec::Vec;

/// Largest single dimension accepted from a file (`input_dim`, `d_model`, heads, `d_ff`, ...).
pub const MAX_DIM: usize = 1 << 16;
/// Largest total parameter count accepted (64 Mi elements, 256 MiB as f32).
pub const MAX_PARAMS: u64 = 1 << 26;
/// Largest `window_len`, attention window, block size and global-token position accepted from
/// a file (bounds what a session's scratch and pinned prefix can allocate).
pub const MAX_WINDOW: usize = 1 << 16;

/// Which forward pass the weights describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// RVNE v1 (the seed's blob): width = `input_dim`, attention layers with residuals only,
    /// no norms, biases, FFN or input projection; mean pooling; classifier (docs/rvne.md).
    SeedV1,
    /// RVNE v2: the pre-norm transformer of the crate README ("The model").
    PreNorm,
}

/// How per-frame states become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the window's frames.
    Mean,
    /// The last frame only.
    Last,
}

impl Pooling {
    /// The metadata string.
    pub const fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Last => "last",
        }
    }
}

/// What the head's outputs mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `n_out` class logits.
    Classes,
    /// An `n_out`-dimensional embedding, L2-normalised.
    Embedding,
}

impl OutputKind {
    /// The metadata string.
    pub const fn name(self) -> &'static str {
        match self {
            OutputKind::Classes => "classes",
            OutputKind::Embedding => "embedding",
        }
    }
}

/// Every dimension and option of a head. Metadata key names are in brackets where they differ.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadSpec {
    pub architecture: Architecture,
    /// Features per frame.
    pub input_dim: usize,
    /// Model width (v1: equals `input_dim`).
    pub d_model: usize,
    pub n_layers: usize,
    /// Query heads (`n_q_heads`).
    pub q_heads: usize,
    /// Key/value heads (`n_kv_heads`); divides `q_heads`.
    pub kv_heads: usize,
    pub head_dim: usize,
    /// FFN hidden width (v1: 0, no FFN).
    pub d_ff: usize,
    /// Outputs: classes or embedding dimension.
    pub n_out: usize,
    /// Sparse attention pattern (`attn.*`).
    pub attn: SparseConfig,
    /// LayerNorm epsilon (`norm_eps`, default 1e-5).
    pub norm_eps: f32,
    pub pooling: Pooling,
    pub output_kind: OutputKind,
    /// `n_out` names for a classes head (may be empty for v1, which carries none).
    pub class_names: Vec<String>,
    /// Feature extractor id of the inputs (0 = unspecified, as in v1).
    pub feature_set: u32,
    /// Frames per second (0 = unspecified, as in v1).
    pub frame_rate_hz: f32,
    /// Frames the model was trained on (v1: 256, the seed firmware's default window).
    pub window_len: usize,
}

impl HeadSpec {
    /// The project's default v2 head: 16 features, d_model 32, 2 layers, 4 query heads sharing
    /// 1 KV head (MQA) of dim 8, FFN 64, attention window 32 / block 16 (the seed's
    /// `default_aether` pattern), 4 classes, mean pooling, 256-frame window at 5 Hz.
    pub fn default_v2() -> Self {
        HeadSpec {
            architecture: Architecture::PreNorm,
            input_dim: 16,
            d_model: 32,
            n_layers: 2,
            q_heads: 4,
            kv_heads: 1,
            head_dim: 8,
            d_ff: 64,
            n_out: 4,
            attn: SparseConfig::upstream(32, 16),
            norm_eps: 1e-5,
            pooling: Pooling::Mean,
            output_kind: OutputKind::Classes,
            class_names: (0..4).map(|i| alloc::format!("class{i}")).collect(),
            feature_set: 1,
            frame_rate_hz: 5.0,
            window_len: 256,
        }
    }

    /// `q_heads * head_dim`.
    pub fn q_total(&self) -> usize {
        self.q_heads * self.head_dim
    }

    /// `kv_heads * head_dim`.
    pub fn kv_total(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Parameter count of this architecture (every weight, bias, norm and input statistic).
    pub fn params(&self) -> u64 {
        // u128: with every dimension at MAX_DIM the count still fits, so no overflow anywhere.
        let (d, i, f, o) = (
            self.d_model as u128,
            self.input_dim as u128,
            self.d_ff as u128,
            self.n_out as u128,
        );
        let (qt, kt) = (
            self.q_heads as u128 * self.head_dim as u128,
            self.kv_heads as u128 * self.head_dim as u128,
        );
        let n = match self.architecture {
            Architecture::SeedV1 => {
                let layer = i * qt + 2 * i * kt + qt * i;
                self.n_layers as u128 * layer + i * o
            }
            Architecture::PreNorm => {
                let layer = 2 * d // norm1
                    + (qt * d + qt) + 2 * (kt * d + kt) + (d * qt + d)
                    + 2 * d // norm2
                    + (f * d + f) + (d * f + d);
                2 * i + (d * i + d) + self.n_layers as u128 * layer + 2 * d + (o * d + o)
            }
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Checks the architecture is possible and within this crate's limits.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("input_dim", self.input_dim),
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("n_q_heads", self.q_heads),
            ("n_kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("d_ff", self.d_ff),
            ("n_out", self.n_out),
        ] {
            if v > MAX_DIM {
                return Err(ModelError::TooLarge {
                    what,
                    value: v as u64,
                });
            }
        }
        for (what, v) in [
            ("window_len", self.window_len),
            ("attn.window", self.attn.window),
            ("attn.block_size", self.attn.block_size),
        ] {
            if v > MAX_WINDOW {
                return Err(ModelError::TooLarge {
                    what,
                    value: v as u64,
                });
            }
        }
        if self.attn.global_tokens.len() > 64
            || self.attn.global_tokens.iter().any(|&g| g > MAX_WINDOW)
        {
            return Err(ModelError::TooLarge {
                what: "attn.global_tokens",
                value: self.attn.global_tokens.len() as u64,
            });
        }
        if self.input_dim == 0
            || self.d_model == 0
            || self.q_heads == 0
            || self.kv_heads == 0
            || self.head_dim == 0
        {
            return Err(ModelError::InvalidSpec(
                "input_dim, d_model, n_q_heads, n_kv_heads, head_dim must all be > 0",
            ));
        }
        if !self.q_heads.is_multiple_of(self.kv_heads) {
            return Err(ModelError::InvalidSpec(
                "n_q_heads must be divisible by n_kv_heads",
            ));
        }
        if self.n_layers == 0 {
            return Err(ModelError::InvalidSpec("n_layers must be >= 1"));
        }
        if self.n_out == 0 {
            return Err(ModelError::InvalidSpec("n_out must be >= 1"));
        }
        if self.attn.block_size == 0 {
            return Err(ModelError::InvalidSpec("attn.block_size must be > 0"));
        }
        match self.architecture {
            Architecture::SeedV1 => {
                if self.d_model != self.input_dim || self.d_ff != 0 {
                    return Err(ModelError::InvalidSpec(
                        "v1: d_model must equal input_dim and d_ff must be 0",
                    ));
                }
            }
            Architecture::PreNorm => {
                if self.d_ff == 0 {
                    return Err(ModelError::InvalidSpec("d_ff must be > 0"));
                }
                if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
                    return Err(ModelError::InvalidSpec("norm_eps must be finite and > 0"));
                }
            }
        }
        if self.output_kind == OutputKind::Classes
            && !self.class_names.is_empty()
            && self.class_names.len() != self.n_out
        {
            return Err(ModelError::InvalidSpec(
                "class_names must have n_out entries",
            ));
        }
        if !(self.frame_rate_hz.is_finite() && self.frame_rate_hz >= 0.0) {
            return Err(ModelError::InvalidSpec(
                "frame_rate_hz must be finite and >= 0",
            ));
        }
        if self.params() > MAX_PARAMS {
            return Err(ModelError::TooLarge {
                what: "params",
                value: self.params(),
            });
        }
        Ok(())
    }
}

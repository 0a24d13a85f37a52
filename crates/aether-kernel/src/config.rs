//! The sparse pattern configuration and the attention shape.

use crate::tensor::checked_len;
use crate::KernelError;
use alloc::vec;
use alloc::vec::Vec;

/// Which keys a query sees. Defaults reproduce `ruvllm_sparse_attention` 0.1.1 exactly;
/// the two `landmark_*` options improve accuracy and are off by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseConfig {
    /// Local window radius `W`: causal `[i-W, i]`, non-causal `[i-W, i+W]`.
    pub window: usize,
    /// Landmark block size `B` (> 0). Block `b` covers tokens `[bB, (b+1)B)`.
    pub block_size: usize,
    /// Absolute positions every query may attend to (one-directional; out of range ignored).
    pub global_tokens: Vec<usize>,
    /// Causal masking.
    pub causal: bool,
    /// Add tokens `i - 2^k` (and `i + 2^k` when non-causal).
    pub log_stride: bool,
    /// Add block-mean pseudo-keys ("landmarks").
    pub landmarks: bool,
    /// Add `ln(tokens in block)` to each landmark logit, so a block weighs as much as its tokens.
    pub landmark_log_count: bool,
    /// Skip landmark blocks that overlap the local window (their tokens are already seen).
    pub landmark_exclude_window: bool,
}

/// What a pattern's per-query candidate count depends on, without the global token list: for
/// sizing memory before anything is allocated ([`DecodeScratch::heap_bytes`](crate::DecodeScratch::heap_bytes)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternExtent {
    /// `SparseConfig::window`.
    pub window: usize,
    /// `SparseConfig::causal`.
    pub causal: bool,
    /// How many global tokens the pattern lists.
    pub globals: usize,
}

impl SparseConfig {
    /// This pattern's [`PatternExtent`].
    pub fn extent(&self) -> PatternExtent {
        PatternExtent {
            window: self.window,
            causal: self.causal,
            globals: self.global_tokens.len(),
        }
    }
}

impl Default for SparseConfig {
    /// The upstream default: W=128, B=64, globals [0], causal, log-stride and landmarks on.
    fn default() -> Self {
        Self {
            window: 128,
            block_size: 64,
            global_tokens: vec![0],
            causal: true,
            log_stride: true,
            landmarks: true,
            landmark_log_count: false,
            landmark_exclude_window: false,
        }
    }
}

impl SparseConfig {
    /// Upstream pattern with the given window and block size (globals `[0]`, causal).
    pub fn upstream(window: usize, block_size: usize) -> Self {
        Self {
            window,
            block_size,
            ..Self::default()
        }
    }

    /// Both accuracy options on.
    pub fn improved(mut self) -> Self {
        self.landmark_log_count = true;
        self.landmark_exclude_window = true;
        self
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        if self.block_size == 0 {
            return Err(KernelError::InvalidConfig("block_size must be > 0"));
        }
        Ok(())
    }
}

/// Shape of one attention call: `q` is `[seq][q_heads][head_dim]`, `k` and `v` are
/// `[seq][kv_heads][head_dim]`. `q_heads == kv_heads` is multi-head attention; otherwise
/// query head `h` reads KV head `h / (q_heads / kv_heads)` (GQA; MQA when `kv_heads == 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    pub seq: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl AttnShape {
    pub fn mha(seq: usize, heads: usize, head_dim: usize) -> Self {
        Self {
            seq,
            q_heads: heads,
            kv_heads: heads,
            head_dim,
        }
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        if self.q_heads == 0 || self.kv_heads == 0 || self.head_dim == 0 {
            return Err(KernelError::ZeroDim);
        }
        if !self.q_heads.is_multiple_of(self.kv_heads) {
            return Err(KernelError::HeadRatio {
                q_heads: self.q_heads,
                kv_heads: self.kv_heads,
            });
        }
        self.q_len()?;
        self.kv_len()?;
        Ok(())
    }

    /// Query heads per KV head (0 for a shape with no KV head, which `validate` refuses).
    pub fn group(&self) -> usize {
        self.q_heads.checked_div(self.kv_heads).unwrap_or(0)
    }

    pub fn q_len(&self) -> Result<usize, KernelError> {
        checked_len(self.seq, self.q_heads, self.head_dim)
    }

    pub fn kv_len(&self) -> Result<usize, KernelError> {
        checked_len(self.seq, self.kv_heads, self.head_dim)
    }

    /// Checks `q`, `k`, `v` (and optionally more `q`-shaped buffers) against the shape.
    pub(crate) fn check(&self, q: usize, k: usize, v: usize) -> Result<(), KernelError> {
        self.validate()?;
        let ql = self.q_len()?;
        let kl = self.kv_len()?;
        for (tensor, expected, got) in [("q", ql, q), ("k", kl, k), ("v", kl, v)] {
            if expected != got {
                return Err(KernelError::Length {
                    tensor,
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }
}

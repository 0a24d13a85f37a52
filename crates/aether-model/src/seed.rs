//! The seed host crate's API (`wifi-densepose-temporal`, RuView PR #516), so code written
//! against it ports by changing the import: `TemporalHeadConfig`, `TemporalBackendKind`,
//! `AetherTemporalHead` (with `SparseGqaHead` and `DenseHead`), `TemporalError`.
//!
//! Differences from the seed, all deliberate:
//! * `TemporalError::Kernel` holds the kernel's `KernelError` (a `Copy` value, no `String`:
//!   this crate is `no_std`); its `Display` is `sparse attention kernel error: {kernel message}`.
//! * The dense backend supports GQA/MQA (`aether_kernel::dense_forward`) instead of requiring
//!   identical q/k/v shapes.
//! * `make_cache` returns kernel size errors instead of panicking.

use aether_kernel::{
    dense_forward, tensor_shape, CacheMode, KernelError, KvCache, SparseAttention, SparseConfig,
    Tensor3,
};
use core::fmt;

/// Which attention a [`AetherTemporalHead`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemporalBackendKind {
    /// Exact dense attention (A/B reference; no streaming).
    Dense,
    /// Sparse attention with grouped-query heads (the seed's default).
    SparseGqa,
}

/// The seed's head configuration.
#[derive(Clone, Debug)]
pub struct TemporalHeadConfig {
    pub backend: TemporalBackendKind,
    pub q_heads: usize,
    /// Must divide `q_heads` (GQA group = q/kv).
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Local attention window radius (not validated; 0 is allowed).
    pub window: usize,
    /// Landmark block size (> 0, checked even for Dense, as in the seed).
    pub block_size: usize,
    pub causal: bool,
}

impl TemporalHeadConfig {
    /// `{ SparseGqa, q_heads 4, kv_heads 1, head_dim 32, window 32, block_size 16, causal }`.
    pub fn default_aether() -> Self {
        TemporalHeadConfig {
            backend: TemporalBackendKind::SparseGqa,
            q_heads: 4,
            kv_heads: 1,
            head_dim: 32,
            window: 32,
            block_size: 16,
            causal: true,
        }
    }

    /// The seed's checks, in its order and with its messages.
    pub fn validate(&self) -> Result<(), TemporalError> {
        if self.q_heads == 0 || self.kv_heads == 0 || self.head_dim == 0 {
            return Err(TemporalError::InvalidConfig(
                "q_heads, kv_heads, head_dim must all be > 0",
            ));
        }
        if !self.q_heads.is_multiple_of(self.kv_heads) {
            return Err(TemporalError::InvalidConfig(
                "q_heads must be divisible by kv_heads (GQA constraint)",
            ));
        }
        if self.block_size == 0 {
            return Err(TemporalError::InvalidConfig("block_size must be > 0"));
        }
        Ok(())
    }

    /// The kernel pattern: globals `[0]`, log-stride and landmarks on (the seed's settings).
    fn sparse_config(&self) -> SparseConfig {
        SparseConfig {
            causal: self.causal,
            ..SparseConfig::upstream(self.window, self.block_size)
        }
    }
}

/// The seed's error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemporalError {
    InvalidConfig(&'static str),
    /// Kept for source compatibility; never produced (the dense backend exists).
    DenseBackendNotImplemented,
    BackendDoesNotSupportStreaming,
    Kernel(KernelError),
}

impl fmt::Display for TemporalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemporalError::InvalidConfig(m) => write!(f, "temporal head config invalid: {m}"),
            TemporalError::DenseBackendNotImplemented => {
                f.write_str("dense MHA backend not implemented yet (ADR-096 §4.4 follow-up)")
            }
            TemporalError::BackendDoesNotSupportStreaming => f.write_str(
                "dense backend does not support streaming step(); use SparseGqa for online decode",
            ),
            TemporalError::Kernel(e) => write!(f, "sparse attention kernel error: {e}"),
        }
    }
}

impl core::error::Error for TemporalError {}

impl From<KernelError> for TemporalError {
    fn from(e: KernelError) -> Self {
        TemporalError::Kernel(e)
    }
}

/// Sparse GQA attention over caller-supplied q/k/v (no projections, no pooling).
#[derive(Clone, Debug)]
pub struct SparseGqaHead {
    cfg: TemporalHeadConfig,
    attn: SparseAttention,
}

impl SparseGqaHead {
    pub fn new(cfg: &TemporalHeadConfig) -> Result<Self, TemporalError> {
        cfg.validate()?;
        Ok(SparseGqaHead {
            attn: SparseAttention::new(cfg.sparse_config())?,
            cfg: cfg.clone(),
        })
    }

    pub fn cfg(&self) -> &TemporalHeadConfig {
        &self.cfg
    }

    /// Prefill: `(seq, q_heads, head_dim)` per-token attention outputs.
    pub fn forward(&self, q: &Tensor3, k: &Tensor3, v: &Tensor3) -> Result<Tensor3, TemporalError> {
        Ok(self.attn.forward(q, k, v)?)
    }

    /// Streaming decode of one token: appends `k_new`/`v_new` to `cache`, attends `q_new`.
    pub fn step(
        &self,
        q_new: &Tensor3,
        k_new: &Tensor3,
        v_new: &Tensor3,
        cache: &mut KvCache,
    ) -> Result<Tensor3, TemporalError> {
        if q_new.seq != 1 || k_new.seq != 1 || v_new.seq != 1 {
            return Err(TemporalError::InvalidConfig(
                "step() requires single-token q/k/v (seq == 1 each)",
            ));
        }
        // Every check of the query runs before the append: a refused step leaves the cache as
        // it was, so a retry does not store the token twice.
        if q_new.heads != self.cfg.q_heads || q_new.dim != cache.dim() {
            return Err(TemporalError::Kernel(KernelError::Mismatch {
                what: "step q heads*dim",
                expected: self.cfg.q_heads * cache.dim(),
                got: q_new.heads * q_new.dim,
            }));
        }
        self.attn
            .check_decode_query(&q_new.data, q_new.heads, cache)?;
        cache.try_append(k_new, v_new)?;
        Ok(self.attn.decode_step_tensor(q_new, cache)?)
    }

    /// A growing cache of `capacity` tokens for this head's shape.
    pub fn make_cache(&self, capacity: usize) -> Result<KvCache, TemporalError> {
        Ok(KvCache::try_new(
            capacity,
            self.cfg.kv_heads,
            self.cfg.head_dim,
            self.cfg.block_size,
            CacheMode::Growing,
        )?)
    }
}

/// Exact dense attention (window and block size ignored). GQA supported.
#[derive(Clone, Debug)]
pub struct DenseHead {
    causal: bool,
    cfg: TemporalHeadConfig,
}

impl DenseHead {
    pub fn new(cfg: &TemporalHeadConfig) -> Result<Self, TemporalError> {
        cfg.validate()?;
        Ok(DenseHead {
            causal: cfg.causal,
            cfg: cfg.clone(),
        })
    }

    pub fn cfg(&self) -> &TemporalHeadConfig {
        &self.cfg
    }

    pub fn forward(&self, q: &Tensor3, k: &Tensor3, v: &Tensor3) -> Result<Tensor3, TemporalError> {
        let shape = tensor_shape(q, k, v)?;
        let mut out = Tensor3::try_zeros(q.seq, q.heads, q.dim)?;
        dense_forward(shape, self.causal, &q.data, &k.data, &v.data, &mut out.data)?;
        Ok(out)
    }
}

/// The seed's facade: one of the two backends.
#[derive(Clone, Debug)]
pub enum AetherTemporalHead {
    SparseGqa(SparseGqaHead),
    Dense(DenseHead),
}

impl AetherTemporalHead {
    pub fn new(cfg: &TemporalHeadConfig) -> Result<Self, TemporalError> {
        Ok(match cfg.backend {
            TemporalBackendKind::SparseGqa => {
                AetherTemporalHead::SparseGqa(SparseGqaHead::new(cfg)?)
            }
            TemporalBackendKind::Dense => AetherTemporalHead::Dense(DenseHead::new(cfg)?),
        })
    }

    pub fn forward(&self, q: &Tensor3, k: &Tensor3, v: &Tensor3) -> Result<Tensor3, TemporalError> {
        match self {
            AetherTemporalHead::SparseGqa(h) => h.forward(q, k, v),
            AetherTemporalHead::Dense(h) => h.forward(q, k, v),
        }
    }

    /// Dense: `Err(BackendDoesNotSupportStreaming)`.
    pub fn step(
        &self,
        q_new: &Tensor3,
        k_new: &Tensor3,
        v_new: &Tensor3,
        cache: &mut KvCache,
    ) -> Result<Tensor3, TemporalError> {
        match self {
            AetherTemporalHead::SparseGqa(h) => h.step(q_new, k_new, v_new, cache),
            AetherTemporalHead::Dense(_) => Err(TemporalError::BackendDoesNotSupportStreaming),
        }
    }

    /// Dense: `Err(BackendDoesNotSupportStreaming)`.
    pub fn make_cache(&self, capacity: usize) -> Result<KvCache, TemporalError> {
        match self {
            AetherTemporalHead::SparseGqa(h) => h.make_cache(capacity),
            AetherTemporalHead::Dense(_) => Err(TemporalError::BackendDoesNotSupportStreaming),
        }
    }
}

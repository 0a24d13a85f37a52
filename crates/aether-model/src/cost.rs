//! Cost model: parameters, multiply-accumulates and working-set bytes, derived from the loops
//! the forward pass actually runs.
//!
//! MACs count multiply-accumulates of the matrix-vector products and of attention: each
//! candidate edge costs `2 * head_dim` per query head (the score dot product and the value
//! accumulation), with edges counted by the kernel's own pattern builder. Element-wise work
//! (LayerNorm, GELU, softmax exponentials, block means, pooling) is not counted.

use crate::head::{Backend, TemporalHead};
use crate::session::{pinned_prefix, KvStorage, WindowMode};
use crate::spec::{Architecture, HeadSpec};
use aether_kernel::{edge_count, QueryPattern};

impl HeadSpec {
    /// MACs of one frame's projections through every layer (input projection, Q/K/V/O, FFN).
    pub fn macs_projections_per_frame(&self) -> u64 {
        let (i, d, ff) = (self.input_dim as u64, self.d_model as u64, self.d_ff as u64);
        let (qt, kt) = (self.q_total() as u64, self.kv_total() as u64);
        let layer = qt * d + 2 * kt * d + d * qt + 2 * ff * d;
        let input = match self.architecture {
            Architecture::SeedV1 => 0,
            Architecture::PreNorm => d * i,
        };
        input + self.n_layers as u64 * layer
    }

    /// MACs of the output layer (once per window or per streamed output).
    pub fn macs_output(&self) -> u64 {
        (self.n_out * self.d_model) as u64
    }

    fn attention_macs_per_edge(&self) -> u64 {
        (self.q_heads * 2 * self.head_dim) as u64
    }

    /// MACs of one full-window pass over `t` frames with `backend`.
    pub fn macs_per_window(&self, t: usize, backend: Backend) -> u64 {
        let edges = match backend {
            Backend::Sparse => edge_count(&self.attn, t),
            Backend::Dense if self.attn.causal => (t as u64) * (t as u64 + 1) / 2,
            Backend::Dense => (t as u64) * (t as u64),
        };
        t as u64 * self.macs_projections_per_frame()
            + self.n_layers as u64 * edges * self.attention_macs_per_edge()
            + self.macs_output()
    }

    /// MACs of one streamed push plus reading the outputs, when the cache holds `t` frames
    /// after the push (the new frame is position `t - 1`).
    pub fn macs_per_frame(&self, t: usize, backend: Backend) -> u64 {
        let t = t.max(1);
        let edges = match backend {
            Backend::Sparse => {
                let mut p = QueryPattern::with_capacity(&self.attn);
                p.build(&self.attn, t, t - 1);
                p.len() as u64
            }
            Backend::Dense => t as u64,
        };
        self.macs_projections_per_frame()
            + self.n_layers as u64 * edges * self.attention_macs_per_edge()
            + self.macs_output()
    }

    /// Bytes of a growing sparse session holding `t` frames with f32 KV caches
    /// (see [`HeadSpec::session_bytes_kv`]).
    pub fn session_bytes(&self, t: usize) -> Option<u64> {
        self.session_bytes_kv(t, KvStorage::F32)
    }

    /// Bytes a growing sparse session of capacity `t` allocates with `kv` storage: exactly
    /// [`HeadSpec::session_heap_bytes`] (KV caches, landmark means, decode scratch, per-frame
    /// activations, pooling state). `None` where no session exists: a non-causal head, `t` of
    /// 0, or sizes past `usize`.
    pub fn session_bytes_kv(&self, t: usize, kv: KvStorage) -> Option<u64> {
        self.session_heap_bytes(WindowMode::Growing { capacity: t }, kv)
            .ok()
            .map(|b| b as u64)
    }
}

impl TemporalHead {
    /// Parameters in the loaded model.
    pub fn param_count(&self) -> u64 {
        self.params()
    }

    /// MACs of `classify` over `t` frames with this head's backend.
    pub fn macs_per_window(&self, t: usize) -> u64 {
        self.spec.macs_per_window(t, self.backend)
    }

    /// MACs of one `Session::push` + `logits` at cache length `t`.
    pub fn macs_per_frame(&self, t: usize) -> u64 {
        self.spec.macs_per_frame(t, self.backend)
    }

    /// Streaming working set for a window of `t` frames: weights as held in memory, plus a
    /// growing session of capacity `t` (KV caches, decode scratch, activations); `None` where
    /// no session exists (see [`HeadSpec::session_bytes_kv`]).
    pub fn ram_bytes(&self, t: usize) -> Option<u64> {
        Some(self.weight_bytes() as u64 + self.spec.session_bytes(t)?)
    }

    /// Frames a sliding session of `len` keeps in its caches (`len` plus the pinned prefix).
    pub fn sliding_capacity(&self, len: usize) -> usize {
        len.saturating_add(pinned_prefix(&self.spec.attn.global_tokens, len))
    }
}

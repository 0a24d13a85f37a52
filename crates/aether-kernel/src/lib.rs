//! Subquadratic sparse attention for temporal models on CSI frame windows.
//!
//! Each query `i` attends to a local window, global tokens, log-stride tokens `i ± 2^k` and
//! block-mean "landmark" pseudo-keys. With the default options the candidate sets and
//! numerics reproduce `ruvllm_sparse_attention` 0.1.1 (`forward`, `forward_gqa`, `decode_step`);
//! two opt-in options fix its landmark weighting. On top of the upstream feature set:
//!
//! * GQA/MQA shares the candidate list and each K/V row load across the query heads of a group;
//! * a backward pass (`dq`, `dk`, `dv`) so the kernel trains, with an exact dense twin;
//! * f32 or f16 KV caches whose decode step neither allocates nor does O(T) work, with a
//!   growing mode (full = error) and a sliding mode that keeps the global prefix;
//! * AVX2+FMA kernels chosen at run time (`std`), a scalar path everywhere else;
//! * typed errors instead of panics for every shape mismatch; non-finite inputs are rejected.
//!
//! Memory model: the entry points taking a [`Scratch`] or [`DecodeScratch`] reuse it and do
//! not allocate once it has been sized; the `Tensor3` conveniences allocate their result.
//!
//! ```
//! use aether_kernel::{AttnShape, SparseAttention, SparseConfig, Scratch};
//! let attn = SparseAttention::new(SparseConfig::upstream(16, 32)).unwrap();
//! let shape = AttnShape { seq: 64, q_heads: 4, kv_heads: 1, head_dim: 32 };
//! let q = vec![0.01; 64 * 4 * 32];
//! let kv = vec![0.02; 64 * 32];
//! let mut out = vec![0.0; q.len()];
//! attn.forward_into(shape, &q, &kv, &kv, &mut out, &mut Scratch::new()).unwrap();
//! assert!((out[0] - 0.02).abs() < 1e-6);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_debug_implementations)]

extern crate alloc;

mod aligned;
mod attend;
mod cache;
mod config;
mod dense;
mod error;
mod pattern;
pub mod reference;
mod simd;
mod sparse;
mod tensor;

pub use cache::{CacheMode, DecodeScratch, KvCache, KvElem};
pub use config::{AttnShape, PatternExtent, SparseConfig};
pub use dense::{dense_backward, dense_forward};
pub use error::KernelError;
pub use pattern::{block_range, edge_count, QueryPattern};
pub use simd::{detected_isa, IsaKind};
#[cfg(feature = "std")]
pub use sparse::MAX_THREADS;
pub use sparse::{tensor_shape, Scratch, SparseAttention};
pub use tensor::Tensor3;

//! The AETHER temporal head: a small transformer over windows of per-frame CSI features.
//!
//! * [`TemporalHead::from_bytes`] loads an RVNE v1 (seed) or v2 file; [`TemporalHead::classify`]
//!   / [`TemporalHead::embed`] run a full window; [`Session`] streams one frame at a time with
//!   per-layer KV caches, O(W + log T) per frame, equal to the full window (growing mode).
//! * [`HeadSpec`] describes the architecture, [`HeadParams`] owns f32 tensors (seeded random
//!   fill, `to_rvne_v2` writer) for trainers and tests.
//! * [`seed`] reproduces the seed host crate's API (`AetherTemporalHead` and friends).
//! * Cost model: [`TemporalHead::macs_per_window`], [`TemporalHead::macs_per_frame`],
//!   [`TemporalHead::ram_bytes`].
//!
//! The math (README.md has the full statement): `x = (frame - mean) / std`,
//! `h = W_in x + b`; per layer, pre-norm causal sparse attention and a GELU (tanh
//! approximation) FFN, each with a residual; final LayerNorm; mean or last pooling; linear
//! output, L2-normalised for embedding heads.
//!
//! Memory model: loading allocates the weights; [`HeadScratch`] grows to the largest window and
//! is reused; [`Session::new`] allocates everything a session needs and `push` allocates
//! nothing.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod cost;
mod error;
mod head;
mod load;
mod math;
mod params;
pub mod seed;
mod session;
mod spec;

pub use error::{ModelError, Result, TensorId};
pub use head::{Backend, HeadScratch, TemporalHead};
pub use params::{HeadParams, LayerParams, NamedTensor};
pub use session::{KvStorage, Session, SessionShape, WindowMode};
pub use spec::{Architecture, HeadSpec, OutputKind, Pooling, MAX_DIM, MAX_PARAMS, MAX_WINDOW};

pub use seed::{
    AetherTemporalHead, DenseHead, SparseGqaHead, TemporalBackendKind, TemporalError,
    TemporalHeadConfig,
};

pub use aether_kernel::{KvCache, PatternExtent, SparseConfig, Tensor3};
pub use aether_rvne::v2::TensorDtype;
pub use aether_rvne::{
    WeightBlob, WeightBlobHeader, WeightDtype, WEIGHT_BLOB_FOOTER_LEN, WEIGHT_BLOB_HEADER_LEN,
    WEIGHT_BLOB_MAGIC, WEIGHT_BLOB_VERSION,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! Training and evaluation of the AETHER temporal head (std, host side).
//!
//! - [`attn_op`]: the sparse kernel as a candle `CustomOp3` (forward and backward) and a dense
//!   twin from plain candle ops;
//! - [`model`]: the head as a candle graph named like the RVNE v2 tensors, export and load;
//! - [`data`]: feature streams and labelled windows from recordings;
//! - [`train`]: the training loop; [`metrics`]: scores; [`plot`]: PNG charts.
pub mod attn_op;
pub mod data;
pub mod embed;
pub mod eval;
pub mod gate;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod train;

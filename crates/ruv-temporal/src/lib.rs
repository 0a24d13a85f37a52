/*!
`ruv_temporal`: the on-device temporal head as a C library.

The C ABI is the RuView seed's (`ruv_temporal_init`, `_push`, `_classify`, `_destroy`,
`_kernel_self_test`, spec §3.2) with real behaviour, plus what a firmware author needs: raw CSI
input through the shared feature extractor, embedding output, the last error's text, the memory a
model needs before init, and the model file's length. The generated header is
`include/ruv_temporal.h`; every function's return codes are documented there.

# Memory model
- `ruv_temporal_init` **copies** what it needs out of the model file (weights decoded to f32,
  int8 matrices kept int8 with their scales) into the library's heap; the caller may free or
  unmap the file as soon as init returns.
- All memory is allocated in init (including one warm-up forward pass that sizes every scratch
  buffer); push, push_csi, classify and embed allocate nothing.
- Two modes. Window (`ruv_temporal_init`, the seed's call): frames are kept in a ring of
  `window_len` frames and classify runs the full model over the ring, oldest first: exactly the
  host model over the newest `window_len` frames. Streaming (`ruv_temporal_init_streaming`):
  each push runs the new frame through the layers against per-layer KV caches (aether-model's
  sliding `Session`), and classify only pools and applies the output layer, so the work is
  spread over pushes and classify is cheap.

# Targets
On hosts the library uses std and the system allocator. On bare-metal targets
(`target_os = "none"`, e.g. `xtensa-esp32s3-none-elf`, `riscv32imc-unknown-none-elf`) it is
`#![no_std]` and brings a global allocator (one region handed over with
`ruv_temporal_heap_init`, or ESP-IDF's heap_caps with feature `device-heap-caps`) and a panic
handler that calls the firmware's `ruv_temporal_panic_hook`; see [`device`].

No function panics on any input; errors are `esp_err_t` values with a text from
`ruv_temporal_last_error`.
*/
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
// Failures carry their text in place (no allocation on error paths), so they are 144 bytes.
#![allow(clippy::result_large_err)]

extern crate alloc;

pub mod context;
pub mod detail;
#[cfg(target_os = "none")]
pub mod device;
mod ffi;
pub mod memory;
pub mod selftest;
pub mod status;

pub use context::{Failure, Mode, RuvTemporalCtx, RuvTemporalInfo};
pub use ffi::*;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

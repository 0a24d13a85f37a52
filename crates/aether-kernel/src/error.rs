//! Errors: every shape, head, dimension, block or cache mismatch is a value, never a panic.

use core::fmt;

/// What went wrong in a kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// The configuration cannot describe a valid pattern (for example `block_size == 0`).
    InvalidConfig(&'static str),
    /// A head count or the head dimension is zero.
    ZeroDim,
    /// `q_heads` is not a multiple of `kv_heads`.
    HeadRatio { q_heads: usize, kv_heads: usize },
    /// A buffer does not have the length the shape implies.
    Length {
        tensor: &'static str,
        expected: usize,
        got: usize,
    },
    /// Two tensors disagree on a dimension (`what` names it).
    Mismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A tensor holds NaN or infinity at flat index `index`.
    NonFinite { tensor: &'static str, index: usize },
    /// A finite value at flat index `index` does not fit the cache's storage (`storage`, e.g.
    /// f16 above 65504 in magnitude would be stored as infinity).
    OutOfRange {
        tensor: &'static str,
        index: usize,
        storage: &'static str,
    },
    /// The cache holds `capacity` tokens and is in growing mode.
    CacheFull { capacity: usize },
    /// The cache was built for another block size, head count or dimension.
    CacheMismatch {
        what: &'static str,
        cache: usize,
        call: usize,
    },
    /// Sizes multiply past `usize`.
    SizeOverflow,
    /// The requested instruction set does not run on this machine (or this build).
    IsaUnavailable(&'static str),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KernelError::InvalidConfig(msg) => write!(f, "invalid attention config: {msg}"),
            KernelError::ZeroDim => f.write_str("heads and head_dim must all be > 0"),
            KernelError::HeadRatio { q_heads, kv_heads } => write!(
                f,
                "q_heads ({q_heads}) must be a multiple of kv_heads ({kv_heads})"
            ),
            KernelError::Length {
                tensor,
                expected,
                got,
            } => {
                write!(f, "{tensor} has {got} values, shape needs {expected}")
            }
            KernelError::Mismatch {
                what,
                expected,
                got,
            } => {
                write!(f, "{what} mismatch: expected {expected}, got {got}")
            }
            KernelError::NonFinite { tensor, index } => {
                write!(f, "{tensor} holds a non-finite value at index {index}")
            }
            KernelError::OutOfRange {
                tensor,
                index,
                storage,
            } => write!(
                f,
                "{tensor} at index {index} is too large for the cache's {storage} storage"
            ),
            KernelError::CacheFull { capacity } => {
                write!(f, "KV cache is full ({capacity} tokens, growing mode)")
            }
            KernelError::CacheMismatch { what, cache, call } => {
                write!(f, "KV cache {what} is {cache}, call uses {call}")
            }
            KernelError::SizeOverflow => f.write_str("tensor size overflows usize"),
            KernelError::IsaUnavailable(name) => {
                write!(f, "instruction set {name} is not available on this machine")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KernelError {}

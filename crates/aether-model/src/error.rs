//! One error type for the model: file contents, caller shapes, kernel failures. All `Copy`,
//! so a device can map each to a status code without allocating.

use aether_kernel::KernelError;
use aether_rvne::RvneError;
use core::fmt;

/// Names one tensor of the model: `layers.{layer}.{name}` or just `{name}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorId {
    /// Layer index for per-layer tensors.
    pub layer: Option<u32>,
    /// Name within the layer (`attn.wq.weight`) or the whole name (`head.bias`).
    pub name: &'static str,
}

impl fmt::Display for TensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layer {
            Some(l) => write!(f, "layers.{l}.{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// What went wrong loading or running a head.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// The bytes are not a valid RVNE file (every parse failure of `aether-rvne`, unchanged).
    File(RvneError),
    /// A required metadata key is absent or has another type.
    MissingMeta(&'static str),
    /// A metadata value is out of range or not one of the known strings.
    BadMeta {
        key: &'static str,
        reason: &'static str,
    },
    /// The architecture the file (or a `HeadSpec`) describes is impossible:
    /// a zero dimension, `n_q_heads % n_kv_heads != 0`, class names that do not match `n_out`.
    InvalidSpec(&'static str),
    /// A dimension or the total size is beyond what this crate will allocate
    /// (`MAX_DIM`, `MAX_PARAMS`, `MAX_WINDOW`).
    TooLarge { what: &'static str, value: u64 },
    /// A tensor the architecture needs is not in the file.
    MissingTensor(TensorId),
    /// A tensor has another shape than the metadata implies.
    WrongShape(TensorId),
    /// A tensor's dtype is not allowed for it (norms, biases, input stats must be f32).
    WrongDtype(TensorId),
    /// A weight is NaN or infinite.
    NonFiniteWeight(TensorId),
    /// Input buffer length differs from what the head needs.
    InputLen { expected: usize, got: usize },
    /// Output buffer length differs from `n_out` (or `T * d_model`).
    OutputLen { expected: usize, got: usize },
    /// A window of zero frames, or `logits` before any frame was pushed.
    EmptyWindow,
    /// An input value is NaN or infinite (flat index into the window or frame).
    NonFiniteInput { index: usize },
    /// An intermediate activation overflowed to infinity or NaN.
    NonFiniteActivation,
    /// `classify` on an embedding head or `embed` on a classifier.
    WrongOutputKind,
    /// The operation is not available for this head or session.
    Unsupported(&'static str),
    /// The attention kernel refused (for example `CacheFull` on a full growing session).
    Kernel(KernelError),
}

impl From<RvneError> for ModelError {
    fn from(e: RvneError) -> Self {
        ModelError::File(e)
    }
}

impl From<KernelError> for ModelError {
    fn from(e: KernelError) -> Self {
        ModelError::Kernel(e)
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ModelError::File(e) => write!(f, "model file: {e}"),
            ModelError::MissingMeta(k) => write!(
                f,
                "model file: metadata key {k:?} missing or of the wrong type"
            ),
            ModelError::BadMeta { key, reason } => {
                write!(f, "model file: metadata {key:?}: {reason}")
            }
            ModelError::InvalidSpec(m) => write!(f, "invalid head architecture: {m}"),
            ModelError::TooLarge { what, value } => {
                write!(f, "{what} = {value} is beyond this crate's limit")
            }
            ModelError::MissingTensor(t) => write!(f, "model file: tensor {t} missing"),
            ModelError::WrongShape(t) => write!(f, "model file: tensor {t} has the wrong shape"),
            ModelError::WrongDtype(t) => write!(f, "model file: tensor {t} must be f32"),
            ModelError::NonFiniteWeight(t) => {
                write!(f, "model file: tensor {t} holds NaN or infinity")
            }
            ModelError::InputLen { expected, got } => {
                write!(f, "input has {got} values, expected {expected}")
            }
            ModelError::OutputLen { expected, got } => {
                write!(f, "output has {got} slots, expected {expected}")
            }
            ModelError::EmptyWindow => f.write_str("window has no frames"),
            ModelError::NonFiniteInput { index } => {
                write!(f, "input value {index} is NaN or infinite")
            }
            ModelError::NonFiniteActivation => {
                f.write_str("an activation overflowed to a non-finite value")
            }
            ModelError::WrongOutputKind => {
                f.write_str("classify needs a classes head, embed an embedding head")
            }
            ModelError::Unsupported(m) => write!(f, "unsupported: {m}"),
            ModelError::Kernel(e) => write!(f, "attention kernel: {e}"),
        }
    }
}

impl core::error::Error for ModelError {}

/// `Result` with [`ModelError`].
pub type Result<T> = core::result::Result<T, ModelError>;

//! How much heap a model needs, computed from the file without allocating (so firmware can size
//! a heap region before init), and the check that it is there.
//!
//! The budget is an upper bound built from the same sizes the model and kernel allocate:
//! decoded weights (f32 and f16 tensors as f32, int8 as int8 plus one f32 scale per row), the
//! forward pass's scratch for `window_len` frames, the kernel's attention scratch, the frame
//! ring and its chronological copy, the context itself, a per-allocation allowance for the
//! allocator's bookkeeping and alignment, the largest transient buffer of loading, the built-in
//! self-test, and a fixed slack. Host tests check it against a counting allocator's peak over
//! init + classify + self-test for many shapes; the QEMU program runs with a region of exactly
//! this size.

use crate::context::{fail, Failure, Mode, RuvTemporalCtx};
use crate::status::*;
use aether_model::{
    Architecture, HeadSpec, KvStorage, OutputKind, PatternExtent, Pooling, SessionShape,
    SparseConfig, WindowMode,
};
use aether_rvne::v2::{RvneV2View, TensorDtype};
use aether_rvne::{parse_any, RvneFile, WeightBlobView};
use alloc::vec::Vec;

/// Allowance per heap allocation (linked-list allocator rounding and alignment).
const PER_ALLOC: usize = 16;
/// Allocations the forward pass, kernel scratch and context make besides one per tensor.
const FIXED_ALLOCS: usize = 48;
/// Allocations per layer besides its tensors (attention scratch, norms held separately).
const ALLOCS_PER_LAYER: usize = 8;
/// Fixed slack on top (rounding of the estimate itself).
const SLACK: usize = 1024;
/// Bytes a heap region may lose to aligning its start and end (included in the budget, not
/// required to be free).
const REGION_ALIGN: usize = 32;

/// What a model file needs, from its header and metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// RVNE version (1 or 2).
    pub version: u16,
    /// Floats per frame.
    pub input_dim: usize,
    /// Outputs.
    pub n_out: usize,
    /// The window the head was trained on (v2 `window_len`); 0 when the file names none.
    pub trained_window: usize,
    /// Bytes of decoded weights.
    pub weight_bytes: usize,
    /// Bytes of everything else at `window_len` (scratch, ring, context, allowances).
    pub working_bytes: usize,
    /// Heap bytes to provide: weights + working + self-test + slack.
    pub total: usize,
}

/// The architecture numbers the budget needs.
struct Dims {
    version: u16,
    input_dim: usize,
    d_model: usize,
    n_layers: usize,
    q_heads: usize,
    kv_heads: usize,
    head_dim: usize,
    d_ff: usize,
    n_out: usize,
    trained_window: usize,
    attn_window: usize,
    block_size: usize,
    globals: usize,
    causal: bool,
    landmarks: bool,
    /// Pooling is "mean" (a sliding session keeps a ring of pooled states).
    mean_pooling: bool,
    weight_bytes: usize,
    tensors: usize,
    largest_tensor: usize,
}

fn too_large() -> Failure {
    fail!(
        ESP_ERR_INVALID_SIZE,
        "model dimensions overflow the address space"
    )
}

fn v1_dims(v: &WeightBlobView<'_>) -> Result<Dims, Failure> {
    let h = v.header;
    let n = |x: u16| x as usize;
    let elems = h.expected_weight_elems().ok_or_else(too_large)?;
    let bytes = elems.checked_mul(4).ok_or_else(too_large)?;
    Ok(Dims {
        version: 1,
        input_dim: n(h.input_dim),
        d_model: n(h.input_dim),
        n_layers: n(h.n_layers),
        q_heads: n(h.n_q_heads),
        kv_heads: n(h.n_kv_heads),
        head_dim: n(h.head_dim),
        d_ff: 0,
        n_out: n(h.n_classes),
        trained_window: 0,
        // The v1 attention pattern (aether-model: SparseConfig::upstream(32, 16)).
        attn_window: 32,
        block_size: 16,
        globals: 1,
        causal: true,
        landmarks: true,
        mean_pooling: true,
        weight_bytes: bytes,
        tensors: 4 * n(h.n_layers) + 1,
        largest_tensor: bytes,
    })
}

fn v2_dims(v: &RvneV2View<'_>) -> Result<Dims, Failure> {
    let req = |key: &'static str| {
        v.meta_u32(key).map(|x| x as usize).ok_or_else(|| {
            fail!(
                ESP_ERR_INVALID_ARG,
                "model file: metadata key {key:?} missing"
            )
        })
    };
    let mut weight_bytes = 0usize;
    let mut largest = 0usize;
    let mut tensors = 0usize;
    for t in v.tensors() {
        let numel = t.numel();
        let bytes = match t.dtype() {
            TensorDtype::Int8 => numel.checked_add(t.rows().checked_mul(4).ok_or_else(too_large)?),
            _ => numel.checked_mul(4),
        }
        .ok_or_else(too_large)?;
        weight_bytes = weight_bytes.checked_add(bytes).ok_or_else(too_large)?;
        // Loading decodes a tensor through an f32 buffer at most this big.
        largest = largest.max(numel.saturating_mul(4));
        tensors += 1;
    }
    Ok(Dims {
        version: 2,
        input_dim: req("input_dim")?,
        d_model: req("d_model")?,
        n_layers: req("n_layers")?,
        q_heads: req("n_q_heads")?,
        kv_heads: req("n_kv_heads")?,
        head_dim: req("head_dim")?,
        d_ff: req("d_ff")?,
        n_out: req("n_out")?,
        trained_window: v.meta_u32("window_len").map_or(0, |w| w as usize),
        attn_window: req("attn.window")?,
        block_size: req("attn.block_size")?.max(1),
        globals: v
            .meta_u32_array("attn.global_tokens")
            .map_or(1, |a| a.len()),
        causal: v.meta_bool("attn.causal").unwrap_or(true),
        landmarks: v.meta_bool("attn.landmarks").unwrap_or(true),
        mean_pooling: v.meta_str("pooling").unwrap_or("mean") == "mean",
        weight_bytes,
        tensors,
        largest_tensor: largest,
    })
}

/// `P` of a sliding session of `len` frames: one past the largest global token below `len`
/// (aether-model's rule), read from the metadata without allocating; globals default to [0].
fn v2_pinned(v: &RvneV2View<'_>, len: usize) -> usize {
    let below = |g: usize| (g < len).then_some(g + 1);
    match v.meta_u32_array("attn.global_tokens") {
        Some(a) => a.filter_map(|g| below(g as usize)).max().unwrap_or(0),
        None => below(0).unwrap_or(0),
    }
}

/// Bytes of a sliding streaming session over `t` frames: what aether-model's `Session`
/// allocates for this architecture (`SessionShape::heap_bytes`, exact by construction: the
/// session sizes its buffers with the same definitions), the context, the allocator's
/// per-allocation allowance, and 1/16 headroom. `pinned`: the session's pinned prefix `P`.
fn streaming_bytes(d: &Dims, t: usize, pinned: usize) -> Result<usize, Failure> {
    let shape = SessionShape {
        input_dim: d.input_dim,
        d_model: d.d_model,
        d_ff: d.d_ff,
        n_layers: d.n_layers,
        q_heads: d.q_heads,
        kv_heads: d.kv_heads,
        head_dim: d.head_dim,
        block_size: d.block_size,
        pattern: PatternExtent {
            window: d.attn_window,
            causal: d.causal,
            globals: d.globals,
        },
        mean_pooling: d.mean_pooling,
        pinned,
    };
    let mode = WindowMode::Sliding { len: t };
    let session = shape
        .heap_bytes(mode, KvStorage::F32)
        .map_err(|e| fail!(model_error_code(&e), "streaming session: {e}"))?;
    let allocs = d
        .tensors
        .checked_add(FIXED_ALLOCS)
        .and_then(|a| a.checked_add(ALLOCS_PER_LAYER.checked_mul(d.n_layers)?.checked_mul(2)?));
    let bytes = allocs
        .and_then(|a| a.checked_mul(PER_ALLOC))
        .and_then(|a| a.checked_add(session))
        .and_then(|b| b.checked_add(core::mem::size_of::<RuvTemporalCtx>()))
        .ok_or_else(too_large)?;
    bytes.checked_add(bytes / 16).ok_or_else(too_large)
}

/// The architecture checked as init will check it (dimensions no model can have refused
/// before any arithmetic on them), built without allocating: the planner runs before a heap
/// exists, so the spec's lists stay empty (their lengths are in `Dims`; init checks them).
fn check_dims(d: &Dims) -> Result<(), Failure> {
    let spec = HeadSpec {
        architecture: if d.version == 1 {
            Architecture::SeedV1
        } else {
            Architecture::PreNorm
        },
        input_dim: d.input_dim,
        d_model: d.d_model,
        n_layers: d.n_layers,
        q_heads: d.q_heads,
        kv_heads: d.kv_heads,
        head_dim: d.head_dim,
        d_ff: d.d_ff,
        n_out: d.n_out,
        attn: SparseConfig {
            window: d.attn_window,
            block_size: d.block_size,
            global_tokens: Vec::new(),
            causal: d.causal,
            log_stride: true,
            landmarks: d.landmarks,
            landmark_log_count: false,
            landmark_exclude_window: false,
        },
        norm_eps: 1e-5,
        pooling: Pooling::Mean,
        output_kind: OutputKind::Classes,
        class_names: Vec::new(),
        feature_set: 0,
        frame_rate_hz: 0.0,
        window_len: 0,
    };
    spec.validate()
        .map_err(|e| fail!(model_error_code(&e), "model file: {e}"))
}

/// Bytes of working memory at `t` frames, or None on overflow.
fn working_bytes(d: &Dims, t: usize) -> Option<usize> {
    let q_total = d.q_heads.checked_mul(d.head_dim)?;
    let kv_total = d.kv_heads.checked_mul(d.head_dim)?;
    let wide = d.d_model.max(d.input_dim);
    // Forward-pass scratch (aether-model HeadScratch) in floats: per frame the residual
    // stream, the normalised input, q/k/v, attention output, the projection output and the
    // FFN hidden layer.
    let per_frame = d
        .d_model
        .checked_mul(2)?
        .checked_add(wide)?
        .checked_add(q_total.checked_mul(2)?)?
        .checked_add(kv_total.checked_mul(2)?)?
        .checked_add(d.d_ff)?;
    let mut floats = t.checked_mul(per_frame)?;
    floats = floats
        .checked_add(wide.checked_mul(2)?)?
        .checked_add(d.d_ff.max(1))?
        .checked_add(d.d_model)?
        .checked_add(d.n_out)?;
    // Attention kernel scratch: candidate probabilities per query head, landmark keys/values.
    let bits = usize::BITS as usize;
    let span = if d.causal {
        d.attn_window.saturating_add(1)
    } else {
        d.attn_window.saturating_mul(2).saturating_add(1)
    };
    // (+ 1: each head's inverse softmax sum follows its weights.)
    let candidates = span
        .min(t)
        .checked_add(d.globals)?
        .checked_add(4 * bits + 3)?;
    floats = floats.checked_add(candidates.checked_mul(d.q_heads)?)?;
    // Vector ISAs (hosts) stage keys and values in cache-line-aligned copies; the scalar path
    // (devices) does not.
    if aether_kernel::detected_isa() != aether_kernel::IsaKind::Scalar {
        floats = floats.checked_add(t.checked_mul(kv_total)?.checked_add(16)?.checked_mul(2)?)?;
    }
    if d.landmarks {
        floats = floats.checked_add(
            t.div_ceil(d.block_size)
                .checked_mul(kv_total)?
                .checked_mul(2)?,
        )?;
    }
    // Frame ring and its chronological copy.
    floats = floats.checked_add(t.checked_mul(d.input_dim)?.checked_mul(2)?)?;
    let mut bytes = floats.checked_mul(4)?;
    // Candidate offsets (one usize per candidate), pattern index lists (usize pairs), the
    // context, allocator allowances.
    let u = core::mem::size_of::<usize>();
    bytes = bytes.checked_add(candidates.checked_mul(u)?)?;
    bytes = bytes.checked_add(d.globals.checked_add(4 * bits + 4)?.checked_mul(2 * u)?)?;
    bytes = bytes.checked_add(core::mem::size_of::<RuvTemporalCtx>())?;
    let allocs = d
        .tensors
        .checked_add(FIXED_ALLOCS)?
        .checked_add(ALLOCS_PER_LAYER.checked_mul(d.n_layers)?)?;
    bytes = bytes.checked_add(allocs.checked_mul(PER_ALLOC)?)?;
    // Headroom for scratch the model may add between releases (1/16).
    bytes.checked_add(bytes / 16)
}

/// Refuses a v2 file whose numbers the library would not reproduce: a head trained with
/// dense attention (`train.attention = "dense"`, the A/B comparison; the library runs the
/// sparse kernel), or one trained on node-referenced frames (`input.reference`) that carries
/// no node reference (`calib.*`, written by `aether calibrate`): it would get raw frames.
/// Part of every plan, so `ruv_temporal_model_dims` and `ruv_temporal_required_heap` refuse
/// such a file before a caller sets any heap aside for it, as init does.
fn check_runnable(view: &RvneV2View<'_>) -> Result<(), Failure> {
    if view.meta_str("train.attention") == Some("dense") {
        return Err(fail!(
            ESP_ERR_NOT_SUPPORTED,
            "the model was trained with dense attention (train.attention); the library runs \
             the sparse kernel: export a sparse-trained head"
        ));
    }
    if view.meta_bool("input.reference") == Some(true) && view.tensor("calib.mean").is_none() {
        return Err(fail!(
            ESP_ERR_NOT_SUPPORTED,
            // Under DETAIL_CAP (128 bytes) with its advice: a longer text is cut.
            "node-referenced model (input.reference) without a node reference (calib.*): run \
             `aether calibrate` on the node's empty room"
        ));
    }
    Ok(())
}

/// The budget of `model` at `window_len` frames. Errors are the file's parse errors (same
/// codes as init) and `ESP_ERR_INVALID_SIZE` on overflow.
pub fn plan(model: &[u8], window_len: u32, mode: Mode) -> Result<Budget, Failure> {
    plan_with(model, window_len, mode, true)
}

/// [`plan`], optionally without the self-test's share (the self-test's own budget).
pub(crate) fn plan_with(
    model: &[u8],
    window_len: u32,
    mode: Mode,
    self_test: bool,
) -> Result<Budget, Failure> {
    let file = parse_any(model).map_err(|e| fail!(file_error_code(&e), "model file: {e}"))?;
    let (d, pinned) = match &file {
        RvneFile::V1(v) => (v1_dims(v)?, 1),
        RvneFile::V2(v) => {
            check_runnable(v)?;
            (v2_dims(v)?, v2_pinned(v, window_len as usize))
        }
    };
    check_dims(&d)?;
    let working = match mode {
        Mode::Window => working_bytes(&d, window_len as usize).ok_or_else(too_large)?,
        Mode::Streaming => streaming_bytes(&d, window_len as usize, pinned)?,
    };
    let total = d
        .weight_bytes
        .checked_add(working)
        .and_then(|x| x.checked_add(d.largest_tensor))
        .and_then(|x| {
            x.checked_add(if self_test {
                crate::selftest::heap_bytes()
            } else {
                0
            })
        })
        .and_then(|x| x.checked_add(SLACK + REGION_ALIGN))
        // No single allocation may exceed isize::MAX (Rust would panic, not fail).
        .filter(|&x| x <= isize::MAX as usize)
        .ok_or_else(too_large)?;
    Ok(Budget {
        version: d.version,
        input_dim: d.input_dim,
        n_out: d.n_out,
        trained_window: d.trained_window,
        weight_bytes: d.weight_bytes,
        working_bytes: working,
        total,
    })
}

/// `ESP_ERR_NO_MEM` when the device heap region has less than `bytes` free (checked before
/// init allocates, because a failed allocation on a bare-metal target cannot be undone).
pub fn ensure_available(bytes: usize) -> Result<(), Failure> {
    #[cfg(target_os = "none")]
    if let Some(free) = crate::device::free_bytes() {
        if free.saturating_add(REGION_ALIGN) < bytes {
            return Err(fail!(
                ESP_ERR_NO_MEM,
                "model needs {bytes} heap bytes, {free} free (ruv_temporal_required_heap)"
            ));
        }
    }
    let _ = bytes;
    Ok(())
}

/// The length a model file declares (v1: 28 + weights_len; v2: file_len), after checking the
/// magic and version; for files stored in larger containers (flash partitions).
pub fn declared_len(bytes: &[u8]) -> Result<usize, Failure> {
    if bytes.len() < 12 {
        return Err(fail!(
            ESP_ERR_INVALID_SIZE,
            "{} bytes: too short for an RVNE header",
            bytes.len()
        ));
    }
    if !aether_rvne::is_rvne(bytes) {
        return Err(fail!(ESP_ERR_INVALID_ARG, "not an RVNE file (bad magic)"));
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let len = match u16::from_le_bytes([bytes[4], bytes[5]]) {
        1 if bytes.len() >= 24 => (u32_at(0x14) as usize).checked_add(28),
        1 => return Err(fail!(ESP_ERR_INVALID_SIZE, "too short for a v1 header")),
        2 => Some(u32_at(8) as usize),
        v => {
            return Err(fail!(
                ESP_ERR_INVALID_VERSION,
                "unsupported RVNE version {v}"
            ))
        }
    }
    .ok_or_else(too_large)?;
    if len > bytes.len() {
        return Err(fail!(
            ESP_ERR_INVALID_SIZE,
            "file declares {len} bytes, only {} available",
            bytes.len()
        ));
    }
    Ok(len)
}

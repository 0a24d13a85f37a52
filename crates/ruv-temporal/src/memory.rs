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
use aether_rvne::v2::{RvneV2View, TensorDtype};
use aether_rvne::{parse_any, RvneFile, WeightBlobView};

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
    attn_window: usize,
    block_size: usize,
    globals: usize,
    causal: bool,
    landmarks: bool,
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
        // The v1 attention pattern (aether-model: SparseConfig::upstream(32, 16)).
        attn_window: 32,
        block_size: 16,
        globals: 1,
        causal: true,
        landmarks: true,
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
        attn_window: req("attn.window")?,
        block_size: req("attn.block_size")?.max(1),
        globals: v
            .meta_u32_array("attn.global_tokens")
            .map_or(1, |a| a.len()),
        causal: v.meta_bool("attn.causal").unwrap_or(true),
        landmarks: v.meta_bool("attn.landmarks").unwrap_or(true),
        weight_bytes,
        tensors,
        largest_tensor: largest,
    })
}

/// Bytes of a sliding streaming session over `t` frames (aether-model `Session`): per layer the
/// f32 KV cache of `t + 1` frames (pinned global prefix), landmark means and decode scratch;
/// the per-frame activations; the ring of pooled states. None on overflow.
fn streaming_bytes(d: &Dims, t: usize) -> Option<usize> {
    let kv_total = d.kv_heads.checked_mul(d.head_dim)?;
    let q_total = d.q_heads.checked_mul(d.head_dim)?;
    let cap = t.checked_add(d.globals.max(1))?;
    let bits = usize::BITS as usize;
    let group = d.q_heads / d.kv_heads.max(1);
    let kv = cap.checked_mul(kv_total)?.checked_mul(2)?.checked_add(
        (cap / d.block_size + 2)
            .checked_mul(kv_total)?
            .checked_mul(2)?,
    )?;
    let span = d.attn_window.saturating_add(1);
    let probs = (span + d.globals + 4 * bits + 2).checked_mul(group.max(1))?;
    let scratch_lm = (2 + 2 * bits).checked_mul(kv_total)?.checked_mul(2)?;
    let per_layer = kv.checked_add(probs)?.checked_add(scratch_lm)?;
    let mut floats = per_layer.checked_mul(d.n_layers)?;
    let wide = d.d_model.max(d.input_dim);
    floats = floats.checked_add(
        d.input_dim + 6 * d.d_model + 2 * q_total + 2 * kv_total + 2 * wide + d.d_ff,
    )?;
    // Ring of pooled states (`t` rows of d_model) and its f64 running sums.
    floats = floats
        .checked_add(t.checked_mul(d.d_model)?)?
        .checked_add(4 * d.d_model)?;
    let mut bytes = floats.checked_mul(4)?;
    bytes = bytes.checked_add(
        (d.globals + 4 * bits + 4) * 2 * core::mem::size_of::<usize>() * d.n_layers.max(1),
    )?;
    bytes = bytes.checked_add(core::mem::size_of::<RuvTemporalCtx>())?;
    let allocs = d.tensors + FIXED_ALLOCS + ALLOCS_PER_LAYER * d.n_layers * 2;
    bytes = bytes.checked_add(allocs.checked_mul(PER_ALLOC)?)?;
    // Headroom for state the model may add between releases (1/16).
    bytes.checked_add(bytes / 16)
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
    floats = floats.checked_add(2 * wide + d.d_ff.max(1) + d.d_model + d.n_out)?;
    // Attention kernel scratch: candidate probabilities per query head, landmark keys/values.
    let bits = usize::BITS as usize;
    let span = if d.causal {
        d.attn_window.saturating_add(1)
    } else {
        d.attn_window.saturating_mul(2).saturating_add(1)
    };
    // (+ 1: each head's inverse softmax sum follows its weights.)
    let candidates = span.min(t) + d.globals + 4 * bits + 3;
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
    // Pattern index lists (usize pairs), the context, allocator allowances.
    bytes = bytes.checked_add((d.globals + 4 * bits + 4) * 2 * core::mem::size_of::<usize>())?;
    bytes = bytes.checked_add(core::mem::size_of::<RuvTemporalCtx>())?;
    let allocs = d.tensors + FIXED_ALLOCS + ALLOCS_PER_LAYER * d.n_layers;
    bytes = bytes.checked_add(allocs.checked_mul(PER_ALLOC)?)?;
    // Headroom for scratch the model may add between releases (1/16).
    bytes.checked_add(bytes / 16)
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
    let d = match &file {
        RvneFile::V1(v) => v1_dims(v)?,
        RvneFile::V2(v) => v2_dims(v)?,
    };
    let working = match mode {
        Mode::Window => working_bytes(&d, window_len as usize),
        Mode::Streaming => streaming_bytes(&d, window_len as usize),
    }
    .ok_or_else(too_large)?;
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

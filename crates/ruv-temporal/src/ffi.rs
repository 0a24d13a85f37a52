//! The C ABI. Every function checks its pointers, never panics, and returns an `esp_err_t`;
//! failures leave a text for `ruv_temporal_last_error`.
//!
//! Pointer contract (as for any C API): a non-NULL pointer must be valid for the stated number
//! of elements, and a context must come from `ruv_temporal_init` and not be destroyed. Calls on
//! one context must be serialised by the caller (one owning task); calls with a NULL context
//! (init, required_heap, model_len, self_test, last_error(NULL)) may come from any task but
//! share one global error text, which `ruv_temporal_info` also writes (it never changes its
//! context).

use crate::context::{fail, Failure, Mode, RuvTemporalCtx, RuvTemporalInfo};
use crate::detail::Detail;
use crate::memory;
use crate::selftest;
use crate::status::*;
use alloc::boxed::Box;
use core::cell::RefCell;
use core::ffi::c_char;
use critical_section::Mutex;

/// The opaque context type of the C header (`ruv_temporal_ctx_t`).
#[allow(non_camel_case_types)]
pub type ruv_temporal_ctx_t = RuvTemporalCtx;

/// The info struct of the C header (`ruv_temporal_info_t`).
#[allow(non_camel_case_types)]
pub type ruv_temporal_info_t = RuvTemporalInfo;

/// The error text of calls without a context.
static GLOBAL_DETAIL: Mutex<RefCell<Detail>> = Mutex::new(RefCell::new(Detail::new()));

fn set_global(detail: &Detail) {
    critical_section::with(|cs| GLOBAL_DETAIL.borrow_ref_mut(cs).clone_from(detail));
}

fn global_failure(f: Failure) -> esp_err_t {
    set_global(&f.detail);
    f.code
}

fn ctx_result(ctx: &mut RuvTemporalCtx, r: Result<(), Failure>) -> esp_err_t {
    match r {
        Ok(()) => {
            ctx.detail.clear();
            ESP_OK
        }
        Err(f) => {
            ctx.detail = f.detail;
            f.code
        }
    }
}

/// Borrow `len` items at `ptr` (NULL allowed only for `len == 0`).
///
/// # Safety
/// `ptr` must be valid for `len` reads of `T`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL and valid for `len` reads per the caller's contract.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The model file argument of the entry points: non-NULL and not empty.
///
/// # Safety
/// `weights` NULL or valid for `weights_len` reads.
unsafe fn model_bytes<'a>(weights: *const u8, weights_len: usize) -> Result<&'a [u8], Failure> {
    // SAFETY: per contract.
    match unsafe { slice(weights, weights_len) } {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(fail!(
            ESP_ERR_INVALID_ARG,
            "no model file (weights NULL or empty)"
        )),
    }
}

/// Creates a context from an RVNE v1 or v2 model file.
///
/// Copies what it needs from `weights` (the file may be freed when this returns), allocates
/// every buffer (frame ring of `window_len` frames, forward-pass scratch) and runs one warm-up
/// forward pass, so later calls do not allocate.
///
/// Returns:
/// - `ESP_OK`, with `*out_ctx` set;
/// - `ESP_ERR_INVALID_ARG`: `out_ctx`/`weights` NULL, `weights_len` 0, a zero dimension,
///   `input_dim` or `n_classes` different from the file, malformed file (bad magic, too short,
///   lengths, sections, metadata, missing tensor, non-finite weight);
/// - `ESP_ERR_INVALID_VERSION`: RVNE version other than 1 or 2;
/// - `ESP_ERR_INVALID_CRC`: CRC-32 mismatch;
/// - `ESP_ERR_INVALID_SIZE`: impossible shape in the file (zero dims, GQA ratio, tensor shapes),
///   `window_len` above 16384;
/// - `ESP_ERR_NO_MEM`: the heap region has less than `ruv_temporal_required_heap` free;
/// - `ESP_ERR_NOT_SUPPORTED`: a v2 file the library would not run with the numbers it was
///   trained with: trained with dense attention (`train.attention`), or on node-referenced
///   frames (`input.reference`) without a node reference (`calib.*`; `aether calibrate`).
///
/// On failure `*out_ctx` is NULL (when `out_ctx` is not NULL) and
/// `ruv_temporal_last_error(NULL, ...)` says why.
///
/// # Safety
/// `weights` valid for `weights_len` bytes; `out_ctx` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_init(
    weights: *const u8,
    weights_len: usize,
    input_dim: u32,
    window_len: u32,
    n_classes: u32,
    out_ctx: *mut *mut ruv_temporal_ctx_t,
) -> esp_err_t {
    // SAFETY: forwarded contract.
    unsafe {
        init_mode(
            weights,
            weights_len,
            input_dim,
            window_len,
            n_classes,
            out_ctx,
            Mode::Window,
        )
    }
}

/// Like `ruv_temporal_init`, in streaming mode: each `ruv_temporal_push` runs the frame
/// through the layers once (per-layer KV caches over a sliding window of `window_len` frames
/// plus the pinned global prefix) and `ruv_temporal_classify` only pools the per-frame states
/// of the last `window_len` frames and applies the output layer. Work per push is constant
/// (no full-window pass), classify is cheap. With one layer and no dropped frame the outputs
/// equal window mode; with several layers, once frames slide out, each frame keeps the states
/// computed at its arrival (aether-model `Session` docs). `push` then returns the model's
/// errors too (`ESP_FAIL` if an activation overflows; the state is then reset).
/// Same return codes as `ruv_temporal_init`; size the heap with
/// `ruv_temporal_required_heap_streaming`.
///
/// # Safety
/// As `ruv_temporal_init`.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_init_streaming(
    weights: *const u8,
    weights_len: usize,
    input_dim: u32,
    window_len: u32,
    n_classes: u32,
    out_ctx: *mut *mut ruv_temporal_ctx_t,
) -> esp_err_t {
    // SAFETY: forwarded contract.
    unsafe {
        init_mode(
            weights,
            weights_len,
            input_dim,
            window_len,
            n_classes,
            out_ctx,
            Mode::Streaming,
        )
    }
}

/// # Safety
/// As `ruv_temporal_init`.
unsafe fn init_mode(
    weights: *const u8,
    weights_len: usize,
    input_dim: u32,
    window_len: u32,
    n_classes: u32,
    out_ctx: *mut *mut ruv_temporal_ctx_t,
    mode: Mode,
) -> esp_err_t {
    if out_ctx.is_null() {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "out_ctx is NULL"));
    }
    // SAFETY: checked non-NULL; writable per contract.
    unsafe { *out_ctx = core::ptr::null_mut() };
    // SAFETY: per contract.
    let model = match unsafe { model_bytes(weights, weights_len) } {
        Ok(m) => m,
        Err(f) => return global_failure(f),
    };
    match RuvTemporalCtx::new(model, input_dim, window_len, n_classes, mode) {
        Ok(ctx) => {
            // SAFETY: as above.
            unsafe { *out_ctx = Box::into_raw(ctx) };
            set_global(&Detail::new());
            ESP_OK
        }
        Err(f) => global_failure(f),
    }
}

/// Stores one frame of `input_dim` floats (copied; no allocation). In window mode that is
/// all; in streaming mode (`ruv_temporal_init_streaming`) the frame also runs through the
/// model.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL arguments or a NaN/infinite value (the
/// frame is then not stored); streaming mode also `ESP_FAIL` when an activation overflows
/// (the session then restarts from an empty window, and `frames_pushed` from 0).
///
/// # Safety
/// `ctx` from `ruv_temporal_init`; `frame` valid for `input_dim` floats.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_push(
    ctx: *mut ruv_temporal_ctx_t,
    frame: *const f32,
) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    let n = ctx.input_dim();
    // SAFETY: per contract.
    let r = match unsafe { slice(frame, n) } {
        Some(f) => ctx.push(f),
        None => Err(fail!(ESP_ERR_INVALID_ARG, "frame is NULL")),
    };
    ctx_result(ctx, r)
}

/// Computes the CSI features the model takes (feature set 1, 16 values, set 3, 19 values, or set 4, 22 values;
/// `docs/features.md`) of one antenna's raw I/Q bytes and stores them as a frame. `iq` is ESP-IDF's `wifi_csi_info_t.buf` (per subcarrier
/// one imaginary then one real int8, buffer order), `iq_len` its `len`; `timestamp_us` the
/// receive time (on ESP-IDF `esp_timer_get_time()` in the CSI callback; not `rx_ctrl.timestamp`,
/// whose 32 bits wrap every 71.6 min); a gap over 0.5 s (or time going backwards) restarts the
/// frame-to-frame state.
///
/// Frames are stored as training saw them: at the first frame and at every restart the window
/// empties (`frames_in_window` and `frames_pushed` 0), and that frame and the next 49 only
/// settle the extractor (`ESP_OK`, not stored; `ruv_temporal_classify` reports
/// `ESP_ERR_INVALID_STATE` until a frame is stored). A window never spans a gap.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL; `ESP_ERR_INVALID_SIZE` for fewer than 64
/// subcarriers (128 bytes); `ESP_ERR_NOT_SUPPORTED` when the model takes neither
/// (input_dim 16 with feature_set 1 or unspecified, input_dim 19 with feature_set 3, or
/// input_dim 22 with feature_set 4).
///
/// # Safety
/// `ctx` from `ruv_temporal_init`; `iq` valid for `iq_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_push_csi(
    ctx: *mut ruv_temporal_ctx_t,
    iq: *const i8,
    iq_len: usize,
    timestamp_us: u64,
) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    // SAFETY: per contract; i8 and u8 have the same layout.
    let r = match unsafe { slice(iq.cast::<u8>(), iq_len) } {
        Some(b) => ctx.push_csi(b, timestamp_us),
        None => Err(fail!(ESP_ERR_INVALID_ARG, "iq is NULL")),
    };
    ctx_result(ctx, r)
}

/// Tells [`ruv_temporal_push_csi`] whether the CSI buffers start with an invalid 4-byte word
/// (ESP-IDF's `wifi_csi_info_t.first_word_invalid`; set on the classic ESP32, not on the
/// ESP32-S3): non-zero skips subcarrier +1, which that word covers (DC is always skipped).
/// Off after init; kept by `ruv_temporal_reset`. May change between frames.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL.
///
/// # Safety
/// `ctx` from `ruv_temporal_init`.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_set_first_word_invalid(
    ctx: *mut ruv_temporal_ctx_t,
    invalid: u32,
) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    ctx.set_first_word_invalid(invalid != 0);
    ctx_result(ctx, Ok(()))
}

/// Runs the model over the frames in the ring (oldest first; the newest `window_len`, or all
/// frames pushed so far while fewer) and writes `n_classes` logits.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL or `n_classes` different from init;
/// `ESP_ERR_INVALID_STATE` before the first frame; `ESP_ERR_NOT_SUPPORTED` for an embedding
/// model; `ESP_FAIL` if an activation overflows. `logits` is unchanged on every failure but
/// `ESP_FAIL`, after which it holds unspecified values (the overflowing outputs).
///
/// # Safety
/// `ctx` from `ruv_temporal_init`; `logits` valid for `n_classes` writes.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_classify(
    ctx: *mut ruv_temporal_ctx_t,
    logits: *mut f32,
    n_classes: u32,
) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    if logits.is_null() {
        return ctx_result(ctx, Err(fail!(ESP_ERR_INVALID_ARG, "logits is NULL")));
    }
    // SAFETY: non-NULL, valid for n_classes writes per contract.
    let out = unsafe { core::slice::from_raw_parts_mut(logits, n_classes as usize) };
    let r = ctx.classify(out);
    ctx_result(ctx, r)
}

/// Like `ruv_temporal_classify` for embedding models: writes the L2-normalised embedding
/// (`dim` = the model's n_out). `ESP_ERR_NOT_SUPPORTED` for a class-logits model.
///
/// # Safety
/// `ctx` from `ruv_temporal_init`; `out` valid for `dim` writes.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_embed(
    ctx: *mut ruv_temporal_ctx_t,
    out: *mut f32,
    dim: u32,
) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    if out.is_null() {
        return ctx_result(ctx, Err(fail!(ESP_ERR_INVALID_ARG, "out is NULL")));
    }
    // SAFETY: non-NULL, valid for dim writes per contract.
    let out = unsafe { core::slice::from_raw_parts_mut(out, dim as usize) };
    let r = ctx.embed(out);
    ctx_result(ctx, r)
}

/// Forgets all frames and the CSI feature state (the model stays loaded).
/// `ESP_ERR_INVALID_ARG` for NULL.
///
/// # Safety
/// `ctx` from `ruv_temporal_init`.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_reset(ctx: *mut ruv_temporal_ctx_t) -> esp_err_t {
    // SAFETY: per contract.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx is NULL"));
    };
    ctx.reset();
    ctx_result(ctx, Ok(()))
}

/// Sizes and counters of a context. `ESP_ERR_INVALID_ARG` for NULL. It reads the context and
/// never changes it (not even its error text), so that failure is described by
/// `ruv_temporal_last_error(NULL, ...)`.
///
/// # Safety
/// `ctx` from `ruv_temporal_init`; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_info(
    ctx: *const ruv_temporal_ctx_t,
    out: *mut ruv_temporal_info_t,
) -> esp_err_t {
    // SAFETY: per contract.
    match (unsafe { ctx.as_ref() }, unsafe { out.as_mut() }) {
        (Some(c), Some(o)) => {
            *o = c.info();
            ESP_OK
        }
        _ => global_failure(fail!(ESP_ERR_INVALID_ARG, "ctx or out is NULL")),
    }
}

/// Frees a context and everything it holds. NULL is allowed (no-op).
///
/// # Safety
/// `ctx` NULL or from `ruv_temporal_init`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_destroy(ctx: *mut ruv_temporal_ctx_t) {
    if !ctx.is_null() {
        // SAFETY: came from Box::into_raw in init, destroyed once per contract.
        drop(unsafe { Box::from_raw(ctx) });
    }
}

/// Loads a built-in model (a small v2 head), classifies a built-in frame sequence and compares
/// the logits with values computed by the host model (relative tolerance 1e-4).
///
/// Returns `ESP_OK`; `ESP_FAIL` when the logits differ (the text gives the first mismatch);
/// `ESP_ERR_NO_MEM` when the heap region cannot hold the built-in model (its need is part of
/// `ruv_temporal_required_heap`).
#[no_mangle]
pub extern "C" fn ruv_temporal_kernel_self_test() -> esp_err_t {
    match selftest::run() {
        Ok(()) => ESP_OK,
        Err(f) => global_failure(f),
    }
}

/// Heap bytes a context for this model and `window_len` needs, including the self-test and
/// allocator allowances: hand a region of at least this size to `ruv_temporal_heap_init` (or
/// check free heap) before `ruv_temporal_init`. Reads only the file's header and metadata and
/// allocates nothing.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL, an empty or malformed file or window_len 0;
/// the file's parse errors with the same codes as init; `ESP_ERR_NOT_SUPPORTED` for a file
/// init refuses that way (dense-trained, or referenced without a node reference), so no heap
/// is set aside for it.
///
/// # Safety
/// `weights` valid for `weights_len` bytes; `out_bytes` writable.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_required_heap(
    weights: *const u8,
    weights_len: usize,
    window_len: u32,
    out_bytes: *mut usize,
) -> esp_err_t {
    // SAFETY: forwarded contract.
    unsafe { required_heap_mode(weights, weights_len, window_len, out_bytes, Mode::Window) }
}

/// `ruv_temporal_required_heap` for a context made by `ruv_temporal_init_streaming`.
///
/// # Safety
/// As `ruv_temporal_required_heap`.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_required_heap_streaming(
    weights: *const u8,
    weights_len: usize,
    window_len: u32,
    out_bytes: *mut usize,
) -> esp_err_t {
    // SAFETY: forwarded contract.
    unsafe { required_heap_mode(weights, weights_len, window_len, out_bytes, Mode::Streaming) }
}

/// # Safety
/// As `ruv_temporal_required_heap`.
unsafe fn required_heap_mode(
    weights: *const u8,
    weights_len: usize,
    window_len: u32,
    out_bytes: *mut usize,
    mode: Mode,
) -> esp_err_t {
    if out_bytes.is_null() {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "out_bytes is NULL"));
    }
    if window_len == 0 {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "window_len is 0"));
    }
    // SAFETY: per contract.
    let model = match unsafe { model_bytes(weights, weights_len) } {
        Ok(m) => m,
        Err(f) => return global_failure(f),
    };
    match memory::plan(model, window_len, mode) {
        Ok(b) => {
            // SAFETY: checked non-NULL.
            unsafe { *out_bytes = b.total };
            ESP_OK
        }
        Err(f) => global_failure(f),
    }
}

/// The model's frame width (`input_dim`), output count (classes or embedding dimension) and
/// the window it was trained on (`window_len`, 0 when the file names none, as v1 files),
/// read from the file without allocating: a caller can check its own configuration before it
/// sets aside a heap region for a model that `ruv_temporal_init` would then refuse, or run
/// with another window than training used.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL `input_dim`/`n_out`/`weights` or an empty
/// model; otherwise what `ruv_temporal_required_heap` returns for the file. `window_len` may
/// be NULL.
///
/// # Safety
/// `weights` valid for `weights_len` bytes; `input_dim` and `n_out` writable; `window_len`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_model_dims(
    weights: *const u8,
    weights_len: usize,
    input_dim: *mut u32,
    n_out: *mut u32,
    window_len: *mut u32,
) -> esp_err_t {
    if input_dim.is_null() || n_out.is_null() {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "input_dim or n_out is NULL"));
    }
    // SAFETY: per contract.
    let model = match unsafe { model_bytes(weights, weights_len) } {
        Ok(m) => m,
        Err(f) => return global_failure(f),
    };
    match memory::plan(model, 1, Mode::Window) {
        Ok(b) => {
            let u = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            // SAFETY: checked non-NULL (window_len: per contract, NULL or writable). The
            // plan's dimensions come from u32 file fields.
            unsafe {
                *input_dim = u(b.input_dim);
                *n_out = u(b.n_out);
                if let Some(w) = window_len.as_mut() {
                    *w = u(b.trained_window);
                }
            }
            ESP_OK
        }
        Err(f) => global_failure(f),
    }
}

/// The length the model file at `bytes` declares (for files inside a larger flash partition),
/// after checking its magic and version. Not a full check: init does that.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL or bad magic; `ESP_ERR_INVALID_VERSION`;
/// `ESP_ERR_INVALID_SIZE` when `avail` is shorter than the header or the declared length.
///
/// # Safety
/// `bytes` valid for `avail` bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_model_len(
    bytes: *const u8,
    avail: usize,
    out_len: *mut usize,
) -> esp_err_t {
    if out_len.is_null() {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "out_len is NULL"));
    }
    // SAFETY: per contract.
    let Some(b) = (unsafe { slice(bytes, avail) }) else {
        return global_failure(fail!(ESP_ERR_INVALID_ARG, "bytes is NULL"));
    };
    match memory::declared_len(b) {
        Ok(n) => {
            // SAFETY: checked non-NULL.
            unsafe { *out_len = n };
            ESP_OK
        }
        Err(f) => global_failure(f),
    }
}

/// Copies the text of the last failure into `buf` (NUL-terminated, truncated to `len`) and
/// returns the stored text's length (0: no error recorded): at most
/// `RUV_TEMPORAL_ERROR_TEXT_CAP`, so a buffer of that plus one byte gets all of it (a message
/// longer than the cap was cut when stored). With `ctx` NULL: the last failure of
/// a call without a usable context (init, required_heap, model_len, self_test, or any call
/// given a NULL ctx) and of `ruv_temporal_info`, which leaves its context as it is. With a
/// context: its last failed call (cleared by a successful one).
/// `buf` may be NULL when `len` is 0.
///
/// # Safety
/// `ctx` NULL or from `ruv_temporal_init`; `buf` valid for `len` writes.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_last_error(
    ctx: *const ruv_temporal_ctx_t,
    buf: *mut c_char,
    len: usize,
) -> usize {
    let mut scratch = [0u8; 0];
    let out: &mut [u8] = if buf.is_null() || len == 0 {
        &mut scratch
    } else {
        // SAFETY: valid for len writes per contract.
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
    };
    // SAFETY: per contract.
    match unsafe { ctx.as_ref() } {
        Some(c) => c.detail.copy_to(out),
        None => critical_section::with(|cs| GLOBAL_DETAIL.borrow_ref(cs).copy_to(out)),
    }
}

/// Hands the library its heap region on bare-metal builds with the region allocator (the
/// ESP-IDF component's default). Call once, before `ruv_temporal_init`, with at least
/// `ruv_temporal_required_heap` bytes; the library owns the region until reset.
///
/// Returns `ESP_OK`; `ESP_ERR_INVALID_ARG` for NULL; `ESP_ERR_INVALID_SIZE` under 64 bytes;
/// `ESP_ERR_INVALID_STATE` when a region was already given; `ESP_ERR_NOT_SUPPORTED` on hosted
/// builds (system allocator) and with the heap_caps allocator.
///
/// # Safety
/// `ptr` valid for `len` bytes, used by nothing else afterwards.
#[no_mangle]
pub unsafe extern "C" fn ruv_temporal_heap_init(ptr: *mut u8, len: usize) -> esp_err_t {
    #[cfg(target_os = "none")]
    {
        // SAFETY: per contract.
        unsafe { crate::device::heap_init(ptr, len) }
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (ptr, len);
        ESP_ERR_NOT_SUPPORTED
    }
}

/// Bytes in use in the heap region (0 on hosted builds and with heap_caps). For footprint
/// reports on the device.
#[no_mangle]
pub extern "C" fn ruv_temporal_heap_used() -> usize {
    #[cfg(target_os = "none")]
    {
        crate::device::used_bytes()
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

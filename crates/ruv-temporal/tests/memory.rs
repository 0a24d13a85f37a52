//! Memory behaviour through the C ABI, with a counting global allocator:
//! - no allocation after init across 10,000 push / push_csi / classify calls, in both modes;
//! - the peak heap of init + a full window + classify + the self-test stays within
//!   `ruv_temporal_required_heap` for many models, windows and both modes.

use aether_model::{HeadParams, HeadSpec, TensorDtype};
use aether_rvne::{init_random_blob, WeightBlobHeader, DEFAULT_INIT_SEED};
use ruv_temporal::status::{ESP_ERR_NOT_SUPPORTED, ESP_OK};
use ruv_temporal::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Only the test thread that holds `SERIAL` counts (the harness allocates on other threads).
static COUNTING: AtomicBool = AtomicBool::new(false);
static SERIAL: Mutex<()> = Mutex::new(());

thread_local! {
    static COUNTED_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn counted() -> bool {
    COUNTING.load(Ordering::Relaxed) && COUNTED_THREAD.try_with(|c| c.get()).unwrap_or(false)
}

// SAFETY: forwards to the system allocator; only adds counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(
                layout.size().min(LIVE.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size().min(live), Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts allocations of `f` on this thread: (allocations, peak live bytes above the start).
fn measure<R>(f: impl FnOnce() -> R) -> (usize, usize, R) {
    COUNTED_THREAD.with(|c| c.set(true));
    ALLOCS.store(0, Ordering::SeqCst);
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    COUNTED_THREAD.with(|c| c.set(false));
    (
        ALLOCS.load(Ordering::SeqCst),
        PEAK.load(Ordering::SeqCst),
        r,
    )
}

fn frame(t: usize, d: usize) -> Vec<f32> {
    (0..d)
        .map(|j| (((t * 13 + j * 7) % 17) as f32 - 8.0) * 0.2)
        .collect()
}

fn iq(t: usize) -> Vec<i8> {
    (0..128)
        .map(|i| (((i * 5 + t * 3) % 50) as i32 - 25) as i8)
        .collect()
}

struct Ctx(*mut ruv_temporal_ctx_t);

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: from init, destroyed once.
        unsafe { ruv_temporal_destroy(self.0) };
    }
}

fn init(model: &[u8], input_dim: u32, window: u32, n: u32, streaming: bool) -> Ctx {
    let mut ctx = std::ptr::null_mut();
    // SAFETY: valid buffers.
    let err = unsafe {
        if streaming {
            ruv_temporal_init_streaming(model.as_ptr(), model.len(), input_dim, window, n, &mut ctx)
        } else {
            ruv_temporal_init(model.as_ptr(), model.len(), input_dim, window, n, &mut ctx)
        }
    };
    assert_eq!(err, ESP_OK, "init");
    Ctx(ctx)
}

fn required(model: &[u8], window: u32, streaming: bool) -> usize {
    let mut need = 0usize;
    // SAFETY: valid buffers.
    let err = unsafe {
        if streaming {
            ruv_temporal_required_heap_streaming(model.as_ptr(), model.len(), window, &mut need)
        } else {
            ruv_temporal_required_heap(model.as_ptr(), model.len(), window, &mut need)
        }
    };
    assert_eq!(err, ESP_OK);
    need
}

fn default_model(dtype: TensorDtype) -> Vec<u8> {
    HeadParams::random(&HeadSpec::default_v2(), 11)
        .unwrap()
        .to_rvne_v2(dtype)
        .unwrap()
}

#[test]
fn no_allocation_after_init_over_10000_calls() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let model = default_model(TensorDtype::F32);
    for streaming in [false, true] {
        let ctx = init(&model, 16, 32, 4, streaming);
        let frames: Vec<Vec<f32>> = (0..64).map(|t| frame(t, 16)).collect();
        let bufs: Vec<Vec<i8>> = (0..64).map(iq).collect();
        let mut logits = [0.0f32; 4];
        let ts = |i: usize| 1_000_000 + i as u64 * 10_000;
        // The extractor's first frames only settle it (and the first empties the window).
        for (i, b) in bufs.iter().enumerate().take(aether_csi::SETTLE_FRAMES) {
            // SAFETY: valid context and buffer.
            let err = unsafe { ruv_temporal_push_csi(ctx.0, b.as_ptr(), b.len(), ts(i)) };
            assert_eq!(err, ESP_OK);
        }
        let (allocs, _, calls) = measure(|| {
            let mut calls = 0;
            for i in 0..3_400 {
                // SAFETY: valid context and buffers.
                unsafe {
                    assert_eq!(ruv_temporal_push(ctx.0, frames[i % 64].as_ptr()), ESP_OK);
                    let b = &bufs[i % 64];
                    let ts = ts(aether_csi::SETTLE_FRAMES + i);
                    assert_eq!(
                        ruv_temporal_push_csi(ctx.0, b.as_ptr(), b.len(), ts),
                        ESP_OK
                    );
                    assert_eq!(ruv_temporal_classify(ctx.0, logits.as_mut_ptr(), 4), ESP_OK);
                }
                calls += 3;
            }
            calls
        });
        assert!(calls >= 10_000);
        assert!(logits.iter().all(|v| v.is_finite()));
        assert_eq!(
            allocs, 0,
            "allocations after init (streaming = {streaming})"
        );
    }
}

#[test]
fn peak_heap_stays_within_required_heap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let v1 = init_random_blob(WeightBlobHeader::DEFAULT_AETHER, DEFAULT_INIT_SEED)
        .unwrap()
        .serialize();
    let mut wide = HeadSpec::default_v2();
    wide.input_dim = 64;
    wide.d_model = 64;
    wide.q_heads = 8;
    wide.kv_heads = 2;
    wide.d_ff = 128;
    wide.n_layers = 3;
    let wide = HeadParams::random(&wide, 3)
        .unwrap()
        .to_rvne_v2(TensorDtype::Int8)
        .unwrap();
    // Shapes a helper's audit found beyond the streaming budget of the time (the session's
    // decode scratch per query head, candidate offsets over a wide window, a pinned prefix up
    // to the largest global token): MHA over a window of 65,536, and a global token at 1023.
    let mut mha_wide = HeadSpec::default_v2();
    mha_wide.q_heads = 8;
    mha_wide.kv_heads = 8;
    mha_wide.attn.window = 65536;
    let mha_wide = HeadParams::random(&mha_wide, 5)
        .unwrap()
        .to_rvne_v2(TensorDtype::F32)
        .unwrap();
    let mut far_global = HeadSpec::default_v2();
    far_global.q_heads = 4;
    far_global.kv_heads = 4;
    far_global.head_dim = 64;
    far_global.attn.global_tokens = vec![0, 1023];
    let far_global = HeadParams::random(&far_global, 6)
        .unwrap()
        .to_rvne_v2(TensorDtype::F32)
        .unwrap();
    let models: Vec<(&str, Vec<u8>, u32, u32)> = vec![
        ("mha window 65536", mha_wide, 16, 4),
        ("global token 1023", far_global, 16, 4),
        ("v2 f32", default_model(TensorDtype::F32), 16, 4),
        ("v2 f16", default_model(TensorDtype::F16), 16, 4),
        ("v2 int8", default_model(TensorDtype::Int8), 16, 4),
        ("v1", v1, 16, 4),
        ("wide int8", wide, 64, 4),
    ];
    for (name, model, input_dim, n) in &models {
        for window in [1u32, 32, 256, 1024] {
            for streaming in [false, true] {
                // The planner runs before firmware has a heap: it must not allocate.
                let (allocs, _, need) = measure(|| required(model, window, streaming));
                assert_eq!(
                    allocs, 0,
                    "{name} window {window} streaming {streaming}: planning allocated"
                );
                let (_, peak, ()) = measure(|| {
                    let ctx = init(model, *input_dim, window, *n, streaming);
                    let mut logits = vec![0.0f32; *n as usize];
                    for t in 0..window as usize + 3 {
                        // SAFETY: valid context and buffers.
                        let err = unsafe {
                            ruv_temporal_push(ctx.0, frame(t, *input_dim as usize).as_ptr())
                        };
                        assert_eq!(err, ESP_OK);
                    }
                    // SAFETY: valid context and buffer.
                    let err = unsafe { ruv_temporal_classify(ctx.0, logits.as_mut_ptr(), *n) };
                    assert_eq!(err, ESP_OK);
                    assert_eq!(ruv_temporal_kernel_self_test(), ESP_OK);
                });
                assert!(
                    peak <= need,
                    "{name} window {window} streaming {streaming}: peak {peak} > required {need}"
                );
                // The budget is an upper bound, not a wild one.
                assert!(
                    need <= 2 * peak + 64 * 1024,
                    "{name} window {window} streaming {streaming}: required {need} vs peak {peak}"
                );
            }
        }
    }
}

/// Metadata no model can have (head counts and widths whose products overflow) is refused by
/// the heap planners and by init with an error code: never an abort from an overflow, never
/// `ESP_OK` with a wrapped size.
#[test]
fn impossible_dimensions_are_refused_before_any_arithmetic() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut b = aether_rvne::v2::RvneV2Builder::new();
    b.meta_u32("input_dim", 16)
        .meta_u32("d_model", 32)
        .meta_u32("n_layers", 1)
        .meta_u32("n_q_heads", 0xFFFF_FFFF)
        .meta_u32("n_kv_heads", 1)
        .meta_u32("head_dim", 0x8000_0000)
        .meta_u32("d_ff", 64)
        .meta_u32("n_out", 4)
        .meta_u32("attn.window", 32)
        .meta_u32("attn.block_size", 16);
    let model = b.to_bytes().unwrap();
    for streaming in [false, true] {
        let mut need = 0usize;
        // SAFETY: valid buffers.
        let err = unsafe {
            if streaming {
                ruv_temporal_required_heap_streaming(model.as_ptr(), model.len(), 1, &mut need)
            } else {
                ruv_temporal_required_heap(model.as_ptr(), model.len(), 1, &mut need)
            }
        };
        assert_ne!(err, ESP_OK, "streaming {streaming}: need {need}");
        let mut ctx = std::ptr::null_mut();
        // SAFETY: valid buffers.
        let err = unsafe {
            if streaming {
                ruv_temporal_init_streaming(model.as_ptr(), model.len(), 16, 1, 4, &mut ctx)
            } else {
                ruv_temporal_init(model.as_ptr(), model.len(), 16, 1, 4, &mut ctx)
            }
        };
        assert_ne!(err, ESP_OK, "init, streaming {streaming}");
        assert!(ctx.is_null());
    }
}

/// A copy of a v2 file with extra metadata entries and f32 vectors added.
fn with_extras(model: &[u8], extra: impl Fn(&mut aether_rvne::v2::RvneV2Builder)) -> Vec<u8> {
    let view = aether_rvne::v2::RvneV2View::parse(model).unwrap();
    let mut b = aether_rvne::v2::RvneV2Builder::new();
    for e in view.meta_entries() {
        b.meta_value(e.key, e.value);
    }
    for t in view.tensors() {
        b.add_tensor(t.name(), t.dtype(), t.shape(), &t.to_f32_vec())
            .unwrap();
    }
    extra(&mut b);
    b.to_bytes().unwrap()
}

/// Files the library would not run with their trained numbers are refused at init with
/// `ESP_ERR_NOT_SUPPORTED`: a head trained with dense attention (the library runs the sparse
/// kernel), one trained on node-referenced frames without a node reference (it would get raw
/// frames). With the reference (`aether calibrate`), or trained sparse, they run.
#[test]
fn heads_the_library_would_misrun_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use aether_rvne::v2::TensorDtype as T;
    let model = default_model(TensorDtype::F32);
    let dense = with_extras(&model, |b| {
        b.meta_str("train.attention", "dense");
    });
    let sparse = with_extras(&model, |b| {
        b.meta_str("train.attention", "sparse");
    });
    let referenced = with_extras(&model, |b| {
        b.meta_bool("input.reference", true);
    });
    let calibrated = with_extras(&model, |b| {
        b.meta_bool("input.reference", true);
        b.add_tensor("calib.mean", T::F32, &[16], &[0.1; 16])
            .unwrap();
        b.add_tensor("calib.std", T::F32, &[16], &[2.0; 16])
            .unwrap();
    });
    for streaming in [false, true] {
        for (name, bytes, want, advice) in [
            (
                "dense",
                &dense,
                ESP_ERR_NOT_SUPPORTED,
                "export a sparse-trained head",
            ),
            (
                "referenced, no reference",
                &referenced,
                ESP_ERR_NOT_SUPPORTED,
                "run `aether calibrate` on the node's empty room",
            ),
            ("sparse", &sparse, ESP_OK, ""),
            ("referenced and calibrated", &calibrated, ESP_OK, ""),
        ] {
            let mut ctx = std::ptr::null_mut();
            // SAFETY: valid buffers.
            let err = unsafe {
                if streaming {
                    ruv_temporal_init_streaming(bytes.as_ptr(), bytes.len(), 16, 32, 4, &mut ctx)
                } else {
                    ruv_temporal_init(bytes.as_ptr(), bytes.len(), 16, 32, 4, &mut ctx)
                }
            };
            assert_eq!(err, want, "{name}, streaming {streaming}");
            assert_eq!(ctx.is_null(), want != ESP_OK);
            if want != ESP_OK {
                // The whole message, its advice included, fits the library's text buffer.
                let mut text = [0u8; 512];
                // SAFETY: a valid buffer of its length.
                let n = unsafe {
                    ruv_temporal_last_error(std::ptr::null(), text.as_mut_ptr().cast(), text.len())
                };
                let text = std::str::from_utf8(&text[..n]).unwrap();
                assert!(n < ruv_temporal::detail::DETAIL_CAP, "{name}: {n} bytes");
                assert!(text.ends_with(advice), "{name}: {text:?}");
            }
            // The heap planners refuse it too, before a caller sets a region aside.
            let (mut need, mut i, mut o) = (0usize, 0u32, 0u32);
            // SAFETY: valid buffers.
            let (heap, dims) = unsafe {
                (
                    if streaming {
                        ruv_temporal_required_heap_streaming(
                            bytes.as_ptr(),
                            bytes.len(),
                            32,
                            &mut need,
                        )
                    } else {
                        ruv_temporal_required_heap(bytes.as_ptr(), bytes.len(), 32, &mut need)
                    },
                    ruv_temporal_model_dims(
                        bytes.as_ptr(),
                        bytes.len(),
                        &mut i,
                        &mut o,
                        std::ptr::null_mut(),
                    ),
                )
            };
            assert_eq!((heap, dims), (want, want), "{name}: planners");
            if !ctx.is_null() {
                // SAFETY: from init.
                unsafe { ruv_temporal_destroy(ctx) };
            }
        }
    }
}

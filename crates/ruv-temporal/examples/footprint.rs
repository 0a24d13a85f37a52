//! Measures the footprint table of the ESP-IDF component README on the host:
//! `cargo run --release -p ruv-temporal --example footprint [-- [--json] [--window N]]`.
//!
//! For the default head (`HeadSpec::default_v2`, window N = 256): model file and in-memory
//! weight bytes per dtype, `ruv_temporal_required_heap` against the peak heap a counting
//! allocator sees over init + N frames + classify, the stack classify uses (painted thread
//! stack), MACs per classify and per streamed frame (aether-model cost model), and the ESP32-S3
//! latency those MACs imply at 142 MMAC/s (esp-dsp f32 dot product).

use aether_model::{HeadParams, HeadSpec, TemporalHead, TensorDtype};
use ruv_temporal::status::ESP_OK;
use ruv_temporal::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator, adding counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(
                l.size().min(LIVE.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        // SAFETY: forwarded.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Window length (frames); `--window N` overrides.
static N_FRAMES: AtomicUsize = AtomicUsize::new(256);
const ESP32S3_MMAC_PER_S: f64 = 142.0;

fn frame(t: usize, d: usize) -> Vec<f32> {
    (0..d)
        .map(|j| (((t * 29 + j * 13) % 23) as f32 - 11.0) * 0.125)
        .collect()
}

struct Row {
    dtype: &'static str,
    file_bytes: usize,
    weight_ram: usize,
    required_window: usize,
    peak_window: usize,
    required_stream: usize,
    peak_stream: usize,
    held_window: usize,
    held_stream: usize,
    stack_classify: usize,
    stack_push_stream: usize,
}

const PAINT: u8 = 0xA7;
const PAINT_SPAN: usize = 192 * 1024;

/// Paints `PAINT_SPAN` bytes of this thread's stack below the caller, runs `f`, and returns the
/// bytes of that span `f` overwrote (its stack depth beyond the caller's frame).
#[inline(never)]
fn stack_depth(f: &mut dyn FnMut()) -> usize {
    let marker = 0u8;
    let top = std::hint::black_box(&marker) as *const u8 as usize - 512;
    let bottom = top - PAINT_SPAN;
    // SAFETY: the span lies inside this thread's 1 MiB stack, below every live frame; it is
    // only written while no callee uses it.
    unsafe {
        for a in bottom..top {
            std::ptr::write_volatile(a as *mut u8, PAINT);
        }
    }
    f();
    let mut a = bottom;
    // SAFETY: as above.
    while a < top && unsafe { std::ptr::read_volatile(a as *const u8) } == PAINT {
        a += 1;
    }
    top - a + 512
}

fn measure(dtype: TensorDtype, name: &'static str, spec: &HeadSpec) -> Row {
    let n_frames = N_FRAMES.load(Ordering::Relaxed);
    let model = HeadParams::random(spec, 1)
        .unwrap()
        .to_rvne_v2(dtype)
        .unwrap();
    let head = TemporalHead::from_bytes(&model).unwrap();
    let (i, n) = (spec.input_dim as u32, spec.n_out as u32);
    let mut row = Row {
        dtype: name,
        file_bytes: model.len(),
        weight_ram: head.weight_bytes(),
        required_window: 0,
        peak_window: 0,
        required_stream: 0,
        peak_stream: 0,
        held_window: 0,
        held_stream: 0,
        stack_classify: 0,
        stack_push_stream: 0,
    };
    for streaming in [false, true] {
        let mut need = 0usize;
        // SAFETY: valid buffers.
        let err = unsafe {
            if streaming {
                ruv_temporal_required_heap_streaming(
                    model.as_ptr(),
                    model.len(),
                    n_frames as u32,
                    &mut need,
                )
            } else {
                ruv_temporal_required_heap(model.as_ptr(), model.len(), n_frames as u32, &mut need)
            }
        };
        assert_eq!(err, ESP_OK);
        let frames: Vec<Vec<f32>> = (0..=n_frames).map(|t| frame(t, spec.input_dim)).collect();
        LIVE.store(0, Ordering::SeqCst);
        PEAK.store(0, Ordering::SeqCst);
        ON.store(true, Ordering::SeqCst);
        let mut ctx = std::ptr::null_mut();
        // SAFETY: valid buffers.
        let err = unsafe {
            if streaming {
                ruv_temporal_init_streaming(
                    model.as_ptr(),
                    model.len(),
                    i,
                    n_frames as u32,
                    n,
                    &mut ctx,
                )
            } else {
                ruv_temporal_init(model.as_ptr(), model.len(), i, n_frames as u32, n, &mut ctx)
            }
        };
        assert_eq!(err, ESP_OK);
        let held = LIVE.load(Ordering::SeqCst);
        for f in &frames[..n_frames] {
            // SAFETY: valid context and frame.
            assert_eq!(unsafe { ruv_temporal_push(ctx, f.as_ptr()) }, ESP_OK);
        }
        let mut logits = vec![0.0f32; n as usize];
        let classify_stack = stack_depth(&mut || {
            // SAFETY: valid context and buffer.
            assert_eq!(
                unsafe { ruv_temporal_classify(ctx, logits.as_mut_ptr(), n) },
                ESP_OK
            );
        });
        ON.store(false, Ordering::SeqCst);
        let peak = PEAK.load(Ordering::SeqCst);
        if streaming {
            row.required_stream = need;
            row.peak_stream = peak;
            row.held_stream = held;
            row.stack_push_stream = stack_depth(&mut || {
                // SAFETY: valid context and frame.
                assert_eq!(
                    unsafe { ruv_temporal_push(ctx, frames[n_frames].as_ptr()) },
                    ESP_OK
                );
            });
        } else {
            row.required_window = need;
            row.peak_window = peak;
            row.held_window = held;
            row.stack_classify = classify_stack;
        }
        // SAFETY: from init.
        unsafe { ruv_temporal_destroy(ctx) };
    }
    row
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    if let Some(i) = args.iter().position(|a| a == "--window") {
        let n: usize = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--window N");
        N_FRAMES.store(n, Ordering::Relaxed);
    }
    #[allow(non_snake_case)]
    let N = N_FRAMES.load(Ordering::Relaxed);
    let spec = HeadSpec::default_v2();
    let head = TemporalHead::from_bytes(
        &HeadParams::random(&spec, 1)
            .unwrap()
            .to_rvne_v2(TensorDtype::F32)
            .unwrap(),
    )
    .unwrap();
    let macs_window = head.macs_per_window(N);
    let macs_frame = head.macs_per_frame(N);
    let ram_estimate = head.ram_bytes(N).expect("a causal head has a session");
    let rows = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            [
                (TensorDtype::F32, "f32"),
                (TensorDtype::F16, "f16"),
                (TensorDtype::Int8, "int8"),
            ]
            .into_iter()
            .map(|(d, name)| measure(d, name, &spec))
            .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    let ms = |macs: u64| macs as f64 / (ESP32S3_MMAC_PER_S * 1e3);
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"dtype\":\"{}\",\"file_bytes\":{},\"weight_ram_bytes\":{},\"required_heap_window\":{},\"peak_heap_window\":{},\"heap_after_init_window\":{},\"required_heap_streaming\":{},\"peak_heap_streaming\":{},\"heap_after_init_streaming\":{},\"stack_classify_bytes\":{},\"stack_stream_push_bytes\":{}}}",
                    r.dtype, r.file_bytes, r.weight_ram, r.required_window, r.peak_window,
                    r.held_window, r.required_stream, r.peak_stream, r.held_stream,
                    r.stack_classify, r.stack_push_stream
                )
            })
            .collect();
        println!(
            "{{\"window\":{N},\"macs_per_classify\":{macs_window},\"macs_per_frame\":{macs_frame},\"esp32s3_ms_classify\":{:.2},\"esp32s3_ms_frame\":{:.3},\"rows\":[{}]}}",
            ms(macs_window),
            ms(macs_frame),
            items.join(",")
        );
        return;
    }
    println!("default head (HeadSpec::default_v2), window N = {N}, host measurements");
    println!();
    println!("| weights | file bytes | weights in RAM | window: required_heap | window: peak heap | window: held after init | streaming: required_heap | streaming: peak heap | streaming: held after init | stack: classify (window) | stack: push (streaming) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.dtype,
            r.file_bytes,
            r.weight_ram,
            r.required_window,
            r.peak_window,
            r.held_window,
            r.required_stream,
            r.peak_stream,
            r.held_stream,
            r.stack_classify,
            r.stack_push_stream
        );
    }
    println!();
    println!(
        "aether-model's own streaming estimate (TemporalHead::ram_bytes({N}), f32): {} bytes",
        ram_estimate
    );
    println!(
        "MACs per classify (window, N = {N}): {macs_window} -> {:.1} ms on ESP32-S3 at {ESP32S3_MMAC_PER_S} MMAC/s",
        ms(macs_window)
    );
    println!(
        "MACs per streamed frame (at N = {N}): {macs_frame} -> {:.3} ms on ESP32-S3 at {ESP32S3_MMAC_PER_S} MMAC/s",
        ms(macs_frame)
    );
}

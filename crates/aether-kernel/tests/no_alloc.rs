//! Steady-state calls do not allocate: counted with a wrapping global allocator.

use aether_kernel::{AttnShape, DecodeScratch, Scratch, SparseAttention, SparseConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Bytes requested while counting (allocations, plus growth by reallocation).
static BYTES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the measuring thread counts: the test harness allocates on its own threads.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn note_alloc(bytes: usize) {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note_alloc(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note_alloc(n.saturating_sub(l.size()));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counters are shared: tests that count take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test's turn at the counters: this thread counts until the turn ends (the harness's own
/// allocations on the test thread after the test body, its result among them, must not land
/// in the next test's counts).
struct Turn {
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        COUNTING.with(|c| c.set(false));
    }
}

fn my_turn() -> Turn {
    let lock = TURN.lock().unwrap_or_else(|e| e.into_inner());
    COUNTING.with(|c| c.set(true));
    Turn { _lock: lock }
}

#[test]
fn decode_and_reused_forward_do_not_allocate() {
    let _turn = my_turn();
    let cfg = SparseConfig {
        global_tokens: vec![0, 2],
        ..SparseConfig::upstream(16, 32)
    };
    let attn = SparseAttention::new(cfg).unwrap();
    for sliding in [false, true] {
        for f16 in [false, true] {
            let (qh, kvh, d, cap) = (4, 1, 32, 600);
            let q = vec![0.05f32; qh * d];
            let kv = vec![0.02f32; kvh * d];
            let mut out = vec![0.0; qh * d];
            let steps = if sliding { 2000 } else { cap };
            let before;
            if f16 {
                let mut cache = attn.make_cache::<half::f16>(cap, kvh, d, sliding).unwrap();
                let mut scratch = DecodeScratch::new_for(attn.config(), qh, &cache).unwrap();
                before = ALLOCS.load(Ordering::Relaxed);
                for _ in 0..steps {
                    cache.append(&kv, &kv).unwrap();
                    attn.decode_step(&q, &cache, &mut out, &mut scratch)
                        .unwrap();
                }
            } else {
                let mut cache = attn.make_cache::<f32>(cap, kvh, d, sliding).unwrap();
                let mut scratch = DecodeScratch::new_for(attn.config(), qh, &cache).unwrap();
                before = ALLOCS.load(Ordering::Relaxed);
                for _ in 0..steps {
                    cache.append(&kv, &kv).unwrap();
                    attn.decode_step(&q, &cache, &mut out, &mut scratch)
                        .unwrap();
                }
            }
            let during = ALLOCS.load(Ordering::Relaxed) - before;
            assert_eq!(
                during, 0,
                "sliding={sliding} f16={f16}: {during} allocations in {steps} steps"
            );
        }
    }
    // Forward with a reused scratch allocates only on its first call.
    let shape = AttnShape {
        seq: 256,
        q_heads: 4,
        kv_heads: 1,
        head_dim: 32,
    };
    let (q, kv) = (vec![0.01; 256 * 128], vec![0.02; 256 * 32]);
    let mut out = vec![0.0; q.len()];
    let mut scratch = Scratch::new();
    attn.forward_into(shape, &q, &kv, &kv, &mut out, &mut scratch)
        .unwrap();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..5 {
        attn.forward_into(shape, &q, &kv, &kv, &mut out, &mut scratch)
            .unwrap();
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0);
    // So does the backward (the same scratch serves both; on AVX-512 this is the tiled path).
    let (mut d_q, mut d_k, mut d_v) =
        (vec![0.0; q.len()], vec![0.0; kv.len()], vec![0.0; kv.len()]);
    let d_out = vec![0.03; q.len()];
    let mut backward = |s: &mut Scratch| {
        attn.backward_into(shape, &q, &kv, &kv, &d_out, &mut d_q, &mut d_k, &mut d_v, s)
            .unwrap()
    };
    backward(&mut scratch);
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..5 {
        backward(&mut scratch);
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0);
}

/// `KvCache::heap_bytes` and `DecodeScratch::heap_bytes` are exactly what construction
/// allocates (firmware sizes its heap region from them before building anything).
#[test]
fn heap_bytes_is_what_construction_allocates() {
    let _turn = my_turn();
    use aether_kernel::{CacheMode, KvCache, KvElem};
    fn check<E: KvElem>(cfg: &SparseConfig, qh: usize, kvh: usize, d: usize, cap: usize) {
        let before = BYTES.load(Ordering::Relaxed);
        let cache = KvCache::<E>::try_new(cap, kvh, d, cfg.block_size, CacheMode::Growing).unwrap();
        let mid = BYTES.load(Ordering::Relaxed);
        let scratch = DecodeScratch::new_for(cfg, qh, &cache).unwrap();
        let after = BYTES.load(Ordering::Relaxed);
        let what = format!(
            "{} q{qh}/kv{kvh} d{d} cap {cap} window {}",
            E::NAME,
            cfg.window
        );
        assert_eq!(
            mid - before,
            KvCache::<E>::heap_bytes(cap, kvh, d, cfg.block_size).unwrap(),
            "cache {what}"
        );
        assert_eq!(
            after - mid,
            DecodeScratch::heap_bytes::<E>(cfg.extent(), qh, kvh, d, cap).unwrap(),
            "scratch {what}"
        );
        drop((cache, scratch));
    }
    for (window, block, globals) in [
        (16, 32, vec![0]),
        (65536, 16, vec![0, 5, 1023]),
        (0, 1, vec![]),
    ] {
        let cfg = SparseConfig {
            global_tokens: globals,
            ..SparseConfig::upstream(window, block)
        };
        for (qh, kvh, d, cap) in [(4, 1, 32, 600), (8, 8, 8, 1), (2, 2, 64, 5000)] {
            check::<f32>(&cfg, qh, kvh, d, cap);
            check::<half::f16>(&cfg, qh, kvh, d, cap);
        }
    }
}

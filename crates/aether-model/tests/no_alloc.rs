//! `Session::push` / `logits` and a sized `classify` allocate nothing (counted per thread, so
//! the test harness's other threads do not interfere).

mod common;

use aether_model::{Backend, HeadScratch, HeadSpec, TemporalHead, TensorDtype, WindowMode};
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// Bytes requested on this thread (allocations, plus growth by reallocation).
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + l.size() as u64));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + n.saturating_sub(l.size()) as u64));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

fn heads() -> Vec<TemporalHead> {
    let p = params(&HeadSpec::default_v2(), 3);
    let mut v = vec![];
    for dtype in [TensorDtype::F32, TensorDtype::Int8] {
        let h = TemporalHead::from_bytes(&p.to_rvne_v2(dtype).unwrap()).unwrap();
        v.push(h.clone().with_backend(Backend::Dense));
        v.push(h);
    }
    v
}

#[test]
fn push_and_logits_do_not_allocate() {
    for head in heads() {
        let w = window(300, 16, 1);
        for mode in [
            WindowMode::Growing { capacity: 300 },
            WindowMode::Sliding { len: 40 },
        ] {
            for kv in [aether_model::KvStorage::F32, aether_model::KvStorage::F16] {
                let mut s = aether_model::Session::with_kv(&head, mode, kv).unwrap();
                let mut out = [0f32; 4];
                let before = allocs();
                for f in w.chunks(16) {
                    s.push(f).unwrap();
                    s.logits(&mut out).unwrap();
                }
                assert_eq!(allocs() - before, 0, "{:?} {mode:?} {kv:?}", head.backend());
            }
        }
    }
}

/// Sparse backend only: the dense A/B path calls `aether_kernel::dense_forward`, which
/// allocates its own row buffers.
#[test]
fn sized_classify_does_not_allocate() {
    for head in heads()
        .into_iter()
        .filter(|h| h.backend() == Backend::Sparse)
    {
        let w = window(256, 16, 2);
        let mut scratch = HeadScratch::for_head(&head, 256).unwrap();
        let mut out = [0f32; 4];
        head.classify(&w, &mut out, &mut scratch).unwrap(); // sizes the kernel's scratch
        let before = allocs();
        for t in [256, 100, 7] {
            head.classify(&w[..t * 16], &mut out, &mut scratch).unwrap();
        }
        assert_eq!(allocs() - before, 0, "{:?}", head.backend());
    }
}

/// `HeadSpec::session_heap_bytes` is exactly what `Session::with_kv` allocates (firmware
/// budgets its heap region with it before building), over head shapes, patterns, modes and
/// KV storage; `HeadSpec::of_file` reads that spec from the file without its weights.
#[test]
fn session_heap_bytes_is_what_a_session_allocates() {
    let mut specs = vec![HeadSpec::default_v2()];
    let mut wide = HeadSpec::default_v2();
    wide.q_heads = 8;
    wide.kv_heads = 8;
    wide.attn.window = 65536;
    specs.push(wide);
    let mut globals = HeadSpec::default_v2();
    globals.attn.global_tokens = vec![0, 7, 1023];
    globals.q_heads = 4;
    globals.kv_heads = 4;
    globals.head_dim = 16;
    globals.d_model = 64;
    specs.push(globals);
    for spec in specs {
        let bytes = params(&spec, 1).to_rvne_v2(TensorDtype::F32).unwrap();
        let head = TemporalHead::from_bytes(&bytes).unwrap();
        let read = HeadSpec::of_file(&bytes).unwrap();
        assert_eq!(read.attn, head.spec().attn);
        for mode in [
            WindowMode::Sliding { len: 1 },
            WindowMode::Sliding { len: 1024 },
            WindowMode::Growing { capacity: 300 },
        ] {
            for kv in [aether_model::KvStorage::F32, aether_model::KvStorage::F16] {
                let before = BYTES.with(|c| c.get());
                let s = aether_model::Session::with_kv(&head, mode, kv).unwrap();
                let used = BYTES.with(|c| c.get()) - before;
                assert_eq!(
                    used as usize,
                    read.session_heap_bytes(mode, kv).unwrap(),
                    "window {} globals {:?} heads {}/{} {mode:?} {kv:?}",
                    read.attn.window,
                    read.attn.global_tokens,
                    read.q_heads,
                    read.kv_heads
                );
                drop(s);
            }
        }
    }
}

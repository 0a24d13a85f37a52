//! The cost model against counts taken from the running code.

mod common;

use aether_kernel::{edge_count, QueryPattern, SparseConfig};
use aether_model::{Backend, HeadSpec, TemporalHead, TensorDtype, WeightBlobHeader, WindowMode};
use common::*;

#[test]
fn params_match_the_tensors() {
    let spec = HeadSpec::default_v2();
    let p = params(&spec, 1);
    let head = TemporalHead::from_params(&p).unwrap();
    let total: usize = p.named_tensors().iter().map(|t| t.data.len()).sum();
    assert_eq!(head.params(), total as u64);
    assert_eq!(spec.params(), total as u64);
    let v1 = aether_rvne::init_random_blob(WeightBlobHeader::DEFAULT_AETHER, 1)
        .unwrap()
        .serialize();
    let h1 = TemporalHead::from_bytes(&v1).unwrap();
    assert_eq!(h1.params(), 10_304);
    assert_eq!(h1.spec().params(), 10_304);
}

#[test]
fn macs_follow_the_loops() {
    let spec = HeadSpec::default_v2();
    let head = TemporalHead::from_params(&params(&spec, 1)).unwrap();
    // Per frame: input proj 32*16; per layer q 32*32, k,v 8*32 each, o 32*32, ffn 2*64*32.
    let proj = 32 * 16 + 2 * (32 * 32 + 2 * 8 * 32 + 32 * 32 + 2 * 64 * 32);
    assert_eq!(spec.macs_projections_per_frame(), proj);
    let cfg = SparseConfig::upstream(32, 16);
    let per_edge = 4 * 2 * 8; // q_heads * (score + value) * head_dim
    for t in [1, 64, 256] {
        let want = t as u64 * proj + 2 * edge_count(&cfg, t) * per_edge + 4 * 32;
        assert_eq!(head.macs_per_window(t), want);
        let dense = head.clone().with_backend(Backend::Dense);
        assert_eq!(
            dense.macs_per_window(t),
            t as u64 * proj + 2 * (t * (t + 1) / 2) as u64 * per_edge + 4 * 32
        );
        let mut p = QueryPattern::with_capacity(&cfg);
        p.build(&cfg, t, t - 1);
        assert_eq!(
            head.macs_per_frame(t),
            proj + 2 * p.len() as u64 * per_edge + 4 * 32
        );
    }
    // Streaming cost is bounded in T (O(W + log T)), dense grows linearly.
    assert!(head.macs_per_frame(4096) < 2 * head.macs_per_frame(256));
    let dense = head.clone().with_backend(Backend::Dense);
    assert!(dense.macs_per_frame(4096) > 8 * dense.macs_per_frame(256));
    // Summing per-frame costs of a growing stream equals T windows' projections plus every
    // query's edges, i.e. the full-window attention plus T output layers.
    let t = 100;
    let stream: u64 = (1..=t).map(|n| head.macs_per_frame(n)).sum();
    assert_eq!(stream, head.macs_per_window(t) + (t as u64 - 1) * 4 * 32);
}

#[test]
fn ram_covers_weights_and_session_state() {
    let p = params(&HeadSpec::default_v2(), 1);
    for dtype in [TensorDtype::F32, TensorDtype::Int8] {
        let head = TemporalHead::from_bytes(&p.to_rvne_v2(dtype).unwrap()).unwrap();
        let s = head.session(WindowMode::Growing { capacity: 256 }).unwrap();
        let ram = head.ram_bytes(256).unwrap();
        // The model counts at least the real session buffers and the weights.
        assert!(
            ram >= (head.weight_bytes() + s.state_bytes()) as u64,
            "{ram}"
        );
        // KV: 2 layers * 2 (k,v) * 256 frames * 8 floats * 4 bytes.
        assert!(ram - head.weight_bytes() as u64 >= 2 * 2 * 256 * 8 * 4);
        assert!(head.ram_bytes(4096).unwrap() > ram);
        // The session part is exactly what a session allocates (the kernel's and the
        // session's own sizing, which the ruv-temporal counting-allocator tests pin down).
        assert_eq!(
            ram - head.weight_bytes() as u64,
            head.spec()
                .session_heap_bytes(
                    WindowMode::Growing { capacity: 256 },
                    aether_model::KvStorage::F32
                )
                .unwrap() as u64
        );
        assert_eq!(head.ram_bytes(0), None, "no session of capacity 0");
    }
}

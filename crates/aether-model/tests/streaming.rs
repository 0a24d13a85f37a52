//! Streaming sessions against full-window passes.

mod common;

use aether_model::{Backend, HeadScratch, HeadSpec, OutputKind, Pooling, TemporalHead, WindowMode};
use common::*;

fn check_growing(spec: &HeadSpec, frames: usize, backend: Backend) -> f32 {
    let head = TemporalHead::from_params(&params(spec, 7))
        .unwrap()
        .with_backend(backend);
    let w = window(frames, spec.input_dim, 3);
    let mut s = head
        .session(WindowMode::Growing { capacity: frames })
        .unwrap();
    let mut scratch = HeadScratch::new();
    let (mut a, mut b) = (vec![0.0; spec.n_out], vec![0.0; spec.n_out]);
    let mut worst = 0f32;
    for t in 1..=frames {
        s.push(&w[(t - 1) * spec.input_dim..t * spec.input_dim])
            .unwrap();
        s.output(&mut a).unwrap();
        head.run(&w[..t * spec.input_dim], &mut b, &mut scratch)
            .unwrap();
        worst = worst.max(max_abs_diff(&a, &b));
    }
    worst
}

#[test]
fn growing_session_equals_full_window_at_every_length() {
    for pooling in [Pooling::Mean, Pooling::Last] {
        for kind in [OutputKind::Classes, OutputKind::Embedding] {
            let mut spec = small_spec();
            spec.pooling = pooling;
            spec.output_kind = kind;
            let e = check_growing(&spec, 70, Backend::Sparse);
            assert!(e <= 1e-5, "{pooling:?} {kind:?}: {e}");
        }
    }
}

#[test]
fn growing_session_equals_full_window_default_head() {
    let e = check_growing(&HeadSpec::default_v2(), 100, Backend::Sparse);
    assert!(e <= 1e-5, "{e}");
}

#[test]
fn dense_growing_session_equals_dense_full_window() {
    let e = check_growing(&small_spec(), 40, Backend::Dense);
    assert!(e <= 1e-5, "{e}");
}

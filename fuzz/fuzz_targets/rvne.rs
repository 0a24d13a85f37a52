//! Any bytes as a model file: the RVNE parser and the model loader return errors, never panic,
//! and whatever loads runs a short window of its own shape to finite-or-error outputs. Each
//! input is tried as it is and with its trailing CRC-32 recomputed, so mutations reach the
//! structure checks behind the CRC instead of stopping at it.
#![no_main]

use aether_model::{HeadScratch, TemporalHead};
use libfuzzer_sys::fuzz_target;

/// Frames per test window: enough to reach past the local window of small patterns.
const FRAMES: usize = 8;

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 8 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let _ = aether_rvne::parse_any(data);
    let Ok(head) = TemporalHead::from_bytes(data) else {
        return;
    };
    let spec = head.spec();
    // A file may declare huge shapes; keep the fuzzer's memory bounded.
    if spec.input_dim == 0 || spec.input_dim > 256 || spec.n_out > 4096 {
        return;
    }
    let Ok(mut scratch) = HeadScratch::for_head(&head, FRAMES) else {
        return;
    };
    let window: Vec<f32> = (0..FRAMES * spec.input_dim)
        .map(|i| ((i * 7) as f32).sin())
        .collect();
    let mut out = vec![0.0f32; spec.n_out];
    let _ = head.run(&window, &mut out, &mut scratch);
}

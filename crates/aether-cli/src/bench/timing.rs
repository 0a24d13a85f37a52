//! Median-of-repeats timing: robust on a shared, noisy machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` once to warm up, then repeatedly for about `budget` (at least `min_reps` times,
/// at most 10,000), and returns the median single-call time in microseconds.
pub fn median_us<R>(budget: Duration, min_reps: usize, mut f: impl FnMut() -> R) -> f64 {
    black_box(f());
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < min_reps || (start.elapsed() < budget && samples.len() < 10_000) {
        let t = Instant::now();
        black_box(f());
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(&mut samples)
}

pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        0.5 * (samples[n / 2 - 1] + samples[n / 2])
    }
}

//! Median-of-repeats timing: robust on a shared, noisy machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// `--seconds` as a per-measurement budget: finite, positive, at most an hour.
pub fn budget(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        anyhow::bail!("--seconds {seconds} is not a time budget (more than 0, at most 3600)");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Checks a list of sizes (`--n`, `--t`): not empty, each in `1..=max` (larger ones would only
/// fail on memory after the table has started).
pub fn sizes(option: &str, values: &[usize], max: usize) -> anyhow::Result<()> {
    if values.is_empty() {
        anyhow::bail!("{option} needs at least one size");
    }
    if let Some(v) = values.iter().find(|&&v| v == 0 || v > max) {
        anyhow::bail!("{option} {v} is outside 1..={max}");
    }
    Ok(())
}

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

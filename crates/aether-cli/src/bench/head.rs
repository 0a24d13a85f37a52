//! `aether bench head`: the temporal head end to end.
//!
//! The model is `HeadSpec::default_v2()` (16 features, d_model 32, 2 layers, 4 query heads
//! sharing 1 KV head of dim 8, FFN 64, attention window 32 / block 16, 4 classes) with
//! `HeadParams::random` weights, written as a v2 file in each weight dtype and loaded back:
//! f32; f16 (stored f16, widened to f32 at load, so it computes exactly like f32); int8
//! (per-row scales, dequantised inside the dot products).
//!
//! * `full`: `classify` over N frames (presized scratch), median µs per window.
//! * `stream`: a growing session is filled to T-1 frames untimed, then each of the next
//!   `--probe` pushes (push + logits) is timed; repeated until the time budget is spent.
//!   Median µs per frame at cache length ≈ T.
//!
//! Sparse stream rows also time the same stream with f16 KV caches (`kv16_us`,
//! `stream_kv_f16_us`).
//!
//! Ratios are taken within the run: `sparse/dense` (same op, N and dtype) and `stream/full`
//! (a streamed frame vs re-running the full window over the same T frames, same backend and
//! dtype; the full window at T is measured for that purpose when T is not in `--n`).

use super::timing::{median, median_us};
use aether_model::{
    Backend, HeadParams, HeadScratch, HeadSpec, KvStorage, Session, TemporalHead, TensorDtype,
    WindowMode,
};
use serde::Serialize;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Window lengths for full-window classify.
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024")]
    n: Vec<usize>,
    /// Cache lengths for streamed per-frame latency.
    #[arg(long, value_delimiter = ',', default_value = "256,4096")]
    t: Vec<usize>,
    /// Weight dtypes (f32, f16, int8).
    #[arg(long, value_delimiter = ',', default_value = "f32,f16,int8")]
    dtypes: Vec<String>,
    /// Seconds of repeats per measurement (the median is reported).
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Timed pushes per refill in `stream`.
    #[arg(long, default_value_t = 16)]
    probe: usize,
    /// Skip dense full-window runs above this N (O(N²)).
    #[arg(long, default_value_t = 1024)]
    dense_max_n: usize,
    /// Seed of the random weights.
    #[arg(long, value_parser = crate::seed::parse_seed, default_value = "1")]
    seed: u64,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Clone)]
struct Row {
    op: &'static str,
    /// Frames in the window (full) or in the cache (stream).
    n: usize,
    dtype: &'static str,
    backend: &'static str,
    median_us: f64,
    macs: u64,
    gmacs_per_s: f64,
    /// sparse_us / dense_us, on sparse rows when both ran.
    sparse_over_dense: Option<f64>,
    /// stream_us / full_us at the same T, backend and dtype, on stream rows.
    stream_over_full: Option<f64>,
    /// Sparse stream rows: the same measurement with f16 KV caches (`KvStorage::F16`).
    stream_kv_f16_us: Option<f64>,
}

fn dtype_of(name: &str) -> anyhow::Result<(TensorDtype, &'static str)> {
    Ok(match name {
        "f32" => (TensorDtype::F32, "f32"),
        "f16" => (TensorDtype::F16, "f16"),
        "int8" => (TensorDtype::Int8, "int8"),
        _ => anyhow::bail!("unknown dtype {name:?} (f32, f16, int8)"),
    })
}

fn frames(t: usize, dim: usize) -> Vec<f32> {
    (0..t * dim)
        .map(|i| (((i / dim) as f32) * 0.37 + (i % dim) as f32 * 1.3).sin() * 1.5)
        .collect()
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sparse => "sparse",
        Backend::Dense => "dense",
    }
}

fn time_full(head: &TemporalHead, n: usize, budget: Duration) -> anyhow::Result<f64> {
    let d = head.spec().input_dim;
    let w = frames(n, d);
    let mut scratch = HeadScratch::for_head(head, n)?;
    let mut out = vec![0.0; head.spec().n_out];
    head.run(&w, &mut out, &mut scratch)?;
    Ok(median_us(budget, 3, || {
        head.run(&w, &mut out, &mut scratch).expect("classify")
    }))
}

fn time_stream(
    head: &TemporalHead,
    t: usize,
    probe: usize,
    budget: Duration,
    kv: KvStorage,
) -> anyhow::Result<f64> {
    let d = head.spec().input_dim;
    let probe = probe.max(1);
    let w = frames(t - 1 + probe, d);
    let mode = WindowMode::Growing {
        capacity: t - 1 + probe,
    };
    let mut session = Session::with_kv(head, mode, kv)?;
    let mut out = vec![0.0; head.spec().n_out];
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || (start.elapsed() < budget && samples.len() < 10_000) {
        session.reset();
        for f in w.chunks(d).take(t - 1) {
            session.push(f)?;
        }
        for f in w.chunks(d).skip(t - 1) {
            let t0 = Instant::now();
            session.push(f)?;
            session.output(&mut out)?;
            black_box(&out);
            samples.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        rounds += 1;
    }
    Ok(median(&mut samples))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let budget = super::timing::budget(args.seconds)?;
    super::timing::sizes("--n", &args.n, 1 << 16)?;
    super::timing::sizes("--t", &args.t, 1 << 16)?;
    anyhow::ensure!(args.probe >= 1, "--probe must be at least 1");
    for name in &args.dtypes {
        dtype_of(name)?;
    }
    let spec = HeadSpec::default_v2();
    let params = HeadParams::random(&spec, args.seed)?;
    if !args.json {
        println!(
            "default v2 head: input_dim {} d_model {} layers {} q/kv heads {}/{} head_dim {} d_ff {} window {} block {} ({} params)",
            spec.input_dim,
            spec.d_model,
            spec.n_layers,
            spec.q_heads,
            spec.kv_heads,
            spec.head_dim,
            spec.d_ff,
            spec.attn.window,
            spec.attn.block_size,
            spec.params()
        );
        println!(
            "{:<6} {:>5} {:<5} {:>12} {:>12} {:>8} {:>12} {:>13} {:>9}",
            "op",
            "n",
            "dtype",
            "sparse_us",
            "dense_us",
            "sp/dense",
            "stream/full",
            "sparse_GMAC/s",
            "kv16_us"
        );
    }
    // (dtype, backend, n) -> full-window µs, for the stream/full ratio.
    let mut full_us: HashMap<(&'static str, &'static str, usize), f64> = HashMap::new();
    for name in &args.dtypes {
        let (dtype, dname) = dtype_of(name)?;
        let sparse = TemporalHead::from_bytes(&params.to_rvne_v2(dtype)?)?;
        let dense = sparse.clone().with_backend(Backend::Dense);
        let mut full_ns: Vec<usize> = args.n.clone();
        for &t in &args.t {
            if !full_ns.contains(&t) {
                full_ns.push(t);
            }
        }
        for (op, ns) in [("full", full_ns), ("stream", args.t.clone())] {
            for n in ns {
                if n == 0 {
                    continue;
                }
                let shown = op == "stream" || args.n.contains(&n);
                let mut pair: Vec<Row> = Vec::new();
                for head in [&sparse, &dense] {
                    let b = head.backend();
                    if op == "full" && b == Backend::Dense && n > args.dense_max_n {
                        continue;
                    }
                    let us = if op == "full" {
                        time_full(head, n, budget)?
                    } else {
                        time_stream(head, n, args.probe, budget, KvStorage::F32)?
                    };
                    let macs = if op == "full" {
                        head.macs_per_window(n)
                    } else {
                        head.macs_per_frame(n)
                    };
                    if op == "full" {
                        full_us.insert((dname, backend_name(b), n), us);
                    }
                    pair.push(Row {
                        op,
                        n,
                        dtype: dname,
                        backend: backend_name(b),
                        median_us: us,
                        macs,
                        gmacs_per_s: macs as f64 / us / 1e3,
                        sparse_over_dense: None,
                        stream_over_full: None,
                        stream_kv_f16_us: None,
                    });
                }
                if !shown {
                    continue;
                }
                let dense_us = pair
                    .iter()
                    .find(|r| r.backend == "dense")
                    .map(|r| r.median_us);
                for r in &mut pair {
                    if r.backend == "sparse" {
                        r.sparse_over_dense = dense_us.map(|d| r.median_us / d);
                    }
                    if op == "stream" && r.backend == "sparse" {
                        r.stream_kv_f16_us =
                            Some(time_stream(&sparse, n, args.probe, budget, KvStorage::F16)?);
                    }
                    if op == "stream" {
                        r.stream_over_full =
                            full_us.get(&(dname, r.backend, n)).map(|f| r.median_us / f);
                    }
                }
                if args.json {
                    for r in &pair {
                        println!("{}", serde_json::to_string(r)?);
                    }
                } else {
                    let sp = &pair[0];
                    let fmt = |x: Option<f64>, p: usize| {
                        x.map_or_else(|| "-".to_string(), |v| format!("{v:.p$}"))
                    };
                    println!(
                        "{:<6} {:>5} {:<5} {:>12.2} {:>12} {:>8} {:>12} {:>13.2} {:>9}",
                        op,
                        n,
                        dname,
                        sp.median_us,
                        fmt(dense_us, 2),
                        fmt(sp.sparse_over_dense, 3),
                        fmt(sp.stream_over_full, 4),
                        sp.gmacs_per_s,
                        fmt(sp.stream_kv_f16_us, 2)
                    );
                }
            }
        }
    }
    Ok(())
}

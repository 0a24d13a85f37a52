//! `aether bench kernel`: our sparse attention kernel against `ruvllm_sparse_attention` 0.1.1,
//! same process, same inputs (the seed's sin/cos recipe), same build flags.

use super::timing::median_us;
use aether_kernel::{
    dense_forward, detected_isa, AttnShape, DecodeScratch, IsaKind, Scratch, SparseAttention,
    SparseConfig,
};
use ruvllm_sparse_attention as upstream;
use serde::Serialize;
use std::time::Duration;
use upstream::AttentionBackend;

#[derive(clap::Args)]
pub struct Args {
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024,4096")]
    n: Vec<usize>,
    /// Threads for our forward and backward (upstream runs single-threaded).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds of repeats per measurement (median is reported).
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Only these configs (seed, aether).
    #[arg(long, value_delimiter = ',', default_value = "seed,aether")]
    configs: Vec<String>,
    /// Skip the O(N^2) dense rows above this N.
    #[arg(long, default_value_t = 4096)]
    dense_max_n: usize,
    /// Instruction set for our sparse rows (scalar, avx2, avx512); default: the best this CPU
    /// has. Dense rows always use the best.
    #[arg(long, value_parser = parse_isa)]
    isa: Option<IsaKind>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

fn parse_isa(s: &str) -> Result<IsaKind, String> {
    let isa = IsaKind::ALL
        .into_iter()
        .find(|i| i.name() == s)
        .ok_or_else(|| format!("unknown instruction set {s:?} (scalar, avx2, avx512)"))?;
    if !isa.is_available() {
        return Err(format!("{s} is not available on this CPU"));
    }
    Ok(isa)
}

#[derive(Serialize)]
struct Row {
    config: &'static str,
    op: &'static str,
    n: usize,
    ours_us: f64,
    upstream_us: Option<f64>,
    ratio: Option<f64>,
    ns_per_edge: f64,
    max_abs_err_vs_upstream: Option<f64>,
}

impl Row {
    /// A row measured against upstream: `(ours_us, upstream_us)`.
    fn compared(
        config: &'static str,
        op: &'static str,
        n: usize,
        (ours_us, upstream_us): (f64, f64),
        ns_per_edge: f64,
        max_abs_err: f64,
    ) -> Row {
        Row {
            config,
            op,
            n,
            ours_us,
            upstream_us: Some(upstream_us),
            ratio: Some(upstream_us / ours_us),
            ns_per_edge,
            max_abs_err_vs_upstream: Some(max_abs_err),
        }
    }
}

/// Median µs of our forward (threaded when asked) into `out`.
fn time_forward(
    ours: &SparseAttention,
    shape: AttnShape,
    [q, k, v]: [&[f32]; 3],
    out: &mut [f32],
    scratch: &mut Scratch,
    threads: usize,
    budget: Duration,
) -> f64 {
    median_us(budget, 5, || {
        // One thread is `forward_into` itself.
        ours.forward_threaded(shape, q, k, v, out, threads, scratch)
            .expect("forward")
    })
}

struct Bench {
    name: &'static str,
    q_heads: usize,
    kv_heads: usize,
    dim: usize,
    window: usize,
    block: usize,
}

const BENCHES: [Bench; 2] = [
    Bench {
        name: "seed",
        q_heads: 4,
        kv_heads: 4,
        dim: 32,
        window: 16,
        block: 32,
    },
    Bench {
        name: "aether",
        q_heads: 4,
        kv_heads: 1,
        dim: 32,
        window: 32,
        block: 16,
    },
];

/// The seed bench inputs; for `kv_heads < heads` the KV tensors are the first heads' slices.
fn inputs(n: usize, q_heads: usize, kv_heads: usize, dim: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut q = Vec::with_capacity(n * q_heads * dim);
    let mut k = Vec::with_capacity(n * kv_heads * dim);
    for s in 0..n {
        for h in 0..q_heads {
            for d in 0..dim {
                q.push(((s * 31 + h * 7 + d) as f32).sin() * 0.1);
            }
        }
        for h in 0..kv_heads {
            for d in 0..dim {
                k.push(((s * 17 + h * 3 + d) as f32).cos() * 0.1);
            }
        }
    }
    let v = k.iter().map(|x| x * 0.5).collect();
    (q, k, v)
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        // A NaN difference would vanish under max: report it as infinite.
        .map(|d| if d.is_nan() { f64::INFINITY } else { d })
        .fold(0.0, f64::max)
}

fn t3(data: &[f32], seq: usize, heads: usize, dim: usize) -> upstream::Tensor3 {
    upstream::Tensor3::from_vec(data.to_vec(), seq, heads, dim).expect("shape")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let isa = args.isa.unwrap_or_else(detected_isa);
    let budget = super::timing::budget(args.seconds)?;
    // 65,536 tokens: q, k and v of the seed config take 32 MiB each, upstream's as much again.
    super::timing::sizes("--n", &args.n, 1 << 16)?;
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    if let Some(c) = args
        .configs
        .iter()
        .find(|c| !BENCHES.iter().any(|b| b.name == c.as_str()))
    {
        anyhow::bail!("--configs {c:?} is not a bench config (seed, aether)");
    }
    let mut rows = Vec::new();
    if !args.json {
        println!(
            "{:<7} {:<12} {:>6} {:>12} {:>12} {:>8} {:>8} {:>10}",
            "config", "op", "n", "ours_us", "upstream_us", "ratio", "ns/edge", "max_err"
        );
    }
    for b in BENCHES
        .iter()
        .filter(|b| args.configs.iter().any(|c| c == b.name))
    {
        let cfg = SparseConfig::upstream(b.window, b.block);
        let ours = SparseAttention::new(cfg.clone())?.with_isa(isa)?;
        let theirs = upstream::SubquadraticSparseAttention::new(upstream::SparseAttentionConfig {
            window: b.window,
            block_size: b.block,
            global_tokens: vec![0],
            causal: true,
            use_log_stride: true,
            use_landmarks: true,
            sort_candidates: false,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        for &n in &args.n {
            let shape = AttnShape {
                seq: n,
                q_heads: b.q_heads,
                kv_heads: b.kv_heads,
                head_dim: b.dim,
            };
            let (q, k, v) = inputs(n, b.q_heads, b.kv_heads, b.dim);
            let (uq, uk, uv) = (
                t3(&q, n, b.q_heads, b.dim),
                t3(&k, n, b.kv_heads, b.dim),
                t3(&v, n, b.kv_heads, b.dim),
            );
            let edges = ours.edge_count(n) as f64 * b.q_heads as f64;
            let gqa = b.q_heads != b.kv_heads;
            let mut emit = |row: Row| {
                print_row(&row, args.json);
                rows.push(row);
            };

            // Prefill.
            let mut out = vec![0.0; q.len()];
            let mut scratch = Scratch::new();
            let ours_us = time_forward(
                &ours,
                shape,
                [&q, &k, &v],
                &mut out,
                &mut scratch,
                args.threads,
                budget,
            );
            let up = |f: &dyn Fn() -> upstream::Tensor3| (median_us(budget, 5, f), f());
            let (up_us, up_out) = if gqa {
                up(&|| {
                    theirs
                        .forward_gqa(&uq, &uk, &uv)
                        .expect("upstream forward_gqa")
                })
            } else {
                up(&|| theirs.forward(&uq, &uk, &uv).expect("upstream forward"))
            };
            emit(Row::compared(
                b.name,
                if gqa { "forward_gqa" } else { "forward" },
                n,
                (ours_us, up_us),
                ours_us * 1e3 / edges,
                max_diff(&out, &up_out.data),
            ));
            if gqa {
                // The same config with one KV head per query head: what GQA saves.
                let mha = AttnShape {
                    kv_heads: b.q_heads,
                    ..shape
                };
                let (q, k, v) = inputs(n, b.q_heads, b.q_heads, b.dim);
                let (uq, uk, uv) = (
                    t3(&q, n, b.q_heads, b.dim),
                    t3(&k, n, b.q_heads, b.dim),
                    t3(&v, n, b.q_heads, b.dim),
                );
                let ours_us = time_forward(
                    &ours,
                    mha,
                    [&q, &k, &v],
                    &mut out,
                    &mut scratch,
                    args.threads,
                    budget,
                );
                let (up_us, up_out) =
                    up(&|| theirs.forward(&uq, &uk, &uv).expect("upstream forward"));
                emit(Row::compared(
                    b.name,
                    "forward",
                    n,
                    (ours_us, up_us),
                    ours_us * 1e3 / edges,
                    max_diff(&out, &up_out.data),
                ));
            }

            // Decode: a stream of n steps (append + attend), µs per step. Both caches are
            // allocated once and reset per stream (steady state: no allocation, pages mapped).
            let qrow = b.q_heads * b.dim;
            let kvrow = b.kv_heads * b.dim;
            let mut dec_out = vec![0.0; q.len()];
            let mut cache = ours
                .make_cache::<f32>(n, b.kv_heads, b.dim, false)
                .expect("cache");
            let mut s = DecodeScratch::new_for(ours.config(), b.q_heads, &cache).expect("scratch");
            let ours_us = median_us(budget, 3, || {
                cache.reset();
                for i in 0..n {
                    cache
                        .append(
                            &k[i * kvrow..(i + 1) * kvrow],
                            &v[i * kvrow..(i + 1) * kvrow],
                        )
                        .expect("append");
                    ours.decode_step(
                        &q[i * qrow..(i + 1) * qrow],
                        &cache,
                        &mut dec_out[i * qrow..(i + 1) * qrow],
                        &mut s,
                    )
                    .expect("decode");
                }
            }) / n as f64;
            let up_tokens: Vec<_> = (0..n)
                .map(|i| {
                    (
                        t3(&q[i * qrow..(i + 1) * qrow], 1, b.q_heads, b.dim),
                        t3(&k[i * kvrow..(i + 1) * kvrow], 1, b.kv_heads, b.dim),
                        t3(&v[i * kvrow..(i + 1) * kvrow], 1, b.kv_heads, b.dim),
                    )
                })
                .collect();
            let mut up_dec = vec![0.0f32; q.len()];
            let mut up_cache = upstream::KvCache::new(n, b.kv_heads, b.dim, b.block);
            let up_us = median_us(budget, 3, || {
                up_cache.reset();
                for (i, (tq, tk, tv)) in up_tokens.iter().enumerate() {
                    up_cache.try_append(tk, tv).expect("upstream append");
                    let o = theirs.decode_step(tq, &up_cache).expect("upstream decode");
                    up_dec[i * qrow..(i + 1) * qrow].copy_from_slice(&o.data);
                }
            }) / n as f64;
            emit(Row::compared(
                b.name,
                "decode",
                n,
                (ours_us, up_us),
                ours_us * n as f64 * 1e3 / edges,
                max_diff(&dec_out, &up_dec),
            ));

            // Backward (no upstream counterpart).
            let d_out: Vec<f32> = (0..q.len())
                .map(|i| ((i * 13) as f32).sin() * 0.1)
                .collect();
            let (mut dq, mut dk, mut dv) =
                (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
            let threads = args.threads;
            let ours_us = median_us(budget, 3, || {
                // One thread is `backward_into` itself.
                ours.backward_threaded(
                    shape,
                    &q,
                    &k,
                    &v,
                    &d_out,
                    &mut dq,
                    &mut dk,
                    &mut dv,
                    threads,
                    &mut scratch,
                )
                .expect("backward")
            });
            emit(Row {
                config: b.name,
                op: "backward",
                n,
                ours_us,
                upstream_us: None,
                ratio: None,
                ns_per_edge: ours_us * 1e3 / edges,
                max_abs_err_vs_upstream: None,
            });

            // Exact dense reference (upstream's is MHA-only).
            if n <= args.dense_max_n {
                let dense_edges = (n * (n + 1) / 2) as f64 * b.q_heads as f64;
                let mut dout = vec![0.0; q.len()];
                let ours_us = median_us(budget, 2, || {
                    dense_forward(shape, true, &q, &k, &v, &mut dout).expect("dense")
                });
                let (up_us, err) = if gqa {
                    (None, None)
                } else {
                    let f =
                        || upstream::dense_attention(&uq, &uk, &uv, true).expect("upstream dense");
                    let us = median_us(budget, 2, f);
                    (Some(us), Some(max_diff(&dout, &f().data)))
                };
                emit(Row {
                    config: b.name,
                    op: "dense",
                    n,
                    ours_us,
                    upstream_us: up_us,
                    ratio: up_us.map(|u| u / ours_us),
                    ns_per_edge: ours_us * 1e3 / dense_edges,
                    max_abs_err_vs_upstream: err,
                });
            }
        }
    }
    if !args.json {
        println!(
            "\nours: {} (dense rows: {}), threads {}; medians of repeats within {:.2} s per cell; ratio = upstream_us / ours_us",
            isa.name(),
            detected_isa().name(),
            args.threads,
            args.seconds
        );
    }
    Ok(())
}

fn print_row(r: &Row, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("row serialises"));
        return;
    }
    let opt = |x: Option<f64>, p: usize| x.map_or("-".to_string(), |v| format!("{v:.p$}"));
    println!(
        "{:<7} {:<12} {:>6} {:>12.2} {:>12} {:>8} {:>8.2} {:>10}",
        r.config,
        r.op,
        r.n,
        r.ours_us,
        opt(r.upstream_us, 2),
        opt(r.ratio, 2),
        r.ns_per_edge,
        r.max_abs_err_vs_upstream
            .map_or("-".to_string(), |e| format!("{e:.1e}")),
    );
}

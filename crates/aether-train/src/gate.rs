//! The ADR-096 §5 gate (spec §7.3): a dense and a sparse embedding head trained with the same
//! budget on the same data, compared on held-out windows.

use std::time::Instant;

use aether_model::{Backend, HeadScratch, TemporalHead};
use aether_rvne::v2::TensorDtype;
use serde::Serialize;

use crate::data::{cut_windows, Stream, Window};
use crate::embed::{embed_windows, eval_losses, train_embed};
use crate::model::{AttnBackend, Rng};
use crate::train::{TrainOptions, Trained};

#[derive(Clone, Debug, Serialize)]
pub struct Gate {
    pub name: &'static str,
    pub sparse: f64,
    pub dense: f64,
    /// The compared quantity (relative loss difference, rank-1 difference in points,
    /// Spearman ρ, speed-up).
    pub value: f64,
    pub threshold: f64,
    pub pass: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct GateReport {
    pub gates: Vec<Gate>,
    pub all_pass: bool,
    pub held_out_windows: usize,
    pub neighbours: usize,
    pub deployed_window: usize,
    pub epochs_sparse: usize,
    pub epochs_dense: usize,
    pub train_seconds: f64,
    /// Informational, beside gate 3: mean share of the dense top-k neighbours that are also
    /// in the sparse top-k.
    pub topk_overlap: f64,
    /// Informational, beside gate 1: the held-out InfoNCE term alone (sparse, dense), since
    /// the VICReg variance term dominates the objective.
    pub info_nce: (f64, f64),
}

fn held_out(t: &Trained, opts: &TrainOptions) -> Vec<Window> {
    let val: Vec<bool> = t
        .prep
        .streams
        .iter()
        .map(|s| t.val_groups.contains(&opts.split_by.key(s)))
        .collect();
    cut_windows(&t.prep.streams, opts.window, opts.hop, &opts.window_labels)
        .into_iter()
        .filter(|w| val[w.stream])
        .collect()
}

fn cosine_order(z: &[Vec<f32>], q: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..z.len()).filter(|&j| j != q).collect();
    let sim = |j: usize| -> f32 { z[q].iter().zip(&z[j]).map(|(a, b)| a * b).sum() };
    idx.sort_by(|&a, &b| sim(b).total_cmp(&sim(a)).then(a.cmp(&b)));
    idx
}

/// Nearest-neighbour re-identification: the closest other window comes from the same
/// recording (`recording[w.stream]`: a recording's nodes are streams of it). Windows of the
/// query's recording whose time spans (`spans[i]`, first and last frame's time) overlap the
/// query's are not candidates: its own stream's share its frames, the other nodes' see the
/// same moments. Queries left without a candidate are not scored.
pub fn rank1(z: &[Vec<f32>], windows: &[Window], recording: &[usize], spans: &[(f64, f64)]) -> f64 {
    let (mut hits, mut scored) = (0usize, 0usize);
    let rec = |i: usize| recording[windows[i].stream];
    for q in 0..z.len() {
        let overlaps =
            |j: usize| rec(j) == rec(q) && spans[j].0 <= spans[q].1 && spans[q].0 <= spans[j].1;
        if let Some(j) = cosine_order(z, q).into_iter().find(|&j| !overlaps(j)) {
            scored += 1;
            hits += usize::from(rec(j) == rec(q));
        }
    }
    hits as f64 / scored.max(1) as f64
}

/// Mean over queries of the share of the dense top-k neighbours also in the sparse top-k.
pub fn topk_overlap(dense: &[Vec<f32>], sparse: &[Vec<f32>], k: usize) -> f64 {
    let n = dense.len();
    if n == 0 || k == 0 {
        return f64::NAN;
    }
    let sum: f64 = (0..n)
        .map(|q| {
            let d: Vec<usize> = cosine_order(dense, q).into_iter().take(k).collect();
            let s: Vec<usize> = cosine_order(sparse, q).into_iter().take(k).collect();
            d.iter().filter(|j| s.contains(j)).count() as f64 / d.len().max(1) as f64
        })
        .sum();
    sum / n as f64
}

/// Spearman's ρ between the two top-k neighbour orderings, both ways: the mean of
/// [`spearman_one_way`] from dense to sparse and from sparse to dense. One way alone checks
/// only the order of dense's top k: sparse could rank other windows ahead of all of them and
/// still score ρ = 1.
pub fn spearman_topk(dense: &[Vec<f32>], sparse: &[Vec<f32>], k: usize) -> f64 {
    0.5 * (spearman_one_way(dense, sparse, k) + spearman_one_way(sparse, dense, k))
}

/// Mean over queries of Spearman's ρ between `dense`'s top-k order and `sparse`'s order of
/// the same k neighbours (one way; the gate takes [`spearman_topk`], both ways).
pub fn spearman_one_way(dense: &[Vec<f32>], sparse: &[Vec<f32>], k: usize) -> f64 {
    let mut sum = 0.0;
    let n = dense.len();
    for q in 0..n {
        let top: Vec<usize> = cosine_order(dense, q).into_iter().take(k).collect();
        let m = top.len();
        if m < 2 {
            continue;
        }
        let s_order = cosine_order(sparse, q);
        let mut s_rank: Vec<(usize, usize)> = top
            .iter()
            .map(|j| {
                (
                    s_order.iter().position(|x| x == j).unwrap_or(usize::MAX),
                    *j,
                )
            })
            .collect();
        s_rank.sort();
        let mut d2 = 0.0;
        for (dense_rank, j) in top.iter().enumerate() {
            let sparse_rank = s_rank.iter().position(|(_, x)| x == j).unwrap_or(0);
            d2 += ((dense_rank as f64) - (sparse_rank as f64)).powi(2);
        }
        let m = m as f64;
        sum += 1.0 - 6.0 * d2 / (m * (m * m - 1.0));
    }
    sum / n.max(1) as f64
}

fn median_us(
    head: &TemporalHead,
    window: &[f32],
    frames: usize,
    out_len: usize,
) -> anyhow::Result<f64> {
    let mut scratch = HeadScratch::for_head(head, frames).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut out = vec![0f32; out_len];
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        head.run(window, &mut out, &mut scratch)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Trains both heads (same options, seed and budget) and evaluates the four gates.
pub fn run_gate(
    streams: Vec<Stream>,
    opts: &TrainOptions,
    embed_dim: usize,
    deployed_window: usize,
) -> anyhow::Result<GateReport> {
    let started = Instant::now();
    let mut o = opts.clone();
    // Both heads keep their last epoch: the held-out windows scored below are their
    // validation windows, and an epoch picked on them would be scored on what picked it.
    o.keep_last = true;
    o.backend = AttnBackend::Sparse;
    let sparse = train_embed(streams.clone(), &o, embed_dim)?;
    o.backend = AttnBackend::Dense;
    let dense = train_embed(streams, &o, embed_dim)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let windows = held_out(&sparse, opts);
    if windows.len() < 3 {
        anyhow::bail!(
            "the gate needs at least 3 held-out windows: {} found (more recordings or \
             sessions, or another --seed, which picks the held-out sessions)",
            windows.len()
        );
    }
    // Rank-1 asks which recording a window came from: with one recording held out every
    // candidate is a hit and the gate could not fail.
    let recording: Vec<usize> = {
        let mut paths: Vec<&std::path::Path> = Vec::new();
        sparse
            .prep
            .streams
            .iter()
            .map(
                |s| match paths.iter().position(|p| *p == s.path.as_path()) {
                    Some(i) => i,
                    None => {
                        paths.push(&s.path);
                        paths.len() - 1
                    }
                },
            )
            .collect()
    };
    let spans: Vec<(f64, f64)> = windows
        .iter()
        .map(|w| {
            let t = &sparse.prep.streams[w.stream].t_s;
            (t[w.start], t[w.start + opts.window - 1])
        })
        .collect();
    let held_recordings: std::collections::BTreeSet<usize> =
        windows.iter().map(|w| recording[w.stream]).collect();
    if held_recordings.len() < 2 {
        anyhow::bail!(
            "the held-out windows come from {} recording(s); rank-1 re-identification needs at \
             least 2 (more recordings or sessions, or another --seed, which picks the held-out \
             sessions)",
            held_recordings.len()
        );
    }
    // Held-out objective with one fixed augmentation seed for both heads.
    let seed = opts.seed ^ 0x6A7E;
    let (ls, nce_s) = eval_losses(
        &sparse.net,
        (&sparse.prep.streams, &sparse.prep.inputs),
        &windows,
        (opts.window, sparse.prep.input_std[0]),
        opts.batch,
        seed,
    )?;
    let (ld, nce_d) = eval_losses(
        &dense.net,
        (&dense.prep.streams, &dense.prep.inputs),
        &windows,
        (opts.window, dense.prep.input_std[0]),
        opts.batch,
        seed,
    )?;
    let zs = embed_windows(&sparse.net, &sparse.prep.inputs, &windows, opts.window)?;
    let zd = embed_windows(&dense.net, &dense.prep.inputs, &windows, opts.window)?;
    let (rs, rd) = (
        rank1(&zs, &windows, &recording, &spans),
        rank1(&zd, &windows, &recording, &spans),
    );
    let k = 50.min(windows.len() - 1);
    let rho = spearman_topk(&zd, &zs, k);
    let overlap = topk_overlap(&zd, &zs, k);

    // Latency on the device-side model at the deployed window, sparse vs dense attention.
    let bytes = sparse.to_rvne_v2(opts, TensorDtype::F32)?;
    let head = TemporalHead::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut rng = Rng::new(seed);
    let frames: Vec<f32> = (0..deployed_window * opts.feature_set.dims())
        .map(|_| rng.normal() as f32)
        .collect();
    let t_sparse = median_us(&head, &frames, deployed_window, embed_dim)?;
    let head = head.with_backend(Backend::Dense);
    let t_dense = median_us(&head, &frames, deployed_window, embed_dim)?;

    let rel = (ls - ld).abs() / ld.abs().max(1e-12);
    let gates = vec![
        Gate {
            name: "contrastive_loss_within_1pct",
            sparse: ls,
            dense: ld,
            value: rel,
            threshold: 0.01,
            pass: rel <= 0.01,
        },
        Gate {
            name: "rank1_within_1_point",
            sparse: rs,
            dense: rd,
            value: (rs - rd).abs() * 100.0,
            threshold: 1.0,
            pass: (rs - rd).abs() * 100.0 <= 1.0,
        },
        Gate {
            name: "spearman_top50",
            sparse: f64::NAN,
            dense: f64::NAN,
            value: rho,
            threshold: 0.95,
            pass: rho >= 0.95,
        },
        Gate {
            name: "latency_speedup_5x",
            sparse: t_sparse,
            dense: t_dense,
            value: t_dense / t_sparse,
            threshold: 5.0,
            pass: t_dense / t_sparse >= 5.0,
        },
    ];
    Ok(GateReport {
        all_pass: gates.iter().all(|g| g.pass),
        gates,
        held_out_windows: windows.len(),
        neighbours: k,
        deployed_window,
        epochs_sparse: sparse.history.len(),
        epochs_dense: dense.history.len(),
        train_seconds,
        topk_overlap: overlap,
        info_nce: (nce_s, nce_d),
    })
}

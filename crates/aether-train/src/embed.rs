//! Contrastive pretraining (`--task embed`, spec §4.9): two augmented views per window,
//! InfoNCE (NT-Xent over 2N views, τ = 0.07) + 25 · VICReg variance + 1 · VICReg covariance.
//!
//! The spec's augmentations act on raw subcarriers; the head sees per-frame features, so the
//! feature-level counterparts are used, 2 to 4 composed per view: temporal jitter ±3 frames
//! (inside the window's segment), feature mask p ∈ U(0.05, 0.20), Gaussian noise
//! σ ∈ U(0.01, 0.05), amplitude scale s ∈ U(0.8, 1.2) (which moves only `log_mean_amp`, by
//! ln s), frame drop U(0, 0.15) with linear interpolation. Phase rotation and subcarrier swap
//! have no feature-level counterpart (phase enters the features only through
//! rotation-invariant statistics) and are not applied.

use std::time::Instant;

use anyhow::bail;
use candle_core::{DType, Device, Tensor};

use crate::data::{cut_windows, Stream, Window};
use crate::model::{HeadNet, OutputKind, Rng};
use crate::train::{lr_at, AdamW, EpochStats, PreparedSplit, TrainOptions, Trained};

pub const TEMPERATURE: f64 = 0.07;
pub const VAR_WEIGHT: f64 = 25.0;
pub const COV_WEIGHT: f64 = 1.0;
const JITTER: usize = 3;

/// The spec's augmentations that have a feature-level counterpart (`README.md`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Augmentation {
    Jitter,
    Mask,
    Noise,
    Scale,
    Drop,
}

const AUGMENTATIONS: [Augmentation; 5] = [
    Augmentation::Jitter,
    Augmentation::Mask,
    Augmentation::Noise,
    Augmentation::Scale,
    Augmentation::Drop,
];

/// One augmented view of a window (`len` frames of `dims` normalised features) starting near
/// `w.start`: 2 to 4 of the augmentations, drawn per view as the spec composes them.
/// `level_std` is the normalisation std of feature 0 (`log_mean_amp`), the one feature an
/// amplitude scale moves (by ln s; the others are scale-free).
fn view(
    input: &[f32],
    w: &Window,
    segment: (usize, usize),
    spec: (usize, usize, f32),
    rng: &mut Rng,
    out: &mut Vec<f32>,
) {
    let chosen = choose(rng);
    apply(input, w, segment, spec, &chosen, rng, out);
}

/// 2 to 4 distinct augmentations, every subset of a size equally likely.
fn choose(rng: &mut Rng) -> Vec<Augmentation> {
    let mut pool = AUGMENTATIONS;
    rng.shuffle(&mut pool);
    pool[..2 + rng.below(3)].to_vec()
}

/// [`view`] with the augmentations given. `segment`: the frames `[first, end)` of the
/// window's unbroken run; jitter stays inside it, so no view spans a gap.
fn apply(
    input: &[f32],
    w: &Window,
    (first, end): (usize, usize),
    (len, dims, level_std): (usize, usize, f32),
    chosen: &[Augmentation],
    rng: &mut Rng,
    out: &mut Vec<f32>,
) {
    let on = |a: Augmentation| chosen.contains(&a);
    let end = end.min(input.len() / dims);
    let start = if on(Augmentation::Jitter) {
        let lo = w.start.saturating_sub(JITTER).max(first);
        let hi = (w.start + JITTER).min(end - len);
        lo + rng.below(hi - lo + 1)
    } else {
        w.start
    };
    // Masked features read 0, the training mean after normalisation.
    let mask_p = if on(Augmentation::Mask) {
        0.05 + 0.15 * rng.unit()
    } else {
        0.0
    };
    let mask: Vec<bool> = (0..dims).map(|_| rng.unit() < mask_p).collect();
    let sigma = if on(Augmentation::Noise) {
        (0.01 + 0.04 * rng.unit()) as f32
    } else {
        0.0
    };
    let level_shift = if on(Augmentation::Scale) {
        (0.8 + 0.4 * rng.unit()).ln() as f32 / level_std
    } else {
        0.0
    };
    let drop_p = if on(Augmentation::Drop) {
        0.15 * rng.unit()
    } else {
        0.0
    };
    let base = out.len();
    for t in 0..len {
        for d in 0..dims {
            let mut v = if mask[d] {
                0.0
            } else {
                input[(start + t) * dims + d]
            };
            if d == 0 && !mask[d] {
                v += level_shift;
            }
            if sigma > 0.0 {
                v += sigma * rng.normal() as f32;
            }
            out.push(v);
        }
    }
    // Frame drop, then linear interpolation between the kept neighbours (held at the ends).
    let kept: Vec<bool> = (0..len)
        .map(|_| drop_p == 0.0 || rng.unit() >= drop_p)
        .collect();
    let frame = |t: usize| base + t * dims;
    let mut prev: Option<usize> = None;
    let mut t = 0;
    while t < len {
        if kept[t] {
            prev = Some(t);
            t += 1;
            continue;
        }
        let next = (t..len).find(|&u| kept[u]);
        let run_end = next.unwrap_or(len);
        for u in t..run_end {
            for d in 0..dims {
                out[frame(u) + d] = match (prev, next) {
                    (Some(a), Some(b)) => {
                        let x = (u - a) as f32 / (b - a) as f32;
                        out[frame(a) + d] * (1.0 - x) + out[frame(b) + d] * x
                    }
                    (Some(a), None) => out[frame(a) + d],
                    (None, Some(b)) => out[frame(b) + d],
                    (None, None) => out[frame(u) + d],
                };
            }
        }
        t = run_end;
    }
}

/// Two views per window: `[2N, T, F]`, rows `i` and `i + N` are the pair. `inputs` are the
/// normalised frames of `streams`; `level_std`: see [`view`].
pub fn view_pairs(
    (streams, inputs): (&[Stream], &[Vec<f32>]),
    windows: &[&Window],
    len: usize,
    dims: usize,
    level_std: f32,
    rng: &mut Rng,
) -> candle_core::Result<Tensor> {
    let mut data = Vec::with_capacity(2 * windows.len() * len * dims);
    for _ in 0..2 {
        for w in windows {
            let segment = streams[w.stream].segment_range(w.start);
            view(
                &inputs[w.stream],
                w,
                segment,
                (len, dims, level_std),
                rng,
                &mut data,
            );
        }
    }
    Tensor::from_vec(data, (2 * windows.len(), len, dims), &Device::Cpu)
}

/// NT-Xent over 2N embeddings (rows L2-normalised; `i` and `i + N` positive pairs).
pub fn info_nce(z: &Tensor, temperature: f64) -> candle_core::Result<Tensor> {
    let (m, _) = z.dims2()?;
    let n = m / 2;
    let sim = (z.matmul(&z.t()?)? / temperature)?;
    // Remove self-similarity from the softmax.
    let eye: Vec<f32> = (0..m * m)
        .map(|k| if k / m == k % m { -1e9 } else { 0.0 })
        .collect();
    let sim = (sim + Tensor::from_vec(eye, (m, m), z.device())?.to_dtype(z.dtype())?)?;
    let logp = crate::loss::log_softmax(&sim)?;
    let targets: Vec<u32> = (0..m).map(|i| ((i + n) % m) as u32).collect();
    let idx = Tensor::from_vec(targets, (m, 1), z.device())?;
    logp.gather(&idx, 1)?.mean_all()?.neg()
}

/// VICReg variance (`mean_j max(0, 1 - sqrt(var_j + 1e-4))`) and covariance
/// (`sum_{i != j} C_ij^2 / d`) terms of `[M, d]`.
pub fn vicreg(z: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let (m, d) = z.dims2()?;
    let zc = z.broadcast_sub(&z.mean_keepdim(0)?)?;
    let var = (zc.sqr()?.sum_keepdim(0)? / (m.max(2) - 1) as f64)?;
    let std = (var + 1e-4)?.sqrt()?;
    let l_var = (1.0 - std)?.relu()?.mean_all()?;
    let cov = (zc.t()?.matmul(&zc)? / (m.max(2) - 1) as f64)?;
    let off: Vec<f32> = (0..d * d)
        .map(|k| if k / d == k % d { 0.0 } else { 1.0 })
        .collect();
    let off = Tensor::from_vec(off, (d, d), z.device())?.to_dtype(z.dtype())?;
    let l_cov = ((cov.sqr()? * off)?.sum_all()? / d as f64)?;
    Ok((l_var, l_cov))
}

/// The full objective on one batch of pairs: (total, info_nce).
pub fn contrastive_loss(net: &HeadNet, pairs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let raw = net.forward_raw(pairs)?;
    let z = crate::model::l2_normalise(&raw)?;
    let nce = info_nce(&z, TEMPERATURE)?;
    let (l_var, l_cov) = vicreg(&raw)?;
    let total = ((&nce + (l_var * VAR_WEIGHT)?)? + (l_cov * COV_WEIGHT)?)?;
    Ok((total, nce))
}

/// Mean contrastive objective over windows with a fixed augmentation seed.
pub fn eval_loss(
    net: &HeadNet,
    inputs: (&[Stream], &[Vec<f32>]),
    windows: &[Window],
    (len, level_std): (usize, f32),
    batch: usize,
    seed: u64,
) -> anyhow::Result<f64> {
    Ok(eval_losses(net, inputs, windows, (len, level_std), batch, seed)?.0)
}

/// [`eval_loss`] and its InfoNCE term alone: `(objective, info_nce)`.
pub fn eval_losses(
    net: &HeadNet,
    inputs: (&[Stream], &[Vec<f32>]),
    windows: &[Window],
    (len, level_std): (usize, f32),
    batch: usize,
    seed: u64,
) -> anyhow::Result<(f64, f64)> {
    // Batches drawn as training draws them, from all recordings: in stream order a batch was
    // one recording's overlapping windows, whose InfoNCE negatives share most of their frames
    // (held-out loss 18.7 against 7.0 in training). Put in a canonical order first, so the
    // figure does not depend on the order the windows came in.
    let mut order: Vec<&Window> = windows.iter().collect();
    order.sort_by_key(|w| (w.stream, w.start));
    Rng::new(seed ^ 0x005E_ED0F_BA7C).shuffle(&mut order);
    let mut rng = Rng::new(seed);
    let (mut sum, mut nce_sum, mut n) = (0.0, 0.0, 0usize);
    for chunk in order.chunks(batch.max(2)) {
        if chunk.len() < 2 {
            continue;
        }
        let pairs = view_pairs(inputs, chunk, len, net.cfg.input_dim, level_std, &mut rng)?;
        let (total, nce) = contrastive_loss(net, &pairs)?;
        sum += f64::from(total.to_scalar::<f32>()?) * chunk.len() as f64;
        nce_sum += f64::from(nce.to_scalar::<f32>()?) * chunk.len() as f64;
        n += chunk.len();
    }
    Ok((sum / n.max(1) as f64, nce_sum / n.max(1) as f64))
}

/// Self-supervised training of an embedding head (labels, where present, are ignored except
/// for cutting windows: unlabelled streams get the label "unlabelled").
pub fn train_embed(
    mut streams: Vec<Stream>,
    opts: &TrainOptions,
    embed_dim: usize,
) -> anyhow::Result<Trained> {
    let started = Instant::now();
    // Options of the classifier's loop that this one does not have: refused rather than
    // ignored (a run with --init would otherwise start from random weights and say nothing).
    for (set, what) in [
        (opts.init.is_some(), "--init (a pretrained encoder)"),
        (opts.stop_after.is_some(), "--stop-after"),
        (
            opts.augment > 0.0,
            "--augment (the views are already augmented)",
        ),
        (opts.reference, "--reference"),
        (opts.checkpoint.is_some(), "--checkpoint"),
    ] {
        if set {
            bail!("--task embed does not take {what}; it goes with --task classify");
        }
    }
    for s in &mut streams {
        for l in &mut s.labels {
            if l.is_none() {
                *l = Some("unlabelled".into());
            }
        }
        // One label per stream so windows are cut everywhere.
        let first = s.labels.first().cloned().flatten();
        for l in &mut s.labels {
            *l = first.clone();
        }
    }
    let PreparedSplit {
        prep,
        train_groups,
        val_groups,
        is_val,
    } = crate::train::prepare_unlabelled(streams, opts)?;
    let windows = cut_windows(&prep.streams, opts.window, opts.hop, &opts.window_labels);
    let (val_w, train_w): (Vec<Window>, Vec<Window>) =
        windows.into_iter().partition(|w| is_val[w.stream]);
    if train_w.len() < 2 {
        bail!(
            "contrastive training needs at least two windows of {} frames",
            opts.window
        );
    }
    let mut head = opts.head.clone();
    head.n_out = embed_dim;
    head.input_dim = opts.feature_set.dims();
    head.output_kind = OutputKind::Embedding;
    let net = HeadNet::new(head, opts.backend, opts.seed, DType::F32)?;
    let mut opt = AdamW::new(&net.params, opts.weight_decay)?;
    let batch = opts.batch.max(2);
    let steps_per_epoch = train_w.len().div_ceil(batch);
    let total_steps = steps_per_epoch * opts.epochs.max(1);
    let warmup = ((total_steps as f64 * opts.warmup_frac) as usize).max(1);
    let mut history = Vec::new();
    let mut best = f64::INFINITY;
    let mut best_epoch = 0;
    let mut best_params: Vec<(String, Tensor)> = Vec::new();
    let mut bad = 0;
    for epoch in 0..opts.epochs {
        let mut order: Vec<usize> = (0..train_w.len()).collect();
        Rng::new(opts.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)).shuffle(&mut order);
        let mut rng = Rng::new(opts.seed ^ 0xE5B ^ ((epoch as u64) << 32));
        let (mut sum, mut seen) = (0.0, 0usize);
        let mut lr = opts.lr;
        for (bi, chunk) in order.chunks(batch).enumerate() {
            if chunk.len() < 2 {
                continue;
            }
            let ws: Vec<&Window> = chunk.iter().map(|&i| &train_w[i]).collect();
            let pairs = view_pairs(
                (&prep.streams, &prep.inputs),
                &ws,
                opts.window,
                net.cfg.input_dim,
                prep.input_std[0],
                &mut rng,
            )?;
            let (loss, _) = contrastive_loss(&net, &pairs)?;
            let grads = loss.backward()?;
            lr = lr_at(epoch * steps_per_epoch + bi, total_steps, warmup, opts.lr);
            let scale = crate::train::clip_scale(&net.params, &grads, opts.grad_clip)?;
            opt.update(&net.params, &grads, lr, scale)?;
            sum += f64::from(loss.to_scalar::<f32>()?) * ws.len() as f64;
            seen += ws.len();
        }
        let train_loss = sum / seen.max(1) as f64;
        let val_loss = if val_w.len() >= 2 {
            eval_loss(
                &net,
                (&prep.streams, &prep.inputs),
                &val_w,
                (opts.window, prep.input_std[0]),
                batch,
                opts.seed ^ 0xFA11,
            )?
        } else {
            f64::NAN
        };
        let monitored = if val_loss.is_finite() {
            val_loss
        } else {
            train_loss
        };
        history.push(EpochStats {
            epoch: epoch + 1,
            lr,
            train_loss,
            train_acc: f64::NAN,
            val_loss,
            val_acc: f64::NAN,
            val_f1: f64::NAN,
        });
        if opts.progress {
            eprintln!(
                "epoch {:>3}: contrastive loss train {train_loss:.4} val {val_loss:.4}",
                epoch + 1
            );
        }
        if opts.keep_last {
            best_epoch = epoch + 1;
        } else if monitored < best - 1e-6 {
            best = monitored;
            best_epoch = epoch + 1;
            bad = 0;
            best_params = net
                .params
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
                .collect::<candle_core::Result<_>>()?;
        } else {
            bad += 1;
            if bad >= opts.patience {
                break;
            }
        }
    }
    for (k, t) in &best_params {
        net.params[k].set(t)?;
    }
    let frame_rate_hz = {
        let r: Vec<f32> = prep
            .streams
            .iter()
            .map(|s| s.frame_rate_hz())
            .filter(|r| *r > 0.0)
            .collect();
        if r.is_empty() {
            0.0
        } else {
            r.iter().sum::<f32>() / r.len() as f32
        }
    };
    Ok(Trained {
        net,
        prep,
        history,
        best_epoch,
        train_groups,
        val_groups,
        train_windows: train_w.len(),
        val_windows: val_w.len(),
        val_report: None,
        seconds: started.elapsed().as_secs_f64(),
        frame_rate_hz,
        untrained_classes: Vec::new(),
    })
}

/// Embeddings `[N, d]` (L2-normalised) of windows, no augmentation.
pub fn embed_windows(
    net: &HeadNet,
    inputs: &[Vec<f32>],
    windows: &[Window],
    len: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(128) {
        let refs: Vec<&Window> = chunk.iter().collect();
        let x = crate::train::batch_tensor(inputs, &refs, len, net.cfg.input_dim)?;
        let z = net.forward(&x)?;
        out.extend(z.to_vec2::<f32>()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{apply, choose, Augmentation, Window};
    use crate::model::Rng;

    fn window(start: usize) -> Window {
        Window {
            stream: 0,
            start,
            label: String::new(),
        }
    }

    #[test]
    fn two_to_four_distinct_augmentations_per_view() {
        let mut rng = Rng::new(3);
        let mut sizes = [0usize; 5];
        for _ in 0..600 {
            let c = choose(&mut rng);
            assert!((2..=4).contains(&c.len()), "{c:?}");
            assert!(
                c.iter().enumerate().all(|(i, a)| !c[..i].contains(a)),
                "{c:?}"
            );
            sizes[c.len()] += 1;
        }
        assert!(
            sizes[2] > 150 && sizes[3] > 150 && sizes[4] > 150,
            "{sizes:?}"
        );
    }

    /// An amplitude scale s moves only the level feature, by ln(s) over its std.
    #[test]
    fn amplitude_scale_shifts_the_level_feature_only() {
        let (len, dims, level_std) = (10, 4, 0.5f32);
        let input: Vec<f32> = (0..20 * dims).map(|i| i as f32 * 0.1).collect();
        for seed in 0..20 {
            let mut out = Vec::new();
            let spec = (len, dims, level_std);
            apply(
                &input,
                &window(5),
                (0, 20),
                spec,
                &[Augmentation::Scale],
                &mut Rng::new(seed),
                &mut out,
            );
            let shift = out[0] - input[5 * dims];
            let (lo, hi) = (0.8f32.ln() / level_std, 1.2f32.ln() / level_std);
            assert!(shift >= lo - 1e-6 && shift <= hi + 1e-6, "{shift}");
            for t in 0..len {
                for d in 0..dims {
                    let want = input[(5 + t) * dims + d] + if d == 0 { shift } else { 0.0 };
                    assert!((out[t * dims + d] - want).abs() < 1e-5, "t {t} d {d}");
                }
            }
        }
    }

    /// Jitter never leaves the window's segment: a window on a segment's first frame (after a
    /// gap) never starts before it, one ending at the segment's end never runs past it.
    #[test]
    fn jitter_stays_inside_the_segment() {
        let (len, dims) = (10, 2);
        let input: Vec<f32> = (0..100 * dims).map(|i| (i / dims) as f32).collect();
        for seed in 0..200 {
            for (start, segment) in [(50, (50, 100)), (40, (0, 50))] {
                let mut out = Vec::new();
                let spec = (len, dims, 1.0);
                let mut rng = Rng::new(seed);
                apply(
                    &input,
                    &window(start),
                    segment,
                    spec,
                    &[Augmentation::Jitter],
                    &mut rng,
                    &mut out,
                );
                let first = out[0] as usize;
                assert!(
                    first >= segment.0 && first + len <= segment.1,
                    "seed {seed}: {first}"
                );
                assert!(first.abs_diff(start) <= 3);
            }
        }
    }

    /// Dropped frames are interpolated between the kept neighbours: on features linear in
    /// time the view equals the input, except for dropped frames at either end, which hold
    /// the nearest kept one.
    #[test]
    fn dropped_frames_are_interpolated() {
        let (len, dims) = (40, 3);
        let input: Vec<f32> = (0..60 * dims).map(|i| (i / dims) as f32).collect();
        let mut changed = 0;
        for seed in 0..30 {
            let mut out = Vec::new();
            let spec = (len, dims, 1.0);
            apply(
                &input,
                &window(10),
                (0, 60),
                spec,
                &[Augmentation::Drop],
                &mut Rng::new(seed),
                &mut out,
            );
            let frame: Vec<f32> = (0..len).map(|t| out[t * dims]).collect();
            let first = frame.iter().position(|&v| v != frame[0]).unwrap_or(len);
            let last = len
                - frame
                    .iter()
                    .rev()
                    .position(|&v| v != frame[len - 1])
                    .unwrap_or(len);
            for t in 0..len {
                for d in 0..dims {
                    assert_eq!(out[t * dims + d], frame[t], "features of one frame agree");
                }
                let truth = (10 + t) as f32;
                if t + 1 >= first && t < last {
                    assert!(
                        (frame[t] - truth).abs() < 1e-4,
                        "seed {seed} t {t}: {frame:?}"
                    );
                }
                changed += usize::from(frame[t] != truth);
            }
        }
        // Some end frames were dropped (and held) over 30 draws.
        assert!(changed > 0);
    }
}

//! Contrastive pretraining (`--task embed`, spec §4.9): two augmented views per window,
//! InfoNCE (NT-Xent over 2N views, τ = 0.07) + 25 · VICReg variance + 1 · VICReg covariance.
//!
//! The spec's augmentations act on raw subcarriers; the head sees per-frame features, so the
//! feature-level counterparts are used: temporal jitter ±3 frames, feature mask
//! p ∈ U(0.05, 0.20), Gaussian noise σ ∈ U(0.01, 0.05), amplitude scale U(0.8, 1.2), frame drop
//! U(0, 0.15) with the previous frame held. Phase rotation and subcarrier swap have no
//! feature-level counterpart (phase enters the features only through rotation-invariant
//! statistics) and are not applied.

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

/// One augmented view of a window (`len` frames) starting near `w.start`.
fn view(input: &[f32], w: &Window, len: usize, dims: usize, rng: &mut Rng, out: &mut Vec<f32>) {
    let n_frames = input.len() / dims;
    let lo = w.start.saturating_sub(JITTER);
    let hi = (w.start + JITTER).min(n_frames - len);
    let start = lo + rng.below(hi - lo + 1);
    let mask_p = 0.05 + 0.15 * rng.unit();
    let sigma = (0.01 + 0.04 * rng.unit()) as f32;
    let scale = (0.8 + 0.4 * rng.unit()) as f32;
    let drop_p = 0.15 * rng.unit();
    let mask: Vec<bool> = (0..dims).map(|_| rng.unit() < mask_p).collect();
    let base = out.len();
    for t in 0..len {
        let held = t > 0 && rng.unit() < drop_p;
        for d in 0..dims {
            let v = if held {
                out[base + (t - 1) * dims + d]
            } else if mask[d] {
                0.0
            } else {
                input[(start + t) * dims + d] * scale + sigma * rng.normal() as f32
            };
            out.push(v);
        }
    }
}

/// Two views per window: `[2N, T, F]`, rows `i` and `i + N` are the pair.
pub fn view_pairs(
    inputs: &[Vec<f32>],
    windows: &[&Window],
    len: usize,
    dims: usize,
    rng: &mut Rng,
) -> candle_core::Result<Tensor> {
    let mut data = Vec::with_capacity(2 * windows.len() * len * dims);
    for _ in 0..2 {
        for w in windows {
            view(&inputs[w.stream], w, len, dims, rng, &mut data);
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
    inputs: &[Vec<f32>],
    windows: &[Window],
    len: usize,
    batch: usize,
    seed: u64,
) -> anyhow::Result<f64> {
    Ok(eval_losses(net, inputs, windows, len, batch, seed)?.0)
}

/// [`eval_loss`] and its InfoNCE term alone: `(objective, info_nce)`.
pub fn eval_losses(
    net: &HeadNet,
    inputs: &[Vec<f32>],
    windows: &[Window],
    len: usize,
    batch: usize,
    seed: u64,
) -> anyhow::Result<(f64, f64)> {
    let mut rng = Rng::new(seed);
    let (mut sum, mut nce_sum, mut n) = (0.0, 0.0, 0usize);
    for chunk in windows.chunks(batch.max(2)) {
        if chunk.len() < 2 {
            continue;
        }
        let refs: Vec<&Window> = chunk.iter().collect();
        let pairs = view_pairs(inputs, &refs, len, net.cfg.input_dim, &mut rng)?;
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
    let mut o = opts.clone();
    o.reference = false;
    let PreparedSplit {
        prep,
        train_groups,
        val_groups,
        is_val,
    } = crate::train::prepare_unlabelled(streams, &o)?;
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
            let pairs = view_pairs(&prep.inputs, &ws, opts.window, net.cfg.input_dim, &mut rng)?;
            let (loss, _) = contrastive_loss(&net, &pairs)?;
            let grads = loss.backward()?;
            lr = lr_at(epoch * steps_per_epoch + bi, total_steps, warmup, opts.lr);
            opt.update(&net.params, &grads, lr, 1.0)?;
            sum += f64::from(loss.to_scalar::<f32>()?) * ws.len() as f64;
            seen += ws.len();
        }
        let train_loss = sum / seen.max(1) as f64;
        let val_loss = if val_w.len() >= 2 {
            eval_loss(
                &net,
                &prep.inputs,
                &val_w,
                opts.window,
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

//! The training loop: split by group, class weighting, AdamW with warm-up + cosine, early
//! stopping on validation loss, checkpoints with optimiser state. Runs are deterministic for a
//! given thread count (`TrainOptions::threads`: batches cut into shards, gradients summed in
//! shard order).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::data::{
    cut_windows, feature_stats, in_reference_span, session_references, Frame, Stream, Window,
    WindowLabels,
};
use crate::loss::{log_softmax, weighted_cross_entropy_shard};
use crate::metrics::{default_idle_class, report, Decision, Hop, Report};
use crate::model::{AttnBackend, HeadConfig, HeadNet, Rng};
use aether_csi::{FeatureSet, CSI19_DIMS};

/// What keeps recordings apart across the train/validation split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitBy {
    Chip,
    Session,
    Recording,
}

impl SplitBy {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "chip" => Ok(SplitBy::Chip),
            "session" => Ok(SplitBy::Session),
            "recording" => Ok(SplitBy::Recording),
            o => bail!("unknown split {o:?} (chip, session or recording)"),
        }
    }
    pub fn key(self, s: &Stream) -> String {
        match self {
            SplitBy::Chip => s.chip.clone(),
            // A named session (a sidecar's, e.g. a simulator installation) is one room and
            // time for every node that recorded it: all of them stay on one side, or the
            // nodes' simultaneous views of the same events would validate each other.
            SplitBy::Session => match &s.named_session {
                Some(n) => format!("session {n}"),
                None if s.has_session() => s.session(),
                // A recording that names no session is a session of its own, all its nodes.
                None => s.path.display().to_string(),
            },
            // Every node of one file stays on one side.
            SplitBy::Recording => s.path.display().to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub window: usize,
    pub hop: usize,
    /// How windows get their labels (event classes; see [`WindowLabels`]).
    pub window_labels: WindowLabels,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Warm-up length as a fraction of all steps.
    pub warmup_frac: f64,
    /// Epochs without a better validation score ([`Monitor`]) before stopping.
    pub patience: usize,
    /// What picks the epoch kept and stops early.
    pub monitor: Monitor,
    pub seed: u64,
    pub split_by: SplitBy,
    /// Groups (by `split_by`) held out for validation; empty = pick `val_fraction` of them.
    pub val_groups: Vec<String>,
    pub val_fraction: f64,
    pub class_weighting: bool,
    /// Reference every stream to its session's empty-room capture (itself where none).
    pub reference: bool,
    pub idle_class: Option<String>,
    pub backend: AttnBackend,
    /// Architecture; `n_out` is set from the classes found.
    pub head: HeadConfig,
    pub grad_clip: f64,
    /// Per-window, per-feature random affine jitter of the normalised inputs during training
    /// (offset `N(0, a)`, scale `exp(N(0, 0.3 a))`), standing in for the level and shape
    /// differences between chips and rooms; 0 turns it off.
    pub augment: f32,
    /// Checkpoint path (safetensors; a `.json` state file sits next to it).
    pub checkpoint: Option<PathBuf>,
    pub resume: bool,
    /// Start from the encoder of this RVNE v2 head (every tensor but `head.*`), e.g. one
    /// pretrained with `--task embed`; the classifier layer starts fresh.
    pub init: Option<PathBuf>,
    /// The head's inputs: feature set 1 (16), set 3 (19, set 1 plus the decorrelation
    /// features) or set 4 (22, set 3 plus the temporal-band energies).
    pub feature_set: FeatureSet,
    /// Feature indices (of `feature_set`) the head may use; `None` = all.
    pub features: Option<Vec<usize>>,
    /// End this run after so many epochs (the schedule still spans `epochs`); with a
    /// checkpoint, `resume` continues it exactly.
    pub stop_after: Option<usize>,
    pub progress: bool,
    /// `--task embed`: keep the last epoch's weights, not the best validation epoch's, and
    /// never stop early. The gate sets it: it scores the held-out windows, which then must
    /// not also have picked the epoch.
    pub keep_last: bool,
    /// Threads for each batch's forward and backward (contiguous shards, gradients summed in
    /// shard order) and for validation. The same count gives the same model on every run;
    /// another count sums in another order, so the numbers differ by rounding.
    pub threads: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            window: 64,
            hop: 16,
            window_labels: WindowLabels::default(),
            epochs: 30,
            batch: 32,
            lr: 3e-3,
            weight_decay: 1e-2,
            warmup_frac: 0.1,
            patience: 6,
            monitor: Monitor::Loss,
            seed: 0xAE7E5,
            split_by: SplitBy::Session,
            val_groups: Vec::new(),
            val_fraction: 0.2,
            class_weighting: true,
            reference: false,
            idle_class: None,
            backend: AttnBackend::Sparse,
            head: HeadConfig::motion(CSI19_DIMS, 2),
            grad_clip: 1.0,
            augment: 0.0,
            checkpoint: None,
            resume: false,
            stop_after: None,
            init: None,
            feature_set: FeatureSet::Csi19,
            features: None,
            progress: false,
            keep_last: false,
            threads: 1,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    pub lr: f64,
    #[serde(with = "null_is_nan")]
    pub train_loss: f64,
    #[serde(with = "null_is_nan")]
    pub train_acc: f64,
    /// Class-weighted like `train_loss` (the weights come from the training windows); NaN
    /// without validation windows.
    #[serde(with = "null_is_nan")]
    pub val_loss: f64,
    #[serde(with = "null_is_nan")]
    pub val_acc: f64,
    #[serde(with = "null_is_nan")]
    pub val_f1: f64,
}

/// JSON has no NaN: serde_json writes it as `null`, which a plain f64 field then refuses, so
/// a checkpoint of a run without validation could not be resumed. `null` reads back as NaN.
mod null_is_nan {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// As [`null_is_nan`], for a best-so-far loss that starts infinite.
mod null_is_infinity {
    use serde::{Deserialize, Deserializer};

    pub use super::null_is_nan::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

/// Streams turned into normalised model inputs.
pub struct Prepared {
    pub streams: Vec<Stream>,
    /// Per stream, frames × features flattened, after referencing and input normalisation.
    pub inputs: Vec<Vec<f32>>,
    pub classes: Vec<String>,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    /// Pooled raw empty-room stats of the training side (see `model::fold_reference`).
    pub idle_ref: Option<(Vec<f32>, Vec<f32>)>,
}

/// `input.std` of a switched-off feature: any real feature value normalises to ~0.
pub const UNUSED_FEATURE_STD: f32 = 1e30;

/// Assigns ESPectre-style sessions: a capture belongs to the latest idle capture of the same
/// chip and date at or before it (file names carry `_YYYYMMDD_HHMMSS`), so the empty-room
/// reference pairs with the movement captured right after it.
pub fn assign_sessions(streams: &mut [Stream], idle_class: &str) {
    fn hms(s: &Stream) -> Option<u32> {
        let name = s.file_name();
        let mut it = name.split(['_', '.']);
        while let Some(p) = it.next() {
            if p == s.date && !p.is_empty() {
                return it
                    .next()
                    .and_then(|t| (t.len() == 6).then(|| t.parse().ok()).flatten());
            }
        }
        None
    }
    let idle: Vec<(String, String, u32)> = streams
        .iter()
        .filter(|s| s.labels.iter().all(|l| l.as_deref() == Some(idle_class)))
        .filter_map(|s| Some((s.chip.clone(), s.date.clone(), hms(s)?)))
        .collect();
    for s in streams.iter_mut() {
        let Some(t) = hms(s) else { continue };
        let best = idle
            .iter()
            .filter(|(c, d, it)| *c == s.chip && *d == s.date && *it <= t)
            .map(|x| x.2)
            .max();
        let at = best.unwrap_or(t);
        s.date = format!("{}_{at:06}", s.date);
    }
}

/// Applies `(f - ref_mean) / ref_std` to the first `mean.len()` features of every frame.
pub fn apply_reference(s: &mut Stream, mean: &[f32], std: &[f32]) {
    for f in &mut s.features {
        for d in 0..mean.len() {
            f[d] = (f[d] - mean[d]) / std[d];
        }
    }
}

/// Normalised flat inputs of a stream: `[frames][mean.len()]`, the head's input width.
pub fn normalise(s: &Stream, mean: &[f32], std: &[f32]) -> Vec<f32> {
    let mut v = Vec::with_capacity(s.features.len() * mean.len());
    for f in &s.features {
        for d in 0..mean.len() {
            v.push((f[d] - mean[d]) / std[d]);
        }
    }
    v
}

/// A batch `[B, T, F]` of windows of `F = dims` features per frame.
pub fn batch_tensor(
    inputs: &[Vec<f32>],
    windows: &[&Window],
    len: usize,
    dims: usize,
) -> candle_core::Result<Tensor> {
    let mut data = Vec::with_capacity(windows.len() * len * dims);
    for w in windows {
        data.extend_from_slice(&inputs[w.stream][w.start * dims..(w.start + len) * dims]);
    }
    Tensor::from_vec(data, (windows.len(), len, dims), &Device::Cpu)
}

/// [`batch_tensor`] with each window's features jittered by a random per-feature affine map.
pub fn augmented_batch(
    inputs: &[Vec<f32>],
    windows: &[&Window],
    len: usize,
    dims: usize,
    strength: f32,
    rng: &mut Rng,
) -> candle_core::Result<Tensor> {
    let mut data = Vec::with_capacity(windows.len() * len * dims);
    let (mut off, mut scale) = (vec![0f32; dims], vec![1f32; dims]);
    for w in windows {
        for d in 0..dims {
            off[d] = strength * rng.normal() as f32;
            scale[d] = (0.3 * strength * rng.normal() as f32).exp();
        }
        let src = &inputs[w.stream][w.start * dims..(w.start + len) * dims];
        for f in src.chunks_exact(dims) {
            for d in 0..dims {
                data.push(f[d] * scale[d] + off[d]);
            }
        }
    }
    Tensor::from_vec(data, (windows.len(), len, dims), &Device::Cpu)
}

/// Softmax probabilities for windows, batched.
pub fn predict(
    net: &HeadNet,
    inputs: &[Vec<f32>],
    windows: &[Window],
    len: usize,
    batch: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    predict_threaded(net, inputs, windows, len, batch, 1)
}

/// [`predict`] with the batches of `batch` windows spread over `threads` threads (each window's
/// batch is the same whatever the thread count, so the probabilities are too).
pub fn predict_threaded(
    net: &HeadNet,
    inputs: &[Vec<f32>],
    windows: &[Window],
    len: usize,
    batch: usize,
    threads: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let run = |chunks: &[Window]| -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(chunks.len());
        for chunk in chunks.chunks(batch.max(1)) {
            let refs: Vec<&Window> = chunk.iter().collect();
            let x = batch_tensor(inputs, &refs, len, net.cfg.input_dim)?;
            let p = log_softmax(&net.forward(&x)?)?.exp()?;
            out.extend(p.to_vec2::<f32>()?);
        }
        Ok(out)
    };
    let batches = windows.len().div_ceil(batch.max(1));
    let threads = threads.clamp(1, batches.max(1));
    if threads == 1 {
        return run(windows);
    }
    // Whole batches per thread, contiguous, in order.
    let per = batches.div_ceil(threads) * batch.max(1);
    let parts: Vec<anyhow::Result<Vec<Vec<f32>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = windows
            .chunks(per)
            .map(|part| s.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("prediction thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(windows.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// One training batch's mean loss, predicted classes and parameter gradients.
pub struct BatchStep {
    pub loss: f64,
    pub preds: Vec<u32>,
    pub grads: GradStore,
}

/// Loss and gradients of the class-weighted cross-entropy of one batch (`x` `[B, T, F]`,
/// targets `y`). With `threads > 1` the batch is cut into that many contiguous shards, each
/// shard's forward and backward runs on its own thread against the whole batch's weight sum,
/// and the parameter gradients are added in shard order: the batch's gradient, the same on
/// every run for a given thread count.
pub fn batch_step(
    net: &HeadNet,
    x: &Tensor,
    y: &[u32],
    class_weights: &[f32],
    threads: usize,
) -> anyhow::Result<BatchStep> {
    let rows = y.len();
    let wsum: f32 = y.iter().map(|&t| class_weights[t as usize]).sum();
    let shard = |from: usize, to: usize| -> anyhow::Result<(f64, Vec<u32>, GradStore)> {
        let xs = x.narrow(0, from, to - from)?;
        let logits = net.forward(&xs)?;
        let loss = weighted_cross_entropy_shard(&logits, &y[from..to], class_weights, wsum)?;
        let grads = loss.backward()?;
        let preds = logits.argmax(1)?.to_vec1::<u32>()?;
        Ok((f64::from(loss.to_scalar::<f32>()?), preds, grads))
    };
    let threads = threads.clamp(1, rows.max(1));
    let bounds: Vec<(usize, usize)> = (0..threads)
        .map(|t| (rows * t / threads, rows * (t + 1) / threads))
        .collect();
    let mut parts = if threads == 1 {
        vec![shard(0, rows)?]
    } else {
        let results: Vec<anyhow::Result<(f64, Vec<u32>, GradStore)>> = std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .iter()
                .map(|&(a, b)| s.spawn(move || shard(a, b)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("training thread panicked")))
                })
                .collect()
        });
        results.into_iter().collect::<anyhow::Result<Vec<_>>>()?
    };
    let (mut loss, mut preds, mut grads) = parts.remove(0);
    for (l, p, g) in parts {
        loss += l;
        preds.extend(p);
        for v in net.params.values() {
            let t = v.as_tensor();
            if let Some(add) = g.get(t) {
                let sum = match grads.get(t) {
                    Some(cur) => (cur + add)?,
                    None => add.clone(),
                };
                grads.insert(t, sum);
            }
        }
    }
    Ok(BatchStep { loss, preds, grads })
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// Seconds one hop of `frames` stands for in each stream, at the stream's own frame rate
/// (`fallback_hz` for a stream too short to have one; 0 without either).
pub fn hop_seconds(streams: &[Stream], frames: usize, fallback_hz: f32) -> Vec<f64> {
    streams
        .iter()
        .map(|s| {
            let hz = match s.frame_rate_hz() {
                hz if hz > 0.0 => hz,
                _ => fallback_hz,
            };
            if hz > 0.0 {
                frames as f64 / f64::from(hz)
            } else {
                0.0
            }
        })
        .collect()
}

/// Loss, accuracy and report of `net` on windows. The loss is weighted by `class_weights`
/// (one per class), as training weighs its batches: early stopping then watches the objective
/// the head is trained on, not one the majority classes dominate.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    net: &HeadNet,
    prep: &Prepared,
    windows: &[Window],
    len: usize,
    hop: Hop,
    idle: Option<usize>,
    class_weights: &[f32],
    threads: usize,
) -> anyhow::Result<(f64, Report)> {
    anyhow::ensure!(
        class_weights.len() == prep.classes.len(),
        "{} class weights for {} classes",
        class_weights.len(),
        prep.classes.len()
    );
    let probs = predict_threaded(net, &prep.inputs, windows, len, 128, threads)?;
    let hop_s = hop_seconds(&prep.streams, hop.frames, 0.0);
    let mut truths = Vec::with_capacity(windows.len());
    let mut decisions = Vec::with_capacity(windows.len());
    for (w, p) in windows.iter().zip(&probs) {
        let truth = prep
            .classes
            .iter()
            .position(|c| *c == w.label)
            .context("window label outside the model's classes")?;
        truths.push((p[truth], truth));
        decisions.push(Decision {
            stream: w.stream,
            start: w.start,
            truth,
            pred: argmax(p),
            seconds: hop_s[w.stream],
        });
    }
    Ok((
        weighted_mean_nll(&truths, class_weights),
        report(&prep.classes, &decisions, idle, hop),
    ))
}

/// What picks the epoch a run keeps and ends it early (`--monitor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The class-weighted validation loss ([`weighted_mean_nll`]).
    Loss,
    /// Validation macro F1, ties broken by the class-weighted loss. The loss rises once the
    /// head grows confident on the windows it gets wrong while it gets more of them right:
    /// a zero-shot simulator run kept epoch 4 of 10 on the loss while validation accuracy
    /// climbed from 0.77 to 0.82 by epoch 10.
    F1,
}

impl Monitor {
    /// `loss` or `f1`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "loss" => Ok(Monitor::Loss),
            "f1" => Ok(Monitor::F1),
            _ => anyhow::bail!("--monitor must be loss or f1, not {s:?}"),
        }
    }

    /// Recorded in checkpoints: a best score saved under another rule is on another scale.
    fn name(self) -> &'static str {
        match self {
            Monitor::Loss => "class-weighted",
            Monitor::F1 => "macro-f1, then class-weighted",
        }
    }

    /// The epoch's score, lower is better, compared first by `.0` then by `.1`.
    fn score(self, val_loss: f64, val_f1: f64) -> (f64, f64) {
        match self {
            Monitor::F1 => (-val_f1, val_loss),
            Monitor::Loss => (val_loss, 0.0),
        }
    }
}

/// Whether score `a` beats `b` by more than rounding (an infinite or NaN score never does).
fn improves(a: (f64, f64), b: (f64, f64)) -> bool {
    const EPS: f64 = 1e-6;
    a.0.is_finite() && (a.0 < b.0 - EPS || (a.0 <= b.0 + EPS && a.1 < b.1 - EPS))
}

/// `-sum_i w[t_i] ln p_i / sum_i w[t_i]` over `(p_i, t_i)`: the probability each window gave
/// its true class `t_i`, floored at 1e-12. NaN when the weights sum to 0 (no window, or only
/// classes absent from training, whose weight is 0): there is nothing to watch, and training
/// then watches its own loss.
pub fn weighted_mean_nll(truths: &[(f32, usize)], class_weights: &[f32]) -> f64 {
    let (mut sum, mut wsum) = (0.0f64, 0.0f64);
    for &(p, t) in truths {
        let w = f64::from(class_weights[t]);
        sum -= w * f64::from(p.max(1e-12)).ln();
        wsum += w;
    }
    if wsum > 0.0 {
        sum / wsum
    } else {
        f64::NAN
    }
}

/// AdamW with decoupled weight decay on matrices only; moments are checkpointed.
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub step: u64,
    pub m: BTreeMap<String, Tensor>,
    pub v: BTreeMap<String, Tensor>,
}

impl AdamW {
    pub fn new(params: &BTreeMap<String, Var>, weight_decay: f64) -> candle_core::Result<Self> {
        let mut m = BTreeMap::new();
        let mut v = BTreeMap::new();
        for (k, p) in params {
            m.insert(k.clone(), p.as_tensor().zeros_like()?);
            v.insert(k.clone(), p.as_tensor().zeros_like()?);
        }
        Ok(Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            m,
            v,
        })
    }

    /// One update with `lr`; gradients scaled by `grad_scale` (clipping).
    pub fn update(
        &mut self,
        params: &BTreeMap<String, Var>,
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> candle_core::Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (k, p) in params {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = (g * grad_scale)?;
            let m = ((&self.m[k] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[k] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let step = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            let decay = if p.rank() == 2 {
                self.weight_decay
            } else {
                0.0
            };
            let newp = ((p.as_tensor() * (1.0 - lr * decay))? - (step * lr)?)?;
            p.set(&newp)?;
            self.m.insert(k.clone(), m);
            self.v.insert(k.clone(), v);
        }
        Ok(())
    }
}

/// The factor that brings the gradients' global L2 norm down to `clip` (1 when it is below, or
/// when `clip` is 0: no clipping).
pub(crate) fn clip_scale(
    params: &BTreeMap<String, candle_core::Var>,
    grads: &candle_core::backprop::GradStore,
    clip: f64,
) -> candle_core::Result<f64> {
    let mut norm2 = 0.0f64;
    for p in params.values() {
        if let Some(g) = grads.get(p.as_tensor()) {
            norm2 += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    let norm = norm2.sqrt();
    Ok(if clip > 0.0 && norm > clip {
        clip / norm
    } else {
        1.0
    })
}

/// Linear warm-up to `lr`, then cosine decay to `lr / 100`.
pub fn lr_at(step: usize, total: usize, warmup: usize, lr: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let p = ((step - warmup) as f64 / span as f64).min(1.0);
    let floor = lr / 100.0;
    floor + 0.5 * (lr - floor) * (1.0 + (std::f64::consts::PI * p).cos())
}

/// Copies every parameter but `head.*` from an RVNE v2 file into `net` (shapes must match).
pub fn load_encoder(net: &HeadNet, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let src = crate::model::load_rvne_v2(&bytes).with_context(|| path.display().to_string())?;
    // The encoder's shape must be this head's, field by field: tensors of equal size but
    // another layout (4 heads of 8 as 2 of 16) or a file with more layers would load silently.
    let (a, b) = (&src.cfg, &net.cfg);
    for (what, theirs, ours) in [
        ("input_dim", a.input_dim, b.input_dim),
        ("d_model", a.d_model, b.d_model),
        ("layers", a.n_layers, b.n_layers),
        ("heads", a.q_heads, b.q_heads),
        ("kv-heads", a.kv_heads, b.kv_heads),
        ("head-dim", a.head_dim, b.head_dim),
        ("d-ff", a.d_ff, b.d_ff),
    ] {
        if theirs != ours {
            bail!(
                "{}: its encoder has {what} {theirs}, this head {ours} (--init needs the same \
                 architecture; only the output head is new)",
                path.display()
            );
        }
    }
    for (name, var) in &net.params {
        if name.starts_with("head.") {
            continue;
        }
        let data = src
            .params
            .get(name)
            .with_context(|| format!("{} has no {name}", path.display()))?;
        if data.len() != var.elem_count() {
            bail!(
                "{}: {name} has {} values, this head needs {}",
                path.display(),
                data.len(),
                var.elem_count()
            );
        }
        var.set(&Tensor::from_vec(data.clone(), var.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}

/// What training produced.
pub struct Trained {
    pub net: HeadNet,
    pub prep: Prepared,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub train_groups: Vec<String>,
    pub val_groups: Vec<String>,
    pub train_windows: usize,
    pub val_windows: usize,
    pub val_report: Option<Report>,
    pub seconds: f64,
    pub frame_rate_hz: f32,
    /// Classes with no training window (seen only on the validation side): their outputs
    /// never learned to fire, so the head cannot predict them.
    pub untrained_classes: Vec<String>,
}

/// What makes two training runs the same run: a checkpoint resumes only the run that wrote it
/// (other data, windows, schedule or seed would continue a different optimisation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RunIdentity {
    window: usize,
    hop: usize,
    epochs: usize,
    batch: usize,
    lr: f64,
    weight_decay: f64,
    warmup_frac: f64,
    seed: u64,
    augment: f32,
    class_weighting: bool,
    reference: bool,
    feature_set: String,
    features: Option<Vec<usize>>,
    train_groups: Vec<String>,
    val_groups: Vec<String>,
    train_windows: usize,
    val_windows: usize,
    /// Sparse or dense attention, the whole architecture (a parameter count can match
    /// another shape), early stopping and the labelling rules.
    #[serde(default)]
    backend: String,
    #[serde(default)]
    head: String,
    #[serde(default)]
    patience: usize,
    #[serde(default)]
    window_labels: String,
    #[serde(default)]
    idle_class: Option<String>,
    /// Shards per batch: the gradient sums round differently, so another count continues a
    /// different optimisation (checkpoints from before the eleventh session lack it and are
    /// refused by name).
    #[serde(default)]
    threads: Option<usize>,
    /// What early stopping compares ([`Monitor::name`]; the key predates `--monitor`, hence
    /// "loss"): `class-weighted` validation loss since the thirteenth session (before, the
    /// plain mean: a best loss saved then is on another scale, so such checkpoints are refused
    /// by name), or macro F1 with that loss as the tie-break.
    #[serde(default)]
    monitored_loss: Option<String>,
}

impl RunIdentity {
    /// Names of the fields that differ from `other`.
    fn differences(&self, other: &RunIdentity) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return vec!["all".into()];
        };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| {
                let saved = b.get(k).map(short).unwrap_or_else(|| "absent".into());
                format!("{k} (checkpoint {saved}, now {})", short(v))
            })
            .collect()
    }
}

/// A JSON value in at most 60 characters, for a message.
fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    /// The run that wrote it (absent in checkpoints from before the tenth session).
    #[serde(default)]
    run: Option<RunIdentity>,
    epoch: usize,
    step: u64,
    /// The best epoch's score ([`Monitor::score`]: its loss, or under `--monitor f1` minus
    /// its F1). Infinite before any epoch improved; JSON `null` reads back as infinity.
    #[serde(with = "null_is_infinity")]
    best_val_loss: f64,
    /// The best score's tie-break (`--monitor f1`: its loss; 0 under the loss monitor and in
    /// checkpoints from before the fourteenth session, all of which monitored the loss;
    /// infinite before any epoch improved).
    #[serde(default, with = "null_is_infinity")]
    best_tiebreak: f64,
    best_epoch: usize,
    bad_epochs: usize,
    history: Vec<EpochStats>,
    classes: Vec<String>,
    param_count: usize,
}

fn save_checkpoint(
    path: &Path,
    net: &HeadNet,
    best: &BTreeMap<String, Tensor>,
    opt: &AdamW,
    state: &CheckpointState,
) -> anyhow::Result<()> {
    let mut map: HashMap<String, Tensor> = HashMap::new();
    // The epoch and step the tensors belong to, checked against the state file on resume:
    // the two files are renamed one after the other, and a crash between them pairs
    // weights of one epoch with the counters of another.
    map.insert(
        "state.epoch_step".into(),
        Tensor::new(&[state.epoch as i64, state.step as i64], &Device::Cpu)?,
    );
    for (k, v) in &net.params {
        map.insert(format!("param.{k}"), v.as_tensor().clone());
        map.insert(format!("adam_m.{k}"), opt.m[k].clone());
        map.insert(format!("adam_v.{k}"), opt.v[k].clone());
        map.insert(format!("best.{k}"), best[k].clone());
    }
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&map, &tmp)?;
    std::fs::rename(&tmp, path)?;
    aether_io::atomic::write_atomic(
        &path.with_extension("json"),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )?;
    Ok(())
}

/// Prepared streams and the train/validation split.
pub struct PreparedSplit {
    pub prep: Prepared,
    pub train_groups: Vec<String>,
    pub val_groups: Vec<String>,
    /// Per stream: on the validation side.
    pub is_val: Vec<bool>,
}

/// Loads and prepares streams for training: sessions, optional references, classes, split,
/// input statistics from the training side only.
pub fn prepare(streams: Vec<Stream>, opts: &TrainOptions) -> anyhow::Result<PreparedSplit> {
    prepare_inner(streams, opts, 2)
}

/// [`prepare`] for self-supervised training: one label (or none) is enough.
pub fn prepare_unlabelled(
    streams: Vec<Stream>,
    opts: &TrainOptions,
) -> anyhow::Result<PreparedSplit> {
    prepare_inner(streams, opts, 1)
}

fn prepare_inner(
    mut streams: Vec<Stream>,
    opts: &TrainOptions,
    min_classes: usize,
) -> anyhow::Result<PreparedSplit> {
    if streams.is_empty() {
        bail!("no CSI frames in the training data");
    }
    let classes: Vec<String> = streams
        .iter()
        .flat_map(|s| s.labels.iter().flatten().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if classes.len() < min_classes {
        bail!("training needs at least two classes, found {classes:?} (labels come from the recording, a sibling segments file or --labels)");
    }
    let idle_name = match &opts.idle_class {
        Some(c) if classes.contains(c) => Some(c.clone()),
        Some(c) => bail!("idle class {c:?} is not one of the classes {classes:?}"),
        None => default_idle_class(&classes).map(|i| classes[i].clone()),
    };
    if let Some(idle) = &idle_name {
        assign_sessions(&mut streams, idle);
    }
    let groups: Vec<String> = streams
        .iter()
        .map(|s| opts.split_by.key(s))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let val_groups: Vec<String> = if !opts.val_groups.is_empty() {
        for g in &opts.val_groups {
            if !groups.contains(g) {
                bail!("validation group {g:?} not in the data ({groups:?})");
            }
        }
        opts.val_groups.clone()
    } else if groups.len() < 2 || opts.val_fraction <= 0.0 {
        Vec::new()
    } else {
        let k =
            ((groups.len() as f64 * opts.val_fraction).round() as usize).clamp(1, groups.len() - 1);
        let mut g = groups.clone();
        Rng::new(opts.seed ^ 0x5EED).shuffle(&mut g);
        let mut v: Vec<String> = g.into_iter().take(k).collect();
        v.sort();
        v
    };
    let is_val: Vec<bool> = streams
        .iter()
        .map(|s| val_groups.contains(&opts.split_by.key(s)))
        .collect();
    // Never one recording on both sides: its nodes are views of the same events (a split by
    // chip groups nodes that have no chip name by node id).
    for (i, s) in streams.iter().enumerate() {
        if let Some(j) = streams
            .iter()
            .enumerate()
            .position(|(j, o)| o.path == s.path && is_val[j] != is_val[i])
        {
            bail!(
                "--split-by {} puts {} on both sides (node {} {}, node {} {}): its nodes see the \
                 same events; split by session or recording",
                format!("{:?}", opts.split_by).to_lowercase(),
                s.path.display(),
                s.node_id,
                if is_val[i] { "validates" } else { "trains" },
                streams[j].node_id,
                if is_val[j] { "validates" } else { "trains" }
            );
        }
    }
    let train_groups: Vec<String> = groups
        .into_iter()
        .filter(|g| !val_groups.contains(g))
        .collect();
    // The head reads the first `dims` features of each frame (sets 1 and 3 are set 4's
    // prefixes).
    let dims = opts.feature_set.dims();
    crate::model::csi_input(u32::from(opts.feature_set.id()), dims)?;
    if let Some(bad) = opts.features.iter().flatten().find(|&&d| d >= dims) {
        bail!(
            "feature index {bad} is outside feature set {} ({dims} features)",
            opts.feature_set.id()
        );
    }
    let idle_ref = idle_name.as_deref().and_then(|idle| {
        let frames: Vec<&Frame> = streams
            .iter()
            .zip(&is_val)
            .filter(|(_, v)| !**v)
            .flat_map(|(s, _)| {
                s.features
                    .iter()
                    .zip(&s.labels)
                    .filter(|(_, l)| l.as_deref() == Some(idle))
                    .map(|(f, _)| f)
            })
            .collect();
        (!frames.is_empty()).then(|| {
            let (mut mean, mut std) = feature_stats(frames.into_iter());
            mean.truncate(dims);
            std.truncate(dims);
            (mean, std)
        })
    });
    if opts.reference {
        let idle = idle_name
            .as_deref()
            .context("--reference needs an idle class (--idle-class)")?;
        let (im, is) = idle_ref
            .clone()
            .context("--reference needs empty-room frames on the training side")?;
        let refs = session_references(&streams, idle);
        for (s, (m, sd)) in streams.iter_mut().zip(refs) {
            let (cm, cs) = crate::model::fold_reference(&m, &sd, &im, &is)?;
            apply_reference(s, &cm, &cs);
        }
    }
    let (mut input_mean, mut input_std) = feature_stats(
        streams
            .iter()
            .zip(&is_val)
            .filter(|(_, v)| !**v)
            .flat_map(|(s, _)| s.features.iter()),
    );
    input_mean.truncate(dims);
    input_std.truncate(dims);
    if let Some(keep) = &opts.features {
        // Unused features are switched off through the input statistics (normalised value
        // ~0), so the file stays a plain head of its feature set.
        for d in 0..dims {
            if !keep.contains(&d) {
                input_mean[d] = 0.0;
                input_std[d] = UNUSED_FEATURE_STD;
            }
        }
    }
    let inputs = streams
        .iter()
        .map(|s| normalise(s, &input_mean, &input_std))
        .collect();
    Ok(PreparedSplit {
        prep: Prepared {
            streams,
            inputs,
            classes,
            input_mean,
            input_std,
            idle_ref,
        },
        train_groups,
        val_groups,
        is_val,
    })
}

/// Trains a classifier head on labelled streams.
pub fn train(streams: Vec<Stream>, opts: &TrainOptions) -> anyhow::Result<Trained> {
    let started = Instant::now();
    let PreparedSplit {
        prep,
        train_groups,
        val_groups,
        is_val,
    } = prepare(streams, opts)?;
    let frame_rate_hz = {
        let rates: Vec<f32> = prep
            .streams
            .iter()
            .map(|s| s.frame_rate_hz())
            .filter(|r| *r > 0.0)
            .collect();
        if rates.is_empty() {
            0.0
        } else {
            rates.iter().sum::<f32>() / rates.len() as f32
        }
    };
    let windows = cut_windows(&prep.streams, opts.window, opts.hop, &opts.window_labels);
    let (mut val_w, train_w): (Vec<Window>, Vec<Window>) =
        windows.into_iter().partition(|w| is_val[w.stream]);
    if opts.reference {
        // A validation window holding the frames its session's reference was taken from
        // scores the reference on itself; as in calibrated eval, those frames are not scored.
        let idle_name = opts
            .idle_class
            .clone()
            .or_else(|| default_idle_class(&prep.classes).map(|i| prep.classes[i].clone()));
        if let Some(idle) = idle_name {
            val_w.retain(|w| {
                let s = &prep.streams[w.stream];
                !(w.start..w.start + opts.window).any(|i| in_reference_span(s, i, &idle))
            });
        }
    }
    if train_w.is_empty() {
        bail!(
            "no training windows of {} frames (recordings too short or labels mixed)",
            opts.window
        );
    }
    let n_classes = prep.classes.len();
    let class_of = |l: &str| prep.classes.iter().position(|c| c == l).expect("class");
    let mut counts = vec![0usize; n_classes];
    for w in &train_w {
        counts[class_of(&w.label)] += 1;
    }
    let class_weights: Vec<f32> = if opts.class_weighting {
        let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f32;
        let total: usize = counts.iter().sum();
        counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    total as f32 / (present * c as f32)
                }
            })
            .collect()
    } else {
        vec![1.0; n_classes]
    };
    let untrained_classes: Vec<String> = prep
        .classes
        .iter()
        .zip(&counts)
        .filter(|(_, &c)| c == 0)
        .map(|(name, _)| name.clone())
        .collect();
    let mut head = opts.head.clone();
    head.n_out = n_classes;
    head.input_dim = opts.feature_set.dims();
    let net = HeadNet::new(head, opts.backend, opts.seed, DType::F32)?;
    if let Some(path) = &opts.init {
        load_encoder(&net, path)?;
    }
    let mut opt = AdamW::new(&net.params, opts.weight_decay)?;
    let idle = opts
        .idle_class
        .as_ref()
        .and_then(|c| prep.classes.iter().position(|x| x == c))
        .or_else(|| default_idle_class(&prep.classes));
    let hop = Hop { frames: opts.hop };
    // Loss and report on the validation windows, weighted as training weighs its batches.
    let validate = |net: &HeadNet| {
        evaluate(
            net,
            &prep,
            &val_w,
            opts.window,
            hop,
            idle,
            &class_weights,
            opts.threads,
        )
    };

    let steps_per_epoch = train_w.len().div_ceil(opts.batch.max(1));
    let total_steps = steps_per_epoch * opts.epochs.max(1);
    let warmup = ((total_steps as f64 * opts.warmup_frac) as usize).max(1);
    let mut history: Vec<EpochStats> = Vec::new();
    let mut best: BTreeMap<String, Tensor> = net
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().copy().expect("copy")))
        .collect();
    let mut best_val = (f64::INFINITY, f64::INFINITY);
    let mut best_epoch = 0;
    let mut bad_epochs = 0;
    let mut start_epoch = 0;
    let run = RunIdentity {
        window: opts.window,
        hop: opts.hop,
        epochs: opts.epochs,
        batch: opts.batch,
        lr: opts.lr,
        weight_decay: opts.weight_decay,
        warmup_frac: opts.warmup_frac,
        seed: opts.seed,
        augment: opts.augment,
        class_weighting: opts.class_weighting,
        reference: opts.reference,
        feature_set: format!("{:?}", opts.feature_set),
        features: opts.features.clone(),
        train_groups: train_groups.clone(),
        val_groups: val_groups.clone(),
        train_windows: train_w.len(),
        val_windows: val_w.len(),
        backend: format!("{:?}", opts.backend),
        head: format!("{:?}", net.cfg),
        patience: opts.patience,
        window_labels: format!("{:?}", opts.window_labels),
        idle_class: opts.idle_class.clone(),
        threads: Some(opts.threads.max(1)),
        monitored_loss: Some(opts.monitor.name().into()),
    };

    if opts.resume {
        let path = opts
            .checkpoint
            .as_ref()
            .context("--resume needs a checkpoint path")?;
        if path.is_file() {
            let state_path = path.with_extension("json");
            // A damaged checkpoint names its file and the way out, not just what broke.
            let damaged = |p: &Path| {
                format!(
                    "checkpoint {} is damaged or not a checkpoint; delete it (and {}) to start afresh, or give another --checkpoint",
                    p.display(),
                    if p == state_path.as_path() {
                        path.display()
                    } else {
                        state_path.display()
                    }
                )
            };
            let state: CheckpointState = serde_json::from_str(
                &std::fs::read_to_string(&state_path)
                    .with_context(|| format!("checkpoint state {}", state_path.display()))?,
            )
            .with_context(|| damaged(&state_path))?;
            if state.classes != prep.classes || state.param_count != net.param_count() {
                bail!(
                    "checkpoint {} was made for other classes or another architecture",
                    path.display()
                );
            }
            if let Some(saved) = &state.run {
                let diff = run.differences(saved);
                if !diff.is_empty() {
                    bail!(
                        "checkpoint {} was made by another run, so --resume would continue a \
                         different optimisation; it differs in: {} (start afresh without \
                         --resume, or give another --checkpoint)",
                        path.display(),
                        diff.join("; ")
                    );
                }
            }
            let map = candle_core::safetensors::load(path, &Device::Cpu)
                .with_context(|| damaged(path))?;
            if let Some(t) = map.get("state.epoch_step") {
                let saved = t.to_vec1::<i64>()?;
                if saved != [state.epoch as i64, state.step as i64] {
                    bail!(
                        "checkpoint {} holds epoch/step {saved:?} but its state file says \
                         [{}, {}] (interrupted while saving?); delete both files to start \
                         afresh",
                        path.display(),
                        state.epoch,
                        state.step
                    );
                }
            }
            let get = |k: &str| {
                map.get(k)
                    .cloned()
                    .with_context(|| format!("checkpoint lacks {k}"))
            };
            for (k, v) in &net.params {
                v.set(&get(&format!("param.{k}"))?)?;
                opt.m.insert(k.clone(), get(&format!("adam_m.{k}"))?);
                opt.v.insert(k.clone(), get(&format!("adam_v.{k}"))?);
                best.insert(k.clone(), get(&format!("best.{k}"))?);
            }
            opt.step = state.step;
            start_epoch = state.epoch + 1;
            best_val = (state.best_val_loss, state.best_tiebreak);
            best_epoch = state.best_epoch;
            bad_epochs = state.bad_epochs;
            history = state.history;
        }
    }

    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new((total_steps) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps, ETA {eta} {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b.set_position((start_epoch * steps_per_epoch) as u64);
        Some(b)
    } else {
        None
    };

    let stop_now = bad_epochs >= opts.patience && start_epoch > 0;
    let end_epoch = match opts.stop_after {
        Some(n) => opts.epochs.min(start_epoch + n),
        None => opts.epochs,
    };
    let dims = net.cfg.input_dim;
    for epoch in start_epoch..end_epoch {
        if stop_now {
            break;
        }
        let mut order: Vec<usize> = (0..train_w.len()).collect();
        Rng::new(opts.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)).shuffle(&mut order);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = opts.lr;
        for (bi, chunk) in order.chunks(opts.batch.max(1)).enumerate() {
            let ws: Vec<&Window> = chunk.iter().map(|&i| &train_w[i]).collect();
            let x = if opts.augment > 0.0 {
                let mut rng =
                    Rng::new(opts.seed ^ 0xA5A5 ^ ((epoch * steps_per_epoch + bi) as u64) << 20);
                augmented_batch(&prep.inputs, &ws, opts.window, dims, opts.augment, &mut rng)?
            } else {
                batch_tensor(&prep.inputs, &ws, opts.window, dims)?
            };
            let y: Vec<u32> = ws.iter().map(|w| class_of(&w.label) as u32).collect();
            let BatchStep {
                loss: lv,
                preds,
                grads,
            } = batch_step(&net, &x, &y, &class_weights, opts.threads)?;
            let scale = clip_scale(&net.params, &grads, opts.grad_clip)?;
            let step = epoch * steps_per_epoch + bi;
            lr = lr_at(step, total_steps, warmup, opts.lr);
            opt.update(&net.params, &grads, lr, scale)?;
            loss_sum += lv * ws.len() as f64;
            correct += preds.iter().zip(&y).filter(|(a, b)| a == b).count();
            seen += ws.len();
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!(
                    "epoch {} loss {:.4} acc {:.3}",
                    epoch + 1,
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64
                ));
            }
        }
        let mut stats = EpochStats {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_loss: f64::NAN,
            val_acc: f64::NAN,
            val_f1: f64::NAN,
        };
        // Without validation data (or with only classes training never saw, which weigh
        // nothing), the training loss drives early stopping.
        let monitored = if val_w.is_empty() {
            (stats.train_loss, 0.0)
        } else {
            let (vl, rep) = validate(&net)?;
            stats.val_loss = vl;
            stats.val_acc = rep.accuracy;
            stats.val_f1 = rep.f1_macro;
            if vl.is_nan() {
                (stats.train_loss, 0.0)
            } else {
                opts.monitor.score(vl, rep.f1_macro)
            }
        };
        if let Some(b) = &bar {
            b.println(format!(
                "epoch {:>3}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} F1 {:.3}",
                stats.epoch,
                stats.train_loss,
                stats.train_acc,
                stats.val_loss,
                stats.val_acc,
                stats.val_f1
            ));
        }
        history.push(stats);
        if improves(monitored, best_val) {
            best_val = monitored;
            best_epoch = epoch + 1;
            bad_epochs = 0;
            for (k, v) in &net.params {
                best.insert(k.clone(), v.as_tensor().copy()?);
            }
        } else {
            bad_epochs += 1;
        }
        if let Some(path) = &opts.checkpoint {
            save_checkpoint(
                path,
                &net,
                &best,
                &opt,
                &CheckpointState {
                    run: Some(run.clone()),
                    epoch,
                    step: opt.step,
                    best_val_loss: best_val.0,
                    best_tiebreak: best_val.1,
                    best_epoch,
                    bad_epochs,
                    history: history.clone(),
                    classes: prep.classes.clone(),
                    param_count: net.param_count(),
                },
            )?;
        }
        if bad_epochs >= opts.patience {
            break;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for (k, v) in &net.params {
        v.set(&best[k])?;
    }
    let val_report = if val_w.is_empty() {
        None
    } else {
        Some(validate(&net)?.1)
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
        val_report,
        seconds: started.elapsed().as_secs_f64(),
        frame_rate_hz,
        untrained_classes,
    })
}

impl Trained {
    /// Export metadata of this head.
    pub fn export_meta(&self, opts: &TrainOptions) -> crate::model::ExportMeta {
        crate::model::ExportMeta {
            feature_set: opts.feature_set.id(),
            frame_rate_hz: self.frame_rate_hz,
            window_len: opts.window,
            hop: opts.hop,
            window_labels: opts.window_labels.clone(),
            class_names: self.prep.classes.clone(),
            input_mean: self.prep.input_mean.clone(),
            input_std: self.prep.input_std.clone(),
            calib: None,
            needs_reference: opts.reference,
            idle_ref: self.prep.idle_ref.clone(),
            trained_attention: opts.backend,
        }
    }

    /// RVNE v2 bytes of the trained head.
    pub fn to_rvne_v2(
        &self,
        opts: &TrainOptions,
        dtype: aether_rvne::v2::TensorDtype,
    ) -> anyhow::Result<Vec<u8>> {
        if opts.feature_set.dims() != self.net.cfg.input_dim {
            bail!(
                "exporting with feature set {} ({} features), but the head was trained on {}",
                opts.feature_set.id(),
                opts.feature_set.dims(),
                self.net.cfg.input_dim
            );
        }
        let meta = self.export_meta(opts);
        crate::model::export_rvne_v2(&self.net.cfg, &self.net.param_values()?, &meta, dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::{improves, weighted_mean_nll, Monitor};

    #[test]
    fn f1_monitor_ranks_by_f1_then_loss() {
        let f1 = Monitor::F1;
        // A higher F1 wins even with a higher loss (the head grew confident on its errors).
        assert!(improves(f1.score(0.9, 0.82), f1.score(0.6, 0.77)));
        assert!(!improves(f1.score(0.6, 0.77), f1.score(0.9, 0.82)));
        // Equal F1 (a small validation set at 1.0, epoch after epoch): the lower loss wins.
        assert!(improves(f1.score(0.1, 1.0), f1.score(0.2, 1.0)));
        assert!(!improves(f1.score(0.2, 1.0), f1.score(0.1, 1.0)));
        // Equal in both: not an improvement (the earlier epoch stays).
        assert!(!improves(f1.score(0.2, 1.0), f1.score(0.2, 1.0)));
        // An infinite score (a diverged training loss) never replaces the start.
        assert!(!improves(
            (f64::INFINITY, 0.0),
            (f64::INFINITY, f64::INFINITY)
        ));
        let loss = Monitor::Loss;
        assert!(improves(loss.score(0.6, 0.77), loss.score(0.9, 0.82)));
        // The first epoch always beats the empty start.
        let start = (f64::INFINITY, f64::INFINITY);
        assert!(improves(loss.score(5.0, 0.1), start) && improves(f1.score(5.0, 0.0), start));
        assert!(Monitor::parse("f1").is_ok() && Monitor::parse("accuracy").is_err());
    }

    #[test]
    fn validation_loss_weighs_classes_as_training_does() {
        // Nine confident majority windows and one badly scored minority window.
        let mut truths = vec![(0.9f32, 0usize); 9];
        truths.push((0.1, 1));
        let plain = weighted_mean_nll(&truths, &[1.0, 1.0]);
        let expect_plain = -(9.0 * 0.9f64.ln() + 0.1f64.ln()) / 10.0;
        assert!((plain - expect_plain).abs() < 1e-6, "{plain}");
        // Balanced weights (total / (classes * count)): each class counts half.
        let weighted = weighted_mean_nll(&truths, &[10.0 / 18.0, 10.0 / 2.0]);
        let expect = -(0.5 * 0.9f64.ln() + 0.5 * 0.1f64.ln());
        assert!((weighted - expect).abs() < 1e-6, "{weighted}");
        assert!(weighted > 2.0 * plain, "the minority's error must dominate");
        // A class absent from training weighs 0; no weight at all is no loss (NaN), not a
        // perfect one (0), which would pin early stopping to the first epoch.
        assert!(weighted_mean_nll(&[(0.1, 1)], &[1.0, 0.0]).is_nan());
        assert!(weighted_mean_nll(&[], &[1.0]).is_nan());
        // A zero probability is floored, not infinite.
        assert!(weighted_mean_nll(&[(0.0, 0)], &[1.0]).is_finite());
    }
}

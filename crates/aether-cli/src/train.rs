//! `aether train --data PATH... [--labels segments.csv] --out model.rvne`: trains the temporal
//! head on labelled recordings and writes it as RVNE v2 (atomically), with a training-curve
//! PNG next to it. `--leave-one-out chip` instead prints the leave-one-group-out table.

use std::path::PathBuf;

use aether_csi::FeatureSet;
use aether_train::data::{load_streams_noting, parse_label_map, LabelSource};
use aether_train::eval::leave_one_out;
use aether_train::model::{parse_dtype, AttnBackend, HeadConfig};
use aether_train::train::{train, SplitBy, TrainOptions};
use anyhow::Context;
use serde_json::json;

/// Options shared by train, eval, run and calibrate for reading recordings.
#[derive(clap::Args, Clone, Debug)]
pub struct DataArgs {
    /// A segments CSV (`start_s,end_s,label`) applied to every recording; otherwise labels come
    /// from a sibling `<stem>.segments.csv` or the file itself (ESPectre `label`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Rename labels: `a=b,c=d`.
    #[arg(long)]
    pub label_map: Option<String>,
    /// Use only `START_S-END_S` seconds of each recording (`START_S-`: to its end).
    #[arg(long)]
    pub span: Option<String>,
    /// The recordings (or, with `run --listen`, the nodes) are classic ESP32s, whose first CSI
    /// word is invalid: subcarrier +1 is skipped (ESPectre npz files that name the chip are
    /// read so without this; ESP32-CSI-Tool CSV does not say).
    #[arg(long)]
    pub first_word_invalid: bool,
}

impl DataArgs {
    pub fn label_source(&self) -> anyhow::Result<LabelSource> {
        let segments = match &self.labels {
            Some(p) => Some(
                aether_io::labels::Segments::read_csv(p)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            ),
            None => None,
        };
        let label_map = match &self.label_map {
            Some(s) => parse_label_map(s)?,
            None => Default::default(),
        };
        Ok(LabelSource {
            segments,
            label_map,
            first_word_invalid: self.first_word_invalid,
        })
    }

    /// Refuses `out` (given as `option`) when it is one of the loaded recordings or the
    /// labels file ([`not_an_input`]), plus any `more` inputs (the model, for a non-model
    /// output).
    pub fn refuse_as_output<'a>(
        &'a self,
        option: &str,
        out: &std::path::Path,
        streams: &'a [aether_train::data::Stream],
        more: impl IntoIterator<Item = &'a std::path::Path>,
    ) -> anyhow::Result<()> {
        let inputs = (streams.iter().map(|s| s.path.as_path()))
            .chain(self.labels.as_deref())
            .chain(more);
        not_an_input(option, out, inputs)
    }

    pub fn span(&self) -> anyhow::Result<Option<(f64, f64)>> {
        parse_span(self.span.as_deref())
    }

    /// Streams of every recording under `paths`, cut to `--span`.
    pub fn load(&self, paths: &[PathBuf]) -> anyhow::Result<Vec<aether_train::data::Stream>> {
        // Labels are renamed here rather than while reading, to catch a `--label-map` name
        // that no recording carries (a typo would otherwise rename nothing, silently).
        let mut source = self.label_source()?;
        let label_map = std::mem::take(&mut source.label_map);
        let (mut streams, not_recordings) = load_streams_noting(paths, &source)?;
        for p in not_recordings {
            eprintln!("note: {}: not a recording, skipped", p.display());
        }
        // Before renaming: an error lists the labels the recordings carry.
        let found: std::collections::BTreeSet<String> = streams
            .iter()
            .flat_map(|s| s.labels.iter().flatten().cloned())
            .collect();
        let mut unused: std::collections::BTreeSet<&String> = label_map.keys().collect();
        for l in streams
            .iter_mut()
            .flat_map(|s| s.labels.iter_mut().flatten())
        {
            if let Some(to) = label_map.get(l) {
                unused.remove(l);
                *l = to.clone();
            }
        }
        if !unused.is_empty() {
            anyhow::bail!(
                "--label-map renames {unused:?}, but no recording carries such a label (labels found: {found:?})"
            );
        }
        // Skipped records are not fatal (docs/recordings.md), but say so, once per file.
        let mut noted = std::collections::BTreeSet::new();
        for s in &streams {
            if s.skipped.count > 0 && noted.insert(s.path.clone()) {
                eprintln!(
                    "note: {}: {} record(s) skipped, malformed or CSI the features cannot use (the first: {})",
                    s.path.display(),
                    s.skipped.count,
                    s.skipped.first.as_deref().unwrap_or("")
                );
            }
        }
        if let Some((a, b)) = self.span()? {
            for s in &mut streams {
                s.span(a, b);
            }
            streams.retain(|s| !s.t_s.is_empty());
            if streams.is_empty() {
                anyhow::bail!("no frames inside --span {a}-{b}");
            }
        }
        Ok(streams)
    }
}

pub fn parse_span(s: Option<&str>) -> anyhow::Result<Option<(f64, f64)>> {
    let Some(s) = s else { return Ok(None) };
    // (`--span=-1-3`; a bare `--span -1-3` is clap's usage error: it reads `-1` as an option.)
    if s.trim_start().starts_with('-') {
        anyhow::bail!("--span {s:?}: need 0 <= START < END");
    }
    let (a, b) = s
        .split_once('-')
        .with_context(|| format!("--span {s:?} is not START_S-END_S"))?;
    let a: f64 = a
        .trim()
        .parse()
        .with_context(|| format!("--span start {a:?}"))?;
    let b: f64 = if b.trim().is_empty() {
        f64::INFINITY
    } else {
        b.trim()
            .parse()
            .with_context(|| format!("--span end {b:?}"))?
    };
    if !(a >= 0.0 && b > a) {
        anyhow::bail!("--span {s:?}: need 0 <= START < END");
    }
    Ok(Some((a, b)))
}

#[derive(clap::Args)]
pub struct Args {
    /// Recordings: files or folders (searched recursively).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    data_args: DataArgs,
    /// classify (labelled windows, class logits) or embed (self-supervised contrastive:
    /// InfoNCE + VICReg, embedding output).
    #[arg(long, default_value = "classify")]
    task: String,
    /// Embedding width for --task embed.
    #[arg(long, default_value_t = 32)]
    embed_dim: usize,
    /// Model file to write (RVNE v2). Required unless --leave-one-out.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Matrix storage in the model file: f32, f16 or int8.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Frames per window.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Frames between windows.
    #[arg(long, default_value_t = 16)]
    hop: usize,
    /// Event classes (e.g. fall,sit_down): a window containing at least --event-min-frames
    /// frames of one is labelled with it; `NAME:FRAMES` gives that event its own minimum (e.g.
    /// wave:48; names cannot contain ':'). Other windows need every frame to agree. Stored in
    /// the model, so `eval` cuts its truth windows the same way.
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// Frames of an event class that make a window that event.
    #[arg(long, default_value_t = EVENT_MIN_FRAMES)]
    event_min_frames: usize,
    /// Most epochs (early stopping may end sooner); the learning-rate schedule spans them.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Windows per optimiser step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Peak learning rate (AdamW, linear warm-up then cosine).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// AdamW's decoupled weight decay (matrices only).
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Epochs without a better validation score (--monitor) before stopping.
    #[arg(long, default_value_t = 6)]
    patience: usize,
    /// What keeps the best epoch and stops early: `loss` (class-weighted validation loss) or
    /// `f1` (validation macro F1, ties broken by that loss; --task classify only). Without
    /// validation windows both watch the training loss.
    #[arg(long, default_value = "loss", value_parser = ["loss", "f1"])]
    monitor: String,
    /// Seed of initialisation, split and shuffles (decimal or 0x-prefixed hex).
    #[arg(long, value_parser = crate::seed::parse_seed, default_value = "0xAE7E5")]
    seed: u64,
    /// What keeps train and validation apart: chip, session or recording.
    #[arg(long, default_value = "session")]
    split_by: String,
    /// Validation group(s) (by --split-by); default: a seeded 20 % of the groups.
    #[arg(long = "val")]
    val: Vec<String>,
    /// Share of the groups held out for validation when --val names none (0 = none).
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Do not weight classes by inverse frequency.
    #[arg(long)]
    no_class_weights: bool,
    /// Train on frames referenced to their session's empty-room capture (needs
    /// `aether calibrate` before use).
    #[arg(long)]
    reference: bool,
    /// The idle class (default: a class named baseline, empty or idle).
    #[arg(long)]
    idle_class: Option<String>,
    /// Dense attention in the training graph (A/B) instead of the sparse kernel.
    #[arg(long)]
    dense: bool,
    /// Width of the head's hidden state (the input projection's output).
    #[arg(long, default_value_t = 32)]
    d_model: usize,
    /// Transformer layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Query heads per layer.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Key/value heads per layer (query heads share them in groups: GQA; must divide --heads).
    #[arg(long, default_value_t = 2)]
    kv_heads: usize,
    /// Width of each attention head.
    #[arg(long, default_value_t = 8)]
    head_dim: usize,
    /// Hidden width of each layer's feed-forward block.
    #[arg(long, default_value_t = 64)]
    d_ff: usize,
    /// Sparse attention local window (frames).
    #[arg(long, default_value_t = 32)]
    attn_window: usize,
    /// Landmark block size (frames).
    #[arg(long, default_value_t = 16)]
    block_size: usize,
    /// Random per-window, per-feature affine jitter of the inputs (0 = off), standing in for
    /// chip and room differences.
    #[arg(long, default_value_t = 0.0)]
    augment: f32,
    /// Checkpoint file (default `<out>.ckpt.safetensors`).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start from the encoder of this model (e.g. pretrained with --task embed); the output
    /// layer starts fresh.
    #[arg(long)]
    init: Option<PathBuf>,
    /// The head's inputs: CSI feature set `csi19` (set 3: set 1 plus the decorrelation
    /// features), `csi16` (set 1) or `csi22` (set 4: set 3 plus the energies of the profile's
    /// change near 1.8, 0.6 and 0.2 Hz).
    #[arg(long, default_value = "csi19")]
    feature_set: String,
    /// Features the head may use, by name or index (e.g. `decorr_growth`); the others are
    /// switched off through the input statistics. Default: all of the feature set.
    #[arg(long)]
    features: Option<String>,
    /// End this run after N epochs (the schedule still spans --epochs); --resume continues.
    #[arg(long)]
    stop_after: Option<usize>,
    /// Leave-one-group-out (`chip`, `session` or `recording`) table instead of a model.
    #[arg(long)]
    leave_one_out: Option<String>,
    /// With --leave-one-out: also train referenced heads and score them calibrated (first
    /// 5 s of each held-out session's empty-room capture as the reference).
    #[arg(long)]
    calibrated: bool,
    /// Threads per training batch (contiguous shards of the batch, gradients summed in shard
    /// order) and for validation (`--task classify`). The same count gives the same model on
    /// every run; another count sums in another order, so the numbers differ by rounding.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// One JSON summary on stdout (with --leave-one-out: {"rows": [...]}, one per held-out group).
    #[arg(long)]
    json: bool,
}

impl Args {
    fn options(&self) -> anyhow::Result<TrainOptions> {
        let feature_set = parse_feature_set(&self.feature_set)?;
        let mut head = HeadConfig::motion(feature_set.dims(), 2);
        head.d_model = self.d_model;
        head.n_layers = self.layers;
        head.q_heads = self.heads;
        head.kv_heads = self.kv_heads;
        head.head_dim = self.head_dim;
        head.d_ff = self.d_ff;
        head.attn.window = self.attn_window;
        head.attn.block_size = self.block_size;
        if self.window == 0
            || self.hop == 0
            || self.batch == 0
            || self.threads == 0
            || self.epochs == 0
        {
            anyhow::bail!("--window, --hop, --batch, --epochs and --threads must be positive");
        }
        // Values the optimiser would only turn into NaN activations (or silently ignore) are
        // refused by name.
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            anyhow::bail!(
                "--lr {} is not a learning rate (more than 0, at most 10)",
                self.lr
            );
        }
        if !(self.weight_decay.is_finite() && (0.0..=10.0).contains(&self.weight_decay)) {
            anyhow::bail!(
                "--weight-decay {} must be between 0 and 10",
                self.weight_decay
            );
        }
        if !(self.val_fraction.is_finite() && (0.0..1.0).contains(&self.val_fraction)) {
            anyhow::bail!(
                "--val-fraction {} must be at least 0 and below 1",
                self.val_fraction
            );
        }
        // The jitter's offset has this standard deviation in normalised units and its log
        // gain 0.3 times it: past 10 the inputs overflow rather than vary.
        if !(self.augment.is_finite() && (0.0..=10.0).contains(&self.augment)) {
            anyhow::bail!(
                "--augment {} must be in 0..=10 (typical: 0.1-0.5)",
                self.augment
            );
        }
        if self.patience == 0 {
            // Stopping after `patience` epochs without improvement: 0 stopped after the first
            // epoch whatever it did.
            anyhow::bail!("--patience must be at least 1 (epochs without improvement before stopping; --epochs bounds the run)");
        }
        if self.stop_after == Some(0) {
            anyhow::bail!("--stop-after 0 would write an untrained model; give 1 or more epochs");
        }
        if self.calibrated && self.leave_one_out.is_none() {
            anyhow::bail!("--calibrated goes with --leave-one-out (to score one model calibrated, use `aether calibrate` and `aether eval`)");
        }
        if self.threads > 1 && self.task != "classify" {
            // InfoNCE compares every window of a batch with every other: its batches are not
            // cut into shards.
            anyhow::bail!(
                "--threads applies to --task classify; --task {} trains on one thread",
                self.task
            );
        }
        if self.monitor != "loss" && self.task != "classify" {
            // The embedding objective has no classes to score: it watches its own loss.
            anyhow::bail!(
                "--monitor {} applies to --task classify; --task {} watches its contrastive loss",
                self.monitor,
                self.task
            );
        }
        let window_labels =
            window_labels(&self.events, self.event_min_frames, self.window, "--window")?;
        Ok(TrainOptions {
            window: self.window,
            hop: self.hop,
            window_labels,
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            patience: self.patience,
            monitor: aether_train::train::Monitor::parse(&self.monitor)?,
            seed: self.seed,
            split_by: SplitBy::parse(&self.split_by)?,
            val_groups: self.val.clone(),
            val_fraction: self.val_fraction,
            class_weighting: !self.no_class_weights,
            reference: self.reference,
            idle_class: self.idle_class.clone(),
            backend: if self.dense {
                AttnBackend::Dense
            } else {
                AttnBackend::Sparse
            },
            head,
            checkpoint: None,
            resume: self.resume,
            stop_after: self.stop_after,
            init: self.init.clone(),
            feature_set,
            features: match &self.features {
                Some(list) => Some(parse_features(feature_set, list)?),
                None => None,
            },
            progress: !self.quiet && !self.json,
            augment: self.augment,
            threads: self.threads,
            ..TrainOptions::default()
        })
    }
}

/// `csi16` (set 1), `csi19` (set 3) or `csi22` (set 4), the CSI feature sets a head can be
/// trained on.
pub fn parse_feature_set(name: &str) -> anyhow::Result<FeatureSet> {
    match name {
        "csi16" => Ok(FeatureSet::Csi16),
        "csi19" => Ok(FeatureSet::Csi19),
        "csi22" => Ok(FeatureSet::Csi22),
        _ => anyhow::bail!("unknown feature set {name:?}; known: csi16, csi19, csi22"),
    }
}

/// Indices of `set` from names (`corr_ref`) or numbers (`14`), comma-separated.
pub fn parse_features(set: FeatureSet, list: &str) -> anyhow::Result<Vec<usize>> {
    let names = set.names();
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let i = match item.parse::<usize>() {
            Ok(i) if i < names.len() => i,
            Ok(i) => anyhow::bail!("feature index {i} out of range (0..{})", names.len()),
            Err(_) => names.iter().position(|n| *n == item).with_context(|| {
                format!("unknown feature {item:?}; known: {}", names.join(", "))
            })?,
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    anyhow::ensure!(!out.is_empty(), "--features names no feature");
    Ok(out)
}

/// One thread, so runs are bit-for-bit repeatable (candle's matmul splits work by thread
/// count). Called first thing by the subcommands that train or score, before any candle op and
/// while the process has no other thread (setting the environment is only sound then).
pub fn single_thread() {
    std::env::set_var("RAYON_NUM_THREADS", "1");
}

/// A path a command will write a file to: not a directory, in a directory that exists.
pub(crate) fn writable_file(option: &str, path: &std::path::Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{option} {} is a directory, not a file", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "{option} {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Refuses an output path that is one of the command's inputs (a recording, a labels file,
/// or the model for a non-model output): writing it would destroy what it was made from.
/// Paths are compared after resolving links and `..`; an output that does not exist yet
/// is no input.
pub(crate) fn not_an_input<'a>(
    option: &str,
    out: &std::path::Path,
    inputs: impl IntoIterator<Item = &'a std::path::Path>,
) -> anyhow::Result<()> {
    let Ok(out_real) = out.canonicalize() else {
        return Ok(());
    };
    for input in inputs {
        if input.canonicalize().is_ok_and(|p| p == out_real) {
            anyhow::bail!(
                "{option} {} is one of this command's inputs ({}); writing it would destroy it",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    single_thread();
    let mut opts = args.options()?;
    let dtype = parse_dtype(&args.dtype)?;
    let streams = args.data_args.load(&args.data)?;
    // An event name no recording carries would silently label nothing (a typo, usually).
    for event in &opts.window_labels.events {
        let carried = streams
            .iter()
            .any(|s| s.labels.iter().flatten().any(|l| l == event));
        if !carried {
            anyhow::bail!("--events {event:?}: no recording carries such a label");
        }
    }
    if let Some(by) = &args.leave_one_out {
        let by = SplitBy::parse(by)?;
        opts.progress = false;
        let rows = leave_one_out(&streams, by, &opts, args.calibrated, |r| {
            if !args.json {
                let f = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
                println!(
                    "{:>10}  windows {:>4}  zero-shot F1 {:.3} acc {:.3} fp {}  calibrated F1 {} fp {}  ({:.1} s)",
                    r.held_out,
                    r.windows,
                    r.zero_shot_f1,
                    r.zero_shot_accuracy,
                    f(r.zero_shot_fp_rate),
                    f(r.calibrated_f1),
                    f(r.calibrated_fp_rate),
                    r.train_seconds
                );
            }
        })?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "rows": rows }))?
            );
        }
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .context("--out is required (or use --leave-one-out)")?;
    let embed = args.task == "embed";
    if embed && (args.resume || args.checkpoint.is_some()) {
        anyhow::bail!(
            "--task embed keeps no checkpoint (its runs are short); --checkpoint and --resume \
             go with --task classify"
        );
    }
    // Where the files go is checked now, not after the whole run has trained.
    writable_file("--out", &out)?;
    let data_inputs: Vec<&std::path::Path> = streams
        .iter()
        .map(|s| s.path.as_path())
        .chain(args.data_args.labels.as_deref())
        .collect();
    not_an_input("--out", &out, data_inputs.iter().copied())?;
    not_an_input(
        "--out (its training-curve PNG)",
        &out.with_extension("curve.png"),
        data_inputs.iter().copied().chain(args.init.as_deref()),
    )?;
    if let Some(ck) = &args.checkpoint {
        writable_file("--checkpoint", ck)?;
    }
    opts.checkpoint = (!embed).then(|| {
        args.checkpoint.clone().unwrap_or_else(|| {
            let mut n = out
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            n.push(".ckpt.safetensors");
            out.with_file_name(n)
        })
    });
    if let Some(ck) = &opts.checkpoint {
        for path in [ck.clone(), ck.with_extension("json")] {
            not_an_input(
                "--checkpoint",
                &path,
                data_inputs.iter().copied().chain(args.init.as_deref()),
            )?;
        }
        // The state file sits beside the weights with the extension .json; none of the three
        // files may be another (compared as written to: parent directory resolved).
        let resolved = |p: &std::path::Path| -> std::path::PathBuf {
            let parent = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            parent
                .canonicalize()
                .unwrap_or_else(|_| parent.to_path_buf())
                .join(p.file_name().unwrap_or_default())
        };
        let (w, st, m, png) = (
            resolved(ck),
            resolved(&ck.with_extension("json")),
            resolved(&out),
            resolved(&out.with_extension("curve.png")),
        );
        if w == st || w == m || st == m || w == png || st == png {
            anyhow::bail!(
                "--checkpoint {}: the checkpoint's state goes to {}, the model to {} and its \
                 curve to {}; name the checkpoint something else",
                ck.display(),
                ck.with_extension("json").display(),
                out.display(),
                out.with_extension("curve.png").display()
            );
        }
    }
    if let Some(ck) = opts
        .checkpoint
        .as_ref()
        .filter(|c| opts.resume && !c.is_file())
    {
        eprintln!(
            "note: --resume: no checkpoint at {}, so training starts from the beginning",
            ck.display()
        );
    }
    let trained = match args.task.as_str() {
        "classify" => train(streams, &opts)?,
        "embed" => {
            anyhow::ensure!(args.embed_dim > 0, "--embed-dim must be positive");
            aether_train::embed::train_embed(streams, &opts, args.embed_dim)?
        }
        other => anyhow::bail!("unknown --task {other:?} (classify or embed)"),
    };
    let bytes = trained.to_rvne_v2(&opts, dtype)?;
    aether_io::atomic::write_atomic(&out, &bytes)
        .with_context(|| format!("writing {}", out.display()))?;
    // The model is written: a curve that cannot be drawn is a warning, not a failed run.
    let curve = out.with_extension("curve.png");
    let curve_written = match aether_train::plot::training_curve(
        &curve,
        &trained.history,
        &format!("{} ({} classes)", out.display(), trained.prep.classes.len()),
    ) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "warning: training curve {} not written: {e:#}",
                curve.display()
            );
            false
        }
    };
    let val = trained.val_report.as_ref().map(|r| {
        json!({
            "accuracy": r.accuracy,
            "f1_macro": r.f1_macro,
            "fp_rate": r.fp_rate,
            "windows": r.windows,
        })
    });
    let summary = json!({
        "out": out.display().to_string(),
        "bytes": bytes.len(),
        "dtype": args.dtype,
        // The trained weights only; `inspect`'s `params` also counts the file's input
        // statistics and references.
        "trainable_params": trained.net.param_count(),
        "classes": trained.prep.classes,
        "train_groups": trained.train_groups,
        "val_groups": trained.val_groups,
        "train_windows": trained.train_windows,
        "val_windows": trained.val_windows,
        "untrained_classes": trained.untrained_classes,
        "epochs_run": trained.history.len(),
        "best_epoch": trained.best_epoch,
        "seconds": trained.seconds,
        "frame_rate_hz": trained.frame_rate_hz,
        "validation": val,
        "curve_png": curve_written.then(|| curve.display().to_string()),
        "checkpoint": opts.checkpoint.as_ref().map(|p| p.display().to_string()),
        "reference": opts.reference,
        "task": args.task,
        "best_val_loss": trained.history.get(trained.best_epoch.saturating_sub(1)).map(|h| h.val_loss),
    });
    if !trained.untrained_classes.is_empty() {
        // On stderr, and in the JSON summary: the file still carries these outputs.
        eprintln!(
            "note: no training window has class {:?} (only validation groups hold it); the \
             head cannot predict it. Move its group to training (--val) or merge it \
             (--label-map)",
            trained.untrained_classes
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} ({} bytes, {} params, {})",
            out.display(),
            bytes.len(),
            trained.net.param_count(),
            if args.task == "embed" {
                format!("{}-d embedding", args.embed_dim)
            } else {
                format!("classes {:?}", trained.prep.classes)
            }
        );
        println!(
            "{} train / {} validation windows; {} epochs (best {}), {:.1} s",
            trained.train_windows,
            trained.val_windows,
            trained.history.len(),
            trained.best_epoch,
            trained.seconds
        );
        if trained.val_windows == 0 && args.val_fraction > 0.0 {
            // On stderr: early stopping then watches the training loss, which says nothing
            // about unseen sessions.
            eprintln!(
                "note: no validation windows (one {} group in the data?); early stopping \
                 followed the training loss",
                args.split_by
            );
        }
        if let Some(r) = &trained.val_report {
            println!(
                "validation ({}): accuracy {:.4}, macro F1 {:.4}, fp_rate {}",
                trained.val_groups.join(", "),
                r.accuracy,
                r.f1_macro,
                r.fp_rate
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
        if curve_written {
            println!("training curve: {}", curve.display());
        }
    }
    Ok(())
}

/// `--event-min-frames`' default (train and eval).
pub(crate) const EVENT_MIN_FRAMES: usize = 16;

/// The window labelling rule of `--events` (`NAME` or `NAME:FRAMES`) and `--event-min-frames`
/// for windows of `window` frames (named `window_name` in errors): `train` stores it in the
/// model, `eval --events` replaces the model's.
pub(crate) fn window_labels(
    events: &[String],
    event_min_frames: usize,
    window: usize,
    window_name: &str,
) -> anyhow::Result<aether_train::data::WindowLabels> {
    if !events.is_empty() && !(1..=window).contains(&event_min_frames) {
        anyhow::bail!(
            "--event-min-frames {event_min_frames} must be between 1 and {window_name} ({window})"
        );
    }
    let mut window_labels = aether_train::data::WindowLabels {
        event_min_frames,
        ..Default::default()
    };
    for e in events {
        let (name, frames) = match e.split_once(':') {
            Some((name, n)) => {
                let n: usize = n.parse().map_err(|_| {
                    anyhow::anyhow!("--events {e:?}: FRAMES after ':' must be a whole number")
                })?;
                (name, n)
            }
            None => (e.as_str(), event_min_frames),
        };
        if name.is_empty() {
            anyhow::bail!("--events {e:?}: the event's name is missing");
        }
        if window_labels.events.iter().any(|x| x == name) {
            anyhow::bail!("--events: {name:?} is named twice");
        }
        if !(1..=window).contains(&frames) {
            anyhow::bail!(
                "--events {e:?}: an event needs between 1 and {window_name} ({window}) frames"
            );
        }
        if frames != event_min_frames {
            window_labels
                .min_frames_by_event
                .insert(name.to_owned(), frames);
        }
        window_labels.events.push(name.to_owned());
    }
    Ok(window_labels)
}

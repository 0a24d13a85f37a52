//! Trains a small head for real, briefly, on the shared ESPectre captures of three chips and
//! scores it on the fourth chip, never seen in training (zero-shot, per window).

use std::path::PathBuf;

use aether_train::data::{load_streams, LabelSource};
use aether_train::eval::Scorer;
use aether_train::model::{load_rvne_v2, TensorDtype};
use aether_train::train::{train, Monitor, SplitBy, TrainOptions};

/// The shared ESPectre captures for a training test (every caller trains, so it also checks
/// the one candle thread first, data or not).
fn espectre_dir() -> Option<PathBuf> {
    one_candle_thread();
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if !shared.is_dir() {
        eprintln!(
            "SKIP: {} is absent, so the ESPectre training test cannot run",
            shared.display()
        );
        return None;
    }
    let dir = shared.join("data/espectre");
    for sub in ["baseline", "movement"] {
        let n = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| {
                panic!(
                    "{}/{sub} missing while ../shared exists: {e}",
                    dir.display()
                )
            })
            .count();
        assert_eq!(
            n,
            8,
            "expected 8 ESPectre {sub} captures in {}",
            dir.display()
        );
    }
    Some(dir)
}

#[test]
fn small_head_beats_chance_on_an_unseen_chip() {
    let Some(dir) = espectre_dir() else { return };
    let all = load_streams(&[dir], &LabelSource::default()).unwrap();
    assert_eq!(all.len(), 16);
    let held_out = "c5";
    let (test, train_s): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.chip == held_out);
    assert_eq!(test.len(), 4);
    let opts = TrainOptions {
        window: 64,
        hop: 32,
        epochs: 6,
        patience: 6,
        split_by: SplitBy::Session,
        ..TrainOptions::default()
    };
    let trained = train(train_s, &opts).unwrap();
    assert!(trained.history.len() >= 2);
    assert!(trained.val_groups.iter().all(|g| !g.starts_with(held_out)));
    // Training lowered the loss.
    let first = trained.history.first().unwrap().train_loss;
    let best = trained
        .history
        .iter()
        .map(|h| h.train_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(best < first, "train loss {first} -> {best}");

    // Through the file, as a user would: export, load, score the unseen chip.
    let bytes = trained.to_rvne_v2(&opts, TensorDtype::F32).unwrap();
    let head = load_rvne_v2(&bytes).unwrap();
    assert_eq!(head.meta.class_names, ["baseline", "movement"]);
    let scorer = Scorer::from_loaded(&head).unwrap();
    let idle = scorer.idle(None).unwrap();
    let report = scorer.score(test, None, idle).unwrap();
    println!(
        "held-out {held_out}: {} windows, accuracy {:.3}, macro F1 {:.3}, confusion {:?}",
        report.windows, report.accuracy, report.f1_macro, report.confusion.matrix
    );
    // Two balanced classes: chance is 0.5 with a standard deviation of about 0.044 over
    // ~130 windows, so 0.65 is more than three of them above it.
    assert!(report.windows > 100);
    assert!(report.accuracy > 0.65, "accuracy {}", report.accuracy);
    assert!(report.f1_macro > 0.65, "macro F1 {}", report.f1_macro);
}

/// An interrupted run resumed from its checkpoint ends with exactly the weights of the
/// uninterrupted run (same seed, schedule and optimiser state).
#[test]
fn resume_after_interruption_equals_an_uninterrupted_run() {
    let Some(dir) = espectre_dir() else { return };
    let (streams, tmp, base, full, ckpt) = interrupted_run(&dir, Monitor::Loss, "resume");
    // The checkpoint belongs to that run: another window or other data is refused, not
    // continued as if it were the same optimisation.
    for (what, opts, data) in [
        (
            "patience",
            TrainOptions {
                patience: 3,
                checkpoint: Some(ckpt.clone()),
                resume: true,
                ..base.clone()
            },
            streams.clone(),
        ),
        (
            "threads",
            TrainOptions {
                threads: 2,
                checkpoint: Some(ckpt.clone()),
                resume: true,
                ..base.clone()
            },
            streams.clone(),
        ),
        (
            "window",
            TrainOptions {
                window: 48,
                checkpoint: Some(ckpt.clone()),
                resume: true,
                ..base.clone()
            },
            streams.clone(),
        ),
        (
            "train_groups",
            TrainOptions {
                checkpoint: Some(ckpt.clone()),
                resume: true,
                ..base.clone()
            },
            streams[..2]
                .iter()
                .chain(&captures(
                    &dir,
                    &[
                        "baseline/baseline_c5_64sc_20260329_124440.npz",
                        "movement/movement_c5_64sc_20260329_124504.npz",
                    ],
                ))
                .cloned()
                .collect(),
        ),
    ] {
        let err = train(data, &opts).err().expect(what).to_string();
        assert!(
            err.contains("made by another run") && err.contains(what),
            "{what}: {err}"
        );
    }
    // A crash between the two renames pairs weights of one epoch with the state of another:
    // refused, not resumed off by an epoch.
    let state_path = ckpt.with_extension("json");
    let state = std::fs::read_to_string(&state_path).unwrap();
    let mut older: serde_json::Value = serde_json::from_str(&state).unwrap();
    older["epoch"] = serde_json::json!(0);
    std::fs::write(&state_path, older.to_string()).unwrap();
    let torn = TrainOptions {
        checkpoint: Some(ckpt.clone()),
        resume: true,
        ..base.clone()
    };
    let err = train(streams.clone(), &torn)
        .err()
        .expect("torn checkpoint")
        .to_string();
    assert!(err.contains("interrupted while saving"), "{err}");
    // A checkpoint from before early stopping watched the class-weighted loss saved its best
    // loss on the plain-mean scale: refused by name, not compared across scales.
    let mut plain: serde_json::Value = serde_json::from_str(&state).unwrap();
    plain["run"]
        .as_object_mut()
        .expect("run identity")
        .remove("monitored_loss")
        .expect("monitored_loss recorded");
    std::fs::write(&state_path, plain.to_string()).unwrap();
    let err = train(streams.clone(), &torn)
        .err()
        .expect("plain-mean checkpoint")
        .to_string();
    assert!(
        err.contains("made by another run") && err.contains("monitored_loss"),
        "{err}"
    );
    std::fs::write(&state_path, &state).unwrap();
    // Damaged files are named, with the way out: the state file, then the weights.
    for (damaged, junk) in [(&state_path, &b"{"[..]), (&ckpt, &b"not safetensors"[..])] {
        let kept = std::fs::read(damaged).unwrap();
        std::fs::write(damaged, junk).unwrap();
        let err = format!(
            "{:#}",
            train(streams.clone(), &torn).err().expect("damaged")
        );
        assert!(
            err.contains("damaged") && err.contains(&damaged.display().to_string()),
            "{err}"
        );
        assert!(!err.contains("  "), "{err}");
        std::fs::write(damaged, kept).unwrap();
    }
    std::fs::write(&state_path, state).unwrap();
    resume_matches(streams, &base, ckpt, &full);
    std::fs::remove_dir_all(&tmp).ok();
}

/// `--monitor f1` keeps the epoch with the best validation macro F1 (ties broken by the
/// loss), where the loss would keep another; it resumes exactly (its tie-break is saved), and
/// is a run of its own: a loss-monitored resume of its checkpoint is refused.
#[test]
fn f1_monitor_keeps_its_best_epoch_and_resumes_exactly() {
    let Some(dir) = espectre_dir() else { return };
    // On C6 at a high learning rate the first epoch validates at F1 1.0 and the loss keeps
    // falling after F1 has dropped, so the two monitors keep different epochs.
    let c6 = captures(
        &dir,
        &[
            "baseline/baseline_c6_64sc_20260310_230414.npz",
            "movement/movement_c6_64sc_20260310_230434.npz",
            "baseline/baseline_c6_64sc_20260310_234819.npz",
            "movement/movement_c6_64sc_20260310_234839.npz",
        ],
    );
    let opts = |monitor| TrainOptions {
        window: 32,
        hop: 32,
        epochs: 6,
        lr: 1e-2,
        patience: 10,
        monitor,
        ..TrainOptions::default()
    };
    let by_loss = train(c6.clone(), &opts(Monitor::Loss)).unwrap();
    let by_f1 = train(c6, &opts(Monitor::F1)).unwrap();
    assert_eq!(by_loss.history, by_f1.history, "the monitor only picks");
    // The epoch kept is the first with the best F1 among those with the lowest loss at it.
    let h = &by_f1.history;
    let best_f1 = h.iter().map(|e| e.val_f1).fold(f64::MIN, f64::max);
    let keep = h
        .iter()
        .filter(|e| e.val_f1 >= best_f1 - 1e-6)
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .unwrap();
    let lowest = h
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .unwrap();
    assert_ne!(keep.epoch, lowest.epoch, "no case for the test: {h:?}");
    assert_eq!(by_f1.best_epoch, keep.epoch, "{h:?}");
    assert_eq!(by_loss.best_epoch, lowest.epoch, "{h:?}");
    // Epochs tied on F1 (1.0 is common on small validation sets): the saved tie-break must
    // survive a resume, or a later tied epoch with a higher loss would replace the kept one.
    let (streams, tmp, base, full, ckpt) = interrupted_run(&dir, Monitor::F1, "monitor");
    let as_loss = TrainOptions {
        checkpoint: Some(ckpt.clone()),
        resume: true,
        monitor: Monitor::Loss,
        ..base.clone()
    };
    let err = train(streams.clone(), &as_loss)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("made by another run") && err.contains("monitored_loss"),
        "{err}"
    );
    resume_matches(streams, &base, ckpt, &full);
    std::fs::remove_dir_all(&tmp).ok();
}

/// Two C3 sessions (an empty room and a movement capture each): one trains, one validates.
const C3_TWO_SESSIONS: [&str; 4] = [
    "baseline/baseline_c3_64sc_20260329_130303.npz",
    "movement/movement_c3_64sc_20260329_130321.npz",
    "baseline/baseline_c3_64sc_20260329_130411.npz",
    "movement/movement_c3_64sc_20260329_130429.npz",
];

/// A short run on [`C3_TWO_SESSIONS`] and the same run stopped after two of its four epochs:
/// the streams, a fresh folder (named by `tag`) holding the stopped run's checkpoint, the run's
/// options, the run uninterrupted, and the checkpoint's path.
fn interrupted_run(
    dir: &std::path::Path,
    monitor: Monitor,
    tag: &str,
) -> (
    Vec<aether_train::data::Stream>,
    PathBuf,
    TrainOptions,
    aether_train::train::Trained,
    PathBuf,
) {
    let streams = captures(dir, &C3_TWO_SESSIONS);
    let tmp = std::env::temp_dir().join(format!("aether-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let base = TrainOptions {
        window: 32,
        hop: 32,
        epochs: 4,
        patience: 10,
        monitor,
        ..TrainOptions::default()
    };
    let full = train(streams.clone(), &base).unwrap();
    let ckpt = tmp.join("c.safetensors");
    let first = TrainOptions {
        checkpoint: Some(ckpt.clone()),
        stop_after: Some(2),
        ..base.clone()
    };
    let part = train(streams.clone(), &first).unwrap();
    assert_eq!(part.history.len(), 2);
    (streams, tmp, base, full, ckpt)
}

/// Resumes the run `base` checkpointed at `ckpt` and checks it ends exactly as `full`, the
/// same run uninterrupted: history, kept epoch and weights.
fn resume_matches(
    streams: Vec<aether_train::data::Stream>,
    base: &TrainOptions,
    ckpt: PathBuf,
    full: &aether_train::train::Trained,
) {
    let second = TrainOptions {
        checkpoint: Some(ckpt),
        resume: true,
        ..base.clone()
    };
    let resumed = train(streams, &second).unwrap();
    assert_eq!(resumed.history, full.history);
    assert_eq!(resumed.best_epoch, full.best_epoch);
    assert_eq!(
        resumed.net.param_values().unwrap(),
        full.net.param_values().unwrap()
    );
}

/// Streams of the named captures under `dir`.
fn captures(dir: &std::path::Path, names: &[&str]) -> Vec<aether_train::data::Stream> {
    let files: Vec<PathBuf> = names.iter().map(|f| dir.join(f)).collect();
    load_streams(&files, &LabelSource::default()).unwrap()
}

/// `features` switches the other features off: the exported head's output does not move when
/// they change.
#[test]
fn switched_off_features_do_not_reach_the_output() {
    let Some(dir) = espectre_dir() else { return };
    let streams = captures(
        &dir,
        &[
            "baseline/baseline_c5_64sc_20260329_124440.npz",
            "movement/movement_c5_64sc_20260329_124504.npz",
            "baseline/baseline_c5_64sc_20260310_233856.npz",
            "movement/movement_c5_64sc_20260310_233928.npz",
        ],
    );
    let opts = TrainOptions {
        window: 32,
        hop: 32,
        epochs: 2,
        features: Some(vec![14, 18]),
        ..TrainOptions::default()
    };
    let t = train(streams, &opts).unwrap();
    let head =
        aether_model::TemporalHead::from_bytes(&t.to_rvne_v2(&opts, TensorDtype::F32).unwrap())
            .unwrap();
    let mut scratch = aether_model::HeadScratch::for_head(&head, 32).unwrap();
    // The head reads the first `dims` of the features each frame keeps.
    let dims = opts.feature_set.dims();
    let mut window: Vec<f32> = t.prep.streams[0].features[..32]
        .iter()
        .flat_map(|f| f[..dims].iter().copied())
        .collect();
    let mut a = vec![0f32; 2];
    head.classify(&window, &mut a, &mut scratch).unwrap();
    for (i, v) in window.iter_mut().enumerate() {
        if i % dims != 14 && i % dims != 18 {
            *v = *v * 3.0 + 7.0;
        }
    }
    let mut b = vec![0f32; 2];
    head.classify(&window, &mut b, &mut scratch).unwrap();
    assert_eq!(a, b);
    // And the used ones do matter.
    for v in window.iter_mut().skip(18).step_by(dims) {
        *v += 0.5;
    }
    head.classify(&window, &mut b, &mut scratch).unwrap();
    assert_ne!(a, b);
}

/// `feature_set: Csi16` trains a set-1 head: 16 inputs, `feature_set` 1 in the file, and the
/// device model on the first 16 features of each frame gives the trainer's probabilities.
#[test]
fn a_set_1_head_reads_the_first_16_features() {
    let Some(dir) = espectre_dir() else { return };
    let streams = captures(
        &dir,
        &[
            "baseline/baseline_c3_64sc_20260329_130303.npz",
            "movement/movement_c3_64sc_20260329_130321.npz",
            "baseline/baseline_c5_64sc_20260329_124440.npz",
            "movement/movement_c5_64sc_20260329_124504.npz",
        ],
    );
    let opts = TrainOptions {
        window: 32,
        hop: 32,
        epochs: 1,
        feature_set: aether_csi::FeatureSet::Csi16,
        split_by: SplitBy::Recording,
        ..TrainOptions::default()
    };
    let t = train(streams, &opts).unwrap();
    let bytes = t.to_rvne_v2(&opts, TensorDtype::F32).unwrap();
    let head = aether_model::TemporalHead::from_bytes(&bytes).unwrap();
    assert_eq!(head.spec().input_dim, aether_csi::CSI16_DIMS);
    assert_eq!(head.spec().feature_set, 1);
    // A node reference over all 22 kept features calibrates it (its first 16 are used).
    let (m, sd) = aether_train::eval::reference_of(&t.prep.streams[..1]).unwrap();
    assert_eq!(m.len(), aether_csi::CSI22_DIMS);
    let calibrated = aether_train::model::with_calibration(&bytes, &m, &sd).unwrap();
    let c = aether_model::TemporalHead::from_bytes(&calibrated).unwrap();
    assert_eq!(c.spec().input_dim, aether_csi::CSI16_DIMS);
    let (im, is) = t
        .prep
        .idle_ref
        .clone()
        .expect("training empty-room statistics");
    assert_eq!(im.len(), aether_csi::CSI16_DIMS);
    let want = aether_train::model::fold_reference(&m[..16], &sd[..16], &im, &is).unwrap();
    assert_eq!(load_rvne_v2(&calibrated).unwrap().meta.calib, Some(want));
    // A reference shorter than the head's input is refused, as is exporting the set-1 head
    // under set 3's options.
    assert!(aether_train::model::with_calibration(&bytes, &m[..9], &sd[..9]).is_err());
    assert!(t
        .to_rvne_v2(&TrainOptions::default(), TensorDtype::F32)
        .is_err());
    let window: Vec<f32> = t.prep.streams[1].features[..32]
        .iter()
        .flat_map(|f| f[..aether_csi::CSI16_DIMS].iter().copied())
        .collect();
    let mut logits = vec![0f32; 2];
    let mut scratch = aether_model::HeadScratch::for_head(&head, 32).unwrap();
    head.classify(&window, &mut logits, &mut scratch).unwrap();
    let w = aether_train::data::Window {
        stream: 1,
        start: 0,
        label: String::new(),
    };
    let p = aether_train::train::predict(&t.net, &t.prep.inputs, &[w], 32, 1).unwrap();
    let m = logits[0].max(logits[1]);
    let z = (logits[0] - m).exp() + (logits[1] - m).exp();
    for (k, pk) in p[0].iter().enumerate() {
        assert!(
            ((logits[k] - m).exp() / z - pk).abs() < 1e-4,
            "{logits:?} vs {p:?}"
        );
    }
}

/// A run without validation windows keeps NaN validation figures; its checkpoint (JSON has no
/// NaN) still resumes, to the uninterrupted run's training losses.
#[test]
fn a_run_without_validation_resumes() {
    let Some(dir) = espectre_dir() else { return };
    let files: Vec<PathBuf> = [
        "baseline/baseline_c5_64sc_20260310_233856.npz",
        "movement/movement_c5_64sc_20260310_233928.npz",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let streams = load_streams(&files, &LabelSource::default()).unwrap();
    let tmp = std::env::temp_dir().join(format!("aether-resume-noval-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let base = TrainOptions {
        window: 32,
        hop: 32,
        epochs: 3,
        val_fraction: 0.0,
        ..TrainOptions::default()
    };
    let full = train(streams.clone(), &base).unwrap();
    assert_eq!(full.val_windows, 0);
    assert!(full.history.iter().all(|h| h.val_loss.is_nan()));
    let ckpt = tmp.join("c.safetensors");
    let part = train(
        streams.clone(),
        &TrainOptions {
            checkpoint: Some(ckpt.clone()),
            stop_after: Some(1),
            ..base.clone()
        },
    )
    .unwrap();
    assert_eq!(part.history.len(), 1);
    let resumed = train(
        streams,
        &TrainOptions {
            checkpoint: Some(ckpt),
            resume: true,
            ..base
        },
    )
    .unwrap();
    let losses = |t: &aether_train::train::Trained| -> Vec<f64> {
        t.history.iter().map(|h| h.train_loss).collect()
    };
    assert_eq!(losses(&resumed), losses(&full));
    std::fs::remove_dir_all(tmp).unwrap();
}

/// Training here must repeat bit for bit: the workspace's `.cargo/config.toml` gives test
/// processes one candle thread (`RAYON_NUM_THREADS=1`); run through cargo, or set it.
fn one_candle_thread() {
    assert_eq!(
        std::env::var("RAYON_NUM_THREADS").as_deref(),
        Ok("1"),
        "RAYON_NUM_THREADS must be 1 (cargo sets it from .cargo/config.toml)"
    );
}

//! `aether eval --model M --data PATH... [--json]`: accuracy, macro F1, per-class scores,
//! false-positive rate and false alarms per hour on the idle class, confusion matrix (JSON and
//! `--png`). Zero-shot, and calibrated when the model carries a node reference or
//! `--calibrate-sessions` takes one per session from the data.

use std::path::PathBuf;

use aether_train::data::WindowLabels;
use aether_train::eval::{ScoredWindow, Scorer};
use aether_train::metrics::{EventScores, Report};
use aether_train::model::load_rvne_v2;
use anyhow::Context;
use serde_json::json;

use crate::train::DataArgs;

#[derive(clap::Args)]
pub struct Args {
    /// RVNE v2 model written by `aether train` (or `aether calibrate`).
    #[arg(long)]
    model: PathBuf,
    /// Recordings: files or folders (searched recursively).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    data_args: DataArgs,
    /// Class counted as idle for fp_rate and false alarms (default baseline/empty/idle).
    #[arg(long)]
    idle_class: Option<String>,
    /// Also score calibrated per session from the data itself: each session's empty-room
    /// capture gives its first 5 s as that session's node reference (those seconds are not
    /// scored); recordings of sessions without one are left out and named. For heads trained
    /// with `--reference`.
    #[arg(long)]
    calibrate_sessions: bool,
    /// Cut truth windows and episodes by this rule instead of the one stored in the model
    /// (`NAME` or `NAME:FRAMES`, as `train --events`), to score heads trained under different
    /// rules on the same windows. Names must be classes of the model.
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// With --events: frames of an event class that make a window that event (default 16,
    /// train's, so the same flags give the same rule).
    #[arg(long, requires = "events")]
    event_min_frames: Option<usize>,
    /// Confusion matrix PNG to write.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Every scored window of the headline report (calibrated when there is one) to this file
    /// as JSON Lines, for error analysis: file, node_id, start_s and t_s (its first and last
    /// frame, seconds from the recording's start; t_s as `run` prints), truth, truth_frames
    /// (frames of the window labelled truth: for an event window, how much of the event it
    /// holds), class, probs, and fused_class, fused_probs, fused_nodes (null when no recording
    /// holds several nodes; else fused_nodes names the nodes averaged, the window's own alone
    /// when no other node's decision is recent enough).
    #[arg(long)]
    windows: Option<PathBuf>,
    /// Threads to score on (batches of windows spread over them; the scores do not change).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// One JSON object: accuracy, f1_macro, fp_rate, false_alarms_per_hour, per_class,
    /// confusion {classes, matrix}, per_node, fused (the same windows on decisions fused over
    /// each recording's nodes; null when every recording has one node), and the zero_shot /
    /// calibrated reports.
    #[arg(long)]
    json: bool,
}

fn report_json(r: &Report) -> serde_json::Value {
    json!({
        "windows": r.windows,
        "accuracy": r.accuracy,
        "f1_macro": r.f1_macro,
        "fp_rate": r.fp_rate,
        "false_alarms_per_hour": r.false_alarms_per_hour,
        "idle_class": r.idle_class,
        "idle_hours": r.idle_hours,
        "per_class": r.per_class,
        "confusion": r.confusion,
        "events": r.events,
        "per_node": r.per_node,
        "fused": r.fused.as_deref().map(report_json),
    })
}

/// The window labelling rule the truth windows were cut by: each event class with the frames
/// that make a window that event, and whether `--events` replaced the model's rule.
fn rule_json(rule: &WindowLabels, from_flags: bool) -> serde_json::Value {
    let min_frames: serde_json::Map<String, serde_json::Value> = rule
        .events
        .iter()
        .map(|e| (e.clone(), json!(rule.min_frames(e))))
        .collect();
    json!({"events": min_frames, "from_flags": from_flags})
}

fn print_report(title: &str, r: &Report) {
    println!("{title}: {} windows", r.windows);
    println!("  accuracy {:.4}  macro F1 {:.4}", r.accuracy, r.f1_macro);
    if r.per_node.len() > 1 {
        let nodes: Vec<String> = (r.per_node.iter())
            .map(|n| {
                format!(
                    "node {}: {:.4} / {:.4} ({} windows)",
                    n.node_id, n.accuracy, n.f1_macro, n.windows
                )
            })
            .collect();
        println!("  per node (accuracy / macro F1): {}", nodes.join(", "));
    }
    if let (Some(fp), Some(idle)) = (r.fp_rate, &r.idle_class) {
        println!(
            "  fp_rate {:.4} ({idle} windows predicted otherwise), false alarms/h {:.1} over {:.3} h",
            fp,
            r.false_alarms_per_hour.unwrap_or(0.0),
            r.idle_hours
        );
    }
    println!(
        "  {:>12} {:>8} {:>9} {:>7} {:>7}",
        "class", "support", "precision", "recall", "F1"
    );
    for c in &r.per_class {
        println!(
            "  {:>12} {:>8} {:>9.4} {:>7.4} {:>7.4}",
            c.class, c.support, c.precision, c.recall, c.f1
        );
    }
    println!(
        "  confusion (rows truth, columns prediction): {:?}",
        r.confusion.classes
    );
    for (name, row) in r.confusion.classes.iter().zip(&r.confusion.matrix) {
        println!("  {name:>12} {row:?}");
    }
    let or_na = |x: Option<f64>, digits: usize| x.map_or("n/a".into(), |v| format!("{v:.digits$}"));
    // Time to detection, when something was detected.
    let latency = |e: &EventScores| match (e.latency_median_s, e.latency_p90_s) {
        (Some(m), Some(p)) => format!("; latency median {m:.2} s, p90 {p:.2} s"),
        _ => String::new(),
    };
    for e in &r.events {
        println!(
            "  event {}: {} of {} episodes detected (recall {}{}), {} false alarms ({}/h, per \
             node-hour of other classes)",
            e.class,
            e.detected,
            e.episodes,
            or_na(e.recall, 4),
            latency(e),
            e.false_alarms,
            or_na(e.false_alarms_per_hour, 1)
        );
        if e.unscored_episodes > 0 {
            println!(
                "    {} more {} episode(s) had no scored window (shorter than the labelling \
                 rule's minimum at this frame rate): not in the recall",
                e.unscored_episodes, e.class
            );
        }
    }
    if let Some(f) = &r.fused {
        println!(
            "  fused over each recording's nodes (mean class probabilities of windows ending \
             within 1.5 hops): accuracy {:.4}  macro F1 {:.4}",
            f.accuracy, f.f1_macro
        );
        let recalls: Vec<String> = (f.per_class.iter())
            .map(|c| format!("{} {:.4}", c.class, c.recall))
            .collect();
        println!("    recall: {}", recalls.join(", "));
        if let (Some(fp), Some(idle)) = (f.fp_rate, &f.idle_class) {
            println!(
                "    fp_rate {fp:.4} ({idle} windows predicted otherwise), false alarms/h {:.1}",
                f.false_alarms_per_hour.unwrap_or(0.0)
            );
        }
        for e in &f.events {
            println!(
                "    event {}: {} of {} episodes detected (recall {}{}), {} false alarms",
                e.class,
                e.detected,
                e.episodes,
                or_na(e.recall, 4),
                latency(e),
                e.false_alarms
            );
        }
    }
}

/// `--windows`: one JSON object per scored window.
fn windows_jsonl(classes: &[String], windows: &[ScoredWindow]) -> anyhow::Result<String> {
    let named = |p: &[f32]| -> serde_json::Map<String, serde_json::Value> {
        (classes.iter().zip(p))
            .map(|(c, &x)| (c.clone(), json!(x)))
            .collect()
    };
    let mut text = String::new();
    for w in windows {
        let f = w.fused.as_ref();
        let line = json!({
            "file": w.file.display().to_string(),
            "node_id": w.node_id,
            "start_s": w.start_s,
            "t_s": w.t_s,
            "truth": classes[w.truth],
            "truth_frames": w.truth_frames,
            "class": classes[w.pred],
            "probs": named(&w.probs),
            "fused_class": f.map(|f| classes[f.pred].clone()),
            "fused_probs": f.map(|f| named(&f.probs)),
            "fused_nodes": f.map(|f| f.nodes.clone()),
        });
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    Ok(text)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::train::single_thread();
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let head = load_rvne_v2(&bytes).with_context(|| args.model.display().to_string())?;
    anyhow::ensure!(args.threads > 0, "--threads must be positive");
    let mut scorer = Scorer::from_loaded(&head)?;
    scorer.threads = args.threads;
    let idle = scorer.idle(args.idle_class.as_deref())?;
    if !args.events.is_empty() {
        let rule = crate::train::window_labels(
            &args.events,
            args.event_min_frames
                .unwrap_or(crate::train::EVENT_MIN_FRAMES),
            scorer.window,
            "the model's window",
        )?;
        if let Some(e) = rule.events.iter().find(|e| !scorer.classes.contains(e)) {
            anyhow::bail!(
                "--events {e:?} is not a class of the model ({:?})",
                scorer.classes
            );
        }
        scorer.window_labels = rule;
    }
    let streams = args.data_args.load(&args.data)?;
    if let (Some(png), Some(windows)) = (&args.png, &args.windows) {
        anyhow::ensure!(
            png != windows,
            "--png and --windows name the same file ({}): one would overwrite the other",
            png.display()
        );
    }
    for (flag, out) in [("--png", &args.png), ("--windows", &args.windows)] {
        if let Some(out) = out {
            (args.data_args).refuse_as_output(flag, out, &streams, [args.model.as_path()])?;
        }
    }
    let mut left_out = Vec::new();
    let calibrated = if args.calibrate_sessions {
        let (report, windows, dropped) = scorer.score_sessions(streams.clone(), idle)?;
        left_out = dropped;
        Some((report, windows))
    } else {
        match &scorer.calib {
            Some(_) => Some(scorer.score_windows(streams.clone(), None, idle)?),
            None => None,
        }
    };
    scorer.calib = None;
    let (zero_shot, zero_shot_windows) = scorer.score_windows(streams, None, idle)?;
    if let Some(out) = &args.windows {
        let windows = calibrated.as_ref().map_or(&zero_shot_windows, |(_, w)| w);
        let text = windows_jsonl(&scorer.classes, windows)?;
        aether_io::atomic::write_atomic(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let calibrated = calibrated.map(|(r, _)| r);
    let zero_shot = Some(zero_shot);
    let primary = calibrated
        .as_ref()
        .or(zero_shot.as_ref())
        .context("no report")?;
    if let Some(png) = &args.png {
        aether_train::plot::confusion_png(png, &primary.confusion)?;
    }
    if args.json {
        let mut v = report_json(primary);
        v["model"] = json!(args.model.display().to_string());
        v["window_rule"] = rule_json(&scorer.window_labels, !args.events.is_empty());
        v["mode"] = json!(if calibrated.is_some() {
            "calibrated"
        } else {
            "zero_shot"
        });
        v["zero_shot"] = zero_shot
            .as_ref()
            .map(report_json)
            .unwrap_or(serde_json::Value::Null);
        v["calibrated"] = calibrated
            .as_ref()
            .map(report_json)
            .unwrap_or(serde_json::Value::Null);
        if args.calibrate_sessions {
            v["calibration_left_out"] = json!(left_out);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if !args.events.is_empty() {
            println!("truth windows cut by --events, not the model's rule");
        }
        if let Some(r) = &zero_shot {
            print_report("zero-shot", r);
        }
        if let Some(r) = &calibrated {
            if args.calibrate_sessions {
                print_report("calibrated (each session's first 5 s of empty room)", r);
                if !left_out.is_empty() {
                    println!("  left out (no empty-room capture in their session): {left_out:?}");
                }
            } else {
                print_report("calibrated (node reference in the model)", r);
            }
        }
        if let Some(png) = &args.png {
            println!("confusion matrix: {}", png.display());
        }
    }
    Ok(())
}

//! `aether tune --model M --data PATH... --class C --recall R --out M2`: sets a class's
//! operating point. On held-out recordings it finds the logit bias that puts the class's
//! per-window recall at R (raising it, or trading a surplus for fewer calls of the class on
//! other windows) and writes a copy of the model with that bias folded into `head.bias`, so
//! `eval`, `run` and the device library all decide with it.

use std::path::PathBuf;

use aether_train::eval::{
    bias_effect, bias_for_recall, BiasEffect, Decisions, Scorer, MAX_CLASS_BIAS,
};
use aether_train::model::{class_bias_key, load_rvne_v2, with_class_bias};
use anyhow::Context;
use serde_json::json;

use crate::train::DataArgs;

#[derive(clap::Args)]
pub struct Args {
    /// RVNE v2 class head (from `aether train`, `aether calibrate` or an earlier `tune`).
    #[arg(long)]
    model: PathBuf,
    /// Held-out recordings to set the operating point on (files or folders, searched
    /// recursively): not the ones the head was trained on, nor the ones it will be scored on.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    data_args: DataArgs,
    /// The class whose recall is set (e.g. fall).
    #[arg(long)]
    class: String,
    /// The per-window recall to reach on the data, in (0, 1].
    #[arg(long)]
    recall: f64,
    /// Set the recall of the decisions fused over each recording's nodes (`eval`'s `fused`
    /// report, `run --fuse`) instead of each node's own; the bias still goes into the head,
    /// so every node's probabilities move before they are averaged. Needs at least one
    /// recording with several nodes (the others' windows decide alone, as in `eval`). The
    /// recall holds where decisions are fused; a node deciding alone gets the same bias and
    /// its own, usually lower, recall.
    #[arg(long)]
    fused: bool,
    /// Score each session referenced to its own empty-room capture (its first 5 s), as
    /// `eval --calibrate-sessions`: for heads trained with `--reference`.
    #[arg(long)]
    calibrate_sessions: bool,
    /// The empty-room class for --calibrate-sessions (default baseline/empty/idle).
    #[arg(long)]
    idle_class: Option<String>,
    /// Threads to score on (the scores do not change).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where the tuned model is written (atomically; it may be --model itself).
    #[arg(long)]
    out: PathBuf,
    /// One JSON object: class, target_recall, decisions ("node" or "fused"), bias (this
    /// call's), total_bias (all tune calls on this class), windows, before / after {recall,
    /// other_called_it, accuracy} (of those decisions), out, and
    /// with --calibrate-sessions calibration_left_out (recordings of sessions without an
    /// empty-room capture).
    #[arg(long)]
    json: bool,
}

fn effect_json(e: &BiasEffect) -> serde_json::Value {
    json!({
        "recall": e.recall,
        "other_called_it": e.other_called_it,
        "accuracy": e.accuracy,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::train::single_thread();
    anyhow::ensure!(args.threads > 0, "--threads must be positive");
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let head = load_rvne_v2(&bytes).with_context(|| args.model.display().to_string())?;
    let mut scorer = Scorer::from_loaded(&head)?;
    scorer.threads = args.threads;
    let class = (scorer.classes.iter().position(|c| *c == args.class)).with_context(|| {
        format!(
            "--class {:?} is not one of the model's classes {:?}",
            args.class, scorer.classes
        )
    })?;
    anyhow::ensure!(
        args.recall > 0.0 && args.recall <= 1.0,
        "--recall {} must be in (0, 1]",
        args.recall
    );
    let streams = args.data_args.load(&args.data)?;
    // The model itself may be replaced in place (the write is atomic); the data may not.
    (args.data_args).refuse_as_output("--out", &args.out, &streams, [])?;
    let idle = scorer.idle(args.idle_class.as_deref())?;
    let mut left_out = Vec::new();
    let (_, windows) = if args.calibrate_sessions {
        let (report, windows, dropped) = scorer.score_sessions(streams, idle)?;
        left_out = dropped;
        if !left_out.is_empty() {
            eprintln!("note: left out (no empty-room capture in their session): {left_out:?}");
        }
        (report, windows)
    } else {
        anyhow::ensure!(
            !head.meta.needs_reference || scorer.calib.is_some(),
            "the head was trained on referenced frames and carries no node reference: give \
             --calibrate-sessions (or tune a model `aether calibrate` wrote)"
        );
        scorer.score_windows(streams, None, idle)?
    };
    let decisions = if args.fused {
        anyhow::ensure!(
            windows.iter().all(|w| w.fused.is_some()),
            "--fused: no recording of the data holds more than one node, so there are no fused \
             decisions to set the recall of"
        );
        Decisions::Fused
    } else {
        Decisions::Node
    };
    let bias = bias_for_recall(&windows, class, args.recall, decisions)
        .with_context(|| format!("--class {} --recall {}", args.class, args.recall))?;
    let (before, after) = (
        bias_effect(&windows, class, 0.0, decisions)?,
        bias_effect(&windows, class, bias, decisions)?,
    );
    let tuned = with_class_bias(&bytes, &args.class, bias as f32)?;
    let total = aether_rvne::v2::RvneV2View::parse(&tuned)
        .ok()
        .and_then(|v| v.meta_f32(&class_bias_key(&args.class)))
        .context("the tuned file lost its bias record")?;
    anyhow::ensure!(
        f64::from(total).abs() <= MAX_CLASS_BIAS,
        "with this call's {bias:+.3} the model's {} bias would total {total:+.3}, beyond the \
         {MAX_CLASS_BIAS} allowed",
        args.class
    );
    aether_io::atomic::write_atomic(&args.out, &tuned)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        let mut v = json!({
            "class": args.class,
            "target_recall": args.recall,
            "decisions": if args.fused { "fused" } else { "node" },
            "bias": bias,
            "total_bias": total,
            "windows": before.windows,
            "before": effect_json(&before),
            "after": effect_json(&after),
            "out": args.out.display().to_string(),
        });
        if args.calibrate_sessions {
            v["calibration_left_out"] = json!(left_out);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: logit bias {bias:+.3} (e^bias = {:.2}x; {total:+.3} in all) on {} windows of \
             the class ({} decisions)",
            args.class,
            bias.exp(),
            before.windows,
            if args.fused {
                "fused"
            } else {
                "each node's own"
            }
        );
        for (name, e) in [("before", &before), ("after", &after)] {
            println!(
                "  {name:>6}: recall {:.4}, other windows called {} {:.4}, accuracy {:.4}",
                e.recall, args.class, e.other_called_it, e.accuracy
            );
        }
        println!("written to {}", args.out.display());
    }
    Ok(())
}

//! `aether gate --data PATH... [--json]`: the ADR-096 §5 gate. Trains a sparse and a dense
//! embedding head with the same budget on the same data and reports the four gates
//! (contrastive loss within 1 %, rank-1 re-identification within 1 point, Spearman >= 0.95
//! between the top-50 neighbour orderings, latency >= 5x at the deployed window).

use std::path::PathBuf;

use aether_train::gate::run_gate;
use aether_train::train::{SplitBy, TrainOptions};

use crate::train::DataArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Recordings: files or folders (searched recursively); labels are not needed.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    data_args: DataArgs,
    /// Training budget for each head.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Frames per training window.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Frames between training windows.
    #[arg(long, default_value_t = 16)]
    hop: usize,
    /// Embedding dimension of both heads.
    #[arg(long, default_value_t = 32)]
    embed_dim: usize,
    /// Window (frames) at which latency is compared; default: --window, the window the heads
    /// are trained on and so the one they deploy at (the firmware refuses another). A
    /// different value times the same weights at a window they were not trained on.
    #[arg(long)]
    deployed_window: Option<usize>,
    /// What keeps train and held-out windows apart: chip, session or recording.
    #[arg(long, default_value = "session")]
    split_by: String,
    /// Seed of both heads' training (decimal or 0x-prefixed hex).
    #[arg(long, value_parser = crate::seed::parse_seed, default_value = "0xAE7E5")]
    seed: u64,
    /// One JSON object: the four gates, each with sparse/dense values, threshold and pass.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<crate::Verdict> {
    crate::train::single_thread();
    let deployed_window = args.deployed_window.unwrap_or(args.window);
    anyhow::ensure!(
        args.window > 0 && args.hop > 0 && deployed_window > 0 && args.epochs > 0,
        "--window, --hop, --deployed-window and --epochs must be positive"
    );
    anyhow::ensure!(
        deployed_window <= 1 << 16,
        "--deployed-window {} is above 65,536 frames (the dense reference is quadratic)",
        deployed_window
    );
    if deployed_window != args.window {
        eprintln!(
            "note: latency is timed at {deployed_window} frames, the heads are trained on \
             {}: a what-if, not the deployed checkpoint (the firmware runs a head at its \
             training window)",
            args.window
        );
    }
    let streams = args.data_args.load(&args.data)?;
    let opts = TrainOptions {
        window: args.window,
        hop: args.hop,
        epochs: args.epochs,
        patience: args.epochs,
        seed: args.seed,
        split_by: SplitBy::parse(&args.split_by)?,
        ..TrainOptions::default()
    };
    let r = run_gate(streams, &opts, args.embed_dim, deployed_window)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} held-out windows, top-{} neighbours, latency at {} frames; trained {}+{} epochs in {:.1} s",
            r.held_out_windows, r.neighbours, r.deployed_window, r.epochs_sparse, r.epochs_dense, r.train_seconds
        );
        println!(
            "{:<30} {:>12} {:>12} {:>10} {:>10}  result",
            "gate", "sparse", "dense", "value", "threshold"
        );
        for g in &r.gates {
            let [sparse, dense, value, threshold] = gate_cells(g);
            println!(
                "{:<30} {sparse:>12} {dense:>12} {value:>10} {threshold:>10}  {}",
                g.name,
                if g.pass { "PASS" } else { "FAIL" }
            );
        }
        println!(
            "informational: InfoNCE term {:.4} / {:.4} (sparse / dense); top-{} overlap {:.3}",
            r.info_nce.0, r.info_nce.1, r.neighbours, r.topk_overlap
        );
        println!("all gates: {}", if r.all_pass { "PASS" } else { "FAIL" });
    }
    Ok(if r.all_pass {
        crate::Verdict::Pass
    } else {
        crate::Verdict::Fail
    })
}

/// A gate's table cells with their units: each head's measure, then the compared value and the
/// threshold in the gate's own unit (a relative difference in %, rank-1 in points, ρ, a
/// speed-up); `-` where a gate has no per-head measure (ρ compares the two heads).
fn gate_cells(g: &aether_train::gate::Gate) -> [String; 4] {
    let num = |x: f64, unit: &str, digits: usize| {
        if x.is_finite() {
            format!("{x:.digits$}{unit}")
        } else {
            "-".to_string()
        }
    };
    match g.name {
        "contrastive_loss_within_1pct" => [
            num(g.sparse, "", 4),
            num(g.dense, "", 4),
            num(100.0 * g.value, " %", 2),
            num(100.0 * g.threshold, " %", 0),
        ],
        "rank1_within_1_point" => [
            num(100.0 * g.sparse, " %", 2),
            num(100.0 * g.dense, " %", 2),
            num(g.value, " pt", 2),
            num(g.threshold, " pt", 0),
        ],
        "latency_speedup_5x" => [
            num(g.sparse, " us", 0),
            num(g.dense, " us", 0),
            num(g.value, "x", 2),
            num(g.threshold, "x", 0),
        ],
        _ => [
            num(g.sparse, "", 4),
            num(g.dense, "", 4),
            num(g.value, "", 4),
            num(g.threshold, "", 2),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::gate_cells;
    use aether_train::gate::Gate;

    #[test]
    fn gate_cells_carry_units_and_no_nan() {
        let gate = |name, sparse, dense, value, threshold| Gate {
            name,
            sparse,
            dense,
            value,
            threshold,
            pass: true,
        };
        let rank = gate_cells(&gate("rank1_within_1_point", 0.9894, 0.9894, 0.0, 1.0));
        assert_eq!(rank, ["98.94 %", "98.94 %", "0.00 pt", "1 pt"]);
        let rho = gate_cells(&gate("spearman_top50", f64::NAN, f64::NAN, 0.979, 0.95));
        assert_eq!(rho, ["-", "-", "0.9790", "0.95"]);
        let loss = gate_cells(&gate(
            "contrastive_loss_within_1pct",
            2.5,
            2.49,
            0.004,
            0.01,
        ));
        assert_eq!(loss[2..], ["0.40 %".to_string(), "1 %".to_string()]);
        let lat = gate_cells(&gate("latency_speedup_5x", 1319.0, 2425.0, 1.84, 5.0));
        assert_eq!(lat, ["1319 us", "2425 us", "1.84x", "5x"]);
    }
}

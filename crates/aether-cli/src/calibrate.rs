//! `aether calibrate --model M --data FILE [--span A-B] [--node ID] --out M2`: stores one
//! node's empty-room reference (per-feature mean/std of >= 5 s of frames) in the model file as
//! `calib.mean` / `calib.std`.

use std::path::PathBuf;

use aether_train::eval::reference_of;
use aether_train::model::with_calibration;
use anyhow::Context;
use serde_json::json;

use crate::train::DataArgs;

#[derive(clap::Args)]
pub struct Args {
    /// RVNE v2 model.
    #[arg(long)]
    model: PathBuf,
    /// An empty-room recording of the node.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    data_args: DataArgs,
    /// Node id, when the recording holds several nodes.
    #[arg(long)]
    node: Option<u8>,
    /// Model file to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut streams = args.data_args.load(std::slice::from_ref(&args.data))?;
    if let Some(n) = args.node {
        streams.retain(|s| s.node_id == n);
        anyhow::ensure!(!streams.is_empty(), "no frames from node {n}");
    }
    let nodes: Vec<u8> = streams.iter().map(|s| s.node_id).collect();
    anyhow::ensure!(
        nodes.len() == 1,
        "{} holds nodes {nodes:?}: pick one with --node",
        args.data.display()
    );
    let (mean, std) = reference_of(&streams)?;
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let out = with_calibration(&bytes, &mean, &std)?;
    aether_io::atomic::write_atomic(&args.out, &out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let s = &streams[0];
    let seconds = s.t_s.last().unwrap_or(&0.0) - s.t_s.first().unwrap_or(&0.0);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "out": args.out.display().to_string(),
                "node_id": s.node_id,
                "frames": s.features.len(),
                "seconds": seconds,
                "calib_mean": mean,
                "calib_std": std,
            }))?
        );
    } else {
        println!(
            "wrote {}: node {} reference from {} frames ({seconds:.1} s)",
            args.out.display(),
            s.node_id,
            s.features.len()
        );
    }
    Ok(())
}

//! `aether calibrate --model M --data FILE [--span A-B] [--node ID] --out M2`: stores one
//! node's empty-room reference (per-feature mean/std of >= 5 s of frames) in the model file as
//! `calib.mean` / `calib.std`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aether_train::eval::reference_of;
use aether_train::metrics::default_idle_class;
use aether_train::model::{load_rvne_v2, with_calibration};
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
    /// The model's empty-room class (default: one named baseline, empty or idle): frames
    /// labelled with any other class are refused as a reference.
    #[arg(long)]
    idle_class: Option<String>,
    /// Where the calibrated model is written (atomically).
    #[arg(long)]
    out: PathBuf,
    /// One JSON object describing the reference that was stored.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let head = load_rvne_v2(&bytes).with_context(|| args.model.display().to_string())?;
    let mut streams = args.data_args.load(std::slice::from_ref(&args.data))?;
    // The model itself may be replaced in place (the write is atomic); the data may not.
    (args.data_args).refuse_as_output("--out", &args.out, &streams, [])?;
    let files: BTreeSet<&PathBuf> = streams.iter().map(|s| &s.path).collect();
    anyhow::ensure!(
        files.len() == 1,
        "{} holds {} recordings: calibrate takes one empty-room recording of one node",
        args.data.display(),
        files.len()
    );
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
    // A reference taken while someone moves would make the room's motion its "empty" level.
    let names = &head.meta.class_names;
    let idle = match &args.idle_class {
        Some(c) => Some(names.iter().position(|n| n == c).with_context(|| {
            format!("--idle-class {c:?} is not one of the model's classes {names:?}")
        })?),
        None => default_idle_class(names),
    };
    if let Some(idle) = idle.map(|i| &names[i]) {
        let mut other: BTreeMap<&str, usize> = BTreeMap::new();
        for l in streams[0].labels.iter().flatten().filter(|l| *l != idle) {
            *other.entry(l.as_str()).or_default() += 1;
        }
        anyhow::ensure!(
            other.is_empty(),
            "{}: a reference must be an empty-room capture, but frames are labelled {other:?} \
             (the model's empty-room class is {idle:?}); give an empty-room recording, or a \
             --span where the room is empty",
            args.data.display()
        );
    }
    let (mean, std) = reference_of(&streams)?;
    let out =
        with_calibration(&bytes, &mean, &std).with_context(|| args.model.display().to_string())?;
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

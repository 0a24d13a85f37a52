//! `aether features --input FILE [--json]`: the per-frame features of a recording, exactly as
//! training, eval and run see them (the shared extractor, each stream's settling frames dropped),
//! with each frame's time, node and label.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::train::{parse_feature_set, parse_features, DataArgs};

#[derive(clap::Args)]
pub struct Args {
    /// A recording (any supported format).
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    data_args: DataArgs,
    /// Feature set: `csi19` (set 3), `csi16` (set 1, the first 16 of set 3) or `csi22` (set 4,
    /// set 3 plus the temporal-band energies).
    #[arg(long, default_value = "csi19")]
    feature_set: String,
    /// Only these features, by name or index (e.g. `corr_ref,decorr_growth`).
    #[arg(long)]
    features: Option<String>,
    /// Print every Nth frame of each stream.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// One JSON object per frame and line: `t_s`, `node_id`, `label`, `features` (name → value).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let set = parse_feature_set(&args.feature_set)?;
    let names = set.names();
    let columns: Vec<usize> = match &args.features {
        Some(list) => parse_features(set, list)?,
        None => (0..names.len()).collect(),
    };
    let streams = args.data_args.load(std::slice::from_ref(&args.input))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !args.json {
        write!(out, "{:>10} {:>4} {:<12}", "t_s", "node", "label")?;
        for &c in &columns {
            write!(out, " {:>14}", names[c])?;
        }
        writeln!(out)?;
    }
    for s in &streams {
        let every = args.every as usize;
        for (i, ((t, frame), label)) in s.t_s.iter().zip(&s.features).zip(&s.labels).enumerate() {
            if i % every != 0 {
                continue;
            }
            let label = label.as_deref();
            if args.json {
                let features: Map<String, Value> = columns
                    .iter()
                    .map(|&c| (names[c].to_string(), json!(frame[c])))
                    .collect();
                let line = json!({
                    "t_s": t,
                    "node_id": s.node_id,
                    "label": label,
                    "features": features,
                });
                writeln!(out, "{line}")?;
            } else {
                write!(
                    out,
                    "{t:>10.3} {:>4} {:<12}",
                    s.node_id,
                    label.unwrap_or("-")
                )?;
                for &c in &columns {
                    write!(out, " {:>14.6}", frame[c])?;
                }
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

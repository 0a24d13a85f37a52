//! `aether inspect FILE`: describe a file, dispatching on its content (not its name).
//!
//! Model files (RVNE, magic bytes `45 4E 56 52`) go to [`crate::inspect_model`].
//! CSI recordings (RuView JSONL, ESPectre npz, ESP32-CSI-Tool / esp-csi CSV) go to
//! [`crate::inspect_recording`].

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};

#[derive(clap::Args)]
pub struct Args {
    /// The file to describe.
    file: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Sniff the first bytes only: recordings can be large and are streamed by their reader.
    let mut head = Vec::with_capacity(4);
    fs::File::open(&args.file)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .with_context(|| format!("reading {}", args.file.display()))?;
    if aether_rvne::is_rvne(&head) {
        let bytes =
            fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
        return crate::inspect_model::run(&args.file, &bytes, args.json);
    }
    if aether_io::recording::detect_format(&args.file).is_ok() {
        return crate::inspect_recording::run(&args.file, args.json);
    }
    if head.is_empty() {
        bail!("{}: empty file", args.file.display());
    }
    let head: Vec<String> = head.iter().map(|b| format!("{b:02X}")).collect();
    bail!(
        "{}: unrecognised file (starts with [{}]; an RVNE model starts with 45 4E 56 52; recordings are RuView JSONL, ESPectre npz, ESP32-CSI-Tool or esp-csi CSV)",
        args.file.display(),
        head.join(" ")
    )
}

//! `aether inspect FILE`: describe a file, dispatching on its content (not its name).
//!
//! Model files (RVNE, magic bytes `45 4E 56 52`) go to [`crate::inspect_model`].
//! Other kinds (recordings) add their own branch here.

use std::fs;
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
    let bytes = fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if aether_rvne::is_rvne(&bytes) {
        return crate::inspect_model::run(&args.file, &bytes, args.json);
    }
    let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02X}")).collect();
    bail!(
        "{}: unrecognised file (starts with [{}]; an RVNE model starts with 45 4E 56 52)",
        args.file.display(),
        head.join(" ")
    )
}

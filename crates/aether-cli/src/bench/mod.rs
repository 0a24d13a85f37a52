//! `aether bench ...`: speed measurements. Each prints medians and same-run ratios.

use clap::Subcommand;

mod head;
mod ingest;
mod kernel;
pub(crate) mod timing;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Sparse attention kernel: ours vs `ruvllm_sparse_attention` 0.1.1, side by side.
    Kernel(kernel::Args),
    /// Frames/s per core for parse -> features on the shared real recordings.
    Ingest(ingest::Args),
    /// Temporal head: full-window classify and streamed per-frame latency, sparse vs dense,
    /// f32 / f16 / int8 weights.
    Head(head::Args),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Kernel(args) => kernel::run(args),
        BenchCommand::Ingest(args) => ingest::run(args),
        BenchCommand::Head(args) => head::run(args),
    }
}

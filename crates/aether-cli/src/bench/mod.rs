//! `aether bench ...`: speed measurements. Each prints medians and same-run ratios.

use clap::Subcommand;

mod kernel;
pub(crate) mod timing;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Sparse attention kernel: ours vs `ruvllm_sparse_attention` 0.1.1, side by side.
    Kernel(kernel::Args),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Kernel(args) => kernel::run(args),
    }
}

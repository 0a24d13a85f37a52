//! `aether`: one command for every user-facing capability of the project.
//!
//! Each subcommand lives in its own module; `main` only parses and dispatches.

use clap::{Parser, Subcommand};

mod bench;
mod calibrate;
mod decode;
mod eval;
mod features;
mod gate;
mod init_random;
mod inspect;
mod inspect_model;
mod inspect_recording;
mod record;
mod replay;
mod run;
mod seed;
mod simulate;
mod train;
mod tune;

#[derive(Parser)]
#[command(
    name = "aether",
    version,
    about = "Learned temporal models on WiFi CSI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmarks (speed, measured against a comparison in the same run).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Store a node's empty-room reference (calib.mean/std) in a model file.
    Calibrate(calibrate::Args),
    /// Decode one datagram of the 0xC51100xx packet family given as hex.
    Decode(decode::DecodeArgs),
    /// Score a model on labelled recordings: accuracy, macro F1, per class, fp rate, confusion.
    Eval(eval::Args),
    /// Per-frame features of a recording, as training sees them (time, node, label, values).
    Features(features::Args),
    /// The sparse-vs-dense gate: two embedding heads, same budget, four gates (contrastive loss within 1 %, rank-1 within 1 point, Spearman of top-50 neighbours >= 0.95, latency >= 5x).
    Gate(gate::Args),
    /// Write the seed's deterministic v1 weight file (model_init.rvne).
    InitRandom(init_random::Args),
    /// Describe a file: model (RVNE v1/v2) header, tensors, CRC, parameter count; or a CSI
    /// recording: format, duration, nodes, packet types, subcarrier layouts, malformed lines.
    Inspect(inspect::Args),
    /// Receive the 0xC51100xx UDP packet family and write a RuView JSONL recording.
    Record(record::Args),
    /// Send a recording (any supported format) as 0xC5110001 datagrams at its own pace.
    Replay(replay::Args),
    /// Stream a recording, or live UDP from ESP32 nodes, through a model: one decision per hop per node.
    Run(run::Args),
    /// Labelled synthetic CSI from a multipath room model with ESP32 impairments.
    Simulate(simulate::Args),
    /// Train the temporal head on labelled recordings (RVNE v2 out), or a leave-one-out table.
    Train(Box<train::Args>),
    /// Set a class's operating point: the logit bias that puts its recall on held-out
    /// recordings at a target, folded into a copy of the model.
    Tune(tune::Args),
}

/// Exit status of a run that worked but whose verdict is "fail" (`aether gate`): distinct from
/// 1 (an error) and 2 (a usage error, clap's).
pub const EXIT_VERDICT_FAIL: u8 = 3;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(Verdict::Pass) => std::process::ExitCode::SUCCESS,
        Ok(Verdict::Fail) => std::process::ExitCode::from(EXIT_VERDICT_FAIL),
        Err(e) => {
            // One line with its causes, whatever RUST_BACKTRACE says: bad input is not a crash.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a subcommand that ran to the end concluded (only `gate` can say `Fail`).
pub enum Verdict {
    Pass,
    Fail,
}

fn run() -> anyhow::Result<Verdict> {
    // Rust ignores SIGPIPE, so `println!` into a closed pipe (`aether inspect F | head`)
    // panics; restore the default so the process ends quietly, as command-line tools do.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default is async-signal-safe and done
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let done = match cli.command {
        Command::Gate(args) => return gate::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Decode(args) => decode::run(args),
        Command::InitRandom(args) => init_random::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Record(args) => record::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Run(args) => run::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Features(args) => features::run(args),
        Command::Tune(args) => tune::run(args),
    };
    done.map(|()| Verdict::Pass)
}

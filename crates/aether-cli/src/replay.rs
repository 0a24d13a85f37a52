//! `aether replay FILE --to ADDR [--speed X]`: send a recording (any supported format) as
//! 0xC5110001 datagrams at its original pace.

use std::net::{ToSocketAddrs, UdpSocket};
use std::path::PathBuf;

use aether_io::live::{replay, ReplayOptions};
use aether_io::recording::RecordingReader;
use anyhow::Context;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Recording to send (RuView JSONL, ESPectre npz, ESP32-CSI-Tool or esp-csi CSV).
    file: PathBuf,
    /// Destination UDP address, e.g. 127.0.0.1:5005.
    #[arg(long)]
    to: String,
    /// Pace multiplier: 2 sends twice as fast as recorded; 0 sends as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    /// Longest wait between two frames, in recording seconds (a longer gap, such as a corrupt
    /// timestamp or a paused capture, is shortened to this).
    #[arg(long, default_value_t = ReplayOptions::MAX_GAP_S)]
    max_gap: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        anyhow::bail!(
            "--speed must be >= 0 (0 = as fast as possible), got {}",
            args.speed
        );
    }
    if !(args.max_gap.is_finite() && args.max_gap >= 0.0) {
        anyhow::bail!(
            "--max-gap must be a number of seconds >= 0, got {}",
            args.max_gap
        );
    }
    let to = args
        .to
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", args.to))?
        .next()
        .with_context(|| format!("{} resolves to no address", args.to))?;
    let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(bind).context("binding a sending socket")?;
    let reader = RecordingReader::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let format = reader.format();
    let opts = ReplayOptions {
        speed: args.speed,
        max_frames: args.max_frames,
        max_gap_s: args.max_gap,
    };
    let report = replay(reader, &socket, to, &opts)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "file": args.file.display().to_string(),
                "format": format.name(),
                "to": to.to_string(),
                "sent": report.sent,
                "bytes": report.bytes,
                "non_csi": report.non_csi,
                "malformed": report.malformed,
                "unencodable": report.unencodable,
                "span_s": report.span_s,
                "gaps_shortened": report.gaps_shortened,
            }))?
        );
    } else {
        println!(
            "{} ({}): sent {} CSI frames ({} bytes) to {to}, covering {:.3} s of recording; {} non-CSI records passed over, {} malformed, {} unencodable",
            args.file.display(),
            format,
            report.sent,
            report.bytes,
            report.span_s,
            report.non_csi,
            report.malformed,
            report.unencodable
        );
    }
    Ok(())
}

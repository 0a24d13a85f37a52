//! `aether record --listen ADDR --out FILE.jsonl`: receive the 0xC51100xx packet family from
//! any number of nodes over UDP and write a RuView JSONL recording.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_io::live::{record, RecordOptions};
use anyhow::Context;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// UDP address to listen on, e.g. 0.0.0.0:5005 (the firmware's default port).
    #[arg(long)]
    listen: String,
    /// Output recording (RuView JSONL); written atomically when recording stops.
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many seconds (otherwise Ctrl-C stops).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many datagrams, valid or not.
    #[arg(long)]
    max_packets: Option<u64>,
    /// Print the end-of-session report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::train::writable_file("--out", &args.out)?;
    let socket =
        UdpSocket::bind(&args.listen).with_context(|| format!("binding {}", args.listen))?;
    // Ctrl-C ends the session cleanly: the file is finished and renamed into place.
    let stop = stop_on_ctrl_c()?;
    let duration = duration_arg(args.duration)?;
    let opts = RecordOptions {
        duration,
        max_packets: args.max_packets,
        checkpoint_every: None,
    };
    // On stderr, so `--json` output stays clean; scripts can read the bound address here.
    eprintln!(
        "recording on {} -> {} ({}; until then in {}.{}.*.tmp, synced every {} s)",
        socket.local_addr()?,
        args.out.display(),
        match duration {
            Some(d) => format!("for {:.1} s", d.as_secs_f64()),
            None => "Ctrl-C to stop".into(),
        },
        args.out.display(),
        std::process::id(),
        RecordOptions::CHECKPOINT_EVERY.as_secs()
    );
    let report = record(&socket, &args.out, &opts, &stop)
        .with_context(|| format!("recording to {}", args.out.display()))?;
    if report.kept_existing {
        anyhow::bail!(
            "no record in {:.1} s ({} datagrams, {} malformed); {} already existed and was \
             left as it was",
            report.elapsed_s,
            report.received,
            report.malformed,
            args.out.display()
        );
    }
    if args.json {
        let nodes: serde_json::Map<String, serde_json::Value> = report
            .nodes
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "out": args.out.display().to_string(),
                "received": report.received,
                "written": report.written,
                "malformed": report.malformed,
                "malformed_by_kind": report.malformed_by_kind,
                "nodes": nodes,
                "packet_counts": report.packet_counts,
                "elapsed_s": report.elapsed_s,
            }))?
        );
    } else {
        println!(
            "{}: {} datagrams in {:.1} s, {} records written, {} malformed",
            args.out.display(),
            report.received,
            report.elapsed_s,
            report.written,
            report.malformed
        );
        for (kind, n) in &report.malformed_by_kind {
            println!("  malformed ({kind}): {n}");
        }
        for (node, n) in &report.nodes {
            println!("  node {node}: {n} records");
        }
    }
    Ok(())
}

/// A flag that Ctrl-C sets, for receive loops that end cleanly.
pub(crate) fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("installing Ctrl-C handler")?;
    Ok(stop)
}

/// `--duration` seconds: positive and finite, or absent.
pub(crate) fn duration_arg(seconds: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match seconds {
        Some(s) if s > 0.0 => match Duration::try_from_secs_f64(s) {
            Ok(d) => Ok(Some(d)),
            Err(_) => anyhow::bail!("--duration {s} s is longer than a clock can count"),
        },
        Some(s) => anyhow::bail!("--duration must be a positive number of seconds, got {s}"),
        None => Ok(None),
    }
}

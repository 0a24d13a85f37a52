//! `aether inspect FILE` for CSI recordings (format detected from content): format, duration,
//! nodes with frame counts and rates, counts per packet type, subcarrier layouts, malformed
//! lines, and the sidecar's label and session.

use std::path::Path;

use aether_io::recording::RecordingReader;
use aether_io::summary::Summary;
use anyhow::Context;
use serde_json::{json, Map, Value};

/// Summarises the recording at `path` in one streaming pass.
pub fn run(path: &Path, as_json: bool) -> anyhow::Result<()> {
    let reader =
        RecordingReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let meta = reader.meta().clone();
    let s = Summary::of_reader(reader);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(path, &s, &meta))?
        );
    } else {
        print_text(path, &s, &meta);
    }
    if let Some(fatal) = &s.fatal {
        anyhow::bail!("{}: reading stopped early: {fatal}", path.display());
    }
    Ok(())
}

fn to_json(path: &Path, s: &Summary, meta: &aether_io::recording::RecordingMeta) -> Value {
    let nodes: Map<String, Value> = s
        .nodes
        .iter()
        .map(|(id, n)| {
            (
                id.to_string(),
                json!({ "frames": n.frames, "rate_hz": n.rate_hz(), "records": n.records }),
            )
        })
        .collect();
    let subcarriers: Map<String, Value> = s
        .subcarrier_counts
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let antennas: Map<String, Value> = s
        .antenna_counts
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut out = json!({
        "kind": "recording",
        "file": path.display().to_string(),
        "format": s.format.name(),
        "duration_s": s.duration_s,
        "first_t_s": s.first_t_s,
        "last_t_s": s.last_t_s,
        "csi_frames": s.csi_frames(),
        "nodes": nodes,
        "packet_counts": s.packet_counts,
        "subcarrier_counts": subcarriers,
        "antenna_counts": antennas,
        "malformed": s.malformed,
        "malformed_examples": s.malformed_examples,
        "skipped": s.skipped,
        "label": s.label,
        "session": meta.session,
        "error": s.fatal,
    });
    if let Some(npz) = &meta.npz {
        out["espectre"] = json!({
            "label": npz.label,
            "chip": npz.chip,
            "collected_at": npz.collected_at,
            "gain_locked": npz.gain_locked,
            "format_version": npz.format_version,
            "duration_ms": npz.duration_ms,
        });
    }
    out
}

fn print_text(path: &Path, s: &Summary, meta: &aether_io::recording::RecordingMeta) {
    println!("{}: CSI recording, format {}", path.display(), s.format);
    if let Some(label) = &s.label {
        println!("  label       {label}");
    }
    if let Some(session) = &meta.session {
        println!("  session     {session}");
    }
    if let Some(npz) = &meta.npz {
        println!(
            "  espectre    chip {}, collected {}, gain locked {}, duration_ms {:.1}",
            npz.chip.as_deref().unwrap_or("?"),
            npz.collected_at.as_deref().unwrap_or("?"),
            npz.gain_locked.map_or("?".to_owned(), |g| g.to_string()),
            npz.duration_ms
        );
    }
    println!("  duration    {:.3} s", s.duration_s);
    println!("  CSI frames  {}", s.csi_frames());
    println!("  nodes");
    for (id, n) in &s.nodes {
        println!(
            "    node {id:>3}  {:>8} CSI frames  {:>8.2} Hz  ({} records)",
            n.frames,
            n.rate_hz(),
            n.records
        );
    }
    println!("  packet types");
    for (name, count) in &s.packet_counts {
        println!("    {name:<16} {count:>8}");
    }
    let layouts: Vec<String> = s
        .subcarrier_counts
        .iter()
        .map(|(n, c)| format!("{n} subcarriers x {c}"))
        .collect();
    println!(
        "  layouts     {}",
        if layouts.is_empty() {
            "-".into()
        } else {
            layouts.join(", ")
        }
    );
    println!("  malformed   {}", s.malformed);
    for e in &s.malformed_examples {
        println!("    {e}");
    }
    if s.skipped > 0 {
        println!(
            "  skipped     {} non-data lines (headers, logs, blank)",
            s.skipped
        );
    }
    if let Some(fatal) = &s.fatal {
        println!("  STOPPED     {fatal}");
    }
}

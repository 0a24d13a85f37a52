//! `aether simulate --scenario NAME --seconds S --seed N --out DIR`: labelled synthetic CSI
//! (RuView JSONL + segments CSV) from the multipath room model in `aether_io::sim`.

use std::path::PathBuf;

use aether_io::sim::{room_names, scenario_names, write_simulation, ImpairmentParams, SimConfig};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario: empty, still, walking, wave, push, circle, gestures, fall, sit_down, mixed.
    #[arg(long)]
    scenario: String,
    /// Length in seconds.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seed: the output is a pure function of the arguments.
    #[arg(long, value_parser = crate::seed::parse_seed, default_value = "0")]
    seed: u64,
    /// Output directory (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Room: lab, living, office, bedroom, corridor, or random (geometry from the
    /// installation seed).
    #[arg(long, default_value = "lab")]
    room: String,
    /// Installation seed: the random room's geometry, the static multipath and each link's
    /// SNR (29 ± 6 dB with impairments on). Captures with
    /// the same room and installation share a session, so one empty-room capture is their
    /// node reference (default: the seed).
    #[arg(long)]
    installation: Option<u64>,
    /// Packets per second per node.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// WiFi channel (1-13).
    #[arg(long, default_value_t = 6)]
    channel: u8,
    /// Walking speed, m/s.
    #[arg(long, default_value_t = 1.2)]
    walking_speed: f64,
    /// A perfect receiver instead of ESP32 impairments (no random phase, fixed gain, no
    /// noise, regular timing).
    #[arg(long)]
    ideal: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !scenario_names().contains(&args.scenario.as_str()) {
        anyhow::bail!(
            "unknown scenario {:?}; known: {}",
            args.scenario,
            scenario_names().join(", ")
        );
    }
    if args.room != "random" && !room_names().contains(&args.room.as_str()) {
        anyhow::bail!(
            "unknown room {:?}; known: {}, random",
            args.room,
            room_names().join(", ")
        );
    }
    let mut config = SimConfig::new(&args.scenario, args.seconds, args.seed);
    config.room = args.room.clone();
    config.installation = args.installation;
    config.rate_hz = args.rate;
    config.channel = args.channel;
    config.walking_speed = args.walking_speed;
    if args.ideal {
        config.impairments = ImpairmentParams::ideal();
    }
    let out = write_simulation(&config, &args.out)
        .map_err(|e| anyhow::anyhow!("writing into {}: {e}", args.out.display()))?;
    let segments: Vec<_> = out
        .labels
        .segments()
        .iter()
        .map(|s| json!({ "start_s": s.start_s, "end_s": s.end_s, "label": s.label }))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "recording": out.recording.display().to_string(),
                "segments_file": out.segments.display().to_string(),
                "meta": out.meta.display().to_string(),
                "frames": out.frames,
                "scenario": args.scenario,
                "room": args.room,
                "seed": args.seed,
                "installation": config.installation_seed(),
                "session": config.session(),
                "seconds": args.seconds,
                "segments": segments,
            }))?
        );
    } else {
        println!("{} ({} CSI frames)", out.recording.display(), out.frames);
        println!(
            "{} ({} segments)",
            out.segments.display(),
            out.labels.segments().len()
        );
        println!("{}", out.meta.display());
        for s in out.labels.segments() {
            println!("  {:>8.3} - {:>8.3} s  {}", s.start_s, s.end_s, s.label);
        }
    }
    Ok(())
}

//! Labelled synthetic CSI: a multipath room model with moving body scatterers, seen through
//! ESP32 impairments, written as a RuView JSONL recording plus a segments CSV.
//!
//! Physics and parameters: docs/simulator.md. Everything is a pure function of the
//! configuration and the seed.

pub mod body;
pub mod channel;
pub mod geometry;
pub mod impair;
pub mod rng;

use std::path::{Path, PathBuf};

use self::body::{BodyPoint, Timeline, SCENARIOS};
use self::channel::{Link, N_SUBCARRIERS};
use self::geometry::{Room, ROOM_NAMES};
use self::impair::{Impairments, Receiver};
use self::rng::Rng;
use crate::labels::Segments;
use crate::record::{CsiFrame, Record};
use crate::ruview::RuviewWriter;

pub use self::body::Posture;
pub use self::impair::Impairments as ImpairmentParams;

/// Unix time of the first packet of every simulation (2023-11-14T22:13:20Z), so outputs are
/// byte-identical across runs and still look like RuView recordings.
pub const SIM_EPOCH_S: f64 = 1_700_000_000.0;

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// One of [`scenario_names`].
    pub scenario: String,
    /// Length, seconds.
    pub seconds: f64,
    pub seed: u64,
    /// One of [`room_names`], or `random` (geometry from the installation seed).
    pub room: String,
    /// Installation: the random room's geometry, the links' diffuse scatter (the static
    /// channel an empty-room capture records) and each link's SNR (`SNR_SPREAD_DB` around
    /// `impairments.snr_db`). Captures sharing it are one session
    /// (one node reference serves them all); `None` = `seed`.
    pub installation: Option<u64>,
    /// Nominal packets per second per node.
    pub rate_hz: f64,
    /// WiFi channel (2.4 GHz band: 1-13).
    pub channel: u8,
    /// Walking speed, m/s.
    pub walking_speed: f64,
    pub impairments: Impairments,
}

/// Half-width (dB) of the uniform spread of each installed link's SNR around the configured
/// one: 29 ± 6 dB by default, 23-35 dB. Measured on the eight ESPectre empty-room captures in
/// the simulator's own units (docs/simulator.md): 30.5 ± 3.4 dB across captures, 22.9-33.3
/// dB; a uniform ±6 dB has the same spread (sd 3.5).
pub const SNR_SPREAD_DB: f64 = 6.0;

impl SimConfig {
    /// Defaults: 100 Hz, channel 6, 1.2 m/s walking, ESP32 impairments, room `lab`.
    pub fn new(scenario: &str, seconds: f64, seed: u64) -> Self {
        SimConfig {
            scenario: scenario.to_owned(),
            seconds,
            seed,
            room: "lab".into(),
            installation: None,
            rate_hz: 100.0,
            channel: 6,
            walking_speed: 1.2,
            impairments: Impairments::esp32(),
        }
    }

    /// The installation seed in effect.
    pub fn installation_seed(&self) -> u64 {
        self.installation.unwrap_or(self.seed)
    }

    /// Session name shared by every capture of one installation, e.g. `bedroom-i1001`.
    pub fn session(&self) -> String {
        format!("{}-i{}", self.room, self.installation_seed())
    }
}

/// Accepted scenario names.
pub fn scenario_names() -> &'static [&'static str] {
    &SCENARIOS
}

/// Accepted room names (besides `random`).
pub fn room_names() -> &'static [&'static str] {
    &ROOM_NAMES
}

/// A configuration the simulator cannot run.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    UnknownScenario(String),
    UnknownRoom(String),
    /// Seconds, rate, channel or walking speed out of range.
    Parameter(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::UnknownScenario(s) => {
                write!(
                    f,
                    "unknown scenario {s:?} (known: {})",
                    SCENARIOS.join(", ")
                )
            }
            SimError::UnknownRoom(s) => {
                write!(
                    f,
                    "unknown room {s:?} (known: {}, random)",
                    ROOM_NAMES.join(", ")
                )
            }
            SimError::Parameter(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for SimError {}

struct Node {
    id: u8,
    /// This link's SNR, dB (`None`: no noise).
    snr_db: Option<f64>,
    link: Link,
    receiver: Receiver,
    next_t: f64,
    next_lost: bool,
    seq: u32,
}

/// Streams the simulated recording: CSI frames of all nodes in time order.
pub struct Simulator {
    config: SimConfig,
    room: Room,
    timeline: Timeline,
    nodes: Vec<Node>,
    freq_mhz: u32,
    body: Vec<BodyPoint>,
    noise_rng: Rng,
    values: Vec<crate::record::Iq>,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        if !(config.seconds.is_finite() && config.seconds > 0.0 && config.seconds <= 86_400.0) {
            return Err(SimError::Parameter(format!(
                "seconds must be in (0, 86400], got {}",
                config.seconds
            )));
        }
        if !(config.rate_hz.is_finite() && (1.0..=1000.0).contains(&config.rate_hz)) {
            return Err(SimError::Parameter(format!(
                "rate must be 1..=1000 Hz, got {}",
                config.rate_hz
            )));
        }
        if !(config.walking_speed.is_finite() && (0.1..=3.0).contains(&config.walking_speed)) {
            return Err(SimError::Parameter(format!(
                "walking speed must be 0.1..=3 m/s, got {}",
                config.walking_speed
            )));
        }
        let freq_mhz = match config.channel {
            1..=13 => aether_csi::channel_to_mhz(config.channel).expect("2.4 GHz channel"),
            c => {
                return Err(SimError::Parameter(format!(
                    "channel must be 1..=13, got {c}"
                )))
            }
        };
        let room = Room::named(&config.room, config.installation_seed())
            .ok_or_else(|| SimError::UnknownRoom(config.room.clone()))?;
        let timeline = Timeline::build(
            &config.scenario,
            config.seconds,
            &room,
            config.seed,
            config.walking_speed,
        )
        .ok_or_else(|| SimError::UnknownScenario(config.scenario.clone()))?;
        let nodes = (0..room.rx.len())
            .map(|i| {
                let link = Link::new(&room, i, freq_mhz, config.installation_seed());
                let rng = Rng::stream(config.seed, &format!("receiver-{i}"));
                // Each installed link has its own SNR (distance, antenna, interference), the
                // same in every capture of the installation: a fixed one made the empty
                // room's noise level identical everywhere, a cue no real deployment gives.
                let mut imp = config.impairments.clone();
                if let Some(snr) = imp.snr_db.as_mut() {
                    let mut link_rng =
                        Rng::stream(config.installation_seed(), &format!("link-snr-{i}"));
                    *snr += link_rng.range(-SNR_SPREAD_DB, SNR_SPREAD_DB);
                }
                let snr_db = imp.snr_db;
                let receiver = Receiver::new(imp, rng, &link.static_response());
                Node {
                    id: i as u8 + 1,
                    snr_db,
                    link,
                    receiver,
                    next_t: 0.0,
                    next_lost: false,
                    seq: 0,
                }
            })
            .collect();
        Ok(Simulator {
            noise_rng: Rng::stream(config.seed, "rssi"),
            config,
            room,
            timeline,
            nodes,
            freq_mhz,
            body: Vec::with_capacity(body::PARTS.len()),
            values: Vec::with_capacity(N_SUBCARRIERS),
        })
    }

    /// The plan: labelled segments and the person.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The room geometry in use.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Labels of the whole simulation.
    pub fn labels(&self) -> Segments {
        self.timeline.labels()
    }

    /// The channel of node `id` (1-based).
    pub fn link(&self, id: u8) -> Option<&Link> {
        self.nodes.iter().find(|n| n.id == id).map(|n| &n.link)
    }
}

impl Iterator for Simulator {
    type Item = CsiFrame;

    fn next(&mut self) -> Option<CsiFrame> {
        loop {
            // The node whose next packet comes first (ties: lower id).
            // A frame's time as written (`SIM_EPOCH_S + t`, read back relative to the epoch)
            // must lie before the end: exact intervals sum to just under it and round onto
            // it, where the labels (end exclusive) no longer reach.
            let seconds = self.config.seconds;
            let node = self
                .nodes
                .iter_mut()
                .filter(|n| (SIM_EPOCH_S + n.next_t) - SIM_EPOCH_S < seconds)
                .min_by(|a, b| a.next_t.total_cmp(&b.next_t).then(a.id.cmp(&b.id)))?;
            let t = node.next_t;
            let lost = node.next_lost;
            let (dt, next_lost) = node.receiver.next_interval(self.config.rate_hz);
            node.next_t = t + dt;
            node.next_lost = next_lost;
            let seq = node.seq;
            node.seq = node.seq.wrapping_add(1);
            // A lost packet still advances the node's sequence number, as over the air.
            if lost {
                continue;
            }
            self.timeline.pose(t, &mut self.body);
            let h = node.link.response(&self.body);
            let power_db = node.receiver.measure(&h, &mut self.values);
            // 20 dBm transmit power; RSSI is reported in whole dB with about 1 dB of wobble.
            let rssi = (20.0 + power_db + 0.5 * self.noise_rng.normal())
                .round()
                .clamp(-127.0, 0.0) as i8;
            let noise_floor = -96 + self.noise_rng.below(3) as i8;
            return Some(CsiFrame {
                t_s: SIM_EPOCH_S + t,
                node_id: node.id,
                seq: Some(seq),
                rssi: Some(rssi),
                noise_floor: Some(noise_floor),
                freq_mhz: Some(self.freq_mhz),
                channel: Some(self.config.channel),
                mac: None,
                n_antennas: 1,
                subcarriers: self.values.clone(),
            });
        }
    }
}

/// Files one simulation writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutput {
    pub recording: PathBuf,
    pub segments: PathBuf,
    pub meta: PathBuf,
    pub frames: u64,
    pub labels: Segments,
}

/// File stem for a configuration: `sim-<scenario>-<room>-s<seed>`, with `-i<installation>`
/// before the seed when the installation is not the seed.
pub fn file_stem(config: &SimConfig) -> String {
    match config.installation {
        Some(i) if i != config.seed => format!(
            "sim-{}-{}-i{i}-s{}",
            config.scenario, config.room, config.seed
        ),
        _ => format!("sim-{}-{}-s{}", config.scenario, config.room, config.seed),
    }
}

/// Runs a simulation and writes `<stem>.csi.jsonl`, `<stem>.segments.csv` and
/// `<stem>.csi.meta.json` into `dir` (created if needed), each atomically, the recording last.
pub fn write_simulation(
    config: &SimConfig,
    dir: &Path,
) -> Result<SimOutput, Box<dyn std::error::Error>> {
    let sim = Simulator::new(config.clone())?;
    std::fs::create_dir_all(dir)?;
    let stem = file_stem(config);
    let recording = dir.join(format!("{stem}.csi.jsonl"));
    let segments = dir.join(format!("{stem}.segments.csv"));
    let meta = dir.join(format!("{stem}.csi.meta.json"));
    let labels = sim.labels();
    let room = sim.room().clone();
    let link_snr_db: std::collections::BTreeMap<String, Option<f64>> = sim
        .nodes
        .iter()
        .map(|n| (n.id.to_string(), n.snr_db))
        .collect();
    let mut writer = RuviewWriter::create(&recording)?;
    let mut per_node = std::collections::BTreeMap::<u8, u64>::new();
    for frame in sim {
        *per_node.entry(frame.node_id).or_default() += 1;
        writer.write(&Record::Csi(frame))?;
    }
    let frames = writer.written();
    // The recording is renamed into place last: a run stopped or failing in between leaves at
    // most sidecars (which no reader opens alone), never a recording without its labels.
    labels.write_csv(&segments)?;
    let imp = &config.impairments;
    let meta_json = serde_json::json!({
        "id": stem,
        "name": stem,
        "label": config.scenario,
        "session": config.session(),
        "duration_secs": config.seconds,
        "frame_count": frames,
        "nodes": per_node.iter().map(|(k, v)| (k.to_string(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
        "segments_file": segments.file_name().map(|n| n.to_string_lossy().into_owned()),
        "simulator": {
            "scenario": config.scenario,
            "seed": config.seed,
            "installation": config.installation_seed(),
            "seconds": config.seconds,
            "rate_hz": config.rate_hz,
            "channel": config.channel,
            "walking_speed_m_s": config.walking_speed,
            "epoch_s": SIM_EPOCH_S,
            "room": {
                "name": room.name,
                "size_m": room.size,
                "tx": room.tx,
                "rx": room.rx,
                "wall_reflection": room.wall_reflection,
                "furniture": room.furniture.len(),
            },
            "impairments": {
                "random_phase": imp.random_phase,
                "timing_offset_std_s": imp.timing_offset_std_s,
                "agc": imp.agc,
                "agc_step_db": imp.agc_step_db,
                "snr_db": imp.snr_db,
                // Each node's own, drawn from the installation around `snr_db`.
                "link_snr_db": link_snr_db,
                "interval_jitter": imp.interval_jitter,
                "drop_prob": imp.drop_prob,
            },
        },
    });
    crate::atomic::write_atomic(&meta, serde_json::to_string_pretty(&meta_json)?.as_bytes())?;
    writer.finish()?;
    Ok(SimOutput {
        recording,
        segments,
        meta,
        frames,
        labels,
    })
}

//! `aether bench ingest`: frames per second on one core for parse -> features, on the shared
//! real recordings. Three paths, each the median of repeated whole passes:
//! - `ruview-jsonl`: RuView JSON Lines text (already in memory) -> records -> feature set 3
//!   (set 1 is its first 16 values);
//! - `udp-datagram`: the same CSI frames as 0xC5110001 datagrams -> `parse_any` -> features
//!   (what `aether record` and a live model see);
//! - `espectre-npz`: the 16 ESPectre `.npz` files from disk (page cache) -> rows -> features.
//!
//! Rows are split by subcarrier layout where the recording mixes them; the target is
//! >= 200,000 frames/s per core for 64-subcarrier frames.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aether_csi::{parse_any, AnyPacket, FeatureExtractor, CSI19_DIMS, CSI_MAX_FRAME_LEN};
use aether_io::live::encode_raw_csi;
use aether_io::record::{CsiFrame, Record};
use aether_io::recording::RecordingReader;
use aether_io::ruview::RuviewReader;
use anyhow::Context;
use serde::Serialize;

use super::timing::median;

#[derive(clap::Args)]
pub struct Args {
    /// Directory holding the shared recordings (`ruview/`, `espectre/`).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Whole passes per measurement; the median is reported.
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    path: &'static str,
    /// Subcarrier layout measured (`all` for a mixed pass).
    subcarriers: String,
    frames: usize,
    median_ms: f64,
    frames_per_s: f64,
    /// Frames/s of this path divided by feature extraction alone on the same frames.
    share_of_features_only: f64,
}

/// Per-node extractors, as a host would keep them.
struct Extractors(BTreeMap<u8, FeatureExtractor>);

impl Extractors {
    fn new() -> Self {
        Extractors(BTreeMap::new())
    }
    fn frame(
        &mut self,
        f: &CsiFrame,
        pairs: &mut Vec<(i8, i8)>,
        out: &mut [f32; CSI19_DIMS],
    ) -> f32 {
        pairs.clear();
        pairs.extend(
            f.subcarriers
                .iter()
                .take(f.n_subcarriers())
                .map(|v| (v.re, v.im)),
        );
        let ex = self.0.entry(f.node_id).or_default();
        let t_us = (f.t_s * 1e6) as u64;
        match ex.extract(t_us, pairs, out) {
            Ok(()) => out[0],
            Err(_) => 0.0,
        }
    }
}

fn time_passes(repeats: usize, mut pass: impl FnMut() -> usize) -> (usize, f64) {
    let frames = pass(); // warm-up, and the frame count
    let mut ms = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        let n = pass();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(n, frames, "a pass saw a different number of frames");
    }
    (frames, median(&mut ms))
}

fn features_only(frames: &[CsiFrame], repeats: usize) -> f64 {
    let (n, ms) = time_passes(repeats, || {
        let mut ex = Extractors::new();
        let mut pairs = Vec::with_capacity(256);
        let mut out = [0.0f32; CSI19_DIMS];
        let mut sink = 0.0f32;
        for f in frames {
            sink += ex.frame(f, &mut pairs, &mut out);
        }
        std::hint::black_box(sink);
        frames.len()
    });
    n as f64 / (ms / 1e3)
}

fn jsonl_rows(
    text: &[u8],
    layout: &str,
    repeats: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let frames: Vec<CsiFrame> = RuviewReader::new(Cursor::new(text))
        .filter_map(|r| match r {
            Ok(Record::Csi(f)) => Some(f),
            _ => None,
        })
        .collect();
    let feat = features_only(&frames, repeats);
    let (n, ms) = time_passes(repeats, || {
        let mut ex = Extractors::new();
        let mut pairs = Vec::with_capacity(256);
        let mut out = [0.0f32; CSI19_DIMS];
        let mut sink = 0.0f32;
        let mut n = 0;
        for r in RuviewReader::new(Cursor::new(text)).flatten() {
            if let Record::Csi(f) = r {
                sink += ex.frame(&f, &mut pairs, &mut out);
                n += 1;
            }
        }
        std::hint::black_box(sink);
        n
    });
    let fps = n as f64 / (ms / 1e3);
    rows.push(Row {
        path: "ruview-jsonl",
        subcarriers: layout.into(),
        frames: n,
        median_ms: ms,
        frames_per_s: fps,
        share_of_features_only: fps / feat,
    });

    // The same frames as datagrams.
    let mut buf = Box::new([0u8; CSI_MAX_FRAME_LEN]);
    let mut iq = Vec::new();
    let datagrams: Vec<(u64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let len = encode_raw_csi(f, i as u32, &mut iq, &mut buf).ok()?;
            Some(((f.t_s * 1e6) as u64, buf[..len].to_vec()))
        })
        .collect();
    let (n, ms) = time_passes(repeats, || {
        let mut ex: BTreeMap<u8, FeatureExtractor> = BTreeMap::new();
        let mut out = [0.0f32; CSI19_DIMS];
        let mut sink = 0.0f32;
        let mut n = 0;
        for (t_us, d) in &datagrams {
            if let Ok(AnyPacket::RawCsi(r)) = parse_any(d) {
                let e = ex.entry(r.node_id).or_default();
                if e.extract_frame(*t_us, &r, 0, &mut out).is_ok() {
                    sink += out[0];
                }
                n += 1;
            }
        }
        std::hint::black_box(sink);
        n
    });
    let fps = n as f64 / (ms / 1e3);
    rows.push(Row {
        path: "udp-datagram",
        subcarriers: layout.into(),
        frames: n,
        median_ms: ms,
        frames_per_s: fps,
        share_of_features_only: fps / feat,
    });
    Ok(())
}

fn npz_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["baseline", "movement"] {
        let d = dir.join("espectre").join(sub);
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "npz") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.repeats >= 1, "--repeats must be at least 1");
    let repeats = args.repeats;
    let ruview = args.data.join("ruview/pretrain-1775182186.csi.jsonl");
    let text = std::fs::read(&ruview).with_context(|| {
        format!(
            "reading {} (--data names the shared data folder; the default is relative to the \
             repository root)",
            ruview.display()
        )
    })?;
    let mut rows = Vec::new();
    jsonl_rows(&text, "all", repeats, &mut rows)?;
    // Only the 64-subcarrier lines: the layout the target is stated for.
    let only64: Vec<u8> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\"subcarriers\": 64}"))
        .flat_map(|l| l.iter().copied().chain(std::iter::once(b'\n')))
        .collect();
    jsonl_rows(&only64, "64", repeats, &mut rows)?;

    let files = npz_files(&args.data)?;
    let mut frames = Vec::new();
    for f in &files {
        frames.extend(RecordingReader::open(f)?.filter_map(|r| match r {
            Ok(Record::Csi(f)) => Some(f),
            _ => None,
        }));
    }
    let feat = features_only(&frames, repeats);
    let (n, ms) = time_passes(repeats, || {
        let mut n = 0;
        let mut sink = 0.0f32;
        let mut pairs = Vec::with_capacity(64);
        let mut out = [0.0f32; CSI19_DIMS];
        for f in &files {
            // One capture is one stream: a fresh extractor per file.
            let mut ex = Extractors::new();
            for r in RecordingReader::open(f).expect("opened above").flatten() {
                if let Record::Csi(frame) = r {
                    sink += ex.frame(&frame, &mut pairs, &mut out);
                    n += 1;
                }
            }
        }
        std::hint::black_box(sink);
        n
    });
    let fps = n as f64 / (ms / 1e3);
    rows.push(Row {
        path: "espectre-npz",
        subcarriers: "64".into(),
        frames: n,
        median_ms: ms,
        frames_per_s: fps,
        share_of_features_only: fps / feat,
    });
    rows.push(Row {
        path: "features-only",
        subcarriers: "64".into(),
        frames: frames.len(),
        median_ms: frames.len() as f64 / feat * 1e3,
        frames_per_s: feat,
        share_of_features_only: 1.0,
    });

    if args.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        println!("ingest: parse -> feature set 3, one core, median of {repeats} passes");
        println!(
            "{:<14} {:>6} {:>8} {:>10} {:>14} {:>10}",
            "path", "sc", "frames", "median ms", "frames/s", "vs feat"
        );
        for r in &rows {
            println!(
                "{:<14} {:>6} {:>8} {:>10.2} {:>14.0} {:>10.2}",
                r.path,
                r.subcarriers,
                r.frames,
                r.median_ms,
                r.frames_per_s,
                r.share_of_features_only
            );
        }
        println!("target: >= 200000 frames/s per core for 64-subcarrier frames");
    }
    Ok(())
}

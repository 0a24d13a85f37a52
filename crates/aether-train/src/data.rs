//! Labelled windows from CSI recordings: any format aether-io reads, through the shared
//! per-frame feature extractor (all 22 features of set 4 kept per frame; a head reads the
//! prefix of its set: 16 for set 1, 19 for set 3, all for set 4), cut into fixed windows with a hop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aether_csi::{FeatureExtractor, CSI22_DIMS};

/// Features kept per frame: all of set 4 (`aether_csi::FEATURE_SET_CSI22`). Sets 1 and 3 are
/// its first 16 and 19, so a head of any set reads the prefix it was trained on.
pub const FRAME_DIMS: usize = CSI22_DIMS;

/// One frame's features.
pub type Frame = [f32; FRAME_DIMS];
use aether_io::labels::Segments;
use aether_io::record::{CsiFrame, Record};
use aether_io::recording::RecordingReader;
use anyhow::{bail, Context};

/// Per-feature (mean, std).
pub type FeatureStats = (Vec<f32>, Vec<f32>);

/// Frames dropped at the start of every stream, and after every restart of the extractor,
/// while its reference profile and change averages settle (about 0.5 s at 100 Hz); the
/// device drops the same ones (`aether_csi::FeatureExtractor::is_settled`).
pub use aether_csi::SETTLE_FRAMES;

/// One node's feature stream from one recording.
#[derive(Clone, Debug)]
pub struct Stream {
    pub path: PathBuf,
    pub node_id: u8,
    /// Chip name where the format says (ESPectre), else `node<id>`.
    pub chip: String,
    /// Capture date `YYYYMMDD` where known (ESPectre `collected_at` / file name), else "".
    pub date: String,
    /// Session named by the recording's sidecar (`session`, e.g. a simulator installation);
    /// it takes precedence over the capture date.
    pub named_session: Option<String>,
    /// Seconds from the recording's first frame.
    pub t_s: Vec<f64>,
    pub features: Vec<Frame>,
    /// Label per frame (`None` = unlabelled).
    pub labels: Vec<Option<String>>,
    /// Per frame, how often the feature extractor had restarted before it (a gap, time going
    /// backwards; [`NodeFeatures::segment`]): frames of one segment are one unbroken run, and
    /// no window spans two. Never decreases along a stream.
    pub segments: Vec<u64>,
    /// Records of the recording that could not be decoded and were skipped (a bad line or
    /// packet; the same count on every node's stream of the file), with the first one's error.
    pub skipped: Skipped,
}

/// Records skipped while reading (`docs/recordings.md`: counted, never fatal): malformed ones,
/// and CSI frames the feature extractor cannot use (fewer than 64 subcarriers).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Skipped {
    pub count: usize,
    /// The first skipped record's error (line number and cause).
    pub first: Option<String>,
}

impl Stream {
    pub fn frame_rate_hz(&self) -> f32 {
        let n = self.t_s.len();
        if n < 2 {
            return 0.0;
        }
        let span = self.t_s[n - 1] - self.t_s[0];
        if span <= 0.0 {
            0.0
        } else {
            ((n - 1) as f64 / span) as f32
        }
    }

    /// Name of the recording file.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Chip + named session or capture date: recordings sharing it share a room session.
    pub fn session(&self) -> String {
        match &self.named_session {
            Some(n) => format!("{}/{n}", self.chip),
            None => format!("{}/{}", self.chip, self.date),
        }
    }

    /// Whether the recording says which session it belongs to (a sidecar session or a
    /// capture date); without one a stream is its own session.
    pub fn has_session(&self) -> bool {
        self.named_session.is_some() || !self.date.is_empty()
    }

    /// Keeps frames whose time is in `[start_s, end_s)`.
    pub fn span(&mut self, start_s: f64, end_s: f64) {
        let keep: Vec<bool> = self
            .t_s
            .iter()
            .map(|&t| t >= start_s && t < end_s)
            .collect();
        let mut i = 0;
        self.t_s.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        i = 0;
        self.features.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        i = 0;
        self.labels.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        i = 0;
        self.segments.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }

    /// The frames `[first, end)` of the segment (unbroken run) holding frame `i`: all frames
    /// when the stream records no segments.
    pub fn segment_range(&self, i: usize) -> (usize, usize) {
        let Some(&seg) = self.segments.get(i) else {
            return (0, self.features.len());
        };
        (
            self.segments.partition_point(|&x| x < seg),
            self.segments.partition_point(|&x| x <= seg),
        )
    }

    /// Per-feature mean and std (std floored) over all frames.
    pub fn stats(&self) -> (Vec<f32>, Vec<f32>) {
        feature_stats(self.features.iter())
    }
}

/// Per-feature mean and standard deviation; the std is floored at 1e-3 of the overall scale
/// (and 1e-6) so constant features divide safely.
pub fn feature_stats<'a>(frames: impl Iterator<Item = &'a Frame>) -> (Vec<f32>, Vec<f32>) {
    let mut n = 0f64;
    let mut s = [0f64; FRAME_DIMS];
    let mut s2 = [0f64; FRAME_DIMS];
    for f in frames {
        n += 1.0;
        for d in 0..FRAME_DIMS {
            let x = f64::from(f[d]);
            s[d] += x;
            s2[d] += x * x;
        }
    }
    let n = n.max(1.0);
    let mean: Vec<f64> = s.iter().map(|v| v / n).collect();
    let std: Vec<f64> = (0..FRAME_DIMS)
        .map(|d| (s2[d] / n - mean[d] * mean[d]).max(0.0).sqrt())
        .collect();
    (
        mean.iter().map(|&m| m as f32).collect(),
        std.iter()
            .zip(&mean)
            .map(|(&sd, &m)| sd.max(1e-3 * m.abs()).max(1e-6) as f32)
            .collect(),
    )
}

/// Files under `paths` (files as given, folders searched recursively, sorted) that look like
/// recordings: `.npz`, `.jsonl`, `.csv` / `.txt` other than segments files, less a folder's
/// `.csv` / `.txt` that is no recording format ([`collect_recordings`] names those).
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    Ok(collect_recordings(paths)?.0)
}

/// [`collect_files`], and the `.csv` / `.txt` files found in folders that are no recording
/// format (notes, spreadsheets: skipped, where a file named on its own is an error when read).
pub fn collect_recordings(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    /// Folders already walked, by their real path: a symlink back up the tree (or two links to
    /// one folder) is walked once, not forever.
    struct Walk {
        seen: std::collections::BTreeSet<PathBuf>,
        out: Vec<PathBuf>,
        skipped: Vec<PathBuf>,
    }
    fn walk(dir: &Path, w: &mut Walk) -> anyhow::Result<()> {
        let real = std::fs::canonicalize(dir)
            .with_context(|| format!("reading folder {}", dir.display()))?;
        if !w.seen.insert(real) {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading folder {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, w)?;
            } else if is_recording_name(&p) {
                if is_text_name(&p) && !is_recognised(&p)? {
                    w.skipped.push(p);
                } else {
                    w.out.push(p);
                }
            }
        }
        Ok(())
    }
    let mut w = Walk {
        seen: Default::default(),
        out: Vec::new(),
        skipped: Vec::new(),
    };
    for p in paths {
        if p.is_dir() {
            walk(p, &mut w)?;
        } else if p.is_file() {
            w.out.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    let Walk { out, skipped, .. } = w;
    if out.is_empty() {
        if skipped.is_empty() {
            bail!("no recordings found under {paths:?}");
        }
        bail!("no recordings found under {paths:?} (not recordings: {skipped:?})");
    }
    Ok((out, skipped))
}

/// `.csv` / `.txt`: extensions shared with files that are not recordings.
fn is_text_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".csv") || name.ends_with(".txt")
}

/// Whether the start of `p` is a recording format; an unreadable file is an error.
fn is_recognised(p: &Path) -> anyhow::Result<bool> {
    match aether_io::recording::detect_format(p) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.kind, aether_io::ReadErrorKind::Io(_)) => {
            Err(anyhow::anyhow!("{}: {e}", p.display()))
        }
        Err(_) => Ok(false),
    }
}

fn is_recording_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".segments.csv") || name.ends_with(".meta.json") {
        return false;
    }
    [".npz", ".jsonl", ".csv", ".txt"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// `<stem>.segments.csv` next to `<stem>.csi.jsonl` / `<stem>.jsonl` / `<stem>.<ext>` (the
/// simulator writes one), if present.
fn sibling_segments(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".csi.jsonl")
        .or_else(|| name.strip_suffix(".jsonl"))
        .or_else(|| name.rsplit_once('.').map(|(s, _)| s))?;
    let p = path.with_file_name(format!("{stem}.segments.csv"));
    p.is_file().then_some(p)
}

/// `YYYYMMDD` from an ESPectre `collected_at` or a file name like `x_20260329_130303.npz`.
fn capture_date(collected_at: Option<&str>, file: &str) -> String {
    if let Some(c) = collected_at {
        let digits: String = c.chars().filter(|c| c.is_ascii_digit()).take(8).collect();
        if digits.len() == 8 {
            return digits;
        }
    }
    file.split(['_', '.'])
        .find(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("")
        .to_string()
}

/// Parses `a=b,c=d`.
pub fn parse_label_map(s: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for part in s.split(',') {
        if part.trim().is_empty() {
            bail!("--label-map {s:?} has an empty entry (expected a=b,c=d)");
        }
        let (a, b) = part
            .split_once('=')
            .with_context(|| format!("--label-map entry {part:?} is not a=b"))?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() {
            bail!(
                "--label-map entry {part:?}: both names must be non-empty (as in segments files)"
            );
        }
        if let Some(earlier) = m.insert(a.to_string(), b.to_string()) {
            bail!("--label-map renames {a:?} twice (to {earlier:?} and to {b:?})");
        }
    }
    Ok(m)
}

/// How to read labels.
#[derive(Clone, Debug, Default)]
pub struct LabelSource {
    /// Segments for every file (`--labels`); otherwise a sibling `<stem>.segments.csv`, else
    /// the file's own label (ESPectre `label`, RuView sidecar).
    pub segments: Option<Segments>,
    pub label_map: BTreeMap<String, String>,
    /// Also how frames are read: every recording comes from a classic ESP32, whose first CSI
    /// word (subcarriers 0 and +1) is invalid, though its format does not say so (CSV from
    /// ESP32-CSI-Tool). ESPectre npz files naming chip "esp32" are read so without it.
    pub first_word_invalid: bool,
}

/// Reads one recording into per-node feature streams.
pub fn read_streams(path: &Path, labels: &LabelSource) -> anyhow::Result<Vec<Stream>> {
    let mut reader =
        RecordingReader::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let meta = reader.meta().clone();
    let npz = meta.npz.clone();
    let chip_name = npz.as_ref().and_then(|n| n.chip.clone());
    let date = capture_date(
        npz.as_ref().and_then(|n| n.collected_at.as_deref()),
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    // The classic ESP32's first CSI word (subcarriers 0 and +1) is invalid.
    let first_word_invalid = labels.first_word_invalid
        || chip_name
            .as_deref()
            .is_some_and(|c| c.trim_matches('"').eq_ignore_ascii_case("esp32"));
    let segments = match &labels.segments {
        Some(s) => Some(s.clone()),
        None => match sibling_segments(path) {
            Some(p) => {
                Some(Segments::read_csv(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
            }
            None => None,
        },
    };
    let file_label = meta.label.clone();
    struct Acc {
        fx: NodeFeatures,
        s: Stream,
    }
    let mut nodes: BTreeMap<u8, Acc> = BTreeMap::new();
    let mut t0: Option<f64> = None;
    let mut out = [0f32; FRAME_DIMS];
    let mut skipped = Skipped::default();
    for rec in reader.by_ref() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) if e.is_fatal() => anyhow::bail!("{}: {e}", path.display()),
            // One undecodable line or packet: skip it and go on, as every reader does.
            Err(e) => {
                skipped.count += 1;
                skipped.first.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        // Time zero is the recording's first record of any kind, as segments files and
        // `--span` count it (docs/recordings.md), not its first CSI frame.
        let t0 = *t0.get_or_insert(rec.t_s());
        let Record::Csi(frame) = rec else { continue };
        let t_rel = frame.t_s - t0;
        let acc = nodes.entry(frame.node_id).or_insert_with(|| Acc {
            fx: NodeFeatures::new(first_word_invalid),
            s: Stream {
                path: path.to_path_buf(),
                node_id: frame.node_id,
                chip: chip_name
                    .clone()
                    .map(|c| c.trim_matches('"').to_string())
                    .unwrap_or_else(|| format!("node{}", frame.node_id)),
                date: date.clone(),
                named_session: meta.session.clone(),
                t_s: Vec::new(),
                features: Vec::new(),
                labels: Vec::new(),
                segments: Vec::new(),
                skipped: Skipped::default(),
            },
        });
        if !acc.fx.push(t_rel, &frame, &mut out) {
            continue;
        }
        let label = match &segments {
            Some(s) => s.label_at(t_rel).map(str::to_owned),
            None => file_label.clone(),
        };
        let label = label.map(|l| labels.label_map.get(&l).cloned().unwrap_or(l));
        acc.s.t_s.push(t_rel);
        acc.s.features.push(out);
        acc.s.labels.push(label);
        acc.s.segments.push(acc.fx.segment());
    }
    // Frames the extractor refused count as skipped records, of every node's stream, so the
    // note (or the error below) says why they are missing.
    for a in nodes.values() {
        skipped.count += a.fx.refused.count;
        if let Some(first) = &a.fx.refused.first {
            skipped
                .first
                .get_or_insert_with(|| format!("CSI frame: {first}"));
        }
    }
    let streams: Vec<Stream> = nodes
        .into_values()
        .map(|a| Stream {
            skipped: skipped.clone(),
            ..a.s
        })
        .filter(|s| !s.t_s.is_empty())
        .collect();
    if streams.is_empty() && skipped.count > 0 {
        anyhow::bail!(
            "{}: no usable CSI frames ({} records or frames skipped; the first: {})",
            path.display(),
            skipped.count,
            skipped.first.as_deref().unwrap_or("")
        );
    }
    Ok(streams)
}

/// Seconds added to a frame's time before it becomes the extractor's µs clock, so frames up to
/// ~11.6 days before the recording's first record keep distinct, ordered timestamps.
const TIME_SHIFT_S: f64 = 1e6;

/// One node's CSI frames to head inputs, exactly as training reads them (so a live node sees
/// what a recording did): the shared extractor, timestamps relative to the stream's start, and
/// the first [`SETTLE_FRAMES`] usable frames dropped while the extractor settles, at the
/// stream's start and again after every restart of its frame-to-frame state (a gap over
/// `aether_csi::GAP_RESET_US`, or time going backwards; `FeatureExtractor::restarts`).
pub struct NodeFeatures {
    fx: FeatureExtractor,
    subcarriers: Vec<(i8, i8)>,
    /// Frames the extractor refused (too few subcarriers), with the first one's reason.
    pub refused: Skipped,
}

impl NodeFeatures {
    /// `first_word_invalid`: the classic ESP32's first CSI word (subcarriers 0 and +1) is junk.
    pub fn new(first_word_invalid: bool) -> Self {
        NodeFeatures {
            fx: FeatureExtractor::new().with_first_word_invalid(first_word_invalid),
            subcarriers: Vec::new(),
            refused: Skipped::default(),
        }
    }

    /// Features of `frame` (at `t_rel` seconds) into `out`; `false` while settling or for a
    /// frame the head cannot use (fewer subcarriers than the 64-slot block).
    pub fn push(&mut self, t_rel: f64, frame: &CsiFrame, out: &mut Frame) -> bool {
        let n = frame.n_subcarriers();
        self.subcarriers.clear();
        self.subcarriers
            .extend(frame.subcarriers[..n].iter().map(|iq| (iq.re, iq.im)));
        // The extractor reads differences only; the shift keeps frames stamped before the
        // recording's first record (another node's line came first) apart instead of pinning
        // them all to 0 (dt = 0: averages frozen).
        let ts_us = ((t_rel + TIME_SHIFT_S).max(0.0) * 1e6) as u64;
        if let Err(e) = self.fx.extract(ts_us, &self.subcarriers, out) {
            self.refused.count += 1;
            self.refused.first.get_or_insert_with(|| e.to_string());
            return false;
        }
        // The same rule as the device's (`aether_csi::SETTLE_FRAMES`).
        self.fx.is_settled()
    }

    /// The unbroken run of frames the last kept frame belongs to: the extractor's restart
    /// count. Frames of two segments have a gap (or a step back in time) between them.
    pub fn segment(&self) -> u64 {
        self.fx.restarts()
    }
}

/// Reads every recording under `paths`.
pub fn load_streams(paths: &[PathBuf], labels: &LabelSource) -> anyhow::Result<Vec<Stream>> {
    Ok(load_streams_noting(paths, labels)?.0)
}

/// [`load_streams`], and the files found in folders that were skipped as no recording
/// ([`collect_recordings`]), for the caller to mention.
pub fn load_streams_noting(
    paths: &[PathBuf],
    labels: &LabelSource,
) -> anyhow::Result<(Vec<Stream>, Vec<PathBuf>)> {
    let (files, skipped) = collect_recordings(paths)?;
    let mut out = Vec::new();
    for f in files {
        out.extend(read_streams(&f, labels)?);
    }
    Ok((out, skipped))
}

/// A window: stream index, first frame, label.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub stream: usize,
    pub start: usize,
    pub label: String,
}

/// How a window gets its label.
///
/// By default a window's label is the label of all its frames, and windows with unlabelled or
/// mixed frames are skipped (no guessing at boundaries). Short events (a fall lasts under a
/// second) give few such windows once windows are long enough to see slow activity, so
/// `events` names classes for which a window is labelled by what it *contains*: a window with
/// at least `event_min_frames` frames of an event class is that event (the event with the most
/// frames if several); other windows fall back to the all-frames rule. An event may set its own
/// minimum in `min_frames_by_event` (a 2.5 s gesture wants more of the window than a 0.7 s fall).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowLabels {
    pub events: Vec<String>,
    pub event_min_frames: usize,
    pub min_frames_by_event: BTreeMap<String, usize>,
}

impl WindowLabels {
    /// Frames of `event` that make a window that event.
    pub fn min_frames(&self, event: &str) -> usize {
        self.min_frames_by_event
            .get(event)
            .copied()
            .unwrap_or(self.event_min_frames)
            .max(1)
    }

    /// The label of `labels` (one window's frames) under this rule, if it has one.
    pub fn label_of<'a>(&'a self, labels: &'a [Option<String>]) -> Option<&'a str> {
        let mut best: Option<(&str, usize)> = None;
        for e in &self.events {
            let count = labels
                .iter()
                .filter(|l| l.as_deref() == Some(e.as_str()))
                .count();
            if count >= self.min_frames(e) && best.is_none_or(|(_, c)| count > c) {
                best = Some((e, count));
            }
        }
        if let Some((e, _)) = best {
            return Some(e);
        }
        let first = labels.first()?.as_deref()?;
        labels
            .iter()
            .all(|x| x.as_deref() == Some(first))
            .then_some(first)
    }
}

/// Windows of `len` frames every `hop` frames, labelled by `rule` (unlabelled ones skipped).
/// A window never spans a gap: the hop grid starts again at each segment
/// ([`Stream::segments`]), and a segment shorter than `len` gives no window.
pub fn cut_windows(streams: &[Stream], len: usize, hop: usize, rule: &WindowLabels) -> Vec<Window> {
    let mut out = Vec::new();
    for (si, s) in streams.iter().enumerate() {
        for start in window_starts(s, len, hop) {
            if let Some(l) = rule.label_of(&s.labels[start..start + len]) {
                out.push(Window {
                    stream: si,
                    start,
                    label: l.to_owned(),
                });
            }
        }
    }
    out
}

/// First frames of every window of `len` frames on `s`'s hop grid, labelled or not: the
/// windows [`cut_windows`] chooses from (and the ones a streaming session decides on).
pub fn window_starts(s: &Stream, len: usize, hop: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let hop = hop.max(1);
    let mut start = 0;
    while start + len <= s.features.len() {
        let segment = s.segments.get(start);
        if len > 0 && s.segments.get(start + len - 1) != segment {
            // Jump to the next segment's first frame.
            start += s.segments[start..].partition_point(|x| Some(x) == segment);
            continue;
        }
        out.push(start);
        start += hop;
    }
    out
}

/// Seconds of empty-room frames a node reference is made from.
pub const REFERENCE_S: f64 = 5.0;

/// Whether frame `i` of `s` is one `session_references` pools into its session's reference:
/// an empty-room (`idle_class`) frame in the stream's first [`REFERENCE_S`] seconds, in a
/// stream that belongs to a session.
pub fn in_reference_span(s: &Stream, i: usize, idle_class: &str) -> bool {
    let t0 = s.t_s.first().copied().unwrap_or(0.0);
    s.has_session()
        && s.labels.get(i).and_then(|l| l.as_deref()) == Some(idle_class)
        && s.t_s.get(i).is_some_and(|&t| t < t0 + REFERENCE_S)
}

/// Per-stream reference (mean, std) for `--reference`: the features of the same session's
/// (chip + named session or date) empty-room capture, or the stream itself when there is none.
pub fn session_references(streams: &[Stream], idle_class: &str) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut idle: BTreeMap<String, Vec<&Frame>> = BTreeMap::new();
    for s in streams {
        // The first REFERENCE_S seconds, as a node reference is taken in use.
        let t0 = s.t_s.first().copied().unwrap_or(0.0);
        for ((f, l), t) in s.features.iter().zip(&s.labels).zip(&s.t_s) {
            if l.as_deref() == Some(idle_class) && *t < t0 + REFERENCE_S {
                idle.entry(s.session()).or_default().push(f);
            }
        }
    }
    streams
        .iter()
        .map(|s| match idle.get(&s.session()) {
            Some(frames) if s.has_session() && !frames.is_empty() => {
                feature_stats(frames.iter().copied())
            }
            _ => s.stats(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{in_reference_span, session_references, Stream, WindowLabels, FRAME_DIMS};

    /// A folder's `.csv` / `.txt` files that are no recording (notes, a spreadsheet) are skipped
    /// and named; a recording beside them is kept, and such a file named on its own is kept
    /// for the reader to refuse.
    #[test]
    fn files_in_a_folder_that_are_no_recording_are_skipped() {
        use super::collect_recordings;
        let dir = std::env::temp_dir().join(format!("aether-collect-{}", std::process::id()));
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.csv"), "CSI_DATA,1,aa:bb,-40\n").unwrap();
        // A serial capture: line noise, then a boot log longer than the old 16 KiB sniff.
        let mut serial = b"\xff\x80\x00 boot\n".to_vec();
        serial.extend("I (1234) wifi: a log line\n".repeat(1000).as_bytes());
        serial.extend(b"CSI_DATA,1,aa:bb,-40\n");
        std::fs::write(sub.join("serial.txt"), serial).unwrap();
        // A link back up the tree is walked once, not forever.
        std::os::unix::fs::symlink(&dir, sub.join("up")).unwrap();
        std::fs::write(dir.join("notes.txt"), "capture notes: door open\n").unwrap();
        std::fs::write(dir.join("table.csv"), "room,width\nlab,4\n").unwrap();
        std::fs::write(dir.join("a.segments.csv"), "start_s,end_s,label\n").unwrap();
        let (files, skipped) = collect_recordings(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(files, vec![sub.join("a.csv"), sub.join("serial.txt")]);
        assert_eq!(skipped, vec![dir.join("notes.txt"), dir.join("table.csv")]);
        let named = dir.join("notes.txt");
        let (files, skipped) = collect_recordings(std::slice::from_ref(&named)).unwrap();
        assert_eq!((files, skipped.len()), (vec![named], 0));
        std::fs::remove_file(sub.join("a.csv")).unwrap();
        std::fs::remove_file(sub.join("serial.txt")).unwrap();
        std::fs::remove_file(sub.join("up")).unwrap();
        let err = collect_recordings(std::slice::from_ref(&dir))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not recordings") && err.contains("notes.txt"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// After a gap the extractor restarts (its change and decorrelation features start over),
    /// so the next SETTLE_FRAMES frames are dropped again, as at the stream's start.
    /// A varied 64-subcarrier frame, the `k`-th of a stream.
    fn csi_frame(k: usize) -> aether_io::record::CsiFrame {
        use aether_io::record::{CsiFrame, Iq};
        let iq = (0..64)
            .map(|i| Iq::new(((i * 7 + k * 3) % 40) as i8 + 5, 9))
            .collect();
        CsiFrame::new(0.0, 1, iq)
    }

    /// Features depend on time differences only: frames stamped before the recording's first
    /// record (negative times) give the features they give 3 s later (they were all pinned
    /// to time 0, dt = 0, freezing the averages).
    #[test]
    fn negative_times_give_the_features_of_shifted_ones() {
        use super::NodeFeatures;
        let run = |t0: f64| -> Vec<[f32; FRAME_DIMS]> {
            let mut fx = NodeFeatures::new(false);
            let mut out = [0f32; FRAME_DIMS];
            (0..120)
                .filter_map(|k| {
                    fx.push(t0 + k as f64 * 0.01, &csi_frame(k), &mut out)
                        .then_some(out)
                })
                .collect()
        };
        let (early, late) = (run(-2.0), run(1.0));
        assert_eq!(early.len(), 70);
        assert_eq!(early.len(), late.len());
        for (a, b) in early.iter().zip(&late) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn frames_after_a_restart_settle_again() {
        use super::{NodeFeatures, SETTLE_FRAMES};
        let frame = csi_frame;
        let mut fx = NodeFeatures::new(false);
        let mut out = [0f32; FRAME_DIMS];
        let mut kept = |fx: &mut NodeFeatures, from: usize, t0: f64| -> Vec<usize> {
            (from..from + 100)
                .filter(|&k| fx.push(t0 + (k - from) as f64 * 0.01, &frame(k), &mut out))
                .collect()
        };
        let first = kept(&mut fx, 0, 0.0);
        assert_eq!(first.first(), Some(&SETTLE_FRAMES));
        assert_eq!(first.len(), 100 - SETTLE_FRAMES);
        // 2 s later (over the 0.5 s restart gap): settling again.
        let after_gap = kept(&mut fx, 100, 3.0);
        assert_eq!(after_gap.first(), Some(&(100 + SETTLE_FRAMES)));
        // Time going backwards restarts it too.
        let backwards = kept(&mut fx, 200, 1.0);
        assert_eq!(backwards.first(), Some(&(200 + SETTLE_FRAMES)));
    }

    /// The frames a session's reference pools are the ones validation must not score.
    #[test]
    fn the_reference_span_is_the_first_five_seconds_of_empty_room_frames() {
        let empty = stream("a-empty", Some("random-i1"), "empty", 1.0);
        assert!(in_reference_span(&empty, 0, "empty"));
        assert!(in_reference_span(&empty, 49, "empty"), "4.9 s");
        assert!(!in_reference_span(&empty, 50, "empty"), "5.0 s");
        assert!(!in_reference_span(&empty, 0, "walking"), "another class");
        let walking = stream("a-walk", Some("random-i1"), "walking", 5.0);
        assert!(!in_reference_span(&walking, 0, "empty"));
        let loose = stream("loose", None, "empty", 9.0);
        assert!(
            !in_reference_span(&loose, 0, "empty"),
            "no session: its own reference"
        );
    }

    /// 10 s at 10 Hz of one label, every feature `value + frame index / 1000`.
    fn stream(file: &str, session: Option<&str>, label: &str, value: f32) -> Stream {
        Stream {
            path: file.into(),
            node_id: 1,
            chip: "node1".into(),
            date: String::new(),
            named_session: session.map(str::to_owned),
            t_s: (0..100).map(|i| f64::from(i) * 0.1).collect(),
            features: (0..100)
                .map(|i| [value + i as f32 / 1000.0; FRAME_DIMS])
                .collect(),
            labels: vec![Some(label.to_owned()); 100],
            segments: vec![0; 100],
            skipped: Default::default(),
        }
    }

    /// No window spans two segments (a gap): the hop grid starts again at each segment's
    /// first frame, and a segment shorter than a window gives none.
    #[test]
    fn windows_stay_inside_a_segment() {
        use super::cut_windows;
        let mut s = stream("gap", None, "empty", 1.0);
        // Frames 0..40 one segment, 40..50 a short one, 50..100 a third.
        s.segments = (0..100)
            .map(|i| {
                if i < 40 {
                    1
                } else if i < 50 {
                    2
                } else {
                    3
                }
            })
            .collect();
        let starts: Vec<usize> = cut_windows(&[s.clone()], 20, 8, &WindowLabels::default())
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(starts, [0, 8, 16, 50, 58, 66, 74]);
        for &w in &starts {
            assert_eq!(s.segments[w], s.segments[w + 19]);
        }
        // One segment: the plain grid.
        s.segments = vec![1; 100];
        let n = cut_windows(&[s], 20, 8, &WindowLabels::default()).len();
        assert_eq!(n, 11);
    }

    #[test]
    fn a_named_session_is_referenced_to_its_empty_capture() {
        let streams = [
            stream("a-empty", Some("random-i1"), "empty", 1.0),
            stream("a-walk", Some("random-i1"), "walking", 5.0),
            stream("b-walk", Some("random-i2"), "walking", 7.0),
            stream("loose", None, "walking", 9.0),
        ];
        let refs = session_references(&streams, "empty");
        // Session i1: the first 5 s (50 frames) of its empty capture, for both captures.
        let first5 = 1.0 + 49.0 / 2000.0;
        assert!((refs[0].0[0] - first5).abs() < 1e-5, "{:?}", refs[0].0);
        assert_eq!(refs[0], refs[1]);
        // No empty capture in session i2, and no session at all: the stream itself.
        assert!((refs[2].0[0] - (7.0 + 99.0 / 2000.0)).abs() < 1e-5);
        assert!((refs[3].0[0] - (9.0 + 99.0 / 2000.0)).abs() < 1e-5);
        assert!(streams[0].has_session() && !streams[3].has_session());
        assert_eq!(streams[1].session(), "node1/random-i1");
    }

    fn frames(spec: &[(&str, usize)]) -> Vec<Option<String>> {
        spec.iter()
            .flat_map(|&(l, n)| std::iter::repeat_n((!l.is_empty()).then(|| l.to_owned()), n))
            .collect()
    }

    #[test]
    fn the_default_rule_needs_every_frame_to_agree() {
        let rule = WindowLabels::default();
        assert_eq!(rule.label_of(&frames(&[("still", 10)])), Some("still"));
        assert_eq!(rule.label_of(&frames(&[("still", 9), ("fall", 1)])), None);
        assert_eq!(rule.label_of(&frames(&[("", 1), ("still", 9)])), None);
        assert_eq!(rule.label_of(&[]), None);
    }

    #[test]
    fn a_window_containing_enough_of_an_event_is_that_event() {
        let mut rule = WindowLabels {
            events: vec!["fall".into(), "sit_down".into()],
            event_min_frames: 4,
            ..Default::default()
        };
        let w = frames(&[("still", 10), ("fall", 4), ("still", 10)]);
        assert_eq!(rule.label_of(&w), Some("fall"));
        // Too little of the event: neither the event nor a pure window.
        assert_eq!(rule.label_of(&frames(&[("still", 10), ("fall", 3)])), None);
        // Unlabelled frames around an event do not matter.
        assert_eq!(
            rule.label_of(&frames(&[("", 5), ("fall", 5)])),
            Some("fall")
        );
        // Two events: the one with more frames; a tie goes to the first listed.
        let two = frames(&[("sit_down", 6), ("fall", 5)]);
        assert_eq!(rule.label_of(&two), Some("sit_down"));
        let tie = frames(&[("sit_down", 5), ("fall", 5)]);
        assert_eq!(rule.label_of(&tie), Some("fall"));
        // Non-event windows keep the all-frames rule.
        assert_eq!(rule.label_of(&frames(&[("walking", 8)])), Some("walking"));
        assert_eq!(rule.label_of(&frames(&[("walking", 8), ("wave", 1)])), None);
        // An event's own minimum replaces the default for it alone.
        rule.min_frames_by_event.insert("sit_down".into(), 8);
        assert_eq!(
            rule.label_of(&frames(&[("still", 4), ("sit_down", 7)])),
            None
        );
        assert_eq!(
            rule.label_of(&frames(&[("still", 4), ("sit_down", 8)])),
            Some("sit_down")
        );
        assert_eq!(rule.label_of(&w), Some("fall"));
    }
}

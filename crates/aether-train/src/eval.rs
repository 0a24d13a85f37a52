//! Scoring a head on recordings: zero-shot, with a node reference (calibrated), and the
//! leave-one-group-out protocol.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::data::{
    cut_windows, feature_stats, window_starts, FeatureStats, Stream, Window, WindowLabels,
};
use crate::metrics::{
    default_idle_class, episodes_of, event_scores, node_scores, report, Decision, Hop, Report,
};
use crate::model::{HeadNet, LoadedHead};
use crate::train::{
    apply_reference, assign_sessions, hop_seconds, normalise, predict_threaded, train, Prepared,
    SplitBy, TrainOptions,
};

/// Seconds of empty-room frames a node reference needs.
pub const MIN_REFERENCE_S: f64 = crate::data::REFERENCE_S;

/// How old, in hops of its own node, another node's latest decision may be and still join a
/// fused one (`Report::fused`, `aether run --fuse`). One hop would leave two nodes sampled at
/// the same instants on the edge: the other node's decision for that instant is not made yet
/// live, and its previous one is a hop old give or take jitter. Half a hop more keeps it;
/// a node that has fallen silent drops out.
pub const FUSE_MAX_AGE_HOPS: f64 = 1.5;

/// One scored window (`aether eval --windows`): where it lies, its truth and what the head
/// decided, alone and fused with the recording's other nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredWindow {
    /// The recording and the node whose stream the window is cut from.
    pub file: PathBuf,
    pub node_id: u8,
    /// Times of the window's first and last frames, seconds from the recording's start (the
    /// last is the instant `aether run` decides at).
    pub start_s: f64,
    pub t_s: f64,
    pub truth: usize,
    /// Frames of the window labelled `truth`: all of them, but for an event window
    /// (`--events`) the part of the event it holds.
    pub truth_frames: usize,
    /// Class probabilities in the head's class order.
    pub probs: Vec<f32>,
    pub pred: usize,
    /// When some recording of the data holds several nodes (else `None`): the mean
    /// probabilities that decided the fused class, the fused class and the nodes whose
    /// decisions were averaged, in id order (as `run --fuse` names them; only the window's
    /// own node when no other node's decision is recent enough, or none exists).
    pub fused: Option<FusedDecision>,
}

/// A window's decision fused over its recording's nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedDecision {
    pub probs: Vec<f32>,
    pub pred: usize,
    pub nodes: Vec<u8>,
    /// The probabilities that were averaged, one row per entry of `nodes` (what a class bias
    /// moves before they are averaged again: [`Decisions::Fused`]).
    pub node_probs: Vec<Vec<f32>>,
}

/// A head ready to score windows on the host.
pub struct Scorer {
    pub net: HeadNet,
    pub classes: Vec<String>,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    pub window: usize,
    pub hop: usize,
    /// The rule truth windows and episodes are cut by: the one the head was trained with,
    /// unless the caller replaces it (`aether eval --events`).
    pub window_labels: WindowLabels,
    pub frame_rate_hz: f32,
    /// Folded node reference (`calib.*`), applied as `(f - mean) / std`.
    pub calib: Option<(Vec<f32>, Vec<f32>)>,
    /// Training empty-room stats, to fold raw node references.
    pub idle_ref: Option<(Vec<f32>, Vec<f32>)>,
    /// Threads the windows' batches are spread over (the scores do not depend on it).
    pub threads: usize,
}

/// A head scored or run on recordings needs the window it was trained on; `window_len` 0
/// (allowed by the format: "unspecified", the device caller chooses) names none.
pub fn require_window(window_len: usize) -> anyhow::Result<usize> {
    if window_len == 0 {
        bail!(
            "the model names no window (metadata window_len is 0): the host tools score a head \
             over the window it was trained on, which `aether train` records"
        );
    }
    Ok(window_len)
}

impl Scorer {
    pub fn from_loaded(h: &LoadedHead) -> anyhow::Result<Self> {
        if h.cfg.output_kind == crate::model::OutputKind::Embedding {
            bail!(
                "an embedding head ({} dimensions, `train --task embed`): eval scores class \
                 decisions; fine-tune a classifier from it with `train --init`, or score \
                 embeddings with `gate`",
                h.cfg.n_out
            );
        }
        crate::model::csi_input(u32::from(h.meta.feature_set), h.meta.input_mean.len())?;
        require_window(h.meta.window_len)?;
        Ok(Self {
            net: h.net(h.meta.trained_attention)?,
            classes: h.meta.class_names.clone(),
            input_mean: h.meta.input_mean.clone(),
            input_std: h.meta.input_std.clone(),
            window: h.meta.window_len,
            hop: h.meta.hop.max(1),
            window_labels: h.meta.window_labels.clone(),
            frame_rate_hz: h.meta.frame_rate_hz,
            calib: h.meta.calib.clone(),
            idle_ref: h.meta.idle_ref.clone(),
            threads: 1,
        })
    }

    pub fn idle(&self, idle_class: Option<&str>) -> anyhow::Result<Option<usize>> {
        match idle_class {
            Some(c) => Ok(Some(
                self.classes.iter().position(|x| x == c).with_context(|| {
                    format!("idle class {c:?} is not one of {:?}", self.classes)
                })?,
            )),
            None => Ok(default_idle_class(&self.classes)),
        }
    }

    /// Scores streams. `refs[i]` (if given) is stream i's raw node reference (empty-room
    /// feature mean/std), mapped onto the training empty room; otherwise the model's own
    /// `calib.*` applies when present; otherwise frames go in as they are (zero-shot).
    pub fn score(
        &self,
        streams: Vec<Stream>,
        refs: Option<&[(Vec<f32>, Vec<f32>)]>,
        idle: Option<usize>,
    ) -> anyhow::Result<Report> {
        Ok(self.score_windows(streams, refs, idle)?.0)
    }

    /// [`Self::score`], with every scored window's decision in the order the report counted
    /// them.
    pub fn score_windows(
        &self,
        mut streams: Vec<Stream>,
        refs: Option<&[(Vec<f32>, Vec<f32>)]>,
        idle: Option<usize>,
    ) -> anyhow::Result<(Report, Vec<ScoredWindow>)> {
        for (i, s) in streams.iter_mut().enumerate() {
            match (refs, &self.calib) {
                (Some(r), _) => {
                    let (im, is) = self
                        .idle_ref
                        .as_ref()
                        .context("the head has no training empty-room statistics")?;
                    let (cm, cs) = crate::model::fold_reference(&r[i].0, &r[i].1, im, is)?;
                    apply_reference(s, &cm, &cs)
                }
                (None, Some((m, sd))) => apply_reference(s, m, sd),
                (None, None) => {}
            }
        }
        let inputs: Vec<Vec<f32>> = streams
            .iter()
            .map(|s| normalise(s, &self.input_mean, &self.input_std))
            .collect();
        let windows: Vec<_> = cut_windows(&streams, self.window, self.hop, &self.window_labels)
            .into_iter()
            .filter(|w| self.classes.contains(&w.label))
            .collect();
        // Frames whose label the model does not know would silently drop out of every metric
        // (a typo in --label-map scored a perfect 1.0 on the rest): refuse them.
        let mut foreign: BTreeMap<&str, usize> = BTreeMap::new();
        for l in streams.iter().flat_map(|s| s.labels.iter().flatten()) {
            if !self.classes.contains(l) {
                *foreign.entry(l.as_str()).or_default() += 1;
            }
        }
        if !foreign.is_empty() {
            bail!(
                "the data holds labels the model does not know (frames per label: {foreign:?}; the model's classes: {:?}): rename them with --label-map or leave those recordings out",
                self.classes
            );
        }
        if windows.is_empty() {
            bail!("no labelled windows of {} frames in the data", self.window);
        }
        let probs = predict_threaded(&self.net, &inputs, &windows, self.window, 128, self.threads)?;
        let hop_s = hop_seconds(&streams, self.hop, self.frame_rate_hz);
        let decisions: Vec<Decision> = windows
            .iter()
            .zip(&probs)
            .map(|(w, p)| Decision {
                stream: w.stream,
                start: w.start,
                truth: self
                    .classes
                    .iter()
                    .position(|c| *c == w.label)
                    .expect("filtered"),
                pred: argmax(p),
                seconds: hop_s[w.stream],
            })
            .collect();
        let mut r = self.report(&streams, &decisions, idle);
        let fused = self.fuse_nodes(&streams, &inputs, &windows, &probs)?;
        if let Some(fused) = &fused {
            let decisions: Vec<Decision> = (decisions.iter().zip(fused))
                .map(|(d, f)| Decision { pred: f.pred, ..*d })
                .collect();
            r.fused = Some(Box::new(self.report(&streams, &decisions, idle)));
        }
        let mut fused = fused.map(Vec::into_iter);
        let scored = (windows.iter().zip(decisions).zip(probs))
            .map(|((w, d), probs)| {
                let s = &streams[w.stream];
                let frames = &s.labels[w.start..w.start + self.window];
                ScoredWindow {
                    file: s.path.clone(),
                    node_id: s.node_id,
                    start_s: s.t_s[w.start],
                    t_s: s.t_s[w.start + self.window - 1],
                    truth: d.truth,
                    truth_frames: (frames.iter())
                        .filter(|l| l.as_deref() == Some(w.label.as_str()))
                        .count(),
                    probs,
                    pred: d.pred,
                    fused: fused.as_mut().and_then(Iterator::next),
                }
            })
            .collect();
        Ok((r, scored))
    }

    /// [`Self::score_windows`] with each session referenced to its own empty-room capture
    /// (its first [`MIN_REFERENCE_S`] seconds, not scored; [`calibrated_split`]), which
    /// replaces any reference the model carries. Also returns the recordings left out (no
    /// empty-room capture in their session); an error when no session has one.
    pub fn score_sessions(
        &self,
        streams: Vec<Stream>,
        idle: Option<usize>,
    ) -> anyhow::Result<(Report, Vec<ScoredWindow>, Vec<String>)> {
        let idle_name = idle
            .map(|i| self.classes[i].clone())
            .context("--calibrate-sessions needs an idle class (--idle-class)")?;
        let (kept, refs, left_out) = calibrated_split(streams, &idle_name)?;
        if kept.is_empty() {
            bail!("--calibrate-sessions: no session in the data has a {idle_name:?} capture");
        }
        let (report, windows) = self.score_windows(kept, Some(&refs), idle)?;
        Ok((report, windows, left_out))
    }

    /// Totals, per node and per episode of `decisions` over `streams`.
    fn report(&self, streams: &[Stream], decisions: &[Decision], idle: Option<usize>) -> Report {
        let hop = Hop { frames: self.hop };
        let mut r = report(&self.classes, decisions, idle, hop);
        r.per_node = node_scores(&self.classes, decisions, idle, hop, |s| streams[s].node_id);
        let events: Vec<usize> = (self.window_labels.events.iter())
            .filter_map(|e| self.classes.iter().position(|c| c == e))
            .collect();
        if !events.is_empty() {
            let labels: Vec<&[Option<String>]> =
                streams.iter().map(|s| s.labels.as_slice()).collect();
            let episodes = episodes_of(&labels, &self.classes, &events);
            r.events = event_scores(
                &self.classes,
                &events,
                &episodes,
                decisions,
                self.window,
                hop,
                |s, f| streams[s].t_s[f],
            );
        }
        r
    }

    /// The class each window gets when the nodes of its recording decide together: the mean of
    /// its class probabilities and, from every other node of the same recording, those of that
    /// node's latest window (labelled or not) ending no later, if at most
    /// [`FUSE_MAX_AGE_HOPS`] of that node's hops earlier (a hop: its mean interval between
    /// windows so far in the segment): what `aether run --fuse --input` decides on the same
    /// recording. Several receivers of one room see a body from different sides; one that a
    /// person's position hides it from sees little. `None` when no recording holds more than
    /// one node.
    fn fuse_nodes(
        &self,
        streams: &[Stream],
        inputs: &[Vec<f32>],
        windows: &[Window],
        probs: &[Vec<f32>],
    ) -> anyhow::Result<Option<Vec<FusedDecision>>> {
        let mut by_recording: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
        for (i, s) in streams.iter().enumerate() {
            by_recording.entry(s.path.as_path()).or_default().push(i);
        }
        if by_recording.values().all(|nodes| nodes.len() < 2) {
            return Ok(None);
        }
        // Every window on the hop grid of a stream with partners, predicted once: the labelled
        // ones were, the rest (mixed labels, unlabelled) are predicted here.
        let labelled: HashMap<(usize, usize), usize> = (windows.iter().enumerate())
            .map(|(i, w)| ((w.stream, w.start), i))
            .collect();
        let mut extra = Vec::new();
        // A node's hop before its second decision of a segment: one at the model's rate.
        let first_hop_s = if self.frame_rate_hz > 0.0 {
            self.hop as f64 / f64::from(self.frame_rate_hz)
        } else {
            0.0
        };
        // Per stream: (time of the window's last frame, the node's hop then, index into probs
        // or extra probs).
        type Entry = (f64, f64, Result<usize, usize>);
        let mut grid: Vec<Vec<Entry>> = vec![Vec::new(); streams.len()];
        for nodes in by_recording.values().filter(|nodes| nodes.len() > 1) {
            for &si in nodes {
                let s = &streams[si];
                // (segment, end of its first window, windows since): a hop is the mean interval
                // between decisions within the segment, so a gap does not stretch it.
                let mut segment: Option<(u64, f64, usize)> = None;
                for start in window_starts(s, self.window, self.hop) {
                    let end = s.t_s[start + self.window - 1];
                    let hop_now = match &mut segment {
                        Some((g, first, since)) if *g == s.segments[start] => {
                            *since += 1;
                            (end - *first) / *since as f64
                        }
                        _ => {
                            segment = Some((s.segments[start], end, 0));
                            first_hop_s
                        }
                    };
                    let src = match labelled.get(&(si, start)) {
                        Some(&i) => Ok(i),
                        None => {
                            extra.push(Window {
                                stream: si,
                                start,
                                label: String::new(),
                            });
                            Err(extra.len() - 1)
                        }
                    };
                    grid[si].push((end, hop_now, src));
                }
                grid[si].sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
        let extra_probs =
            predict_threaded(&self.net, inputs, &extra, self.window, 128, self.threads)?;
        let grid: Vec<Vec<Partner>> = (grid.into_iter())
            .map(|g| {
                (g.into_iter())
                    .map(|(end, hop_s, src)| {
                        let probs = match src {
                            Ok(i) => &probs[i],
                            Err(i) => &extra_probs[i],
                        };
                        Partner { end, hop_s, probs }
                    })
                    .collect()
            })
            .collect();
        let mut fused = Vec::with_capacity(windows.len());
        for (w, p) in windows.iter().zip(probs) {
            let mut sum = p.clone();
            let mut members = vec![(streams[w.stream].node_id, p.clone())];
            let t = streams[w.stream].t_s[w.start + self.window - 1];
            for &other in &by_recording[streams[w.stream].path.as_path()] {
                if other == w.stream {
                    continue;
                }
                if let Some(q) = add_latest(&mut sum, &grid[other], t) {
                    members.push((streams[other].node_id, q.to_vec()));
                }
            }
            // The mean decides as the sum does; it is what `run --fuse` prints.
            let n = members.len() as f32;
            let probs: Vec<f32> = sum.iter().map(|x| x / n).collect();
            members.sort_by_key(|m| m.0);
            let (nodes, node_probs) = members.into_iter().unzip();
            fused.push(FusedDecision {
                pred: argmax(&probs),
                probs,
                nodes,
                node_probs,
            });
        }
        Ok(Some(fused))
    }
}

/// The largest logit bias, either way, [`bias_for_recall`] sets: e^20 times a class's odds.
/// Beyond it the head does not tell the class apart at all on the windows it misses (or,
/// lowering a recall, calls it beyond any doubt).
pub const MAX_CLASS_BIAS: f64 = 20.0;

/// Which decisions a class bias is set on and measured by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decisions {
    /// Each node's own ([`ScoredWindow::pred`]).
    Node,
    /// The decisions fused over a recording's nodes ([`ScoredWindow::fused`], `run --fuse`):
    /// the bias moves each averaged node's probabilities, as it does once folded into the
    /// head, and the means decide.
    Fused,
}

/// What a class bias buys and costs on scored windows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BiasEffect {
    /// Windows whose truth is the class, and the fraction predicted as it.
    pub windows: u64,
    pub recall: f64,
    /// Windows of another truth predicted as the class, over those windows.
    pub other_called_it: f64,
    pub accuracy: f64,
}

/// The class the probabilities `p` give once `bias` is added to `class`'s logit: the largest
/// `p[j]`, `class`'s multiplied by e^bias (the first of equals, as [`argmax`]).
pub fn biased_argmax(p: &[f32], class: usize, bias: f64) -> usize {
    let value = |j: usize| {
        let x = f64::from(p[j]);
        if j == class {
            x * bias.exp()
        } else {
            x
        }
    };
    let mut best = 0;
    for j in 1..p.len() {
        if value(j) > value(best) {
            best = j;
        }
    }
    best
}

/// The class fused decisions give once `bias` is added to `class`'s logit in every node:
/// the largest entry of [`biased_fused_means`] (the first of equals).
pub fn biased_fused_argmax(node_probs: &[Vec<f32>], class: usize, bias: f64) -> usize {
    argmax(&biased_fused_means(node_probs, class, bias))
}

/// Each row of `node_probs` renormalised with `class`'s entry multiplied by e^bias (the
/// node's softmax with the bias added to the class's logit), averaged over the rows.
fn biased_fused_means(node_probs: &[Vec<f32>], class: usize, bias: f64) -> Vec<f64> {
    let scale = bias.exp();
    let classes = node_probs.first().map_or(0, Vec::len);
    let mut mean = vec![0.0f64; classes];
    for row in node_probs {
        let weight = |j: usize, x: f32| f64::from(x) * if j == class { scale } else { 1.0 };
        let z: f64 = (row.iter().enumerate()).map(|(j, &x)| weight(j, x)).sum();
        for (j, (m, &x)) in mean.iter_mut().zip(row).enumerate() {
            *m += weight(j, x) / z / node_probs.len() as f64;
        }
    }
    mean
}

/// How far `class`'s mean must lead every other class's for a fused window to count as called
/// by a bias [`bias_for_recall`] sets: some 16 f32 steps at one half, so that the tuned head,
/// which computes and averages its probabilities in f32, decides the same way. (Near two
/// nodes that disagree confidently, the means barely move with the bias, and 1e-3 of logit
/// alone could leave them within rounding of a tie.)
const FUSED_MARGIN: f64 = 1e-6;

/// A window's decision under `bias`, or an error for fused decisions the window lacks.
fn biased_decision(
    w: &ScoredWindow,
    class: usize,
    bias: f64,
    decisions: Decisions,
) -> anyhow::Result<usize> {
    Ok(match decisions {
        Decisions::Node => biased_argmax(&w.probs, class, bias),
        // Unbiased, the decision `eval` made (in f32; the f64 means could break a tie
        // differently).
        Decisions::Fused if bias == 0.0 => fused_rows(w)?.pred,
        Decisions::Fused => biased_fused_argmax(&fused_rows(w)?.node_probs, class, bias),
    })
}

fn fused_rows(w: &ScoredWindow) -> anyhow::Result<&FusedDecision> {
    w.fused.as_ref().with_context(|| {
        format!(
            "{} (node {}) has no fused decision: fused decisions need a recording with \
             several nodes",
            w.file.display(),
            w.node_id
        )
    })
}

/// Recall, false calls and accuracy of `windows` with `bias` added to `class`'s logit.
pub fn bias_effect(
    windows: &[ScoredWindow],
    class: usize,
    bias: f64,
    decisions: Decisions,
) -> anyhow::Result<BiasEffect> {
    let (mut truth, mut hit, mut other, mut called, mut right) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for w in windows {
        let pred = biased_decision(w, class, bias, decisions)?;
        right += u64::from(pred == w.truth);
        if w.truth == class {
            truth += 1;
            hit += u64::from(pred == class);
        } else {
            other += 1;
            called += u64::from(pred == class);
        }
    }
    let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    Ok(BiasEffect {
        windows: truth,
        recall: ratio(hit, truth),
        other_called_it: ratio(called, other),
        accuracy: ratio(right, windows.len() as u64),
    })
}

/// The largest of `values` (probabilities, so never below 0) but `class`'s; 0 for none.
fn best_other(values: impl Iterator<Item = f64>, class: usize) -> f64 {
    (values.enumerate())
        .filter(|&(j, _)| j != class)
        .fold(0.0, |best, (_, v)| best.max(v))
}

/// The smallest bias at which a window's decision is `class`: ln(best other) - ln(own) for a
/// node's own decision. For a fused one, the smallest at which `class`'s mean leads every
/// other by [`FUSED_MARGIN`], found by bisection (the mean of `class`'s biased probabilities
/// only rises with the bias, every other class's only falls) to within 1e-12, the upper end of
/// the last interval; infinite beyond 2 × [`MAX_CLASS_BIAS`] either way.
fn bias_needed(w: &ScoredWindow, class: usize, decisions: Decisions) -> anyhow::Result<f64> {
    if decisions == Decisions::Node {
        let own = f64::from(w.probs[class]).ln();
        return Ok(best_other(w.probs.iter().map(|&p| f64::from(p)), class).ln() - own);
    }
    let rows = &fused_rows(w)?.node_probs;
    let leads = |b: f64| {
        let mean = biased_fused_means(rows, class, b);
        mean[class] - best_other(mean.iter().copied(), class) >= FUSED_MARGIN
    };
    let (mut lo, mut hi) = (-2.0 * MAX_CLASS_BIAS, 2.0 * MAX_CLASS_BIAS);
    if leads(lo) {
        return Ok(f64::NEG_INFINITY);
    }
    if !leads(hi) {
        return Ok(f64::INFINITY);
    }
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if leads(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The logit bias for `class` that puts its per-window recall on `windows` (each node's own
/// decisions, or the fused ones) at `recall` or just above: the smallest bias that turns that
/// fraction of the class's windows into calls of it (fused: with [`FUSED_MARGIN`] to spare),
/// plus 1e-3 so rounding in another run of the head cannot undo it. Positive when the head falls short of the recall; negative when it
/// exceeds it (the surplus traded for fewer calls of the class on other windows).
pub fn bias_for_recall(
    windows: &[ScoredWindow],
    class: usize,
    recall: f64,
    decisions: Decisions,
) -> anyhow::Result<f64> {
    if !(recall > 0.0 && recall <= 1.0) {
        bail!("a recall must be in (0, 1], not {recall}");
    }
    let mut needed = (windows.iter())
        .filter(|w| w.truth == class)
        .map(|w| bias_needed(w, class, decisions))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    if needed.is_empty() {
        bail!("no window of the data has the class as its truth");
    }
    needed.sort_by(f64::total_cmp);
    // The fewest windows k with k / n >= recall, by the division the recall is reported with
    // (0.07 * 100 rounds up to 7.000000000000001, whose ceiling is one window too many).
    let n = needed.len();
    let reaches = |k: usize| k as f64 / n as f64 >= recall;
    let mut k = ((recall * n as f64).ceil() as usize).clamp(1, n);
    while k > 1 && reaches(k - 1) {
        k -= 1;
    }
    while k < n && !reaches(k) {
        k += 1;
    }
    let bias = needed[k - 1] + 1e-3;
    if !(bias.is_finite() && bias.abs() <= MAX_CLASS_BIAS) {
        let why = match (bias > 0.0, decisions) {
            (true, Decisions::Node) => {
                "the head gives the windows it misses next to no probability of the class"
            }
            (true, Decisions::Fused) => {
                "on the windows missed, too many of the fused nodes give the class next to no \
                 probability (a mean cannot pass the share of nodes that give it some)"
            }
            (false, _) => "the head calls the class too confidently to lower its recall so far",
        };
        bail!(
            "a recall of {recall} on these {} windows needs a logit bias of {bias:.1}, beyond \
             the ±{MAX_CLASS_BIAS} allowed: {why}",
            needed.len()
        );
    }
    Ok(bias)
}

/// One window of another node, as fusion sees it.
struct Partner<'a> {
    /// Time of the window's last frame.
    end: f64,
    /// The node's hop then: its mean interval between decisions so far in this segment (one
    /// hop at the model's frame rate for the segment's first).
    hop_s: f64,
    probs: &'a [f32],
}

/// Adds to `sum` the class probabilities of the latest window of `grid` (one node's windows,
/// sorted by the time of their last frame) ending at or before `t`, if at most
/// [`FUSE_MAX_AGE_HOPS`] of its node's hops before it. Returns the probabilities added.
fn add_latest<'a>(sum: &mut [f32], grid: &[Partner<'a>], t: f64) -> Option<&'a [f32]> {
    let k = grid.partition_point(|p| p.end <= t);
    match k.checked_sub(1).map(|n| &grid[n]) {
        Some(p) if t - p.end <= FUSE_MAX_AGE_HOPS * p.hop_s => {
            for (s, q) in sum.iter_mut().zip(p.probs) {
                *s += q;
            }
            Some(p.probs)
        }
        _ => None,
    }
}

/// Index of the largest value: the first of equals, as the 0xC5110007 packet's argmax
/// (`ClassificationRepr::from_logits`) that `aether run` prints; 0 for none.
fn argmax<T: PartialOrd>(p: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate().skip(1) {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Splits off the first `seconds` of `s` as a reference (mean, std); `s` keeps the rest.
pub fn take_reference(s: &mut Stream, seconds: f64) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let t0 = *s.t_s.first().context("empty stream")?;
    let n = s.t_s.iter().take_while(|&&t| t < t0 + seconds).count();
    if s.t_s.get(n).is_none() && s.t_s.last().map(|l| l - t0).unwrap_or(0.0) < seconds {
        bail!(
            "{}: {:.1} s of frames, a reference needs {seconds} s",
            s.file_name(),
            s.t_s.last().map(|l| l - t0).unwrap_or(0.0)
        );
    }
    let r = feature_stats(s.features[..n].iter());
    s.t_s.drain(..n);
    s.features.drain(..n);
    s.labels.drain(..n);
    s.segments.drain(..n);
    Ok(r)
}

/// Per held-out stream references for calibrated scoring: each session's idle capture gives
/// its first [`MIN_REFERENCE_S`] seconds (removed from scoring); sessions without an idle
/// capture are dropped (returned separately by name). A recording that names no session (no
/// sidecar session, no capture date) is a session of its own, as in training.
pub fn calibrated_split(
    mut streams: Vec<Stream>,
    idle_class: &str,
) -> anyhow::Result<(Vec<Stream>, Vec<FeatureStats>, Vec<String>)> {
    assign_sessions(&mut streams, idle_class);
    let key = |s: &Stream| {
        if s.has_session() {
            s.session()
        } else {
            format!("{}#{}", s.path.display(), s.node_id)
        }
    };
    let mut refs: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for s in streams.iter_mut() {
        if s.labels.iter().all(|l| l.as_deref() == Some(idle_class)) && !refs.contains_key(&key(s))
        {
            let r = take_reference(s, MIN_REFERENCE_S)?;
            refs.insert(key(s), r);
        }
    }
    let mut kept = Vec::new();
    let mut rs = Vec::new();
    let mut dropped = Vec::new();
    for s in streams {
        match refs.get(&key(&s)) {
            Some(r) => {
                rs.push(r.clone());
                kept.push(s);
            }
            None => dropped.push(s.file_name()),
        }
    }
    Ok((kept, rs, dropped))
}

#[derive(Clone, Debug, Serialize)]
pub struct LocoRow {
    pub held_out: String,
    pub windows: u64,
    pub zero_shot_f1: f64,
    pub zero_shot_accuracy: f64,
    pub zero_shot_fp_rate: Option<f64>,
    pub calibrated_f1: Option<f64>,
    pub calibrated_accuracy: Option<f64>,
    pub calibrated_fp_rate: Option<f64>,
    pub train_seconds: f64,
}

fn scorer_of(t: &crate::train::Trained, opts: &TrainOptions) -> anyhow::Result<Scorer> {
    let Prepared {
        classes,
        input_mean,
        input_std,
        ..
    } = &t.prep;
    Ok(Scorer {
        // The attention it was trained with: a dense A/B head is scored dense.
        net: HeadNet::from_params(t.net.cfg.clone(), opts.backend, t.net.params.clone())?,
        classes: classes.clone(),
        input_mean: input_mean.clone(),
        input_std: input_std.clone(),
        window: opts.window,
        hop: opts.hop,
        window_labels: opts.window_labels.clone(),
        frame_rate_hz: t.frame_rate_hz,
        calib: None,
        idle_ref: t.prep.idle_ref.clone(),
        threads: opts.threads,
    })
}

/// Leave-one-group-out: for each group (chip by default), train on the others (validation
/// split by session among them) and score the held-out group zero-shot; with `calibrated`,
/// also train a referenced head and score it with each held-out session's 5 s reference.
pub fn leave_one_out(
    streams: &[Stream],
    by: SplitBy,
    opts: &TrainOptions,
    calibrated: bool,
    mut progress: impl FnMut(&LocoRow),
) -> anyhow::Result<Vec<LocoRow>> {
    let groups: Vec<String> = streams
        .iter()
        .map(|s| by.key(s))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if groups.len() < 2 {
        bail!("leave-one-out needs two or more groups, found {groups:?}");
    }
    let mut rows = Vec::new();
    for g in &groups {
        let (test, train_s): (Vec<Stream>, Vec<Stream>) =
            streams.iter().cloned().partition(|s| &by.key(s) == g);
        // A recording's nodes see the same events: one held out while another trains is
        // no unseen data.
        if let Some(s) = test
            .iter()
            .find(|s| train_s.iter().any(|o| o.path == s.path))
        {
            bail!(
                "leave-one-out by {}: holding out {g} leaves other nodes of {} in training (its \
                 nodes see the same events); hold out sessions or recordings instead",
                format!("{by:?}").to_lowercase(),
                s.path.display()
            );
        }
        let mut o = opts.clone();
        o.val_groups.clear();
        o.reference = false;
        let t = train(train_s.clone(), &o)?;
        let sc = scorer_of(&t, &o)?;
        let idle = sc.idle(opts.idle_class.as_deref())?;
        let zs = sc.score(test.clone(), None, idle)?;
        let mut row = LocoRow {
            held_out: g.clone(),
            windows: zs.windows,
            zero_shot_f1: zs.f1_macro,
            zero_shot_accuracy: zs.accuracy,
            zero_shot_fp_rate: zs.fp_rate,
            calibrated_f1: None,
            calibrated_accuracy: None,
            calibrated_fp_rate: None,
            train_seconds: t.seconds,
        };
        if calibrated {
            let idle_name = idle
                .map(|i| sc.classes[i].clone())
                .context("calibration needs an idle class")?;
            let mut oc = o.clone();
            oc.reference = true;
            let tc = train(train_s, &oc)?;
            let scc = scorer_of(&tc, &oc)?;
            let (kept, refs, _dropped) = calibrated_split(test, &idle_name)?;
            if !kept.is_empty() {
                let r = scc.score(kept, Some(&refs), idle)?;
                row.calibrated_f1 = Some(r.f1_macro);
                row.calibrated_accuracy = Some(r.accuracy);
                row.calibrated_fp_rate = r.fp_rate;
            }
            row.train_seconds += tc.seconds;
        }
        progress(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Per-feature reference (mean, std) from frames `[start_s, end_s)` of idle streams.
pub fn reference_of(streams: &[Stream]) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let n: usize = streams.iter().map(|s| s.features.len()).sum();
    let secs: f64 = streams
        .iter()
        .map(|s| s.t_s.last().unwrap_or(&0.0) - s.t_s.first().unwrap_or(&0.0))
        .sum();
    if n == 0 || secs < MIN_REFERENCE_S - 0.05 {
        // The settling frames are already left out of `secs`; a little spare for frame spacing.
        let short = (MIN_REFERENCE_S - secs).max(0.0) + 0.1;
        bail!(
            "a node reference needs >= {MIN_REFERENCE_S} s of empty-room frames, got {secs:.2} s \
             after each stream's first {} frames (~0.5 s), which only settle the feature \
             extractor: record, or widen --span, by about {short:.1} s more",
            crate::data::SETTLE_FRAMES
        );
    }
    let (m, s) = feature_stats(streams.iter().flat_map(|s| s.features.iter()));
    debug_assert_eq!(m.len(), crate::data::FRAME_DIMS);
    Ok((m, s))
}

#[cfg(test)]
mod tests {
    use super::{
        add_latest, argmax, bias_effect, bias_for_recall, biased_argmax, calibrated_split,
        Decisions, FusedDecision, Partner, ScoredWindow,
    };
    use crate::data::{Stream, FRAME_DIMS};

    /// 10 s at 20 Hz of one label.
    fn stream(file: &str, date: &str, label: &str) -> Stream {
        Stream {
            path: file.into(),
            node_id: 1,
            chip: "node1".into(),
            date: date.into(),
            named_session: None,
            t_s: (0..200).map(|i| f64::from(i) * 0.05).collect(),
            features: vec![[0.5; FRAME_DIMS]; 200],
            labels: vec![Some(label.to_owned()); 200],
            segments: vec![0; 200],
            skipped: Default::default(),
        }
    }

    #[test]
    fn fusion_adds_the_latest_window_within_its_nodes_age_limit() {
        fn partner(end: f64, hop_s: f64, probs: &[f32]) -> Partner<'_> {
            Partner { end, hop_s, probs }
        }
        let (a, b, c): (&[f32], &[f32], &[f32]) = (&[0.9, 0.1], &[0.2, 0.8], &[0.5, 0.5]);
        // Hops of 0.16 s: a window may be 0.24 s old.
        let grid = vec![
            partner(1.00, 0.16, a),
            partner(1.16, 0.16, b),
            partner(1.32, 0.16, c),
        ];
        let add = |t: f64| {
            let mut sum = vec![0.0f32; 2];
            add_latest(&mut sum, &grid, t).is_some().then_some(sum)
        };
        // The latest window ending no later counts, even when the next one is nearer.
        assert_eq!(add(1.15), Some(vec![0.9, 0.1]));
        assert_eq!(add(1.16), Some(vec![0.2, 0.8]));
        assert_eq!(add(1.20), Some(vec![0.2, 0.8]));
        // Nothing ends before the first window; a window over 1.5 hops old is stale.
        assert_eq!(add(0.99), None);
        assert_eq!(add(1.55), Some(vec![0.5, 0.5]));
        assert_eq!(add(1.57), None);
        // The age limit is the partner's own hop: a slower node's window lives longer.
        let slow = vec![partner(1.00, 0.4, a)];
        let mut sum = vec![0.0f32; 2];
        assert!(add_latest(&mut sum, &slow, 1.59).is_some());
        assert!(add_latest(&mut sum, &slow, 1.61).is_none());
        let mut sum = vec![0.0f32; 2];
        assert!(add_latest(&mut sum, &[], 1.0).is_none());
        assert_eq!(sum, [0.0, 0.0]);
    }

    /// A window of truth `truth` with class probabilities `probs`.
    fn scored(truth: usize, probs: &[f32]) -> ScoredWindow {
        ScoredWindow {
            file: "r.csi.jsonl".into(),
            node_id: 1,
            start_s: 0.0,
            t_s: 1.0,
            truth,
            truth_frames: 32,
            pred: argmax(probs),
            probs: probs.to_vec(),
            fused: None,
        }
    }

    #[test]
    fn a_class_bias_multiplies_its_odds() {
        let p = [0.5, 0.3, 0.2];
        assert_eq!(biased_argmax(&p, 2, 0.0), 0);
        // 0.2 e^b against 0.5: b = ln 2.5 is the tie (the first of equals keeps class 0).
        assert_eq!(biased_argmax(&p, 2, 2.5f64.ln() - 1e-6), 0);
        assert_eq!(biased_argmax(&p, 2, 2.5f64.ln() + 1e-6), 2);
        // A negative bias gives the class up.
        assert_eq!(biased_argmax(&p, 0, -(0.5f64 / 0.3).ln() - 1e-6), 1);
    }

    /// The bias puts the recall at the target or just above, raising a short recall and
    /// trading a surplus for fewer calls of the class elsewhere; it refuses what no bias
    /// within the limit reaches.
    #[test]
    fn the_bias_for_a_recall_is_the_smallest_that_reaches_it() {
        // Class 1's windows need ln(0.6/0.4), ln(0.7/0.3), ln(0.9/0.1) to win; one already
        // wins by ln(0.6/0.4). Two windows of other truths: class 1 takes the first from a
        // bias of ln(0.55/0.45) on.
        let windows = [
            scored(1, &[0.4, 0.6]),
            scored(1, &[0.6, 0.4]),
            scored(1, &[0.7, 0.3]),
            scored(1, &[0.9, 0.1]),
            scored(0, &[0.55, 0.45]),
            scored(0, &[0.99, 0.01]),
        ];
        let before = bias_effect(&windows, 1, 0.0, Decisions::Node).unwrap();
        assert_eq!(before.windows, 4);
        assert_eq!(
            (before.recall, before.other_called_it, before.accuracy),
            (0.25, 0.0, 0.5)
        );
        // Half: the second window's ln 1.5, and its neighbour in the other class comes along.
        let b = bias_for_recall(&windows, 1, 0.5, Decisions::Node).unwrap();
        assert!((b - (1.5f64.ln() + 1e-3)).abs() < 1e-6, "{b}");
        let after = bias_effect(&windows, 1, b, Decisions::Node).unwrap();
        assert_eq!((after.recall, after.other_called_it), (0.5, 0.5));
        // Three quarters: ln(7/3).
        let b = bias_for_recall(&windows, 1, 0.75, Decisions::Node).unwrap();
        assert!((b - ((0.7f64 / 0.3).ln() + 1e-3)).abs() < 1e-6, "{b}");
        assert_eq!(
            bias_effect(&windows, 1, b, Decisions::Node).unwrap().recall,
            0.75
        );
        // A quarter is below what the head gives: a negative bias, as far as the window that
        // wins by least can go and still win.
        let b = bias_for_recall(&windows, 1, 0.25, Decisions::Node).unwrap();
        assert!((b - ((0.4f64 / 0.6).ln() + 1e-3)).abs() < 1e-6, "{b}");
        assert_eq!(
            bias_effect(&windows, 1, b, Decisions::Node).unwrap().recall,
            0.25
        );
        // The window count for a recall is taken by the division recall is reported with:
        // 0.07 of 100 windows is 7 (0.07 * 100 rounds to 7.000000000000001).
        let many: Vec<ScoredWindow> = (1..=100)
            .map(|i| scored(1, &[0.5 + 0.004 * i as f32, 0.5 - 0.004 * i as f32]))
            .collect();
        let b = bias_for_recall(&many, 1, 0.07, Decisions::Node).unwrap();
        assert_eq!(
            bias_effect(&many, 1, b, Decisions::Node).unwrap().recall,
            0.07,
            "{b}"
        );
        let b = bias_for_recall(&many, 1, 0.55, Decisions::Node).unwrap();
        assert_eq!(
            bias_effect(&many, 1, b, Decisions::Node).unwrap().recall,
            0.55,
            "{b}"
        );
        // Beyond the limit, a bad recall, no window of the class: errors.
        let hopeless = [scored(1, &[1.0, 0.0])];
        let err = bias_for_recall(&hopeless, 1, 1.0, Decisions::Node)
            .unwrap_err()
            .to_string();
        assert!(err.contains("beyond"), "{err}");
        assert!(bias_for_recall(&windows, 1, 0.0, Decisions::Node).is_err());
        assert!(bias_for_recall(&windows, 1, 1.5, Decisions::Node).is_err());
        assert!(bias_for_recall(&windows[4..], 1, 0.5, Decisions::Node).is_err());
    }

    /// `scored`, fused with another node whose probabilities are `other`.
    fn scored_fused(truth: usize, own: &[f32], other: &[f32]) -> ScoredWindow {
        let mut w = scored(truth, own);
        let probs: Vec<f32> = own.iter().zip(other).map(|(a, b)| (a + b) / 2.0).collect();
        w.fused = Some(FusedDecision {
            pred: argmax(&probs),
            probs,
            nodes: vec![1, 2],
            node_probs: vec![own.to_vec(), other.to_vec()],
        });
        w
    }

    /// On fused decisions the bias moves each node's probabilities before they are averaged.
    /// Two classes: the mean of σ(a + b) and σ(c + b) reaches one half at b = -(a + c) / 2, so
    /// each fused window's threshold is known (up to the margin a call needs), and differs
    /// from either node's own.
    #[test]
    fn the_bias_for_a_fused_recall_moves_every_node() {
        // Of the rows as stored (1 - p rounded in f32).
        let logit = |p: f32| (f64::from(p) / f64::from(1.0 - p)).ln();
        let pairs = [(0.1f32, 0.6f32), (0.2, 0.3), (0.45, 0.6), (0.05, 0.15)];
        let windows: Vec<ScoredWindow> = (pairs.iter())
            .map(|&(a, c)| scored_fused(1, &[1.0 - a, a], &[1.0 - c, c]))
            .chain([scored_fused(0, &[0.7, 0.3], &[0.5, 0.5])])
            .collect();
        let threshold = |(a, c): (f32, f32)| -(logit(a) + logit(c)) / 2.0;
        let mut thresholds: Vec<f64> = pairs.iter().map(|&p| threshold(p)).collect();
        thresholds.sort_by(f64::total_cmp);
        // The margin moves a threshold by about 1e-6 over the means' slope (≥ 0.05 here).
        let near = |b: f64, t: f64| (b - (t + 1e-3)).abs() < 1e-4;
        let before = bias_effect(&windows, 1, 0.0, Decisions::Fused).unwrap();
        assert_eq!((before.recall, before.accuracy), (0.25, 0.4));
        // A quarter is below what the head gives: a negative bias.
        for (k, recall) in [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)] {
            let b = bias_for_recall(&windows, 1, recall, Decisions::Fused).unwrap();
            assert!(near(b, thresholds[k - 1]), "{b} {thresholds:?}");
            assert_eq!(b < 0.0, k == 1, "{b}");
            let after = bias_effect(&windows, 1, b, Decisions::Fused).unwrap();
            assert_eq!(after.recall, recall);
            // 2e-3 less and one window fewer calls it.
            let short = bias_effect(&windows, 1, b - 2e-3, Decisions::Fused).unwrap();
            assert_eq!(short.recall, recall - 0.25);
        }
        // Not the nodes' own thresholds: the last window's first node alone needs ln 19.
        let node = bias_for_recall(&windows, 1, 1.0, Decisions::Node).unwrap();
        let fused = bias_for_recall(&windows, 1, 1.0, Decisions::Fused).unwrap();
        assert!((node - (19f64.ln() + 1e-3)).abs() < 1e-6, "{node}");
        assert!(near(fused, thresholds[3]) && fused < node);
        // Class 0 wins ties (the first of equals): its one window, at [0.6, 0.4] fused, gives
        // up its call below -ln(7/3)/2.
        let b = bias_for_recall(&windows, 0, 1.0, Decisions::Fused).unwrap();
        assert!(near(b, -(0.7f64 / 0.3).ln() / 2.0), "{b}");
        let after = bias_effect(&windows, 0, b, Decisions::Fused).unwrap();
        assert_eq!(after.recall, 1.0);
        // A window fused with itself alone decides as its node does.
        let mut alone = scored(2, &[0.5, 0.3, 0.2]);
        alone.fused = Some(FusedDecision {
            probs: alone.probs.clone(),
            pred: 0,
            nodes: vec![1],
            node_probs: vec![alone.probs.clone()],
        });
        let one = [alone];
        let (n, f) = (
            bias_for_recall(&one, 2, 1.0, Decisions::Node).unwrap(),
            bias_for_recall(&one, 2, 1.0, Decisions::Fused).unwrap(),
        );
        assert!((n - f).abs() < 1e-4 && f >= n, "{n} {f}");
        // A node that gives the class nothing caps the mean at one half: no bias reaches it.
        let capped = [scored_fused(1, &[1.0, 0.0], &[0.0, 1.0])];
        let err = (bias_for_recall(&capped, 1, 1.0, Decisions::Fused).unwrap_err()).to_string();
        assert!(err.contains("share of nodes"), "{err}");
        // Both nodes certain of the class: no bias within the limit lowers the recall.
        let certain = [
            scored_fused(1, &[0.0, 1.0], &[0.0, 1.0]),
            scored_fused(1, &[0.6, 0.4], &[0.6, 0.4]),
        ];
        let err = (bias_for_recall(&certain, 1, 0.5, Decisions::Fused).unwrap_err()).to_string();
        assert!(err.contains("too confidently"), "{err}");
        // Fused decisions a window lacks are an error, not a node's decision.
        let err = bias_for_recall(&[scored(1, &[0.4, 0.6])], 1, 1.0, Decisions::Fused)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no fused decision"), "{err}");
        assert!(bias_effect(&[scored(1, &[0.4, 0.6])], 1, 0.0, Decisions::Fused).is_err());
    }

    #[test]
    fn a_fused_decision_is_the_largest_mean_probability() {
        // One node fairly sure of class 0, the other surer of class 1: together class 1.
        let mut sum = vec![0.6f32, 0.4];
        let partner = [0.1f32, 0.9];
        let grid = [Partner {
            end: 2.0,
            hop_s: 0.1,
            probs: &partner,
        }];
        assert!(add_latest(&mut sum, &grid, 2.0).is_some());
        assert_eq!(argmax(&sum), 1);
        assert_eq!(argmax(&[0.6, 0.4]), 0);
        // Mirrored nodes tie exactly: the first class wins, as in the packet `run` prints.
        assert_eq!(argmax(&[0.5, 0.5]), 0);
        assert_eq!(argmax(&[0.1, 0.45, 0.45]), 1);
        assert_eq!(argmax::<f32>(&[]), 0);
    }

    /// A decision stands for one hop at its own stream's frame rate (idle hours and false
    /// alarms per hour used the model's one training rate for every stream).
    #[test]
    fn a_hop_lasts_by_its_own_streams_rate() {
        let mut fast = stream("fast.jsonl", "", "empty");
        fast.t_s = (0..200).map(|i| f64::from(i) * 0.01).collect();
        let mut single = stream("one.jsonl", "", "empty");
        single.t_s.truncate(1);
        let hop =
            crate::train::hop_seconds(&[stream("slow.jsonl", "", "empty"), fast, single], 16, 50.0);
        let want = [16.0 / 20.0, 16.0 / 100.0, 16.0 / 50.0];
        assert_eq!(hop.len(), want.len());
        for (h, w) in hop.iter().zip(want) {
            assert!((h - w).abs() < 1e-6, "{hop:?}");
        }
    }

    /// The training split agrees: undated recordings are separate sessions, dated captures of
    /// one chip and day one session.
    #[test]
    fn the_split_keeps_undated_recordings_apart() {
        use crate::train::SplitBy;
        let key = |f: &str, d: &str| SplitBy::Session.key(&stream(f, d, "empty"));
        assert_ne!(key("a.jsonl", ""), key("b.jsonl", ""));
        assert_eq!(key("a.jsonl", "20260301"), key("b.jsonl", "20260301"));
        // The nodes of one recording, or of one named session (a simulator installation),
        // are one group: node 2's view of the same events must not validate node 1's.
        let node = |n: u8, file: &str, session: Option<&str>| {
            let mut s = stream(file, "", "empty");
            s.node_id = n;
            s.chip = format!("node{n}");
            s.named_session = session.map(str::to_owned);
            SplitBy::Session.key(&s)
        };
        assert_eq!(node(1, "a.jsonl", None), node(2, "a.jsonl", None));
        assert_eq!(
            node(1, "a.jsonl", Some("lab-i3")),
            node(2, "b.jsonl", Some("lab-i3"))
        );
        assert_ne!(
            node(1, "a.jsonl", Some("lab-i3")),
            node(1, "a.jsonl", Some("lab-i4"))
        );
    }

    /// Recordings that name no session are each their own: an empty-room capture does not
    /// become the reference of another undated recording (it did: all fell into `node1/`).
    /// Dated captures of one chip and day still share their session's reference.
    #[test]
    fn a_recording_without_a_session_is_its_own() {
        let undated = vec![
            stream("a.jsonl", "", "empty"),
            stream("b.jsonl", "", "walking"),
        ];
        let (kept, refs, dropped) = calibrated_split(undated, "empty").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(refs.len(), 1);
        assert_eq!(dropped, vec!["b.jsonl".to_string()]);
        let dated = vec![
            stream("a.jsonl", "20260301", "empty"),
            stream("b.jsonl", "20260301", "walking"),
        ];
        let (kept, refs, dropped) = calibrated_split(dated, "empty").unwrap();
        assert_eq!((kept.len(), refs.len()), (2, 2));
        assert!(dropped.is_empty());
    }
}

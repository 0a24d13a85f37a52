//! Classification metrics: confusion matrix, per-class precision/recall/F1, macro F1,
//! false-positive rate on the idle class and false alarms per hour.

use serde::Serialize;

/// Rows = truth, columns = prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScores {
    pub class: String,
    pub support: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Everything `aether eval` reports for one set of decisions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub windows: u64,
    pub accuracy: f64,
    pub f1_macro: f64,
    /// Idle-truth windows predicted as anything else, over idle-truth windows (`None` without
    /// an idle class or idle windows).
    pub fp_rate: Option<f64>,
    /// Alarm onsets (an idle-truth decision predicted non-idle after one that was not) per hour
    /// of idle data.
    pub false_alarms_per_hour: Option<f64>,
    pub idle_class: Option<String>,
    pub idle_hours: f64,
    pub per_class: Vec<ClassScores>,
    pub confusion: Confusion,
    /// Event classes scored per episode (see [`event_scores`]); empty for heads without events.
    pub events: Vec<EventScores>,
    /// The same windows split by receiving node (`node_id` of their stream), in node order: a
    /// badly placed node shows here, averaged away in the totals. Empty when not split.
    pub per_node: Vec<NodeScores>,
    /// The same windows scored on decisions fused over the nodes of their recording (each
    /// window's class probabilities averaged with those of each other node's latest window,
    /// as `aether run --fuse` decides; `eval::Scorer::score`). `None` when no recording holds
    /// two nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused: Option<Box<Report>>,
}

/// One node's share of a report's windows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeScores {
    pub node_id: u8,
    pub windows: u64,
    pub accuracy: f64,
    pub f1_macro: f64,
}

/// One episode of an event class: frames `start..end` of one stream, all labelled `class`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub stream: usize,
    pub class: usize,
    pub start: usize,
    pub end: usize,
}

/// Episode-level scores of one event class: what a deployment asks of a fall detector (was each
/// fall caught, and how often does it cry fall when nobody fell), next to the per-window recall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventScores {
    pub class: String,
    /// Episodes with at least one scored window (a window the labelling rule calls this event).
    pub episodes: u64,
    /// Episodes in the labels with no scored window (too short for the rule's minimum frames
    /// at this frame rate, or cut by the recording's end): not in `recall`, so counted here.
    pub unscored_episodes: u64,
    /// Episodes with at least one window predicted as the event.
    pub detected: u64,
    /// `detected / episodes` (`None` without episodes).
    pub recall: Option<f64>,
    /// Alarms on windows whose truth is another class: a run of such windows predicted as the
    /// event, each one hop after the last in the same stream, counts once.
    pub false_alarms: u64,
    /// `false_alarms` per hour of windows whose truth is another class.
    pub false_alarms_per_hour: Option<f64>,
    /// Time to detection over the detected episodes: from an episode's first frame to the last
    /// frame of its first window that is the event (by the labelling rule) and predicted as
    /// it, the instant a causal decision (`aether run`) on that window says so. Median and
    /// 90th percentile (nearest rank); `None` without detections.
    pub latency_median_s: Option<f64>,
    pub latency_p90_s: Option<f64>,
}

/// Runs of frames labelled with one of `events` (class indices into `classes`) in each stream.
pub fn episodes_of(
    labels: &[&[Option<String>]],
    classes: &[String],
    events: &[usize],
) -> Vec<Episode> {
    let mut out = Vec::new();
    for (stream, frames) in labels.iter().enumerate() {
        let class_of = |f: &Option<String>| {
            f.as_deref()
                .and_then(|l| events.iter().copied().find(|&e| classes[e] == l))
        };
        let mut f = 0;
        while f < frames.len() {
            match class_of(&frames[f]) {
                Some(class) => {
                    let start = f;
                    while f < frames.len() && class_of(&frames[f]) == Some(class) {
                        f += 1;
                    }
                    out.push(Episode {
                        stream,
                        class,
                        start,
                        end: f,
                    });
                }
                None => f += 1,
            }
        }
    }
    out
}

/// Scores each event class of `events` per episode (see [`EventScores`]).
/// `window` is the decisions' window length in frames.
/// `time(stream, frame)` is the frame's time in seconds (for the detection latency).
pub fn event_scores(
    classes: &[String],
    events: &[usize],
    episodes: &[Episode],
    decisions: &[Decision],
    window: usize,
    hop: Hop,
    time: impl Fn(usize, usize) -> f64,
) -> Vec<EventScores> {
    events
        .iter()
        .map(|&e| {
            let (mut scored, mut detected, mut all) = (0, 0, 0u64);
            let mut latencies = Vec::new();
            for ep in episodes.iter().filter(|ep| ep.class == e) {
                all += 1;
                let overlapping = decisions.iter().filter(|d| {
                    d.stream == ep.stream
                        && d.truth == e
                        && d.start < ep.end
                        && d.start + window > ep.start
                });
                let mut any = false;
                let mut first_hit: Option<usize> = None;
                for d in overlapping {
                    any = true;
                    if d.pred == e {
                        first_hit = Some(first_hit.map_or(d.start, |f| f.min(d.start)));
                    }
                }
                scored += u64::from(any);
                if let Some(start) = first_hit {
                    detected += 1;
                    let end = time(ep.stream, start + window - 1);
                    latencies.push(end - time(ep.stream, ep.start));
                }
            }
            latencies.sort_by(f64::total_cmp);
            let (latency_median_s, latency_p90_s) =
                (median(&latencies), nearest_rank(&latencies, 0.9));
            let others = decisions.iter().filter(|d| d.truth != e);
            let onsets = alarm_onsets(others.clone(), |d| d.pred == e, hop.frames);
            let hours = others.map(|d| d.seconds).sum::<f64>() / 3600.0;
            EventScores {
                class: classes[e].clone(),
                episodes: scored,
                unscored_episodes: all - scored,
                detected,
                recall: (scored > 0).then(|| detected as f64 / scored as f64),
                false_alarms: onsets,
                false_alarms_per_hour: (hours > 0.0).then(|| onsets as f64 / hours),
                latency_median_s,
                latency_p90_s,
            }
        })
        .collect()
}

/// Median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `q` quantile of sorted values by nearest rank: the smallest value at least a fraction
/// `q` of them do not exceed.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

impl Confusion {
    pub fn new(classes: Vec<String>) -> Self {
        let n = classes.len();
        Self {
            classes,
            matrix: vec![vec![0; n]; n],
        }
    }

    pub fn add(&mut self, truth: usize, pred: usize) {
        self.matrix[truth][pred] += 1;
    }

    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }
}

/// The default idle class: the first named `baseline`, `empty` or `idle`.
pub fn default_idle_class(classes: &[String]) -> Option<usize> {
    ["baseline", "empty", "idle"]
        .iter()
        .find_map(|n| classes.iter().position(|c| c == n))
}

/// One decision per hop, in time order within each stream.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    pub stream: usize,
    /// First frame of the decision's window.
    pub start: usize,
    pub truth: usize,
    pub pred: usize,
    /// Seconds of data the decision stands for: one hop at its own stream's frame rate (chips
    /// stream at 73-143 Hz; one rate for all misstated idle hours by up to a fifth).
    pub seconds: f64,
}

/// The spacing of decisions: windows start every `frames` frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hop {
    pub frames: usize,
}

/// Alarm onsets among `decisions` (already narrowed to the truth in question): a run of alarm
/// windows, each one hop after the last in the same stream, counts once.
fn alarm_onsets<'a>(
    decisions: impl Iterator<Item = &'a Decision>,
    alarm: impl Fn(&Decision) -> bool,
    hop: usize,
) -> u64 {
    let mut onsets = 0;
    // The last alarm window: (stream, start).
    let mut prev: Option<(usize, usize)> = None;
    for d in decisions {
        if !alarm(d) {
            prev = None;
            continue;
        }
        if prev != Some((d.stream, d.start.wrapping_sub(hop))) {
            onsets += 1;
        }
        prev = Some((d.stream, d.start));
    }
    onsets
}

/// Scores decisions; each decision's `seconds` is the time it stands for (the idle hours).
pub fn report(classes: &[String], decisions: &[Decision], idle: Option<usize>, hop: Hop) -> Report {
    let mut conf = Confusion::new(classes.to_vec());
    for d in decisions {
        conf.add(d.truth, d.pred);
    }
    let n = classes.len();
    let total = conf.total();
    let correct: u64 = (0..n).map(|i| conf.matrix[i][i]).sum();
    let mut per_class = Vec::new();
    let mut f1_sum = 0.0;
    let mut f1_count = 0;
    for (c, name) in classes.iter().enumerate() {
        let tp = conf.matrix[c][c] as f64;
        let support: u64 = conf.matrix[c].iter().sum();
        let predicted: u64 = (0..n).map(|r| conf.matrix[r][c]).sum();
        let precision = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let recall = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        // Macro F1 over the classes present in the truth or the predictions (as scikit-learn):
        // a class absent from the data says nothing about the model, unless the model calls it.
        if support > 0 || predicted > 0 {
            f1_sum += f1;
            f1_count += 1;
        }
        per_class.push(ClassScores {
            class: name.clone(),
            support,
            precision,
            recall,
            f1,
        });
    }
    let (mut fp_rate, mut fa_h, mut idle_hours) = (None, None, 0.0);
    if let Some(i) = idle {
        let idle_n: u64 = conf.matrix[i].iter().sum();
        if idle_n > 0 {
            fp_rate = Some((idle_n - conf.matrix[i][i]) as f64 / idle_n as f64);
            let idle_windows = decisions.iter().filter(|d| d.truth == i);
            idle_hours = idle_windows.clone().map(|d| d.seconds).sum::<f64>() / 3600.0;
            let onsets = alarm_onsets(idle_windows, |d| d.pred != i, hop.frames);
            if idle_hours > 0.0 {
                fa_h = Some(onsets as f64 / idle_hours);
            }
        }
    }
    Report {
        windows: total,
        accuracy: if total > 0 {
            correct as f64 / total as f64
        } else {
            0.0
        },
        f1_macro: if f1_count > 0 {
            f1_sum / f1_count as f64
        } else {
            0.0
        },
        fp_rate,
        false_alarms_per_hour: fa_h,
        idle_class: idle.map(|i| classes[i].clone()),
        idle_hours,
        per_class,
        confusion: conf,
        events: Vec::new(),
        per_node: Vec::new(),
        fused: None,
    }
}

/// `decisions` split by `node_of(stream)`, each node scored as [`report`] scores them all.
pub fn node_scores(
    classes: &[String],
    decisions: &[Decision],
    idle: Option<usize>,
    hop: Hop,
    node_of: impl Fn(usize) -> u8,
) -> Vec<NodeScores> {
    let mut by_node: std::collections::BTreeMap<u8, Vec<Decision>> = Default::default();
    for d in decisions {
        by_node.entry(node_of(d.stream)).or_default().push(*d);
    }
    by_node
        .into_iter()
        .map(|(node_id, ds)| {
            let r = report(classes, &ds, idle, hop);
            NodeScores {
                node_id,
                windows: r.windows,
                accuracy: r.accuracy,
                f1_macro: r.f1_macro,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_scores_split_the_windows_by_node() {
        let classes = vec!["baseline".to_string(), "movement".to_string()];
        // Streams 0 and 2 are node 1 (all right), stream 1 node 2 (right 1 of 4).
        let d: Vec<Decision> = [(0, 0, 0), (0, 1, 1), (2, 1, 1), (1, 0, 1), (1, 1, 0)]
            .iter()
            .chain(&[(1, 1, 0), (1, 1, 1)])
            .enumerate()
            .map(|(k, &(stream, truth, pred))| Decision {
                stream,
                start: 16 * k,
                truth,
                pred,
                seconds: 0.16,
            })
            .collect();
        let nodes = node_scores(&classes, &d, Some(0), Hop { frames: 16 }, |s| {
            if s == 1 {
                2
            } else {
                1
            }
        });
        let got: Vec<(u8, u64, f64)> = nodes
            .iter()
            .map(|n| (n.node_id, n.windows, n.accuracy))
            .collect();
        assert_eq!(got, vec![(1, 3, 1.0), (2, 4, 0.25)]);
        assert_eq!(nodes[0].f1_macro, 1.0);
    }

    #[test]
    fn scores_a_known_confusion() {
        let classes = vec!["baseline".to_string(), "movement".to_string()];
        // truth baseline: 8 right, 2 wrong (one run of 2); truth movement: 9 right, 1 wrong.
        let mut d = Vec::new();
        for k in 0..10 {
            d.push(Decision {
                stream: 0,
                start: 16 * k,
                truth: 0,
                pred: usize::from(k == 3 || k == 4),
                seconds: 0.36,
            });
        }
        for k in 0..10 {
            d.push(Decision {
                stream: 1,
                start: 16 * k,
                truth: 1,
                pred: usize::from(k != 0),
                seconds: 0.36,
            });
        }
        let hop = Hop { frames: 16 };
        let r = report(&classes, &d, default_idle_class(&classes), hop);
        assert_eq!(r.confusion.matrix, vec![vec![8, 2], vec![1, 9]]);
        assert!((r.accuracy - 0.85).abs() < 1e-12);
        let p0 = 8.0 / 9.0;
        let r0 = 0.8;
        let f0 = 2.0 * p0 * r0 / (p0 + r0);
        let p1 = 9.0 / 11.0;
        let r1 = 0.9;
        let f1 = 2.0 * p1 * r1 / (p1 + r1);
        assert!((r.f1_macro - (f0 + f1) / 2.0).abs() < 1e-12);
        assert_eq!(r.fp_rate, Some(0.2));
        // 10 idle decisions x 0.36 s = 0.001 h, one alarm onset.
        assert!((r.false_alarms_per_hour.unwrap() - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn scores_event_episodes_and_false_alarms() {
        let classes: Vec<String> = ["still", "fall"].iter().map(|s| s.to_string()).collect();
        let some = |l: &str| Some(l.to_string());
        // Stream 0: a fall at frames 40..60; stream 1: falls at 10..20 and 70..90.
        let mut l0 = vec![some("still"); 100];
        l0[40..60].fill(some("fall"));
        let mut l1 = vec![some("still"); 100];
        l1[10..20].fill(some("fall"));
        l1[70..90].fill(some("fall"));
        let eps = episodes_of(&[&l0, &l1], &classes, &[1]);
        let span = |e: &Episode| (e.stream, e.start, e.end);
        assert_eq!(
            eps.iter().map(span).collect::<Vec<_>>(),
            vec![(0, 40, 60), (1, 10, 20), (1, 70, 90)]
        );
        // Windows of 20 frames, hop 10 (0.1 s per decision): (stream, start, truth, pred).
        let rows = [
            (0, 0, 0, 1),  // false alarm onset
            (0, 10, 0, 1), // same run
            (0, 20, 0, 0),
            (0, 40, 1, 0), // stream 0's fall: missed in this window,
            (0, 50, 1, 1), // caught in this one
            (0, 70, 0, 1), // second onset
            (1, 0, 1, 0),  // stream 1's first fall: missed
            (1, 30, 0, 0),
            (1, 70, 1, 1), // second fall caught
            (1, 80, 0, 0),
            // Stream 2 (decisions only): an alarm, a fall window, an alarm: not one run, since
            // the other-truth windows are two hops apart.
            (2, 0, 0, 1),
            (2, 10, 1, 1),
            (2, 20, 0, 1),
        ];
        let decisions: Vec<Decision> = rows
            .iter()
            .map(|&(stream, start, truth, pred)| Decision {
                stream,
                start,
                truth,
                pred,
                seconds: 0.1,
            })
            .collect();
        let hop = Hop { frames: 10 };
        // 100 frames a second.
        let time = |_: usize, frame: usize| frame as f64 * 0.01;
        let e = event_scores(&classes, &[1], &eps, &decisions, 20, hop, time);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].episodes, e[0].detected, e[0].false_alarms), (3, 2, 4));
        // Detected at the last frame of the first window called fall: stream 0's fall (frame
        // 40) by the window of frames 50..70, 0.29 s; stream 1's second (70) by 70..90, 0.19 s.
        let near = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-9;
        assert!(near(e[0].latency_median_s, 0.24), "{:?}", e[0]);
        assert!(near(e[0].latency_p90_s, 0.29), "{:?}", e[0]);
        assert!((e[0].recall.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // 8 other-truth decisions x 0.1 s.
        let per_h = e[0].false_alarms_per_hour.unwrap();
        assert!((per_h - 4.0 / (0.8 / 3600.0)).abs() < 1e-6, "{per_h}");
        // No episodes: no recall rather than a recall of zero.
        let none = event_scores(&classes, &[1], &[], &decisions[..3], 20, hop, time);
        assert_eq!((none[0].episodes, none[0].recall), (0, None));
        assert_eq!(
            (none[0].latency_median_s, none[0].latency_p90_s),
            (None, None)
        );
        // Without stream 1's first-fall window, its episode has no scored window: outside the
        // recall, and counted.
        let without: Vec<Decision> = decisions
            .iter()
            .filter(|d| !(d.stream == 1 && d.start == 0))
            .cloned()
            .collect();
        let e = event_scores(&classes, &[1], &eps, &without, 20, hop, time);
        assert_eq!(
            (e[0].episodes, e[0].unscored_episodes, e[0].detected),
            (2, 1, 2)
        );
    }

    /// The latency of an episode ends with the first (not a later) window that is the event
    /// and is called it; a window called the event that holds less of it than the rule's
    /// minimum is not the event's and does not end it.
    #[test]
    fn time_to_detection_is_the_first_event_window_called_it() {
        let classes: Vec<String> = ["still", "fall"].iter().map(|s| s.to_string()).collect();
        let some = |l: &str| Some(l.to_string());
        // Falls at frames 100..140, 300..340, 500..540 and 700..740 of one stream.
        let mut labels = vec![some("still"); 1000];
        for start in [100, 300, 500, 700] {
            labels[start..start + 40].fill(some("fall"));
        }
        let eps = episodes_of(&[&labels], &classes, &[1]);
        assert_eq!(eps.len(), 4);
        // Windows of 40 frames, hop 10: (start, truth, pred).
        let rows = [
            (70, 0, 1),  // called fall, but holds 10 frames of it: a false alarm
            (80, 1, 0),  // the first fall window, missed
            (90, 1, 1),  // first hit: ends at frame 129, 0.29 s after the fall began
            (100, 1, 1), // a later hit
            (280, 1, 1), // ends at 319: 0.19 s
            (480, 1, 0),
            (490, 1, 0),
            (500, 1, 1), // ends at 539: 0.39 s
            (690, 1, 0), // the fourth fall is never called: not in the latencies
        ];
        let decisions: Vec<Decision> = rows
            .iter()
            .map(|&(start, truth, pred)| Decision {
                stream: 0,
                start,
                truth,
                pred,
                seconds: 0.1,
            })
            .collect();
        let time = |_: usize, frame: usize| frame as f64 * 0.01;
        let e = &event_scores(
            &classes,
            &[1],
            &eps,
            &decisions,
            40,
            Hop { frames: 10 },
            time,
        )[0];
        assert_eq!((e.episodes, e.detected, e.false_alarms), (4, 3, 1));
        let near = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-9;
        // 0.19, 0.29, 0.39: the median is the middle one, the 90th percentile the third.
        assert!(near(e.latency_median_s, 0.29), "{e:?}");
        assert!(near(e.latency_p90_s, 0.39), "{e:?}");
        // Four latencies: the median is the mean of the middle two.
        let mut more = decisions.clone();
        more.push(Decision {
            start: 700,
            pred: 1,
            ..decisions[8]
        });
        let e = &event_scores(&classes, &[1], &eps, &more, 40, Hop { frames: 10 }, time)[0];
        assert_eq!(e.detected, 4);
        assert!(near(e.latency_median_s, (0.29 + 0.39) / 2.0), "{e:?}");
        assert!(near(e.latency_p90_s, 0.39), "{e:?}");
    }

    /// A class the model predicts but the data lacks counts in macro F1 with F1 0 (as
    /// scikit-learn); a class neither present nor predicted does not.
    #[test]
    fn macro_f1_counts_predicted_classes_the_data_lacks() {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let d = |truth, pred| Decision {
            stream: 0,
            start: 0,
            truth,
            pred,
            seconds: 0.1,
        };
        // Truth only a; predictions a, a, b: class b predicted once, c never.
        let r = report(
            &classes,
            &[d(0, 0), d(0, 0), d(0, 1)],
            None,
            Hop { frames: 1 },
        );
        let f_a = 2.0 * 1.0 * (2.0 / 3.0) / (1.0 + 2.0 / 3.0);
        assert!(
            (r.f1_macro - (f_a + 0.0) / 2.0).abs() < 1e-12,
            "{}",
            r.f1_macro
        );
    }

    #[test]
    fn idle_alarms_split_where_windows_are_not_one_hop_apart() {
        let classes: Vec<String> = ["empty", "walking"].iter().map(|s| s.to_string()).collect();
        // Empty-room windows predicted walking at starts 0, 8, then 32 (windows 16 and 24 were
        // not scored): two alarms, not one.
        let d: Vec<Decision> = [0, 8, 32]
            .iter()
            .map(|&start| Decision {
                stream: 0,
                start,
                truth: 0,
                pred: 1,
                seconds: 1.0,
            })
            .collect();
        let hop = Hop { frames: 8 };
        let r = report(&classes, &d, Some(0), hop);
        let per_h = r.false_alarms_per_hour.unwrap();
        assert!((per_h - 2.0 / (3.0 / 3600.0)).abs() < 1e-9, "{per_h}");
    }
}

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
    pub truth: usize,
    pub pred: usize,
}

/// Scores decisions. `hop_s` is the time one decision stands for (for the idle hours).
pub fn report(
    classes: &[String],
    decisions: &[Decision],
    idle: Option<usize>,
    hop_s: f64,
) -> Report {
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
        // Macro F1 over classes present in the truth (a class absent from the data says
        // nothing about the model).
        if support > 0 {
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
            idle_hours = idle_n as f64 * hop_s / 3600.0;
            let mut onsets = 0u64;
            let mut prev: Option<(usize, bool)> = None;
            for d in decisions.iter().filter(|d| d.truth == i) {
                let alarm = d.pred != i;
                let continuing = matches!(prev, Some((s, true)) if s == d.stream);
                if alarm && !continuing {
                    onsets += 1;
                }
                prev = Some((d.stream, alarm));
            }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_known_confusion() {
        let classes = vec!["baseline".to_string(), "movement".to_string()];
        // truth baseline: 8 right, 2 wrong (one run of 2); truth movement: 9 right, 1 wrong.
        let mut d = Vec::new();
        for k in 0..10 {
            d.push(Decision {
                stream: 0,
                truth: 0,
                pred: usize::from(k == 3 || k == 4),
            });
        }
        for k in 0..10 {
            d.push(Decision {
                stream: 1,
                truth: 1,
                pred: usize::from(k != 0),
            });
        }
        let r = report(&classes, &d, default_idle_class(&classes), 0.36);
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
}

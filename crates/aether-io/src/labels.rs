//! Labels: time segments attachable to any recording.
//!
//! A segments file is CSV with the header `start_s,end_s,label`, one half-open interval
//! `[start_s, end_s)` per line, in seconds from the start of the recording (the first
//! record's timestamp). Segments may leave gaps (no label there) but may not overlap.

use std::path::Path;

use crate::atomic::write_atomic;

/// One labelled interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub label: String,
}

/// Why a segments file was rejected (with its 1-based line).
#[derive(Debug)]
pub enum LabelError {
    Io(std::io::Error),
    /// The first line is not `start_s,end_s,label`.
    Header(String),
    /// A line is not `number,number,label` with `start < end`.
    Line {
        line: usize,
        detail: String,
    },
    /// A segment starts before the previous one ends.
    Overlap {
        line: usize,
    },
}

impl std::fmt::Display for LabelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelError::Io(e) => write!(f, "{e}"),
            LabelError::Header(h) => write!(f, "header is {h:?}, expected \"start_s,end_s,label\""),
            LabelError::Line { line, detail } => write!(f, "line {line}: {detail}"),
            LabelError::Overlap { line } => {
                write!(f, "line {line}: segment overlaps the previous one")
            }
        }
    }
}

impl std::error::Error for LabelError {}

impl From<std::io::Error> for LabelError {
    fn from(e: std::io::Error) -> Self {
        LabelError::Io(e)
    }
}

/// Sorted, non-overlapping segments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segments {
    segments: Vec<Segment>,
}

/// The header line of a segments file.
pub const SEGMENTS_HEADER: &str = "start_s,end_s,label";

impl Segments {
    /// Builds from segments in any order; rejects overlaps and empty or inverted intervals.
    pub fn new(mut segments: Vec<Segment>) -> Result<Self, LabelError> {
        for (i, s) in segments.iter().enumerate() {
            if !(s.start_s.is_finite() && s.start_s < s.end_s) {
                return Err(LabelError::Line {
                    line: i + 2,
                    detail: "needs start_s < end_s".into(),
                });
            }
        }
        segments.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        for (i, w) in segments.windows(2).enumerate() {
            if w[1].start_s < w[0].end_s {
                return Err(LabelError::Overlap { line: i + 3 });
            }
        }
        Ok(Segments { segments })
    }

    /// One segment covering the whole file (how ESPectre's per-file `label` is attached).
    /// The end is open so every frame is covered.
    pub fn whole_file(label: &str) -> Self {
        Segments {
            segments: vec![Segment {
                start_s: 0.0,
                end_s: f64::INFINITY,
                label: label.to_owned(),
            }],
        }
    }

    /// Parses CSV text.
    pub fn parse_csv(text: &str) -> Result<Self, LabelError> {
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
        if header.trim_start_matches('\u{feff}') != SEGMENTS_HEADER {
            return Err(LabelError::Header(header.to_owned()));
        }
        let mut segments = Vec::new();
        for (i, raw) in lines {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.splitn(3, ',');
            let (Some(a), Some(b), Some(label)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(LabelError::Line {
                    line: i + 1,
                    detail: "expected 3 fields".into(),
                });
            };
            let num = |s: &str| {
                s.trim().parse::<f64>().map_err(|_| LabelError::Line {
                    line: i + 1,
                    detail: format!("{s:?} is not a number"),
                })
            };
            let (start_s, end_s) = (num(a)?, num(b)?);
            let label = label.trim();
            if label.is_empty() {
                return Err(LabelError::Line {
                    line: i + 1,
                    detail: "empty label".into(),
                });
            }
            if !(start_s.is_finite() && end_s.is_finite() && start_s >= 0.0 && start_s < end_s) {
                return Err(LabelError::Line {
                    line: i + 1,
                    detail: "needs 0 <= start_s < end_s".into(),
                });
            }
            segments.push((
                i + 1,
                Segment {
                    start_s,
                    end_s,
                    label: label.to_owned(),
                },
            ));
        }
        // Segments may come in any order; only time overlaps are an error (named by the line
        // of the later-starting one).
        segments.sort_by(|a, b| a.1.start_s.total_cmp(&b.1.start_s));
        for w in segments.windows(2) {
            if w[1].1.start_s < w[0].1.end_s {
                return Err(LabelError::Overlap { line: w[1].0 });
            }
        }
        Ok(Segments {
            segments: segments.into_iter().map(|(_, s)| s).collect(),
        })
    }

    /// Reads a segments file.
    pub fn read_csv(path: impl AsRef<Path>) -> Result<Self, LabelError> {
        Self::parse_csv(&std::fs::read_to_string(path)?)
    }

    /// CSV text with the header.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(SEGMENTS_HEADER);
        s.push('\n');
        for seg in &self.segments {
            s.push_str(&format!("{},{},{}\n", seg.start_s, seg.end_s, seg.label));
        }
        s
    }

    /// Writes a segments file atomically.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// The label at `t_s` seconds from the start of the recording, if a segment covers it.
    pub fn label_at(&self, t_s: f64) -> Option<&str> {
        // Segments are sorted and disjoint: the candidate is the last one starting at or before t.
        let i = self.segments.partition_point(|s| s.start_s <= t_s);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        (t_s < seg.end_s).then_some(seg.label.as_str())
    }

    /// The segments, sorted by start.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Distinct labels in order of first appearance.
    pub fn labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.segments {
            if !out.contains(&s.label.as_str()) {
                out.push(&s.label);
            }
        }
        out
    }
}

//! What `aether inspect` reports about a recording, computed in one streaming pass.

use std::collections::BTreeMap;

use crate::error::ReadError;
use crate::record::Record;
use crate::recording::{Format, RecordingReader};

/// Per-node CSI counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSummary {
    /// CSI frames from this node.
    pub frames: u64,
    /// Records of any type from this node.
    pub records: u64,
    first_t: Option<f64>,
    last_t: Option<f64>,
}

impl NodeSummary {
    /// CSI frames per second over this node's own first-to-last CSI span
    /// (`(frames - 1) / span`; 0 with fewer than two frames).
    pub fn rate_hz(&self) -> f64 {
        match (self.first_t, self.last_t) {
            (Some(a), Some(b)) if b > a && self.frames > 1 => (self.frames - 1) as f64 / (b - a),
            _ => 0.0,
        }
    }
}

/// Totals over a whole recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub format: Format,
    /// Last minus first timestamp over all records.
    pub duration_s: f64,
    pub first_t_s: Option<f64>,
    pub last_t_s: Option<f64>,
    pub nodes: BTreeMap<u8, NodeSummary>,
    /// Record type name (`raw_csi`, `vitals`, ..., or the magic) -> count.
    pub packet_counts: BTreeMap<String, u64>,
    /// Subcarriers per antenna -> CSI frames.
    pub subcarrier_counts: BTreeMap<usize, u64>,
    /// Antennas -> CSI frames.
    pub antenna_counts: BTreeMap<u8, u64>,
    /// Lines or packets that could not be decoded.
    pub malformed: u64,
    /// Non-data lines passed over (headers, console logs, blank lines).
    pub skipped: u64,
    /// Up to [`Summary::MAX_EXAMPLES`] malformed-line messages, for the human report.
    pub malformed_examples: Vec<String>,
    /// Set when the stream ended on an I/O or container error.
    pub fatal: Option<String>,
    /// Whole-file label, if the format carries one.
    pub label: Option<String>,
}

impl Summary {
    pub const MAX_EXAMPLES: usize = 5;

    /// Empty totals for a format.
    pub fn new(format: Format) -> Self {
        Summary {
            format,
            duration_s: 0.0,
            first_t_s: None,
            last_t_s: None,
            nodes: BTreeMap::new(),
            packet_counts: BTreeMap::new(),
            subcarrier_counts: BTreeMap::new(),
            antenna_counts: BTreeMap::new(),
            malformed: 0,
            skipped: 0,
            malformed_examples: Vec::new(),
            fatal: None,
            label: None,
        }
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Record) {
        let t = record.t_s();
        if t.is_finite() {
            self.first_t_s = Some(self.first_t_s.map_or(t, |f| f.min(t)));
            self.last_t_s = Some(self.last_t_s.map_or(t, |l| l.max(t)));
            self.duration_s = self.last_t_s.unwrap_or(0.0) - self.first_t_s.unwrap_or(0.0);
        }
        let name = record.type_name();
        match self.packet_counts.get_mut(name.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.packet_counts.insert(name.into_owned(), 1);
            }
        }
        let node = self.nodes.entry(record.node_id()).or_default();
        node.records += 1;
        if let Record::Csi(f) = record {
            node.frames += 1;
            if t.is_finite() {
                node.first_t = Some(node.first_t.map_or(t, |x| x.min(t)));
                node.last_t = Some(node.last_t.map_or(t, |x| x.max(t)));
            }
            *self.subcarrier_counts.entry(f.n_subcarriers()).or_default() += 1;
            *self.antenna_counts.entry(f.n_antennas).or_default() += 1;
        }
    }

    /// Adds one read error.
    pub fn add_error(&mut self, e: &ReadError) {
        if e.is_fatal() {
            self.fatal = Some(e.to_string());
        } else {
            self.malformed += 1;
            if self.malformed_examples.len() < Self::MAX_EXAMPLES {
                self.malformed_examples.push(e.to_string());
            }
        }
    }

    /// Reads a whole recording.
    pub fn of_reader(mut reader: RecordingReader) -> Self {
        let mut s = Summary::new(reader.format());
        s.label = reader.meta().label.clone();
        for item in reader.by_ref() {
            match item {
                Ok(r) => s.add(&r),
                Err(e) => s.add_error(&e),
            }
        }
        s.skipped = reader.stats().skipped;
        s
    }

    /// CSI frames over all nodes.
    pub fn csi_frames(&self) -> u64 {
        self.nodes.values().map(|n| n.frames).sum()
    }
}

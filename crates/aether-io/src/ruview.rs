//! RuView recordings: JSON Lines, one UDP packet per line (docs/recordings.md).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::atomic::AtomicFile;
use crate::error::{ReadError, ReadErrorKind, ReadStats};
use crate::lines::{read_line_bounded, Line};
use crate::record::{
    magic, Classification, CsiFrame, FeatureState, FeatureVector, Iq, OtherPacket, Record, Vitals,
};

/// Bytes of the ADR-018 header that precede the I/Q payload in a 0xC5110001 datagram.
pub const RAW_CSI_HEADER_LEN: usize = 20;

/// A float that may be JSON `null` (written for NaN / infinities, read back as NaN).
struct Nullable(f64);

impl<'de> Deserialize<'de> for Nullable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
    }
}

/// A field that is present, as `null` or a number: serde reads a plain `Option<Nullable>`'s
/// `null` as an absent field (None), which then failed as missing. Absent stays None through
/// `#[serde(default)]`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Nullable>, D::Error> {
    Nullable::deserialize(d).map(Some)
}

/// Every field any line type may carry; which ones are required depends on `type`.
#[derive(Deserialize)]
struct LineFields<'a> {
    timestamp: Option<f64>,
    node_id: Option<i64>,
    #[serde(borrow)]
    magic: Option<Cow<'a, str>>,
    size: Option<i64>,
    rssi: Option<f64>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    // raw_csi
    #[serde(borrow)]
    iq_hex: Option<Cow<'a, str>>,
    subcarriers: Option<i64>,
    n_antennas: Option<i64>,
    seq: Option<i64>,
    freq_mhz: Option<i64>,
    channel: Option<i64>,
    noise_floor: Option<i64>,
    /// Our extension: the line's `rssi` (required by the schema) is a placeholder 0.
    rssi_unknown: Option<bool>,
    // vitals
    flags: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    breathing_bpm: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    heartrate_bpm: Option<Nullable>,
    n_persons: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    motion_energy: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    presence_score: Option<Nullable>,
    device_ms: Option<i64>,
    // feature
    features: Option<Vec<Nullable>>,
    // Wide: feature vectors carry a signed device time, feature-state and classification
    // packets an unsigned 64-bit one (the writer writes any u64).
    device_us: Option<i128>,
    // feature_state
    mode: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    motion_score: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    respiration_bpm: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    respiration_conf: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    heartbeat_bpm: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    heartbeat_conf: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    anomaly_score: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    env_shift_score: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    node_coherence: Option<Nullable>,
    quality_flags: Option<i64>,
    // classification
    version: Option<i64>,
    n_classes: Option<i64>,
    argmax: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    top_logit: Option<Nullable>,
    #[serde(default, deserialize_with = "present")]
    margin: Option<Nullable>,
}

fn req<T>(v: Option<T>, line: u64, name: &'static str) -> Result<T, ReadError> {
    v.ok_or_else(|| ReadError::new(line, ReadErrorKind::MissingField(name)))
}

fn int_in<T: TryFrom<i128>, V: Into<i128> + Copy>(
    v: V,
    line: u64,
    name: &'static str,
) -> Result<T, ReadError> {
    let v: i128 = v.into();
    T::try_from(v).map_err(|_| ReadError::invalid(line, name, format!("{v} out of range")))
}

fn req_int<T: TryFrom<i128>, V: Into<i128> + Copy>(
    v: Option<V>,
    line: u64,
    name: &'static str,
) -> Result<T, ReadError> {
    int_in(req(v, line, name)?, line, name)
}

fn opt_int<T: TryFrom<i128>, V: Into<i128> + Copy>(
    v: Option<V>,
    line: u64,
    name: &'static str,
) -> Result<Option<T>, ReadError> {
    v.map(|x| int_in(x, line, name)).transpose()
}

fn req_f(v: Option<Nullable>, line: u64, name: &'static str) -> Result<f64, ReadError> {
    Ok(req(v, line, name)?.0)
}

fn rssi_of(v: Option<f64>, line: u64) -> Result<i8, ReadError> {
    let r = req(v, line, "rssi")?;
    if r.fract() != 0.0 || !(-128.0..=127.0).contains(&r) {
        return Err(ReadError::invalid(
            line,
            "rssi",
            format!("{r} is not an i8"),
        ));
    }
    Ok(r as i8)
}

/// Parses `0xC5110001` (case-insensitive prefix and digits).
pub(crate) fn parse_magic(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex into I/Q values (ESP-IDF pair order). Returns `None` on a bad digit or an
/// odd number of bytes.
fn decode_iq_hex(hex: &str, out: &mut Vec<Iq>) -> Option<()> {
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    out.clear();
    out.reserve(b.len() / 4);
    for q in b.chunks_exact(4) {
        let im = hex_val(q[0])? << 4 | hex_val(q[1])?;
        let re = hex_val(q[2])? << 4 | hex_val(q[3])?;
        out.push(Iq::from_esp_bytes([im, re]));
    }
    Some(())
}

/// The fields of a `raw_csi` line, however they were found.
struct RawCsiFields<'a> {
    t_s: f64,
    node_id: u8,
    size: Option<i64>,
    rssi: Option<f64>,
    iq_hex: Option<&'a str>,
    subcarriers: Option<i64>,
    n_antennas: Option<i64>,
    seq: Option<i64>,
    freq_mhz: Option<i64>,
    channel: Option<i64>,
    noise_floor: Option<i64>,
    rssi_unknown: bool,
}

/// Checks a `raw_csi` line's fields against each other and builds the frame.
fn build_raw_csi(f: RawCsiFields<'_>, line: u64) -> Result<Record, ReadError> {
    let n_sc: usize = req_int(f.subcarriers, line, "subcarriers")?;
    let n_antennas: u8 = opt_int(f.n_antennas, line, "n_antennas")?.unwrap_or(1);
    if !(1..=4).contains(&n_antennas) {
        return Err(ReadError::invalid(line, "n_antennas", "must be 1..=4"));
    }
    if n_sc == 0 || n_sc > 256 {
        return Err(ReadError::invalid(line, "subcarriers", "must be 1..=256"));
    }
    let hex = req(f.iq_hex, line, "iq_hex")?;
    let mut subcarriers = Vec::new();
    decode_iq_hex(hex, &mut subcarriers)
        .ok_or_else(|| ReadError::invalid(line, "iq_hex", "not hex pairs of bytes"))?;
    let expected = n_sc * usize::from(n_antennas);
    if subcarriers.len() != expected {
        return Err(ReadError::new(
            line,
            ReadErrorKind::LengthMismatch {
                field: "iq_hex",
                expected: expected * 2,
                found: subcarriers.len() * 2,
            },
        ));
    }
    if let Some(size) = f.size {
        let want = RAW_CSI_HEADER_LEN + expected * 2;
        if size != want as i64 {
            return Err(ReadError::new(
                line,
                ReadErrorKind::LengthMismatch {
                    field: "size",
                    expected: want,
                    found: size.max(0) as usize,
                },
            ));
        }
    }
    Ok(Record::Csi(CsiFrame {
        t_s: f.t_s,
        node_id: f.node_id,
        seq: opt_int(f.seq, line, "seq")?,
        rssi: if f.rssi_unknown {
            None
        } else {
            Some(rssi_of(f.rssi, line)?)
        },
        noise_floor: opt_int(f.noise_floor, line, "noise_floor")?,
        freq_mhz: opt_int(f.freq_mhz, line, "freq_mhz")?,
        channel: opt_int(f.channel, line, "channel")?,
        mac: None,
        n_antennas,
        subcarriers,
    }))
}

/// A scanner for the exact layout RuView (and [`format_line`]) writes `raw_csi` lines in.
/// Anything it does not recognise returns `None` and the line goes through serde instead, so
/// the fast path can only be faster, never different.
struct Scan<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        if self.s.get(self.i..self.i + l.len())? == l {
            self.i += l.len();
            Some(())
        } else {
            None
        }
    }

    /// A JSON number token: `-?digits(.digits)?([eE][+-]?digits)?`.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        let s = self.s;
        let digits = |i: &mut usize| {
            let from = *i;
            while *i < s.len() && s[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > from
        };
        let mut i = self.i;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        if !digits(&mut i) {
            return None;
        }
        // JSON allows no leading zeros.
        if s[int_start] == b'0' && i - int_start > 1 {
            return None;
        }
        if s.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        std::str::from_utf8(&s[start..i]).ok()
    }

    /// An integer token (no fraction or exponent), as i64.
    fn int(&mut self) -> Option<i64> {
        let tok = self.number()?;
        if tok.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return None;
        }
        tok.parse().ok()
    }

    /// A string without escapes.
    fn string(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let end = start + self.s[start..].iter().position(|&b| b == b'"')?;
        let body = &self.s[start..end];
        if body.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.i = end + 1;
        std::str::from_utf8(body).ok()
    }
}

/// The fast path for `raw_csi` lines; `None` means "not the canonical layout".
fn scan_raw_csi(text: &str, line: u64) -> Option<Result<Record, ReadError>> {
    let mut c = Scan {
        s: text.as_bytes(),
        i: 0,
    };
    c.lit(b"{\"timestamp\": ")?;
    // Anything serde_json would not accept as an f64 (an exponent out of range parses to
    // infinity here) leaves the line to the full parser and its error.
    let t_s: f64 = c.number()?.parse().ok().filter(|t: &f64| t.is_finite())?;
    c.lit(b", \"node_id\": ")?;
    let node_id = c.int()?;
    c.lit(b", \"magic\": \"0xC5110001\", \"size\": ")?;
    let size = c.int()?;
    c.lit(b", \"rssi\": ")?;
    let rssi = c.int()?;
    c.lit(b", \"type\": \"raw_csi\", \"iq_hex\": ")?;
    let iq_hex = c.string()?;
    c.lit(b", \"subcarriers\": ")?;
    let subcarriers = c.int()?;
    let mut ext: [Option<i64>; 5] = [None; 5];
    const EXT: [&[u8]; 5] = [
        b", \"n_antennas\": ",
        b", \"seq\": ",
        b", \"freq_mhz\": ",
        b", \"channel\": ",
        b", \"noise_floor\": ",
    ];
    // Our writer's optional extensions, in its order.
    for (slot, key) in ext.iter_mut().zip(EXT) {
        if c.lit(key).is_some() {
            *slot = Some(c.int()?);
        }
    }
    c.lit(b"}")?;
    if c.i != c.s.len() {
        return None;
    }
    let node_id = match u8::try_from(node_id) {
        Ok(n) => n,
        Err(_) => return None,
    };
    Some(build_raw_csi(
        RawCsiFields {
            t_s,
            node_id,
            size: Some(size),
            rssi: Some(rssi as f64),
            iq_hex: Some(iq_hex),
            subcarriers: Some(subcarriers),
            n_antennas: ext[0],
            seq: ext[1],
            freq_mhz: ext[2],
            channel: ext[3],
            noise_floor: ext[4],
            // The extension is not in the canonical layout: such lines take the serde path.
            rssi_unknown: false,
        },
        line,
    ))
}

/// Parses one JSONL line into a record. `line` is the 1-based line number for errors.
pub fn parse_line(text: &str, line: u64) -> Result<Record, ReadError> {
    match scan_raw_csi(text, line) {
        Some(Ok(record)) => Ok(record),
        // The fast path only speeds up good lines. A line it rejects goes through the full
        // parser, so a line with several faults reports the same one whichever path saw it.
        _ => parse_line_serde(text, line),
    }
}

/// [`parse_line`] without the fast path: every line through serde.
pub fn parse_line_serde(text: &str, line: u64) -> Result<Record, ReadError> {
    let f: LineFields = serde_json::from_str(text)
        .map_err(|e| ReadError::new(line, ReadErrorKind::Syntax(e.to_string())))?;
    let t_s = req(f.timestamp, line, "timestamp")?;
    let node_id: u8 = req_int(f.node_id, line, "node_id")?;
    let magic_str = req(f.magic.as_deref(), line, "magic")?;
    let m = parse_magic(magic_str).ok_or_else(|| {
        ReadError::invalid(line, "magic", format!("{magic_str:?} is not 0x<hex>"))
    })?;
    let expected_magic = |want: u32| {
        if m == want {
            Ok(())
        } else {
            Err(ReadError::invalid(
                line,
                "magic",
                format!("{magic_str} does not match type"),
            ))
        }
    };
    match f.kind.as_deref() {
        Some("raw_csi") => {
            expected_magic(magic::RAW_CSI)?;
            build_raw_csi(
                RawCsiFields {
                    t_s,
                    node_id,
                    size: f.size,
                    rssi: f.rssi,
                    iq_hex: f.iq_hex.as_deref(),
                    subcarriers: f.subcarriers,
                    n_antennas: f.n_antennas,
                    seq: f.seq,
                    freq_mhz: f.freq_mhz,
                    channel: f.channel,
                    noise_floor: f.noise_floor,
                    rssi_unknown: f.rssi_unknown == Some(true),
                },
                line,
            )
        }
        Some("vitals") => {
            expected_magic(magic::VITALS)?;
            Ok(Record::Vitals(Vitals {
                t_s,
                node_id,
                rssi: rssi_of(f.rssi, line)?,
                flags: req_int(f.flags, line, "flags")?,
                breathing_bpm: req_f(f.breathing_bpm, line, "breathing_bpm")?,
                heartrate_bpm: req_f(f.heartrate_bpm, line, "heartrate_bpm")?,
                n_persons: req_int(f.n_persons, line, "n_persons")?,
                motion_energy: req_f(f.motion_energy, line, "motion_energy")?,
                presence_score: req_f(f.presence_score, line, "presence_score")?,
                device_ms: opt_int(f.device_ms, line, "device_ms")?,
            }))
        }
        Some("feature") => {
            expected_magic(magic::FEATURE)?;
            let v = req(f.features, line, "features")?;
            if v.len() != 8 {
                return Err(ReadError::new(
                    line,
                    ReadErrorKind::LengthMismatch {
                        field: "features",
                        expected: 8,
                        found: v.len(),
                    },
                ));
            }
            let mut features = [0.0; 8];
            for (dst, src) in features.iter_mut().zip(&v) {
                *dst = src.0;
            }
            Ok(Record::Feature(FeatureVector {
                t_s,
                node_id,
                rssi: rssi_of(f.rssi, line)?,
                seq: req_int(f.seq, line, "seq")?,
                features,
                device_us: opt_int(f.device_us, line, "device_us")?,
            }))
        }
        Some("feature_state") => {
            expected_magic(magic::FEATURE_STATE)?;
            Ok(Record::FeatureState(FeatureState {
                t_s,
                node_id,
                mode: req_int(f.mode, line, "mode")?,
                seq: req_int(f.seq, line, "seq")?,
                device_us: req_int(f.device_us, line, "device_us")?,
                motion_score: req_f(f.motion_score, line, "motion_score")?,
                presence_score: req_f(f.presence_score, line, "presence_score")?,
                respiration_bpm: req_f(f.respiration_bpm, line, "respiration_bpm")?,
                respiration_conf: req_f(f.respiration_conf, line, "respiration_conf")?,
                heartbeat_bpm: req_f(f.heartbeat_bpm, line, "heartbeat_bpm")?,
                heartbeat_conf: req_f(f.heartbeat_conf, line, "heartbeat_conf")?,
                anomaly_score: req_f(f.anomaly_score, line, "anomaly_score")?,
                env_shift_score: req_f(f.env_shift_score, line, "env_shift_score")?,
                node_coherence: req_f(f.node_coherence, line, "node_coherence")?,
                quality_flags: req_int(f.quality_flags, line, "quality_flags")?,
            }))
        }
        Some("classification") => {
            expected_magic(magic::CLASSIFICATION)?;
            Ok(Record::Classification(Classification {
                t_s,
                node_id,
                version: req_int(f.version, line, "version")?,
                n_classes: req_int(f.n_classes, line, "n_classes")?,
                device_us: req_int(f.device_us, line, "device_us")?,
                seq: req_int(f.seq, line, "seq")?,
                argmax: req_int(f.argmax, line, "argmax")?,
                top_logit: req_f(f.top_logit, line, "top_logit")?,
                margin: req_f(f.margin, line, "margin")?,
            }))
        }
        Some(other) => Err(ReadError::invalid(
            line,
            "type",
            format!("unknown type {other:?}"),
        )),
        None => {
            // Untyped lines (RuView writes 0xC5110005 this way): the envelope only.
            let size: u32 = req_int(f.size, line, "size")?;
            Ok(Record::Other(OtherPacket {
                t_s,
                node_id,
                magic: m,
                size,
                rssi: rssi_of(f.rssi, line)?,
            }))
        }
    }
}

/// Longest line a reader accepts; longer lines are malformed and skipped without buffering.
/// A 4-antenna, 256-subcarrier raw frame is about 4.3 KB of JSON.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Streams records from RuView JSON Lines, one line at a time.
pub struct RuviewReader<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    stats: ReadStats,
    done: bool,
}

impl RuviewReader<BufReader<File>> {
    /// Opens a file for streaming.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self::new(BufReader::with_capacity(
            64 * 1024,
            File::open(path)?,
        )))
    }
}

impl<R: BufRead> RuviewReader<R> {
    /// Wraps any buffered reader.
    pub fn new(reader: R) -> Self {
        RuviewReader {
            reader,
            buf: Vec::new(),
            line: 0,
            stats: ReadStats::default(),
            done: false,
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }
}

impl<R: BufRead> Iterator for RuviewReader<R> {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let outcome = match read_line_bounded(&mut self.reader, &mut self.buf, MAX_LINE_BYTES) {
                Ok(o) => o,
                Err(e) => {
                    self.done = true;
                    return Some(Err(ReadError::new(self.line + 1, ReadErrorKind::Io(e))));
                }
            };
            self.line += 1;
            let result = match outcome {
                Line::Eof => {
                    self.done = true;
                    return None;
                }
                Line::TooLong => Err(ReadError::new(self.line, ReadErrorKind::LineTooLong)),
                Line::Ok => {
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        self.stats.skipped += 1;
                        continue;
                    }
                    match std::str::from_utf8(crate::lines::strip_bom(&self.buf)) {
                        Ok(text) => parse_line(text, self.line),
                        Err(_) => Err(ReadError::new(
                            self.line,
                            ReadErrorKind::Syntax("not UTF-8".into()),
                        )),
                    }
                }
            };
            match &result {
                Ok(_) => self.stats.records += 1,
                Err(_) => self.stats.malformed += 1,
            }
            return Some(result);
        }
    }
}

/// Appends a float the way JSON needs it (`null` for NaN and infinities).
fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // serde_json prints the shortest representation that reads back to the same f64.
        serde_json::to_writer(&mut *out, &v).expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_kv_int(out: &mut Vec<u8>, key: &str, v: impl std::fmt::Display) {
    let _ = write!(out, ", \"{key}\": {v}");
}

fn push_kv_f64(out: &mut Vec<u8>, key: &str, v: f64) {
    let _ = write!(out, ", \"{key}\": ");
    push_f64(out, v);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Formats one record as a JSONL line (with the trailing newline), field order and
/// separators as RuView writes them.
pub fn format_line(record: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\": ");
    push_f64(out, record.t_s());
    push_kv_int(out, "node_id", record.node_id());
    let _ = write!(out, ", \"magic\": \"0x{:08X}\"", record.magic());
    match record {
        Record::Csi(f) => {
            let size = RAW_CSI_HEADER_LEN + f.subcarriers.len() * 2;
            push_kv_int(out, "size", size);
            push_kv_int(out, "rssi", f.rssi.unwrap_or(0));
            out.extend_from_slice(b", \"type\": \"raw_csi\", \"iq_hex\": \"");
            for v in &f.subcarriers {
                for b in v.to_esp_bytes() {
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
            }
            out.push(b'"');
            push_kv_int(out, "subcarriers", f.n_subcarriers());
            // Extensions beyond RuView's schema, only when known.
            if f.n_antennas != 1 {
                push_kv_int(out, "n_antennas", f.n_antennas);
            }
            if let Some(v) = f.seq {
                push_kv_int(out, "seq", v);
            }
            if let Some(v) = f.freq_mhz {
                push_kv_int(out, "freq_mhz", v);
            }
            if let Some(v) = f.channel {
                push_kv_int(out, "channel", v);
            }
            if let Some(v) = f.noise_floor {
                push_kv_int(out, "noise_floor", v);
            }
            // The schema requires `rssi`; a frame without one (decoded compressed CSI, npz)
            // writes 0 and says so, so reading the line back gives None again, not 0 dBm.
            if f.rssi.is_none() {
                out.extend_from_slice(b", \"rssi_unknown\": true");
            }
        }
        Record::Vitals(v) => {
            push_kv_int(out, "size", 32);
            push_kv_int(out, "rssi", v.rssi);
            out.extend_from_slice(b", \"type\": \"vitals\"");
            push_kv_int(out, "flags", v.flags);
            push_kv_f64(out, "breathing_bpm", v.breathing_bpm);
            push_kv_f64(out, "heartrate_bpm", v.heartrate_bpm);
            push_kv_int(out, "n_persons", v.n_persons);
            push_kv_f64(out, "motion_energy", v.motion_energy);
            push_kv_f64(out, "presence_score", v.presence_score);
            if let Some(ms) = v.device_ms {
                push_kv_int(out, "device_ms", ms);
            }
        }
        Record::Feature(v) => {
            push_kv_int(out, "size", 48);
            push_kv_int(out, "rssi", v.rssi);
            out.extend_from_slice(b", \"type\": \"feature\", \"features\": [");
            for (i, x) in v.features.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                push_f64(out, *x);
            }
            out.push(b']');
            push_kv_int(out, "seq", v.seq);
            if let Some(us) = v.device_us {
                push_kv_int(out, "device_us", us);
            }
        }
        Record::FeatureState(s) => {
            push_kv_int(out, "size", 60);
            // The packet carries no RSSI.
            push_kv_int(out, "rssi", 0);
            out.extend_from_slice(b", \"type\": \"feature_state\"");
            push_kv_int(out, "mode", s.mode);
            push_kv_int(out, "seq", s.seq);
            push_kv_int(out, "device_us", s.device_us);
            push_kv_f64(out, "motion_score", s.motion_score);
            push_kv_f64(out, "presence_score", s.presence_score);
            push_kv_f64(out, "respiration_bpm", s.respiration_bpm);
            push_kv_f64(out, "respiration_conf", s.respiration_conf);
            push_kv_f64(out, "heartbeat_bpm", s.heartbeat_bpm);
            push_kv_f64(out, "heartbeat_conf", s.heartbeat_conf);
            push_kv_f64(out, "anomaly_score", s.anomaly_score);
            push_kv_f64(out, "env_shift_score", s.env_shift_score);
            push_kv_f64(out, "node_coherence", s.node_coherence);
            push_kv_int(out, "quality_flags", s.quality_flags);
        }
        Record::Classification(c) => {
            push_kv_int(out, "size", 40);
            push_kv_int(out, "rssi", 0);
            out.extend_from_slice(b", \"type\": \"classification\"");
            push_kv_int(out, "version", c.version);
            push_kv_int(out, "n_classes", c.n_classes);
            push_kv_int(out, "device_us", c.device_us);
            push_kv_int(out, "seq", c.seq);
            push_kv_int(out, "argmax", c.argmax);
            push_kv_f64(out, "top_logit", c.top_logit);
            push_kv_f64(out, "margin", c.margin);
        }
        Record::Other(o) => {
            push_kv_int(out, "size", o.size);
            push_kv_int(out, "rssi", o.rssi);
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Writes RuView JSON Lines atomically: records go to a temporary file next to the target,
/// which replaces the target only on [`RuviewWriter::finish`]. Dropping an unfinished writer
/// removes the temporary file and leaves any existing target untouched.
pub struct RuviewWriter {
    file: AtomicFile,
    line: Vec<u8>,
    written: u64,
}

impl RuviewWriter {
    /// Starts writing `path`.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(RuviewWriter {
            file: AtomicFile::create(path.as_ref())?,
            line: Vec::new(),
            written: 0,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        self.line.clear();
        format_line(record, &mut self.line);
        self.file.writer().write_all(&self.line)?;
        self.written += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The temporary file the records go to until [`Self::finish`].
    pub fn temp_path(&self) -> &Path {
        self.file.temp_path()
    }

    /// Keeps the temporary file, with what reached it, if the writer is dropped unfinished.
    pub fn keep_unfinished(&mut self) {
        self.file.keep_unfinished();
    }

    /// Flushes the records written so far to the temporary file and syncs it to disk.
    pub fn checkpoint(&mut self) -> std::io::Result<()> {
        self.file.checkpoint()
    }

    /// Flushes, syncs and renames the temporary file onto the target.
    pub fn finish(self) -> std::io::Result<()> {
        self.file.commit()
    }

    /// Removes the temporary file; the target stays as it was.
    pub fn discard(self) {
        self.file.discard()
    }
}

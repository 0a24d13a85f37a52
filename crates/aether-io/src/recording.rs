//! Opening any supported recording: format detection from content, one reader type.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::csv::{CsvDialect, CsvReader};
use crate::error::{ReadError, ReadErrorKind, ReadStats};
use crate::npz::{NpzMeta, NpzReader};
use crate::record::Record;
use crate::ruview::RuviewReader;

/// Recording formats this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// RuView JSON Lines (`*.csi.jsonl`), one UDP packet per line.
    RuviewJsonl,
    /// ESPectre NumPy archive (`*.npz`).
    EspectreNpz,
    /// ESP32-CSI-Tool CSV (header `type,role,mac,...`).
    Esp32CsiTool,
    /// Espressif esp-csi console output (`CSI_DATA,<id>,<mac>,...`).
    EspCsi,
}

impl Format {
    /// Stable name used by `aether inspect` and in docs.
    pub fn name(self) -> &'static str {
        match self {
            Format::RuviewJsonl => "ruview-jsonl",
            Format::EspectreNpz => "espectre-npz",
            Format::Esp32CsiTool => "esp32-csi-tool",
            Format::EspCsi => "esp-csi",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes [`detect_format`] looks at: room for a long boot log before a serial capture's first
/// CSI line (16 KiB was once too little).
pub const SNIFF_BYTES: usize = 1024 * 1024;

/// First four bytes of an RVNE model file (`RVNE` little-endian magic on disk: `45 4E 56 52`).
pub const RVNE_FILE_MAGIC: [u8; 4] = [0x45, 0x4E, 0x56, 0x52];

/// Whether the first line of a `CSI_DATA,...` stream is esp-csi (numeric second field) or
/// ESP32-CSI-Tool without its header (a role name such as `PASSIVE`).
fn csi_data_dialect(line: &str) -> Format {
    let second = line.split(',').nth(1).unwrap_or("");
    if !second.is_empty() && second.bytes().all(|b| b.is_ascii_digit()) {
        Format::EspCsi
    } else {
        Format::Esp32CsiTool
    }
}

/// Recognises a format from the first bytes of a file. The rules, in order:
/// zip magic `PK\x03\x04` -> npz; first non-blank byte `{` -> RuView JSONL; a line starting
/// `type,role,` -> ESP32-CSI-Tool; `type,id,` / `type,seq,` -> esp-csi; the first line starting
/// `CSI_DATA,` -> esp-csi if its second field is a number, else ESP32-CSI-Tool. Other lines
/// before a `CSI_DATA` line (serial-console logs) are passed over, bytes that are not UTF-8
/// too (a serial capture often starts with a few bytes of line noise from the boot); a
/// `CSI_DATA` line garbled by such bytes does not choose the dialect, the next clean one does.
pub fn detect_format_bytes(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PK\x03\x04") {
        return Some(Format::EspectreNpz);
    }
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        return Some(Format::RuviewJsonl);
    }
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("type,role,") {
            return Some(Format::Esp32CsiTool);
        }
        if line.starts_with("type,id,") || line.starts_with("type,seq,") {
            return Some(Format::EspCsi);
        }
        if line.starts_with("CSI_DATA,") && line.is_ascii() {
            return Some(csi_data_dialect(line));
        }
    }
    None
}

/// Recognises the format of `path` from at most its first [`SNIFF_BYTES`], read in growing
/// pieces so that a file whose first bytes decide (most) costs one small read.
pub fn detect_format(path: impl AsRef<Path>) -> Result<Format, ReadError> {
    let path = path.as_ref();
    let mut file = File::open(path)?.take(SNIFF_BYTES as u64);
    let mut head = Vec::new();
    let mut want = 16 * 1024;
    let found = loop {
        let asked = want - head.len();
        let got = (&mut file).take(asked as u64).read_to_end(&mut head)?;
        if head.starts_with(&RVNE_FILE_MAGIC) {
            return Err(ReadError::new(
                0,
                ReadErrorKind::Container("an RVNE model file, not a CSI recording".into()),
            ));
        }
        let end = got < asked || head.len() >= SNIFF_BYTES;
        // Whole lines only until the end: a cut `CSI_DATA,1` would name the wrong dialect.
        let judged = match head.iter().rposition(|&b| b == b'\n') {
            Some(nl) if !end => &head[..=nl],
            _ => &head[..],
        };
        if let Some(f) = detect_format_bytes(judged) {
            break Some(f);
        }
        if end {
            break None;
        }
        want = (want * 4).min(SNIFF_BYTES);
    };
    found.ok_or_else(|| {
        ReadError::new(
            0,
            ReadErrorKind::Container(format!(
                "{}: not a recognised recording (expected RuView JSONL, ESPectre npz, ESP32-CSI-Tool or esp-csi CSV)",
                path.display()
            )),
        )
    })
}

/// Whole-file facts about a recording.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordingMeta {
    /// A label for the whole file: ESPectre's `label`, or `label` from a RuView
    /// `<name>.csi.meta.json` sidecar when one sits next to the recording.
    pub label: Option<String>,
    /// ESPectre's scalar members.
    pub npz: Option<NpzMeta>,
    /// The RuView sidecar that was read, if any.
    pub sidecar: Option<PathBuf>,
    /// The sidecar's `session`: captures naming the same session share a room and node
    /// (the simulator writes its installation), so one empty-room capture references them all.
    pub session: Option<String>,
}

enum Inner {
    Ruview(RuviewReader<BufReader<File>>),
    Npz(NpzReader),
    Csv(CsvReader<BufReader<File>>),
}

/// A streaming reader over any supported recording.
pub struct RecordingReader {
    inner: Inner,
    format: Format,
    meta: RecordingMeta,
}

/// `X.csi.jsonl` -> `X.csi.meta.json`; `X.jsonl` -> `X.meta.json`.
fn sidecar_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".jsonl")?;
    Some(path.with_file_name(format!("{stem}.meta.json")))
}

/// Largest sidecar read (they hold a label, a session and a few notes).
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// The sidecar's path, `label` and `session` (non-empty strings, or absent/null); `Ok(None)`
/// without a sidecar. A sidecar that is there but unreadable, oversized or not JSON is an
/// error: ignoring it would quietly turn a labelled recording into an unlabelled one.
#[allow(clippy::type_complexity)]
fn read_sidecar(
    path: &Path,
) -> Result<Option<(PathBuf, Option<String>, Option<String>)>, ReadError> {
    let Some(side) = sidecar_path(path).filter(|p| p.exists()) else {
        return Ok(None);
    };
    let bad = |why: String| {
        ReadError::new(
            0,
            ReadErrorKind::Container(format!("sidecar {}: {why}", side.display())),
        )
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open(&side)?, MAX_SIDECAR_BYTES + 1),
        &mut text,
    )
    .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(bad(format!("longer than {MAX_SIDECAR_BYTES} bytes")));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if !v.is_object() {
        return Err(bad("not a JSON object".into()));
    }
    // Absent or null: none. Anything but a non-empty string is refused, for the same reason
    // as unreadable JSON (a `"label": 5` would quietly unlabel the recording).
    let field = |k: &str| match v.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!(
            "{k:?} must be a non-empty string, got {other}"
        ))),
    };
    Ok(Some((side.clone(), field("label")?, field("session")?)))
}

impl RecordingReader {
    /// Detects the format of `path` and opens it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let format = detect_format(path)?;
        Self::open_as(path, format)
    }

    /// Opens `path` as the given format.
    pub fn open_as(path: impl AsRef<Path>, format: Format) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let mut meta = RecordingMeta::default();
        let inner = match format {
            Format::RuviewJsonl => {
                if let Some((side, label, session)) = read_sidecar(path)? {
                    meta.sidecar = Some(side);
                    meta.label = label;
                    meta.session = session;
                }
                Inner::Ruview(RuviewReader::open(path)?)
            }
            Format::EspectreNpz => {
                let r = NpzReader::open(path)?;
                meta.label = r.meta().label.clone();
                meta.npz = Some(r.meta().clone());
                Inner::Npz(r)
            }
            Format::Esp32CsiTool => Inner::Csv(CsvReader::open(path, CsvDialect::Esp32CsiTool)?),
            Format::EspCsi => Inner::Csv(CsvReader::open(path, CsvDialect::EspCsi)?),
        };
        Ok(RecordingReader {
            inner,
            format,
            meta,
        })
    }

    /// The detected (or requested) format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whole-file facts.
    pub fn meta(&self) -> &RecordingMeta {
        &self.meta
    }

    /// Counts so far (records, malformed, skipped).
    pub fn stats(&self) -> ReadStats {
        match &self.inner {
            Inner::Ruview(r) => r.stats(),
            Inner::Npz(r) => r.stats(),
            Inner::Csv(r) => r.stats(),
        }
    }
}

impl Iterator for RecordingReader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Ruview(r) => r.next(),
            Inner::Npz(r) => r.next(),
            Inner::Csv(r) => r.next(),
        }
    }
}

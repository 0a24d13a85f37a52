//! ESP32-CSI-Tool CSV and Espressif esp-csi `CSI_DATA` console lines.
//!
//! Both print one packet per line starting with `CSI_DATA`, then `wifi_pkt_rx_ctrl_t`
//! fields, then the raw ESP-IDF CSI buffer (`[imag, real]` int8 pairs) in brackets.
//!
//! ESP32-CSI-Tool (header line `type,role,mac,...`, 26 fields):
//! `type,role,mac,rssi,rate,sig_mode,mcs,bandwidth,smoothing,not_sounding,aggregation,stbc,
//! fec_coding,sgi,noise_floor,ampdu_cnt,channel,secondary_channel,local_timestamp,ant,sig_len,
//! rx_state,real_time_set,real_timestamp,len,CSI_DATA` with the buffer as `[v0 v1 ...]`.
//!
//! esp-csi (Espressif's `csi_recv` examples, 25 fields, header optional):
//! `type,id,mac,rssi,rate,sig_mode,mcs,bandwidth,smoothing,not_sounding,aggregation,stbc,
//! fec_coding,sgi,noise_floor,ampdu_cnt,channel,secondary_channel,local_timestamp,ant,sig_len,
//! rx_state,len,first_word,data` with the buffer as `"[v0,v1,...]"`. When `first_word` is 1
//! the hardware marks the first four bytes invalid; they are zeroed (null subcarriers).
//!
//! Both log one receiver's view of every transmitter it hears. Each transmitter MAC is its own
//! stream: its node id is the order in which the MAC first appears (0 for the first), so a
//! capture of one link is node 0 and a second access point never joins its frame-to-frame
//! features.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{ReadError, ReadErrorKind, ReadStats};
use crate::lines::{read_line_bounded, Line};
use crate::record::{iq_from_esp_buffer, CsiFrame, Record};
use crate::MAX_LINE_BYTES;

/// Distinct transmitter MACs one file may hold (node ids 0..=255).
pub const MAX_TRANSMITTERS: usize = 256;

/// Which of the two line layouts a reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvDialect {
    /// ESP32-CSI-Tool (Steven Hernandez), 26 fields, space-separated buffer.
    Esp32CsiTool,
    /// Espressif esp-csi examples, 25 fields, comma-separated quoted buffer.
    EspCsi,
}

impl CsvDialect {
    fn n_fields(self) -> usize {
        match self {
            CsvDialect::Esp32CsiTool => 25,
            CsvDialect::EspCsi => 24,
        }
    }
}

mod field {
    pub const MAC: usize = 2;
    pub const RSSI: usize = 3;
    pub const NOISE_FLOOR: usize = 14;
    pub const CHANNEL: usize = 16;
    pub const LOCAL_TIMESTAMP: usize = 18;
    pub const TOOL_LEN: usize = 24;
    pub const ESP_CSI_SEQ: usize = 1;
    pub const ESP_CSI_LEN: usize = 22;
    pub const ESP_CSI_FIRST_WORD: usize = 23;
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn num<T: std::str::FromStr>(
    fields: &[&str],
    i: usize,
    name: &'static str,
    line: u64,
) -> Result<T, ReadError> {
    fields[i]
        .trim()
        .parse()
        .map_err(|_| ReadError::invalid(line, name, format!("{:?} is not a number", fields[i])))
}

/// A 32-bit unsigned device counter as the tools print it: both format it with `%d`, so from
/// 2^31 on it reads negative. Accepts -2^31..=2^32-1 and keeps the low 32 bits.
fn counter_u32(fields: &[&str], i: usize, name: &'static str, line: u64) -> Result<u32, ReadError> {
    let v: i64 = num(fields, i, name, line)?;
    if !(-(1i64 << 31)..(1i64 << 32)).contains(&v) {
        return Err(ReadError::invalid(
            line,
            name,
            format!("{v} is not a 32-bit counter"),
        ));
    }
    Ok(v as u32)
}

/// Parses one `CSI_DATA` line; `bytes` is scratch space for the buffer.
pub fn parse_csv_line(
    text: &str,
    dialect: CsvDialect,
    line: u64,
    bytes: &mut Vec<u8>,
) -> Result<CsiFrame, ReadError> {
    let open = text
        .find('[')
        .ok_or_else(|| ReadError::new(line, ReadErrorKind::MissingField("CSI buffer `[...]`")))?;
    let close = text[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| ReadError::new(line, ReadErrorKind::Syntax("unterminated `[`".into())))?;
    let head = text[..open].trim_end_matches('"');
    let head = head.strip_suffix(',').ok_or_else(|| {
        ReadError::new(
            line,
            ReadErrorKind::Syntax("no `,` before the CSI buffer".into()),
        )
    })?;
    let fields: Vec<&str> = head.split(',').collect();
    if fields.len() != dialect.n_fields() {
        return Err(ReadError::new(
            line,
            ReadErrorKind::LengthMismatch {
                field: "fields",
                expected: dialect.n_fields(),
                found: fields.len(),
            },
        ));
    }
    if fields[0] != "CSI_DATA" {
        return Err(ReadError::invalid(line, "type", format!("{:?}", fields[0])));
    }
    bytes.clear();
    for tok in text[open + 1..close].split(|c: char| c == ',' || c.is_ascii_whitespace()) {
        if tok.is_empty() {
            continue;
        }
        let v: i16 = tok.parse().map_err(|_| {
            ReadError::invalid(line, "CSI buffer", format!("{tok:?} is not a byte"))
        })?;
        // Signed (int8_t, as both tools print) or unsigned printing of the same byte.
        if !(-128..=255).contains(&v) {
            return Err(ReadError::invalid(
                line,
                "CSI buffer",
                format!("{v} is not a byte"),
            ));
        }
        bytes.push(v as u8);
    }
    let len_index = match dialect {
        CsvDialect::Esp32CsiTool => field::TOOL_LEN,
        CsvDialect::EspCsi => field::ESP_CSI_LEN,
    };
    let len: usize = num(&fields, len_index, "len", line)?;
    // ESP32-CSI-Tool may print only the first (LLTF) part of a longer buffer, so fewer
    // values than `len` are accepted; more, or an odd count, is a broken line.
    let consistent = match dialect {
        CsvDialect::Esp32CsiTool => bytes.len() <= len,
        CsvDialect::EspCsi => bytes.len() == len,
    };
    if !consistent || !bytes.len().is_multiple_of(2) || bytes.is_empty() {
        return Err(ReadError::new(
            line,
            ReadErrorKind::LengthMismatch {
                field: "CSI buffer",
                expected: len,
                found: bytes.len(),
            },
        ));
    }
    if bytes.len() > 2 * 4 * 256 {
        return Err(ReadError::invalid(
            line,
            "CSI buffer",
            "more than 4 x 256 subcarriers",
        ));
    }
    let mut seq = None;
    if dialect == CsvDialect::EspCsi {
        let first_word_invalid: u8 = num(&fields, field::ESP_CSI_FIRST_WORD, "first_word", line)?;
        if first_word_invalid != 0 {
            for b in bytes.iter_mut().take(4) {
                *b = 0;
            }
        }
        seq = Some(counter_u32(&fields, field::ESP_CSI_SEQ, "id", line)?);
    }
    let rssi: i8 = num(&fields, field::RSSI, "rssi", line)?;
    let noise_floor: i8 = num(&fields, field::NOISE_FLOOR, "noise_floor", line)?;
    let channel: u8 = num(&fields, field::CHANNEL, "channel", line)?;
    // The ESP32's `local_timestamp` is a 32-bit microsecond counter (wraps every ~71.6 min,
    // handled by the reader), printed with `%d` (negative from ~35.8 min of uptime); anything
    // outside 32 bits is a corrupt field, not a time.
    let local_us = u64::from(counter_u32(
        &fields,
        field::LOCAL_TIMESTAMP,
        "local_timestamp",
        line,
    )?);
    let mac = parse_mac(fields[field::MAC].trim())
        .ok_or_else(|| ReadError::invalid(line, "mac", format!("{:?}", fields[field::MAC])))?;
    let mut subcarriers = Vec::with_capacity(bytes.len() / 2);
    iq_from_esp_buffer(bytes, &mut subcarriers);
    Ok(CsiFrame {
        t_s: local_us as f64 * 1e-6,
        node_id: 0,
        seq,
        rssi: Some(rssi),
        noise_floor: Some(noise_floor),
        freq_mhz: aether_csi::channel_to_mhz(channel),
        channel: Some(channel),
        mac: Some(mac),
        n_antennas: 1,
        subcarriers,
    })
}

/// Refused frames that follow each other (each later than the last, by at most this) ...
const RUN_STEP_US: u64 = 10_000_000;
/// ... this many times in a row (the last of them accepted) say the reference, not they, was
/// the corrupt value.
const RUN_TO_REANCHOR: u32 = 3;
/// A wrap this few accepted frames before such a re-anchoring was a corrupt value's, and is
/// undone.
const WRAP_UNDO_FRAMES: u32 = 8;

/// Unrolls the ESP32's 32-bit microsecond `local_timestamp` into seconds, refusing single
/// corrupt values instead of taking them for the new reference.
#[derive(Debug, Default)]
struct DeviceClock {
    last_us: Option<u64>,
    /// Seconds added for the wraps so far.
    wrap_offset: f64,
    /// Frames accepted since the last wrap (None: no wrap yet, or it was confirmed).
    since_wrap: Option<u32>,
    /// Consecutive refused frames that follow each other: the newest and how many.
    refused_run: Option<(u64, u32)>,
}

impl DeviceClock {
    /// Accepts `us` (returning its seconds before the wrap offset, which may have grown) or
    /// refuses it as a corrupt field.
    ///
    /// A step back of over half the counter is a wrap; a step forward of over half is one
    /// corrupt field. When a third frame in a row follows two refused ones (each later than
    /// the last, by at most 10 s), the reference was the corrupt value: the clock re-anchors
    /// on it, and undoes a wrap taken within the last 8 frames (a corrupt low value taken for
    /// one). Repeated equal values (a stuck field) never re-anchor.
    fn place(&mut self, us: u64, line: u64) -> Result<f64, ReadError> {
        let half = 1u64 << 31;
        let verdict = match self.last_us {
            Some(last) if us > last + half => Err(format!(
                "{us} jumps {:.1} min ahead of the previous frame ({last})",
                (us - last) as f64 / 60e6
            )),
            Some(last) => Ok(us + half < last),
            None => Ok(false),
        };
        match verdict {
            Ok(wrap) => {
                if wrap {
                    self.wrap_offset += 4_294.967_296;
                    self.since_wrap = Some(0);
                } else {
                    self.since_wrap = self
                        .since_wrap
                        .map(|n| n + 1)
                        .filter(|&n| n <= WRAP_UNDO_FRAMES);
                }
                self.last_us = Some(us);
                self.refused_run = None;
                Ok(us as f64 * 1e-6)
            }
            Err(why) => {
                let n = match self.refused_run {
                    Some((prev, n)) if us > prev && us - prev <= RUN_STEP_US => n + 1,
                    _ => 1,
                };
                if n >= RUN_TO_REANCHOR {
                    if self.since_wrap.is_some() {
                        self.wrap_offset -= 4_294.967_296;
                    }
                    self.since_wrap = None;
                    self.last_us = Some(us);
                    self.refused_run = None;
                    return Ok(us as f64 * 1e-6);
                }
                self.refused_run = Some((us, n));
                Err(ReadError::invalid(line, "local_timestamp", why))
            }
        }
    }
}

/// Streams CSI frames from either CSV dialect. Lines that do not start with `CSI_DATA`
/// (the header, serial-console log lines) are skipped and counted.
pub struct CsvReader<R> {
    reader: R,
    dialect: CsvDialect,
    buf: Vec<u8>,
    bytes: Vec<u8>,
    line: u64,
    stats: ReadStats,
    done: bool,
    /// Unwraps the device's 32-bit microsecond counter.
    clock: DeviceClock,
    /// Transmitter MACs in order of first appearance: a frame's node id is its MAC's index,
    /// so packets of different links never mix in one stream.
    macs: Vec<[u8; 6]>,
}

impl CsvReader<BufReader<File>> {
    /// Opens a file for streaming.
    pub fn open(path: impl AsRef<Path>, dialect: CsvDialect) -> std::io::Result<Self> {
        Ok(Self::new(
            BufReader::with_capacity(64 * 1024, File::open(path)?),
            dialect,
        ))
    }
}

impl<R: BufRead> CsvReader<R> {
    /// Wraps any buffered reader.
    pub fn new(reader: R, dialect: CsvDialect) -> Self {
        CsvReader {
            reader,
            dialect,
            buf: Vec::new(),
            bytes: Vec::new(),
            line: 0,
            stats: ReadStats::default(),
            done: false,
            clock: DeviceClock::default(),
            macs: Vec::new(),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The dialect this reader parses.
    pub fn dialect(&self) -> CsvDialect {
        self.dialect
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
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
                    // As the format detector reads lines: a UTF-8 byte-order mark (first line)
                    // and leading whitespace do not hide a data line.
                    let line = crate::lines::strip_bom(&self.buf);
                    let line = &line[line.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
                    if !line.starts_with(b"CSI_DATA") {
                        self.stats.skipped += 1;
                        continue;
                    }
                    match std::str::from_utf8(line) {
                        Ok(text) => parse_csv_line(text, self.dialect, self.line, &mut self.bytes),
                        Err(_) => Err(ReadError::new(
                            self.line,
                            ReadErrorKind::Syntax("not UTF-8".into()),
                        )),
                    }
                }
            };
            // The device time first (a line refused for it takes no node id), then the MAC.
            let result = result.and_then(|mut frame| {
                let us = (frame.t_s * 1e6).round() as u64;
                frame.t_s = self.clock.place(us, self.line)? + self.clock.wrap_offset;
                Ok(frame)
            });
            let result = result.and_then(|mut frame| {
                let mac = frame.mac.unwrap_or_default();
                let node = match self.macs.iter().position(|m| *m == mac) {
                    Some(i) => i,
                    None if self.macs.len() < MAX_TRANSMITTERS => {
                        self.macs.push(mac);
                        self.macs.len() - 1
                    }
                    None => {
                        return Err(ReadError::invalid(
                            self.line,
                            "mac",
                            format!("more than {MAX_TRANSMITTERS} transmitters in one file"),
                        ))
                    }
                };
                frame.node_id = node as u8;
                Ok(frame)
            });
            return Some(match result {
                Ok(frame) => {
                    self.stats.records += 1;
                    Ok(Record::Csi(frame))
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    Err(e)
                }
            });
        }
    }
}

//! ESPectre captures: NumPy `.npz` (a zip of `.npy` arrays, format_version 1.x).
//!
//! `csi_data` int8 `[packets, 2 * subcarriers]` (ESP-IDF `[imag, real]` pairs) is streamed one
//! row at a time straight out of the zip member; the scalar members (`label`, `chip`,
//! `collected_at`, `duration_ms`, `gain_locked`, `format_version`, `num_subcarriers`) become
//! [`NpzMeta`]. Newer captures (format 1.1+) also store per-packet arrays: `device_ticks_us`
//! (the device's monotonic clock) or else `wifi_rx_ts_us` (32-bit, wrapping) give the packet
//! times, `stream_seq_num`, `rssi_dbm` and `channel` the frame fields. Without a time array
//! (format 1.0, the shared captures) packet `i` gets `i * duration_ms / packets`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use npyz::npz::NpzArchive;
use npyz::{DType, NpyHeader, Order, TypeChar};

use crate::error::{ReadError, ReadErrorKind, ReadStats};
use crate::record::{iq_from_esp_buffer, CsiFrame, Record};

/// Whole-file facts an ESPectre capture carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NpzMeta {
    /// `baseline` (quiet room) or `movement` (a person moving).
    pub label: Option<String>,
    /// ESP32 variant (`c3`, `c5`, `c6`, `esp32`, ...).
    pub chip: Option<String>,
    /// ISO-8601 local time the capture started.
    pub collected_at: Option<String>,
    /// Whether the AGC gain was locked (classic ESP32 cannot lock it).
    pub gain_locked: Option<bool>,
    pub format_version: Option<String>,
    /// Capture length in milliseconds.
    pub duration_ms: f64,
    /// Rows of `csi_data`.
    pub packets: u64,
    /// Subcarriers per packet (row bytes / 2).
    pub subcarriers: usize,
}

fn container(msg: impl Into<String>) -> ReadError {
    ReadError::new(0, ReadErrorKind::Container(msg.into()))
}

/// Bytes a scalar member (header and value) may take, and bytes one value may declare (a
/// string scalar's width): these files hold short labels and dates.
const MAX_SCALAR_MEMBER_BYTES: u64 = 64 * 1024;
const MAX_SCALAR_ITEM_BYTES: usize = 4096;
/// Longest `.npy` header accepted (numpy's own reader refuses past 10,000 bytes by default):
/// the header's length field is otherwise trusted with an allocation of up to 4 GiB.
const MAX_NPY_HEADER: usize = 64 * 1024;

/// Checks an `.npy` preamble (magic, version, header length) before anything trusts its length.
fn check_preamble(name: &str, pre: &[u8]) -> Result<(), ReadError> {
    if pre.len() < 10 || &pre[..6] != b"\x93NUMPY" {
        return Err(container(format!("member {name}: not an .npy array")));
    }
    let len = match pre[6] {
        1 => usize::from(u16::from_le_bytes([pre[8], pre[9]])),
        2 | 3 if pre.len() >= 12 => u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
        v => return Err(container(format!("member {name}: .npy version {v}"))),
    };
    if len > MAX_NPY_HEADER {
        return Err(container(format!(
            "member {name}: .npy header of {len} bytes (at most {MAX_NPY_HEADER})"
        )));
    }
    Ok(())
}

/// A small member `name.npy` read whole, at most `limit` bytes (`too_big` says why more is
/// wrong), with its preamble checked; `None` when absent. Reading it
/// ourselves, bounded, means neither its header length nor its dtype's item size is trusted
/// with an allocation.
fn small_member<R: Read + Seek>(
    archive: &mut NpzArchive<R>,
    name: &str,
    limit: u64,
    too_big: &str,
) -> Result<Option<Vec<u8>>, ReadError> {
    let bytes = match archive.zip_archive().by_name(&format!("{name}.npy")) {
        Ok(member) => {
            if member.size() > limit {
                return Err(container(format!(
                    "member {name} declares {} bytes: {too_big}",
                    member.size()
                )));
            }
            let mut bytes = Vec::new();
            member
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| container(format!("member {name}: {e}")))?;
            bytes
        }
        Err(npyz::zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(container(format!("member {name}: {e}"))),
    };
    check_preamble(name, &bytes[..bytes.len().min(12)])?;
    Ok(Some(bytes))
}

fn npy_of<'a>(name: &str, bytes: &'a [u8]) -> Result<npyz::NpyFile<&'a [u8]>, ReadError> {
    npyz::NpyFile::new(bytes).map_err(|e| container(format!("member {name}: {e}")))
}

fn scalar<T: npyz::Deserialize, R: Read + Seek>(
    archive: &mut NpzArchive<R>,
    name: &str,
) -> Result<Option<T>, ReadError> {
    let Some(bytes) = small_member(archive, name, MAX_SCALAR_MEMBER_BYTES, "not a scalar")? else {
        return Ok(None);
    };
    let file = npy_of(name, &bytes)?;
    let item = match file.dtype() {
        DType::Plain(t) => t.num_bytes(),
        _ => None,
    };
    if item.is_none_or(|b| b > MAX_SCALAR_ITEM_BYTES) {
        return Err(container(format!(
            "member {name} has dtype {}: not a scalar we read",
            file.dtype().descr()
        )));
    }
    // (Shape checked before `len()`, whose product of a hostile shape overflows.)
    let shape = file.shape();
    if shape.len() > 1 || shape.first().is_some_and(|&n| n != 1) {
        return Err(container(format!(
            "member {name} is not a scalar (shape {:?})",
            file.shape()
        )));
    }
    let mut v = file
        .into_vec::<T>()
        .map_err(|e| container(format!("member {name}: {e}")))?;
    Ok(v.pop())
}

/// Largest element of a per-packet array we read (u64/i64).
const MAX_PER_PACKET_ITEM: u64 = 8;

/// Reads an integer array of one value per packet into i64 values, or `None` when the member
/// is absent. The member's size is checked against `packets` before anything is read, and the
/// shape must be exactly `[packets]`.
fn per_packet<R: Read + Seek>(
    archive: &mut NpzArchive<R>,
    name: &str,
    packets: u64,
) -> Result<Option<Vec<i64>>, ReadError> {
    let limit =
        (MAX_NPY_HEADER as u64 + 16).saturating_add(packets.saturating_mul(MAX_PER_PACKET_ITEM));
    let too_big = format!("more than {packets} values");
    let Some(bytes) = small_member(archive, name, limit, &too_big)? else {
        return Ok(None);
    };
    let file = npy_of(name, &bytes)?;
    if file.shape() != [packets] {
        return Err(container(format!(
            "member {name} has shape {:?}, not one value per packet ({packets})",
            file.shape()
        )));
    }
    let descr = file.dtype().descr();
    let (kind, width) = match file.dtype() {
        DType::Plain(t) => (Some(t.type_char()), t.num_bytes()),
        _ => (None, None),
    };
    let err = |e: std::io::Error| container(format!("member {name}: {e}"));
    let values: Vec<i64> = match (kind, width) {
        (Some(TypeChar::Int), Some(1)) => file
            .into_vec::<i8>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Int), Some(2)) => file
            .into_vec::<i16>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Int), Some(4)) => file
            .into_vec::<i32>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Int), Some(8)) => file.into_vec::<i64>().map_err(err)?,
        (Some(TypeChar::Uint), Some(1)) => file
            .into_vec::<u8>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Uint), Some(2)) => file
            .into_vec::<u16>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Uint), Some(4)) => file
            .into_vec::<u32>()
            .map_err(err)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (Some(TypeChar::Uint), Some(8)) => file
            .into_vec::<u64>()
            .map_err(err)?
            .into_iter()
            .map(|v| {
                i64::try_from(v)
                    .map_err(|_| container(format!("member {name}: value {v} out of range")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(container(format!(
                "member {name} has dtype {descr}: not an integer array"
            )))
        }
    };
    Ok(Some(values))
}

/// Packet times in seconds from the first packet: the device's 64-bit tick count, else the
/// Wi-Fi driver's 32-bit receive time unwrapped modulo 2^32, else `None`. A tick count that
/// runs backwards (a monotonic counter cannot) is an error naming the packet.
fn packet_times(
    ticks: Option<&[i64]>,
    rx_ts: Option<&[i64]>,
) -> Result<Option<Vec<f64>>, ReadError> {
    if let Some(t) = ticks {
        if let Some(i) = t.windows(2).position(|w| w[1] < w[0]) {
            return Err(container(format!(
                "device_ticks_us runs backwards at packet {} ({} after {})",
                i + 1,
                t[i + 1],
                t[i]
            )));
        }
        let Some(&t0) = t.first() else {
            return Ok(None);
        };
        // Non-decreasing from t0, so the difference cannot overflow... except across the
        // whole i64 range, which i128 covers.
        return Ok(Some(
            t.iter()
                .map(|&v| (i128::from(v) - i128::from(t0)) as f64 * 1e-6)
                .collect(),
        ));
    }
    let Some(r) = rx_ts else {
        return Ok(None);
    };
    let mut us = 0i64;
    let mut out = Vec::with_capacity(r.len());
    for (i, &v) in r.iter().enumerate() {
        if i > 0 {
            us += v.wrapping_sub(r[i - 1]).rem_euclid(1 << 32);
        }
        out.push(us as f64 * 1e-6);
    }
    Ok(Some(out))
}

/// Streams CSI frames from an ESPectre `.npz`.
pub struct NpzReader {
    rows: Box<dyn Read + Send>,
    meta: NpzMeta,
    /// Per-packet fields of format 1.1+ captures, where present.
    times_s: Option<Vec<f64>>,
    seqs: Option<Vec<i64>>,
    rssi: Option<Vec<i64>>,
    channels: Option<Vec<i64>>,
    row: Vec<u8>,
    index: u64,
    stats: ReadStats,
    done: bool,
}

impl NpzReader {
    /// Opens a capture: reads the scalar members and positions on the first `csi_data` row.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let mut archive =
            NpzArchive::open(path).map_err(|e| container(format!("not an npz: {e}")))?;
        let label: Option<String> = scalar(&mut archive, "label")?;
        let chip: Option<String> = scalar(&mut archive, "chip")?;
        let collected_at: Option<String> = scalar(&mut archive, "collected_at")?;
        let format_version: Option<String> = scalar(&mut archive, "format_version")?;
        let gain_locked: Option<bool> = scalar(&mut archive, "gain_locked")?;
        let duration_ms: f64 = scalar(&mut archive, "duration_ms")?
            .ok_or_else(|| container("member duration_ms missing"))?;
        let num_subcarriers: Option<i64> = scalar(&mut archive, "num_subcarriers")?;

        // Locate the csi_data member and stream it from a second handle we own.
        let (start, size, method, crc32, uncompressed) = {
            let member = archive
                .zip_archive()
                .by_name("csi_data.npy")
                .map_err(|e| container(format!("member csi_data: {e}")))?;
            (
                member.data_start(),
                member.compressed_size(),
                member.compression(),
                member.crc32(),
                member.size(),
            )
        };
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(start))?;
        let raw = BufReader::with_capacity(64 * 1024, file).take(size);
        let decoded: Box<dyn Read + Send> = match method {
            npyz::zip::CompressionMethod::Stored => Box::new(raw),
            npyz::zip::CompressionMethod::Deflated => Box::new(BufReader::with_capacity(
                64 * 1024,
                flate2::read::DeflateDecoder::new(raw),
            )),
            other => return Err(container(format!("csi_data compressed with {other:?}"))),
        };
        // Streaming the member bypasses the zip crate's own check, so hash it here.
        let mut rows: Box<dyn Read + Send> = Box::new(CrcChecked {
            inner: decoded,
            crc: flate2::Crc::new(),
            want_crc: crc32,
            want_len: uncompressed,
        });
        let mut pre = [0u8; 12];
        rows.read_exact(&mut pre)
            .map_err(|e| container(format!("csi_data header: {e}")))?;
        check_preamble("csi_data", &pre)?;
        let mut rows: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(pre).chain(rows));
        let header = NpyHeader::from_reader(&mut rows)
            .map_err(|e| container(format!("csi_data header: {e}")))?;
        let int8 = matches!(header.dtype(), DType::Plain(ref t)
            if t.type_char() == TypeChar::Int && t.num_bytes() == Some(1));
        if !int8 {
            return Err(container(format!(
                "csi_data dtype {} is not int8",
                header.dtype().descr()
            )));
        }
        let shape = header.shape().to_vec();
        if shape.len() != 2 || header.order() != Order::C {
            return Err(container(format!(
                "csi_data shape {shape:?} is not C-order [packets, values]"
            )));
        }
        let (packets, width) = (shape[0], shape[1] as usize);
        if width == 0 || width % 2 != 0 || width > 2 * 4 * 256 {
            return Err(container(format!(
                "csi_data rows of {width} bytes are not I/Q pairs"
            )));
        }
        if let Some(n) = num_subcarriers {
            if usize::try_from(n).ok().and_then(|n| n.checked_mul(2)) != Some(width) {
                return Err(container(format!(
                    "num_subcarriers {n} but rows of {width} bytes"
                )));
            }
        }
        if !(duration_ms.is_finite() && duration_ms >= 0.0) {
            return Err(container(format!(
                "duration_ms {duration_ms} is not a duration"
            )));
        }
        let ticks = per_packet(&mut archive, "device_ticks_us", packets)?;
        let rx_ts = per_packet(&mut archive, "wifi_rx_ts_us", packets)?;
        let times_s = packet_times(ticks.as_deref(), rx_ts.as_deref())?;
        let seqs = per_packet(&mut archive, "stream_seq_num", packets)?;
        let rssi = per_packet(&mut archive, "rssi_dbm", packets)?;
        let channels = per_packet(&mut archive, "channel", packets)?;
        Ok(NpzReader {
            rows,
            times_s,
            seqs,
            rssi,
            channels,
            meta: NpzMeta {
                label,
                chip,
                collected_at,
                gain_locked,
                format_version,
                duration_ms,
                packets,
                subcarriers: width / 2,
            },
            row: vec![0; width],
            index: 0,
            stats: ReadStats::default(),
            done: false,
        })
    }

    /// The capture's scalar members.
    pub fn meta(&self) -> &NpzMeta {
        &self.meta
    }

    /// Counts so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }
}

/// Bytes `csi_data` may hold after its last row (npy writes none).
const MAX_TRAILING_BYTES: u64 = 1 << 20;

/// Hashes a zip member's bytes as they stream and, at its end, checks them against the CRC-32
/// and size in the zip directory (corrupt I/Q would otherwise read as plausible frames).
struct CrcChecked<R> {
    inner: R,
    crc: flate2::Crc,
    want_crc: u32,
    want_len: u64,
}

impl<R: Read> Read for CrcChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            // `amount` is the length mod 2^32, as a zip directory without zip64 stores it.
            let len_ok = u64::from(self.crc.amount()) == self.want_len & 0xFFFF_FFFF;
            if self.crc.sum() != self.want_crc || !len_ok {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "csi_data is corrupt: CRC-32 {:08x} over {} bytes, the zip directory says {:08x} over {}",
                        self.crc.sum(),
                        self.crc.amount(),
                        self.want_crc,
                        self.want_len
                    ),
                ));
            }
        }
        Ok(n)
    }
}

impl Iterator for NpzReader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index >= self.meta.packets {
            // Read what follows the last row (normally nothing) so the member's CRC-32 and
            // size are checked; a mismatch is one error after the rows, which stand.
            self.done = true;
            let mut rest = (&mut self.rows).take(MAX_TRAILING_BYTES + 1);
            return match std::io::copy(&mut rest, &mut std::io::sink()) {
                Ok(n) if n > MAX_TRAILING_BYTES => {
                    self.stats.malformed += 1;
                    Some(Err(container(format!(
                        "csi_data has more than {MAX_TRAILING_BYTES} bytes after its last row"
                    ))))
                }
                Ok(_) => None,
                // A CRC mismatch: the whole member is suspect, so the error is fatal.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.stats.malformed += 1;
                    Some(Err(container(e.to_string())))
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    Some(Err(ReadError::new(self.index, ReadErrorKind::Io(e))))
                }
            };
        }
        if let Err(e) = self.rows.read_exact(&mut self.row) {
            // A truncated member ends the stream; rows already yielded stand.
            self.done = true;
            self.stats.malformed += 1;
            return Some(Err(ReadError::new(self.index, ReadErrorKind::Io(e))));
        }
        let mut subcarriers = Vec::with_capacity(self.meta.subcarriers);
        iq_from_esp_buffer(&self.row, &mut subcarriers);
        let i = self.index as usize;
        let t_s = match &self.times_s {
            Some(t) => t[i],
            None => self.index as f64 * self.meta.duration_ms / self.meta.packets as f64 * 1e-3,
        };
        let at = |v: &Option<Vec<i64>>| v.as_ref().map(|v| v[i]);
        // Out-of-range values (a u32 sequence past i32, RSSI beyond i8) keep what fits.
        let seq = match at(&self.seqs) {
            Some(s) => Some(s as u32),
            None => Some(self.index as u32),
        };
        let rssi = at(&self.rssi).map(|r| r.clamp(-128, 127) as i8);
        let channel = at(&self.channels).and_then(|c| u8::try_from(c).ok());
        self.index += 1;
        self.stats.records += 1;
        Some(Ok(Record::Csi(CsiFrame {
            t_s,
            node_id: 0,
            seq,
            rssi,
            noise_floor: None,
            freq_mhz: channel.and_then(aether_csi::channel_to_mhz),
            channel,
            mac: None,
            n_antennas: 1,
            subcarriers,
        })))
    }
}

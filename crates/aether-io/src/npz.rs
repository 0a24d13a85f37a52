//! ESPectre captures: NumPy `.npz` (a zip of `.npy` arrays, format_version 1.x).
//!
//! `csi_data` int8 `[packets, 2 * subcarriers]` (ESP-IDF `[imag, real]` pairs) is streamed one
//! row at a time straight out of the zip member; the scalar members (`label`, `chip`,
//! `collected_at`, `duration_ms`, `gain_locked`, `format_version`, `num_subcarriers`) become
//! [`NpzMeta`]. Packet times are not stored: packet `i` gets `i * duration_ms / packets`.

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

fn scalar<T: npyz::Deserialize, R: Read + Seek>(
    archive: &mut NpzArchive<R>,
    name: &str,
) -> Result<Option<T>, ReadError> {
    // Read the member ourselves, bounded, so neither its header length nor its dtype's item
    // size is trusted with an allocation.
    let bytes = match archive.zip_archive().by_name(&format!("{name}.npy")) {
        Ok(member) => {
            if member.size() > MAX_SCALAR_MEMBER_BYTES {
                return Err(container(format!(
                    "member {name} declares {} bytes: not a scalar",
                    member.size()
                )));
            }
            let mut bytes = Vec::new();
            member
                .take(MAX_SCALAR_MEMBER_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| container(format!("member {name}: {e}")))?;
            bytes
        }
        Err(npyz::zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(container(format!("member {name}: {e}"))),
    };
    check_preamble(name, &bytes[..bytes.len().min(12)])?;
    let file = npyz::NpyFile::new(std::io::Cursor::new(&bytes[..]))
        .map_err(|e| container(format!("member {name}: {e}")))?;
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

/// Streams CSI frames from an ESPectre `.npz`.
pub struct NpzReader {
    rows: Box<dyn Read + Send>,
    meta: NpzMeta,
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
        Ok(NpzReader {
            rows,
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
        let t_s = self.index as f64 * self.meta.duration_ms / self.meta.packets as f64 * 1e-3;
        self.index += 1;
        self.stats.records += 1;
        Some(Ok(Record::Csi(CsiFrame {
            t_s,
            node_id: 0,
            seq: Some((self.index - 1) as u32),
            rssi: None,
            noise_floor: None,
            freq_mhz: None,
            channel: None,
            mac: None,
            n_antennas: 1,
            subcarriers,
        })))
    }
}

//! Live UDP: datagrams of the RuView packet family <-> records, `record` and `replay`.
//!
//! Memory is bounded by construction: one fixed receive buffer, per-node state for at most
//! 256 node ids, a compressed-CSI reference store of fixed size, and error counts keyed by a
//! closed set of error kinds. Malformed datagrams are counted, never fatal.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aether_csi::{
    mhz_to_channel, parse_any, AnyPacket, CompressedCsiDecoder, CsiFramePacket, CsiFrameRepr,
    PacketError, CSI_HEADER_LEN, CSI_MAX_ANTENNAS, CSI_MAX_FRAME_LEN, CSI_MAX_SUBCARRIERS,
};

use crate::error::ReadError;
use crate::record::{
    iq_from_esp_buffer, iq_to_esp_buffer, Classification, CsiFrame, FeatureState, FeatureVector,
    OtherPacket, Record, Vitals,
};
use crate::ruview::RuviewWriter;

/// Receive buffer size. Larger than any packet of the family, so a datagram that fills it
/// is oversize (and malformed) rather than silently truncated into something parseable. The
/// largest is a compressed CSI frame whose run-length code spends two bytes per I/Q byte:
/// 10 + 4096 bytes (it was 4096, and such a packet, which `parse` accepts, was refused).
pub const RECV_BUFFER_LEN: usize = 8192;
const _: () =
    assert!(RECV_BUFFER_LEN > aether_csi::COMPRESSED_HEADER_LEN + 2 * aether_csi::CSI_MAX_IQ_LEN);

/// Nodes whose previous raw frame is kept for compressed-CSI decoding.
pub const COMPRESSED_REFERENCE_NODES: usize = 16;

/// Why a datagram was not turned into a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramError {
    /// The packet codec rejected it.
    Packet(PacketError),
    /// It filled the whole receive buffer.
    Oversize,
}

impl DatagramError {
    /// A short stable name for counting (`length`, `magic`, `crc`, ..., `oversize`).
    pub fn kind_name(&self) -> &'static str {
        use aether_csi::PacketErrorKind as K;
        match self {
            DatagramError::Oversize => "oversize",
            DatagramError::Packet(p) => match p.kind() {
                K::Length => "length",
                K::Magic => "magic",
                K::Crc => "crc",
                K::Version => "version",
                K::Count => "count",
                K::Compression => "compression",
                K::Buffer => "buffer",
                _ => "other",
            },
        }
    }
}

impl std::fmt::Display for DatagramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatagramError::Packet(p) => write!(f, "{p:?}"),
            DatagramError::Oversize => write!(f, "datagram of {RECV_BUFFER_LEN}+ bytes"),
        }
    }
}

/// Turns datagrams into records. Stateful only for compressed CSI, which is an XOR delta
/// against the previous raw frame of the same node.
pub struct DatagramDecoder {
    compressed: Box<CompressedCsiDecoder<COMPRESSED_REFERENCE_NODES>>,
    antennas: [u8; 256],
}

impl Default for DatagramDecoder {
    fn default() -> Self {
        Self::new()
    }
}

fn with_freq(freq_mhz: u32) -> (Option<u32>, Option<u8>) {
    if freq_mhz == 0 {
        (None, None)
    } else {
        (Some(freq_mhz), mhz_to_channel(freq_mhz))
    }
}

impl DatagramDecoder {
    pub fn new() -> Self {
        DatagramDecoder {
            compressed: Box::new(CompressedCsiDecoder::new()),
            antennas: [1; 256],
        }
    }

    /// Decodes one datagram received at `t_s` (Unix seconds).
    ///
    /// Compressed CSI becomes a [`Record::Csi`] when the node's previous raw frame is known
    /// (without RSSI / sequence, which the packet does not carry); otherwise, like fused
    /// vitals and WASM output, it is kept as a [`Record::Other`] envelope.
    pub fn decode(&mut self, t_s: f64, datagram: &[u8]) -> Result<Record, DatagramError> {
        let packet = parse_any(datagram).map_err(DatagramError::Packet)?;
        let size = datagram.len() as u32;
        Ok(match packet {
            AnyPacket::RawCsi(r) => {
                // Cannot fail: parse checked the I/Q length against CSI_MAX_IQ_LEN.
                let _ = self.compressed.observe_raw(r.node_id, r.iq);
                self.antennas[usize::from(r.node_id)] = r.n_antennas;
                let (freq_mhz, channel) = with_freq(r.freq_mhz);
                let mut subcarriers = Vec::with_capacity(r.iq.len() / 2);
                iq_from_esp_buffer(r.iq, &mut subcarriers);
                Record::Csi(CsiFrame {
                    t_s,
                    node_id: r.node_id,
                    seq: Some(r.sequence),
                    rssi: Some(r.rssi),
                    noise_floor: Some(r.noise_floor),
                    freq_mhz,
                    channel,
                    mac: None,
                    n_antennas: r.n_antennas,
                    subcarriers,
                })
            }
            AnyPacket::CompressedCsi(c) => match self.compressed.decode(&c) {
                Ok(iq) => {
                    let mut subcarriers = Vec::with_capacity(iq.len() / 2);
                    iq_from_esp_buffer(iq, &mut subcarriers);
                    let n_antennas = self.antennas[usize::from(c.node_id)];
                    Record::Csi(CsiFrame {
                        t_s,
                        node_id: c.node_id,
                        seq: None,
                        rssi: None,
                        noise_floor: None,
                        freq_mhz: aether_csi::channel_to_mhz(c.channel),
                        channel: Some(c.channel),
                        mac: None,
                        n_antennas,
                        subcarriers,
                    })
                }
                Err(_) => Record::Other(OtherPacket {
                    t_s,
                    node_id: c.node_id,
                    magic: crate::record::magic::COMPRESSED_CSI,
                    size,
                    rssi: 0,
                }),
            },
            AnyPacket::Vitals(v) => Record::Vitals(Vitals {
                t_s,
                node_id: v.node_id,
                rssi: v.rssi,
                flags: v.flags,
                breathing_bpm: f64::from(v.breathing_centi_bpm) / 100.0,
                heartrate_bpm: f64::from(v.heartrate_decimilli_bpm) / 10_000.0,
                n_persons: v.n_persons,
                motion_energy: f64::from(v.motion_energy),
                presence_score: f64::from(v.presence_score),
                device_ms: Some(v.timestamp_ms),
            }),
            AnyPacket::FeatureVector(f) => {
                let features = f.features.map(f64::from);
                // RuView's recorder derives the line's rssi from the normalised RSSI feature.
                let rssi = (features[7] * 100.0 - 100.0).trunc().clamp(-128.0, 127.0) as i8;
                Record::Feature(FeatureVector {
                    t_s,
                    node_id: f.node_id,
                    rssi,
                    seq: f.seq,
                    features,
                    device_us: Some(f.timestamp_us),
                })
            }
            AnyPacket::FeatureState(s) => Record::FeatureState(FeatureState {
                t_s,
                node_id: s.node_id,
                mode: s.mode.into(),
                seq: s.seq,
                device_us: s.ts_us,
                motion_score: f64::from(s.motion_score),
                presence_score: f64::from(s.presence_score),
                respiration_bpm: f64::from(s.respiration_bpm),
                respiration_conf: f64::from(s.respiration_conf),
                heartbeat_bpm: f64::from(s.heartbeat_bpm),
                heartbeat_conf: f64::from(s.heartbeat_conf),
                anomaly_score: f64::from(s.anomaly_score),
                env_shift_score: f64::from(s.env_shift_score),
                node_coherence: f64::from(s.node_coherence),
                quality_flags: s.quality_flags,
            }),
            AnyPacket::Classification(c) => Record::Classification(Classification {
                t_s,
                node_id: c.node_id,
                version: aether_csi::CLASSIFICATION_VERSION,
                n_classes: c.n_classes,
                device_us: c.ts_us,
                seq: c.seq,
                argmax: c.argmax,
                top_logit: f64::from(c.top_logit),
                margin: f64::from(c.margin),
            }),
            AnyPacket::FusedVitals(v) => Record::Other(OtherPacket {
                t_s,
                node_id: v.node_id,
                magic: crate::record::magic::FUSED_VITALS,
                size,
                rssi: v.rssi,
            }),
            AnyPacket::WasmOutput(w) => Record::Other(OtherPacket {
                t_s,
                node_id: w.node_id,
                magic: u32::from(w.magic),
                size,
                rssi: 0,
            }),
        })
    }
}

/// Why a CSI frame cannot be sent as a 0xC5110001 datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Antennas outside 1..=4.
    Antennas(u8),
    /// Subcarriers per antenna outside 1..=256, or not a whole number per antenna.
    Subcarriers(usize),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Antennas(n) => write!(f, "{n} antennas (1..=4 fit the frame)"),
            EncodeError::Subcarriers(n) => {
                write!(f, "{n} values (1..=256 per antenna fit the frame)")
            }
        }
    }
}

/// Emits `frame` as a 0xC5110001 datagram into `buf` (at least [`CSI_MAX_FRAME_LEN`] bytes)
/// and returns its length. Missing header fields are sent as 0; `seq` is used when the
/// frame has none.
pub fn encode_raw_csi(
    frame: &CsiFrame,
    seq: u32,
    iq_scratch: &mut Vec<u8>,
    buf: &mut [u8; CSI_MAX_FRAME_LEN],
) -> Result<usize, EncodeError> {
    let n_ant = frame.n_antennas;
    if !(1..=CSI_MAX_ANTENNAS as u8).contains(&n_ant) {
        return Err(EncodeError::Antennas(n_ant));
    }
    let n_sc = frame.n_subcarriers();
    if n_sc == 0
        || n_sc > CSI_MAX_SUBCARRIERS
        || n_sc * usize::from(n_ant) != frame.subcarriers.len()
    {
        return Err(EncodeError::Subcarriers(frame.subcarriers.len()));
    }
    iq_scratch.clear();
    iq_to_esp_buffer(&frame.subcarriers, iq_scratch);
    let freq_mhz = frame
        .freq_mhz
        .or_else(|| frame.channel.and_then(aether_csi::channel_to_mhz))
        .unwrap_or(0);
    let repr = CsiFrameRepr {
        node_id: frame.node_id,
        n_antennas: n_ant,
        n_subcarriers: n_sc as u16,
        freq_mhz,
        sequence: frame.seq.unwrap_or(seq),
        rssi: frame.rssi.unwrap_or(0),
        noise_floor: frame.noise_floor.unwrap_or(0),
        iq: iq_scratch,
    };
    let len = repr.buffer_len();
    repr.emit(&mut CsiFramePacket::new_unchecked(&mut buf[..len]));
    debug_assert!(len >= CSI_HEADER_LEN);
    Ok(len)
}

/// When `record` stops.
#[derive(Clone, Debug, Default)]
pub struct RecordOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many datagrams (valid or not).
    pub max_packets: Option<u64>,
    /// How often the records so far are synced to the temporary file on disk (default
    /// [`RecordOptions::CHECKPOINT_EVERY`]); a killed process or a power loss loses at most
    /// what came after the last sync, and the temporary file is readable as it stands.
    pub checkpoint_every: Option<Duration>,
}

impl RecordOptions {
    /// Default sync interval of a recording session.
    pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
}

/// What a recording session saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordReport {
    /// Datagrams received.
    pub received: u64,
    /// Records written.
    pub written: u64,
    /// Datagrams that were not a valid packet of the family.
    pub malformed: u64,
    /// Malformed datagrams by error kind (a closed set of names).
    pub malformed_by_kind: BTreeMap<&'static str, u64>,
    /// Records per node id.
    pub nodes: BTreeMap<u8, u64>,
    /// Records per type name.
    pub packet_counts: BTreeMap<String, u64>,
    /// Seconds spent receiving.
    pub elapsed_s: f64,
    /// Nothing was recorded and `out` already existed: it was left as it was, and no file
    /// was written.
    pub kept_existing: bool,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What [`Receiver::next`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A datagram of this many bytes is in the buffer.
    Datagram(usize),
    /// Nothing arrived within the poll interval; the loop may do its periodic work.
    Quiet,
    /// The session is over: a stop condition held and the socket's queue is drained.
    Ended,
}

/// The stop rules every receive loop shares (`record`, `aether run --listen`): the session
/// ends after `max_packets` datagrams, or once `stop` is set (Ctrl-C) or `duration` has passed.
/// In the last two cases the datagrams still queued in the socket arrived during the session
/// and are handed out too, for at most [`Receiver::DRAIN_FOR`]. (What the kernel dropped
/// because the socket's buffer was full, or a backlog longer than the drain, is lost.)
pub struct Receiver<'a> {
    socket: &'a UdpSocket,
    stop: &'a AtomicBool,
    duration: Option<Duration>,
    max_packets: Option<u64>,
    started: Instant,
    draining: Option<Instant>,
    received: u64,
}

impl<'a> Receiver<'a> {
    /// Read timeout while the session runs: how soon `stop` and `duration` are noticed on a
    /// quiet network.
    pub const POLL: Duration = Duration::from_millis(50);
    /// Longest drain after a stop; a sender that keeps flooding cannot hold the session open.
    pub const DRAIN_FOR: Duration = Duration::from_millis(200);

    /// Starts the session clock and sets the socket's read timeout to [`Self::POLL`].
    pub fn new(
        socket: &'a UdpSocket,
        stop: &'a AtomicBool,
        duration: Option<Duration>,
        max_packets: Option<u64>,
    ) -> std::io::Result<Self> {
        socket.set_read_timeout(Some(Self::POLL))?;
        Ok(Receiver {
            socket,
            stop,
            duration,
            max_packets,
            started: Instant::now(),
            draining: None,
            received: 0,
        })
    }

    /// When the session started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Datagrams handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next datagram into `buf`, a quiet poll interval, or the end of the session. A socket
    /// error is returned as is (it ends a session).
    pub fn next(&mut self, buf: &mut [u8]) -> std::io::Result<Received> {
        if self.max_packets.is_some_and(|m| self.received >= m) {
            return Ok(Received::Ended);
        }
        if self.draining.is_none()
            && (self.stop.load(Ordering::Relaxed)
                || self.duration.is_some_and(|d| self.started.elapsed() >= d))
        {
            // Queued datagrams come back at once; 1 ms of silence means the queue is empty.
            self.socket
                .set_read_timeout(Some(Duration::from_millis(1)))?;
            self.draining = Some(Instant::now());
        }
        if self
            .draining
            .is_some_and(|t| t.elapsed() >= Self::DRAIN_FOR)
        {
            return Ok(Received::Ended);
        }
        use std::io::ErrorKind;
        match self.socket.recv_from(buf) {
            Ok((n, _from)) => {
                self.received += 1;
                Ok(Received::Datagram(n))
            }
            // A signal (a second Ctrl-C) or an echoed ICMP error (port unreachable on some
            // platforms) says nothing about the queue: not the end of a drain.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionReset
                ) =>
            {
                Ok(Received::Quiet)
            }
            // The read timed out: a quiet network, or, draining, an empty queue.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(if self.draining.is_some() {
                    Received::Ended
                } else {
                    Received::Quiet
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// Receives the packet family on `socket` and writes RuView JSONL to `out` (atomically, on
/// return) until `opts` or `stop` says so. A session that wrote no record leaves an existing
/// `out` untouched (`kept_existing`). Bad datagrams never end the session. An I/O error
/// (on the socket or the output) does, and what was recorded before it is still committed to
/// `out` (or, if that fails too, kept in the temporary file the error names).
pub fn record(
    socket: &UdpSocket,
    out: &Path,
    opts: &RecordOptions,
    stop: &AtomicBool,
) -> std::io::Result<RecordReport> {
    let mut writer = RuviewWriter::create(out)?;
    let mut receiver = Receiver::new(socket, stop, opts.duration, opts.max_packets)?;
    // Timestamps: the wall clock once, then the monotonic clock, so a clock step (NTP) during
    // a session cannot make them jump or run backwards.
    let (started, wall0) = (receiver.started(), unix_now());
    // A session can run for hours: if the process dies (a panic, SIGKILL, power), the
    // temporary file keeps everything up to the last checkpoint instead of vanishing.
    writer.keep_unfinished();
    let checkpoint_every = opts
        .checkpoint_every
        .unwrap_or(RecordOptions::CHECKPOINT_EVERY);
    let mut last_checkpoint = Instant::now();
    let mut decoder = DatagramDecoder::new();
    let mut buf = vec![0u8; RECV_BUFFER_LEN];
    let mut report = RecordReport::default();
    loop {
        // Every turn, whatever arrives: a quiet network, or a flood of malformed datagrams
        // (which once kept every checkpoint away), still gets what was recorded onto the disk.
        if last_checkpoint.elapsed() >= checkpoint_every {
            if let Err(e) = writer.checkpoint() {
                return Err(keep_recorded(writer, e, &report, out));
            }
            last_checkpoint = Instant::now();
        }
        let n = match receiver.next(&mut buf) {
            Ok(Received::Datagram(n)) => n,
            Ok(Received::Quiet) => continue,
            Ok(Received::Ended) => break,
            Err(e) => return Err(keep_recorded(writer, e, &report, out)),
        };
        report.received += 1;
        let now = wall0 + started.elapsed().as_secs_f64();
        let decoded = if n >= RECV_BUFFER_LEN {
            Err(DatagramError::Oversize)
        } else {
            decoder.decode(now, &buf[..n])
        };
        match decoded {
            Ok(rec) => {
                if let Err(e) = writer.write(&rec) {
                    return Err(keep_recorded(writer, e, &report, out));
                }
                report.written += 1;
                *report.nodes.entry(rec.node_id()).or_default() += 1;
                *report
                    .packet_counts
                    .entry(rec.type_name().into_owned())
                    .or_default() += 1;
            }
            Err(e) => {
                report.malformed += 1;
                *report.malformed_by_kind.entry(e.kind_name()).or_default() += 1;
            }
        }
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    if report.written == 0 && out.exists() {
        // An empty session never replaces an earlier recording.
        writer.discard();
        report.kept_existing = true;
        return Ok(report);
    }
    writer.finish()?;
    Ok(report)
}

/// After an I/O error `e` mid-session: commits what was written so far and says where it is.
fn keep_recorded(
    writer: RuviewWriter,
    e: std::io::Error,
    report: &RecordReport,
    out: &Path,
) -> std::io::Error {
    let kept = match writer.finish() {
        Ok(()) => format!(
            "the {} records before it are in {}",
            report.written,
            out.display()
        ),
        Err(f) => format!(
            "committing the {} records before it failed too: {f}",
            report.written
        ),
    };
    std::io::Error::new(e.kind(), format!("{e}; {kept}"))
}

/// How `replay` paces.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Multiplier on the recording's own pace; 0 sends as fast as possible.
    pub speed: f64,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// Longest wait between two frames, in recording seconds: a longer gap (a corrupt
    /// timestamp, a capture paused for hours) is shortened to this and counted.
    pub max_gap_s: f64,
}

impl ReplayOptions {
    /// Default `max_gap_s`.
    pub const MAX_GAP_S: f64 = 5.0;
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: 1.0,
            max_frames: None,
            max_gap_s: Self::MAX_GAP_S,
        }
    }
}

/// What a replay sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayReport {
    /// 0xC5110001 datagrams sent.
    pub sent: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Non-CSI records passed over (only CSI is replayed).
    pub non_csi: u64,
    /// Records the reader could not decode.
    pub malformed: u64,
    /// CSI frames that do not fit a 0xC5110001 datagram.
    pub unencodable: u64,
    /// Recording time covered, seconds.
    pub span_s: f64,
    /// Gaps between frames longer than `max_gap_s`, each waited for only `max_gap_s`.
    pub gaps_shortened: u64,
}

/// Sends the CSI frames of `records` to `to` as 0xC5110001 datagrams, paced by the gaps
/// between their timestamps divided by `opts.speed` (a backwards step waits nothing, a gap
/// over `opts.max_gap_s` waits that long). Frames without a sequence number get one counted per
/// node from 0. A fatal read error ends the replay and is returned.
pub fn replay(
    records: impl Iterator<Item = Result<Record, ReadError>>,
    socket: &UdpSocket,
    to: SocketAddr,
    opts: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut buf = Box::new([0u8; CSI_MAX_FRAME_LEN]);
    let mut iq = Vec::with_capacity(CSI_MAX_FRAME_LEN);
    let mut seq = [0u32; 256];
    let mut first_t: Option<f64> = None;
    let mut prev_t: Option<f64> = None;
    // Recording seconds from the first frame to the current one's send time, gaps capped.
    let mut due_s = 0.0f64;
    let started = Instant::now();
    for item in records {
        let record = match item {
            Ok(r) => r,
            Err(e) if e.is_fatal() => return Err(ReplayError::Read(e)),
            Err(_) => {
                report.malformed += 1;
                continue;
            }
        };
        let Record::Csi(frame) = record else {
            report.non_csi += 1;
            continue;
        };
        if opts.max_frames.is_some_and(|m| report.sent >= m) {
            break;
        }
        let t0 = *first_t.get_or_insert(frame.t_s);
        report.span_s = report.span_s.max(frame.t_s - t0);
        if let Some(p) = prev_t.replace(frame.t_s) {
            let gap = frame.t_s - p;
            if gap > opts.max_gap_s {
                report.gaps_shortened += 1;
                due_s += opts.max_gap_s;
            } else if gap > 0.0 {
                due_s += gap;
            }
        }
        if opts.speed > 0.0 && due_s > 0.0 {
            // A wait no clock can count (an absurdly slow speed) is not waited for: the frame
            // goes out at once.
            if let Ok(due) = Duration::try_from_secs_f64(due_s / opts.speed) {
                let now = started.elapsed();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
        }
        let node = usize::from(frame.node_id);
        let len = match encode_raw_csi(&frame, seq[node], &mut iq, &mut buf) {
            Ok(len) => len,
            Err(_) => {
                report.unencodable += 1;
                continue;
            }
        };
        seq[node] = seq[node].wrapping_add(1);
        socket.send_to(&buf[..len], to).map_err(ReplayError::Send)?;
        report.sent += 1;
        report.bytes += len as u64;
    }
    Ok(report)
}

/// A replay that could not go on.
#[derive(Debug)]
pub enum ReplayError {
    Read(ReadError),
    Send(std::io::Error),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Read(e) => write!(f, "reading the recording: {e}"),
            ReplayError::Send(e) => write!(f, "sending: {e}"),
        }
    }
}

impl std::error::Error for ReplayError {}

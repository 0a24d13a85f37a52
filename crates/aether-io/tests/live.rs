//! Live UDP on loopback only: replay -> record byte comparison, garbage floods, packet
//! decoding into records.

mod common;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aether_csi::{CompressedCsiEncoder, VitalsPacket, VitalsRepr};
use aether_io::live::{
    encode_raw_csi, record, replay, DatagramDecoder, RecordOptions, ReplayOptions,
};
use aether_io::record::{iq_to_esp_buffer, CsiFrame, Iq, Record};
use aether_io::recording::RecordingReader;
use aether_io::ruview::RuviewReader;

/// Loopback tests run one at a time: a flood in one test must not starve another's receiver
/// (a starved receiver loses datagrams once its socket buffer is full, a few hundred packets).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A valid 0xC5110002 datagram from `node` with device time `ms`.
fn vitals_datagram(node: u8, ms: u8) -> [u8; 32] {
    let mut buf = [0u8; 32];
    VitalsRepr {
        node_id: node,
        flags: 0,
        breathing_centi_bpm: 1500,
        heartrate_decimilli_bpm: 700_000,
        rssi: -40,
        n_persons: 1,
        reserved: [0; 2],
        motion_energy: 0.1,
        presence_score: 0.2,
        timestamp_ms: u32::from(ms),
        reserved2: 0,
    }
    .emit(&mut VitalsPacket::new_unchecked(&mut buf[..]));
    buf
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("aether-io-live-{}-{name}", std::process::id()))
}

/// A 64-subcarrier CSI frame of node `node` at `t_s`, with the header fields a node sends.
fn csi_frame(t_s: f64, node: u8) -> CsiFrame {
    let iq = (0..64).map(|i| Iq::new(i as i8, -(i as i8))).collect();
    CsiFrame {
        rssi: Some(-40),
        noise_floor: Some(-95),
        freq_mhz: Some(2437),
        channel: Some(6),
        ..CsiFrame::new(t_s, node, iq)
    }
}

/// Per node, the I/Q bytes of every CSI frame in order.
fn csi_by_node(records: impl Iterator<Item = Record>) -> BTreeMap<u8, Vec<Vec<u8>>> {
    let mut out: BTreeMap<u8, Vec<Vec<u8>>> = BTreeMap::new();
    for r in records {
        if let Record::Csi(f) = r {
            let mut bytes = Vec::new();
            iq_to_esp_buffer(&f.subcarriers, &mut bytes);
            out.entry(f.node_id).or_default().push(bytes);
        }
    }
    out
}

/// Replays `path` into a recorder on 127.0.0.1 and returns (sent-side frames, received frames).
fn replay_into_record(
    path: &std::path::Path,
    speed: f64,
    name: &str,
) -> (BTreeMap<u8, Vec<Vec<u8>>>, Vec<Record>) {
    let expected_frames = RecordingReader::open(path)
        .unwrap()
        .filter(|r| matches!(r, Ok(Record::Csi(_))))
        .count() as u64;
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = rx.local_addr().unwrap();
    let out = tmp(name);
    let out2 = out.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let recorder = std::thread::spawn(move || {
        let opts = RecordOptions {
            duration: Some(Duration::from_secs(120)),
            max_packets: Some(expected_frames),
            checkpoint_every: None,
        };
        record(&rx, &out2, &opts, &stop2).unwrap()
    });
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = replay(
        RecordingReader::open(path).unwrap(),
        &tx,
        addr,
        &ReplayOptions {
            speed,
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    assert_eq!(sent.sent, expected_frames);
    // Everything is sent: the recorder drains what is queued and stops, so a datagram lost on
    // loopback fails the count below at once instead of waiting out the duration.
    stop.store(true, Ordering::Relaxed);
    let report = recorder.join().unwrap();
    assert_eq!(report.received, expected_frames, "loopback lost datagrams");
    assert_eq!(report.malformed, 0);
    assert_eq!(report.written, expected_frames);
    let got: Vec<Record> = RuviewReader::open(&out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    std::fs::remove_file(&out).unwrap();
    let original = csi_by_node(RecordingReader::open(path).unwrap().map(Result::unwrap));
    (original, got)
}

#[test]
fn replay_then_record_ruview_byte_identical() {
    let _guard = serial();
    let Some(path) = common::data_file("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    // 120 s of capture at 30x (about 1,300 datagrams/s): paced, so the loopback socket
    // buffer does not overflow even when the receiver is briefly descheduled.
    let (original, got) = replay_into_record(&path, 30.0, "ruview.csi.jsonl");
    // Replay numbers frames per node from 0, so seq i must carry the node's i-th frame.
    let mut per_node: BTreeMap<u8, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    for r in &got {
        let Record::Csi(f) = r else {
            panic!("only CSI is replayed")
        };
        let mut bytes = Vec::new();
        iq_to_esp_buffer(&f.subcarriers, &mut bytes);
        per_node
            .entry(f.node_id)
            .or_default()
            .push((f.seq.unwrap(), bytes));
    }
    assert_eq!(
        per_node.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (node, frames) in &per_node {
        let want = &original[node];
        assert_eq!(frames.len(), want.len());
        for (seq, bytes) in frames {
            assert_eq!(bytes, &want[*seq as usize], "node {node} seq {seq}");
        }
    }
}

#[test]
fn replay_then_record_npz_and_csv() {
    let _guard = serial();
    for rel in [
        "espectre/movement/movement_esp32_64sc_20260214_183141.npz",
        "csikit-esp32/example_data.csv",
    ] {
        let Some(path) = common::data_file(rel) else {
            return;
        };
        // Paced (20x): an unpaced burst can overrun the loopback socket buffer.
        let (original, got) = replay_into_record(&path, 20.0, "other.csi.jsonl");
        assert_eq!(csi_by_node(got.into_iter()), original, "{rel}");
    }
}

/// Seeded xorshift so the flood is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn garbage_flood_is_counted_and_memory_stays_bounded() {
    let _guard = serial();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = rx.local_addr().unwrap();
    let out = tmp("flood.csi.jsonl");
    let out2 = out.clone();
    const GARBAGE: u64 = 30_000;
    const VALID: u64 = 50;
    let hwm_before = vm_hwm_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let recorder = std::thread::spawn(move || {
        // Stops on the count, or when told to after the flood (the kernel may drop some).
        let opts = RecordOptions {
            duration: None,
            max_packets: Some(GARBAGE + VALID),
            checkpoint_every: None,
        };
        record(&rx, &out2, &opts, &stop2).unwrap()
    });
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut buf = vec![0u8; 9000];
    let frame = csi_frame(0.0, 7);
    let mut iq = Vec::new();
    let mut valid = Box::new([0u8; aether_csi::CSI_MAX_FRAME_LEN]);
    let mut sent_valid = 0;
    for i in 0..GARBAGE {
        let len = (rng.next() % 9000) as usize;
        for b in &mut buf[..len] {
            *b = rng.next() as u8;
        }
        // A third start with a real magic, so the codecs' length and count checks run too.
        if len >= 4 && i % 3 == 0 {
            let magic = 0xC511_0001u32 + (rng.next() % 7) as u32;
            buf[..4].copy_from_slice(&magic.to_le_bytes());
        }
        tx.send_to(&buf[..len], addr).unwrap();
        if i % (GARBAGE / VALID) == 0 {
            let n = encode_raw_csi(&frame, i as u32, &mut iq, &mut valid).unwrap();
            tx.send_to(&valid[..n], addr).unwrap();
            sent_valid += 1;
        }
        if i % 64 == 0 {
            // Let the receiver drain; the flood is still far faster than any node.
            std::thread::yield_now();
        }
    }
    // Give the receiver a moment to drain its socket, then stop it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let report = recorder.join().unwrap();
    eprintln!("flood: {report:?}");
    assert_eq!(sent_valid, VALID);
    assert!(report.received > 0);
    assert_eq!(report.received, report.written + report.malformed);
    // Random bytes with a real magic can occasionally form a valid short packet (e.g. a
    // compressed frame is never valid without a reference, but vitals have no CRC).
    assert!(
        report.malformed >= report.received - VALID - report.received / 100,
        "{report:?}"
    );
    // Every malformed datagram is counted under its cause.
    assert_eq!(
        report.malformed_by_kind.values().sum::<u64>(),
        report.malformed,
        "{report:?}"
    );
    let written: Vec<Record> = RuviewReader::open(&out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(written.len() as u64, report.written);
    let good = written
        .iter()
        .filter(
            |r| matches!(r, Record::Csi(f) if f.node_id == 7 && f.subcarriers == frame.subcarriers),
        )
        .count() as u64;
    // Some valid frames got through the flood (the kernel may drop some of any kind), and
    // datagrams past the 4 KiB receive buffer (over half the flood: lengths run to 9,000)
    // were counted as oversize, never parsed truncated.
    assert!((1..=VALID).contains(&good), "{good} valid frames written");
    assert!(
        report
            .malformed_by_kind
            .get("oversize")
            .is_some_and(|&n| n > 0),
        "{report:?}"
    );
    std::fs::remove_file(&out).unwrap();
    if let (Some(a), Some(b)) = (hwm_before, vm_hwm_kib()) {
        // Bounded: the flood (~135 MB of datagrams) must not be buffered.
        assert!(
            b.saturating_sub(a) < 64 * 1024,
            "peak RSS grew by {} KiB",
            b - a
        );
    }
}

#[test]
fn decoder_maps_vitals_and_compressed_csi() {
    let mut dec = DatagramDecoder::new();
    let v = VitalsRepr {
        node_id: 3,
        flags: 0b101,
        breathing_centi_bpm: 2242,
        heartrate_decimilli_bpm: 790_123,
        rssi: -21,
        n_persons: 1,
        reserved: [0; 2],
        motion_energy: 0.5,
        presence_score: 0.25,
        timestamp_ms: 1234,
        reserved2: 0,
    };
    let mut buf = [0u8; 32];
    v.emit(&mut VitalsPacket::new_unchecked(&mut buf[..]));
    let Record::Vitals(r) = dec.decode(10.0, &buf).unwrap() else {
        panic!()
    };
    assert_eq!((r.node_id, r.flags, r.rssi, r.n_persons), (3, 5, -21, 1));
    assert_eq!((r.breathing_bpm, r.heartrate_bpm), (22.42, 79.0123));
    assert_eq!(r.device_ms, Some(1234));

    // Compressed CSI with no reference: kept as an envelope; after a raw frame: decoded.
    let a: Vec<Iq> = (0..64).map(|i| Iq::new(i as i8, 5)).collect();
    let mut b = a.clone();
    b[10] = Iq::new(-7, 9);
    let (mut a_bytes, mut b_bytes) = (Vec::new(), Vec::new());
    iq_to_esp_buffer(&a, &mut a_bytes);
    iq_to_esp_buffer(&b, &mut b_bytes);
    let mut enc = CompressedCsiEncoder::new();
    let mut cbuf = [0u8; 300];
    assert_eq!(enc.encode_packet(4, 6, &a_bytes, &mut cbuf).unwrap(), None);
    let n = enc
        .encode_packet(4, 6, &b_bytes, &mut cbuf)
        .unwrap()
        .unwrap();
    assert!(
        matches!(dec.decode(1.0, &cbuf[..n]).unwrap(), Record::Other(o) if o.magic == 0xC511_0005)
    );
    let frame = CsiFrame {
        t_s: 0.0,
        node_id: 4,
        seq: Some(1),
        rssi: Some(-30),
        noise_floor: None,
        freq_mhz: Some(2437),
        channel: Some(6),
        mac: None,
        n_antennas: 1,
        subcarriers: a.clone(),
    };
    let mut raw = Box::new([0u8; aether_csi::CSI_MAX_FRAME_LEN]);
    let len = encode_raw_csi(&frame, 0, &mut Vec::new(), &mut raw).unwrap();
    let Record::Csi(got_a) = dec.decode(2.0, &raw[..len]).unwrap() else {
        panic!()
    };
    assert_eq!(got_a.subcarriers, a);
    assert_eq!(
        (got_a.seq, got_a.rssi, got_a.channel),
        (Some(1), Some(-30), Some(6))
    );
    let Record::Csi(got_b) = dec.decode(3.0, &cbuf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!(got_b.subcarriers, b);
    assert_eq!(got_b.freq_mhz, Some(2437));
}

#[test]
fn iq_order_agrees_with_aether_csi() {
    // Our Iq::from_esp_bytes and aether-csi's frame accessors must read pairs the same way.
    let frame = CsiFrame::new(0.0, 1, vec![Iq::new(3, 15), Iq::new(-128, 127)]);
    let mut raw = Box::new([0u8; aether_csi::CSI_MAX_FRAME_LEN]);
    let len = encode_raw_csi(&frame, 0, &mut Vec::new(), &mut raw).unwrap();
    let aether_csi::AnyPacket::RawCsi(r) = aether_csi::parse_any(&raw[..len]).unwrap() else {
        panic!()
    };
    let pairs: Vec<(i8, i8)> = r.antenna(0).collect();
    assert_eq!(pairs, vec![(3, 15), (-128, 127)]);
    assert_eq!(&raw[20..24], &[15, 3, 127, 128]);
}

/// Datagrams that arrived before the stop (queued in the socket) are recorded, not dropped,
/// and their timestamps never run backwards.
#[test]
fn datagrams_queued_at_the_stop_are_recorded() {
    let _s = serial();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..50u8 {
        tx.send_to(&vitals_datagram(i % 3, i), rx.local_addr().unwrap())
            .unwrap();
    }
    let out = tmp("queued.csi.jsonl");
    let stop = AtomicBool::new(true);
    let report = record(&rx, &out, &RecordOptions::default(), &stop).unwrap();
    assert_eq!((report.received, report.written), (50, 50));
    let times: Vec<f64> = RuviewReader::open(&out)
        .unwrap()
        .map(|r| r.unwrap().t_s())
        .collect();
    assert_eq!(times.len(), 50);
    assert!(times.windows(2).all(|w| w[1] >= w[0]));
    std::fs::remove_file(out).unwrap();
}

/// The largest packet of the family, a compressed frame of 4 × 256 subcarriers whose delta
/// changes every byte (10 + 4096 bytes), is recorded: it was counted oversize.
#[test]
fn the_largest_compressed_frame_is_recorded() {
    let _s = serial();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut frame = csi_frame(0.0, 5);
    frame.n_antennas = 4;
    frame.subcarriers = (0..1024).map(|i| Iq::new((i % 50) as i8, 3)).collect();
    let mut raw = Box::new([0u8; aether_csi::CSI_MAX_FRAME_LEN]);
    let len = encode_raw_csi(&frame, 0, &mut Vec::new(), &mut raw).unwrap();
    let mut a_bytes = Vec::new();
    iq_to_esp_buffer(&frame.subcarriers, &mut a_bytes);
    let b_bytes: Vec<u8> = a_bytes
        .iter()
        .enumerate()
        .map(|(i, &x)| x ^ (1 + (i % 2) as u8))
        .collect();
    // Our encoder (as the firmware's) sends such a frame raw; the parser accepts it.
    let mut rle = vec![0u8; 4096];
    assert_eq!(
        aether_csi::rle_xor_encode(&a_bytes, &b_bytes, &mut rle).unwrap(),
        4096
    );
    let repr = aether_csi::CompressedCsiRepr {
        node_id: 5,
        channel: 6,
        original_len: 2048,
        rle: &rle,
    };
    let n = repr.buffer_len();
    assert_eq!(n, 10 + 4096);
    let mut cbuf = vec![0u8; n];
    repr.emit(&mut aether_csi::CompressedCsiPacket::new_unchecked(
        &mut cbuf[..],
    ));
    tx.send_to(&raw[..len], rx.local_addr().unwrap()).unwrap();
    tx.send_to(&cbuf[..n], rx.local_addr().unwrap()).unwrap();
    let out = tmp("largest.csi.jsonl");
    let stop = AtomicBool::new(true);
    let report = record(&rx, &out, &RecordOptions::default(), &stop).unwrap();
    assert_eq!(
        (report.received, report.written, report.malformed),
        (2, 2, 0),
        "{:?}",
        report.malformed_by_kind
    );
    std::fs::remove_file(out).unwrap();
}

/// A recorder on its own thread, syncing every 300 ms, until `stop` or `duration_s`.
struct Running {
    addr: std::net::SocketAddr,
    out: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<aether_io::live::RecordReport>,
}

fn start_recorder(name: &str, duration_s: u64) -> Running {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = rx.local_addr().unwrap();
    let out = tmp(name);
    let stop = Arc::new(AtomicBool::new(false));
    let (stop2, out2) = (Arc::clone(&stop), out.clone());
    let handle = std::thread::spawn(move || {
        let opts = RecordOptions {
            duration: Some(Duration::from_secs(duration_s)),
            max_packets: None,
            checkpoint_every: Some(Duration::from_millis(300)),
        };
        record(&rx, &out2, &opts, &stop2).unwrap()
    });
    Running {
        addr,
        out,
        stop,
        handle,
    }
}

/// Records readable right now in the temporary files of a session writing `out`.
fn records_in_temp_files(out: &std::path::Path) -> usize {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&name) && n.ends_with(".tmp")
        })
        .map(|p| {
            RuviewReader::open(&p)
                .unwrap()
                .filter(|r| r.is_ok())
                .count()
        })
        .sum()
}

/// A flood of malformed datagrams (faster than the receive timeout) does not hold back the
/// checkpoints: what was recorded before it reaches the disk while the flood goes on.
#[test]
fn a_malformed_flood_does_not_hold_back_the_checkpoints() {
    let _guard = serial();
    let r = start_recorder("flooded.csi.jsonl", 60);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..10u8 {
        tx.send_to(&vitals_datagram(1, i), r.addr).unwrap();
    }
    // A truncated vitals datagram every 5 ms for up to 3 s (ten checkpoint periods).
    let garbage = vitals_datagram(1, 0);
    let mut seen = 0;
    for _ in 0..600 {
        tx.send_to(&garbage[..31], r.addr).unwrap();
        seen = records_in_temp_files(&r.out);
        if seen == 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    r.stop.store(true, Ordering::Relaxed);
    let report = r.handle.join().unwrap();
    assert_eq!(seen, 10, "records on disk during the flood");
    assert_eq!(report.written, 10);
    assert!(report.malformed > 0);
    std::fs::remove_file(&r.out).unwrap();
}

/// A session that records nothing leaves an earlier recording at the same path as it was,
/// and leaves no temporary file; with something recorded, the file is replaced.
#[test]
fn an_empty_session_keeps_an_existing_recording() {
    let _s = serial();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = tmp("existing.csi.jsonl");
    std::fs::write(&out, b"earlier recording\n").unwrap();
    let stop = AtomicBool::new(true);
    let report = record(&rx, &out, &RecordOptions::default(), &stop).unwrap();
    assert_eq!(report.written, 0);
    assert!(report.kept_existing);
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier recording\n");
    let dir = out.parent().unwrap();
    let stem = out.file_name().unwrap().to_string_lossy().into_owned();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&stem) && n != &stem)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&vitals_datagram(1, 1), rx.local_addr().unwrap())
        .unwrap();
    let report = record(&rx, &out, &RecordOptions::default(), &stop).unwrap();
    assert_eq!((report.written, report.kept_existing), (1, false));
    assert_eq!(RuviewReader::open(&out).unwrap().count(), 1);
    std::fs::remove_file(out).unwrap();
}

/// A long session is synced to its temporary file as it goes: while it runs, the file on disk
/// already holds the records received so far (what survives a SIGKILL or a power loss), and a
/// writer dropped unfinished keeps it.
#[test]
fn a_running_session_is_on_disk_and_survives_an_unfinished_end() {
    let _guard = serial();
    // Syncs every 300 ms, not at once: the ten datagrams all arrive before the first sync is
    // due, so only the sync that runs while the network is quiet can put them on disk.
    let r = start_recorder("checkpointed.csi.jsonl", 120);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..10u8 {
        tx.send_to(&vitals_datagram(1, i), r.addr).unwrap();
    }
    // Wait (boundedly) until the session has synced all ten; the target does not exist yet.
    let mut seen = 0;
    for _ in 0..500 {
        seen = records_in_temp_files(&r.out);
        if seen == 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, 10, "records on disk while the session runs");
    assert!(!r.out.exists());
    r.stop.store(true, Ordering::Relaxed);
    let report = r.handle.join().unwrap();
    assert_eq!(report.written, 10);
    assert_eq!(RuviewReader::open(&r.out).unwrap().count(), 10);
    assert_eq!(
        records_in_temp_files(&r.out),
        0,
        "the finished session leaves no temporary file"
    );
    std::fs::remove_file(&r.out).unwrap();

    // A writer dropped unfinished (as by a panic mid-session) keeps what reached its file.
    let target = tmp("dropped.csi.jsonl");
    let mut w = aether_io::ruview::RuviewWriter::create(&target).unwrap();
    w.keep_unfinished();
    let rec = Record::Vitals(aether_io::record::Vitals {
        t_s: 1.5e9,
        node_id: 2,
        rssi: -50,
        flags: 1,
        breathing_bpm: 14.5,
        heartrate_bpm: 61.0,
        n_persons: 1,
        motion_energy: 0.25,
        presence_score: 0.5,
        device_ms: Some(77),
    });
    w.write(&rec).unwrap();
    let kept = w.temp_path().to_path_buf();
    drop(w);
    assert!(!target.exists());
    assert_eq!(
        RuviewReader::open(&kept).unwrap().next().unwrap().unwrap(),
        rec
    );
    std::fs::remove_file(&kept).unwrap();
}

/// One corrupt timestamp (1.7e9 s ahead, then back) costs the replay at most `max_gap_s`:
/// it used to sleep for the whole gap. The report counts the shortened gap.
#[test]
fn a_corrupt_timestamp_does_not_stall_the_replay() {
    let times = [0.0, 0.01, 1.7e9, 0.02, 0.03];
    let records = times.map(|t| Ok(Record::Csi(csi_frame(t, 1))));
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    // On a thread with a deadline: an uncapped gap would sleep ~54 years, a hang rather than
    // a failure.
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let opts = ReplayOptions {
            speed: 1.0,
            max_frames: None,
            max_gap_s: 0.05,
        };
        done.send(replay(records.into_iter(), &tx, to, &opts).unwrap())
            .unwrap();
    });
    let report = result
        .recv_timeout(Duration::from_secs(30))
        .expect("the replay stalled on the corrupt timestamp");
    assert_eq!(report.sent, 5);
    assert_eq!(report.gaps_shortened, 1);
    assert_eq!(report.span_s, 1.7e9);
}

//! Bad bytes never panic a reader: seeded mutations (bit flips, truncations, splices) of the
//! real files go through every reader, which must yield records or errors and keep going.
//! (Coverage-guided fuzzing belongs to `cargo fuzz`; this is the deterministic floor.)

mod common;

use std::io::Cursor;

use aether_io::csv::{CsvDialect, CsvReader};
use aether_io::record::Record;
use aether_io::ruview::{parse_line, parse_line_serde, RuviewReader};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            break;
        }
        match rng.below(5) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(v.len())),
            3 => {
                let i = rng.below(v.len());
                let j = rng.below(v.len());
                let chunk: Vec<u8> = v[j.min(i)..j.max(i)].to_vec();
                v.splice(i..i, chunk);
            }
            _ => {
                let i = rng.below(v.len());
                v.insert(i, *b",\"{}[]-.e0x\\\n".get(rng.below(13)).unwrap());
            }
        }
    }
    v
}

#[test]
fn mutated_jsonl_lines_never_panic() {
    let Some(path) = common::data_file("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let text = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut input = Vec::new();
    for _ in 0..20_000 {
        let line = lines[rng.below(lines.len())];
        input.extend_from_slice(&mutate(&mut rng, line));
        input.push(b'\n');
    }
    let mut reader = RuviewReader::new(Cursor::new(input));
    let n = reader.by_ref().count() as u64;
    let s = reader.stats();
    assert_eq!(n, s.records + s.malformed);
    assert!(s.malformed > 1_000 && s.records > 100, "{s:?}");
}

#[test]
fn mutated_csv_lines_never_panic() {
    let Some(path) = common::data_file("csikit-esp32/example_data.csv") else {
        return;
    };
    let text = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    for dialect in [CsvDialect::Esp32CsiTool, CsvDialect::EspCsi] {
        let mut input = Vec::new();
        for _ in 0..10_000 {
            let mut line = lines[1 + rng.below(lines.len() - 1)].to_vec();
            if dialect == CsvDialect::EspCsi {
                // Reshape into the esp-csi layout so mutations hit its parser too.
                let s = String::from_utf8(line).unwrap();
                let (head, buf) = s.split_once('[').unwrap();
                let f: Vec<&str> = head.trim_end_matches(',').split(',').collect();
                let vals = buf
                    .trim_end()
                    .trim_end_matches(']')
                    .split_whitespace()
                    .collect::<Vec<_>>();
                line = format!(
                    "CSI_DATA,1,{},{},{},\"[{}]\"",
                    f[2..22].join(","),
                    vals.len(),
                    1,
                    vals.join(",")
                )
                .into_bytes();
            }
            input.extend_from_slice(&mutate(&mut rng, &line));
            input.push(b'\n');
        }
        let mut reader = CsvReader::new(Cursor::new(input), dialect);
        let n = reader.by_ref().count() as u64;
        let s = reader.stats();
        assert_eq!(n, s.records + s.malformed, "{dialect:?}");
        assert!(s.records > 100 && s.malformed > 500, "{dialect:?} {s:?}");
    }
}

#[test]
fn mutated_npz_files_never_panic() {
    let Some(path) = common::data_file("espectre/baseline/baseline_c6_64sc_20260310_230414.npz")
    else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let dir = std::env::temp_dir().join(format!("aether-io-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.npz");
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let (mut opened, mut failed) = (0, 0);
    for _ in 0..300 {
        std::fs::write(&file, mutate(&mut rng, &bytes)).unwrap();
        match aether_io::npz::NpzReader::open(&file) {
            Ok(reader) => {
                opened += 1;
                // Rows past a corruption end the stream with one error; nothing panics.
                let errors = reader.filter(|r| r.is_err()).count();
                assert!(errors <= 1);
            }
            Err(_) => failed += 1,
        }
    }
    eprintln!("mutated npz: {opened} opened, {failed} rejected");
    assert!(failed > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Found by `cargo fuzz` (target `ruview_jsonl`): a raw-CSI line with two faults (a timestamp
/// exponent out of range and a `#` in the hex) got one error from the fast path and another from
/// serde. With the hex repaired, both must still reject the timestamp.
#[test]
fn both_parsers_agree_on_a_line_with_several_faults() {
    let iq = "00000fed0fed0fed0df00cf109f4#8f605fa03fd0000fd03fb05f907f809f70af404f501f7fffafdfefc01fa05\
              fb000000000000000000000000000000000000 0000000fcf9fdfcfcfdfd00fa03fb06fb09f80af70cf60df7\
              0ef710f80ff80ff90efa0dfc0cfe080005020105fe07fa09f70bf40df10eef";
    let line = |iq: &str| {
        format!(
            "{{\"timestamp\": 1775182187.103770760000000000000E0000078082, \"node_id\": 2, \
             \"magic\": \"0xC5110001\", \"size\": 148, \"rssi\": 1, \"type\": \"raw_csi\", \
             \"iq_hex\": \"{iq}\", \"subcarriers\": 64}}"
        )
    };
    for text in [line(iq), line(&"0a".repeat(128))] {
        let fast = parse_line(&text, 1).map_err(|e| e.to_string());
        let full = parse_line_serde(&text, 1).map_err(|e| e.to_string());
        assert!(full.is_err(), "{text}");
        assert_eq!(fast, full, "{text}");
    }
}

/// `.npy` member bytes: preamble (version 1 or 2), a header for `descr` and `shape`, `data`.
fn npy(descr: &str, shape: &str, data: &[u8], version: u8) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (12 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((h.len() as u16).to_le_bytes());
    } else {
        out.extend((h.len() as u32).to_le_bytes());
    }
    out.extend(h.as_bytes());
    out.extend(data);
    out
}

fn write_npz(path: &std::path::Path, members: &[(&str, Vec<u8>)]) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let stored =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        z.start_file(format!("{name}.npy"), stored).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// Members whose header or dtype claims sizes no capture has (a 1 TB string label, a 1 GiB
/// `.npy` header, a negative subcarrier count, a scalar of 2^64 elements) are refused with a
/// container error before anything allocates what they claim; a well-formed file still opens.
#[test]
fn hostile_npz_members_are_refused_before_allocating() {
    let dir = std::env::temp_dir().join(format!("aether-io-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: Vec<u8> = [1u8, 2, 3, 4].repeat(32 * 3);
    let good = || {
        vec![
            ("csi_data", npy("|i1", "(3, 128)", &rows, 1)),
            ("num_subcarriers", npy("<i8", "()", &64i64.to_le_bytes(), 1)),
            ("duration_ms", npy("<f8", "()", &30f64.to_le_bytes(), 1)),
        ]
    };
    let with = |name: &'static str, bytes: Vec<u8>| {
        let mut m = good();
        m.retain(|(n, _)| *n != name);
        m.push((name, bytes));
        m
    };
    let mut bomb = npy("|i1", "(3, 128)", &rows, 2);
    bomb[8..12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let cases = [
        ("good", good(), None),
        (
            "huge label",
            with("label", npy("|S1099511627776", "()", b"abc", 1)),
            Some("dtype"),
        ),
        (
            "header bomb",
            with("csi_data", bomb),
            Some("header of 1073741824 bytes"),
        ),
        (
            "negative subcarriers",
            with(
                "num_subcarriers",
                npy("<i8", "()", &(i64::MIN + 64).to_le_bytes(), 1),
            ),
            Some("num_subcarriers"),
        ),
        (
            "scalar of 2^64 elements",
            with(
                "duration_ms",
                npy("<f8", "(4294967296, 4294967296)", &30f64.to_le_bytes(), 1),
            ),
            Some("not a scalar"),
        ),
    ];
    for (what, members, refused) in cases {
        let path = dir.join(format!("{}.npz", what.replace(' ', "-")));
        write_npz(&path, &members);
        match (aether_io::npz::NpzReader::open(&path), refused) {
            (Ok(r), None) => assert_eq!(r.meta().subcarriers, 64, "{what}"),
            (Err(e), Some(needle)) => {
                assert!(e.is_fatal(), "{what}: {e}");
                assert!(e.to_string().contains(needle), "{what}: {e}");
            }
            (r, _) => panic!("{what}: {:?}", r.err()),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A flipped byte inside `csi_data` (the zip directory's CRC-32 no longer matches) reads as
/// plausible I/Q row by row; the reader checks the member's CRC after the last row and ends
/// with an error instead of ending quietly. An intact file ends without one.
#[test]
fn a_corrupt_csi_member_fails_its_crc() {
    let dir = std::env::temp_dir().join(format!("aether-io-npz-crc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: Vec<u8> = (0..3 * 128).map(|i| (i % 97) as u8).collect();
    let members = vec![
        ("csi_data", npy("|i1", "(3, 128)", &rows, 1)),
        ("num_subcarriers", npy("<i8", "()", &64i64.to_le_bytes(), 1)),
        ("duration_ms", npy("<f8", "()", &30f64.to_le_bytes(), 1)),
    ];
    let path = dir.join("capture.npz");
    write_npz(&path, &members);
    let read_all = |path: &std::path::Path| -> Vec<Result<(), String>> {
        aether_io::npz::NpzReader::open(path)
            .unwrap()
            .map(|r| r.map(|_| ()).map_err(|e| e.to_string()))
            .collect()
    };
    assert_eq!(read_all(&path), vec![Ok(()); 3]);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(rows.len())
        .position(|w| w == rows.as_slice())
        .expect("stored rows in the file");
    bytes[at + 200] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let got = read_all(&path);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[..3].iter().all(Result::is_ok));
    let err = got[3].clone().unwrap_err();
    assert!(err.contains("corrupt") && err.contains("CRC-32"), "{err}");
    let last = aether_io::npz::NpzReader::open(&path)
        .unwrap()
        .last()
        .unwrap();
    assert!(
        last.unwrap_err().is_fatal(),
        "a corrupt member is not a skippable record"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// ESPectre format 1.1+ stores per-packet arrays: the device's tick count gives the packet
/// times (else the Wi-Fi driver's 32-bit receive time, unwrapped), and sequence numbers, RSSI
/// and channel fill the frame. Arrays of another length or type are refused.
#[test]
fn per_packet_arrays_give_times_and_frame_fields() {
    let dir = std::env::temp_dir().join(format!("aether-io-npz-pp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: Vec<u8> = [1u8, 2, 3, 4].repeat(32 * 3);
    let base = || {
        vec![
            ("csi_data", npy("|i1", "(3, 128)", &rows, 1)),
            ("num_subcarriers", npy("<i8", "()", &64i64.to_le_bytes(), 1)),
            ("duration_ms", npy("<f8", "()", &30f64.to_le_bytes(), 1)),
        ]
    };
    let le = |v: &[u64], width: usize| -> Vec<u8> {
        v.iter()
            .flat_map(|x| x.to_le_bytes()[..width].to_vec())
            .collect()
    };
    let frames = |members: Vec<(&str, Vec<u8>)>, name: &str| {
        let path = dir.join(name);
        write_npz(&path, &members);
        aether_io::npz::NpzReader::open(&path).map(|r| {
            r.map(|x| match x.unwrap() {
                Record::Csi(f) => f,
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
        })
    };

    let mut m = base();
    m.push((
        "device_ticks_us",
        npy("<u8", "(3,)", &le(&[1_000_000, 1_010_000, 1_030_000], 8), 1),
    ));
    // Also present, but the device ticks win.
    m.push(("wifi_rx_ts_us", npy("<u4", "(3,)", &le(&[7, 9, 11], 4), 1)));
    m.push(("stream_seq_num", npy("<u4", "(3,)", &le(&[5, 6, 8], 4), 1)));
    let rssi: Vec<u8> = [-40i16, -41, -300]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    m.push(("rssi_dbm", npy("<i2", "(3,)", &rssi, 1)));
    m.push(("channel", npy("|u1", "(3,)", &[6, 6, 6], 1)));
    let f = frames(m, "v11.npz").unwrap();
    let t: Vec<f64> = f.iter().map(|f| f.t_s).collect();
    assert_eq!(t, [0.0, 0.01, 0.03]);
    assert_eq!(
        f.iter().map(|f| f.seq).collect::<Vec<_>>(),
        [Some(5), Some(6), Some(8)]
    );
    assert_eq!(
        f.iter().map(|f| f.rssi).collect::<Vec<_>>(),
        [Some(-40), Some(-41), Some(-128)]
    );
    assert!(f
        .iter()
        .all(|f| f.channel == Some(6) && f.freq_mhz == Some(2437)));

    // Signed ticks across the whole i64 range: differences past i64 do not overflow.
    let mut m = base();
    m.push((
        "device_ticks_us",
        npy("<i8", "(3,)", &le(&[1 << 63, 0, u64::MAX >> 1], 8), 1),
    ));
    let t: Vec<f64> = frames(m, "extremes.npz")
        .unwrap()
        .iter()
        .map(|f| f.t_s)
        .collect();
    assert_eq!(t, [0.0, 2f64.powi(63) * 1e-6, (2f64.powi(64) - 1.0) * 1e-6]);

    // Only the 32-bit receive time, wrapping between the second and third packet.
    let mut m = base();
    m.push((
        "wifi_rx_ts_us",
        npy(
            "<u4",
            "(3,)",
            &le(&[4_294_967_000, 4_294_967_290, 200], 4),
            1,
        ),
    ));
    let t: Vec<f64> = frames(m, "rx.npz").unwrap().iter().map(|f| f.t_s).collect();
    assert_eq!(t, [0.0, 290e-6, 496e-6]);

    // Format 1.0: times spread over duration_ms, the row index as seq, no RSSI.
    let f = frames(base(), "v10.npz").unwrap();
    assert_eq!(
        f.iter().map(|f| f.t_s).collect::<Vec<_>>(),
        [0.0, 0.01, 0.02]
    );
    assert_eq!(f[2].seq, Some(2));
    assert_eq!(f[2].rssi, None);

    for (what, member, needle) in [
        (
            "one value too many",
            npy("<u8", "(4,)", &le(&[1, 2, 3, 4], 8), 1),
            "one value per packet",
        ),
        (
            "floats",
            npy("<f8", "(3,)", &[0u8; 24], 1),
            "not an integer array",
        ),
        (
            "a monotonic counter running backwards",
            npy("<u8", "(3,)", &le(&[1_000_000, 500_000, 1_030_000], 8), 1),
            "runs backwards at packet 1",
        ),
    ] {
        let mut m = base();
        m.push(("device_ticks_us", member));
        let err = frames(m, "bad.npz").unwrap_err();
        assert!(
            err.is_fatal() && err.to_string().contains(needle),
            "{what}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

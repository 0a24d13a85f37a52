//! Writer round trip, the esp-csi dialect, detection, labels and malformed input.

mod common;

use std::io::Cursor;

use aether_io::csv::{CsvDialect, CsvReader};
use aether_io::labels::{LabelError, Segments};
use aether_io::record::{Iq, Record};
use aether_io::recording::{detect_format_bytes, Format, RecordingReader};
use aether_io::ruview::{RuviewReader, RuviewWriter};
use aether_io::ReadErrorKind;

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aether-io-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn ruview_round_trip_is_identical() {
    let Some(path) = common::data_file("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let original: Vec<Record> = RecordingReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(original.len(), 5_783);
    let dir = tmp_dir("roundtrip");
    let out = dir.join("copy.csi.jsonl");
    let mut w = RuviewWriter::create(&out).unwrap();
    for r in &original {
        w.write(r).unwrap();
    }
    assert!(!out.exists(), "target appears only on finish");
    w.finish().unwrap();
    let again: Vec<Record> = RuviewReader::open(&out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(original, again);
    // The text is RuView's too: the first line is byte-identical to the source's.
    let src_first = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let out_first = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(src_first, out_first);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unfinished_writer_leaves_nothing() {
    let dir = tmp_dir("unfinished");
    let out = dir.join("x.csi.jsonl");
    {
        let mut w = RuviewWriter::create(&out).unwrap();
        w.write(&Record::Other(aether_io::record::OtherPacket {
            t_s: 1.0,
            node_id: 1,
            magic: 0xC511_0005,
            size: 82,
            rssi: 0,
        }))
        .unwrap();
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

/// esp-csi fixture. Field order supported (Espressif `csi_recv` examples for classic ESP32 /
/// S2 / S3 / C3): type,id,mac,rssi,rate,sig_mode,mcs,bandwidth,smoothing,not_sounding,
/// aggregation,stbc,fec_coding,sgi,noise_floor,ampdu_cnt,channel,secondary_channel,
/// local_timestamp,ant,sig_len,rx_state,len,first_word,data — data as "[v0,v1,...]".
/// Log lines interleave on a serial console and are skipped.
const ESP_CSI: &str = "\
I (1234) wifi:mode : sta (1a:00:00:00:00:01)
type,id,mac,rssi,rate,sig_mode,mcs,bandwidth,smoothing,not_sounding,aggregation,stbc,fec_coding,sgi,noise_floor,ampdu_cnt,channel,secondary_channel,local_timestamp,ant,sig_len,rx_state,len,first_word,data
CSI_DATA,0,1a:00:00:00:00:00,-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,3367225,0,78,0,8,1,\"[9,9,9,9,4,-3,-7,12]\"
CSI_DATA,1,1a:00:00:00:00:00,-37,11,1,6,1,1,1,0,0,0,0,-95,0,11,2,3377225,0,78,0,8,0,\"[0,0,1,2,4,-3,-7,12]\"
CSI_DATA,2,1a:00:00:00:00:00,-37,11,1,6,1,1,1,0,0,0,0,-95,0,11,2,3387225,0,78,0,8,0,\"[0,0,1,2,4,-3\"
";

#[test]
fn esp_csi_lines() {
    assert_eq!(
        detect_format_bytes(ESP_CSI.as_bytes()),
        Some(Format::EspCsi)
    );
    let mut r = CsvReader::new(Cursor::new(ESP_CSI), CsvDialect::EspCsi);
    let items: Vec<_> = r.by_ref().collect();
    assert_eq!(items.len(), 3);
    let Record::Csi(a) = items[0].as_ref().unwrap() else {
        panic!()
    };
    // first_word = 1: the first four bytes are invalid and zeroed.
    assert_eq!(
        a.subcarriers,
        vec![
            Iq::new(0, 0),
            Iq::new(0, 0),
            Iq::new(-3, 4),
            Iq::new(12, -7)
        ]
    );
    assert_eq!(
        (a.rssi, a.noise_floor, a.channel, a.seq),
        (Some(-36), Some(-96), Some(11), Some(0))
    );
    assert_eq!(a.freq_mhz, Some(2462));
    assert_eq!(a.t_s, 3.367_225);
    let Record::Csi(b) = items[1].as_ref().unwrap() else {
        panic!()
    };
    assert_eq!(b.subcarriers[1], Iq::new(2, 1));
    let err = items[2].as_ref().unwrap_err();
    assert_eq!(err.line, 5);
    assert!(!err.is_fatal());
    let stats = r.stats();
    assert_eq!((stats.records, stats.malformed, stats.skipped), (2, 1, 2));
}

#[test]
fn detection_rules() {
    // Line noise before the boot log, and a long log before the first CSI line.
    assert_eq!(
        detect_format_bytes(
            b"\xff\x80\x00 boot\nI (31) wifi: init\nCSI_DATA,17,11:22:33:44:55:66,-52"
        ),
        Some(Format::EspCsi)
    );
    let mut long = "I (1234) wifi: a log line the console printed\n".repeat(500);
    long.push_str("type,role,mac,rssi\n");
    assert!(long.len() > 16 * 1024);
    assert_eq!(
        detect_format_bytes(long.as_bytes()),
        Some(Format::Esp32CsiTool)
    );
    assert_eq!(detect_format_bytes(b"capture notes: door open\n"), None);
    // A CSI line garbled by line noise does not pick the dialect; the next clean one does.
    assert_eq!(
        detect_format_bytes(
            b"CSI_DATA,\xfe7,11:22:33:44:55:66,-52\nCSI_DATA,8,11:22:33:44:55:66,-52"
        ),
        Some(Format::EspCsi)
    );
    assert_eq!(
        detect_format_bytes(b"PK\x03\x04rest"),
        Some(Format::EspectreNpz)
    );
    assert_eq!(
        detect_format_bytes(b"\n  {\"timestamp\": 1}"),
        Some(Format::RuviewJsonl)
    );
    assert_eq!(
        detect_format_bytes(b"type,role,mac,rssi\n"),
        Some(Format::Esp32CsiTool)
    );
    assert_eq!(
        detect_format_bytes(b"CSI_DATA,PASSIVE,11:22:33:44:55:66,-52"),
        Some(Format::Esp32CsiTool)
    );
    assert_eq!(
        detect_format_bytes(b"CSI_DATA,17,11:22:33:44:55:66,-52"),
        Some(Format::EspCsi)
    );
    assert_eq!(detect_format_bytes(b"hello\nworld\n"), None);
    assert_eq!(detect_format_bytes(b""), None);
    assert_eq!(detect_format_bytes(&[0xff, 0xfe, 0x00]), None);
}

#[test]
fn malformed_jsonl_lines_are_counted_not_fatal() {
    let text = concat!(
        "{\"timestamp\": 1.0, \"node_id\": 1, \"magic\": \"0xC5110001\", \"size\": 24, \"rssi\": -40, \"type\": \"raw_csi\", \"iq_hex\": \"0102fffe\", \"subcarriers\": 2}\n",
        "not json\n",
        "{\"timestamp\": 1.1, \"node_id\": 1, \"magic\": \"0xC5110001\", \"size\": 24, \"rssi\": -40, \"type\": \"raw_csi\", \"iq_hex\": \"0102ff\", \"subcarriers\": 2}\n",
        "{\"timestamp\": 1.2, \"node_id\": 1, \"magic\": \"0xC5110001\", \"size\": 99, \"rssi\": -40, \"type\": \"raw_csi\", \"iq_hex\": \"0102fffe\", \"subcarriers\": 2}\n",
        "{\"timestamp\": 1.3, \"node_id\": 300, \"magic\": \"0xC5110002\", \"size\": 32, \"rssi\": -40}\n",
        "{\"timestamp\": 1.4, \"node_id\": 1, \"magic\": \"0xC5110002\", \"size\": 32, \"rssi\": -40, \"type\": \"raw_csi\"}\n",
        "\n",
        "\u{ff}\u{fe}garbage\n",
        "{\"timestamp\": 2.0, \"node_id\": 2, \"magic\": \"0xC5110005\", \"size\": 82, \"rssi\": 0}",
    );
    let mut r = RuviewReader::new(Cursor::new(text.as_bytes()));
    let items: Vec<_> = r.by_ref().collect();
    let oks: Vec<&Record> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
    assert_eq!(oks.len(), 2);
    let Record::Csi(f) = oks[0] else { panic!() };
    assert_eq!(f.subcarriers, vec![Iq::new(2, 1), Iq::new(-2, -1)]);
    assert!(matches!(oks[1], Record::Other(o) if o.magic == 0xC511_0005 && o.size == 82));
    let errs: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(errs.len(), 6);
    assert!(errs.iter().all(|e| !e.is_fatal()));
    assert!(matches!(errs[0].kind, ReadErrorKind::Syntax(_)));
    assert!(matches!(
        errs[2].kind,
        ReadErrorKind::LengthMismatch { field: "size", .. }
    ));
    assert_eq!(r.stats().malformed, 6);
    assert_eq!(r.stats().skipped, 1);
}

#[test]
fn overlong_line_is_skipped_without_buffering() {
    let mut text = vec![b'{'; 10 * aether_io::MAX_LINE_BYTES];
    text.extend_from_slice(b"\n{\"timestamp\": 2.0, \"node_id\": 2, \"magic\": \"0xC5110005\", \"size\": 82, \"rssi\": 0}\n");
    let items: Vec<_> = RuviewReader::new(Cursor::new(text)).collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[0].as_ref().unwrap_err().kind,
        ReadErrorKind::LineTooLong
    ));
    assert!(items[1].is_ok());
}

#[test]
fn segments_parse_and_lookup() {
    let s =
        Segments::parse_csv("start_s,end_s,label\n0,2.5,empty\n2.5,4,walking\n6,7,fall\n").unwrap();
    assert_eq!(s.label_at(0.0), Some("empty"));
    assert_eq!(s.label_at(2.499), Some("empty"));
    assert_eq!(s.label_at(2.5), Some("walking"));
    assert_eq!(s.label_at(5.0), None);
    assert_eq!(s.label_at(6.5), Some("fall"));
    assert_eq!(s.label_at(7.0), None);
    assert_eq!(s.label_at(-1.0), None);
    assert_eq!(s.labels(), vec!["empty", "walking", "fall"]);
    assert_eq!(Segments::parse_csv(&s.to_csv()).unwrap(), s);
    assert!(matches!(
        Segments::parse_csv("a,b,c\n"),
        Err(LabelError::Header(_))
    ));
    assert!(matches!(
        Segments::parse_csv("start_s,end_s,label\n0,2,a\n1,3,b\n"),
        Err(LabelError::Overlap { line: 3 })
    ));
    assert!(matches!(
        Segments::parse_csv("start_s,end_s,label\n2,1,a\n"),
        Err(LabelError::Line { line: 2, .. })
    ));
    let whole = Segments::whole_file("baseline");
    assert_eq!(whole.label_at(9.99), Some("baseline"));
}

#[test]
fn npz_label_is_a_whole_file_segment() {
    let Some(path) = common::data_file("espectre/movement/movement_c6_64sc_20260310_230434.npz")
    else {
        return;
    };
    let reader = RecordingReader::open(&path).unwrap();
    let segs = Segments::whole_file(reader.meta().label.as_deref().unwrap());
    for r in reader {
        assert_eq!(segs.label_at(r.unwrap().t_s()), Some("movement"));
    }
}

#[test]
fn fast_path_agrees_with_serde_on_every_line() {
    use aether_io::ruview::{format_line, parse_line, parse_line_serde};
    let Some(path) = common::data_file("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Our writer's extensions, and near-misses that must fall back to serde.
    let mut ext = Vec::new();
    format_line(
        &Record::Csi(aether_io::record::CsiFrame {
            t_s: 1.5e9,
            node_id: 3,
            seq: Some(7),
            rssi: Some(-40),
            noise_floor: Some(-95),
            freq_mhz: Some(2437),
            channel: Some(6),
            mac: None,
            n_antennas: 2,
            subcarriers: vec![Iq::new(1, -1); 8],
        }),
        &mut ext,
    );
    lines.push(String::from_utf8(ext).unwrap().trim_end().to_owned());
    // A frame without RSSI (decoded compressed CSI): written as 0 plus the extension, read
    // back as None by both paths.
    let unknown = aether_io::record::CsiFrame::new(1.5e9, 4, vec![Iq::new(3, 2); 64]);
    let mut line = Vec::new();
    format_line(&Record::Csi(unknown.clone()), &mut line);
    let line = String::from_utf8(line).unwrap();
    assert!(line.contains("\"rssi\": 0,") && line.contains("\"rssi_unknown\": true"));
    assert_eq!(
        parse_line(line.trim_end(), 1).unwrap(),
        Record::Csi(unknown)
    );
    lines.push(line.trim_end().to_owned());
    let first = lines[0].clone();
    lines.push(first.replace("\"rssi\": 1", "\"rssi\": 1.0"));
    lines.push(first.replace("\"rssi\": 1", "\"rssi\": 1.5"));
    lines.push(first.replace("\"node_id\": 2", "\"node_id\": 2000"));
    lines.push(first.replace("\"subcarriers\": 64}", "\"subcarriers\": 64} "));
    lines.push(first.replace("\"subcarriers\": 64}", "\"subcarriers\": 65}"));
    lines.push(first.replace("\"iq_hex\": \"00", "\"iq_hex\": \"\\u0030\\u0030"));
    lines.push(first.replace("1775182186.9577758", "1775182186.9577758e0"));
    lines.push(first.replace("1775182186.9577758", "01775182186.9577758"));
    for (i, l) in lines.iter().enumerate() {
        let (a, b) = (
            parse_line(l, i as u64 + 1),
            parse_line_serde(l, i as u64 + 1),
        );
        match (a, b) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "line {}", i + 1),
            (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string(), "line {}", i + 1),
            (x, y) => panic!("line {}: fast {x:?} vs serde {y:?}", i + 1),
        }
    }
}

/// What the format detector accepts the readers read: a UTF-8 byte-order mark before the
/// first line (JSONL and CSV) and indented CSV data lines are data, not skipped or malformed.
#[test]
fn a_byte_order_mark_or_indentation_hides_no_record() {
    let body: String = ESP_CSI
        .lines()
        .skip(1)
        .take(3)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let indented: String = body.lines().map(|l| format!("  {l}\n")).collect();
    for (what, text) in [("bom", format!("\u{feff}{body}")), ("indented", indented)] {
        assert_eq!(
            detect_format_bytes(text.as_bytes()),
            Some(Format::EspCsi),
            "{what}"
        );
        let mut r = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi);
        let ok = r.by_ref().filter(|x| x.is_ok()).count();
        assert_eq!(ok, 2, "{what}: both data lines read");
        assert_eq!(r.stats().malformed, 0, "{what}");
    }
    // JSONL: write two records, prefix a BOM, read both back.
    let d = tmp_dir("bom-jsonl");
    let p = d.join("r.csi.jsonl");
    let mut w = RuviewWriter::create(&p).unwrap();
    let mut r = CsvReader::new(Cursor::new(ESP_CSI), CsvDialect::EspCsi);
    let recs: Vec<Record> = r.by_ref().filter_map(Result::ok).collect();
    for rec in &recs {
        w.write(rec).unwrap();
    }
    w.finish().unwrap();
    let plain = std::fs::read(&p).unwrap();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(&plain);
    let read = |b: Vec<u8>| -> Vec<Record> {
        RuviewReader::new(Cursor::new(b))
            .map(Result::unwrap)
            .collect()
    };
    let got = read(bytes);
    assert_eq!(got.len(), recs.len());
    assert_eq!(got, read(plain));
    std::fs::remove_dir_all(d).unwrap();
}

/// The ESP32 `local_timestamp` is a 32-bit counter: a larger value is a malformed field (it
/// used to shift every later frame by a counter wrap, or overflow), and the frames after it
/// keep their times.
#[test]
fn a_timestamp_past_32_bits_is_malformed_not_a_wrap() {
    let line = |ts: &str| {
        format!("CSI_DATA,0,1a:00:00:00:00:00,-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,{ts},0,78,0,8,0,\"[9,9,9,9,4,-3,-7,12]\"\n")
    };
    let text = [
        line("3000000000"),
        line("1000000000000"),
        line("18446744073709551615"),
        line("3000010000"),
    ]
    .concat();
    let mut r = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi);
    let items: Vec<_> = r.by_ref().collect();
    assert!(items[1].is_err() && items[2].is_err(), "{items:?}");
    let t = |i: usize| match &items[i] {
        Ok(Record::Csi(f)) => f.t_s,
        other => panic!("{other:?}"),
    };
    assert_eq!(t(0), 3000.0);
    assert!((t(3) - 3000.01).abs() < 1e-6, "{}", t(3));
}

/// Both tools print the unsigned 32-bit `local_timestamp` (and esp-csi's `id`) with `%d`:
/// from 2^31 µs (~35.8 min of uptime) they read negative. Such lines are the counter's upper
/// half, not malformed, and the wrap back to 0 that follows is a wrap.
#[test]
fn a_negative_printed_counter_is_its_upper_half() {
    let line = |id: &str, ts: &str| {
        format!("CSI_DATA,{id},1a:00:00:00:00:00,-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,{ts},0,78,0,8,0,\"[9,9,9,9,4,-3,-7,12]\"\n")
    };
    let text = [
        line("7", "2147473647"),
        line("8", "2147483647"),
        line("-2147483648", "-2147473649"),
        line("-1", "-10000"),
        line("0", "0"),
    ]
    .concat();
    let mut r = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi);
    let frames: Vec<_> = r
        .by_ref()
        .map(|x| match x.unwrap() {
            Record::Csi(f) => f,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(r.stats().malformed, 0);
    let t: Vec<f64> = frames.iter().map(|f| f.t_s).collect();
    let want = [
        2147.473647,
        2147.483647,
        2147.493647,
        4294.957296,
        4294.967296,
    ];
    for (a, b) in t.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{t:?}");
    }
    let seq: Vec<_> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(
        seq,
        [Some(7), Some(8), Some(1 << 31), Some(u32::MAX), Some(0)]
    );
}

/// One receiver hears several transmitters: each MAC is its own stream (node id = order of
/// first appearance), and a file may name at most `MAX_TRANSMITTERS` of them.
#[test]
fn each_transmitter_mac_is_its_own_node() {
    let line = |mac: &str, ts: u32| {
        format!("CSI_DATA,0,{mac},-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,{ts},0,78,0,8,0,\"[9,9,9,9,4,-3,-7,12]\"\n")
    };
    let text = [
        line("1a:00:00:00:00:00", 1000),
        line("2b:00:00:00:00:01", 2000),
        line("1a:00:00:00:00:00", 3000),
        line("3c:00:00:00:00:02", 4000),
        line("2b:00:00:00:00:01", 5000),
    ]
    .concat();
    let nodes: Vec<u8> = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi)
        .map(|x| match x.unwrap() {
            Record::Csi(f) => f.node_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(nodes, [0, 1, 0, 2, 1]);

    let many: String = (0..=aether_io::csv::MAX_TRANSMITTERS)
        .map(|i| {
            line(
                &format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256),
                i as u32,
            )
        })
        .collect();
    let mut r = CsvReader::new(Cursor::new(many), CsvDialect::EspCsi);
    let results: Vec<_> = r.by_ref().collect();
    assert_eq!(results.len(), aether_io::csv::MAX_TRANSMITTERS + 1);
    let last = results.last().unwrap().as_ref().unwrap_err();
    assert!(last.to_string().contains("transmitters"), "{last}");
    assert!(results[..aether_io::csv::MAX_TRANSMITTERS]
        .iter()
        .all(|x| x.is_ok()));
    assert_eq!(r.stats().malformed, 1);
}

/// One corrupt `local_timestamp` (here -5, read as 2^32 - 5) is a malformed line: taken as
/// the new reference, it made the next good line look like a counter wrap and moved the rest
/// of the file 71.6 min later.
#[test]
fn one_corrupt_timestamp_does_not_shift_the_rest() {
    let line = |ts: &str| {
        format!("CSI_DATA,0,1a:00:00:00:00:00,-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,{ts},0,78,0,8,0,\"[9,9,9,9,4,-3,-7,12]\"\n")
    };
    let text = [
        line("1000000"),
        line("1010000"),
        line("-5"),
        line("1030000"),
    ]
    .concat();
    let mut r = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi);
    let results: Vec<_> = r.by_ref().collect();
    assert_eq!(results.len(), 4);
    let err = results[2].as_ref().unwrap_err().to_string();
    assert!(err.contains("local_timestamp"), "{err}");
    let t: Vec<f64> = results
        .iter()
        .filter_map(|x| match x {
            Ok(Record::Csi(f)) => Some(f.t_s),
            _ => None,
        })
        .collect();
    assert_eq!(t, [1.0, 1.01, 1.03]);
    assert_eq!(r.stats().malformed, 1);
}

/// A corrupt low value while the counter is in its upper half passes for a counter wrap, but
/// when the next good lines keep following the old reference (two refused, the third
/// accepted) the clock re-anchors on them and undoes that wrap: the rest of the file keeps its
/// times. Before, every later line was refused until the real wrap (up to 35.8 min), or, with
/// no jump rule at all, moved 71.6 min later. A stuck field (equal values) never re-anchors.
#[test]
fn a_corrupt_low_timestamp_is_undone() {
    let line = |ts: &str| {
        format!("CSI_DATA,0,1a:00:00:00:00:00,-36,11,1,6,1,1,1,0,0,0,0,-96,0,11,2,{ts},0,78,0,8,0,\"[9,9,9,9,4,-3,-7,12]\"\n")
    };
    // Times in whole microseconds (the seconds carry float rounding).
    let times = |stamps: &[&str]| -> (Vec<Option<i64>>, u64) {
        let text: String = stamps.iter().map(|t| line(t)).collect();
        let mut r = CsvReader::new(Cursor::new(text), CsvDialect::EspCsi);
        let t = r
            .by_ref()
            .map(|x| match x {
                Ok(Record::Csi(f)) => Some((f.t_s * 1e6).round() as i64),
                _ => None,
            })
            .collect();
        (t, r.stats().malformed)
    };
    // 3.0e9 us (printed negative), one corrupt 5, then good lines.
    let good = ["-1294957296", "-1294947296", "-1294937296", "-1294927296"];
    let mut stamps = vec!["-1294967296", "5"];
    stamps.extend(good);
    let (t, bad) = times(&stamps);
    assert_eq!(bad, 2, "{t:?}");
    assert_eq!(t[0], Some(3_000_000_000));
    assert_eq!((t[2], t[3]), (None, None));
    assert_eq!((t[4], t[5]), (Some(3_000_030_000), Some(3_000_040_000)));
    // Two corrupt lows in a row (5, 7): the wrap they made is still undone.
    let mut stamps = vec!["-1294967296", "5", "7"];
    stamps.extend(good);
    let (t, bad) = times(&stamps);
    assert_eq!(bad, 2, "{t:?}");
    assert_eq!((t[5], t[6]), (Some(3_000_030_000), Some(3_000_040_000)));
    // A stuck -1 (2^32 - 1) while the counter is low: refused every time, never a reference.
    let (t, bad) = times(&["1000000", "-1", "-1", "-1", "-1", "1040000"]);
    assert_eq!(bad, 4, "{t:?}");
    assert_eq!(t[5], Some(1_040_000));
    // A genuine wrap, and a pause of 20 min across it: accepted.
    let (t, bad) = times(&["-10000", "0", "10000"]);
    assert_eq!(bad, 0);
    assert_eq!(t[2], Some(4_294_977_296));
    let (t, bad) = times(&["-120000000", "1080000000", "1080010000"]);
    assert_eq!(bad, 0);
    assert_eq!(t[1], Some(4_294_967_296 + 1_080_000_000));
}

/// A feature-state or classification record's unsigned 64-bit device time survives the
/// writer and reader (it was written in full and refused on reading past i64).
#[test]
fn unsigned_device_times_round_trip() {
    use aether_io::record::Classification;
    let rec = Record::Classification(Classification {
        t_s: 1.5,
        node_id: 3,
        version: 1,
        n_classes: 2,
        device_us: u64::MAX,
        seq: 7,
        argmax: 1,
        top_logit: 0.25,
        margin: 0.5,
    });
    let d = tmp_dir("u64-device");
    let p = d.join("c.csi.jsonl");
    let mut w = RuviewWriter::create(&p).unwrap();
    w.write(&rec).unwrap();
    w.finish().unwrap();
    let back: Vec<Record> = RuviewReader::new(Cursor::new(std::fs::read(&p).unwrap()))
        .map(Result::unwrap)
        .collect();
    assert_eq!(back, vec![rec]);
    std::fs::remove_dir_all(d).unwrap();
}

/// Segments may be listed in any order; only overlapping times are an error.
#[test]
fn segments_in_any_order() {
    let s = Segments::parse_csv("start_s,end_s,label\n5,6,a\n0,1,b\n").unwrap();
    assert_eq!(s.label_at(0.5), Some("b"));
    assert_eq!(s.label_at(5.5), Some("a"));
    assert!(matches!(
        Segments::parse_csv("start_s,end_s,label\n5,7,a\n0,1,b\n6,8,c\n"),
        Err(LabelError::Overlap { line: 4 })
    ));
}

/// A label sidecar that is there but not JSON is an error, not silently ignored (the
/// recording would read as unlabelled); a good one labels the recording.
#[test]
fn a_broken_sidecar_is_an_error() {
    let d = tmp_dir("sidecar");
    let p = d.join("r.csi.jsonl");
    let mut w = RuviewWriter::create(&p).unwrap();
    let mut r = CsvReader::new(Cursor::new(ESP_CSI), CsvDialect::EspCsi);
    for rec in r.by_ref().filter_map(Result::ok) {
        w.write(&rec).unwrap();
    }
    w.finish().unwrap();
    let side = d.join("r.csi.meta.json");
    std::fs::write(&side, "{\"label\": \"walking\", ").unwrap();
    let err = RecordingReader::open(&p).err().expect("refused");
    assert!(err.to_string().contains("sidecar"), "{err}");
    // Values of the wrong type are refused too: they would unlabel the recording as quietly.
    for text in [
        "{\"label\": 5}",
        "{\"label\": {\"name\": \"walking\"}}",
        "{\"label\": \"\"}",
        "{\"label\": \"walking\", \"session\": 3}",
        "[1, 2]",
    ] {
        std::fs::write(&side, text).unwrap();
        let err = RecordingReader::open(&p).err().expect(text);
        assert!(err.to_string().contains("sidecar"), "{text}: {err}");
    }
    std::fs::write(&side, "{\"label\": \"walking\", \"session\": null}").unwrap();
    assert_eq!(RecordingReader::open(&p).unwrap().meta().session, None);
    std::fs::write(&side, "{\"label\": \"walking\"}").unwrap();
    let r = RecordingReader::open(&p).unwrap();
    assert_eq!(r.meta().label.as_deref(), Some("walking"));
    std::fs::remove_dir_all(d).unwrap();
}

/// A non-finite float is written as `null` and read back as NaN, in every record type that
/// carries floats (vitals carry no CRC, and the spec's classification packet may carry a NaN
/// `top_logit`): a `null` used to read as a missing field, and the recorded line was lost.
#[test]
fn null_floats_read_back_as_nan() {
    use aether_io::record::{Classification, FeatureState, FeatureVector, Vitals};
    use aether_io::ruview::{format_line, parse_line};
    let nan = f64::NAN;
    let records = [
        Record::Vitals(Vitals {
            t_s: 1.0,
            node_id: 1,
            rssi: -40,
            flags: 1,
            breathing_bpm: nan,
            heartrate_bpm: f64::INFINITY,
            n_persons: 1,
            motion_energy: nan,
            presence_score: nan,
            device_ms: None,
        }),
        Record::Feature(FeatureVector {
            t_s: 1.0,
            node_id: 1,
            rssi: -40,
            seq: 3,
            features: [nan; 8],
            device_us: None,
        }),
        Record::FeatureState(FeatureState {
            t_s: 1.0,
            node_id: 1,
            mode: 0,
            seq: 2,
            device_us: 9,
            motion_score: nan,
            presence_score: nan,
            respiration_bpm: nan,
            respiration_conf: nan,
            heartbeat_bpm: nan,
            heartbeat_conf: nan,
            anomaly_score: nan,
            env_shift_score: nan,
            node_coherence: nan,
            quality_flags: 0,
        }),
        Record::Classification(Classification {
            t_s: 1.0,
            node_id: 1,
            version: 1,
            n_classes: 2,
            device_us: 9,
            seq: 1,
            argmax: 0,
            top_logit: nan,
            margin: nan,
        }),
    ];
    for r in records {
        let mut line = Vec::new();
        format_line(&r, &mut line);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains("null"), "{text}");
        let back = parse_line(text.trim_end(), 1).unwrap_or_else(|e| panic!("{text}: {e}"));
        // NaN != NaN: compare the lines the two records write.
        let mut again = Vec::new();
        format_line(&back, &mut again);
        assert_eq!(String::from_utf8(again).unwrap(), text);
    }
}

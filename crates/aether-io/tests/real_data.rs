//! Every file in ../shared/data reads, with counts verified independently of this crate
//! (Python's json / zipfile modules over the same files).

mod common;

use std::collections::BTreeMap;

use aether_io::record::{Iq, Record};
use aether_io::recording::{detect_format, Format, RecordingReader};
use aether_io::summary::Summary;

const RUVIEW: &str = "ruview/pretrain-1775182186.csi.jsonl";

#[test]
fn ruview_recording_counts() {
    let Some(path) = common::data_file(RUVIEW) else {
        return;
    };
    assert_eq!(detect_format(&path).unwrap(), Format::RuviewJsonl);
    let reader = RecordingReader::open(&path).unwrap();
    assert_eq!(reader.meta().label.as_deref(), Some("mixed-activity"));
    let s = Summary::of_reader(reader);
    assert_eq!(s.malformed, 0);
    assert!(s.fatal.is_none());
    let total: u64 = s.packet_counts.values().sum();
    assert_eq!(total, 5_783);
    assert_eq!(s.packet_counts["raw_csi"], 5_309);
    assert_eq!(s.packet_counts["vitals"], 236);
    assert_eq!(s.packet_counts["feature"], 236);
    assert_eq!(s.packet_counts["0xC5110005"], 2);
    let sc: BTreeMap<usize, u64> = [(64, 4_127), (128, 1_134), (192, 48)].into();
    assert_eq!(s.subcarrier_counts, sc);
    assert_eq!(s.nodes[&1].records, 2_897);
    assert_eq!(s.nodes[&2].records, 2_886);
    assert_eq!(s.nodes[&1].frames, 2_659);
    assert_eq!(s.nodes[&2].frames, 2_650);
    assert!(
        (s.duration_s - 120.021_066_904_068).abs() < 1e-6,
        "{}",
        s.duration_s
    );
    // Two nodes at ~22 Hz each.
    for n in s.nodes.values() {
        assert!((20.0..25.0).contains(&n.rate_hz()), "{}", n.rate_hz());
    }
}

#[test]
fn ruview_first_frame_decodes_imag_first() {
    let Some(path) = common::data_file(RUVIEW) else {
        return;
    };
    let first = RecordingReader::open(&path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let Record::Csi(f) = first else {
        panic!("first line is raw_csi")
    };
    // iq_hex starts "0000 0f03 0d03": null DC, then imag 0x0f real 0x03, imag 0x0d real 0x03.
    assert_eq!(f.t_s, 1_775_182_186.957_775_8);
    assert_eq!(f.node_id, 2);
    assert_eq!(f.rssi, Some(1));
    assert_eq!(
        &f.subcarriers[..3],
        &[Iq::new(0, 0), Iq::new(3, 15), Iq::new(3, 13)]
    );
    // Guard band: subcarriers 27..=37 (+27..+31 and -32..-27) are zero on a 64-sc LLTF frame.
    assert!(f.subcarriers[27..38].iter().all(|v| v.is_zero()));
    assert!(f.subcarriers[1..27].iter().all(|v| !v.is_zero()));
}

#[test]
fn ruview_vitals_and_features_decode() {
    let Some(path) = common::data_file(RUVIEW) else {
        return;
    };
    let mut vitals = None;
    let mut feature = None;
    for r in RecordingReader::open(&path).unwrap() {
        match r.unwrap() {
            Record::Vitals(v) if vitals.is_none() => vitals = Some(v),
            Record::Feature(f) if feature.is_none() => feature = Some(f),
            _ => {}
        }
    }
    let v = vitals.unwrap();
    assert_eq!((v.node_id, v.rssi, v.flags, v.n_persons), (2, -19, 4, 4));
    assert_eq!(v.breathing_bpm, 22.42);
    assert_eq!(v.heartrate_bpm, 85.0);
    let f = feature.unwrap();
    assert_eq!((f.node_id, f.rssi, f.seq), (2, -18, 5337));
    assert_eq!(f.features[7], 0.810_000_002_384_185_8);
    // RuView derives the feature line's rssi from features[7]: trunc(f7 * 100 - 100).
    assert_eq!((f.features[7] * 100.0 - 100.0).trunc() as i8, f.rssi);
}

struct NpzExpect {
    file: &'static str,
    packets: u64,
    chip: &'static str,
    gain_locked: bool,
}

const NPZ: &[NpzExpect] = &[
    NpzExpect {
        file: "baseline/baseline_c3_64sc_20260329_130303.npz",
        packets: 1017,
        chip: "c3",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_c3_64sc_20260329_130411.npz",
        packets: 1006,
        chip: "c3",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_c5_64sc_20260310_233856.npz",
        packets: 1304,
        chip: "c5",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_c5_64sc_20260329_124440.npz",
        packets: 1006,
        chip: "c5",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_c6_64sc_20260310_230414.npz",
        packets: 1351,
        chip: "c6",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_c6_64sc_20260310_234819.npz",
        packets: 1346,
        chip: "c6",
        gain_locked: true,
    },
    NpzExpect {
        file: "baseline/baseline_esp32_64sc_20260214_183059.npz",
        packets: 961,
        chip: "esp32",
        gain_locked: false,
    },
    NpzExpect {
        file: "baseline/baseline_esp32_64sc_20260310_232100.npz",
        packets: 1120,
        chip: "esp32",
        gain_locked: false,
    },
    NpzExpect {
        file: "movement/movement_c3_64sc_20260329_130321.npz",
        packets: 1020,
        chip: "c3",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_c3_64sc_20260329_130429.npz",
        packets: 1006,
        chip: "c3",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_c5_64sc_20260310_233928.npz",
        packets: 1306,
        chip: "c5",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_c5_64sc_20260329_124504.npz",
        packets: 1006,
        chip: "c5",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_c6_64sc_20260310_230434.npz",
        packets: 1432,
        chip: "c6",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_c6_64sc_20260310_234839.npz",
        packets: 1347,
        chip: "c6",
        gain_locked: true,
    },
    NpzExpect {
        file: "movement/movement_esp32_64sc_20260214_183141.npz",
        packets: 1103,
        chip: "esp32",
        gain_locked: false,
    },
    NpzExpect {
        file: "movement/movement_esp32_64sc_20260310_232137.npz",
        packets: 1086,
        chip: "esp32",
        gain_locked: false,
    },
];

#[test]
fn espectre_npz_all_files() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    // Every npz in the folder is in the table (a new file must be added here).
    let mut on_disk: Vec<String> = Vec::new();
    for sub in ["baseline", "movement"] {
        for e in std::fs::read_dir(dir.join("espectre").join(sub)).unwrap() {
            on_disk.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = NPZ.iter().map(|e| e.file.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);

    let mut total = 0;
    for e in NPZ {
        let path = common::data_file(&format!("espectre/{}", e.file)).unwrap();
        assert_eq!(
            detect_format(&path).unwrap(),
            Format::EspectreNpz,
            "{}",
            e.file
        );
        let reader = RecordingReader::open(&path).unwrap();
        let meta = reader.meta().npz.clone().unwrap();
        let label = if e.file.starts_with("baseline") {
            "baseline"
        } else {
            "movement"
        };
        assert_eq!(reader.meta().label.as_deref(), Some(label));
        assert_eq!(meta.chip.as_deref(), Some(e.chip));
        assert_eq!(meta.gain_locked, Some(e.gain_locked));
        assert_eq!(meta.format_version.as_deref(), Some("1.0"));
        assert_eq!(meta.subcarriers, 64);
        assert!(meta.collected_at.as_deref().unwrap().starts_with("2026-"));
        let duration_s = meta.duration_ms / 1e3;
        let mut n = 0u64;
        let mut last_t = -1.0;
        for r in reader {
            let Record::Csi(f) = r.unwrap() else {
                panic!("npz yields CSI only")
            };
            assert_eq!(f.subcarriers.len(), 64);
            assert!(f.t_s > last_t && f.t_s < duration_s);
            last_t = f.t_s;
            n += 1;
        }
        assert_eq!(n, e.packets, "{}", e.file);
        total += n;
    }
    assert_eq!(total, 18_417);
}

#[test]
fn espectre_first_row_matches_bytes() {
    let Some(path) = common::data_file("espectre/baseline/baseline_c3_64sc_20260329_130303.npz")
    else {
        return;
    };
    // First row bytes (via Python zipfile): 00 00 cb 04 ca 01 ...
    let Record::Csi(f) = RecordingReader::open(&path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(f.t_s, 0.0);
    assert_eq!(
        &f.subcarriers[..3],
        &[Iq::new(0, 0), Iq::new(4, -53), Iq::new(1, -54)]
    );
}

#[test]
fn csi_tool_csv_all_files() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    // (file, frames, malformed, first local_timestamp us, last local_timestamp us)
    let expect: &[(&str, u64, u64, u64, u64)] = &[
        ("example_100hz_pitraffic.csv", 833, 1, 7_313, 13_142_613),
        ("example_data.csv", 60, 0, 2_504_852, 15_039_322),
        (
            "example_fast2_100hz_pitraffic.csv",
            1_599,
            0,
            14_670,
            15_931_675,
        ),
        (
            "example_fast_100hz_pitraffic.csv",
            1_089,
            0,
            11_412,
            10_935_564,
        ),
    ];
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("csikit-esp32"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        expect.iter().map(|e| e.0.to_owned()).collect::<Vec<_>>()
    );
    for &(file, frames, malformed, t0, t1) in expect {
        let path = common::data_file(&format!("csikit-esp32/{file}")).unwrap();
        assert_eq!(detect_format(&path).unwrap(), Format::Esp32CsiTool);
        let reader = RecordingReader::open(&path).unwrap();
        let s = Summary::of_reader(reader);
        assert_eq!(s.csi_frames(), frames, "{file}");
        assert_eq!(s.malformed, malformed, "{file}");
        assert_eq!(s.skipped, 1, "{file}: the header line");
        assert_eq!(s.first_t_s, Some(t0 as f64 * 1e-6));
        assert_eq!(s.last_t_s, Some(t1 as f64 * 1e-6));
        assert_eq!(s.subcarrier_counts, [(64, frames)].into(), "{file}");
    }
}

#[test]
fn csi_tool_malformed_line_is_reported_and_skipped() {
    let Some(path) = common::data_file("csikit-esp32/example_100hz_pitraffic.csv") else {
        return;
    };
    let errors: Vec<String> = RecordingReader::open(&path)
        .unwrap()
        .filter_map(|r| r.err())
        .map(|e| e.to_string())
        .collect();
    // Line 19 has 127 buffer values for len 128.
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("line 19:"), "{}", errors[0]);
}

#[test]
fn csi_tool_fields() {
    let Some(path) = common::data_file("csikit-esp32/example_100hz_pitraffic.csv") else {
        return;
    };
    let Record::Csi(f) = RecordingReader::open(&path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(f.rssi, Some(-52));
    assert_eq!(f.noise_floor, Some(-98));
    assert_eq!(f.channel, Some(8));
    assert_eq!(f.freq_mhz, Some(2447));
    assert_eq!(f.mac, Some([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]));
    // "[38 96 2 0 27 -6 ...": imag first.
    assert_eq!(
        &f.subcarriers[..3],
        &[Iq::new(96, 38), Iq::new(0, 2), Iq::new(-6, 27)]
    );
}

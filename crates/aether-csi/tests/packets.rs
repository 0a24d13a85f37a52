//! Cross-codec tests: `parse_any` dispatch, no panics on arbitrary bytes, real-recording frames.

mod common;

use aether_csi::*;
use common::Rng;

const CLASSIFICATION_GOLDEN: [u8; 40] = [
    0x07, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40, 0x42, 0x0f, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xa3, 0xc7, 0xb7, 0xce,
];

/// One valid datagram of every type, built through the public emitters.
fn valid_packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();

    let iq: Vec<u8> = (0..2 * 64).map(|i| (i * 7) as u8).collect();
    let raw = CsiFrameRepr {
        node_id: 1,
        n_antennas: 1,
        n_subcarriers: 64,
        freq_mhz: channel_to_mhz(6).unwrap(),
        sequence: 9,
        rssi: -50,
        noise_floor: -90,
        iq: &iq,
    };
    let mut b = vec![0u8; raw.buffer_len()];
    raw.emit(&mut CsiFramePacket::new_unchecked(&mut b[..]));
    out.push(b);

    let v = VitalsRepr {
        node_id: 2,
        flags: 1,
        breathing_centi_bpm: 1500,
        heartrate_decimilli_bpm: 700_000,
        rssi: -40,
        n_persons: 1,
        reserved: [0; 2],
        motion_energy: 0.1,
        presence_score: 0.9,
        timestamp_ms: 10,
        reserved2: 0,
    };
    let mut b = vec![0u8; VITALS_LEN];
    v.emit(&mut VitalsPacket::new_unchecked(&mut b[..]));
    out.push(b);

    let f = FeatureVectorRepr {
        node_id: 3,
        seq: 1,
        timestamp_us: 1_000,
        features: [0.5; 8],
    };
    let mut b = vec![0u8; FEATURE_VECTOR_LEN];
    f.emit(&mut FeatureVectorPacket::new_unchecked(&mut b[..]));
    out.push(b);

    let fv = FusedVitalsRepr {
        node_id: 4,
        flags: 8,
        breathing_centi_bpm: 1600,
        heartrate_decimilli_bpm: 600_000,
        rssi: -30,
        n_persons: 1,
        mmwave_type: 1,
        fusion_confidence: 50,
        motion_energy: 0.0,
        presence_score: 1.0,
        timestamp_ms: 5,
        mmwave_hr_bpm: 60.0,
        mmwave_br_bpm: 16.0,
        mmwave_distance_cm: 100.0,
        mmwave_targets: 1,
        mmwave_confidence: 80,
    };
    let mut b = vec![0u8; FUSED_VITALS_LEN];
    fv.emit(&mut FusedVitalsPacket::new_unchecked(&mut b[..]));
    out.push(b);

    let w = WasmOutputRepr::new(
        Magic::FusedVitals,
        5,
        0,
        &[WasmEvent {
            event_type: 1,
            value: 2.0,
        }; 3],
    )
    .unwrap();
    let mut b = vec![0u8; w.buffer_len()];
    w.emit(&mut WasmOutputPacket::new_unchecked(&mut b[..]));
    out.push(b);

    let mut enc = CompressedCsiEncoder::new();
    let mut b = vec![0u8; 10 + 256];
    enc.encode_packet(6, 6, &iq, &mut b).unwrap();
    let mut iq2 = iq.clone();
    iq2[10] ^= 3;
    let n = enc.encode_packet(6, 6, &iq2, &mut b).unwrap().unwrap();
    b.truncate(n);
    out.push(b);

    let s = FeatureStateRepr {
        node_id: 7,
        mode: CaptureProfile::FastMotion,
        seq: 2,
        ts_us: 3,
        motion_score: 0.1,
        presence_score: 0.2,
        respiration_bpm: 14.0,
        respiration_conf: 0.5,
        heartbeat_bpm: 70.0,
        heartbeat_conf: 0.8,
        anomaly_score: 0.0,
        env_shift_score: 0.0,
        node_coherence: 0.9,
        quality_flags: QUALITY_PRESENCE_VALID,
    };
    let mut b = vec![0u8; FEATURE_STATE_LEN];
    s.emit(&mut FeatureStatePacket::new_unchecked(&mut b[..]));
    out.push(b);

    out.push(CLASSIFICATION_GOLDEN.to_vec());

    let w7 = WasmOutputRepr::new(
        Magic::Classification,
        8,
        2,
        &[WasmEvent {
            event_type: 4,
            value: -1.0,
        }],
    )
    .unwrap();
    let mut b = vec![0u8; w7.buffer_len()];
    w7.emit(&mut WasmOutputPacket::new_unchecked(&mut b[..]));
    out.push(b);
    out
}

#[test]
fn parse_any_dispatches_every_type() {
    let names: Vec<&str> = valid_packets()
        .iter()
        .map(|b| parse_any(b).unwrap_or_else(|e| panic!("{e}")).type_name())
        .collect();
    assert_eq!(
        names,
        [
            "raw_csi",
            "vitals",
            "feature_vector",
            "fused_vitals",
            "wasm_output",
            "compressed_csi",
            "feature_state",
            "classification",
            "wasm_output"
        ]
    );
    let AnyPacket::Classification(c) = parse_any(&CLASSIFICATION_GOLDEN).unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.node_id, c.n_classes, c.ts_us, c.seq, c.argmax),
        (1, 4, 1_000_000, 1, 0)
    );
}

#[test]
fn parse_any_distinct_errors() {
    assert_eq!(
        parse_any(&[1, 2]).unwrap_err(),
        PacketError::Truncated { needed: 4, got: 2 }
    );
    assert_eq!(
        parse_any(&[0xef, 0xbe, 0xad, 0xde, 0]).unwrap_err(),
        PacketError::UnknownMagic(0xDEAD_BEEF)
    );
    let mut bad = CLASSIFICATION_GOLDEN;
    bad[30] = 0x80;
    assert_eq!(parse_any(&bad).unwrap_err().kind(), PacketErrorKind::Crc);
    let mut long = CLASSIFICATION_GOLDEN.to_vec();
    long.push(0);
    assert_eq!(
        parse_any(&long).unwrap_err(),
        PacketError::UnknownSize {
            magic: 0xC511_0007,
            len: 41
        }
    );
    assert_eq!(
        parse_any(&[0x04, 0x00, 0x11, 0xc5, 0, 0, 0, 0, 0]).unwrap_err(),
        PacketError::UnknownSize {
            magic: 0xC511_0004,
            len: 9
        }
    );
}

#[test]
fn fused_vitals_vs_wasm_collision_rule() {
    // A 48-byte 0xC5110004 is fused vitals ...
    let fused = &valid_packets()[3];
    assert_eq!(fused.len(), 48);
    assert!(matches!(
        parse_any(fused).unwrap(),
        AnyPacket::FusedVitals(_)
    ));
    // ... unless bytes 6..8 read 8: then it is a WASM output with 8 events (8 + 5*8 = 48).
    let events = [WasmEvent {
        event_type: 2,
        value: 0.25,
    }; 8];
    let w = WasmOutputRepr::new(Magic::FusedVitals, 1, 3, &events).unwrap();
    let mut b = vec![0u8; w.buffer_len()];
    assert_eq!(b.len(), 48);
    w.emit(&mut WasmOutputPacket::new_unchecked(&mut b[..]));
    match parse_any(&b).unwrap() {
        AnyPacket::WasmOutput(got) => assert_eq!(got, w),
        other => panic!("expected WASM output, got {other:?}"),
    }
}

#[test]
fn every_strict_prefix_is_an_error() {
    let mut other_type = Vec::new();
    for p in valid_packets() {
        let full = parse_any(&p).unwrap().type_name();
        for cut in 0..p.len() {
            if let Ok(other) = parse_any(&p[..cut]) {
                assert_ne!(other.type_name(), full, "prefix {cut} of a {full} parsed");
                other_type.push((full, cut, other.type_name()));
            }
        }
    }
    // A shared magic can make a prefix a valid packet of the *other* type, and only this one
    // does: the first 28 bytes of a 4-class classification packet read as a WASM output with
    // 4 events (n_classes sits where event_count does).
    assert!(
        other_type
            .iter()
            .all(|&(full, cut, other)| (full, cut, other) == ("classification", 28, "wasm_output")),
        "{other_type:?}"
    );
}

#[test]
fn seeded_random_bytes_never_panic() {
    let mut rng = Rng(0x5EED_C511_0000_0001);
    let magics = [
        0xC511_0001u32,
        0xC511_0002,
        0xC511_0003,
        0xC511_0004,
        0xC511_0005,
        0xC511_0006,
        0xC511_0007,
    ];
    let valid = valid_packets();
    let mut ok = 0usize;
    let mut buf = vec![0u8; 3000];
    for i in 0..200_000 {
        let len = match i % 4 {
            0 => rng.below(64) as usize,
            1 => rng.below(3000) as usize,
            _ => 0,
        };
        let data: &[u8] = if i % 4 < 2 {
            for b in &mut buf[..len] {
                *b = rng.byte();
            }
            if len >= 4 && rng.below(4) != 0 {
                let m = magics[rng.below(magics.len() as u64) as usize];
                buf[..4].copy_from_slice(&m.to_le_bytes());
            }
            &buf[..len]
        } else {
            // Mutate a valid packet: flip a few bytes, sometimes truncate or extend.
            let src = &valid[rng.below(valid.len() as u64) as usize];
            let mut n = src.len();
            buf[..n].copy_from_slice(src);
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(n as u64) as usize;
                buf[at] ^= 1 << rng.below(8);
            }
            match rng.below(4) {
                0 => n = rng.below(n as u64 + 1) as usize,
                1 => {
                    let extra = rng.below(8) as usize;
                    for b in &mut buf[n..n + extra] {
                        *b = rng.byte();
                    }
                    n += extra;
                }
                _ => {}
            }
            &buf[..n]
        };
        if parse_any(data).is_ok() {
            ok += 1;
        }
    }
    // Mutated packets with intact CRC-free fields still parse, so some inputs must succeed.
    assert!(ok > 0);
}

#[test]
fn real_recording_raw_frames_round_trip() {
    let Some(lines) = common::ruview_raw_lines() else {
        return;
    };
    assert_eq!(
        lines.len(),
        5309,
        "raw_csi line count of the shared recording"
    );
    let mut layouts = std::collections::BTreeMap::new();
    let mut buf = vec![0xa5u8; CSI_MAX_FRAME_LEN];
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.iq.len(), 2 * l.subcarriers);
        let repr = CsiFrameRepr {
            node_id: l.node_id,
            n_antennas: 1,
            n_subcarriers: l.subcarriers as u16,
            freq_mhz: 2437,
            sequence: i as u32,
            rssi: 1,
            noise_floor: 0,
            iq: &l.iq,
        };
        let n = repr.buffer_len();
        assert_eq!(n, l.size, "datagram size recorded for line {i}");
        repr.emit(&mut CsiFramePacket::new_unchecked(&mut buf[..n]));
        let AnyPacket::RawCsi(back) = parse_any(&buf[..n]).unwrap() else {
            panic!("line {i}")
        };
        assert_eq!(back, repr);
        *layouts.entry(l.subcarriers).or_insert(0) += 1;
    }
    assert_eq!(
        layouts.into_iter().collect::<Vec<_>>(),
        [(64, 4127), (128, 1134), (192, 48)]
    );
}

/// Writes one valid datagram of every type into `$AETHER_FUZZ_CORPUS` (the fuzzers' seed
/// corpus, see `fuzz/README.md`); each must parse first.
#[test]
#[ignore = "writes files; run by scripts/fuzz.sh"]
fn write_fuzz_corpus() {
    let dir = std::env::var_os("AETHER_FUZZ_CORPUS").expect("set AETHER_FUZZ_CORPUS to a folder");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, p) in valid_packets().iter().enumerate() {
        let name = parse_any(p).unwrap().type_name();
        std::fs::write(std::path::Path::new(&dir).join(format!("{i:02}-{name}")), p).unwrap();
    }
}

#[test]
fn any_packet_emits_its_own_bytes_back() {
    for p in valid_packets() {
        let parsed = parse_any(&p).unwrap();
        assert_eq!(parsed.buffer_len(), p.len(), "{}", parsed.type_name());
        let mut buf = vec![0xAAu8; p.len() + 3];
        assert_eq!(parsed.emit(&mut buf), Some(p.len()));
        assert_eq!(&buf[..p.len()], &p[..], "{}", parsed.type_name());
        assert_eq!(
            &buf[p.len()..],
            &[0xAA; 3],
            "{}: wrote past its length",
            parsed.type_name()
        );
        let mut short = vec![0u8; p.len() - 1];
        assert_eq!(parsed.emit(&mut short), None);
        assert!(
            short.iter().all(|&b| b == 0),
            "a short buffer is left untouched"
        );
    }
}

/// A hand-built compressed frame whose RLE payload exceeds the 16-bit length field cannot be
/// encoded: `AnyPacket::emit` says so with `None` and writes nothing (it used to panic).
#[test]
fn any_packet_refuses_a_payload_its_length_field_cannot_hold() {
    let rle = vec![0u8; 70_000];
    let p = AnyPacket::CompressedCsi(CompressedCsiRepr {
        node_id: 1,
        channel: 6,
        original_len: 128,
        rle: &rle,
    });
    let mut buf = vec![0xAAu8; p.buffer_len()];
    assert_eq!(p.emit(&mut buf), None);
    assert!(buf.iter().all(|&b| b == 0xAA), "nothing written");
}

/// `Repr` fields are public, so a hand-built packet can describe bytes no parser accepts, or
/// ones read back as another type; `AnyPacket::emit` says `None` instead of writing them.
#[test]
fn any_packet_refuses_fields_parse_would_reject() {
    let good = ClassificationRepr::from_logits(1, 5, 1, &[0.0, 2.0, 1.0]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        AnyPacket::Classification(good).emit(&mut buf),
        Some(good.buffer_len())
    );
    let bad = ClassificationRepr { argmax: 3, ..good };
    assert_eq!(AnyPacket::Classification(bad).emit(&mut buf), None);
    let iq = [1u8; 8];
    let raw = CsiFrameRepr {
        node_id: 1,
        n_antennas: 0,
        n_subcarriers: 4,
        freq_mhz: 2437,
        sequence: 1,
        rssi: -40,
        noise_floor: -90,
        iq: &iq,
    };
    let mut big = [0u8; 64];
    assert_eq!(AnyPacket::RawCsi(raw).emit(&mut big), None);
    let raw = CsiFrameRepr {
        n_antennas: 1,
        ..raw
    };
    assert_eq!(
        AnyPacket::RawCsi(raw).emit(&mut big),
        Some(raw.buffer_len())
    );
}

//! `aether decode --hex HEX [--json]`: decode one datagram of the 0xC51100xx family.

use aether_csi::{
    channel_to_mhz, mhz_to_channel, parse_any, AnyPacket, ClassificationPacket, ClassificationRepr,
    FeatureStatePacket, FeatureStateRepr, PacketError,
};
use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Map, Value};

/// Arguments of `aether decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// The datagram as hex (whitespace, `_` and a leading `0x` are ignored).
    #[arg(long)]
    pub hex: String,
    /// Print JSON (a `type` field, the packet's fields, and `crc_ok` where the packet has a CRC).
    #[arg(long)]
    pub json: bool,
}

/// Decode, print, and fail (non-zero exit) on a malformed datagram. A packet whose only fault is
/// its CRC is still printed, with `crc_ok: false`, before the error.
pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    let bytes = parse_hex(&args.hex)?;
    match parse_any(&bytes) {
        Ok(packet) => {
            print(&describe(&packet), args.json);
            Ok(())
        }
        Err(err @ PacketError::BadCrc { .. }) => {
            if let Some(v) = describe_corrupted(&bytes) {
                print(&v, args.json);
            }
            bail!("malformed packet ({} bytes): {err}", bytes.len())
        }
        Err(err) => bail!("malformed packet ({} bytes): {err}", bytes.len()),
    }
}

fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut digits: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .collect();
    if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        digits = rest.to_string();
    }
    if !digits.len().is_multiple_of(2) {
        bail!("hex input has an odd number of digits ({})", digits.len());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16).with_context(|| {
                format!("invalid hex digits {:?} at offset {i}", &digits[i..i + 2])
            })
        })
        .collect()
}

/// An f32 as JSON: its shortest decimal form, `null` for NaN or infinity.
fn num(v: f32) -> Value {
    if v.is_finite() {
        v.to_string()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

fn magic_hex(m: aether_csi::Magic) -> String {
    format!("0x{:08X}", u32::from(m))
}

fn describe(packet: &AnyPacket<'_>) -> Value {
    let mut v = match packet {
        AnyPacket::RawCsi(f) => {
            let antennas: Vec<Value> = (0..usize::from(f.n_antennas))
                .map(|a| Value::Array(f.antenna(a).map(|(re, im)| json!([re, im])).collect()))
                .collect();
            json!({
                "node_id": f.node_id,
                "n_antennas": f.n_antennas,
                "n_subcarriers": f.n_subcarriers,
                "freq_mhz": f.freq_mhz,
                "channel": mhz_to_channel(f.freq_mhz),
                "sequence": f.sequence,
                "rssi": f.rssi,
                "noise_floor": f.noise_floor,
                "iq_order": "[imag, real] on the wire; subcarriers below are [re, im]",
                "subcarriers": antennas,
            })
        }
        AnyPacket::Vitals(p) => json!({
            "node_id": p.node_id,
            "flags": p.flags,
            "presence": p.presence(),
            "fall": p.fall(),
            "motion": p.motion(),
            "breathing_bpm": num(p.breathing_bpm()),
            "heartrate_bpm": num(p.heartrate_bpm()),
            "rssi": p.rssi,
            "n_persons": p.n_persons,
            "motion_energy": num(p.motion_energy),
            "presence_score": num(p.presence_score),
            "timestamp_ms": p.timestamp_ms,
        }),
        AnyPacket::FeatureVector(p) => json!({
            "node_id": p.node_id,
            "seq": p.seq,
            "timestamp_us": p.timestamp_us,
            "features": p.features.iter().map(|&f| num(f)).collect::<Vec<_>>(),
        }),
        AnyPacket::FusedVitals(p) => json!({
            "node_id": p.node_id,
            "flags": p.flags,
            "breathing_bpm": num(p.breathing_bpm()),
            "heartrate_bpm": num(p.heartrate_bpm()),
            "rssi": p.rssi,
            "n_persons": p.n_persons,
            "mmwave_type": p.mmwave_type,
            "fusion_confidence": p.fusion_confidence,
            "motion_energy": num(p.motion_energy),
            "presence_score": num(p.presence_score),
            "timestamp_ms": p.timestamp_ms,
            "mmwave_hr_bpm": num(p.mmwave_hr_bpm),
            "mmwave_br_bpm": num(p.mmwave_br_bpm),
            "mmwave_distance_cm": num(p.mmwave_distance_cm),
            "mmwave_targets": p.mmwave_targets,
            "mmwave_confidence": p.mmwave_confidence,
        }),
        AnyPacket::WasmOutput(p) => json!({
            "node_id": p.node_id,
            "module_id": p.module_id,
            "events": p.events().iter().map(|e| json!({"event_type": e.event_type, "value": num(e.value)})).collect::<Vec<_>>(),
        }),
        AnyPacket::CompressedCsi(p) => json!({
            "node_id": p.node_id,
            "channel": p.channel,
            "freq_mhz": channel_to_mhz(p.channel),
            "original_len": p.original_len,
            "compressed_len": p.rle.len(),
            "rle_pairs": p.rle.len() / 2,
        }),
        AnyPacket::FeatureState(p) => feature_state_json(p, true),
        AnyPacket::Classification(p) => classification_json(p, true),
    };
    let obj = v.as_object_mut().expect("json! object");
    let mut out = Map::new();
    out.insert("type".into(), json!(packet.type_name()));
    out.insert("magic".into(), json!(magic_hex(packet.magic())));
    out.append(obj);
    Value::Object(out)
}

fn feature_state_json(p: &FeatureStateRepr, crc_ok: bool) -> Value {
    json!({
        "node_id": p.node_id,
        "mode": format!("{:?}", p.mode),
        "seq": p.seq,
        "ts_us": p.ts_us,
        "motion_score": num(p.motion_score),
        "presence_score": num(p.presence_score),
        "respiration_bpm": num(p.respiration_bpm),
        "respiration_conf": num(p.respiration_conf),
        "heartbeat_bpm": num(p.heartbeat_bpm),
        "heartbeat_conf": num(p.heartbeat_conf),
        "anomaly_score": num(p.anomaly_score),
        "env_shift_score": num(p.env_shift_score),
        "node_coherence": num(p.node_coherence),
        "quality_flags": p.quality_flags,
        "crc_ok": crc_ok,
    })
}

fn classification_json(p: &ClassificationRepr, crc_ok: bool) -> Value {
    json!({
        "node_id": p.node_id,
        "n_classes": p.n_classes,
        "ts_us": p.ts_us,
        "seq": p.seq,
        "argmax": p.argmax,
        "top_logit": num(p.top_logit),
        "margin": num(p.margin),
        "crc_ok": crc_ok,
    })
}

/// The fields of a packet that failed only its CRC.
fn describe_corrupted(bytes: &[u8]) -> Option<Value> {
    let (name, magic, mut v) = if let Ok(p) =
        ClassificationRepr::parse_unverified(&ClassificationPacket::new_unchecked(bytes))
    {
        (
            "classification",
            0xC511_0007u32,
            classification_json(&p, false),
        )
    } else if let Ok(p) =
        FeatureStateRepr::parse_unverified(&FeatureStatePacket::new_unchecked(bytes))
    {
        (
            "feature_state",
            0xC511_0006u32,
            feature_state_json(&p, false),
        )
    } else {
        return None;
    };
    let mut out = Map::new();
    out.insert("type".into(), json!(name));
    out.insert("magic".into(), json!(format!("0x{magic:08X}")));
    out.append(v.as_object_mut()?);
    Some(Value::Object(out))
}

fn print(v: &Value, as_json: bool) {
    if as_json {
        println!("{v}");
        return;
    }
    if let Value::Object(map) = v {
        // `type` and `magic` first, then the fields (the map itself is sorted by key).
        let first = ["type", "magic"];
        let rest = map.keys().filter(|k| !first.contains(&k.as_str()));
        for k in first.iter().copied().chain(rest.map(String::as_str)) {
            match map.get(k) {
                Some(Value::String(s)) => println!("{k:>20}: {s}"),
                Some(other) => println!("{k:>20}: {other}"),
                None => {}
            }
        }
    }
}

//! `aether decode` driven as a process.

use std::process::Command;

/// Spec §3.9 golden classification packet.
const GOLDEN: &str =
    "070011c5 0100 0400 01 000000 40420f0000000000 01000000 00 000000 00000000 00000000 a3c7b7ce";

fn decode(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aether"))
        .arg("decode")
        .args(args)
        .output()
        .expect("run aether");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf8 stdout"),
        String::from_utf8(out.stderr).expect("utf8 stderr"),
    )
}

#[test]
fn golden_classification_decodes() {
    let (ok, stdout, stderr) = decode(&["--hex", GOLDEN, "--json"]);
    assert!(ok, "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["type"], "classification");
    assert_eq!(v["magic"], "0xC5110007");
    assert_eq!(v["node_id"], 1);
    assert_eq!(v["n_classes"], 4);
    assert_eq!(v["ts_us"], 1_000_000);
    assert_eq!(v["seq"], 1);
    assert_eq!(v["argmax"], 0);
    assert_eq!(v["top_logit"], 0.0);
    assert_eq!(v["margin"], 0.0);
    assert_eq!(v["crc_ok"], true);

    let (ok, stdout, _) = decode(&["--hex", GOLDEN]);
    assert!(ok);
    assert!(
        stdout.contains("classification") && stdout.contains("crc_ok: true"),
        "{stdout}"
    );
}

#[test]
fn corrupted_classification_fails_with_crc_error() {
    // Flip one bit of top_logit: fields still readable, CRC no longer matches.
    let corrupted = GOLDEN.replace("00000000 00000000 a3c7b7ce", "00000080 00000000 a3c7b7ce");
    let (ok, stdout, stderr) = decode(&["--hex", &corrupted, "--json"]);
    assert!(!ok, "a bad CRC must exit non-zero");
    assert!(stderr.contains("CRC mismatch"), "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("fields still printed");
    assert_eq!(v["type"], "classification");
    assert_eq!(v["crc_ok"], false);
}

#[test]
fn malformed_input_fails_with_a_clear_error() {
    let (ok, _, stderr) = decode(&["--hex", &GOLDEN[..GOLDEN.len() - 9], "--json"]);
    assert!(!ok);
    assert!(
        stderr.contains("no packet with magic 0xc5110007 is 36 bytes long"),
        "stderr: {stderr}"
    );
    // A raw frame whose payload is shorter than its header declares.
    let (ok, _, stderr) = decode(&[
        "--hex",
        "010011c5 03 01 0400 85090000 04030201 d8 a1 0000 0503 05fd",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("truncated: need 28 bytes, got 24"),
        "stderr: {stderr}"
    );
    let (ok, _, stderr) = decode(&["--hex", "deadbeef00"]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown magic 0xefbeadde"),
        "stderr: {stderr}"
    );
    let (ok, _, stderr) = decode(&["--hex", "zz"]);
    assert!(!ok);
    assert!(stderr.contains("invalid hex"), "stderr: {stderr}");
}

#[test]
fn raw_csi_frame_reports_re_im_pairs() {
    // node 3, 1 antenna, 4 subcarriers, 2437 MHz, seq 0x01020304, rssi -40, noise -95;
    // wire pairs [im, re]: (5, 3), (5, -3), (0, 0), (-128, 127).
    let hex = "010011c5 03 01 0400 85090000 04030201 d8 a1 0000 0503 05fd 0000 807f";
    let (ok, stdout, stderr) = decode(&["--hex", hex, "--json"]);
    assert!(ok, "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["type"], "raw_csi");
    assert_eq!(v["channel"], 6);
    assert_eq!(v["rssi"], -40);
    assert_eq!(
        v["subcarriers"],
        serde_json::json!([[[3, 5], [-3, 5], [0, 0], [127, -128]]])
    );
    assert!(v.get("crc_ok").is_none(), "no CRC in a raw frame");
}

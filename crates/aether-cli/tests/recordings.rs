//! The recording subcommands through the real binary: inspect, simulate, record + replay on
//! loopback.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn aether() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aether"))
}

fn data(rel: &str) -> Option<PathBuf> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if !shared.exists() {
        eprintln!("SKIP: {} is absent", shared.display());
        return None;
    }
    let p = shared.join("data").join(rel);
    assert!(p.is_file(), "missing shared data file {}", p.display());
    Some(p)
}

fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `cmd`, which must succeed, and parses one JSON value per stdout line.
fn json_lines(cmd: &mut Command) -> Vec<serde_json::Value> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aether-cli-rec-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn inspect_ruview_json() {
    let Some(p) = data("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let v = json_of(aether().arg("inspect").arg(&p).arg("--json"));
    assert_eq!(v["format"], "ruview-jsonl");
    assert!((v["duration_s"].as_f64().unwrap() - 120.021).abs() < 0.001);
    assert_eq!(v["nodes"]["1"]["frames"], 2659);
    assert_eq!(v["nodes"]["2"]["frames"], 2650);
    assert!(v["nodes"]["1"]["rate_hz"].as_f64().unwrap() > 20.0);
    assert_eq!(v["packet_counts"]["raw_csi"], 5309);
    assert_eq!(v["packet_counts"]["vitals"], 236);
    assert_eq!(v["packet_counts"]["feature"], 236);
    assert_eq!(v["packet_counts"]["0xC5110005"], 2);
    assert_eq!(v["subcarrier_counts"]["64"], 4127);
    assert_eq!(v["subcarrier_counts"]["128"], 1134);
    assert_eq!(v["subcarrier_counts"]["192"], 48);
    assert_eq!(v["malformed"], 0);
    assert_eq!(v["label"], "mixed-activity");
}

#[test]
fn inspect_npz_and_csv_json() {
    let Some(p) = data("espectre/movement/movement_c5_64sc_20260329_124504.npz") else {
        return;
    };
    let v = json_of(aether().arg("inspect").arg(&p).arg("--json"));
    assert_eq!(v["format"], "espectre-npz");
    assert_eq!(v["nodes"]["0"]["frames"], 1006);
    assert_eq!(v["espectre"]["chip"], "c5");
    assert_eq!(v["label"], "movement");
    let Some(p) = data("csikit-esp32/example_100hz_pitraffic.csv") else {
        return;
    };
    let v = json_of(aether().arg("inspect").arg(&p).arg("--json"));
    assert_eq!(v["format"], "esp32-csi-tool");
    assert_eq!(v["malformed"], 1);
    assert_eq!(v["nodes"]["0"]["frames"], 833);
    // The human form names the malformed line.
    let out = aether().arg("inspect").arg(&p).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("line 19:"));
}

#[test]
fn inspect_rejects_unknown_files() {
    let d = tmp("unknown");
    let f = d.join("notes.txt");
    std::fs::write(&f, "hello\n").unwrap();
    let out = aether().arg("inspect").arg(&f).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognised"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn simulate_writes_labelled_recording() {
    let d = tmp("sim");
    let v = json_of(
        aether()
            .args([
                "simulate",
                "--scenario",
                "fall",
                "--seconds",
                "10",
                "--seed",
                "3",
                "--room",
                "bedroom",
                "--json",
                "--out",
            ])
            .arg(&d),
    );
    let rec = PathBuf::from(v["recording"].as_str().unwrap());
    let seg = PathBuf::from(v["segments_file"].as_str().unwrap());
    assert!(std::fs::read_to_string(&seg)
        .unwrap()
        .starts_with("start_s,end_s,label\n"));
    let labels: Vec<&str> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["still", "fall", "still"]);
    let i = json_of(aether().arg("inspect").arg(&rec).arg("--json"));
    assert_eq!(i["format"], "ruview-jsonl");
    assert_eq!(i["packet_counts"]["raw_csi"], v["frames"]);
    assert_eq!(i["malformed"], 0);
    // The sidecar's session: the installation (here the seed) in the named room.
    assert_eq!(v["session"], "bedroom-i3");
    assert_eq!(i["session"], "bedroom-i3");
    assert_eq!(i["label"], "fall");
    let bad = aether()
        .args(["simulate", "--scenario", "dance", "--out"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn replay_into_record_on_loopback() {
    let Some(src) = data("espectre/baseline/baseline_esp32_64sc_20260214_183059.npz") else {
        return;
    };
    let d = tmp("live");
    let out = d.join("rec.csi.jsonl");
    let mut rec = aether()
        .args([
            "record",
            "--listen",
            "127.0.0.1:0",
            "--max-packets",
            "961",
            "--duration",
            "60",
            "--json",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first stderr line names the bound address.
    let mut line = String::new();
    BufReader::new(rec.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.split_whitespace().nth(2).unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    let sent = json_of(
        aether()
            .arg("replay")
            .arg(&src)
            .args(["--speed", "4", "--json", "--to", &addr]),
    );
    assert_eq!(sent["sent"], 961);
    assert_eq!(sent["format"], "espectre-npz");
    // Everything is sent: Ctrl-C, as a user would, so a datagram lost on loopback fails the
    // counts at once instead of waiting out --duration (the recorder drains what is queued).
    let status = Command::new("kill")
        .args(["-INT", &rec.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = rec.wait_with_output().unwrap();
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["received"], 961);
    assert_eq!(report["written"], 961);
    assert_eq!(report["malformed"], 0);
    let i = json_of(aether().arg("inspect").arg(&out).arg("--json"));
    assert_eq!(i["subcarrier_counts"]["64"], 961);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn record_stops_cleanly_on_ctrl_c() {
    // SIGINT as Ctrl-C sends; SIGTERM as `kill`, systemd or `timeout` send; SIGHUP as a closed
    // terminal sends: each ends the session with the recording finished.
    for signal in ["INT", "TERM", "HUP"] {
        record_stops_cleanly_on(signal);
    }
}

fn record_stops_cleanly_on(signal: &str) {
    let d = tmp(&format!("sig{signal}"));
    let out = d.join("rec.csi.jsonl");
    // --duration bounds the child if the signal path ever stops working (the report's
    // elapsed time then says which ended it), so a regression fails instead of hanging CI.
    let mut rec = aether()
        .args([
            "record",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--duration",
            "60",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(rec.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.split_whitespace().nth(2).unwrap().to_owned();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Three datagrams: two garbage, one vitals packet the recorder must keep.
    tx.send_to(b"not a packet", &addr).unwrap();
    tx.send_to(&[0x01, 0x00, 0x11, 0xc5, 0x01], &addr).unwrap();
    let mut vitals = [0u8; 32];
    vitals[..4].copy_from_slice(&0xC511_0002u32.to_le_bytes());
    vitals[4] = 9;
    tx.send_to(&vitals, &addr).unwrap();
    // The handler is installed before the first stderr line.
    let status = Command::new("kill")
        .args([format!("-{signal}"), rec.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = rec.wait_with_output().unwrap();
    assert!(output.status.success(), "SIG{signal}: {:?}", output.status);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Loopback delivers into the socket's queue inside send_to, and the recorder drains what
    // is queued when it stops: all three arrived, the vitals packet kept, the garbage counted.
    let count = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        (count("received"), count("written"), count("malformed")),
        (3, 1, 2),
        "SIG{signal}: {report}"
    );
    assert!(
        report["elapsed_s"].as_f64().unwrap() < 50.0,
        "SIG{signal}: the signal did not end the session, --duration did: {report}"
    );
    assert!(
        out.is_file(),
        "the recording is finished and renamed into place"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().count() as u64,
        report["written"].as_u64().unwrap()
    );
    std::fs::remove_dir_all(d).unwrap();
}

/// `aether features --json` prints, per node, exactly the frames and values training reads
/// (settling frames dropped); `--features`, `--every` and `--span` select what they say.
#[test]
fn features_print_what_training_sees() {
    let Some(p) = data("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let streams = aether_train::data::read_streams(&p, &Default::default()).unwrap();
    assert_eq!(streams.len(), 2, "two nodes");
    let lines = json_lines(aether().args(["features", "--json", "--input"]).arg(&p));
    assert_eq!(
        lines.len(),
        streams.iter().map(|s| s.t_s.len()).sum::<usize>()
    );
    let names = aether_csi::CSI19_NAMES;
    let mut at = 0;
    for s in &streams {
        for (i, (t, frame)) in s.t_s.iter().zip(&s.features).enumerate() {
            let v = &lines[at + i];
            assert_eq!(v["node_id"], s.node_id);
            assert_eq!(v["t_s"].as_f64().unwrap(), *t);
            assert_eq!(v["label"].as_str(), s.labels[i].as_deref());
            let f = v["features"].as_object().unwrap();
            assert_eq!(f.len(), names.len());
            for (name, x) in names.iter().zip(frame) {
                assert_eq!(f[*name].as_f64().unwrap() as f32, *x, "{name} at {t}");
            }
        }
        at += s.t_s.len();
    }

    let rows = json_lines(
        aether()
            .args(["features", "--json", "--every", "10", "--span", "10-20"])
            .args(["--feature-set", "csi16", "--features", "corr_ref,13"])
            .arg("--input")
            .arg(&p),
    );
    let expected: usize = streams
        .iter()
        .map(|s| {
            s.t_s
                .iter()
                .filter(|t| **t >= 10.0 && **t < 20.0)
                .count()
                .div_ceil(10)
        })
        .sum();
    assert_eq!(rows.len(), expected);
    for r in &rows {
        let t = r["t_s"].as_f64().unwrap();
        assert!((10.0..20.0).contains(&t));
        let keys: Vec<&String> = r["features"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["corr_prev", "corr_ref"]);
    }

    // Set 1 has no decorrelation features: a clear error, not an empty table.
    let bad = aether()
        .args([
            "features",
            "--feature-set",
            "csi16",
            "--features",
            "decorr_growth",
            "--input",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown feature \"decorr_growth\""));
}

/// A line that does not parse is skipped with a note, not fatal (`docs/recordings.md`): the
/// recording's frames all still reach the features (and so training, `eval` and `run`); a
/// file with nothing but such lines is an error.
#[test]
fn a_malformed_line_is_skipped_with_a_note() {
    let Some(p) = data("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(lines.len() / 2, "{\"type\":\"csi\",\"this is\": not json");
    let dir = tmp("malformed");
    let bad = dir.join("one-bad-line.csi.jsonl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let clean = json_lines(aether().args(["features", "--json", "--input"]).arg(&p));
    let out = aether()
        .args(["features", "--json", "--input"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 record(s) skipped"), "no note: {stderr}");
    // (The copy lacks the original's label sidecar: compare all but the label.)
    let unlabelled = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("label");
        v
    };
    let got: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| unlabelled(serde_json::from_str(l).unwrap()))
        .collect();
    let clean: Vec<serde_json::Value> = clean.into_iter().map(unlabelled).collect();
    assert_eq!(got, clean, "every frame still read, with the same features");

    let junk = dir.join("only-junk.csi.jsonl");
    std::fs::write(&junk, "{not json\n{\"type\":\"csi\"}\n").unwrap();
    let out = aether()
        .args(["features", "--input"])
        .arg(&junk)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no usable CSI frames"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// An output error mid-session (here the file-size limit, `ulimit -f`, with SIGXFSZ ignored so
/// the write fails instead of killing the process) ends the recording with an error that says
/// where the records received so far are; they are kept, not deleted with the temporary file.
#[cfg(unix)]
#[test]
fn an_output_error_keeps_what_was_recorded() {
    let d = tmp("efbig");
    let out = d.join("rec.csi.jsonl");
    let mut rec = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 40; exec '{}' record --listen 127.0.0.1:0 --duration 60 \
             --out '{}'",
            env!("CARGO_BIN_EXE_aether"),
            out.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(rec.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line.split_whitespace().nth(2).unwrap().to_owned();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut vitals = [0u8; 32];
    vitals[..4].copy_from_slice(&0xC511_0002u32.to_le_bytes());
    // ~100 bytes a line: 6000 lines pass the 40 KiB limit several times over.
    let mut sent = 0;
    while rec.try_wait().unwrap().is_none() && sent < 6000 {
        vitals[4] = (sent % 7) as u8;
        tx.send_to(&vitals, &addr).unwrap();
        sent += 1;
        if sent % 200 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    if rec.try_wait().unwrap().is_none() {
        // Not stopped by the limit yet (the socket dropped some): stop it as Ctrl-C would.
        Command::new("kill")
            .args(["-INT", &rec.id().to_string()])
            .status()
            .unwrap();
    }
    let status = rec.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("records before it"), "{rest}");
    // What reached the disk is kept: the target, or the temporary file the error names.
    let kept: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}: {rest}");
    assert!(rest.contains(&kept[0].display().to_string()), "{rest}");
    let text = std::fs::read(&kept[0]).unwrap();
    let complete = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{") && l.ends_with(b"}"))
        .count();
    assert!(complete > 100, "{complete} complete lines kept: {rest}");
    std::fs::remove_dir_all(d).unwrap();
}

/// Segment times (and `--span`) count from the recording's first record of any kind, as
/// docs/recordings.md says, not from its first CSI frame: a vitals record 2 s before the
/// first frame moves every label boundary 2 s earlier in CSI time.
#[test]
fn segment_times_count_from_the_first_record() {
    use aether_io::record::{Record, Vitals};
    use aether_io::recording::RecordingReader;
    use aether_io::ruview::RuviewWriter;
    let Some(p) = data("ruview/pretrain-1775182186.csi.jsonl") else {
        return;
    };
    let records: Vec<Record> = RecordingReader::open(&p)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    let first = records[0].t_s();
    let d = tmp("t0");
    let with_vitals = d.join("v.csi.jsonl");
    let mut w = RuviewWriter::create(&with_vitals).unwrap();
    w.write(&Record::Vitals(Vitals {
        t_s: first - 2.0,
        node_id: 1,
        rssi: -40,
        flags: 0,
        breathing_bpm: 0.0,
        heartrate_bpm: 0.0,
        n_persons: 0,
        motion_energy: 0.0,
        presence_score: 0.0,
        device_ms: None,
    }))
    .unwrap();
    for r in &records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
    let labels = aether_train::data::LabelSource {
        segments: Some(
            aether_io::labels::Segments::parse_csv("start_s,end_s,label\n0,3,a\n3,1000,b\n")
                .unwrap(),
        ),
        label_map: Default::default(),
        first_word_invalid: false,
    };
    let streams = aether_train::data::read_streams(&with_vitals, &labels).unwrap();
    let plain = aether_train::data::read_streams(&p, &labels).unwrap();
    assert!(!streams.is_empty() && streams.len() == plain.len());
    for (s, q) in streams.iter().zip(&plain) {
        // Every frame 2 s later than when the first CSI frame was time zero.
        assert!(
            (s.t_s[0] - q.t_s[0] - 2.0).abs() < 1e-6,
            "node {}",
            s.node_id
        );
        for (t, l) in s.t_s.iter().zip(&s.labels) {
            let want = if *t < 3.0 { "a" } else { "b" };
            assert_eq!(l.as_deref(), Some(want), "node {} at {t}", s.node_id);
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}

/// `--first-word-invalid` reaches recordings whose format does not say (ESP32-CSI-Tool CSV
/// from a classic ESP32): the features change, and only when the option is given.
#[test]
fn first_word_invalid_applies_to_csv_recordings() {
    let Some(p) = data("csikit-esp32/example_100hz_pitraffic.csv") else {
        return;
    };
    let features = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = aether()
            .args(["features", "--json", "--input"])
            .arg(&p)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let plain = features(&[]);
    let again = features(&[]);
    let skipped = features(&["--first-word-invalid"]);
    assert!(!plain.is_empty());
    assert_eq!(plain.len(), skipped.len());
    assert_eq!(plain, again);
    let differ = plain
        .iter()
        .zip(&skipped)
        .filter(|(a, b)| a["features"] != b["features"])
        .count();
    assert!(
        differ > plain.len() / 2,
        "{differ} of {} frames differ",
        plain.len()
    );
}

/// A recording whose CSI frames all have fewer than 64 subcarriers says so, the same way in
/// every command that reads it (each used to give its own misleading reason, or none).
#[test]
fn frames_too_narrow_for_the_features_are_named() {
    use aether_io::record::{CsiFrame, Iq, Record};
    let d = tmp("narrow");
    let path = d.join("narrow.csi.jsonl");
    let mut w = aether_io::ruview::RuviewWriter::create(&path).unwrap();
    for i in 0..300u32 {
        let iq = (0..32).map(|k| Iq::new(k as i8, 3)).collect();
        let frame = CsiFrame {
            seq: Some(i),
            rssi: Some(-40),
            noise_floor: Some(-95),
            freq_mhz: Some(2437),
            channel: Some(6),
            ..CsiFrame::new(1.0e9 + f64::from(i) * 0.01, 1, iq)
        };
        w.write(&Record::Csi(frame)).unwrap();
    }
    w.finish().unwrap();
    for args in [
        vec!["features", "--input"],
        vec!["train", "--out", "/nonexistent-dir/m.rvne", "--data"],
    ] {
        let out = aether().args(&args).arg(&path).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("300") && err.contains("32 subcarriers") && err.contains("64"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(d).unwrap();
}

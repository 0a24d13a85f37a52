//! `aether train`, `eval`, `calibrate` and `run` end to end on a few ESPectre captures: a
//! small head trained for real (briefly), its file scored, calibrated and streamed, and the
//! streamed decisions emitted as 0xC5110007 packets to a loopback socket, and the same capture
//! replayed over loopback UDP into `run --listen`.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use aether_csi::{ClassificationPacket, ClassificationRepr};
use aether_io::live::{replay, ReplayOptions};
use aether_io::record::Record;
use aether_io::recording::RecordingReader;

fn aether(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run aether")
}

/// `aether ARGS`, which must succeed (its stderr is the failure message).
fn aether_ok(args: &[&str]) -> std::process::Output {
    let out = aether(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An eval report agrees with its own confusion matrix: accuracy is the trace over the
/// windows, macro F1 the mean of the per-class F1s, fp_rate the idle row's off-diagonal share
/// (idle = "baseline" or "empty" when a class is so named).
fn check_report(r: &serde_json::Value) {
    let classes: Vec<&str> = r["confusion"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let m: Vec<Vec<f64>> = r["confusion"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let n = classes.len();
    assert!(m.len() == n && m.iter().all(|row| row.len() == n), "{r}");
    let total: f64 = m.iter().flatten().sum();
    assert_eq!(total, r["windows"].as_f64().unwrap(), "{r}");
    assert!(total > 0.0, "{r}");
    let trace: f64 = (0..n).map(|i| m[i][i]).sum();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(r["accuracy"].as_f64().unwrap(), trace / total), "{r}");
    let f1: Vec<f64> = (0..n)
        .map(|i| {
            let tp = m[i][i];
            let predicted: f64 = (0..n).map(|t| m[t][i]).sum();
            let actual: f64 = m[i].iter().sum();
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (predicted + actual)
            }
        })
        .collect();
    let macro_f1 = f1.iter().sum::<f64>() / n as f64;
    assert!(close(r["f1_macro"].as_f64().unwrap(), macro_f1), "{r}");
    if let Some(idle) = classes
        .iter()
        .position(|c| *c == "baseline" || *c == "empty")
    {
        let row: f64 = m[idle].iter().sum();
        if row > 0.0 {
            let fp = (row - m[idle][idle]) / row;
            assert!(close(r["fp_rate"].as_f64().unwrap(), fp), "{r}");
        }
    }
}

/// The lines `eval --windows` wrote to `file`, checked against the report `r` they belong to:
/// one per scored window, and the confusion matrices (alone and fused) recounted from them.
fn check_windows(file: &str, r: &serde_json::Value) -> Vec<serde_json::Value> {
    let rows: Vec<serde_json::Value> = (std::fs::read_to_string(file).unwrap().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, r["windows"].as_u64().unwrap());
    let recount = |r: &serde_json::Value, class: &str| {
        let classes = r["confusion"]["classes"].as_array().unwrap();
        let at = |name: &serde_json::Value| classes.iter().position(|c| c == name).unwrap();
        let mut m = vec![vec![0u64; classes.len()]; classes.len()];
        for row in &rows {
            m[at(&row["truth"])][at(&row[class])] += 1;
        }
        assert_eq!(serde_json::json!(m), r["confusion"]["matrix"], "{class}");
    };
    recount(r, "class");
    if r["fused"].is_null() {
        assert!(rows.iter().all(|row| row["fused_class"].is_null()));
    } else {
        recount(&r["fused"], "fused_class");
    }
    for row in &rows {
        // The class is the most probable one, and the probabilities are a distribution.
        let probs = row["probs"].as_object().unwrap();
        let sum: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{row}");
        let top = probs[row["class"].as_str().unwrap()].as_f64().unwrap();
        assert!(probs.values().all(|p| p.as_f64().unwrap() <= top), "{row}");
        // Every caller's window is 32 frames at the simulator's 100 Hz, a few of them lost.
        let span = row["t_s"].as_f64().unwrap() - row["start_s"].as_f64().unwrap();
        assert!((0.25..1.0).contains(&span), "{row}");
    }
    rows
}

fn espectre() -> Option<PathBuf> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if !shared.is_dir() {
        eprintln!("SKIP: {} is absent", shared.display());
        return None;
    }
    let dir = shared.join("data/espectre");
    assert!(
        dir.join("baseline").is_dir() && dir.join("movement").is_dir(),
        "{} missing",
        dir.display()
    );
    Some(dir)
}

#[test]
fn train_eval_calibrate_run_on_espectre() {
    let Some(dir) = espectre() else { return };
    let f = |p: &str| dir.join(p).display().to_string();
    let base = f("baseline/baseline_c3_64sc_20260329_130303.npz");
    let moving = f("movement/movement_c3_64sc_20260329_130321.npz");
    let base2 = f("baseline/baseline_c3_64sc_20260329_130411.npz");
    let moving2 = f("movement/movement_c3_64sc_20260329_130429.npz");
    let tmp = std::env::temp_dir().join(format!("aether-train-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let model = tmp.join("m.rvne");
    let m = model.display().to_string();

    let out = aether(&[
        "train", "--data", &base, &moving, &base2, &moving2, "--out", &m, "--epochs", "3",
        "--window", "32", "--hop", "32", "--dtype", "int8", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["classes"],
        serde_json::json!(["baseline", "movement"])
    );
    assert!(model.is_file());
    assert!(tmp.join("m.curve.png").is_file());
    assert!(tmp.join("m.rvne.ckpt.safetensors").is_file());
    // Validation sessions never share a recording with training.
    let val = summary["val_groups"].as_array().unwrap();
    let trn = summary["train_groups"].as_array().unwrap();
    assert!(!val.is_empty() && val.iter().all(|g| !trn.contains(g)));

    let png = tmp.join("confusion.png");
    let out = aether(&[
        "eval",
        "--model",
        &m,
        "--data",
        &base2,
        &moving2,
        "--json",
        "--png",
        &png.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["accuracy", "f1_macro", "fp_rate", "per_class", "confusion"] {
        assert!(!r[key].is_null(), "eval --json lacks {key}");
    }
    check_report(&r);
    assert_eq!(
        r["confusion"]["classes"],
        serde_json::json!(["baseline", "movement"])
    );
    let total: u64 = r["confusion"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(total, r["windows"].as_u64().unwrap());
    assert!(png.is_file());
    assert_eq!(r["mode"], "zero_shot");
    // Scoring on several threads spreads the same batches: the same report.
    let threaded: serde_json::Value = serde_json::from_slice(
        &aether_ok(&[
            "eval",
            "--model",
            &m,
            "--data",
            &base2,
            &moving2,
            "--json",
            "--threads",
            "3",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(threaded, r);
    // One node per recording: no fused decisions for `tune --fused` to set, and no file.
    let fused_out = tmp.join("fused.rvne");
    let out = aether(&[
        "tune",
        "--model",
        &m,
        "--data",
        &base2,
        &moving2,
        "--class",
        "movement",
        "--recall",
        "0.9",
        "--fused",
        "--out",
        &fused_out.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("more than one node"),
        "{err}"
    );
    assert!(!fused_out.exists());

    // Calibrate from the first seconds of an empty-room capture; eval then reports both.
    let cal = tmp.join("cal.rvne").display().to_string();
    let short = aether(&[
        "calibrate",
        "--model",
        &m,
        "--data",
        &base2,
        "--span",
        "0-5",
        "--out",
        &cal,
    ]);
    // 5 s of recording hold 4.5 s of settled frames: refused, and the error says why.
    assert!(
        !short.status.success(),
        "4.5 s of reference must be refused"
    );
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(err.contains("5 s") && err.contains("settle"), "{err}");
    // It says how much more: about the 0.5 s the settling frames took, not a fixed figure.
    let more: f64 = err
        .split("by about ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!((0.5..0.8).contains(&more), "{err}");
    let out = aether(&[
        "calibrate",
        "--model",
        &m,
        "--data",
        &base2,
        "--span",
        "0-6",
        "--out",
        &cal,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = aether(&[
        "eval", "--model", &cal, "--data", &base2, &moving2, "--span", "6-", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "calibrated");
    // The reference came from 0-6 s, outside this --span: both modes score the same windows.
    check_report(&r["zero_shot"]);
    check_report(&r["calibrated"]);
    assert_eq!(r["calibrated"]["windows"], r["zero_shot"]["windows"], "{r}");

    // Streamed decisions, one per hop, also sent as packets.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let out = aether(&[
        "run", "--model", &m, "--input", &moving2, "--json", "--emit", &addr,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 10);
    for l in &lines {
        let p = l["probs"].as_object().unwrap();
        let sum: f64 = p.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert!(l["class"] == "baseline" || l["class"] == "movement");
        assert!(l["t_s"].as_f64().unwrap() >= 0.0 && l["node_id"].is_u64());
    }
    let mut buf = [0u8; 64];
    for (i, l) in lines.iter().enumerate() {
        let n = sock.recv(&mut buf).expect("one packet per decision");
        let repr =
            ClassificationRepr::parse(&ClassificationPacket::new_checked(&buf[..n]).unwrap())
                .unwrap();
        assert_eq!(repr.seq, i as u32 + 1);
        assert_eq!(repr.n_classes, 2);
        let class = if repr.argmax == 0 {
            "baseline"
        } else {
            "movement"
        };
        assert_eq!(l["class"], class);
    }
    // The readable form: the same decisions, each with every class's probability.
    let out = aether_ok(&["run", "--model", &m, "--input", &moving2]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), lines.len());
    for (t, l) in text.lines().zip(&lines) {
        let p = &l["probs"];
        for c in ["baseline", "movement"] {
            let want = format!("{c}={:.3}", p[c].as_f64().unwrap());
            assert!(t.contains(&want), "{t:?} lacks {want}");
        }
    }

    // Live: the same recording replayed over loopback at 4x its pace into `run --listen`
    // gives one decision per hop from the same frames as the file did.
    let frames = RecordingReader::open(std::path::Path::new(&moving2))
        .unwrap()
        .filter(|r| matches!(r, Ok(Record::Csi(_))))
        .count();
    let max_packets = frames.to_string();
    let (child, mut stderr, to) = spawn_listening(&[
        "run",
        "--model",
        &m,
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--duration",
        "60",
        "--max-packets",
        &max_packets,
    ]);
    let reader = RecordingReader::open(std::path::Path::new(&moving2)).unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let opts = ReplayOptions {
        speed: 4.0,
        ..ReplayOptions::default()
    };
    let sent = replay(reader, &sender, to, &opts).unwrap();
    assert_eq!(sent.sent as usize, frames);
    let out = child.wait_with_output().unwrap();
    let mut summary = String::new();
    stderr.read_to_string(&mut summary).unwrap();
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains(&format!(
            "{frames} datagrams (0 malformed), {frames} CSI frames from 1 node(s)"
        )),
        "{summary}"
    );
    let live: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(live.len(), lines.len(), "{summary}");
    // Arrival times stand in for the recording's clock, so features differ slightly (the
    // extractor's averages are time-aware); the decisions should not.
    let agree = live
        .iter()
        .zip(&lines)
        .filter(|(a, b)| a["class"] == b["class"])
        .count();
    assert!(
        agree * 10 >= lines.len() * 9,
        "{agree} of {} agree",
        lines.len()
    );
    for w in live.windows(2) {
        assert!(w[1]["t_s"].as_f64().unwrap() >= w[0]["t_s"].as_f64().unwrap());
    }
    run_listen_decides_on_what_was_queued_at_its_end(&m, &moving2);
    std::fs::remove_dir_all(&tmp).ok();
}

/// `aether ARGS` (a `--listen` run on loopback): the child, its stderr past the first line,
/// and the address that line says it bound.
fn spawn_listening(
    args: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStderr>,
    SocketAddr,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let to: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    (child, stderr, to)
}

/// When `run --listen` stops (`--duration` here, Ctrl-C alike: one rule), the datagrams
/// already queued in its socket are still decided on: they arrived during the session. The
/// listener is frozen (SIGSTOP) while 40 frames are sent and its 1 s session runs out, so all
/// 40 are waiting when it resumes past its end. (Before, it stopped with none: the resumed
/// read returned EINTR and the loop saw its time was up.)
fn run_listen_decides_on_what_was_queued_at_its_end(model: &str, recording: &str) {
    let signal = |sig: &str, pid: u32| {
        let status = Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig}");
    };
    let (child, mut stderr, to) = spawn_listening(&[
        "run",
        "--model",
        model,
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--duration",
        "1",
    ]);
    // A failed step below must not leave a frozen child behind (its duration never runs out).
    struct Thaw(u32);
    impl Drop for Thaw {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
    let thaw = Thaw(child.id());
    signal("STOP", child.id());
    let reader = RecordingReader::open(std::path::Path::new(recording)).unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let opts = ReplayOptions {
        speed: 1e6,
        max_frames: Some(40),
        ..ReplayOptions::default()
    };
    assert_eq!(replay(reader, &sender, to, &opts).unwrap().sent, 40);
    // The session clock is monotonic: it runs on while the process is stopped.
    std::thread::sleep(Duration::from_millis(1500));
    signal("CONT", child.id());
    // Thawed: the guard must not signal the pid again once the child may be gone.
    std::mem::forget(thaw);
    let out = child.wait_with_output().unwrap();
    let mut summary = String::new();
    stderr.read_to_string(&mut summary).unwrap();
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains("40 datagrams (0 malformed), 40 CSI frames from 1 node(s)"),
        "{summary}"
    );
}

/// A head trained with an event class reports it per episode: one fall per simulated `fall`
/// capture and node, caught or not, plus false alarms elsewhere.
#[test]
fn eval_scores_event_classes_per_episode() {
    let tmp = std::env::temp_dir().join(format!("aether-events-{}", std::process::id()));
    let path = |d: &str| tmp.join(d).display().to_string();
    let sim =
        |dir: &str, scenario: &str, seed: u64| simulate_8s(&tmp.join(dir), scenario, seed, None);
    for seed in [1, 2, 3] {
        sim("train", "fall", seed);
        sim("train", "walking", 10 + seed);
    }
    sim("test", "fall", 21);
    sim("test", "fall", 22);
    sim("test", "walking", 23);
    let model = path("m.rvne");
    let args = [
        "train",
        "--data",
        &path("train"),
        "--out",
        &model,
        "--epochs",
        "8",
        "--window",
        "32",
        "--hop",
        "8",
        "--events",
        "fall",
        "--quiet",
    ];
    aether_ok(&args);
    let test_dir = path("test");
    // `eval --json` of `model` on the test recordings, with `extra` options.
    let eval = |model: &str, extra: &[&str]| -> serde_json::Value {
        let mut a = vec!["eval", "--model", model, "--data", &test_dir, "--json"];
        a.extend_from_slice(extra);
        serde_json::from_slice(&aether_ok(&a).stdout).unwrap()
    };
    let windows_file = path("windows.jsonl");
    let r = eval(&model, &["--windows", &windows_file]);
    // Each window's truth_frames: a fall window holds 16 to 32 frames of the fall (the rule's
    // 16 at least), every other window is its class throughout.
    let rows = check_windows(&windows_file, &r);
    for row in &rows {
        let frames = row["truth_frames"].as_u64().unwrap();
        match row["truth"].as_str().unwrap() {
            "fall" => assert!((16..=32).contains(&frames), "{row}"),
            _ => assert_eq!(frames, 32, "{row}"),
        }
    }
    assert!(
        rows.iter()
            .any(|row| row["truth"] == "fall" && row["truth_frames"] != 32),
        "no fall window holds part of its fall"
    );
    // Time to detection, recounted from the windows: per fall episode (a capture's fall on
    // one node), from the fall's start in the segments file to the end of the first window
    // called fall (within a few frames of the segment's start: the first frame labelled fall
    // comes at or after it, and the simulator's timing jitters).
    let mut timed = 0;
    for (report, class) in [(&r, "class"), (&r["fused"], "fused_class")] {
        let mut latencies = Vec::new();
        let mut episodes = std::collections::BTreeSet::new();
        for row in rows.iter().filter(|row| row["truth"] == "fall") {
            let file = row["file"].as_str().unwrap();
            if !episodes.insert((file, row["node_id"].as_u64())) {
                continue;
            }
            let segments = std::fs::read_to_string(file.replace(".csi.jsonl", ".segments.csv"));
            let fall_start: f64 = (segments.unwrap().lines())
                .find_map(|l| l.strip_suffix(",fall"))
                .and_then(|l| l.split(',').next())
                .unwrap()
                .parse()
                .unwrap();
            let first = (rows.iter()).find(|w| {
                w["file"] == row["file"]
                    && w["node_id"] == row["node_id"]
                    && w["truth"] == "fall"
                    && w[class] == "fall"
            });
            if let Some(w) = first {
                latencies.push(w["t_s"].as_f64().unwrap() - fall_start);
            }
        }
        let e = &report["events"][0];
        assert_eq!(
            latencies.len() as u64,
            e["detected"].as_u64().unwrap(),
            "{e}"
        );
        latencies.sort_by(f64::total_cmp);
        let n = latencies.len();
        if n == 0 {
            assert!(
                e["latency_median_s"].is_null() && e["latency_p90_s"].is_null(),
                "{e}"
            );
            continue;
        }
        let median = (latencies[(n - 1) / 2] + latencies[n / 2]) / 2.0;
        let p90 = latencies[(0.9 * n as f64).ceil() as usize - 1];
        for (got, want) in [(&e["latency_median_s"], median), (&e["latency_p90_s"], p90)] {
            assert!(
                (got.as_f64().unwrap() - want).abs() <= 0.05,
                "{e}: {latencies:?}"
            );
        }
        timed += 1;
    }
    assert!(timed > 0, "no fall detected: the latency was never checked");
    // `tune` sets fall's operating point on these windows, and `eval` of the tuned file finds
    // the recall it reported (the bias lives in head.bias; scores agree to rounding).
    let fall_recall = |r: &serde_json::Value| {
        let per_class = r["per_class"].as_array().unwrap();
        let fall = per_class.iter().find(|c| c["class"] == "fall").unwrap();
        (
            fall["recall"].as_f64().unwrap(),
            fall["support"].as_f64().unwrap(),
        )
    };
    let (recall_before, support) = fall_recall(&r);
    let tune = |model: &str, recall: &str, out: &str| -> serde_json::Value {
        let args = [
            "tune", "--model", model, "--data", &test_dir, "--class", "fall", "--recall", recall,
            "--out", out, "--json",
        ];
        serde_json::from_slice(&aether_ok(&args).stdout).unwrap()
    };
    let tuned = path("tuned.rvne");
    let t = tune(&model, "0.8", &tuned);
    assert_eq!(t["windows"].as_f64(), Some(support), "{t}");
    assert!(
        (t["before"]["recall"].as_f64().unwrap() - recall_before).abs() < 1e-9,
        "{t}"
    );
    let after = t["after"]["recall"].as_f64().unwrap();
    assert!(after >= 0.8 && after < 0.8 + 2.0 / support, "{t}");
    let bias = t["bias"].as_f64().unwrap();
    assert!(bias > 0.0 && recall_before < 0.8, "{t}");
    let r_tuned = eval(&tuned, &[]);
    assert!(
        (fall_recall(&r_tuned).0 - after).abs() <= 1.0 / support,
        "{t} {r_tuned}"
    );
    assert!(
        (r_tuned["accuracy"].as_f64().unwrap() - t["after"]["accuracy"].as_f64().unwrap()).abs()
            < 0.01
    );
    // Tuned again to a lower recall (in place): a negative bias, and the record adds up.
    let t2 = tune(&tuned, "0.5", &tuned);
    let bias2 = t2["bias"].as_f64().unwrap();
    assert!(bias2 < 0.0, "{t2}");
    assert!(
        (t2["total_bias"].as_f64().unwrap() - (bias + bias2)).abs() < 1e-4,
        "{t2}"
    );
    let after2 = t2["after"]["recall"].as_f64().unwrap();
    assert!(after2 >= 0.5 && after2 < 0.5 + 2.0 / support, "{t2}");
    assert!(
        (fall_recall(&eval(&tuned, &[])).0 - after2).abs() <= 1.0 / support,
        "{t2}"
    );
    // On fused decisions (--fused): eval's fused report of the tuned file finds the recall.
    let fused_tuned = path("fused-tuned.rvne");
    let fused_args = [
        "tune",
        "--model",
        &model,
        "--data",
        &test_dir,
        "--class",
        "fall",
        "--recall",
        "0.9",
        "--fused",
        "--out",
        &fused_tuned,
        "--json",
    ];
    let tf: serde_json::Value = serde_json::from_slice(&aether_ok(&fused_args).stdout).unwrap();
    assert_eq!(tf["decisions"], "fused", "{tf}");
    assert_eq!(t["decisions"], "node", "{t}");
    let (fused_before, fused_support) = fall_recall(&r["fused"]);
    assert_eq!(tf["windows"].as_f64(), Some(fused_support), "{tf}");
    assert!(
        (tf["before"]["recall"].as_f64().unwrap() - fused_before).abs() < 1e-9,
        "{tf}"
    );
    let after_fused = tf["after"]["recall"].as_f64().unwrap();
    assert!(
        after_fused >= 0.9 && after_fused < 0.9 + 2.0 / fused_support,
        "{tf}"
    );
    assert_eq!(
        tf["bias"].as_f64().unwrap() > 0.0,
        fused_before < 0.9,
        "{tf}"
    );
    let rf = eval(&fused_tuned, &[]);
    assert!(
        (fall_recall(&rf["fused"]).0 - after_fused).abs() <= 1.0 / fused_support,
        "{tf} {}",
        rf["fused"]
    );
    for (extra, needle) in [
        (
            ["--class", "walk", "--recall", "0.9"],
            "not one of the model's classes",
        ),
        (["--class", "fall", "--recall", "1.5"], "must be in (0, 1]"),
        (["--class", "fall", "--recall", "0"], "must be in (0, 1]"),
    ] {
        let mut a = vec![
            "tune", "--model", &model, "--data", &test_dir, "--out", &tuned,
        ];
        a.extend_from_slice(&extra);
        let out = aether(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{extra:?}: {err}"
        );
    }
    // The simulator's two nodes are fused too: the same windows, and every fall episode of
    // each node scored again.
    check_report(&r["fused"]);
    assert_eq!(r["fused"]["windows"], r["windows"]);
    assert_eq!(
        r["fused"]["events"][0]["episodes"],
        r["events"][0]["episodes"]
    );
    let events = r["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["class"], "fall");
    // Two fall captures, each recorded by the simulator's two nodes: four episodes.
    let episodes = e["episodes"].as_u64().unwrap();
    assert_eq!(episodes, 4, "{e}");
    let detected = e["detected"].as_u64().unwrap();
    assert!(detected <= episodes);
    assert!((e["recall"].as_f64().unwrap() - detected as f64 / episodes as f64).abs() < 1e-12);
    assert!(e["false_alarms_per_hour"].as_f64().unwrap() >= 0.0);
    // Per node: the simulator's two receivers share the windows, and their accuracies
    // average, weighted by windows, to the total.
    let nodes = r["per_node"].as_array().unwrap();
    let ids: Vec<u64> = nodes
        .iter()
        .map(|n| n["node_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "{nodes:?}");
    let windows = |n: &serde_json::Value| n["windows"].as_u64().unwrap();
    assert_eq!(
        nodes.iter().map(windows).sum::<u64>(),
        r["windows"].as_u64().unwrap()
    );
    let right: f64 = (nodes.iter())
        .map(|n| n["accuracy"].as_f64().unwrap() * windows(n) as f64)
        .sum();
    let total = r["accuracy"].as_f64().unwrap() * r["windows"].as_f64().unwrap();
    assert!((right - total).abs() < 1e-9, "{right} vs {total}");

    // An event's own minimum is stored, and eval cuts its truth windows by it: a fall must
    // fill the whole 32-frame window now, so fewer windows are fall than with 16 frames.
    let support = |r: &serde_json::Value| {
        let per_class = r["per_class"].as_array().unwrap();
        let fall = per_class.iter().find(|c| c["class"] == "fall").unwrap();
        fall["support"].as_u64().unwrap()
    };
    let strict = path("strict.rvne");
    let mut args = args.to_vec();
    args[4] = &strict;
    args[12] = "fall:32";
    aether_ok(&args);
    let info = aether_ok(&["inspect", &strict, "--json"]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("train.event_min_frames.fall"), "{text}");
    let r_strict = eval(&strict, &[]);
    let (loose, tight) = (support(&r), support(&r_strict));
    assert!(
        tight > 0 && tight < loose,
        "fall windows: {tight} at 32 frames, {loose} at 16"
    );
    assert_eq!(
        r["window_rule"]["events"]["fall"], 16,
        "{}",
        r["window_rule"]
    );
    assert_eq!(r["window_rule"]["from_flags"], false);

    // `eval --events` replaces the model's rule: the 16-frame head scored by the 32-frame rule
    // gets exactly the strict head's truth windows and episodes.
    let r_override = eval(&model, &["--events", "fall:32"]);
    assert_eq!(support(&r_override), tight);
    assert_eq!(r_override["windows"], r_strict["windows"]);
    assert_eq!(
        r_override["events"][0]["episodes"],
        r_strict["events"][0]["episodes"]
    );
    assert_eq!(r_override["window_rule"]["events"]["fall"], 32);
    assert_eq!(r_override["window_rule"]["from_flags"], true);
    // --event-min-frames is the default for the events --events names, as in train.
    let r_min = eval(&model, &["--events", "fall", "--event-min-frames", "32"]);
    assert_eq!(r_min["windows"], r_strict["windows"]);
    assert_eq!(r_min["window_rule"]["events"]["fall"], 32);
    for (extra, needle) in [
        (&["--events", "walk"][..], "not a class of the model"),
        (
            &["--events", "fall:0"],
            "between 1 and the model's window (32)",
        ),
        (
            &["--events", "fall", "--event-min-frames", "33"],
            "--event-min-frames 33 must be between 1 and the model's window (32)",
        ),
        (&["--events", "fall:x"], "must be a whole number"),
        (&["--event-min-frames", "32"], "--events"),
    ] {
        let mut a = vec!["eval", "--model", &model, "--data", &test_dir];
        a.extend_from_slice(extra);
        let out = aether(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{extra:?}: {err}"
        );
    }
    for bad in ["fall:0", "fall:129", "fall:x", ":16", "fall:16,fall"] {
        args[12] = bad;
        let out = aether(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--events"),
            "{bad}: {err}"
        );
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// `eval` fuses the nodes of one recording: each window's decision averages its class
/// probabilities with the other node's latest window. The test recording gives node 1 a
/// walking capture and node 2 an empty room's frames (half a hop later, all labelled walking),
/// so the nodes disagree alone; `run --fuse` must print exactly what `eval` scores, from the
/// file, and fuse live over loopback.
#[test]
fn eval_fuses_each_recordings_nodes() {
    let tmp = std::env::temp_dir().join(format!("aether-fuse-{}", std::process::id()));
    let path = |d: &str| tmp.join(d).display().to_string();
    // One installation (one room, one static channel) throughout.
    simulate_8s(&tmp.join("train"), "walking", 1, Some(7));
    simulate_8s(&tmp.join("train"), "empty", 2, Some(7));
    simulate_8s(&tmp.join("parts"), "walking", 3, Some(7));
    simulate_8s(&tmp.join("parts"), "empty", 4, Some(7));
    let model = path("m.rvne");
    aether_ok(&[
        "train",
        "--data",
        &path("train"),
        "--out",
        &model,
        "--epochs",
        "3",
        "--window",
        "32",
        "--hop",
        "8",
        "--quiet",
    ]);
    // Node 1's frames of each part capture, as JSON values.
    let node1 = |scenario: &str| -> Vec<serde_json::Value> {
        let dir = std::fs::read_dir(tmp.join("parts")).unwrap();
        let file = (dir.map(|e| e.unwrap().path()))
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&format!("sim-{scenario}-")) && name.ends_with(".csi.jsonl")
            })
            .unwrap();
        (std::fs::read_to_string(file).unwrap().lines())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["node_id"] == 1)
            .collect()
    };
    let (walking, empty) = (node1("walking"), node1("empty"));
    // Node 1 the walk, node 2 the empty room 50 ms (5/8 of a hop of 8 frames at 100 Hz)
    // later; with `cut` both fall silent for a second at 3 s (each restarts) and node 2 stops
    // at 6.5 s.
    let t0 = walking[0]["timestamp"].as_f64().unwrap();
    let build = |cut: bool| -> String {
        let mut frames: Vec<(f64, serde_json::Value)> = Vec::new();
        for (w, e) in walking.iter().zip(&empty) {
            let t = w["timestamp"].as_f64().unwrap() - t0;
            if cut && (3.0..4.0).contains(&t) {
                continue;
            }
            frames.push((t, w.clone()));
            if cut && t + 0.05 > 6.5 {
                continue;
            }
            let mut e = e.clone();
            e["node_id"] = 2.into();
            e["timestamp"] = (t0 + t + 0.05).into();
            frames.push((t + 0.05, e));
        }
        frames.sort_by(|a, b| a.0.total_cmp(&b.0));
        frames.iter().map(|(_, v)| format!("{v}\n")).collect()
    };
    std::fs::create_dir_all(tmp.join("test")).unwrap();
    let label = "start_s,end_s,label\n0,100,walking\n";
    let mixed = path("test/mixed.csi.jsonl");
    std::fs::write(&mixed, build(true)).unwrap();
    std::fs::write(tmp.join("test/mixed.segments.csv"), label).unwrap();
    let windows_file = path("windows.jsonl");
    let out = aether_ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        &path("test"),
        "--json",
        "--windows",
        &windows_file,
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = check_windows(&windows_file, &r);
    let fused = &r["fused"];
    check_report(fused);
    assert_eq!(fused["windows"], r["windows"]);
    let accuracy = |r: &serde_json::Value, node: usize| {
        let n = &r["per_node"][node];
        assert_eq!(n["node_id"].as_u64(), Some(node as u64 + 1), "{r}");
        n["accuracy"].as_f64().unwrap()
    };
    // Alone, node 1 sees the walk and node 2 an empty room.
    assert!(accuracy(&r, 0) > accuracy(&r, 1) + 0.5, "{}", r["per_node"]);

    // `run --input` decides on the same windows (every window is labelled walking here).
    let run_lines = |input: &str, fuse: bool| -> Vec<serde_json::Value> {
        let mut a = vec!["run", "--model", &model, "--input", input, "--json"];
        if fuse {
            a.push("--fuse");
        }
        (String::from_utf8(aether_ok(&a).stdout).unwrap().lines())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (alone, fused_run) = (run_lines(&mixed, false), run_lines(&mixed, true));
    assert_eq!(alone.len(), fused_run.len());
    assert_eq!(alone.len() as u64, r["windows"].as_u64().unwrap());
    // `eval`'s fused report scores exactly the decisions `run --fuse` prints.
    let walking_calls = |lines: &[serde_json::Value]| -> u64 {
        lines
            .iter()
            .map(|d| u64::from(d["class"] == "walking"))
            .sum()
    };
    let classes = fused["confusion"]["classes"].as_array().unwrap();
    let w = classes.iter().position(|c| c == "walking").unwrap();
    let eval_walking = fused["confusion"]["matrix"][w][w].as_u64().unwrap();
    assert_eq!(walking_calls(&fused_run), eval_walking);
    let plain_walking = r["confusion"]["matrix"][w][w].as_u64().unwrap();
    assert_eq!(walking_calls(&alone), plain_walking);
    assert_ne!(eval_walking, plain_walking, "fusing changed no decision");
    // Window by window, `eval --windows` holds what `run` prints at the same instant of the
    // same node: the class and probabilities alone, and fused with the nodes named.
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
        a.len() == b.len()
            && (a.iter()).all(|(c, p)| (p.as_f64().unwrap() - b[c].as_f64().unwrap()).abs() < 1e-5)
    };
    // Each node's frame times in the recording, seconds from its first frame.
    let mut times: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    let recording = std::fs::read_to_string(&mixed).unwrap();
    let frames: Vec<serde_json::Value> = (recording.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = frames[0]["timestamp"].as_f64().unwrap();
    for v in &frames {
        let at = v["timestamp"].as_f64().unwrap() - first;
        times
            .entry(v["node_id"].as_u64().unwrap())
            .or_default()
            .push(at);
    }
    for row in &rows {
        let at = |lines: &[serde_json::Value]| -> serde_json::Value {
            let t = row["t_s"].as_f64().unwrap();
            (lines.iter())
                .find(|d| {
                    d["node_id"] == row["node_id"] && (d["t_s"].as_f64().unwrap() - t).abs() < 1e-6
                })
                .unwrap_or_else(|| panic!("no run line for {row}"))
                .clone()
        };
        let (own, f) = (at(&alone), at(&fused_run));
        assert_eq!(row["class"], own["class"], "{row} {own}");
        assert!(close(&row["probs"], &own["probs"]), "{row} {own}");
        assert_eq!(row["fused_class"], f["class"], "{row} {f}");
        assert!(close(&row["fused_probs"], &f["probs"]), "{row} {f}");
        assert_eq!(row["fused_nodes"], f["fused_nodes"], "{row} {f}");
        // The window's first frame is its node's 31st before the last.
        let node_times = &times[&row["node_id"].as_u64().unwrap()];
        let t = row["t_s"].as_f64().unwrap();
        let last = (node_times.iter())
            .position(|&x| (x - t).abs() < 1e-6)
            .unwrap();
        let start = row["start_s"].as_f64().unwrap();
        assert!((node_times[last - 31] - start).abs() < 1e-6, "{row}");
        assert_eq!(
            (row["truth"].as_str(), row["truth_frames"].as_u64()),
            (Some("walking"), Some(32))
        );
    }
    // Each fused line is the mean of its own decision and the other node's latest one at or
    // before it; after node 2 stops, node 1's lines go on alone once node 2's last decision
    // is over 1.5 hops old.
    let probs = |d: &serde_json::Value| -> [f64; 2] {
        ["empty", "walking"].map(|c| d["probs"][c].as_f64().unwrap())
    };
    let (mut both, mut only_1) = (0, 0);
    for (own, f) in alone.iter().zip(&fused_run) {
        assert_eq!(
            (own["t_s"].clone(), own["node_id"].clone()),
            (f["t_s"].clone(), f["node_id"].clone())
        );
        let t = f["t_s"].as_f64().unwrap();
        let other = 3 - f["node_id"].as_u64().unwrap();
        let latest =
            (alone.iter()).rfind(|d| d["node_id"] == other && d["t_s"].as_f64().unwrap() <= t);
        // The age limit, 1.5 hops of ~0.08 s: clearly inside or clearly past it.
        let age = latest.map(|d| t - d["t_s"].as_f64().unwrap());
        match age {
            Some(a) if a <= 0.1 => assert_eq!(f["fused_nodes"], serde_json::json!([1, 2]), "{f}"),
            Some(a) if a < 0.14 => {}
            _ => assert_ne!(f["fused_nodes"], serde_json::json!([1, 2]), "{f}"),
        }
        if f["fused_nodes"] == serde_json::json!([1, 2]) {
            both += 1;
            let (o, p, q) = (probs(own), probs(latest.unwrap()), probs(f));
            for c in 0..2 {
                assert!(
                    (q[c] - (o[c] + p[c]) / 2.0).abs() < 1e-6,
                    "{f} from {own} and {p:?}"
                );
            }
        } else {
            assert_eq!(
                f["fused_nodes"],
                serde_json::json!([f["node_id"].clone()]),
                "{f}"
            );
            assert_eq!(probs(f), probs(own));
            only_1 += usize::from(f["node_id"] == 1 && t > 6.5);
        }
    }
    assert!(
        both > alone.len() / 2,
        "{both} of {} lines fused",
        alone.len()
    );
    assert!(
        only_1 > 5,
        "{only_1} lines of node 1 alone after node 2 stopped"
    );

    // Live, over loopback at 4x the recording's pace (no cut): a decision fuses the other
    // node's latest unless that is over 1.5 hops old, which only a delayed datagram makes it
    // here (the host is shared), so nearly every line names both nodes.
    let live_file = path("live.csi.jsonl");
    std::fs::write(&live_file, build(false)).unwrap();
    let frames = std::fs::read_to_string(&live_file).unwrap().lines().count();
    let max = frames.to_string();
    let (child, mut stderr, to) = spawn_listening(&[
        "run",
        "--model",
        &model,
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--fuse",
        "--max-packets",
        &max,
        "--duration",
        "60",
    ]);
    let reader = RecordingReader::open(std::path::Path::new(&live_file)).unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let opts = ReplayOptions {
        speed: 4.0,
        ..ReplayOptions::default()
    };
    assert_eq!(
        replay(reader, &sender, to, &opts).unwrap().sent,
        frames as u64
    );
    let out = child.wait_with_output().unwrap();
    let mut summary = String::new();
    stderr.read_to_string(&mut summary).unwrap();
    assert!(out.status.success(), "{summary}");
    let live: Vec<serde_json::Value> = (String::from_utf8(out.stdout).unwrap().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(live.len() >= 20, "{} live decisions; {summary}", live.len());
    let mut both = 0;
    for d in &live {
        let nodes = d["fused_nodes"].as_array().unwrap();
        assert!(nodes.contains(&d["node_id"]), "{d}");
        both += usize::from(d["fused_nodes"] == serde_json::json!([1, 2]));
        let total: f64 = probs(d).iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{d}");
    }
    assert!(
        both * 10 >= live.len() * 9,
        "{both} of {} live decisions fused both nodes",
        live.len()
    );

    // One node per recording: nothing to fuse.
    let single: String = walking.iter().map(|w| format!("{w}\n")).collect();
    std::fs::create_dir_all(tmp.join("single")).unwrap();
    std::fs::write(tmp.join("single/walking.csi.jsonl"), single).unwrap();
    std::fs::write(tmp.join("single/walking.segments.csv"), label).unwrap();
    let out = aether_ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        &path("single"),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["fused"].is_null(), "{}", r["fused"]);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// 8 s of a simulated `scenario` into `out`: in installation `Some(i)` of a random room, or
/// (`None`) in the lab, whose installation is the seed.
fn simulate_8s(out: &std::path::Path, scenario: &str, seed: u64, installation: Option<u64>) {
    let seed = seed.to_string();
    let out = out.display().to_string();
    let mut args = vec![
        "simulate",
        "--scenario",
        scenario,
        "--seconds",
        "8",
        "--seed",
        &seed,
    ];
    let installation = installation.map(|i| i.to_string());
    if let Some(i) = &installation {
        args.extend(["--installation", i, "--room", "random"]);
    }
    args.extend(["--out", &out]);
    aether_ok(&args);
}

/// Simulated installations: a head trained on frames referenced to each installation's
/// empty-room capture, scored calibrated per session from the test data itself.
#[test]
fn simulated_installations_are_calibrated_per_session() {
    let tmp = std::env::temp_dir().join(format!("aether-sim-sessions-{}", std::process::id()));
    let sim = |dir: &str, scenario: &str, seed: u64, installation: u64| {
        simulate_8s(&tmp.join(dir), scenario, seed, Some(installation));
    };
    for i in [1, 2] {
        sim("train", "empty", i, i);
        sim("train", "walking", 100 + i, i);
    }
    sim("test", "empty", 3, 3);
    sim("test", "walking", 103, 3);
    // A session with no empty-room capture cannot be calibrated.
    sim("test", "walking", 104, 4);
    sim("orphan", "walking", 105, 5);
    let model = tmp.join("m.rvne").display().to_string();
    let path = |d: &str| tmp.join(d).display().to_string();
    aether_ok(&[
        "train",
        "--data",
        &path("train"),
        "--out",
        &model,
        "--epochs",
        "2",
        "--window",
        "32",
        "--hop",
        "16",
        "--reference",
        "--idle-class",
        "empty",
    ]);

    let windows_file = path("windows.jsonl");
    let out = aether_ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        &path("test"),
        "--calibrate-sessions",
        "--json",
        "--windows",
        &windows_file,
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "calibrated");
    // --windows holds the calibrated windows: none of the left-out installation 4, and the
    // empty room's only after its 5 s of reference.
    let rows = check_windows(&windows_file, &r);
    assert!(rows
        .iter()
        .all(|w| !w["file"].as_str().unwrap().contains("-i4-")));
    let empty_rows: Vec<_> = (rows.iter()).filter(|w| w["truth"] == "empty").collect();
    assert!(!empty_rows.is_empty());
    assert!(
        (empty_rows.iter()).all(|w| w["start_s"].as_f64().unwrap() >= 5.0),
        "{empty_rows:?}"
    );
    let left_out: Vec<&str> = r["calibration_left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Every node of the installation-4 capture, nothing else.
    assert!(!left_out.is_empty(), "{left_out:?}");
    assert!(left_out.iter().all(|f| f.contains("-i4-")), "{left_out:?}");
    let (zs, cal) = (&r["zero_shot"], &r["calibrated"]);
    // Calibrated scoring drops installation 4 and the 5 s reference of installation 3.
    let (nz, nc) = (
        zs["windows"].as_u64().unwrap(),
        cal["windows"].as_u64().unwrap(),
    );
    assert!(nc > 0 && nc < nz, "zero-shot {nz} windows, calibrated {nc}");
    check_report(cal);
    check_report(zs);

    let out = aether(&[
        "eval",
        "--model",
        &model,
        "--data",
        &path("orphan"),
        "--calibrate-sessions",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no session"), "{err}");

    // `tune` scores a referenced head per session too, and refuses to without a reference.
    let (tuned, test_dir) = (path("tuned.rvne"), path("test"));
    let tune = |extra: &[&str]| {
        let mut a = vec![
            "tune", "--model", &model, "--data", &test_dir, "--class", "walking", "--recall",
            "0.9", "--out", &tuned, "--json",
        ];
        a.extend_from_slice(extra);
        aether(&a)
    };
    let out = tune(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--calibrate-sessions"),
        "{err}"
    );
    assert!(!std::path::Path::new(&tuned).exists());
    let out = tune(&["--calibrate-sessions", "--idle-class", "empty"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let walking = (cal["per_class"].as_array().unwrap().iter())
        .find(|c| c["class"] == "walking")
        .unwrap();
    assert_eq!(t["windows"], walking["support"], "{t}");
    assert_eq!(t["before"]["recall"], walking["recall"], "{t}");
    assert!(t["after"]["recall"].as_f64().unwrap() >= 0.9, "{t}");
    assert_eq!(t["calibration_left_out"], r["calibration_left_out"], "{t}");
    // Scored as eval scores it, the tuned head gives the recall tune reported.
    let out = aether_ok(&[
        "eval",
        "--model",
        &tuned,
        "--data",
        &test_dir,
        "--calibrate-sessions",
        "--idle-class",
        "empty",
        "--json",
    ]);
    let rt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let walking = (rt["per_class"].as_array().unwrap().iter())
        .find(|c| c["class"] == "walking")
        .unwrap();
    let support = walking["support"].as_f64().unwrap();
    let got = walking["recall"].as_f64().unwrap();
    assert!(
        (got - t["after"]["recall"].as_f64().unwrap()).abs() <= 1.0 / support,
        "{t} {rt}"
    );

    // Uncalibrated, the referenced head would get raw frames: run refuses it.
    let out = aether(&["run", "--model", &model, "--input", &path("orphan")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aether calibrate"), "{err}");
    std::fs::remove_dir_all(tmp).unwrap();
}

/// A class that only validation groups hold gets an output no training window taught: the
/// run says so (stderr and `untrained_classes`) instead of shipping it silently.
#[test]
fn a_class_held_only_by_validation_is_named() {
    let tmp = std::env::temp_dir().join(format!("aether-untrained-{}", std::process::id()));
    let out_dir = tmp.join("d").display().to_string();
    for (scenario, seed, installation) in [
        ("empty", 1, 1),
        ("walking", 11, 1),
        ("empty", 2, 2),
        ("still", 12, 2),
    ] {
        simulate_8s(
            std::path::Path::new(&out_dir),
            scenario,
            seed,
            Some(installation),
        );
    }
    let model = tmp.join("m.rvne").display().to_string();
    let out = aether_ok(&[
        "train",
        "--data",
        &out_dir,
        "--out",
        &model,
        "--epochs",
        "1",
        "--window",
        "32",
        "--hop",
        "16",
        "--val",
        "session random-i2",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["val_groups"], serde_json::json!(["session random-i2"]));
    assert_eq!(r["untrained_classes"], serde_json::json!(["still"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no training window has class [\"still\"]"),
        "{err}"
    );
    // Split by chip, each simulated node is its own "chip": two views of the same events would
    // land on both sides.
    for (args, needle) in [
        (vec!["--split-by", "chip"], "on both sides"),
        (vec!["--leave-one-out", "chip"], "leave-one-out by chip"),
    ] {
        let mut a = vec![
            "train", "--data", &out_dir, "--out", &model, "--epochs", "1",
        ];
        a.extend(args);
        let out = aether(&a);
        assert!(!out.status.success(), "{a:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{a:?}: {err}");
    }
    std::fs::remove_dir_all(tmp).unwrap();
}

/// An output path that is one of the command's inputs is refused before anything is written:
/// `train --out` onto a recording, `calibrate --out` onto its data, `eval --png` onto the
/// model all used to replace the input.
#[test]
fn outputs_never_overwrite_inputs() {
    let tmp = std::env::temp_dir().join(format!("aether-out-in-{}", std::process::id()));
    let dir = tmp.join("d");
    for (scenario, seed) in [("empty", 1), ("walking", 2)] {
        aether_ok(&[
            "simulate",
            "--scenario",
            scenario,
            "--seconds",
            "6",
            "--seed",
            &seed.to_string(),
            "--out",
            &dir.display().to_string(),
        ]);
    }
    let recording = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("s1.csi.jsonl"))
        .unwrap();
    let before = std::fs::read(&recording).unwrap();
    let rec = recording.display().to_string();
    let data = dir.display().to_string();
    let refused = |args: &[&str], option: &str| {
        let out = aether(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(option) && err.contains("inputs"), "{err}");
    };
    refused(
        &["train", "--data", &data, "--out", &rec, "--epochs", "1"],
        "--out",
    );
    let model = tmp.join("m.rvne").display().to_string();
    aether_ok(&[
        "train",
        "--data",
        &data,
        "--out",
        &model,
        "--epochs",
        "1",
        "--window",
        "32",
        "--hop",
        "16",
        "--val-fraction",
        "0",
    ]);
    let model_bytes = std::fs::read(&model).unwrap();
    refused(
        &["eval", "--model", &model, "--data", &data, "--png", &model],
        "--png",
    );
    refused(
        &[
            "eval",
            "--model",
            &model,
            "--data",
            &data,
            "--windows",
            &rec,
        ],
        "--windows",
    );
    // Nor may one output overwrite the other.
    let same = tmp.join("same.out").display().to_string();
    let out = aether(&[
        "eval",
        "--model",
        &model,
        "--data",
        &data,
        "--png",
        &same,
        "--windows",
        &same,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the same file"),
        "{err}"
    );
    assert!(!std::path::Path::new(&same).exists());
    refused(
        &[
            "calibrate",
            "--model",
            &model,
            "--data",
            &rec,
            "--node",
            "1",
            "--out",
            &rec,
        ],
        "--out",
    );
    assert_eq!(std::fs::read(&recording).unwrap(), before);
    assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
    std::fs::remove_dir_all(tmp).unwrap();
}

/// The decorrelation features exist only from set 3 on, the temporal-band energies only in
/// set 4; an unknown set is named as such (all refused before any data is read).
#[test]
fn feature_names_belong_to_the_chosen_feature_set() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["--feature-set", "csi16", "--features", "decorr_growth"],
            "unknown feature \"decorr_growth\"",
        ),
        (
            &["--features", "corr_ref,temporal_energy_fast"],
            "unknown feature \"temporal_energy_fast\"",
        ),
        (&["--feature-set", "csi17"], "unknown feature set \"csi17\""),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "train",
            "--data",
            "/nonexistent/recordings",
            "--out",
            "/nonexistent/x.rvne",
        ];
        args.extend_from_slice(extra);
        let out = aether(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected), "{err}");
    }
}

/// Trains a one-epoch head on feature set `set` (window 32, hop 32) from two captures into
/// `tmp`; its path and the loaded head.
fn small_head(
    tmp: &std::path::Path,
    set: &str,
    base: &str,
    moving: &str,
) -> (String, aether_model::TemporalHead) {
    let m = tmp.join(format!("{set}.rvne")).display().to_string();
    aether_ok(&[
        "train",
        "--data",
        base,
        moving,
        "--out",
        &m,
        "--epochs",
        "1",
        "--window",
        "32",
        "--hop",
        "32",
        "--feature-set",
        set,
        "--split-by",
        "recording",
        "--quiet",
    ]);
    let head = aether_model::TemporalHead::from_bytes(&std::fs::read(&m).unwrap()).unwrap();
    (m, head)
}

/// `run --json --hop hop` decisions of the baseline/movement head at `model` against
/// `classify` over the frames each should cover: windows of 32 at `hop` from each segment's
/// first frame, each frame's first `input_dim` features.
fn check_run_decisions(
    model: &str,
    head: &aether_model::TemporalHead,
    input: &str,
    stream: &aether_train::data::Stream,
    hop: usize,
) {
    let dims = head.spec().input_dim;
    let mut scratch = aether_model::HeadScratch::new();
    let mut logits = vec![0f32; 2];
    let hop_s = hop.to_string();
    let out = aether_ok(&[
        "run", "--model", model, "--input", input, "--json", "--hop", &hop_s,
    ]);
    let decisions: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut starts = Vec::new();
    let segs = &stream.segments;
    for (i, &seg) in segs.iter().enumerate() {
        if i == 0 || segs[i - 1] != seg {
            let end = i + segs[i..].partition_point(|&x| x == seg);
            starts.extend((i..).step_by(hop).take_while(|s| s + 32 <= end));
        }
    }
    assert!(decisions.len() > 10, "{} decisions", decisions.len());
    assert_eq!(decisions.len(), starts.len(), "hop {hop}");
    for (k, (d, &start)) in decisions.iter().zip(&starts).enumerate() {
        let window: Vec<f32> = stream.features[start..start + 32]
            .iter()
            .flat_map(|f| f[..dims].to_vec())
            .collect();
        head.classify(&window, &mut logits, &mut scratch).unwrap();
        let m = logits.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
        let sum: f32 = e.iter().sum();
        for (c, name) in ["baseline", "movement"].iter().enumerate() {
            let got = d["probs"][*name].as_f64().unwrap() as f32;
            let want = e[c] / sum;
            assert!(
                (got - want).abs() < 1e-6,
                "hop {hop}, decision {k} {name}: {got} vs {want}"
            );
        }
        assert_eq!(d["t_s"].as_f64().unwrap(), stream.t_s[start + 31]);
    }
}

/// A head on feature set 4 (22 inputs, `--feature-set csi22`): the file records set 4, `eval`
/// scores it, `run` feeds it all 22 features of each frame (its decisions equal the head over
/// those windows), and `features --feature-set csi22` prints the 22 by name.
#[test]
fn a_set_4_head_is_trained_scored_and_run() {
    let Some(dir) = espectre() else { return };
    let f = |p: &str| dir.join(p).display().to_string();
    let base = f("baseline/baseline_c3_64sc_20260329_130303.npz");
    let moving = f("movement/movement_c3_64sc_20260329_130321.npz");
    let tmp = std::env::temp_dir().join(format!("aether-set4-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (m, head) = small_head(&tmp, "csi22", &base, &moving);
    assert_eq!((head.spec().input_dim, head.spec().feature_set), (22, 4));
    let out = aether_ok(&["eval", "--model", &m, "--data", &base, &moving, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report);
    let stream = aether_train::data::read_streams(
        std::path::Path::new(&moving),
        &aether_train::data::LabelSource::default(),
    )
    .unwrap()
    .remove(0);
    check_run_decisions(&m, &head, &moving, &stream, 32);
    let out = aether_ok(&[
        "features",
        "--input",
        &moving,
        "--feature-set",
        "csi22",
        "--every",
        "500",
        "--json",
    ]);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let mut names: Vec<&str> = first["features"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    names.sort_unstable();
    let mut want = aether_csi::CSI22_NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(
        names, want,
        "features --feature-set csi22 prints all 22 by name"
    );
    let bad = aether(&[
        "train",
        "--data",
        &base,
        "--out",
        &m,
        "--feature-set",
        "csi21",
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("known: csi16, csi19, csi22"),
        "{err}"
    );
    std::fs::remove_dir_all(&tmp).ok();
}

/// A head on feature set 1 (16 inputs) through `eval` and `run`: both feed it the first 16 of
/// the 22 features each frame keeps.
#[test]
fn a_set_1_head_is_scored_and_run() {
    let Some(dir) = espectre() else { return };
    let f = |p: &str| dir.join(p).display().to_string();
    let base = f("baseline/baseline_c5_64sc_20260329_124440.npz");
    let moving = f("movement/movement_c5_64sc_20260329_124504.npz");
    let tmp = std::env::temp_dir().join(format!("aether-set1-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (m, head) = small_head(&tmp, "csi16", &base, &moving);
    assert_eq!((head.spec().input_dim, head.spec().feature_set), (16, 1));
    let out = aether_ok(&["eval", "--model", &m, "--data", &base, &moving, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&report);
    // Each decision is the head over exactly the last `window` frames (32), as eval scores
    // windows and the device's window mode classifies its ring: at the training hop (32, the
    // ring in place) and at hop 5 (the ring rotated).
    let streams = aether_train::data::read_streams(
        std::path::Path::new(&moving),
        &aether_train::data::LabelSource::default(),
    )
    .unwrap();
    assert_eq!(streams.len(), 1);
    for hop in [32usize, 5] {
        check_run_decisions(&m, &head, &moving, &streams[0], hop);
    }
    // A 2 s gap (the extractor restarts and settles again): no window spans it, in `run` as
    // in training (`cut_windows`).
    let gapped = tmp.join("gap.jsonl");
    let mut w = aether_io::ruview::RuviewWriter::create(&gapped).unwrap();
    let mut k = 0;
    for rec in aether_io::recording::RecordingReader::open(&moving).unwrap() {
        let mut rec = rec.unwrap();
        if let aether_io::record::Record::Csi(f) = &mut rec {
            k += 1;
            if k > 400 {
                f.t_s += 2.0;
            }
        }
        w.write(&rec).unwrap();
    }
    w.finish().unwrap();
    let gapped = gapped.display().to_string();
    let gap_streams = aether_train::data::read_streams(
        std::path::Path::new(&gapped),
        &aether_train::data::LabelSource::default(),
    )
    .unwrap();
    let segs = &gap_streams[0].segments;
    assert_eq!(
        (segs.first(), segs.last()),
        (Some(&1), Some(&2)),
        "two segments"
    );
    for hop in [32usize, 5] {
        check_run_decisions(&m, &head, &gapped, &gap_streams[0], hop);
    }
    // Two nodes, emitted: each node's packets are numbered 1, 2, 3, ... (the spec's `seq` is
    // per device), to an IPv6 receiver where the machine has IPv6 loopback.
    let two = tmp.join("two.jsonl");
    let mut w = aether_io::ruview::RuviewWriter::create(&two).unwrap();
    for rec in aether_io::recording::RecordingReader::open(&moving).unwrap() {
        let rec = rec.unwrap();
        w.write(&rec).unwrap();
        if let aether_io::record::Record::Csi(mut f) = rec {
            f.node_id = 2;
            w.write(&aether_io::record::Record::Csi(f)).unwrap();
        }
    }
    w.finish().unwrap();
    let sock = UdpSocket::bind("[::1]:0").unwrap_or_else(|e| {
        eprintln!("no IPv6 loopback ({e}): emitting over IPv4");
        UdpSocket::bind("127.0.0.1:0").unwrap()
    });
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let out = aether_ok(&[
        "run",
        "--model",
        &m,
        "--input",
        &two.display().to_string(),
        "--json",
        "--emit",
        &addr,
    ]);
    let decisions = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(decisions > 20, "{decisions} decisions");
    let mut last = std::collections::BTreeMap::new();
    let mut buf = [0u8; 64];
    for _ in 0..decisions {
        let n = sock.recv(&mut buf).expect("one packet per decision");
        let repr =
            ClassificationRepr::parse(&ClassificationPacket::new_checked(&buf[..n]).unwrap())
                .unwrap();
        let prev = last.insert(repr.node_id, repr.seq).unwrap_or(0);
        assert_eq!(repr.seq, prev + 1, "node {}", repr.node_id);
    }
    let per_node: Vec<u32> = last.values().copied().collect();
    assert_eq!(per_node.len(), 2, "{last:?}");
    assert_eq!(per_node[0], per_node[1]);
    std::fs::remove_dir_all(&tmp).ok();
}

/// Names and options that match nothing are refused with a clear error (exit 1; usage errors
/// 2), never accepted silently: a `--label-map` or `--idle-class` name no recording carries,
/// data labelled with classes the model lacks, a movement capture or a whole folder as a
/// calibration reference, hop 0, a file that is not an RVNE v2 model. `gate` exits 3 when
/// it ran but a gate failed.
#[test]
fn names_and_options_that_match_nothing_are_refused() {
    let Some(dir) = espectre() else { return };
    let f = |p: &str| dir.join(p).display().to_string();
    let base = f("baseline/baseline_c3_64sc_20260329_130303.npz");
    let moving = f("movement/movement_c3_64sc_20260329_130321.npz");
    let tmp = std::env::temp_dir().join(format!("aether-refused-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let m = tmp.join("m.rvne").display().to_string();
    aether_ok(&[
        "train",
        "--data",
        &base,
        &moving,
        "--out",
        &m,
        "--epochs",
        "1",
        "--window",
        "32",
        "--hop",
        "32",
        "--val-fraction",
        "0",
        "--quiet",
    ]);
    let refused = |args: &[&str], code: i32, needle: &str| {
        let out = aether(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    };
    refused(
        &[
            "eval",
            "--model",
            &m,
            "--data",
            &base,
            "--label-map",
            "nosuch=baseline",
        ],
        1,
        "no recording carries such a label",
    );
    // The contrastive loop has no --init, --augment, --stop-after or --reference: refused,
    // not ignored (a run "from" an encoder started from random weights).
    let emb = tmp.join("e.rvne").display().to_string();
    for extra in [
        ["--init", m.as_str()],
        ["--augment", "0.5"],
        ["--stop-after", "1"],
        ["--reference", "--quiet"],
    ] {
        let mut args = vec![
            "train", "--task", "embed", "--data", &base, &moving, "--out", &emb, "--epochs", "1",
        ];
        args.extend(extra);
        refused(&args, 1, "--task embed does not take");
    }
    // One held-out recording: every rank-1 candidate would be a hit, so the gate refuses.
    refused(
        &[
            "gate",
            "--data",
            &base,
            &moving,
            "--split-by",
            "recording",
            "--epochs",
            "1",
        ],
        1,
        "rank-1 re-identification needs at least 2",
    );
    for (map, needle) in [
        ("movement=walking", "labels the model does not know"),
        ("movement=", "non-empty"),
        ("movement=a,movement=b", "twice"),
        (",", "empty entry"),
        ("movement=a,,", "empty entry"),
        // Renames apply once, to the recordings' own labels, which the error lists.
        (
            "movement=a,a=b",
            "labels found: {\"baseline\", \"movement\"}",
        ),
    ] {
        refused(
            &[
                "eval",
                "--model",
                &m,
                "--data",
                &base,
                &moving,
                "--label-map",
                map,
            ],
            1,
            needle,
        );
    }
    for span in ["--span=-1-3", "--span=5-2", "--span=abc"] {
        refused(&["eval", "--model", &m, "--data", &base, span], 1, "--span");
    }
    // A missing value, or one clap takes for an option, is a usage error naming it.
    refused(
        &["eval", "--span", "--model", &m, "--data", &base],
        2,
        "--span",
    );
    refused(
        &["eval", "--model", &m, "--data", &base, "--span", "-1-3"],
        2,
        "-1",
    );
    refused(
        &[
            "train",
            "--data",
            &base,
            &moving,
            "--out",
            &m,
            "--idle-class",
            "nosuch",
        ],
        1,
        "idle class \"nosuch\" is not one of the classes",
    );
    refused(
        &[
            "train",
            "--data",
            &base,
            &moving,
            "--out",
            &m,
            "--calibrated",
        ],
        1,
        "--calibrated goes with --leave-one-out",
    );
    refused(
        &[
            "train", "--data", &base, &moving, "--out", &m, "--epochs", "0",
        ],
        1,
        "--epochs and --threads must be positive",
    );
    refused(
        &[
            "record",
            "--listen",
            "127.0.0.1:0",
            "--out",
            &m,
            "--duration",
            "1e20",
        ],
        1,
        "longer than a clock can count",
    );
    let out_dir = tmp.display().to_string();
    refused(
        &[
            "record",
            "--listen",
            "127.0.0.1:0",
            "--out",
            &out_dir,
            "--duration",
            "1",
        ],
        1,
        "is a directory",
    );
    let cal = tmp.join("cal.rvne").display().to_string();
    refused(
        &["calibrate", "--model", &m, "--data", &moving, "--out", &cal],
        1,
        "must be an empty-room capture",
    );
    refused(
        &[
            "calibrate",
            "--model",
            &m,
            "--data",
            &f("baseline"),
            "--out",
            &cal,
        ],
        1,
        "recordings: calibrate takes one",
    );
    assert!(!std::path::Path::new(&cal).exists(), "nothing written");
    refused(
        &["run", "--model", &m, "--input", &base, "--hop", "0"],
        1,
        "--hop must be at least 1",
    );
    refused(&["run", "--model", &m], 2, "--listen");
    let junk = tmp.join("junk.rvne");
    std::fs::write(&junk, b"not a model at all, just some bytes").unwrap();
    let junk = junk.display().to_string();
    refused(
        &["eval", "--model", &junk, "--data", &base],
        1,
        &format!("{junk}: not a valid RVNE v2 model"),
    );
    let v1 = tmp.join("v1.rvne").display().to_string();
    aether_ok(&["init-random", "--out", &v1]);
    refused(
        &["run", "--model", &v1, "--input", &base],
        1,
        "an RVNE v1 file",
    );

    // Values and paths found before anything trains or writes (tenth session's CLI audit).
    // Checkpoint paths that would share a file with the state file or the model, also
    // when spelled differently (`..`).
    let ck_json = tmp.join("ck.json").display().to_string();
    let tmp_name = tmp.file_name().unwrap().to_string_lossy().into_owned();
    let ck_as_model = tmp
        .join("..")
        .join(&tmp_name)
        .join("m.rvne")
        .display()
        .to_string();
    let train_with = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["train", "--data", &base, &moving, "--out", &m, "--quiet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    for (extra, needle) in [
        (vec!["--lr", "NaN"], "--lr NaN is not a learning rate"),
        (vec!["--weight-decay", "NaN"], "--weight-decay NaN"),
        (vec!["--val-fraction", "2"], "--val-fraction 2 must be"),
        (vec!["--augment", "NaN"], "--augment NaN"),
        (vec!["--augment", "1e30"], "must be in 0..=10"),
        (vec!["--patience", "0"], "--patience must be at least 1"),
        (
            vec!["--checkpoint", &ck_json],
            "name the checkpoint something else",
        ),
        (
            vec!["--checkpoint", &ck_as_model],
            "name the checkpoint something else",
        ),
        (
            vec!["--events", "nosuch"],
            "no recording carries such a label",
        ),
        (
            vec!["--task", "embed", "--resume"],
            "--task embed keeps no checkpoint",
        ),
        (
            vec!["--task", "embed", "--monitor", "f1"],
            "--monitor f1 applies to --task classify",
        ),
    ] {
        let a = train_with(&extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&a, 1, needle);
    }
    let a_dir = tmp.join("a-dir");
    std::fs::create_dir_all(&a_dir).unwrap();
    let a_dir_s = a_dir.display().to_string();
    refused(
        &[
            "train", "--data", &base, &moving, "--out", &a_dir_s, "--quiet",
        ],
        1,
        "is a directory, not a file",
    );
    let missing = tmp.join("no-such-dir/m.rvne").display().to_string();
    refused(
        &[
            "train", "--data", &base, &moving, "--out", &missing, "--quiet",
        ],
        1,
        "does not exist",
    );
    refused(
        &[
            "eval", "--model", &m, "--data", &base, &moving, "--png", &a_dir_s,
        ],
        1,
        "is a directory, not a PNG file",
    );
    assert_eq!(
        std::fs::read_dir(&tmp)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .display()
                .to_string()
                .contains(".tmp"))
            .count(),
        0,
        "no temporary file left behind"
    );
    refused(
        &["run", "--model", &m, "--input", &dir.display().to_string()],
        1,
        "is a folder; run streams one recording",
    );
    // calibrate's empty-room class can be named; frames of any other class are refused.
    let cal2 = tmp.join("cal2.rvne").display().to_string();
    refused(
        &[
            "calibrate",
            "--model",
            &m,
            "--data",
            &base,
            "--idle-class",
            "nosuch",
            "--out",
            &cal2,
        ],
        1,
        "--idle-class \"nosuch\" is not one of the model's classes",
    );
    refused(
        &[
            "calibrate",
            "--model",
            &m,
            "--data",
            &base,
            "--idle-class",
            "movement",
            "--out",
            &cal2,
        ],
        1,
        "a reference must be an empty-room capture",
    );
    refused(&["bench", "kernel", "--seconds", "NaN"], 1, "--seconds NaN");
    refused(
        &["bench", "kernel", "--configs", "bogus"],
        1,
        "not a bench config",
    );
    refused(&["bench", "head", "--n", "0"], 1, "--n 0 is outside");
    // An embedding head is not a classifier: run and eval say so.
    let emb = tmp.join("emb.rvne").display().to_string();
    aether_ok(&[
        "train",
        "--data",
        &base,
        &moving,
        "--task",
        "embed",
        "--embed-dim",
        "8",
        "--out",
        &emb,
        "--epochs",
        "1",
        "--window",
        "32",
        "--hop",
        "32",
        "--val-fraction",
        "0",
        "--quiet",
    ]);
    refused(
        &["run", "--model", &emb, "--input", &base],
        1,
        "is an embedding head",
    );
    refused(
        &["eval", "--model", &emb, "--data", &base],
        1,
        "an embedding head",
    );
    // Nobody listening at --emit: the decisions go on, the packets are counted as lost.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = aether(&[
        "run", "--model", &m, "--input", &moving, "--json", "--emit", &port,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 2);
    assert!(err.contains("packets were not delivered"), "{err}");

    // gate: exit 0 only when every gate passes, 3 when one fails (the JSON says which).
    let (base2, moving2) = (
        f("baseline/baseline_c3_64sc_20260329_130411.npz"),
        f("movement/movement_c3_64sc_20260329_130429.npz"),
    );
    let out = aether(&[
        "gate", "--data", &base, &moving, &base2, &moving2, "--epochs", "1", "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Latency at the window the heads were trained on (64, train's default), the one they
    // deploy at.
    assert_eq!(r["deployed_window"], 64, "{r}");
    // Each gate's verdict follows from its own value and threshold (losses and rank-1 gaps
    // must stay below, ρ and the speed-up reach), and the exit code from all four.
    let gates = r["gates"].as_array().unwrap();
    let names: Vec<&str> = gates.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "contrastive_loss_within_1pct",
            "rank1_within_1_point",
            "spearman_top50",
            "latency_speedup_5x"
        ],
        "{r}"
    );
    let mut all = true;
    // The spec's thresholds (§7.3): 1 %, 1 point, ρ 0.95, 5x.
    for ((g, at_most), want) in gates
        .iter()
        .zip([true, true, false, false])
        .zip([0.01, 1.0, 0.95, 5.0])
    {
        let (value, threshold) = (g["value"].as_f64(), g["threshold"].as_f64().unwrap());
        assert_eq!(threshold, want, "{g}");
        let pass = value.is_some_and(|v| {
            if at_most {
                v <= threshold
            } else {
                v >= threshold
            }
        });
        assert_eq!(g["pass"].as_bool(), Some(pass), "{g}");
        all &= pass;
    }
    assert_eq!(r["all_pass"].as_bool(), Some(all), "{r}");
    assert_eq!(out.status.code(), Some(if all { 0 } else { 3 }), "{r}");
    std::fs::remove_dir_all(&tmp).ok();
}

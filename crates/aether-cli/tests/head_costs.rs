//! `aether inspect` cost figures (from aether-model) and `aether bench head`, through the binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use aether_model::{HeadParams, HeadSpec, TemporalHead, TensorDtype};
use serde_json::Value;

fn aether(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running aether")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("aether-cli-head-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn inspect_json(path: &str) -> Value {
    let out = aether(&["inspect", path, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn inspect_reports_costs_of_the_seed_file() {
    let dir = TempDir::new("v1");
    let path = dir.file("model_init.rvne");
    assert!(aether(&["init-random", "--out", &path]).status.success());
    let j = inspect_json(&path);
    let head = TemporalHead::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(j["params"], 10_304);
    assert_eq!(j["window_frames"], 256);
    assert_eq!(j["macs_per_window"], head.macs_per_window(256));
    assert_eq!(j["macs_per_frame"], head.macs_per_frame(256));
    assert_eq!(j["ram_bytes_n256"], head.ram_bytes(256).unwrap());
    assert!(j["model_error"].is_null());
    // v1 projections per frame: 2 layers x (16x128 + 2x16x32 + 128x16) = 10,240 MACs.
    assert!(j["macs_per_window"].as_u64().unwrap() > 256 * 10_240);
    let text = String::from_utf8(aether(&["inspect", &path]).stdout).unwrap();
    assert!(text.contains("MACs per window of 256 frames"), "{text}");
}

#[test]
fn inspect_reports_costs_of_v2_heads_in_every_dtype() {
    let dir = TempDir::new("v2");
    let p = HeadParams::random(&HeadSpec::default_v2(), 5).unwrap();
    let mut ram = vec![];
    for (dtype, name) in [
        (TensorDtype::F32, "f32"),
        (TensorDtype::F16, "f16"),
        (TensorDtype::Int8, "int8"),
    ] {
        let path = dir.file(&format!("head_{name}.rvne"));
        let bytes = p.to_rvne_v2(dtype).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let j = inspect_json(&path);
        let head = TemporalHead::from_bytes(&bytes).unwrap();
        for key in [
            "version",
            "dtype",
            "input_dim",
            "n_q_heads",
            "n_kv_heads",
            "head_dim",
            "n_layers",
            "n_classes",
            "weights_len",
            "crc32",
            "crc_ok",
            "params",
            "macs_per_window",
            "macs_per_frame",
            "ram_bytes_n256",
        ] {
            assert!(!j[key].is_null(), "{key} missing in {j}");
        }
        assert_eq!(j["version"], 2);
        assert_eq!(j["dtype"], name);
        assert_eq!(j["n_classes"], 4);
        assert_eq!(j["params"], HeadSpec::default_v2().params());
        assert_eq!(j["macs_per_window"], head.macs_per_window(256));
        assert_eq!(j["macs_per_frame"], head.macs_per_frame(256));
        ram.push(j["ram_bytes_n256"].as_u64().unwrap());
    }
    // f16 is widened to f32 at load; int8 stays int8 in memory.
    assert_eq!(ram[0], ram[1]);
    assert!(ram[2] < ram[0]);
}

#[test]
fn inspect_of_a_v2_file_that_is_no_head_says_why() {
    let dir = TempDir::new("nohead");
    let path = dir.file("x.rvne");
    let mut b = aether_rvne::v2::RvneV2Builder::new();
    b.meta_u32("d_model", 2);
    b.add_tensor(
        "head.weight",
        TensorDtype::F32,
        &[2, 2],
        &[1.0, 2.0, 3.0, 4.0],
    )
    .unwrap();
    std::fs::write(&path, b.to_bytes().unwrap()).unwrap();
    let j = inspect_json(&path);
    assert!(j["macs_per_window"].is_null());
    assert!(
        j["model_error"].as_str().unwrap().contains("missing"),
        "{j}"
    );
}

#[test]
fn bench_head_prints_json_rows_with_same_run_ratios() {
    let out = aether(&[
        "bench",
        "head",
        "--json",
        "--n",
        "16",
        "--t",
        "8",
        "--dtypes",
        "f32,int8",
        "--seconds",
        "0.01",
        "--probe",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 2 dtypes x (full N=16, stream T=8) x (sparse, dense).
    assert_eq!(rows.len(), 8, "{rows:?}");
    for r in &rows {
        assert!(r["median_us"].as_f64().unwrap() > 0.0);
        assert!(r["macs"].as_u64().unwrap() > 0);
        if r["backend"] == "sparse" {
            assert!(r["sparse_over_dense"].as_f64().is_some(), "{r}");
        }
        if r["op"] == "stream" {
            assert!(r["stream_over_full"].as_f64().is_some(), "{r}");
        }
    }
}

//! `aether init-random` and `aether inspect` on model files, through the built binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use aether_rvne::v2::{RvneV2Builder, TensorDtype};
use serde_json::Value;

const GOLDEN_SHA256: &str = "7c6c074ef3b6b23b4d9ae2327deaade81329f003c3a52b59581492c08252d49d";

fn aether(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("running aether")
}

/// A fresh directory per test (removed at the end of the test).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("aether-cli-{tag}-{}", std::process::id()));
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

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn init_random_writes_the_golden_file() {
    let dir = TempDir::new("init");
    let path = dir.file("model_init.rvne");
    let out = aether(&["init-random", "--json", "--out", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    assert_eq!(j["sha256"], GOLDEN_SHA256);
    assert_eq!(j["bytes"], 41_244);
    assert_eq!(j["crc32"], "0xdc807956");
    assert_eq!(j["path"], path.as_str());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 41_244);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);

    // Text mode, explicit seed in decimal: the seed's summary line.
    let out = aether(&[
        "init-random",
        "--seed",
        "14200972946418433775",
        "--out",
        &path,
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("total 41244 bytes (header 24 + weights 41216 + crc 4)"),
        "{text}"
    );
    assert!(text.contains("10304 elements"), "{text}");

    // Another seed gives another file; seed 0 is refused.
    let out = aether(&["init-random", "--json", "--seed", "0x1234", "--out", &path]);
    assert!(out.status.success());
    assert_ne!(json_of(&out)["sha256"], GOLDEN_SHA256);
    assert!(!aether(&["init-random", "--seed", "0", "--out", &path])
        .status
        .success());
}

#[test]
fn inspect_describes_a_v1_file() {
    let dir = TempDir::new("inspect-v1");
    let path = dir.file("m.rvne");
    assert!(aether(&["init-random", "--out", &path]).status.success());
    let out = aether(&["inspect", &path, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    assert_eq!(j["version"], 1);
    assert_eq!(j["dtype"], "f32");
    assert_eq!(j["input_dim"], 16);
    assert_eq!(j["n_q_heads"], 4);
    assert_eq!(j["n_kv_heads"], 1);
    assert_eq!(j["head_dim"], 32);
    assert_eq!(j["n_layers"], 2);
    assert_eq!(j["n_classes"], 4);
    assert_eq!(j["weights_len"], 41_216);
    assert_eq!(j["crc32"], "0xdc807956");
    assert_eq!(j["crc_ok"], true);
    assert_eq!(j["params"], 10_304);
    let tensors = j["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 9);
    assert_eq!(tensors[0]["name"], "layers.0.wq");
    assert_eq!(tensors[0]["shape"], serde_json::json!([16, 128]));
    assert_eq!(tensors[8]["name"], "classifier");
    let total: u64 = tensors.iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
    assert_eq!(total, 41_216);

    let out = aether(&["inspect", &path]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("RVNE v1") && text.contains("0xdc807956 ok"),
        "{text}"
    );
}

#[test]
fn inspect_describes_a_v2_file() {
    let dir = TempDir::new("inspect-v2");
    let path = dir.file("m2.rvne");
    let mut b = RvneV2Builder::new();
    b.meta_u32("input_dim", 3)
        .meta_u32("n_out", 2)
        .meta_str("output_kind", "classes")
        .meta_str_array("class_names", &["empty", "occupied"]);
    b.add_tensor("input_proj.weight", TensorDtype::Int8, &[4, 3], &[0.5; 12])
        .unwrap();
    b.add_tensor("input_proj.bias", TensorDtype::F32, &[4], &[0.0; 4])
        .unwrap();
    std::fs::write(&path, b.to_bytes().unwrap()).unwrap();
    let out = aether(&["inspect", "--json", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    assert_eq!(j["version"], 2);
    assert_eq!(j["dtype"], "int8");
    assert_eq!(j["input_dim"], 3);
    assert_eq!(j["n_classes"], 2);
    assert_eq!(j["n_layers"], Value::Null);
    assert_eq!(j["params"], 16);
    assert_eq!(j["weight_bytes_by_dtype"]["int8"], 4 * 4 + 12);
    assert_eq!(j["weight_bytes_by_dtype"]["f32"], 16);
    assert_eq!(j["tensors"][0]["name"], "input_proj.weight");
    assert_eq!(
        j["meta"][3]["value"],
        serde_json::json!(["empty", "occupied"])
    );
    assert_eq!(j["crc_ok"], true);
}

/// Names from the file (metadata keys, tensor names) are printed escaped: a key holding an
/// escape sequence cannot drive the terminal.
#[test]
fn inspect_escapes_names_from_the_file() {
    let dir = TempDir::new("inspect-escape");
    let path = dir.file("esc.rvne");
    let mut b = RvneV2Builder::new();
    b.meta_u32("input_dim", 3)
        .meta_u32("n_out", 2)
        .meta_str("\u{1b}]0;owned\u{7}", "x");
    b.add_tensor("bias\u{1b}[2J", TensorDtype::F32, &[4], &[0.0; 4])
        .unwrap();
    std::fs::write(&path, b.to_bytes().unwrap()).unwrap();
    let out = aether(&["inspect", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("\\u{1b}]0;owned"), "{text}");
}

#[test]
fn inspect_rejects_corrupt_and_unknown_files() {
    let dir = TempDir::new("inspect-bad");
    let path = dir.file("bad.rvne");
    assert!(aether(&["init-random", "--out", &path]).status.success());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let out = aether(&["inspect", "--json", &path]);
    assert!(!out.status.success());
    let j = json_of(&out);
    assert_eq!(j["crc_ok"], false);
    assert!(j["error"].as_str().unwrap().contains("CRC"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRC"));

    std::fs::write(&path, &bytes[..30]).unwrap();
    let out = aether(&["inspect", &path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("length"));

    let other = dir.file("notes.txt");
    std::fs::write(&other, b"hello").unwrap();
    let out = aether(&["inspect", &other]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognised"));
    std::fs::write(&other, b"").unwrap();
    let out = aether(&["inspect", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty file"));
}

#[test]
fn inspect_flags_a_v1_payload_that_contradicts_its_shape() {
    // Valid per the seed's parse (it never ties weights_len to the shape), unusable as a model.
    let dir = TempDir::new("inspect-shape");
    let path = dir.file("short.rvne");
    let blob = aether_rvne::WeightBlob::new(
        aether_rvne::WeightBlobHeader::DEFAULT_AETHER,
        vec![0; 8_192],
    )
    .unwrap();
    std::fs::write(&path, blob.serialize()).unwrap();
    let out = aether(&["inspect", "--json", &path]);
    assert!(!out.status.success());
    let j = json_of(&out);
    assert_eq!(j["shape_ok"], false);
    assert_eq!(j["crc_ok"], true);
    assert_eq!(j["weights_len"], 8_192);
    // Only layer 0's Wq fits.
    assert_eq!(j["tensors"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shape"));
}

/// Output into a pipe nobody reads (`aether inspect F | head` after head exits) ends the
/// process quietly: no panic message, killed by SIGPIPE like other command-line tools.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("closed-pipe");
    let model = dir.file("m.rvne");
    assert!(aether(&["init-random", "--out", &model]).status.success());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_aether"))
        .args(["inspect", &model, "--json"])
        .env_remove("RUST_BACKTRACE")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "{:?} {stderr}", out.status);
}

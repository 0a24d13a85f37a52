//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `/work/shared` seen from this crate (`crates/aether-csi` -> `../../../shared`).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Path of a shared data file. `None` (with a printed reason) only when the whole `shared`
/// directory is absent; a missing file while `shared` exists fails the test.
pub fn shared_file(rel: &str) -> Option<PathBuf> {
    let shared = shared_dir();
    if !shared.is_dir() {
        eprintln!(
            "SKIP: {} is absent, so the real-data test cannot run",
            shared.display()
        );
        return None;
    }
    let p = shared.join("data").join(rel);
    assert!(
        p.is_file(),
        "shared data file {} is missing while ../shared exists",
        p.display()
    );
    Some(p)
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// xorshift64* with a fixed seed: reproducible "random" bytes without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A RuView JSONL raw_csi line: (timestamp seconds, node id, I/Q bytes).
pub struct RawLine {
    pub timestamp: f64,
    pub node_id: u8,
    pub size: usize,
    pub subcarriers: usize,
    pub iq: Vec<u8>,
}

pub fn ruview_raw_lines() -> Option<Vec<RawLine>> {
    let path = shared_file("ruview/pretrain-1775182186.csi.jsonl")?;
    let text = std::fs::read_to_string(&path).expect("read recording");
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        if v["type"] != "raw_csi" {
            continue;
        }
        out.push(RawLine {
            timestamp: v["timestamp"].as_f64().expect("timestamp"),
            node_id: v["node_id"].as_u64().expect("node_id") as u8,
            size: v["size"].as_u64().expect("size") as usize,
            subcarriers: v["subcarriers"].as_u64().expect("subcarriers") as usize,
            iq: hex_decode(v["iq_hex"].as_str().expect("iq_hex")),
        });
    }
    Some(out)
}

/// One ESPectre capture: label, chip, and frames as raw ESP-IDF I/Q bytes with timestamps.
pub struct Capture {
    pub label: String,
    pub chip: String,
    pub file: String,
    pub frames: Vec<(u64, Vec<u8>)>,
}

/// Every `.npz` under `espectre/{baseline,movement}`; timestamps spread packets evenly over
/// `duration_ms` (the files store no per-packet time).
pub fn espectre_captures() -> Option<Vec<Capture>> {
    if !shared_dir().is_dir() {
        eprintln!(
            "SKIP: {} is absent, so the ESPectre test cannot run",
            shared_dir().display()
        );
        return None;
    }
    let mut out = Vec::new();
    for label in ["baseline", "movement"] {
        let dir = shared_dir().join("data/espectre").join(label);
        assert!(
            dir.is_dir(),
            "{} is missing while ../shared exists",
            dir.display()
        );
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no captures in {}", dir.display());
        for path in files {
            let mut npz = npyz::npz::NpzArchive::open(&path).expect("open npz");
            let csi = npz
                .by_name("csi_data")
                .expect("read")
                .expect("csi_data member");
            let shape = csi.shape().to_vec();
            let data: Vec<i8> = csi.into_vec().expect("int8 csi_data");
            let dur = npz
                .by_name("duration_ms")
                .unwrap()
                .unwrap()
                .into_vec::<f64>()
                .unwrap()[0];
            let chip_arr = npz.by_name("chip").unwrap().unwrap();
            let chip = format!("{:?}", chip_arr.into_vec::<String>().expect("chip"));
            let (n, w) = (shape[0] as usize, shape[1] as usize);
            let frames = (0..n)
                .map(|i| {
                    let t = (i as f64 * dur * 1000.0 / n as f64) as u64;
                    (
                        t,
                        data[i * w..(i + 1) * w].iter().map(|&b| b as u8).collect(),
                    )
                })
                .collect();
            out.push(Capture {
                label: label.to_string(),
                chip,
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                frames,
            });
        }
    }
    Some(out)
}

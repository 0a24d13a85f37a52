//! Links with memory.x on bare-metal targets and generates the test models: the default v2 head
//! (f32 and int8) with random weights, the frames the program classifies, and the logits the
//! host model computes for them (the program's expected values).

use aether_csi::{
    FeatureExtractor, CSI16_DIMS, CSI19_DIMS, CSI22_DIMS, FEATURE_SET_CSI19, FEATURE_SET_CSI22,
};
use aether_model::{HeadParams, HeadScratch, HeadSpec, TemporalHead, TensorDtype};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Frames in the classify window (the default head's window).
const WINDOW: usize = 256;
const SEED: u64 = 0x0E5B_32C3;

/// Must equal `frame_value` in src/main.rs.
fn frame_value(t: usize, j: usize) -> f32 {
    (((t * 29 + j * 13) % 23) as f32 - 11.0) * 0.125
}

/// Raw CSI frames pushed through push_csi: the settling frames (not stored), then more than
/// the window, so the ring wraps.
const CSI_FRAMES: usize = aether_csi::SETTLE_FRAMES + WINDOW + 44;

/// Must equal `iq_byte` in src/main.rs: I/Q byte `i` (imaginary, real per subcarrier) of frame `t`.
fn iq_byte(t: usize, i: usize) -> u8 {
    ((((i * 7 + t * 3) % 53) as i32 - 26 + if i % 2 == 1 { 20 } else { 0 }) as i8) as u8
}

/// Must equal `csi_ts` in src/main.rs: 100 Hz timestamps.
fn csi_ts(t: usize) -> u64 {
    5_000_000 + t as u64 * 10_000
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    // cfg(target_feature = "f") is not set on stable for RISC-V; name the target instead.
    println!(
        "cargo:rustc-env=RUV_QEMU_TARGET={}",
        std::env::var("TARGET").unwrap()
    );
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        std::fs::copy(manifest.join("memory.x"), out.join("memory.x")).unwrap();
        println!("cargo:rustc-link-search={}", out.display());
        println!("cargo:rustc-link-arg-bins=-Tmemory.x");
    }
    let spec = HeadSpec::default_v2();
    let params = HeadParams::random(&spec, SEED).unwrap();
    let window: Vec<f32> = (0..WINDOW)
        .flat_map(|t| (0..spec.input_dim).map(move |j| frame_value(t, j)))
        .collect();
    let mut consts = String::new();
    for (name, dtype) in [("f32", TensorDtype::F32), ("int8", TensorDtype::Int8)] {
        let bytes = params.to_rvne_v2(dtype).unwrap();
        std::fs::write(out.join(format!("model_{name}.rvne")), &bytes).unwrap();
        let head = TemporalHead::from_bytes(&bytes).unwrap();
        let mut logits = vec![0.0f32; spec.n_out];
        head.classify(&window, &mut logits, &mut HeadScratch::new())
            .unwrap();
        let macs_window = head.macs_per_window(WINDOW);
        let macs_frame = head.macs_per_frame(WINDOW);
        let upper = name.to_uppercase();
        let _ = writeln!(
            consts,
            "/// Host logits of the {name} model over the {WINDOW}-frame window."
        );
        let _ = writeln!(
            consts,
            "pub const EXPECTED_{upper}: [f32; {}] = {logits:?};",
            logits.len()
        );
        let _ = writeln!(
            consts,
            "/// MACs of one window classify (aether-model cost model)."
        );
        let _ = writeln!(
            consts,
            "pub const MACS_WINDOW_{upper}: u64 = {macs_window};"
        );
        let _ = writeln!(consts, "/// MACs of one streamed frame at a full window.");
        let _ = writeln!(consts, "pub const MACS_FRAME_{upper}: u64 = {macs_frame};");
    }
    // Raw CSI -> aether-csi features (host) -> the f32 model over the last WINDOW frames: the
    // default head on feature set 1, one on set 3 (19 inputs) and one on set 4 (22).
    let mut fx = FeatureExtractor::new();
    let mut feats = Vec::new();
    for t in 0..CSI_FRAMES {
        let iq: Vec<u8> = (0..128).map(|i| iq_byte(t, i)).collect();
        let mut f = [0.0f32; CSI22_DIMS];
        fx.extract_iq(csi_ts(t), &iq, &mut f).unwrap();
        feats.push(f);
    }
    let set_model = |name: &str, dims: usize, set: u16| {
        let mut set_spec = spec.clone();
        set_spec.input_dim = dims;
        set_spec.feature_set = u32::from(set);
        let bytes = HeadParams::random(&set_spec, SEED)
            .unwrap()
            .to_rvne_v2(TensorDtype::F32)
            .unwrap();
        std::fs::write(out.join(format!("model_{name}.rvne")), &bytes).unwrap();
        bytes
    };
    let cases = [
        (
            "CSI_F32",
            params.to_rvne_v2(TensorDtype::F32).unwrap(),
            CSI16_DIMS,
        ),
        (
            "CSI19_F32",
            set_model("csi19", CSI19_DIMS, FEATURE_SET_CSI19),
            CSI19_DIMS,
        ),
        (
            "CSI22_F32",
            set_model("csi22", CSI22_DIMS, FEATURE_SET_CSI22),
            CSI22_DIMS,
        ),
    ];
    for (name, bytes, dims) in cases {
        let window: Vec<f32> = feats[CSI_FRAMES - WINDOW..]
            .iter()
            .flat_map(|f| f[..dims].iter().copied())
            .collect();
        let head = TemporalHead::from_bytes(&bytes).unwrap();
        let mut logits = vec![0.0f32; spec.n_out];
        head.classify(&window, &mut logits, &mut HeadScratch::new())
            .unwrap();
        let _ = writeln!(
            consts,
            "/// Host logits after CSI_FRAMES raw CSI frames (aether-csi features, {dims} per frame)."
        );
        let _ = writeln!(
            consts,
            "pub const EXPECTED_{name}: [f32; {}] = {logits:?};",
            logits.len()
        );
    }
    let _ = writeln!(
        consts,
        "/// Raw CSI frames pushed.\npub const CSI_FRAMES: usize = {CSI_FRAMES};"
    );
    let _ = writeln!(
        consts,
        "/// Frames per window.\npub const WINDOW: usize = {WINDOW};"
    );
    let _ = writeln!(
        consts,
        "/// Features per frame.\npub const INPUT_DIM: usize = {};",
        spec.input_dim
    );
    let _ = writeln!(
        consts,
        "/// Classes.\npub const N_CLASSES: usize = {};",
        spec.n_out
    );
    std::fs::write(out.join("generated.rs"), consts).unwrap();
}

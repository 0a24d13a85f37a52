//! Writes the inputs and the host model's expected outputs for the C tests
//! (`scripts/c-tests.sh`): `cargo run --release -p ruv-temporal --example ctest_fixtures -- DIR`.
//!
//! Everything expected here comes from `aether-model` and `aether-csi` directly, never from the
//! library under test. Files (all little-endian):
//! - `model_v2_f32.rvne`, `model_v2_int8.rvne`: the default v2 head (`HeadSpec::default_v2`,
//!   random weights, seed 7), f32 and int8 matrices; `model_v1.rvne`: the seed's v1 blob;
//!   `model_small.rvne`: a 1-layer head (for exhaustive bit flips); `model_embed.rvne`: an
//!   embedding head; `model_dense.rvne`: the f32 head marked dense-trained (refused);
//!   `model_state9.rvne`: a head on feature set 2 (9 inputs); `model_dim256.rvne`: input_dim 256
//!   (the Kconfig maximum).
//! - `frames.f32`: `FRAMES` frames of 16 floats.
//! - `expect_<model>.f32`: for each checkpoint `c` in `CHECKPOINTS`, the model's outputs over the
//!   last `min(c, WINDOW)` of the first `c` frames.
//! - `csi.iq`: `CSI_FRAMES` raw I/Q buffers of 128 bytes (64 subcarriers, imaginary then real);
//!   `csi.ts`: their u64 timestamps (100 Hz, with a 1 s gap before buffer `CSI_GAP_AT`);
//!   `expect_csi.f32`: the v2 f32 model's logits after each of `CSI_CHECKPOINTS` buffers, over
//!   the features aether-csi computes from them, stored as training stores them: each run
//!   between restarts (the first buffer, the gap) drops its first `SETTLE_FRAMES`, and no window
//!   spans the gap; NaN logits where no frame is stored yet (classify: `ESP_ERR_INVALID_STATE`);
//!   `model_csi19.rvne`: the default head on feature set 3 (19 inputs), and `expect_csi19.f32`
//!   its logits over the same buffers; `model_csi22.rvne` / `expect_csi22.f32` the same on
//!   feature set 4 (22 inputs).

use aether_csi::{
    FeatureExtractor, CSI16_DIMS, CSI19_DIMS, CSI22_DIMS, FEATURE_SET_CSI19, FEATURE_SET_CSI22,
};
use aether_model::{HeadParams, HeadScratch, HeadSpec, OutputKind, TemporalHead, TensorDtype};
use aether_rvne::{init_random_blob, WeightBlobHeader, DEFAULT_INIT_SEED};
use std::path::{Path, PathBuf};

/// Frames in the window the C tests init with.
const WINDOW: usize = 64;
/// Frames in `frames.f32`.
const FRAMES: usize = 100;
/// After how many frames the C tests classify.
const CHECKPOINTS: [usize; 4] = [1, 10, 64, 100];
/// Raw CSI buffers.
const CSI_FRAMES: usize = 200;
/// The buffer that follows a 1 s gap (the extractor restarts there).
const CSI_GAP_AT: usize = 130;
/// After how many raw CSI buffers the C tests classify: while settling (nothing stored), the
/// first stored frame, a part window, a full one, settling again after the gap, then after it.
const CSI_CHECKPOINTS: [usize; 7] = [30, 51, 100, 130, 170, 185, 200];
const SEED: u64 = 7;

fn frame_value(t: usize, j: usize) -> f32 {
    // Deterministic, varied, within a few units.
    let x = ((t * 37 + j * 11) % 29) as f32 / 29.0;
    (x - 0.5) * 3.0 + (j as f32) * 0.05
}

fn iq_byte(t: usize, k: usize, imag: bool) -> u8 {
    let v = if imag {
        ((k * 11 + t * 5) % 37) as i32 - 18
    } else {
        ((k * 7 + t * 3) % 41) as i32 - 20 + 25
    };
    v as i8 as u8
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Outputs at each checkpoint over the last `min(c, WINDOW)` of the first `c` frames.
fn expected(head: &TemporalHead, frames: &[Vec<f32>]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut scratch = HeadScratch::new();
    for &c in &CHECKPOINTS {
        let window: Vec<f32> = frames[c.saturating_sub(WINDOW)..c].concat();
        let mut y = vec![0.0f32; head.spec().n_out];
        head.run(&window, &mut y, &mut scratch).expect("host model");
        out.extend(y);
    }
    out
}

/// Outputs after each of `CSI_CHECKPOINTS` buffers, over the stored frames (a run's first
/// `SETTLE_FRAMES` dropped; the window starts empty at the gap); NaN where none is stored.
/// The rule is written out here from the timestamps, not taken from the extractor.
fn expected_csi(head: &TemporalHead, features: &[Vec<f32>]) -> Vec<f32> {
    let run_start = |t: usize| if t >= CSI_GAP_AT { CSI_GAP_AT } else { 0 };
    let mut out = Vec::new();
    let mut scratch = HeadScratch::new();
    for &c in &CSI_CHECKPOINTS {
        let first_stored = run_start(c - 1) + aether_csi::SETTLE_FRAMES;
        let mut y = vec![f32::NAN; head.spec().n_out];
        if c > first_stored {
            let window = features[first_stored.max(c.saturating_sub(WINDOW))..c].concat();
            head.run(&window, &mut y, &mut scratch).expect("host model");
        }
        out.extend(y);
    }
    out
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: ctest_fixtures DIR"));
    std::fs::create_dir_all(&dir).expect("create output dir");

    // Trained (as far as the file says) on the window the C tests init with: the ESP-IDF task
    // refuses another one.
    let spec = HeadSpec {
        window_len: WINDOW,
        ..HeadSpec::default_v2()
    };
    let params = HeadParams::random(&spec, SEED).expect("params");
    let frames: Vec<Vec<f32>> = (0..FRAMES)
        .map(|t| (0..spec.input_dim).map(|j| frame_value(t, j)).collect())
        .collect();
    write(&dir, "frames.f32", &f32_bytes(&frames.concat()));

    let v1 = init_random_blob(WeightBlobHeader::DEFAULT_AETHER, DEFAULT_INIT_SEED)
        .expect("v1 blob")
        .serialize();
    let mut small_spec = spec.clone();
    small_spec.n_layers = 1;
    small_spec.d_model = 8;
    small_spec.d_ff = 16;
    small_spec.q_heads = 2;
    small_spec.head_dim = 4;
    let small = HeadParams::random(&small_spec, SEED)
        .expect("small")
        .to_rvne_v2(TensorDtype::F32);
    let mut embed_spec = spec.clone();
    embed_spec.output_kind = OutputKind::Embedding;
    embed_spec.n_out = 8;
    embed_spec.class_names.clear();
    let embed = HeadParams::random(&embed_spec, SEED)
        .expect("embed")
        .to_rvne_v2(TensorDtype::F32);
    let mut state9_spec = spec.clone();
    state9_spec.input_dim = 9;
    state9_spec.feature_set = 2;
    let state9 = HeadParams::random(&state9_spec, SEED)
        .expect("state9")
        .to_rvne_v2(TensorDtype::F32);

    let mut dim256_spec = small_spec.clone();
    dim256_spec.input_dim = 256;
    dim256_spec.feature_set = 0;
    // No trained window named: the task may pick its own (check_max_dim uses 32).
    dim256_spec.window_len = 0;
    let dim256 = HeadParams::random(&dim256_spec, SEED)
        .expect("dim256")
        .to_rvne_v2(TensorDtype::F32);
    let models: Vec<(&str, Vec<u8>)> = vec![
        ("v2_f32", params.to_rvne_v2(TensorDtype::F32).expect("f32")),
        (
            "v2_int8",
            params.to_rvne_v2(TensorDtype::Int8).expect("int8"),
        ),
        ("v1", v1),
        ("small", small.expect("small bytes")),
        ("embed", embed.expect("embed bytes")),
        ("state9", state9.expect("state9 bytes")),
        ("dim256", dim256.expect("dim256 bytes")),
    ];
    // The f32 head marked as trained with dense attention: init and the heap planners refuse
    // it (the library runs the sparse kernel).
    {
        let view = aether_rvne::v2::RvneV2View::parse(&models[0].1).expect("v2");
        let mut b = aether_rvne::v2::RvneV2Builder::new();
        for e in view.meta_entries() {
            b.meta_value(e.key, e.value);
        }
        b.meta_str("train.attention", "dense");
        for t in view.tensors() {
            b.add_tensor(t.name(), t.dtype(), t.shape(), &t.to_f32_vec())
                .expect("tensor");
        }
        write(
            &dir,
            "model_dense.rvne",
            &b.to_bytes().expect("dense bytes"),
        );
    }
    for (name, bytes) in &models {
        write(&dir, &format!("model_{name}.rvne"), bytes);
        let head = TemporalHead::from_bytes(bytes).expect("load");
        if head.spec().input_dim == spec.input_dim {
            write(
                &dir,
                &format!("expect_{name}.f32"),
                &f32_bytes(&expected(&head, &frames)),
            );
        }
    }

    // Raw CSI through the shared feature extractor, then the v2 f32 model.
    let mut iq = Vec::new();
    let mut ts = Vec::new();
    // Every frame's set 4; sets 1 and 3 are its prefixes.
    let mut features22 = Vec::new();
    // The same buffers as a classic ESP32 with an invalid first word would report them.
    let mut features22_fwi = Vec::new();
    let mut fx = FeatureExtractor::new();
    let mut fx_fwi = FeatureExtractor::new().with_first_word_invalid(true);
    for t in 0..CSI_FRAMES {
        let buf: Vec<u8> = (0..64)
            .flat_map(|k| [iq_byte(t, k, true), iq_byte(t, k, false)])
            .collect();
        let stamp = 1_000_000 + t as u64 * 10_000 + if t >= CSI_GAP_AT { 1_000_000 } else { 0 };
        let mut f = [0.0f32; CSI22_DIMS];
        fx.extract_iq(stamp, &buf, &mut f).expect("features");
        iq.extend_from_slice(&buf);
        ts.extend_from_slice(&stamp.to_le_bytes());
        features22.push(f.to_vec());
        fx_fwi.extract_iq(stamp, &buf, &mut f).expect("features");
        features22_fwi.push(f.to_vec());
    }
    let prefix = |frames: &[Vec<f32>], dims: usize| -> Vec<Vec<f32>> {
        frames.iter().map(|f| f[..dims].to_vec()).collect()
    };
    write(&dir, "csi.iq", &iq);
    write(&dir, "csi.ts", &ts);
    let head = TemporalHead::from_bytes(&models[0].1).expect("load");
    write(
        &dir,
        "expect_csi.f32",
        &f32_bytes(&expected_csi(&head, &prefix(&features22, CSI16_DIMS))),
    );
    write(
        &dir,
        "expect_csi_fwi.f32",
        &f32_bytes(&expected_csi(&head, &prefix(&features22_fwi, CSI16_DIMS))),
    );
    for (name, dims, set) in [
        ("csi19", CSI19_DIMS, FEATURE_SET_CSI19),
        ("csi22", CSI22_DIMS, FEATURE_SET_CSI22),
    ] {
        let mut set_spec = spec.clone();
        set_spec.input_dim = dims;
        set_spec.feature_set = u32::from(set);
        let bytes = HeadParams::random(&set_spec, SEED)
            .expect(name)
            .to_rvne_v2(TensorDtype::F32)
            .expect(name);
        write(&dir, &format!("model_{name}.rvne"), &bytes);
        let head = TemporalHead::from_bytes(&bytes).expect(name);
        write(
            &dir,
            &format!("expect_{name}.f32"),
            &f32_bytes(&expected_csi(&head, &prefix(&features22, dims))),
        );
        write(
            &dir,
            &format!("expect_{name}_fwi.f32"),
            &f32_bytes(&expected_csi(&head, &prefix(&features22_fwi, dims))),
        );
    }
    println!("fixtures written to {}", dir.display());
}

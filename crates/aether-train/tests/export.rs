//! The exported RVNE v2 file, loaded by the device-side aether-model, gives the logits of the
//! candle training graph; calibration keeps every other tensor and metadata entry.

use aether_model::TemporalHead;
use aether_rvne::v2::{RvneV2View, TensorDtype};
use aether_train::model::{
    class_bias_key, export_rvne_v2, load_rvne_v2, with_calibration, with_class_bias, AttnBackend,
    ExportMeta, HeadConfig, HeadNet, Rng,
};
use candle_core::{DType, Device, Tensor};

fn meta(cfg: &HeadConfig, rng: &mut Rng) -> ExportMeta {
    ExportMeta {
        feature_set: 1,
        frame_rate_hz: 100.0,
        window_len: 48,
        hop: 16,
        window_labels: aether_train::data::WindowLabels {
            events: vec!["walk".into(), "movement".into()],
            event_min_frames: 12,
            min_frames_by_event: [("movement".to_string(), 30)].into(),
        },
        class_names: vec!["baseline".into(), "movement".into(), "walk".into()],
        input_mean: (0..cfg.input_dim).map(|_| rng.normal() as f32).collect(),
        input_std: (0..cfg.input_dim)
            .map(|_| 0.5 + rng.unit() as f32)
            .collect(),
        calib: None,
        needs_reference: false,
        trained_attention: AttnBackend::Sparse,
        idle_ref: Some((
            (0..cfg.input_dim).map(|_| rng.normal() as f32).collect(),
            (0..cfg.input_dim)
                .map(|_| 0.5 + rng.unit() as f32)
                .collect(),
        )),
    }
}

fn trained_like(seed: u64) -> (HeadNet, ExportMeta, Vec<f32>) {
    let cfg = HeadConfig::motion(16, 3);
    let net = HeadNet::new(cfg.clone(), AttnBackend::Sparse, seed, DType::F32).unwrap();
    let mut rng = Rng::new(seed);
    // Non-trivial norms and biases, as after training.
    for (name, v) in &net.params {
        if v.rank() == 1 {
            let n = v.elem_count();
            let base = if name.ends_with("norm1.weight")
                || name.ends_with("norm2.weight")
                || name == "final_norm.weight"
            {
                1.0
            } else {
                0.0
            };
            let d: Vec<f32> = (0..n).map(|_| base + 0.2 * rng.normal() as f32).collect();
            v.set(&Tensor::from_vec(d, n, &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let m = meta(&cfg, &mut rng);
    let frames: Vec<f32> = (0..48 * 16).map(|_| 2.0 * rng.normal() as f32).collect();
    (net, m, frames)
}

/// Candle logits for a raw window (normalised with the export's input stats).
fn candle_logits(net: &HeadNet, m: &ExportMeta, raw: &[f32]) -> Vec<f32> {
    let x: Vec<f32> = raw
        .chunks(16)
        .flat_map(|f| {
            f.iter()
                .enumerate()
                .map(|(d, v)| (v - m.input_mean[d]) / m.input_std[d])
                .collect::<Vec<_>>()
        })
        .collect();
    let t = Tensor::from_vec(x, (1, raw.len() / 16, 16), &Device::Cpu).unwrap();
    net.forward(&t)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn exported_file_gives_the_training_graph_logits_on_the_device_model() {
    let (net, m, raw) = trained_like(21);
    let bytes =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    let head = TemporalHead::from_bytes(&bytes).expect("aether-model loads the export");
    let mut scratch = aether_model::HeadScratch::for_head(&head, 48).unwrap();
    let mut logits = vec![0f32; 3];
    head.classify(&raw, &mut logits, &mut scratch).unwrap();
    let expect = candle_logits(&net, &m, &raw);
    for (a, e) in logits.iter().zip(&expect) {
        assert!(
            (a - e).abs() <= 1e-4,
            "device {logits:?} vs candle {expect:?}"
        );
    }
    // And the host loader reads back the same parameters and metadata.
    let back = load_rvne_v2(&bytes).unwrap();
    assert_eq!(back.cfg, net.cfg);
    assert_eq!(back.params, net.param_values().unwrap());
    assert_eq!(back.meta.class_names, m.class_names);
    assert_eq!(back.meta.window_len, 48);
    assert_eq!(back.meta.window_labels, m.window_labels);
    let again = back.net(AttnBackend::Sparse).unwrap();
    assert_eq!(candle_logits(&again, &m, &raw), expect);
}

#[test]
fn int8_and_f16_exports_stay_close() {
    let (net, m, raw) = trained_like(22);
    let expect = candle_logits(&net, &m, &raw);
    for (dtype, tol) in [(TensorDtype::F16, 2e-2), (TensorDtype::Int8, 0.25)] {
        let bytes = export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, dtype).unwrap();
        let head = TemporalHead::from_bytes(&bytes).unwrap();
        let mut scratch = aether_model::HeadScratch::for_head(&head, 48).unwrap();
        let mut logits = vec![0f32; 3];
        head.classify(&raw, &mut logits, &mut scratch).unwrap();
        let err = logits
            .iter()
            .zip(&expect)
            .map(|(a, e)| (a - e).abs())
            .map(|d| if d.is_nan() { f32::INFINITY } else { d })
            .fold(0f32, f32::max);
        assert!(err <= tol, "{dtype:?}: max logit error {err}");
        let view = RvneV2View::parse(&bytes).unwrap();
        assert_eq!(
            view.tensor("layers.0.attn.wq.weight").unwrap().dtype(),
            dtype
        );
        assert_eq!(
            view.tensor("layers.0.norm1.bias").unwrap().dtype(),
            TensorDtype::F32
        );
    }
}

/// [`trained_like`] exported as int8.
fn int8_export(seed: u64) -> (HeadNet, ExportMeta, Vec<f32>, Vec<u8>) {
    let (net, m, raw) = trained_like(seed);
    let params = net.param_values().unwrap();
    let bytes = export_rvne_v2(&net.cfg, &params, &m, TensorDtype::Int8).unwrap();
    (net, m, raw, bytes)
}

#[test]
fn calibration_adds_the_reference_and_keeps_the_rest() {
    let (net, m, _, bytes) = int8_export(23);
    let mean: Vec<f32> = (0..16).map(|i| i as f32 * 0.1).collect();
    let std: Vec<f32> = (0..16).map(|i| 1.0 + i as f32).collect();
    let cal = with_calibration(&bytes, &mean, &std).unwrap();
    let a = RvneV2View::parse(&bytes).unwrap();
    let b = RvneV2View::parse(&cal).unwrap();
    assert_eq!(a.meta_entries().count(), b.meta_entries().count());
    for e in a.meta_entries() {
        assert_eq!(b.meta(e.key), Some(e.value), "{}", e.key);
    }
    for t in a.tensors() {
        let u = b.tensor(t.name()).unwrap();
        assert_eq!(
            (u.dtype(), u.shape(), u.data()),
            (t.dtype(), t.shape(), t.data()),
            "{}",
            t.name()
        );
    }
    // The stored pair maps the node's empty-room stats onto the training ones:
    // (node_mean - calib.mean) / calib.std = idle_mean, node_std / calib.std = idle_std.
    let (im, is) = m.idle_ref.clone().unwrap();
    let cm = b.tensor("calib.mean").unwrap().to_f32_vec();
    let cs = b.tensor("calib.std").unwrap().to_f32_vec();
    for d in 0..16 {
        assert!(((mean[d] - cm[d]) / cs[d] - im[d]).abs() < 1e-4);
        assert!((std[d] / cs[d] - is[d]).abs() < 1e-5);
    }
    // Calibrating again replaces the reference.
    let twice = with_calibration(&cal, &std, &std).unwrap();
    let cm2 = RvneV2View::parse(&twice)
        .unwrap()
        .tensor("calib.mean")
        .unwrap()
        .to_f32_vec();
    let cs2 = RvneV2View::parse(&twice)
        .unwrap()
        .tensor("calib.std")
        .unwrap()
        .to_f32_vec();
    assert!(((std[3] - cm2[3]) / cs2[3] - im[3]).abs() < 1e-4);
    assert!(with_calibration(&bytes, &mean[..3], &std).is_err());
    let mut bad = std.clone();
    bad[2] = 0.0;
    assert!(with_calibration(&bytes, &mean, &bad).is_err());
    // Without training empty-room stats there is nothing to map onto.
    let mut m2 = m.clone();
    m2.idle_ref = None;
    let plain = export_rvne_v2(
        &net.cfg,
        &net.param_values().unwrap(),
        &m2,
        TensorDtype::F32,
    )
    .unwrap();
    assert!(with_calibration(&plain, &mean, &std).is_err());
}

#[test]
fn the_device_model_applies_the_node_reference_of_a_calibrated_file() {
    let (net, m, raw) = trained_like(29);
    let bytes =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    // A node whose empty room sits elsewhere than the training one.
    let node_mean: Vec<f32> = (0..16).map(|d| 0.3 * d as f32 - 2.0).collect();
    let node_std: Vec<f32> = (0..16).map(|d| 0.4 + 0.1 * d as f32).collect();
    let cal = with_calibration(&bytes, &node_mean, &node_std).unwrap();
    let view = RvneV2View::parse(&cal).unwrap();
    let cm = view.tensor("calib.mean").unwrap().to_f32_vec();
    let cs = view.tensor("calib.std").unwrap().to_f32_vec();

    // Host path (what `aether eval` scores): map each frame through calib.*, then the graph.
    let mapped: Vec<f32> = raw
        .chunks(16)
        .flat_map(|f| (0..16).map(|d| (f[d] - cm[d]) / cs[d]).collect::<Vec<_>>())
        .collect();
    let expect = candle_logits(&net, &m, &mapped);

    let head = TemporalHead::from_bytes(&cal).expect("aether-model loads a calibrated file");
    // Its parameter set has no place for the reference: refused, not silently dropped.
    assert!(aether_model::HeadParams::from_rvne_v2(&cal).is_err());
    assert!(aether_model::HeadParams::from_rvne_v2(&bytes).is_ok());
    let mut scratch = aether_model::HeadScratch::for_head(&head, 48).unwrap();
    let mut logits = vec![0f32; 3];
    head.classify(&raw, &mut logits, &mut scratch).unwrap();
    for (a, e) in logits.iter().zip(&expect) {
        assert!(
            (a - e).abs() <= 1e-4,
            "device {logits:?} vs host {expect:?}"
        );
    }
    // And the reference really changes the decision inputs: zero-shot logits differ.
    let plain = TemporalHead::from_bytes(&bytes).unwrap();
    let mut zero_shot = vec![0f32; 3];
    plain.classify(&raw, &mut zero_shot, &mut scratch).unwrap();
    assert!(zero_shot
        .iter()
        .zip(&logits)
        .any(|(a, b)| (a - b).abs() > 1e-3));
}

/// A dense A/B head says so in its file (`train.attention`), and loading it back gives the
/// dense backend, so `eval` and `run` score it with the attention it was trained with; a
/// sparse head's file carries no such entry (the default files are unchanged).
#[test]
fn a_dense_trained_head_is_marked_and_loaded_dense() {
    let (net, mut m, _) = trained_like(11);
    let sparse =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    assert!(RvneV2View::parse(&sparse)
        .unwrap()
        .meta("train.attention")
        .is_none());
    assert_eq!(
        load_rvne_v2(&sparse).unwrap().meta.trained_attention,
        AttnBackend::Sparse
    );
    m.trained_attention = AttnBackend::Dense;
    let dense =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    assert_eq!(
        load_rvne_v2(&dense).unwrap().meta.trained_attention,
        AttnBackend::Dense
    );
}

/// One change to a file: a u32 metadata entry's value, or every value of one tensor.
type Change<'a> = (Option<(&'a str, u32)>, Option<(&'a str, f32)>);

/// A copy of an RVNE v2 file with one metadata entry or one tensor's values replaced.
fn rewrite(bytes: &[u8], change: Change<'_>) -> Vec<u8> {
    rewrite_without(bytes, change, &[])
}

/// [`rewrite`], also leaving out the metadata entries named in `drop`.
fn rewrite_without(bytes: &[u8], (meta_u32, tensor): Change<'_>, drop: &[&str]) -> Vec<u8> {
    use aether_rvne::v2::{MetaValue, RvneV2Builder};
    let view = RvneV2View::parse(bytes).unwrap();
    let mut b = RvneV2Builder::new();
    for e in view.meta_entries().filter(|e| !drop.contains(&e.key)) {
        match (e.value, meta_u32) {
            (MetaValue::U32(_), Some((k, new))) if k == e.key => b.meta_u32(e.key, new),
            (v, _) => b.meta_value(e.key, v),
        };
    }
    for t in view.tensors() {
        let mut values = t.to_f32_vec();
        if let Some((name, v)) = tensor {
            if name == t.name() {
                values.fill(v);
            }
        }
        b.add_tensor(t.name(), t.dtype(), t.shape(), &values)
            .unwrap();
    }
    b.to_bytes().unwrap()
}

/// A file that leaves out the attention keys with documented defaults (`attn.global_tokens`
/// [0], `attn.log_stride` and `attn.landmarks` true; `docs/rvne.md`) is the same model to the
/// host loader (eval, calibrate, train --init) as to the runtime (run, the device): the host
/// once defaulted them to none, false and false.
#[test]
fn the_host_loader_takes_the_runtimes_defaults() {
    let (mut net, m, _) = trained_like(22);
    net.cfg.attn.window = 1;
    net.cfg.attn.block_size = 4;
    let bytes =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    let keys = [
        "attn.global_tokens",
        "attn.log_stride",
        "attn.landmarks",
        "feature_set",
    ];
    let bare = rewrite_without(&bytes, (None, None), &keys);
    let view = RvneV2View::parse(&bare).unwrap();
    assert!(keys.iter().all(|k| view.meta(k).is_none()));
    let runtime = aether_model::TemporalHead::from_bytes(&bare).unwrap();
    let host = load_rvne_v2(&bare).unwrap();
    assert_eq!(host.cfg.attn, runtime.spec().attn);
    assert_eq!(host.cfg.attn.global_tokens, [0]);
    assert!(host.cfg.attn.log_stride && host.cfg.attn.landmarks);
    assert_eq!(u32::from(host.meta.feature_set), runtime.spec().feature_set);
}

/// The host loader (eval, calibrate, train --init) refuses what the runtime refuses, before
/// metadata sizes any allocation: a 65 KB file naming 2^32 - 1 layers took 10 GB and aborted.
#[test]
fn the_host_loader_refuses_what_the_runtime_refuses() {
    let (net, m, _) = trained_like(21);
    let bytes =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    assert!(load_rvne_v2(&bytes).is_ok());
    let cases: [(Change<'_>, &str); 4] = [
        ((Some(("n_layers", u32::MAX)), None), "n_layers"),
        ((Some(("n_q_heads", 3)), None), "n_q_heads"),
        ((None, Some(("input.idle_std", 0.0))), "input.idle_std"),
        (
            (None, Some(("input.idle_mean", f32::NAN))),
            "input.idle_mean",
        ),
    ];
    for (change, named) in cases {
        let meta = change.0;
        let bad = rewrite(&bytes, change);
        let err = match load_rvne_v2(&bad) {
            Ok(_) => panic!("{named}: loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(named), "{named}: {err}");
        if meta.is_some() {
            assert!(TemporalHead::from_bytes(&bad).is_err(), "{named}");
        }
    }
}

/// `--init` loads an encoder only into the same architecture: fewer layers, or heads of
/// another layout with the same element count, used to load silently.
#[test]
fn init_needs_the_same_encoder_architecture() {
    use aether_train::train::load_encoder;
    let (net, m, _) = trained_like(22);
    let bytes =
        export_rvne_v2(&net.cfg, &net.param_values().unwrap(), &m, TensorDtype::F32).unwrap();
    let path = std::env::temp_dir().join(format!("aether-init-{}.rvne", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let new = |f: &dyn Fn(&mut HeadConfig)| {
        let mut cfg = HeadConfig::motion(16, 5);
        f(&mut cfg);
        HeadNet::new(cfg, AttnBackend::Sparse, 1, DType::F32).unwrap()
    };
    // Another class count is what fine-tuning is for.
    load_encoder(&new(&|_| {}), &path).unwrap();
    let fewer_layers = new(&|c| c.n_layers = 1);
    let err = load_encoder(&fewer_layers, &path).unwrap_err().to_string();
    assert!(err.contains("layers 2, this head 1"), "{err}");
    let relaid = new(&|c| {
        c.q_heads /= 2;
        c.kv_heads /= 2;
        c.head_dim *= 2;
    });
    let err = load_encoder(&relaid, &path).unwrap_err().to_string();
    assert!(err.contains("heads"), "{err}");
    std::fs::remove_file(path).unwrap();
}

/// A class bias moves that class's logit on the device model by exactly the bias and nothing
/// else: every other tensor keeps its bytes (int8 weights included), every metadata entry
/// stays, and the biases of repeated calls add up in `decision.class_bias.<class>`.
#[test]
fn a_class_bias_moves_one_logit_and_keeps_the_rest() {
    let (_, _, raw, bytes) = int8_export(24);
    let logits = |bytes: &[u8]| {
        let head = TemporalHead::from_bytes(bytes).unwrap();
        let mut scratch = aether_model::HeadScratch::for_head(&head, 48).unwrap();
        let mut out = vec![0f32; 3];
        head.classify(&raw, &mut out, &mut scratch).unwrap();
        out
    };
    let biased = with_class_bias(&bytes, "walk", 1.25).unwrap();
    let (a, b) = (logits(&bytes), logits(&biased));
    for c in 0..3 {
        let shift = if c == 2 { 1.25 } else { 0.0 };
        assert!((b[c] - a[c] - shift).abs() < 1e-5, "{a:?} -> {b:?}");
    }
    let (va, vb) = (
        RvneV2View::parse(&bytes).unwrap(),
        RvneV2View::parse(&biased).unwrap(),
    );
    for t in va.tensors() {
        let u = vb.tensor(t.name()).unwrap();
        assert_eq!(
            (u.dtype(), u.shape()),
            (t.dtype(), t.shape()),
            "{}",
            t.name()
        );
        if t.name() != "head.bias" {
            assert_eq!(u.data(), t.data(), "{}", t.name());
        }
    }
    for e in va.meta_entries() {
        assert_eq!(vb.meta(e.key), Some(e.value), "{}", e.key);
    }
    let key = class_bias_key("walk");
    assert_eq!(vb.meta_f32(&key), Some(1.25));
    // Again, the other way: the biases add up, in the logits and in the record.
    let twice = with_class_bias(&biased, "walk", -0.5).unwrap();
    assert!((logits(&twice)[2] - a[2] - 0.75).abs() < 1e-5);
    assert_eq!(
        RvneV2View::parse(&twice).unwrap().meta_f32(&key),
        Some(0.75)
    );
    assert_eq!(
        RvneV2View::parse(&twice).unwrap().meta_entries().count(),
        vb.meta_entries().count()
    );
    // The host loader reads the biased head back.
    assert!(load_rvne_v2(&twice).is_ok());
    let err = with_class_bias(&bytes, "run", 1.0).unwrap_err().to_string();
    assert!(err.contains("not one of the model's classes"), "{err}");
    assert!(with_class_bias(&bytes, "walk", f32::NAN).is_err());
}

//! Contrastive objective pieces on known inputs, the gate's ranking statistics, and an
//! embedding head trained briefly and exported to the device-side model.

use aether_csi::CSI19_DIMS;
use aether_model::TemporalHead;
use aether_train::data::{Stream, Window, FRAME_DIMS};
use aether_train::embed::{info_nce, train_embed, vicreg};
use aether_train::gate::{rank1, spearman_topk};
use aether_train::model::{Rng, TensorDtype};
use aether_train::train::{SplitBy, TrainOptions};
use candle_core::{Device, Tensor};

#[test]
fn info_nce_matches_a_hand_computation() {
    // Two pairs of unit vectors in 2-D: rows 0/2 and 1/3 are positives.
    let z = Tensor::new(
        &[[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, -0.6]],
        &Device::Cpu,
    )
    .unwrap();
    let t = 0.5;
    let got = info_nce(&z, t).unwrap().to_scalar::<f32>().unwrap() as f64;
    let v = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, -0.6]];
    let dot = |a: usize, b: usize| (v[a][0] * v[b][0] + v[a][1] * v[b][1]) / t;
    let mut expect = 0.0;
    for i in 0..4 {
        let pos = (i + 2) % 4;
        let lse = (0..4)
            .filter(|&j| j != i)
            .map(|j| f64::exp(dot(i, j)))
            .sum::<f64>()
            .ln();
        expect += lse - dot(i, pos);
    }
    expect /= 4.0;
    assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
}

#[test]
fn vicreg_terms_on_known_batches() {
    // Columns with std well above 1 and uncorrelated: both terms ~0.
    let z = Tensor::new(
        &[[3.0f32, 0.0], [-3.0, 0.0], [0.0, 3.0], [0.0, -3.0]],
        &Device::Cpu,
    )
    .unwrap();
    let (v, c) = vicreg(&z).unwrap();
    assert!(v.to_scalar::<f32>().unwrap().abs() < 1e-6);
    assert!(c.to_scalar::<f32>().unwrap().abs() < 1e-6);
    // Collapsed batch: variance term ~1 (std ~0.01), no covariance.
    let z = Tensor::new(&[[1.0f32, 2.0], [1.0, 2.0], [1.0, 2.0]], &Device::Cpu).unwrap();
    let (v, c) = vicreg(&z).unwrap();
    assert!((v.to_scalar::<f32>().unwrap() - 0.99).abs() < 1e-4);
    assert_eq!(c.to_scalar::<f32>().unwrap(), 0.0);
}

fn w(stream: usize, start: usize) -> Window {
    Window {
        stream,
        start,
        label: String::new(),
    }
}

#[test]
fn rank1_and_spearman_on_known_embeddings() {
    let z = vec![
        vec![1.0, 0.0],
        vec![0.99, 0.141],
        vec![0.0, 1.0],
        vec![0.141, 0.99],
    ];
    // Time spans of windows of `len` frames at one frame a second.
    let spans = |ws: &[Window], len: usize| -> Vec<(f64, f64)> {
        ws.iter()
            .map(|w| (w.start as f64, (w.start + len - 1) as f64))
            .collect()
    };
    // Streams 0 and 1 are two recordings.
    let own = [0, 1];
    let apart = [w(0, 0), w(0, 100), w(1, 0), w(1, 100)];
    assert_eq!(rank1(&z, &apart, &own, &spans(&apart, 64)), 1.0);
    let mixed = [w(0, 0), w(1, 0), w(0, 100), w(1, 100)];
    assert_eq!(rank1(&z, &mixed, &own, &spans(&mixed, 64)), 0.0);
    // Overlapping windows of one stream are no evidence: with starts 10 apart and 64-frame
    // windows, each query's nearest candidate is the other stream's window.
    let overlapping = [w(0, 0), w(0, 10), w(1, 0), w(1, 10)];
    assert_eq!(rank1(&z, &overlapping, &own, &spans(&overlapping, 64)), 0.0);
    assert_eq!(rank1(&z, &overlapping, &own, &spans(&overlapping, 5)), 1.0);
    // Two nodes (streams 0 and 1) of one recording: a hit is the recording, not the node.
    let one = [0, 0];
    assert_eq!(rank1(&z, &mixed, &one, &spans(&mixed, 64)), 1.0);
    // Windows 0 and 1 are nodes 0 and 1 of recording 0 at one moment (node 1's frame indices
    // start 200 later: the same time, not the same index), window 2 node 0 100 s later,
    // window 3 recording 1: the first three find each other past the excluded same-moment
    // window (hits), the last finds recording 0 (a miss).
    let z4 = vec![
        vec![1.0, 0.0],
        vec![0.99, 0.141],
        vec![0.95, 0.312],
        vec![0.0, 1.0],
    ];
    let four = [w(0, 0), w(1, 200), w(0, 100), w(2, 0)];
    let four_spans = [(0.0, 63.0), (0.0, 63.0), (100.0, 163.0), (0.0, 63.0)];
    assert_eq!(rank1(&z4, &four, &[0, 0, 1], &four_spans), 0.75);
    assert!((spearman_topk(&z, &z, 3) - 1.0).abs() < 1e-12);
    // A second embedding that reverses every neighbour order gives rho = -1.
    let flipped: Vec<Vec<f32>> = vec![
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![0.2, 0.98],
        vec![0.98, 0.2],
    ];
    let rho = spearman_topk(&z, &flipped, 3);
    assert!(rho < 0.0, "{rho}");
    // 40 windows on a circle, and a sparse embedding at twice the angle: the dense top 10 keep
    // their order in it (one way ~0.97), but half of sparse's top 10 are windows from the
    // opposite side. Both ways, ρ falls well below 0.95.
    let circle = |m: f32| -> Vec<Vec<f32>> {
        (0..40)
            .map(|i| {
                let a = m * std::f32::consts::TAU * i as f32 / 40.0;
                vec![a.cos(), a.sin()]
            })
            .collect()
    };
    let (dense, doubled) = (circle(1.0), circle(2.0));
    let one_way = aether_train::gate::spearman_one_way(&dense, &doubled, 10);
    let both = spearman_topk(&dense, &doubled, 10);
    assert!(one_way > 0.95, "{one_way}");
    assert!(both < 0.95, "{both}");
    assert!(aether_train::gate::topk_overlap(&dense, &doubled, 10) < 0.6);
}

fn synthetic_stream(id: u8, freq: f32, seed: u64) -> Stream {
    let mut rng = Rng::new(seed);
    let n = 400;
    let mut features = Vec::new();
    for t in 0..n {
        let mut f = [0f32; FRAME_DIMS];
        for (d, v) in f.iter_mut().enumerate() {
            *v = (freq * t as f32 * (1.0 + d as f32 * 0.1)).sin() + 0.1 * rng.normal() as f32;
        }
        features.push(f);
    }
    Stream {
        path: format!("synthetic{id}.jsonl").into(),
        node_id: id,
        chip: format!("node{id}"),
        date: String::new(),
        named_session: None,
        t_s: (0..n).map(|t| t as f64 * 0.01).collect(),
        features,
        labels: vec![None; n],
        segments: vec![0; n],
        skipped: Default::default(),
    }
}

#[test]
fn embedding_head_trains_and_exports_to_the_device_model() {
    one_candle_thread();
    let streams: Vec<Stream> = (0..4)
        .map(|i| synthetic_stream(i, 0.05 + 0.1 * i as f32, i as u64))
        .collect();
    let opts = TrainOptions {
        window: 32,
        hop: 16,
        epochs: 3,
        batch: 16,
        split_by: SplitBy::Recording,
        ..TrainOptions::default()
    };
    let t = train_embed(streams, &opts, 8).unwrap();
    assert_eq!(t.history.len(), 3);
    assert!(t
        .history
        .iter()
        .all(|h| h.train_loss.is_finite() && h.val_loss.is_finite()));
    // It learns: the contrastive objective falls over the three epochs.
    assert!(
        t.history[2].train_loss < t.history[0].train_loss,
        "{:?}",
        t.history.iter().map(|h| h.train_loss).collect::<Vec<_>>()
    );
    assert!(t.val_windows > 0 && t.train_windows > 0);
    let bytes = t.to_rvne_v2(&opts, TensorDtype::F32).unwrap();
    let head = TemporalHead::from_bytes(&bytes).unwrap();
    let mut scratch = aether_model::HeadScratch::for_head(&head, 32).unwrap();
    // The head reads set 3, the first 19 of the 22 features each frame keeps.
    let window: Vec<f32> = t.prep.streams[0].features[..32]
        .iter()
        .flat_map(|f| f[..CSI19_DIMS].iter().copied())
        .collect();
    let mut e = vec![0f32; 8];
    head.embed(&window, &mut e, &mut scratch).unwrap();
    let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    // Same embedding from the candle graph on the normalised window.
    let x: Vec<f32> = t.prep.inputs[0][..32 * CSI19_DIMS].to_vec();
    let z = t
        .net
        .forward(&Tensor::from_vec(x, (1, 32, CSI19_DIMS), &Device::Cpu).unwrap())
        .unwrap();
    let z = z.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(!e.is_empty() && e.len() == z.len(), "{e:?} vs {z:?}");
    for (a, b) in e.iter().zip(&z) {
        assert!((a - b).abs() < 1e-4, "{e:?} vs {z:?}");
    }
    // The held-out objective draws mixed batches in a canonical order: the windows' order does
    // not change it (in stream order each batch was one recording's windows).
    let windows = aether_train::data::cut_windows(
        &t.prep.streams,
        32,
        16,
        &aether_train::data::WindowLabels::default(),
    );
    let windows: Vec<Window> = windows.into_iter().take(40).collect();
    assert_eq!(windows.len(), 40);
    let mut reversed = windows.clone();
    reversed.reverse();
    let spec = (32, t.prep.input_std[0]);
    let a = aether_train::embed::eval_losses(
        &t.net,
        (&t.prep.streams, &t.prep.inputs),
        &windows,
        spec,
        16,
        9,
    )
    .unwrap();
    let b = aether_train::embed::eval_losses(
        &t.net,
        (&t.prep.streams, &t.prep.inputs),
        &reversed,
        spec,
        16,
        9,
    )
    .unwrap();
    assert!(a.0.is_finite() && a.1.is_finite());
    assert_eq!(a, b);
}

#[test]
fn a_classifier_starts_from_a_pretrained_encoder() {
    use aether_train::model::{AttnBackend, HeadConfig, HeadNet};
    use aether_train::train::load_encoder;
    one_candle_thread();
    let streams: Vec<Stream> = (0..3)
        .map(|i| synthetic_stream(i, 0.07 * (i + 1) as f32, 10 + i as u64))
        .collect();
    let opts = TrainOptions {
        window: 32,
        hop: 16,
        epochs: 1,
        split_by: SplitBy::Recording,
        ..TrainOptions::default()
    };
    let pre = train_embed(streams, &opts, 8).unwrap();
    let path = std::env::temp_dir().join(format!("aether-pre-{}.rvne", std::process::id()));
    std::fs::write(&path, pre.to_rvne_v2(&opts, TensorDtype::F32).unwrap()).unwrap();
    let cls = HeadNet::new(
        HeadConfig::motion(CSI19_DIMS, 2),
        AttnBackend::Sparse,
        99,
        candle_core::DType::F32,
    )
    .unwrap();
    let head_before = cls.param_values().unwrap()["head.weight"].clone();
    load_encoder(&cls, &path).unwrap();
    let (a, b) = (cls.param_values().unwrap(), pre.net.param_values().unwrap());
    for name in a.keys().filter(|n| !n.starts_with("head.")) {
        assert_eq!(a[name], b[name], "{name}");
    }
    assert_eq!(
        a["head.weight"], head_before,
        "the classifier layer starts fresh"
    );
    // A mismatched architecture is refused.
    let mut cfg = HeadConfig::motion(16, 2);
    cfg.d_ff = 48;
    let other = HeadNet::new(cfg, AttnBackend::Sparse, 1, candle_core::DType::F32).unwrap();
    assert!(load_encoder(&other, &path).is_err());
    std::fs::remove_file(&path).ok();
}

#[test]
fn topk_overlap_counts_shared_neighbours() {
    let z = vec![
        vec![1.0, 0.0],
        vec![0.99, 0.141],
        vec![0.0, 1.0],
        vec![0.141, 0.99],
    ];
    assert!((aether_train::gate::topk_overlap(&z, &z, 1) - 1.0).abs() < 1e-12);
    // Each query's nearest neighbour swapped for its farthest: no top-1 in common.
    let other = vec![
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![0.99, 0.141],
        vec![0.141, 0.99],
    ];
    assert_eq!(aether_train::gate::topk_overlap(&z, &other, 1), 0.0);
}

/// Training here must repeat bit for bit: the workspace's `.cargo/config.toml` gives test
/// processes one candle thread (`RAYON_NUM_THREADS=1`); run through cargo, or set it.
fn one_candle_thread() {
    assert_eq!(
        std::env::var("RAYON_NUM_THREADS").as_deref(),
        Ok("1"),
        "RAYON_NUM_THREADS must be 1 (cargo sets it from .cargo/config.toml)"
    );
}

//! A batch cut into shards on threads gives the whole batch's loss and gradients, the same on
//! every run for one thread count (`train::batch_step`, `aether train --threads`).

use aether_train::model::{AttnBackend, HeadConfig, HeadNet, Rng};
use aether_train::train::batch_step;
use candle_core::{DType, Device, Tensor};

fn batch(rows: usize, frames: usize, dims: usize, classes: usize) -> (Tensor, Vec<u32>) {
    let mut rng = Rng::new(7);
    let x: Vec<f32> = (0..rows * frames * dims)
        .map(|_| rng.normal() as f32)
        .collect();
    let y = (0..rows).map(|i| ((i * 7 + 3) % classes) as u32).collect();
    (
        Tensor::from_vec(x, (rows, frames, dims), &Device::Cpu).unwrap(),
        y,
    )
}

fn grads_of(net: &HeadNet, step: &aether_train::train::BatchStep) -> Vec<Vec<f32>> {
    net.params
        .values()
        .map(|v| {
            step.grads
                .get(v.as_tensor())
                .expect("every parameter has a gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn shards_on_threads_give_the_batch_gradient() {
    let (dims, classes) = (16, 3);
    let net = HeadNet::new(
        HeadConfig::motion(dims, classes),
        AttnBackend::Sparse,
        11,
        DType::F32,
    )
    .unwrap();
    // 13 rows: shards of unequal size (4/4/5 on three threads); uneven class weights.
    let (x, y) = batch(13, 40, dims, classes);
    let weights = [0.5f32, 1.0, 2.5];
    let one = batch_step(&net, &x, &y, &weights, 1).unwrap();
    let g1 = grads_of(&net, &one);
    for threads in [2, 3, 13, 40] {
        let many = batch_step(&net, &x, &y, &weights, threads).unwrap();
        assert!(
            (many.loss - one.loss).abs() <= 1e-5 * one.loss.abs().max(1.0),
            "{threads} threads: loss {} vs {}",
            many.loss,
            one.loss
        );
        assert_eq!(many.preds, one.preds, "{threads} threads");
        let gn = grads_of(&net, &many);
        let mut worst = 0.0f32;
        for (a, b) in g1.iter().zip(&gn) {
            let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (p, q) in a.iter().zip(b) {
                let d = (p - q).abs() / scale;
                // NaN would vanish under max: it fails the comparison instead.
                worst = if d.is_nan() {
                    f32::INFINITY
                } else {
                    worst.max(d)
                };
            }
        }
        assert!(
            worst <= 1e-4,
            "{threads} threads: gradient differs by {worst} (relative)"
        );
        // Deterministic for a thread count: a second run is bit-identical.
        let again = batch_step(&net, &x, &y, &weights, threads).unwrap();
        assert_eq!(grads_of(&net, &again), gn, "{threads} threads, second run");
        assert_eq!(again.loss.to_bits(), many.loss.to_bits());
    }
}

/// Prediction spreads whole batches over threads: every window's probabilities are those of
/// one thread, bit for bit (`aether eval --threads`, validation during training).
#[test]
fn prediction_on_threads_equals_one_thread() {
    use aether_train::data::Window;
    use aether_train::train::predict_threaded;
    let (dims, classes, frames, len) = (16, 3, 200, 32);
    let net = HeadNet::new(
        HeadConfig::motion(dims, classes),
        AttnBackend::Sparse,
        5,
        DType::F32,
    )
    .unwrap();
    let mut rng = Rng::new(3);
    let inputs = vec![(0..frames * dims)
        .map(|_| rng.normal() as f32)
        .collect::<Vec<f32>>()];
    let windows: Vec<Window> = (0..=frames - len)
        .step_by(8)
        .map(|start| Window {
            stream: 0,
            start,
            label: "x".into(),
        })
        .collect();
    assert_eq!(windows.len(), 22);
    let one = predict_threaded(&net, &inputs, &windows, len, 4, 1).unwrap();
    assert_eq!(one.len(), windows.len());
    for threads in [2, 3, 6, 50] {
        let many = predict_threaded(&net, &inputs, &windows, len, 4, threads).unwrap();
        assert_eq!(many, one, "{threads} threads");
    }
}

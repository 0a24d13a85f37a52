//! The kernel op against the dense candle twin (values and gradients), whole-model finite
//! differences, and gradient coverage of every parameter.

use aether_kernel::SparseConfig;
use aether_train::attn_op::{dense_attention, HeadLayout, SparseAttnOp};
use aether_train::loss::weighted_cross_entropy;
use aether_train::model::{AttnBackend, HeadConfig, HeadNet, OutputKind, Pooling, Rng};
use candle_core::{DType, Device, Tensor, Var};

fn randn(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// A pattern that reaches every earlier key: window >= T, no landmarks.
fn covering(t: usize) -> SparseConfig {
    SparseConfig {
        window: t,
        landmarks: false,
        ..SparseConfig::upstream(t, 4)
    }
}

#[test]
fn op_equals_dense_when_pattern_covers_every_key() {
    let (b, t, qh, kh, d) = (2, 13, 4, 2, 8);
    let mut rng = Rng::new(1);
    let q = randn(&mut rng, &[b, t, qh * d]);
    let k = randn(&mut rng, &[b, t, kh * d]);
    let v = randn(&mut rng, &[b, t, kh * d]);
    let op = SparseAttnOp::new(covering(t), qh, kh, d, HeadLayout::Packed).unwrap();
    let sparse = op.apply(&q, &k, &v).unwrap();
    let dense = dense_attention(&q, &k, &v, qh, kh, d, true).unwrap();
    assert_eq!(sparse.dims(), &[b, t, qh * d]);
    let diff = max_abs_diff(&sparse, &dense);
    assert!(diff < 1e-5, "sparse vs dense max diff {diff}");

    // The same through the split layout and through strided (non-contiguous) inputs.
    let split = SparseAttnOp::new(covering(t), qh, kh, d, HeadLayout::Split).unwrap();
    let s2 = split
        .apply(
            &q.reshape((b, t, qh, d)).unwrap(),
            &k.reshape((b, t, kh, d)).unwrap(),
            &v.reshape((b, t, kh, d)).unwrap(),
        )
        .unwrap()
        .reshape((b, t, qh * d))
        .unwrap();
    assert_eq!(max_abs_diff(&s2, &sparse), 0.0);
    let qt = q
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap()
        .transpose(0, 1)
        .unwrap();
    assert!(!qt.is_contiguous());
    let s3 = op.apply(&qt, &k, &v).unwrap();
    assert_eq!(max_abs_diff(&s3, &sparse), 0.0);
}

#[test]
fn op_rejects_wrong_shapes_and_non_f32() {
    let op = SparseAttnOp::new(covering(4), 2, 1, 4, HeadLayout::Packed).unwrap();
    let mut rng = Rng::new(2);
    let q = randn(&mut rng, &[1, 4, 8]);
    let k = randn(&mut rng, &[1, 4, 4]);
    assert!(op.apply(&q, &q, &q).is_err(), "k with q_heads width");
    assert!(op.apply(&q, &k, &randn(&mut rng, &[1, 3, 4])).is_err());
    let q64 = q.to_dtype(DType::F64).unwrap();
    assert!(op
        .apply(
            &q64,
            &k.to_dtype(DType::F64).unwrap(),
            &k.to_dtype(DType::F64).unwrap()
        )
        .is_err());
    assert!(SparseAttnOp::new(covering(4), 3, 2, 4, HeadLayout::Packed).is_err());
    // Batch dims that multiply to the same count but differ would pair other rows.
    let q23 = randn(&mut rng, &[2, 3, 4, 8]);
    let k32 = randn(&mut rng, &[3, 2, 4, 4]);
    assert!(
        op.apply(&q23, &k32, &k32).is_err(),
        "batch [2,3] against [3,2]"
    );
    let k23 = randn(&mut rng, &[2, 3, 4, 4]);
    assert!(op.apply(&q23, &k23, &k23).is_ok());
}

#[test]
fn op_gradients_equal_dense_candle_gradients() {
    let (b, t, qh, kh, d) = (2, 11, 4, 2, 8);
    let mut rng = Rng::new(3);
    let q = Var::from_tensor(&randn(&mut rng, &[b, t, qh * d])).unwrap();
    let k = Var::from_tensor(&randn(&mut rng, &[b, t, kh * d])).unwrap();
    let v = Var::from_tensor(&randn(&mut rng, &[b, t, kh * d])).unwrap();
    let g = randn(&mut rng, &[b, t, qh * d]);
    let op = SparseAttnOp::new(covering(t), qh, kh, d, HeadLayout::Packed).unwrap();
    let ls = (op.apply(&q, &k, &v).unwrap() * &g)
        .unwrap()
        .sum_all()
        .unwrap();
    let ld = (dense_attention(&q, &k, &v, qh, kh, d, true).unwrap() * &g)
        .unwrap()
        .sum_all()
        .unwrap();
    let gs = ls.backward().unwrap();
    let gd = ld.backward().unwrap();
    for (name, var) in [("q", &q), ("k", &k), ("v", &v)] {
        let a = gs.get(var.as_tensor()).expect("sparse grad");
        let e = gd.get(var.as_tensor()).expect("dense grad");
        let diff = max_abs_diff(a, e);
        let scale = e
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(scale > 0.0);
        assert!(diff < 1e-4, "d{name}: max diff {diff} (scale {scale})");
    }
}

fn tiny_cfg(attn: SparseConfig) -> HeadConfig {
    HeadConfig {
        input_dim: 5,
        d_model: 8,
        n_layers: 2,
        q_heads: 2,
        kv_heads: 1,
        head_dim: 4,
        d_ff: 12,
        n_out: 3,
        attn,
        pooling: Pooling::Mean,
        output_kind: OutputKind::Classes,
        norm_eps: 1e-5,
    }
}

fn loss_of(net: &HeadNet, x: &Tensor, y: &[u32]) -> Tensor {
    let logits = net.forward(x).unwrap();
    weighted_cross_entropy(&logits, y, &[1.0, 2.0, 0.5]).unwrap()
}

/// Central differences of the whole model's loss against backprop through the kernel op, on
/// a pattern with landmarks, log-stride and globals (so the sparse backward is exercised).
#[test]
fn whole_model_gradient_matches_finite_differences() {
    let attn = SparseConfig::upstream(3, 4).improved();
    let t = 16;
    let net = HeadNet::new(tiny_cfg(attn), AttnBackend::Sparse, 7, DType::F32).unwrap();
    let mut rng = Rng::new(4);
    let x = randn(&mut rng, &[3, t, 5]);
    let y = [0u32, 2, 1];
    let grads = loss_of(&net, &x, &y).backward().unwrap();
    let names = [
        "input_proj.weight",
        "layers.0.attn.wq.weight",
        "layers.0.attn.wk.weight",
        "layers.0.attn.wv.bias",
        "layers.1.attn.wq.bias",
        "layers.1.ffn.w1.weight",
        "layers.0.norm1.weight",
        "final_norm.bias",
        "head.weight",
    ];
    let eps = 1e-2f32;
    let mut checked = 0;
    for name in names {
        let var = &net.params[name];
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // The three largest-gradient entries of this tensor.
        let mut idx: Vec<usize> = (0..g.len()).collect();
        idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        for &i in idx.iter().take(3) {
            let eval = |delta: f32| {
                let mut p = base.clone();
                p[i] += delta;
                var.set(&Tensor::from_vec(p, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let l = loss_of(&net, &x, &y).to_scalar::<f32>().unwrap();
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                l
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let tol = 5e-4 + 1e-2 * g[i].abs();
            assert!(
                (fd - g[i]).abs() <= tol,
                "{name}[{i}]: backprop {} vs finite difference {fd}",
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, names.len() * 3);
}

/// The same model with the dense backend in f64 agrees with finite differences tightly.
#[test]
fn dense_model_in_f64_matches_finite_differences() {
    let t = 9;
    let net = HeadNet::new(tiny_cfg(covering(t)), AttnBackend::Dense, 8, DType::F64).unwrap();
    let mut rng = Rng::new(5);
    let x = randn(&mut rng, &[2, t, 5]).to_dtype(DType::F64).unwrap();
    let y = [1u32, 0];
    let grads = loss_of(&net, &x, &y).backward().unwrap();
    let eps = 1e-5f64;
    for name in [
        "layers.0.attn.wk.weight",
        "layers.1.ffn.w2.weight",
        "input_proj.bias",
    ] {
        let var = &net.params[name];
        let g = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for i in [0, g.len() / 2, g.len() - 1] {
            let eval = |delta: f64| {
                let mut p = base.clone();
                p[i] += delta;
                var.set(&Tensor::from_vec(p, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let l = loss_of(&net, &x, &y).to_scalar::<f64>().unwrap();
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                l
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            assert!(
                (fd - g[i]).abs() <= 1e-7 + 1e-5 * g[i].abs(),
                "{name}[{i}]: {} vs {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn every_parameter_receives_a_gradient() {
    for backend in [AttnBackend::Sparse, AttnBackend::Dense] {
        let cfg = HeadConfig::motion(16, 2);
        let net = HeadNet::new(cfg, backend, 11, DType::F32).unwrap();
        let mut rng = Rng::new(6);
        let x = randn(&mut rng, &[4, 48, 16]);
        let logits = net.forward(&x).unwrap();
        let loss = weighted_cross_entropy(&logits, &[0, 1, 1, 0], &[1.0, 1.0]).unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in &net.params {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{backend:?}: no gradient for {name}"));
            let m = g
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                m > 0.0 && m.is_finite(),
                "{backend:?}: gradient of {name} is {m}"
            );
        }
    }
}

#[test]
fn sparse_and_dense_models_agree_when_pattern_covers_every_key() {
    let t = 20;
    let sparse = HeadNet::new(tiny_cfg(covering(t)), AttnBackend::Sparse, 9, DType::F32).unwrap();
    let dense = HeadNet::from_params(
        sparse.cfg.clone(),
        AttnBackend::Dense,
        sparse.params.clone(),
    )
    .unwrap();
    let mut rng = Rng::new(7);
    let x = randn(&mut rng, &[2, t, 5]);
    let diff = max_abs_diff(&sparse.forward(&x).unwrap(), &dense.forward(&x).unwrap());
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn gelu_is_the_tanh_approximation() {
    let xs = [-3.0f32, -1.0, -0.3, 0.0, 0.5, 2.0];
    let t = Tensor::new(&xs, &Device::Cpu)
        .unwrap()
        .gelu()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (x, y) in xs.iter().zip(t) {
        let e = 0.5
            * x
            * (1.0 + ((2.0f32 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh());
        assert!((y - e).abs() < 1e-6, "gelu({x}) = {y}, tanh form {e}");
    }
}

//! The int8 path: matrices int8 with per-row scales, activations f32. Measures the largest
//! logit deviation from the f32 model and checks a bound.

mod common;

use aether_model::{HeadParams, HeadScratch, HeadSpec, TemporalHead, TensorDtype};
use common::*;

/// Max |logit_int8 - logit_f32| over several windows, and the f32 logit range for scale.
fn deviation(spec: &HeadSpec, seed: u64, t: usize) -> (f32, f32) {
    let p = HeadParams::random(spec, seed).unwrap();
    let f32_head = TemporalHead::from_bytes(&p.to_rvne_v2(TensorDtype::F32).unwrap()).unwrap();
    let i8_head = TemporalHead::from_bytes(&p.to_rvne_v2(TensorDtype::Int8).unwrap()).unwrap();
    assert!(i8_head.is_int8() && !f32_head.is_int8());
    let mut s = HeadScratch::new();
    let (mut a, mut b) = (vec![0.0; spec.n_out], vec![0.0; spec.n_out]);
    let (mut dev, mut range) = (0f32, 0f32);
    for salt in 0..8 {
        let w = window(t, spec.input_dim, salt);
        f32_head.classify(&w, &mut a, &mut s).unwrap();
        i8_head.classify(&w, &mut b, &mut s).unwrap();
        dev = dev.max(max_abs_diff(&a, &b));
        range = range.max(a.iter().fold(0f32, |m, x| m.max(x.abs())));
    }
    (dev, range)
}

#[test]
fn int8_logits_stay_close_to_f32() {
    let (small, r1) = deviation(&small_spec(), 3, 48);
    let (default, r2) = deviation(&HeadSpec::default_v2(), 3, 256);
    // The seed's default_aether attention shape (4 query heads of 32, MQA, width 16, 2 layers,
    // 4 classes) as a v2 head.
    let seed_shape = HeadSpec {
        d_model: 16,
        head_dim: 32,
        ..HeadSpec::default_v2()
    };
    let (seed, r3) = deviation(&seed_shape, 3, 256);
    println!(
        "int8 max logit deviation: small head T=48 {small:.3e} (|logit| <= {r1:.3}); \
         default v2 head T=256 {default:.3e} (|logit| <= {r2:.3}); seed shape T=256 {seed:.3e} (|logit| <= {r3:.3})"
    );
    assert!(
        small > 0.0 && default > 0.0 && seed > 0.0,
        "int8 must actually quantise"
    );
    assert!(
        small < 0.02 && default < 0.02 && seed < 0.02,
        "{small} {default} {seed}"
    );
}

#[test]
fn int8_weights_take_a_quarter_of_the_bytes() {
    let p = HeadParams::random(&HeadSpec::default_v2(), 1).unwrap();
    let f = TemporalHead::from_bytes(&p.to_rvne_v2(TensorDtype::F32).unwrap()).unwrap();
    let q = TemporalHead::from_bytes(&p.to_rvne_v2(TensorDtype::Int8).unwrap()).unwrap();
    assert_eq!(f.params(), q.params());
    assert!(
        q.weight_bytes() * 3 < f.weight_bytes(),
        "{} vs {}",
        q.weight_bytes(),
        f.weight_bytes()
    );
}

//! Bad files: every truncation and single-bit flip of a small v2 model is an error from
//! `TemporalHead::from_bytes` (never a panic), and files with a valid CRC whose metadata or
//! tensors contradict the architecture are each a distinct error.

mod common;

use aether_model::{ModelError, TemporalHead, TensorDtype, TensorId};
use aether_rvne::v2::RvneV2Builder;
use aether_rvne::RvneError;
use common::*;

#[test]
fn every_truncation_is_an_error() {
    for dtype in [TensorDtype::F32, TensorDtype::Int8] {
        let bytes = params(&small_spec(), 1).to_rvne_v2(dtype).unwrap();
        assert!(TemporalHead::from_bytes(&bytes).is_ok());
        for n in 0..bytes.len() {
            let r = TemporalHead::from_bytes(&bytes[..n]);
            assert!(matches!(r, Err(ModelError::File(_))), "len {n}: {r:?}");
        }
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let bytes = params(&small_spec(), 2)
        .to_rvne_v2(TensorDtype::F32)
        .unwrap();
    let mut b = bytes.clone();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            let r = TemporalHead::from_bytes(&b);
            assert!(r.is_err(), "byte {i} bit {bit} accepted");
            b[i] ^= 1 << bit;
        }
    }
    assert_eq!(b, bytes);
}

#[test]
fn v1_truncations_and_flips_are_errors() {
    let mut h = aether_rvne::WeightBlobHeader::DEFAULT_AETHER;
    h.input_dim = 4;
    h.n_q_heads = 2;
    h.head_dim = 2;
    let bytes = aether_rvne::init_random_blob(h, 5).unwrap().serialize();
    assert!(TemporalHead::from_bytes(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(TemporalHead::from_bytes(&bytes[..n]).is_err(), "len {n}");
    }
    let mut b = bytes.clone();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            assert!(TemporalHead::from_bytes(&b).is_err(), "byte {i} bit {bit}");
            b[i] ^= 1 << bit;
        }
    }
}

/// A metadata value for the hand-built files below.
#[derive(Clone)]
enum M {
    U(u32),
    F(f32),
    B(bool),
    S(&'static str),
    Us(Vec<u32>),
    Ss(Vec<&'static str>),
}

fn base_meta() -> Vec<(&'static str, M)> {
    let s = small_spec();
    vec![
        ("feature_set", M::U(1)),
        ("frame_rate_hz", M::F(5.0)),
        ("window_len", M::U(32)),
        ("input_dim", M::U(s.input_dim as u32)),
        ("d_model", M::U(s.d_model as u32)),
        ("n_layers", M::U(s.n_layers as u32)),
        ("n_q_heads", M::U(s.q_heads as u32)),
        ("n_kv_heads", M::U(s.kv_heads as u32)),
        ("head_dim", M::U(s.head_dim as u32)),
        ("d_ff", M::U(s.d_ff as u32)),
        ("n_out", M::U(s.n_out as u32)),
        ("attn.window", M::U(4)),
        ("attn.block_size", M::U(4)),
        ("attn.global_tokens", M::Us(vec![0])),
        ("attn.causal", M::B(true)),
        ("norm_eps", M::F(1e-5)),
        ("activation", M::S("gelu")),
        ("pooling", M::S("mean")),
        ("output_kind", M::S("classes")),
        ("class_names", M::Ss(vec!["a", "b", "c"])),
    ]
}

/// Builds a v2 file (valid CRC) from the small head, with metadata and tensors edited.
fn build(
    meta: &[(&'static str, M)],
    edit: impl Fn(
        &str,
        TensorDtype,
        Vec<usize>,
        Vec<f32>,
    ) -> Option<(TensorDtype, Vec<usize>, Vec<f32>)>,
) -> Vec<u8> {
    let p = params(&small_spec(), 4);
    let mut b = RvneV2Builder::new();
    for (k, v) in meta {
        match v {
            M::U(x) => b.meta_u32(k, *x),
            M::F(x) => b.meta_f32(k, *x),
            M::B(x) => b.meta_bool(k, *x),
            M::S(x) => b.meta_str(k, x),
            M::Us(x) => b.meta_u32_array(k, x),
            M::Ss(x) => b.meta_str_array(k, x),
        };
    }
    for t in p.named_tensors() {
        if let Some((dt, shape, data)) =
            edit(&t.name, TensorDtype::F32, t.shape.clone(), t.data.to_vec())
        {
            b.add_tensor(&t.name, dt, &shape, &data).unwrap();
        }
    }
    b.to_bytes().unwrap()
}

fn keep(
    _: &str,
    d: TensorDtype,
    s: Vec<usize>,
    x: Vec<f32>,
) -> Option<(TensorDtype, Vec<usize>, Vec<f32>)> {
    Some((d, s, x))
}

fn with(key: &'static str, v: M) -> Vec<(&'static str, M)> {
    let mut m = base_meta();
    match m.iter_mut().find(|(k, _)| *k == key) {
        Some(e) => e.1 = v,
        None => m.push((key, v)),
    }
    m
}

fn without(key: &str) -> Vec<(&'static str, M)> {
    base_meta().into_iter().filter(|(k, _)| *k != key).collect()
}

fn err(bytes: &[u8]) -> ModelError {
    TemporalHead::from_bytes(bytes).expect_err("must be rejected")
}

#[test]
fn hand_built_baseline_loads() {
    let head = TemporalHead::from_bytes(&build(&base_meta(), keep)).unwrap();
    assert_eq!(head.spec().class_names, ["a", "b", "c"]);
}

#[test]
fn contradictory_metadata_is_a_distinct_error() {
    let wq_bias = TensorId {
        layer: Some(0),
        name: "attn.wq.bias",
    };
    let cases: Vec<(Vec<(&'static str, M)>, ModelError)> = vec![
        (without("d_model"), ModelError::MissingMeta("d_model")),
        (
            without("attn.window"),
            ModelError::MissingMeta("attn.window"),
        ),
        (
            with("n_layers", M::S("two")),
            ModelError::MissingMeta("n_layers"),
        ),
        (
            with("attn.causal", M::U(1)),
            ModelError::MissingMeta("attn.causal"),
        ),
        (
            with("n_kv_heads", M::U(3)),
            ModelError::InvalidSpec("n_q_heads must be divisible by n_kv_heads"),
        ),
        (
            with("n_q_heads", M::U(0)),
            ModelError::InvalidSpec(
                "input_dim, d_model, n_q_heads, n_kv_heads, head_dim must all be > 0",
            ),
        ),
        (
            with("n_layers", M::U(0)),
            ModelError::InvalidSpec("n_layers must be >= 1"),
        ),
        (
            with("attn.block_size", M::U(0)),
            ModelError::InvalidSpec("attn.block_size must be > 0"),
        ),
        (
            with("d_model", M::U(u32::MAX)),
            ModelError::TooLarge {
                what: "d_model",
                value: u32::MAX as u64,
            },
        ),
        (
            {
                let mut m = with("d_ff", M::U(1 << 16));
                m.iter_mut().find(|(k, _)| *k == "n_layers").unwrap().1 = M::U(1 << 16);
                m
            },
            ModelError::TooLarge {
                what: "params",
                value: 0,
            },
        ),
        (
            with("window_len", M::U(u32::MAX)),
            ModelError::TooLarge {
                what: "window_len",
                value: u32::MAX as u64,
            },
        ),
        (
            with("pooling", M::S("max")),
            ModelError::BadMeta {
                key: "pooling",
                reason: "must be \"mean\" or \"last\"",
            },
        ),
        (
            with("activation", M::S("relu")),
            ModelError::BadMeta {
                key: "activation",
                reason: "only \"gelu\" is defined",
            },
        ),
        (
            with("class_names", M::Ss(vec!["a", "b"])),
            ModelError::InvalidSpec("class_names must have n_out entries"),
        ),
        (
            with("norm_eps", M::F(-1.0)),
            ModelError::InvalidSpec("norm_eps must be finite and > 0"),
        ),
        // head_dim 8 instead of 4: the metadata no longer matches the stored Q projection.
        (with("head_dim", M::U(8)), ModelError::WrongShape(wq_bias)),
    ];
    for (meta, want) in cases {
        let got = err(&build(&meta, keep));
        match (got, want) {
            // The parameter total depends on every dim; only its kind is pinned here.
            (
                ModelError::TooLarge { what: "params", .. },
                ModelError::TooLarge { what: "params", .. },
            ) => {}
            _ => assert_eq!(got, want),
        }
    }
}

#[test]
fn contradictory_tensors_are_a_distinct_error() {
    let id = |layer, name| TensorId { layer, name };
    // Missing tensor.
    let b = build(&base_meta(), |n, d, s, x| {
        (n != "layers.1.ffn.w2.weight").then_some((d, s, x))
    });
    assert_eq!(
        err(&b),
        ModelError::MissingTensor(id(Some(1), "ffn.w2.weight"))
    );
    // Wrong shape (transposed).
    let b = build(&base_meta(), |n, d, s, x| {
        Some((
            d,
            if n == "head.weight" {
                vec![s[1], s[0]]
            } else {
                s
            },
            x,
        ))
    });
    assert_eq!(err(&b), ModelError::WrongShape(id(None, "head.weight")));
    // Wrong rank.
    let b = build(&base_meta(), |n, d, s, x| {
        Some((d, if n == "input.mean" { vec![1, s[0]] } else { s }, x))
    });
    assert_eq!(err(&b), ModelError::WrongShape(id(None, "input.mean")));
    // A bias stored as f16.
    let b = build(&base_meta(), |n, d, s, x| {
        Some((
            if n == "layers.0.attn.wo.bias" {
                TensorDtype::F16
            } else {
                d
            },
            s,
            x,
        ))
    });
    assert_eq!(err(&b), ModelError::WrongDtype(id(Some(0), "attn.wo.bias")));
    // NaN weight and infinite bias.
    let b = build(&base_meta(), |n, d, s, mut x| {
        if n == "layers.1.attn.wk.weight" {
            x[3] = f32::NAN;
        }
        Some((d, s, x))
    });
    assert_eq!(
        err(&b),
        ModelError::NonFiniteWeight(id(Some(1), "attn.wk.weight"))
    );
    let b = build(&base_meta(), |n, d, s, mut x| {
        if n == "final_norm.bias" {
            x[0] = f32::INFINITY;
        }
        Some((d, s, x))
    });
    assert_eq!(
        err(&b),
        ModelError::NonFiniteWeight(id(None, "final_norm.bias"))
    );
    // Non-positive input std.
    let b = build(&base_meta(), |n, d, s, mut x| {
        if n == "input.std" {
            x[2] = 0.0;
        }
        Some((d, s, x))
    });
    assert_eq!(err(&b), ModelError::InvalidSpec("input.std must be > 0"));
}

#[test]
fn parse_failures_are_wrapped_unchanged() {
    let mut b = build(&base_meta(), keep);
    b[4] = 3;
    assert_eq!(err(&b), ModelError::File(RvneError::WrongVersion(3)));
    assert_eq!(err(b"ENVR"), ModelError::File(RvneError::TooShort));
    assert_eq!(err(&[0u8; 64]), ModelError::File(RvneError::BadMagic));
}

/// Flip every bit and recompute the CRC, so the parser accepts the bytes and the model loader
/// sees contradictory contents: loading, classifying and streaming must return values, never
/// panic (or allocate absurdly).
#[test]
fn bit_flips_behind_a_valid_crc_never_panic() {
    let bytes = params(&small_spec(), 6)
        .to_rvne_v2(TensorDtype::Int8)
        .unwrap();
    let w = window(20, 5, 1);
    let mut b = bytes.clone();
    let n = b.len();
    let (mut loaded, mut rejected) = (0, 0);
    for i in 0..n - 4 {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            let crc = crc32(&b[..n - 4]);
            b[n - 4..].copy_from_slice(&crc.to_le_bytes());
            match TemporalHead::from_bytes(&b) {
                Ok(head) => {
                    loaded += 1;
                    let mut out = vec![0.0; head.spec().n_out];
                    let frame = head.spec().input_dim;
                    if frame == 5 {
                        let _ = head.run(&w, &mut out, &mut aether_model::HeadScratch::new());
                    }
                    for mode in [
                        aether_model::WindowMode::Growing { capacity: 32 },
                        aether_model::WindowMode::Sliding { len: 8 },
                    ] {
                        if let Ok(mut s) = head.session(mode) {
                            for f in w.chunks(5) {
                                let _ = s.push(f);
                            }
                            let _ = s.output(&mut out);
                        }
                    }
                }
                Err(_) => rejected += 1,
            }
            b[i] ^= 1 << bit;
        }
    }
    // Both outcomes occur: flips inside weights load, flips in names/metadata are rejected.
    assert!(loaded > 0 && rejected > 0, "{loaded} {rejected}");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &x in bytes {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Session and seed-API cache sizes no allocator can provide are errors (the documented
/// `Kernel(SizeOverflow)`), not a panic or an abort.
#[test]
fn impossible_session_sizes_are_errors() {
    use aether_kernel::KernelError;
    use aether_model::{Session, WindowMode};
    let bytes = params(&small_spec(), 1)
        .to_rvne_v2(TensorDtype::F32)
        .unwrap();
    let head = TemporalHead::from_bytes(&bytes).unwrap();
    for mode in [
        WindowMode::Growing { capacity: 1 << 60 },
        WindowMode::Sliding { len: 1 << 60 },
    ] {
        let r = Session::new(&head, mode);
        assert!(
            matches!(r, Err(ModelError::Kernel(KernelError::SizeOverflow))),
            "{mode:?}: {:?}",
            r.err()
        );
        assert!(
            aether_model::HeadSpec::session_heap_bytes(head.spec(), mode, Default::default())
                .is_err()
        );
    }
    let seed =
        aether_model::SparseGqaHead::new(&aether_model::TemporalHeadConfig::default_aether())
            .unwrap();
    assert!(seed.make_cache(1 << 57).is_err());
}

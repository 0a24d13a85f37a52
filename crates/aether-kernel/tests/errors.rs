//! Every mismatch is a typed error; non-finite inputs are rejected; overflowing scores give
//! NaN rows without panicking.

use aether_kernel::{
    tensor_shape, AttnShape, DecodeScratch, KernelError, KvCache, Scratch, SparseAttention,
    SparseConfig, Tensor3,
};

fn attn() -> SparseAttention {
    SparseAttention::new(SparseConfig::upstream(4, 4)).unwrap()
}

#[test]
fn zero_block_size_is_rejected() {
    let err = SparseAttention::new(SparseConfig {
        block_size: 0,
        ..SparseConfig::default()
    })
    .unwrap_err();
    assert_eq!(err, KernelError::InvalidConfig("block_size must be > 0"));
    assert!(KvCache::<f32>::try_new(4, 1, 4, 0, aether_kernel::CacheMode::Growing).is_err());
}

#[test]
fn shape_errors_are_typed() {
    let a = attn();
    let mut s = Scratch::new();
    let shape = AttnShape {
        seq: 8,
        q_heads: 4,
        kv_heads: 1,
        head_dim: 4,
    };
    let (q, kv) = (vec![0.0; 8 * 4 * 4], vec![0.0; 8 * 4]);
    let mut out = vec![0.0; q.len()];
    assert_eq!(
        a.forward_into(shape, &q[1..], &kv, &kv, &mut out, &mut s),
        Err(KernelError::Length {
            tensor: "q",
            expected: 128,
            got: 127
        })
    );
    assert_eq!(
        a.forward_into(shape, &q, &kv, &kv[..31], &mut out, &mut s),
        Err(KernelError::Length {
            tensor: "v",
            expected: 32,
            got: 31
        })
    );
    assert_eq!(
        a.forward_into(shape, &q, &kv, &kv, &mut out[..5], &mut s),
        Err(KernelError::Length {
            tensor: "out",
            expected: 128,
            got: 5
        })
    );
    let bad = AttnShape {
        kv_heads: 3,
        ..shape
    };
    assert_eq!(
        a.forward_into(bad, &q, &kv, &kv, &mut out, &mut s),
        Err(KernelError::HeadRatio {
            q_heads: 4,
            kv_heads: 3
        })
    );
    let zero = AttnShape {
        head_dim: 0,
        ..shape
    };
    assert_eq!(
        a.forward_into(zero, &q, &kv, &kv, &mut out, &mut s),
        Err(KernelError::ZeroDim)
    );
    let huge = AttnShape {
        seq: usize::MAX / 2,
        q_heads: 4,
        kv_heads: 1,
        head_dim: 4,
    };
    assert_eq!(
        a.forward_into(huge, &q, &kv, &kv, &mut out, &mut s),
        Err(KernelError::SizeOverflow)
    );
}

#[test]
fn tensor3_shape_mismatches_are_typed() {
    let q = Tensor3::zeros(8, 4, 16);
    assert!(matches!(
        tensor_shape(&q, &Tensor3::zeros(8, 1, 16), &Tensor3::zeros(8, 2, 16)),
        Err(KernelError::Mismatch {
            what: "k/v heads",
            ..
        })
    ));
    assert!(matches!(
        tensor_shape(&q, &Tensor3::zeros(7, 1, 16), &Tensor3::zeros(7, 1, 16)),
        Err(KernelError::Mismatch {
            what: "q/k seq",
            ..
        })
    ));
    assert!(matches!(
        tensor_shape(&q, &Tensor3::zeros(8, 1, 8), &Tensor3::zeros(8, 1, 8)),
        Err(KernelError::Mismatch {
            what: "q/k dim",
            ..
        })
    ));
    assert!(Tensor3::from_vec(vec![0.0; 5], 2, 2, 2).is_err());
}

#[test]
fn cache_mismatches_are_typed() {
    let a = attn();
    // Cache with another block size than the config.
    let cache = KvCache::<f32>::try_new(16, 1, 4, 8, aether_kernel::CacheMode::Growing).unwrap();
    let mut scratch = DecodeScratch::new_for(a.config(), 4, &cache).unwrap();
    let mut out = vec![0.0; 16];
    assert_eq!(
        a.decode_step(&[0.0; 16], &cache, &mut out, &mut scratch),
        Err(KernelError::CacheMismatch {
            what: "block_size",
            cache: 8,
            call: 4
        })
    );
    let mut cache = a.make_cache::<f32>(16, 1, 4, false).unwrap();
    // q with the wrong head dim, and appends with the wrong width.
    assert_eq!(
        a.decode_step(&[0.0; 12], &cache, &mut out, &mut scratch),
        Err(KernelError::Length {
            tensor: "q",
            expected: 16,
            got: 12
        })
    );
    assert_eq!(
        cache.append(&[0.0; 5], &[0.0; 4]),
        Err(KernelError::Length {
            tensor: "k",
            expected: 4,
            got: 5
        })
    );
    // Scratch built for another head layout.
    let mut other = DecodeScratch::new(a.config(), 4, 2, 4).unwrap();
    assert!(matches!(
        a.decode_step(&[0.0; 16], &cache, &mut out, &mut other),
        Err(KernelError::CacheMismatch { .. })
    ));
    // Seed-style tensor append checks seq, heads and dim.
    assert!(cache
        .try_append(&Tensor3::zeros(2, 1, 4), &Tensor3::zeros(2, 1, 4))
        .is_err());
    assert!(cache
        .try_append(&Tensor3::zeros(1, 2, 4), &Tensor3::zeros(1, 2, 4))
        .is_err());
    assert!(cache
        .try_append(&Tensor3::zeros(1, 1, 5), &Tensor3::zeros(1, 1, 5))
        .is_err());
    assert!(a
        .decode_step_tensor(&Tensor3::zeros(2, 4, 4), &cache)
        .is_err());
}

#[test]
fn non_finite_inputs_are_rejected_with_their_position() {
    let a = attn();
    let shape = AttnShape::mha(6, 2, 4);
    let mut q = vec![0.1; 48];
    let mut k = vec![0.1; 48];
    let v = vec![0.1; 48];
    let mut out = vec![0.0; 48];
    k[17] = f32::NAN;
    assert_eq!(
        a.forward_into(shape, &q, &k, &v, &mut out, &mut Scratch::new()),
        Err(KernelError::NonFinite {
            tensor: "k",
            index: 17
        })
    );
    k[17] = 0.1;
    q[40] = f32::INFINITY;
    assert_eq!(
        a.forward_into(shape, &q, &k, &v, &mut out, &mut Scratch::new()),
        Err(KernelError::NonFinite {
            tensor: "q",
            index: 40
        })
    );
    let mut cache = a.make_cache::<f32>(4, 2, 4, false).unwrap();
    let mut bad = [0.0f32; 8];
    bad[3] = f32::NEG_INFINITY;
    assert_eq!(
        cache.append(&[0.0; 8], &bad),
        Err(KernelError::NonFinite {
            tensor: "v",
            index: 3
        })
    );
    assert!(
        cache.is_empty(),
        "a rejected append must not change the cache"
    );
}

/// Every ISA the machine has, on sizes where the vector paths scan rows (and stage them
/// when buffers are not line-aligned): the first offending value is reported, `q` before `k`
/// before `v` (before `d_out` in the backward), whatever else is bad.
#[test]
fn non_finite_precedence_is_the_same_on_every_path() {
    let shape = AttnShape::mha(300, 4, 16);
    let len = 300 * 4 * 16;
    // One spare float in front: slicing from 1 gives buffers that are not line-aligned.
    let buf = |x: f32| vec![x; len + 1];
    let nf = |tensor, index| Err(KernelError::NonFinite { tensor, index });
    for isa in aether_kernel::IsaKind::ALL
        .into_iter()
        .filter(|i| i.is_available())
    {
        let a = attn().with_isa(isa).unwrap();
        for skew in [0, 1] {
            let (mut q, mut k, mut v, mut d_out) = (buf(0.1), buf(0.2), buf(0.3), buf(0.4));
            let mut out = buf(0.0);
            let (mut dq, mut dk, mut dv) = (buf(0.0), buf(0.0), buf(0.0));
            let mut run = |q: &[f32], k: &[f32], v: &[f32], d_out: &[f32]| {
                let r = skew..skew + len;
                let (q, k, v, d_out) = (
                    &q[r.clone()],
                    &k[r.clone()],
                    &v[r.clone()],
                    &d_out[r.clone()],
                );
                let out = &mut out[r.clone()];
                let mut s = Scratch::new();
                let fwd = a.forward_into(shape, q, k, v, out, &mut s);
                #[cfg(feature = "std")]
                {
                    let threaded = a.forward_threaded(shape, q, k, v, out, 2, &mut Scratch::new());
                    assert_eq!(fwd, threaded, "{isa:?}");
                }
                let (dq, dk, dv) = (&mut dq[r.clone()], &mut dk[r.clone()], &mut dv[r]);
                let bwd = a.backward_into(shape, q, k, v, d_out, dq, dk, dv, &mut s);
                (fwd, bwd)
            };
            assert_eq!(run(&q, &k, &v, &d_out), (Ok(()), Ok(())));
            d_out[skew + 7] = f32::NAN;
            assert_eq!(run(&q, &k, &v, &d_out), (Ok(()), nf("d_out", 7)));
            v[skew + len - 1] = f32::INFINITY;
            assert_eq!(
                run(&q, &k, &v, &d_out),
                (nf("v", len - 1), nf("v", len - 1))
            );
            k[skew + 5000] = f32::NEG_INFINITY;
            k[skew + 6000] = f32::NAN;
            assert_eq!(run(&q, &k, &v, &d_out), (nf("k", 5000), nf("k", 5000)));
            q[skew + len / 2] = f32::NAN;
            assert_eq!(
                run(&q, &k, &v, &d_out),
                (nf("q", len / 2), nf("q", len / 2))
            );
            // A bad query alone, found while attending.
            k[skew + 5000] = 0.2;
            k[skew + 6000] = 0.2;
            v[skew + len - 1] = 0.3;
            d_out[skew + 7] = 0.4;
            assert_eq!(
                run(&q, &k, &v, &d_out),
                (nf("q", len / 2), nf("q", len / 2))
            );
        }
    }
}

#[test]
fn overflowing_scores_give_nan_rows_not_panics() {
    // Finite inputs whose dot products overflow f32: the affected query rows become NaN
    // (documented), other rows stay finite.
    let a = SparseAttention::new(SparseConfig {
        landmarks: false,
        ..SparseConfig::upstream(0, 4)
    })
    .unwrap();
    let shape = AttnShape::mha(4, 1, 2);
    let q = vec![1e30, 1e30, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    let k = vec![1e30, 1e30, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    let v = vec![1.0; 8];
    let mut out = vec![0.0; 8];
    a.forward_into(shape, &q, &k, &v, &mut out, &mut Scratch::new())
        .unwrap();
    assert!(out[0].is_nan() && out[1].is_nan());
    assert!(out[2..].iter().all(|x| x.is_finite()));
}

/// The backward on every ISA (a tile of 16 on AVX-512): a query whose scores overflow gets NaN
/// gradients and so do the keys and values it attends (here only itself), while a global token
/// it does not attend (causal: token 8 is in query 0's future) stays finite, as on the scalar
/// path.
#[test]
fn overflowing_scores_leave_unattended_gradients_finite() {
    let cfg = SparseConfig {
        window: 0,
        global_tokens: vec![8],
        log_stride: false,
        landmarks: false,
        ..SparseConfig::upstream(0, 4)
    };
    let shape = AttnShape::mha(16, 1, 16);
    let (mut q, mut k) = (vec![0.1f32; 256], vec![0.1f32; 256]);
    q[..16].fill(1e30);
    k[..16].fill(1e30);
    let (v, d_out) = (vec![0.5f32; 256], vec![0.3f32; 256]);
    for isa in aether_kernel::IsaKind::ALL
        .into_iter()
        .filter(|i| i.is_available())
    {
        let a = SparseAttention::new(cfg.clone())
            .unwrap()
            .with_isa(isa)
            .unwrap();
        let mut g = [vec![0.0; 256], vec![0.0; 256], vec![0.0; 256]];
        let [dq, dk, dv] = &mut g;
        a.backward_into(shape, &q, &k, &v, &d_out, dq, dk, dv, &mut Scratch::new())
            .unwrap();
        for (name, grad) in ["d_q", "d_k", "d_v"].iter().zip(&g) {
            let nan_rows: Vec<usize> = (0..16)
                .filter(|r| grad[r * 16..(r + 1) * 16].iter().any(|x| !x.is_finite()))
                .collect();
            assert_eq!(nan_rows, [0], "{isa:?} {name}");
        }
    }
}

#[test]
fn empty_sequence_is_fine() {
    let a = attn();
    let out = a
        .forward(
            &Tensor3::zeros(0, 4, 8),
            &Tensor3::zeros(0, 1, 8),
            &Tensor3::zeros(0, 1, 8),
        )
        .unwrap();
    assert_eq!(out.shape(), (0, 4, 8));
}

/// On every ISA, a bad query (or, in the backward, output-gradient) value is found wherever it
/// sits: in the rows the AVX-512 path runs as 16-query tiles (checked as they are transposed)
/// and in the last `seq % 16` rows (the per-query path).
#[test]
fn a_bad_query_is_found_in_tiles_and_in_the_tail_rows() {
    let shape = AttnShape::mha(40, 2, 16);
    let len = 40 * 2 * 16;
    for isa in aether_kernel::IsaKind::ALL
        .into_iter()
        .filter(|i| i.is_available())
    {
        let a = attn().with_isa(isa).unwrap();
        for index in [0, 17 * 32 + 5, 31 * 32 + 31, 32 * 32, len - 1] {
            let mut q = vec![0.1; len];
            q[index] = f32::NAN;
            let kv = vec![0.2; len];
            let mut out = vec![0.0; len];
            assert_eq!(
                a.forward_into(shape, &q, &kv, &kv, &mut out, &mut Scratch::new()),
                Err(KernelError::NonFinite { tensor: "q", index }),
                "{isa:?}"
            );
            let good = vec![0.1; len];
            for (tensor, q, d_out) in [("q", &q, &good), ("d_out", &good, &q)] {
                let mut g = [vec![0.0; len], vec![0.0; len], vec![0.0; len]];
                let [dq, dk, dv] = &mut g;
                let mut s = Scratch::new();
                assert_eq!(
                    a.backward_into(shape, q, &kv, &kv, d_out, dq, dk, dv, &mut s),
                    Err(KernelError::NonFinite { tensor, index }),
                    "{isa:?} backward"
                );
            }
        }
    }
}

/// Sizes from files or callers that no allocator can provide, and a decode scratch built for
/// another attention, are errors, not panics or aborts.
#[test]
fn oversized_and_mismatched_decode_inputs_are_errors() {
    use aether_kernel::CacheMode;
    assert_eq!(
        KvCache::<f32>::try_new(1 << 61, 1, 1, 16, CacheMode::Growing).err(),
        Some(KernelError::SizeOverflow)
    );
    assert_eq!(
        KvCache::<f32>::try_new(0, usize::MAX, 2, 16, CacheMode::Growing).err(),
        Some(KernelError::SizeOverflow)
    );
    let cfg = SparseConfig::upstream(4, 16);
    assert_eq!(
        DecodeScratch::new(&cfg, 1 << 50, 1, 1).err(),
        Some(KernelError::SizeOverflow)
    );
    assert_eq!(
        DecodeScratch::heap_bytes::<f32>(cfg.extent(), 1 << 62, 1 << 10, 1, 10).err(),
        Some(KernelError::SizeOverflow)
    );

    // Scratch for a window of 4, attention with a window of 1000: an error at the step.
    let small = SparseAttention::new(cfg.clone()).unwrap();
    let wide = SparseAttention::new(SparseConfig::upstream(1000, 16)).unwrap();
    let mut cache = wide.make_cache::<f32>(600, 1, 4, false).unwrap();
    let mut scratch = DecodeScratch::new_for(small.config(), 2, &cache).unwrap();
    let row = [0.1f32; 4];
    for _ in 0..600 {
        cache.append(&row, &row).unwrap();
    }
    let mut out = [0.0f32; 8];
    let err = wide
        .decode_step(&[0.1; 8], &cache, &mut out, &mut scratch)
        .unwrap_err();
    assert!(matches!(err, KernelError::CacheMismatch { .. }), "{err:?}");
    // Built for this attention and cache, the same step works.
    let mut scratch = DecodeScratch::new_for(wide.config(), 2, &cache).unwrap();
    wide.decode_step(&[0.1; 8], &cache, &mut out, &mut scratch)
        .unwrap();
}

/// A window wider than 2^20 keys: `DecodeScratch::new` (which knows no cache) is sized for
/// 2^20 and a longer step is an error; `new_for` sizes for the cache and the step works.
#[test]
fn decode_windows_beyond_the_scratch_bound_are_errors_not_panics() {
    let cfg = SparseConfig {
        log_stride: false,
        landmarks: false,
        ..SparseConfig::upstream(1 << 21, 16)
    };
    let attn = SparseAttention::new(cfg).unwrap();
    let n = (1 << 20) + 400;
    let mut cache = attn.make_cache::<f32>(n, 1, 1, false).unwrap();
    for i in 0..n {
        let x = [(i % 7) as f32 * 0.01];
        cache.append(&x, &x).unwrap();
    }
    let mut out = [0.0f32];
    let mut bounded = DecodeScratch::new(attn.config(), 1, 1, 1).unwrap();
    let err = attn
        .decode_step(&[0.1], &cache, &mut out, &mut bounded)
        .unwrap_err();
    assert!(matches!(err, KernelError::CacheMismatch { .. }), "{err:?}");
    let mut sized = DecodeScratch::new_for(attn.config(), 1, &cache).unwrap();
    attn.decode_step(&[0.1], &cache, &mut out, &mut sized)
        .unwrap();
    assert!(out[0].is_finite());
}

/// A finite key or value beyond f16's range would be stored as infinity by an f16 cache and
/// turn every later decode step that touches it (and its block's landmark) into NaN: `append`
/// refuses it and leaves the cache as it was; the largest f16 value and an f32 cache accept.
#[test]
fn an_f16_cache_refuses_values_it_would_store_as_infinity() {
    let attn = SparseAttention::new(SparseConfig::upstream(2, 2)).unwrap();
    let mut cache = attn.make_cache::<half::f16>(8, 1, 4, false).unwrap();
    let ok = [0.5f32, -65504.0, 65504.0, 1.0];
    cache.append(&ok, &ok).unwrap();
    let mut big = ok;
    big[2] = 70000.0;
    assert_eq!(
        cache.append(&ok, &big),
        Err(KernelError::OutOfRange {
            tensor: "v",
            index: 2,
            storage: "f16"
        })
    );
    assert_eq!(
        cache.append(&[-1e6, 0.0, 0.0, 0.0], &ok),
        Err(KernelError::OutOfRange {
            tensor: "k",
            index: 0,
            storage: "f16"
        })
    );
    assert_eq!(cache.len(), 1, "a refused row is not appended");
    cache.append(&ok, &ok).unwrap();
    let mut out = [0.0f32; 4];
    let mut s = DecodeScratch::new_for(attn.config(), 1, &cache).unwrap();
    attn.decode_step(&[0.1, 0.1, 0.1, 0.1], &cache, &mut out, &mut s)
        .unwrap();
    assert!(out.iter().all(|x| x.is_finite()), "{out:?}");
    let mut wide = attn.make_cache::<f32>(8, 1, 4, false).unwrap();
    wide.append(&ok, &big).unwrap();
}

/// The public helpers outside the validated constructors do not panic on what those refuse:
/// a pattern of a config with block size 0 has no landmarks (no division by zero), and a
/// cache row outside the retained positions, or into short buffers, is an error.
#[test]
fn pattern_and_row_helpers_do_not_panic_on_bad_arguments() {
    let mut cfg = SparseConfig::upstream(4, 4);
    let with_landmarks = aether_kernel::edge_count(&cfg, 64);
    cfg.block_size = 0;
    assert!(cfg.validate().is_err());
    let without = aether_kernel::edge_count(&cfg, 64);
    cfg.landmarks = false;
    cfg.block_size = 4;
    assert_eq!(without, aether_kernel::edge_count(&cfg, 64));
    assert!(without < with_landmarks);

    let mut cache = KvCache::<f32>::new(8, 1, 4, 4);
    cache.append(&[1.0; 4], &[2.0; 4]).unwrap();
    let (mut k, mut v) = ([0.0f32; 4], [0.0f32; 4]);
    cache.row_f32(0, &mut k, &mut v).unwrap();
    assert_eq!((k, v), ([1.0; 4], [2.0; 4]));
    assert!(matches!(
        cache.row_f32(1, &mut k, &mut v),
        Err(KernelError::Mismatch { .. })
    ));
    assert!(matches!(
        cache.row_f32(9, &mut k, &mut v),
        Err(KernelError::Mismatch { .. })
    ));
    let mut short = [0.0f32; 3];
    assert_eq!(
        cache.row_f32(0, &mut short, &mut v),
        Err(KernelError::Length {
            tensor: "out_k",
            expected: 4,
            got: 3
        })
    );
}

/// A decode scratch made for an attention with fewer global tokens is refused by a step of
/// one with more, instead of growing its pattern on the no-allocation path; a forward scratch
/// grows on its next (allocating) prepare.
#[test]
fn a_scratch_for_fewer_globals_is_refused_not_grown() {
    let plain = SparseAttention::new(SparseConfig {
        global_tokens: vec![],
        ..SparseConfig::upstream(4, 4)
    })
    .unwrap();
    let many = SparseAttention::new(SparseConfig {
        global_tokens: (0..120).collect(),
        ..SparseConfig::upstream(4, 4)
    })
    .unwrap();
    let mut cache = many.make_cache::<f32>(256, 1, 4, false).unwrap();
    let row = [0.1f32; 4];
    for _ in 0..200 {
        cache.append(&row, &row).unwrap();
    }
    let mut small = DecodeScratch::new_for(plain.config(), 1, &cache).unwrap();
    let mut out = [0.0f32; 4];
    let err = many
        .decode_step(&row, &cache, &mut out, &mut small)
        .unwrap_err();
    assert!(
        matches!(err, KernelError::CacheMismatch { what, .. } if what.contains("global")),
        "{err:?}"
    );
    let mut fitted = DecodeScratch::new_for(many.config(), 1, &cache).unwrap();
    many.decode_step(&row, &cache, &mut out, &mut fitted)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}

/// The f64 references check shapes like the fast kernel: typed errors, never a panic.
#[test]
fn the_f64_references_refuse_bad_shapes() {
    use aether_kernel::reference::{dense_forward_f64, sparse_forward_f64};
    let shape = AttnShape {
        seq: 3,
        q_heads: 2,
        kv_heads: 0,
        head_dim: 2,
    };
    assert_eq!(shape.group(), 0);
    let x = [0.0f64; 12];
    assert!(dense_forward_f64(shape, true, &x, &x, &x).is_err());
    let cfg = SparseConfig::upstream(2, 2);
    assert!(sparse_forward_f64(&cfg, shape, &x, &x, &x).is_err());
    let ok = AttnShape::mha(3, 2, 2);
    assert!(sparse_forward_f64(&cfg, ok, &x, &x, &x).is_ok());
    assert!(sparse_forward_f64(&cfg, ok, &x[..11], &x, &x).is_err());
    let zero_block = SparseConfig {
        block_size: 0,
        ..cfg
    };
    assert!(sparse_forward_f64(&zero_block, ok, &x, &x, &x).is_err());
}

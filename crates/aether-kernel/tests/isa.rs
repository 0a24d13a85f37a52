//! Every instruction set this machine runs gives the scalar path's numbers: forward, backward
//! and decode, over head widths with and without a vector specialisation, MHA and GQA, odd
//! head counts, and sequence lengths that leave every kind of partial vector and candidate
//! group. (The parity test checks the detected best against upstream; this one reaches the
//! paths the detected best does not take.)

mod common;

use aether_kernel::{
    AttnShape, DecodeScratch, IsaKind, KernelError, KvCache, Scratch, SparseAttention, SparseConfig,
};
use common::Rng;

struct Case {
    shape: AttnShape,
    cfg: SparseConfig,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for &(q_heads, kv_heads) in &[(4, 4), (4, 1), (3, 3), (6, 2), (5, 1)] {
        for &head_dim in &[8, 12, 16, 32, 64] {
            for &seq in &[1, 5, 37, 130] {
                for (causal, options) in
                    [(true, false), (false, false), (true, true), (false, true)]
                {
                    // `options`: both landmark corrections (the tiled forward adds the bias
                    // per class, the per-query path per candidate).
                    let cfg = SparseConfig {
                        causal,
                        global_tokens: vec![0, 3],
                        landmark_log_count: options,
                        landmark_exclude_window: options,
                        ..SparseConfig::upstream(5, 8)
                    };
                    let shape = AttnShape {
                        seq,
                        q_heads,
                        kv_heads,
                        head_dim,
                    };
                    out.push(Case { shape, cfg });
                }
            }
        }
    }
    out
}

fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} values vs scalar {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        // Written so that NaN on either side fails (outputs start as NaN to catch unwritten
        // elements).
        let within = (x - y).abs() <= tol * (1.0 + y.abs());
        if !within {
            return Err(format!("index {i}: {x} vs scalar {y}"));
        }
    }
    Ok(())
}

#[test]
fn an_unavailable_isa_is_an_error() {
    let attn = SparseAttention::new(SparseConfig::upstream(4, 4)).unwrap();
    for isa in IsaKind::ALL {
        match attn.clone().with_isa(isa) {
            Ok(a) => assert!(isa.is_available() && a.isa() == isa),
            Err(e) => {
                assert!(!isa.is_available());
                assert_eq!(e, KernelError::IsaUnavailable(isa.name()));
            }
        }
    }
    assert!(IsaKind::Scalar.is_available());
}

#[test]
fn every_available_isa_matches_the_scalar_path() {
    let isas: Vec<IsaKind> = IsaKind::ALL
        .into_iter()
        .filter(|i| *i != IsaKind::Scalar && i.is_available())
        .collect();
    eprintln!("comparing {isas:?} against scalar");
    let mut rng = Rng::new(11);
    for case in cases() {
        let Case { shape, cfg } = case;
        let n = shape.seq;
        let (qr, kr) = (
            shape.q_heads * shape.head_dim,
            shape.kv_heads * shape.head_dim,
        );
        let q = rng.vec(n * qr);
        let k = rng.vec(n * kr);
        let v = rng.vec(n * kr);
        let d_out = rng.vec(n * qr);
        let run = |attn: &SparseAttention| {
            let mut s = Scratch::new();
            // Outputs are written, not added to: start them as NaN.
            let mut out = vec![f32::NAN; q.len()];
            attn.forward_into(shape, &q, &k, &v, &mut out, &mut s)
                .unwrap();
            let (mut dq, mut dk, mut dv) = (
                vec![f32::NAN; q.len()],
                vec![f32::NAN; k.len()],
                vec![f32::NAN; v.len()],
            );
            attn.backward_into(shape, &q, &k, &v, &d_out, &mut dq, &mut dk, &mut dv, &mut s)
                .unwrap();
            let mut dec = vec![0.0; q.len()];
            if cfg.causal {
                let mut cache =
                    KvCache::<f32>::new(n, shape.kv_heads, shape.head_dim, cfg.block_size);
                let mut ds = DecodeScratch::new_for(attn.config(), shape.q_heads, &cache).unwrap();
                for i in 0..n {
                    cache
                        .append(&k[i * kr..(i + 1) * kr], &v[i * kr..(i + 1) * kr])
                        .unwrap();
                    attn.decode_step(
                        &q[i * qr..(i + 1) * qr],
                        &cache,
                        &mut dec[i * qr..(i + 1) * qr],
                        &mut ds,
                    )
                    .unwrap();
                }
            }
            [out, dq, dk, dv, dec]
        };
        let base = SparseAttention::new(cfg.clone()).unwrap().with_scalar();
        let want = run(&base);
        for &isa in &isas {
            let got = run(&base.clone().with_isa(isa).unwrap());
            for (name, g, w) in ["forward", "d_q", "d_k", "d_v", "decode"]
                .iter()
                .zip(&got)
                .zip(&want)
                .map(|((n, g), w)| (n, g, w))
            {
                if let Err(e) = close(g, w, 2e-5) {
                    panic!("{isa:?} {name} {shape:?} causal={}: {e}", cfg.causal);
                }
            }
        }
    }
}

/// A copy of `x` starting `shift` floats past a 64-byte boundary.
fn placed(x: &[f32], shift: usize) -> (Vec<f32>, usize) {
    let mut buf = vec![0.0f32; x.len() + 32];
    let start = (16 - (buf.as_ptr() as usize / 4) % 16) % 16 + shift;
    buf[start..start + x.len()].copy_from_slice(x);
    (buf, start)
}

#[test]
fn results_do_not_depend_on_buffer_alignment() {
    // The vector paths stage unaligned keys/values (and their gradients) in aligned scratch.
    let mut rng = Rng::new(5);
    let shape = AttnShape {
        seq: 200,
        q_heads: 4,
        kv_heads: 2,
        head_dim: 32,
    };
    let attn = SparseAttention::new(SparseConfig::upstream(16, 16)).unwrap();
    let (qn, kn) = (200 * 4 * 32, 200 * 2 * 32);
    let (q, k, v, d_out) = (rng.vec(qn), rng.vec(kn), rng.vec(kn), rng.vec(qn));
    let run = |shift: usize| {
        let (kb, ks) = placed(&k, shift);
        let (vb, vs) = placed(&v, shift);
        let (mut dkb, dks) = placed(&vec![f32::NAN; kn], shift);
        let (mut dvb, dvs) = placed(&vec![f32::NAN; kn], shift);
        let (k, v) = (&kb[ks..ks + kn], &vb[vs..vs + kn]);
        let mut s = Scratch::new();
        let mut out = vec![f32::NAN; qn];
        attn.forward_into(shape, &q, k, v, &mut out, &mut s)
            .unwrap();
        let mut dq = vec![f32::NAN; qn];
        let (dk, dv) = (&mut dkb[dks..dks + kn], &mut dvb[dvs..dvs + kn]);
        attn.backward_into(shape, &q, k, v, &d_out, &mut dq, dk, dv, &mut s)
            .unwrap();
        [out, dq, dk.to_vec(), dv.to_vec()]
    };
    assert_eq!(run(0), run(4));
    assert_eq!(run(0), run(1));
}

/// The AVX-512 tiled forward and backward (tiles of 16 queries, one per lane) against the scalar path over
/// random draws from the pattern grid: every option on and off, windows from 0 to beyond `n`,
/// blocks of 1 to beyond `n`, globals duplicated, inside the window and out of range, lengths
/// with and without a partial tile, several head widths, MHA and GQA, one `Scratch` reused
/// across every shape and outputs starting as NaN.
#[test]
fn tiled_forward_and_backward_match_scalar_over_the_pattern_grid() {
    if !IsaKind::Avx512.is_available() {
        eprintln!("AVX-512 unavailable: the tiled forward does not run on this machine");
        return;
    }
    let mut rng = Rng::new(0x7113);
    let mut pick = |n: usize| (rng.next_u64() % n as u64) as usize;
    let mut data = Rng::new(5);
    let mut tiled_scratch = Scratch::new();
    for case in 0..500 {
        let cfg = SparseConfig {
            causal: pick(2) == 0,
            window: [0, 1, 15, 16, 17, 40, 1000][pick(7)],
            block_size: [1, 3, 16, 17, 1000][pick(5)],
            global_tokens: [vec![], vec![0], vec![0, 5, 5, 500], vec![33]][pick(4)].clone(),
            log_stride: pick(4) != 0,
            landmarks: pick(4) != 0,
            landmark_log_count: pick(2) == 0,
            landmark_exclude_window: pick(2) == 0,
        };
        let (q_heads, kv_heads) = [(2, 2), (4, 1), (3, 3), (6, 2)][pick(4)];
        let shape = AttnShape {
            seq: [16, 32, 47, 64, 200][pick(5)],
            q_heads,
            kv_heads,
            head_dim: [16, 32, 48, 64][pick(4)],
        };
        let q = data.vec(shape.seq * q_heads * shape.head_dim);
        let k = data.vec(shape.seq * kv_heads * shape.head_dim);
        let v = data.vec(k.len());
        let scalar = SparseAttention::new(cfg.clone()).unwrap().with_scalar();
        let tiled = SparseAttention::new(cfg.clone())
            .unwrap()
            .with_isa(IsaKind::Avx512)
            .unwrap();
        let mut want = vec![f32::NAN; q.len()];
        scalar
            .forward_into(shape, &q, &k, &v, &mut want, &mut Scratch::new())
            .unwrap();
        let mut got = vec![f32::NAN; q.len()];
        tiled
            .forward_into(shape, &q, &k, &v, &mut got, &mut tiled_scratch)
            .unwrap();
        if let Err(e) = close(&got, &want, 2e-5) {
            panic!("case {case}: {cfg:?} {shape:?}: {e}");
        }
        // The backward: gradients are written, not added to, so they start as NaN.
        let d_out = data.vec(q.len());
        let grads = |attn: &SparseAttention, s: &mut Scratch| {
            let mut g = [q.len(), k.len(), v.len()].map(|len| vec![f32::NAN; len]);
            let [dq, dk, dv] = &mut g;
            attn.backward_into(shape, &q, &k, &v, &d_out, dq, dk, dv, s)
                .unwrap();
            g
        };
        let want = grads(&scalar, &mut Scratch::new());
        let got = grads(&tiled, &mut tiled_scratch);
        for (name, g, w) in [
            ("d_q", &got[0], &want[0]),
            ("d_k", &got[1], &want[1]),
            ("d_v", &got[2], &want[2]),
        ] {
            if let Err(e) = close(g, w, 2e-5) {
                panic!("case {case} {name}: {cfg:?} {shape:?}: {e}");
            }
        }
    }
}

/// `forward_threaded` gives `forward_into`'s numbers bit for bit on every ISA, for thread counts
/// that split the tiles evenly, unevenly, into fewer tiles than threads, and with a tail of
/// per-query rows (on AVX-512 every thread runs whole tiles on one shared transposed copy).
#[cfg(feature = "std")]
#[test]
fn threaded_forward_equals_forward_into() {
    let mut data = Rng::new(17);
    let mut scratch = Scratch::new();
    for isa in IsaKind::ALL.into_iter().filter(|i| i.is_available()) {
        for (seq, head_dim, (q_heads, kv_heads), causal) in [
            (16, 16, (2, 2), true),
            (47, 32, (4, 1), false),
            (200, 32, (4, 4), true),
            (257, 64, (6, 2), false),
            (100, 8, (4, 2), true),
        ] {
            let cfg = SparseConfig {
                causal,
                global_tokens: vec![0, 9],
                ..SparseConfig::upstream(16, 8)
            };
            let shape = AttnShape {
                seq,
                q_heads,
                kv_heads,
                head_dim,
            };
            let q = data.vec(seq * q_heads * head_dim);
            let k = data.vec(seq * kv_heads * head_dim);
            let v = data.vec(k.len());
            let attn = SparseAttention::new(cfg).unwrap().with_isa(isa).unwrap();
            let mut want = vec![f32::NAN; q.len()];
            attn.forward_into(shape, &q, &k, &v, &mut want, &mut Scratch::new())
                .unwrap();
            // One scratch across thread counts and shapes, as a caller would keep it.
            for threads in [1, 2, 3, 40] {
                let mut got = vec![f32::NAN; q.len()];
                attn.forward_threaded(shape, &q, &k, &v, &mut got, threads, &mut scratch)
                    .unwrap();
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa:?} {shape:?} threads {threads}"
                );
            }
        }
    }
}

/// `backward_threaded` gives `backward_into`'s gradients up to rounding (the threads' partial
/// sums are added in another order) on every ISA, both paths (tiled head widths and not),
/// tails, GQA, landmarks on and off, causal or not; one thread is `backward_into` bit for bit;
/// a given thread count gives the same bits on every run, with one scratch kept across calls.
#[cfg(feature = "std")]
#[test]
fn threaded_backward_matches_backward_into() {
    let mut data = Rng::new(23);
    let mut scratch = Scratch::new();
    for isa in IsaKind::ALL.into_iter().filter(|i| i.is_available()) {
        for (seq, head_dim, (q_heads, kv_heads), causal, landmarks) in [
            (16, 16, (2, 2), true, true),
            (47, 32, (4, 1), false, true),
            (200, 32, (4, 4), true, true),
            (257, 64, (6, 2), false, false),
            (100, 8, (4, 2), true, true),
            (5, 8, (2, 1), true, true),
        ] {
            let cfg = SparseConfig {
                causal,
                landmarks,
                global_tokens: vec![0, 9],
                ..SparseConfig::upstream(16, 8)
            };
            let shape = AttnShape {
                seq,
                q_heads,
                kv_heads,
                head_dim,
            };
            let q = data.vec(seq * q_heads * head_dim);
            let k = data.vec(seq * kv_heads * head_dim);
            let v = data.vec(k.len());
            let d_out = data.vec(q.len());
            let attn = SparseAttention::new(cfg).unwrap().with_isa(isa).unwrap();
            let grads = |threads: usize, scratch: &mut Scratch| {
                let mut g = [
                    vec![f32::NAN; q.len()],
                    vec![f32::NAN; k.len()],
                    vec![f32::NAN; v.len()],
                ];
                let [dq, dk, dv] = &mut g;
                attn.backward_threaded(shape, &q, &k, &v, &d_out, dq, dk, dv, threads, scratch)
                    .unwrap();
                g
            };
            let mut want = [vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]];
            {
                let [dq, dk, dv] = &mut want;
                attn.backward_into(shape, &q, &k, &v, &d_out, dq, dk, dv, &mut Scratch::new())
                    .unwrap();
            }
            for threads in [1, 2, 3, 40] {
                let got = grads(threads, &mut scratch);
                let again = grads(threads, &mut scratch);
                for ((g, w), a) in got.iter().zip(&want).zip(&again) {
                    let what = format!(
                        "{isa:?} {shape:?} causal {causal} landmarks {landmarks} threads {threads}"
                    );
                    assert!(
                        g.iter().zip(a).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{what}: not the same bits on a second run"
                    );
                    if threads == 1 {
                        assert!(
                            g.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{what}: one thread is not backward_into"
                        );
                    }
                    let scale = w.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
                    let worst = g
                        .iter()
                        .zip(w)
                        .map(|(x, y)| (x - y).abs())
                        .fold(
                            0.0f32,
                            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                        );
                    assert!(
                        worst <= 1e-5 * scale,
                        "{what}: differs by {worst} (scale {scale})"
                    );
                }
            }
        }
    }
}

/// A bad value in `q` or `d_out` is reported as by `backward_into`, whichever thread reads it.
#[cfg(feature = "std")]
#[test]
fn threaded_backward_reports_bad_input_like_backward_into() {
    let mut data = Rng::new(29);
    for isa in IsaKind::ALL.into_iter().filter(|i| i.is_available()) {
        for head_dim in [8, 32] {
            let shape = AttnShape {
                seq: 70,
                q_heads: 2,
                kv_heads: 1,
                head_dim,
            };
            let attn = SparseAttention::new(SparseConfig::upstream(8, 8))
                .unwrap()
                .with_isa(isa)
                .unwrap();
            for (tensor, at) in [
                ("q", 5),
                ("q", 69 * 2 * head_dim),
                ("d_out", 40 * 2 * head_dim),
                ("k", 3),
            ] {
                let mut q = data.vec(shape.seq * 2 * head_dim);
                let mut k = data.vec(shape.seq * head_dim);
                let v = data.vec(k.len());
                let mut d_out = data.vec(q.len());
                match tensor {
                    "q" => q[at] = f32::NAN,
                    "k" => k[at] = f32::INFINITY,
                    _ => d_out[at] = f32::NAN,
                }
                let run = |threads: usize| {
                    let (mut dq, mut dk, mut dv) =
                        (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
                    attn.backward_threaded(
                        shape,
                        &q,
                        &k,
                        &v,
                        &d_out,
                        &mut dq,
                        &mut dk,
                        &mut dv,
                        threads,
                        &mut Scratch::new(),
                    )
                    .unwrap_err()
                };
                let one = run(1);
                assert!(matches!(one, KernelError::NonFinite { .. }), "{one:?}");
                assert_eq!(run(3), one, "{isa:?} head_dim {head_dim} {tensor}[{at}]");
            }
        }
    }
}

//! Our kernel against `ruvllm_sparse_attention` 0.1.1 on random unit-scale inputs over the grid
//! the issue names: causal and not, W, B, globals (incl. out of range), N, MHA / GQA 4:1 / 8:1.

mod common;

use aether_kernel::{AttnShape, DecodeScratch, KvCache, Scratch, SparseAttention, SparseConfig};
use common::{max_abs_diff, Rng};
use ruvllm_sparse_attention as up;
use up::AttentionBackend;

const WINDOWS: [usize; 6] = [0, 1, 5, 16, 32, 128];
const BLOCKS: [usize; 5] = [1, 7, 16, 32, 64];
const SEQS: [usize; 8] = [0, 1, 2, 31, 64, 100, 257, 1024];
const GLOBALS: [&[usize]; 2] = [&[0], &[0, 3, 5000]];
/// (q_heads, kv_heads): MHA, GQA 4:1, GQA 8:1.
const HEADS: [(usize, usize); 3] = [(4, 4), (4, 1), (8, 1)];
const DIM: usize = 16;
const TOL: f32 = 1e-5;

fn configs() -> impl Iterator<Item = (bool, usize, usize, &'static [usize])> {
    let mut v = Vec::new();
    for causal in [true, false] {
        for w in WINDOWS {
            for b in BLOCKS {
                for g in GLOBALS {
                    v.push((causal, w, b, g));
                }
            }
        }
    }
    v.into_iter()
}

fn ours(causal: bool, window: usize, block: usize, globals: &[usize]) -> SparseAttention {
    SparseAttention::new(SparseConfig {
        window,
        block_size: block,
        global_tokens: globals.to_vec(),
        causal,
        ..SparseConfig::default()
    })
    .unwrap()
}

fn theirs(
    causal: bool,
    window: usize,
    block: usize,
    globals: &[usize],
) -> up::SubquadraticSparseAttention {
    up::SubquadraticSparseAttention::new(up::SparseAttentionConfig {
        window,
        block_size: block,
        global_tokens: globals.to_vec(),
        causal,
        use_log_stride: true,
        use_landmarks: true,
        sort_candidates: false,
    })
    .unwrap()
}

fn t3(data: &[f32], seq: usize, heads: usize) -> up::Tensor3 {
    up::Tensor3::from_vec(data.to_vec(), seq, heads, DIM).unwrap()
}

#[test]
fn forward_and_forward_gqa_match_upstream() {
    let mut rng = Rng::new(1);
    let mut worst = 0.0f32;
    let mut cases = 0;
    for (causal, w, b, g) in configs() {
        let a = ours(causal, w, b, g);
        let u = theirs(causal, w, b, g);
        let mut scratch = Scratch::new();
        for n in SEQS {
            for (qh, kvh) in HEADS {
                let q = rng.vec(n * qh * DIM);
                let k = rng.vec(n * kvh * DIM);
                let v = rng.vec(n * kvh * DIM);
                let shape = AttnShape {
                    seq: n,
                    q_heads: qh,
                    kv_heads: kvh,
                    head_dim: DIM,
                };
                let mut out = vec![0.0; q.len()];
                a.forward_into(shape, &q, &k, &v, &mut out, &mut scratch)
                    .unwrap();
                let expected = if qh == kvh {
                    u.forward(&t3(&q, n, qh), &t3(&k, n, kvh), &t3(&v, n, kvh))
                        .unwrap()
                } else {
                    u.forward_gqa(&t3(&q, n, qh), &t3(&k, n, kvh), &t3(&v, n, kvh))
                        .unwrap()
                };
                let err = max_abs_diff(&out, &expected.data);
                assert!(
                    err <= TOL,
                    "causal={causal} W={w} B={b} globals={g:?} N={n} heads={qh}/{kvh}: max |diff| {err}"
                );
                worst = worst.max(err);
                cases += 1;
            }
        }
    }
    println!("forward parity: {cases} cases, worst max |diff| = {worst:e}");
}

#[test]
fn decode_step_matches_upstream_at_every_position() {
    let mut rng = Rng::new(2);
    let mut worst = 0.0f32;
    let mut steps = 0usize;
    for (causal, w, b, g) in configs() {
        let a = ours(causal, w, b, g);
        let u = theirs(causal, w, b, g);
        for n in SEQS {
            for (qh, kvh) in HEADS {
                let mut cache: KvCache = a.make_cache(n.max(1), kvh, DIM, false).unwrap();
                let mut ucache = up::KvCache::new(n.max(1), kvh, DIM, b);
                let mut scratch = DecodeScratch::new_for(a.config(), qh, &cache).unwrap();
                let mut out = vec![0.0; qh * DIM];
                for _ in 0..n {
                    let q = rng.vec(qh * DIM);
                    let k = rng.vec(kvh * DIM);
                    let v = rng.vec(kvh * DIM);
                    cache.append(&k, &v).unwrap();
                    ucache.try_append(&t3(&k, 1, kvh), &t3(&v, 1, kvh)).unwrap();
                    a.decode_step(&q, &cache, &mut out, &mut scratch).unwrap();
                    let expected = u.decode_step(&t3(&q, 1, qh), &ucache).unwrap();
                    let err = max_abs_diff(&out, &expected.data);
                    assert!(
                        err <= TOL,
                        "decode causal={causal} W={w} B={b} globals={g:?} pos={} heads={qh}/{kvh}: {err}",
                        cache.len() - 1
                    );
                    worst = worst.max(err);
                    steps += 1;
                }
            }
        }
    }
    println!("decode parity: {steps} steps, worst max |diff| = {worst:e}");
}

#[test]
fn edge_counts_match_upstream_estimate() {
    for (causal, w, b, g) in configs() {
        let a = ours(causal, w, b, g);
        let u = theirs(causal, w, b, g);
        for n in SEQS {
            assert_eq!(
                a.edge_count(n),
                u.estimate_sparse_edges(n) as u64,
                "causal={causal} W={w} B={b} N={n}"
            );
        }
    }
    // The spec's published counts (ruview-pr516.md §1.8), causal, globals [0].
    let c = |w, b, n| {
        SparseAttention::new(SparseConfig::upstream(w, b))
            .unwrap()
            .edge_count(n)
    };
    assert_eq!(c(128, 64, 100), 5_087);
    assert_eq!(c(32, 16, 1000), 42_362);
    assert_eq!(c(16, 32, 1024), 27_368);
    assert_eq!(c(16, 32, 8192), 269_960);
    // The trained head's pattern (landmarks overlapping the window excluded) at the firmware's
    // 256-frame window, against causal dense 256 * 257 / 2 = 32,896: the aether-train README's
    // bound on the gate's latency ratio (3.68x at 256 frames, 12.7x at 1,024).
    let head = |n| {
        SparseAttention::new(SparseConfig::upstream(32, 16).improved())
            .unwrap()
            .edge_count(n)
    };
    assert_eq!(c(32, 16, 256), 9_426);
    assert_eq!(head(256), 8_946);
    assert_eq!(head(1024), 41_378);
}

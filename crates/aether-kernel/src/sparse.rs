//! Sparse attention prefill (forward) and its backward.

use crate::aligned::{is_line_aligned, LineAligned};
use crate::attend::{
    candidate_offsets, exp_weights, heads_of, softmax_weights, weighted_values, DenseRows, KvRows,
};
use crate::config::{AttnShape, SparseConfig};
use crate::pattern::{block_range, QueryPattern};
#[cfg(target_arch = "x86_64")]
use crate::simd::tile;
use crate::simd::{detected_isa, dispatch, Isa, IsaKind, WithIsa};
use crate::tensor::Tensor3;
use crate::KernelError;
use alloc::vec::Vec;

/// Most threads the threaded forward and backward use: a larger request is clamped (each
/// thread has its own working memory, megabytes at long sequences, so an absurd count would
/// exhaust memory). Fixed, not the machine's core count, so results never depend on the host.
#[cfg(feature = "std")]
pub const MAX_THREADS: usize = 64;

/// Reusable working memory. After the first call of a given size, calls do not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    pattern: Option<QueryPattern>,
    probs: Vec<f32>,
    offs: Vec<usize>,
    lm_k: Vec<f32>,
    lm_v: Vec<f32>,
    // Backward only: gradients of landmark keys/values, and per-candidate value dots.
    d_lm_k: Vec<f32>,
    d_lm_v: Vec<f32>,
    dp: Vec<f32>,
    // Backward only: a tile of queries' local-window weights (`ds` and `p`), gathered into the
    // key/value gradients key by key once the tile is done (see `WINDOW_TILE`).
    win_ds: Vec<f32>,
    win_p: Vec<f32>,
    // Vector paths: line-aligned keys/values (and key/value gradients) when the caller's are
    // not (see `aligned`).
    k_line: LineAligned,
    v_line: LineAligned,
    dk_line: LineAligned,
    dv_line: LineAligned,
    /// AVX-512 forward and backward over tiles of queries (see `simd::tile`).
    #[cfg(target_arch = "x86_64")]
    tile: tile::TileScratch,
    #[cfg(target_arch = "x86_64")]
    tile_kv: tile::TransposedKv,
    /// `backward_threaded`: each extra thread's own working memory and gradient partial sums
    /// (in its `dk_line`/`dv_line`, `d_lm_*` and `tile`), kept across calls.
    #[cfg(feature = "std")]
    workers: Vec<Scratch>,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// `prepare` plus the backward-only buffers: landmark gradients (zeroed), value dots and
    /// the window tile.
    fn prepare_backward(
        &mut self,
        cfg: &SparseConfig,
        shape: &AttnShape,
    ) -> Result<(), KernelError> {
        self.prepare(cfg, shape)?;
        let lm_len = if cfg.landmarks { self.lm_k.len() } else { 0 };
        self.d_lm_k.clear();
        self.d_lm_k.resize(lm_len, 0.0);
        self.d_lm_v.clear();
        self.d_lm_v.resize(lm_len, 0.0);
        grow(&mut self.dp, self.probs.len());
        let span = window_span(cfg, shape.seq);
        let win = window_tile(shape.q_heads, span)
            .checked_mul(shape.q_heads)
            .and_then(|x| x.checked_mul(span))
            .ok_or(KernelError::SizeOverflow)?;
        grow(&mut self.win_ds, win);
        grow(&mut self.win_p, win);
        Ok(())
    }

    fn prepare(&mut self, cfg: &SparseConfig, shape: &AttnShape) -> Result<(), KernelError> {
        if self.pattern.as_ref().is_none_or(|p| !p.fits(cfg)) {
            self.pattern = Some(QueryPattern::with_capacity(cfg));
        }
        let n = shape.seq;
        let span = if cfg.causal {
            cfg.window.saturating_add(1)
        } else {
            cfg.window.saturating_mul(2).saturating_add(1)
        };
        let max_c = span.min(n)
            + cfg.global_tokens.len()
            + 2 * usize::BITS as usize
            + 2
            + 2 * usize::BITS as usize;
        // + 1: each head's inverse softmax sum follows the weights (see `exp_weights`).
        let probs = (max_c + 1)
            .checked_mul(shape.q_heads)
            .ok_or(KernelError::SizeOverflow)?;
        grow(&mut self.probs, probs);
        if self.offs.len() < max_c {
            self.offs.resize(max_c, 0);
        }
        if cfg.landmarks {
            let lm = n
                .div_ceil(cfg.block_size)
                .checked_mul(shape.kv_heads * shape.head_dim)
                .ok_or(KernelError::SizeOverflow)?;
            grow(&mut self.lm_k, lm);
            grow(&mut self.lm_v, lm);
        }
        Ok(())
    }
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Shape and length checks of both backward passes.
fn check_backward_lengths(
    shape: AttnShape,
    [q, k, v, d_out]: [&[f32]; 4],
    [d_q, d_k, d_v]: [usize; 3],
) -> Result<(), KernelError> {
    shape.check(q.len(), k.len(), v.len())?;
    for (tensor, expected, got) in [
        ("d_out", q.len(), d_out.len()),
        ("d_q", q.len(), d_q),
        ("d_k", k.len(), d_k),
        ("d_v", v.len(), d_v),
    ] {
        if expected != got {
            return Err(KernelError::Length {
                tensor,
                expected,
                got,
            });
        }
    }
    Ok(())
}

/// The dense backward's checks (shapes and lengths, finite inputs); then zeroes the gradients
/// it accumulates into.
pub(crate) fn prepare_backward(
    shape: AttnShape,
    [q, k, v, d_out]: [&[f32]; 4],
    [d_q, d_k, d_v]: [&mut [f32]; 3],
) -> Result<(), KernelError> {
    check_backward_lengths(shape, [q, k, v, d_out], [d_q.len(), d_k.len(), d_v.len()])?;
    for (tensor, x) in [("q", q), ("k", k), ("v", v), ("d_out", d_out)] {
        check_finite(tensor, x)?;
    }
    d_q.fill(0.0);
    d_k.fill(0.0);
    d_v.fill(0.0);
    Ok(())
}

pub(crate) fn check_finite(tensor: &'static str, x: &[f32]) -> Result<(), KernelError> {
    // Whole tensors are checked on every call: compile the scan for the widest ISA too.
    let flags = if x.len() >= 4096 {
        dispatch(detected_isa(), FiniteFlags(x))
    } else {
        finite_flags(x)
    };
    if flags & 0x8000_0000 != 0 {
        let index = x.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Err(KernelError::NonFinite { tensor, index });
    }
    Ok(())
}

/// Bit 31 set iff `x` holds NaN or infinity. Those are exactly the values with an all-ones
/// exponent, and adding one exponent unit carries into bit 31 only from there; and/add/or
/// vectorise on any ISA. (The index is located only on failure.)
#[inline(always)]
fn finite_flags(x: &[f32]) -> u32 {
    x.iter().fold(0u32, |acc, v| {
        acc | ((v.to_bits() & 0x7f80_0000) + 0x0080_0000)
    })
}

struct FiniteFlags<'a>(&'a [f32]);

impl WithIsa for FiniteFlags<'_> {
    type Output = u32;
    #[inline(always)]
    fn run<I: Isa>(self) -> u32 {
        finite_flags(self.0)
    }
}

/// Sparse attention with a fixed pattern. Cheap to clone; holds no buffers.
#[derive(Clone, Debug)]
pub struct SparseAttention {
    cfg: SparseConfig,
    isa: IsaKind,
}

impl SparseAttention {
    pub fn new(cfg: SparseConfig) -> Result<Self, KernelError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            isa: detected_isa(),
        })
    }

    /// Forces the portable scalar path (for tests and for comparing ISAs).
    pub fn with_scalar(mut self) -> Self {
        self.isa = IsaKind::Scalar;
        self
    }

    /// Runs on `isa` instead of the detected best (for tests and for comparing ISAs).
    pub fn with_isa(mut self, isa: IsaKind) -> Result<Self, KernelError> {
        if !isa.is_available() {
            return Err(KernelError::IsaUnavailable(isa.name()));
        }
        self.isa = isa;
        Ok(self)
    }

    pub fn config(&self) -> &SparseConfig {
        &self.cfg
    }

    pub fn isa(&self) -> IsaKind {
        self.isa
    }

    /// Candidate edges per head for a sequence of `n` (tokens plus landmarks).
    pub fn edge_count(&self, n: usize) -> u64 {
        crate::pattern::edge_count(&self.cfg, n)
    }

    /// Prefill: `out[i]` attends over query `i`'s candidates. MHA when `q_heads == kv_heads`,
    /// GQA otherwise (one candidate list and one K/V row load per KV head group).
    /// Inputs must be finite (`NonFinite` otherwise; the first offending value of `q`, else
    /// `k`, else `v`). Query rows are checked as they are used, so after a `NonFinite` in `q`
    /// the contents of `out` are unspecified.
    pub fn forward_into(
        &self,
        shape: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        shape.check(q.len(), k.len(), v.len())?;
        if out.len() != q.len() {
            return Err(KernelError::Length {
                tensor: "out",
                expected: q.len(),
                got: out.len(),
            });
        }
        if shape.seq == 0 {
            return Ok(());
        }
        scratch.prepare(&self.cfg, &shape)?;
        #[cfg(target_arch = "x86_64")]
        if self.isa == IsaKind::Avx512 && tile::applies(&shape) {
            return self.forward_tiled(shape, q, k, v, out, scratch);
        }
        let stage = self.stage_rows(k, v);
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            k_line,
            v_line,
            ..
        } = scratch;
        let (k, v) = match self.scan_kv(&shape, k, v, stage, [lm_k, lm_v], k_line, v_line) {
            Ok(rows) => rows,
            // A bad query is reported first, as everywhere.
            Err(e) => return check_finite("q", q).and(Err(e)),
        };
        let pattern = pattern.as_mut().expect("prepared");
        let q_flags =
            self.per_query_rows(shape, q, [k, v, lm_k, lm_v], out, 0, pattern, probs, offs);
        if q_flags & 0x8000_0000 != 0 {
            check_finite("q", q)?;
        }
        Ok(())
    }

    /// Output rows `first..` (held by `out`) one query at a time; returns the finiteness flags
    /// of the query rows read.
    #[allow(clippy::too_many_arguments)]
    fn per_query_rows(
        &self,
        shape: AttnShape,
        q: &[f32],
        [k, v, lm_k, lm_v]: [&[f32]; 4],
        out: &mut [f32],
        first: usize,
        pattern: &mut QueryPattern,
        probs: &mut [f32],
        offs: &mut [usize],
    ) -> u32 {
        let rows = DenseRows {
            k,
            v,
            lm_k,
            lm_v,
            row: shape.kv_heads * shape.head_dim,
        };
        dispatch(
            self.isa,
            ForwardRows {
                cfg: &self.cfg,
                shape,
                q,
                rows,
                out,
                first,
                pattern,
                probs,
                offs,
            },
        )
    }

    /// `forward_into` on AVX-512: whole tiles of 16 queries lane-parallel (`simd::tile`), the
    /// last `seq % 16` rows per query.
    #[cfg(target_arch = "x86_64")]
    fn forward_tiled(
        &self,
        shape: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            tile,
            tile_kv,
            ..
        } = scratch;
        let inputs = self.transpose_for_tiles(shape, [q, k, v], [lm_k, lm_v], tile_kv)?;
        let pattern = pattern.as_mut().expect("prepared");
        let tiles = shape.seq / tile::TILE;
        let done = tiles * tile::TILE;
        let q_row = shape.q_heads * shape.head_dim;
        let (tiled, tail) = out.split_at_mut(done * q_row);
        // SAFETY: as in `transpose_for_tiles`, which has run on these keys and values.
        let mut q_flags =
            unsafe { tile::forward_tiles(inputs, tiled, 0..tiles, tile_kv, pattern, tile) };
        q_flags |= self.per_query_rows(
            shape,
            q,
            [k, v, lm_k, lm_v],
            tail,
            done,
            pattern,
            probs,
            offs,
        );
        if q_flags & 0x8000_0000 != 0 {
            check_finite("q", q)?;
        }
        Ok(())
    }

    /// The tiled paths' first step: keys and values transposed into `tile_kv` and their landmark
    /// means written, in one read; non-finite values rejected (a bad query first, as everywhere).
    #[cfg(target_arch = "x86_64")]
    fn transpose_for_tiles<'a>(
        &'a self,
        shape: AttnShape,
        [q, k, v]: [&'a [f32]; 3],
        [lm_k, lm_v]: [&'a mut [f32]; 2],
        tile_kv: &mut tile::TransposedKv,
    ) -> Result<tile::TileInputs<'a>, KernelError> {
        let row = shape.kv_heads * shape.head_dim;
        let means = self.cfg.landmarks.then_some([&mut *lm_k, &mut *lm_v]);
        // SAFETY: the tiled paths run only when the ISA is AVX-512 (checked when it was
        // chosen) and `applies` holds (so `row` is a multiple of 16); the callers validated the
        // lengths with `shape.check` and `prepare` sized the landmark buffers.
        let kv_flags =
            unsafe { tile_kv.transpose_kv([k, v], shape.seq, row, self.cfg.block_size, means) };
        if kv_flags & 0x8000_0000 != 0 {
            check_finite("q", q)?;
            check_finite("k", k)?;
            check_finite("v", v)?;
        }
        Ok(tile::TileInputs {
            cfg: &self.cfg,
            shape,
            q,
            k,
            v,
            lm_k,
            lm_v,
        })
    }

    /// Whether keys/values go through line-aligned scratch: on vector paths, when the caller's
    /// are not aligned. (The scalar path, the one on devices, never copies.)
    fn stage_rows(&self, k: &[f32], v: &[f32]) -> bool {
        self.isa != IsaKind::Scalar && !(is_line_aligned(k) && is_line_aligned(v))
    }

    /// Reads keys and values once each: rejects non-finite values (`NonFinite`, keys first),
    /// writes the landmark block means (when the pattern has landmarks) and, with `stage`,
    /// line-aligned copies. Returns the rows attention should read.
    #[allow(clippy::too_many_arguments)]
    fn scan_kv<'k>(
        &self,
        shape: &AttnShape,
        k: &'k [f32],
        v: &'k [f32],
        stage: bool,
        [lm_k, lm_v]: [&mut [f32]; 2],
        k_line: &'k mut LineAligned,
        v_line: &'k mut LineAligned,
    ) -> Result<(&'k [f32], &'k [f32]), KernelError> {
        let row = shape.kv_heads * shape.head_dim;
        let block = self.cfg.block_size;
        let lm = self.cfg.landmarks;
        let mut flags = 0;
        for (x, means, line) in [(k, lm_k, &mut *k_line), (v, lm_v, &mut *v_line)] {
            flags |= dispatch(
                self.isa,
                ScanRows {
                    x,
                    row,
                    block,
                    means: lm.then_some(means),
                    copy: stage.then(|| line.get_mut(x.len())),
                },
            );
        }
        if flags & 0x8000_0000 != 0 {
            // Rare path: locate the first offending value.
            check_finite("k", k)?;
            check_finite("v", v)?;
        }
        Ok(if stage {
            (k_line.staged(k.len()), v_line.staged(v.len()))
        } else {
            (k, v)
        })
    }

    /// Allocating convenience over [`forward_into`](Self::forward_into) for `Tensor3` inputs;
    /// `k.heads` decides MHA vs GQA.
    pub fn forward(&self, q: &Tensor3, k: &Tensor3, v: &Tensor3) -> Result<Tensor3, KernelError> {
        let shape = tensor_shape(q, k, v)?;
        let mut out = Tensor3::try_zeros(q.seq, q.heads, q.dim)?;
        self.forward_into(
            shape,
            &q.data,
            &k.data,
            &v.data,
            &mut out.data,
            &mut Scratch::new(),
        )?;
        Ok(out)
    }

    /// [`forward_into`](Self::forward_into) split over `threads` threads by query rows. On
    /// AVX-512 (head width a multiple of 16) the calling thread and `threads - 1` spawned ones
    /// share one transposed copy of the keys and values and each runs whole tiles, so the result
    /// equals `forward_into`'s bit for bit; otherwise `threads` spawned threads each run the
    /// per-query path on the caller's rows. `scratch` holds
    /// what the threads share (the transposed copy, megabytes at long sequences) across calls;
    /// each thread's own working memory is allocated per call.
    #[cfg(feature = "std")]
    #[allow(clippy::too_many_arguments)]
    pub fn forward_threaded(
        &self,
        shape: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        out: &mut [f32],
        threads: usize,
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let threads = threads.clamp(1, MAX_THREADS).min(shape.seq.max(1));
        if threads == 1 {
            return self.forward_into(shape, q, k, v, out, scratch);
        }
        shape.check(q.len(), k.len(), v.len())?;
        if out.len() != q.len() {
            return Err(KernelError::Length {
                tensor: "out",
                expected: q.len(),
                got: out.len(),
            });
        }
        check_finite("q", q)?;
        let shared = scratch;
        shared.prepare(&self.cfg, &shape)?;
        #[cfg(target_arch = "x86_64")]
        if self.isa == IsaKind::Avx512 && tile::applies(&shape) {
            return self.forward_tiled_threaded(shape, [q, k, v], out, threads, shared);
        }
        // The threads share the caller's rows: no staging.
        let Scratch {
            lm_k,
            lm_v,
            k_line,
            v_line,
            ..
        } = &mut *shared;
        self.scan_kv(&shape, k, v, false, [lm_k, lm_v], k_line, v_line)?;
        let (lm_k, lm_v) = (&shared.lm_k[..], &shared.lm_v[..]);
        let row = shape.q_heads * shape.head_dim;
        let per = shape.seq.div_ceil(threads);
        std::thread::scope(|s| {
            for (t, chunk) in out.chunks_mut(per * row).enumerate() {
                s.spawn(move || {
                    let mut local = Scratch::new();
                    local
                        .prepare(&self.cfg, &shape)
                        .expect("sizes checked by the caller");
                    let Scratch {
                        pattern,
                        probs,
                        offs,
                        ..
                    } = &mut local;
                    let pattern = pattern.as_mut().expect("prepared");
                    let rows = [k, v, lm_k, lm_v];
                    self.per_query_rows(shape, q, rows, chunk, t * per, pattern, probs, offs);
                });
            }
        });
        Ok(())
    }

    /// `forward_threaded` on AVX-512: the keys and values are transposed once, then each thread
    /// (the calling one included) runs a contiguous range of whole tiles with its own plan; the
    /// calling thread also takes the last `seq % 16` rows per query. `q` has been checked.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    fn forward_tiled_threaded(
        &self,
        shape: AttnShape,
        [q, k, v]: [&[f32]; 3],
        out: &mut [f32],
        threads: usize,
        shared: &mut Scratch,
    ) -> Result<(), KernelError> {
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            tile,
            tile_kv,
            ..
        } = shared;
        let inputs = self.transpose_for_tiles(shape, [q, k, v], [lm_k, lm_v], tile_kv)?;
        let (lm_k, lm_v) = (inputs.lm_k, inputs.lm_v);
        let tiles = shape.seq / tile::TILE;
        let q_row = shape.q_heads * shape.head_dim;
        let (tiled, tail) = out.split_at_mut(tiles * tile::TILE * q_row);
        let (tile_kv, tile_work) = (&*tile_kv, tile);
        let pattern = pattern.as_mut().expect("prepared");
        let run = |chunk: &mut [f32],
                   range: core::ops::Range<usize>,
                   pattern: &mut QueryPattern,
                   work: &mut tile::TileScratch| {
            // SAFETY: as in `transpose_for_tiles`; `chunk` holds exactly the rows of `range`.
            unsafe { tile::forward_tiles(inputs, chunk, range, tile_kv, pattern, work) };
        };
        std::thread::scope(|s| {
            // Thread t takes tiles t·tiles/threads.. (sizes differ by at most one; with more
            // threads than tiles some take none). The calling thread takes the first range,
            // one of the smallest, with the caller's scratch, and then the per-query tail.
            let mut rest = tiled;
            let mut mine = None;
            for t in 0..threads {
                let range = tiles * t / threads..tiles * (t + 1) / threads;
                let (chunk, after) =
                    core::mem::take(&mut rest).split_at_mut(range.len() * tile::TILE * q_row);
                rest = after;
                if t == 0 {
                    mine = Some((chunk, range));
                } else if !range.is_empty() {
                    s.spawn(move || {
                        let mut pattern = QueryPattern::with_capacity(&self.cfg);
                        run(
                            chunk,
                            range,
                            &mut pattern,
                            &mut tile::TileScratch::default(),
                        );
                    });
                }
            }
            if let Some((chunk, range)) = mine.filter(|(_, r)| !r.is_empty()) {
                run(chunk, range, pattern, tile_work);
            }
            let rows = [k, v, lm_k, lm_v];
            let done = tiles * tile::TILE;
            self.per_query_rows(shape, q, rows, tail, done, pattern, probs, offs);
        });
        Ok(())
    }

    /// Gradients of `sum(out * d_out)` with respect to `q`, `k` and `v` (written, not added).
    /// Landmark gradients are spread evenly over the member tokens of each block. Inputs must
    /// be finite (`NonFinite` otherwise: the first offending value of `q`, `k`, `v`, `d_out`, in
    /// that order); after a `NonFinite` the gradient buffers' contents are unspecified.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into(
        &self,
        shape: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        d_out: &[f32],
        d_q: &mut [f32],
        d_k: &mut [f32],
        d_v: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        check_backward_lengths(shape, [q, k, v, d_out], [d_q.len(), d_k.len(), d_v.len()])?;
        if shape.seq == 0 {
            return Ok(());
        }
        scratch.prepare_backward(&self.cfg, &shape)?;
        #[cfg(target_arch = "x86_64")]
        if self.isa == IsaKind::Avx512 && tile::applies(&shape) {
            return self.backward_tiled(shape, [q, k, v, d_out], [d_q, d_k, d_v], scratch);
        }
        let stage = self.stage_rows(k, v)
            || (self.isa != IsaKind::Scalar && !(is_line_aligned(d_k) && is_line_aligned(d_v)));
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            d_lm_k,
            d_lm_v,
            dp,
            win_ds,
            win_p,
            k_line,
            v_line,
            dk_line,
            dv_line,
            ..
        } = scratch;
        let (k, v) = match self.scan_kv(
            &shape,
            k,
            v,
            stage,
            [&mut *lm_k, &mut *lm_v],
            k_line,
            v_line,
        ) {
            Ok(rows) => rows,
            Err(e) => return check_finite("q", q).and(Err(e)),
        };
        // d_q needs no zeroing: query i's pass overwrites row i.
        // Staged: gradients accumulate in zeroed line-aligned rows and are copied out after
        // (the caller's d_k/d_v are only written then).
        let (gk, gv) = if stage {
            let (gk, gv) = (dk_line.get_mut(d_k.len()), dv_line.get_mut(d_v.len()));
            gk.fill(0.0);
            gv.fill(0.0);
            (gk, gv)
        } else {
            d_k.fill(0.0);
            d_v.fill(0.0);
            (&mut *d_k, &mut *d_v)
        };
        let rows = DenseRows {
            k,
            v,
            lm_k,
            lm_v,
            row: shape.kv_heads * shape.head_dim,
        };
        let work = PerQueryWork {
            pattern: pattern.as_mut().expect("prepared"),
            probs,
            offs,
            dp,
            win_ds,
            win_p,
        };
        let grads = [gk, gv, &mut d_lm_k[..], &mut d_lm_v[..]];
        let flags = self.backward_pass(shape, q, rows, d_out, d_q, grads, 0..shape.seq, true, work);
        if flags & 0x8000_0000 != 0 {
            check_finite("q", q)?;
            check_finite("d_out", d_out)?;
        }
        if stage {
            d_k.copy_from_slice(dk_line.get_mut(d_k.len()));
            d_v.copy_from_slice(dv_line.get_mut(d_v.len()));
        }
        Ok(())
    }
}

impl SparseAttention {
    /// [`backward_into`](Self::backward_into) split over `threads` threads by query rows
    /// (on AVX-512 with a head width that is a multiple of 16: by whole tiles). Each thread
    /// adds its queries' key/value and landmark gradients into its own buffers (kept in
    /// `scratch` across calls); the calling thread then adds them up in thread order and
    /// spreads the landmark gradients. The result is the same on every run for a given thread
    /// count and equals `backward_into`'s up to rounding (the partial sums are added in
    /// another order); one thread is `backward_into` itself.
    #[cfg(feature = "std")]
    #[allow(clippy::too_many_arguments)]
    pub fn backward_threaded(
        &self,
        shape: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        d_out: &[f32],
        d_q: &mut [f32],
        d_k: &mut [f32],
        d_v: &mut [f32],
        threads: usize,
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let threads = threads.clamp(1, MAX_THREADS).min(shape.seq.max(1));
        if threads == 1 {
            return self.backward_into(shape, q, k, v, d_out, d_q, d_k, d_v, scratch);
        }
        check_backward_lengths(shape, [q, k, v, d_out], [d_q.len(), d_k.len(), d_v.len()])?;
        scratch.prepare_backward(&self.cfg, &shape)?;
        scratch.workers.resize_with(threads - 1, Scratch::default);
        for w in &mut scratch.workers {
            w.prepare_backward(&self.cfg, &shape)?;
        }
        #[cfg(target_arch = "x86_64")]
        if self.isa == IsaKind::Avx512 && tile::applies(&shape) {
            return self.backward_tiled_threaded(shape, [q, k, v, d_out], [d_q, d_k, d_v], scratch);
        }
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            d_lm_k,
            d_lm_v,
            dp,
            win_ds,
            win_p,
            k_line,
            v_line,
            workers,
            ..
        } = scratch;
        // The threads share the caller's rows: no staging.
        let (k, v) = match self.scan_kv(
            &shape,
            k,
            v,
            false,
            [&mut *lm_k, &mut *lm_v],
            k_line,
            v_line,
        ) {
            Ok(rows) => rows,
            Err(e) => return check_finite("q", q).and(Err(e)),
        };
        let (lm_k, lm_v) = (&lm_k[..], &lm_v[..]);
        let (n, q_row, kv_row) = (
            shape.seq,
            shape.q_heads * shape.head_dim,
            shape.kv_heads * shape.head_dim,
        );
        let rows = DenseRows {
            k,
            v,
            lm_k,
            lm_v,
            row: kv_row,
        };
        let pass = |range: core::ops::Range<usize>, d_q: &mut [f32], grads, w| {
            self.backward_pass(
                shape,
                q,
                DenseRows { ..rows },
                d_out,
                d_q,
                grads,
                range,
                false,
                w,
            )
        };
        d_k.fill(0.0);
        d_v.fill(0.0);
        let mut flags = 0;
        std::thread::scope(|s| {
            let mut rest = &mut *d_q;
            let mut handles = Vec::with_capacity(threads - 1);
            let mut mine = None;
            let mut ws = workers.iter_mut();
            for t in 0..threads {
                let range = n * t / threads..n * (t + 1) / threads;
                let (chunk, after) = core::mem::take(&mut rest).split_at_mut(range.len() * q_row);
                rest = after;
                if t == 0 {
                    mine = Some((chunk, range));
                    continue;
                }
                let w = ws.next().expect("a worker per extra thread");
                let (gk, gv) = (w.dk_line.get_mut(k.len()), w.dv_line.get_mut(v.len()));
                gk.fill(0.0);
                gv.fill(0.0);
                let work = PerQueryWork {
                    pattern: w.pattern.as_mut().expect("prepared"),
                    probs: &mut w.probs,
                    offs: &mut w.offs,
                    dp: &mut w.dp,
                    win_ds: &mut w.win_ds,
                    win_p: &mut w.win_p,
                };
                let grads = [gk, gv, &mut w.d_lm_k[..], &mut w.d_lm_v[..]];
                handles.push(s.spawn(move || pass(range, chunk, grads, work)));
            }
            let (chunk, range) = mine.expect("the calling thread's rows");
            let work = PerQueryWork {
                pattern: pattern.as_mut().expect("prepared"),
                probs,
                offs,
                dp,
                win_ds,
                win_p,
            };
            flags |= pass(
                range,
                chunk,
                [&mut *d_k, &mut *d_v, &mut *d_lm_k, &mut *d_lm_v],
                work,
            );
            for h in handles {
                flags |= h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            }
        });
        for w in &workers[..threads - 1] {
            add_into(d_k, w.dk_line.staged(k.len()));
            add_into(d_v, w.dv_line.staged(v.len()));
            add_into(d_lm_k, &w.d_lm_k);
            add_into(d_lm_v, &w.d_lm_v);
        }
        // The landmark spread, once, over the summed landmark gradients (a pass of no queries).
        let work = PerQueryWork {
            pattern: pattern.as_mut().expect("prepared"),
            probs,
            offs,
            dp,
            win_ds,
            win_p,
        };
        let grads = [d_k, d_v, &mut d_lm_k[..], &mut d_lm_v[..]];
        self.backward_pass(shape, q, rows, d_out, &mut [], grads, n..n, true, work);
        check_backward_flags(flags, q, d_out)
    }

    /// `backward_threaded` on AVX-512: the keys and values transposed once, then each thread (the
    /// calling one included) runs a contiguous range of whole tiles into its own transposed
    /// gradients; the calling thread writes its own back, adds the others' in thread order, and
    /// runs the last `seq % 16` queries and the landmark spread per query.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    fn backward_tiled_threaded(
        &self,
        shape: AttnShape,
        [q, k, v, d_out]: [&[f32]; 4],
        [d_q, d_k, d_v]: [&mut [f32]; 3],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            d_lm_k,
            d_lm_v,
            dp,
            win_ds,
            win_p,
            tile,
            tile_kv,
            workers,
            ..
        } = scratch;
        let threads = workers.len() + 1;
        let inputs = self.transpose_for_tiles(shape, [q, k, v], [lm_k, lm_v], tile_kv)?;
        let (n, row, q_row) = (
            shape.seq,
            shape.kv_heads * shape.head_dim,
            shape.q_heads * shape.head_dim,
        );
        let tiles = n / tile::TILE;
        let (tiled_dq, tail_dq) = d_q.split_at_mut(tiles * tile::TILE * q_row);
        let kv = &*tile_kv;
        let run = |d_q: &mut [f32],
                   range: core::ops::Range<usize>,
                   [d_lm_k, d_lm_v]: [&mut [f32]; 2],
                   pattern: &mut QueryPattern,
                   ts: &mut tile::TileScratch| {
            let grads = tile::TileGrads {
                d_out,
                d_q,
                d_lm_k,
                d_lm_v,
            };
            // SAFETY: as in `transpose_for_tiles`, which has run on these keys and values; each
            // `d_q` chunk holds exactly its range's rows and the landmark gradients were sized
            // by `prepare_backward`.
            unsafe { tile::backward_tiles(inputs, grads, range, kv, pattern, ts) }
        };
        let pattern = pattern.as_mut().expect("prepared");
        let mut flags = 0;
        let mut ran = Vec::with_capacity(threads - 1);
        std::thread::scope(|s| {
            let mut rest = tiled_dq;
            let mut handles = Vec::with_capacity(threads - 1);
            let mut mine = None;
            for (t, w) in core::iter::once(None)
                .chain(workers.iter_mut().map(Some))
                .enumerate()
            {
                // Thread t takes tiles t·tiles/threads..; the calling thread always runs (its
                // transposed gradients, zeroed even for no tiles, are the sum's base).
                let range = tiles * t / threads..tiles * (t + 1) / threads;
                let (chunk, after) =
                    core::mem::take(&mut rest).split_at_mut(range.len() * tile::TILE * q_row);
                rest = after;
                match w {
                    None => mine = Some((chunk, range)),
                    Some(w) if !range.is_empty() => {
                        ran.push(t - 1);
                        let Scratch {
                            pattern,
                            d_lm_k,
                            d_lm_v,
                            tile,
                            ..
                        } = w;
                        let pattern = pattern.as_mut().expect("prepared");
                        handles.push(s.spawn(move || {
                            run(
                                chunk,
                                range,
                                [&mut d_lm_k[..], &mut d_lm_v[..]],
                                pattern,
                                tile,
                            )
                        }));
                    }
                    Some(_) => {}
                }
            }
            let (chunk, range) = mine.expect("the calling thread's tiles");
            flags |= run(
                chunk,
                range,
                [&mut d_lm_k[..], &mut d_lm_v[..]],
                pattern,
                tile,
            );
            for h in handles {
                flags |= h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            }
        });
        // SAFETY: each scratch's `backward_tiles` just ran for this sequence.
        unsafe { tile.untranspose_grads([&mut *d_k, &mut *d_v], n, row, false) };
        for &i in &ran {
            let w = &workers[i];
            // SAFETY: as above.
            unsafe {
                w.tile
                    .untranspose_grads([&mut *d_k, &mut *d_v], n, row, true)
            };
            add_into(d_lm_k, &w.d_lm_k);
            add_into(d_lm_v, &w.d_lm_v);
        }
        flags |= self.backward_rows(
            inputs,
            d_out,
            tail_dq,
            [d_k, d_v, d_lm_k, d_lm_v],
            tiles * tile::TILE..n,
            PerQueryWork {
                pattern,
                probs,
                offs,
                dp,
                win_ds,
                win_p,
            },
        );
        check_backward_flags(flags, q, d_out)
    }

    /// `backward_into` on AVX-512: whole tiles of 16 queries lane-parallel (`simd::tile`), the
    /// last `seq % 16` queries and the landmark spread per query.
    #[cfg(target_arch = "x86_64")]
    fn backward_tiled(
        &self,
        shape: AttnShape,
        [q, k, v, d_out]: [&[f32]; 4],
        [d_q, d_k, d_v]: [&mut [f32]; 3],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let Scratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            d_lm_k,
            d_lm_v,
            dp,
            win_ds,
            win_p,
            tile,
            tile_kv,
            ..
        } = scratch;
        let inputs = self.transpose_for_tiles(shape, [q, k, v], [lm_k, lm_v], tile_kv)?;
        let (n, row) = (shape.seq, shape.kv_heads * shape.head_dim);
        let tiles = n / tile::TILE;
        let (tiled_dq, tail_dq) =
            d_q.split_at_mut(tiles * tile::TILE * shape.q_heads * shape.head_dim);
        let pattern = pattern.as_mut().expect("prepared");
        let grads = tile::TileGrads {
            d_out,
            d_q: tiled_dq,
            d_lm_k: &mut *d_lm_k,
            d_lm_v: &mut *d_lm_v,
        };
        // SAFETY: as in `transpose_for_tiles`; the gradient buffers passed
        // `check_backward_lengths` and `prepare` sized the landmark gradients with the means.
        let mut flags =
            unsafe { tile::backward_tiles(inputs, grads, 0..tiles, tile_kv, pattern, tile) };
        // SAFETY: `backward_tiles` just ran with `tile` for this sequence.
        unsafe { tile.untranspose_grads([&mut *d_k, &mut *d_v], n, row, false) };
        flags |= self.backward_rows(
            inputs,
            d_out,
            tail_dq,
            [d_k, d_v, d_lm_k, d_lm_v],
            tiles * tile::TILE..n,
            PerQueryWork {
                pattern,
                probs,
                offs,
                dp,
                win_ds,
                win_p,
            },
        );
        check_backward_flags(flags, q, d_out)
    }

    /// The per-query backward of queries `rows` (their `d_q` rows in `d_q`), added onto
    /// `d_k`/`d_v` and the landmark gradients, then (when `rows` ends the sequence) the landmark
    /// spread. Returns the finiteness flags of the rows read.
    #[cfg(target_arch = "x86_64")]
    fn backward_rows(
        &self,
        inputs: tile::TileInputs<'_>,
        d_out: &[f32],
        d_q: &mut [f32],
        grads: [&mut [f32]; 4],
        rows: core::ops::Range<usize>,
        w: PerQueryWork<'_>,
    ) -> u32 {
        let shape = inputs.shape;
        let dense = DenseRows {
            k: inputs.k,
            v: inputs.v,
            lm_k: inputs.lm_k,
            lm_v: inputs.lm_v,
            row: shape.kv_heads * shape.head_dim,
        };
        let spread = rows.end == shape.seq;
        self.backward_pass(shape, inputs.q, dense, d_out, d_q, grads, rows, spread, w)
    }
}

/// A per-query pass's working buffers (from one `Scratch`).
struct PerQueryWork<'a> {
    pattern: &'a mut QueryPattern,
    probs: &'a mut [f32],
    offs: &'a mut [usize],
    dp: &'a mut [f32],
    win_ds: &'a mut [f32],
    win_p: &'a mut [f32],
}

impl SparseAttention {
    /// The per-query backward of queries `range` (their `d_q` rows in `d_q`), added onto the
    /// key/value and landmark gradients; with `spread`, then the landmark spread (the last
    /// pass of a call). Returns the finiteness flags of the rows read.
    #[allow(clippy::too_many_arguments)]
    fn backward_pass(
        &self,
        shape: AttnShape,
        q: &[f32],
        rows: DenseRows<'_>,
        d_out: &[f32],
        d_q: &mut [f32],
        [d_k, d_v, d_lm_k, d_lm_v]: [&mut [f32]; 4],
        range: core::ops::Range<usize>,
        spread: bool,
        w: PerQueryWork<'_>,
    ) -> u32 {
        dispatch(
            self.isa,
            Backward {
                cfg: &self.cfg,
                shape,
                q,
                rows,
                d_out,
                d_q,
                d_k,
                d_v,
                d_lm_k,
                d_lm_v,
                start: range.start,
                end: range.end,
                spread,
                pattern: w.pattern,
                probs: w.probs,
                offs: w.offs,
                dp: w.dp,
                win_ds: w.win_ds,
                win_p: w.win_p,
            },
        )
    }
}

/// `dst += src`, element by element (the threads' partial gradient sums).
#[cfg(feature = "std")]
fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

/// `NonFinite` for the first bad value of `q`, then `d_out`, when the passes flagged one.
/// (Used by the threaded and tiled backwards: a bare-metal build has neither.)
#[cfg(any(feature = "std", target_arch = "x86_64"))]
fn check_backward_flags(flags: u32, q: &[f32], d_out: &[f32]) -> Result<(), KernelError> {
    if flags & 0x8000_0000 != 0 {
        check_finite("q", q)?;
        check_finite("d_out", d_out)?;
    }
    Ok(())
}

/// Shape of a `Tensor3` triple: equal seq and dim, `k` and `v` identical, head ratio integral.
pub fn tensor_shape(q: &Tensor3, k: &Tensor3, v: &Tensor3) -> Result<AttnShape, KernelError> {
    if k.shape() != v.shape() {
        let what = if k.seq != v.seq {
            "k/v seq"
        } else if k.heads != v.heads {
            "k/v heads"
        } else {
            "k/v dim"
        };
        let (e, g) = if k.seq != v.seq {
            (k.seq, v.seq)
        } else if k.heads != v.heads {
            (k.heads, v.heads)
        } else {
            (k.dim, v.dim)
        };
        return Err(KernelError::Mismatch {
            what,
            expected: e,
            got: g,
        });
    }
    if q.seq != k.seq {
        return Err(KernelError::Mismatch {
            what: "q/k seq",
            expected: q.seq,
            got: k.seq,
        });
    }
    if q.dim != k.dim {
        return Err(KernelError::Mismatch {
            what: "q/k dim",
            expected: q.dim,
            got: k.dim,
        });
    }
    let shape = AttnShape {
        seq: q.seq,
        q_heads: q.heads,
        kv_heads: k.heads,
        head_dim: q.dim,
    };
    shape.validate()?;
    Ok(shape)
}

/// One read of a key or value tensor before attention: its non-finite flags (bit 31, as
/// `finite_flags`), its landmark block means when `means` is given, and its line-aligned copy
/// when `copy` is given. One pass instead of three keeps a long sequence from streaming through
/// the cache three times. Means sum rows in order from zero and multiply by `1/count`: the
/// operations decode's incremental landmarks repeat, so decode equals forward exactly.
struct ScanRows<'a> {
    x: &'a [f32],
    row: usize,
    block: usize,
    means: Option<&'a mut [f32]>,
    copy: Option<&'a mut [f32]>,
}

impl WithIsa for ScanRows<'_> {
    type Output = u32;
    #[inline(always)]
    fn run<I: Isa>(self) -> u32 {
        let ScanRows {
            x,
            row,
            block,
            mut means,
            mut copy,
        } = self;
        if row == 0 {
            return 0;
        }
        let n = x.len() / row;
        // Without means the whole tensor is one "block".
        let block = if means.is_some() { block } else { n.max(1) };
        let mut flags = 0;
        for b in 0..n.div_ceil(block) {
            let (s, e) = block_range(b, block, n);
            if let Some(m) = means.as_deref_mut() {
                m[b * row..(b + 1) * row].fill(0.0);
            }
            for j in s..e {
                let r = &x[j * row..(j + 1) * row];
                flags |= finite_flags(r);
                if let Some(c) = copy.as_deref_mut() {
                    c[j * row..(j + 1) * row].copy_from_slice(r);
                }
                if let Some(m) = means.as_deref_mut() {
                    I::axpy(&mut m[b * row..(b + 1) * row], 1.0, r);
                }
            }
            if let Some(m) = means.as_deref_mut() {
                I::scale(&mut m[b * row..(b + 1) * row], 1.0 / (e - s) as f32);
            }
        }
        flags
    }
}

struct ForwardRows<'a> {
    cfg: &'a SparseConfig,
    shape: AttnShape,
    q: &'a [f32],
    rows: DenseRows<'a>,
    /// Output rows for queries `first..first + out.len() / row`.
    out: &'a mut [f32],
    first: usize,
    pattern: &'a mut QueryPattern,
    probs: &'a mut [f32],
    offs: &'a mut [usize],
}

impl WithIsa for ForwardRows<'_> {
    /// Non-finite flags of the query rows read (bit 31, as `finite_flags`): checking each
    /// row as it is used saves a pass over `q`.
    type Output = u32;
    #[inline(always)]
    fn run<I: Isa>(self) -> u32 {
        let ForwardRows {
            cfg,
            shape,
            q,
            rows,
            out,
            first,
            pattern,
            probs,
            offs,
        } = self;
        let row = shape.q_heads * shape.head_dim;
        let n = shape.seq;
        let mut flags = 0;
        for (r, out_row) in out.chunks_exact_mut(row).enumerate() {
            let i = first + r;
            pattern.build(cfg, n, i);
            let q_row = &q[i * row..(i + 1) * row];
            flags |= finite_flags(q_row);
            let nc = candidate_offsets::<I, _>(pattern, &rows, offs);
            exp_weights::<I, _>(cfg, &shape, n, pattern, &rows, &offs[..nc], q_row, probs);
            weighted_values::<I, _>(&shape, pattern, &rows, &offs[..nc], probs, out_row);
        }
        flags
    }
}

struct Backward<'a> {
    cfg: &'a SparseConfig,
    shape: AttnShape,
    q: &'a [f32],
    rows: DenseRows<'a>,
    d_out: &'a [f32],
    d_q: &'a mut [f32],
    d_k: &'a mut [f32],
    d_v: &'a mut [f32],
    d_lm_k: &'a mut [f32],
    d_lm_v: &'a mut [f32],
    /// The queries this pass handles, `start..end` (`d_q` holds exactly their rows; the rest
    /// are another pass's: the tiled backward's, another thread's).
    start: usize,
    end: usize,
    /// Spread the landmark gradients over their blocks' tokens at the end (the last pass).
    spread: bool,
    pattern: &'a mut QueryPattern,
    probs: &'a mut [f32],
    offs: &'a mut [usize],
    dp: &'a mut [f32],
    win_ds: &'a mut [f32],
    win_p: &'a mut [f32],
}

/// Queries whose local-window gradients are gathered together. The window is the bulk of every
/// query's candidates, and neighbouring queries share most of it: per tile, each key/value
/// gradient row of the window is read and written once instead of once per query.
const WINDOW_TILE: usize = 32;

/// Floats each tile buffer (`win_ds`, `win_p`) may take before wide windows get shorter tiles.
const WINDOW_TILE_FLOATS: usize = 1 << 16;

/// Queries per tile: `WINDOW_TILE`, fewer when the windows are so wide (up to the whole
/// sequence) that a full tile's weights would outgrow `WINDOW_TILE_FLOATS`; at least one.
fn window_tile(q_heads: usize, span: usize) -> usize {
    (WINDOW_TILE_FLOATS / q_heads.saturating_mul(span).max(1)).clamp(1, WINDOW_TILE)
}

/// Longest local window of any query of a sequence of `n`.
fn window_span(cfg: &SparseConfig, n: usize) -> usize {
    let span = if cfg.causal {
        cfg.window.saturating_add(1)
    } else {
        cfg.window.saturating_mul(2).saturating_add(1)
    };
    span.min(n)
}

impl WithIsa for Backward<'_> {
    /// Non-finite flags of the `q` and `d_out` rows read (checked as they are used).
    type Output = u32;
    #[inline(always)]
    fn run<I: Isa>(self) -> u32 {
        let Backward {
            cfg,
            shape,
            q,
            rows,
            d_out,
            d_q,
            d_k,
            d_v,
            d_lm_k,
            d_lm_v,
            start,
            end,
            spread,
            pattern,
            probs,
            offs,
            dp,
            win_ds,
            win_p,
        } = self;
        let heads = heads_of(&shape);
        let d = shape.head_dim;
        let row = shape.q_heads * d;
        let kv_row = shape.kv_heads * d;
        let n = shape.seq;
        let scale = 1.0 / libm::sqrtf(d as f32);
        let mut flags = 0;
        let span = window_span(cfg, n);
        let qh = shape.q_heads;
        let tile = window_tile(qh, span);
        // Per tile row: the first key and the length of its query's window.
        let mut win_lo = [0usize; WINDOW_TILE];
        let mut win_len = [0usize; WINDOW_TILE];
        let mut w_at = [0usize; WINDOW_TILE];
        for i in start..end {
            let r = (i - start) % tile;
            pattern.build(cfg, n, i);
            let nc = candidate_offsets::<I, _>(pattern, &rows, offs);
            let offs = &offs[..nc];
            let t = pattern.tokens();
            let q_row = &q[i * row..(i + 1) * row];
            let do_row = &d_out[i * row..(i + 1) * row];
            flags |= finite_flags(q_row) | finite_flags(do_row);
            softmax_weights::<I, _>(cfg, &shape, n, pattern, &rows, offs, q_row, probs);
            // dp[hh][c] = d_out_hh . v_c
            I::scores_list(
                do_row,
                heads,
                rows.values(),
                rows.lm_values(),
                offs,
                t,
                1.0,
                dp,
                nc,
            );
            // ds = p (dp - sum_c p dp) * scale: the gradient of the unscaled dot product.
            for hh in 0..shape.q_heads {
                let p = &probs[hh * nc..(hh + 1) * nc];
                let dph = &mut dp[hh * nc..(hh + 1) * nc];
                // (A plain iterator sum is one serial add chain: use the ISA's dot.)
                let delta = I::dot(p, dph);
                for (x, &pc) in dph.iter_mut().zip(p) {
                    *x = pc * (*x - delta) * scale;
                }
            }
            // Only query i writes d_q[i]: dq = sum_c ds k_c.
            I::weighted_list(
                &mut d_q[(i - start) * row..(i - start + 1) * row],
                heads,
                rows.keys(),
                rows.lm_keys(),
                offs,
                t,
                dp,
                nc,
            );
            // dk += ds q ; dv += p d_out: the window's share after the tile (below), the other
            // candidates' now (landmark rows into d_lm_*).
            let wl = pattern.window_len();
            let (lo, rest) = (pattern.lo, &offs[wl..]);
            I::scatter_list(d_k, d_lm_k, rest, t - wl, heads, q_row, &dp[wl..], nc);
            I::scatter_list(d_v, d_lm_v, rest, t - wl, heads, do_row, &probs[wl..], nc);
            win_lo[r] = lo;
            win_len[r] = wl;
            for hh in 0..qh {
                let at = (r * qh + hh) * span;
                win_ds[at..at + wl].copy_from_slice(&dp[hh * nc..hh * nc + wl]);
                win_p[at..at + wl].copy_from_slice(&probs[hh * nc..hh * nc + wl]);
            }
            if r + 1 == tile || i + 1 == end {
                // Windows start and end no earlier than the previous query's, so the tile
                // rows whose window holds key j are a contiguous run `first..end` that only
                // moves forward with j.
                let tile_rows = r + 1;
                let i0 = i + 1 - tile_rows;
                let (mut first, mut end) = (0, 0);
                for j in win_lo[0]..win_lo[r] + win_len[r] {
                    while first < tile_rows && win_lo[first] + win_len[first] <= j {
                        first += 1;
                    }
                    while end < tile_rows && win_lo[end] <= j {
                        end += 1;
                    }
                    for (s, at) in (first..end).zip(w_at.iter_mut()) {
                        *at = s * qh * span + (j - win_lo[s]);
                    }
                    let w_at = &w_at[..end - first];
                    let (dk_j, dv_j) = (
                        &mut d_k[j * kv_row..(j + 1) * kv_row],
                        &mut d_v[j * kv_row..(j + 1) * kv_row],
                    );
                    I::gather_rows(dk_j, heads, q, i0 + first, win_ds, w_at, span);
                    I::gather_rows(dv_j, heads, d_out, i0 + first, win_p, w_at, span);
                }
            }
        }
        if cfg.landmarks && spread {
            // A block mean's gradient reaches each member token divided by the block's count.
            let nb = n.div_ceil(cfg.block_size);
            for b in 0..nb {
                let (s, e) = block_range(b, cfg.block_size, n);
                let inv = 1.0 / (e - s) as f32;
                let gk = &d_lm_k[b * kv_row..(b + 1) * kv_row];
                let gv = &d_lm_v[b * kv_row..(b + 1) * kv_row];
                for j in s..e {
                    I::axpy(&mut d_k[j * kv_row..(j + 1) * kv_row], inv, gk);
                    I::axpy(&mut d_v[j * kv_row..(j + 1) * kv_row], inv, gv);
                }
            }
        }
        flags
    }
}

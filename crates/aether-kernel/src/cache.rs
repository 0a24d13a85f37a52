//! KV cache (f32 or f16 storage) and the streaming decode step.
//!
//! **Growing mode** keeps every token up to `capacity`; appending to a full cache is
//! `CacheFull`. Complete-block landmark means are finalised as blocks fill, with exactly the
//! operations prefill uses, so decode at position `i` equals `forward` row `i` (causal
//! configs; for a non-causal one, the last row of `forward` over the first `i + 1` tokens,
//! since later tokens do not exist yet).
//!
//! **Sliding mode** keeps the first `pinned` tokens (the global tokens' prefix) forever and the
//! most recent `capacity - pinned` tokens in a ring. The retained frames form a sequence
//! (pinned prefix, then recent frames in order), and decode equals `forward` over that sequence
//! at its last position. Landmarks are then recomputed per step for the blocks the query uses
//! only: O(B · log T) per step, never O(T).
//!
//! Neither mode allocates or does O(T) work per step.

use crate::attend::{candidate_offsets, exp_weights, weighted_values, KvRows};
use crate::config::{AttnShape, PatternExtent, SparseConfig};
use crate::pattern::{block_range, QueryPattern};
use crate::simd::{dispatch, Isa, WithIsa};
use crate::sparse::{check_finite, SparseAttention};
use crate::tensor::{checked_len, try_filled, Tensor3};
use crate::KernelError;
use alloc::vec::Vec;

/// Storage element of a cache: `f32`, or `half::f16` for half the memory.
pub trait KvElem: Copy + Default + 'static {
    const NAME: &'static str;
    /// Whether some finite f32 values become infinite in this storage (checked on append).
    const NARROWS: bool;
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
    /// The storage as f32 when it is f32 (lets decode read rows in place).
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
}

impl KvElem for f32 {
    const NAME: &'static str = "f32";
    const NARROWS: bool = false;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn as_f32(s: &[Self]) -> Option<&[f32]> {
        Some(s)
    }
}

impl KvElem for half::f16 {
    const NAME: &'static str = "f16";
    const NARROWS: bool = true;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        half::f16::from_f32(x)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
}

/// What a full cache does on append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Refuse with `CacheFull`.
    Growing,
    /// Keep the first `pinned` tokens and drop the oldest of the rest.
    Sliding { pinned: usize },
}

/// Keys and values of the tokens seen so far, `[slot][kv_heads][dim]`.
#[derive(Clone, Debug)]
pub struct KvCache<E: KvElem = f32> {
    keys: Vec<E>,
    values: Vec<E>,
    capacity: usize,
    kv_heads: usize,
    dim: usize,
    block_size: usize,
    mode: CacheMode,
    len: usize,
    /// Sliding: ring offset of the oldest non-pinned retained token.
    head: usize,
    appended: u64,
    lm_k: Vec<f32>,
    lm_v: Vec<f32>,
    part_k: Vec<f32>,
    part_v: Vec<f32>,
}

impl KvCache<f32> {
    /// Growing f32 cache (the seed's constructor signature). Panics on what
    /// [`KvCache::try_new`] returns as errors: size overflow, `block_size`, `kv_heads` or
    /// `dim` of 0.
    pub fn new(capacity: usize, kv_heads: usize, dim: usize, block_size: usize) -> Self {
        Self::try_new(capacity, kv_heads, dim, block_size, CacheMode::Growing)
            .expect("KvCache::new")
    }
}

/// Element counts of a cache's buffers (one definition for `try_new` and `heap_bytes`).
struct CacheSizes {
    /// Keys (and values): `capacity * kv_heads * dim`.
    n: usize,
    /// Landmark means (each of keys and values): one row per complete block.
    lm: usize,
    /// One row, `kv_heads * dim` (the partial block sums).
    row: usize,
}

impl CacheSizes {
    fn of(
        capacity: usize,
        kv_heads: usize,
        dim: usize,
        block_size: usize,
    ) -> Result<Self, KernelError> {
        Ok(Self {
            n: checked_len(capacity, kv_heads, dim)?,
            lm: checked_len(capacity / block_size.max(1), kv_heads, dim)?,
            row: checked_len(1, kv_heads, dim)?,
        })
    }
}

/// `a * size + b * size + ...` in bytes, or `SizeOverflow`.
fn bytes_of(parts: &[(usize, usize)]) -> Result<usize, KernelError> {
    parts.iter().try_fold(0usize, |acc, &(n, size)| {
        n.checked_mul(size)
            .and_then(|b| acc.checked_add(b))
            .ok_or(KernelError::SizeOverflow)
    })
}

impl<E: KvElem> KvCache<E> {
    /// Heap bytes [`try_new`](Self::try_new) allocates for these arguments (the buffers'
    /// contents, not the allocator's bookkeeping), without allocating: for firmware that sizes
    /// a heap region before it builds anything.
    pub fn heap_bytes(
        capacity: usize,
        kv_heads: usize,
        dim: usize,
        block_size: usize,
    ) -> Result<usize, KernelError> {
        let CacheSizes { n, lm, row } = CacheSizes::of(capacity, kv_heads, dim, block_size)?;
        let e = core::mem::size_of::<E>();
        bytes_of(&[(n, e), (n, e), (lm, 4), (lm, 4), (row, 4), (row, 4)])
    }

    pub fn try_new(
        capacity: usize,
        kv_heads: usize,
        dim: usize,
        block_size: usize,
        mode: CacheMode,
    ) -> Result<Self, KernelError> {
        if kv_heads == 0 || dim == 0 {
            return Err(KernelError::ZeroDim);
        }
        if block_size == 0 {
            return Err(KernelError::InvalidConfig("block_size must be > 0"));
        }
        if let CacheMode::Sliding { pinned } = mode {
            if pinned >= capacity {
                return Err(KernelError::InvalidConfig(
                    "sliding cache needs capacity > pinned",
                ));
            }
        }
        let CacheSizes { n, lm, row } = CacheSizes::of(capacity, kv_heads, dim, block_size)?;
        Ok(Self {
            keys: try_filled(n, E::default())?,
            values: try_filled(n, E::default())?,
            capacity,
            kv_heads,
            dim,
            block_size,
            mode,
            len: 0,
            head: 0,
            appended: 0,
            lm_k: try_filled(lm, 0.0)?,
            lm_v: try_filled(lm, 0.0)?,
            part_k: try_filled(row, 0.0)?,
            part_v: try_filled(row, 0.0)?,
        })
    }

    /// Retained tokens.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }
    pub fn kv_heads(&self) -> usize {
        self.kv_heads
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn block_size(&self) -> usize {
        self.block_size
    }
    pub fn mode(&self) -> CacheMode {
        self.mode
    }
    /// Tokens appended since creation or the last reset (including dropped ones).
    pub fn appended(&self) -> u64 {
        self.appended
    }
    /// Bytes of key/value storage.
    pub fn storage_bytes(&self) -> usize {
        2 * self.keys.len() * core::mem::size_of::<E>()
    }

    pub fn reset(&mut self) {
        self.len = 0;
        self.head = 0;
        self.appended = 0;
        self.part_k.fill(0.0);
        self.part_v.fill(0.0);
    }

    /// Storage slot of retained position `r`.
    #[inline(always)]
    fn slot(&self, r: usize) -> usize {
        match self.mode {
            CacheMode::Growing => r,
            CacheMode::Sliding { pinned } => {
                if r < pinned {
                    r
                } else {
                    let ring = self.capacity - pinned;
                    let mut s = self.head + (r - pinned);
                    if s >= ring {
                        s -= ring;
                    }
                    pinned + s
                }
            }
        }
    }

    /// Appends one token's keys and values (`[kv_heads][dim]` each).
    pub fn append(&mut self, k: &[f32], v: &[f32]) -> Result<(), KernelError> {
        let row = self.kv_heads * self.dim;
        for (tensor, got) in [("k", k.len()), ("v", v.len())] {
            if got != row {
                return Err(KernelError::Length {
                    tensor,
                    expected: row,
                    got,
                });
            }
        }
        check_finite("k", k)?;
        check_finite("v", v)?;
        if E::NARROWS {
            // An f16 cache would store |x| > 65504 as infinity, poisoning every later step
            // (and, growing, its block's landmark for good): refuse it like a non-finite input.
            for (tensor, x) in [("k", k), ("v", v)] {
                if let Some(index) = x.iter().position(|&s| !E::from_f32(s).to_f32().is_finite()) {
                    return Err(KernelError::OutOfRange {
                        tensor,
                        index,
                        storage: E::NAME,
                    });
                }
            }
        }
        let slot = if self.len < self.capacity {
            self.len
        } else {
            match self.mode {
                CacheMode::Growing => {
                    return Err(KernelError::CacheFull {
                        capacity: self.capacity,
                    })
                }
                CacheMode::Sliding { pinned } => {
                    let s = pinned + self.head;
                    self.head = (self.head + 1) % (self.capacity - pinned);
                    s
                }
            }
        };
        let dst = slot * row;
        for (d, &s) in self.keys[dst..dst + row].iter_mut().zip(k) {
            *d = E::from_f32(s);
        }
        for (d, &s) in self.values[dst..dst + row].iter_mut().zip(v) {
            *d = E::from_f32(s);
        }
        if self.mode == CacheMode::Growing {
            // Same operations as prefill's block means: add rows in order, then scale by 1/B.
            let (ks, vs) = (&self.keys[dst..dst + row], &self.values[dst..dst + row]);
            for (p, &x) in self.part_k.iter_mut().zip(ks) {
                *p += x.to_f32();
            }
            for (p, &x) in self.part_v.iter_mut().zip(vs) {
                *p += x.to_f32();
            }
            if (self.len + 1).is_multiple_of(self.block_size) {
                let b = self.len / self.block_size;
                let inv = 1.0 / self.block_size as f32;
                for (o, p) in self.lm_k[b * row..(b + 1) * row]
                    .iter_mut()
                    .zip(self.part_k.iter_mut())
                {
                    *o = *p * inv;
                    *p = 0.0;
                }
                for (o, p) in self.lm_v[b * row..(b + 1) * row]
                    .iter_mut()
                    .zip(self.part_v.iter_mut())
                {
                    *o = *p * inv;
                    *p = 0.0;
                }
            }
        }
        if self.len < self.capacity {
            self.len += 1;
        }
        self.appended += 1;
        Ok(())
    }

    /// Seed-compatible append of one-token tensors `(1, kv_heads, dim)`.
    pub fn try_append(&mut self, k: &Tensor3, v: &Tensor3) -> Result<(), KernelError> {
        for t in [k, v] {
            if t.seq != 1 {
                return Err(KernelError::Mismatch {
                    what: "append seq",
                    expected: 1,
                    got: t.seq,
                });
            }
            if t.heads != self.kv_heads {
                return Err(KernelError::CacheMismatch {
                    what: "kv_heads",
                    cache: self.kv_heads,
                    call: t.heads,
                });
            }
            if t.dim != self.dim {
                return Err(KernelError::CacheMismatch {
                    what: "dim",
                    cache: self.dim,
                    call: t.dim,
                });
            }
        }
        self.append(&k.data, &v.data)
    }

    /// Key/value rows of retained position `r` converted to f32 (for inspection and tests).
    /// `r` must be a retained position (`< len()`) and each output hold a row
    /// (`kv_heads * dim` values); otherwise an error, nothing written.
    pub fn row_f32(
        &self,
        r: usize,
        out_k: &mut [f32],
        out_v: &mut [f32],
    ) -> Result<(), KernelError> {
        let row = self.kv_heads * self.dim;
        if r >= self.len {
            return Err(KernelError::Mismatch {
                what: "retained position (must be below len)",
                expected: self.len,
                got: r,
            });
        }
        for (tensor, got) in [("out_k", out_k.len()), ("out_v", out_v.len())] {
            if got != row {
                return Err(KernelError::Length {
                    tensor,
                    expected: row,
                    got,
                });
            }
        }
        let o = self.slot(r) * row;
        for (d, s) in out_k.iter_mut().zip(&self.keys[o..o + row]) {
            *d = s.to_f32();
        }
        for (d, s) in out_v.iter_mut().zip(&self.values[o..o + row]) {
            *d = s.to_f32();
        }
        Ok(())
    }
}

/// Working memory of [`SparseAttention::decode_step`], sized once for a config and shape.
#[derive(Debug)]
pub struct DecodeScratch {
    pattern: QueryPattern,
    probs: Vec<f32>,
    offs: Vec<usize>,
    /// Sliding mode: means of the blocks in the pattern, by ordinal.
    lm_k: Vec<f32>,
    lm_v: Vec<f32>,
    /// f16 storage: candidate rows converted to f32, by candidate ordinal.
    gk: Vec<f32>,
    gv: Vec<f32>,
    q_heads: usize,
    kv_row: usize,
}

/// Element counts of a decode scratch's buffers (one definition for `new`, `new_for` and
/// `heap_bytes`).
struct ScratchSizes {
    /// Most candidates of one step (tokens + landmark blocks).
    max_c: usize,
    /// Weights of every query head plus their inverse sums: `(max_c + 1) * q_heads`.
    probs: usize,
    /// Sliding-mode landmark means (each of keys and values).
    lm: usize,
    /// f16 caches: converted candidate rows (each of keys and values); 0 for f32.
    gather: usize,
    kv_row: usize,
}

impl ScratchSizes {
    /// `capacity`: the cache's, when known (the window part never exceeds it); otherwise
    /// absurd windows are clamped to 2^20 keys and `decode_step` checks each step's pattern.
    fn of(
        cfg: PatternExtent,
        q_heads: usize,
        kv_heads: usize,
        dim: usize,
        capacity: Option<usize>,
        f16: bool,
    ) -> Result<Self, KernelError> {
        AttnShape {
            seq: 1,
            q_heads,
            kv_heads,
            head_dim: dim,
        }
        .validate()?;
        let bits = usize::BITS as usize;
        let span = if cfg.causal {
            cfg.window.saturating_add(1)
        } else {
            cfg.window.saturating_mul(2).saturating_add(1)
        };
        let span = span.min(capacity.unwrap_or(1 << 20));
        let overflow = KernelError::SizeOverflow;
        let tokens = span
            .checked_add(cfg.globals)
            .and_then(|x| x.checked_add(2 * bits))
            .ok_or(overflow)?;
        let blocks = 2 + 2 * bits;
        let kv_row = checked_len(1, kv_heads, dim)?;
        let max_c = tokens.checked_add(blocks).ok_or(overflow)?;
        Ok(Self {
            max_c,
            probs: checked_len(max_c + 1, q_heads, 1)?,
            lm: checked_len(blocks, kv_row, 1)?,
            gather: if f16 {
                checked_len(tokens, kv_row, 1)?
            } else {
                0
            },
            kv_row,
        })
    }

    fn bytes(&self) -> Result<usize, KernelError> {
        let u = core::mem::size_of::<usize>();
        bytes_of(&[
            (self.probs, 4),
            (self.max_c, u),
            (self.lm, 4),
            (self.lm, 4),
            (self.gather, 4),
            (self.gather, 4),
        ])
    }
}

impl DecodeScratch {
    /// Scratch for decoding with `cfg` and these head counts, for any cache (windows wider
    /// than 2^20 keys are sized for 2^20; prefer [`new_for`](Self::new_for), which sizes for
    /// the cache and also covers f16 storage).
    pub fn new(
        cfg: &SparseConfig,
        q_heads: usize,
        kv_heads: usize,
        dim: usize,
    ) -> Result<Self, KernelError> {
        Self::with_sizes(
            cfg,
            q_heads,
            ScratchSizes::of(cfg.extent(), q_heads, kv_heads, dim, None, false)?,
        )
    }

    fn with_sizes(
        cfg: &SparseConfig,
        q_heads: usize,
        z: ScratchSizes,
    ) -> Result<Self, KernelError> {
        Ok(Self {
            pattern: QueryPattern::with_capacity(cfg),
            // + 1: each head's inverse softmax sum follows the weights (see `exp_weights`).
            probs: try_filled(z.probs, 0.0)?,
            offs: try_filled(z.max_c, 0)?,
            lm_k: try_filled(z.lm, 0.0)?,
            lm_v: try_filled(z.lm, 0.0)?,
            gk: try_filled(z.gather, 0.0)?,
            gv: try_filled(z.gather, 0.0)?,
            q_heads,
            kv_row: z.kv_row,
        })
    }

    /// Scratch for decoding against `cache` with no allocation in any later step.
    pub fn new_for<E: KvElem>(
        cfg: &SparseConfig,
        q_heads: usize,
        cache: &KvCache<E>,
    ) -> Result<Self, KernelError> {
        let f16 = E::as_f32(&cache.keys[..0]).is_none();
        let z = ScratchSizes::of(
            cfg.extent(),
            q_heads,
            cache.kv_heads,
            cache.dim,
            Some(cache.capacity),
            f16,
        )?;
        Self::with_sizes(cfg, q_heads, z)
    }

    /// Heap bytes [`new_for`](Self::new_for) allocates for a pattern of this extent
    /// (`cfg.extent()`) and a cache of `capacity` tokens of element `E` (the buffers' contents
    /// and the pattern's lists, not the allocator's bookkeeping), without allocating.
    pub fn heap_bytes<E: KvElem>(
        cfg: PatternExtent,
        q_heads: usize,
        kv_heads: usize,
        dim: usize,
        capacity: usize,
    ) -> Result<usize, KernelError> {
        let f16 = E::as_f32(&[]).is_none();
        let z = ScratchSizes::of(cfg, q_heads, kv_heads, dim, Some(capacity), f16)?;
        let bits = usize::BITS as usize;
        let u = core::mem::size_of::<usize>();
        let extra = cfg
            .globals
            .checked_add(2 * bits)
            .ok_or(KernelError::SizeOverflow)?;
        let pattern = bytes_of(&[(extra, u), (2 + 2 * bits, u)])?;
        z.bytes()?
            .checked_add(pattern)
            .ok_or(KernelError::SizeOverflow)
    }
}

struct SlotRows<'a, E: KvElem> {
    cache: &'a KvCache<E>,
    keys: &'a [f32],
    values: &'a [f32],
    lm_k: &'a [f32],
    lm_v: &'a [f32],
    lm_by_ordinal: bool,
}

impl<E: KvElem> KvRows for SlotRows<'_, E> {
    #[inline(always)]
    fn keys(&self) -> &[f32] {
        self.keys
    }
    #[inline(always)]
    fn values(&self) -> &[f32] {
        self.values
    }
    #[inline(always)]
    fn token_off(&self, _c: usize, j: usize) -> usize {
        self.cache.slot(j) * self.cache.kv_heads * self.cache.dim
    }
    #[inline(always)]
    fn lm_keys(&self) -> &[f32] {
        self.lm_k
    }
    #[inline(always)]
    fn lm_values(&self) -> &[f32] {
        self.lm_v
    }
    #[inline(always)]
    fn lm_off(&self, bi: usize, b: usize) -> usize {
        (if self.lm_by_ordinal { bi } else { b }) * self.cache.kv_heads * self.cache.dim
    }
}

struct GatheredRows<'a> {
    gk: &'a [f32],
    gv: &'a [f32],
    lm_k: &'a [f32],
    lm_v: &'a [f32],
    lm_by_ordinal: bool,
    row: usize,
}

impl KvRows for GatheredRows<'_> {
    #[inline(always)]
    fn keys(&self) -> &[f32] {
        self.gk
    }
    #[inline(always)]
    fn values(&self) -> &[f32] {
        self.gv
    }
    #[inline(always)]
    fn token_off(&self, c: usize, _j: usize) -> usize {
        c * self.row
    }
    #[inline(always)]
    fn lm_keys(&self) -> &[f32] {
        self.lm_k
    }
    #[inline(always)]
    fn lm_values(&self) -> &[f32] {
        self.lm_v
    }
    #[inline(always)]
    fn lm_off(&self, bi: usize, b: usize) -> usize {
        (if self.lm_by_ordinal { bi } else { b }) * self.row
    }
}

struct DecodeWork<'a, R: KvRows> {
    cfg: &'a SparseConfig,
    shape: AttnShape,
    pattern: &'a QueryPattern,
    rows: R,
    q: &'a [f32],
    probs: &'a mut [f32],
    offs: &'a mut [usize],
    out: &'a mut [f32],
}

impl<R: KvRows> WithIsa for DecodeWork<'_, R> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self) {
        let DecodeWork {
            cfg,
            shape,
            pattern,
            rows,
            q,
            probs,
            offs,
            out,
        } = self;
        let nc = candidate_offsets::<I, _>(pattern, &rows, offs);
        exp_weights::<I, _>(
            cfg,
            &shape,
            shape.seq,
            pattern,
            &rows,
            &offs[..nc],
            q,
            probs,
        );
        weighted_values::<I, _>(&shape, pattern, &rows, &offs[..nc], probs, out);
    }
}

struct SlidingMeans<'a, E: KvElem> {
    cache: &'a KvCache<E>,
    pattern: &'a QueryPattern,
    n: usize,
    lm_k: &'a mut [f32],
    lm_v: &'a mut [f32],
}

impl<E: KvElem> WithIsa for SlidingMeans<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run<I: Isa>(self) {
        let SlidingMeans {
            cache,
            pattern,
            n,
            lm_k,
            lm_v,
        } = self;
        let row = cache.kv_heads * cache.dim;
        for (bi, &b) in pattern.blocks.iter().enumerate() {
            let (s, e) = block_range(b, cache.block_size, n);
            let ok = &mut lm_k[bi * row..(bi + 1) * row];
            let ov = &mut lm_v[bi * row..(bi + 1) * row];
            ok.fill(0.0);
            ov.fill(0.0);
            for r in s..e {
                let o = cache.slot(r) * row;
                for (a, x) in ok.iter_mut().zip(&cache.keys[o..o + row]) {
                    *a += x.to_f32();
                }
                for (a, x) in ov.iter_mut().zip(&cache.values[o..o + row]) {
                    *a += x.to_f32();
                }
            }
            let inv = 1.0 / (e - s) as f32;
            I::scale(ok, inv);
            I::scale(ov, inv);
        }
    }
}

impl SparseAttention {
    /// Cache sized for this pattern: sliding mode pins the prefix holding the global tokens.
    pub fn make_cache<E: KvElem>(
        &self,
        capacity: usize,
        kv_heads: usize,
        dim: usize,
        sliding: bool,
    ) -> Result<KvCache<E>, KernelError> {
        let mode = if sliding {
            let pinned = self
                .config()
                .global_tokens
                .iter()
                .filter(|&&g| g < capacity)
                .map(|&g| g + 1)
                .max()
                .unwrap_or(0);
            CacheMode::Sliding { pinned }
        } else {
            CacheMode::Growing
        };
        KvCache::try_new(capacity, kv_heads, dim, self.config().block_size, mode)
    }

    /// The checks [`Self::decode_step`] makes of a query of `q_heads` heads against `cache`
    /// (block size, head grouping, length, finite values), without attending. A caller that
    /// must not change the cache on a refused step runs this before appending.
    pub fn check_decode_query<E: KvElem>(
        &self,
        q: &[f32],
        q_heads: usize,
        cache: &KvCache<E>,
    ) -> Result<(), KernelError> {
        let cfg = self.config();
        if cache.block_size != cfg.block_size {
            return Err(KernelError::CacheMismatch {
                what: "block_size",
                cache: cache.block_size,
                call: cfg.block_size,
            });
        }
        AttnShape {
            seq: cache.len,
            q_heads,
            kv_heads: cache.kv_heads,
            head_dim: cache.dim,
        }
        .validate()?;
        let qlen = q_heads * cache.dim;
        if q.len() != qlen {
            return Err(KernelError::Length {
                tensor: "q",
                expected: qlen,
                got: q.len(),
            });
        }
        check_finite("q", q)
    }

    /// Attends the newest cached token: `q` (`[q_heads][dim]`) as position `len - 1` over the
    /// retained tokens, into `out`. Append the token's keys/values first. An empty cache gives
    /// zeros. No allocation, O(window + log T) work (plus O(B log T) in sliding mode).
    pub fn decode_step<E: KvElem>(
        &self,
        q: &[f32],
        cache: &KvCache<E>,
        out: &mut [f32],
        scratch: &mut DecodeScratch,
    ) -> Result<(), KernelError> {
        if scratch.kv_row != cache.kv_heads * cache.dim {
            return Err(KernelError::CacheMismatch {
                what: "kv_heads*dim of scratch",
                cache: cache.kv_heads * cache.dim,
                call: scratch.kv_row,
            });
        }
        let cfg = self.config();
        let q_heads = scratch.q_heads;
        self.check_decode_query(q, q_heads, cache)?;
        let shape = AttnShape {
            seq: cache.len,
            q_heads,
            kv_heads: cache.kv_heads,
            head_dim: cache.dim,
        };
        let qlen = q.len();
        if out.len() != qlen {
            return Err(KernelError::Length {
                tensor: "out",
                expected: qlen,
                got: out.len(),
            });
        }
        if cache.len == 0 {
            out.fill(0.0);
            return Ok(());
        }
        let n = cache.len;
        let DecodeScratch {
            pattern,
            probs,
            offs,
            lm_k,
            lm_v,
            gk,
            gv,
            ..
        } = scratch;
        // A scratch made for fewer global tokens would grow its pattern here: an allocation
        // on the path that promises none.
        if !pattern.fits(cfg) {
            return Err(KernelError::CacheMismatch {
                what: "decode scratch global tokens (use DecodeScratch::new_for)",
                cache: pattern.extra.capacity(),
                call: cfg.global_tokens.len(),
            });
        }
        pattern.build(cfg, n, n - 1);
        let candidates = pattern.tokens() + pattern.blocks.len();
        if candidates > offs.len() || (candidates + 1).saturating_mul(q_heads) > probs.len() {
            return Err(KernelError::CacheMismatch {
                what: "decode scratch candidates (use DecodeScratch::new_for)",
                cache: candidates,
                call: offs.len(),
            });
        }
        let sliding = matches!(cache.mode, CacheMode::Sliding { .. });
        let isa = self.isa();
        if sliding && cfg.landmarks {
            dispatch(
                isa,
                SlidingMeans {
                    cache,
                    pattern,
                    n,
                    lm_k,
                    lm_v,
                },
            );
        }
        let (lmk, lmv): (&[f32], &[f32]) = if sliding {
            (lm_k, lm_v)
        } else {
            (&cache.lm_k, &cache.lm_v)
        };
        match (E::as_f32(&cache.keys), E::as_f32(&cache.values)) {
            (Some(keys), Some(values)) => {
                let rows = SlotRows {
                    cache,
                    keys,
                    values,
                    lm_k: lmk,
                    lm_v: lmv,
                    lm_by_ordinal: sliding,
                };
                dispatch(
                    isa,
                    DecodeWork {
                        cfg,
                        shape,
                        pattern,
                        rows,
                        q,
                        probs,
                        offs,
                        out,
                    },
                );
            }
            _ => {
                let row = cache.kv_heads * cache.dim;
                let tokens = pattern.tokens();
                if gk.len() < tokens * row {
                    return Err(KernelError::CacheMismatch {
                        what: "gather scratch tokens (use DecodeScratch::new_for)",
                        cache: tokens,
                        call: gk.len() / row.max(1),
                    });
                }
                let positions = (pattern.lo..=pattern.hi).chain(pattern.extra.iter().copied());
                for (c, j) in positions.enumerate() {
                    let o = cache.slot(j) * row;
                    for (d, s) in gk[c * row..(c + 1) * row]
                        .iter_mut()
                        .zip(&cache.keys[o..o + row])
                    {
                        *d = s.to_f32();
                    }
                    for (d, s) in gv[c * row..(c + 1) * row]
                        .iter_mut()
                        .zip(&cache.values[o..o + row])
                    {
                        *d = s.to_f32();
                    }
                }
                let rows = GatheredRows {
                    gk,
                    gv,
                    lm_k: lmk,
                    lm_v: lmv,
                    lm_by_ordinal: sliding,
                    row,
                };
                dispatch(
                    isa,
                    DecodeWork {
                        cfg,
                        shape,
                        pattern,
                        rows,
                        q,
                        probs,
                        offs,
                        out,
                    },
                );
            }
        }
        Ok(())
    }

    /// Seed-compatible decode: `q` is `(1, q_heads, dim)`; allocates the result and scratch.
    pub fn decode_step_tensor<E: KvElem>(
        &self,
        q: &Tensor3,
        cache: &KvCache<E>,
    ) -> Result<Tensor3, KernelError> {
        if q.seq != 1 {
            return Err(KernelError::Mismatch {
                what: "decode q seq",
                expected: 1,
                got: q.seq,
            });
        }
        if q.dim != cache.dim {
            return Err(KernelError::CacheMismatch {
                what: "dim",
                cache: cache.dim,
                call: q.dim,
            });
        }
        let mut scratch = DecodeScratch::new_for(self.config(), q.heads, cache)?;
        let mut out = Tensor3::try_zeros(1, q.heads, q.dim)?;
        self.decode_step(&q.data, cache, &mut out.data, &mut scratch)?;
        Ok(out)
    }
}

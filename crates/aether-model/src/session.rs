//! Streaming inference: push one frame at a time, read the head's outputs for the current window.
//!
//! Each layer keeps a KV cache; a pushed frame is projected once per layer, appended, and
//! attended with the kernel's `decode_step` (O(W + log T) candidates), so a push costs the
//! same whatever the session length. Nothing is allocated after [`Session::new`].
//!
//! # Window semantics
//!
//! * **Growing** (`WindowMode::Growing { capacity }`): the window is every frame since the
//!   session started (or was reset), up to `capacity` frames; a push to a full session is
//!   `Kernel(CacheFull)` and changes nothing. Because attention is causal and landmarks use
//!   complete blocks only, the outputs after `T` pushes equal [`TemporalHead::classify`] over
//!   those `T` frames (within float rounding of the kernel's decode vs prefill; tested ≤ 1e-5),
//!   for every pooling mode and any number of layers.
//! * **Sliding** (`WindowMode::Sliding { len: L }`): attention keeps the pinned global prefix
//!   (frames `0..P`, where `P` is one past the largest global token below `L`; `P = 1` for the
//!   default `[0]`) plus
//!   the most recent `L` frames; pooling covers the most recent `L` frames. Each frame's states
//!   are computed once, when it arrives, over what the caches held then, and are never
//!   recomputed. Hence:
//!   - while no frame has been dropped (at most `L + P` pushes) and pooling is `Last`, or at
//!     most `L` pushes for `Mean`, it equals the growing session and `classify` over all frames;
//!   - with **one layer** and `Last` pooling it equals `classify` over the retained frames
//!     (the pinned prefix followed by the last `L` frames), at every push;
//!   - with one layer and `Mean` pooling it is the mean, over the last `L` frames `j`, of the
//!     final state `z_j` that `classify`-style prefill over the frames retained at `j`'s
//!     arrival gives at its last position (then the output layer);
//!   - with **several layers** a frame's layer-`l+1` keys and values come from its layer-`l`
//!     state computed at arrival, while `classify` over the retained frames would recompute
//!     that state over a shorter history (positions shift once frames are dropped). So after
//!     the first drop it equals no single full-window pass: it is the recurrence "each frame
//!     attends, at every layer, to the states the cache retained when it arrived". The tests
//!     check this recurrence against an independent f64 reference.
//!
//! `Session` borrows or owns its head through `H: Borrow<TemporalHead>`: `&TemporalHead`,
//! `Box`, `Rc` or `Arc` all work, so a C wrapper can own both in one allocation.

use crate::error::{ModelError, Result};
use crate::head::{map_kernel, Backend, TemporalHead};
use crate::math::{all_finite, dot};
use crate::spec::{HeadSpec, OutputKind, Pooling};
use aether_kernel::{CacheMode, DecodeScratch, KernelError, KvCache, PatternExtent};
use alloc::vec::Vec;
use core::borrow::Borrow;

/// Which frames the streamed outputs describe (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowMode {
    /// Every frame since the start, up to `capacity`.
    Growing { capacity: usize },
    /// The most recent `len` frames (attention also keeps the pinned global prefix).
    Sliding { len: usize },
}

/// Keys and values for exact dense streaming attention (the A/B backend).
#[derive(Debug)]
struct DenseKv {
    k: Vec<f32>,
    v: Vec<f32>,
    scores: Vec<f32>,
    capacity: usize,
    pinned: usize,
    len: usize,
    next: usize,
}

impl DenseKv {
    fn append(&mut self, k: &[f32], v: &[f32]) {
        let row = k.len();
        let slot = if self.len < self.capacity {
            self.len += 1;
            self.len - 1
        } else {
            // Sliding (growing refuses earlier): overwrite the oldest non-pinned slot.
            let s = self.pinned + self.next;
            self.next = (self.next + 1) % (self.capacity - self.pinned);
            s
        };
        self.k[slot * row..(slot + 1) * row].copy_from_slice(k);
        self.v[slot * row..(slot + 1) * row].copy_from_slice(v);
    }

    /// The newest query over every retained key (all are at or before it): exact softmax.
    fn attend(&mut self, q: &[f32], q_heads: usize, kv_heads: usize, hd: usize, out: &mut [f32]) {
        let row = kv_heads * hd;
        let group = q_heads / kv_heads;
        let scale = 1.0 / libm::sqrtf(hd as f32);
        let n = self.len;
        for h in 0..q_heads {
            let g = h / group;
            let qh = &q[h * hd..(h + 1) * hd];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in self.scores[..n].iter_mut().enumerate() {
                *s = dot(qh, &self.k[j * row + g * hd..j * row + (g + 1) * hd]) * scale;
                max = max.max(*s);
            }
            let mut denom = 0.0;
            for s in self.scores[..n].iter_mut() {
                *s = libm::expf(*s - max);
                denom += *s;
            }
            let o = &mut out[h * hd..(h + 1) * hd];
            o.fill(0.0);
            for (j, &w) in self.scores[..n].iter().enumerate() {
                for (a, &x) in o
                    .iter_mut()
                    .zip(&self.v[j * row + g * hd..j * row + (g + 1) * hd])
                {
                    *a += w * x;
                }
            }
            let inv = 1.0 / denom;
            for a in o.iter_mut() {
                *a *= inv;
            }
        }
    }
}

/// Element type of a sparse session's KV caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvStorage {
    /// f32: streaming equals the full window (≤ 1e-5).
    #[default]
    F32,
    /// IEEE half: half the cache memory; keys and values are rounded to f16 when appended,
    /// so outputs deviate slightly from the full window (measured in tests/streaming.rs).
    F16,
}

// Boxed sparse state: one allocation per layer at session creation, none per push.
#[derive(Debug)]
enum LayerState {
    Sparse(alloc::boxed::Box<(KvCache<f32>, DecodeScratch)>),
    Sparse16(alloc::boxed::Box<(KvCache<half::f16>, DecodeScratch)>),
    Dense(DenseKv),
}

impl LayerState {
    fn reset(&mut self) {
        match self {
            LayerState::Sparse(b) => b.0.reset(),
            LayerState::Sparse16(b) => b.0.reset(),
            LayerState::Dense(d) => {
                d.len = 0;
                d.next = 0;
            }
        }
    }
    fn bytes(&self) -> usize {
        match self {
            LayerState::Sparse(b) => b.0.storage_bytes(),
            LayerState::Sparse16(b) => b.0.storage_bytes(),
            LayerState::Dense(d) => 4 * (d.k.len() + d.v.len() + d.scores.len()),
        }
    }
}

/// A streaming inference session over one head.
#[derive(Debug)]
pub struct Session<H: Borrow<TemporalHead>> {
    head: H,
    mode: WindowMode,
    layers: Vec<LayerState>,
    xn: Vec<f32>,
    h: Vec<f32>,
    a: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
    z: Vec<f32>,
    pooled: Vec<f32>,
    /// Growing + mean: running sum of `z` over the window.
    sum: Vec<f32>,
    /// Sliding + mean: the last `len` rows of `z`, a ring, and their sum in f64, updated by
    /// add-new / subtract-evicted and recomputed exactly from the ring each time it wraps
    /// (O(d_model) per push amortised, no drift).
    ring: Vec<f32>,
    ring_sum: Vec<f64>,
    ring_next: usize,
    frames: u64,
}

/// `P`: frames a sliding cache of `len` pins: one past the largest global token below `len`
/// (a global position beyond the window is never pinned, so `P <= len`).
pub(crate) fn pinned_prefix(globals: &[usize], len: usize) -> usize {
    globals
        .iter()
        .filter(|&&g| g < len)
        .map(|&g| g + 1)
        .max()
        .unwrap_or(0)
}

/// Where a session's frames go: cache capacity (sliding: `len + P`), whether it slides, the
/// pinned prefix `P`.
struct Geometry {
    capacity: usize,
    sliding: bool,
    pinned: usize,
}

/// `pinned`: `P` for this mode's sliding length (ignored when growing).
fn geometry(causal: bool, pinned: usize, mode: WindowMode) -> Result<Geometry> {
    if !causal {
        return Err(ModelError::Unsupported("streaming needs causal attention"));
    }
    let g = match mode {
        WindowMode::Growing { capacity } => Geometry {
            capacity,
            sliding: false,
            pinned: 0,
        },
        WindowMode::Sliding { len } => Geometry {
            capacity: len.checked_add(pinned).ok_or(overflow())?,
            sliding: true,
            pinned,
        },
    };
    let window = match mode {
        WindowMode::Growing { capacity } | WindowMode::Sliding { len: capacity } => capacity,
    };
    if window == 0 {
        return Err(ModelError::InvalidSpec(
            "session capacity / len must be > 0",
        ));
    }
    Ok(g)
}

fn overflow() -> ModelError {
    ModelError::Kernel(KernelError::SizeOverflow)
}

/// `n` copies of `x`, or a size error when the allocator cannot provide them (session sizes
/// come from callers and files; `vec![x; n]` would panic or abort).
fn try_vec<T: Clone>(n: usize, x: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| overflow())?;
    v.resize(n, x);
    Ok(v)
}

/// What a session's memory depends on: a [`HeadSpec`]'s numbers without its lists, so
/// firmware can size a heap region from a model file before anything is allocated
/// ([`HeadSpec::session_shape`] for a spec in hand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionShape {
    pub input_dim: usize,
    pub d_model: usize,
    pub d_ff: usize,
    pub n_layers: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub block_size: usize,
    pub pattern: PatternExtent,
    /// Mean pooling (a sliding session then keeps a ring of pooled states).
    pub mean_pooling: bool,
    /// `P` of a sliding session: one past the largest global token below its length (0 when
    /// growing).
    pub pinned: usize,
}

impl SessionShape {
    /// Heap bytes [`Session::with_kv`] allocates for a head of this shape on the sparse
    /// backend in `mode` (the buffers' contents, not the allocator's bookkeeping), without
    /// allocating. Errors as `Session::new` would give.
    pub fn heap_bytes(&self, mode: WindowMode, kv: KvStorage) -> Result<usize> {
        let g = geometry(self.pattern.causal, self.pinned, mode)?;
        let (q, kh, dim, bs) = (self.q_heads, self.kv_heads, self.head_dim, self.block_size);
        let (cap, ext) = (g.capacity, self.pattern);
        let per_layer = match kv {
            KvStorage::F32 => core::mem::size_of::<(KvCache<f32>, DecodeScratch)>()
                .checked_add(KvCache::<f32>::heap_bytes(cap, kh, dim, bs)?)
                .and_then(|b| {
                    b.checked_add(DecodeScratch::heap_bytes::<f32>(ext, q, kh, dim, cap).ok()?)
                }),
            KvStorage::F16 => core::mem::size_of::<(KvCache<half::f16>, DecodeScratch)>()
                .checked_add(KvCache::<half::f16>::heap_bytes(cap, kh, dim, bs)?)
                .and_then(|b| {
                    b.checked_add(
                        DecodeScratch::heap_bytes::<half::f16>(ext, q, kh, dim, cap).ok()?,
                    )
                }),
        }
        .ok_or(overflow())?;
        let layers = per_layer
            .checked_add(core::mem::size_of::<LayerState>())
            .and_then(|b| b.checked_mul(self.n_layers))
            .ok_or(overflow())?;
        let ring = self.ring_floats(mode)?;
        let ring_sum = if ring == 0 { 0 } else { self.d_model };
        let floats = self
            .activation_floats()
            .ok_or(overflow())?
            .iter()
            .try_fold(ring, |acc, &x| acc.checked_add(x))
            .ok_or(overflow())?;
        floats
            .checked_mul(4)
            .and_then(|b| b.checked_add(ring_sum.checked_mul(8)?))
            .and_then(|b| b.checked_add(layers))
            .ok_or(overflow())
    }

    /// Floats of the per-frame activations: `xn, h, a, q, k, v, att, tmp, ff, z, pooled, sum`
    /// (one definition for `with_kv` and `heap_bytes`).
    fn activation_floats(&self) -> Option<[usize; 12]> {
        let d = self.d_model;
        let qt = self.q_heads.checked_mul(self.head_dim)?;
        let kt = self.kv_heads.checked_mul(self.head_dim)?;
        let tmp = d.max(self.input_dim).checked_mul(2)?;
        Some([
            self.input_dim,
            d,
            d,
            qt,
            kt,
            kt,
            qt,
            tmp,
            self.d_ff,
            d,
            d,
            d,
        ])
    }

    /// Floats of the sliding mean's ring of pooled states (`len * d_model`; 0 otherwise).
    fn ring_floats(&self, mode: WindowMode) -> Result<usize> {
        match mode {
            WindowMode::Sliding { len } if self.mean_pooling => {
                len.checked_mul(self.d_model).ok_or(overflow())
            }
            _ => Ok(0),
        }
    }
}

impl HeadSpec {
    /// This spec's [`SessionShape`] for a session in `mode`.
    pub fn session_shape(&self, mode: WindowMode) -> SessionShape {
        SessionShape {
            input_dim: self.input_dim,
            d_model: self.d_model,
            d_ff: self.d_ff,
            n_layers: self.n_layers,
            q_heads: self.q_heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            block_size: self.attn.block_size,
            pattern: self.attn.extent(),
            mean_pooling: self.pooling == Pooling::Mean,
            pinned: match mode {
                WindowMode::Sliding { len } => pinned_prefix(&self.attn.global_tokens, len),
                WindowMode::Growing { .. } => 0,
            },
        }
    }

    /// [`SessionShape::heap_bytes`] of this spec.
    pub fn session_heap_bytes(&self, mode: WindowMode, kv: KvStorage) -> Result<usize> {
        self.session_shape(mode).heap_bytes(mode, kv)
    }
}

impl TemporalHead {
    /// A session borrowing this head (see [`Session::new`]).
    pub fn session(&self, mode: WindowMode) -> Result<Session<&TemporalHead>> {
        Session::new(self, mode)
    }
}

impl<H: Borrow<TemporalHead>> Session<H> {
    /// Allocates every buffer the session will use: per-layer KV caches of `capacity` frames
    /// (sliding: `len + P`), decode scratch, per-frame activations, the pooling state.
    /// Errors: `Unsupported` for a non-causal head (streaming cannot equal a non-causal
    /// window), `InvalidSpec` for a zero capacity/len, `Kernel` for sizes that overflow.
    pub fn new(head: H, mode: WindowMode) -> Result<Self> {
        Self::with_kv(head, mode, KvStorage::F32)
    }

    /// [`Session::new`] with the KV caches stored as `kv` (sparse backend; the dense A/B
    /// backend always keeps f32).
    pub fn with_kv(head: H, mode: WindowMode, kv: KvStorage) -> Result<Self> {
        let hd = head.borrow();
        let s = hd.spec();
        let shape = s.session_shape(mode);
        let Geometry {
            capacity,
            sliding,
            pinned,
        } = geometry(s.attn.causal, shape.pinned, mode)?;
        let kt = s.kv_total();
        let mut layers = Vec::new();
        layers
            .try_reserve_exact(s.n_layers)
            .map_err(|_| overflow())?;
        for _ in 0..s.n_layers {
            layers.push(match hd.backend() {
                Backend::Sparse => {
                    // Built directly (not `make_cache`) so the pinned prefix is exactly `P`.
                    let cache_mode = if sliding {
                        CacheMode::Sliding { pinned }
                    } else {
                        CacheMode::Growing
                    };
                    let (kh, dim, bs) = (s.kv_heads, s.head_dim, s.attn.block_size);
                    let cfg = hd.attention().config();
                    match kv {
                        KvStorage::F32 => {
                            let cache = KvCache::<f32>::try_new(capacity, kh, dim, bs, cache_mode)?;
                            let scratch = DecodeScratch::new_for(cfg, s.q_heads, &cache)?;
                            LayerState::Sparse(alloc::boxed::Box::new((cache, scratch)))
                        }
                        KvStorage::F16 => {
                            let cache =
                                KvCache::<half::f16>::try_new(capacity, kh, dim, bs, cache_mode)?;
                            let scratch = DecodeScratch::new_for(cfg, s.q_heads, &cache)?;
                            LayerState::Sparse16(alloc::boxed::Box::new((cache, scratch)))
                        }
                    }
                }
                Backend::Dense => {
                    let n = capacity.checked_mul(kt).ok_or(overflow())?;
                    LayerState::Dense(DenseKv {
                        k: try_vec(n, 0.0)?,
                        v: try_vec(n, 0.0)?,
                        scores: try_vec(capacity, 0.0)?,
                        capacity,
                        pinned,
                        len: 0,
                        next: 0,
                    })
                }
            });
        }
        let ring = try_vec(shape.ring_floats(mode)?, 0.0)?;
        let [xn, h, a, q, k, v, att, tmp, ff, z, pooled, sum] =
            shape.activation_floats().ok_or(overflow())?;
        Ok(Session {
            mode,
            layers,
            xn: try_vec(xn, 0.0)?,
            h: try_vec(h, 0.0)?,
            a: try_vec(a, 0.0)?,
            q: try_vec(q, 0.0)?,
            k: try_vec(k, 0.0)?,
            v: try_vec(v, 0.0)?,
            att: try_vec(att, 0.0)?,
            tmp: try_vec(tmp, 0.0)?,
            ff: try_vec(ff, 0.0)?,
            z: try_vec(z, 0.0)?,
            pooled: try_vec(pooled, 0.0)?,
            sum: try_vec(sum, 0.0)?,
            ring_sum: try_vec(if ring.is_empty() { 0 } else { s.d_model }, 0.0)?,
            ring,
            ring_next: 0,
            frames: 0,
            head,
        })
    }

    /// The head.
    pub fn head(&self) -> &TemporalHead {
        self.head.borrow()
    }

    pub fn mode(&self) -> WindowMode {
        self.mode
    }

    /// Frames pushed since the start or the last reset.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames the outputs currently pool over (growing: all; sliding: at most `len`).
    pub fn window_frames(&self) -> usize {
        match self.mode {
            WindowMode::Growing { .. } => self.frames as usize,
            WindowMode::Sliding { len } => (self.frames.min(len as u64)) as usize,
        }
    }

    /// Forget every frame (no allocation).
    pub fn reset(&mut self) {
        for l in &mut self.layers {
            l.reset();
        }
        self.sum.fill(0.0);
        self.ring_sum.fill(0.0);
        self.ring_next = 0;
        self.frames = 0;
    }

    /// Bytes of per-session state: KV storage plus activation and pooling buffers
    /// (excluding the kernel's landmark and decode scratch).
    pub fn state_bytes(&self) -> usize {
        self.layers.iter().map(LayerState::bytes).sum::<usize>()
            + 4 * (self.xn.len()
                + self.h.len()
                + self.a.len()
                + self.q.len()
                + self.k.len()
                + self.v.len()
                + self.att.len()
                + self.tmp.len()
                + self.ff.len()
                + self.z.len()
                + self.pooled.len()
                + self.sum.len()
                + self.ring.len()
                + 2 * self.ring_sum.len())
    }

    /// Adds one frame (`input_dim` values). Errors leave the session unchanged:
    /// `InputLen`, `NonFiniteInput`, and `Kernel(CacheFull)` when a growing session is full.
    /// The one exception is `NonFiniteActivation` (an intermediate value overflowed even
    /// though the frame was finite): the layers are then out of step, so the session is reset.
    /// Does not allocate.
    pub fn push(&mut self, frame: &[f32]) -> Result<()> {
        let Session {
            head,
            mode,
            layers,
            xn,
            h,
            a,
            q,
            k,
            v,
            att,
            tmp,
            ff,
            z,
            sum,
            ring,
            ring_sum,
            ring_next,
            frames,
            ..
        } = self;
        let hd: &TemporalHead = (*head).borrow();
        hd.check_frame_len(frame.len())?;
        if let Some(index) = frame.iter().position(|x| !x.is_finite()) {
            return Err(ModelError::NonFiniteInput { index });
        }
        if let WindowMode::Growing { capacity } = *mode {
            if *frames >= capacity as u64 {
                return Err(ModelError::Kernel(KernelError::CacheFull { capacity }));
            }
        }
        let s = hd.spec();
        hd.embed_frame(frame, xn, h);
        let mut failed = None;
        for (l, state) in layers.iter_mut().enumerate() {
            hd.frame_qkv(l, h, a, q, k, v);
            if !(all_finite(q) && all_finite(k) && all_finite(v)) {
                failed = Some(ModelError::NonFiniteActivation);
                break;
            }
            let r = match state {
                LayerState::Sparse(b) => {
                    let (cache, scratch) = &mut **b;
                    cache
                        .append(k, v)
                        .and_then(|()| hd.attention().decode_step(q, cache, att, scratch))
                }
                LayerState::Sparse16(b) => {
                    let (cache, scratch) = &mut **b;
                    cache
                        .append(k, v)
                        .and_then(|()| hd.attention().decode_step(q, cache, att, scratch))
                }
                LayerState::Dense(dk) => {
                    dk.append(k, v);
                    dk.attend(q, s.q_heads, s.kv_heads, s.head_dim, att);
                    Ok(())
                }
            };
            if let Err(e) = r {
                failed = Some(map_kernel(e));
                break;
            }
            hd.frame_post(l, h, att, tmp, ff);
        }
        if failed.is_none() {
            hd.frame_final(h, z);
            if !all_finite(z) {
                failed = Some(ModelError::NonFiniteActivation);
            }
        }
        if let Some(e) = failed {
            self.reset();
            return Err(e);
        }
        *frames += 1;
        if s.pooling == Pooling::Mean {
            match *mode {
                WindowMode::Growing { .. } => {
                    for (p, x) in sum.iter_mut().zip(z.iter()) {
                        *p += x;
                    }
                }
                WindowMode::Sliding { len } => {
                    let d = s.d_model;
                    let slot = &mut ring[*ring_next * d..(*ring_next + 1) * d];
                    let evict = *frames > len as u64;
                    for ((acc, old), &new) in ring_sum.iter_mut().zip(slot.iter_mut()).zip(z.iter())
                    {
                        if evict {
                            *acc -= *old as f64;
                        }
                        *acc += new as f64;
                        *old = new;
                    }
                    *ring_next = (*ring_next + 1) % len;
                    if *ring_next == 0 {
                        ring_sum.fill(0.0);
                        for row in ring.chunks_exact(d) {
                            for (acc, &x) in ring_sum.iter_mut().zip(row) {
                                *acc += x as f64;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn pool(&mut self) -> Result<()> {
        if self.frames == 0 {
            return Err(ModelError::EmptyWindow);
        }
        let n = self.window_frames();
        match self.head.borrow().spec().pooling {
            Pooling::Last => self.pooled.copy_from_slice(&self.z),
            Pooling::Mean => {
                match self.mode {
                    WindowMode::Growing { .. } => self.pooled.copy_from_slice(&self.sum),
                    WindowMode::Sliding { .. } => {
                        for (p, &x) in self.pooled.iter_mut().zip(&self.ring_sum) {
                            *p = x as f32;
                        }
                    }
                }
                let nf = n as f32;
                for p in self.pooled.iter_mut() {
                    *p /= nf;
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut [f32], kind: Option<OutputKind>) -> Result<()> {
        let spec = self.head.borrow().spec();
        if let Some(k) = kind {
            if spec.output_kind != k {
                return Err(ModelError::WrongOutputKind);
            }
        }
        if out.len() != spec.n_out {
            return Err(ModelError::OutputLen {
                expected: spec.n_out,
                got: out.len(),
            });
        }
        self.pool()?;
        self.head.borrow().output(&self.pooled, out)
    }

    /// Class logits of the current window (classes heads). `EmptyWindow` before any push.
    pub fn logits(&mut self, out: &mut [f32]) -> Result<()> {
        self.emit(out, Some(OutputKind::Classes))
    }

    /// The L2-normalised embedding of the current window (embedding heads).
    pub fn embedding(&mut self, out: &mut [f32]) -> Result<()> {
        self.emit(out, Some(OutputKind::Embedding))
    }

    /// The head's outputs whatever their kind.
    pub fn output(&mut self, out: &mut [f32]) -> Result<()> {
        self.emit(out, None)
    }

    /// Final state `z` (`d_model`) of the most recent frame.
    pub fn last_state(&self) -> &[f32] {
        &self.z
    }
}

//! The context behind `ruv_temporal_ctx_t`: a loaded head, a ring of frames, the CSI feature
//! extractor and the last error.

use crate::detail::Detail;
use crate::memory;
use crate::status::*;
use aether_csi::{FeatureExtractor, FeatureSet, CSI22_DIMS};
use aether_model::{HeadScratch, OutputKind, Session, TemporalHead, WindowMode};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// A failure: its `esp_err_t` and its text.
pub struct Failure {
    /// The code returned to C.
    pub code: esp_err_t,
    /// What went wrong.
    pub detail: Detail,
}

impl Failure {
    /// A failure with a formatted message.
    pub fn new(code: esp_err_t, args: fmt::Arguments<'_>) -> Self {
        let mut detail = Detail::new();
        detail.set(args);
        Failure { code, detail }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}: {}", self.code, self.detail.as_str())
    }
}

macro_rules! fail {
    ($code:expr, $($arg:tt)*) => {
        $crate::context::Failure::new($code, format_args!($($arg)*))
    };
}
pub(crate) use fail;

/// Largest window accepted by init (frames). Kconfig allows 1024; the bound keeps every size
/// computation far from overflow on 32-bit targets.
pub const MAX_WINDOW_LEN: u32 = 16_384;

/// How frames become outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Frames are stored in a ring; classify runs the full model over the ring (exactly the
    /// host model's `classify` over the newest `window_len` frames).
    Window,
    /// Each push runs the frame through the layers once (KV caches, `aether_model::Session`
    /// in sliding mode over `window_len` frames); classify only pools and applies the output
    /// layer. Cheap per call; semantics in aether-model's `Session` docs.
    Streaming,
}

// One per model, inside the context that init allocates once; boxing the larger variant would
// only add a second allocation.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Window {
        head: TemporalHead,
        scratch: HeadScratch,
        /// `window_len` frames, slot `next` is written next.
        ring: Vec<f32>,
        /// The ring's frames in chronological order, rebuilt by each classify.
        window: Vec<f32>,
        next: usize,
        filled: usize,
    },
    Streaming(Session<TemporalHead>),
}

/// The library's state for one model (opaque to C as `ruv_temporal_ctx_t`).
pub struct RuvTemporalCtx {
    engine: Engine,
    input_dim: usize,
    window_len: usize,
    n_out: usize,
    frames_total: u64,
    csi: FeatureExtractor,
    version: u16,
    heap_bytes: usize,
    pub(crate) detail: Detail,
}

/// What `ruv_temporal_info` reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuvTemporalInfo {
    /// Floats per frame.
    pub input_dim: u32,
    /// Frames the ring holds.
    pub window_len: u32,
    /// Outputs: classes or embedding dimension.
    pub n_out: u32,
    /// 0 = class logits (`ruv_temporal_classify`), 1 = embedding (`ruv_temporal_embed`).
    pub output_kind: u32,
    /// RVNE file version (1 or 2).
    pub file_version: u32,
    /// Feature set the model expects (0 unspecified, 1 = CSI16, 2 = STATE9, 3 = CSI19, 4 = CSI22).
    pub feature_set: u32,
    /// Frames in the ring now (at most window_len).
    pub frames_in_window: u32,
    /// Frames stored since init, reset, a streaming restart (`ESP_FAIL` from push) or a
    /// restart of the CSI extractor (`ruv_temporal_push_csi`); saturates at u32::MAX.
    pub frames_pushed: u32,
    /// 0 = window (classify runs the model over the ring), 1 = streaming (push runs it).
    pub streaming: u32,
    /// Bytes of weights held in memory.
    pub weight_bytes: u32,
    /// The ruv_temporal_required_heap budget init checked the heap against.
    pub heap_bytes: u32,
    /// 1 when `ruv_temporal_push_csi` computes this model's frames from raw CSI (feature set
    /// 0 or 1 with input_dim 16, set 3 with 19, set 4 with 22), else 0 (push_csi then returns
    /// `ESP_ERR_NOT_SUPPORTED`). Firmware reads it instead of restating the rule.
    pub takes_csi: u32,
}

impl RuvTemporalCtx {
    /// Loads `model` and checks it against the caller's dimensions (spec §3.2 order: zero
    /// dims, then the file, then input_dim and n_classes against the file).
    pub fn new(
        model: &[u8],
        input_dim: u32,
        window_len: u32,
        n_classes: u32,
        mode: Mode,
    ) -> Result<Box<Self>, Failure> {
        if input_dim == 0 || window_len == 0 || n_classes == 0 {
            return Err(fail!(
                ESP_ERR_INVALID_ARG,
                "zero dimension: input_dim={input_dim} window_len={window_len} n_classes={n_classes}"
            ));
        }
        if window_len > MAX_WINDOW_LEN {
            return Err(fail!(
                ESP_ERR_INVALID_SIZE,
                "window_len {window_len} exceeds {MAX_WINDOW_LEN}"
            ));
        }
        let budget = memory::plan(model, window_len, mode)?;
        // The caller's dimensions before the heap: a mismatch is INVALID_ARG (§3.2 order)
        // whatever the heap holds.
        Self::check_dims(input_dim, n_classes, &budget)?;
        memory::ensure_available(budget.total)?;
        Self::build(model, input_dim, window_len, n_classes, mode, &budget)
    }

    fn check_dims(input_dim: u32, n_classes: u32, budget: &memory::Budget) -> Result<(), Failure> {
        if input_dim as usize != budget.input_dim {
            return Err(fail!(
                ESP_ERR_INVALID_ARG,
                "input_dim {input_dim} differs from the model's {}",
                budget.input_dim
            ));
        }
        if n_classes as usize != budget.n_out {
            return Err(fail!(
                ESP_ERR_INVALID_ARG,
                "n_classes {n_classes} differs from the model's {} outputs",
                budget.n_out
            ));
        }
        Ok(())
    }

    /// Init after the budget is known and the heap checked.
    pub(crate) fn build(
        model: &[u8],
        input_dim: u32,
        window_len: u32,
        n_classes: u32,
        mode: Mode,
        budget: &memory::Budget,
    ) -> Result<Box<Self>, Failure> {
        let version = budget.version;
        Self::check_dims(input_dim, n_classes, budget)?;

        let head =
            TemporalHead::from_bytes(model).map_err(|e| fail!(model_error_code(&e), "{e}"))?;
        let input_dim = input_dim as usize;
        let window_len = window_len as usize;
        let n_out = n_classes as usize;
        let engine = match mode {
            Mode::Window => {
                let floats = input_dim * window_len;
                let scratch = HeadScratch::for_head(&head, window_len)
                    .map_err(|e| fail!(model_error_code(&e), "{e}"))?;
                let mut ring = vec![0.0; floats];
                let mut window = vec![0.0; floats];
                // One forward pass over a full window of zeros sizes every scratch buffer (the
                // kernel's included), so later calls never allocate.
                let mut out = vec![0.0f32; n_out];
                let mut scratch = scratch;
                head.run(&window, &mut out, &mut scratch)
                    .map_err(|e| fail!(model_error_code(&e), "warm-up forward pass: {e}"))?;
                ring.fill(0.0);
                window.fill(0.0);
                Engine::Window {
                    head,
                    scratch,
                    ring,
                    window,
                    next: 0,
                    filled: 0,
                }
            }
            Mode::Streaming => Engine::Streaming(
                Session::new(head, WindowMode::Sliding { len: window_len })
                    .map_err(|e| fail!(model_error_code(&e), "{e}"))?,
            ),
        };
        Ok(Box::new(RuvTemporalCtx {
            engine,
            input_dim,
            window_len,
            n_out,
            frames_total: 0,
            csi: FeatureExtractor::new(),
            version,
            heap_bytes: budget.total,
            detail: Detail::new(),
        }))
    }

    fn head_ref(&self) -> &TemporalHead {
        match &self.engine {
            Engine::Window { head, .. } => head,
            Engine::Streaming(s) => s.head(),
        }
    }

    /// Stores one frame (`input_dim` floats). Non-finite values are refused and nothing is
    /// stored.
    pub fn push(&mut self, frame: &[f32]) -> Result<(), Failure> {
        if frame.len() != self.input_dim {
            return Err(fail!(
                ESP_ERR_INVALID_SIZE,
                "frame has {} values, expected {}",
                frame.len(),
                self.input_dim
            ));
        }
        if let Some(i) = frame.iter().position(|v| !v.is_finite()) {
            return Err(fail!(
                ESP_ERR_INVALID_ARG,
                "frame value {i} is NaN or infinite; frame not stored"
            ));
        }
        match &mut self.engine {
            Engine::Window {
                ring, next, filled, ..
            } => {
                let at = *next * self.input_dim;
                ring[at..at + self.input_dim].copy_from_slice(frame);
                *next = (*next + 1) % self.window_len;
                *filled = (*filled + 1).min(self.window_len);
            }
            Engine::Streaming(session) => {
                if let Err(e) = session.push(frame) {
                    // The session restarted from an empty window; the count restarts with it,
                    // so frames_pushed never falls below frames_in_window's history.
                    self.frames_total = 0;
                    return Err(fail!(model_error_code(&e), "{e}"));
                }
            }
        }
        self.frames_total = self.frames_total.saturating_add(1);
        Ok(())
    }

    /// Features per frame `push_csi` extracts for this model, or `None` when its feature set
    /// and width are not a CSI set the extractor computes. Sets 1 and 3 are set 4's prefixes:
    /// one extractor serves all three.
    fn csi_width(&self) -> Option<usize> {
        FeatureSet::csi_width(self.head_ref().spec().feature_set, self.input_dim)
    }

    /// Features of one antenna's raw I/Q bytes (ESP-IDF `wifi_csi_info_t.buf` order: imaginary,
    /// real per subcarrier) through the shared extractor, then [`Self::push`].
    pub fn push_csi(&mut self, iq: &[u8], timestamp_us: u64) -> Result<(), Failure> {
        let Some(width) = self.csi_width() else {
            return Err(fail!(
                ESP_ERR_NOT_SUPPORTED,
                "raw CSI gives feature set 1 (16 features), 3 (19) or 4 (22); the model takes set {} with {} features",
                self.head_ref().spec().feature_set,
                self.input_dim
            ));
        };
        let mut features = [0.0f32; CSI22_DIMS];
        let restarts = self.csi.restarts();
        self.csi
            .extract_iq(timestamp_us, iq, &mut features[..width])
            .map_err(|e| fail!(ESP_ERR_INVALID_SIZE, "CSI features: {e}"))?;
        // As on the host (training, eval, `aether run`): after a restart (the first frame, a
        // gap over 0.5 s, time going backwards) no window holds frames from before it, and the
        // first SETTLE_FRAMES frames only settle the extractor.
        if self.csi.restarts() != restarts {
            self.clear_window();
        }
        if !self.csi.is_settled() {
            return Ok(());
        }
        self.push(&features[..width])
    }

    /// Empties the ring (or the streaming session) and the frame count, keeping the
    /// extractor's state.
    fn clear_window(&mut self) {
        match &mut self.engine {
            Engine::Window { next, filled, .. } => {
                *next = 0;
                *filled = 0;
            }
            Engine::Streaming(s) => s.reset(),
        }
        self.frames_total = 0;
    }

    /// Whether the CSI buffers [`Self::push_csi`] gets start with an invalid 4-byte word
    /// (ESP-IDF's `wifi_csi_info_t.first_word_invalid`, the classic ESP32): subcarrier +1 is
    /// then skipped. Off after init; kept by [`Self::reset`].
    pub fn set_first_word_invalid(&mut self, invalid: bool) {
        self.csi.set_first_word_invalid(invalid);
    }

    fn run(&mut self, out: &mut [f32], kind: OutputKind) -> Result<(), Failure> {
        if self.head_ref().spec().output_kind != kind {
            return Err(match kind {
                OutputKind::Classes => fail!(
                    ESP_ERR_NOT_SUPPORTED,
                    "the model outputs an embedding; use ruv_temporal_embed"
                ),
                OutputKind::Embedding => fail!(
                    ESP_ERR_NOT_SUPPORTED,
                    "the model outputs class logits; use ruv_temporal_classify"
                ),
            });
        }
        if out.len() != self.n_out {
            return Err(fail!(
                ESP_ERR_INVALID_ARG,
                "output has {} slots, the model has {} outputs",
                out.len(),
                self.n_out
            ));
        }
        let d = self.input_dim;
        let window_len = self.window_len;
        match &mut self.engine {
            Engine::Window {
                head,
                scratch,
                ring,
                window,
                next,
                filled,
            } => {
                if *filled == 0 {
                    return Err(fail!(ESP_ERR_INVALID_STATE, "no frame pushed yet"));
                }
                // Chronological copy: oldest frame first (slot `next` once the ring is full).
                let start = if *filled < window_len { 0 } else { *next };
                for i in 0..*filled {
                    let slot = (start + i) % window_len;
                    window[i * d..(i + 1) * d].copy_from_slice(&ring[slot * d..(slot + 1) * d]);
                }
                head.run(&window[..*filled * d], out, scratch)
                    .map_err(|e| fail!(model_error_code(&e), "{e}"))
            }
            Engine::Streaming(session) => {
                if session.frames() == 0 {
                    return Err(fail!(ESP_ERR_INVALID_STATE, "no frame pushed yet"));
                }
                session
                    .output(out)
                    .map_err(|e| fail!(model_error_code(&e), "{e}"))
            }
        }
    }

    /// Class logits over the frames in the ring.
    pub fn classify(&mut self, logits: &mut [f32]) -> Result<(), Failure> {
        self.run(logits, OutputKind::Classes)
    }

    /// The embedding over the frames in the ring (embedding models).
    pub fn embed(&mut self, out: &mut [f32]) -> Result<(), Failure> {
        self.run(out, OutputKind::Embedding)
    }

    /// Forgets all frames and the CSI extractor's state.
    pub fn reset(&mut self) {
        self.clear_window();
        self.csi.reset();
    }

    /// Sizes and counters.
    pub fn info(&self) -> RuvTemporalInfo {
        let spec = self.head_ref().spec();
        let u = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let (in_window, streaming) = match &self.engine {
            Engine::Window { filled, .. } => (*filled, 0),
            Engine::Streaming(s) => (s.window_frames(), 1),
        };
        RuvTemporalInfo {
            input_dim: u(self.input_dim),
            window_len: u(self.window_len),
            n_out: u(self.n_out),
            output_kind: match spec.output_kind {
                OutputKind::Classes => 0,
                OutputKind::Embedding => 1,
            },
            file_version: u32::from(self.version),
            feature_set: spec.feature_set,
            frames_in_window: u(in_window),
            frames_pushed: u32::try_from(self.frames_total).unwrap_or(u32::MAX),
            streaming,
            weight_bytes: u(self.head_ref().weight_bytes()),
            heap_bytes: u(self.heap_bytes),
            takes_csi: u32::from(self.csi_width().is_some()),
        }
    }

    /// Floats per frame.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The loaded head (host tests compare against it).
    pub fn head(&self) -> &TemporalHead {
        self.head_ref()
    }
}

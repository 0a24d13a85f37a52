//! Per-frame CSI features, the same code on the device and in the host trainer.
//!
//! Feature set [`FEATURE_SET_CSI16`] (16 floats) comes from one raw CSI frame plus a small
//! fixed-size state; [`FEATURE_SET_CSI19`] is the same 16 plus three decorrelation features
//! that compare the profile with itself 100 ms earlier; [`FEATURE_SET_CSI22`] adds to those 19
//! three energies of the profile's change in body-motion frequency bands (about 0.2, 0.6 and
//! 1.8 Hz); [`FEATURE_SET_STATE9`] (9 floats) is
//! the firmware's `0xC5110006` feature state. Every definition, range and state rule is in
//! `docs/features.md`; this file implements exactly that text. Nothing allocates.
//!
//! Robustness to ESP32 impairments, in short:
//! - common phase offset and linear phase slope: phase enters only through adjacent-subcarrier
//!   products `H[k+1] * conj(H[k])`, whose common rotation (the slope) is removed by circular
//!   statistics, so both impairments cancel exactly;
//! - AGC gain steps: amplitudes are divided by the frame's mean amplitude; only feature 0 (log
//!   mean amplitude) carries the level;
//! - null/guard subcarriers (0 + 0j) are skipped; layouts of 64/128/192 subcarriers all use the
//!   first 64-entry block (the L-LTF), reordered from the buffer's `0..31, -32..-1` to frequency
//!   order;
//! - irregular rate: exponential averages use time constants, not frame counts; a gap longer
//!   than [`GAP_RESET_US`] (or time going backwards) resets the frame-to-frame state.

// Several arrays share one slot index and a u64 validity mask; indexing by slot reads clearer.
#![allow(clippy::needless_range_loop)]

use crate::CsiFrameRepr;
use core::fmt;

/// Id of set 1: the first 16 features [`FeatureExtractor`] computes.
pub const FEATURE_SET_CSI16: u16 = 1;
/// Id of the 9-feature set taken from `0xC5110006` by [`extract_state9`].
pub const FEATURE_SET_STATE9: u16 = 2;
/// Id of the 19-feature set: set 1 plus the decorrelation features (same [`FeatureExtractor`]).
pub const FEATURE_SET_CSI19: u16 = 3;
/// Id of the 22-feature set: set 3 plus the temporal-band energies (same [`FeatureExtractor`]).
pub const FEATURE_SET_CSI22: u16 = 4;
/// Width of set 1.
pub const CSI16_DIMS: usize = 16;
/// Width of set 3.
pub const CSI19_DIMS: usize = 19;
/// Width of set 4.
pub const CSI22_DIMS: usize = 22;
/// Width of set 2.
pub const STATE9_DIMS: usize = 9;
/// A frame more than this many microseconds after the previous one (or before it) restarts the
/// frame-to-frame state.
pub const GAP_RESET_US: u64 = 500_000;
/// Frames from a restart (the restart frame included) whose features are still settling (the
/// reference profile and the change averages; about 0.5 s at 100 Hz): no head sees them, on
/// the host (training, eval, run) or on the device ([`FeatureExtractor::is_settled`]).
pub const SETTLE_FRAMES: usize = 50;

/// Names of set 1, in output order.
pub const CSI16_NAMES: [&str; CSI16_DIMS] = [
    "log_mean_amp",
    "amp_cv",
    "band_share_0",
    "band_share_1",
    "band_share_2",
    "band_share_3",
    "amp_slope",
    "spectral_flatness",
    "phase_diff_dispersion",
    "phase_curvature_dispersion",
    "valid_fraction",
    "change_short",
    "change_long",
    "corr_prev",
    "corr_ref",
    "phase_change",
];

/// Names of set 3, in output order: set 1's, then the decorrelation features.
pub const CSI19_NAMES: [&str; CSI19_DIMS] = extend_names(
    &CSI16_NAMES,
    &["decorr_lag1", "decorr_lag100ms", "decorr_growth"],
);

/// Names of set 4, in output order: set 3's, then the temporal-band energies (fast, mid, slow).
pub const CSI22_NAMES: [&str; CSI22_DIMS] = extend_names(
    &CSI19_NAMES,
    &[
        "temporal_energy_fast",
        "temporal_energy_mid",
        "temporal_energy_slow",
    ],
);

/// A set's names: the set it extends, then its own (each set is its predecessor's extension).
const fn extend_names<const N: usize>(
    prefix: &[&'static str],
    added: &[&'static str],
) -> [&'static str; N] {
    assert!(prefix.len() + added.len() == N, "set width");
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = if i < prefix.len() {
            prefix[i]
        } else {
            added[i - prefix.len()]
        };
        i += 1;
    }
    names
}

/// Names of set 2, in output order (spec §3.10).
pub const STATE9_NAMES: [&str; STATE9_DIMS] = [
    "motion_score",
    "presence_score",
    "respiration_bpm",
    "respiration_conf",
    "heartbeat_bpm",
    "heartbeat_conf",
    "anomaly_score",
    "env_shift_score",
    "node_coherence",
];

/// Subcarriers of the block the features use (the 20 MHz L-LTF).
const BLOCK: usize = 64;
/// Slot of subcarrier k = 0.
const DC_SLOT: usize = BLOCK / 2;
/// Time constants of the exponential averages, in microseconds.
const TAU_SHORT_US: f32 = 200_000.0;
const TAU_LONG_US: f32 = 2_000_000.0;
const TAU_REF_US: f32 = 10_000_000.0;
const TAU_DECORR_US: f32 = 500_000.0;
/// The decorrelation features compare a frame with the newest stored profile at least this old.
const DECORR_LAG_US: u64 = 100_000;
/// A profile is stored when none was within this long; with [`LAG_SLOTS`] slots the stored
/// profiles span more than [`DECORR_LAG_US`] at any frame rate.
const LAG_STORE_US: u64 = DECORR_LAG_US / 4;
const LAG_SLOTS: usize = 8;
/// A frame that decorrelates from the previous one (`d_1 = 1 - corr_prev`) by more than this,
/// and by more than [`GLITCH_RATIO`] times the recent average of `d_1` over every frame, is
/// taken for a corrupted frame, or the first good one after it: it joins neither decorrelation
/// average and is never stored as a lagged profile. The ESP32-C6's still captures carry such
/// single frames (0.2-0.5 % of frames above 0.2, where the room's `d_1` is ~0.002-0.02).
const DECORR_GLITCH: f32 = 0.2;
/// The relative half of the glitch rule: under motion `d_1` is high on many frames (10-22 % of
/// a C3 movement capture's exceed 0.2, 80 % of the RuView capture's), and those are the motion
/// the features are for, not glitches.
const GLITCH_RATIO: f32 = 5.0;
/// A lagged profile older than this (stored profiles skipped as glitches, or a slow stream)
/// is not compared with: `d_L` measures the change over ~100 ms, not over seconds.
const MAX_LAG_AGE_US: u64 = 2 * DECORR_LAG_US;
/// Added to both averages in `decorr_growth`, so a noise-free (simulated, constant) channel
/// gives 0 rather than the ratio of two vanishing numbers.
const DECORR_FLOOR: f32 = 1e-4;
/// Scale of the change-energy features: `ln(1 + ema / CHANGE_SCALE)`.
const CHANGE_SCALE: f32 = 1e-3;
/// Bound of the amplitude slope feature.
const SLOPE_LIMIT: f32 = 8.0;
/// Time constants of the four averages of the profile whose neighbouring differences are the
/// temporal bands (difference-of-exponentials band-passes peaking near 1.8, 0.6 and 0.2 Hz:
/// arm gestures, body movement, breathing). Frame-to-frame change (`change_*`) sits at the
/// frame rate, where estimation noise dominates; these bands sit where bodies move.
const TEMPORAL_TAUS_US: [f32; TEMPORAL_AVERAGES] = [50_000.0, 150_000.0, 500_000.0, 1_500_000.0];
const TEMPORAL_AVERAGES: usize = 4;
const TEMPORAL_BANDS: usize = TEMPORAL_AVERAGES - 1;
/// Time constant of the average of each band's energy.
const TAU_TEMPORAL_ENERGY_US: f32 = 500_000.0;
/// Scale of the band energies: `ln(1 + E / TEMPORAL_SCALE)`. Int8 quantisation alone puts a
/// still ESP32 channel's bands near 10⁻⁵-10⁻⁴, so real streams never sit at the floor.
const TEMPORAL_SCALE: f32 = 1e-5;
/// Floor of the mean resultant length before `sqrt(-2 ln R)`.
const MIN_RESULTANT: f32 = 1e-6;

/// A versioned feature set, as recorded in a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureSet {
    /// Set 1: 16 features from raw CSI ([`FeatureExtractor`]).
    Csi16,
    /// Set 2: the 9 floats of `0xC5110006` ([`extract_state9`]).
    State9,
    /// Set 3: set 1 plus three decorrelation features ([`FeatureExtractor`]).
    Csi19,
    /// Set 4: set 3 plus three temporal-band energies ([`FeatureExtractor`]).
    Csi22,
}

impl FeatureSet {
    /// The set's id.
    pub const fn id(self) -> u16 {
        match self {
            FeatureSet::Csi16 => FEATURE_SET_CSI16,
            FeatureSet::State9 => FEATURE_SET_STATE9,
            FeatureSet::Csi19 => FEATURE_SET_CSI19,
            FeatureSet::Csi22 => FEATURE_SET_CSI22,
        }
    }
    /// The set with this id.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            FEATURE_SET_CSI16 => Some(FeatureSet::Csi16),
            FEATURE_SET_STATE9 => Some(FeatureSet::State9),
            FEATURE_SET_CSI19 => Some(FeatureSet::Csi19),
            FEATURE_SET_CSI22 => Some(FeatureSet::Csi22),
            _ => None,
        }
    }
    /// Number of features.
    pub const fn dims(self) -> usize {
        match self {
            FeatureSet::Csi16 => CSI16_DIMS,
            FeatureSet::State9 => STATE9_DIMS,
            FeatureSet::Csi19 => CSI19_DIMS,
            FeatureSet::Csi22 => CSI22_DIMS,
        }
    }
    /// How many features [`FeatureExtractor`] writes per frame for a model that records
    /// feature set `id` (0 = unspecified, read as set 1) and takes `input_dim` values per frame;
    /// `None` when raw CSI cannot feed that model.
    pub const fn csi_width(id: u32, input_dim: usize) -> Option<usize> {
        match (id, input_dim) {
            (0, CSI16_DIMS) => Some(CSI16_DIMS),
            (1, CSI16_DIMS) => Some(CSI16_DIMS),
            (3, CSI19_DIMS) => Some(CSI19_DIMS),
            (4, CSI22_DIMS) => Some(CSI22_DIMS),
            _ => None,
        }
    }
    /// Feature names, in order.
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            FeatureSet::Csi16 => &CSI16_NAMES,
            FeatureSet::State9 => &STATE9_NAMES,
            FeatureSet::Csi19 => &CSI19_NAMES,
            FeatureSet::Csi22 => &CSI22_NAMES,
        }
    }
}

/// Why features could not be computed. The extractor's state is unchanged after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeatureError {
    /// Fewer than 64 subcarriers: not an ESP32 L-LTF layout.
    TooFewSubcarriers(usize),
    /// A NaN or infinite input value at this subcarrier (or feature-state) index.
    NonFinite(usize),
    /// The frame has no antenna with this index.
    NoSuchAntenna(usize),
    /// The output slice has this length; the extractor writes set 1 ([`CSI16_DIMS`]), set 3
    /// ([`CSI19_DIMS`]) or set 4 ([`CSI22_DIMS`]).
    OutputWidth(usize),
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FeatureError::TooFewSubcarriers(n) => {
                write!(
                    f,
                    "{n} subcarriers: the features need the 64-subcarrier L-LTF block"
                )
            }
            FeatureError::NonFinite(i) => write!(f, "non-finite input value at index {i}"),
            FeatureError::NoSuchAntenna(a) => write!(f, "frame has no antenna {a}"),
            FeatureError::OutputWidth(n) => write!(
                f,
                "{n} output values: the extractor writes {CSI16_DIMS} (set 1), {CSI19_DIMS} (set 3) or {CSI22_DIMS} (set 4)"
            ),
        }
    }
}

impl core::error::Error for FeatureError {}

/// Set 2: copy the nine scores of a feature-state packet, in spec §3.10 order. Errors on NaN or
/// infinity (the index says which); `out` is untouched then.
pub fn extract_state9(
    state: &crate::FeatureStateRepr,
    out: &mut [f32; STATE9_DIMS],
) -> Result<(), FeatureError> {
    let s = state.scores();
    if let Some(i) = s.iter().position(|v| !v.is_finite()) {
        return Err(FeatureError::NonFinite(i));
    }
    *out = s;
    Ok(())
}

/// Complex value as (re, im).
type C = (f32, f32);

#[inline]
fn cmul_conj(a: C, b: C) -> C {
    // a * conj(b)
    (a.0 * b.0 + a.1 * b.1, a.1 * b.0 - a.0 * b.1)
}

/// Buffer index of the L-LTF block -> slot in frequency order (slot = k + 32, k = -32..31).
#[inline]
fn slot_of(i: usize) -> usize {
    (i + BLOCK / 2) % BLOCK
}

/// `sqrt(-2 ln R)`: circular standard deviation of unit vectors with mean resultant length `r`.
fn circular_std(r: f32) -> f32 {
    let r = r.clamp(MIN_RESULTANT, 1.0);
    libm::sqrtf(-2.0 * libm::logf(r))
}

/// Pearson correlation over the slots in `mask`; 1 when fewer than 2 slots or either side is
/// constant (no measurable change of shape).
fn correlation(a: &[f32; BLOCK], b: &[f32; BLOCK], mask: u64) -> f32 {
    let n = mask.count_ones();
    if n < 2 {
        return 1.0;
    }
    let (mut sa, mut sb) = (0.0f32, 0.0f32);
    for s in 0..BLOCK {
        if mask >> s & 1 == 1 {
            sa += a[s];
            sb += b[s];
        }
    }
    let (ma, mb) = (sa / n as f32, sb / n as f32);
    let (mut sab, mut saa, mut sbb) = (0.0f32, 0.0f32, 0.0f32);
    for s in 0..BLOCK {
        if mask >> s & 1 == 1 {
            let (da, db) = (a[s] - ma, b[s] - mb);
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
    }
    // "Constant" relative to the side's level: a flat profile normalised to mean 1 keeps f32
    // rounding noise (~1e-7 per slot), whose correlation with anything is noise, not shape.
    let flat = |ss: f32, m: f32| ss <= n as f32 * (FLAT_REL * m) * (FLAT_REL * m);
    let d = libm::sqrtf(saa * sbb);
    if d <= 1e-12 || flat(saa, ma) || flat(sbb, mb) {
        1.0
    } else {
        (sab / d).clamp(-1.0, 1.0)
    }
}

/// A side of a correlation is constant when its standard deviation is below this fraction of
/// its mean (rounding of a flat profile is ~1e-7; real profiles vary by percent).
const FLAT_REL: f32 = 1e-5;

/// Time-based exponential average with bias correction (the average of the samples seen so far,
/// each weighted by its recency), so the first values after a reset are not biased toward 0.
#[derive(Clone, Copy, Debug, Default)]
struct Ema {
    value: f32,
    weight: f32,
}

impl Ema {
    fn update(&mut self, x: f32, alpha: f32) {
        self.value += alpha * (x - self.value);
        self.weight += alpha * (1.0 - self.weight);
    }
    fn get(&self) -> f32 {
        if self.weight > 0.0 {
            self.value / self.weight
        } else {
            0.0
        }
    }
}

/// Computes feature set 1, 3 or 4 frame by frame for one stream (one node, one antenna). Keep
/// one per node. About 4.3 KiB of fixed state; no allocation. The state always advances the
/// same way, so the output width may differ from call to call.
#[derive(Clone, Debug)]
pub struct FeatureExtractor {
    /// Also skip subcarrier +1 (see [`FeatureExtractor::with_first_word_invalid`]).
    first_word_invalid: bool,
    last_ts_us: Option<u64>,
    /// Previous frame's normalised amplitude profile, by slot, and its valid slots.
    prev_amp: [f32; BLOCK],
    prev_mask: u64,
    /// Slow reference profile and the slots it has seen.
    ref_amp: [f32; BLOCK],
    ref_mask: u64,
    /// Previous frame's slope-free adjacent-phase unit vectors, by lower slot.
    prev_dir: [C; BLOCK],
    prev_dir_mask: u64,
    change_short: Ema,
    change_long: Ema,
    /// Recent profiles for the lagged comparison: a ring of [`LAG_SLOTS`], `lag_len` filled,
    /// the newest at `lag_newest`.
    lag_amp: [[f32; BLOCK]; LAG_SLOTS],
    lag_mask: [u64; LAG_SLOTS],
    lag_ts: [u64; LAG_SLOTS],
    lag_len: usize,
    lag_newest: usize,
    /// Averages of `1 - corr` with the previous frame and with the lagged profile.
    decorr_prev: Ema,
    decorr_lag: Ema,
    /// When those two last moved: their weights follow the time since, not since the previous
    /// frame (frames between may have been glitches).
    decorr_ts_us: Option<u64>,
    /// Average of `d_1` over every frame, glitches included: the level the relative glitch
    /// rule compares with.
    d1_all: Ema,
    /// Restarts of the frame-to-frame state so far (the first frame's included).
    restarts: u64,
    /// Frames since the last restart, that one included (saturating).
    since_restart: u32,
    /// Glitches in a row just before this frame, and `d1_all`'s level before the first of
    /// them: the frame after a single glitch is judged against that level, not against one
    /// the glitch itself raised (at low frame rates one glitch lifts the average a lot).
    glitch_run: u32,
    level_before_run: f32,
    /// The four averages of the profile behind the temporal bands ([`TEMPORAL_TAUS_US`]), by
    /// slot, the slots they hold, and when they last moved (glitch frames skip them).
    temporal_avg: [[f32; BLOCK]; TEMPORAL_AVERAGES],
    temporal_mask: u64,
    temporal_ts_us: u64,
    /// Averages of each band's energy (its mean square over the frame's valid slots).
    temporal_energy: [Ema; TEMPORAL_BANDS],
}

impl Default for FeatureExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureExtractor {
    /// Fresh state.
    pub const fn new() -> Self {
        FeatureExtractor {
            first_word_invalid: false,
            last_ts_us: None,
            prev_amp: [0.0; BLOCK],
            prev_mask: 0,
            ref_amp: [0.0; BLOCK],
            ref_mask: 0,
            prev_dir: [(0.0, 0.0); BLOCK],
            prev_dir_mask: 0,
            change_short: Ema {
                value: 0.0,
                weight: 0.0,
            },
            change_long: Ema {
                value: 0.0,
                weight: 0.0,
            },
            lag_amp: [[0.0; BLOCK]; LAG_SLOTS],
            lag_mask: [0; LAG_SLOTS],
            lag_ts: [0; LAG_SLOTS],
            lag_len: 0,
            lag_newest: 0,
            decorr_prev: Ema {
                value: 0.0,
                weight: 0.0,
            },
            decorr_lag: Ema {
                value: 0.0,
                weight: 0.0,
            },
            decorr_ts_us: None,
            d1_all: Ema {
                value: 0.0,
                weight: 0.0,
            },
            restarts: 0,
            since_restart: 0,
            glitch_run: 0,
            level_before_run: 0.0,
            temporal_avg: [[0.0; BLOCK]; TEMPORAL_AVERAGES],
            temporal_mask: 0,
            temporal_ts_us: 0,
            temporal_energy: [Ema {
                value: 0.0,
                weight: 0.0,
            }; TEMPORAL_BANDS],
        }
    }

    /// Forget all frame-to-frame state (as after a gap).
    pub fn reset(&mut self) {
        *self = Self {
            first_word_invalid: self.first_word_invalid,
            // Kept, so a caller watching `restarts()` sees the restart the next frame makes.
            restarts: self.restarts,
            ..Self::new()
        };
    }

    /// How often the frame-to-frame state has restarted (the first frame, a gap over
    /// [`GAP_RESET_US`], time going backwards): a caller that drops settling frames after a
    /// restart watches this rather than re-deriving the rule (a frame with no valid subcarrier
    /// does not move the extractor's clock).
    pub const fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Whether the last frame's features have settled: more than [`SETTLE_FRAMES`] frames
    /// since the last restart. Unsettled frames are dropped before any window is cut.
    pub const fn is_settled(&self) -> bool {
        self.since_restart as usize > SETTLE_FRAMES
    }

    /// For chips whose CSI buffer starts with an invalid 4-byte word (ESP-IDF's
    /// `wifi_csi_info_t.first_word_invalid`, set on the classic ESP32): the first word covers
    /// subcarriers 0 and +1; 0 (DC) is always skipped, this also skips +1.
    pub const fn with_first_word_invalid(mut self, invalid: bool) -> Self {
        self.first_word_invalid = invalid;
        self
    }

    /// [`Self::with_first_word_invalid`] on a running extractor; the state is kept (the flag
    /// only masks subcarrier +1 from the next frame on).
    pub fn set_first_word_invalid(&mut self, invalid: bool) {
        self.first_word_invalid = invalid;
    }

    /// Features of antenna `antenna` of a parsed raw CSI frame received at `timestamp_us`.
    pub fn extract_frame(
        &mut self,
        timestamp_us: u64,
        frame: &CsiFrameRepr<'_>,
        antenna: usize,
        out: &mut [f32],
    ) -> Result<(), FeatureError> {
        check_width(out)?;
        if antenna >= usize::from(frame.n_antennas) {
            return Err(FeatureError::NoSuchAntenna(antenna));
        }
        let n = usize::from(frame.n_subcarriers) * 2;
        let iq = frame
            .iq
            .get(antenna * n..(antenna + 1) * n)
            .ok_or(FeatureError::NoSuchAntenna(antenna))?;
        self.extract_iq(timestamp_us, iq, out)
    }

    /// Features of one antenna's raw ESP-IDF I/Q bytes (`[imag, real]` per subcarrier, buffer
    /// order) received at `timestamp_us`.
    pub fn extract_iq(
        &mut self,
        timestamp_us: u64,
        iq: &[u8],
        out: &mut [f32],
    ) -> Result<(), FeatureError> {
        check_width(out)?;
        if iq.len() / 2 < BLOCK {
            return Err(FeatureError::TooFewSubcarriers(iq.len() / 2));
        }
        let mut h = [(0.0f32, 0.0f32); BLOCK];
        for (i, p) in iq.chunks_exact(2).take(BLOCK).enumerate() {
            let (re, im) = crate::raw_csi::pair_from_bytes(p[0], p[1]);
            h[slot_of(i)] = (f32::from(re), f32::from(im));
        }
        let full = self.compute(timestamp_us, &h);
        out.copy_from_slice(&full[..out.len()]);
        Ok(())
    }

    /// Features of integer `(re, im)` subcarriers in buffer order.
    pub fn extract(
        &mut self,
        timestamp_us: u64,
        subcarriers: &[(i8, i8)],
        out: &mut [f32],
    ) -> Result<(), FeatureError> {
        check_width(out)?;
        if subcarriers.len() < BLOCK {
            return Err(FeatureError::TooFewSubcarriers(subcarriers.len()));
        }
        let mut h = [(0.0f32, 0.0f32); BLOCK];
        for (i, &(re, im)) in subcarriers.iter().take(BLOCK).enumerate() {
            h[slot_of(i)] = (f32::from(re), f32::from(im));
        }
        let full = self.compute(timestamp_us, &h);
        out.copy_from_slice(&full[..out.len()]);
        Ok(())
    }

    /// Features of floating-point `(re, im)` subcarriers in buffer order (simulators, other
    /// front ends). Exactly-zero values mark null subcarriers.
    pub fn extract_f32(
        &mut self,
        timestamp_us: u64,
        subcarriers: &[(f32, f32)],
        out: &mut [f32],
    ) -> Result<(), FeatureError> {
        check_width(out)?;
        if subcarriers.len() < BLOCK {
            return Err(FeatureError::TooFewSubcarriers(subcarriers.len()));
        }
        let mut h = [(0.0f32, 0.0f32); BLOCK];
        let mut scale = 0.0f32;
        let skip = self.skipped_slots();
        for (i, &(re, im)) in subcarriers.iter().take(BLOCK).enumerate() {
            let s = slot_of(i);
            // Unused slots (DC, an invalid first word) may hold anything, e.g. 0/0 on a null.
            if skip >> s & 1 == 0 {
                if !re.is_finite() || !im.is_finite() {
                    return Err(FeatureError::NonFinite(i));
                }
                h[s] = (re, im);
                scale = scale.max(re.abs()).max(im.abs());
            }
        }
        // Bring the largest component to 1 so squares can neither overflow nor underflow; every
        // feature but the level is scale-free, and the level gets ln(scale) back.
        let mut log_scale = 0.0;
        if scale > 0.0 {
            for v in &mut h {
                *v = (v.0 / scale, v.1 / scale);
            }
            log_scale = libm::logf(scale);
        }
        let mut full = self.compute(timestamp_us, &h);
        if scale > 0.0 {
            full[0] += log_scale;
        }
        out.copy_from_slice(&full[..out.len()]);
        Ok(())
    }

    /// Slots never used: 32 is DC (k = 0), never a data subcarrier; 33 is k = +1, skipped when
    /// the first word is invalid.
    fn skipped_slots(&self) -> u64 {
        (1 << DC_SLOT)
            | if self.first_word_invalid {
                1 << (DC_SLOT + 1)
            } else {
                0
            }
    }

    /// The feature computation on 64 slots in frequency order: all of set 4 (sets 1 and 3 are
    /// its first 16 and 19 values).
    fn compute(&mut self, ts: u64, h: &[C; BLOCK]) -> [f32; CSI22_DIMS] {
        let mut out = [0.0f32; CSI22_DIMS];
        // A frame with nothing to measure counts too: it is a frame a window would hold.
        self.since_restart = self.since_restart.saturating_add(1);
        // --- validity and amplitudes ---
        let mut amp = [0.0f32; BLOCK];
        let mut mask = 0u64;
        let mut sum = 0.0f32;
        // Slot 32 is DC (k = 0), never a data subcarrier; slot 33 is k = +1.
        let skip: u64 = (1 << DC_SLOT)
            | if self.first_word_invalid {
                1 << (DC_SLOT + 1)
            } else {
                0
            };
        for s in 0..BLOCK {
            let (re, im) = h[s];
            // Valid = measurable amplitude: a component so small next to the frame's largest
            // that its square underflows (f32 front ends) is a null, not an amplitude of 0.
            let a = libm::sqrtf(re * re + im * im);
            if a > 0.0 && skip >> s & 1 == 0 {
                mask |= 1 << s;
                amp[s] = a;
                sum += a;
            }
        }
        let n_valid = mask.count_ones();
        if n_valid == 0 || sum <= 0.0 {
            // Nothing to measure: report a neutral frame and leave the state alone. After a
            // gap (or a step back) it is not settled either: it must not join the run before
            // the gap, which the next measurable frame ends with a restart.
            if let Some(last) = self.last_ts_us {
                if ts < last || ts - last > GAP_RESET_US {
                    self.since_restart = 0;
                }
            }
            out[11] = ln_change(self.change_short.get());
            out[12] = ln_change(self.change_long.get());
            out[13] = 1.0;
            out[14] = 1.0;
            self.decorr_features(&mut out);
            self.temporal_features(&mut out);
            return out;
        }
        let nf = n_valid as f32;
        let mean = sum / nf;

        // --- normalised amplitude profile: level, spread, bands, slope, flatness ---
        let mut var = 0.0f32;
        let mut band = [0.0f32; 4];
        let mut power_sum = 0.0f32;
        let mut log_power_sum = 0.0f32;
        let (mut sx, mut sxx, mut sxa) = (0.0f32, 0.0f32, 0.0f32);
        for s in 0..BLOCK {
            if mask >> s & 1 == 0 {
                continue;
            }
            let a = amp[s] / mean;
            amp[s] = a;
            var += (a - 1.0) * (a - 1.0);
            let p = a * a;
            power_sum += p;
            log_power_sum += libm::logf(p);
            let k = s as i32 - (BLOCK / 2) as i32;
            let b = match k {
                ..=-14 => 0,
                -13..=-1 => 1,
                0..=13 => 2,
                _ => 3,
            };
            band[b] += p;
            let x = k as f32 / 32.0;
            sx += x;
            sxx += x * x;
            sxa += x * a;
        }
        let cv = libm::sqrtf(var / nf);
        let x_mean = sx / nf;
        let sxx_c = sxx - nf * x_mean * x_mean;
        // mean(a) = 1, so cov(x, a) * n = sxa - x_mean * n.
        // Clamped: with only a few adjacent valid subcarriers the fit is ill-conditioned.
        let slope = if sxx_c > 1e-9 {
            ((sxa - x_mean * nf) / sxx_c).clamp(-SLOPE_LIMIT, SLOPE_LIMIT)
        } else {
            0.0
        };
        let mean_power = power_sum / nf;
        let flatness = (libm::expf(log_power_sum / nf) / mean_power).clamp(0.0, 1.0);

        // --- phase: adjacent-subcarrier products, slope removed by their circular mean ---
        let mut dir = [(0.0f32, 0.0f32); BLOCK];
        let mut dir_mask = 0u64;
        let (mut zr, mut zi) = (0.0f32, 0.0f32);
        for s in 0..BLOCK - 1 {
            if mask >> s & 1 == 1 && mask >> (s + 1) & 1 == 1 {
                let z = cmul_conj(h[s + 1], h[s]);
                let m = libm::sqrtf(z.0 * z.0 + z.1 * z.1);
                if m > 0.0 {
                    dir[s] = (z.0 / m, z.1 / m);
                    dir_mask |= 1 << s;
                    zr += dir[s].0;
                    zi += dir[s].1;
                }
            }
        }
        let n_pairs = dir_mask.count_ones();
        let (mut disp1, mut disp2) = (0.0f32, 0.0f32);
        if n_pairs > 0 {
            let r = libm::sqrtf(zr * zr + zi * zi);
            disp1 = circular_std(r / n_pairs as f32);
            let u = if r > 1e-12 {
                (zr / r, zi / r)
            } else {
                (1.0, 0.0)
            };
            let (mut wr, mut wi, mut n_curv) = (0.0f32, 0.0f32, 0u32);
            for s in 0..BLOCK - 1 {
                if dir_mask >> s & 1 == 1 && dir_mask >> (s + 1) & 1 == 1 {
                    let w = cmul_conj(dir[s + 1], dir[s]);
                    wr += w.0;
                    wi += w.1;
                    n_curv += 1;
                }
            }
            if n_curv > 0 {
                disp2 = circular_std(libm::sqrtf(wr * wr + wi * wi) / n_curv as f32);
            }
            // Residual directions: what is left after removing this frame's mean slope.
            for s in 0..BLOCK {
                if dir_mask >> s & 1 == 1 {
                    dir[s] = cmul_conj(dir[s], u);
                }
            }
        }

        out[0] = libm::logf(mean);
        out[1] = cv;
        let total = band.iter().sum::<f32>();
        for b in 0..4 {
            out[2 + b] = if total > 0.0 { band[b] / total } else { 0.0 };
        }
        out[6] = slope;
        out[7] = flatness;
        out[8] = disp1;
        out[9] = disp2;
        out[10] = nf / BLOCK as f32;

        // --- frame-to-frame state ---
        // A restart frame is always kept as the first lagged profile.
        let mut glitch = false;
        let dt = match self.last_ts_us {
            Some(last) if ts >= last && ts - last <= GAP_RESET_US => Some((ts - last) as f32),
            _ => None,
        };
        match dt {
            None => {
                self.change_short = Ema::default();
                self.change_long = Ema::default();
                self.decorr_prev = Ema::default();
                self.decorr_lag = Ema::default();
                self.decorr_ts_us = None;
                self.d1_all = Ema::default();
                self.restarts += 1;
                self.since_restart = 1;
                self.glitch_run = 0;
                self.lag_len = 0;
                self.ref_amp = amp;
                self.ref_mask = mask;
                self.temporal_avg = [amp; TEMPORAL_AVERAGES];
                self.temporal_mask = mask;
                self.temporal_ts_us = ts;
                self.temporal_energy = [Ema::default(); TEMPORAL_BANDS];
                out[11] = 0.0;
                out[12] = 0.0;
                out[13] = 1.0;
                out[14] = 1.0;
                out[15] = 0.0;
            }
            Some(dt) => {
                let common = mask & self.prev_mask;
                let mut e = 0.0f32;
                if common != 0 {
                    for s in 0..BLOCK {
                        if common >> s & 1 == 1 {
                            let d = amp[s] - self.prev_amp[s];
                            e += d * d;
                        }
                    }
                    e /= common.count_ones() as f32;
                }
                self.change_short
                    .update(e, 1.0 - libm::expf(-dt / TAU_SHORT_US));
                self.change_long
                    .update(e, 1.0 - libm::expf(-dt / TAU_LONG_US));
                out[11] = ln_change(self.change_short.get());
                out[12] = ln_change(self.change_long.get());
                out[13] = correlation(&amp, &self.prev_amp, common);
                let d1 = 1.0 - out[13];
                // Against the level before this frame, so a glitch does not raise its own bar;
                // the frame after a single glitch against the level before that glitch. From
                // the third in a row on, the raised level decides: a run is motion.
                let level = self.d1_all.get();
                let judged = if self.glitch_run == 1 {
                    self.level_before_run
                } else {
                    level
                };
                glitch = d1 > DECORR_GLITCH && d1 > GLITCH_RATIO * judged;
                if glitch {
                    if self.glitch_run == 0 {
                        self.level_before_run = level;
                    }
                    self.glitch_run += 1;
                } else {
                    self.glitch_run = 0;
                }
                self.d1_all
                    .update(d1, 1.0 - libm::expf(-dt / TAU_DECORR_US));
                if !glitch {
                    self.update_temporal(ts, &amp, mask);
                }
                if let (false, Some(slot)) = (glitch, self.lag_slot(ts)) {
                    // Both averages move on the same frames, so their ratio compares like
                    // with like; by the time since they last moved.
                    let since = match self.decorr_ts_us {
                        Some(t) => (ts - t) as f32,
                        None => dt,
                    };
                    let alpha = 1.0 - libm::expf(-since / TAU_DECORR_US);
                    let lagged = correlation(&amp, &self.lag_amp[slot], mask & self.lag_mask[slot]);
                    self.decorr_prev.update(d1, alpha);
                    self.decorr_lag.update(1.0 - lagged, alpha);
                    self.decorr_ts_us = Some(ts);
                }
                out[14] = correlation(&amp, &self.ref_amp, mask & self.ref_mask);
                let alpha_ref = 1.0 - libm::expf(-dt / TAU_REF_US);
                for s in 0..BLOCK {
                    if mask >> s & 1 == 1 {
                        if self.ref_mask >> s & 1 == 1 {
                            self.ref_amp[s] += alpha_ref * (amp[s] - self.ref_amp[s]);
                        } else {
                            self.ref_amp[s] = amp[s];
                        }
                    }
                }
                self.ref_mask |= mask;
                let both = dir_mask & self.prev_dir_mask;
                out[15] = if both == 0 {
                    0.0
                } else {
                    let mut re_sum = 0.0f32;
                    for s in 0..BLOCK {
                        if both >> s & 1 == 1 {
                            re_sum += cmul_conj(dir[s], self.prev_dir[s]).0;
                        }
                    }
                    (1.0 - re_sum / both.count_ones() as f32).clamp(0.0, 2.0)
                };
            }
        }
        self.decorr_features(&mut out);
        self.temporal_features(&mut out);
        if !glitch {
            self.store_lag_profile(ts, &amp, mask);
        }
        self.prev_amp = amp;
        self.prev_mask = mask;
        self.prev_dir = dir;
        self.prev_dir_mask = dir_mask;
        self.last_ts_us = Some(ts);
        out
    }

    /// Moves the four profile averages to this frame (a slot seen for the first time since the
    /// restart starts all four at its value) and each band's energy average: the mean over the
    /// frame's slots of the squared difference of neighbouring averages. By the time since they
    /// last moved, since glitch frames are skipped.
    fn update_temporal(&mut self, ts: u64, amp: &[f32; BLOCK], mask: u64) {
        let since = ts.saturating_sub(self.temporal_ts_us) as f32;
        let mut alpha = [0.0f32; TEMPORAL_AVERAGES];
        for (a, tau) in alpha.iter_mut().zip(TEMPORAL_TAUS_US) {
            *a = 1.0 - libm::expf(-since / tau);
        }
        let mut energy = [0.0f32; TEMPORAL_BANDS];
        for s in 0..BLOCK {
            if mask >> s & 1 == 0 {
                continue;
            }
            if self.temporal_mask >> s & 1 == 1 {
                for (avg, a) in self.temporal_avg.iter_mut().zip(alpha) {
                    avg[s] += a * (amp[s] - avg[s]);
                }
            } else {
                for avg in &mut self.temporal_avg {
                    avg[s] = amp[s];
                }
            }
            for (b, e) in energy.iter_mut().enumerate() {
                let d = self.temporal_avg[b][s] - self.temporal_avg[b + 1][s];
                *e += d * d;
            }
        }
        self.temporal_mask |= mask;
        let n = mask.count_ones() as f32;
        let alpha_energy = 1.0 - libm::expf(-since / TAU_TEMPORAL_ENERGY_US);
        for (avg, e) in self.temporal_energy.iter_mut().zip(energy) {
            avg.update(e / n, alpha_energy);
        }
        self.temporal_ts_us = ts;
    }

    /// Features 19-21 from the current band-energy averages (0 on a restart frame).
    fn temporal_features(&self, out: &mut [f32; CSI22_DIMS]) {
        for (o, e) in out[19..].iter_mut().zip(&self.temporal_energy) {
            *o = libm::log1pf(e.get().max(0.0) / TEMPORAL_SCALE);
        }
    }

    /// Features 16-18 from the current averages (0 until a lagged profile has been seen).
    fn decorr_features(&self, out: &mut [f32; CSI22_DIMS]) {
        let (prev, lag) = (self.decorr_prev.get(), self.decorr_lag.get());
        out[16] = ln_change(prev);
        out[17] = ln_change(lag);
        out[18] = if self.decorr_lag.weight > 0.0 {
            libm::logf((lag.max(0.0) + DECORR_FLOOR) / (prev.max(0.0) + DECORR_FLOOR))
        } else {
            0.0
        };
    }

    /// The newest stored profile at least [`DECORR_LAG_US`] older than `ts`, if it is at most
    /// [`MAX_LAG_AGE_US`] old.
    fn lag_slot(&self, ts: u64) -> Option<usize> {
        (0..self.lag_len)
            .map(|age| (self.lag_newest + LAG_SLOTS - age) % LAG_SLOTS)
            .find(|&slot| self.lag_ts[slot].saturating_add(DECORR_LAG_US) <= ts)
            .filter(|&slot| ts - self.lag_ts[slot] <= MAX_LAG_AGE_US)
    }

    /// Keeps this frame's profile when none was stored in the last [`LAG_STORE_US`].
    fn store_lag_profile(&mut self, ts: u64, amp: &[f32; BLOCK], mask: u64) {
        if self.lag_len > 0 && ts < self.lag_ts[self.lag_newest].saturating_add(LAG_STORE_US) {
            return;
        }
        let slot = if self.lag_len == 0 {
            0
        } else {
            (self.lag_newest + 1) % LAG_SLOTS
        };
        self.lag_amp[slot] = *amp;
        self.lag_mask[slot] = mask;
        self.lag_ts[slot] = ts;
        self.lag_newest = slot;
        self.lag_len = (self.lag_len + 1).min(LAG_SLOTS);
    }
}

/// The extractor writes set 1, 3 or 4.
fn check_width(out: &[f32]) -> Result<(), FeatureError> {
    match out.len() {
        CSI16_DIMS | CSI19_DIMS | CSI22_DIMS => Ok(()),
        n => Err(FeatureError::OutputWidth(n)),
    }
}

/// `ln(1 + e / CHANGE_SCALE)`: compresses the change energy's dynamic range.
fn ln_change(e: f32) -> f32 {
    libm::log1pf(e.max(0.0) / CHANGE_SCALE)
}

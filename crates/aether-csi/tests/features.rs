//! Feature extractor behaviour: invariances, layouts, nulls, gaps, degenerate input.

mod common;

use aether_csi::*;
use common::Rng;
use std::f64::consts::PI;

type Frame = Vec<(f32, f32)>;

/// True subcarrier index of buffer position `i` in the ESP-IDF L-LTF block (0..31, -32..-1).
fn freq_index(i: usize) -> f64 {
    if i < 32 {
        i as f64
    } else {
        i as f64 - 64.0
    }
}

/// Is buffer position `i` a null (DC or guard) in the HT20 L-LTF block?
fn is_null(i: usize) -> bool {
    let k = freq_index(i);
    k == 0.0 || k.abs() > 26.0
}

/// A random 64-subcarrier frame with realistic nulls.
fn random_frame(rng: &mut Rng) -> Frame {
    (0..64)
        .map(|i| {
            if is_null(i) {
                (0.0, 0.0)
            } else {
                let a = 5.0 + 35.0 * rng.unit();
                let p = 2.0 * PI * rng.unit();
                ((a * p.cos()) as f32, (a * p.sin()) as f32)
            }
        })
        .collect()
}

/// A slowly drifting frame sequence (a channel plus small changes), more like real CSI.
fn drifting_frames(rng: &mut Rng, n: usize) -> Vec<Frame> {
    let base = random_frame(rng);
    let mut out = Vec::new();
    let mut cur = base.clone();
    for _ in 0..n {
        for (i, v) in cur.iter_mut().enumerate() {
            if !is_null(i) {
                v.0 += (rng.unit() as f32 - 0.5) * 2.0;
                v.1 += (rng.unit() as f32 - 0.5) * 2.0;
            }
        }
        out.push(cur.clone());
    }
    out
}

/// Multiply by exp(j(offset + slope * k)) with k the true subcarrier index.
fn rotate(frame: &Frame, offset: f64, slope: f64) -> Frame {
    frame
        .iter()
        .enumerate()
        .map(|(i, &(re, im))| {
            let th = offset + slope * freq_index(i);
            let (c, s) = (th.cos(), th.sin());
            let (re, im) = (re as f64, im as f64);
            ((re * c - im * s) as f32, (re * s + im * c) as f32)
        })
        .collect()
}

fn run(frames: &[Frame], times_us: &[u64]) -> Vec<[f32; CSI22_DIMS]> {
    let mut fx = FeatureExtractor::new();
    frames
        .iter()
        .zip(times_us)
        .map(|(f, &t)| {
            let mut out = [0.0; CSI22_DIMS];
            fx.extract_f32(t, f, &mut out).unwrap();
            out
        })
        .collect()
}

fn regular_times(n: usize, period_us: u64) -> Vec<u64> {
    (0..n as u64).map(|i| 1_000_000 + i * period_us).collect()
}

fn assert_close(
    a: &[[f32; CSI22_DIMS]],
    b: &[[f32; CSI22_DIMS]],
    skip: &[usize],
    tol: f32,
    what: &str,
) {
    for (t, (x, y)) in a.iter().zip(b).enumerate() {
        for d in 0..CSI22_DIMS {
            if skip.contains(&d) {
                continue;
            }
            let err = (x[d] - y[d]).abs();
            assert!(
                err <= tol * x[d].abs().max(1.0),
                "{what}: frame {t} feature {d} ({}) {} vs {}",
                CSI22_NAMES[d],
                x[d],
                y[d]
            );
        }
    }
}

#[test]
fn invariant_to_random_common_phase_offset() {
    let mut rng = Rng(11);
    let frames = drifting_frames(&mut rng, 40);
    let rotated: Vec<Frame> = frames
        .iter()
        .map(|f| rotate(f, 2.0 * PI * rng.unit(), 0.0))
        .collect();
    let t = regular_times(frames.len(), 20_000);
    assert_close(
        &run(&frames, &t),
        &run(&rotated, &t),
        &[],
        1e-4,
        "phase offset",
    );
}

#[test]
fn invariant_to_linear_phase_slope() {
    let mut rng = Rng(12);
    let frames = drifting_frames(&mut rng, 40);
    // A different timing offset every packet: slope up to ±0.8 rad per subcarrier, plus offset.
    let rotated: Vec<Frame> = frames
        .iter()
        .map(|f| rotate(f, 2.0 * PI * rng.unit(), (rng.unit() - 0.5) * 1.6))
        .collect();
    let t = regular_times(frames.len(), 20_000);
    assert_close(
        &run(&frames, &t),
        &run(&rotated, &t),
        &[],
        1e-4,
        "phase slope",
    );
}

#[test]
fn normalised_features_invariant_to_agc_gain_step() {
    let mut rng = Rng(13);
    let frames = drifting_frames(&mut rng, 40);
    // Gain doubles from frame 20 on (an AGC step mid-stream).
    let stepped: Vec<Frame> = frames
        .iter()
        .enumerate()
        .map(|(n, f)| {
            if n >= 20 {
                f.iter().map(|&(r, i)| (2.0 * r, 2.0 * i)).collect()
            } else {
                f.clone()
            }
        })
        .collect();
    let t = regular_times(frames.len(), 20_000);
    let (a, b) = (run(&frames, &t), run(&stepped, &t));
    assert_close(&a, &b, &[0], 1e-4, "AGC step");
    for n in 0..40 {
        let expect = if n >= 20 { std::f32::consts::LN_2 } else { 0.0 };
        assert!(
            (b[n][0] - a[n][0] - expect).abs() < 1e-4,
            "log mean amp carries the level"
        );
    }
}

#[test]
fn integer_paths_agree_and_scale_exactly() {
    let mut rng = Rng(14);
    let pairs: Vec<(i8, i8)> = (0..64)
        .map(|i| {
            if is_null(i) {
                (0, 0)
            } else {
                ((rng.below(120) as i8) - 60, (rng.below(120) as i8) - 60)
            }
        })
        .collect();
    let iq: Vec<u8> = pairs
        .iter()
        .flat_map(|&(re, im)| [im as u8, re as u8])
        .collect();
    let floats: Frame = pairs
        .iter()
        .map(|&(re, im)| (re as f32, im as f32))
        .collect();
    let (mut a, mut b, mut c, mut d) = (
        [0.0; CSI22_DIMS],
        [0.0; CSI22_DIMS],
        [0.0; CSI22_DIMS],
        [0.0; CSI22_DIMS],
    );
    FeatureExtractor::new().extract(5, &pairs, &mut a).unwrap();
    FeatureExtractor::new().extract_iq(5, &iq, &mut b).unwrap();
    FeatureExtractor::new()
        .extract_f32(5, &floats, &mut c)
        .unwrap();
    let frame = CsiFrameRepr {
        node_id: 1,
        n_antennas: 1,
        n_subcarriers: 64,
        freq_mhz: 2412,
        sequence: 0,
        rssi: 0,
        noise_floor: 0,
        iq: &iq,
    };
    FeatureExtractor::new()
        .extract_frame(5, &frame, 0, &mut d)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, d);
    assert_close(&[a], &[c], &[], 1e-5, "int vs float");
    assert_eq!(
        FeatureExtractor::new()
            .extract_frame(5, &frame, 1, &mut d)
            .unwrap_err(),
        FeatureError::NoSuchAntenna(1)
    );
    // Small values doubled stay in i8: every normalised feature is unchanged.
    let halved: Vec<(i8, i8)> = pairs.iter().map(|&(r, i)| (r / 2, i / 2)).collect();
    let doubled: Vec<(i8, i8)> = halved.iter().map(|&(r, i)| (2 * r, 2 * i)).collect();
    let (mut h, mut g) = ([0.0; CSI22_DIMS], [0.0; CSI22_DIMS]);
    FeatureExtractor::new().extract(5, &halved, &mut h).unwrap();
    FeatureExtractor::new()
        .extract(5, &doubled, &mut g)
        .unwrap();
    assert_close(&[h], &[g], &[0], 1e-5, "int8 x2");
}

#[test]
fn layouts_64_128_192_use_the_lltf_block() {
    let mut rng = Rng(15);
    let frames = drifting_frames(&mut rng, 10);
    let t = regular_times(10, 10_000);
    let base = run(&frames, &t);
    for extra in [64usize, 128] {
        let longer: Vec<Frame> = frames
            .iter()
            .map(|f| {
                let mut g = f.clone();
                g.extend(
                    (0..extra).map(|_| ((rng.unit() * 50.0) as f32, (rng.unit() * 50.0) as f32)),
                );
                g
            })
            .collect();
        assert_eq!(run(&longer, &t), base, "{} subcarriers", 64 + extra);
    }
    let mut out = [0.0; CSI22_DIMS];
    assert_eq!(
        FeatureExtractor::new()
            .extract_f32(0, &frames[0][..52], &mut out)
            .unwrap_err(),
        FeatureError::TooFewSubcarriers(52)
    );
    assert_eq!(
        FeatureExtractor::new()
            .extract_iq(0, &[0u8; 100], &mut out)
            .unwrap_err(),
        FeatureError::TooFewSubcarriers(50)
    );
}

#[test]
fn nulls_are_skipped() {
    // Equal amplitude, linear phase on the 52 data subcarriers, zeros elsewhere: if the nulls
    // counted, the spread would be large and the flatness low.
    let frame: Frame = (0..64)
        .map(|i| {
            if is_null(i) {
                (0.0, 0.0)
            } else {
                let th = 0.3 * freq_index(i);
                ((20.0 * th.cos()) as f32, (20.0 * th.sin()) as f32)
            }
        })
        .collect();
    let mut out = [0.0; CSI22_DIMS];
    FeatureExtractor::new()
        .extract_f32(0, &frame, &mut out)
        .unwrap();
    assert!((out[0] - 20f32.ln()).abs() < 1e-5, "level {}", out[0]);
    assert!(out[1] < 1e-5, "cv {}", out[1]);
    assert!((out[7] - 1.0).abs() < 1e-5, "flatness {}", out[7]);
    assert!(
        out[8] < 2e-3 && out[9] < 2e-3,
        "phase dispersion {} {}",
        out[8],
        out[9]
    );
    assert_eq!(out[10], 52.0 / 64.0);
    for share in &out[2..6] {
        assert!((share - 0.25).abs() < 1e-6, "13 subcarriers per band");
    }
}

#[test]
fn gaps_and_backward_time_reset_the_state() {
    let mut rng = Rng(16);
    let frames = drifting_frames(&mut rng, 6);
    let mut fx = FeatureExtractor::new();
    let mut out = [0.0; CSI22_DIMS];
    let times = [
        0u64,
        20_000,
        40_000,
        40_000 + GAP_RESET_US + 1,
        30_000,
        50_000,
    ];
    let mut outs = Vec::new();
    for (f, &t) in frames.iter().zip(&times) {
        fx.extract_f32(t, f, &mut out).unwrap();
        outs.push(out);
    }
    for n in [0usize, 3, 4] {
        let mut fresh = [0.0; CSI22_DIMS];
        FeatureExtractor::new()
            .extract_f32(times[n], &frames[n], &mut fresh)
            .unwrap();
        assert_eq!(outs[n], fresh, "frame {n} starts afresh");
        assert_eq!(
            &outs[n][11..],
            &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
    assert!(
        outs[1][11] > 0.0 && outs[5][11] > 0.0,
        "change measured between close frames"
    );
    // Exactly GAP_RESET_US later is still the same stream.
    let mut fx = FeatureExtractor::new();
    fx.extract_f32(0, &frames[0], &mut out).unwrap();
    fx.extract_f32(GAP_RESET_US, &frames[1], &mut out).unwrap();
    assert!(out[11] > 0.0);
}

/// After a restart (a gap, or time going backwards) every later frame equals what a fresh
/// extractor gives from the restart on: no stored profile or average survives it.
#[test]
fn restarts_clear_every_frame_to_frame_state() {
    let mut rng = Rng(19);
    let frames = drifting_frames(&mut rng, 40);
    for restart_at in [1_400_000 + GAP_RESET_US + 1, 500_000] {
        let mut times = regular_times(20, 20_000);
        times.extend((0..20u64).map(|i| restart_at + i * 20_000));
        let all = run(&frames, &times);
        let fresh = run(&frames[20..], &times[20..]);
        assert_close(&all[20..], &fresh, &[], 0.0, "after a restart");
        assert!(fresh[19][17] > 0.0, "the lagged comparison is active again");
    }
}

#[test]
fn change_features_follow_time_not_frame_count() {
    // The same two alternating frames at 20 ms and 10 ms spacing: the bias-corrected averages see
    // the same per-frame change energy, so they agree whatever the rate.
    let mut rng = Rng(17);
    let (a, b) = (random_frame(&mut rng), random_frame(&mut rng));
    let seq: Vec<Frame> = (0..50)
        .map(|n| if n % 2 == 0 { a.clone() } else { b.clone() })
        .collect();
    let slow = run(&seq, &regular_times(50, 20_000));
    let fast = run(&seq, &regular_times(50, 10_000));
    for d in [11usize, 12, 13] {
        assert!(
            (slow[49][d] - fast[49][d]).abs() < 1e-3,
            "{}",
            CSI22_NAMES[d]
        );
    }
    // Identical frames: no change at all.
    let still = run(&vec![a.clone(); 10], &regular_times(10, 20_000));
    assert_eq!(
        (still[9][11], still[9][12], still[9][13], still[9][15]),
        (0.0, 0.0, 1.0, 0.0)
    );
    assert_eq!(
        &still[9][16..],
        &[0.0; 6],
        "no decorrelation, no growth, no temporal-band energy"
    );
}

/// A static channel plus one reflected path whose phase turns at `doppler_hz` (a person moving),
/// plus white noise of `noise` per component, sampled every `period_us` for `seconds`.
fn moving_reflector(
    rng: &mut Rng,
    doppler_hz: f64,
    reflected: f64,
    noise: f64,
    period_us: u64,
    seconds: f64,
) -> (Vec<Frame>, Vec<u64>) {
    let base = random_frame(&mut Rng(31));
    let n = (seconds * 1e6 / period_us as f64) as usize;
    let times = regular_times(n, period_us);
    let frames = times
        .iter()
        .map(|&t| {
            let phase = 2.0 * PI * doppler_hz * t as f64 * 1e-6;
            base.iter()
                .enumerate()
                .map(|(i, &(re, im))| {
                    if is_null(i) {
                        return (0.0, 0.0);
                    }
                    // A path 0.3 µs longer: its phase also turns across the band.
                    let th = phase + 2.0 * PI * 0.3 * 0.3125 * freq_index(i);
                    let gauss = |rng: &mut Rng| {
                        (-2.0 * rng.unit().max(1e-12).ln()).sqrt() * (2.0 * PI * rng.unit()).cos()
                    };
                    (
                        (re as f64 + reflected * th.cos() + noise * gauss(rng)) as f32,
                        (im as f64 + reflected * th.sin() + noise * gauss(rng)) as f32,
                    )
                })
                .collect()
        })
        .collect();
    (frames, times)
}

/// Mean of feature `d` over the last second.
fn last_second_mean(out: &[[f32; CSI22_DIMS]], times: &[u64], d: usize) -> f32 {
    let end = *times.last().unwrap();
    let last: Vec<f32> = out
        .iter()
        .zip(times)
        .filter(|(_, &t)| t + 1_000_000 > end)
        .map(|(f, _)| f[d])
        .collect();
    last.iter().sum::<f32>() / last.len() as f32
}

#[test]
fn decorrelation_growth_ignores_the_noise_floor_and_sees_motion() {
    let (lag1, growth) = (16, 18);
    let mut rng = Rng(30);
    // A still room at two noise floors (as two chips differ): the profile decorrelates as much
    // between neighbouring frames as over 100 ms, so the growth stays near 0 at either.
    let mut still = Vec::new();
    for noise in [0.3, 2.0] {
        let (f, t) = moving_reflector(&mut rng, 0.0, 0.0, noise, 10_000, 3.0);
        let out = run(&f, &t);
        still.push((
            last_second_mean(&out, &t, lag1),
            last_second_mean(&out, &t, growth),
        ));
    }
    assert!(
        still[1].0 > still[0].0 + 1.0,
        "the noise floors differ: decorr_lag1 {still:?}"
    );
    for (_, g) in &still {
        assert!(g.abs() < 0.2, "still room: growth {g} ({still:?})");
    }
    // A moving reflector under the louder noise: over 100 ms the profile changes far more than
    // between frames.
    let (f, t) = moving_reflector(&mut rng, 2.0, 12.0, 2.0, 10_000, 3.0);
    let out = run(&f, &t);
    let g = last_second_mean(&out, &t, growth);
    assert!(g > 1.0, "moving: growth {g}");
}

/// Single corrupted frames (a profile unrelated to its neighbours, as the ESP32-C6 captures
/// carry) neither join the decorrelation averages nor serve as lagged profiles: a still room
/// with one every 0.3 s reads as still.
#[test]
fn decorrelation_growth_ignores_glitch_frames() {
    let growth = 18;
    let mut rng = Rng(34);
    let (clean, t) = moving_reflector(&mut rng, 0.0, 0.0, 2.0, 10_000, 3.0);
    let mut glitchy = clean.clone();
    for f in glitchy.iter_mut().skip(15).step_by(30) {
        *f = random_frame(&mut rng);
    }
    let (out_clean, out_glitchy) = (run(&clean, &t), run(&glitchy, &t));
    let g_clean = last_second_mean(&out_clean, &t, growth);
    let g_glitchy = last_second_mean(&out_glitchy, &t, growth);
    eprintln!("decorr_growth clean {g_clean}, with glitch frames {g_glitchy}");
    assert!(
        (g_glitchy - g_clean).abs() < 0.2,
        "clean {g_clean}, with glitch frames {g_glitchy}"
    );
    // The temporal bands skip the same frames.
    for (d, name) in CSI22_NAMES.iter().enumerate().skip(CSI19_DIMS) {
        let (c, g) = (
            last_second_mean(&out_clean, &t, d),
            last_second_mean(&out_glitchy, &t, d),
        );
        eprintln!("{name} clean {c}, with glitch frames {g}");
        assert!(
            (g - c).abs() < 0.2,
            "{name}: clean {c}, with glitch frames {g}"
        );
    }
}

/// Set 4's three bands: a reflector whose path turns at 0.2, 0.6 or 2 Hz (breathing, body
/// movement, a waving hand) puts the most energy in the slow, mid or fast band.
#[test]
fn temporal_bands_pick_the_motion_frequency() {
    let mut rng = Rng(35);
    for (hz, band) in [(0.2, 21usize), (0.6, 20), (2.0, 19)] {
        let (f, t) = moving_reflector(&mut rng, hz, 3.0, 0.0, 10_000, 12.0);
        let out = run(&f, &t);
        let e: Vec<f32> = (19..22).map(|d| last_second_mean(&out, &t, d)).collect();
        eprintln!("{hz} Hz: fast, mid, slow {e:?}");
        let top = (0..3).max_by(|&a, &b| e[a].total_cmp(&e[b])).unwrap();
        assert_eq!(19 + top, band, "{hz} Hz: fast, mid, slow {e:?}");
        let next = (0..3)
            .filter(|&b| b != top)
            .map(|b| e[b])
            .fold(f32::MIN, f32::max);
        assert!(e[top] - next > 0.4, "{hz} Hz: fast, mid, slow {e:?}");
    }
    // And none in a static channel: no noise, no energy.
    let (f, t) = moving_reflector(&mut rng, 0.0, 3.0, 0.0, 10_000, 3.0);
    let still = run(&f, &t);
    assert_eq!(&still.last().unwrap()[19..], &[0.0; 3]);
}

/// What `docs/features.md` says of set 4's noise: a still channel's band energies rise as the
/// frame rate falls (each average takes in noise in proportion to `dt / tau`), so a node
/// reference taken at the node's own rate is what removes them.
#[test]
fn temporal_band_noise_grows_as_the_frame_rate_falls() {
    let mut rng = Rng(37);
    let mut previous: Option<Vec<f32>> = None;
    for period_us in [5_000u64, 10_000, 20_000, 45_000] {
        let (f, t) = moving_reflector(&mut rng, 0.0, 0.0, 2.0, period_us, 10.0);
        let out = run(&f, &t);
        let e: Vec<f32> = (19..22).map(|d| last_second_mean(&out, &t, d)).collect();
        eprintln!(
            "{:.0} frames/s: fast, mid, slow {e:?}",
            1e6 / period_us as f64
        );
        if let Some(p) = &previous {
            for b in 0..3 {
                assert!(e[b] > p[b], "{period_us} µs: {e:?} after {p:?}");
            }
        }
        previous = Some(e);
    }
}

/// The bands are time constants, not frame counts: the same 2 Hz motion at 50 and 200 frames/s
/// gives the same energies.
#[test]
fn temporal_bands_follow_time_not_frame_count() {
    let mut rng = Rng(36);
    let (f50, t50) = moving_reflector(&mut rng, 2.0, 3.0, 0.0, 20_000, 8.0);
    let (f200, t200) = moving_reflector(&mut rng, 2.0, 3.0, 0.0, 5_000, 8.0);
    let (a, b) = (run(&f50, &t50), run(&f200, &t200));
    for (d, name) in CSI22_NAMES.iter().enumerate().skip(CSI19_DIMS) {
        let (x, y) = (
            last_second_mean(&a, &t50, d),
            last_second_mean(&b, &t200, d),
        );
        eprintln!("{name}: 50 Hz {x}, 200 Hz {y}");
        assert!((x - y).abs() < 0.1, "{name}: 50 Hz {x}, 200 Hz {y}");
    }
}

/// At 10 Hz one glitch lifts the recent average of `d_1` a lot (each frame weighs 18 %), so
/// the frame after it, as unrelated to the glitch as the glitch to its predecessor, is judged
/// against the level before the glitch: it too stays out of the averages, and a still room
/// with a glitch every second reads like the clean one.
#[test]
fn the_frame_after_a_glitch_is_judged_by_the_level_before_it() {
    let lag1 = 16;
    let mut rng = Rng(37);
    let (clean, t) = moving_reflector(&mut rng, 0.0, 0.0, 0.3, 100_000, 30.0);
    let mut glitchy = clean.clone();
    for f in glitchy.iter_mut().skip(5).step_by(10) {
        *f = random_frame(&mut rng);
    }
    let a = last_second_mean(&run(&clean, &t), &t, lag1);
    let b = last_second_mean(&run(&glitchy, &t), &t, lag1);
    eprintln!("decorr_lag1 at 10 Hz: clean {a}, with a glitch every second {b}");
    assert!((a - b).abs() < 0.5, "clean {a}, glitchy {b}");
}

/// Strong motion decorrelates neighbouring frames beyond 0.2 on most frames: those are motion,
/// not glitches (the level they are judged against rises with them), so the decorrelation
/// averages keep moving. With an absolute threshold alone every frame here was a glitch and
/// the features stayed frozen at 0.
#[test]
fn sustained_strong_decorrelation_is_not_a_glitch() {
    let lag1 = 16;
    let mut rng = Rng(35);
    // Every frame unrelated to the previous one: d_1 near 1 on all of them.
    let frames: Vec<Frame> = (0..300).map(|_| random_frame(&mut rng)).collect();
    let t = regular_times(frames.len(), 10_000);
    let out = run(&frames, &t);
    let d1 = last_second_mean(&out, &t, lag1);
    // ln(1 + D_1 / 1e-3) with D_1 near 1.
    assert!(d1 > 6.0, "decorr_lag1 {d1}");
}

/// A lagged profile more than 200 ms old is not compared with: on a 3 Hz stream no stored
/// profile qualifies and the decorrelation averages never move (before, a_prev, 333 ms old,
/// served as "100 ms ago").
#[test]
fn a_lagged_profile_older_than_200_ms_is_not_used() {
    let (lag1, lag100, growth) = (16, 17, 18);
    let mut rng = Rng(36);
    let frames: Vec<Frame> = (0..30).map(|_| random_frame(&mut rng)).collect();
    let t = regular_times(frames.len(), 333_333);
    for f in run(&frames, &t) {
        assert_eq!((f[lag1], f[lag100], f[growth]), (0.0, 0.0, 0.0));
    }
    // At 5 Hz the previous frame, 200 ms old, still qualifies.
    let t = regular_times(frames.len(), 200_000);
    let out = run(&frames, &t);
    assert!(out.last().unwrap()[lag100] > 0.0);
}

#[test]
fn decorrelation_lag_is_in_time_not_frames() {
    // The same motion, noise-free, at 50 and 200 frames per second: the lag-1 decorrelation
    // depends on the frame spacing, the 100 ms one does not (up to the store spacing).
    let (lag1, lag100) = (16, 17);
    let mut rng = Rng(32);
    let (f, t) = moving_reflector(&mut rng, 1.0, 12.0, 0.0, 20_000, 3.0);
    let slow = run(&f, &t);
    let (slow1, slow100) = (
        last_second_mean(&slow, &t, lag1),
        last_second_mean(&slow, &t, lag100),
    );
    let (f, t) = moving_reflector(&mut rng, 1.0, 12.0, 0.0, 5_000, 3.0);
    let fast = run(&f, &t);
    let (fast1, fast100) = (
        last_second_mean(&fast, &t, lag1),
        last_second_mean(&fast, &t, lag100),
    );
    assert!(
        slow1 > fast1 + 1.0,
        "lag 1 frame: {slow1} at 50 Hz vs {fast1} at 200 Hz"
    );
    assert!(
        (slow100 - fast100).abs() < 0.5,
        "lag 100 ms: {slow100} at 50 Hz vs {fast100} at 200 Hz"
    );
}

#[test]
fn sets_1_and_3_are_prefixes_of_set_4_and_other_widths_are_refused() {
    let mut rng = Rng(33);
    let frames = drifting_frames(&mut rng, 30);
    let t = regular_times(30, 20_000);
    let wide = run(&frames, &t);
    // One extractor, alternating widths and a refused width in between: the state advances
    // the same way whatever is written.
    let mut fx = FeatureExtractor::new();
    for (n, (f, &ts)) in frames.iter().zip(&t).enumerate() {
        // Refused calls in between change nothing.
        let mut bad = [0.0f32; 17];
        assert_eq!(
            fx.extract_f32(ts, f, &mut bad).unwrap_err(),
            FeatureError::OutputWidth(17)
        );
        let mut out = [0.0f32; CSI22_DIMS];
        let mut nan = f.clone();
        nan[3] = (f32::NAN, 0.0);
        assert_eq!(
            fx.extract_f32(ts, &nan, &mut out).unwrap_err(),
            FeatureError::NonFinite(3)
        );
        assert_eq!(
            fx.extract(ts, &[(1, 1); 52], &mut out).unwrap_err(),
            FeatureError::TooFewSubcarriers(52)
        );
        match n % 3 {
            0 => {
                let mut out = [0.0f32; CSI16_DIMS];
                fx.extract_f32(ts, f, &mut out).unwrap();
                assert_eq!(&out[..], &wide[n][..CSI16_DIMS], "frame {n}");
            }
            1 => {
                let mut out = [0.0f32; CSI19_DIMS];
                fx.extract_f32(ts, f, &mut out).unwrap();
                assert_eq!(&out[..], &wide[n][..CSI19_DIMS], "frame {n}");
            }
            _ => {
                let mut out = [0.0f32; CSI22_DIMS];
                fx.extract_f32(ts, f, &mut out).unwrap();
                assert_eq!(out, wide[n], "frame {n}");
            }
        }
    }
}

#[test]
fn degenerate_frames_give_finite_features() {
    let mut fx = FeatureExtractor::new();
    let mut out = [f32::NAN; CSI22_DIMS];
    fx.extract(0, &[(0, 0); 64], &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    assert_eq!(out[10], 0.0);
    // A zero frame inside a stream (after 200 ms, so the lagged comparison is active) reports
    // the current averages and leaves the state alone.
    let mut rng = Rng(18);
    let frames = drifting_frames(&mut rng, 12);
    let t = regular_times(12, 20_000);
    let reference = run(&frames, &t);
    let mut fx = FeatureExtractor::new();
    for n in 0..11 {
        fx.extract_f32(t[n], &frames[n], &mut out).unwrap();
    }
    fx.extract_f32(t[10] + 5_000, &vec![(0.0, 0.0); 64], &mut out)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(reference[10][17] > 0.0);
    assert_eq!(
        &out[11..13],
        &reference[10][11..13],
        "change averages repeated"
    );
    assert_eq!(
        &out[16..],
        &reference[10][16..],
        "decorrelation averages repeated"
    );
    fx.extract_f32(t[11], &frames[11], &mut out).unwrap();
    assert_eq!(out, reference[11]);
    // One valid subcarrier, extreme values, tiny values.
    for v in [
        (1.0f32, 0.0f32),
        (1e30, -1e30),
        (1e-30, 1e-30),
        (f32::MAX, f32::MIN),
    ] {
        let mut f = vec![(0.0f32, 0.0f32); 64];
        f[5] = v;
        f[6] = (v.1, v.0);
        let mut fx = FeatureExtractor::new();
        fx.extract_f32(0, &f, &mut out).unwrap();
        fx.extract_f32(1, &f, &mut out).unwrap();
        assert!(out.iter().all(|x| x.is_finite()), "{v:?}: {out:?}");
    }
    // Two adjacent subcarriers of very different amplitude: the slope is clamped.
    let mut f = vec![(0.0f32, 0.0f32); 64];
    f[5] = (1.0, 0.0);
    f[6] = (100.0, 0.0);
    FeatureExtractor::new()
        .extract_f32(0, &f, &mut out)
        .unwrap();
    assert_eq!(out[6], 8.0);
    let mut f = vec![(1.0f32, 1.0f32); 64];
    f[9] = (f32::NAN, 0.0);
    assert_eq!(
        FeatureExtractor::new()
            .extract_f32(0, &f, &mut out)
            .unwrap_err(),
        FeatureError::NonFinite(9)
    );
    // All energy in one subcarrier, jumping between two positions: the largest change energy.
    let mut fx = FeatureExtractor::new();
    for n in 0..50u64 {
        let mut pairs = vec![(1i8, 0i8); 64];
        pairs[0] = (0, 0);
        pairs[if n % 2 == 0 { 5 } else { 40 }] = (127, 127);
        fx.extract(n * 10_000, &pairs, &mut out).unwrap();
        check_ranges(&out);
    }
    assert!(out[11] > 10.0, "large but bounded change: {}", out[11]);
    // Random int8 frames, including the most negative values.
    let mut fx = FeatureExtractor::new();
    for n in 0..2000u64 {
        let pairs: Vec<(i8, i8)> = (0..64)
            .map(|_| (rng.byte() as i8, rng.byte() as i8))
            .collect();
        fx.extract(n * 7_000, &pairs, &mut out).unwrap();
        check_ranges(&out);
    }
}

/// The ranges documented in docs/features.md.
fn check_ranges(f: &[f32; CSI22_DIMS]) {
    assert!(f.iter().all(|v| v.is_finite()), "{f:?}");
    let within = |d: usize, lo: f32, hi: f32| {
        assert!(
            f[d] >= lo && f[d] <= hi,
            "{} = {} outside [{lo}, {hi}]",
            CSI22_NAMES[d],
            f[d]
        )
    };
    within(0, 0.0, 5.21);
    within(1, 0.0, 7.95);
    for d in 2..6 {
        within(d, 0.0, 1.0);
    }
    within(6, -8.0, 8.0);
    within(7, 0.0, 1.0);
    within(8, 0.0, 5.26);
    within(9, 0.0, 5.26);
    within(10, 0.0, 1.0);
    within(11, 0.0, 15.2);
    within(12, 0.0, 15.2);
    within(13, -1.0, 1.0);
    within(14, -1.0, 1.0);
    within(15, 0.0, 2.0);
    within(16, 0.0, 7.61);
    within(17, 0.0, 7.61);
    within(18, -9.91, 9.91);
    for d in 19..22 {
        within(d, 0.0, 19.81);
    }
}

#[test]
fn state9_copies_feature_state_in_spec_order() {
    let s = FeatureStateRepr {
        node_id: 1,
        mode: CaptureProfile::PassiveLowRate,
        seq: 1,
        ts_us: 2,
        motion_score: 0.1,
        presence_score: 0.2,
        respiration_bpm: 15.0,
        respiration_conf: 0.4,
        heartbeat_bpm: 70.0,
        heartbeat_conf: 0.8,
        anomaly_score: 0.7,
        env_shift_score: 0.0,
        node_coherence: 0.9,
        quality_flags: 0,
    };
    let mut out = [0.0; STATE9_DIMS];
    extract_state9(&s, &mut out).unwrap();
    assert_eq!(out, [0.1, 0.2, 15.0, 0.4, 70.0, 0.8, 0.7, 0.0, 0.9]);
    let mut bad = s;
    bad.heartbeat_conf = f32::INFINITY;
    assert_eq!(
        extract_state9(&bad, &mut out).unwrap_err(),
        FeatureError::NonFinite(5)
    );
    assert_eq!(
        FeatureSet::from_id(FEATURE_SET_STATE9),
        Some(FeatureSet::State9)
    );
    assert_eq!(FeatureSet::State9.dims(), STATE9_NAMES.len());
    assert_eq!(FeatureSet::Csi16.id(), 1);
    assert_eq!(FeatureSet::from_id(3), Some(FeatureSet::Csi19));
    assert_eq!(FeatureSet::Csi19.names().len(), CSI19_DIMS);
    assert_eq!(&CSI19_NAMES[..CSI16_DIMS], &CSI16_NAMES[..]);
    assert_eq!(FeatureSet::from_id(4), Some(FeatureSet::Csi22));
    assert_eq!(FeatureSet::Csi22.names().len(), CSI22_DIMS);
    assert_eq!(&CSI22_NAMES[..CSI19_DIMS], &CSI19_NAMES[..]);
    assert_eq!(FeatureSet::from_id(5), None);
    assert_eq!(FeatureSet::csi_width(4, 22), Some(22));
    assert_eq!(FeatureSet::csi_width(4, 19), None);
    assert_eq!(FeatureSet::csi_width(3, 22), None);
    assert_eq!(FeatureSet::csi_width(0, 16), Some(16));
    assert_eq!(FeatureSet::csi_width(1, 16), Some(16));
    assert_eq!(FeatureSet::csi_width(3, 19), Some(19));
    assert_eq!(FeatureSet::csi_width(3, 16), None);
    assert_eq!(FeatureSet::csi_width(1, 19), None);
    assert_eq!(FeatureSet::csi_width(0, 19), None);
    assert_eq!(FeatureSet::csi_width(2, 9), None);
}

#[test]
fn real_recording_features_are_finite_and_in_range() {
    let Some(lines) = common::ruview_raw_lines() else {
        return;
    };
    let mut per_node: std::collections::BTreeMap<u8, FeatureExtractor> = Default::default();
    let mut lo = [f32::INFINITY; CSI22_DIMS];
    let mut hi = [f32::NEG_INFINITY; CSI22_DIMS];
    let mut out = [0.0; CSI22_DIMS];
    for l in &lines {
        let fx = per_node.entry(l.node_id).or_default();
        fx.extract_iq((l.timestamp * 1e6) as u64, &l.iq, &mut out)
            .unwrap();
        check_ranges(&out);
        for d in 0..CSI22_DIMS {
            lo[d] = lo[d].min(out[d]);
            hi[d] = hi[d].max(out[d]);
        }
    }
    for d in 0..CSI22_DIMS {
        println!("{:>28}: [{:.4}, {:.4}]", CSI22_NAMES[d], lo[d], hi[d]);
    }
    assert_eq!(per_node.len(), 2);
}

/// File mean of each feature (frames 50.. so the reference profile has settled).
fn file_means(frames: &[(u64, Vec<u8>)], first_word_invalid: bool) -> [f64; CSI22_DIMS] {
    let mut fx = FeatureExtractor::new().with_first_word_invalid(first_word_invalid);
    let mut sum = [0f64; CSI22_DIMS];
    let mut out = [0.0; CSI22_DIMS];
    let mut n = 0;
    for (i, (t, iq)) in frames.iter().enumerate() {
        fx.extract_iq(*t, iq, &mut out).unwrap();
        check_ranges(&out);
        if i >= 50 {
            for d in 0..CSI22_DIMS {
                sum[d] += f64::from(out[d]);
            }
            n += 1;
        }
    }
    sum.map(|s| s / f64::from(n))
}

/// The labelled ESPectre captures (quiet room vs a person moving, 4 chips, 2 sessions each):
/// every movement capture has a lower mean `corr_ref` than every baseline capture, per chip and
/// across all chips. An observation on these 16 files, not a detector: see docs/features.md.
#[test]
fn espectre_movement_lowers_reference_correlation() {
    let Some(caps) = common::espectre_captures() else {
        return;
    };
    assert_eq!(caps.len(), 16);
    let corr_ref = CSI16_NAMES.iter().position(|&n| n == "corr_ref").unwrap();
    let mut by_chip: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for c in &caps {
        // The classic ESP32's first CSI word (subcarriers 0 and +1) is invalid: a near-constant
        // [-82, 96, 10, 0] in these captures.
        let m = file_means(&c.frames, c.chip.contains("\"esp32\""));
        println!(
            "{:9} {:42} {:8} {}",
            c.label,
            c.file,
            c.chip,
            m.map(|v| format!("{v:.3}")).join(" ")
        );
        let e = by_chip.entry(c.chip.clone()).or_default();
        if c.label == "baseline" {
            e.0.push(m[corr_ref])
        } else {
            e.1.push(m[corr_ref])
        }
    }
    assert_eq!(by_chip.len(), 4);
    let all_still = by_chip
        .values()
        .flat_map(|v| v.0.iter())
        .cloned()
        .fold(f64::INFINITY, f64::min);
    let all_moving = by_chip
        .values()
        .flat_map(|v| v.1.iter())
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        all_moving < all_still,
        "across chips: moving up to {all_moving}, still down to {all_still}"
    );
    for (chip, (still, moving)) in &by_chip {
        let lowest_still = still.iter().cloned().fold(f64::INFINITY, f64::min);
        let highest_moving = moving.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            highest_moving < lowest_still,
            "{chip}: moving {moving:?} vs still {still:?}"
        );
    }
}

/// The same captures through `decorr_growth`: every movement capture has a higher mean than
/// every baseline capture, on every chip, with one threshold across chips (the feature is
/// meant not to need a per-chip reference). An observation on these 16 files, not a detector.
#[test]
fn espectre_movement_raises_decorrelation_growth() {
    let Some(caps) = common::espectre_captures() else {
        return;
    };
    assert_eq!(caps.len(), 16);
    let growth = CSI22_NAMES
        .iter()
        .position(|&n| n == "decorr_growth")
        .unwrap();
    let (mut still, mut moving) = (Vec::new(), Vec::new());
    for c in &caps {
        let m = file_means(&c.frames, c.chip.contains("\"esp32\""))[growth];
        println!(
            "{:9} {:42} {:8} decorr_growth {m:.3}",
            c.label, c.file, c.chip
        );
        if c.label == "baseline" {
            still.push(m)
        } else {
            moving.push(m)
        }
    }
    let highest_still = still.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lowest_moving = moving.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(
        lowest_moving > highest_still,
        "moving down to {lowest_moving}, still up to {highest_still}"
    );
}

#[test]
fn dc_is_always_skipped_and_first_word_on_request() {
    let mut rng = Rng(19);
    let clean = random_frame(&mut rng); // buffer index 0 is DC (k = 0), index 1 is k = +1
    let mut garbage = clean.clone();
    garbage[0] = (96.0, -82.0);
    let t = [0u64];
    assert_eq!(
        run(&[garbage.clone()], &t),
        run(std::slice::from_ref(&clean), &t),
        "DC never counts"
    );
    garbage[1] = (0.0, 10.0);
    let mut cleaned = clean.clone();
    cleaned[1] = (0.0, 0.0);
    let (mut a, mut b) = ([0.0; CSI22_DIMS], [0.0; CSI22_DIMS]);
    FeatureExtractor::new()
        .with_first_word_invalid(true)
        .extract_f32(0, &garbage, &mut a)
        .unwrap();
    FeatureExtractor::new()
        .extract_f32(0, &cleaned, &mut b)
        .unwrap();
    assert_eq!(a, b, "first word skipped");
    let mut fx = FeatureExtractor::new().with_first_word_invalid(true);
    fx.extract_f32(0, &garbage, &mut a).unwrap();
    fx.reset();
    fx.extract_f32(0, &garbage, &mut b).unwrap();
    assert_eq!(a, b, "reset keeps the first-word setting");
}

/// A flat amplitude profile is constant for the correlations (1, per docs/features.md) even
/// when normalising it to mean 1 leaves f32 rounding in it; it read as ~0 (no correlation) for
/// some flat levels, and set 3 then took the frame for a glitch.
#[test]
fn a_flat_profile_correlates_as_constant() {
    let idx = |name: &str| CSI22_NAMES.iter().position(|n| *n == name).unwrap();
    let mut rng = Rng(11);
    for level in [1i8, 5, 7, 11] {
        let flat: Vec<(i8, i8)> = (0..64)
            .map(|i| if is_null(i) { (0, 0) } else { (level, level) })
            .collect();
        let shaped: Vec<(i8, i8)> = random_frame(&mut rng)
            .iter()
            .map(|&(re, im)| (re as i8, im as i8))
            .collect();
        let mut fx = FeatureExtractor::new();
        let mut out = [0.0; CSI22_DIMS];
        fx.extract(0, &flat, &mut out).unwrap();
        fx.extract(10_000, &shaped, &mut out).unwrap();
        assert_eq!(out[idx("corr_prev")], 1.0, "level {level}");
        assert_eq!(out[idx("corr_ref")], 1.0, "level {level}");
    }
}

#[test]
fn tiny_components_next_to_large_ones_stay_in_range() {
    // After scaling the largest component to 1, a 1e-25 component squares to 0 in f32: such a
    // subcarrier carries no measurable amplitude and must count as null, not as a valid
    // subcarrier of amplitude 0 (whose log power is -inf).
    let mut rng = Rng(41);
    let mut fx = FeatureExtractor::new();
    let mut out = [0.0f32; CSI22_DIMS];
    for n in 0..40u64 {
        let mut f = random_frame(&mut rng);
        f[7] = (1e-25, -1e-25);
        f[20] = (3e-30, 0.0);
        fx.extract_f32(n * 10_000, &f, &mut out).unwrap();
        check_ranges(&out);
        let mut nulled = f.clone();
        nulled[7] = (0.0, 0.0);
        nulled[20] = (0.0, 0.0);
        let mut reference = [0.0f32; CSI22_DIMS];
        let mut fresh = FeatureExtractor::new();
        let mut now = [0.0f32; CSI22_DIMS];
        fresh.extract_f32(0, &nulled, &mut reference).unwrap();
        FeatureExtractor::new()
            .extract_f32(0, &f, &mut now)
            .unwrap();
        assert_eq!(
            now, reference,
            "frame {n}: a vanishing subcarrier reads as a null one"
        );
    }
}

#[test]
fn non_finite_values_on_unused_subcarriers_are_ignored() {
    // DC (buffer index 0) is never used, nor +1 (index 1) when the first word is invalid: a
    // front end that writes NaN there (e.g. 0/0 on a null tone) loses no frame.
    let mut rng = Rng(42);
    let f = random_frame(&mut rng);
    let mut want = [0.0f32; CSI22_DIMS];
    FeatureExtractor::new()
        .extract_f32(0, &f, &mut want)
        .unwrap();
    let mut g = f.clone();
    g[0] = (f32::NAN, f32::INFINITY);
    let mut got = [0.0f32; CSI22_DIMS];
    FeatureExtractor::new()
        .extract_f32(0, &g, &mut got)
        .unwrap();
    assert_eq!(got, want);
    g[1] = (f32::NAN, 0.0);
    assert_eq!(
        FeatureExtractor::new()
            .extract_f32(0, &g, &mut got)
            .unwrap_err(),
        FeatureError::NonFinite(1),
        "+1 is used unless the first word is invalid"
    );
    let mut h = f.clone();
    h[1] = (0.0, 0.0);
    let mut skip_want = [0.0f32; CSI22_DIMS];
    FeatureExtractor::new()
        .with_first_word_invalid(true)
        .extract_f32(0, &h, &mut skip_want)
        .unwrap();
    FeatureExtractor::new()
        .with_first_word_invalid(true)
        .extract_f32(0, &g, &mut got)
        .unwrap();
    assert_eq!(got, skip_want);
}

/// The settling rule: the restart frame and the next SETTLE_FRAMES - 1 are not settled, the
/// next is; a gap starts it over; a frame with nothing to measure after a gap is not settled
/// (it must not join the run before the gap), and the next measurable frame restarts.
#[test]
fn settling_starts_at_every_restart() {
    let mut rng = Rng(23);
    let frames = drifting_frames(&mut rng, 2 * SETTLE_FRAMES + 4);
    let mut fx = FeatureExtractor::new();
    let mut out = [0.0; CSI22_DIMS];
    let mut t = 0u64;
    let mut settled = Vec::new();
    for f in &frames[..SETTLE_FRAMES + 2] {
        fx.extract_f32(t, f, &mut out).unwrap();
        settled.push(fx.is_settled());
        t += 10_000;
    }
    assert!(settled[..SETTLE_FRAMES].iter().all(|s| !s));
    assert!(settled[SETTLE_FRAMES..].iter().all(|&s| s));
    // A gap, and a frame of zeros first: not settled, no restart yet.
    let restarts = fx.restarts();
    t += 2 * GAP_RESET_US;
    let zeros = vec![(0.0f32, 0.0f32); 64];
    fx.extract_f32(t, &zeros, &mut out).unwrap();
    assert!(
        !fx.is_settled(),
        "a measureless frame after a gap joined the old run"
    );
    assert_eq!(fx.restarts(), restarts);
    // Without a gap such a frame stays settled.
    let mut steady = FeatureExtractor::new();
    for (i, f) in frames[..SETTLE_FRAMES + 1].iter().enumerate() {
        steady.extract_f32(i as u64 * 10_000, f, &mut out).unwrap();
    }
    steady
        .extract_f32((SETTLE_FRAMES as u64 + 1) * 10_000, &zeros, &mut out)
        .unwrap();
    assert!(steady.is_settled());
    // The next measurable frame restarts and settles again over SETTLE_FRAMES frames.
    let mut after = Vec::new();
    for f in &frames[SETTLE_FRAMES + 2..] {
        t += 10_000;
        fx.extract_f32(t, f, &mut out).unwrap();
        after.push(fx.is_settled());
    }
    assert_eq!(fx.restarts(), restarts + 1);
    assert!(after[..SETTLE_FRAMES].iter().all(|s| !s));
    assert!(after[SETTLE_FRAMES..].iter().all(|&s| s));
}

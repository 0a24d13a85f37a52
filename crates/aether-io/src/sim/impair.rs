//! What an ESP32 does to the channel before we see it: per-packet phase offsets, timing
//! offsets, automatic gain control, noise, int8 quantisation, and irregular packet timing.

use std::f64::consts::TAU;
use std::ops::{Add, Mul};

use super::channel::{is_null, subcarrier_index, Cx, N_SUBCARRIERS, SUBCARRIER_SPACING_HZ};
use super::rng::Rng;
use crate::record::Iq;

/// Impairment parameters (see docs/simulator.md for the physical reasons).
#[derive(Clone, Debug, PartialEq)]
pub struct Impairments {
    /// Random common phase per packet (carrier frequency / PLL phase offset), uniform in 2 pi.
    pub random_phase: bool,
    /// Standard deviation of the per-packet timing offset (packet detection delay), seconds;
    /// it tilts the phase linearly across subcarriers.
    pub timing_offset_std_s: f64,
    /// Fixed timing offset of this receiver's chain, seconds.
    pub timing_offset_fixed_s: f64,
    /// Gain control: `false` locks the gain at its first value (as ESPectre does on chips that
    /// allow it).
    pub agc: bool,
    /// AGC gain step, dB.
    pub agc_step_db: f64,
    /// Probability per packet of a spurious AGC step lasting 5-60 packets.
    pub agc_glitch_prob: f64,
    /// Target RMS magnitude of the reported values (int8 units).
    pub target_rms: f64,
    /// CSI estimation SNR relative to the empty-room channel power, dB (`None`: no noise).
    pub snr_db: Option<f64>,
    /// Relative standard deviation of the packet interval.
    pub interval_jitter: f64,
    /// Probability per packet of starting a burst of lost packets.
    pub drop_prob: f64,
    /// Mean length of a loss burst, packets.
    pub drop_burst: f64,
}

impl Impairments {
    /// Typical ESP32 behaviour.
    pub fn esp32() -> Self {
        Impairments {
            random_phase: true,
            timing_offset_std_s: 25e-9,
            timing_offset_fixed_s: 50e-9,
            agc: true,
            agc_step_db: 1.0,
            agc_glitch_prob: 0.003,
            target_rms: 28.0,
            snr_db: Some(29.0),
            interval_jitter: 0.15,
            drop_prob: 0.01,
            drop_burst: 3.0,
        }
    }

    /// A perfect receiver: the physical channel, scaled once and quantised to int8, at
    /// exactly regular intervals. For tests of the physics.
    pub fn ideal() -> Self {
        Impairments {
            random_phase: false,
            timing_offset_std_s: 0.0,
            timing_offset_fixed_s: 0.0,
            agc: false,
            agc_step_db: 1.0,
            agc_glitch_prob: 0.0,
            target_rms: 40.0,
            snr_db: None,
            interval_jitter: 0.0,
            drop_prob: 0.0,
            drop_burst: 1.0,
        }
    }
}

/// The state of one receiving node.
pub struct Receiver {
    params: Impairments,
    rng: Rng,
    /// Current gain, dB.
    gain_db: f64,
    glitch_db: f64,
    glitch_left: u32,
    noise_std: f64,
    initialised: bool,
    in_loss_burst: bool,
}

fn rms(h: &[Cx]) -> f64 {
    let (sum, n) = h
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_null(*i))
        .fold((0.0, 0usize), |(s, n), (_, v)| (s + v.norm_sqr(), n + 1));
    (sum / n.max(1) as f64).sqrt()
}

impl Receiver {
    /// `empty_room` sets the noise level: thermal noise does not follow the signal.
    pub fn new(params: Impairments, rng: Rng, empty_room: &[Cx; N_SUBCARRIERS]) -> Self {
        let noise_std = match params.snr_db {
            Some(snr) => rms(empty_room) * 10f64.powf(-snr / 20.0) / std::f64::consts::SQRT_2,
            None => 0.0,
        };
        Receiver {
            params,
            rng,
            gain_db: 0.0,
            glitch_db: 0.0,
            glitch_left: 0,
            noise_std,
            initialised: false,
            in_loss_burst: false,
        }
    }

    /// The next packet interval in seconds for a nominal `rate_hz`, and whether the packet
    /// after it is lost.
    pub fn next_interval(&mut self, rate_hz: f64) -> (f64, bool) {
        let jitter = 1.0 + self.params.interval_jitter * self.rng.normal();
        let dt = jitter.max(0.2) / rate_hz;
        let lost = if self.in_loss_burst {
            self.in_loss_burst = !self.rng.chance(1.0 / self.params.drop_burst.max(1.0));
            self.in_loss_burst
        } else {
            self.in_loss_burst = self.rng.chance(self.params.drop_prob);
            self.in_loss_burst
        };
        (dt, lost)
    }

    /// Turns the physical channel into what the ESP32 reports. Returns the values and the
    /// received signal power relative to unit transmit power, dB (for RSSI).
    pub fn measure(&mut self, h: &[Cx; N_SUBCARRIERS], out: &mut Vec<Iq>) -> f64 {
        let p = &self.params;
        let mut y = *h;
        if self.noise_std > 0.0 {
            for v in y.iter_mut() {
                *v = v.add(Cx::new(
                    self.noise_std * self.rng.normal(),
                    self.noise_std * self.rng.normal(),
                ));
            }
        }
        let level = rms(&y).max(1e-30);
        let power_db = 20.0 * level.log10();
        // AGC: track the level in whole steps, with hysteresis of a step; locked after the
        // first packet when disabled.
        let wanted_db = 20.0 * (p.target_rms / level).log10();
        if !self.initialised || (p.agc && (wanted_db - self.gain_db).abs() > p.agc_step_db) {
            self.gain_db = (wanted_db / p.agc_step_db).round() * p.agc_step_db;
            self.initialised = true;
        }
        if p.agc {
            if self.glitch_left > 0 {
                self.glitch_left -= 1;
                if self.glitch_left == 0 {
                    self.glitch_db = 0.0;
                }
            } else if self.rng.chance(p.agc_glitch_prob) {
                let steps = if self.rng.chance(0.5) { 2.0 } else { -2.0 };
                self.glitch_db = steps * p.agc_step_db;
                self.glitch_left = 5 + self.rng.below(56) as u32;
            }
        }
        let gain = 10f64.powf((self.gain_db + self.glitch_db) / 20.0);
        let phase = if p.random_phase {
            self.rng.range(0.0, TAU)
        } else {
            0.0
        };
        let timing = p.timing_offset_fixed_s + p.timing_offset_std_s * self.rng.normal();
        out.clear();
        for (i, v) in y.iter().enumerate() {
            if is_null(i) {
                out.push(Iq::new(0, 0));
                continue;
            }
            let k = f64::from(subcarrier_index(i));
            let rot = Cx::polar(gain, phase - TAU * k * SUBCARRIER_SPACING_HZ * timing);
            let z = v.mul(rot);
            let q = |x: f64| x.round().clamp(-128.0, 127.0) as i8;
            out.push(Iq::new(q(z.re), q(z.im)));
        }
        power_db
    }
}

//! The multipath channel between the transmitter and one receiving node.
//!
//! `H(f_k) = sum_p A_p exp(j (phi_p - 2 pi f_k L_p / c))` over paths of length `L_p`, for the
//! 64 subcarriers `f_k = f_c + k * 312.5 kHz` in the order the ESP32 reports an HT20 LLTF
//! (k = 0..31, then -32..-1). Path amplitudes follow free-space and bistatic radar
//! equations relative to unit transmit amplitude:
//! - line of sight: `lambda / (4 pi L)`;
//! - wall / floor / ceiling (first-order image): `Gamma lambda / (4 pi L)`, phase pi;
//! - point scatterer (furniture, body points): `sqrt(sigma / 4 pi) lambda / (4 pi d1 d2)`.
//!
//! A moving body point changes `L = d1 + d2` and so rotates its term at
//! `f_D = -(1 / lambda) dL/dt`: Doppler needs no separate model.

use std::f64::consts::{PI, TAU};
use std::ops::{Add, Mul};

use super::body::{body_axis, BodyPoint};
use super::geometry::{add, dist, dot, norm, scale, sub, Room, P3};
use super::rng::Rng;

/// Speed of light, m/s.
pub const C: f64 = 299_792_458.0;
/// OFDM subcarrier spacing of 20 MHz 802.11, Hz.
pub const SUBCARRIER_SPACING_HZ: f64 = 312_500.0;
/// Subcarriers in an HT20 LLTF report.
pub const N_SUBCARRIERS: usize = 64;

/// A complex number (the simulator's own, to keep the maths in one place).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cx {
    pub re: f64,
    pub im: f64,
}

impl Cx {
    pub const ZERO: Cx = Cx { re: 0.0, im: 0.0 };
    pub fn new(re: f64, im: f64) -> Self {
        Cx { re, im }
    }
    /// `r exp(j theta)`.
    pub fn polar(r: f64, theta: f64) -> Self {
        let (s, c) = theta.sin_cos();
        Cx {
            re: r * c,
            im: r * s,
        }
    }
    pub fn scale(self, s: f64) -> Cx {
        Cx {
            re: self.re * s,
            im: self.im * s,
        }
    }
    pub fn conj(self) -> Cx {
        Cx {
            re: self.re,
            im: -self.im,
        }
    }
    pub fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
    pub fn abs(self) -> f64 {
        self.norm_sqr().sqrt()
    }
    pub fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }
}

impl std::ops::Add for Cx {
    type Output = Cx;
    fn add(self, o: Cx) -> Cx {
        Cx::new(self.re + o.re, self.im + o.im)
    }
}

impl std::ops::Sub for Cx {
    type Output = Cx;
    fn sub(self, o: Cx) -> Cx {
        Cx::new(self.re - o.re, self.im - o.im)
    }
}

impl std::ops::Mul for Cx {
    type Output = Cx;
    fn mul(self, o: Cx) -> Cx {
        Cx::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}

/// Subcarrier index `k` reported at position `i` of a 64-value HT20 LLTF report.
pub fn subcarrier_index(i: usize) -> i32 {
    if i < 32 {
        i as i32
    } else {
        i as i32 - 64
    }
}

/// True for the DC null and the guard subcarriers, which the ESP32 reports as zero.
pub fn is_null(i: usize) -> bool {
    let k = subcarrier_index(i);
    k == 0 || k.abs() > 26
}

/// Closest distance (metres) at which a scatterer's bistatic spreading `1 / (d1 · d2)` still
/// grows: nearer, a body point is no longer small against its distance to the antenna and the
/// point-scatterer model would give a node a +27 dB spike as a hand passed 4 cm from it.
const NEAR_FIELD_M: f64 = 0.5;

/// The bistatic spreading loss `1 / (d1 · d2)`, each distance held at [`NEAR_FIELD_M`] or more.
fn spreading(d1: f64, d2: f64) -> f64 {
    1.0 / (d1.max(NEAR_FIELD_M) * d2.max(NEAR_FIELD_M))
}

/// Adds one path of length `len` with complex gain `gain` to every subcarrier.
fn add_path(h: &mut [Cx; N_SUBCARRIERS], fc: f64, len: f64, gain: Cx) {
    // exp(-j 2 pi (fc + k df) L / c) = base * step^k, walked from k = -32.
    let base = gain.mul(Cx::polar(1.0, -TAU * fc * len / C));
    let step = Cx::polar(1.0, -TAU * SUBCARRIER_SPACING_HZ * len / C);
    let mut ph = base.mul(Cx::polar(1.0, TAU * SUBCARRIER_SPACING_HZ * len / C * 32.0));
    for k in -32i32..32 {
        let i = ((k + 64) % 64) as usize;
        h[i] = h[i].add(ph);
        ph = ph.mul(step);
    }
}

/// Shortest distance between segments `p1-q1` and `p2-q2` (clamped closest points).
pub fn segment_distance(p1: P3, q1: P3, p2: P3, q2: P3) -> f64 {
    const EPS: f64 = 1e-12;
    let (d1, d2, r) = (sub(q1, p1), sub(q2, p2), sub(p1, p2));
    let (a, e, f) = (dot(d1, d1), dot(d2, d2), dot(d2, r));
    let (s, t) = if a <= EPS && e <= EPS {
        (0.0, 0.0)
    } else if a <= EPS {
        (0.0, (f / e).clamp(0.0, 1.0))
    } else {
        let c = dot(d1, r);
        if e <= EPS {
            ((-c / a).clamp(0.0, 1.0), 0.0)
        } else {
            let b = dot(d1, d2);
            let denom = a * e - b * b;
            let mut s = if denom > EPS {
                ((b * f - c * e) / denom).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let mut t = (b * s + f) / e;
            if t < 0.0 {
                t = 0.0;
                s = (-c / a).clamp(0.0, 1.0);
            } else if t > 1.0 {
                t = 1.0;
                s = ((b - c) / a).clamp(0.0, 1.0);
            }
            (s, t)
        }
    };
    norm(sub(add(p1, scale(d1, s)), add(p2, scale(d2, t))))
}

/// Fraction of a ray segment's amplitude that passes a body with axis `(feet, head)`.
fn shadow(a: P3, b: P3, axis: (P3, P3)) -> f64 {
    let d = segment_distance(a, b, axis.0, axis.1);
    1.0 - 0.7 * (-(d / 0.2) * (d / 0.2)).exp()
}

/// The channel of one transmitter-receiver pair in a room.
#[derive(Clone, Debug)]
pub struct Link {
    pub tx: P3,
    pub rx: P3,
    /// Carrier frequency, Hz.
    pub fc: f64,
    pub wavelength: f64,
    /// Mirror images of the transmitter and receiver in the six surfaces, with the wall
    /// reflection coefficient, for body paths that bounce once off a wall.
    tx_images: [P3; 6],
    rx_images: [P3; 6],
    wall_reflection: f64,
    los: [Cx; N_SUBCARRIERS],
    /// First-order wall, floor and ceiling reflections: the reflection point and the path's
    /// contribution, kept apart so the body can shadow each one.
    walls: Vec<(P3, [Cx; N_SUBCARRIERS])>,
    /// Furniture and the diffuse tail.
    rest: [Cx; N_SUBCARRIERS],
}

impl Link {
    /// Builds the static part of the channel to receiver `rx_index` of `room`; the diffuse
    /// tail is drawn from `seed`.
    pub fn new(room: &Room, rx_index: usize, freq_mhz: u32, seed: u64) -> Self {
        let fc = f64::from(freq_mhz) * 1e6;
        let lambda = C / fc;
        let (tx, rx) = (room.tx, room.rx[rx_index]);
        let k = lambda / (4.0 * PI);
        let mut los = [Cx::ZERO; N_SUBCARRIERS];
        let d0 = dist(tx, rx);
        add_path(&mut los, fc, d0, Cx::new(k / d0, 0.0));
        let mut rest = [Cx::ZERO; N_SUBCARRIERS];
        let mut walls = Vec::with_capacity(6);
        for (wall, img) in room.images(tx).into_iter().enumerate() {
            let l = dist(img, rx);
            // Reflection off a denser medium: phase pi.
            let mut h = [Cx::ZERO; N_SUBCARRIERS];
            add_path(&mut h, fc, l, Cx::new(-room.wall_reflection * k / l, 0.0));
            // Where the path touches the surface: the image-to-receiver line meets the plane.
            let axis = wall / 2;
            let plane = if wall % 2 == 0 { 0.0 } else { room.size[axis] };
            let s = (plane - img[axis]) / (rx[axis] - img[axis]);
            walls.push((add(img, scale(sub(rx, img), s)), h));
        }
        for s in &room.furniture {
            let (d1, d2) = (dist(tx, s.pos), dist(s.pos, rx));
            let a = (s.rcs / (4.0 * PI)).sqrt() * k * spreading(d1, d2);
            add_path(&mut rest, fc, d1 + d2, Cx::polar(a, s.phase));
        }
        // Diffuse tail: many weak paths with exponentially distributed excess delay and
        // exponentially decaying power, total power `diffuse_power` times the LOS power.
        let mut rng = Rng::stream(seed, &format!("diffuse-{}-{rx_index}", room.name));
        let n = 24;
        let mut tail = Vec::with_capacity(n);
        let mut total = 0.0;
        for _ in 0..n {
            let excess = -room.diffuse_spread_s * (1.0 - rng.uniform()).ln();
            let p = (-excess / room.diffuse_spread_s).exp();
            total += p;
            tail.push((d0 + excess * C, p, rng.range(0.0, TAU)));
        }
        let los_power = (k / d0) * (k / d0);
        for (len, p, phase) in tail {
            let a = (room.diffuse_power * los_power * p / total).sqrt();
            add_path(&mut rest, fc, len, Cx::polar(a, phase));
        }
        Link {
            tx,
            rx,
            fc,
            wavelength: lambda,
            walls,
            tx_images: room.images(tx),
            rx_images: room.images(rx),
            wall_reflection: room.wall_reflection,
            los,
            rest,
        }
    }

    /// The channel with nobody in the room.
    pub fn static_response(&self) -> [Cx; N_SUBCARRIERS] {
        let mut h = self.rest;
        for (o, l) in h.iter_mut().zip(&self.los) {
            *o = o.add(*l);
        }
        for (_, wall) in &self.walls {
            for (o, w) in h.iter_mut().zip(wall) {
                *o = o.add(*w);
            }
        }
        h
    }

    /// Only the body's contribution (no static paths, no blocking): each body point's direct
    /// bistatic path plus the 12 paths that bounce once off a wall before or after it.
    pub fn body_response(&self, body: &[BodyPoint]) -> [Cx; N_SUBCARRIERS] {
        let mut h = [Cx::ZERO; N_SUBCARRIERS];
        let k = self.wavelength / (4.0 * PI);
        let g = -self.wall_reflection;
        for p in body {
            let amp = (p.rcs / (4.0 * PI)).sqrt() * k;
            let (d1, d2) = (dist(self.tx, p.pos), dist(p.pos, self.rx));
            add_path(
                &mut h,
                self.fc,
                d1 + d2,
                Cx::polar(amp * spreading(d1, d2), p.phase),
            );
            for img in &self.tx_images {
                let d1 = dist(*img, p.pos);
                add_path(
                    &mut h,
                    self.fc,
                    d1 + d2,
                    Cx::polar(g * amp * spreading(d1, d2), p.phase),
                );
            }
            let d1 = dist(self.tx, p.pos);
            for img in &self.rx_images {
                let d2 = dist(p.pos, *img);
                add_path(
                    &mut h,
                    self.fc,
                    d1 + d2,
                    Cx::polar(g * amp * spreading(d1, d2), p.phase),
                );
            }
        }
        h
    }

    /// Only the direct bistatic path of one point (no wall bounces), for Doppler checks.
    pub fn direct_path(&self, p: &BodyPoint) -> [Cx; N_SUBCARRIERS] {
        let mut h = [Cx::ZERO; N_SUBCARRIERS];
        let k = self.wavelength / (4.0 * PI);
        let (d1, d2) = (dist(self.tx, p.pos), dist(p.pos, self.rx));
        let a = (p.rcs / (4.0 * PI)).sqrt() * k * spreading(d1, d2);
        add_path(&mut h, self.fc, d1 + d2, Cx::polar(a, p.phase));
        h
    }

    /// How much of the line of sight gets past the body: 1 when clear, down to 0.3 when the
    /// body axis crosses it (a 0.2 m Gaussian profile, about a torso's half-width).
    pub fn los_transmission(&self, body: &[BodyPoint]) -> f64 {
        match body_axis(body) {
            Some(axis) => shadow(self.tx, self.rx, axis),
            None => 1.0,
        }
    }

    /// The full channel with `body` (empty for an empty room). The body adds its own paths
    /// and shadows the line of sight and each wall reflection (both legs).
    pub fn response(&self, body: &[BodyPoint]) -> [Cx; N_SUBCARRIERS] {
        let mut h = self.body_response(body);
        let axis = body_axis(body);
        let a = axis.map_or(1.0, |ax| shadow(self.tx, self.rx, ax));
        for ((o, r), l) in h.iter_mut().zip(&self.rest).zip(&self.los) {
            *o = *o + *r + l.scale(a);
        }
        for (point, wall) in &self.walls {
            let a = axis.map_or(1.0, |ax| {
                shadow(self.tx, *point, ax) * shadow(*point, self.rx, ax)
            });
            for (o, w) in h.iter_mut().zip(wall) {
                *o = *o + w.scale(a);
            }
        }
        h
    }
}

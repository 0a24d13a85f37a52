//! A person as a handful of moving point scatterers, and the timeline of what they do.
//!
//! Points are placed in a body frame (forward, left, up) relative to a floor position and a
//! facing direction, then turned into room coordinates. Every scenario is a list of timed
//! segments, each with a label and a motion; the pose at time `t` comes from the segment
//! that covers `t`.

use std::f64::consts::{PI, TAU};

use super::geometry::{Room, P3};
use super::rng::Rng;

/// Body points, in this order, with their radar cross-sections (m^2).
pub const PARTS: [(&str, f64); 11] = [
    ("chest", 2.0),
    ("pelvis", 1.0),
    ("head", 0.15),
    ("left_elbow", 0.15),
    ("left_hand", 0.3),
    ("right_elbow", 0.15),
    ("right_hand", 0.3),
    ("left_knee", 0.2),
    ("left_foot", 0.1),
    ("right_knee", 0.2),
    ("right_foot", 0.1),
];

const CHEST: usize = 0;
const PELVIS: usize = 1;
const HEAD: usize = 2;
const L_ELBOW: usize = 3;
const L_HAND: usize = 4;
const R_ELBOW: usize = 5;
const R_HAND: usize = 6;
const L_KNEE: usize = 7;
const L_FOOT: usize = 8;
const R_KNEE: usize = 9;
const R_FOOT: usize = 10;

type Skeleton = [[f64; 3]; 11];

/// Standing at rest, (forward, left, up) in metres.
const STANDING: Skeleton = [
    [0.10, 0.0, 1.30],
    [0.05, 0.0, 1.00],
    [0.05, 0.0, 1.65],
    [0.0, 0.22, 1.10],
    [0.0, 0.22, 0.80],
    [0.0, -0.22, 1.10],
    [0.0, -0.22, 0.80],
    [0.03, 0.10, 0.50],
    [0.0, 0.10, 0.08],
    [0.03, -0.10, 0.50],
    [0.0, -0.10, 0.08],
];

/// Sitting on a chair.
const SITTING: Skeleton = [
    [-0.05, 0.0, 0.85],
    [-0.10, 0.0, 0.50],
    [-0.05, 0.0, 1.20],
    [0.0, 0.22, 0.75],
    [0.20, 0.15, 0.60],
    [0.0, -0.22, 0.75],
    [0.20, -0.15, 0.60],
    [0.35, 0.10, 0.50],
    [0.40, 0.10, 0.08],
    [0.35, -0.10, 0.50],
    [0.40, -0.10, 0.08],
];

/// Posture of a person who is not moving on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posture {
    Standing,
    Sitting,
    /// On the floor after a fall.
    Lying,
}

/// Arm gestures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gesture {
    /// Hand raised beside the head, waving sideways at 2 Hz.
    Wave,
    /// Hand pushed forward from the chest to arm's length and back, 1 s per push.
    Push,
    /// Hand tracing a 0.2 m-radius circle in front of the body, 1 turn per second.
    Circle,
}

impl Gesture {
    pub fn label(self) -> &'static str {
        match self {
            Gesture::Wave => "wave",
            Gesture::Push => "push",
            Gesture::Circle => "circle",
        }
    }
    /// Seconds one gesture takes.
    pub fn duration_s(self) -> f64 {
        match self {
            Gesture::Wave => 2.5,
            Gesture::Push => 2.0,
            Gesture::Circle => 2.0,
        }
    }
}

/// What the person does during a segment. Times inside are absolute (simulation seconds).
#[derive(Clone, Debug, PartialEq)]
pub enum Motion {
    /// Nobody in the room.
    Absent,
    Still {
        base: [f64; 2],
        facing: f64,
        posture: Posture,
    },
    /// Walking a polyline at constant speed from `t0` until `t1` (the gait settles to
    /// standing over the last [`GAIT_SETTLE_S`] seconds).
    Walk {
        path: Vec<[f64; 2]>,
        speed: f64,
        t0: f64,
        t1: f64,
        stride_hz: f64,
        /// The facing before the walk: the body turns from it to the path's direction over
        /// the first [`TURN_S`] seconds.
        from_facing: f64,
    },
    Gesture {
        base: [f64; 2],
        facing: f64,
        kind: Gesture,
        t0: f64,
    },
    /// Falling forward: the body rotates about the feet by 90 degrees in `duration` seconds,
    /// accelerating (angle proportional to elapsed time squared).
    Fall {
        base: [f64; 2],
        facing: f64,
        t0: f64,
        duration: f64,
    },
    /// Standing to sitting in `duration` seconds (smooth start and stop).
    SitDown {
        base: [f64; 2],
        facing: f64,
        t0: f64,
        duration: f64,
    },
}

/// One labelled piece of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub label: &'static str,
    pub motion: Motion,
}

/// Per-person constants.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// Breathing rate, Hz (0.1-0.5).
    pub breath_hz: f64,
    /// Chest displacement amplitude from breathing, metres.
    pub breath_m: f64,
    /// Heart rate, Hz.
    pub heart_hz: f64,
    /// Chest displacement from the heartbeat, metres.
    pub heart_m: f64,
    /// Reflection phase of each body point.
    pub part_phase: [f64; 11],
    /// Phases of the slow postural sway.
    sway_phase: [f64; 2],
}

impl Person {
    pub fn new(rng: &mut Rng) -> Self {
        let mut part_phase = [0.0; 11];
        for p in &mut part_phase {
            *p = rng.range(0.0, TAU);
        }
        Person {
            breath_hz: rng.range(0.1, 0.5),
            breath_m: rng.range(0.003, 0.006),
            heart_hz: rng.range(1.0, 1.4),
            heart_m: 0.0003,
            part_phase,
            sway_phase: [rng.range(0.0, TAU), rng.range(0.0, TAU)],
        }
    }
}

/// One body point in room coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BodyPoint {
    pub pos: P3,
    pub rcs: f64,
    pub phase: f64,
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

fn lerp3(a: [f64; 3], b: [f64; 3], s: f64) -> [f64; 3] {
    [
        a[0] + (b[0] - a[0]) * s,
        a[1] + (b[1] - a[1]) * s,
        a[2] + (b[2] - a[2]) * s,
    ]
}

/// Rotates a body-frame point forward about the feet by `angle` (0 upright, pi/2 lying).
fn tip_forward(p: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let fwd = p[0] * c + p[2] * s;
    let up = -p[0] * s + p[2] * c;
    // The floor stops everything a few centimetres up (body thickness).
    [fwd, p[1], up.max(0.08)]
}

/// The chest's displacement by breathing and heartbeat at `t`, along the body's forward axis.
fn breath_offset(person: &Person, t: f64) -> f64 {
    person.breath_m * (TAU * person.breath_hz * t).sin()
        + person.heart_m * (TAU * person.heart_hz * t).sin()
}

/// The share of [`breath_offset`] each body point moves by: the chest all of it, the pelvis
/// half (abdominal breathing).
fn breath_share(i: usize) -> f64 {
    match i {
        CHEST => 1.0,
        PELVIS => 0.5,
        _ => 0.0,
    }
}

/// Adds breathing and heartbeat to the chest and pelvis along the body's forward axis,
/// before any rotation.
fn breathe(sk: &mut Skeleton, person: &Person, t: f64) {
    let d = breath_offset(person, t);
    for (i, p) in sk.iter_mut().enumerate() {
        p[0] += breath_share(i) * d;
    }
}

fn posture_skeleton(posture: Posture) -> (Skeleton, f64) {
    match posture {
        Posture::Standing => (STANDING, 0.0),
        Posture::Sitting => (SITTING, 0.0),
        Posture::Lying => (STANDING, PI / 2.0),
    }
}

/// How far from the feet a lying body reaches (head 1.65 m, plus its top).
const LYING_REACH_M: f64 = 1.75;
/// Least clearance between a lying body's head and a wall.
const LYING_MARGIN_M: f64 = 0.1;

/// Seconds over which a walk's gait settles to standing before the walk ends.
pub const GAIT_SETTLE_S: f64 = 0.3;
/// Seconds over which a walk turns from the facing it started with to its path.
pub const TURN_S: f64 = 0.5;
/// Postural sway amplitudes (metres) standing or sitting, and lying.
const SWAY_UPRIGHT_M: f64 = 0.01;
const SWAY_LYING_M: f64 = 0.002;
/// Half the span of path (metres) over which a walk's heading is taken, so it turns smoothly
/// through the corners of the path instead of jumping.
const HEADING_SPAN_M: f64 = 0.25;

/// `base` plus the slow postural sway of amplitude `amp` at absolute time `t`: the same
/// function in every motion, so a position never jumps where one segment gives way to the
/// next.
fn swayed(base: [f64; 2], person: &Person, t: f64, amp: f64) -> [f64; 2] {
    [
        base[0] + amp * (TAU * 0.07 * t + person.sway_phase[0]).sin(),
        base[1] + amp * (TAU * 0.05 * t + person.sway_phase[1]).sin(),
    ]
}

/// Heading after `s` metres along `path`: the direction across `s ± HEADING_SPAN_M`, which
/// is continuous through the corners.
pub fn walk_heading(path: &[[f64; 2]], s: f64) -> f64 {
    let (a, _) = along_path(path, (s - HEADING_SPAN_M).max(0.0));
    let (b, _) = along_path(path, s + HEADING_SPAN_M);
    if (b[0] - a[0]).hypot(b[1] - a[1]) < 1e-9 {
        along_path(path, s).1
    } else {
        (b[1] - a[1]).atan2(b[0] - a[0])
    }
}

/// Body-frame skeleton, tip angle, floor position and facing for a motion at time `t`.
fn body_frame(m: &Motion, person: &Person, t: f64) -> Option<(Skeleton, f64, [f64; 2], f64)> {
    match m {
        Motion::Absent => None,
        Motion::Still {
            base,
            facing,
            posture,
        } => {
            let (mut sk, tip) = posture_skeleton(*posture);
            breathe(&mut sk, person, t);
            // Slow postural sway of about a centimetre while standing or sitting.
            let amp = if *posture == Posture::Lying {
                SWAY_LYING_M
            } else {
                SWAY_UPRIGHT_M
            };
            Some((sk, tip, swayed(*base, person, t, amp), *facing))
        }
        Motion::Walk {
            path,
            speed,
            t0,
            t1,
            stride_hz,
            from_facing,
        } => {
            let s = speed * (t - t0).max(0.0);
            let (pos, _) = along_path(path, s);
            // Turn from the facing the walk started with, the short way round.
            let along = walk_heading(path, s);
            let turn = (along - from_facing + PI).rem_euclid(TAU) - PI;
            let heading = from_facing + turn * smoothstep((t - t0) / TURN_S);
            let g = TAU * stride_hz * (t - t0);
            // The gait settles to standing by the walk's end (no mid-stride snap back).
            let a = smoothstep((t1 - t) / GAIT_SETTLE_S);
            let sg = a * g.sin();
            let mut sk = STANDING;
            breathe(&mut sk, person, t);
            // Legs swing in anti-phase, arms opposite to the leg on the same side.
            sk[L_FOOT][0] += 0.30 * sg;
            sk[L_FOOT][2] += 0.06 * sg.max(0.0);
            sk[R_FOOT][0] -= 0.30 * sg;
            sk[R_FOOT][2] += 0.06 * (-sg).max(0.0);
            sk[L_KNEE][0] += 0.15 * sg;
            sk[R_KNEE][0] -= 0.15 * sg;
            sk[L_HAND][0] -= 0.20 * sg;
            sk[R_HAND][0] += 0.20 * sg;
            sk[L_ELBOW][0] -= 0.08 * sg;
            sk[R_ELBOW][0] += 0.08 * sg;
            // The trunk bobs twice per stride, from and back to its standing height.
            let bob = 0.02 * a * ((2.0 * g).cos() - 1.0);
            for i in [CHEST, PELVIS, HEAD] {
                sk[i][2] += bob;
            }
            Some((sk, 0.0, swayed(pos, person, t, SWAY_UPRIGHT_M), heading))
        }
        Motion::Gesture {
            base,
            facing,
            kind,
            t0,
        } => {
            let mut sk = STANDING;
            breathe(&mut sk, person, t);
            let tau = t - t0;
            let dur = kind.duration_s();
            let w = smoothstep(tau / 0.3) * smoothstep((dur - tau) / 0.3);
            let (hand, elbow) = match kind {
                Gesture::Wave => (
                    [0.15, -0.35 + 0.15 * (TAU * 2.0 * tau).sin(), 1.60],
                    [0.10, -0.30, 1.30],
                ),
                Gesture::Push => {
                    let reach = 0.15 + 0.45 * 0.5 * (1.0 - (TAU * tau).cos());
                    ([reach, -0.20, 1.30], [0.5 * reach, -0.22, 1.20])
                }
                Gesture::Circle => (
                    [
                        0.35,
                        -0.25 + 0.2 * (TAU * tau).cos(),
                        1.35 + 0.2 * (TAU * tau).sin(),
                    ],
                    [0.15, -0.25, 1.20],
                ),
            };
            sk[R_HAND] = lerp3(STANDING[R_HAND], hand, w);
            sk[R_ELBOW] = lerp3(STANDING[R_ELBOW], elbow, w);
            Some((sk, 0.0, swayed(*base, person, t, SWAY_UPRIGHT_M), *facing))
        }
        Motion::Fall {
            base,
            facing,
            t0,
            duration,
        } => {
            let mut sk = STANDING;
            breathe(&mut sk, person, t);
            let x = ((t - t0) / duration).clamp(0.0, 1.0);
            // The sway goes from standing's to lying's as the body goes down.
            let amp = SWAY_UPRIGHT_M + (SWAY_LYING_M - SWAY_UPRIGHT_M) * x;
            Some((sk, PI / 2.0 * x * x, swayed(*base, person, t, amp), *facing))
        }
        Motion::SitDown {
            base,
            facing,
            t0,
            duration,
        } => {
            let s = smoothstep((t - t0) / duration);
            let mut sk = [[0.0; 3]; 11];
            for (i, p) in sk.iter_mut().enumerate() {
                *p = lerp3(STANDING[i], SITTING[i], s);
            }
            breathe(&mut sk, person, t);
            Some((sk, 0.0, swayed(*base, person, t, SWAY_UPRIGHT_M), *facing))
        }
    }
}

/// Position and heading after walking `s` metres along a polyline (stops at the end).
pub fn along_path(path: &[[f64; 2]], mut s: f64) -> ([f64; 2], f64) {
    for w in path.windows(2) {
        let (dx, dy) = (w[1][0] - w[0][0], w[1][1] - w[0][1]);
        let len = (dx * dx + dy * dy).sqrt();
        if s <= len || len == 0.0 && s <= 0.0 {
            let f = if len > 0.0 { s / len } else { 0.0 };
            return ([w[0][0] + dx * f, w[0][1] + dy * f], dy.atan2(dx));
        }
        s -= len;
    }
    let n = path.len();
    let heading = if n >= 2 {
        (path[n - 1][1] - path[n - 2][1]).atan2(path[n - 1][0] - path[n - 2][0])
    } else {
        0.0
    };
    (path[n - 1], heading)
}

/// Body points at time `t` for a motion (empty when nobody is there).
pub fn pose(m: &Motion, person: &Person, t: f64, out: &mut Vec<BodyPoint>) {
    out.clear();
    let Some((sk, tip, base, facing)) = body_frame(m, person, t) else {
        return;
    };
    let (s, c) = facing.sin_cos();
    let d = breath_offset(person, t);
    for (i, p) in sk.iter().enumerate() {
        let q = if tip != 0.0 {
            // The floor stops the body, not its breathing: tip and clamp the point without
            // it, then add the breathing along the tipped forward axis (lying, vertical).
            let b = breath_share(i) * d;
            let mut q = tip_forward([p[0] - b, p[1], p[2]], tip);
            let (ts, tc) = tip.sin_cos();
            q[0] += b * tc;
            q[2] -= b * ts;
            q
        } else {
            *p
        };
        // forward = (c, s), left = (-s, c)
        out.push(BodyPoint {
            pos: [
                base[0] + q[0] * c - q[1] * s,
                base[1] + q[0] * s + q[1] * c,
                q[2],
            ],
            rcs: PARTS[i].1,
            phase: person.part_phase[i],
        });
    }
}

/// The vertical (or, lying, horizontal) body axis from the feet to the head, for blocking
/// the line-of-sight path.
pub fn body_axis(points: &[BodyPoint]) -> Option<(P3, P3)> {
    if points.len() != PARTS.len() {
        return None;
    }
    let f = points[L_FOOT].pos;
    let g = points[R_FOOT].pos;
    Some((
        [(f[0] + g[0]) / 2.0, (f[1] + g[1]) / 2.0, 0.0],
        points[HEAD].pos,
    ))
}

/// A random floor point at least `margin` from the walls.
fn spot(room: &Room, rng: &mut Rng, margin: f64) -> [f64; 2] {
    [
        rng.range(margin, room.size[0] - margin),
        rng.range(margin, room.size[1] - margin),
    ]
}

/// Scenario names accepted by [`Timeline::build`].
pub const SCENARIOS: [&str; 10] = [
    "empty", "still", "walking", "wave", "push", "circle", "fall", "sit_down", "mixed", "gestures",
];

/// The labelled plan of a whole simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub segments: Vec<Segment>,
    pub person: Person,
}

/// Builds segments one after another, keeping where the person is.
struct Planner<'a> {
    room: &'a Room,
    rng: Rng,
    t: f64,
    end: f64,
    base: [f64; 2],
    facing: f64,
    walking_speed: f64,
    segments: Vec<Segment>,
}

impl Planner<'_> {
    fn push(&mut self, dur: f64, label: &'static str, motion: Motion) {
        let end = (self.t + dur).min(self.end);
        if end > self.t {
            self.segments.push(Segment {
                start_s: self.t,
                end_s: end,
                label,
                motion,
            });
        }
        self.t = end;
    }
    fn full(&self) -> bool {
        self.t >= self.end
    }
    fn absent(&mut self, dur: f64) {
        self.push(dur, "empty", Motion::Absent);
    }
    fn still(&mut self, dur: f64, posture: Posture) {
        let m = Motion::Still {
            base: self.base,
            facing: self.facing,
            posture,
        };
        self.push(dur, "still", m);
    }
    /// Walks to random targets for `dur` seconds.
    fn walk(&mut self, dur: f64) {
        let speed = self.walking_speed;
        let mut path = vec![self.base];
        let mut length = 0.0;
        let need = speed * dur + 0.5;
        while length < need {
            let last = *path.last().unwrap();
            let mut target = spot(self.room, &mut self.rng, 0.6);
            for _ in 0..20 {
                if (target[0] - last[0]).hypot(target[1] - last[1]) >= 1.5 {
                    break;
                }
                target = spot(self.room, &mut self.rng, 0.6);
            }
            length += (target[0] - last[0]).hypot(target[1] - last[1]);
            path.push(target);
        }
        // Stride (one leg's cycle) rises with speed: about 0.9 Hz at 1.2 m/s.
        let stride_hz = 0.75 * speed.max(0.3);
        let t0 = self.t;
        let walked = speed * dur.min(self.end - t0);
        let (end_pos, _) = along_path(&path, walked);
        // The facing the walk ends with, as the walk computes it: no turn at the boundary.
        let along = walk_heading(&path, walked);
        let turn = (along - self.facing + PI).rem_euclid(TAU) - PI;
        let heading = self.facing + turn * smoothstep(dur.min(self.end - t0) / TURN_S);
        self.push(
            dur,
            "walking",
            Motion::Walk {
                path,
                speed,
                t0,
                t1: t0 + dur.min(self.end - t0),
                stride_hz,
                from_facing: self.facing,
            },
        );
        self.base = end_pos;
        self.facing = heading;
    }
    fn gesture(&mut self, kind: Gesture) {
        let m = Motion::Gesture {
            base: self.base,
            facing: self.facing,
            kind,
            t0: self.t,
        };
        self.push(kind.duration_s(), kind.label(), m);
    }
    /// Clearance (metres) between the room's walls and a body lying from `base` along
    /// `facing` (negative: the head would end outside).
    fn lying_clearance(&self, facing: f64) -> f64 {
        let head = [
            self.base[0] + LYING_REACH_M * facing.cos(),
            self.base[1] + LYING_REACH_M * facing.sin(),
        ];
        let size = self.room.size;
        head[0]
            .min(size[0] - head[0])
            .min(head[1])
            .min(size[1] - head[1])
    }

    /// Whether a fall from here, facing as now, ends with the body inside the room.
    fn lying_fits(&self) -> bool {
        self.lying_clearance(self.facing) >= LYING_MARGIN_M
    }

    /// Turns the person (before anything is planned at this spot) so a fall ends inside the
    /// room: the facing kept if it fits, else the nearest of the other 31 of 32 directions
    /// (nearer turns first, the opposite last) that does, else the one with the most room.
    fn face_room_for_a_fall(&mut self) {
        if self.lying_fits() {
            return;
        }
        let candidates = (1..16)
            .flat_map(|k| [k as f64, -(k as f64)])
            .chain([16.0])
            .map(|k| self.facing + k * TAU / 32.0);
        let best = candidates
            .clone()
            .find(|&f| self.lying_clearance(f) >= LYING_MARGIN_M)
            .unwrap_or_else(|| {
                candidates
                    .max_by(|&a, &b| self.lying_clearance(a).total_cmp(&self.lying_clearance(b)))
                    .unwrap_or(self.facing)
            });
        self.facing = best.rem_euclid(TAU);
    }

    fn fall(&mut self) {
        let duration = self.rng.range(0.6, 0.9);
        let m = Motion::Fall {
            base: self.base,
            facing: self.facing,
            t0: self.t,
            duration,
        };
        self.push(duration, "fall", m);
    }
    fn sit_down(&mut self) {
        let duration = self.rng.range(1.2, 1.8);
        let m = Motion::SitDown {
            base: self.base,
            facing: self.facing,
            t0: self.t,
            duration,
        };
        self.push(duration, "sit_down", m);
    }
}

impl Timeline {
    /// Plans `scenario` over `seconds` in `room`. `walking_speed` in m/s.
    pub fn build(
        scenario: &str,
        seconds: f64,
        room: &Room,
        seed: u64,
        walking_speed: f64,
    ) -> Option<Timeline> {
        let mut rng = Rng::stream(seed, "person");
        let person = Person::new(&mut rng);
        let mut p = Planner {
            room,
            rng: Rng::stream(seed, "plan"),
            t: 0.0,
            end: seconds,
            base: [0.0; 2],
            facing: 0.0,
            walking_speed,
            segments: Vec::new(),
        };
        p.base = spot(room, &mut p.rng, 0.7);
        p.facing = p.rng.range(0.0, TAU);
        let gesture_loop = |p: &mut Planner, kinds: &[Gesture]| {
            let mut i = 0;
            while !p.full() {
                let pause = p.rng.range(1.0, 2.5);
                p.still(pause, Posture::Standing);
                p.gesture(kinds[i % kinds.len()]);
                i += 1;
            }
        };
        match scenario {
            "empty" => p.absent(seconds),
            "still" => {
                let posture = if p.rng.chance(0.5) {
                    Posture::Standing
                } else {
                    Posture::Sitting
                };
                p.still(seconds, posture);
            }
            "walking" => p.walk(seconds),
            "wave" => gesture_loop(&mut p, &[Gesture::Wave]),
            "push" => gesture_loop(&mut p, &[Gesture::Push]),
            "circle" => gesture_loop(&mut p, &[Gesture::Circle]),
            "gestures" => gesture_loop(&mut p, &[Gesture::Wave, Gesture::Push, Gesture::Circle]),
            "fall" => {
                let before = seconds * p.rng.range(0.3, 0.5);
                p.face_room_for_a_fall();
                p.still(before, Posture::Standing);
                p.fall();
                p.still(seconds, Posture::Lying);
            }
            "sit_down" => {
                let before = seconds * p.rng.range(0.3, 0.5);
                p.still(before, Posture::Standing);
                p.sit_down();
                p.still(seconds, Posture::Sitting);
            }
            "mixed" => {
                // A plausible sequence with continuous positions; durations from the seed,
                // the last still segment absorbs what is left.
                let door = [0.6, 0.6];
                let d = |p: &mut Planner, lo: f64, hi: f64| p.rng.range(lo, hi);
                let dur = d(&mut p, 2.0, 4.0);
                p.absent(dur);
                p.base = door;
                let dur = d(&mut p, 3.0, 6.0);
                p.walk(dur);
                let dur = d(&mut p, 2.0, 4.0);
                p.still(dur, Posture::Standing);
                for kind in [Gesture::Wave, Gesture::Push, Gesture::Circle] {
                    p.gesture(kind);
                    let dur = d(&mut p, 1.0, 2.0);
                    p.still(dur, Posture::Standing);
                }
                let dur = d(&mut p, 3.0, 5.0);
                p.walk(dur);
                let dur = d(&mut p, 1.0, 2.0);
                p.still(dur, Posture::Standing);
                // A fall needs the room to lie in, facing as the walk ended; else a sit-down.
                if p.rng.chance(0.5) && p.lying_fits() {
                    p.fall();
                    p.still(seconds, Posture::Lying);
                } else {
                    p.sit_down();
                    p.still(seconds, Posture::Sitting);
                }
            }
            _ => return None,
        }
        Some(Timeline {
            segments: p.segments,
            person,
        })
    }

    /// The segment covering `t` (the last one for `t` past the end).
    pub fn segment_at(&self, t: f64) -> &Segment {
        let i = self
            .segments
            .partition_point(|s| s.start_s <= t)
            .saturating_sub(1);
        &self.segments[i.min(self.segments.len() - 1)]
    }

    /// Body points at time `t`.
    pub fn pose(&self, t: f64, out: &mut Vec<BodyPoint>) {
        pose(&self.segment_at(t).motion, &self.person, t, out);
    }

    /// Labels as segments, adjacent segments with the same label merged.
    pub fn labels(&self) -> crate::labels::Segments {
        let mut merged: Vec<crate::labels::Segment> = Vec::new();
        for s in &self.segments {
            match merged.last_mut() {
                Some(last) if last.label == s.label && last.end_s == s.start_s => {
                    last.end_s = s.end_s
                }
                _ => merged.push(crate::labels::Segment {
                    start_s: s.start_s,
                    end_s: s.end_s,
                    label: s.label.to_owned(),
                }),
            }
        }
        crate::labels::Segments::new(merged).expect("planner segments are ordered and disjoint")
    }
}

//! Rooms: size, transmitter and receiver positions, wall reflectivity and furniture.

use super::rng::Rng;

/// A point in metres: x, y on the floor, z up.
pub type P3 = [f64; 3];

pub fn sub(a: P3, b: P3) -> P3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn add(a: P3, b: P3) -> P3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub fn scale(a: P3, s: f64) -> P3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub fn dot(a: P3, b: P3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn norm(a: P3) -> f64 {
    dot(a, a).sqrt()
}
pub fn dist(a: P3, b: P3) -> f64 {
    norm(sub(a, b))
}

/// A static point scatterer (furniture, fittings).
#[derive(Clone, Debug, PartialEq)]
pub struct Scatterer {
    pub pos: P3,
    /// Radar cross-section, m^2.
    pub rcs: f64,
    /// Phase of the reflection, radians.
    pub phase: f64,
}

/// A rectangular room with one transmitter and one or more receiving nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    pub name: String,
    /// Extent along x, y, z in metres (the room spans `[0, size]`).
    pub size: P3,
    /// Access point / transmitter.
    pub tx: P3,
    /// Receiving ESP32 nodes; node ids are 1, 2, ... in this order.
    pub rx: Vec<P3>,
    /// Amplitude reflection coefficient of walls, floor and ceiling (0..1).
    pub wall_reflection: f64,
    pub furniture: Vec<Scatterer>,
    /// Diffuse multipath: mean excess delay of the exponential tail, seconds.
    pub diffuse_spread_s: f64,
    /// Diffuse multipath: total power relative to the line-of-sight path.
    pub diffuse_power: f64,
}

/// Names accepted by [`Room::named`] (plus `random`, drawn from the seed).
pub const ROOM_NAMES: [&str; 5] = ["lab", "living", "office", "bedroom", "corridor"];

fn furnish(name: &str, size: P3, count: usize) -> Vec<Scatterer> {
    // A named room is the same room for every seed: its furniture comes from its name.
    let mut rng = Rng::stream(0x5eed_f00d, name);
    (0..count)
        .map(|_| Scatterer {
            pos: [
                rng.range(0.3, size[0] - 0.3),
                rng.range(0.3, size[1] - 0.3),
                rng.range(0.3, 1.6),
            ],
            rcs: rng.range(0.05, 0.5),
            phase: rng.range(0.0, std::f64::consts::TAU),
        })
        .collect()
}

impl Room {
    /// A named room (see [`ROOM_NAMES`]) or `random` (geometry drawn from `seed`).
    pub fn named(name: &str, seed: u64) -> Option<Room> {
        let (size, tx, rx, wall_reflection, n_furniture, spread_ns, diffuse): (
            P3,
            P3,
            Vec<P3>,
            f64,
            usize,
            f64,
            f64,
        ) = match name {
            "lab" => (
                [6.0, 5.0, 3.0],
                [0.5, 2.5, 1.2],
                vec![[5.5, 2.5, 1.2], [3.0, 4.6, 1.2]],
                0.45,
                6,
                35.0,
                1.0,
            ),
            "living" => (
                [5.0, 4.0, 2.7],
                [0.4, 0.4, 1.0],
                vec![[4.6, 3.6, 1.0], [4.6, 0.5, 1.0]],
                0.5,
                8,
                30.0,
                1.2,
            ),
            "office" => (
                [8.0, 6.0, 3.0],
                [1.0, 1.0, 2.0],
                vec![[7.0, 5.0, 1.0], [7.0, 1.0, 1.0]],
                0.4,
                10,
                50.0,
                1.5,
            ),
            "bedroom" => (
                [4.0, 3.5, 2.6],
                [0.3, 1.75, 0.8],
                vec![[3.7, 1.75, 0.8], [2.0, 3.2, 1.5]],
                0.55,
                5,
                25.0,
                1.0,
            ),
            "corridor" => (
                [12.0, 2.5, 3.0],
                [0.5, 1.25, 1.5],
                vec![[11.5, 1.25, 1.5], [6.0, 2.2, 1.5]],
                0.6,
                3,
                60.0,
                1.5,
            ),
            "random" => {
                let mut r = Rng::stream(seed, "room");
                let size = [r.range(3.5, 9.0), r.range(3.0, 7.0), r.range(2.5, 3.2)];
                let tx = [
                    r.range(0.3, 1.0),
                    r.range(0.3, size[1] - 0.3),
                    r.range(0.8, 2.0),
                ];
                let rx = vec![
                    [
                        size[0] - r.range(0.3, 1.0),
                        r.range(0.3, size[1] - 0.3),
                        r.range(0.8, 1.5),
                    ],
                    [
                        r.range(1.0, size[0] - 1.0),
                        size[1] - r.range(0.3, 0.8),
                        r.range(0.8, 1.5),
                    ],
                ];
                let g = r.range(0.35, 0.6);
                let n = 3 + r.below(8);
                let spread = r.range(20.0, 60.0);
                let diffuse = r.range(0.6, 1.6);
                let mut room = Room {
                    name: "random".into(),
                    size,
                    tx,
                    rx,
                    wall_reflection: g,
                    furniture: Vec::new(),
                    diffuse_spread_s: spread * 1e-9,
                    diffuse_power: diffuse,
                };
                room.furniture = furnish(&format!("random-{seed}"), size, n);
                return Some(room);
            }
            _ => return None,
        };
        Some(Room {
            name: name.to_owned(),
            size,
            tx,
            rx,
            wall_reflection,
            furniture: furnish(name, size, n_furniture),
            diffuse_spread_s: spread_ns * 1e-9,
            diffuse_power: diffuse,
        })
    }

    /// Mirror images of a point in the six surfaces (first-order image method).
    pub fn images(&self, p: P3) -> [P3; 6] {
        let s = self.size;
        [
            [-p[0], p[1], p[2]],
            [2.0 * s[0] - p[0], p[1], p[2]],
            [p[0], -p[1], p[2]],
            [p[0], 2.0 * s[1] - p[1], p[2]],
            [p[0], p[1], -p[2]],
            [p[0], p[1], 2.0 * s[2] - p[2]],
        ]
    }

    /// Is a floor point inside the room with a margin?
    pub fn contains_xy(&self, x: f64, y: f64, margin: f64) -> bool {
        x >= margin && y >= margin && x <= self.size[0] - margin && y <= self.size[1] - margin
    }
}

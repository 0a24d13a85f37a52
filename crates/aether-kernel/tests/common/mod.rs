//! Deterministic inputs shared by the kernel's integration tests.
#![allow(dead_code)]

/// xorshift64* stream of uniform values in [-1, 1) scaled to unit variance.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-sqrt(3), sqrt(3)): mean 0, variance 1.
    pub fn unit(&mut self) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (u * 2.0 - 1.0) * 1.732_050_8
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.unit()).collect()
    }
}

/// The seed's deterministic recipe: q = 0.1 sin(31s + 7h + d), k = 0.1 cos(17s + 3h + d), v = k/2.
pub fn sincos(n: usize, heads: usize, dim: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut q = Vec::with_capacity(n * heads * dim);
    let mut k = Vec::with_capacity(n * heads * dim);
    for s in 0..n {
        for h in 0..heads {
            for d in 0..dim {
                q.push(((s * 31 + h * 7 + d) as f32).sin() * 0.1);
                k.push(((s * 17 + h * 3 + d) as f32).cos() * 0.1);
            }
        }
    }
    let v = k.iter().map(|x| x * 0.5).collect();
    (q, k, v)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        // A NaN difference would vanish under max (it returns the other operand): a NaN
        // output must fail every comparison, so it counts as infinite.
        .map(|d| if d.is_nan() { f32::INFINITY } else { d })
        .fold(0.0, f32::max)
}

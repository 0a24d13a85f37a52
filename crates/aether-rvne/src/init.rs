//! Deterministic pseudo-random weights, bit-identical to the seed's `init_random_blob` example.
//!
//! xorshift64* (`x ^= x << 13; x ^= x >> 7; x ^= x << 17`, output `x * 0x2545F4914F6CDD1D`);
//! each element takes the top 32 bits of one output, maps them to `[0, 1]` by dividing by
//! `u32::MAX as f32` (which rounds to 2³²) and then to `(unit - 0.5) * 0.2`, all in f32.

use alloc::vec::Vec;

use crate::error::Result;
use crate::v1::{WeightBlob, WeightBlobHeader, WeightDtype};

/// The seed's default init seed.
pub const DEFAULT_INIT_SEED: u64 = 0xC511_0007_DEAD_BEEF;

/// The xorshift64* generator of the seed's example.
///
/// A zero state stays zero (every weight is then -0.1); callers should reject seed 0.
#[derive(Debug, Clone)]
pub struct Xorshift64Star {
    state: u64,
}

impl Xorshift64Star {
    /// Start from `seed`.
    pub const fn new(seed: u64) -> Self {
        Xorshift64Star { state: seed }
    }

    /// Next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Next weight in `[-0.1, 0.1]`.
    pub fn next_weight(&mut self) -> f32 {
        let bits = (self.next_u64() >> 32) as u32;
        let unit = bits as f32 / u32::MAX as f32;
        (unit - 0.5) * 0.2
    }
}

/// `n_elems` weights from `seed`, encoded little-endian as `dtype`
/// (f16 rounds each f32 value to nearest).
pub fn random_weights(dtype: WeightDtype, n_elems: usize, seed: u64) -> Vec<u8> {
    let mut rng = Xorshift64Star::new(seed);
    let mut out = Vec::with_capacity(n_elems * dtype.elem_bytes());
    for _ in 0..n_elems {
        let w = rng.next_weight();
        match dtype {
            WeightDtype::F32 => out.extend_from_slice(&w.to_le_bytes()),
            WeightDtype::F16 => out.extend_from_slice(&half::f16::from_f32(w).to_le_bytes()),
        }
    }
    out
}

/// A v1 blob for `header`, filled in file order (per layer Wq, Wk, Wv, Wo, then the
/// classifier) from one generator stream. With [`WeightBlobHeader::DEFAULT_AETHER`] and
/// [`DEFAULT_INIT_SEED`] this is the seed's `model_init.rvne`.
pub fn init_random_blob(header: WeightBlobHeader, seed: u64) -> Result<WeightBlob> {
    header.validate()?;
    let n = header
        .expected_weight_elems()
        .ok_or(crate::RvneError::SizeOverflow)?;
    // Refuse before allocating if the result cannot be encoded.
    if header
        .expected_weights_len()
        .and_then(|b| u32::try_from(b).ok())
        .is_none()
    {
        return Err(crate::RvneError::TooLarge);
    }
    WeightBlob::new(header, random_weights(header.dtype, n, seed))
}

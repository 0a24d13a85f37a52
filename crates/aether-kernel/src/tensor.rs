//! `Tensor3`: a `[seq][heads][dim]` row-major f32 tensor, API-compatible with the seed kernel's.

use crate::KernelError;
use alloc::string::String;
use alloc::vec::Vec;

/// Row-major `[seq][heads][dim]`; element `(t, h, d)` is at `(t * heads + h) * dim + d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor3 {
    pub data: Vec<f32>,
    pub seq: usize,
    pub heads: usize,
    pub dim: usize,
}

impl Tensor3 {
    /// All zeros. Panics only if the size overflows `usize`; use [`Tensor3::try_zeros`] to avoid that.
    pub fn zeros(seq: usize, heads: usize, dim: usize) -> Self {
        Self::try_zeros(seq, heads, dim).expect("Tensor3::zeros: size overflows usize")
    }

    /// All zeros, or `SizeOverflow`.
    pub fn try_zeros(seq: usize, heads: usize, dim: usize) -> Result<Self, KernelError> {
        let n = checked_len(seq, heads, dim)?;
        Ok(Self {
            data: try_filled(n, 0.0)?,
            seq,
            heads,
            dim,
        })
    }

    /// Wraps `data`; errors (as the seed did, with a `String`) when the length does not match.
    pub fn from_vec(data: Vec<f32>, seq: usize, heads: usize, dim: usize) -> Result<Self, String> {
        match checked_len(seq, heads, dim) {
            Ok(n) if n == data.len() => Ok(Self {
                data,
                seq,
                heads,
                dim,
            }),
            Ok(n) => Err(alloc::format!(
                "Tensor3::from_vec: data has {} values, shape ({seq}, {heads}, {dim}) needs {n}",
                data.len()
            )),
            Err(e) => Err(alloc::format!("Tensor3::from_vec: {e}")),
        }
    }

    #[inline]
    pub fn idx(&self, t: usize, h: usize, d: usize) -> usize {
        (t * self.heads + h) * self.dim + d
    }

    #[inline]
    pub fn row(&self, t: usize, h: usize) -> &[f32] {
        let o = (t * self.heads + h) * self.dim;
        &self.data[o..o + self.dim]
    }

    #[inline]
    pub fn row_mut(&mut self, t: usize, h: usize) -> &mut [f32] {
        let o = (t * self.heads + h) * self.dim;
        &mut self.data[o..o + self.dim]
    }

    #[inline]
    pub fn get(&self, t: usize, h: usize, d: usize) -> f32 {
        self.data[self.idx(t, h, d)]
    }

    #[inline]
    pub fn set(&mut self, t: usize, h: usize, d: usize, value: f32) {
        let i = self.idx(t, h, d);
        self.data[i] = value;
    }

    pub fn shape(&self) -> (usize, usize, usize) {
        (self.seq, self.heads, self.dim)
    }
}

/// `n` copies of `x`, or `SizeOverflow` when the allocator cannot provide them (instead of the
/// panic or abort of `vec![x; n]`): sizes may come from files and callers.
pub(crate) fn try_filled<T: Clone>(n: usize, x: T) -> Result<Vec<T>, KernelError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| KernelError::SizeOverflow)?;
    v.resize(n, x);
    Ok(v)
}

pub(crate) fn checked_len(seq: usize, heads: usize, dim: usize) -> Result<usize, KernelError> {
    seq.checked_mul(heads)
        .and_then(|x| x.checked_mul(dim))
        .ok_or(KernelError::SizeOverflow)
}

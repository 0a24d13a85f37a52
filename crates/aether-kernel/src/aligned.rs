//! Cache-line-aligned staging for key/value rows.
//!
//! A 16-lane load from an address that is not 64-byte aligned touches two cache lines, and a
//! read-modify-write of such a row (backward's gradient scatter) defeats store forwarding.
//! Heap buffers from the caller are typically 16-byte aligned, so the vector paths copy keys
//! and values (and accumulate key/value gradients) in line-aligned scratch: one sequential
//! copy per call buys ~10-15 % forward and backward (the crate README gives the before/after).

use alloc::vec::Vec;

const LINE: usize = 64;
const LINE_F32: usize = LINE / core::mem::size_of::<f32>();

/// Whether `x` starts on a cache line.
pub(crate) fn is_line_aligned(x: &[f32]) -> bool {
    (x.as_ptr() as usize).is_multiple_of(LINE)
}

/// A growable f32 buffer handing out slices that start on a cache line.
#[derive(Debug, Default)]
pub(crate) struct LineAligned {
    buf: Vec<f32>,
}

impl LineAligned {
    /// `len` floats starting on a cache line (old contents unspecified). Grows once per size.
    pub(crate) fn get_mut(&mut self, len: usize) -> &mut [f32] {
        let need = len + LINE_F32;
        if self.buf.len() < need {
            self.buf.resize(need, 0.0);
        }
        let off = self.line_offset();
        &mut self.buf[off..off + len]
    }

    fn line_offset(&self) -> usize {
        let off = self.buf.as_ptr().align_offset(LINE);
        // align_offset may decline (returns usize::MAX); an unaligned slice is still correct.
        if off < LINE_F32 {
            off
        } else {
            0
        }
    }

    /// The `len` floats [`get_mut`](Self::get_mut) handed out last (e.g. after filling them).
    pub(crate) fn staged(&self, len: usize) -> &[f32] {
        let off = self.line_offset();
        &self.buf[off..off + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_start_on_a_line_and_hold_the_copy() {
        let mut a = LineAligned::default();
        for len in [0, 1, 15, 16, 17, 1000] {
            let src: Vec<f32> = (0..len).map(|i| i as f32).collect();
            a.get_mut(len).copy_from_slice(&src);
            let c = a.staged(len);
            assert!(len == 0 || is_line_aligned(c));
            assert_eq!(c, &src[..]);
        }
    }
}

//! The last error's text, kept in a fixed buffer (no allocation on any error path).

use core::fmt::{self, Write};

/// Bytes kept of one message; longer messages are cut at a UTF-8 boundary.
pub const DETAIL_CAP: usize = 128;

/// One error message in place.
#[derive(Clone)]
pub struct Detail {
    buf: [u8; DETAIL_CAP],
    len: usize,
}

impl Detail {
    /// No message.
    pub const fn new() -> Self {
        Detail {
            buf: [0; DETAIL_CAP],
            len: 0,
        }
    }

    /// Forget the message.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Replace the message with the formatted arguments (truncated to [`DETAIL_CAP`]).
    pub fn set(&mut self, args: fmt::Arguments<'_>) {
        self.len = 0;
        // Truncation is reported as Ok by write_str, so this cannot fail.
        let _ = self.write_fmt(args);
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        // write_str only ever stores whole characters.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Copy the message into a C buffer of `cap` bytes, NUL-terminated and truncated to fit.
    /// Returns the full message length (as snprintf does), so a caller can tell truncation.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        if let Some(room) = out.len().checked_sub(1) {
            let mut n = self.len.min(room);
            while n > 0 && !self.as_str().is_char_boundary(n) {
                n -= 1;
            }
            out[..n].copy_from_slice(&self.buf[..n]);
            out[n] = 0;
        }
        self.len
    }
}

impl Default for Detail {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Detail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = DETAIL_CAP - self.len;
        let mut n = s.len().min(room);
        while n > 0 && !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let mut d = Detail::new();
        let long = "é".repeat(100);
        d.set(format_args!("{long}"));
        assert_eq!(d.as_str().len(), DETAIL_CAP);
        let mut out = [0xffu8; 6];
        assert_eq!(d.copy_to(&mut out), DETAIL_CAP);
        assert_eq!(
            &out[..5],
            "éé"
                .as_bytes()
                .iter()
                .chain(&[0])
                .copied()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn zero_capacity_output_is_left_alone() {
        let mut d = Detail::new();
        d.set(format_args!("abc"));
        assert_eq!(d.copy_to(&mut []), 3);
    }
}

//! WiFi channel number <-> centre frequency in MHz, as the firmware fills the raw CSI frame's
//! frequency field.

/// Centre frequency in MHz of a channel: 1-13 -> 2412 + 5(ch-1), 14 -> 2484, 36-177 -> 5000 + 5ch.
/// Other channel numbers have no frequency (the firmware writes 0 for them).
pub fn channel_to_mhz(channel: u8) -> Option<u32> {
    match channel {
        1..=13 => Some(2412 + 5 * (u32::from(channel) - 1)),
        14 => Some(2484),
        36..=177 => Some(5000 + 5 * u32::from(channel)),
        _ => None,
    }
}

/// Inverse of [`channel_to_mhz`]; `None` for 0 and for frequencies that are not a channel centre.
pub fn mhz_to_channel(mhz: u32) -> Option<u8> {
    match mhz {
        2412..=2472 if (mhz - 2412).is_multiple_of(5) => Some(((mhz - 2412) / 5 + 1) as u8),
        2484 => Some(14),
        5180..=5885 if mhz.is_multiple_of(5) => Some(((mhz - 5000) / 5) as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_channels() {
        assert_eq!(channel_to_mhz(1), Some(2412));
        assert_eq!(channel_to_mhz(6), Some(2437));
        assert_eq!(channel_to_mhz(13), Some(2472));
        assert_eq!(channel_to_mhz(14), Some(2484));
        assert_eq!(channel_to_mhz(36), Some(5180));
        assert_eq!(channel_to_mhz(177), Some(5885));
        assert_eq!(channel_to_mhz(0), None);
        assert_eq!(channel_to_mhz(15), None);
        assert_eq!(channel_to_mhz(35), None);
        assert_eq!(channel_to_mhz(178), None);
    }

    #[test]
    fn inverse_is_exact_on_every_channel() {
        for ch in 0..=255u8 {
            if let Some(mhz) = channel_to_mhz(ch) {
                assert_eq!(mhz_to_channel(mhz), Some(ch), "channel {ch}");
            }
        }
        assert_eq!(mhz_to_channel(0), None);
        assert_eq!(mhz_to_channel(2413), None);
        assert_eq!(mhz_to_channel(2477), None);
        assert_eq!(mhz_to_channel(5182), None);
    }
}

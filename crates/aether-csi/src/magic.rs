//! The magic registry of the packet family (first 4 bytes of every datagram, little-endian).

/// Packet type code. Open: a magic outside the family is [`Magic::Unknown`], a value, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `0xC5110001`: raw CSI frame (ADR-018).
    RawCsi,
    /// `0xC5110002`: edge vitals, 32 bytes (ADR-039).
    Vitals,
    /// `0xC5110003`: feature vector, 48 bytes (ADR-069).
    FeatureVector,
    /// `0xC5110004`: fused vitals, 48 bytes (ADR-063) **and**, in the same firmware, WASM
    /// output, `8 + 5n` bytes (ADR-040). Told apart by size; see `docs/packets.md`.
    FusedVitals,
    /// `0xC5110005`: compressed CSI (XOR delta + RLE).
    CompressedCsi,
    /// `0xC5110006`: `rv_feature_state_t`, 60 bytes (ADR-081).
    FeatureState,
    /// `0xC5110007`: temporal classification, 40 bytes (ADR-095/096). Later upstream firmware
    /// also sends WASM output under this magic; told apart by size.
    Classification,
    /// Any other value.
    Unknown(u32),
}

impl Magic {
    /// Every known magic, in registry order.
    pub const KNOWN: [Magic; 7] = [
        Magic::RawCsi,
        Magic::Vitals,
        Magic::FeatureVector,
        Magic::FusedVitals,
        Magic::CompressedCsi,
        Magic::FeatureState,
        Magic::Classification,
    ];
}

impl From<u32> for Magic {
    fn from(v: u32) -> Self {
        match v {
            0xC511_0001 => Magic::RawCsi,
            0xC511_0002 => Magic::Vitals,
            0xC511_0003 => Magic::FeatureVector,
            0xC511_0004 => Magic::FusedVitals,
            0xC511_0005 => Magic::CompressedCsi,
            0xC511_0006 => Magic::FeatureState,
            0xC511_0007 => Magic::Classification,
            other => Magic::Unknown(other),
        }
    }
}

impl From<Magic> for u32 {
    fn from(m: Magic) -> u32 {
        match m {
            Magic::RawCsi => 0xC511_0001,
            Magic::Vitals => 0xC511_0002,
            Magic::FeatureVector => 0xC511_0003,
            Magic::FusedVitals => 0xC511_0004,
            Magic::CompressedCsi => 0xC511_0005,
            Magic::FeatureState => 0xC511_0006,
            Magic::Classification => 0xC511_0007,
            Magic::Unknown(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_code() {
        for m in Magic::KNOWN {
            assert_eq!(Magic::from(u32::from(m)), m);
        }
        assert_eq!(Magic::from(0xDEAD_BEEF), Magic::Unknown(0xDEAD_BEEF));
        assert_eq!(u32::from(Magic::Unknown(7)), 7);
    }
}

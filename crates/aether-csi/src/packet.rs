//! One entry point for any datagram of the family.

use crate::wire::peek_magic;
use crate::*;

/// Any decoded packet of the family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyPacket<'a> {
    /// `0xC5110001`.
    RawCsi(CsiFrameRepr<'a>),
    /// `0xC5110002`.
    Vitals(VitalsRepr),
    /// `0xC5110003`.
    FeatureVector(FeatureVectorRepr),
    /// `0xC5110004`, 48 bytes (unless it reads as an 8-event WASM output, see `docs/packets.md`).
    FusedVitals(FusedVitalsRepr),
    /// `0xC5110004` or `0xC5110007` with `8 + 5n` bytes.
    WasmOutput(WasmOutputRepr),
    /// `0xC5110005`.
    CompressedCsi(CompressedCsiRepr<'a>),
    /// `0xC5110006`.
    FeatureState(FeatureStateRepr),
    /// `0xC5110007`, 40 bytes.
    Classification(ClassificationRepr),
}

impl AnyPacket<'_> {
    /// The magic the packet came under.
    pub fn magic(&self) -> Magic {
        match self {
            AnyPacket::RawCsi(_) => Magic::RawCsi,
            AnyPacket::Vitals(_) => Magic::Vitals,
            AnyPacket::FeatureVector(_) => Magic::FeatureVector,
            AnyPacket::FusedVitals(_) => Magic::FusedVitals,
            AnyPacket::WasmOutput(w) => w.magic,
            AnyPacket::CompressedCsi(_) => Magic::CompressedCsi,
            AnyPacket::FeatureState(_) => Magic::FeatureState,
            AnyPacket::Classification(_) => Magic::Classification,
        }
    }

    /// Short snake_case name of the packet type (`raw_csi`, `vitals`, `feature_vector`,
    /// `fused_vitals`, `wasm_output`, `compressed_csi`, `feature_state`, `classification`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AnyPacket::RawCsi(_) => "raw_csi",
            AnyPacket::Vitals(_) => "vitals",
            AnyPacket::FeatureVector(_) => "feature_vector",
            AnyPacket::FusedVitals(_) => "fused_vitals",
            AnyPacket::WasmOutput(_) => "wasm_output",
            AnyPacket::CompressedCsi(_) => "compressed_csi",
            AnyPacket::FeatureState(_) => "feature_state",
            AnyPacket::Classification(_) => "classification",
        }
    }

    /// Bytes [`AnyPacket::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            AnyPacket::RawCsi(r) => r.buffer_len(),
            AnyPacket::Vitals(r) => r.buffer_len(),
            AnyPacket::FeatureVector(r) => r.buffer_len(),
            AnyPacket::FusedVitals(r) => r.buffer_len(),
            AnyPacket::WasmOutput(r) => r.buffer_len(),
            AnyPacket::CompressedCsi(r) => r.buffer_len(),
            AnyPacket::FeatureState(r) => r.buffer_len(),
            AnyPacket::Classification(r) => r.buffer_len(),
        }
    }

    /// Writes the packet's canonical bytes (every byte, CRC included) into the first
    /// [`AnyPacket::buffer_len`] bytes of `buf`; `parse_any` reads them back as the same type.
    /// Returns the length written, or `None` when `buf` is too short or the RLE payload of a
    /// hand-built compressed frame exceeds the 16-bit length field (nothing written), or when
    /// the fields are ones `parse_any` would refuse or read as another type (an argmax not
    /// below `n_classes`, 0 or 5 antennas, runs that do not add up, a fused-vitals packet
    /// that collides with WASM output, ...: the bytes are checked after writing, so the
    /// first `buffer_len` bytes are then unspecified). A `Repr` from `parse_any` always emits.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        if let AnyPacket::CompressedCsi(r) = self {
            u16::try_from(r.rle.len()).ok()?;
        }
        let n = self.buffer_len();
        let b = buf.get_mut(..n)?;
        match self {
            AnyPacket::RawCsi(r) => r.emit(&mut CsiFramePacket::new_unchecked(&mut *b)),
            AnyPacket::Vitals(r) => r.emit(&mut VitalsPacket::new_unchecked(&mut *b)),
            AnyPacket::FeatureVector(r) => r.emit(&mut FeatureVectorPacket::new_unchecked(&mut *b)),
            AnyPacket::FusedVitals(r) => r.emit(&mut FusedVitalsPacket::new_unchecked(&mut *b)),
            AnyPacket::WasmOutput(r) => r.emit(&mut WasmOutputPacket::new_unchecked(&mut *b)),
            AnyPacket::CompressedCsi(r) => r.emit(&mut CompressedCsiPacket::new_unchecked(&mut *b)),
            AnyPacket::FeatureState(r) => r.emit(&mut FeatureStatePacket::new_unchecked(&mut *b)),
            AnyPacket::Classification(r) => {
                r.emit(&mut ClassificationPacket::new_unchecked(&mut *b))
            }
        }
        // Public `Repr` fields can describe packets no parser accepts: only bytes that read
        // back as the same type count as emitted.
        match parse_any(&*b) {
            Ok(back) if back.type_name() == self.type_name() => Some(n),
            _ => None,
        }
    }

    /// Node id of the sender.
    pub fn node_id(&self) -> u8 {
        match self {
            AnyPacket::RawCsi(p) => p.node_id,
            AnyPacket::Vitals(p) => p.node_id,
            AnyPacket::FeatureVector(p) => p.node_id,
            AnyPacket::FusedVitals(p) => p.node_id,
            AnyPacket::WasmOutput(p) => p.node_id,
            AnyPacket::CompressedCsi(p) => p.node_id,
            AnyPacket::FeatureState(p) => p.node_id,
            AnyPacket::Classification(p) => p.node_id,
        }
    }
}

/// Is a 48-byte `0xC5110004` datagram a WASM output rather than fused vitals? Only when its
/// `event_count` field (bytes 6..8, the fused packet's breathing BPM x 100) reads 8, i.e.
/// 0.08 BPM, a rate the firmware never reports (it only sets breathing within 6-40 BPM).
fn fused_48_is_wasm(buf: &[u8]) -> bool {
    buf.len() == FUSED_VITALS_LEN && buf[6] == 8 && buf[7] == 0
}

/// Is `len` the size of a WASM output (`8 + 5n`, n <= 16)?
fn is_wasm_len(len: usize) -> bool {
    len >= WASM_OUTPUT_HEADER_LEN
        && (len - WASM_OUTPUT_HEADER_LEN).is_multiple_of(5)
        && (len - WASM_OUTPUT_HEADER_LEN) / 5 <= WASM_MAX_EVENTS
}

/// Decode any datagram of the family: the magic picks the codec; for the two shared magics the
/// size picks the variant (`docs/packets.md`). Never panics; every failure is a [`PacketError`].
pub fn parse_any(buf: &[u8]) -> Result<AnyPacket<'_>, PacketError> {
    let magic = peek_magic(buf).ok_or(PacketError::Truncated {
        needed: 4,
        got: buf.len(),
    })?;
    match Magic::from(magic) {
        Magic::RawCsi => {
            CsiFrameRepr::parse(&CsiFramePacket::new_unchecked(buf)).map(AnyPacket::RawCsi)
        }
        Magic::Vitals => {
            VitalsRepr::parse(&VitalsPacket::new_unchecked(buf)).map(AnyPacket::Vitals)
        }
        Magic::FeatureVector => FeatureVectorRepr::parse(&FeatureVectorPacket::new_unchecked(buf))
            .map(AnyPacket::FeatureVector),
        Magic::FusedVitals => {
            if buf.len() == FUSED_VITALS_LEN && !fused_48_is_wasm(buf) {
                FusedVitalsRepr::parse(&FusedVitalsPacket::new_unchecked(buf))
                    .map(AnyPacket::FusedVitals)
            } else if is_wasm_len(buf.len()) {
                WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(buf))
                    .map(AnyPacket::WasmOutput)
            } else {
                Err(PacketError::UnknownSize {
                    magic,
                    len: buf.len(),
                })
            }
        }
        Magic::CompressedCsi => CompressedCsiRepr::parse(&CompressedCsiPacket::new_unchecked(buf))
            .map(AnyPacket::CompressedCsi),
        Magic::FeatureState => FeatureStateRepr::parse(&FeatureStatePacket::new_unchecked(buf))
            .map(AnyPacket::FeatureState),
        Magic::Classification => {
            // 40 is never 8 + 5n, so the sizes cannot collide.
            if buf.len() == CLASSIFICATION_LEN {
                ClassificationRepr::parse(&ClassificationPacket::new_unchecked(buf))
                    .map(AnyPacket::Classification)
            } else if is_wasm_len(buf.len()) {
                WasmOutputRepr::parse(&WasmOutputPacket::new_unchecked(buf))
                    .map(AnyPacket::WasmOutput)
            } else {
                Err(PacketError::UnknownSize {
                    magic,
                    len: buf.len(),
                })
            }
        }
        Magic::Unknown(m) => Err(PacketError::UnknownMagic(m)),
    }
}

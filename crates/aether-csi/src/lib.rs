/*!
CSI input for AETHER: codecs for the RuView `0xC51100xx` UDP packet family and one feature
extractor shared by the device and the host trainer.

# Memory model
Nothing here allocates. Packet views borrow the caller's buffer; `Repr` structs are plain values
(variable parts borrow the buffer); decoders and the feature extractor keep their state in fixed
arrays sized for the largest frame (4 antennas x 256 subcarriers). The crate is `#![no_std]`
without `alloc`.

# Packets
Every format has two layers, as in smoltcp's `wire` module:
- a view `XPacket<T: AsRef<[u8]>>` that reads (and, with `AsMut`, writes) fields in place and
  judges nothing: `new_unchecked`, `check_len` (after `Ok`, no accessor panics), `new_checked`;
- a plain `XRepr` with `parse(&XPacket<&T>) -> Result<XRepr, PacketError>` (all checks),
  `emit(&self, &mut XPacket<T>)` and `buffer_len()`.

[`parse_any`] dispatches on the magic and the datagram size. See `docs/packets.md` for every
layout, the I/Q byte order decision and the `0xC5110004` collision.

```
use aether_csi::{parse_any, AnyPacket};
let golden: [u8; 40] = [
    0x07, 0x00, 0x11, 0xc5, 0x01, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xa3, 0xc7, 0xb7, 0xce,
];
match parse_any(&golden).unwrap() {
    AnyPacket::Classification(c) => assert_eq!((c.node_id, c.seq, c.n_classes), (1, 1, 4)),
    other => panic!("unexpected {other:?}"),
}
```

# Features
[`FeatureExtractor`] turns one raw CSI frame into the 16 features of set
[`FEATURE_SET_CSI16`], the 19 of [`FEATURE_SET_CSI19`] or the 22 of [`FEATURE_SET_CSI22`]; [`extract_state9`] maps a `0xC5110006` feature-state packet onto set
[`FEATURE_SET_STATE9`]. Definitions, ranges and state rules: `docs/features.md`.
*/
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod channel;
mod classification;
mod compressed;
mod error;
mod feature_state;
mod feature_vector;
mod features;
mod fused_vitals;
mod magic;
mod packet;
mod raw_csi;
mod vitals;
mod wasm_output;
mod wire;

pub use channel::{channel_to_mhz, mhz_to_channel};
pub use classification::{
    ClassificationPacket, ClassificationRepr, CLASSIFICATION_LEN, CLASSIFICATION_VERSION,
};
pub use compressed::{
    rle_xor_decode, rle_xor_encode, CompressedCsiDecoder, CompressedCsiEncoder,
    CompressedCsiPacket, CompressedCsiRepr, COMPRESSED_HEADER_LEN,
};
pub use error::{PacketError, PacketErrorKind};
pub use feature_state::{
    CaptureProfile, FeatureStatePacket, FeatureStateRepr, FEATURE_STATE_LEN,
    QUALITY_ANOMALY_TRIGGERED, QUALITY_CALIBRATING, QUALITY_DEGRADED_MODE,
    QUALITY_ENV_SHIFT_DETECTED, QUALITY_HEARTBEAT_VALID, QUALITY_PRESENCE_VALID,
    QUALITY_RECOMMEND_RECAL, QUALITY_RESPIRATION_VALID,
};
pub use feature_vector::{FeatureVectorPacket, FeatureVectorRepr, FEATURE_VECTOR_LEN};
pub use features::{
    extract_state9, FeatureError, FeatureExtractor, FeatureSet, CSI16_DIMS, CSI16_NAMES,
    CSI19_DIMS, CSI19_NAMES, CSI22_DIMS, CSI22_NAMES, FEATURE_SET_CSI16, FEATURE_SET_CSI19,
    FEATURE_SET_CSI22, FEATURE_SET_STATE9, GAP_RESET_US, SETTLE_FRAMES, STATE9_DIMS, STATE9_NAMES,
};
pub use fused_vitals::{FusedVitalsPacket, FusedVitalsRepr, FUSED_VITALS_LEN};
pub use magic::Magic;
pub use packet::{parse_any, AnyPacket};
pub use raw_csi::{
    CsiFramePacket, CsiFrameRepr, CSI_HEADER_LEN, CSI_MAX_ANTENNAS, CSI_MAX_FRAME_LEN,
    CSI_MAX_IQ_LEN, CSI_MAX_SUBCARRIERS,
};
pub use vitals::{VitalsPacket, VitalsRepr, VITALS_LEN};
pub use wasm_output::{
    WasmEvent, WasmOutputPacket, WasmOutputRepr, WASM_MAX_EVENTS, WASM_OUTPUT_HEADER_LEN,
};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

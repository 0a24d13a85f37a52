//! The one error type of the packet codecs.

use core::fmt;

/// Why a datagram was rejected. `Copy`, so a device can keep the last one in a counter table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// The buffer is shorter than the fixed part of the packet.
    Truncated {
        /// Bytes the fixed part needs.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The datagram length disagrees with the length the packet type or its header declares.
    WrongLength {
        /// Length implied by the format and the header.
        expected: usize,
        /// Length of the datagram.
        got: usize,
    },
    /// The magic is not the one this codec handles.
    BadMagic {
        /// Magic of this codec.
        expected: u32,
        /// Magic found.
        got: u32,
    },
    /// [`crate::parse_any`] met a magic outside the family.
    UnknownMagic(u32),
    /// A known magic with a size no variant of it has (see `docs/packets.md`).
    UnknownSize {
        /// Magic found.
        magic: u32,
        /// Datagram length.
        len: usize,
    },
    /// The stored CRC-32 does not match the computed one.
    BadCrc {
        /// CRC in the packet.
        stored: u32,
        /// CRC of the covered bytes.
        computed: u32,
    },
    /// Unsupported packet version.
    BadVersion(u16),
    /// Raw CSI frame: antenna count outside 1..=4.
    BadAntennaCount(u8),
    /// Raw CSI frame: subcarrier count outside 1..=256.
    BadSubcarrierCount(u16),
    /// WASM output: more than 16 events.
    BadEventCount(u16),
    /// Classification: `argmax >= n_classes`, or a class count `from_logits` cannot encode.
    BadClassCount {
        /// Number of classes.
        n_classes: usize,
        /// Argmax index.
        argmax: u8,
    },
    /// Compressed CSI: the original I/Q length is 0 or larger than a raw frame can carry.
    BadIqLength(u16),
    /// Compressed CSI: the RLE payload has an odd number of bytes (it is `(value, run)` pairs).
    RleOddLength(usize),
    /// Compressed CSI: an RLE pair with run length 0.
    RleZeroRun {
        /// Byte offset of the pair in the RLE payload.
        at: usize,
    },
    /// Compressed CSI: the runs add up to more bytes than the original length.
    RleOverrun {
        /// Original I/Q length declared by the header.
        expected: usize,
        /// Bytes the runs would produce up to and including the offending pair.
        produced: usize,
    },
    /// Compressed CSI: the runs add up to fewer bytes than the original length.
    RleUnderrun {
        /// Original I/Q length declared by the header.
        expected: usize,
        /// Bytes the runs produce.
        produced: usize,
    },
    /// Compressed CSI: no previous frame of this node to apply the delta to.
    NoReference {
        /// Node id of the compressed frame.
        node_id: u8,
    },
    /// Compressed CSI: the previous frame of this node has a different length.
    ReferenceLengthMismatch {
        /// Length of the stored previous frame.
        reference: usize,
        /// Original length of the compressed frame.
        frame: usize,
    },
    /// An output buffer passed to an encoder is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
}

/// Coarse class of a [`PacketError`], for counters and for mapping to device error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketErrorKind {
    /// Truncated, wrong or unknown length.
    Length,
    /// Wrong or unknown magic.
    Magic,
    /// CRC mismatch.
    Crc,
    /// Unsupported version.
    Version,
    /// A count field out of range (antennas, subcarriers, events, classes, I/Q length).
    Count,
    /// Malformed compressed payload or missing/mismatched reference frame.
    Compression,
    /// Caller's buffer too small.
    Buffer,
}

impl PacketError {
    /// The coarse class of this error.
    pub fn kind(&self) -> PacketErrorKind {
        use PacketError::*;
        match self {
            Truncated { .. } | WrongLength { .. } | UnknownSize { .. } => PacketErrorKind::Length,
            BadMagic { .. } | UnknownMagic(_) => PacketErrorKind::Magic,
            BadCrc { .. } => PacketErrorKind::Crc,
            BadVersion(_) => PacketErrorKind::Version,
            BadAntennaCount(_)
            | BadSubcarrierCount(_)
            | BadEventCount(_)
            | BadClassCount { .. }
            | BadIqLength(_) => PacketErrorKind::Count,
            RleOddLength(_)
            | RleZeroRun { .. }
            | RleOverrun { .. }
            | RleUnderrun { .. }
            | NoReference { .. }
            | ReferenceLengthMismatch { .. } => PacketErrorKind::Compression,
            BufferTooSmall { .. } => PacketErrorKind::Buffer,
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PacketError::*;
        match *self {
            Truncated { needed, got } => {
                write!(f, "packet truncated: need {needed} bytes, got {got}")
            }
            WrongLength { expected, got } => {
                write!(
                    f,
                    "wrong packet length: expected {expected} bytes, got {got}"
                )
            }
            BadMagic { expected, got } => {
                write!(f, "bad magic: expected {expected:#010x}, got {got:#010x}")
            }
            UnknownMagic(m) => write!(f, "unknown magic {m:#010x}"),
            UnknownSize { magic, len } => {
                write!(f, "no packet with magic {magic:#010x} is {len} bytes long")
            }
            BadCrc { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            BadVersion(v) => write!(f, "unsupported packet version {v}"),
            BadAntennaCount(n) => write!(f, "antenna count {n} outside 1..=4"),
            BadSubcarrierCount(n) => write!(f, "subcarrier count {n} outside 1..=256"),
            BadEventCount(n) => write!(f, "WASM event count {n} exceeds 16"),
            BadClassCount { n_classes, argmax } => {
                write!(
                    f,
                    "bad class count/argmax: n_classes {n_classes}, argmax {argmax}"
                )
            }
            BadIqLength(n) => write!(
                f,
                "compressed CSI original length {n} is not an even length in 2..=2048"
            ),
            RleOddLength(n) => write!(f, "RLE payload length {n} is odd"),
            RleZeroRun { at } => write!(f, "RLE pair at byte {at} has run length 0"),
            RleOverrun { expected, produced } => {
                write!(
                    f,
                    "RLE runs overrun the frame: {produced} bytes > {expected}"
                )
            }
            RleUnderrun { expected, produced } => {
                write!(
                    f,
                    "RLE runs stop short of the frame: {produced} bytes < {expected}"
                )
            }
            NoReference { node_id } => {
                write!(
                    f,
                    "no previous frame of node {node_id} to apply the delta to"
                )
            }
            ReferenceLengthMismatch { reference, frame } => write!(
                f,
                "previous frame is {reference} bytes but the compressed frame is {frame}"
            ),
            BufferTooSmall { needed, got } => {
                write!(f, "output buffer too small: need {needed} bytes, got {got}")
            }
        }
    }
}

impl core::error::Error for PacketError {}

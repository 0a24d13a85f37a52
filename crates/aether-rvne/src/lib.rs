//! RVNE model weight files.
//!
//! Memory model: parsing borrows the caller's bytes and allocates nothing
//! ([`WeightBlobView::parse`], [`v2::RvneV2View::parse`], [`parse_any`]); every check happens
//! once, at parse, and returns an [`RvneError`] value on any input (parsers never panic).
//! Allocation happens only in the host-side owned types and writers ([`WeightBlob`],
//! [`v2::RvneV2Builder`], [`init_random_blob`]).
//!
//! Two versions share the magic `0x52564E45` (on disk `45 4E 56 52`, "ENVR"):
//! - **v1** ([`v1`]): the seed's fixed-shape blob, byte-compatible with RuView PR #516.
//! - **v2** ([`v2`]): typed metadata plus a table of named f32/f16/int8 tensors.
//!
//! The byte-by-byte formats are in `docs/rvne.md`.
//!
//! ```
//! use aether_rvne::{init_random_blob, parse_any, RvneFile, WeightBlobHeader, DEFAULT_INIT_SEED};
//! let blob = init_random_blob(WeightBlobHeader::DEFAULT_AETHER, DEFAULT_INIT_SEED)?;
//! let bytes = blob.serialize();
//! assert_eq!(bytes.len(), 41_244);
//! match parse_any(&bytes)? {
//!     RvneFile::V1(view) => assert_eq!(view.header.n_layers, 2),
//!     RvneFile::V2(_) => unreachable!(),
//! }
//! # Ok::<(), aether_rvne::RvneError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod error;
mod init;
mod le;
pub mod v1;
pub mod v2;

pub use error::{Result, RvneError, RvneErrorKind};
pub use init::{init_random_blob, random_weights, Xorshift64Star, DEFAULT_INIT_SEED};
pub use v1::{
    MatrixLayout, RvneV1View, V1Matrix, WeightBlob, WeightBlobHeader, WeightBlobView, WeightDtype,
    WeightMatrix, WEIGHT_BLOB_FOOTER_LEN, WEIGHT_BLOB_HEADER_LEN, WEIGHT_BLOB_MAGIC,
    WEIGHT_BLOB_VERSION,
};
pub use v2::{RvneV2Builder, RvneV2View, TensorDtype, TensorView};

/// The four magic bytes every RVNE file starts with.
pub const MAGIC_BYTES: [u8; 4] = WEIGHT_BLOB_MAGIC.to_le_bytes();

/// Whether `bytes` start with the RVNE magic (any version). Use this to tell a model file
/// from other files before parsing.
pub fn is_rvne(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC_BYTES)
}

/// A checked RVNE file of either version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RvneFile<'a> {
    /// Version 1.
    V1(WeightBlobView<'a>),
    /// Version 2.
    V2(RvneV2View<'a>),
}

impl RvneFile<'_> {
    /// The version number (1 or 2).
    pub fn version(&self) -> u16 {
        match self {
            RvneFile::V1(_) => WEIGHT_BLOB_VERSION,
            RvneFile::V2(_) => v2::VERSION,
        }
    }

    /// The stored (and verified) CRC-32.
    pub fn crc32(&self) -> u32 {
        match self {
            RvneFile::V1(v) => v.crc32,
            RvneFile::V2(v) => v.crc32(),
        }
    }
}

/// Parse either version, dispatching on the version field after the magic.
/// Errors: `TooShort`, `BadMagic`, `WrongVersion` for versions other than 1 and 2, then
/// whatever that version's parser reports. Never panics.
pub fn parse_any(bytes: &[u8]) -> Result<RvneFile<'_>> {
    if bytes.len() < 6 {
        return Err(if bytes.len() >= 4 && !is_rvne(bytes) {
            RvneError::BadMagic
        } else {
            RvneError::TooShort
        });
    }
    if !is_rvne(bytes) {
        return Err(RvneError::BadMagic);
    }
    match u16::from_le_bytes([bytes[4], bytes[5]]) {
        WEIGHT_BLOB_VERSION => WeightBlobView::parse(bytes).map(RvneFile::V1),
        v2::VERSION => RvneV2View::parse(bytes).map(RvneFile::V2),
        v => Err(RvneError::WrongVersion(v)),
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

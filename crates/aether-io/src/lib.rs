//! aether-io
pub mod atomic;
pub mod csv;
pub mod error;
pub mod labels;
mod lines;
pub mod live;
pub mod npz;
pub mod record;
pub mod recording;
pub mod ruview;
pub mod sim;
pub mod summary;
pub use error::{ReadError, ReadErrorKind, ReadStats};
pub use ruview::MAX_LINE_BYTES;

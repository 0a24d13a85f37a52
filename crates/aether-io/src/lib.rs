//! CSI recordings for AETHER (std): read every format users have into one stream of
//! [`record::Record`]s, write RuView JSON Lines, attach labels, move the UDP packet family in
//! and out of files, and simulate labelled CSI.
//!
//! - [`recording::RecordingReader`] opens any supported file, detecting the format from its
//!   content ([`recording::detect_format`]): RuView JSONL ([`ruview`]), ESPectre `.npz`
//!   ([`npz`]), ESP32-CSI-Tool CSV and esp-csi `CSI_DATA` lines ([`csv`]). Readers stream and
//!   never stop on a malformed line: it is one `Err` in the iteration, counted in `stats()`.
//! - [`ruview::RuviewWriter`] writes RuView JSONL atomically (temp file + rename).
//! - [`labels::Segments`]: `start_s,end_s,label` files and `label_at(t)`.
//! - [`summary::Summary`]: what `aether inspect` prints about a recording.
//! - [`live`]: datagram <-> record conversion (packet codecs from `aether-csi`), `record` and
//!   `replay` over UDP with bounded memory.
//! - [`sim`]: the multipath room simulator behind `aether simulate`.
//!
//! Formats and decisions: `docs/recordings.md`; simulator physics: `docs/simulator.md`.
//!
//! ```no_run
//! use aether_io::recording::RecordingReader;
//! use aether_io::record::Record;
//!
//! let mut reader = RecordingReader::open("../shared/data/ruview/pretrain-1775182186.csi.jsonl")?;
//! println!("format {}", reader.format());
//! for item in reader.by_ref() {
//!     match item {
//!         Ok(Record::Csi(frame)) => println!("{} {} sc", frame.t_s, frame.n_subcarriers()),
//!         Ok(_) => {}                      // vitals, features, ...
//!         Err(e) => eprintln!("skipped: {e}"), // malformed line; reading goes on
//!     }
//! }
//! println!("malformed: {}", reader.stats().malformed);
//! # Ok::<(), aether_io::ReadError>(())
//! ```

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

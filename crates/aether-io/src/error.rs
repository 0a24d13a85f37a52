//! Errors as values. A malformed line or packet is one `ReadError` in the stream and the
//! reader moves on; only I/O errors and broken containers end a stream.

use std::fmt;

/// What went wrong, without the location.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// The underlying file could not be read (ends the stream).
    Io(std::io::Error),
    /// The container itself is unusable (npz without `csi_data`, wrong dtype, ...); ends the stream.
    Container(String),
    /// Not valid JSON / CSV syntax, or not UTF-8.
    Syntax(String),
    /// A line longer than [`crate::MAX_LINE_BYTES`].
    LineTooLong,
    /// A field the line type needs is absent.
    MissingField(&'static str),
    /// A field is present but its value is unusable.
    InvalidField { field: &'static str, detail: String },
    /// Two fields disagree about a length.
    LengthMismatch {
        field: &'static str,
        expected: usize,
        found: usize,
    },
}

/// A read failure and where it happened: a 1-based line number (JSONL, CSV), a 0-based
/// packet index (npz), or 0 for the file as a whole.
#[derive(Debug)]
pub struct ReadError {
    pub line: u64,
    pub kind: ReadErrorKind,
}

impl ReadError {
    pub(crate) fn new(line: u64, kind: ReadErrorKind) -> Self {
        ReadError { line, kind }
    }

    /// True when the reader cannot continue after this error (I/O, broken container).
    /// Everything else is one malformed record: counted and skipped.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            ReadErrorKind::Io(_) | ReadErrorKind::Container(_)
        )
    }

    pub(crate) fn invalid(line: u64, field: &'static str, detail: impl Into<String>) -> Self {
        ReadError::new(
            line,
            ReadErrorKind::InvalidField {
                field,
                detail: detail.into(),
            },
        )
    }
}

impl fmt::Display for ReadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadErrorKind::Io(e) => write!(f, "I/O error: {e}"),
            ReadErrorKind::Container(s) => write!(f, "unusable container: {s}"),
            ReadErrorKind::Syntax(s) => write!(f, "syntax error: {s}"),
            ReadErrorKind::LineTooLong => {
                write!(f, "line longer than {} bytes", crate::MAX_LINE_BYTES)
            }
            ReadErrorKind::MissingField(name) => write!(f, "missing field `{name}`"),
            ReadErrorKind::InvalidField { field, detail } => {
                write!(f, "invalid field `{field}`: {detail}")
            }
            ReadErrorKind::LengthMismatch {
                field,
                expected,
                found,
            } => {
                write!(f, "length of `{field}` is {found}, expected {expected}")
            }
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "line {}: {}", self.line, self.kind)
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ReadErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::new(0, ReadErrorKind::Io(e))
    }
}

/// Counts a reader keeps while streaming; `malformed` is what `inspect` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records yielded successfully.
    pub records: u64,
    /// Lines / packets that could not be decoded (each was yielded as an `Err`).
    pub malformed: u64,
    /// Lines that are not data by design (headers, blank lines, serial-console log lines).
    pub skipped: u64,
}

//! Temp file + rename, so a reader never sees a half-written recording.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name in the target's directory.
pub struct AtomicFile {
    writer: Option<BufWriter<File>>,
    tmp: PathBuf,
    target: PathBuf,
    /// Leave the temporary file behind when dropped unfinished (see [`Self::keep_unfinished`]).
    keep: bool,
}

impl AtomicFile {
    /// Creates `<target>.<pid>.<n>.tmp` next to `target`.
    pub fn create(target: &Path) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "target path has no file name",
            )
        })?;
        let mut tmp_name = name.to_os_string();
        tmp_name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory in the way is found now, not by the rename after the whole session.
        if target.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is a directory", target.display()),
            ));
        }
        let tmp = target.with_file_name(tmp_name);
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            writer: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            target: target.to_path_buf(),
            keep: false,
        })
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Keeps the temporary file if this is dropped unfinished (a panic, an early return), so
    /// what reached it can be recovered; the target is still only ever replaced whole.
    pub fn keep_unfinished(&mut self) {
        self.keep = true;
    }

    /// Pushes what is buffered to the temporary file and onto the disk (flush + fdatasync),
    /// bounding what a crash or power loss can take to what came after.
    pub fn checkpoint(&mut self) -> std::io::Result<()> {
        let w = self.writer();
        w.flush()?;
        w.get_ref().sync_data()
    }

    /// The buffered writer for the temporary file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer present until commit")
    }

    /// Flushes, fsyncs and renames onto the target. On failure the temporary file is kept,
    /// holding whatever reached it, and the error names it: nothing written is thrown away.
    pub fn commit(mut self) -> std::io::Result<()> {
        let writer = self.writer.take().expect("writer present until commit");
        let kept = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("{e} (what was written is kept in {})", self.tmp.display()),
            )
        };
        let file = writer.into_inner().map_err(|e| kept(e.into_error()))?;
        file.sync_all().map_err(kept)?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(kept)?;
        sync_parent(&self.target);
        Ok(())
    }
}

impl AtomicFile {
    /// Removes the temporary file and leaves the target as it was (even if it was told to
    /// keep an unfinished file).
    pub fn discard(mut self) {
        drop(self.writer.take());
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Syncs the directory holding `path`, so the rename itself survives a power loss (the
/// file's bytes were synced before it). Best effort: where a directory cannot be opened and
/// synced (not Unix), the rename is as durable as the platform makes it.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(mut w) = self.writer.take() {
            if self.keep {
                let _ = w.flush();
            } else {
                drop(w);
                let _ = std::fs::remove_file(&self.tmp);
            }
        }
    }
}

/// Writes a whole byte string atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.writer().write_all(bytes)?;
    f.commit()
}

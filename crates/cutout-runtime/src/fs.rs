//! Writing files so that a write either completes or leaves nothing.
//!
//! Every file the workspace writes (saved cut-outs, downloads, trimaps) goes through here: the
//! bytes go to a temporary file in the destination's folder, every write error is surfaced
//! (`write_all`, then `flush`, then `sync_all`, each checked; a full disk often only shows at
//! the flush or the sync), the written length is checked, and only then is the file renamed
//! into place. A failure at any step deletes the temporary file and leaves whatever was at the
//! destination untouched, with or without `overwrite`.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::Error;

/// Whether something (a file, a folder, or a symbolic link even when it dangles) is at `path`.
/// Errors other than "not found" (say, a folder we may not read) are reported, not guessed at.
fn occupied(path: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Refuses an existing `path` unless `overwrite`, before any work is done: an
/// [`Error::InvalidInput`] for `destination` (nothing was sent yet). A dangling symbolic link
/// counts as existing, since the no-clobber rename would refuse it after the work was paid for.
/// A folder is refused even with `overwrite`: no file can be renamed over it. The write itself
/// checks again, so a file created meanwhile is not clobbered either.
pub fn destination_free(path: &Path, overwrite: bool) -> Result<(), Error> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(Error::invalid(
            "destination",
            format!(
                "`{}` is a folder; a result cannot replace it: choose a file name",
                path.display()
            ),
        ));
    }
    if overwrite {
        return Ok(());
    }
    match occupied(path) {
        Ok(false) => Ok(()),
        Ok(true) => Err(Error::invalid(
            "destination",
            format!(
                "`{}` already exists; choose another path or allow overwriting",
                path.display()
            ),
        )),
        Err(e) => Err(Error::io("check", path, e)),
    }
}

/// Checks, before any work is paid for, that a file can be written beside `path`: a temporary
/// file is created in its folder and removed again. A read-only or full folder, or one we may
/// not write to, is an [`Error::Io`] naming it now rather than after the work is done.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let probe = temp_file_beside(path)?;
    probe
        .close()
        .map_err(|e| Error::io("remove a temporary file in", path, e))
}

/// Like [`destination_free`], but an [`Error::Io`] of kind `AlreadyExists`: the check a write
/// makes on its own.
fn refuse_existing(path: &Path, overwrite: bool) -> Result<(), Error> {
    if overwrite {
        return Ok(());
    }
    match occupied(path) {
        Ok(false) => Ok(()),
        Ok(true) => Err(Error::io(
            "write",
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the file already exists; choose another path or allow overwriting",
            ),
        )),
        Err(e) => Err(Error::io("check", path, e)),
    }
}

/// A temporary file in `path`'s folder, to be renamed to `path`. It is created with the mode an
/// ordinary new file gets (0666 less the umask), not the private 0600 of temporary files, so
/// the renamed result is as readable as any file the user writes. Dropped without
/// [`persist`], it is deleted.
pub(crate) fn temp_file_beside(path: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".cutout-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(&folder)
        .map_err(|e| Error::io("create a temporary file in", &folder, e))
}

/// Renames a fully written and synced temporary file to `path`; without `overwrite` the rename
/// refuses an existing file (one created since the precheck included). On failure the
/// temporary file is deleted.
pub(crate) fn persist(
    temp: tempfile::NamedTempFile,
    path: &Path,
    overwrite: bool,
) -> Result<(), Error> {
    let persisted = if overwrite {
        temp.persist(path).map(|_| ())
    } else {
        temp.persist_noclobber(path).map(|_| ())
    };
    persisted.map_err(|e| Error::io("write", path, e.error))
}

/// Checks that the temporary file holds `expected` bytes, syncs it to disk and renames it into
/// place: the end of every atomic write.
fn commit(
    temp: tempfile::NamedTempFile,
    path: &Path,
    expected: u64,
    overwrite: bool,
) -> Result<(), Error> {
    let file = temp.as_file();
    file.sync_all().map_err(|e| Error::io("write", path, e))?;
    let written = file
        .metadata()
        .map_err(|e| Error::io("write", path, e))?
        .len();
    if written != expected {
        // A writer that stopped short without saying so: never rename a short file into place.
        return Err(Error::io(
            "write",
            path,
            std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("only {written} of {expected} bytes reached the disk"),
            ),
        ));
    }
    persist(temp, path, overwrite)
}

/// Writes `bytes` to `path` via a temporary file in the same folder and a rename, so a failure
/// leaves no partial file and never replaces what was there. Without `overwrite`, an existing
/// file (or symbolic link) is an [`Error::Io`] of kind `AlreadyExists` and stays as it is
/// (checked again at the rename, so a file created meanwhile is not clobbered either).
pub async fn write_atomically(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), Error> {
    refuse_existing(path, overwrite)?;
    let temp = temp_file_beside(path)?;
    let handle = temp.reopen().map_err(|e| Error::io("write", path, e))?;
    let file = tokio::fs::File::from_std(handle);
    fill_async(file, bytes, path).await?;
    let path_owned = path.to_path_buf();
    let expected = bytes.len() as u64;
    tokio::task::spawn_blocking(move || commit(temp, &path_owned, expected, overwrite))
        .await
        .map_err(|e| Error::io("write", path, std::io::Error::other(e.to_string())))?
}

/// Writes and flushes: `tokio::fs::File` reports a failed write (a full disk) only at the
/// next operation, so the flush is what surfaces it.
async fn fill_async<W: AsyncWrite + Unpin>(
    mut writer: W,
    bytes: &[u8],
    path: &Path,
) -> Result<(), Error> {
    writer
        .write_all(bytes)
        .await
        .map_err(|e| Error::io("write", path, e))?;
    writer
        .flush()
        .await
        .map_err(|e| Error::io("write", path, e))
}

/// [`write_atomically`] for synchronous code.
pub fn write_atomically_blocking(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), Error> {
    refuse_existing(path, overwrite)?;
    let temp = temp_file_beside(path)?;
    let handle = temp.reopen().map_err(|e| Error::io("write", path, e))?;
    fill(handle, bytes, path)?;
    commit(temp, path, bytes.len() as u64, overwrite)
}

/// Writes and flushes, each error checked.
fn fill<W: Write>(mut writer: W, bytes: &[u8], path: &Path) -> Result<(), Error> {
    writer
        .write_all(bytes)
        .and_then(|()| writer.flush())
        .map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over a real file that accepts `room` bytes and then fails as a full disk does.
    struct FullDisk<W> {
        inner: W,
        room: usize,
    }

    impl<W: Write> Write for FullDisk<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.inner.write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    /// The blocking write with its writer swapped for `writer(temp file)`.
    fn write_with<W: Write>(
        path: &Path,
        bytes: &[u8],
        overwrite: bool,
        writer: impl FnOnce(std::fs::File) -> W,
    ) -> Result<(), Error> {
        refuse_existing(path, overwrite)?;
        let temp = temp_file_beside(path)?;
        let handle = temp.reopen().map_err(|e| Error::io("write", path, e))?;
        fill(writer(handle), bytes, path)?;
        commit(temp, path, bytes.len() as u64, overwrite)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_failing_part_way_leaves_nothing_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        std::fs::write(&path, b"the good old file").unwrap();
        let bytes = vec![7u8; 100_000];
        let err = write_with(&path, &bytes, true, |file| FullDisk {
            inner: file,
            room: 4096,
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(28)),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"the good old file");
        assert_eq!(names(dir.path()), ["out.png"], "no temporary file is left");
    }

    #[test]
    fn an_error_that_only_shows_at_the_flush_is_not_lost() {
        // Buffered writes succeed and the full disk shows only when the buffer is flushed: the
        // failure `write_atomically` used to lose.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let err = write_with(&path, &[1u8; 1000], false, |file| {
            std::io::BufWriter::with_capacity(
                1 << 16,
                FullDisk {
                    inner: file,
                    room: 10,
                },
            )
        })
        .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn a_writer_that_stops_short_silently_is_caught_at_the_commit() {
        struct Liar(std::fs::File);
        impl Write for Liar {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                // Claims everything, keeps half.
                self.0.write_all(&buf[..buf.len() / 2])?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        std::fs::write(&path, b"old").unwrap();
        let err = write_with(&path, &[3u8; 64], true, Liar).unwrap_err();
        assert!(err.to_string().contains("32 of 64 bytes"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out.png"]);
    }

    #[tokio::test]
    async fn async_writes_flush_before_they_sync() {
        /// An async writer that takes everything into a buffer and fails at the flush.
        struct FailsAtFlush(Vec<u8>);
        impl AsyncWrite for FailsAtFlush {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.0.extend_from_slice(buf);
                std::task::Poll::Ready(Ok(buf.len()))
            }
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Err(std::io::Error::from_raw_os_error(28)))
            }
            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.poll_flush(cx)
            }
        }
        let err = fill_async(FailsAtFlush(Vec::new()), b"abc", Path::new("x.png"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(28)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn saving_never_overwrites_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        std::fs::write(&path, b"old").unwrap();
        let err = write_atomically(&path, b"new", false).await.unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        write_atomically(&path, b"new", true).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        write_atomically_blocking(&path, b"newer", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"newer");
        // No temporary files are left behind.
        assert_eq!(names(dir.path()), ["out.png"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o644,
                0o644,
                "an ordinary file, not a private temporary one"
            );
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_dangling_symlink_counts_as_existing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        std::os::unix::fs::symlink(dir.path().join("nowhere.png"), &path).unwrap();
        let err = destination_free(&path, false).unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        destination_free(&path, true).unwrap();
        let err = write_atomically(&path, b"new", false).await.unwrap_err();
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert!(!dir.path().join("nowhere.png").exists());
        destination_free(&dir.path().join("free.png"), false).unwrap();
    }
}

//! Work keys: what makes two units "the same paid work", and content hashing.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use cutout_runtime::{Error, ImageSource};
use sha2::{Digest, Sha256};

/// The identity of one unit of paid work: hex SHA-256 over the content hash of every source,
/// the provider, the normalised parameters and the output kind. Each field is length-prefixed,
/// so that fields cannot run into each other (`ab`+`c` ≠ `a`+`bc`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkKey(String);

impl WorkKey {
    /// The key of the work on sources with these content hashes ([`content_hash`]).
    pub fn new(content_hashes: &[String], provider: &str, params: &str, output_kind: &str) -> Self {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        field(b"cutout-work-key-v1");
        field(&(content_hashes.len() as u64).to_be_bytes());
        for hash in content_hashes {
            field(hash.as_bytes());
        }
        field(provider.as_bytes());
        field(params.as_bytes());
        field(output_kind.as_bytes());
        WorkKey(hex(&hasher.finalize()))
    }

    /// A key as stored (64 hex digits), e.g. read back from a journal.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        WorkKey(hex.into())
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 12 digits are enough to tell keys apart in logs.
        write!(f, "WorkKey({})", &self.0[..self.0.len().min(12)])
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The content hash of a source (hex SHA-256):
///
/// - a local file: of its bytes, read in 64 KiB pieces (never the whole file in memory);
/// - bytes: of the bytes;
/// - a URL: of `url:` followed by the URL exactly as given. The image behind it is **not**
///   downloaded to be hashed: a URL whose image changes keeps its key, and the same image
///   under two URLs gets two keys. Put a version in the URL (or pass the bytes) when that
///   matters.
///
/// Blocking (reads the file): call it from `spawn_blocking` in async code.
pub fn content_hash(source: &ImageSource) -> Result<String, Error> {
    match source {
        ImageSource::Path(path) => hash_file(path).map(|(_, hash)| hash),
        ImageSource::Bytes { bytes, .. } => Ok(hex(&Sha256::digest(bytes))),
        ImageSource::Url(url) => {
            let mut hasher = Sha256::new();
            hasher.update(b"url:");
            hasher.update(url.as_bytes());
            Ok(hex(&hasher.finalize()))
        }
        // `ImageSource` may grow; refuse what we cannot hash rather than guess a key.
        #[allow(unreachable_patterns)]
        other => Err(Error::invalid(
            "source",
            format!("cannot compute a work key for `{}`", other.describe()),
        )),
    }
}

/// Size and hex SHA-256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String), Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Where the results of a unit go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OutputName {
    /// `<stem>.<ext>`, the extension from the format that came back; the later results of one
    /// job `<stem>-2.<ext>`, `<stem>-3.<ext>`…
    Stem(PathBuf),
    /// Exactly this path (later results of one job: `-2`, `-3`… before its extension).
    Exact(PathBuf),
}

impl OutputName {
    /// The path of result `index` (0-based) of format extension `ext`.
    pub fn path_for(&self, index: usize, ext: &str) -> PathBuf {
        let suffix = if index == 0 {
            String::new()
        } else {
            format!("-{}", index + 1)
        };
        match self {
            OutputName::Stem(stem) => {
                let mut name = stem.as_os_str().to_owned();
                name.push(format!("{suffix}.{ext}"));
                PathBuf::from(name)
            }
            OutputName::Exact(path) if index == 0 => path.clone(),
            OutputName::Exact(path) => {
                let stem = path.file_stem().unwrap_or_default().to_owned();
                let mut name = stem;
                name.push(&suffix);
                if let Some(e) = path.extension() {
                    name.push(".");
                    name.push(e);
                }
                path.with_file_name(name)
            }
        }
    }

    /// The paths that result 0 could be written to (for a stem: one per known extension),
    /// checked before anything is paid for.
    pub fn first_candidates(&self) -> Vec<PathBuf> {
        match self {
            OutputName::Exact(path) => vec![path.clone()],
            OutputName::Stem(_) => ["png", "jpg", "webp", "tiff", "gif", "bmp"]
                .iter()
                .map(|ext| self.path_for(0, ext))
                .collect(),
        }
    }

    /// Whether `path` is result `index` of this name (any extension for a stem).
    pub fn is_result(&self, path: &Path, index: usize) -> bool {
        match self {
            OutputName::Exact(_) => {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                self.path_for(index, ext) == path
            }
            OutputName::Stem(_) => match path.extension().and_then(|e| e.to_str()) {
                Some(ext) => self.path_for(index, ext) == path,
                None => false,
            },
        }
    }
}

//! One method, every provider: an image in, a cut-out out.
//!
//! Each provider crate implements [`BackgroundRemover`] for its `Client`, so an application can
//! switch provider by changing the line that makes the client:
//!
//! ```no_run
//! # async fn demo(remover: &dyn cutout_runtime::BackgroundRemover) -> Result<(), cutout_runtime::Error> {
//! use cutout_runtime::{ImageSource, RemoveOptions};
//! let cutout = remover
//!     .remove_background(ImageSource::path("photo.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("photo.cutout.png", false).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use crate::Error;
use crate::fs::write_atomically;
use crate::probe::{ImageFormat, ImageInfo, probe_bytes, probe_file};
use crate::wait::{JobProgress, WaitPolicy};
use bytes::Bytes;

/// The largest result the one-call paths download into memory (512 MiB); larger results go to
/// a file with the providers' `download_to`/`run_to`.
pub const MAX_RESULT_BYTES: u64 = 512 * 1024 * 1024;

/// A boxed future, so that [`BackgroundRemover`] can be used as `dyn BackgroundRemover`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an input image comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A local file, streamed from disk where the provider takes uploads.
    Path(PathBuf),
    /// Bytes in memory, with a file name (its extension tells the format).
    Bytes {
        /// The image.
        bytes: Bytes,
        /// A file name such as `photo.jpg`.
        file_name: String,
    },
    /// A URL the provider fetches itself (it must be reachable from the provider).
    Url(String),
}

impl fmt::Debug for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSource::Path(path) => f.debug_tuple("Path").field(path).finish(),
            ImageSource::Bytes { bytes, file_name } => f
                .debug_struct("Bytes")
                .field("len", &bytes.len())
                .field("file_name", file_name)
                .finish(),
            // The query of a presigned URL is a credential.
            ImageSource::Url(url) => f
                .debug_tuple("Url")
                .field(&crate::validate::display_url(url))
                .finish(),
        }
    }
}

impl ImageSource {
    /// A local file.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        ImageSource::Path(path.into())
    }

    /// Bytes in memory.
    pub fn bytes(bytes: impl Into<Bytes>, file_name: impl Into<String>) -> Self {
        ImageSource::Bytes {
            bytes: bytes.into(),
            file_name: file_name.into(),
        }
    }

    /// A URL.
    pub fn url(url: impl Into<String>) -> Self {
        ImageSource::Url(url.into())
    }

    /// A short description for messages: the path, the file name, or the URL without its query
    /// and userinfo ([`validate::display_url`](crate::validate::display_url)).
    pub fn describe(&self) -> String {
        match self {
            ImageSource::Path(path) => path.display().to_string(),
            ImageSource::Bytes { file_name, .. } => file_name.clone(),
            ImageSource::Url(url) => crate::validate::display_url(url),
        }
    }

    /// The file name to upload under.
    pub fn file_name(&self) -> String {
        match self {
            ImageSource::Path(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".to_owned()),
            ImageSource::Bytes { file_name, .. } => file_name.clone(),
            ImageSource::Url(url) => crate::validate::display_url(url)
                .split_once("://")
                .map_or("", |(_, rest)| rest)
                .split_once('/')
                .map_or("", |(_, path)| path)
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("image")
                .to_owned(),
        }
    }

    /// Reads the header of a local image (`None` for URLs). A file that is not an image, or
    /// whose header states zero pixels or an impossible size, is an [`Error::InvalidInput`]
    /// naming `field`.
    pub fn probe(&self, field: &str) -> Result<Option<ImageInfo>, Error> {
        let info = match self {
            ImageSource::Path(path) => probe_file(path)?,
            ImageSource::Bytes { bytes, .. } => probe_bytes(bytes),
            ImageSource::Url(_) => return Ok(None),
        };
        match info {
            Some(info) => {
                info.check_dimensions(field, &self.describe(), None)?;
                Ok(Some(info))
            }
            None => Err(Error::invalid(
                field,
                format!(
                    "`{}` is not a JPEG, PNG, WebP, TIFF, GIF or BMP image",
                    self.describe()
                ),
            )),
        }
    }

    /// The whole image in memory (for providers that take the image inline). URLs are not read.
    pub async fn read_all(&self) -> Result<Option<Bytes>, Error> {
        match self {
            ImageSource::Path(path) => tokio::fs::read(path)
                .await
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| Error::io("read", path, e)),
            ImageSource::Bytes { bytes, .. } => Ok(Some(bytes.clone())),
            ImageSource::Url(_) => Ok(None),
        }
    }
}

impl From<&Path> for ImageSource {
    fn from(path: &Path) -> Self {
        ImageSource::Path(path.to_path_buf())
    }
}

impl From<PathBuf> for ImageSource {
    fn from(path: PathBuf) -> Self {
        ImageSource::Path(path)
    }
}

/// `"https://…"` and `"http://…"` are URLs; anything else is a local path.
impl From<&str> for ImageSource {
    fn from(text: &str) -> Self {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            ImageSource::Url(text.to_owned())
        } else {
            ImageSource::Path(PathBuf::from(text))
        }
    }
}

/// See `From<&str>`: URLs by their scheme, paths otherwise.
impl From<String> for ImageSource {
    fn from(text: String) -> Self {
        ImageSource::from(text.as_str())
    }
}

/// What the cut-out should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoutKind {
    /// The subject on a transparent background.
    #[default]
    Rgba,
    /// A grayscale mask: white is the subject.
    Mask,
}

/// Something that happened while a cut-out was being made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Bytes of the input sent so far.
    Uploading {
        /// Sent.
        sent: u64,
        /// In all.
        total: u64,
    },
    /// The provider accepted the job.
    Submitted {
        /// Its id.
        job_id: String,
    },
    /// The job is running.
    Waiting(JobProgress),
    /// The result is being downloaded.
    Downloading,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of [`BackgroundRemover::remove_background`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RemoveOptions {
    /// A cut-out (default) or a mask.
    pub kind: CutoutKind,
    /// How to wait for asynchronous jobs (default [`WaitPolicy::default`]).
    pub wait: WaitPolicy,
    /// Called as the work progresses.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for RemoveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveOptions")
            .field("kind", &self.kind)
            .field("wait", &self.wait)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RemoveOptions {
    /// A mask instead of a cut-out.
    pub fn mask() -> Self {
        Self::default().kind(CutoutKind::Mask)
    }
    /// Sets the kind.
    pub fn kind(mut self, kind: CutoutKind) -> Self {
        self.kind = kind;
        self
    }
    /// Sets the wait policy.
    pub fn wait(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }
    /// Sets a progress callback.
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
    /// Reports `event` to the callback, if any.
    pub fn report(&self, event: Progress) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }
}

/// A finished cut-out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cutout {
    /// The image.
    pub bytes: Bytes,
    /// Its format (read from the bytes).
    pub format: ImageFormat,
    /// Its size, from its header.
    pub width: u32,
    /// Its size, from its header.
    pub height: u32,
    /// Cut-out or mask.
    pub kind: CutoutKind,
    /// Which provider made it.
    pub provider: &'static str,
    /// The provider's job id, when there was a job.
    pub job_id: Option<String>,
}

impl fmt::Debug for Cutout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cutout")
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("kind", &self.kind)
            .field("provider", &self.provider)
            .field("job_id", &self.job_id)
            .finish()
    }
}

impl Cutout {
    /// Wraps a downloaded result, checking that it is an image.
    pub fn new(
        bytes: Bytes,
        kind: CutoutKind,
        provider: &'static str,
        job_id: Option<String>,
    ) -> Result<Self, Error> {
        let info = probe_bytes(&bytes).ok_or_else(|| {
            Error::unexpected(
                provider,
                "download",
                format!("the result ({} bytes) is not an image", bytes.len()),
            )
        })?;
        Ok(Self {
            bytes,
            format: info.format,
            width: info.width,
            height: info.height,
            kind,
            provider,
            job_id,
        })
    }

    /// Writes the image to `path` through a temporary file and a rename, so a failure leaves no
    /// partial file. Without `overwrite`, an existing file is an error and stays as it is.
    pub async fn save(&self, path: impl AsRef<Path>, overwrite: bool) -> Result<(), Error> {
        write_atomically(path.as_ref(), &self.bytes, overwrite).await
    }
}

/// Removes the background of an image. Implemented by every provider crate's `Client`.
pub trait BackgroundRemover: Send + Sync {
    /// The provider's short name (`topaz`, `backgroundcut`, `modelslab`, `tengr`).
    fn provider_name(&self) -> &'static str;

    /// Sends `source` to the provider, waits for the job and downloads the result.
    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_query() {
        let source =
            ImageSource::url("https://me:hunter2@cdn.example.com/out/a.png?X-Amz-Signature=secret");
        assert!(!format!("{source:?}").contains("secret"));
        assert!(!format!("{source:?}").contains("hunter2"));
        assert_eq!(source.describe(), "https://cdn.example.com/out/a.png");
        assert_eq!(source.file_name(), "a.png");
        assert_eq!(
            ImageSource::url("https://me:pw@host.example").file_name(),
            "image"
        );
    }

    #[test]
    fn an_image_of_no_pixels_is_invalid_input() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0; 8]);
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(png.len(), 33);
        let err = ImageSource::bytes(png, "empty.png")
            .probe("image")
            .unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(
            err.to_string().contains("`empty.png` says it is 0×0"),
            "{err}"
        );
    }

    #[test]
    fn strings_are_urls_by_scheme_and_paths_otherwise() {
        assert!(matches!(
            ImageSource::from("HTTPS://x.example/a.png"),
            ImageSource::Url(_)
        ));
        assert!(matches!(
            ImageSource::from("http://127.0.0.1/a.png"),
            ImageSource::Url(_)
        ));
        assert!(matches!(
            ImageSource::from("photos/http.png"),
            ImageSource::Path(_)
        ));
        assert!(matches!(
            ImageSource::from(String::from("a.jpg")),
            ImageSource::Path(_)
        ));
    }
}

//! [`ImageSource`]: where an input image comes from (a local file, bytes, or a URL), how it is
//! shown in messages without secrets, and its header read for local checks.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::Error;
use crate::probe::{ImageInfo, probe_bytes, probe_file};

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

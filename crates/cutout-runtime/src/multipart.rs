//! `multipart/form-data` bodies for the operations progenitor cannot generate.
//!
//! The xtask generates those operations in progenitor's builder style; their `send()` builds the
//! form with [`Form`]. File parts are opened when the request is built and streamed in chunks,
//! so a large image is never held in memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

use crate::ImageFormat;

/// Read size for streamed file parts. Uploading 1 GiB to a loopback sink (`bench_upload`), the
/// client's CPU time was 0.53 s with 128 KiB reads, 0.39 s with 512 KiB, 0.37 s with 1 MiB and
/// 0.34 s with 2 MiB (curl: 0.33 s); wall time was lowest at 1 MiB, with a peak RSS of 12 MiB
/// (14 MiB at 2 MiB). A part never reads more than its file's length at once. The cost: each
/// upload in flight holds up to 2–3 chunks (one queued in hyper, one being read), so 64 large
/// uploads at once take up to about 190 MiB.
const CHUNK: usize = 1024 * 1024;

/// A file part of a form: a path on disk (streamed) or bytes in memory.
#[derive(Clone)]
pub struct FilePart {
    source: Source,
    file_name: Option<String>,
    content_type: Option<String>,
    progress: Option<UploadProgress>,
}

/// Called with (bytes sent, total bytes) as a file part streams out.
pub type UploadProgress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
enum Source {
    Path(PathBuf),
    Bytes(Bytes),
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("FilePart");
        match &self.source {
            Source::Path(path) => s.field("path", path),
            Source::Bytes(bytes) => s.field("bytes", &bytes.len()),
        };
        s.field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl FilePart {
    /// A file on disk. It is opened when the request is sent and streamed from there. The part's
    /// file name is the path's last component and its content type is guessed from the extension,
    /// unless set with [`FilePart::file_name`] / [`FilePart::content_type`].
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self {
            source: Source::Path(path.into()),
            file_name: None,
            content_type: None,
            progress: None,
        }
    }

    /// Bytes already in memory, sent under `file_name` (which also drives the content type guess).
    pub fn bytes(bytes: impl Into<Bytes>, file_name: impl Into<String>) -> Self {
        Self {
            source: Source::Bytes(bytes.into()),
            file_name: Some(file_name.into()),
            content_type: None,
            progress: None,
        }
    }

    /// Sets the file name sent with the part.
    pub fn file_name(mut self, file_name: impl Into<String>) -> Self {
        self.file_name = Some(file_name.into());
        self
    }

    /// Sets the content type sent with the part (instead of guessing it from the file name).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The file name the part is sent under.
    pub fn effective_file_name(&self) -> String {
        match (&self.file_name, &self.source) {
            (Some(name), _) => name.clone(),
            (None, Source::Path(path)) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".to_owned()),
            (None, Source::Bytes(_)) => "file".to_owned(),
        }
    }

    /// The content type the part is sent with.
    pub fn effective_content_type(&self) -> String {
        match &self.content_type {
            Some(content_type) => content_type.clone(),
            None => guess_content_type(&self.effective_file_name()).to_owned(),
        }
    }

    /// Opens the source and makes the `reqwest` part. A path is streamed with its length known,
    /// so the whole form still gets a `Content-Length`.
    pub async fn to_part(&self) -> Result<reqwest::multipart::Part, String> {
        let (body, length) = match (&self.source, &self.progress) {
            (Source::Bytes(bytes), None) => {
                (reqwest::Body::from(bytes.clone()), bytes.len() as u64)
            }
            (Source::Bytes(bytes), Some(progress)) => {
                let length = bytes.len() as u64;
                let chunks: Vec<std::io::Result<Bytes>> = (0..bytes.len())
                    .step_by(CHUNK)
                    .map(|start| Ok(bytes.slice(start..(start + CHUNK).min(bytes.len()))))
                    .collect();
                let stream = counted(futures_util::stream::iter(chunks), length, progress.clone());
                (reqwest::Body::wrap_stream(stream), length)
            }
            (Source::Path(path), progress) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
                let metadata = file
                    .metadata()
                    .await
                    .map_err(|e| format!("cannot read the size of `{}`: {e}", path.display()))?;
                // A pipe or a /proc file reports a length of 0 and a directory fails mid-body:
                // refuse them before anything is sent.
                if !metadata.is_file() {
                    return Err(format!(
                        "`{}` is not a regular file: pass the path of an image file",
                        path.display()
                    ));
                }
                let length = metadata.len();
                let stream = file_chunks(file.into_std().await, length, path.clone());
                let body = match progress {
                    Some(progress) => {
                        reqwest::Body::wrap_stream(counted(stream, length, progress.clone()))
                    }
                    None => reqwest::Body::wrap_stream(stream),
                };
                (body, length)
            }
        };
        reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(self.effective_file_name())
            .mime_str(&self.effective_content_type())
            .map_err(|e| format!("invalid content type: {e}"))
    }

    /// Reports upload progress (bytes sent, total) as the part streams out. Called again from
    /// zero if the request is retried.
    pub fn on_progress(mut self, progress: UploadProgress) -> Self {
        self.progress = Some(progress);
        self
    }
}

/// Streams the `length` bytes of `file` in chunks of [`CHUNK`]: exactly the length the part
/// announced. A file that changed size while it is sent (shrunk, or grown past `length`) ends the
/// body with an error, so the server never gets a well-formed form holding part of an image.
///
/// Each chunk is read on the blocking pool straight into the buffer that becomes the chunk: the
/// kernel's copy is the only one (tokio's `File` reads into a buffer of its own and copies out,
/// which with `ReaderStream`'s 64 KiB reads cost about 1.8× the CPU time of this).
fn file_chunks(
    file: std::fs::File,
    length: u64,
    path: PathBuf,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold((file, length, path), |(mut file, left, path)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = left.min(CHUNK as u64) as usize;
        let last = left == want as u64;
        let chunk_path = path.clone();
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let chunk = read_chunk(&mut file, want, &chunk_path).and_then(|chunk| {
                // After the last announced byte the file must end: one byte more means it grew.
                if last && file.read(&mut [0u8; 1])? != 0 {
                    return Err(FileChanged::error(
                        std::io::ErrorKind::InvalidData,
                        chunk_path,
                        "grew while it was being sent",
                    ));
                }
                Ok(chunk)
            });
            (file, chunk)
        })
        .await
        .map_err(std::io::Error::other)?;
        let chunk = chunk.map_err(|e| {
            // A changed file keeps its own error (see `file_changed_in`); others name the file.
            if e.get_ref().is_some_and(|inner| inner.is::<FileChanged>()) {
                e
            } else {
                std::io::Error::new(e.kind(), format!("cannot read `{}`: {e}", path.display()))
            }
        })?;
        Ok(Some((chunk, (file, left - want as u64, path))))
    })
}

/// Reads exactly `want` bytes into a new buffer. `read_to_end` fills the spare capacity without
/// zeroing it first, and `Bytes::from` takes the vector without copying it.
fn read_chunk(file: &mut std::fs::File, want: usize, path: &Path) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    file.take(want as u64).read_to_end(&mut buf)?;
    if buf.len() < want {
        return Err(FileChanged::error(
            std::io::ErrorKind::UnexpectedEof,
            path.to_owned(),
            "got shorter while it was being sent",
        ));
    }
    Ok(Bytes::from(buf))
}

/// A file part whose file changed size while it was sent. The body then ended before (or was
/// stopped at) its announced length, so the server cannot have taken the request: the runtime
/// reports it as a file error, not as a request that may have been accepted.
#[derive(Debug)]
pub(crate) struct FileChanged {
    pub(crate) path: PathBuf,
    what: &'static str,
}

impl FileChanged {
    fn error(kind: std::io::ErrorKind, path: PathBuf, what: &'static str) -> std::io::Error {
        std::io::Error::new(kind, FileChanged { path, what })
    }

    /// What happened, without the path: `the file grew while it was being sent: …`.
    pub(crate) fn message(&self) -> String {
        format!("the file {}: send it again once it is complete", self.what)
    }
}

impl std::fmt::Display for FileChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.message())
    }
}

impl std::error::Error for FileChanged {}

/// The [`FileChanged`] somewhere in `error`'s chain of sources (reqwest wraps hyper, which wraps
/// the body's `io::Error`, which holds it), with the kind of the `io::Error` that carried it.
pub(crate) fn file_changed_in<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<(&'a FileChanged, std::io::ErrorKind)> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(changed) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<FileChanged>())
        {
            return Some((changed, io.kind()));
        }
        next = error.source();
    }
    None
}

/// Passes chunks through, reporting the running total.
fn counted<S>(
    stream: S,
    total: u64,
    progress: UploadProgress,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    use futures_util::StreamExt;
    let mut sent = 0u64;
    progress(0, total);
    stream.inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            sent += chunk.len() as u64;
            progress(sent, total);
        }
    })
}

impl From<PathBuf> for FilePart {
    fn from(path: PathBuf) -> Self {
        Self::path(path)
    }
}

impl From<&Path> for FilePart {
    fn from(path: &Path) -> Self {
        Self::path(path)
    }
}

impl From<&str> for FilePart {
    /// A path on disk.
    fn from(path: &str) -> Self {
        Self::path(path)
    }
}

/// The content type for a file name, from its extension ([`ImageFormat`]'s table);
/// `application/octet-stream` when unknown.
pub fn guess_content_type(file_name: &str) -> &'static str {
    match ImageFormat::from_extension(file_name) {
        Some(format) => format.mime_type(),
        // HEIC is not probed (no format check applies to it) but still travels under its type.
        None if file_name.to_ascii_lowercase().ends_with(".heic") => "image/heic",
        None => "application/octet-stream",
    }
}

/// A form under construction: text fields from a serializable value, then file parts.
#[derive(Debug, Default)]
pub struct Form {
    texts: Vec<(String, String)>,
    files: Vec<(String, FilePart)>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one text part per field of `fields` (a struct or map). Strings are sent as they are,
    /// numbers and booleans as their JSON text, absent (`null`) fields are left out, and nested
    /// values are sent as JSON.
    pub fn text_fields<T: Serialize>(mut self, fields: &T) -> Result<Self, String> {
        let value = serde_json::to_value(fields)
            .map_err(|e| format!("cannot encode the form fields: {e}"))?;
        let serde_json::Value::Object(object) = value else {
            return Err("the form fields must serialize to an object".to_owned());
        };
        for (name, value) in object {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            self.texts.push((name, text));
        }
        Ok(self)
    }

    /// Adds one text part.
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.texts.push((name.into(), value.into()));
        self
    }

    /// Adds a file part.
    pub fn file(mut self, name: impl Into<String>, part: FilePart) -> Self {
        self.files.push((name.into(), part));
        self
    }

    /// Opens every file part and makes the `reqwest` form. Can be called again for a new attempt:
    /// files are re-opened, nothing is buffered.
    pub async fn build(&self) -> Result<reqwest::multipart::Form, String> {
        let mut form = reqwest::multipart::Form::new();
        for (name, text) in &self.texts {
            form = form.text(name.clone(), text.clone());
        }
        for (name, file) in &self.files {
            form = form.part(name.clone(), file.to_part().await?);
        }
        Ok(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(guess_content_type("a.JPG"), "image/jpeg");
        assert_eq!(guess_content_type("dir/b.tif"), "image/tiff");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
        let part = FilePart::path("/tmp/photo.png");
        assert_eq!(part.effective_file_name(), "photo.png");
        assert_eq!(part.effective_content_type(), "image/png");
        let part = FilePart::bytes(vec![1, 2], "x.bin").content_type("image/jpeg");
        assert_eq!(part.effective_content_type(), "image/jpeg");
    }

    #[derive(Serialize)]
    struct Fields {
        model: &'static str,
        count: u32,
        flag: bool,
        skipped: Option<String>,
    }

    #[test]
    fn text_fields_are_flattened() {
        let form = Form::new()
            .text_fields(&Fields {
                model: "Object",
                count: 3,
                flag: true,
                skipped: None,
            })
            .unwrap();
        assert_eq!(
            form.texts,
            vec![
                ("count".to_owned(), "3".to_owned()),
                ("flag".to_owned(), "true".to_owned()),
                ("model".to_owned(), "Object".to_owned()),
            ]
        );
        assert!(Form::new().text_fields(&3).is_err());
    }

    #[tokio::test]
    async fn a_missing_file_is_a_clear_error() {
        let err = FilePart::path("/definitely/not/here.png")
            .to_part()
            .await
            .unwrap_err();
        assert!(
            err.contains("cannot open `/definitely/not/here.png`"),
            "{err}"
        );
    }

    /// Bytes that differ from chunk to chunk (251 is prime, so no chunk repeats the previous one).
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// The whole body of `form`, as reqwest would send it.
    async fn body_of(form: &Form) -> Vec<u8> {
        use futures_util::TryStreamExt;
        let chunks: Vec<Bytes> = form
            .build()
            .await
            .unwrap()
            .into_stream()
            .try_collect()
            .await
            .unwrap();
        chunks.concat()
    }

    /// The content of the last part of a form body: after its headers, before the closing boundary.
    fn last_part(body: &[u8]) -> &[u8] {
        let boundary = &body[..body.windows(2).position(|w| w == b"\r\n").unwrap()];
        let closing = [b"\r\n", boundary, b"--\r\n"].concat();
        assert!(
            body.ends_with(&closing),
            "the body ends with the closing boundary"
        );
        let headers = body.windows(4).rposition(|w| w == b"\r\n\r\n").unwrap();
        &body[headers + 4..body.len() - closing.len()]
    }

    #[tokio::test]
    async fn a_file_of_several_chunks_and_an_odd_size_arrives_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.png");
        let data = pattern(2 * CHUNK + 4097);
        std::fs::write(&path, &data).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let progress: UploadProgress = {
            let seen = seen.clone();
            std::sync::Arc::new(move |sent, total| seen.lock().unwrap().push((sent, total)))
        };
        let parts = [
            FilePart::path(&path),
            FilePart::path(&path).on_progress(progress.clone()),
            FilePart::bytes(data.clone(), "large.png").on_progress(progress),
        ];
        for part in parts {
            let form = Form::new().text("mode", "alpha").file("image", part);
            let body = body_of(&form).await;
            // Not `assert_eq!`: a 2 MiB difference printed in full helps nobody.
            assert!(
                last_part(&body) == data.as_slice(),
                "the file arrives as it is on disk"
            );
            // Built again (a retry): the file is read again from the start.
            let again = body_of(&form).await;
            assert!(last_part(&again) == data.as_slice());
        }
        let total = data.len() as u64;
        let chunk = CHUNK as u64;
        let once = [
            (0, total),
            (chunk, total),
            (2 * chunk, total),
            (total, total),
        ];
        // Two parts with progress, each sent twice.
        assert_eq!(*seen.lock().unwrap(), once.repeat(4));
    }

    #[tokio::test]
    async fn only_regular_files_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let error = FilePart::path(dir.path()).to_part().await.unwrap_err();
        assert!(error.contains("is not a regular file"), "{error}");
    }

    #[tokio::test]
    async fn a_file_that_changes_size_while_sent_is_not_sent_as_a_complete_form() {
        use futures_util::TryStreamExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        let data = pattern(1000);
        std::fs::write(&path, &data).unwrap();
        let open = || std::fs::File::open(&path).unwrap();

        // Exactly as announced: the whole file.
        let chunks: Vec<Bytes> = file_chunks(open(), 1000, path.clone())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), data);

        // Grown since its length was taken: the body ends with an error, never with a
        // well-formed form holding the start of the file.
        let err = file_chunks(open(), 990, path.clone())
            .try_collect::<Vec<Bytes>>()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("grew while it was being sent"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&format!("`{}`", path.display())),
            "{err}"
        );
        assert!(file_changed_in(&err).is_some());

        // Shrunk: the body ends with an error rather than a short part.
        let err = file_chunks(open(), 1010, path.clone())
            .try_collect::<Vec<Bytes>>()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("got shorter"), "{err}");
        assert!(file_changed_in(&err).is_some());
    }
}

//! BackgroundCut's file store: uploading inputs, fresh keys, download links.
//!
//! Every tool reads its inputs from, and writes its outputs to, a per-account key space:
//!
//! - **Keys are flat names.** In `my-project/photo.jpg` the slash is just a character of the key;
//!   there are no folders to create or list.
//! - **Files expire 2 hours after upload.** A tool called later answers 404 for the key; upload
//!   the input again. Outputs live under the same rule.
//! - **Storage is regional.** A request routed to another region than the one holding a key also
//!   answers 404.
//! - **Download links are short-lived** and carry their own authorisation: they are fetched without
//!   the API key (and usually live on another host, which never sees the key).
//!
//! [`unique_key`] makes a fresh key for each input and output, so concurrent jobs never overwrite
//! each other's files. The workflows ([`Client::matting`], [`Client::remove_bg`],
//! [`Client::ai_cut`]) upload, process and download for you; the functions here are for
//! flows of your own.
//!
//! Processing is the paid step, and BackgroundCut answers it only once the output is written.
//! `submit` ([`MattingRequest::submit`](crate::MattingRequest::submit),
//! [`RemoveBgRequest::submit`](crate::RemoveBgRequest::submit)) stops there and returns an
//! [`OutputJob`] holding the output keys; keep them, and [`Client::output`] re-attaches to the
//! results later (downloading sends no paid request), within the 2 hours they are kept.
//!
//! # Examples
//!
//! ```no_run
//! use backgroundcut::{Client, ImageSource, storage::unique_key};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?;
//! let key = unique_key("my-project/", "jpg");
//! client.upload(ImageSource::path("photo.jpg"), &key).await?;
//! // ... run a tool on `key` ...
//! let link = client.public_url(&key).await?;
//! println!("valid for a short while: {link}");
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cutout_runtime::multipart::{FilePart, UploadProgress};
use cutout_runtime::probe::{probe_bytes, probe_file};
use cutout_runtime::validate::display_url;
use cutout_runtime::{Cutout, CutoutKind, Downloaded};

use crate::error::explain;
use crate::{Client, CutoutError, CutoutResult, ImageSource};

/// The largest input fetched from a URL before it is uploaded (64 MiB).
pub const URL_INPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// A fresh key: `prefix`, the time in milliseconds, a process-wide counter and 48 random bits,
/// then `.extension` (given with or without its dot; an empty extension adds none).
///
/// Keys are flat names, so `prefix` may contain slashes (`"my-project/"`); they are part of the
/// key. Files under a key are deleted 2 hours after upload.
///
/// ```
/// let key = backgroundcut::storage::unique_key("my-project/", ".jpg");
/// assert!(key.starts_with("my-project/") && key.ends_with(".jpg"));
/// assert_ne!(key, backgroundcut::storage::unique_key("my-project/", "jpg"));
/// ```
pub fn unique_key(prefix: &str, extension: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = fastrand::u64(..) & 0xFFFF_FFFF_FFFF;
    let extension = extension.trim_start_matches('.');
    let dot = if extension.is_empty() { "" } else { "." };
    format!("{prefix}{millis}-{count}-{random:012x}{dot}{extension}")
}

/// Results a tool has written to storage, not downloaded yet: what a processing call
/// ([`RemoveBgRequest::submit`](crate::RemoveBgRequest::submit),
/// [`MattingRequest::submit`](crate::MattingRequest::submit)) returns, or a re-attachment by key
/// ([`Client::output`]). The processing was paid for already; downloading costs nothing.
///
/// Keep [`output_keys`](Self::output_keys) to download the results later, even from another
/// process, within the 2 hours BackgroundCut keeps them.
#[derive(Clone)]
#[must_use = "the results are only fetched by `download`"]
pub struct OutputJob {
    client: Client,
    output_keys: Vec<String>,
}

impl std::fmt::Debug for OutputJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputJob")
            .field("output_keys", &self.output_keys)
            .field("base_url", &self.client.baseurl)
            .finish()
    }
}

impl OutputJob {
    /// The keys the results were written to, in the order of the outputs asked for.
    pub fn output_keys(&self) -> &[String] {
        &self.output_keys
    }

    /// The first (for matting, the only) output key: the id to keep for a later
    /// [`Client::output`].
    pub fn output_key(&self) -> Option<&str> {
        self.output_keys.first().map(String::as_str)
    }

    /// Downloads the first result into memory (see [`Client::download_output`]).
    pub async fn download(&self) -> CutoutResult<StoredOutput> {
        self.client.download_output(self.first_key()?).await
    }

    /// Downloads every result into memory, in order.
    pub async fn download_all(&self) -> CutoutResult<Vec<StoredOutput>> {
        let mut outputs = Vec::with_capacity(self.output_keys.len());
        for key in &self.output_keys {
            outputs.push(self.client.download_output(key).await?);
        }
        Ok(outputs)
    }

    /// Streams the first result to `path` (a temporary file, a length check and a rename).
    /// Without `overwrite`, an existing `path` is an error and stays as it is.
    pub async fn download_to(
        &self,
        path: impl AsRef<std::path::Path>,
        overwrite: bool,
    ) -> CutoutResult<SavedOutput> {
        let key = self.first_key()?.to_owned();
        self.client.save_output(key, path.as_ref(), overwrite).await
    }

    fn first_key(&self) -> CutoutResult<&str> {
        self.output_key().ok_or_else(|| {
            CutoutError::invalid(
                "output_keys",
                "no output key: pass the key(s) the processing call answered",
            )
        })
    }
}

/// A result written to storage by a tool, and downloaded.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredOutput {
    /// The key the tool wrote the result to (deleted 2 hours after it was written).
    pub output_key: String,
    /// The short-lived download link it was fetched from (it needs no key).
    pub public_url: String,
    /// The result.
    pub bytes: Bytes,
    /// The `Content-Type` the download answered with, if any.
    pub content_type: Option<String>,
}

impl std::fmt::Debug for StoredOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The link is a bearer credential for the file until it expires: show it without its query.
        f.debug_struct("StoredOutput")
            .field("output_key", &self.output_key)
            .field("public_url", &display_url(&self.public_url))
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl StoredOutput {
    /// Checks that the result is an image and wraps it as a [`Cutout`] of `kind`.
    pub fn into_cutout(self, kind: CutoutKind) -> CutoutResult<Cutout> {
        Cutout::new(
            self.bytes,
            kind,
            crate::PROVIDER.name,
            Some(self.output_key),
        )
    }

    /// Writes the result to `path` atomically (a temporary file and a rename). Without
    /// `overwrite`, an existing file is an error and stays as it is.
    pub async fn save(
        &self,
        path: impl AsRef<std::path::Path>,
        overwrite: bool,
    ) -> CutoutResult<()> {
        cutout_runtime::write_atomically(path.as_ref(), &self.bytes, overwrite).await
    }
}

/// A result written to storage by a tool, and downloaded to a file.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedOutput {
    /// The key the tool wrote the result to.
    pub output_key: String,
    /// The short-lived download link it was fetched from.
    pub public_url: String,
    /// Where the file was written, its size and content type.
    pub file: Downloaded,
}

impl std::fmt::Debug for SavedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedOutput")
            .field("output_key", &self.output_key)
            .field("public_url", &display_url(&self.public_url))
            .field("file", &self.file)
            .finish()
    }
}

impl Client {
    /// Uploads `source` under `key`, streaming a file from disk. The key is a flat name (slashes
    /// are part of it) and the file is deleted 2 hours after upload; use [`unique_key`] for a
    /// fresh one. Uploading to an existing key replaces that file.
    ///
    /// An [`ImageSource::Url`] is first downloaded into memory (up to [`URL_INPUT_LIMIT`]; the API
    /// key is not sent to other hosts), then uploaded: BackgroundCut only reads files from its own
    /// store.
    pub async fn upload(&self, source: impl Into<ImageSource>, key: &str) -> CutoutResult<()> {
        check_key(key, "key")?;
        let source = self.fetch_if_url(source.into(), "source").await?;
        self.upload_resolved(&source, key, None).await
    }

    /// Mints a short-lived download link for `key`. Fetch it without the API key (the runtime's
    /// downloads do that by themselves: the key only goes to the API's own origin).
    pub async fn public_url(&self, key: &str) -> CutoutResult<String> {
        check_key(key, "key")?;
        let answer = self
            .context()
            .call(
                "get_public_url",
                self.get_public_url()
                    .body_map(|body| body.key(key.to_owned()))
                    .send(),
            )
            .await
            .map_err(|error| explain(error, &[key]))?;
        Ok(answer.into_inner().url)
    }

    /// Re-attaches to results a tool already wrote under `output_keys` (kept from an
    /// [`OutputJob`], maybe by another process): nothing is sent until one is downloaded, and
    /// downloading one sends no paid request. Outputs are deleted 2 hours after they were
    /// written; after that a download answers 404.
    pub fn output(&self, output_keys: impl IntoIterator<Item = impl Into<String>>) -> OutputJob {
        OutputJob {
            client: self.clone(),
            output_keys: output_keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Downloads the result under `output_key` into memory: mints its public link (an API call
    /// that costs nothing) and fetches it without the API key, refusing more than
    /// [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES) (use [`OutputJob::download_to`] to stream a
    /// result to a file instead).
    pub async fn download_output(&self, output_key: &str) -> CutoutResult<StoredOutput> {
        let output_key = output_key.to_owned();
        let public_url = self.public_url(&output_key).await?;
        let (bytes, content_type) = self
            .context()
            .download_bytes(&public_url, crate::MAX_RESULT_BYTES)
            .await
            .map_err(|error| explain(error, &[&output_key]))?;
        Ok(StoredOutput {
            output_key,
            public_url,
            bytes,
            content_type,
        })
    }

    /// Downloads the public URL of a key to `path` (temporary file, length check, rename).
    pub(crate) async fn save_output(
        &self,
        output_key: String,
        path: &std::path::Path,
        overwrite: bool,
    ) -> CutoutResult<SavedOutput> {
        let public_url = self.public_url(&output_key).await?;
        let file = self
            .context()
            .download_to(&public_url, path, overwrite)
            .await
            .map_err(|error| explain(error, &[&output_key]))?;
        Ok(SavedOutput {
            output_key,
            public_url,
            file,
        })
    }

    /// Turns a URL into bytes in memory (BackgroundCut cannot fetch URLs itself); other sources
    /// are returned as they are.
    pub(crate) async fn fetch_if_url(
        &self,
        source: ImageSource,
        field: &str,
    ) -> CutoutResult<ImageSource> {
        let ImageSource::Url(url) = &source else {
            return Ok(source);
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            CutoutError::invalid(field, format!("`{}` is not a URL: {e}", source.describe()))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CutoutError::invalid(
                field,
                format!(
                    "`{}` is not an http(s) URL: pass a local file or bytes instead",
                    source.describe()
                ),
            ));
        }
        let (bytes, _) = self.context().download_bytes(url, URL_INPUT_LIMIT).await?;
        Ok(ImageSource::bytes(bytes, source.file_name()))
    }

    /// Uploads a path or bytes (never a URL: see [`fetch_if_url`](Self::fetch_if_url)).
    pub(crate) async fn upload_resolved(
        &self,
        source: &ImageSource,
        key: &str,
        progress: Option<UploadProgress>,
    ) -> CutoutResult<()> {
        let (part, info) = match source {
            ImageSource::Path(path) => (FilePart::path(path), probe_file(path)?),
            ImageSource::Bytes { bytes, file_name } => (
                FilePart::bytes(bytes.clone(), file_name.clone()),
                probe_bytes(bytes),
            ),
            ImageSource::Url(_) => {
                return Err(CutoutError::invalid(
                    "source",
                    "a URL must be downloaded before it is uploaded",
                ));
            }
        };
        // The header says what the file is, whatever its name.
        let mut part = match info {
            Some(info) => part.content_type(info.format.mime_type()),
            None => part,
        };
        if let Some(progress) = progress {
            part = part.on_progress(progress);
        }
        let answer = self
            .context()
            .call(
                "upload_file",
                self.upload_file()
                    .file(part)
                    .body_map(|form| form.key(key.to_owned()))
                    .send(),
            )
            .await?
            .into_inner();
        // HTTP 200 already says the file was stored; only an explicit `false` contradicts it.
        if answer.success == Some(false) {
            return Err(CutoutError::unexpected(
                crate::PROVIDER.name,
                "upload_file",
                format!("the upload of `{key}` answered `success: false`"),
            )
            .with_status(200));
        }
        Ok(())
    }
}

/// The size of a path or bytes source, for upload progress.
pub(crate) fn source_len(source: &ImageSource) -> CutoutResult<u64> {
    match source {
        ImageSource::Path(path) => std::fs::metadata(path)
            .map(|meta| meta.len())
            .map_err(|e| CutoutError::io("read", path, e)),
        ImageSource::Bytes { bytes, .. } => Ok(bytes.len() as u64),
        ImageSource::Url(_) => Ok(0),
    }
}

/// Keys must name something.
pub(crate) fn check_key(key: &str, field: &str) -> CutoutResult<()> {
    if key.trim().is_empty() {
        return Err(CutoutError::invalid(
            field,
            "the key is empty: pass a name such as `my-project/photo.jpg` (or use `unique_key`)",
        ));
    }
    Ok(())
}

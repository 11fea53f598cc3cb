//! Following an artwork from creation to its result files.
//!
//! Every Tengr request creates an *artwork* that is processed asynchronously. An [`ArtworkJob`]
//! holds the last record seen and the client:
//!
//! - [`ArtworkJob::refresh`] reads the record again;
//! - [`ArtworkJob::wait`] polls until the status is final (`succeeded`, `failed`, `canceled`).
//!   Tengr gives no progress or ETA, so polls back off from the policy's shortest to its longest
//!   interval. `failed` and `canceled` end as [`CutoutError::JobFailed`]; a status this client
//!   does not know (say `queued`) counts as still running and is reported as sent;
//! - [`ArtworkJob::download_results`] writes the result images to a folder, named
//!   `<artwork id>-<index>.<extension>`; [`ArtworkJob::result_bytes`] keeps them in memory. Result
//!   URLs are fetched without the API key.
//!
//! [`Client::artwork`] picks up an artwork by id (after a restart, or from a webhook delivery);
//! [`Client::artworks`] lists them a page at a time. Artworks, records and images alike, are
//! deleted 8 days after creation; then reading one answers 404.
//!
//! # Examples
//!
//! ```no_run
//! use artworks_seg::{Client, WaitPolicy};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?;
//! let mut job = client.artwork("3fa85f64-5717-4562-b3fc-2c963f66afa6").await?;
//! let policy = WaitPolicy::default().deadline(Duration::from_secs(300));
//! let urls = job.wait(&policy, |progress| println!("{} after {} polls", progress.status, progress.polls)).await?;
//! println!("{} results", urls.len());
//! for path in job.download_results("out", false).await? {
//!     println!("wrote {}", path.display());
//! }
//!
//! for artwork in client.artworks(0, 50).await? {
//!     println!("{} {}", artwork.id(), artwork.status());
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use cutout_runtime::probe::{ImageFormat, probe_bytes};
use cutout_runtime::{JobProgress, Poll, WaitPolicy, wait_for};

use crate::error::explain;
use crate::types::{self, ArtworkStatus};
use crate::{Client, CutoutError, CutoutResult};

/// An artwork being followed: its last known record, and the client to read it again with.
#[derive(Clone)]
pub struct ArtworkJob {
    client: Client,
    artwork: types::Artwork,
}

impl fmt::Debug for ArtworkJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtworkJob")
            .field("id", &self.artwork.id)
            .field("status", &self.artwork.status)
            .field("artwork_type", &self.artwork.artwork_type)
            .field(
                "results",
                &self.artwork.results.as_ref().map(|results| results.len()),
            )
            .finish_non_exhaustive()
    }
}

impl ArtworkJob {
    /// Follows `artwork` with `client`.
    pub fn new(client: Client, artwork: types::Artwork) -> Self {
        Self { client, artwork }
    }

    /// Sends a request that creates an artwork (`operation`, through [`Context::call`]) and
    /// follows it from the record the answer carries: segmentation and background removal.
    ///
    /// [`Context::call`]: crate::Context::call
    pub(crate) async fn create(
        client: &Client,
        operation: &'static str,
        send: impl Future<
            Output = Result<crate::ResponseValue<types::Artwork>, crate::Error<types::TengrError>>,
        >,
    ) -> CutoutResult<Self> {
        let artwork = client
            .context()
            .call(operation, send)
            .await
            .map_err(|error| explain(error, None))?
            .into_inner();
        Ok(Self::new(client.clone(), artwork))
    }

    /// The artwork's id.
    pub fn id(&self) -> &str {
        &self.artwork.id
    }

    /// The status last seen (possibly one Tengr added after this client was written:
    /// [`ArtworkStatus::Unknown`], which [`wait`](Self::wait) treats as still running).
    pub fn status(&self) -> ArtworkStatus {
        self.artwork.status.clone()
    }

    /// The record last seen.
    pub fn artwork(&self) -> &types::Artwork {
        &self.artwork
    }

    /// The record, giving up the job.
    pub fn into_artwork(self) -> types::Artwork {
        self.artwork
    }

    /// Reads the record again.
    pub async fn refresh(&mut self) -> CutoutResult<&types::Artwork> {
        self.artwork = self.client.fetch_artwork(&self.artwork.id).await?;
        Ok(&self.artwork)
    }

    /// Polls until the artwork is final and returns its result URLs. `on_progress` sees each
    /// intermediate status (Tengr reports no percentage or ETA). A `failed` or `canceled` artwork
    /// is [`CutoutError::JobFailed`]; a deadline passed is [`CutoutError::Timeout`] (the artwork may
    /// still finish: call `wait` again).
    pub async fn wait(
        &mut self,
        policy: &WaitPolicy,
        on_progress: impl FnMut(&JobProgress),
    ) -> CutoutResult<Vec<String>> {
        let client = &self.client;
        let id = self.artwork.id.clone();
        let latest = Mutex::new(None);
        // The record in hand counts as the first poll: no request is made for it.
        let mut in_hand = Some(self.artwork.clone());
        let what = format!("tengr artwork {id}");
        let outcome = wait_for(
            policy,
            &what,
            || {
                let known = in_hand.take();
                let (id, latest) = (id.clone(), &latest);
                async move {
                    let artwork = match known {
                        Some(artwork) => artwork,
                        None => client.fetch_artwork(&id).await?,
                    };
                    if let Ok(mut slot) = latest.lock() {
                        *slot = Some(artwork.clone());
                    }
                    classify(artwork)
                }
            },
            on_progress,
        )
        .await;
        if let Some(artwork) = latest.into_inner().ok().flatten() {
            self.artwork = artwork;
        }
        outcome?;
        self.result_urls().map(<[String]>::to_vec)
    }

    /// The result URLs of a succeeded artwork; an error saying what to do otherwise.
    pub fn result_urls(&self) -> CutoutResult<&[String]> {
        let artwork = &self.artwork;
        match &artwork.status {
            ArtworkStatus::Succeeded => {}
            ArtworkStatus::Failed | ArtworkStatus::Canceled => return Err(failed(artwork)),
            status => {
                return Err(CutoutError::invalid(
                    "artwork",
                    format!(
                        "artwork {} is still {status}: wait for it (`wait`) before reading its \
                         results",
                        artwork.id
                    ),
                ));
            }
        }
        match artwork.results.as_deref() {
            // One mask per detection: the text mode's documented maximum is 100.
            Some(results) if results.len() > MAX_RESULTS => Err(CutoutError::unexpected(
                crate::PROVIDER.name,
                "get_artwork",
                format!(
                    "artwork {} lists {} results, more than the {MAX_RESULTS} a segmentation \
                     can make: not downloading them",
                    artwork.id,
                    results.len()
                ),
            )
            .with_status(200)),
            Some(results) if !results.is_empty() => Ok(results),
            _ => Err(CutoutError::unexpected(
                crate::PROVIDER.name,
                "get_artwork",
                format!("artwork {} succeeded but lists no result URLs", artwork.id),
            )
            .with_status(200)),
        }
    }

    /// Downloads every result of a succeeded artwork into `dir`, as
    /// `<artwork id>-<index>.<extension>` (index from 0; the extension from the URL, else from the
    /// answer's content type or the image itself). Each file is written through a temporary file
    /// and a rename; without `overwrite`, an existing file is an error and stays as it is.
    pub async fn download_results(
        &self,
        dir: impl AsRef<Path>,
        overwrite: bool,
    ) -> CutoutResult<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let urls = self.result_urls()?;
        let stem = safe_stem(&self.artwork.id);
        let context = self.client.context();
        let mut written = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let path = match extension_of_url(url) {
                Some(extension) => {
                    let path = dir.join(format!("{stem}-{index}.{extension}"));
                    context.download_to(url, &path, overwrite).await?;
                    path
                }
                None => {
                    let (bytes, content_type) =
                        context.download_bytes(url, crate::MAX_RESULT_BYTES).await?;
                    let extension = content_type
                        .as_deref()
                        .and_then(extension_of_content_type)
                        .or_else(|| probe_bytes(&bytes).map(|info| info.format.extension()))
                        .unwrap_or("bin");
                    let path = dir.join(format!("{stem}-{index}.{extension}"));
                    cutout_runtime::write_atomically(&path, &bytes, overwrite).await?;
                    path
                }
            };
            written.push(path);
        }
        Ok(written)
    }

    /// Downloads every result of a succeeded artwork into memory, in order:
    /// [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES) in all (more is an error;
    /// [`download_results`](Self::download_results) writes them to files instead).
    pub async fn result_bytes(&self) -> CutoutResult<Vec<Bytes>> {
        let urls = self.result_urls()?;
        let context = self.client.context();
        let mut results = Vec::with_capacity(urls.len());
        let mut left = crate::MAX_RESULT_BYTES;
        for url in urls {
            let (bytes, _) = context.download_bytes(url, left).await?;
            left = left.saturating_sub(bytes.len() as u64);
            results.push(bytes);
        }
        Ok(results)
    }
}

/// The most results an artwork is read with. A segmentation makes one mask per detection, at
/// most 100 (`textMaxDetections`), plus a combined one; a longer list is not a real answer.
pub const MAX_RESULTS: usize = 128;

/// Done, failed, or still running. A status Tengr added after this client was written
/// ([`ArtworkStatus::Unknown`]) counts as still running, reported as sent.
fn classify(artwork: types::Artwork) -> CutoutResult<Poll<types::Artwork>> {
    match &artwork.status {
        ArtworkStatus::Succeeded => Ok(Poll::Done(artwork)),
        ArtworkStatus::Failed | ArtworkStatus::Canceled => Err(failed(&artwork)),
        // Starting, Processing, a status Tengr sends that we don't know, and one a spec update
        // adds (the wildcard keeps that additive change compiling).
        _ => {
            let status = artwork.status.to_string();
            Ok(Poll::Pending(JobProgress::new(artwork.id, status)))
        }
    }
}

fn failed(artwork: &types::Artwork) -> CutoutError {
    CutoutError::JobFailed {
        provider: crate::PROVIDER.name,
        job_id: artwork.id.clone(),
        status: artwork.status.to_string(),
        // Tengr's artwork record carries no reason.
        message: None,
    }
}

/// The artwork id as a file name: ids come from the server, so anything but letters, digits,
/// `-` and `_` is replaced.
fn safe_stem(id: &str) -> String {
    let stem: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "artwork".to_owned()
    } else {
        stem
    }
}

fn extension_of_url(url: &str) -> Option<&'static str> {
    let parsed = url::Url::parse(url).ok()?;
    let name = parsed.path_segments()?.next_back()?;
    ImageFormat::from_extension(name).map(ImageFormat::extension)
}

fn extension_of_content_type(content_type: &str) -> Option<&'static str> {
    ImageFormat::from_mime_type(content_type).map(ImageFormat::extension)
}

impl Client {
    /// Reads artwork `id` and returns a job following it.
    pub async fn artwork(&self, id: &str) -> CutoutResult<ArtworkJob> {
        let artwork = self.fetch_artwork(id).await?;
        Ok(ArtworkJob::new(self.clone(), artwork))
    }

    /// One page of the account's artworks: skip `offset`, then at most `limit` (1..=500). The
    /// order is not published.
    pub async fn artworks(&self, offset: u64, limit: u32) -> CutoutResult<Vec<ArtworkJob>> {
        if !(1..=500).contains(&limit) {
            return Err(CutoutError::invalid(
                "limit",
                format!("{limit} is outside 1..=500: ask for 1 to 500 artworks per page"),
            ));
        }
        let offset = i64::try_from(offset).map_err(|_| {
            CutoutError::invalid(
                "offset",
                format!("{offset} is too large: pass at most {}", i64::MAX),
            )
        })?;
        let artworks = self
            .context()
            .call(
                "list_artworks",
                self.list_artworks()
                    .offset(offset)
                    .limit(u64::from(limit))
                    .send(),
            )
            .await?
            .into_inner();
        Ok(artworks
            .into_iter()
            .map(|artwork| ArtworkJob::new(self.clone(), artwork))
            .collect())
    }

    pub(crate) async fn fetch_artwork(&self, id: &str) -> CutoutResult<types::Artwork> {
        if id.trim().is_empty() {
            return Err(CutoutError::invalid(
                "id",
                "the artwork id is empty: pass the id the artwork was created with",
            ));
        }
        Ok(self
            .context()
            .call("get_artwork", self.get_artwork().id(id).send())
            .await
            .map_err(|error| explain(error, Some(id)))?
            .into_inner())
    }
}

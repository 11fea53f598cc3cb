//! Background removal in one call: `removebg_mask`, then `fetch` until the result is ready.
//!
//! [`Client::remove_background_mask`] takes an image (a URL ModelsLab downloads itself, a local
//! file or bytes in memory) and returns a [`RemoveBgMask`] with typed options;
//! [`RemoveBgMask::send`] sends it and, when ModelsLab queues the request (`processing`), polls
//! [`Client::fetch`] at the announced ETA until the result is ready.
//!
//! # What is checked locally
//!
//! Before any request (each failure is a [`CutoutError::InvalidInput`] naming the field):
//! `alpha_matting_foreground_threshold` within `0..=240`, `alpha_matting_background_threshold`
//! within `0..=20`, `alpha_matting_erode_size` within `0..=5`, `webhook` an absolute `http(s)`
//! URL, `image` an `http(s)` URL or `data:image/…` URI, or a local file / bytes whose header is
//! an image (JPEG, PNG, WebP, TIFF, GIF or BMP).
//!
//! # Local images travel inline
//!
//! ModelsLab takes no uploads: a local file or bytes are sent inside the JSON body as a data URI,
//! `data:<type>;base64,<data>`, with the type read from the image's header. The base64 text is
//! built in one allocation of exactly its final size, and the raw bytes are dropped before the
//! request is sent.
//!
//! # The account's queue
//!
//! ModelsLab caps how many requests an account may have queued (5, 10 or 15 by plan). `send`
//! holds one of the client's job slots (see
//! [`ClientBuilder::max_concurrent_jobs`](crate::ClientBuilder::max_concurrent_jobs); 5 by
//! default) from before the request until the result is ready, so extra requests wait their turn
//! locally instead of being refused with HTTP 429.
//!
//! # How outcomes map
//!
//! - `success`: a [`MaskResult`].
//! - `processing`: polled through [`Client::fetch`]; the first progress report is the
//!   submission's own answer (with its ETA), each later one a fetch. Both shapes of a queued
//!   answer's `output` (an array from `removebg_mask`, a string, often empty, from `fetch`) are
//!   accepted.
//! - a status this client does not know (say `queued`): still running, polled like
//!   `processing` (at its ETA when it gives one, else with backoff) and reported to
//!   `on_progress` as ModelsLab sent it ([`Processing::status`]).
//! - `error` (sent with HTTP 200): [`CutoutError::JobFailed`] with status `error` and ModelsLab's
//!   message (read from `message` or `messege`); its `job_id` is the request id when ModelsLab had
//!   queued the request, otherwise `(not queued)`.
//! - HTTP error statuses: [`CutoutError::Service`]; a 429 is retried after the `retry_after` the
//!   body asks for (within the client's [`RetryPolicy`](crate::RetryPolicy)).
//!
//! # Examples
//!
//! ```no_run
//! use modelslab::{Client, ImageSource, WaitPolicy};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let result = client
//!     .remove_background_mask(ImageSource::url("https://example.com/portrait.jpg"))
//!     .only_mask(true)
//!     .alpha_matting(true)
//!     .foreground_threshold(230)
//!     .wait(WaitPolicy::default())
//!     .on_progress(|p| eprintln!("{} (eta {:?})", p.status, p.eta))
//!     .send()
//!     .await?;
//! println!("mask at {:?}", result.output.urls().first());
//!
//! // A local file travels as a data URI; ask for base64 answers instead of links.
//! let result = client
//!     .remove_background_mask(ImageSource::path("portrait.png"))
//!     .base64(true)
//!     .send()
//!     .await?;
//! let images: Vec<Vec<u8>> = result.decode_base64()?;
//! # let _ = images;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cutout_runtime::probe::{ImageFormat, ImageInfo, probe_bytes, probe_file};
use cutout_runtime::validate::{display_url, http_url as check_http_url};
use cutout_runtime::{JobProgress, Poll, wait_for};

use crate::error::{either_spelling, error_message};
use crate::{Client, CutoutError, CutoutResult, ImageSource, PROVIDER, WaitPolicy, types};

/// The largest `alpha_matting_foreground_threshold`.
pub const MAX_FOREGROUND_THRESHOLD: u32 = 240;
/// The largest `alpha_matting_background_threshold`.
pub const MAX_BACKGROUND_THRESHOLD: u32 = 20;
/// The largest `alpha_matting_erode_size`.
pub const MAX_ERODE_SIZE: u32 = 5;

/// Called with each state of a queued request while [`RemoveBgMask::send`] waits.
type OnProgress = Arc<dyn Fn(&JobProgress) + Send + Sync>;

/// A background removal request being set up: made by [`Client::remove_background_mask`], sent
/// by [`send`](Self::send) (wait for the result) or [`submit`](Self::submit) (first answer only).
#[must_use = "nothing is sent until `send` or `submit` is awaited"]
pub struct RemoveBgMask<'a> {
    client: &'a Client,
    image: ImageSource,
    alpha_matting: bool,
    post_process_mask: bool,
    only_mask: bool,
    inverse_mask: bool,
    base64: bool,
    seed: Option<i64>,
    foreground_threshold: Option<u32>,
    background_threshold: Option<u32>,
    erode_size: Option<u32>,
    webhook: Option<String>,
    track_id: Option<i64>,
    wait: WaitPolicy,
    on_progress: Option<OnProgress>,
}

impl fmt::Debug for RemoveBgMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveBgMask")
            .field("base_url", &self.client.baseurl)
            .field("image", &self.image)
            .field("alpha_matting", &self.alpha_matting)
            .field("post_process_mask", &self.post_process_mask)
            .field("only_mask", &self.only_mask)
            .field("inverse_mask", &self.inverse_mask)
            .field("base64", &self.base64)
            .field("seed", &self.seed)
            .field("foreground_threshold", &self.foreground_threshold)
            .field("background_threshold", &self.background_threshold)
            .field("erode_size", &self.erode_size)
            // A webhook URL may carry a token in its query.
            .field("webhook", &self.webhook.as_deref().map(display_url))
            .field("track_id", &self.track_id)
            .field("wait", &self.wait)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl Client {
    /// Starts a background removal request for `image`: any [`ImageSource`] (a URL ModelsLab
    /// fetches, or a local file or bytes, sent inline as a data URI). Nothing is sent until
    /// [`RemoveBgMask::send`] or [`RemoveBgMask::submit`].
    pub fn remove_background_mask(&self, image: impl Into<ImageSource>) -> RemoveBgMask<'_> {
        RemoveBgMask {
            client: self,
            image: image.into(),
            alpha_matting: false,
            post_process_mask: false,
            only_mask: false,
            inverse_mask: false,
            base64: false,
            seed: None,
            foreground_threshold: None,
            background_threshold: None,
            erode_size: None,
            webhook: None,
            track_id: None,
            wait: WaitPolicy::default(),
            on_progress: None,
        }
    }

    /// Asks once for the outcome of a queued request (`POST /image_editing/fetch/{id}`). An
    /// `error` answer is a [`CutoutError::JobFailed`].
    pub async fn fetch(&self, id: i64) -> CutoutResult<MaskState> {
        let answer = self
            .context()
            .call("fetch_result", self.fetch_result().id(id).send())
            .await;
        match answer.map(|answer| answer.into_inner()) {
            Ok(types::FetchResponse::ResultSuccess(done)) => Ok(MaskState::Done(done.into())),
            Ok(types::FetchResponse::FetchProcessing(queued)) => {
                Ok(MaskState::Processing(Processing {
                    id: queued.id.as_ref().and_then(id_number).unwrap_or(id),
                    status: PROCESSING.to_owned(),
                    eta: seconds(queued.eta),
                    message: queued.message,
                    tip: queued.tip,
                    future_links: queued.future_links.unwrap_or_default(),
                }))
            }
            Ok(types::FetchResponse::ModelsLabError(error)) => Err(failed(Some(id), &error)),
            Ok(types::FetchResponse::OtherAnswer(other)) => {
                other_answer(other, Some(id), "fetch_result")
            }
            Err(error) => Err(error),
        }
    }

    /// Polls a queued request (from [`RemoveBgMask::submit`]) until it is done, at the ETA
    /// ModelsLab announces (within `policy`'s bounds). The first report to `on_progress` is
    /// `processing` itself; each later one is a fetch. An `error` answer is a
    /// [`CutoutError::JobFailed`]; running past the deadline a [`CutoutError::Timeout`].
    ///
    /// This does not hold a job slot: hold one yourself
    /// (`client.context().job_slot().await`) if you submit many requests.
    pub async fn wait_for_mask(
        &self,
        processing: &Processing,
        policy: &WaitPolicy,
        on_progress: impl FnMut(&JobProgress),
    ) -> CutoutResult<MaskResult> {
        let id = processing.id;
        let mut first = Some(processing.progress());
        wait_for(
            policy,
            &format!("modelslab request {id}"),
            move || {
                let first = first.take();
                async move {
                    if let Some(first) = first {
                        return Ok(Poll::Pending(first));
                    }
                    match self.fetch(id).await? {
                        MaskState::Done(result) => Ok(Poll::Done(result)),
                        MaskState::Processing(queued) => Ok(Poll::Pending(queued.progress())),
                    }
                }
            },
            on_progress,
        )
        .await
    }
}

impl<'a> RemoveBgMask<'a> {
    /// Refine the cut-out's edges with alpha matting (default false). The three thresholds
    /// below tune it.
    pub fn alpha_matting(mut self, on: bool) -> Self {
        self.alpha_matting = on;
        self
    }

    /// Clean up the mask after it is computed (default false).
    pub fn post_process_mask(mut self, on: bool) -> Self {
        self.post_process_mask = on;
        self
    }

    /// Answer with the mask only, not the cut-out (default false).
    pub fn only_mask(mut self, on: bool) -> Self {
        self.only_mask = on;
        self
    }

    /// Invert the mask, keeping the background instead of the subject (default false).
    pub fn inverse_mask(mut self, on: bool) -> Self {
        self.inverse_mask = on;
        self
    }

    /// Answer with the images as base64 text instead of links (default false); read them with
    /// [`MaskResult::decode_base64`].
    pub fn base64(mut self, on: bool) -> Self {
        self.base64 = on;
        self
    }

    /// A seed, for a reproducible result (default: random).
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Alpha matting threshold above which a pixel counts as foreground: `0..=240` (default
    /// 240). Checked when the request is sent.
    pub fn foreground_threshold(mut self, threshold: u32) -> Self {
        self.foreground_threshold = Some(threshold);
        self
    }

    /// Alpha matting threshold below which a pixel counts as background: `0..=20` (default 20).
    /// Checked when the request is sent.
    pub fn background_threshold(mut self, threshold: u32) -> Self {
        self.background_threshold = Some(threshold);
        self
    }

    /// How far alpha matting erodes the mask's border, in pixels: `0..=5` (default 5). Checked
    /// when the request is sent.
    pub fn erode_size(mut self, pixels: u32) -> Self {
        self.erode_size = Some(pixels);
        self
    }

    /// A URL that receives a POST with the outcome (see [`crate::webhook`]). Must be an absolute
    /// `http(s)` URL; checked when the request is sent.
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }

    /// Your own id for the request, echoed in the webhook call.
    pub fn track_id(mut self, id: i64) -> Self {
        self.track_id = Some(id);
        self
    }

    /// How [`send`](Self::send) waits for a queued request (default [`WaitPolicy::default`]).
    pub fn wait(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// Called with each state of a queued request while [`send`](Self::send) waits.
    pub fn on_progress(mut self, progress: impl Fn(&JobProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(progress));
        self
    }

    /// Checks the inputs, sends the request and, if ModelsLab queues it, waits for the result.
    /// Holds one of the client's job slots from before the request until the result is ready.
    pub async fn send(self) -> CutoutResult<MaskResult> {
        let client = self.client;
        let wait = self.wait.clone();
        let on_progress = self.on_progress.clone();
        let checked = self.check()?;
        let _slot = client.context().job_slot().await;
        match checked.post().await? {
            MaskState::Done(result) => Ok(result),
            MaskState::Processing(processing) => {
                client
                    .wait_for_mask(&processing, &wait, |progress| {
                        if let Some(on_progress) = &on_progress {
                            on_progress(progress);
                        }
                    })
                    .await
            }
        }
    }

    /// Checks the inputs and sends the request, returning ModelsLab's first answer without
    /// waiting: the result, or a queued request to follow with [`Client::wait_for_mask`] (or
    /// [`Client::fetch`], or the webhook). Holds a job slot only while the request is sent.
    pub async fn submit(self) -> CutoutResult<MaskState> {
        let client = self.client;
        let checked = self.check()?;
        let _slot = client.context().job_slot().await;
        checked.post().await
    }

    /// Every local check; nothing is read beyond an image's header.
    pub(crate) fn check(self) -> CutoutResult<Checked<'a>> {
        check_range(
            "alpha_matting_foreground_threshold",
            self.foreground_threshold,
            MAX_FOREGROUND_THRESHOLD,
            "pixels brighter than it count as foreground",
        )?;
        check_range(
            "alpha_matting_background_threshold",
            self.background_threshold,
            MAX_BACKGROUND_THRESHOLD,
            "pixels darker than it count as background",
        )?;
        check_range(
            "alpha_matting_erode_size",
            self.erode_size,
            MAX_ERODE_SIZE,
            "the border is eroded by that many pixels",
        )?;
        let webhook = match &self.webhook {
            Some(url) => Some(check_http_url("webhook", url)?),
            None => None,
        };
        let image = match self.image {
            ImageSource::Url(url) => Image::Url(check_image_url(&url)?),
            ImageSource::Path(path) => {
                if !path.is_file() {
                    let what = if path.exists() {
                        "is not a file"
                    } else {
                        "does not exist"
                    };
                    return Err(CutoutError::invalid(
                        "image",
                        format!(
                            "`{}` {what}: pass the path of an image file",
                            path.display()
                        ),
                    ));
                }
                check_image(probe_file(&path)?, &path.display().to_string())?;
                Image::Local(ImageSource::Path(path))
            }
            ImageSource::Bytes { bytes, file_name } => {
                check_image(probe_bytes(&bytes), &file_name)?;
                Image::Local(ImageSource::Bytes { bytes, file_name })
            }
        };
        let body = types::builder::RemovebgMaskRequest::default()
            .alpha_matting(self.alpha_matting)
            .post_process_mask(self.post_process_mask)
            .only_mask(self.only_mask)
            .inverse_mask(self.inverse_mask)
            .base64(self.base64)
            .seed(self.seed)
            .alpha_matting_foreground_threshold(i64::from(
                self.foreground_threshold
                    .unwrap_or(MAX_FOREGROUND_THRESHOLD),
            ))
            .alpha_matting_background_threshold(i64::from(
                self.background_threshold
                    .unwrap_or(MAX_BACKGROUND_THRESHOLD),
            ))
            .alpha_matting_erode_size(i64::from(self.erode_size.unwrap_or(MAX_ERODE_SIZE)))
            .webhook(webhook)
            .track_id(self.track_id);
        Ok(Checked {
            client: self.client,
            image,
            body,
        })
    }
}

/// The image of a checked request.
enum Image {
    /// Sent as it is.
    Url(String),
    /// Read and sent as a data URI when the request is sent.
    Local(ImageSource),
}

/// A request that passed every local check.
pub(crate) struct Checked<'a> {
    client: &'a Client,
    image: Image,
    body: types::builder::RemovebgMaskRequest,
}

impl Checked<'_> {
    /// Builds the data URI of a local image (now, not while waiting for a job slot) and sends
    /// the request once (the client's retry policy applies).
    pub(crate) async fn post(self) -> CutoutResult<MaskState> {
        let Checked {
            client,
            image,
            body,
        } = self;
        let image = match image {
            Image::Url(url) => url,
            Image::Local(source) => {
                let bytes = source.read_all().await?.unwrap_or_default();
                let name = source.describe();
                drop(source);
                let format = check_image(probe_bytes(&bytes), &name)?;
                data_uri(format, bytes)?
            }
        };
        let operation = client.removebg_mask().body(body.image(image));
        let answer = client
            .context()
            .call("removebg_mask", operation.send())
            .await;
        match answer.map(|answer| answer.into_inner()) {
            Ok(types::RemovebgMaskResponse::ResultSuccess(done)) => {
                Ok(MaskState::Done(done.into()))
            }
            Ok(types::RemovebgMaskResponse::RemovebgMaskProcessing(queued)) => {
                let Some(id) = id_number(&queued.id) else {
                    return Err(no_id(Some(&queued.id), PROCESSING));
                };
                Ok(MaskState::Processing(Processing {
                    id,
                    status: PROCESSING.to_owned(),
                    eta: seconds(queued.eta),
                    message: queued.message,
                    tip: queued.tip,
                    future_links: queued.future_links.unwrap_or_default(),
                }))
            }
            Ok(types::RemovebgMaskResponse::ModelsLabError(error)) => Err(failed(None, &error)),
            Ok(types::RemovebgMaskResponse::OtherAnswer(other)) => {
                other_answer(other, None, "removebg_mask")
            }
            Err(error) => Err(error),
        }
    }
}

/// `data:<type>;base64,<data>`, built in one allocation of exactly its final size. Takes the
/// bytes by value so they are freed as soon as the text exists.
fn data_uri(format: ImageFormat, bytes: bytes::Bytes) -> CutoutResult<String> {
    let mime = format.mime_type();
    let Some(encoded) = base64::encoded_len(bytes.len(), true) else {
        return Err(CutoutError::invalid(
            "image",
            "the image is too large to send inline: pass a URL instead",
        ));
    };
    let mut uri = String::with_capacity("data:".len() + mime.len() + ";base64,".len() + encoded);
    uri.push_str("data:");
    uri.push_str(mime);
    uri.push_str(";base64,");
    STANDARD.encode_string(&bytes, &mut uri);
    drop(bytes);
    Ok(uri)
}

/// ModelsLab's first (or a fetch's) answer.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskState {
    /// The result is ready.
    Done(MaskResult),
    /// ModelsLab queued the request: fetch it again after its ETA.
    Processing(Processing),
}

/// A queued request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Processing {
    /// The request's id, for [`Client::fetch`].
    pub id: i64,
    /// ModelsLab's status word: `processing`, or a state this client does not know (say
    /// `queued`), which counts as still running.
    pub status: String,
    /// How long ModelsLab expects it to take from now.
    pub eta: Option<Duration>,
    /// ModelsLab's note about the request.
    pub message: Option<String>,
    /// ModelsLab's hint about the queue.
    pub tip: Option<String>,
    /// Links where the images will appear once ready.
    pub future_links: Vec<String>,
}

impl Processing {
    /// The state for the waiter.
    fn progress(&self) -> JobProgress {
        JobProgress::new(self.id.to_string(), self.status.as_str()).eta(self.eta)
    }
}

/// A finished background removal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MaskResult {
    /// ModelsLab's id of the request, when it gave one.
    pub id: Option<i64>,
    /// The images: links, or base64 text when `base64` was asked for.
    pub output: MaskOutput,
    /// The same images through ModelsLab's CDN.
    pub proxy_links: Vec<String>,
    /// How long the processing took.
    pub generation_time: Option<Duration>,
    /// The parameters the request ran with, as ModelsLab reports them (raw JSON values).
    pub meta: Option<types::Meta>,
}

impl From<types::ResultSuccess> for MaskResult {
    fn from(done: types::ResultSuccess) -> Self {
        Self {
            id: done.id.as_ref().and_then(id_number),
            output: MaskOutput::from_items(done.output),
            proxy_links: done.proxy_links.unwrap_or_default(),
            generation_time: seconds(done.generation_time),
            meta: done.meta,
        }
    }
}

impl MaskResult {
    /// Decodes base64 output (with or without a `data:…;base64,` prefix) into image bytes. An
    /// error when the output is links (download those instead) or not valid base64.
    pub fn decode_base64(&self) -> CutoutResult<Vec<Vec<u8>>> {
        let MaskOutput::Base64(items) = &self.output else {
            return Err(CutoutError::invalid(
                "output",
                "the result holds links, not base64 data: download them, or send the request \
                 with `.base64(true)`",
            ));
        };
        items
            .iter()
            .map(|item| {
                let data = match item.split_once(";base64,") {
                    Some((prefix, data)) if prefix.starts_with("data:") => data,
                    _ => item.as_str(),
                };
                STANDARD
                    .decode(data.trim())
                    .map_err(|e| CutoutError::UnexpectedResponse {
                        provider: PROVIDER.name,
                        operation: "removebg_mask",
                        status: Some(200),
                        message: format!("an output image is not valid base64: {e}"),
                        body: None,
                    })
            })
            .collect()
    }
}

/// The images of a result.
#[derive(Clone, PartialEq, Eq)]
pub enum MaskOutput {
    /// Links to the images.
    Urls(Vec<String>),
    /// The images as base64 text (possibly as `data:` URIs).
    Base64(Vec<String>),
}

impl fmt::Debug for MaskOutput {
    /// Base64 images are shown by length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskOutput::Urls(urls) => f.debug_tuple("Urls").field(urls).finish(),
            MaskOutput::Base64(items) => {
                let lengths: Vec<String> = items
                    .iter()
                    .map(|item| format!("<{} base64 chars>", item.len()))
                    .collect();
                f.debug_tuple("Base64").field(&lengths).finish()
            }
        }
    }
}

impl MaskOutput {
    /// Links when every item is an `http(s)` URL (an empty list counts as links), base64
    /// otherwise.
    fn from_items(items: Vec<String>) -> Self {
        if items
            .iter()
            .all(|item| item.starts_with("https://") || item.starts_with("http://"))
        {
            MaskOutput::Urls(items)
        } else {
            MaskOutput::Base64(items)
        }
    }

    /// The links; empty for base64 output.
    pub fn urls(&self) -> &[String] {
        match self {
            MaskOutput::Urls(urls) => urls,
            MaskOutput::Base64(_) => &[],
        }
    }

    /// How many images there are.
    pub fn len(&self) -> usize {
        match self {
            MaskOutput::Urls(items) | MaskOutput::Base64(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An id as a number: ModelsLab sends ids as numbers, and sometimes as numeric strings.
pub(crate) fn id_number(id: &types::FlexibleId) -> Option<i64> {
    match id {
        types::FlexibleId::Integer(id) => Some(*id),
        types::FlexibleId::String(id) => id.trim().parse().ok(),
    }
}

/// Seconds as a duration, when positive and finite.
fn seconds(value: Option<f64>) -> Option<Duration> {
    value
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// An `error` answer as an error.
fn failed(id: Option<i64>, error: &types::ModelsLabError) -> CutoutError {
    CutoutError::JobFailed {
        provider: PROVIDER.name,
        job_id: id.map_or_else(|| "(not queued)".to_owned(), |id| id.to_string()),
        status: "error".to_owned(),
        message: Some(
            error_message(error)
                .unwrap_or_else(|| "ModelsLab answered `error` without a message".to_owned()),
        ),
    }
}

fn no_id(id: Option<&types::FlexibleId>, status: &str) -> CutoutError {
    CutoutError::UnexpectedResponse {
        provider: PROVIDER.name,
        operation: "removebg_mask",
        status: Some(200),
        message: match id {
            Some(id) => format!(
                "the request was answered `{status}` under the id `{id}`, which is not a number"
            ),
            None => format!("the request was answered `{status}` without an id to fetch it with"),
        },
        body: None,
    }
}

/// The documented status of a queued request.
const PROCESSING: &str = "processing";

/// An answer that is none of the documented shapes ([`types::OtherAnswer`]): a status this
/// client does not know is a request still running (polled like `processing`, at its ETA if it
/// gives one); a documented status in a shape that does not match is reported as such. `id` is
/// the request's id when it is already known (a fetch).
fn other_answer(
    other: types::OtherAnswer,
    id: Option<i64>,
    operation: &'static str,
) -> CutoutResult<MaskState> {
    let status = other.status.trim();
    let message = either_spelling(&other.message, &other.messege);
    match status {
        "success" => Err(CutoutError::UnexpectedResponse {
            provider: PROVIDER.name,
            operation,
            status: Some(200),
            message: "ModelsLab answered `success` without the list of its `output` images"
                .to_owned(),
            body: None,
        }),
        // `failed` is how webhooks spell a failure.
        "error" | "failed" => Err(CutoutError::JobFailed {
            provider: PROVIDER.name,
            job_id: id.map_or_else(|| "(not queued)".to_owned(), |id| id.to_string()),
            status: status.to_owned(),
            message: Some(
                message
                    .unwrap_or_else(|| format!("ModelsLab answered `{status}` without a message")),
            ),
        }),
        _ => {
            let Some(id) = other.id.as_ref().and_then(id_number).or(id) else {
                return Err(no_id(other.id.as_ref(), status));
            };
            Ok(MaskState::Processing(Processing {
                id,
                status: status.to_owned(),
                eta: seconds(other.eta),
                message,
                tip: other.tip,
                future_links: Vec::new(),
            }))
        }
    }
}

fn check_range(field: &str, value: Option<u32>, max: u32, meaning: &str) -> CutoutResult<()> {
    match value {
        Some(value) if value > max => Err(CutoutError::invalid(
            field,
            format!("{value} is outside 0..={max}: pass 0 to {max} ({meaning}; default {max})"),
        )),
        _ => Ok(()),
    }
}

/// A local image must be one and state a possible size (ModelsLab documents no size limit).
fn check_image(info: Option<ImageInfo>, name: &str) -> CutoutResult<ImageFormat> {
    let info = info.ok_or_else(|| {
        CutoutError::invalid(
            "image",
            format!(
                "`{name}` is not an image (its header is not JPEG, PNG, WebP, TIFF, GIF or BMP): \
                 pass an image file, or the image's URL"
            ),
        )
    })?;
    info.check_dimensions("image", name, None)?;
    Ok(info.format)
}

/// An image given as text: an `http(s)` URL, or a ready-made `data:image/…;base64,` URI.
fn check_image_url(url: &str) -> CutoutResult<String> {
    let trimmed = url.trim();
    if trimmed.starts_with("data:image/") && trimmed.contains(";base64,") {
        return Ok(trimmed.to_owned());
    }
    check_http_url("image", trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_uri_is_one_exact_allocation() {
        for len in [0usize, 1, 2, 3, 4, 1000, 65_537] {
            let bytes = bytes::Bytes::from(vec![7u8; len]);
            let uri = data_uri(ImageFormat::Png, bytes).unwrap();
            assert_eq!(uri.capacity(), uri.len(), "len {len}");
            let data = uri.strip_prefix("data:image/png;base64,").unwrap();
            assert_eq!(STANDARD.decode(data).unwrap(), vec![7u8; len]);
        }
    }

    #[test]
    fn output_kinds() {
        let urls = MaskOutput::from_items(vec!["https://cdn.example.com/a.png".into()]);
        assert_eq!(urls.urls().len(), 1);
        let data = MaskOutput::from_items(vec!["iVBORw0KGgo=".into()]);
        assert!(data.urls().is_empty());
        assert_eq!(format!("{data:?}"), "Base64([\"<12 base64 chars>\"])");
    }
}

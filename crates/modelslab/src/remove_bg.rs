//! Background removal requests (`removebg_mask`): [`Client::remove_bg`] → [`RemoveBgRequest`],
//! checked locally, then [`run`](RemoveBgRequest::run) (send and wait for the result) or
//! [`submit`](RemoveBgRequest::submit) (send, and get a [`RemoveBgJob`] on the first answer).
//!
//! [`Client::remove_bg`] takes an image (a URL ModelsLab downloads itself, a local file or bytes
//! in memory) and returns a [`RemoveBgRequest`] with typed options; [`RemoveBgRequest::run`]
//! sends it and, when ModelsLab queues the request (`processing`), polls [`Client::fetch`] at the
//! announced ETA until the result is ready (see [`jobs`](crate::jobs)).
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
//! ModelsLab caps how many requests an account may have queued (5, 10 or 15 by plan). `run`
//! holds one of the client's job slots (see
//! [`ClientBuilder::max_concurrent_jobs`](crate::ClientBuilder::max_concurrent_jobs); 5 by
//! default) from before the request until the result is ready, so extra requests wait their turn
//! locally instead of being refused with HTTP 429.
//!
//! How ModelsLab's answers map to results and errors: see [`jobs`](crate::jobs).
//!
//! # Examples
//!
//! ```no_run
//! use modelslab::{Client, ImageSource, WaitPolicy};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let result = client
//!     .remove_bg(ImageSource::url("https://example.com/portrait.jpg"))
//!     .only_mask(true)
//!     .alpha_matting(true)
//!     .foreground_threshold(230)
//!     .wait(WaitPolicy::default())
//!     .on_progress(|p| eprintln!("{} (eta {:?})", p.status, p.eta))
//!     .run()
//!     .await?;
//! println!("mask at {:?}", result.output.urls().first());
//!
//! // A local file travels as a data URI; ask for base64 answers instead of links.
//! let result = client
//!     .remove_bg(ImageSource::path("portrait.png"))
//!     .base64(true)
//!     .run()
//!     .await?;
//! let images: Vec<Vec<u8>> = result.decode_base64()?;
//! # let _ = images;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cutout_runtime::JobProgress;
use cutout_runtime::probe::{ImageFormat, ImageInfo, probe_bytes, probe_file};
use cutout_runtime::validate::{display_url, http_url as check_http_url};

use crate::jobs::{
    MaskState, PROCESSING, Processing, RemoveBgJob, failed, id_number, no_id, other_answer, seconds,
};
use crate::result::MaskResult;
use crate::{Client, CutoutError, CutoutResult, ImageSource, WaitPolicy, types};

/// The largest `alpha_matting_foreground_threshold`.
pub const MAX_FOREGROUND_THRESHOLD: u32 = 240;
/// The largest `alpha_matting_background_threshold`.
pub const MAX_BACKGROUND_THRESHOLD: u32 = 20;
/// The largest `alpha_matting_erode_size`.
pub const MAX_ERODE_SIZE: u32 = 5;

/// Called with each state of a queued request while [`RemoveBgRequest::run`] waits.
type OnProgress = Arc<dyn Fn(&JobProgress) + Send + Sync>;

/// A background removal request being set up: made by [`Client::remove_bg`], sent
/// by [`run`](Self::run) (wait for the result) or [`submit`](Self::submit) (first answer only).
#[must_use = "nothing is sent until `run` or `submit` is awaited"]
pub struct RemoveBgRequest<'a> {
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

impl fmt::Debug for RemoveBgRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveBgRequest")
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
    /// [`RemoveBgRequest::run`] or [`RemoveBgRequest::submit`].
    pub fn remove_bg(&self, image: impl Into<ImageSource>) -> RemoveBgRequest<'_> {
        RemoveBgRequest {
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
}

impl<'a> RemoveBgRequest<'a> {
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

    /// How [`run`](Self::run) waits for a queued request (default [`WaitPolicy::default`]).
    pub fn wait(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// Called with each state of a queued request while [`run`](Self::run) waits.
    pub fn on_progress(mut self, progress: impl Fn(&JobProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(progress));
        self
    }

    /// Checks the inputs, sends the request and, if ModelsLab queues it, waits for the result.
    /// Holds one of the client's job slots from before the request until the result is ready.
    pub async fn run(self) -> CutoutResult<MaskResult> {
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

    /// Checks the inputs and sends the request, returning a [`RemoveBgJob`] on ModelsLab's
    /// first answer without waiting: already done, or queued (follow it with
    /// [`RemoveBgJob::wait`], [`Client::fetch`] or the webhook). Holds a job slot only while the
    /// request is sent.
    pub async fn submit(self) -> CutoutResult<RemoveBgJob> {
        let client = self.client;
        let checked = self.check()?;
        let _slot = client.context().job_slot().await;
        let state = checked.post().await?;
        Ok(RemoveBgJob::new(client.clone(), state))
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
        let image = checked_image(self.image)?;
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

/// The image as it will be sent: a URL or data URI as given (checked), or a local file or bytes
/// whose header says it is an image (read later, when the request is sent).
fn checked_image(image: ImageSource) -> CutoutResult<Image> {
    Ok(match image {
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
    })
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
}

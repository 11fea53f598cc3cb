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
//! URL, `image` an `http(s)` URL or `data:image/…` URI, or a local file / bytes no larger than
//! the inline limit (checked first, before the file is read) whose header is an image (JPEG,
//! PNG, WebP, TIFF, GIF or BMP).
//!
//! The inline limit is the client's own: ModelsLab documents none. It is
//! [`Limits::inline_image`] (64 MiB of image by default; raise it with
//! [`ClientBuilder::limits`](crate::ClientBuilder::limits)), or the provider's documented
//! `max_upload_bytes` if a later description gives one and it is smaller.
//!
//! # Local images travel inline, streamed
//!
//! ModelsLab takes no uploads: a local file or bytes are sent inside the JSON body as a data URI,
//! `data:<type>;base64,<data>`, with the type read from the image's header. That body is not
//! built in memory: it is the body the generated operation would send (the generated request
//! type serialized the same way, the key put in by the runtime, only towards the base URL),
//! split around the image's data. The part before the data (the key and the other fields) and
//! the part after it are sent as they are, and the data is read from the file and encoded in
//! chunks of 384 KiB (a multiple of 3, so that no chunk but the last is padded) as the request
//! goes out. The bytes on the wire are identical to the non-streamed body's, the
//! `Content-Length` is computed exactly beforehand (the request is not chunked), and memory stays
//! at a few chunks whatever the image's size.
//!
//! Such a request goes through the runtime like the generated uploads
//! ([`Context::execute_rebuilding`](cutout_runtime::Context::execute_rebuilding)): the file is
//! opened again for each attempt (this paid submission is resent only when ModelsLab surely did
//! not take it: 429, 503, or no connection), it gets the upload time limit, and the answer is
//! capped and read into [`types::RemovebgMaskResponse`] as the generated operation reads it.
//! Two differences follow from the body being streamed:
//!
//! - A file whose size differs from the one checked is refused before the request; one that
//!   changes while it is read breaks the request off before its body ends (never a body whose
//!   length differs from its `Content-Length`). Both are a [`CutoutError::InvalidInput`].
//! - A redirect is not followed (the body cannot be sent again, and the key it carries never
//!   leaves the API): it is an error naming where it pointed. Set the base URL to the API's
//!   current address.
//!
//! A URL (or a ready-made data URI) is sent through the generated operation as it is.
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

use cutout_runtime::probe::{ImageFormat, ImageInfo, probe_bytes, probe_file};
use cutout_runtime::validate::{display_url, http_url as check_http_url};
use cutout_runtime::{JobProgress, Limits};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};

use crate::inline::{Fault, InlineBody, Local};
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
    /// fetches, or a local file or bytes, sent inline as a data URI, streamed; see the
    /// [module docs](crate::remove_bg)). Nothing is sent until
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
        let image = checked_image(self.image, self.client.context().limits())?;
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
/// whose header says it is an image and whose size is within the inline limit (read later, when
/// the request is sent). The size is checked first, before the file is read at all.
fn checked_image(image: ImageSource, limits: &Limits) -> CutoutResult<Image> {
    let limit_size =
        |name: &str, size: u64| limits.check_inline_image(&crate::PROVIDER, name, size);
    Ok(match image {
        ImageSource::Url(url) => Image::Url(check_image_url(&url)?),
        ImageSource::Path(path) => {
            let name = path.display().to_string();
            let size = match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => metadata.len(),
                found => {
                    let what = match found {
                        Ok(_) => "is not a file".to_owned(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            "does not exist".to_owned()
                        }
                        Err(e) => format!("cannot be read ({e})"),
                    };
                    return Err(CutoutError::invalid(
                        "image",
                        format!("`{name}` {what}: pass the path of an image file"),
                    ));
                }
            };
            limit_size(&name, size)?;
            check_image(probe_file(&path)?, &name)?;
            Image::Local {
                image: Local::Path(path),
                name,
                size,
            }
        }
        ImageSource::Bytes { bytes, file_name } => {
            limit_size(&file_name, bytes.len() as u64)?;
            check_image(probe_bytes(&bytes), &file_name)?;
            Image::Local {
                size: bytes.len() as u64,
                image: Local::Bytes(bytes),
                name: file_name,
            }
        }
    })
}

/// The image of a checked request.
enum Image {
    /// Sent as it is.
    Url(String),
    /// Sent as a data URI, streamed from the file or bytes when the request is sent.
    Local {
        image: Local,
        /// Its name in messages.
        name: String,
        /// Its size when checked.
        size: u64,
    },
}

/// A request that passed every local check.
pub(crate) struct Checked<'a> {
    client: &'a Client,
    image: Image,
    body: types::builder::RemovebgMaskRequest,
}

/// The operation's id, as the generated client names it.
const OPERATION: &str = "removebg_mask";

impl Checked<'_> {
    /// Sends the request once (the client's retry policy applies): a URL image through the
    /// generated operation, a local image as a streamed body (see the module docs).
    pub(crate) async fn post(self) -> CutoutResult<MaskState> {
        let Checked {
            client,
            image,
            body,
        } = self;
        let answer = match image {
            Image::Url(url) => client
                .context()
                .call(
                    OPERATION,
                    client.removebg_mask().body(body.image(url)).send(),
                )
                .await?
                .into_inner(),
            Image::Local { image, name, size } => {
                post_inline(client, body, image, name, size).await?
            }
        };
        match answer {
            types::RemovebgMaskResponse::ResultSuccess(done) => Ok(MaskState::Done(done.into())),
            types::RemovebgMaskResponse::RemovebgMaskProcessing(queued) => {
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
            types::RemovebgMaskResponse::ModelsLabError(error) => Err(failed(None, &error)),
            types::RemovebgMaskResponse::OtherAnswer(other) => other_answer(other, None, OPERATION),
        }
    }
}

/// Sends `removebg_mask` with a local image, its JSON body streamed: the bytes the generated
/// operation would send for the same request (the same serialization of the generated type, the
/// key put in by the runtime's [`Context::authorize`](cutout_runtime::Context::authorize)), with
/// the image's base64 text encoded chunk by chunk as it goes out. The runtime sends it
/// ([`Context::execute_rebuilding`](cutout_runtime::Context::execute_rebuilding): the file is
/// opened again for each attempt, a paid submission is resent only when surely not taken, the
/// upload time limit and the answer size cap apply) and the answer is read into the generated
/// answer type as the generated operation reads it.
async fn post_inline(
    client: &Client,
    body: types::builder::RemovebgMaskRequest,
    image: Local,
    name: String,
    size: u64,
) -> CutoutResult<types::RemovebgMaskResponse> {
    let context = client.context();
    // The format is read again now: the file may have been replaced since it was checked.
    let format = match &image {
        Local::Path(path) => check_image(probe_file(path)?, &name)?,
        Local::Bytes(bytes) => check_image(probe_bytes(bytes), &name)?,
    };
    let url = reqwest::Url::parse(&format!("{}/image_editing/removebg_mask", client.baseurl))
        .map_err(|e| CutoutError::config(format!("the base URL makes no operation URL: {e}")))?;
    let render = |image: &str| -> CutoutResult<Vec<u8>> {
        let value = CutoutError::incomplete_request(types::RemovebgMaskRequest::try_from(
            body.clone().image(image.to_owned()),
        ))?;
        // As reqwest's `json` serializes the generated operation's body.
        let json = serde_json::to_vec(&value)
            .map_err(|e| CutoutError::invalid("request", format!("cannot encode it: {e}")))?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, url.clone());
        *request.body_mut() = Some(json.into());
        context
            .authorize(&client.baseurl, &mut request)
            .map_err(|message| CutoutError::invalid("request", message))?;
        Ok(request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default()
            .to_vec())
    };
    let header = format!("data:{};base64,", format.mime_type());
    let inline = InlineBody::new(render, &header, image, name, size)?;
    let length = inline.content_length()?;
    let fault = Fault::default();
    let (inline_ref, fault_ref, url_ref) = (&inline, &fault, &url);
    let send = async {
        let sent = context
            .execute_rebuilding(&client.baseurl, OPERATION, || async move {
                let body = inline_ref.open(fault_ref).await?;
                client
                    .client
                    .post(url_ref.clone())
                    .header(ACCEPT, HeaderValue::from_static("application/json"))
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    // Known in advance, so the body is not sent chunked.
                    .header(CONTENT_LENGTH, length)
                    .body(body)
                    .build()
                    .map_err(|e| CutoutError::config(format!("cannot build the request: {e}")))
            })
            .await;
        let response = match sent {
            Ok(response) => response.map_err(progenitor_client::Error::CommunicationError)?,
            Err(error) => {
                fault_ref.set(error);
                return Err(progenitor_client::Error::Custom(
                    "the request was not sent".to_owned(),
                ));
            }
        };
        read_answer(response, fault_ref).await
    };
    let answer = context.call(OPERATION, send).await;
    // A fault (the file changed, a redirect) explains a failed call only: if ModelsLab still
    // answered with a job, that job exists and is paid for, and saying otherwise could make the
    // caller submit (and pay) again.
    match answer {
        Ok(answer) => Ok(answer.into_inner()),
        Err(error) => Err(fault.take().unwrap_or(error)),
    }
}

/// Reads `removebg_mask`'s answer as the generated operation does: 200 as the answer type, the
/// error statuses the API description lists as ModelsLab's error body, any other status as
/// unexpected. A redirect is an error: the body was streamed, so it cannot be sent again to the
/// new address (and it carries the key, which never follows a redirect off the API).
async fn read_answer(
    response: reqwest::Response,
    fault: &Fault,
) -> Result<
    progenitor_client::ResponseValue<types::RemovebgMaskResponse>,
    progenitor_client::Error<types::ModelsLabError>,
> {
    use progenitor_client::Error;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map_or_else(|| "nowhere".to_owned(), display_url);
        fault.set(
            CutoutError::unexpected(
                crate::PROVIDER.name,
                OPERATION,
                format!(
                    "the API answered with a redirect to `{location}`; a request with an \
                     inline image is sent only to the address it was made for, not resent \
                     elsewhere: set the base URL to the API's current address"
                ),
            )
            .with_status(status.as_u16()),
        );
        return Err(Error::UnexpectedResponse(response));
    }
    match status.as_u16() {
        200 => cutout_runtime::decode::from_response(response).await,
        400 | 401 | 402 | 403 | 429 | 500 | 503 => Err(Error::ErrorResponse(
            cutout_runtime::decode::from_response(response).await?,
        )),
        _ => Err(Error::UnexpectedResponse(response)),
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

/// A local image must be one and state a possible size (ModelsLab documents no limit on its
/// dimensions; the client's limit on its bytes is checked before, in `checked_image`).
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

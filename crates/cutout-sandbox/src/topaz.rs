//! The Topaz Labs Image API simulator (matting jobs), under `/image/v1`.
//!
//! A job is computed when it is submitted (so a bad image fails at once with 415/422, as the
//! real API does) but is only revealed on the sandbox clock: `Pending` for the first fifth of
//! the job duration, then `Processing` with a rising `progress`, then `Completed`. Inputs and
//! outputs are served by the file host through presigned links valid for one hour; both are kept
//! seven days. Webhooks go out on every status change (see [`crate::webhooks`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use bytes::Bytes;
use image::ImageFormat;
use serde_json::json;
use topaz_image::types::{
    ApiError, AsyncResponse, DeleteAllResponse, DownloadResponse, EstimateResponse, JobStatus,
    Pagination, StatusPage, StatusResponse,
};

use crate::auth::{self, Credential};
use crate::clock::SimTime;
use crate::files::{Access, Blob};
use crate::imaging::{self, DecodeError, OutFormat};
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::{
    Answer, BodyError, Rejection, blocking, built, lock, multipart_parts, parse_query, query_value,
    read_body,
};
use crate::webhooks::Retry;

/// Where the API is mounted on its port.
pub(crate) const BASE_PATH: &str = "/image/v1";

/// Presigned download links last one hour.
const LINK_TTL: i64 = 3600;
/// Inputs and outputs are kept seven days.
const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Share of a job's duration spent `Pending` before it starts `Processing`.
const PENDING_SHARE: f64 = 0.2;
/// `limit` of `GET /status`.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// Whether a request is the paid, job-creating `POST /matting/async`.
pub(crate) fn is_submission(method: &Method, path: &str) -> bool {
    method == Method::POST && path == format!("{BASE_PATH}/matting/async")
}

/// An error answer in Topaz's shape: `{code, message}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = built(ApiError::try_from(
        ApiError::builder()
            .code(Some(i64::from(status.as_u16())))
            .message(Some(message.into())),
    ));
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Rejection {
    Rejection::bad_request(message)
}

/// The matting model of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Object,
    RemoveBg,
}

impl Model {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "Object" => Some(Model::Object),
            "RemoveBG" => Some(Model::RemoveBg),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Model::Object => "Object",
            Model::RemoveBg => "RemoveBG",
        }
    }
}

/// What a job returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The mask of the subject, as a grayscale PNG.
    Alpha,
    /// The cut-out subject, as an RGBA PNG.
    Segmentation,
}

/// A source image, reusable through `source_id`.
#[derive(Clone, Debug)]
struct Source {
    bytes: Bytes,
    filename: String,
    expires: SimTime,
}

#[derive(Clone, Debug)]
struct Job {
    process_id: String,
    source_id: String,
    filename: String,
    input_format: ImageFormat,
    width: u32,
    height: u32,
    model: Model,
    mode: Mode,
    settings: BTreeMap<String, String>,
    credits: i64,
    created: SimTime,
    duration: Duration,
    cancelled_at: Option<SimTime>,
    webhook_url: Option<String>,
    /// The last status a webhook was queued for.
    notified: Option<JobStatus>,
}

impl Job {
    fn input_path(&self) -> String {
        format!(
            "topaz/{}/input.{}",
            self.process_id,
            imaging::format_name(self.input_format)
        )
    }

    fn output_path(&self) -> String {
        format!("topaz/{}/output.png", self.process_id)
    }

    fn pending_until(&self) -> SimTime {
        self.created + self.duration.mul_f64(PENDING_SHARE)
    }

    fn done_at(&self) -> SimTime {
        self.created + self.duration
    }

    /// Status, progress and last modification at `now`.
    fn phase(&self, now: SimTime) -> (JobStatus, i64, SimTime) {
        if let Some(cancelled) = self.cancelled_at {
            return (JobStatus::Cancelled, self.progress(cancelled), cancelled);
        }
        if now >= self.done_at() {
            (JobStatus::Completed, 100, self.done_at())
        } else if now < self.pending_until() {
            (JobStatus::Pending, 0, self.created)
        } else {
            (
                JobStatus::Processing,
                self.progress(now),
                self.pending_until(),
            )
        }
    }

    fn progress(&self, now: SimTime) -> i64 {
        let total = self.done_at().since(self.pending_until()).as_secs_f64();
        if now < self.pending_until() || total <= 0.0 {
            return 0;
        }
        let done = now.since(self.pending_until()).as_secs_f64() / total;
        // Completed is the only state at 100.
        ((done * 100.0).floor() as i64).clamp(0, 99)
    }

    fn running(&self, now: SimTime) -> bool {
        matches!(
            self.phase(now).0,
            JobStatus::Pending | JobStatus::Processing
        )
    }
}

#[derive(Debug, Default)]
struct Jobs {
    /// In creation order.
    jobs: Vec<Job>,
    sources: HashMap<String, Source>,
}

impl Jobs {
    fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.process_id == id)
    }
}

/// The simulator.
#[derive(Debug)]
pub(crate) struct Topaz {
    shared: Arc<Shared>,
    state: Mutex<Jobs>,
}

/// Credits of a job by output megapixels (Background Removal pricing: up to 24 MP → 1,
/// up to 40 → 2, up to 64 → 3, up to 100 → 5; beyond that, 5 per started 100 MP).
fn credits_for(width: u32, height: u32) -> i64 {
    let mp = f64::from(width) * f64::from(height) / 1_000_000.0;
    if mp <= 24.0 {
        1
    } else if mp <= 40.0 {
        2
    } else if mp <= 64.0 {
        3
    } else if mp <= 100.0 {
        5
    } else {
        5 * (mp / 100.0).ceil() as i64
    }
}

impl Topaz {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            state: Mutex::default(),
        }
    }

    fn status_of(&self, job: &Job, now: SimTime) -> StatusResponse {
        let clock = &self.shared.clock;
        let (status, progress, modified) = job.phase(now);
        let mut options = serde_json::Map::new();
        options.insert(
            "mode".into(),
            json!(match job.mode {
                Mode::Alpha => "alpha",
                Mode::Segmentation => "segmentation",
            }),
        );
        for (k, v) in &job.settings {
            options.insert(k.clone(), json!(v));
        }
        // The simulator answers with every documented field, as Topaz documents them.
        built(StatusResponse::try_from(
            StatusResponse::builder()
                .category(Some("Matting".into()))
                .creation_time(Some(clock.unix_secs(job.created)))
                .credits(Some(job.credits))
                .crop_to_fill(Some(false))
                .eta(Some(clock.unix_secs_ceil(job.done_at())))
                .face_enhancement(None)
                .face_enhancement_creativity(None)
                .face_enhancement_strength(None)
                .filename(Some(job.filename.clone()))
                .input_format(Some(imaging::format_name(job.input_format).into()))
                .input_height(Some(i64::from(job.height)))
                .input_width(Some(i64::from(job.width)))
                .model(Some(job.model.name().into()))
                .model_type(Some("matting".into()))
                .modification_time(Some(clock.unix_secs(modified)))
                .options_json(Some(serde_json::Value::Object(options).to_string()))
                .output_format(Some("png".into()))
                .output_height(Some(i64::from(job.height)))
                .output_width(Some(i64::from(job.width)))
                .process_id(job.process_id.clone())
                .progress(Some(progress))
                .source_id(Some(job.source_id.clone()))
                .status(status)
                .subject_detection(None),
        ))
    }

    /// Presigned GET and HEAD links for `path`, valid one hour from `now`.
    fn links(&self, path: &str, now: SimTime) -> DownloadResponse {
        let expiry = self.shared.clock.unix_secs(now) + LINK_TTL;
        built(DownloadResponse::try_from(
            DownloadResponse::builder()
                .download_url(self.shared.files.presign(path, &Method::GET, expiry))
                .head_url(Some(self.shared.files.presign(path, &Method::HEAD, expiry)))
                .expiry(Some(expiry)),
        ))
    }

    /// The webhook body for `job` reaching `status` at `at`.
    fn notification(
        &self,
        job: &Job,
        status: JobStatus,
        at: SimTime,
        now: SimTime,
    ) -> serde_json::Value {
        let clock = &self.shared.clock;
        let input = self.links(&job.input_path(), now);
        let progress = match status {
            JobStatus::Completed => 100,
            JobStatus::Cancelled => job.progress(at),
            _ => 0,
        };
        let mut body = json!({
            "notification_id": self.shared.ulid(at),
            "process_id": job.process_id,
            "status": status.to_string(),
            "creation_time": clock.unix_secs(job.created),
            "modification_time": clock.unix_secs(at),
            "progress": progress,
            "input_download_url": input.download_url,
            "input_head_url": input.head_url,
        });
        if status == JobStatus::Completed {
            let output = self.links(&job.output_path(), now);
            body["download_url"] = json!(output.download_url);
            body["head_url"] = json!(output.head_url);
        }
        body
    }

    fn notify(&self, job: &Job, status: JobStatus, at: SimTime, now: SimTime) {
        if let Some(url) = &job.webhook_url {
            let payload = self.notification(job, status, at, now);
            self.shared
                .webhooks
                .enqueue(Provider::Topaz, url, payload, Retry::Backoff, now);
        }
    }

    /// Queues the webhooks of every status change of `job` not notified yet, in order.
    fn catch_up(&self, job: &mut Job, now: SimTime) {
        if job.webhook_url.is_none() {
            return;
        }
        let rank = |s: &JobStatus| match s {
            JobStatus::Pending => 1,
            JobStatus::Processing => 2,
            _ => 3,
        };
        let (current, _, modified) = job.phase(now);
        let mut steps = Vec::new();
        let processing_reached = match &current {
            JobStatus::Pending => false,
            JobStatus::Cancelled => job.cancelled_at.is_some_and(|c| c >= job.pending_until()),
            _ => true,
        };
        if processing_reached {
            steps.push((JobStatus::Processing, job.pending_until()));
        }
        if rank(&current) == 3 {
            steps.push((current, modified));
        }
        for (status, at) in steps {
            if job
                .notified
                .as_ref()
                .is_none_or(|n| rank(n) < rank(&status))
            {
                self.notify(job, status.clone(), at, now);
                job.notified = Some(status);
            }
        }
    }

    /// Queues webhooks for every status change since the last tick.
    pub(crate) fn tick(&self, now: SimTime) {
        let mut state = lock(&self.state);
        for job in state.jobs.iter_mut() {
            self.catch_up(job, now);
        }
    }
}

/// The simulator's router.
pub(crate) fn router(app: Arc<Topaz>) -> Router {
    let p = |path: &str| format!("{BASE_PATH}{path}");
    Router::new()
        .route(&p("/matting/async"), post(submit))
        .route(&p("/status"), get(list).delete(delete_all))
        .route(&p("/status/{process_id}"), get(status).delete(delete_one))
        .route(&p("/download/{process_id}"), get(download_output))
        .route(&p("/download/input/{process_id}"), get(download_input))
        .route(&p("/cancel/{process_id}"), delete(cancel))
        .route(&p("/estimate"), post(estimate))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_key))
        .method_not_allowed_fallback(|| async {
            Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .fallback(|| async { Rejection::new(StatusCode::NOT_FOUND, "not found") })
        .with_state(app)
}

async fn require_key(State(app): State<Arc<Topaz>>, request: Request, next: Next) -> Response {
    let credential = auth::header_key(
        request.headers(),
        "x-api-key",
        app.shared.key(Provider::Topaz),
    );
    match credential.rejection() {
        None => next.run(request).await,
        Some((status, message)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
            let message = if credential == Credential::Missing {
                format!("{message}: send it in the X-API-Key header")
            } else {
                message.to_owned()
            };
            error(status, message)
        }
    }
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, Rejection> {
    path.map(|Path(id)| id)
        .map_err(|_| Rejection::new(StatusCode::NOT_FOUND, "no such process"))
}

/// The fields of a submission form.
#[derive(Debug, Default)]
struct Form {
    image: Option<(Bytes, String)>,
    source_url: Option<String>,
    source_id: Option<String>,
    model: Option<String>,
    mode: Option<String>,
    output_format: Option<String>,
    webhook_url: Option<String>,
    settings: BTreeMap<String, String>,
}

async fn read_form(headers: &HeaderMap, body: Bytes) -> Result<Form, Rejection> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut form = Form::default();
    for part in multipart_parts(content_type, body).await? {
        if part.name == "image" {
            let filename = part.file_name.clone().unwrap_or_else(|| "image".into());
            form.image = Some((part.bytes, filename));
            continue;
        }
        let value = part.text()?;
        match part.name.as_str() {
            "source_url" => form.source_url = Some(value),
            "source_id" => form.source_id = Some(value),
            "model" => form.model = Some(value),
            "mode" => form.mode = Some(value),
            "output_format" => form.output_format = Some(value),
            "webhook_url" => form.webhook_url = Some(value),
            _ => {
                form.settings.insert(part.name, value);
            }
        }
    }
    Ok(form)
}

/// The input of a submission, resolved.
struct Input {
    bytes: Bytes,
    filename: String,
    /// Set when the input is an existing source.
    source_id: Option<String>,
}

fn resolve_input(app: &Topaz, form: &mut Form, now: SimTime) -> Result<Input, Rejection> {
    if let Some((bytes, filename)) = form.image.take() {
        if bytes.is_empty() {
            return Err(Rejection::bad_request("the image part is empty"));
        }
        return Ok(Input {
            bytes,
            filename,
            source_id: None,
        });
    }
    if let Some(id) = form.source_id.as_deref().filter(|s| !s.is_empty()) {
        let state = lock(&app.state);
        return match state.sources.get(id).filter(|s| now < s.expires) {
            Some(source) => Ok(Input {
                bytes: source.bytes.clone(),
                filename: source.filename.clone(),
                source_id: Some(id.to_owned()),
            }),
            None => Err(Rejection::bad_request(format!("unknown source_id `{id}`"))),
        };
    }
    if let Some(url) = form.source_url.as_deref().filter(|s| !s.is_empty()) {
        let now_unix = app.shared.clock.unix_secs(now);
        let blob = app
            .shared
            .files
            .fetch(url, now, now_unix)
            .map_err(|e| Rejection::bad_request(format!("could not fetch source_url: {e}")))?;
        let filename = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("image")
            .to_owned();
        return Ok(Input {
            bytes: blob.bytes,
            filename,
            source_id: None,
        });
    }
    Err(Rejection::bad_request(
        "one of `image`, `source_url` or `source_id` is required",
    ))
}

/// What a submission asks for, besides its input.
struct Options {
    model: Model,
    mode: Mode,
    webhook_url: Option<String>,
}

impl Options {
    fn parse(form: &Form) -> Result<Self, Rejection> {
        let model = match form.model.as_deref() {
            None | Some("") => Model::Object,
            Some(text) => Model::parse(text).ok_or_else(|| {
                bad_request(format!(
                    "unknown model `{text}` (expected Object or RemoveBG)"
                ))
            })?,
        };
        let mode = match form.mode.as_deref() {
            None | Some("" | "segmentation") => Mode::Segmentation,
            Some("alpha") => Mode::Alpha,
            Some(other) => {
                return Err(bad_request(format!(
                    "unknown mode `{other}` (expected alpha or segmentation)"
                )));
            }
        };
        if let Some(format) = form
            .output_format
            .as_deref()
            .filter(|f| !f.is_empty() && *f != "png")
        {
            return Err(bad_request(format!(
                "unsupported output_format `{format}` (expected png)"
            )));
        }
        let webhook_url = form.webhook_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &webhook_url
            && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(bad_request(format!(
                "webhook_url `{url}` is not an http(s) URL"
            )));
        }
        Ok(Self {
            model,
            mode,
            webhook_url,
        })
    }
}

/// Reads the multipart body within the upload cap (413 above it, as Topaz documents).
async fn read_submission(app: &Topaz, headers: &HeaderMap, body: Body) -> Result<Form, Rejection> {
    let limit = app.shared.config.max_upload_bytes;
    let body = read_body(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request is larger than {limit} bytes"),
        ),
        BodyError::Io(e) => bad_request(format!("could not read the request: {e}")),
    })?;
    read_form(headers, body).await
}

/// Decodes the input as Topaz answers: 413 over the pixel budget, 422 when the data is broken,
/// 415 for any format but JPEG, PNG and TIFF.
async fn decode_input(app: &Topaz, bytes: Bytes) -> Result<imaging::Decoded, Rejection> {
    const FORMATS: &str = "supported formats are jpeg, png and tiff";
    let budget = app.shared.config.max_pixels;
    let decoded = blocking(move || imaging::decode(&bytes, budget))
        .await
        .map_err(Rejection::internal)?
        .map_err(|e| match e {
            DecodeError::Corrupt(_) => {
                Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            DecodeError::TooManyPixels { .. } => {
                Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            _ => Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{e}; {FORMATS}"),
            ),
        })?;
    if !matches!(
        decoded.format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Tiff
    ) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the {} image format is not supported; {FORMATS}",
                imaging::format_name(decoded.format)
            ),
        ));
    }
    Ok(decoded)
}

/// The model: the cut-out (segmentation) or the mask (alpha), as PNG.
fn matte(image: &image::DynamicImage, model: Model, mode: Mode) -> Result<Vec<u8>, String> {
    let params = match model {
        Model::Object => imaging::OBJECT,
        Model::RemoveBg => imaging::REMOVE_BG,
    };
    let rgb = image.to_rgb8();
    let alpha = imaging::background_alpha(&rgb, params);
    let result = match mode {
        Mode::Alpha => image::DynamicImage::ImageLuma8(alpha),
        Mode::Segmentation => image::DynamicImage::ImageRgba8(imaging::cutout(&rgb, &alpha)),
    };
    imaging::encode(&result, OutFormat::Png, 100)
}

async fn submit(State(app): State<Arc<Topaz>>, headers: HeaderMap, body: Body) -> Answer {
    let shared = &app.shared;
    let mut form = read_submission(&app, &headers, body).await?;
    let options = Options::parse(&form)?;
    let now = shared.now();
    let input = resolve_input(&app, &mut form, now)?;
    let decoded = decode_input(&app, input.bytes.clone()).await?;
    let (width, height) = (decoded.image.width(), decoded.image.height());
    let cost = credits_for(width, height);
    if !shared.try_charge(Provider::Topaz, cost) {
        return Err(Rejection::new(
            StatusCode::PAYMENT_REQUIRED,
            format!("not enough credits: this job needs {cost}"),
        ));
    }
    let (model, mode) = (options.model, options.mode);
    let image = decoded.image;
    let output = blocking(move || matte(&image, model, mode))
        .await
        .and_then(|r| r)
        .map_err(|e| {
            shared.refund(Provider::Topaz, cost);
            Rejection::internal(e)
        })?;
    let job = Job {
        process_id: shared.uuid(),
        source_id: input.source_id.clone().unwrap_or_else(|| shared.uuid()),
        filename: input.filename.clone(),
        input_format: decoded.format,
        width,
        height,
        model,
        mode,
        settings: form.settings,
        credits: cost,
        created: now,
        duration: shared.config.job_duration,
        cancelled_at: None,
        webhook_url: options.webhook_url,
        notified: None,
    };
    let (process_id, source_id) = (job.process_id.clone(), job.source_id.clone());
    let eta = app.start(job, input, output, now);
    let headers = [
        ("x-process-id", process_id.clone()),
        ("x-source-id", source_id.clone()),
        ("x-eta", eta.to_string()),
    ];
    let body = built(AsyncResponse::try_from(
        AsyncResponse::builder()
            .eta(Some(eta))
            .process_id(process_id)
            .source_id(Some(source_id)),
    ));
    Ok((StatusCode::OK, headers, axum::Json(body)).into_response())
}

impl Topaz {
    /// Stores the input and the output (revealed when the job completes), remembers a new
    /// source, queues the job and sends its first webhook. Returns the job's ETA (Unix seconds).
    fn start(&self, mut job: Job, input: Input, output: Vec<u8>, now: SimTime) -> i64 {
        let shared = &self.shared;
        let expires = now + RETENTION;
        let mime = job.input_format.to_mime_type();
        shared.files.put(
            &job.input_path(),
            Blob::new(input.bytes.clone(), mime, Access::Signed).expires_at(expires),
        );
        shared.files.put(
            &job.output_path(),
            Blob::new(output, "image/png", Access::Signed)
                .available_at(job.done_at())
                .expires_at(expires),
        );
        let eta = shared.clock.unix_secs_ceil(job.done_at());
        {
            let mut state = lock(&self.state);
            if input.source_id.is_none() {
                let source = Source {
                    bytes: input.bytes,
                    filename: input.filename,
                    expires,
                };
                state.sources.insert(job.source_id.clone(), source);
            }
            self.notify(&job, JobStatus::Pending, now, now);
            if job.webhook_url.is_some() {
                job.notified = Some(JobStatus::Pending);
            }
            state.jobs.push(job);
        }
        shared.record_submission(Provider::Topaz);
        shared.wake.notify_one();
        eta
    }
}

async fn status(State(app): State<Arc<Topaz>>, id: Result<Path<String>, PathRejection>) -> Answer {
    let id = path_id(id)?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(bad_request(format!(
            "`{id}` is not a valid process_id (a UUID)"
        )));
    }
    let now = app.shared.now();
    let state = lock(&app.state);
    let job = state.job(&id).ok_or_else(|| no_process(&id))?;
    Ok(axum::Json(app.status_of(job, now)).into_response())
}

fn no_process(id: &str) -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, format!("no process `{id}`"))
}

/// Cursors are opaque to clients; here they encode the offset of the next page.
fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

/// The query of `GET /status`: whether to page, the page size and where to start.
fn list_query(query: Option<&str>) -> Result<(bool, usize, usize), Rejection> {
    let pairs = parse_query(query).ok_or_else(|| bad_request("malformed query string"))?;
    let paginated = match query_value(&pairs, "paginated") {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "`paginated` must be true or false, not `{other}`"
            )));
        }
    };
    let limit = match query_value(&pairs, "limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                bad_request(format!(
                    "`limit` must be an integer from 1 to {MAX_PAGE}, not `{text}`"
                ))
            })?,
    };
    let offset = match query_value(&pairs, "cursor") {
        None | Some("") => 0,
        Some(cursor) => decode_cursor(cursor)
            .ok_or_else(|| bad_request(format!("invalid cursor `{cursor}`")))?,
    };
    Ok((paginated, limit, offset))
}

async fn list(State(app): State<Arc<Topaz>>, RawQuery(query): RawQuery) -> Answer {
    let (paginated, limit, offset) = list_query(query.as_deref())?;
    let now = app.shared.now();
    let state = lock(&app.state);
    let all: Vec<StatusResponse> = state.jobs.iter().map(|j| app.status_of(j, now)).collect();
    if !paginated {
        return Ok(axum::Json(all).into_response());
    }
    let end = offset.saturating_add(limit).min(all.len());
    let data = all.get(offset.min(end)..end).unwrap_or_default().to_vec();
    let has_next_page = end < all.len();
    let page = built(StatusPage::try_from(
        StatusPage::builder().data(data).pagination(
            Pagination::builder()
                .has_next_page(has_next_page)
                .next_cursor(has_next_page.then(|| encode_cursor(end))),
        ),
    ));
    Ok(axum::Json(page).into_response())
}

async fn delete_one(
    State(app): State<Arc<Topaz>>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_id(id)?;
    let now = app.shared.now();
    let mut state = lock(&app.state);
    let index = state
        .jobs
        .iter()
        .position(|j| j.process_id == id)
        .ok_or_else(|| no_process(&id))?;
    if state.jobs[index].running(now) {
        return Err(Rejection::new(
            StatusCode::CONFLICT,
            "the job is still running; cancel it first",
        ));
    }
    let job = state.jobs.remove(index);
    app.shared.files.remove(&job.input_path());
    app.shared.files.remove(&job.output_path());
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_all(State(app): State<Arc<Topaz>>) -> Answer {
    let now = app.shared.now();
    let mut state = lock(&app.state);
    // Running jobs cannot be deleted (as with DELETE /status/{id}); they are kept.
    let (running, done): (Vec<Job>, Vec<Job>) = std::mem::take(&mut state.jobs)
        .into_iter()
        .partition(|j| j.running(now));
    state.jobs = running;
    for job in &done {
        app.shared.files.remove(&job.input_path());
        app.shared.files.remove(&job.output_path());
    }
    let body = built(DeleteAllResponse::try_from(
        DeleteAllResponse::builder().deleted_count(Some(done.len() as u64)),
    ));
    Ok(axum::Json(body).into_response())
}

async fn download_output(
    State(app): State<Arc<Topaz>>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_id(id)?;
    let now = app.shared.now();
    let state = lock(&app.state);
    let job = state.job(&id).ok_or_else(|| no_process(&id))?;
    let (status, _, _) = job.phase(now);
    if status != JobStatus::Completed {
        return Err(Rejection::new(
            StatusCode::CONFLICT,
            format!("the output is not ready: the job is {status}"),
        ));
    }
    if now >= job.created + RETENTION {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "the output has expired (kept 7 days)",
        ));
    }
    Ok(axum::Json(app.links(&job.output_path(), now)).into_response())
}

async fn download_input(
    State(app): State<Arc<Topaz>>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = path_id(id)?;
    let now = app.shared.now();
    let state = lock(&app.state);
    let job = state.job(&id).ok_or_else(|| no_process(&id))?;
    if now >= job.created + RETENTION {
        return Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "the input has expired (kept 7 days)",
        ));
    }
    Ok(axum::Json(app.links(&job.input_path(), now)).into_response())
}

async fn cancel(State(app): State<Arc<Topaz>>, id: Result<Path<String>, PathRejection>) -> Answer {
    let id = path_id(id)?;
    let now = app.shared.now();
    let mut state = lock(&app.state);
    let job = state
        .jobs
        .iter_mut()
        .find(|j| j.process_id == id)
        .ok_or_else(|| no_process(&id))?;
    let (status, _, _) = job.phase(now);
    if !matches!(status, JobStatus::Pending | JobStatus::Processing) {
        return Err(Rejection::new(
            StatusCode::CONFLICT,
            format!("the job can no longer be cancelled: it is {status}"),
        ));
    }
    job.cancelled_at = Some(now);
    app.shared.files.remove(&job.output_path());
    app.catch_up(job, now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn estimate(State(app): State<Arc<Topaz>>, body: Body) -> Answer {
    let body = read_body(body, 1 << 20)
        .await
        .map_err(|_| bad_request("could not read the request body"))?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("the body is not valid JSON: {e}")))?;
    match value.get("category").and_then(|v| v.as_str()) {
        Some("Matting") => {}
        Some(other) => return Err(bad_request(format!("unsupported category `{other}`"))),
        None => return Err(bad_request("`category` is required")),
    }
    match value.get("model").and_then(|v| v.as_str()) {
        Some(m) if Model::parse(m).is_some() => {}
        Some(other) => return Err(bad_request(format!("unknown model `{other}`"))),
        None => return Err(bad_request("`model` is required")),
    }
    let dimension = |name: &str| -> Result<u32, Rejection> {
        match value.get(name).and_then(|v| v.as_i64()) {
            Some(n) if (1..=32000).contains(&n) => Ok(n as u32),
            Some(n) => Err(bad_request(format!(
                "`{name}` must be from 1 to 32000, not {n}"
            ))),
            None => Err(bad_request(format!(
                "`{name}` is required and must be an integer"
            ))),
        }
    };
    let (height, width) = (dimension("input_height")?, dimension("input_width")?);
    let duration = app.shared.config.job_duration.as_secs_f64().ceil() as i64;
    let body = built(EstimateResponse::try_from(
        EstimateResponse::builder()
            .credits(credits_for(width, height))
            .duration(duration),
    ));
    Ok(axum::Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_table() {
        assert_eq!(credits_for(64, 48), 1);
        assert_eq!(credits_for(6000, 4000), 1);
        assert_eq!(credits_for(8000, 4000), 2);
        assert_eq!(credits_for(8000, 6000), 3);
        assert_eq!(credits_for(10000, 10000), 5);
        assert_eq!(credits_for(20000, 10000), 10);
    }

    #[test]
    fn cursor_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(150)), Some(150));
        assert_eq!(decode_cursor("nope"), None);
    }
}

//! The ModelsLab API v6 simulator (`image_editing/removebg_mask` and `fetch`), under `/api/v6`.
//!
//! The key travels in the JSON body. Answers of the API proper use HTTP 200 with a `status` of
//! `success`, `processing` or `error`; validation problems (ranges, an unreachable image) are
//! `error` answers, while a body that is not JSON (or has wrongly typed fields) is a 400.
//!
//! Every job takes the configured job duration on the sandbox clock: with a duration of zero
//! the answer is `success` at once, otherwise `processing` (with `eta`, `fetch_result`, `id` and
//! `future_links`, which 404 until the job is done) and `fetch/{id}` answers `processing` (with
//! `output` as an empty string) until then. More jobs running at once than the queue cap gives
//! HTTP 429 with `retry_after`. Webhooks are sent once, best effort, to loopback receivers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::modelslab::types::{
    FetchProcessing, FetchProcessingStatus, FlexibleId, Meta, ModelsLabError, ModelsLabErrorStatus,
    RemovebgMaskProcessing, RemovebgMaskProcessingStatus, ResultSuccess, ResultSuccessStatus,
    WebhookSuccess, WebhookSuccessStatus,
};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use image::DynamicImage;
use serde_json::{Map, Value, json};

use crate::auth;
use crate::clock::SimTime;
use crate::files::{Access, Blob};
use crate::imaging::{self, OutFormat};
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::{Answer, BodyError, Rejection, blocking, built, lock, read_body};
use crate::webhooks::Retry;

/// Where the API is mounted on its port.
pub(crate) const BASE_PATH: &str = "/api/v6";

/// Ids of this sandbox's requests start here (real ids are large integers too).
const FIRST_ID: i64 = 90_000;

/// Whether a request is the paid `removebg_mask`.
pub(crate) fn is_submission(method: &Method, path: &str) -> bool {
    method == Method::POST && path == format!("{BASE_PATH}/image_editing/removebg_mask")
}

/// An error in ModelsLab's shape, `{status: "error", message}`, with `retry_after` in the body
/// when given (the 429 of a full queue). HTTP 200 is the `error` answer of the API proper.
pub(crate) fn error(
    status: StatusCode,
    message: impl Into<String>,
    retry_after: Option<u64>,
) -> Response {
    let body = built(ModelsLabError::try_from(
        ModelsLabError::builder()
            .message(Some(serde_json::Value::String(message.into())))
            .messege(None)
            .retry_after(retry_after.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
            .status(Some(ModelsLabErrorStatus::Error)),
    ));
    (status, axum::Json(body)).into_response()
}

#[derive(Clone, Debug)]
struct Job {
    id: i64,
    done_at: SimTime,
    /// Result links, or base64 data when `base64` was asked for.
    output: Vec<String>,
    /// Links of the result files (also while processing: they 404 until done).
    links: Vec<String>,
    meta: Meta,
    webhook: Option<String>,
    track_id: Option<i64>,
    notified: bool,
}

#[derive(Debug, Default)]
struct Jobs {
    next_id: i64,
    jobs: BTreeMap<i64, Job>,
    /// Queue places taken by requests that are still being prepared (decoding, charging):
    /// counted with the running jobs so concurrent requests cannot overrun the cap.
    reserved: usize,
}

/// A queue place held while a request is prepared; given back when dropped, unless the job
/// was queued (then the job itself holds the place).
struct Reservation<'a> {
    state: &'a Mutex<Jobs>,
    held: bool,
}

impl Reservation<'_> {
    fn take(state: &Mutex<Jobs>) -> Reservation<'_> {
        lock(state).reserved += 1;
        Reservation { state, held: true }
    }

    /// The job is queued: turn the reservation into it, under the caller's lock.
    fn fulfil(mut self, jobs: &mut Jobs) {
        jobs.reserved -= 1;
        self.held = false;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.held {
            lock(self.state).reserved -= 1;
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub(crate) struct ModelsLab {
    shared: Arc<Shared>,
    state: Mutex<Jobs>,
}

impl ModelsLab {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            state: Mutex::new(Jobs {
                next_id: FIRST_ID,
                jobs: BTreeMap::new(),
                reserved: 0,
            }),
        }
    }

    fn generation_time(&self) -> f64 {
        self.shared.config.job_duration.as_secs_f64()
    }

    fn success(&self, job: &Job) -> ResultSuccess {
        built(ResultSuccess::try_from(
            ResultSuccess::builder()
                .generation_time(Some(self.generation_time()))
                .id(Some(FlexibleId::Integer(job.id)))
                .meta(Some(job.meta.clone()))
                .output(job.output.clone())
                .proxy_links(Some(job.links.clone()))
                .status(ResultSuccessStatus::Success),
        ))
    }

    fn fetch_url(&self, id: i64) -> String {
        format!(
            "{}/image_editing/fetch/{id}",
            self.shared.base_url(Provider::ModelsLab)
        )
    }

    fn eta(job: &Job, now: SimTime) -> f64 {
        job.done_at.since(now).as_secs_f64().ceil()
    }

    /// Queues the (single, best effort) webhook of every finished job that has one.
    pub(crate) fn tick(&self, now: SimTime) {
        let mut state = lock(&self.state);
        for job in state.jobs.values_mut() {
            if job.notified || now < job.done_at {
                continue;
            }
            job.notified = true;
            let Some(url) = job.webhook.as_deref() else {
                continue;
            };
            let payload = built(WebhookSuccess::try_from(
                WebhookSuccess::builder()
                    .generation_time(Some(self.generation_time()))
                    .id(Some(FlexibleId::Integer(job.id)))
                    .meta(Some(job.meta.clone()))
                    .output(job.output.clone())
                    .status(WebhookSuccessStatus::Success)
                    .track_id(job.track_id.map(FlexibleId::Integer)),
            ));
            let payload = serde_json::to_value(payload).unwrap_or(Value::Null);
            self.shared
                .webhooks
                .enqueue(Provider::ModelsLab, url, payload, Retry::Never, now);
        }
    }
}

/// The simulator's router.
pub(crate) fn router(app: Arc<ModelsLab>) -> Router {
    Router::new()
        .route(
            &format!("{BASE_PATH}/image_editing/removebg_mask"),
            post(removebg_mask),
        )
        .route(
            &format!("{BASE_PATH}/image_editing/fetch/{{id}}"),
            post(fetch),
        )
        .method_not_allowed_fallback(|| async {
            Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .fallback(|| async { Rejection::new(StatusCode::NOT_FOUND, "not found") })
        .with_state(app)
}

/// Reads a JSON object body and checks its `key`.
async fn authorized_body(app: &ModelsLab, body: Body) -> Result<Map<String, Value>, Rejection> {
    // The image travels inline as base64 (a third larger): take an image of up to
    // `max_upload_bytes`, plus the other fields.
    let limit = app
        .shared
        .config
        .max_upload_bytes
        .saturating_mul(4)
        .div_ceil(3)
        .saturating_add(1 << 20);
    let bytes = read_body(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => Rejection::bad_request("the request body is too large"),
        BodyError::Io(e) => Rejection::bad_request(format!("could not read the request: {e}")),
    })?;
    let value = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Rejection::bad_request("the body must be a JSON object")),
        Err(e) => {
            return Err(Rejection::bad_request(format!(
                "the body is not valid JSON: {e}"
            )));
        }
    };
    match auth::body_key(value.get("key"), app.shared.key(Provider::ModelsLab)).rejection() {
        None => Ok(value),
        Some((status, message)) => Err(Rejection::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
            format!("{message}: send it as `key` in the JSON body"),
        )),
    }
}

/// Lenient base64: padding optional, as browsers' `atob` accepts.
const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decodes a `data:image/...;base64,...` URI.
fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    let rest = uri.strip_prefix("data:").ok_or("not a data URI")?;
    let (header, data) = rest
        .split_once(',')
        .ok_or("the data URI has no comma before its data")?;
    if !header.starts_with("image/") || !header.ends_with(";base64") {
        return Err("the data URI must look like data:image/<type>;base64,<data>".into());
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64
        .decode(compact)
        .map_err(|e| format!("the data URI's base64 is invalid: {e}"))
}

/// The fields of a `removebg_mask` body, by the names in ModelsLab's documentation (read
/// here by hand, never with the client's request type: a misspelled field in our spec must
/// fail against the sandbox as it would against ModelsLab).
#[derive(Clone, Debug)]
struct MaskRequest {
    image: String,
    alpha_matting: bool,
    post_process_mask: bool,
    only_mask: bool,
    inverse_mask: bool,
    base64: bool,
    seed: Option<i64>,
    alpha_matting_foreground_threshold: i64,
    alpha_matting_background_threshold: i64,
    alpha_matting_erode_size: i64,
    webhook: Option<String>,
    track_id: Option<i64>,
}

/// Every field the documentation lists for `removebg_mask` (`key` included).
const MASK_FIELDS: &[&str] = &[
    "key",
    "image",
    "alpha_matting",
    "post_process_mask",
    "only_mask",
    "inverse_mask",
    "base64",
    "seed",
    "alpha_matting_foreground_threshold",
    "alpha_matting_background_threshold",
    "alpha_matting_erode_size",
    "webhook",
    "track_id",
];

/// A field that is absent or `null` (the documented examples send `null` for "not set").
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn wrong_type(name: &str, expected: &str) -> Rejection {
    Rejection::bad_request(format!("The {name} field must be {expected}."))
}

fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, Rejection> {
    field(body, name).map_or(Ok(false), |v| {
        v.as_bool().ok_or_else(|| wrong_type(name, "true or false"))
    })
}

fn integer(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    field(body, name)
        .map(|v| v.as_i64().ok_or_else(|| wrong_type(name, "an integer")))
        .transpose()
}

/// An integer option with a documented range `0..=max`; the default is `max`. Out of range is
/// an `error` answer (HTTP 200), as ModelsLab's validation answers are.
fn bounded(body: &Map<String, Value>, name: &str, max: i64) -> Result<i64, Rejection> {
    let value = integer(body, name)?.unwrap_or(max);
    if (0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Rejection::answer(format!(
            "The {name} must be between 0 and {max}."
        )))
    }
}

impl MaskRequest {
    /// Reads the documented fields; an undocumented one is refused (HTTP 400), naming it.
    fn parse(body: &Map<String, Value>) -> Result<Self, Rejection> {
        if let Some(unknown) = body.keys().find(|k| !MASK_FIELDS.contains(&k.as_str())) {
            return Err(Rejection::bad_request(format!(
                "The {unknown} field is not a parameter of removebg_mask."
            )));
        }
        let image = match field(body, "image") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | None => {
                return Err(Rejection::answer(
                    "The image field is required (a URL or a data URI).",
                ));
            }
            Some(_) => return Err(wrong_type("image", "a string")),
        };
        let webhook = match field(body, "webhook") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(wrong_type("webhook", "a URL")),
        };
        if let Some(url) = &webhook
            && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(Rejection::answer("The webhook must be a valid URL."));
        }
        Ok(Self {
            image,
            alpha_matting: flag(body, "alpha_matting")?,
            post_process_mask: flag(body, "post_process_mask")?,
            only_mask: flag(body, "only_mask")?,
            inverse_mask: flag(body, "inverse_mask")?,
            base64: flag(body, "base64")?,
            seed: integer(body, "seed")?,
            alpha_matting_foreground_threshold: bounded(
                body,
                "alpha_matting_foreground_threshold",
                240,
            )?,
            alpha_matting_background_threshold: bounded(
                body,
                "alpha_matting_background_threshold",
                20,
            )?,
            alpha_matting_erode_size: bounded(body, "alpha_matting_erode_size", 5)?,
            webhook,
            track_id: integer(body, "track_id")?,
        })
    }
}

/// `meta` as the documented example shows it (the same keys; `inverse_mask` is not among
/// them): flags as "0"/"1", numbers as numbers.
fn meta_of(request: &MaskRequest, file_prefix: &str) -> Meta {
    let flag = |b: bool| json!(if b { "1" } else { "0" });
    let image_url = if request.image.starts_with("data:") {
        "data URI".to_owned()
    } else {
        request.image.clone()
    };
    let mut meta = serde_json::Map::new();
    meta.insert("alpha_matting".into(), flag(request.alpha_matting));
    meta.insert(
        "alpha_matting_background_threshold".into(),
        json!(request.alpha_matting_background_threshold),
    );
    meta.insert(
        "alpha_matting_erode_size".into(),
        json!(request.alpha_matting_erode_size),
    );
    meta.insert(
        "alpha_matting_foreground_threshold".into(),
        json!(request.alpha_matting_foreground_threshold),
    );
    meta.insert(
        "base64".into(),
        json!(if request.base64 { "yes" } else { "no" }),
    );
    meta.insert("file_prefix".into(), json!(file_prefix));
    meta.insert("image_url".into(), json!(image_url));
    meta.insert("n_samples".into(), json!(1));
    meta.insert("only_mask".into(), flag(request.only_mask));
    meta.insert("outdir".into(), json!("out"));
    meta.insert("post_process_mask".into(), flag(request.post_process_mask));
    meta.insert("seed".into(), json!(request.seed));
    meta.insert("temp".into(), json!("no"));
    Meta(meta)
}

async fn removebg_mask(State(app): State<Arc<ModelsLab>>, body: Body) -> Answer {
    let body = authorized_body(&app, body).await?;
    let request = MaskRequest::parse(&body)?;
    let now = app.shared.now();
    let reservation = app.reserve(now)?;
    let image = app.load_image(&request.image, now).await?;
    if !app.shared.try_charge(Provider::ModelsLab, 1) {
        return Err(Rejection::new(
            StatusCode::PAYMENT_REQUIRED,
            "Insufficient balance: please top up your wallet.",
        ));
    }
    let options = request.clone();
    let encoded = blocking(move || remove_background(&image, &options))
        .await
        .and_then(|r| r)
        .map_err(|e| {
            app.shared.refund(Provider::ModelsLab, 1);
            Rejection::internal(e)
        })?;
    let job = app.queue(&request, encoded, reservation, now);
    if app.shared.config.job_duration.is_zero() {
        return Ok(axum::Json(app.success(&job)).into_response());
    }
    let processing = built(RemovebgMaskProcessing::try_from(
        RemovebgMaskProcessing::builder()
            .eta(Some(ModelsLab::eta(&job, now)))
            .fetch_result(Some(app.fetch_url(job.id)))
            .future_links(Some(job.links.clone()))
            .id(FlexibleId::Integer(job.id))
            .message(Some(
                "Try to fetch request after given estimated time".into(),
            ))
            .meta(Some(job.meta.clone()))
            .output(Some(::modelslab::types::PendingOutput::Array(Vec::new())))
            .proxy_links(Some(job.links.clone()))
            .status(RemovebgMaskProcessingStatus::Processing)
            .tip(Some(
                "Your image is processing in background, you can get this image using fetch API"
                    .into(),
            )),
    ));
    Ok(axum::Json(processing).into_response())
}

/// The model: background removal with the request's options, encoded as PNG.
fn remove_background(image: &DynamicImage, options: &MaskRequest) -> Result<Vec<u8>, String> {
    let rgb = image.to_rgb8();
    let mut alpha = imaging::background_alpha(&rgb, imaging::REMOVE_BG);
    if options.alpha_matting {
        // The ranges were checked when the request was read, so these cannot fail.
        let fg = u8::try_from(options.alpha_matting_foreground_threshold).unwrap_or(240);
        let bg = u8::try_from(options.alpha_matting_background_threshold).unwrap_or(20);
        let erode = u32::try_from(options.alpha_matting_erode_size).unwrap_or(5);
        alpha = imaging::erode(&imaging::clamp_thresholds(&alpha, fg, bg), erode);
    }
    if options.post_process_mask {
        alpha = imaging::binarize(&alpha);
    }
    if options.inverse_mask {
        alpha = imaging::invert(&alpha);
    }
    let result = if options.only_mask {
        DynamicImage::ImageLuma8(alpha)
    } else {
        DynamicImage::ImageRgba8(imaging::cutout(&rgb, &alpha))
    };
    imaging::encode(&result, OutFormat::Png, 100)
}

impl ModelsLab {
    /// Takes a queue place when jobs take time, or answers 429 when the queue is full. The
    /// count and the reservation happen under one lock: a request that passes the cap holds its
    /// place while its image is decoded, so concurrent requests cannot all slip through.
    fn reserve(&self, now: SimTime) -> Result<Option<Reservation<'_>>, Rejection> {
        if self.shared.config.job_duration.is_zero() {
            return Ok(None);
        }
        let cap = self.shared.config.modelslab_queue_cap;
        let queued = {
            let state = lock(&self.state);
            state.jobs.values().filter(|j| now < j.done_at).count() + state.reserved
        };
        if queued >= cap {
            return Err(Rejection::too_many(
                format!("Too many requests in queue: at most {cap} may be processing at once."),
                self.shared.config.modelslab_retry_after,
            ));
        }
        Ok(Some(Reservation::take(&self.state)))
    }

    /// The request's `image` (a data URI or a file-host URL), decoded within the pixel budget.
    async fn load_image(&self, image: &str, now: SimTime) -> Result<DynamicImage, Rejection> {
        let shared = &self.shared;
        let bytes = if image.starts_with("data:") {
            decode_data_uri(image).map_err(Rejection::answer)?
        } else {
            let now_unix = shared.clock.unix_secs(now);
            shared
                .files
                .fetch(image, now, now_unix)
                .map_err(|e| Rejection::answer(format!("Failed to load the image: {e}")))?
                .bytes
                .to_vec()
        };
        let budget = shared.config.max_pixels;
        blocking(move || imaging::decode(&bytes, budget))
            .await
            .map_err(Rejection::internal)?
            .map(|decoded| decoded.image)
            .map_err(|e| Rejection::answer(format!("Failed to load the image: {e}")))
    }

    /// Stores the result (revealed when the job is done) and queues the job.
    fn queue(
        &self,
        request: &MaskRequest,
        encoded: Vec<u8>,
        reservation: Option<Reservation<'_>>,
        now: SimTime,
    ) -> Job {
        let shared = &self.shared;
        let file_prefix = shared.uuid();
        let path = format!("modelslab/generations/{file_prefix}.png");
        let done_at = now + shared.config.job_duration;
        let link = shared.files.url(&path);
        let output = if request.base64 {
            base64::engine::general_purpose::STANDARD.encode(&encoded)
        } else {
            link.clone()
        };
        shared.files.put(
            &path,
            Blob::new(encoded, OutFormat::Png.mime(), Access::Public).available_at(done_at),
        );
        let job = {
            let mut state = lock(&self.state);
            if let Some(reservation) = reservation {
                reservation.fulfil(&mut state);
            }
            let id = state.next_id;
            state.next_id += 1;
            let job = Job {
                id,
                done_at,
                output: vec![output],
                links: vec![link],
                meta: meta_of(request, &file_prefix),
                webhook: request.webhook.clone(),
                track_id: request.track_id,
                notified: false,
            };
            state.jobs.insert(id, job.clone());
            job
        };
        shared.record_submission(Provider::ModelsLab);
        shared.wake.notify_one();
        job
    }
}

async fn fetch(
    State(app): State<Arc<ModelsLab>>,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Answer {
    authorized_body(&app, body).await?;
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let Ok(id) = id.parse::<i64>() else {
        return Err(Rejection::bad_request(format!(
            "the id `{id}` is not an integer"
        )));
    };
    let now = app.shared.now();
    let state = lock(&app.state);
    let job = state
        .jobs
        .get(&id)
        .ok_or_else(|| Rejection::answer(format!("Request id {id} not found.")))?;
    if now >= job.done_at {
        return Ok(axum::Json(app.success(job)).into_response());
    }
    let processing = built(FetchProcessing::try_from(
        FetchProcessing::builder()
            .eta(Some(ModelsLab::eta(job, now)))
            .fetch_result(Some(app.fetch_url(job.id)))
            .future_links(Some(job.links.clone()))
            .id(Some(FlexibleId::Integer(job.id)))
            .message(Some("Request is still processing".into()))
            .meta(Some(job.meta.clone()))
            .output(Some(::modelslab::types::PendingOutput::String(
                String::new(),
            )))
            .proxy_links(Some(job.links.clone()))
            .status(FetchProcessingStatus::Processing)
            .tip(Some("Your image is processing in background".into())),
    ));
    Ok(axum::Json(processing).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"abc");
        assert_eq!(
            decode_data_uri(&format!("data:image/png;base64,{encoded}")).as_deref(),
            Ok(&b"abc"[..])
        );
        assert!(decode_data_uri("data:text/plain;base64,YWJj").is_err());
        assert!(decode_data_uri("data:image/png;base64,***").is_err());
        assert!(decode_data_uri("data:image/png").is_err());
    }
}

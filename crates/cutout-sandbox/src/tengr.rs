//! The Tengr.ai artworks API v2 simulator (segmentation and remove-background).
//!
//! Creating an artwork answers 202 with its record (`starting`); it turns `processing` after a
//! fifth of the job duration and `succeeded` (with `results` links on the file host) at its end.
//! Artworks and their images are deleted 8 days after creation (then GET answers 404).
//!
//! Choices where the API leaves things open:
//! - `imageUrl` must be an http(s) URL (else 400). It is fetched only from the sandbox's file
//!   host; any other URL, a missing file or a file that is not an image makes the artwork end
//!   `failed` (as a server that cannot fetch or read it would), and a failed artwork is not
//!   charged.
//! - `webhook` must be HTTPS to a public host (else 400, as documented). Public hosts are never
//!   called (the sandbox makes no outbound connections), so no Tengr webhook is ever delivered.
//! - The text prompt is not interpreted: text segmentation returns the background-removal mask.
//! - In points mode, `pointsPositive` must hold at least one point; `labels`, when sent, must
//!   have one entry per point (their values are not used: the set decides the polarity).
//! - Lists are newest first.
//! - An account without credits gets 402 (Tengr documents no status for it).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use artworks_seg::types::{Artwork, ArtworkStatus, TengrError};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use image::DynamicImage;
use serde_json::{Map, Value};

use crate::auth;
use crate::clock::SimTime;
use crate::files::{Access, Blob};
use crate::imaging::{self, DecodeError, OutFormat};
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::{
    Answer, Rejection, blocking, built, lock, parse_query, query_value, read_body, reason,
};

/// Artworks are deleted this long after creation.
const RETENTION: Duration = Duration::from_secs(8 * 24 * 3600);
/// Share of the job duration spent `starting`.
const STARTING_SHARE: f64 = 0.2;
const JSON_LIMIT: u64 = 1 << 20;
const SEGMENTATION: &str = "/v2/artworks/segmentation";
const REMOVE_BACKGROUND: &str = "/v2/artworks/remove-background";

/// Whether a request creates a (paid) artwork.
pub(crate) fn is_submission(method: &Method, path: &str) -> bool {
    method == Method::POST && (path == SEGMENTATION || path == REMOVE_BACKGROUND)
}

/// An error answer: `{message, statusCode, error}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = built(TengrError::try_from(
        TengrError::builder()
            .error(Some(reason(status.as_u16()).to_owned()))
            .message(Some(message.into()))
            .status_code(Some(i64::from(status.as_u16()))),
    ));
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Rejection {
    Rejection::bad_request(message)
}

/// Renders a handler's outcome.
#[derive(Clone, Debug)]
struct Record {
    id: String,
    artwork_type: &'static str,
    parameters: Map<String, Value>,
    created: SimTime,
    duration: Duration,
    /// Result links, or `None` when the artwork fails.
    results: Option<Vec<String>>,
}

impl Record {
    fn status(&self, now: SimTime) -> ArtworkStatus {
        if now >= self.created + self.duration {
            if self.results.is_some() {
                ArtworkStatus::Succeeded
            } else {
                ArtworkStatus::Failed
            }
        } else if now < self.created + self.duration.mul_f64(STARTING_SHARE) {
            ArtworkStatus::Starting
        } else {
            ArtworkStatus::Processing
        }
    }

    fn expired(&self, now: SimTime) -> bool {
        now >= self.created + RETENTION
    }
}

/// The simulator.
#[derive(Debug)]
pub(crate) struct Tengr {
    shared: Arc<Shared>,
    artworks: Mutex<Vec<Record>>,
}

impl Tengr {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            artworks: Mutex::default(),
        }
    }

    fn artwork(&self, record: &Record, now: SimTime) -> Artwork {
        let status = record.status(now);
        let finished = matches!(status, ArtworkStatus::Succeeded | ArtworkStatus::Failed);
        let duration = if finished {
            record.duration
        } else {
            now.since(record.created)
        };
        let results = match (&record.results, &status) {
            (Some(results), ArtworkStatus::Succeeded) => results.clone(),
            _ => Vec::new(),
        };
        built(Artwork::try_from(
            Artwork::builder()
                .artwork_type(Some(record.artwork_type.to_owned()))
                .created_at(Some(self.shared.clock.datetime(record.created)))
                .duration(Some(duration.as_secs_f64()))
                .id(record.id.clone())
                .parameters(Some(record.parameters.clone()))
                .results(Some(results))
                .status(status),
        ))
    }
}

/// The simulator's router.
pub(crate) fn router(app: Arc<Tengr>) -> Router {
    Router::new()
        .route(SEGMENTATION, post(segmentation))
        .route(REMOVE_BACKGROUND, post(remove_background))
        .route("/v2/artworks", get(list))
        .route("/v2/artworks/{id}", get(get_artwork))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_key))
        .method_not_allowed_fallback(|| async {
            Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .fallback(|| async { Rejection::new(StatusCode::NOT_FOUND, "Cannot find this route") })
        .with_state(app)
}

async fn require_key(State(app): State<Arc<Tengr>>, request: Request, next: Next) -> Response {
    let credential = auth::authorization(
        request.headers(),
        &["Bearer"],
        app.shared.key(Provider::Tengr),
    );
    match credential.rejection() {
        None => next.run(request).await,
        Some((status, message)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
            error(
                status,
                format!("{message}: send `Authorization: Bearer <key>`"),
            )
        }
    }
}

/// Why a webhook URL is refused, if it is: it must be HTTPS to a publicly routable host.
fn webhook_problem(url: &str) -> Option<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some("webhook must be a valid URL".into());
    };
    if parsed.scheme() != "https" {
        return Some("webhook must use HTTPS".into());
    }
    let host = parsed.host_str().unwrap_or("");
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let private = match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            let o = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                // Carrier-grade NAT, 100.64.0.0/10.
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        Ok(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some()
        }
        Err(_) => {
            bare.is_empty()
                || !bare.contains('.')
                || bare == "localhost"
                || [
                    ".localhost",
                    ".local",
                    ".internal",
                    ".localdomain",
                    ".home.arpa",
                ]
                .iter()
                .any(|suffix| bare.ends_with(suffix))
        }
    };
    private.then(|| {
        "webhook must point to a publicly routable host (loopback, link-local, private and \
         cloud-metadata addresses are rejected)"
            .to_owned()
    })
}

/// Field readers that answer 400 with a message naming the field.
struct Fields<'a>(&'a Map<String, Value>);

/// `Ok(n)` when `n` is in `min..=max` (no lower bound when `min` is `None`), else the 400 that
/// names the range.
fn within<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    n: T,
    min: Option<T>,
    max: T,
) -> Result<T, Rejection> {
    if min.is_some_and(|min| n < min) || n > max {
        let range = match min {
            Some(min) => format!("between {min} and {max}"),
            None => format!("at most {max}"),
        };
        return Err(bad_request(format!("{name} must be {range}")));
    }
    Ok(n)
}

impl Fields<'_> {
    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<&str>, Rejection> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad_request(format!("{name} must be a string"))),
        }
    }

    fn boolean(&self, name: &str) -> Result<(), Rejection> {
        match self.present(name) {
            None | Some(Value::Bool(_)) => Ok(()),
            Some(_) => Err(bad_request(format!("{name} must be a boolean value"))),
        }
    }

    fn integer(
        &self,
        name: &str,
        min: Option<i64>,
        max: i64,
        default: i64,
    ) -> Result<i64, Rejection> {
        let Some(value) = self.present(name) else {
            return Ok(default);
        };
        let n = value
            .as_i64()
            .ok_or_else(|| bad_request(format!("{name} must be an integer number")))?;
        within(name, n, min, max)
    }

    fn number(
        &self,
        name: &str,
        min: Option<f64>,
        max: f64,
        default: f64,
    ) -> Result<f64, Rejection> {
        let Some(value) = self.present(name) else {
            return Ok(default);
        };
        let n = value
            .as_f64()
            .ok_or_else(|| bad_request(format!("{name} must be a number")))?;
        within(name, n, min, max)
    }

    /// The common members: `imageUrl`, `outputFormat`, `webhook`.
    fn common(&self) -> Result<(String, OutFormat), Rejection> {
        let image_url = self
            .string("imageUrl")?
            .ok_or_else(|| bad_request("imageUrl should not be empty"))?;
        if !reqwest::Url::parse(image_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(bad_request("imageUrl must be a URL address"));
        }
        let format = match self.string("outputFormat")? {
            None | Some("auto") | Some("webp") => OutFormat::WebP,
            Some("png") => OutFormat::Png,
            Some(other) => {
                return Err(bad_request(format!(
                    "outputFormat must be one of the following values: auto, png, webp (got `{other}`)"
                )));
            }
        };
        if let Some(webhook) = self.string("webhook")?
            && let Some(problem) = webhook_problem(webhook)
        {
            return Err(bad_request(problem));
        }
        Ok((image_url.to_owned(), format))
    }

    /// A `{points, labels}` set, as normalised coordinates.
    fn point_set(&self, name: &str) -> Result<Vec<(f64, f64)>, Rejection> {
        let Some(value) = self.present(name) else {
            return Ok(Vec::new());
        };
        let Value::Object(set) = value else {
            return Err(bad_request(format!(
                "{name} must be an object with points and labels"
            )));
        };
        let points = match set.get("points") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(points)) => points.clone(),
            Some(_) => return Err(bad_request(format!("{name}.points must be an array"))),
        };
        let mut parsed = Vec::with_capacity(points.len());
        for (i, point) in points.iter().enumerate() {
            let coordinates: Option<Vec<f64>> = point
                .as_array()
                .map(|xy| xy.iter().filter_map(Value::as_f64).collect());
            let xy = match (coordinates, point.as_array().map(Vec::len)) {
                (Some(xy), Some(2)) if xy.len() == 2 => xy,
                _ => {
                    return Err(bad_request(format!(
                        "{name}.points[{i}] must contain exactly 2 numbers [x, y]"
                    )));
                }
            };
            if !xy.iter().all(|c| (0.0..=1.0).contains(c)) {
                return Err(bad_request(format!(
                    "{name}.points[{i}] coordinates must be between 0 and 1"
                )));
            }
            parsed.push((xy[0], xy[1]));
        }
        match set.get("labels") {
            None | Some(Value::Null) => {}
            Some(Value::Array(labels)) => {
                if labels.iter().any(|l| l.as_i64().is_none()) {
                    return Err(bad_request(format!("{name}.labels must be integers")));
                }
                if labels.len() != parsed.len() {
                    return Err(bad_request(format!(
                        "{name}.labels must have one label per point ({} points, {} labels)",
                        parsed.len(),
                        labels.len()
                    )));
                }
            }
            Some(_) => return Err(bad_request(format!("{name}.labels must be an array"))),
        }
        Ok(parsed)
    }
}

/// What an artwork computes.
#[derive(Clone, Debug)]
enum Task {
    RemoveBackground,
    /// Text mode: the background-removal mask (the prompt is not interpreted).
    TextMask {
        expand: i64,
        blur: f64,
    },
    PointsMask {
        positive: Vec<(f64, f64)>,
        negative: Vec<(f64, f64)>,
        expand: i64,
        blur: f64,
    },
}

fn render(image: &DynamicImage, task: &Task, format: OutFormat) -> Result<Vec<u8>, String> {
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let post = |mask: image::GrayImage, expand: i64, blur: f64| {
        let limit = i64::from(w.max(h));
        let mask = imaging::expand_mask(&mask, expand.clamp(-limit, limit));
        imaging::blur_mask(&mask, blur as f32)
    };
    let result = match task {
        Task::RemoveBackground => {
            let alpha = imaging::background_alpha(&rgb, imaging::REMOVE_BG);
            DynamicImage::ImageRgba8(imaging::cutout(&rgb, &alpha))
        }
        Task::TextMask { expand, blur } => {
            let mask = imaging::background_alpha(&rgb, imaging::REMOVE_BG);
            DynamicImage::ImageLuma8(post(mask, *expand, *blur))
        }
        Task::PointsMask {
            positive,
            negative,
            expand,
            blur,
        } => {
            let to_pixels = |points: &[(f64, f64)]| -> Vec<(u32, u32)> {
                points
                    .iter()
                    .map(|&(x, y)| {
                        (
                            (x * f64::from(w - 1)).round() as u32,
                            (y * f64::from(h - 1)).round() as u32,
                        )
                    })
                    .collect()
            };
            let mask = imaging::grow_from_points(&rgb, &to_pixels(positive), &to_pixels(negative));
            DynamicImage::ImageLuma8(post(mask, *expand, *blur))
        }
    };
    imaging::encode(&result, format, 95)
}

async fn json_object(body: Body) -> Result<Map<String, Value>, Rejection> {
    let bytes = read_body(body, JSON_LIMIT)
        .await
        .map_err(|_| bad_request("the request body is too large or could not be read"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

/// The documented fields of `remove-background`.
const REMOVE_BACKGROUND_FIELDS: &[&str] = &["imageUrl", "webhook", "outputFormat"];

/// The documented fields of `segmentation` (camelCase on the wire).
const SEGMENTATION_FIELDS: &[&str] = &[
    "imageUrl",
    "webhook",
    "outputFormat",
    "method",
    "maskExpand",
    "maskTaperedCorners",
    "maskBlurSigma",
    "maskKernelSize",
    "textPrompt",
    "textConfidence",
    "textMaxDetections",
    "textCombineMasks",
    "pointsPositive",
    "pointsNegative",
    "pointsRefinementSteps",
    "pointsMultimask",
    "pointsBestMask",
];

/// Refuses a field the documentation does not list, as a whitelisting validator answers
/// (Tengr's errors are NestJS-shaped: `{message, statusCode, error}`).
fn only_documented(body: &Map<String, Value>, documented: &[&str]) -> Result<(), Rejection> {
    match body.keys().find(|k| !documented.contains(&k.as_str())) {
        Some(unknown) => Err(bad_request(format!("property {unknown} should not exist"))),
        None => Ok(()),
    }
}

fn parse_segmentation(body: &Map<String, Value>) -> Result<(String, OutFormat, Task), Rejection> {
    only_documented(body, SEGMENTATION_FIELDS)?;
    let fields = Fields(body);
    let (image_url, format) = fields.common()?;
    let expand = fields.integer("maskExpand", Some(-16384), 16384, 0)?;
    let blur = fields.number("maskBlurSigma", Some(0.1), 100.0, 0.1)?;
    fields.integer("maskKernelSize", None, 100, 0)?;
    fields.boolean("maskTaperedCorners")?;
    let task = match fields.string("method")? {
        Some("text") => {
            let prompt = fields.string("textPrompt")?.unwrap_or("");
            if prompt.trim().is_empty() {
                return Err(bad_request("textPrompt is required when method is text"));
            }
            fields.number("textConfidence", None, 1.0, 0.2)?;
            fields.integer("textMaxDetections", Some(-1), 100, -1)?;
            fields.boolean("textCombineMasks")?;
            Task::TextMask { expand, blur }
        }
        Some("points") => {
            let positive = fields.point_set("pointsPositive")?;
            let negative = fields.point_set("pointsNegative")?;
            if positive.is_empty() {
                return Err(bad_request(
                    "pointsPositive must hold at least one point when method is points",
                ));
            }
            fields.integer("pointsRefinementSteps", None, 10, 0)?;
            fields.boolean("pointsMultimask")?;
            fields.boolean("pointsBestMask")?;
            Task::PointsMask {
                positive,
                negative,
                expand,
                blur,
            }
        }
        Some(other) => {
            return Err(bad_request(format!(
                "method must be one of the following values: text, points (got `{other}`)"
            )));
        }
        None => {
            return Err(bad_request(
                "method must be one of the following values: text, points",
            ));
        }
    };
    Ok((image_url, format, task))
}

/// The input of an artwork, fetched and decoded now. A picture over the pixel budget is a 400
/// at once; any other problem (unreachable, not an image) makes the artwork fail later, as
/// the work is asynchronous.
async fn load_input(
    app: &Tengr,
    image_url: &str,
    now: SimTime,
) -> Result<Result<DynamicImage, String>, Rejection> {
    let shared = &app.shared;
    let blob = match shared
        .files
        .fetch(image_url, now, shared.clock.unix_secs(now))
    {
        Ok(blob) => blob,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let budget = shared.config.max_pixels;
    match blocking(move || imaging::decode(&blob.bytes, budget))
        .await
        .map_err(Rejection::internal)?
    {
        Ok(decoded) => Ok(Ok(decoded.image)),
        Err(e @ DecodeError::TooManyPixels { .. }) => Err(bad_request(e.to_string())),
        Err(e) => Ok(Err(e.to_string())),
    }
}

async fn create(app: &Tengr, artwork_type: &'static str, body: Body) -> Answer {
    let body = json_object(body).await?;
    let (image_url, format, task) = if artwork_type == "segmentation" {
        parse_segmentation(&body)?
    } else {
        only_documented(&body, REMOVE_BACKGROUND_FIELDS)?;
        let (image_url, format) = Fields(&body).common()?;
        (image_url, format, Task::RemoveBackground)
    };
    let shared = &app.shared;
    let now = shared.now();
    let input = load_input(app, &image_url, now).await?;
    if !shared.try_charge(Provider::Tengr, 1) {
        return Err(Rejection::new(
            StatusCode::PAYMENT_REQUIRED,
            "Insufficient credits",
        ));
    }
    let id = shared.uuid();
    let duration = shared.config.job_duration;
    // Compute now; the outcome is revealed when the job's time is up.
    let rendered = match input {
        Err(e) => Err(e),
        Ok(image) => blocking(move || render(&image, &task, format))
            .await
            .and_then(|r| r),
    };
    let results = match rendered {
        Ok(bytes) => {
            let path = format!("tengr/{id}/0.{}", format.extension());
            shared.files.put(
                &path,
                Blob::new(bytes, format.mime(), Access::Public)
                    .available_at(now + duration)
                    .expires_at(now + RETENTION),
            );
            Some(vec![shared.files.url(&path)])
        }
        Err(e) => {
            tracing::info!(artwork = %id, "artwork will fail: {e}");
            shared.refund(Provider::Tengr, 1);
            None
        }
    };
    let record = Record {
        id,
        artwork_type,
        parameters: body,
        created: now,
        duration,
        results,
    };
    let artwork = app.artwork(&record, now);
    lock(&app.artworks).push(record);
    shared.record_submission(Provider::Tengr);
    Ok((StatusCode::ACCEPTED, axum::Json(artwork)).into_response())
}

async fn segmentation(State(app): State<Arc<Tengr>>, body: Body) -> Answer {
    create(&app, "segmentation", body).await
}

async fn remove_background(State(app): State<Arc<Tengr>>, body: Body) -> Answer {
    create(&app, "remove_background", body).await
}

async fn get_artwork(
    State(app): State<Arc<Tengr>>,
    id: Result<Path<String>, PathRejection>,
) -> Answer {
    let Ok(Path(id)) = id else {
        return Err(Rejection::new(StatusCode::NOT_FOUND, "Artwork not found"));
    };
    let now = app.shared.now();
    let artworks = lock(&app.artworks);
    let record = artworks
        .iter()
        .find(|a| a.id == id && !a.expired(now))
        .ok_or_else(|| Rejection::new(StatusCode::NOT_FOUND, format!("Artwork {id} not found")))?;
    Ok(axum::Json(app.artwork(record, now)).into_response())
}

async fn list(State(app): State<Arc<Tengr>>, RawQuery(query): RawQuery) -> Answer {
    let pairs =
        parse_query(query.as_deref()).ok_or_else(|| bad_request("malformed query string"))?;
    let offset = match query_value(&pairs, "offset") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| bad_request("offset must be a non-negative integer"))?,
    };
    let limit = match query_value(&pairs, "limit") {
        None => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| bad_request("limit must be an integer between 1 and 500"))?,
    };
    let now = app.shared.now();
    let artworks = lock(&app.artworks);
    let page: Vec<Artwork> = artworks
        .iter()
        .rev()
        .filter(|a| !a.expired(now))
        .skip(offset)
        .take(limit)
        .map(|a| app.artwork(a, now))
        .collect();
    Ok(axum::Json(page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_rules() {
        assert!(webhook_problem("https://hooks.example.com/x").is_none());
        assert!(webhook_problem("http://hooks.example.com/x").is_some());
        assert!(webhook_problem("https://127.0.0.1/x").is_some());
        assert!(webhook_problem("https://localhost/x").is_some());
        assert!(webhook_problem("https://10.1.2.3/x").is_some());
        assert!(webhook_problem("https://169.254.169.254/latest").is_some());
        assert!(webhook_problem("https://[::1]/x").is_some());
        assert!(webhook_problem("https://metadata.google.internal/x").is_some());
        assert!(webhook_problem("not a url").is_some());
    }
}

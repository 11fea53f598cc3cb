//! The BackgroundCut API v3 simulator.
//!
//! Files live in one flat key space per sandbox (`my-project/photo.jpg` is one name; the slash
//! is part of it), stored on the file host under `backgroundcut/<key>` and deleted two hours
//! after they were written (sandbox clock). The tools run synchronously and write their results
//! back into the key space; `get-public-url` mints a presigned link (15 minutes) that needs no
//! key. Every path ends with a slash, which is part of it.
//!
//! Error bodies are `{"error": <reason phrase>, "message": <what is wrong>}` (BackgroundCut does
//! not publish its error shape). A missing or wrong `Authorization: Token <key>` answers 401, as
//! BackgroundCut documents.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Map, Value, json};

use crate::auth::{self, Credential};
use crate::clock::SimTime;
use crate::files::{Access, Blob};
use crate::imaging::{self, OutFormat};
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::{Answer, BodyError, Rejection, blocking, multipart_parts, read_body, reason};

/// Files are deleted this long after they were written.
const FILE_TTL: Duration = Duration::from_secs(2 * 3600);
/// Public URLs are short-lived (the provider does not say how short; 15 minutes here).
const LINK_TTL: i64 = 15 * 60;
/// BackgroundCut's documented processing limit (on the sandbox clock).
const PROCESSING_LIMIT: Duration = Duration::from_secs(30);
/// JSON bodies of the tools are small.
const JSON_LIMIT: u64 = 1 << 20;

const MATTING: &str = "/v3/tools/ai/matting/process/";
const REMOVE_BG: &str = "/v3/tools/ai/remove-bg/process/";
const AI_CUT: &str = "/v3/tools/ai/ai-cut/segment/";
const UPLOAD: &str = "/v3/file-ops/upload/";
const PUBLIC_URL: &str = "/v3/file-ops/get-public-url/";

/// Whether a request is one of the paid tools (matting, remove-bg, ai-cut).
pub(crate) fn is_submission(method: &Method, path: &str) -> bool {
    method == Method::POST && [MATTING, REMOVE_BG, AI_CUT].contains(&path)
}

/// An error answer: `{"error", "message"}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": reason(status.as_u16()), "message": message.into() });
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Rejection {
    Rejection::bad_request(message)
}

/// Renders a handler's outcome.
fn pixels(image: &DynamicImage) -> u64 {
    u64::from(image.width()) * u64::from(image.height())
}

fn storage_path(key: &str) -> String {
    format!("backgroundcut/{key}")
}

fn has_extension(key: &str, extensions: &[&str]) -> bool {
    let lower = key.to_ascii_lowercase();
    extensions.iter().any(|ext| lower.ends_with(ext))
}

/// The simulator (its state is the key space on the file host).
#[derive(Debug)]
pub(crate) struct BackgroundCut {
    shared: Arc<Shared>,
}

impl BackgroundCut {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Writes `bytes` under `key`, replacing any file there; it expires `FILE_TTL` from now.
    fn store(&self, key: &str, bytes: impl Into<Bytes>, now: SimTime) {
        let bytes = bytes.into();
        let content_type = imaging::content_type_of(&bytes);
        self.shared.files.put(
            &storage_path(key),
            Blob::new(bytes, content_type, Access::Signed).expires_at(now + FILE_TTL),
        );
    }

    /// The file under `key`, or the documented 404.
    fn load(&self, field: &str, key: &str, now: SimTime) -> Result<Bytes, Rejection> {
        self.shared
            .files
            .live(&storage_path(key), now)
            .map(|blob| blob.bytes)
            .ok_or_else(|| {
                Rejection::new(
                    StatusCode::NOT_FOUND,
                    format!("{field} `{key}` not found (files are deleted 2 hours after upload)"),
                )
            })
    }

    /// BackgroundCut stops a tool after about 30 s and answers 504. The simulated processing
    /// time is `backgroundcut_per_megapixel` per megapixel of `work`; when it is over the
    /// limit, the answer is a 504 once the sandbox clock has moved by the limit.
    async fn within_processing_limit(&self, work: u64) -> Result<(), Rejection> {
        let needed = self
            .shared
            .config
            .backgroundcut_per_megapixel
            .mul_f64(work as f64 / 1e6);
        if needed <= PROCESSING_LIMIT {
            return Ok(());
        }
        let started = self.shared.now();
        while self.shared.now().since(started) < PROCESSING_LIMIT {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(Rejection::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "processing timed out after {} s (this request needed about {} s); \
                 a smaller image or a tighter gray band in the trimap helps",
                PROCESSING_LIMIT.as_secs(),
                needed.as_secs()
            ),
        ))
    }

    fn charge(&self, cost: i64) -> Result<(), Rejection> {
        if self.shared.try_charge(Provider::BackgroundCut, cost) {
            Ok(())
        } else {
            Err(Rejection::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient credits",
            ))
        }
    }
}

/// The simulator's router.
pub(crate) fn router(app: Arc<BackgroundCut>) -> Router {
    Router::new()
        .route(UPLOAD, post(upload))
        .route(PUBLIC_URL, post(public_url))
        .route(MATTING, post(matting))
        .route(REMOVE_BG, post(remove_bg))
        .route(AI_CUT, post(ai_cut))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_key))
        .method_not_allowed_fallback(|| async {
            Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .fallback(|| async { Rejection::new(StatusCode::NOT_FOUND, "not found") })
        .with_state(app)
}

async fn require_key(
    State(app): State<Arc<BackgroundCut>>,
    request: Request,
    next: Next,
) -> Response {
    let credential = auth::authorization(
        request.headers(),
        &["Token", "AccessToken"],
        app.shared.key(Provider::BackgroundCut),
    );
    match credential {
        Credential::Valid => next.run(request).await,
        Credential::Missing => error(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided: send `Authorization: Token <key>`",
        ),
        Credential::Wrong => error(StatusCode::UNAUTHORIZED, "Invalid token"),
    }
}

/// Reads a JSON object body.
async fn json_body(body: Body) -> Result<Map<String, Value>, Rejection> {
    let bytes = read_body(body, JSON_LIMIT)
        .await
        .map_err(|_| bad_request("the request body is too large or could not be read"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, Rejection> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(bad_request(format!("`{field}` must not be empty"))),
        None | Some(Value::Null) => Err(bad_request(format!("`{field}` is required"))),
        Some(_) => Err(bad_request(format!("`{field}` must be a string"))),
    }
}

fn optional_int(body: &Map<String, Value>, field: &str, default: i64) -> Result<i64, Rejection> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| bad_request(format!("`{field}` must be an integer"))),
    }
}

/// Refuses a field BackgroundCut's documentation does not list for this call (`what` names
/// the object, e.g. `output_variants[0]`).
fn only_documented(
    body: &Map<String, Value>,
    documented: &[&str],
    what: &str,
) -> Result<(), Rejection> {
    match body.keys().find(|k| !documented.contains(&k.as_str())) {
        Some(unknown) => Err(bad_request(format!(
            "unknown field `{unknown}` in {what} (expected one of: {})",
            documented.join(", ")
        ))),
        None => Ok(()),
    }
}

fn optional_bool(body: &Map<String, Value>, field: &str, default: bool) -> Result<bool, Rejection> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_request(format!("`{field}` must be a boolean"))),
    }
}

/// Decodes a stored JPEG, insisting on the format (the matting tool takes JPEG only).
fn decode_jpeg(
    field: &str,
    key: &str,
    bytes: &[u8],
    budget: u64,
) -> Result<DynamicImage, Rejection> {
    if imaging::sniff(bytes) != Some(ImageFormat::Jpeg) {
        return Err(bad_request(format!("{field} `{key}` is not a JPEG")));
    }
    imaging::decode(bytes, budget)
        .map(|d| d.image)
        .map_err(|e| bad_request(format!("{field} `{key}`: {e}")))
}

async fn upload(State(app): State<Arc<BackgroundCut>>, headers: HeaderMap, body: Body) -> Answer {
    let limit = app.shared.config.max_upload_bytes;
    let body = read_body(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the upload is larger than {limit} bytes"),
        ),
        BodyError::Io(e) => bad_request(format!("could not read the request: {e}")),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let (mut file, mut key) = (None::<Bytes>, None::<String>);
    for part in multipart_parts(content_type, body)
        .await
        .map_err(|e| bad_request(e.message))?
    {
        match part.name.as_str() {
            "file" => file = Some(part.bytes),
            "key" => key = Some(part.text().map_err(|e| bad_request(e.message))?),
            _ => {}
        }
    }
    let file = file.ok_or_else(|| bad_request("`file` is required"))?;
    let key = key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad_request("`key` is required"))?;
    app.store(&key, file, app.shared.now());
    Ok(axum::Json(json!({ "success": true })).into_response())
}

async fn public_url(State(app): State<Arc<BackgroundCut>>, body: Body) -> Answer {
    let body = json_body(body).await?;
    only_documented(&body, &["key"], "the request")?;
    let key = required_str(&body, "key")?;
    let now = app.shared.now();
    app.load("key", key, now)?;
    let expires = app.shared.clock.unix_secs(now) + LINK_TTL;
    let url = app
        .shared
        .files
        .presign(&storage_path(key), &Method::GET, expires);
    Ok(axum::Json(json!({ "url": url })).into_response())
}

/// How a matting result is written: a mask or a cut-out, its format and its quality.
fn matting_output(
    body: &Map<String, Value>,
    output_key: &str,
) -> Result<(bool, OutFormat, i64), Rejection> {
    let mask = match body.get("output_type") {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) if t == "rgba" => false,
        Some(Value::String(t)) if t == "mask" => true,
        Some(other) => {
            return Err(bad_request(format!(
                "`output_type` must be \"rgba\" or \"mask\", not {other}"
            )));
        }
    };
    let quality = optional_int(body, "output_compression", 95)?;
    if !(1..=100).contains(&quality) {
        return Err(bad_request(format!(
            "`output_compression` must be from 1 to 100, not {quality}"
        )));
    }
    let format = if mask {
        if !has_extension(output_key, &[".jpg", ".jpeg"]) {
            return Err(bad_request(
                "`output_key` must end in .jpg or .jpeg when output_type is \"mask\"",
            ));
        }
        OutFormat::Jpeg
    } else if has_extension(output_key, &[".png"]) {
        OutFormat::Png
    } else if has_extension(output_key, &[".webp"]) {
        OutFormat::WebP
    } else {
        return Err(bad_request(
            "`output_key` must end in .png or .webp when output_type is \"rgba\"",
        ));
    };
    Ok((mask, format, quality))
}

/// Decodes matting's input (an RGB JPEG) and trimap (a grayscale JPEG of the same size), as
/// BackgroundCut requires them, within the pixel budget.
async fn decode_matting_inputs(
    (input_key, input): (&str, Bytes),
    (trimap_key, trimap): (&str, Bytes),
    budget: u64,
) -> Result<(RgbImage, image::GrayImage), Rejection> {
    let (input_key, trimap_key) = (input_key.to_owned(), trimap_key.to_owned());
    blocking(move || -> Result<(RgbImage, image::GrayImage), Rejection> {
        let input = decode_jpeg("input_key", &input_key, &input, budget)?;
        let DynamicImage::ImageRgb8(input) = input else {
            return Err(bad_request(format!(
                "input_key `{input_key}` must be an RGB JPEG (it is {:?})",
                input.color()
            )));
        };
        let trimap = decode_jpeg("trimap_key", &trimap_key, &trimap, budget)?;
        let DynamicImage::ImageLuma8(trimap) = trimap else {
            return Err(bad_request(format!(
                "trimap_key `{trimap_key}` must be a grayscale JPEG (it is {:?})",
                trimap.color()
            )));
        };
        if input.dimensions() != trimap.dimensions() {
            return Err(bad_request(format!(
                "the trimap is {}x{} but the input is {}x{}: they must be the same size",
                trimap.width(),
                trimap.height(),
                input.width(),
                input.height()
            )));
        }
        Ok((input, trimap))
    })
    .await
    .map_err(Rejection::internal)?
}

async fn matting(State(app): State<Arc<BackgroundCut>>, body: Body) -> Answer {
    let body = json_body(body).await?;
    let documented = [
        "input_key",
        "trimap_key",
        "output_key",
        "output_type",
        "output_compression",
    ];
    only_documented(&body, &documented, "the request")?;
    let input_key = required_str(&body, "input_key")?;
    let trimap_key = required_str(&body, "trimap_key")?;
    let output_key = required_str(&body, "output_key")?;
    let (mask, format, quality) = matting_output(&body, output_key)?;
    let now = app.shared.now();
    let input = app.load("input_key", input_key, now)?;
    let trimap = app.load("trimap_key", trimap_key, now)?;
    let (input, trimap) = decode_matting_inputs(
        (input_key, input),
        (trimap_key, trimap),
        app.shared.config.max_pixels,
    )
    .await?;
    app.within_processing_limit(imaging::unknown_band(&trimap))
        .await?;
    app.charge(1)?;
    let encoded = blocking(move || {
        let matte = imaging::trimap_matte(&input, &trimap);
        let result = if mask {
            DynamicImage::ImageLuma8(matte)
        } else {
            DynamicImage::ImageRgba8(imaging::cutout(&input, &matte))
        };
        imaging::encode(&result, format, quality as u8)
    })
    .await
    .and_then(|r| r);
    let encoded = encoded.map_err(|e| {
        app.shared.refund(Provider::BackgroundCut, 1);
        Rejection::internal(e)
    })?;
    app.store(output_key, encoded, now);
    app.shared.record_submission(Provider::BackgroundCut);
    Ok(axum::Json(json!({ "output_key": output_key })).into_response())
}

/// One output variant of a background removal, validated.
#[derive(Debug)]
struct Variant {
    output_key: String,
    format: OutFormat,
    max_resolution: u64,
    background: Option<[u8; 3]>,
    quality: u8,
    autocrop: bool,
}

fn parse_variant(index: usize, value: &Value) -> Result<Variant, Rejection> {
    let Value::Object(v) = value else {
        return Err(bad_request(format!(
            "output_variants[{index}] must be an object"
        )));
    };
    let documented = [
        "output_key",
        "format",
        "max_resolution",
        "quality",
        "background_color",
        "output_compression",
        "autocrop",
    ];
    only_documented(v, &documented, &format!("output_variants[{index}]"))?;
    let field = |name: &str| format!("output_variants[{index}].{name}");
    let output_key = required_str(v, "output_key")
        .map_err(|_| {
            bad_request(format!(
                "`{}` is required and must be a non-empty string",
                field("output_key")
            ))
        })?
        .to_owned();
    let format = match v.get("format") {
        None | Some(Value::Null) => OutFormat::Png,
        Some(Value::String(f)) => match f.to_ascii_lowercase().as_str() {
            "png" => OutFormat::Png,
            "webp" => OutFormat::WebP,
            "jpg" | "jpeg" => OutFormat::Jpeg,
            other => {
                return Err(bad_request(format!(
                    "`{}` must be png, webp or jpg, not `{other}`",
                    field("format")
                )));
            }
        },
        Some(_) => {
            return Err(bad_request(format!(
                "`{}` must be a string",
                field("format")
            )));
        }
    };
    let max_resolution = optional_int(v, "max_resolution", 12_000_000)?;
    if max_resolution < 1 {
        return Err(bad_request(format!(
            "`{}` must be positive",
            field("max_resolution")
        )));
    }
    let background = match v.get("background_color") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(imaging::parse_color(text).ok_or_else(|| {
            bad_request(format!(
                "`{}` `{text}` is not a colour (use #rrggbb)",
                field("background_color")
            ))
        })?),
        Some(_) => {
            return Err(bad_request(format!(
                "`{}` must be a string",
                field("background_color")
            )));
        }
    };
    if let Some(q) = v.get("quality").filter(|q| !q.is_null() && !q.is_string()) {
        return Err(bad_request(format!(
            "`{}` must be a string, not {q}",
            field("quality")
        )));
    }
    // No range is published for this field: out-of-range values are clamped, not refused.
    let quality = optional_int(v, "output_compression", 85)?.clamp(1, 100) as u8;
    let autocrop = optional_bool(v, "autocrop", false)?;
    Ok(Variant {
        output_key,
        format,
        max_resolution: max_resolution as u64,
        background,
        quality,
        autocrop,
    })
}

/// The remove-bg model: one cut-out, written once per output variant.
fn render_variants(
    image: &DynamicImage,
    variants: Vec<Variant>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let rgb = image.to_rgb8();
    let alpha = imaging::background_alpha(&rgb, imaging::REMOVE_BG);
    let cut = imaging::cutout(&rgb, &alpha);
    variants
        .into_iter()
        .map(|variant| {
            let rgba = if variant.autocrop {
                imaging::autocrop(&cut)
            } else {
                cut.clone()
            };
            // JPEG has no transparency: without a colour the background becomes white.
            let background = match (variant.background, variant.format) {
                (None, OutFormat::Jpeg) => Some([255, 255, 255]),
                (bg, _) => bg,
            };
            let image = match background {
                Some(color) => DynamicImage::ImageRgb8(imaging::flatten(&rgba, color)),
                None => DynamicImage::ImageRgba8(rgba),
            };
            let image = imaging::limit_pixels(image, variant.max_resolution);
            imaging::encode(&image, variant.format, variant.quality)
                .map(|bytes| (variant.output_key, bytes))
        })
        .collect::<Result<Vec<_>, _>>()
}

async fn remove_bg(State(app): State<Arc<BackgroundCut>>, body: Body) -> Answer {
    let body = json_body(body).await?;
    only_documented(&body, &["input_key", "output_variants"], "the request")?;
    let input_key = required_str(&body, "input_key")?.to_owned();
    let variants = match body.get("output_variants") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_variant(i, v))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => return Err(bad_request("`output_variants` must not be empty")),
        None | Some(Value::Null) => return Err(bad_request("`output_variants` is required")),
        Some(_) => return Err(bad_request("`output_variants` must be an array")),
    };
    let now = app.shared.now();
    let input = app.load("input_key", &input_key, now)?;
    let budget = app.shared.config.max_pixels;
    let decoded = blocking(move || imaging::decode(&input, budget))
        .await
        .map_err(Rejection::internal)?
        .map_err(|e| bad_request(format!("input_key `{input_key}`: {e}")))?;
    app.within_processing_limit(pixels(&decoded.image)).await?;
    let cost = variants.len() as i64;
    app.charge(cost)?;
    let image = decoded.image;
    let results = blocking(move || render_variants(&image, variants))
        .await
        .and_then(|r| r);
    let results = results.map_err(|e| {
        app.shared.refund(Provider::BackgroundCut, cost);
        Rejection::internal(e)
    })?;
    let mut output_keys = Vec::with_capacity(results.len());
    for (key, bytes) in results {
        app.store(&key, bytes, now);
        output_keys.push(key);
    }
    app.shared.record_submission(Provider::BackgroundCut);
    Ok(axum::Json(json!({ "output_keys": output_keys })).into_response())
}

/// Points of an AI Cut request, in pixels.
fn parse_points(body: &Map<String, Value>, field: &str) -> Result<Vec<(f64, f64)>, Rejection> {
    let items = match body.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(bad_request(format!(
                "`{field}` must be an array of {{x, y}}"
            )));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let coordinate = |axis: &str| p.get(axis).and_then(Value::as_f64);
            match (coordinate("x"), coordinate("y")) {
                (Some(x), Some(y)) => Ok((x, y)),
                _ => Err(bad_request(format!(
                    "`{field}[{i}]` must be an object with numbers x and y"
                ))),
            }
        })
        .collect()
}

/// AI Cut's points, which are pixel coordinates of the input: outside it is a 400.
fn in_pixels(
    points: &[(f64, f64)],
    (width, height): (u32, u32),
    field: &str,
) -> Result<Vec<(u32, u32)>, Rejection> {
    let (w, h) = (f64::from(width), f64::from(height));
    points
        .iter()
        .map(|&(x, y)| {
            if (0.0..w).contains(&x) && (0.0..h).contains(&y) {
                Ok((x as u32, y as u32))
            } else {
                Err(bad_request(format!(
                    "{field} point ({x}, {y}) is outside the {w}x{h} image (points are pixels)"
                )))
            }
        })
        .collect()
}

async fn ai_cut(State(app): State<Arc<BackgroundCut>>, body: Body) -> Answer {
    let body = json_body(body).await?;
    let documented = [
        "input_key",
        "output_key",
        "foreground_points",
        "background_points",
    ];
    only_documented(&body, &documented, "the request")?;
    let input_key = required_str(&body, "input_key")?.to_owned();
    let output_key = required_str(&body, "output_key")?.to_owned();
    for (field, key) in [("input_key", &input_key), ("output_key", &output_key)] {
        if !has_extension(key, &[".jpg", ".jpeg"]) {
            return Err(bad_request(format!("`{field}` must end in .jpg or .jpeg")));
        }
    }
    let foreground = parse_points(&body, "foreground_points")?;
    let background = parse_points(&body, "background_points")?;
    if foreground.is_empty() {
        return Err(bad_request("at least one foreground point is required"));
    }
    let now = app.shared.now();
    let input = app.load("input_key", &input_key, now)?;
    let budget = app.shared.config.max_pixels;
    let decoded = blocking(move || imaging::decode(&input, budget))
        .await
        .map_err(Rejection::internal)?
        .map_err(|e| bad_request(format!("input_key `{input_key}`: {e}")))?;
    app.within_processing_limit(pixels(&decoded.image)).await?;
    let size = (decoded.image.width(), decoded.image.height());
    let foreground = in_pixels(&foreground, size, "foreground")?;
    let background = in_pixels(&background, size, "background")?;
    app.charge(1)?;
    let encoded = blocking(move || {
        let rgb = decoded.image.to_rgb8();
        let mask = imaging::grow_from_points(&rgb, &foreground, &background);
        imaging::encode(&DynamicImage::ImageLuma8(mask), OutFormat::Jpeg, 95)
    })
    .await
    .and_then(|r| r)
    .map_err(|e| {
        app.shared.refund(Provider::BackgroundCut, 1);
        Rejection::internal(e)
    })?;
    app.store(&output_key, encoded, now);
    app.shared.record_submission(Provider::BackgroundCut);
    Ok(axum::Json(json!({ "output_key": output_key })).into_response())
}

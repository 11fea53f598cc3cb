//! End-to-end support: an in-process [`Sandbox`] for tests, each provider's real client pointed
//! at it, test images (a coloured disc on a flat background), checks that a result really is a
//! cut-out of that image, a table runner for local validation (nothing may reach the sandbox),
//! a loopback webhook receiver, and helpers to read the sandbox's request log.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::Cursor;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use cutout_runtime::{ClientBuilder, Error, FromParts, RetryPolicy, WaitPolicy};
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, RgbaImage};

pub use cutout_sandbox::{
    FaultKind, FaultRates, Faults, LoggedRequest, Provider, Sandbox, SandboxBuilder,
};

/// The seed of every test sandbox (faults and ids are reproducible for a given request order).
pub const SEED: u64 = 7;
/// How long a job takes on a test sandbox: long enough to be seen pending, short enough to wait.
pub const JOB_DURATION: Duration = Duration::from_millis(150);
/// The test image's size.
pub const WIDTH: u32 = 96;
/// The test image's size.
pub const HEIGHT: u32 = 72;
/// The flat background of the test image (a blue).
pub const BACKGROUND: [u8; 3] = [40, 90, 200];
/// The disc in the middle of the test image (an orange red).
pub const SUBJECT: [u8; 3] = [230, 60, 40];

// ---------------------------------------------------------------------------------------------
// Sandboxes and clients

/// A sandbox builder with the test defaults: [`SEED`], [`JOB_DURATION`], and Topaz webhook retries
/// a thousand times faster than documented (the first retry after 5 ms).
pub fn sandbox_builder() -> SandboxBuilder {
    Sandbox::builder()
        .seed(SEED)
        .job_duration(JOB_DURATION)
        .webhook_backoff_scale(0.001)
}

/// Starts a sandbox with the test defaults.
pub async fn start_sandbox() -> Sandbox {
    sandbox_builder().start().await.expect("the sandbox starts")
}

/// Retries for tests: enough attempts to outlast injected faults, short backoffs, no jitter.
pub fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(12)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(200))
        .without_jitter()
}

/// Waiting for tests: polls every 20–50 ms, gives up after a minute.
pub fn wait() -> WaitPolicy {
    WaitPolicy::default()
        .min_interval(Duration::from_millis(20))
        .max_interval(Duration::from_millis(50))
        .deadline(Duration::from_secs(60))
}

/// A client builder pointed at `provider`'s simulator, with its key and [`retry`].
pub fn client_builder<C: FromParts>(sandbox: &Sandbox, provider: Provider) -> ClientBuilder<C> {
    ClientBuilder::<C>::new()
        .base_url(sandbox.base_url(provider))
        .key(sandbox.key(provider))
        .retry(retry())
}

/// The Topaz client for `sandbox`.
pub fn topaz(sandbox: &Sandbox) -> topaz_image::Client {
    client_builder(sandbox, Provider::Topaz)
        .build()
        .expect("topaz client")
}

/// The BackgroundCut client for `sandbox`.
pub fn backgroundcut(sandbox: &Sandbox) -> backgroundcut::Client {
    client_builder(sandbox, Provider::BackgroundCut)
        .build()
        .expect("backgroundcut client")
}

/// The ModelsLab client for `sandbox`.
pub fn modelslab(sandbox: &Sandbox) -> modelslab::Client {
    client_builder(sandbox, Provider::ModelsLab)
        .build()
        .expect("modelslab client")
}

/// The Tengr client for `sandbox`.
pub fn tengr(sandbox: &Sandbox) -> artworks_seg::Client {
    client_builder(sandbox, Provider::Tengr)
        .build()
        .expect("tengr client")
}

/// A client of `provider` with a key the sandbox does not accept.
pub fn with_wrong_key<C: FromParts>(sandbox: &Sandbox, provider: Provider) -> C {
    client_builder::<C>(sandbox, provider)
        .key("not-the-sandbox-key")
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// Test images

/// The disc's centre and radius in a `width` × `height` image.
fn disc(width: u32, height: u32) -> (f64, f64, f64) {
    (
        f64::from(width) / 2.0,
        f64::from(height) / 2.0,
        f64::from(width.min(height)) / 3.0,
    )
}

/// A [`SUBJECT`]-coloured disc (radius a third of the shorter side) centred on a flat
/// [`BACKGROUND`].
pub fn disc_image(width: u32, height: u32) -> RgbImage {
    let (cx, cy, r) = disc(width, height);
    RgbImage::from_fn(width, height, |x, y| {
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        if dx * dx + dy * dy <= r * r {
            Rgb(SUBJECT)
        } else {
            Rgb(BACKGROUND)
        }
    })
}

/// The disc's exact mask: 255 on the disc, 0 elsewhere.
pub fn disc_mask(width: u32, height: u32) -> GrayImage {
    let (cx, cy, r) = disc(width, height);
    GrayImage::from_fn(width, height, |x, y| {
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        Luma([if dx * dx + dy * dy <= r * r { 255 } else { 0 }])
    })
}

/// Encodes an image in `format` (JPEG at quality 95).
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    if format == ImageFormat::Jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        image.write_with_encoder(encoder).expect("JPEG encodes");
    } else {
        image
            .write_to(&mut Cursor::new(&mut out), format)
            .expect("image encodes");
    }
    out
}

/// The disc as an RGB JPEG.
pub fn disc_jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(disc_image(width, height)),
        ImageFormat::Jpeg,
    )
}

/// The disc as an RGB PNG.
pub fn disc_png(width: u32, height: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(disc_image(width, height)),
        ImageFormat::Png,
    )
}

/// The disc as a (lossless) WebP.
pub fn disc_webp(width: u32, height: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(disc_image(width, height)),
        ImageFormat::WebP,
    )
}

/// The disc in grayscale, as a single-channel JPEG.
pub fn disc_gray_jpeg(width: u32, height: u32) -> Vec<u8> {
    let gray = DynamicImage::ImageRgb8(disc_image(width, height)).to_luma8();
    encode(&DynamicImage::ImageLuma8(gray), ImageFormat::Jpeg)
}

// ---------------------------------------------------------------------------------------------
// Checking results

/// Where the checks look: the image's centre (on the disc) and points near each corner (on the
/// background).
fn probe_points(width: u32, height: u32) -> ((u32, u32), [(u32, u32); 4]) {
    let (w, h) = (width - 1, height - 1);
    (
        (width / 2, height / 2),
        [(2, 2), (w - 2, 2), (2, h - 2), (w - 2, h - 2)],
    )
}

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).unwrap_or_else(|e| {
        panic!(
            "the result ({} bytes, starting {:02x?}) is not an image: {e}",
            bytes.len(),
            &bytes[..bytes.len().min(12)]
        )
    })
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

/// Checks that `bytes` is a `width` × `height` image with transparency that keeps the disc
/// (opaque, in its own colour) and drops the background (transparent at every corner).
pub fn assert_cutout(bytes: &[u8], width: u32, height: u32) -> RgbaImage {
    let image = decode(bytes);
    assert!(
        image.color().has_alpha(),
        "a cut-out must have an alpha channel, got {:?}",
        image.color()
    );
    let rgba = image.to_rgba8();
    assert_eq!(rgba.dimensions(), (width, height), "the cut-out's size");
    let (centre, corners) = probe_points(width, height);
    let at_centre = rgba.get_pixel(centre.0, centre.1).0;
    assert!(
        at_centre[3] >= 200,
        "the disc's centre must be opaque: {at_centre:?}"
    );
    assert!(
        close([at_centre[0], at_centre[1], at_centre[2]], SUBJECT, 40),
        "the disc keeps its colour {SUBJECT:?}: {at_centre:?}"
    );
    for (x, y) in corners {
        let pixel = rgba.get_pixel(x, y).0;
        assert!(
            pixel[3] <= 40,
            "the background at ({x}, {y}) must be transparent: {pixel:?}"
        );
    }
    rgba
}

/// Checks that `bytes` is a `width` × `height` mask: white on the disc, black at every corner.
pub fn assert_mask(bytes: &[u8], width: u32, height: u32) -> GrayImage {
    let image = decode(bytes);
    let mask = image.to_luma8();
    assert_eq!(mask.dimensions(), (width, height), "the mask's size");
    let (centre, corners) = probe_points(width, height);
    let at_centre = mask.get_pixel(centre.0, centre.1).0[0];
    assert!(
        at_centre >= 200,
        "the mask must be white on the disc: {at_centre}"
    );
    for (x, y) in corners {
        let value = mask.get_pixel(x, y).0[0];
        assert!(value <= 40, "the mask must be black at ({x}, {y}): {value}");
    }
    mask
}

/// Checks that `bytes` is a `width` × `height` opaque image of the disc on `background`
/// (the removed background filled with a colour).
pub fn assert_flattened(bytes: &[u8], width: u32, height: u32, background: [u8; 3]) -> RgbImage {
    let rgb = decode(bytes).to_rgb8();
    assert_eq!(rgb.dimensions(), (width, height), "the image's size");
    let (centre, corners) = probe_points(width, height);
    let at_centre = rgb.get_pixel(centre.0, centre.1).0;
    assert!(
        close(at_centre, SUBJECT, 40),
        "the disc keeps its colour: {at_centre:?}"
    );
    for (x, y) in corners {
        let pixel = rgb.get_pixel(x, y).0;
        assert!(
            close(pixel, background, 40),
            "the background at ({x}, {y}) must be {background:?}: {pixel:?}"
        );
    }
    rgb
}

/// Whether `bytes` starts with the PNG signature.
pub fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// Whether `bytes` is a RIFF WebP file.
pub fn is_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
}

/// Whether `bytes` starts with the JPEG signature.
pub fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

// ---------------------------------------------------------------------------------------------
// Local validation

/// Empties the request log, runs the call that `call` makes, and checks that it failed locally:
/// an [`Error::InvalidInput`] naming `field`, whose message contains `hint`, with nothing sent to
/// any simulator or to the file host.
///
/// The call is made inside the returned (boxed) future, so that a test with many cases keeps its
/// own state and stack small (debug builds do not share stack slots between them).
pub fn expect_invalid<'a, T, F>(
    sandbox: &'a Sandbox,
    field: &'a str,
    hint: &'a str,
    call: impl FnOnce() -> F + 'a,
) -> Pin<Box<dyn Future<Output = ()> + 'a>>
where
    T: fmt::Debug + 'a,
    F: Future<Output = Result<T, Error>> + 'a,
{
    Box::pin(async move {
        sandbox.clear_requests();
        let error = match call().await {
            Ok(value) => panic!("expected invalid `{field}`, got Ok({value:?})"),
            Err(error) => error,
        };
        assert!(
            error.is_invalid_input(),
            "expected invalid `{field}`: {error:?}"
        );
        match &error {
            Error::InvalidInput {
                field: named,
                message,
            } => {
                assert_eq!(named, field, "the field named by: {error}");
                assert!(
                    message.contains(hint),
                    "the message for `{field}` should contain {hint:?}: {message}"
                );
            }
            other => panic!("expected invalid `{field}`: {other:?}"),
        }
        let shown = error.to_string();
        assert!(
            shown.contains(field) && shown.contains("nothing was sent"),
            "{shown}"
        );
        let sent = sandbox.requests();
        assert!(
            sent.is_empty(),
            "invalid `{field}` must send nothing, but the sandbox got {sent:#?}"
        );
    })
}

/// Like [`expect_invalid`] for [`Error::Unsupported`]: the message contains `hint` and nothing
/// was sent.
pub fn expect_unsupported<'a, T, F>(
    sandbox: &'a Sandbox,
    hint: &'a str,
    call: impl FnOnce() -> F + 'a,
) -> Pin<Box<dyn Future<Output = ()> + 'a>>
where
    T: fmt::Debug + 'a,
    F: Future<Output = Result<T, Error>> + 'a,
{
    Box::pin(async move {
        sandbox.clear_requests();
        let error = match call().await {
            Ok(value) => panic!("expected an unsupported request, got Ok({value:?})"),
            Err(error) => error,
        };
        match &error {
            Error::Unsupported { message, .. } => assert!(
                message.contains(hint),
                "the message should contain {hint:?}: {message}"
            ),
            other => panic!("expected Error::Unsupported: {other:?}"),
        }
        let sent = sandbox.requests();
        assert!(
            sent.is_empty(),
            "an unsupported request must send nothing, but the sandbox got {sent:#?}"
        );
    })
}

// ---------------------------------------------------------------------------------------------
// The request log

/// The requests `provider`'s simulator received (`None`: the file host).
pub fn requests_to(sandbox: &Sandbox, provider: Option<Provider>) -> Vec<LoggedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.provider == provider)
        .collect()
}

/// The operations in a log, as `METHOD /path`, with ids (UUIDs, numbers) replaced by `{id}`.
pub fn operations(requests: &[LoggedRequest]) -> BTreeSet<String> {
    requests
        .iter()
        .map(|r| {
            let path: Vec<String> = r
                .path
                .split('/')
                .map(|segment| {
                    let is_uuid = segment.len() == 36 && segment.matches('-').count() == 4;
                    let is_number =
                        !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit());
                    if is_uuid || is_number {
                        "{id}".to_owned()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect();
            format!("{} {}", r.method, path.join("/"))
        })
        .collect()
}

/// How many requests of `requests` got each injected fault.
pub fn fault_counts(requests: &[LoggedRequest]) -> HashMap<FaultKind, usize> {
    let mut counts = HashMap::new();
    for fault in requests.iter().filter_map(|r| r.fault) {
        *counts.entry(fault).or_insert(0) += 1;
    }
    counts
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < timeout,
            "gave up after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver

#[derive(Clone, Default)]
struct ReceiverState {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

/// A loopback HTTP server that records the body of every POST it gets, answering with the
/// statuses it was started with (in order), then 200.
#[derive(Debug)]
pub struct WebhookReceiver {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts a receiver on `127.0.0.1`; its first answers are `answers`, then 200.
    pub async fn start(answers: Vec<u16>) -> Self {
        let state = ReceiverState {
            bodies: Arc::default(),
            answers: Arc::new(Mutex::new(answers.into())),
        };
        let bodies = state.bodies.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let state = state.clone();
            async move {
                state.bodies.lock().expect("lock").push(body.to_vec());
                let status = state.answers.lock().expect("lock").pop_front();
                StatusCode::from_u16(status.unwrap_or(200)).unwrap_or(StatusCode::OK)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            url: format!("http://{address}/hooks/e2e?token=s3cret"),
            bodies,
            task,
        }
    }

    /// The URL to give as a webhook.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every body received so far, in order.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("lock").clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

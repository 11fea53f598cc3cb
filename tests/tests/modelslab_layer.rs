//! The hand-written layer of `modelslab` against a local recording server: queued requests
//! followed to the end, the account's queue cap, rate limits, inline images, local validation
//! (nothing sent) and the key, which travels in the JSON body and nowhere else.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use cutout_tests::{RecordingServer, Route, fixture};
use modelslab::types::{FlexibleId, WebhookPayload};
use modelslab::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, MaskOutput, MaskState,
    Progress, RemoveOptions, RetryPolicy, WaitPolicy, webhook,
};
use serde_json::json;

const KEY: &str = "modelslab-layer-secret-key-77";
const REMOVE: &str = "/image_editing/removebg_mask";
const JOB: i64 = 96709;

// ---------------------------------------------------------------------------------------------
// Test images and base64

/// A valid PNG of this size (a disc on a flat background).
fn png(width: u32, height: u32) -> Vec<u8> {
    cutout_tests::sandbox::disc_png(width, height)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Server answers

fn success(id: i64, url: &str) -> serde_json::Value {
    json!({
        "status": "success", "generationTime": 1.5, "id": id,
        "output": [url], "proxy_links": [url], "meta": {"seed": 1, "only_mask": "0"}
    })
}

fn queued(eta: u64) -> serde_json::Value {
    json!({
        "status": "processing", "tip": "wait", "eta": eta, "message": "queued",
        "fetch_result": format!("https://modelslab.com/api/v6/image_editing/fetch/{JOB}"),
        "id": JOB, "output": [], "future_links": ["https://cdn.example.com/future.png"],
        "proxy_links": [], "meta": {}
    })
}

fn still_processing(eta: u64) -> serde_json::Value {
    let mut body = fixture("modelslab/fetch.processing.json");
    body["eta"] = eta.into();
    body
}

fn fetch_path() -> String {
    format!("/image_editing/fetch/{JOB}")
}

fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(10))
        .without_jitter()
}

fn fast_wait() -> WaitPolicy {
    WaitPolicy::default()
        .min_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(50))
        .deadline(Duration::from_secs(10))
}

async fn setup(routes: Vec<Route>) -> (RecordingServer, Client) {
    let server = RecordingServer::start(routes).await;
    let client = Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    (server, client)
}

const URL: &str = "https://images.example.com/portrait.jpg";

/// Asserts a local validation failure naming `field`, with `fragment` in its message.
fn assert_refused(result: Result<impl std::fmt::Debug, CutoutError>, field: &str, fragment: &str) {
    match result {
        Err(CutoutError::InvalidInput {
            field: got,
            message,
        }) => {
            assert_eq!(got, field);
            assert!(message.contains(fragment), "{message}");
        }
        other => panic!("expected a local validation error on `{field}`, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Queued requests

#[tokio::test]
async fn a_queued_request_is_fetched_at_its_eta_until_it_succeeds() {
    let (server, client) = setup(vec![
        Route::json(Method::POST, REMOVE, 200, queued(2)),
        Route::json(Method::POST, &fetch_path(), 200, still_processing(1)).times(2),
        Route::json(
            Method::POST,
            &fetch_path(),
            200,
            success(JOB, "https://cdn.example.com/mask.png"),
        ),
    ])
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let result = client
        .remove_bg(ImageSource::url(URL))
        .only_mask(true)
        .wait(fast_wait())
        .on_progress(move |p| sink.lock().unwrap().push(p.clone()))
        .run()
        .await
        .unwrap();
    assert_eq!(result.id, Some(JOB));
    assert_eq!(
        result.output,
        MaskOutput::Urls(vec!["https://cdn.example.com/mask.png".to_owned()])
    );
    assert_eq!(result.generation_time, Some(Duration::from_millis(1500)));
    assert_eq!(result.meta.as_ref().unwrap()["only_mask"], "0");

    let requests = server.requests();
    let paths: Vec<_> = requests.iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [REMOVE.to_owned(), fetch_path(), fetch_path(), fetch_path()]
    );
    let first = requests[0].json();
    assert_eq!(first["image"], URL);
    assert_eq!(first["only_mask"], true);
    assert_eq!(first["alpha_matting_foreground_threshold"], 240);
    for request in &requests {
        assert_eq!(request.json()["key"], KEY);
    }

    // The submission's own answer (ETA 2 s), then two fetches still processing (ETA 1 s each).
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|p| p.polls).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        seen.iter().map(|p| p.eta).collect::<Vec<_>>(),
        [
            Some(Duration::from_secs(2)),
            Some(Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        ]
    );
    assert!(
        seen.iter()
            .all(|p| p.status == "processing" && p.job_id == "96709")
    );
}

#[tokio::test]
async fn the_one_call_flow_downloads_the_first_output_link() {
    let mask = png(6, 4);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/generations/mask.png",
        200,
        mask.clone(),
        "image/png",
    )])
    .await;
    let output = format!("{}/generations/mask.png", cdn.url());
    let (server, client) = setup(vec![
        Route::json(Method::POST, REMOVE, 200, queued(1)),
        Route::json(Method::POST, &fetch_path(), 200, success(JOB, &output)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "portrait.png", &png(6, 4));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let cutout = client
        .remove_background(
            ImageSource::path(&input),
            RemoveOptions::mask()
                .wait(fast_wait())
                .on_progress(move |e| sink.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    assert_eq!(cutout.kind, CutoutKind::Mask);
    assert_eq!((cutout.width, cutout.height), (6, 4));
    assert_eq!(cutout.bytes.as_ref(), mask.as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some("96709"));
    assert_eq!(cutout.provider, "modelslab");

    assert_eq!(server.requests()[0].json()["only_mask"], true);
    let download = cdn.single();
    assert!(download.body.is_empty());
    assert_eq!(download.header("x-api-key"), None);

    let events = events.lock().unwrap().clone();
    assert_eq!(
        events[0],
        Progress::Submitted {
            job_id: "96709".to_owned()
        }
    );
    assert!(matches!(events[1], Progress::Waiting(_)));
    assert_eq!(events.last(), Some(&Progress::Downloading));
}

#[tokio::test]
async fn submit_returns_a_job_handle_that_refreshes_and_waits() {
    let mask = "https://cdn.example.com/mask.png";
    let (server, client) = setup(vec![
        Route::json(Method::POST, REMOVE, 200, queued(2)),
        Route::json(Method::POST, &fetch_path(), 200, still_processing(1)).times(1),
        Route::json(Method::POST, &fetch_path(), 200, success(JOB, mask)),
    ])
    .await;
    let mut job = client
        .remove_bg(ImageSource::url(URL))
        .submit()
        .await
        .unwrap();
    assert_eq!(job.id(), Some(JOB));
    let shown = format!("{job:?}");
    assert!(shown.contains("96709") && !shown.contains(KEY), "{shown}");
    assert!(
        matches!(job.state(), MaskState::Processing(p) if p.eta == Some(Duration::from_secs(2)))
    );
    assert_eq!(server.requests().len(), 1, "submit does not wait");
    // One fetch: still processing, now with the fetch's ETA.
    let state = job.refresh().await.unwrap();
    assert!(matches!(state, MaskState::Processing(p) if p.eta == Some(Duration::from_secs(1))));
    let result = job.wait(&fast_wait(), |_| {}).await.unwrap();
    assert_eq!(result.output.urls(), [mask]);
    let paths: Vec<_> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, [REMOVE.to_owned(), fetch_path(), fetch_path()]);

    // Done at once: the handle holds the result; neither refresh nor wait asks again.
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        success(7, mask),
    )])
    .await;
    let mut job = client
        .remove_bg(ImageSource::url(URL))
        .submit()
        .await
        .unwrap();
    assert_eq!(job.id(), Some(7));
    assert!(matches!(job.refresh().await.unwrap(), MaskState::Done(_)));
    let result = job.wait(&fast_wait(), |_| {}).await.unwrap();
    assert_eq!(result.id, Some(7));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn both_output_shapes_of_a_queued_answer_are_accepted() {
    let mut string_output = queued(3);
    string_output["output"] = "".into();
    let mut array_output = fixture("modelslab/fetch.processing.json");
    array_output["output"] = json!([]);
    let (_server, client) = setup(vec![
        Route::json(Method::POST, REMOVE, 200, string_output),
        Route::json(Method::POST, &fetch_path(), 200, array_output),
    ])
    .await;
    match client
        .remove_bg(ImageSource::url(URL))
        .submit()
        .await
        .unwrap()
        .into_state()
    {
        MaskState::Processing(p) => {
            assert_eq!(p.id, JOB);
            assert_eq!(p.eta, Some(Duration::from_secs(3)));
            assert_eq!(p.future_links, ["https://cdn.example.com/future.png"]);
        }
        other => panic!("expected processing, got {other:?}"),
    }
    match client.fetch(JOB).await.unwrap() {
        MaskState::Processing(p) => {
            assert_eq!(p.id, JOB);
            assert_eq!(p.eta, Some(Duration::from_secs(4)));
        }
        other => panic!("expected processing, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_answer_is_job_failed_with_the_message_under_either_spelling() {
    let (server, client) = setup(vec![
        Route::json(
            Method::POST,
            REMOVE,
            200,
            fixture("modelslab/error.messege.json"),
        )
        .times(1),
        Route::json(Method::POST, REMOVE, 200, queued(1)),
        Route::json(
            Method::POST,
            &fetch_path(),
            200,
            json!({"status": "error", "message": "Image could not be processed"}),
        ),
    ])
    .await;
    let error = client
        .remove_bg(ImageSource::url(URL))
        .run()
        .await
        .unwrap_err();
    match &error {
        CutoutError::JobFailed {
            provider,
            job_id,
            status,
            message,
        } => {
            assert_eq!(*provider, "modelslab");
            assert_eq!(job_id, "(not queued)");
            assert_eq!(status, "error");
            assert_eq!(message.as_deref(), Some("Invalid API key"));
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert!(error.to_string().contains("Invalid API key"), "{error}");

    let error = client
        .remove_bg(ImageSource::url(URL))
        .wait(fast_wait())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CutoutError::JobFailed { job_id, .. } if job_id == "96709"),
        "{error:?}"
    );
    assert!(error.to_string().contains("Image could not be processed"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_http_error_with_the_old_spelling_keeps_its_message() {
    let (_server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        401,
        json!({"status": "error", "messege": "Invalid API key"}),
    )])
    .await;
    let error = client
        .remove_bg(ImageSource::url(URL))
        .run()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.provider_message(), Some("Invalid API key"));
    assert!(error.is_auth());
    assert!(error.to_string().contains("MODELSLAB_API_KEY"), "{error}");
}

#[tokio::test]
async fn a_429_is_sent_again_after_the_retry_after_of_its_body() {
    let (server, client) = setup(vec![
        Route::json(
            Method::POST,
            REMOVE,
            429,
            json!({"status": "error", "message": "Too many queued requests", "retry_after": 1}),
        )
        .times(1),
        Route::json(
            Method::POST,
            REMOVE,
            200,
            success(1, "https://cdn.example.com/a.png"),
        ),
    ])
    .await;
    let result = client.remove_bg(ImageSource::url(URL)).run().await.unwrap();
    assert_eq!(result.id, Some(1));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
}

#[tokio::test]
async fn base64_answers_decode_to_the_images() {
    let image = png(2, 2);
    let text: String = {
        // Encode by hand (standard alphabet, padded) to stay independent of the crate under test.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for group in image.chunks(3) {
            let b = [
                group[0],
                *group.get(1).unwrap_or(&0),
                *group.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= group.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        json!({"status": "success", "id": 5, "output": [text.clone(), format!("data:image/png;base64,{text}")]}),
    )])
    .await;
    let result = client
        .remove_bg(ImageSource::url(URL))
        .base64(true)
        .run()
        .await
        .unwrap();
    assert_eq!(server.single().json()["base64"], true);
    assert!(matches!(result.output, MaskOutput::Base64(_)));
    assert_eq!(result.decode_base64().unwrap(), vec![image.clone(), image]);
    assert!(
        !format!("{result:?}").contains(&text),
        "base64 is shown by length"
    );
}

// ---------------------------------------------------------------------------------------------
// Inline images and the key

#[tokio::test]
async fn a_local_file_travels_as_a_data_uri() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        success(2, "https://cdn.example.com/b.png"),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let image = png(9, 7);
    let input = write(dir.path(), "no-extension", &image);
    client
        .remove_bg(ImageSource::path(&input))
        .run()
        .await
        .unwrap();
    let body = server.single().json();
    let uri = body["image"].as_str().unwrap();
    let data = uri
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("not a PNG data URI: {}", &uri[..40.min(uri.len())]));
    assert_eq!(base64_decode(data), image);
}

#[tokio::test]
async fn the_key_is_in_the_body_once_and_never_in_debug_output() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        success(3, "https://cdn.example.com/c.png"),
    )])
    .await;
    let request = client
        .remove_bg(ImageSource::bytes(png(1, 1), "a.png"))
        .alpha_matting(true)
        .webhook("https://hooks.example.com/ml?token=hook-secret")
        .track_id(8)
        .on_progress(|_| {});
    let shown = format!("{request:?}");
    assert!(
        !shown.contains(KEY) && !shown.contains("hook-secret"),
        "{shown}"
    );
    let result = request.run().await.unwrap();

    let recorded = server.single();
    let raw = String::from_utf8(recorded.body.clone()).unwrap();
    assert_eq!(raw.matches(KEY).count(), 1, "{raw}");
    let body = recorded.json();
    assert_eq!(body["key"], KEY);
    assert_eq!(
        body["webhook"],
        "https://hooks.example.com/ml?token=hook-secret"
    );
    assert_eq!(body["track_id"], 8);
    assert_eq!(body["alpha_matting"], true);
    assert_eq!(recorded.header("x-api-key"), None);
    assert_eq!(recorded.header("authorization"), None);

    for text in [
        format!("{client:?}"),
        format!("{result:?}"),
        format!("{:?}", client.context()),
        format!("{:?}", Client::builder().key(KEY)),
    ] {
        assert!(!text.contains(KEY), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Local validation: nothing is sent

#[tokio::test]
async fn a_foreground_threshold_above_240_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client
        .remove_bg(ImageSource::url(URL))
        .foreground_threshold(241)
        .run()
        .await;
    assert_refused(
        result,
        "alpha_matting_foreground_threshold",
        "241 is outside 0..=240",
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_background_threshold_above_20_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client
        .remove_bg(ImageSource::url(URL))
        .background_threshold(21)
        .submit()
        .await;
    assert_refused(
        result,
        "alpha_matting_background_threshold",
        "21 is outside 0..=20",
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_erode_size_above_5_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client
        .remove_bg(ImageSource::url(URL))
        .erode_size(6)
        .run()
        .await;
    assert_refused(result, "alpha_matting_erode_size", "6 is outside 0..=5");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_bounds_themselves_are_accepted() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        success(4, "https://cdn.example.com/d.png"),
    )])
    .await;
    client
        .remove_bg(ImageSource::url(URL))
        .foreground_threshold(0)
        .background_threshold(20)
        .erode_size(5)
        .seed(42)
        .run()
        .await
        .unwrap();
    let body = server.single().json();
    assert_eq!(body["alpha_matting_foreground_threshold"], 0);
    assert_eq!(body["alpha_matting_background_threshold"], 20);
    assert_eq!(body["alpha_matting_erode_size"], 5);
    assert_eq!(body["seed"], 42);
}

#[tokio::test]
async fn a_webhook_that_is_not_an_http_url_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for url in ["hooks.example.com/ml", "mailto:me@example.com", ""] {
        let result = client
            .remove_bg(ImageSource::url(URL))
            .webhook(url)
            .run()
            .await;
        assert_refused(result, "webhook", "http(s) URL");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_image_url_that_is_not_http_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client
        .remove_bg(ImageSource::url("file:///home/me/a.png"))
        .run()
        .await;
    assert_refused(result, "image", "scheme `file`");
    assert!(server.requests().is_empty());
}

/// A PNG header alone (33 bytes) claiming 0×0 pixels.
fn empty_png_header() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

#[tokio::test]
async fn an_image_of_zero_pixels_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.png", &empty_png_header());
    let result = client.remove_bg(ImageSource::path(&path)).run().await;
    assert_refused(result, "image", "says it is 0×0 pixels");
    let result = client
        .remove_bg(ImageSource::bytes(empty_png_header(), "empty.png"))
        .run()
        .await;
    assert_refused(result, "image", "`empty.png` says it is 0×0 pixels");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_an_image_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "photo.png", b"definitely not pixels");
    let result = client.remove_bg(ImageSource::path(&text)).run().await;
    assert_refused(result, "image", "is not an image");
    let result = client
        .remove_bg(ImageSource::bytes(b"%PDF-1.7".to_vec(), "a.pdf"))
        .run()
        .await;
    assert_refused(result, "image", "`a.pdf` is not an image");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_missing_file_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let result = client
        .remove_bg(ImageSource::path(dir.path().join("gone.png")))
        .run()
        .await;
    assert_refused(result, "image", "does not exist");
    assert!(server.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The account's queue cap

/// The largest number of requests that arrived within `window` of each other, i.e. that were
/// in flight together when the server holds each for `window`.
fn most_in_flight(arrivals: &[Instant], window: Duration) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|at| **at >= *start && at.duration_since(*start) < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn no_more_jobs_run_at_once_than_the_client_allows() {
    let delay = Duration::from_millis(300);
    let server = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            REMOVE,
            200,
            success(9, "https://cdn.example.com/e.png"),
        )
        .delay(delay),
    ])
    .await;
    let capped = Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(retry())
        .max_concurrent_jobs(Some(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let jobs = (0..5).map(|i| {
        // Clones share the cap.
        let client = capped.clone();
        async move {
            client
                .remove_bg(ImageSource::url(format!("{URL}?n={i}")))
                .run()
                .await
        }
    });
    for result in futures_util::future::join_all(jobs).await {
        result.unwrap();
    }
    let elapsed = started.elapsed();
    let arrivals: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(arrivals.len(), 5);
    assert_eq!(most_in_flight(&arrivals, delay), 2, "{arrivals:?}");
    assert!(elapsed >= delay * 3, "5 jobs, 2 at a time: {elapsed:?}");

    // Without the cap, all five are in flight together: the measure above does see overlap.
    let open = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            REMOVE,
            200,
            success(9, "https://cdn.example.com/e.png"),
        )
        .delay(delay),
    ])
    .await;
    let uncapped = Client::builder()
        .base_url(open.url())
        .key(KEY)
        .max_concurrent_jobs(None)
        .build()
        .unwrap();
    let jobs = (0..5).map(|_| uncapped.remove_bg(ImageSource::url(URL)).run());
    for result in futures_util::future::join_all(jobs).await {
        result.unwrap();
    }
    let arrivals: Vec<Instant> = open.requests().iter().map(|r| r.at).collect();
    assert_eq!(most_in_flight(&arrivals, delay), 5);
}

// ---------------------------------------------------------------------------------------------
// Webhooks

#[test]
fn webhook_calls_parse_with_ids_as_numbers_or_strings() {
    match webhook::parse(&serde_json::to_vec(&fixture("modelslab/webhook.success.json")).unwrap())
        .unwrap()
    {
        WebhookPayload::Success(done) => {
            assert_eq!(done.id, Some(FlexibleId::String("96708".to_owned())));
            assert_eq!(done.id.as_ref().and_then(webhook::id_number), Some(96708));
            assert_eq!(done.track_id.as_ref().and_then(webhook::id_number), Some(7));
            assert_eq!(done.output.len(), 1);
        }
        other => panic!("expected success, got {other:?}"),
    }
    match webhook::parse(&serde_json::to_vec(&fixture("modelslab/webhook.failed.json")).unwrap())
        .unwrap()
    {
        WebhookPayload::Failed(failed) => {
            assert_eq!(failed.id.as_ref().and_then(webhook::id_number), Some(96710));
            assert_eq!(
                failed.track_id.as_ref().and_then(webhook::id_number),
                Some(8)
            );
            assert_eq!(
                failed.message.as_deref(),
                Some("The image could not be processed")
            );
        }
        other => panic!("expected failed, got {other:?}"),
    }
    // An undocumented status reads as the catch-all; a body without a status is refused.
    assert!(matches!(
        webhook::parse(br#"{"status": "finished"}"#).unwrap(),
        WebhookPayload::Other(other) if other.status == "finished"
    ));
    let error = webhook::parse(br#"{"state": "finished"}"#).unwrap_err();
    assert!(matches!(&error, CutoutError::InvalidInput { field, .. } if field == "webhook body"));
    assert!(error.to_string().contains("not a ModelsLab webhook call"));
}

//! ModelsLab's `removebg_mask` with a local image, whose JSON body is streamed (prefix with the
//! key, the image's base64 encoded chunk by chunk, suffix), against plain loopback servers: the
//! bytes on the wire are exactly those of the non-streamed body (checked against the generated
//! operation and against a body built here with serde_json), with an exact `Content-Length`;
//! the inline size limit is checked before anything is read or sent; retries resend the same
//! bytes; a redirect never carries the body (nor the key in it) anywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::Method;
use base64::Engine as _;
use cutout_tests::{Recorded, RecordingServer, Route};
use modelslab::{Client, CutoutError, ImageSource, Limits, RetryPolicy};
use serde_json::json;

const KEY: &str = "ml-stream-secret-key-\"quoted\"-42";
const REMOVE: &str = "/image_editing/removebg_mask";
const WEBHOOK: &str = "https://hooks.example.com/ml?token=hook-secret&name=caf%C3%A9";

fn success() -> serde_json::Value {
    json!({
        "status": "success", "generationTime": 0.4, "id": 11,
        "output": ["https://cdn.example.com/out.png"], "proxy_links": [], "meta": {}
    })
}

fn png() -> Vec<u8> {
    cutout_tests::sandbox::disc_png(23, 17)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn client(server: &RecordingServer, retry: RetryPolicy, limits: Limits) -> Client {
    Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(retry)
        .limits(limits)
        .build()
        .unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(5))
        .without_jitter()
}

/// The body the API documents, written here with serde_json: the key first (where the client
/// has always put it), then the request's fields in the order the request type declares them.
fn reference_body(image: &str) -> Vec<u8> {
    let fields = serde_json::to_string(&json!({
        "alpha_matting": true,
        "alpha_matting_background_threshold": 20,
        "alpha_matting_erode_size": 3,
        "alpha_matting_foreground_threshold": 240,
        "base64": false,
        "image": image,
        "inverse_mask": false,
        "only_mask": true,
        "post_process_mask": false,
        "seed": 7,
        "track_id": 99,
        "webhook": WEBHOOK,
    }))
    .unwrap();
    let key = serde_json::to_string(KEY).unwrap();
    format!("{{\"key\":{key},{}", &fields[1..]).into_bytes()
}

fn data_uri(image: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(image)
    )
}

fn with_options(request: modelslab::RemoveBgRequest<'_>) -> modelslab::RemoveBgRequest<'_> {
    request
        .alpha_matting(true)
        .erode_size(3)
        .only_mask(true)
        .seed(7)
        .track_id(99)
        .webhook(WEBHOOK)
}

/// What a request must look like on the wire, whichever way it was sent.
fn assert_sent(request: &Recorded, expected: &[u8]) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, REMOVE);
    assert!(
        request.body == expected,
        "the body differs from the expected one:\n  sent {}\n  want {}",
        String::from_utf8_lossy(&request.body[..request.body.len().min(300)]),
        String::from_utf8_lossy(&expected[..expected.len().min(300)]),
    );
    assert_eq!(
        request.header("content-length"),
        Some(expected.len().to_string()),
        "an exact Content-Length"
    );
    assert_eq!(request.header("transfer-encoding"), None, "not chunked");
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        request.header("accept").as_deref(),
        Some("application/json")
    );
    assert_eq!(request.header("api-version"), None);
    let raw = String::from_utf8_lossy(&request.body);
    let key = serde_json::to_string(KEY).unwrap();
    assert_eq!(raw.matches(&key).count(), 1, "the key, once");
}

#[tokio::test]
async fn a_local_image_streams_exactly_the_non_streamed_body() {
    let server =
        RecordingServer::start(vec![Route::json(Method::POST, REMOVE, 200, success())]).await;
    let client = client(&server, RetryPolicy::none(), Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let image = png();
    let path = write(dir.path(), "portrait.png", &image);
    let expected = reference_body(&data_uri(&image));

    // Streamed, from a file and from bytes.
    let _job = with_options(client.remove_bg(ImageSource::path(&path)))
        .submit()
        .await
        .unwrap();
    let _job = with_options(client.remove_bg(ImageSource::bytes(image.clone(), "portrait.png")))
        .submit()
        .await
        .unwrap();
    // Not streamed: the generated operation, with the data URI built here.
    client
        .removebg_mask()
        .body_map(|b| {
            b.image(data_uri(&image))
                .alpha_matting(true)
                .alpha_matting_erode_size(3)
                .only_mask(true)
                .seed(Some(7))
                .track_id(Some(99))
                .webhook(Some(WEBHOOK.to_owned()))
        })
        .send()
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_sent(request, &expected);
    }
    assert!(requests[0].body == requests[2].body);
}

#[tokio::test]
async fn a_larger_image_spanning_many_chunks_is_sent_whole() {
    let server =
        RecordingServer::start(vec![Route::json(Method::POST, REMOVE, 200, success())]).await;
    let client = client(&server, RetryPolicy::none(), Limits::default());
    let dir = tempfile::tempdir().unwrap();
    // A PNG header, then 3 MiB + 2 bytes of varied filler: many chunks, and a padded tail.
    let mut image = png();
    image.extend((0..(3 << 20) + 2).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let path = write(dir.path(), "big.png", &image);
    let _job = with_options(client.remove_bg(ImageSource::path(&path)))
        .submit()
        .await
        .unwrap();
    assert_sent(&server.single(), &reference_body(&data_uri(&image)));
}

#[tokio::test]
async fn a_url_image_is_sent_as_before() {
    let server =
        RecordingServer::start(vec![Route::json(Method::POST, REMOVE, 200, success())]).await;
    let client = client(&server, RetryPolicy::none(), Limits::default());
    let url = "https://images.example.com/portrait.png";
    let _job = with_options(client.remove_bg(ImageSource::url(url)))
        .submit()
        .await
        .unwrap();
    assert_sent(&server.single(), &reference_body(url));
}

#[tokio::test]
async fn a_503_is_retried_with_an_identical_body() {
    let server = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            REMOVE,
            503,
            json!({"status": "error", "message": "busy"}),
        )
        .times(1),
        Route::json(Method::POST, REMOVE, 200, success()),
    ])
    .await;
    let client = client(&server, fast_retry(), Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let image = png();
    let path = write(dir.path(), "portrait.png", &image);
    let state = with_options(client.remove_bg(ImageSource::path(&path)))
        .submit()
        .await
        .unwrap();
    assert!(matches!(state.state(), modelslab::MaskState::Done(_)));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one retry");
    let expected = reference_body(&data_uri(&image));
    for request in &requests {
        assert_sent(request, &expected);
    }
}

#[tokio::test]
async fn a_paid_submission_is_not_resent_after_a_gateway_error() {
    let server = RecordingServer::start(vec![
        Route::empty(Method::POST, REMOVE, 502).times(1),
        Route::json(Method::POST, REMOVE, 200, success()),
    ])
    .await;
    let client = client(&server, fast_retry(), Limits::default());
    let error = client
        .remove_bg(ImageSource::bytes(png(), "a.png"))
        .submit()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(502), "{error}");
    assert_eq!(server.requests().len(), 1, "the job may have started");
}

#[tokio::test]
async fn a_redirect_is_never_followed_with_the_body_or_the_key() {
    let elsewhere =
        RecordingServer::start(vec![Route::json(Method::POST, "/*", 200, success())]).await;
    for status in [307, 308, 303, 302] {
        let target = format!("{}/collect?from={status}", elsewhere.url());
        let api =
            RecordingServer::start(vec![Route::redirect(Method::POST, REMOVE, status, &target)])
                .await;
        let client = client(&api, fast_retry(), Limits::default());
        let error = client
            .remove_bg(ImageSource::bytes(png(), "a.png"))
            .submit()
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status), "{error}");
        let message = error.to_string();
        assert!(message.contains("redirect"), "{message}");
        assert!(!message.contains(KEY), "{message}");
        assert_eq!(api.requests().len(), 1, "sent once, to the API");
        assert_eq!(
            api.single().header("content-length"),
            Some(api.single().body.len().to_string())
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the other host: {:?}",
        elsewhere.requests()
    );
}

/// Asserts the inline size refusal, naming the image, its size and the limit.
fn assert_too_large(error: CutoutError, name: &str, size: u64, limit: u64) {
    // Unsupported, not invalid: the router moves on to a provider that uploads files.
    let CutoutError::Unsupported { provider, message } = &error else {
        panic!("expected an unsupported input, got {error:?}");
    };
    assert_eq!(*provider, "modelslab");
    for part in [
        format!("`{name}`"),
        format!("({size} bytes)"),
        format!("({limit} bytes)"),
        "Limits::inline_image".to_owned(),
        "URL".to_owned(),
    ] {
        assert!(message.contains(&part), "{part} missing from: {message}");
    }
}

#[tokio::test]
async fn an_image_over_the_inline_limit_is_refused_before_anything_is_read_or_sent() {
    let server =
        RecordingServer::start(vec![Route::json(Method::POST, REMOVE, 200, success())]).await;
    let dir = tempfile::tempdir().unwrap();

    // The default limit, 64 MiB: one byte more is refused (a sparse file: nothing is written).
    let client = client(&server, RetryPolicy::none(), Limits::default());
    let huge = dir.path().join("huge.png");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let error = client
        .remove_bg(ImageSource::path(&huge))
        .submit()
        .await
        .unwrap_err();
    // Its content (zeros, not an image) is never read: the size is checked first.
    assert_too_large(error, &huge.display().to_string(), (64 << 20) + 1, 64 << 20);

    // A limit of 100 bytes, for files and bytes alike, in `run` and `submit`.
    let client = client_with_limit(&server, 100);
    let image = png();
    assert!(image.len() > 100, "the test image is {} bytes", image.len());
    let path = write(dir.path(), "portrait.png", &image);
    let error = client
        .remove_bg(ImageSource::path(&path))
        .run()
        .await
        .unwrap_err();
    assert_too_large(error, &path.display().to_string(), image.len() as u64, 100);
    let error = client
        .remove_bg(ImageSource::bytes(image.clone(), "mem.png"))
        .submit()
        .await
        .unwrap_err();
    assert_too_large(error, "mem.png", image.len() as u64, 100);
    assert!(server.requests().is_empty(), "nothing was sent");

    // Raising it lets the same image through; a URL is never limited.
    let _job = client_with_limit(&server, image.len() as u64)
        .remove_bg(ImageSource::path(&path))
        .submit()
        .await
        .unwrap();
    let _job = client
        .remove_bg(ImageSource::url("https://images.example.com/a.png"))
        .submit()
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 2);
}

fn client_with_limit(server: &RecordingServer, limit: u64) -> Client {
    client(
        server,
        RetryPolicy::none(),
        Limits::default().inline_image(limit),
    )
}

#[tokio::test]
async fn a_file_that_changes_size_after_the_check_is_not_sent() {
    // One job slot, held by a slow first request: the second is checked, then waits for the
    // slot while its file grows. (The test runtime has one thread: the second task runs its
    // checks as soon as the test task sleeps.)
    let server = RecordingServer::start(vec![
        Route::json(Method::POST, REMOVE, 200, success()).delay(Duration::from_millis(1500)),
    ])
    .await;
    let client = Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(RetryPolicy::none())
        .max_concurrent_jobs(Some(1))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "growing.png", &png());
    let first = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .remove_bg(ImageSource::url("https://images.example.com/a.png"))
                .submit()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = {
        let client = client.clone();
        let path = path.clone();
        tokio::spawn(async move { client.remove_bg(ImageSource::path(&path)).submit().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut grown = png();
    grown.extend_from_slice(b"appended while waiting");
    std::fs::write(&path, &grown).unwrap();
    let _job = first.await.unwrap().unwrap();
    let error = second.await.unwrap().unwrap_err();
    assert!(error.is_invalid_input(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("changed size after it was checked"),
        "{error}"
    );
    assert_eq!(
        server.requests().len(),
        1,
        "only the first request was sent"
    );
}

#[tokio::test]
async fn the_answer_is_still_capped() {
    let mut big = success();
    big["meta"] = json!({"filler": "x".repeat(4096)});
    let server = RecordingServer::start(vec![Route::json(Method::POST, REMOVE, 200, big)]).await;
    let client = client(
        &server,
        RetryPolicy::none(),
        Limits::default().json_answer(1024),
    );
    let error = client
        .remove_bg(ImageSource::bytes(png(), "a.png"))
        .submit()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("larger than 1 KiB"), "{error}");
}

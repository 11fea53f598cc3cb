//! The hand-written layer of `topaz-image` against a local recording server: the one-call flow,
//! the job lifecycle, local validation (nothing sent), retries, redirects and atomic downloads.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use cutout_tests::{RecordingServer, Route};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use topaz_image::types::JobStatus;
use topaz_image::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, Mode, Model, Progress,
    RemoveOptions, RetryPolicy, WaitPolicy, credits_for_output, webhook,
};

const KEY: &str = "topaz-layer-secret-key-0042";
const ID: &str = "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11";

// ---------------------------------------------------------------------------------------------
// Test images

/// The header of a 2×2 GIF: enough for the format probe.
fn gif() -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&[2, 0, 2, 0, 0, 0, 0]);
    out.extend_from_slice(b";");
    out
}

/// A valid PNG of this size (a disc on a flat background).
fn png(width: u32, height: u32) -> Vec<u8> {
    cutout_tests::sandbox::disc_png(width, height)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Server answers

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn status_body(status: &str, progress: i64, eta: i64) -> serde_json::Value {
    json!({
        "process_id": ID, "source_id": "src-1", "filename": "portrait.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": status, "progress": progress,
        "eta": eta, "creation_time": 1_763_799_000, "modification_time": 1_763_799_500,
        "credits": 1
    })
}

fn accepted(eta: i64) -> serde_json::Value {
    json!({"process_id": ID, "source_id": "src-1", "eta": eta})
}

fn links(url: &str) -> serde_json::Value {
    json!({"download_url": url, "head_url": url, "expiry": now() + 3600})
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

fn client_for(server: &RecordingServer) -> Client {
    Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap()
}

async fn setup(routes: Vec<Route>) -> (RecordingServer, Client) {
    let server = RecordingServer::start(routes).await;
    let client = client_for(&server);
    (server, client)
}

/// A file host on another origin serving `bytes` at `/out/{name}`, and the presigned link to it.
async fn presigned_host(name: &str, bytes: Vec<u8>) -> (RecordingServer, String) {
    let path = format!("/out/{name}");
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        &path,
        200,
        bytes,
        "image/png",
    )])
    .await;
    let presigned = format!("{}{path}?X-Amz-Signature=sig123", cdn.url());
    (cdn, presigned)
}

/// A job accepted with `eta`, answering each of `not_yet` (status, progress) to one status read,
/// then `Completed`, with download links to `presigned`.
fn job_routes(eta: i64, not_yet: &[(&str, i64)], presigned: &str) -> Vec<Route> {
    let status = format!("/status/{ID}");
    let mut routes = vec![Route::json(
        Method::POST,
        "/matting/async",
        200,
        accepted(eta),
    )];
    for (state, progress) in not_yet {
        routes.push(
            Route::json(
                Method::GET,
                &status,
                200,
                status_body(state, *progress, eta),
            )
            .times(1),
        );
    }
    routes.push(Route::json(
        Method::GET,
        &status,
        200,
        status_body("Completed", 100, eta),
    ));
    routes.push(Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        200,
        links(presigned),
    ));
    routes
}

// ---------------------------------------------------------------------------------------------
// The one-call flow

#[tokio::test]
async fn one_call_flow_uploads_polls_at_the_eta_and_downloads_from_another_origin_without_the_key()
{
    let result = png(4, 3);
    let (cdn, presigned) = presigned_host("result.png", result.clone()).await;
    let eta = now() + 30;
    let (api, client) = setup(job_routes(
        eta,
        &[("Pending", 10), ("Processing", 60)],
        &presigned,
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "portrait.png", &png(4, 3));

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = RemoveOptions::default()
        .wait(fast_wait())
        .on_progress(move |event| seen.lock().unwrap().push(event.clone()));
    let cutout = client
        .remove_background(ImageSource::path(&input), options)
        .await
        .unwrap();

    assert_eq!((cutout.width, cutout.height), (4, 3));
    assert_eq!(cutout.kind, CutoutKind::Rgba);
    assert_eq!(cutout.provider, "topaz");
    assert_eq!(cutout.job_id.as_deref(), Some(ID));
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());

    let requests = api.requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /matting/async".to_owned(),
            format!("GET /status/{ID}"),
            format!("GET /status/{ID}"),
            format!("GET /status/{ID}"),
            format!("GET /download/{ID}"),
        ]
    );
    for request in &requests {
        assert_eq!(request.header("x-api-key").as_deref(), Some(KEY));
    }
    let upload = &requests[0];
    assert_eq!(upload.part("model").text(), "RemoveBG");
    assert_eq!(upload.part("mode").text(), "segmentation");
    assert_eq!(upload.part("output_format").text(), "png");
    let image = upload.part("image");
    assert_eq!(image.file_name.as_deref(), Some("portrait.png"));
    assert_eq!(image.content_type.as_deref(), Some("image/png"));
    assert_eq!(image.data, png(4, 3));

    // The presigned link is on another origin: it got no key.
    let fetched = cdn.single();
    assert_eq!(fetched.header("x-api-key"), None);
    assert_eq!(fetched.query.as_deref(), Some("X-Amz-Signature=sig123"));

    let events = events.lock().unwrap().clone();
    assert!(
        matches!(events.first(), Some(Progress::Uploading { sent: 0, .. })),
        "{events:?}"
    );
    let total = png(4, 3).len() as u64;
    assert!(events.contains(&Progress::Uploading { sent: total, total }));
    assert!(events.contains(&Progress::Submitted {
        job_id: ID.to_owned()
    }));
    let waits: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Waiting(job) => Some(job.clone()),
            _ => None,
        })
        .collect();
    // Two polls answered "not yet", each with the job's ETA (about 30 s away); the third was done.
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert_eq!(waits.iter().map(|w| w.polls).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        waits.iter().map(|w| w.percent).collect::<Vec<_>>(),
        [Some(10), Some(60)]
    );
    assert_eq!(waits[0].status, "Pending");
    assert_eq!(waits[1].status, "Processing");
    for wait in &waits {
        let eta = wait.eta.expect("the status carries an ETA");
        assert!(
            eta > Duration::from_secs(20) && eta <= Duration::from_secs(30),
            "{eta:?}"
        );
        // Topaz's ETA is a whole Unix second: the waiter is told so.
        assert_eq!(wait.eta_resolution, Some(Duration::from_secs(1)));
    }
    assert_eq!(events.last(), Some(&Progress::Downloading));
}

#[tokio::test]
async fn run_submits_waits_at_the_policy_and_downloads_the_output_without_the_key() {
    let result = png(4, 3);
    let (cdn, presigned) = presigned_host("mask.png", result.clone()).await;
    let (api, client) = setup(job_routes(now() + 30, &[("Processing", 40)], &presigned)).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let bytes = client
        .matting(ImageSource::bytes(png(4, 3), "a.png"))
        .mode(Mode::Alpha)
        .wait(fast_wait())
        .on_progress(move |p| record.lock().unwrap().push((p.status.clone(), p.percent)))
        .run()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), result.as_slice());
    let paths: Vec<_> = api
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /matting/async".to_owned(),
            format!("GET /status/{ID}"),
            format!("GET /status/{ID}"),
            format!("GET /download/{ID}"),
        ]
    );
    assert_eq!(api.requests()[0].part("mode").text(), "alpha");
    // One poll answered "not yet"; the 30 s ETA was capped by the policy's 50 ms maximum.
    assert_eq!(*seen.lock().unwrap(), [("Processing".to_owned(), Some(40))]);
    assert_eq!(cdn.single().header("x-api-key"), None);
}

#[tokio::test]
async fn a_submitted_job_is_first_polled_near_the_eta_its_submission_gave() {
    // The submission says the job is done at a whole second 1–2 s away: polling at once would
    // only hear "Pending" and that ETA again, so the first poll waits for it (half a second
    // before it, with the default policy's half-second steps).
    let (api, client) = setup(vec![
        Route::json(Method::POST, "/matting/async", 200, accepted(now() + 2)),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status_body("Completed", 100, now()),
        ),
    ])
    .await;
    let job = client
        .matting(ImageSource::bytes(png(4, 3), "a.png"))
        .submit()
        .await
        .unwrap();
    let done = job.wait(&WaitPolicy::default(), |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let requests = api.requests();
    assert_eq!(requests.len(), 2, "one submission, one poll: {requests:?}");
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(450),
        "polled {gap:?} after submitting"
    );
    // A handle without an ETA (made from an id) polls at once.
    let started = std::time::Instant::now();
    client
        .job(ID)
        .wait(&WaitPolicy::default(), |_| {})
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn run_on_a_failed_job_is_job_failed_and_downloads_nothing() {
    let (api, client) = setup(vec![
        Route::json(Method::POST, "/matting/async", 200, accepted(now() + 1)),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status_body("Failed", 50, now()),
        ),
    ])
    .await;
    let error = client
        .matting(ImageSource::url("https://images.example.com/a.png"))
        .wait(fast_wait())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CutoutError::JobFailed { status, .. } if status == "Failed"),
        "{error:?}"
    );
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.path.starts_with("/download")),
        "{:?}",
        api.requests()
    );
}

#[tokio::test]
async fn a_mask_from_bytes_sends_mode_alpha_and_the_typed_fields() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        "/matting/async",
        200,
        accepted(now() + 5),
    )])
    .await;
    let job = client
        .matting(ImageSource::bytes(png(2, 2), "in-memory.png"))
        .model(Model::Object)
        .mode(Mode::Alpha)
        .webhook_url("https://hooks.example.com/topaz?token=t0k3n")
        .setting("crop_to_fill", "false")
        .setting("subject_detection", "All")
        .submit()
        .await
        .unwrap();
    assert_eq!(job.process_id(), ID);
    assert_eq!(job.source_id(), Some("src-1"));
    assert!(job.eta().unwrap() > SystemTime::now());

    let request = server.single();
    assert_eq!(request.part("model").text(), "Object");
    assert_eq!(request.part("mode").text(), "alpha");
    assert_eq!(
        request.part("webhook_url").text(),
        "https://hooks.example.com/topaz?token=t0k3n"
    );
    assert_eq!(request.part("crop_to_fill").text(), "false");
    assert_eq!(request.part("subject_detection").text(), "All");
    let image = request.part("image");
    assert_eq!(image.file_name.as_deref(), Some("in-memory.png"));
    assert_eq!(image.content_type.as_deref(), Some("image/png"));
    assert_eq!(image.data, png(2, 2));
}

#[tokio::test]
async fn a_url_goes_as_source_url_and_a_source_id_as_source_id() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        "/matting/async",
        200,
        accepted(now()),
    )])
    .await;
    client
        .matting(ImageSource::url("https://images.example.com/a.jpg"))
        .submit()
        .await
        .unwrap();
    client
        .matting_from_source_id("src-1")
        .submit()
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].part("source_url").text(),
        "https://images.example.com/a.jpg"
    );
    assert!(requests[0].parts.iter().all(|p| p.name != "image"));
    assert_eq!(requests[1].part("source_id").text(), "src-1");
    assert!(requests[1].parts.iter().all(|p| p.name != "image"));
}

// ---------------------------------------------------------------------------------------------
// The job lifecycle

#[tokio::test]
async fn a_failed_job_is_job_failed() {
    let (server, client) = setup(vec![
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status_body("Processing", 50, now() + 1),
        )
        .times(1),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status_body("Failed", 50, now()),
        ),
    ])
    .await;
    let error = client.job(ID).wait(&fast_wait(), |_| {}).await.unwrap_err();
    match &error {
        CutoutError::JobFailed {
            provider,
            job_id,
            status,
            message,
        } => {
            assert_eq!(*provider, "topaz");
            assert_eq!(job_id, ID);
            assert_eq!(status, "Failed");
            assert!(message.as_deref().unwrap().contains("submit it again"));
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains(&format!("topaz job {ID} ended as Failed"))
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn downloading_before_completion_is_a_clear_409_and_leaves_no_file() {
    let (server, client) = setup(vec![Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        409,
        json!({"code": 409, "message": "Output not ready"}),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = client
        .job(ID)
        .download_to(dir.path().join("out.png"), false)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(409));
    let text = error.to_string();
    assert!(text.contains("is not ready yet"), "{text}");
    assert!(text.contains("Job::wait"), "{text}");
    assert!(text.contains("Output not ready"), "{text}");
    assert_eq!(server.requests().len(), 1, "a 409 is not retried");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn cancelling_a_finished_job_is_a_clear_409() {
    let (server, client) = setup(vec![
        Route::json(
            Method::DELETE,
            &format!("/cancel/{ID}"),
            409,
            json!({"message": "Conflict"}),
        ),
        Route::json(
            Method::DELETE,
            &format!("/status/{ID}"),
            409,
            json!({"message": "Conflict"}),
        ),
    ])
    .await;
    let job = client.job(ID);
    let error = job.cancel().await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("already finished"), "{error}");
    let error = job.delete().await.unwrap_err();
    assert!(error.to_string().contains("is still running"), "{error}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn cancel_delete_and_input_links_succeed() {
    let (server, client) = setup(vec![
        Route::empty(Method::DELETE, &format!("/cancel/{ID}"), 204),
        Route::empty(Method::DELETE, &format!("/status/{ID}"), 204),
        Route::json(
            Method::GET,
            &format!("/download/input/{ID}"),
            200,
            links("https://cdn.example.com/in.png"),
        ),
        Route::json(Method::DELETE, "/status", 200, json!({"deleted_count": 7})),
    ])
    .await;
    let job = client.job(ID);
    job.cancel().await.unwrap();
    job.delete().await.unwrap();
    assert_eq!(
        job.input_download_url().await.unwrap().download_url,
        "https://cdn.example.com/in.png"
    );
    assert_eq!(client.delete_all_jobs().await.unwrap(), Some(7));
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn the_job_list_in_both_shapes_and_as_a_page_stream() {
    let a = status_body("Completed", 100, now());
    let mut b = a.clone();
    b["process_id"] = "b".into();
    let mut c = a.clone();
    c["process_id"] = "c".into();
    let (server, client) = setup(vec![
        // list_jobs, first call: a plain array although pages were asked for, read as well.
        Route::json(Method::GET, "/status", 200, json!([a, b])).times(1),
        // list_jobs, second call: pages anyway; followed to the end.
        Route::json(
            Method::GET,
            "/status",
            200,
            json!({"data": [a], "pagination": {"has_next_page": true, "next_cursor": "cur-2"}}),
        )
        .times(1),
        Route::json(
            Method::GET,
            "/status",
            200,
            json!({"data": [b], "pagination": {"has_next_page": false}}),
        )
        .times(1),
        // job_pages: two pages.
        Route::json(
            Method::GET,
            "/status",
            200,
            json!({"data": [a, b], "pagination": {"has_next_page": true, "next_cursor": "cur-2"}}),
        )
        .times(1),
        Route::json(
            Method::GET,
            "/status",
            200,
            json!({"data": [c], "pagination": {"has_next_page": false, "next_cursor": null}}),
        )
        .times(1),
    ])
    .await;
    let ids = |jobs: &[topaz_image::types::StatusResponse]| {
        jobs.iter()
            .map(|j| j.process_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&client.list_jobs().await.unwrap()), [ID, "b"]);
    assert_eq!(ids(&client.list_jobs().await.unwrap()), [ID, "b"]);
    let streamed: Vec<_> = client.job_pages(2).try_collect().await.unwrap();
    assert_eq!(ids(&streamed), [ID, "b", "c"]);
    assert!(streamed.iter().all(|j| j.status == JobStatus::Completed));

    let queries: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    // list_jobs asks for pages of 100: a busy account's unpaginated list could exceed the
    // answer cap.
    assert!(
        queries[0].contains("paginated=true") && queries[0].contains("limit=100"),
        "{queries:?}"
    );
    assert!(queries[2].contains("cursor=cur-2"), "{queries:?}");
    assert!(queries[3].contains("limit=2") && queries[3].contains("paginated=true"));
    assert!(!queries[3].contains("cursor"), "{queries:?}");
    assert!(queries[4].contains("cursor=cur-2") && queries[4].contains("limit=2"));
    assert_eq!(queries.len(), 5);
}

#[tokio::test]
async fn a_page_size_outside_1_to_100_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for limit in [0u8, 101, 255] {
        let mut pages = client.job_pages(limit);
        let first = pages.next().await.unwrap();
        assert_refused(first, "limit", "is outside 1..=100");
        assert!(pages.next().await.is_none());
    }
    assert!(server.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Estimates

#[tokio::test]
async fn an_estimate_width_outside_1_to_32000_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for width in [0, 32_001] {
        let result = client.estimate_matting(width, 100, Model::RemoveBg).await;
        assert_refused(result, "input_width", "is outside 1..=32000");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_estimate_height_outside_1_to_32000_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for height in [0, 40_000] {
        let result = client.estimate_matting(100, height, Model::Object).await;
        assert_refused(result, "input_height", "is outside 1..=32000");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn estimates_ask_topaz_and_the_local_table_needs_no_request() {
    let (server, client) = setup(vec![Route::json(
        Method::POST,
        "/estimate",
        200,
        json!({"duration": 12, "credits": 2}),
    )])
    .await;
    let estimate = client
        .estimate_matting(32_000, 1, Model::RemoveBg)
        .await
        .unwrap();
    assert_eq!(estimate.duration, Duration::from_secs(12));
    assert_eq!(estimate.credits, 2);
    assert_eq!(
        server.single().json(),
        json!({"category": "Matting", "model": "RemoveBG", "input_width": 32000, "input_height": 1})
    );
    assert_eq!(credits_for_output(6000, 4000), Some(1));
    assert_eq!(credits_for_output(6000, 5000), Some(2));
    assert_eq!(credits_for_output(12_000, 10_000), None);
}

// ---------------------------------------------------------------------------------------------
// Local validation: nothing is sent

/// Asserts a local validation failure naming `field`, with `fragment` in its message.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, CutoutError>, field: &str, fragment: &str) {
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

fn one_pixel() -> ImageSource {
    ImageSource::bytes(png(1, 1), "a.png")
}

#[tokio::test]
async fn a_gif_file_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "anim.gif", &gif());
    let result = client.matting(ImageSource::path(&path)).submit().await;
    assert_refused(result, "image", "is a GIF; Topaz accepts JPEG, PNG or TIFF");
    // Bytes are probed the same way, whatever their file name says.
    let result = client
        .matting(ImageSource::bytes(gif(), "anim.png"))
        .submit()
        .await;
    assert_refused(result, "image", "`anim.png` is a GIF");
    assert!(server.requests().is_empty());
}

/// A PNG header alone (33 bytes): signature and an IHDR chunk stating `width`×`height`.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

#[tokio::test]
async fn zero_and_oversized_images_are_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "empty.png", &png_header(0, 0));
    let result = client.matting(ImageSource::path(&path)).submit().await;
    assert_refused(result, "image", "says it is 0×0 pixels");
    // Topaz takes at most 32000 pixels a side.
    let result = client
        .matting(ImageSource::bytes(png_header(32_001, 100), "wide.png"))
        .submit()
        .await;
    assert_refused(
        result,
        "image",
        "is 32001×100 pixels; Topaz accepts at most 32000 pixels a side",
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_file_that_is_not_an_image_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "notes.png", b"these are not pixels");
    let result = client.matting(ImageSource::path(&path)).submit().await;
    assert_refused(result, "image", "is not an image");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_missing_file_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let result = client
        .matting(ImageSource::path(dir.path().join("missing.png")))
        .submit()
        .await;
    assert_refused(result, "image", "does not exist");
    let result = client.matting(ImageSource::path(dir.path())).submit().await;
    assert_refused(result, "image", "is a directory");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_webhook_url_that_is_not_absolute_http_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for (url, fragment) in [
        ("not a url", "is not an absolute URL"),
        ("/relative/hook", "is not an absolute URL"),
        ("ftp://files.example.com/hook", "has scheme `ftp`"),
    ] {
        let result = client.matting(one_pixel()).webhook_url(url).submit().await;
        assert_refused(result, "webhook_url", fragment);
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_source_url_that_is_not_http_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client
        .matting(ImageSource::url("file:///etc/passwd"))
        .submit()
        .await;
    assert_refused(result, "source_url", "has scheme `file`");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_setting_named_like_a_typed_field_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    for (name, instead) in [
        ("mode", "`.mode(..)`"),
        ("model", "`.model(..)`"),
        ("webhook_url", "`.webhook_url(..)`"),
        ("output_format", "`.output_format(..)`"),
        ("source_id", "`Client::matting_from_source_id(..)`"),
        ("image", "`Client::matting(..)`"),
        ("source_url", "`Client::matting(..)`"),
    ] {
        let result = client
            .matting(one_pixel())
            .setting(name, "x")
            .submit()
            .await;
        assert_refused(result, &format!("setting `{name}`"), instead);
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_setting_without_a_name_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client.matting(one_pixel()).setting(" ", "x").submit().await;
    assert_refused(result, "setting", "empty name");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_empty_source_id_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let result = client.matting_from_source_id("  ").submit().await;
    assert_refused(result, "source_id", "the source id is empty");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn downloading_onto_an_existing_file_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let existing = write(dir.path(), "taken.png", b"old");
    let result = client.job(ID).download_to(&existing, false).await;
    assert_refused(result, "destination", "already exists");
    assert_eq!(std::fs::read(&existing).unwrap(), b"old");
    assert!(server.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Webhooks

#[test]
fn webhook_notifications_parse_and_hide_their_signatures() {
    let body = json!({
        "notification_id": "01JD5Z6Q1X8E8V3N3G4K5M6P7R",
        "process_id": ID,
        "status": "Completed",
        "creation_time": 1_763_799_000,
        "modification_time": 1_763_799_500,
        "progress": 100,
        "download_url": "https://cdn.example.com/out.png?X-Amz-Signature=s3cr3t",
        "head_url": "https://cdn.example.com/out.png?X-Amz-Signature=s3cr3t",
        "input_download_url": "https://cdn.example.com/in.png?X-Amz-Signature=s3cr3t",
        "input_head_url": "https://cdn.example.com/in.png?X-Amz-Signature=s3cr3t"
    });
    let notification = webhook::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(notification.process_id, ID);
    assert_eq!(notification.status, JobStatus::Completed);
    assert_eq!(notification.progress, 100);
    assert!(notification.is_final());
    assert_eq!(
        notification.download_url.as_deref(),
        Some("https://cdn.example.com/out.png?X-Amz-Signature=s3cr3t")
    );
    assert_eq!(
        notification.created_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_763_799_000))
    );
    assert!(!format!("{notification:?}").contains("s3cr3t"));

    // Before completion there are no output links.
    let mut pending = body.clone();
    pending["status"] = "Processing".into();
    pending["progress"] = 40.into();
    pending.as_object_mut().unwrap().remove("download_url");
    pending.as_object_mut().unwrap().remove("head_url");
    let notification = webhook::parse(pending.to_string().as_bytes()).unwrap();
    assert_eq!(notification.download_url, None);
    assert!(!notification.is_final());

    assert_refused(
        webhook::parse(b"{\"process_id\": 3}"),
        "webhook body",
        "not a Topaz webhook notification",
    );
}

// ---------------------------------------------------------------------------------------------
// Retries, redirects, secrets, atomic downloads

#[tokio::test]
async fn a_429_with_retry_after_is_sent_again_after_that_wait() {
    let (server, client) = setup(vec![
        Route::json(
            Method::POST,
            "/matting/async",
            429,
            json!({"message": "Too many requests"}),
        )
        .header("retry-after", "1")
        .times(1),
        Route::json(Method::POST, "/matting/async", 200, accepted(now())),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "a.png", &png(3, 3));
    let job = client
        .matting(ImageSource::path(&input))
        .submit()
        .await
        .unwrap();
    assert_eq!(job.process_id(), ID);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    // The file was streamed again, whole.
    assert_eq!(requests[1].part("image").data, png(3, 3));
}

#[tokio::test]
async fn a_502_is_not_resent_for_a_submission_but_is_for_a_status_read() {
    let (server, client) = setup(vec![
        Route::json(
            Method::POST,
            "/matting/async",
            502,
            json!({"message": "Bad gateway"}),
        ),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            502,
            json!({"message": "Bad gateway"}),
        )
        .times(1),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status_body("Processing", 20, now() + 5),
        ),
    ])
    .await;
    let error = client
        .matting(ImageSource::bytes(png(1, 1), "a.png"))
        .submit()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(502));
    assert_eq!(
        server.requests().len(),
        1,
        "the job may exist: a submission is not sent twice"
    );

    let status = client.job(ID).status().await.unwrap();
    assert_eq!(status.status, JobStatus::Processing);
    let reads = server
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET)
        .count();
    assert_eq!(reads, 2);
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_the_key() {
    let elsewhere = RecordingServer::start(vec![Route::json(
        Method::GET,
        "/moved/status",
        200,
        status_body("Completed", 100, now()),
    )])
    .await;
    let (api, client) = setup(vec![Route::redirect(
        Method::GET,
        &format!("/status/{ID}"),
        307,
        &format!("{}/moved/status", elsewhere.url()),
    )])
    .await;
    let status = client.job(ID).status().await.unwrap();
    assert_eq!(status.status, JobStatus::Completed);
    assert_eq!(api.single().header("x-api-key").as_deref(), Some(KEY));
    assert_eq!(elsewhere.single().header("x-api-key"), None);
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let (_server, client) = setup(vec![]).await;
    let request = client
        .matting(ImageSource::bytes(png(1, 1), "a.png"))
        .webhook_url("https://hooks.example.com/x?token=hook-secret")
        .setting("crop_to_fill", "true")
        .on_upload_progress(|_, _| {});
    let job = client.job(ID);
    let shown = [
        format!("{client:?}"),
        format!("{request:?}"),
        format!("{job:?}"),
        format!("{:?}", Client::builder().key(KEY)),
        format!("{:?}", client.context()),
    ];
    for text in &shown {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("hook-secret"), "{text}");
    }
    assert!(shown[1].contains("crop_to_fill"));
}

#[tokio::test]
async fn a_broken_download_leaves_no_file_and_no_temporary_file() {
    let cdn = RecordingServer::start(vec![
        Route::bytes(Method::GET, "/out.png", 200, png(64, 64), "image/png").truncated(100),
    ])
    .await;
    let (_api, client) = setup(vec![Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        200,
        links(&format!("{}/out.png", cdn.url())),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = client
        .job(ID)
        .download_to(dir.path().join("out.png"), false)
        .await
        .unwrap_err();
    assert!(
        error.is_retryable(),
        "a broken transfer is a transport-level failure: {error}"
    );
    assert_eq!(
        cdn.requests().len(),
        4,
        "every attempt of the retry policy was used"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_complete_download_lands_at_the_destination() {
    let image = png(16, 16);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/out.png",
        200,
        image.clone(),
        "image/png",
    )])
    .await;
    let (_api, client) = setup(vec![Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        200,
        links(&format!("{}/out.png", cdn.url())),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("out.png");
    let downloaded = client
        .job(ID)
        .download_to(&destination, false)
        .await
        .unwrap();
    assert_eq!(downloaded.bytes, image.len() as u64);
    assert_eq!(std::fs::read(&destination).unwrap(), image);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn a_process_id_that_is_not_a_uuid_is_refused_without_a_request() {
    let (server, client) = setup(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    for id in [
        "123",
        "4b0bd1f4-6c5a-4d5e-9f1e",
        "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a1z",
        // The right length, a separator in the wrong place.
        "4b0bd1f4x6c5a-4d5e-9f1e-2f4c9c6f0a11",
        "4b0bd1f46-c5a-4d5e-9f1e-2f4c9c6f0a11",
        "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11-",
        "",
    ] {
        let job = client.job(id);
        assert_refused(
            job.status().await,
            "process_id",
            "is not a Topaz process id",
        );
        assert_refused(
            job.cancel().await,
            "process_id",
            "is not a Topaz process id",
        );
        assert_refused(
            job.download_to(dir.path().join("out.png"), false).await,
            "process_id",
            "is not a Topaz process id",
        );
    }
    assert!(server.requests().is_empty());
}

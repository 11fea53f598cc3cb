//! Paid work in two steps, for every provider, against plain loopback servers: a job submitted
//! with one client is resumed by a *new* client from its ticket (round-tripped through JSON, as a
//! journal keeps it), and the resume sends no paid request. Also: what a failed submission says
//! about having been charged, tickets of another provider, and jobs the provider no longer knows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use cutout_runtime::{
    BackgroundRemover, ClientBuilder, CutoutKind, Error, FromParts, ImageSource, JobTicket,
    Progress, RemoveOptions, RetryPolicy, WaitPolicy,
};
use cutout_tests::{Recorded, RecordingServer, Route};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Shared helpers

const KEY: &str = "resumable-secret-key-5150";
const TOPAZ_ID: &str = "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11";
const TENGR_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const MODELSLAB_ID: i64 = 96709;
const IMAGE_URL: &str = "https://images.example.com/portrait.jpg";

fn png(width: u32, height: u32) -> Vec<u8> {
    cutout_tests::sandbox::disc_png(width, height)
}

fn build<C: FromParts>(builder: ClientBuilder<C>, url: &str) -> C {
    builder
        .base_url(url)
        .key(KEY)
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(10))
                .without_jitter(),
        )
        .build()
        .unwrap()
}

fn quick() -> WaitPolicy {
    WaitPolicy::default()
        .min_interval(Duration::from_millis(5))
        .max_interval(Duration::from_millis(20))
        .deadline(Duration::from_secs(10))
}

/// Options that record every progress event.
fn recording(kind: CutoutKind) -> (RemoveOptions, Arc<Mutex<Vec<Progress>>>) {
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = events.clone();
    let options = RemoveOptions::default()
        .kind(kind)
        .wait(quick())
        .on_progress(move |event| sink.lock().unwrap().push(event.clone()));
    (options, events)
}

/// The ticket as a journal would keep it: written as JSON, read back.
fn through_json(ticket: &JobTicket) -> JobTicket {
    let text = serde_json::to_string(ticket).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `METHOD path` of each request.
fn lines(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// A file host on its own origin serving `bytes` at `path`, and a signed link to it.
async fn file_host(path: &str, bytes: Vec<u8>) -> (RecordingServer, String) {
    let host = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        path,
        200,
        bytes,
        "image/png",
    )])
    .await;
    let link = format!("{}{path}?X-Amz-Signature=sig-secret-77", host.url());
    (host, link)
}

/// The file host got one plain GET: no key in a header, the query, or a body.
fn assert_fetched_without_credentials(host: &RecordingServer) {
    let fetched = host.single();
    assert_eq!(fetched.method, Method::GET);
    assert_eq!(fetched.header("x-api-key"), None);
    assert_eq!(fetched.header("authorization"), None);
    assert!(fetched.body.is_empty());
    assert!(!fetched.query.unwrap_or_default().contains(KEY));
}

/// Events of the two steps: submit says Uploading/Submitted only, resume Waiting/Downloading.
fn assert_step_events(submit: &[Progress], resume: &[Progress], job_id: &str) {
    assert!(
        submit
            .iter()
            .all(|e| matches!(e, Progress::Uploading { .. } | Progress::Submitted { .. })),
        "{submit:?}"
    );
    assert_eq!(
        submit.last(),
        Some(&Progress::Submitted {
            job_id: job_id.to_owned()
        })
    );
    assert!(
        resume
            .iter()
            .all(|e| matches!(e, Progress::Waiting(_) | Progress::Downloading)),
        "{resume:?}"
    );
    assert_eq!(resume.last(), Some(&Progress::Downloading));
}

// ---------------------------------------------------------------------------------------------
// Topaz

fn topaz_status(status: &str, progress: i64) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "process_id": TOPAZ_ID, "source_id": "src-1", "filename": "portrait.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": status, "progress": progress,
        "eta": now + 1, "creation_time": 1_763_799_000, "modification_time": 1_763_799_500,
        "credits": 1
    })
}

fn topaz_routes(link: &str) -> Vec<Route> {
    let status = format!("/status/{TOPAZ_ID}");
    vec![
        Route::json(
            Method::POST,
            "/matting/async",
            200,
            json!({"process_id": TOPAZ_ID, "source_id": "src-1", "eta": 1_763_799_600}),
        ),
        Route::json(Method::GET, &status, 200, topaz_status("Processing", 40)).times(1),
        Route::json(Method::GET, &status, 200, topaz_status("Completed", 100)),
        Route::json(
            Method::GET,
            &format!("/download/{TOPAZ_ID}"),
            200,
            json!({"download_url": link, "head_url": link, "expiry": 4_102_444_800_i64}),
        ),
    ]
}

#[tokio::test]
async fn topaz_a_job_submitted_by_one_client_is_resumed_by_another_without_resubmitting() {
    let result = png(4, 3);
    let (host, link) = file_host("/out/mask.png", result.clone()).await;
    let api = RecordingServer::start(topaz_routes(&link)).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("portrait.png");
    std::fs::write(&input, png(4, 3)).unwrap();

    let (options, submit_events) = recording(CutoutKind::Mask);
    let first = build(topaz_image::Client::builder(), api.url());
    let ticket = first
        .submit_removal(ImageSource::path(&input), options)
        .await
        .unwrap();
    drop(first);
    assert_eq!(ticket.provider, "topaz");
    assert_eq!(ticket.job_id.as_deref(), Some(TOPAZ_ID));
    assert_eq!(ticket.result_url, None);
    // The submission's ETA travels with the ticket (here long past: the resume polls at once).
    assert_eq!(ticket.eta_unix_secs, Some(1_763_799_600));
    assert_eq!(lines(&api.requests()), ["POST /matting/async"]);
    assert_eq!(api.requests()[0].part("mode").text(), "alpha");

    let (options, resume_events) = recording(CutoutKind::Mask);
    let second = build(topaz_image::Client::builder(), api.url());
    let cutout = second
        .resume_removal(through_json(&ticket), options)
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());
    assert_eq!(cutout.kind, CutoutKind::Mask);
    assert_eq!(cutout.job_id.as_deref(), Some(TOPAZ_ID));

    let requests = api.requests();
    assert_eq!(
        lines(&requests[1..]),
        [
            format!("GET /status/{TOPAZ_ID}"),
            format!("GET /status/{TOPAZ_ID}"),
            format!("GET /download/{TOPAZ_ID}"),
        ],
        "the resume reads status and links only"
    );
    assert_fetched_without_credentials(&host);
    assert_step_events(
        &submit_events.lock().unwrap(),
        &resume_events.lock().unwrap(),
        TOPAZ_ID,
    );
}

#[tokio::test]
async fn topaz_a_job_the_provider_no_longer_knows_is_not_found() {
    let api = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/status/{TOPAZ_ID}"),
        404,
        json!({"message": "Process not found"}),
    )])
    .await;
    let client = build(topaz_image::Client::builder(), api.url());
    let error = client
        .resume_removal(
            JobTicket::new("topaz", TOPAZ_ID),
            RemoveOptions::default().wait(quick()),
        )
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(lines(&api.requests()), [format!("GET /status/{TOPAZ_ID}")]);
}

#[tokio::test]
async fn topaz_a_resumed_ticket_waits_for_the_eta_its_submission_gave() {
    let (_host, link) = file_host("/out/mask.png", png(4, 3)).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let status = format!("/status/{TOPAZ_ID}");
    let api = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/matting/async",
            200,
            json!({"process_id": TOPAZ_ID, "source_id": "src-1", "eta": now + 2}),
        ),
        Route::json(Method::GET, &status, 200, topaz_status("Completed", 100)),
        Route::json(
            Method::GET,
            &format!("/download/{TOPAZ_ID}"),
            200,
            json!({"download_url": link, "head_url": link, "expiry": 4_102_444_800_i64}),
        ),
    ])
    .await;
    let client = build(topaz_image::Client::builder(), api.url());
    let ticket = client
        .submit_removal(
            ImageSource::bytes(png(4, 3), "a.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(ticket.eta_unix_secs, Some(now + 2));
    // The production policy: half-second steps around the whole-second ETA.
    client
        .resume_removal(
            through_json(&ticket),
            RemoveOptions::default().wait(WaitPolicy::default()),
        )
        .await
        .unwrap();
    let requests = api.requests();
    assert_eq!(
        lines(&requests),
        [
            "POST /matting/async".to_owned(),
            format!("GET /status/{TOPAZ_ID}"),
            format!("GET /download/{TOPAZ_ID}"),
        ],
        "one poll, near the ETA"
    );
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(450),
        "polled {gap:?} after submitting"
    );
    // A journal written before tickets carried an ETA still reads.
    let old: JobTicket = serde_json::from_str(r#"{"provider":"topaz","job_id":"p-1"}"#).unwrap();
    assert_eq!(old.eta_unix_secs, None);
}

#[tokio::test]
async fn a_failed_submission_says_whether_it_may_have_been_charged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("portrait.png");
    std::fs::write(&input, png(4, 3)).unwrap();
    for (status, taken) in [(502, true), (500, true), (400, false), (402, false)] {
        let api = RecordingServer::start(vec![Route::json(
            Method::POST,
            "/matting/async",
            status,
            json!({"message": "no"}),
        )])
        .await;
        let client = build(topaz_image::Client::builder(), api.url());
        let error = client
            .submit_removal(ImageSource::path(&input), RemoveOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status), "{error}");
        assert_eq!(error.may_have_been_taken(), taken, "HTTP {status}: {error}");
        // A submission that may have been taken is never sent a second time.
        assert_eq!(api.requests().len(), 1, "HTTP {status}");
    }

    // The same for ModelsLab, whose answers are JSON.
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        502,
        json!({"status": "error", "message": "bad gateway"}),
    )])
    .await;
    let client = build(modelslab::Client::builder(), api.url());
    let error = client
        .submit_removal(ImageSource::url(IMAGE_URL), RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(error.may_have_been_taken(), "{error}");
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_was_surely_not_charged() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = build(topaz_image::Client::builder(), &url);
    let error = client
        .submit_removal(
            ImageSource::bytes(png(4, 3), "p.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Transport { .. }),
        "a transport error: {error:?}"
    );
    assert!(!error.may_have_been_taken(), "{error}");
}

// ---------------------------------------------------------------------------------------------
// ModelsLab

const REMOVE: &str = "/image_editing/removebg_mask";

fn modelslab_fetch() -> String {
    format!("/image_editing/fetch/{MODELSLAB_ID}")
}

fn modelslab_success(url: &str) -> serde_json::Value {
    json!({
        "status": "success", "generationTime": 1.2, "id": MODELSLAB_ID,
        "output": [url], "proxy_links": [url], "meta": {"only_mask": "1"}
    })
}

fn modelslab_processing() -> serde_json::Value {
    json!({
        "status": "processing", "tip": "wait", "eta": 1, "message": "queued",
        "fetch_result": format!("https://modelslab.com/api/v6/image_editing/fetch/{MODELSLAB_ID}"),
        "id": MODELSLAB_ID, "output": [], "future_links": [], "proxy_links": [], "meta": {}
    })
}

#[tokio::test]
async fn modelslab_a_queued_request_is_resumed_by_fetching_it() {
    let result = png(6, 4);
    let (host, link) = file_host("/generations/mask.png", result.clone()).await;
    let api = RecordingServer::start(vec![
        Route::json(Method::POST, REMOVE, 200, modelslab_processing()),
        Route::json(
            Method::POST,
            &modelslab_fetch(),
            200,
            modelslab_processing(),
        )
        .times(1),
        Route::json(
            Method::POST,
            &modelslab_fetch(),
            200,
            modelslab_success(&link),
        ),
    ])
    .await;

    let (options, submit_events) = recording(CutoutKind::Mask);
    let first = build(modelslab::Client::builder(), api.url());
    let ticket = first
        .submit_removal(ImageSource::url(IMAGE_URL), options)
        .await
        .unwrap();
    drop(first);
    assert_eq!(ticket.provider, "modelslab");
    assert_eq!(ticket.job_id.as_deref(), Some("96709"));
    assert_eq!(ticket.result_url, None);
    assert_eq!(api.requests()[0].json()["only_mask"], true);

    let (options, resume_events) = recording(CutoutKind::Mask);
    let second = build(modelslab::Client::builder(), api.url());
    let cutout = second
        .resume_removal(through_json(&ticket), options)
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some("96709"));

    let requests = api.requests();
    assert_eq!(
        lines(&requests[1..]),
        [
            format!("POST {}", modelslab_fetch()),
            format!("POST {}", modelslab_fetch()),
        ],
        "the resume only fetches"
    );
    assert_fetched_without_credentials(&host);
    assert_step_events(
        &submit_events.lock().unwrap(),
        &resume_events.lock().unwrap(),
        "96709",
    );
}

#[tokio::test]
async fn modelslab_a_result_ready_at_once_is_resumed_without_any_api_call() {
    let result = png(6, 4);
    let (host, link) = file_host("/generations/now.png", result.clone()).await;
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        REMOVE,
        200,
        modelslab_success(&link),
    )])
    .await;
    let first = build(modelslab::Client::builder(), api.url());
    let ticket = first
        .submit_removal(ImageSource::url(IMAGE_URL), RemoveOptions::default())
        .await
        .unwrap();
    drop(first);
    assert_eq!(ticket.job_id.as_deref(), Some("96709"));
    assert_eq!(ticket.result_url.as_deref(), Some(link.as_str()));
    // The signed link is kept for the download, but not shown.
    let shown = format!("{ticket:?}");
    assert!(!shown.contains("sig-secret-77"), "{shown}");

    // A new client whose API has no routes at all: any API call would fail the resume.
    let empty_api = RecordingServer::start(vec![]).await;
    let second = build(modelslab::Client::builder(), empty_api.url());
    let cutout = second
        .resume_removal(
            through_json(&ticket),
            RemoveOptions::default().wait(quick()),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());
    assert!(empty_api.requests().is_empty());
    assert_eq!(api.requests().len(), 1);
    assert_fetched_without_credentials(&host);
}

#[tokio::test]
async fn modelslab_a_request_the_provider_no_longer_knows_is_not_found() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        &modelslab_fetch(),
        404,
        json!({"status": "error", "message": "Request not found"}),
    )])
    .await;
    let client = build(modelslab::Client::builder(), api.url());
    let error = client
        .resume_removal(
            JobTicket::new("modelslab", MODELSLAB_ID.to_string()),
            RemoveOptions::default().wait(quick()),
        )
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(
        lines(&api.requests()),
        [format!("POST {}", modelslab_fetch())]
    );
}

#[tokio::test]
async fn modelslab_a_ticket_id_that_is_not_a_number_is_refused_before_sending() {
    let api = RecordingServer::start(vec![]).await;
    let client = build(modelslab::Client::builder(), api.url());
    let error = client
        .resume_removal(JobTicket::new("modelslab", "abc"), RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { field, message } if field == "ticket" && message.contains("abc")),
        "{error:?}"
    );
    assert!(api.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tengr

fn tengr_artwork(status: &str, results: &[String]) -> serde_json::Value {
    json!({
        "id": TENGR_ID, "artworkType": "remove-background",
        "parameters": {"imageUrl": IMAGE_URL}, "duration": 1.5,
        "results": results, "status": status, "createdAt": "2024-07-29T15:51:28.071Z"
    })
}

#[tokio::test]
async fn tengr_an_artwork_is_resumed_by_reading_it() {
    let result = png(10, 7);
    let (host, link) = file_host("/r/cut.png", result.clone()).await;
    let get = format!("/v2/artworks/{TENGR_ID}");
    let api = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/v2/artworks/remove-background",
            202,
            tengr_artwork("starting", &[]),
        ),
        Route::json(Method::GET, &get, 200, tengr_artwork("processing", &[])).times(1),
        Route::json(Method::GET, &get, 200, tengr_artwork("succeeded", &[link])),
    ])
    .await;

    let (options, submit_events) = recording(CutoutKind::Rgba);
    let first = build(artworks_seg::Client::builder(), api.url());
    let ticket = first
        .submit_removal(ImageSource::url(IMAGE_URL), options)
        .await
        .unwrap();
    drop(first);
    assert_eq!(ticket.provider, "tengr");
    assert_eq!(ticket.job_id.as_deref(), Some(TENGR_ID));

    let (options, resume_events) = recording(CutoutKind::Rgba);
    let second = build(artworks_seg::Client::builder(), api.url());
    let cutout = second
        .resume_removal(through_json(&ticket), options)
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some(TENGR_ID));
    let requests = api.requests();
    assert_eq!(
        lines(&requests[..1]),
        ["POST /v2/artworks/remove-background"]
    );
    assert_eq!(
        lines(&requests[1..]),
        [format!("GET {get}"), format!("GET {get}")],
        "the resume only reads the artwork"
    );
    assert_fetched_without_credentials(&host);
    assert_step_events(
        &submit_events.lock().unwrap(),
        &resume_events.lock().unwrap(),
        TENGR_ID,
    );
}

#[tokio::test]
async fn tengr_a_segmentation_is_re_attached_by_its_artwork_id() {
    let mask = png(8, 6);
    let (host, link) = file_host("/r/mask.png", mask.clone()).await;
    let get = format!("/v2/artworks/{TENGR_ID}");
    let api = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/v2/artworks/segmentation",
            202,
            tengr_artwork("starting", &[]),
        ),
        Route::json(Method::GET, &get, 200, tengr_artwork("succeeded", &[link])),
    ])
    .await;
    let first = build(artworks_seg::Client::builder(), api.url());
    let id = artworks_seg::SegmentationRequest::text(IMAGE_URL, "the red car")
        .submit(&first)
        .await
        .unwrap()
        .id()
        .to_owned();
    drop(first);

    let second = build(artworks_seg::Client::builder(), api.url());
    let mut job = second.artwork(&id).await.unwrap();
    job.wait(&quick(), |_| {}).await.unwrap();
    assert_eq!(job.result_bytes().await.unwrap(), [mask]);
    assert_eq!(
        lines(&api.requests()),
        [
            "POST /v2/artworks/segmentation".to_owned(),
            format!("GET {get}")
        ]
    );
    assert_fetched_without_credentials(&host);
}

#[tokio::test]
async fn tengr_an_expired_artwork_is_not_found() {
    let api = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/v2/artworks/{TENGR_ID}"),
        404,
        json!({"message": "Artwork not found", "statusCode": 404, "error": "Not Found"}),
    )])
    .await;
    let client = build(artworks_seg::Client::builder(), api.url());
    let error = client
        .resume_removal(JobTicket::new("tengr", TENGR_ID), RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(api.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// BackgroundCut

const UPLOAD: &str = "/v3/file-ops/upload/";
const PUBLIC_URL: &str = "/v3/file-ops/get-public-url/";

fn backgroundcut_routes(process_path: &str, answer: serde_json::Value, link: &str) -> Vec<Route> {
    vec![
        Route::json(Method::POST, UPLOAD, 200, json!({"success": true})),
        Route::json(Method::POST, process_path, 200, answer),
        Route::json(Method::POST, PUBLIC_URL, 200, json!({"url": link})),
    ]
}

#[tokio::test]
async fn backgroundcut_a_processed_output_is_resumed_by_its_key() {
    let result = png(16, 12);
    let (host, link) = file_host("/c.png", result.clone()).await;
    let api = RecordingServer::start(backgroundcut_routes(
        "/v3/tools/ai/remove-bg/process/",
        json!({"output_keys": ["cutout/c.png"]}),
        &link,
    ))
    .await;

    let (options, submit_events) = recording(CutoutKind::Rgba);
    let first = build(backgroundcut::Client::builder(), api.url());
    let ticket = first
        .submit_removal(ImageSource::bytes(png(16, 12), "photo.png"), options)
        .await
        .unwrap();
    drop(first);
    assert_eq!(ticket.provider, "backgroundcut");
    assert_eq!(ticket.job_id.as_deref(), Some("cutout/c.png"));
    assert_eq!(
        lines(&api.requests()),
        [
            format!("POST {UPLOAD}"),
            "POST /v3/tools/ai/remove-bg/process/".to_owned()
        ],
        "submit does not download"
    );

    let (options, resume_events) = recording(CutoutKind::Rgba);
    let second = build(backgroundcut::Client::builder(), api.url());
    let cutout = second
        .resume_removal(through_json(&ticket), options)
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result.as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some("cutout/c.png"));
    let requests = api.requests();
    assert_eq!(
        lines(&requests[2..]),
        [format!("POST {PUBLIC_URL}")],
        "the resume only mints a link"
    );
    assert_eq!(requests[2].json(), json!({"key": "cutout/c.png"}));
    assert_fetched_without_credentials(&host);
    assert_step_events(
        &submit_events.lock().unwrap(),
        &resume_events.lock().unwrap(),
        "cutout/c.png",
    );
}

#[tokio::test]
async fn backgroundcut_matting_is_submitted_then_re_attached_by_key() {
    let result = png(8, 8);
    let (host, link) = file_host("/m.png", result.clone()).await;
    let api = RecordingServer::start(backgroundcut_routes(
        "/v3/tools/ai/matting/process/",
        json!({"output_key": "cutout/matte-1.png"}),
        &link,
    ))
    .await;
    let photo =
        backgroundcut::ImageSource::bytes(jpeg(8, 8, image::ExtendedColorType::Rgb8), "p.jpg");
    let trimap =
        backgroundcut::ImageSource::bytes(jpeg(8, 8, image::ExtendedColorType::L8), "t.jpg");

    let first = build(backgroundcut::Client::builder(), api.url());
    let job = first.matting(photo, trimap).submit().await.unwrap();
    assert_eq!(job.output_key(), Some("cutout/matte-1.png"));
    let key = job.output_key().unwrap().to_owned();
    drop(job);
    drop(first);
    let submitted = api.requests().len();
    assert_eq!(submitted, 3, "two uploads and the processing, no download");

    let second = build(backgroundcut::Client::builder(), api.url());
    let output = second.output([key]).download().await.unwrap();
    assert_eq!(output.bytes.as_ref(), result.as_slice());
    assert_eq!(output.output_key, "cutout/matte-1.png");
    assert_eq!(
        lines(&api.requests()[submitted..]),
        [format!("POST {PUBLIC_URL}")]
    );
    assert_fetched_without_credentials(&host);
}

#[tokio::test]
async fn backgroundcut_remove_bg_submit_keeps_one_key_per_variant() {
    let api = RecordingServer::start(backgroundcut_routes(
        "/v3/tools/ai/remove-bg/process/",
        json!({"output_keys": ["out/a.png", "out/a.jpg", "out/extra.png"]}),
        "http://127.0.0.1:9/unused",
    ))
    .await;
    let client = build(backgroundcut::Client::builder(), api.url());
    let job = client
        .remove_bg(ImageSource::bytes(png(4, 4), "p.png"))
        .variant(backgroundcut::Variant::png())
        .variant(backgroundcut::Variant::jpg())
        .submit()
        .await
        .unwrap();
    assert_eq!(job.output_keys(), ["out/a.png", "out/a.jpg"]);
    assert_eq!(api.requests().len(), 2, "upload and processing only");

    // An answer without any key is an error: the processing was paid for, but left nothing.
    let api = RecordingServer::start(backgroundcut_routes(
        "/v3/tools/ai/remove-bg/process/",
        json!({"output_keys": []}),
        "http://127.0.0.1:9/unused",
    ))
    .await;
    let client = build(backgroundcut::Client::builder(), api.url());
    let error = client
        .remove_bg(ImageSource::bytes(png(4, 4), "p.png"))
        .submit()
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn backgroundcut_an_expired_output_key_is_not_found() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        PUBLIC_URL,
        404,
        json!({"detail": "Not found."}),
    )])
    .await;
    let client = build(backgroundcut::Client::builder(), api.url());
    let error = client
        .resume_removal(
            JobTicket::new("backgroundcut", "cutout/gone.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(api.requests().len(), 1);
}

fn jpeg(width: u32, height: u32, color: image::ExtendedColorType) -> Vec<u8> {
    let channels = match color {
        image::ExtendedColorType::L8 => 1,
        _ => 3,
    };
    let pixels = vec![128u8; (width * height * channels) as usize];
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&pixels, width, height, color)
        .unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Tickets that cannot be resumed

/// Every provider's client, each on its own empty server.
async fn all_clients() -> Vec<(RecordingServer, Box<dyn BackgroundRemover>)> {
    let mut out: Vec<(RecordingServer, Box<dyn BackgroundRemover>)> = Vec::new();
    let server = RecordingServer::start(vec![]).await;
    let client = build(topaz_image::Client::builder(), server.url());
    out.push((server, Box::new(client)));
    let server = RecordingServer::start(vec![]).await;
    let client = build(backgroundcut::Client::builder(), server.url());
    out.push((server, Box::new(client)));
    let server = RecordingServer::start(vec![]).await;
    let client = build(modelslab::Client::builder(), server.url());
    out.push((server, Box::new(client)));
    let server = RecordingServer::start(vec![]).await;
    let client = build(artworks_seg::Client::builder(), server.url());
    out.push((server, Box::new(client)));
    out
}

#[tokio::test]
async fn a_ticket_of_another_provider_is_refused_before_any_request() {
    for (server, remover) in all_clients().await {
        let name = remover.provider_name();
        let other = if name == "topaz" { "tengr" } else { "topaz" };
        let ticket = JobTicket::new(other, TOPAZ_ID).with_result_url("http://127.0.0.1:9/x.png");
        let error = remover
            .resume_removal(ticket, RemoveOptions::default())
            .await
            .unwrap_err();
        match &error {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "ticket");
                assert!(
                    message.contains(&format!("`{other}`")) && message.contains(name),
                    "{name}: {message}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(server.requests().is_empty(), "{name} sent a request");
    }
}

#[tokio::test]
async fn a_ticket_without_job_or_result_is_refused_before_any_request() {
    for (server, remover) in all_clients().await {
        let name = remover.provider_name();
        let ticket: JobTicket = serde_json::from_value(json!({"provider": name})).unwrap();
        let error = remover
            .resume_removal(ticket, RemoveOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { field, .. } if field == "ticket"),
            "{name}: {error:?}"
        );
        assert!(server.requests().is_empty(), "{name} sent a request");
    }
}

#[test]
fn a_ticket_shows_its_result_link_without_the_query() {
    let ticket = JobTicket::new("modelslab", "96709")
        .with_result_url("https://user:pw@cdn.example.com/out/a.png?X-Amz-Signature=s3cr3t");
    let shown = format!("{ticket:?}");
    assert!(shown.contains("cdn.example.com/out/a.png"), "{shown}");
    assert!(shown.contains("96709"), "{shown}");
    for secret in ["s3cr3t", "X-Amz-Signature", "pw@"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // The stored form keeps the whole link: a journal needs it to download.
    let stored = serde_json::to_value(&ticket).unwrap();
    assert_eq!(
        stored,
        json!({
            "provider": "modelslab",
            "job_id": "96709",
            "result_url": "https://user:pw@cdn.example.com/out/a.png?X-Amz-Signature=s3cr3t"
        })
    );
}

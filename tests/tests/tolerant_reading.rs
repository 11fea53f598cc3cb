//! Tolerant reading, against plain loopback servers whose answers are JSON literals written from
//! the providers' documentation (no client type is used to build them).
//!
//! Each provider's submit → poll → download flow is answered with what a real service may well
//! send one day: a job state the documentation does not list (`Queued`, `queued`, `preparing`),
//! members nobody documented, and every member a workflow does not need left out. The flow must
//! still complete, report the raw state while it waits, and hand back exactly the result bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use cutout_runtime::{BackgroundRemover, ImageSource, Progress, RemoveOptions, RetryPolicy};
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

const KEY: &str = "tolerant-reading-test-key-7781";

fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(10))
        .without_jitter()
}

fn fast_wait() -> cutout_runtime::WaitPolicy {
    cutout_runtime::WaitPolicy::default()
        .min_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(40))
        .deadline(Duration::from_secs(20))
}

/// The result image every flow downloads: a real PNG, so the cut-out's header checks pass.
fn result_png() -> Vec<u8> {
    cutout_tests::sandbox::disc_png(5, 4)
}

/// A file host on its own origin, serving the result at `/out/result.png`.
async fn result_host() -> (RecordingServer, String) {
    let host = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/out/result.png",
        200,
        result_png(),
        "image/png",
    )])
    .await;
    let url = format!("{}/out/result.png", host.url());
    (host, url)
}

/// Options that record every progress event.
fn recording_options() -> (RemoveOptions, Arc<Mutex<Vec<Progress>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = RemoveOptions::default()
        .wait(fast_wait())
        .on_progress(move |event| seen.lock().unwrap().push(event.clone()));
    (options, events)
}

/// The raw status words reported while waiting, in order.
fn waiting_statuses(events: &Mutex<Vec<Progress>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            Progress::Waiting(job) => Some(job.status.clone()),
            _ => None,
        })
        .collect()
}

fn request_lines(server: &RecordingServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Topaz: POST /matting/async → GET /status/{id} until Completed → GET /download/{id} → the link

const TOPAZ_ID: &str = "6f1c2a9e-3b7d-4c1e-8f2a-9d0e1b2c3d4e";

#[tokio::test]
async fn topaz_matting_completes_through_an_undocumented_queued_state_with_sparse_answers() {
    let (host, url) = result_host().await;
    let status = format!("/status/{TOPAZ_ID}");
    let api = RecordingServer::start(vec![
        // Documented: process_id, source_id, eta. Only the id is left, plus a stranger.
        Route::json(
            Method::POST,
            "/matting/async",
            200,
            json!({"process_id": TOPAZ_ID, "queue_position": 3}),
        ),
        // An undocumented state, no progress, no eta, no sizes or names: still running.
        Route::json(
            Method::GET,
            &status,
            200,
            json!({"process_id": TOPAZ_ID, "status": "Queued", "region": "eu-west",
                   "limits": {"burst": 5}}),
        )
        .times(2),
        Route::json(
            Method::GET,
            &status,
            200,
            json!({"process_id": TOPAZ_ID, "status": "Processing", "progress": 40,
                   "worker": "gpu-7"}),
        )
        .times(1),
        Route::json(
            Method::GET,
            &status,
            200,
            json!({"process_id": TOPAZ_ID, "status": "Completed", "credits_refunded": 0}),
        ),
        // Documented: download_url, head_url, expiry. Only the link is left.
        Route::json(
            Method::GET,
            &format!("/download/{TOPAZ_ID}"),
            200,
            json!({"download_url": url, "cdn": "edge-3"}),
        ),
    ])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let (options, events) = recording_options();
    let cutout = client
        .remove_background(ImageSource::bytes(result_png(), "portrait.png"), options)
        .await
        .unwrap();

    assert_eq!(cutout.bytes.as_ref(), result_png().as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some(TOPAZ_ID));
    assert_eq!(
        waiting_statuses(&events),
        ["Queued", "Queued", "Processing"]
    );
    let percents: Vec<Option<u8>> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Progress::Waiting(job) => Some(job.percent),
            _ => None,
        })
        .collect();
    assert_eq!(percents, [None, None, Some(40)], "no progress, no percent");
    assert_eq!(
        request_lines(&api),
        [
            "POST /matting/async".to_owned(),
            format!("GET {status}"),
            format!("GET {status}"),
            format!("GET {status}"),
            format!("GET {status}"),
            format!("GET /download/{TOPAZ_ID}"),
        ]
    );
    assert_eq!(host.requests().len(), 1);
}

#[tokio::test]
async fn topaz_status_of_a_job_in_an_unknown_state_keeps_the_raw_state() {
    let api = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/status/{TOPAZ_ID}"),
        200,
        json!({"process_id": TOPAZ_ID, "status": "Archiving", "eta": "soon?"}),
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    // An optional member of an undocumented type reads as absent (the waiter then polls with
    // backoff instead of at the ETA)…
    let status = client.job(TOPAZ_ID).status().await.unwrap();
    assert_eq!(status.eta, None);
    assert_eq!(status.status.as_str(), "Archiving");
    // …but an unknown state alone is not.
    let api = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/status/{TOPAZ_ID}"),
        200,
        json!({"process_id": TOPAZ_ID, "status": "Archiving"}),
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let status = client.job(TOPAZ_ID).status().await.unwrap();
    assert_eq!(
        status.status,
        topaz_image::types::JobStatus::Unknown("Archiving".to_owned())
    );
    assert_eq!(status.status.to_string(), "Archiving");
    assert_eq!(status.progress, None);
}

// ---------------------------------------------------------------------------------------------
// ModelsLab: removebg_mask answers `processing` → fetch until `success` → the output link

#[tokio::test]
async fn modelslab_removebg_completes_through_an_undocumented_queued_state_with_sparse_answers() {
    let (host, url) = result_host().await;
    let api = RecordingServer::start(vec![
        // Documented processing answer, most members left out, one added.
        Route::json(
            Method::POST,
            "/image_editing/removebg_mask",
            200,
            json!({"status": "processing", "id": 4242, "eta": 0.02, "webhook_status": "none"}),
        ),
        // An undocumented state without an eta: still running, polled with backoff.
        Route::json(
            Method::POST,
            "/image_editing/fetch/4242",
            200,
            json!({"status": "queued", "id": 4242, "position": 2}),
        )
        .times(2),
        Route::json(
            Method::POST,
            "/image_editing/fetch/4242",
            200,
            json!({"status": "processing", "output": ""}),
        )
        .times(1),
        // Documented success, without generationTime, proxy_links, meta, id.
        Route::json(
            Method::POST,
            "/image_editing/fetch/4242",
            200,
            json!({"status": "success", "output": [url], "nsfw_content_detected": false}),
        ),
    ])
    .await;
    let client = modelslab::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let (options, events) = recording_options();
    let cutout = client
        .remove_background(
            ImageSource::url("https://images.example.com/portrait.jpg"),
            options,
        )
        .await
        .unwrap();

    assert_eq!(cutout.bytes.as_ref(), result_png().as_slice());
    assert_eq!(
        waiting_statuses(&events),
        ["processing", "queued", "queued", "processing"]
    );
    assert_eq!(
        request_lines(&api),
        [
            "POST /image_editing/removebg_mask",
            "POST /image_editing/fetch/4242",
            "POST /image_editing/fetch/4242",
            "POST /image_editing/fetch/4242",
            "POST /image_editing/fetch/4242",
        ]
    );
    assert_eq!(host.requests().len(), 1);
}

#[tokio::test]
async fn modelslab_first_answer_in_an_unknown_state_is_a_queued_request_to_follow() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        200,
        json!({"status": "warming_up", "id": "77", "eta": 12, "message": "GPU is starting"}),
    )])
    .await;
    let client = modelslab::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let state = client
        .remove_bg(ImageSource::url("https://images.example.com/a.jpg"))
        .submit()
        .await
        .unwrap()
        .into_state();
    match state {
        modelslab::MaskState::Processing(queued) => {
            assert_eq!(queued.id, 77);
            assert_eq!(queued.status, "warming_up");
            assert_eq!(queued.eta, Some(Duration::from_secs(12)));
            assert_eq!(queued.message.as_deref(), Some("GPU is starting"));
        }
        other => panic!("expected a queued request, got {other:?}"),
    }
}

#[tokio::test]
async fn modelslab_unknown_state_without_an_id_cannot_be_followed_and_says_so() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        200,
        json!({"status": "queued"}),
    )])
    .await;
    let client = modelslab::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let err = client
        .remove_bg(ImageSource::url("https://images.example.com/a.jpg"))
        .submit()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`queued` without an id"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Tengr: POST /v2/artworks/remove-background (202) → GET /v2/artworks/{id} → the result URL

const ARTWORK: &str = "0d6f8a52-91c4-4a7e-b1f3-5c2e7d9a0b18";

#[tokio::test]
async fn tengr_remove_background_completes_through_undocumented_states_with_sparse_answers() {
    let (host, url) = result_host().await;
    let artwork = format!("/v2/artworks/{ARTWORK}");
    let api = RecordingServer::start(vec![
        // The creation answer is already in an undocumented state, with only id and status.
        Route::json(
            Method::POST,
            "/v2/artworks/remove-background",
            202,
            json!({"id": ARTWORK, "status": "queued", "priority": "normal"}),
        ),
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "preparing", "node": {"gpu": "a10"}}),
        )
        .times(1),
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "processing", "results": null}),
        )
        .times(1),
        // Documented members artworkType, parameters, duration, createdAt left out.
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "succeeded", "results": [url],
                   "moderation": {"flagged": false}}),
        ),
    ])
    .await;
    let client = artworks_seg::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let (options, events) = recording_options();
    let cutout = client
        .remove_background(
            ImageSource::url("https://images.example.com/portrait.jpg"),
            options,
        )
        .await
        .unwrap();

    assert_eq!(cutout.bytes.as_ref(), result_png().as_slice());
    assert_eq!(cutout.job_id.as_deref(), Some(ARTWORK));
    assert_eq!(
        waiting_statuses(&events),
        ["queued", "preparing", "processing"]
    );
    assert_eq!(
        request_lines(&api),
        [
            "POST /v2/artworks/remove-background".to_owned(),
            format!("GET {artwork}"),
            format!("GET {artwork}"),
            format!("GET {artwork}"),
        ]
    );
    assert_eq!(host.requests().len(), 1);
}

#[tokio::test]
async fn tengr_segmentation_waits_through_an_unknown_state() {
    let (_host, url) = result_host().await;
    let artwork = format!("/v2/artworks/{ARTWORK}");
    let api = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/v2/artworks/segmentation",
            202,
            json!({"id": ARTWORK, "status": "starting", "artworkType": "segmentation-v3"}),
        ),
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "queued"}),
        )
        .times(1),
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "succeeded", "results": [url], "extra": [1, 2]}),
        ),
    ])
    .await;
    let client = artworks_seg::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let mut job = artworks_seg::SegmentationRequest::text(
        "https://images.example.com/portrait.jpg",
        "the person",
    )
    .submit(&client)
    .await
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let urls = job
        .wait(&fast_wait(), move |p| {
            record.lock().unwrap().push(p.status.clone())
        })
        .await
        .unwrap();
    assert_eq!(urls, [url]);
    assert_eq!(*seen.lock().unwrap(), ["starting", "queued"]);
    let bytes = job.result_bytes().await.unwrap();
    assert_eq!(bytes.len(), 1);
    assert_eq!(bytes[0].as_ref(), result_png().as_slice());
}

// ---------------------------------------------------------------------------------------------
// BackgroundCut: upload → remove-bg process → public URL → download (synchronous, no states)

#[tokio::test]
async fn backgroundcut_flow_completes_with_sparse_answers_and_extra_members() {
    let (host, url) = result_host().await;
    let api = RecordingServer::start(vec![
        // Documented `{"success": true}`; here the member is left out and another added.
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"stored_bytes": 1234}),
        ),
        Route::json(
            Method::POST,
            "/v3/tools/ai/remove-bg/process/",
            200,
            json!({"output_keys": ["cutout/result.png"], "credits_left": 99}),
        ),
        Route::json(
            Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            json!({"url": url, "expires_in": 300}),
        ),
    ])
    .await;
    let client = backgroundcut::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let cutout = client
        .remove_background(
            ImageSource::bytes(result_png(), "portrait.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result_png().as_slice());
    assert_eq!(
        request_lines(&api),
        [
            "POST /v3/file-ops/upload/",
            "POST /v3/tools/ai/remove-bg/process/",
            "POST /v3/file-ops/get-public-url/",
        ]
    );
    assert_eq!(host.requests().len(), 1);
}

#[tokio::test]
async fn backgroundcut_upload_that_says_success_false_is_still_an_error() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/v3/file-ops/upload/",
        200,
        json!({"success": false}),
    )])
    .await;
    let client = backgroundcut::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let err = client
        .upload(ImageSource::bytes(result_png(), "a.png"), "project/a.png")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("success: false"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Open enums, unit level

#[test]
fn an_unknown_enum_value_round_trips_through_as_str_display_fromstr_and_serde() {
    use topaz_image::types::JobStatus;

    let read: JobStatus = serde_json::from_str("\"Queued\"").unwrap();
    assert_eq!(read, JobStatus::Unknown("Queued".to_owned()));
    assert!(read.is_unknown());
    assert_eq!(read.as_str(), "Queued");
    assert_eq!(read.to_string(), "Queued");
    assert_eq!(serde_json::to_string(&read).unwrap(), "\"Queued\"");
    assert_eq!("Queued".parse::<JobStatus>().unwrap(), read);
    assert_eq!(JobStatus::from("Queued".to_owned()), read);

    // A documented value is never the catch-all, whichever way it is made.
    let known: JobStatus = serde_json::from_str("\"Completed\"").unwrap();
    assert_eq!(known, JobStatus::Completed);
    assert!(!known.is_unknown());
    assert_eq!(JobStatus::from("Completed"), JobStatus::Completed);
    assert_eq!(serde_json::to_value(&known).unwrap(), json!("Completed"));
    assert!(JobStatus::KNOWN.contains(&"Completed"));
    // Case matters on the wire: `completed` is not a documented Topaz state.
    assert!(JobStatus::from("completed").is_unknown());

    // The same for Tengr, whose values are lower case.
    use artworks_seg::types::ArtworkStatus;
    let artwork: ArtworkStatus = serde_json::from_str("\"uploading\"").unwrap();
    assert_eq!(artwork.as_str(), "uploading");
    assert_eq!(serde_json::to_string(&artwork).unwrap(), "\"uploading\"");
    assert_eq!(
        serde_json::from_str::<ArtworkStatus>("\"succeeded\"").unwrap(),
        ArtworkStatus::Succeeded
    );
}

#[test]
fn request_enums_stay_closed() {
    // What we send is exactly what is documented: an unknown value does not even parse.
    assert!(
        serde_json::from_str::<topaz_image::types::MattingGanRequestModel>("\"Turbo\"").is_err()
    );
    assert!(
        "Turbo"
            .parse::<topaz_image::types::MattingGanRequestModel>()
            .is_err()
    );
    assert!(serde_json::from_str::<artworks_seg::types::OutputFormat>("\"gif\"").is_err());
    assert!(serde_json::from_str::<backgroundcut::types::MattingOutputType>("\"trimap\"").is_err());
}

// ---------------------------------------------------------------------------------------------
// Webhook calls are read the same way

#[test]
fn webhook_calls_with_undocumented_states_still_parse() {
    use modelslab::types::WebhookPayload;
    let call = modelslab::webhook::parse(
        br#"{"status": "retrying", "id": 96711, "message": "GPU restarted", "attempt": 2}"#,
    )
    .unwrap();
    match call {
        WebhookPayload::Other(other) => {
            assert_eq!(other.status, "retrying");
            assert_eq!(other.message.as_deref(), Some("GPU restarted"));
        }
        other => panic!("expected the catch-all, got {other:?}"),
    }
    // The documented shapes still win.
    let done = modelslab::webhook::parse(
        br#"{"status": "success", "id": 1, "output": ["https://cdn.example.com/a.png"]}"#,
    )
    .unwrap();
    assert!(matches!(done, WebhookPayload::Success(_)), "{done:?}");
    // Not a call at all: still refused.
    assert!(modelslab::webhook::parse(br#"{"id": 1}"#).is_err());

    let topaz = topaz_image::webhook::parse(
        br#"{"notification_id": "01JD2Z8V9K3Q4R5S6T7U8V9W0X", "process_id": "6f1c2a9e-3b7d-4c1e-8f2a-9d0e1b2c3d4e",
             "status": "Queued", "creation_time": 1763799000, "modification_time": 1763799001,
             "progress": 0, "input_download_url": "https://cdn.example.com/in.jpg?sig=a",
             "input_head_url": "https://cdn.example.com/in.jpg?sig=b", "queue": "eu"}"#,
    )
    .unwrap();
    assert_eq!(topaz.status.as_str(), "Queued");
    assert!(topaz.status.is_unknown());
}

/// Optional members whose value has an undocumented type read as absent instead of failing the
/// answer: a date without its offset (Tengr `createdAt`), a fractional percentage (Topaz
/// `progress`), a string where a number was documented (`duration`).
#[tokio::test]
async fn optional_members_of_an_undocumented_type_read_as_absent() {
    let (_host, url) = result_host().await;
    let artwork = format!("/v2/artworks/{ARTWORK}");
    let api = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/v2/artworks/remove-background",
            202,
            json!({"id": ARTWORK, "status": "starting", "createdAt": "2024-07-29T15:51:28.071",
                   "duration": "n/a", "results": "pending"}),
        ),
        Route::json(
            Method::GET,
            &artwork,
            200,
            json!({"id": ARTWORK, "status": "succeeded", "results": [url],
                   "createdAt": "yesterday", "duration": {"ms": 1200}}),
        ),
    ])
    .await;
    let client = artworks_seg::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let cutout = client
        .remove_background(
            ImageSource::url("https://images.example.com/portrait.jpg"),
            RemoveOptions::default().wait(fast_wait()),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), result_png().as_slice());

    let topaz = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/status/{TOPAZ_ID}"),
        200,
        json!({"process_id": TOPAZ_ID, "status": "Processing", "progress": 42.5,
               "credits": "1", "input_width": -1}),
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(topaz.url())
        .key(KEY)
        .build()
        .unwrap();
    let status = client.job(TOPAZ_ID).status().await.unwrap();
    assert_eq!((status.progress, status.credits), (None, None));
    assert_eq!(status.input_width, Some(-1));
    // A required member of the wrong type is still an error: the workflow cannot go on.
    let topaz = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/status/{TOPAZ_ID}"),
        200,
        json!({"process_id": 12, "status": "Processing"}),
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(topaz.url())
        .key(KEY)
        .build()
        .unwrap();
    let error = client.job(TOPAZ_ID).status().await.unwrap_err();
    assert!(error.to_string().contains("process_id"), "{error}");
}

/// ModelsLab validation failures have been seen to send `message` as an object of fields and
/// their messages: the error is still a failed job whose message says what was wrong.
#[tokio::test]
async fn a_modelslab_error_whose_message_is_an_object_is_a_failed_job_with_the_text() {
    let api = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        200,
        json!({"status": "error",
               "message": {"image": ["The image must be a valid URL."], "seed": []}}),
    )])
    .await;
    let client = modelslab::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let error = client
        .remove_background(
            ImageSource::url("https://images.example.com/portrait.jpg"),
            RemoveOptions::default().wait(fast_wait()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, cutout_runtime::Error::JobFailed { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("image: The image must be a valid URL."),
        "{error}"
    );
}

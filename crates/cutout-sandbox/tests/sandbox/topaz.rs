//! Topaz: auth, validation, the job lifecycle on the sandbox clock, presigned links, cancel,
//! listing, estimate and webhooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use cutout_sandbox::{Provider, Sandbox};
use image::{DynamicImage, ImageFormat};
use reqwest::multipart::{Form, Part};
use topaz_image::types::{JobStatus, StatusList};

use crate::common::{
    self, alpha_centre_and_corner, decode, disc_png, eventually, http, json, mask_centre_and_corner,
};

fn client(sandbox: &Sandbox) -> topaz_image::Client {
    topaz_image::Client::with_base_url(
        &sandbox.base_url(Provider::Topaz),
        sandbox.key(Provider::Topaz),
    )
    .expect("client builds")
}

/// Submits a multipart form directly (for the cases the typed client refuses to send).
async fn submit_form(sandbox: &Sandbox, form: Form) -> (u16, serde_json::Value) {
    let response = http()
        .post(format!(
            "{}/matting/async",
            sandbox.base_url(Provider::Topaz)
        ))
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .multipart(form)
        .send()
        .await
        .expect("request sent");
    json(response).await
}

fn image_part(bytes: bytes::Bytes, name: &str) -> Part {
    Part::stream(bytes).file_name(name.to_owned())
}

#[tokio::test]
async fn auth_missing_is_401_and_wrong_is_403() {
    let sandbox = Sandbox::start().await.expect("starts");
    let url = format!("{}/status", sandbox.base_url(Provider::Topaz));
    let (status, body) = json(http().get(&url).send().await.expect("sent")).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 401);
    assert!(body["message"].is_string());
    let (status, _) = json(
        http()
            .get(&url)
            .header("X-API-Key", "nope")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 403);
    let ok = http()
        .get(&url)
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn lifecycle_on_the_sandbox_clock() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_secs(10))
        .start()
        .await
        .expect("starts");
    let topaz = client(&sandbox);
    let accepted = topaz
        .post_matting()
        .image_bytes(disc_png(), "disc.png")
        .body_map(|form| form.model(topaz_image::types::MattingGanRequestModel::RemoveBg))
        .send()
        .await
        .expect("accepted");
    let headers = accepted.headers().clone();
    let job = accepted.into_inner();
    assert_eq!(
        headers.get("x-process-id").and_then(|v| v.to_str().ok()),
        Some(job.process_id.as_str())
    );
    assert_eq!(
        headers.get("x-source-id").and_then(|v| v.to_str().ok()),
        job.source_id.as_deref()
    );
    assert_eq!(
        headers.get("x-eta").and_then(|v| v.to_str().ok()),
        job.eta.map(|eta| eta.to_string()).as_deref()
    );
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);

    let status = topaz
        .get_status()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("status");
    assert_eq!(status.status, JobStatus::Pending);
    assert_eq!(status.progress, Some(0));
    assert_eq!(
        (status.input_width, status.input_height),
        (Some(64), Some(48))
    );
    assert_eq!(
        (status.output_width, status.output_height),
        (Some(64), Some(48))
    );
    assert_eq!(status.model.as_deref(), Some("RemoveBG"));
    assert_eq!(status.filename.as_deref(), Some("disc.png"));
    assert_eq!(status.input_format.as_deref(), Some("png"));
    assert_eq!(status.credits, Some(1));
    assert_eq!(status.eta, job.eta);
    assert_eq!(status.source_id, job.source_id);

    let early = topaz
        .get_download_output()
        .process_id(&job.process_id)
        .send()
        .await;
    assert_eq!(
        early.err().and_then(|e| e.status()),
        Some(StatusCode::CONFLICT)
    );

    sandbox.advance_clock(Duration::from_secs(5));
    let status = topaz
        .get_status()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("status");
    assert_eq!(status.status, JobStatus::Processing);
    let first_progress = status.progress.expect("the simulator reports progress");
    assert!(
        (1..100).contains(&first_progress),
        "progress {first_progress}"
    );
    sandbox.advance_clock(Duration::from_secs(2));
    let status = topaz
        .get_status()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("status");
    assert!(status.progress > Some(first_progress));

    sandbox.advance_clock(Duration::from_secs(4));
    let status = topaz
        .get_status()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("status");
    assert_eq!(status.status, JobStatus::Completed);
    assert_eq!(status.progress, Some(100));
    assert!(status.modification_time >= status.creation_time);
    assert!(status.creation_time.is_some());

    // The presigned link works without the API key and serves a computed cut-out.
    let links = topaz
        .get_download_output()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("links")
        .into_inner();
    let file = http()
        .get(&links.download_url)
        .send()
        .await
        .expect("download");
    assert_eq!(file.status(), 200);
    let bytes = file.bytes().await.expect("body");
    assert_ne!(bytes, disc_png(), "never an echo of the input");
    let output = decode(&bytes);
    assert!(matches!(output, DynamicImage::ImageRgba8(_)));
    let (centre, corner) = alpha_centre_and_corner(&output);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );
    let head_url = links
        .head_url
        .as_deref()
        .expect("the simulator mints a HEAD link");
    let head = http().head(head_url).send().await.expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(bytes.len().to_string().as_str())
    );
    // Without the signature the file is refused.
    let bare = links.download_url.split('?').next().unwrap_or_default();
    assert_eq!(http().get(bare).send().await.expect("sent").status(), 403);

    let input = topaz
        .get_download_input()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("input links")
        .into_inner();
    let original = http().get(&input.download_url).send().await.expect("input");
    assert_eq!(original.bytes().await.expect("body"), disc_png());

    // Links expire after an hour of sandbox time; new ones can be minted.
    sandbox.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        http()
            .get(&links.download_url)
            .send()
            .await
            .expect("sent")
            .status(),
        403
    );
    let fresh = topaz
        .get_download_output()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("fresh links");
    assert_eq!(
        http()
            .get(&fresh.download_url)
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );

    // Listing, then deleting the finished record.
    let all = topaz
        .get_all_statuses()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(matches!(all, StatusList::Array(ref a) if a.len() == 1));
    let deleted = topaz
        .delete_status()
        .process_id(&job.process_id)
        .send()
        .await;
    assert_eq!(
        deleted.map(|r| r.status()).ok(),
        Some(StatusCode::NO_CONTENT)
    );
    let gone = topaz.get_status().process_id(&job.process_id).send().await;
    assert_eq!(
        gone.err().and_then(|e| e.status()),
        Some(StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn cancel_then_conflict() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_secs(10))
        .start()
        .await
        .expect("starts");
    let topaz = client(&sandbox);
    let job = topaz
        .post_matting()
        .image_bytes(disc_png(), "disc.png")
        .send()
        .await
        .expect("accepted");
    let running = topaz
        .delete_status()
        .process_id(&job.process_id)
        .send()
        .await;
    assert_eq!(
        running.err().and_then(|e| e.status()),
        Some(StatusCode::CONFLICT)
    );
    let cancelled = topaz.cancel_task().process_id(&job.process_id).send().await;
    assert_eq!(
        cancelled.map(|r| r.status()).ok(),
        Some(StatusCode::NO_CONTENT)
    );
    let status = topaz
        .get_status()
        .process_id(&job.process_id)
        .send()
        .await
        .expect("status");
    assert_eq!(status.status, JobStatus::Cancelled);
    let again = topaz.cancel_task().process_id(&job.process_id).send().await;
    assert_eq!(
        again.err().and_then(|e| e.status()),
        Some(StatusCode::CONFLICT)
    );
    let download = topaz
        .get_download_output()
        .process_id(&job.process_id)
        .send()
        .await;
    assert_eq!(
        download.err().and_then(|e| e.status()),
        Some(StatusCode::CONFLICT)
    );
    let unknown = topaz
        .cancel_task()
        .process_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await;
    assert_eq!(
        unknown.err().and_then(|e| e.status()),
        Some(StatusCode::NOT_FOUND)
    );

    // A completed job cannot be cancelled either.
    let done = topaz
        .post_matting()
        .image_bytes(disc_png(), "disc.png")
        .send()
        .await
        .expect("accepted");
    sandbox.advance_clock(Duration::from_secs(11));
    let late = topaz
        .cancel_task()
        .process_id(&done.process_id)
        .send()
        .await;
    assert_eq!(
        late.err().and_then(|e| e.status()),
        Some(StatusCode::CONFLICT)
    );
    let cleared = topaz.delete_all_statuses().send().await.expect("deleted");
    assert_eq!(cleared.deleted_count, Some(2));
}

#[tokio::test]
async fn submission_validation() {
    let sandbox = Sandbox::builder()
        .max_upload_bytes(20_000)
        .start()
        .await
        .expect("starts");
    let topaz = client(&sandbox);
    let status_of =
        |r: Result<_, topaz_image::Error<_>>| r.err().and_then(|e| e.status()).map(|s| s.as_u16());

    let not_image = topaz
        .post_matting()
        .image_bytes(&b"just some text"[..], "a.png")
        .send()
        .await;
    assert_eq!(status_of(not_image.map(|_| ())), Some(415));
    let webp = common::encode(&DynamicImage::ImageRgb8(common::disc()), ImageFormat::WebP);
    let webp = topaz
        .post_matting()
        .image_bytes(webp, "a.webp")
        .send()
        .await;
    assert_eq!(status_of(webp.map(|_| ())), Some(415));
    let mut corrupt = disc_png().to_vec();
    corrupt.truncate(60);
    let corrupt = topaz
        .post_matting()
        .image_bytes(corrupt, "a.png")
        .send()
        .await;
    assert_eq!(status_of(corrupt.map(|_| ())), Some(422));
    let large = topaz
        .post_matting()
        .image_bytes(vec![0u8; 30_000], "a.png")
        .send()
        .await;
    assert_eq!(status_of(large.map(|_| ())), Some(413));
    let nothing = topaz.post_matting().send().await;
    assert_eq!(status_of(nothing.map(|_| ())), Some(400));

    let (status, body) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "a.png"))
            .text("model", "Person"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Person"))
    );
    let (status, _) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "a.png"))
            .text("mode", "blur"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = submit_form(
        &sandbox,
        Form::new().text("source_url", "https://example.com/cat.png"),
    )
    .await;
    assert_eq!(status, 400);

    // A URL on the sandbox's file host is fetched (in-process); an unknown source_id is not.
    let hosted = sandbox.host_file("inputs/disc.png", disc_png()).await;
    let (status, body) = submit_form(&sandbox, Form::new().text("source_url", hosted)).await;
    assert_eq!(status, 200, "{body}");
    let source_id = body["source_id"].as_str().unwrap_or_default().to_owned();
    let (status, reused) =
        submit_form(&sandbox, Form::new().text("source_id", source_id.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(reused["source_id"], source_id.as_str());
    let (status, _) = submit_form(&sandbox, Form::new().text("source_id", "no-such-source")).await;
    assert_eq!(status, 400);
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);

    // Extra string fields are accepted as settings and echoed in options_json.
    let (status, body) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "a.png"))
            .text("mode", "alpha")
            .text("feather", "2"),
    )
    .await;
    assert_eq!(status, 200);
    let id = body["process_id"].as_str().unwrap_or_default();
    let status = topaz
        .get_status()
        .process_id(id)
        .send()
        .await
        .expect("status");
    assert!(
        status
            .options_json
            .as_deref()
            .is_some_and(|o| o.contains("\"feather\":\"2\"") && o.contains("alpha"))
    );
    // `alpha` mode answers with the mask itself, a grayscale PNG.
    sandbox.advance_clock(Duration::from_secs(2));
    let links = topaz
        .get_download_output()
        .process_id(id)
        .send()
        .await
        .expect("links");
    let mask = http().get(&links.download_url).send().await.expect("sent");
    let mask = decode(&mask.bytes().await.expect("body"));
    assert!(matches!(mask, DynamicImage::ImageLuma8(_)));
    let (centre, corner) = mask_centre_and_corner(&mask);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    // Listing parameters and the estimate's ranges.
    let url = format!(
        "{}/status?paginated=true&limit=101",
        sandbox.base_url(Provider::Topaz)
    );
    let (status, _) = json(
        http()
            .get(url)
            .header("X-API-Key", sandbox.key(Provider::Topaz))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 400);
    let page = topaz
        .get_all_statuses()
        .paginated(true)
        .limit(2u64)
        .send()
        .await
        .expect("page")
        .into_inner();
    let StatusList::Page(page) = page else {
        panic!("a page was asked for");
    };
    assert_eq!(page.data.len(), 2);
    assert!(page.pagination.has_next_page);
    let cursor = page.pagination.next_cursor.unwrap_or_default();
    let rest = topaz
        .get_all_statuses()
        .paginated(true)
        .limit(2u64)
        .cursor(cursor)
        .send()
        .await
        .expect("page");
    let StatusList::Page(rest) = rest.into_inner() else {
        panic!("a page was asked for");
    };
    assert_eq!(rest.data.len(), 1);
    assert!(!rest.pagination.has_next_page && rest.pagination.next_cursor.is_none());

    let estimate_url = format!("{}/estimate", sandbox.base_url(Provider::Topaz));
    for (height, width, expected) in [(0, 100, 400), (100, 32001, 400), (4000, 6000, 200)] {
        let body = serde_json::json!({"category": "Matting", "model": "Object", "input_height": height, "input_width": width});
        let response = http()
            .post(&estimate_url)
            .header("X-API-Key", sandbox.key(Provider::Topaz))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let (status, body) = json(response).await;
        assert_eq!(status, expected, "{height}x{width}: {body}");
        if status == 200 {
            assert_eq!(body["credits"], 1);
            assert_eq!(body["duration"], 2);
        }
    }
}

/// What the test webhook receiver saw, and what it still has to answer.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<serde_json::Value>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

async fn record(
    axum::extract::State(receiver): axum::extract::State<Receiver>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> StatusCode {
    receiver.seen.lock().expect("lock").push(body);
    let mut script = receiver.script.lock().expect("lock");
    let status = if script.is_empty() {
        200
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// A webhook receiver answering from a script of statuses (then 200), recording bodies.
async fn receiver(
    script: Vec<u16>,
) -> (
    String,
    Arc<Mutex<Vec<serde_json::Value>>>,
    tokio::task::JoinHandle<()>,
) {
    let state = Receiver {
        seen: Arc::default(),
        script: Arc::new(Mutex::new(script)),
    };
    let seen = state.seen.clone();
    let app = Router::new().route("/hook", post(record)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen, task)
}

#[tokio::test]
async fn webhooks_on_every_status_change_with_retries() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(100))
        .webhook_backoff_scale(0.001)
        .start()
        .await
        .expect("starts");
    // The first attempt of the first notification fails with 503: it must be retried.
    let (url, seen, server) = receiver(vec![503]).await;
    let (status, body) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "disc.png"))
            .text("webhook_url", url.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let process_id = body["process_id"].as_str().unwrap_or_default().to_owned();
    let deliveries = eventually(Duration::from_secs(5), || {
        let deliveries = sandbox.webhook_deliveries();
        async move {
            let completed = deliveries
                .iter()
                .any(|d| d.payload["status"] == "Completed" && d.status == Some(200));
            completed.then_some(deliveries)
        }
    })
    .await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.url == url && d.provider == Provider::Topaz)
    );
    let pending: Vec<_> = deliveries
        .iter()
        .filter(|d| d.payload["status"] == "Pending")
        .collect();
    assert_eq!(pending.len(), 2, "retried once after 503");
    assert_eq!((pending[0].status, pending[0].attempt), (Some(503), 1));
    assert_eq!((pending[1].status, pending[1].attempt), (Some(200), 2));
    let received = seen.lock().expect("lock").clone();
    let statuses: Vec<&str> = received
        .iter()
        .filter_map(|b| b["status"].as_str())
        .collect();
    for expected in ["Pending", "Processing", "Completed"] {
        assert!(statuses.contains(&expected), "{statuses:?}");
    }
    let completed = received
        .iter()
        .find(|b| b["status"] == "Completed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(completed["process_id"], process_id.as_str());
    assert_eq!(completed["progress"], 100);
    for field in [
        "download_url",
        "head_url",
        "input_download_url",
        "input_head_url",
        "notification_id",
    ] {
        assert!(completed[field].is_string(), "{field} in {completed}");
    }
    assert!(completed["creation_time"].is_i64() && completed["modification_time"].is_i64());
    let download = completed["download_url"].as_str().unwrap_or_default();
    assert_eq!(
        http().get(download).send().await.expect("sent").status(),
        200
    );
    // ULIDs: 26 characters, sorting in the order of the status changes.
    let mut ids: Vec<(String, String)> = received
        .iter()
        .filter_map(|b| {
            Some((
                b["notification_id"].as_str()?.to_owned(),
                b["status"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(ids.iter().all(|(id, _)| id.len() == 26));
    ids.sort();
    ids.dedup();
    let order: Vec<&str> = ids.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(order, ["Pending", "Processing", "Completed"]);

    // A 4xx answer drops the notification: no retry.
    let (url, _, server2) = receiver(vec![410, 410, 410]).await;
    let (status, _) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "disc.png"))
            .text("webhook_url", url.clone()),
    )
    .await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(5), || {
        let count = sandbox
            .webhook_deliveries()
            .iter()
            .filter(|d| d.url == url)
            .count();
        async move { (count == 3).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gone: Vec<_> = sandbox
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.url == url)
        .collect();
    assert_eq!(gone.len(), 3, "one attempt per status change, none retried");
    assert!(gone.iter().all(|d| d.status == Some(410) && d.attempt == 1));

    // Receivers off this machine are never called.
    let (status, _) = submit_form(
        &sandbox,
        Form::new()
            .part("image", image_part(disc_png(), "disc.png"))
            .text("webhook_url", "https://hooks.example.com/topaz"),
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sandbox
            .webhook_deliveries()
            .iter()
            .all(|d| d.url != "https://hooks.example.com/topaz")
    );
    server.abort();
    server2.abort();
}

//! End to end: the real `modelslab` client and its hand-written layer against the in-process
//! ModelsLab simulator of `cutout-sandbox`: `removebg_mask` from URLs and local files (data
//! URIs), `processing` followed through `fetch`, masks, base64 results, the account's queue cap,
//! and webhook calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutout_runtime::JobProgress;
use cutout_tests::sandbox::{
    self as sb, HEIGHT, Provider, WIDTH, WebhookReceiver, assert_cutout, assert_mask,
    expect_invalid, operations, requests_to,
};
use futures_util::future::join_all;
use modelslab::types::{self, WebhookPayload};
use modelslab::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, Progress, RemoveOptions,
    webhook,
};
use modelslab::{MaskOutput, MaskState};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

async fn download(client: &Client, url: &str) -> Vec<u8> {
    let (bytes, _) = client
        .context()
        .download_bytes(url, 1 << 20)
        .await
        .expect("download the result");
    bytes.to_vec()
}

#[tokio::test]
async fn a_hosted_url_is_processed_then_fetched_until_success() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let url = sandbox
        .host_file("inputs/disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    let seen: Arc<Mutex<Vec<JobProgress>>> = Arc::default();
    let record = seen.clone();
    let result = client
        .remove_bg(ImageSource::url(url))
        .only_mask(true)
        .wait(sb::wait())
        .on_progress(move |p| record.lock().unwrap().push(p.clone()))
        .run()
        .await
        .unwrap();
    let id = result.id.expect("the request id");
    let urls = result.output.urls().to_vec();
    assert_eq!(urls.len(), 1, "{:?}", result.output);
    assert_eq!(result.proxy_links, urls);
    let took = result.generation_time.expect("a generation time");
    assert!(
        (took.as_secs_f64() - sb::JOB_DURATION.as_secs_f64()).abs() < 1e-6,
        "{took:?}"
    );
    assert!(result.meta.is_some());
    assert_mask(&download(&client, &urls[0]).await, WIDTH, HEIGHT);

    // The first report is the submission's own `processing`, with ModelsLab's ETA.
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert_eq!(seen[0].status, "processing");
    assert_eq!(seen[0].job_id, id.to_string());
    assert!(seen[0].eta.is_some(), "{seen:?}");

    // On the wire: one paid request, then fetches of its id.
    let log = requests_to(&sandbox, Some(Provider::ModelsLab));
    assert!(log[0].submission && log[0].path == "/api/v6/image_editing/removebg_mask");
    assert!(log.len() >= 2, "{log:#?}");
    for fetch in &log[1..] {
        assert_eq!(fetch.path, format!("/api/v6/image_editing/fetch/{id}"));
        assert_eq!(fetch.method, "POST");
    }
    assert_eq!(
        operations(&log),
        [
            "POST /api/v6/image_editing/removebg_mask".to_owned(),
            "POST /api/v6/image_editing/fetch/{id}".to_owned(),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 1);
}

#[tokio::test]
async fn a_local_file_travels_inline_as_a_data_uri() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "disc.png", &sb::disc_png(WIDTH, HEIGHT));
    let result = client
        .remove_bg(ImageSource::path(&file))
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    let url = result
        .output
        .urls()
        .first()
        .cloned()
        .expect("an output link");
    assert_cutout(&download(&client, &url).await, WIDTH, HEIGHT);
    // Nothing but the result was read from the file host: the input went inside the body.
    let from_files = requests_to(&sandbox, None);
    assert_eq!(from_files.len(), 1);
    assert!(from_files[0].path.starts_with("/modelslab/generations/"));

    // Bytes in memory too, as a JPEG.
    let result = client
        .remove_bg(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "d.jpg"))
        .only_mask(true)
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    let url = result
        .output
        .urls()
        .first()
        .cloned()
        .expect("an output link");
    assert_mask(&download(&client, &url).await, WIDTH, HEIGHT);
}

#[tokio::test]
async fn submit_fetch_and_wait_for_mask_step_by_step() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let url = sandbox
        .host_file("disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    let state = client
        .remove_bg(ImageSource::url(&url))
        .submit()
        .await
        .unwrap()
        .into_state();
    let MaskState::Processing(processing) = state else {
        panic!("a 150 ms job is queued first: {state:?}");
    };
    assert!(processing.eta.is_some());
    assert_eq!(processing.future_links.len(), 1);
    let result = client
        .wait_for_mask(&processing, &sb::wait(), |_| {})
        .await
        .unwrap();
    assert_eq!(result.id, Some(processing.id));
    assert_eq!(result.output.urls(), processing.future_links.as_slice());
    assert_cutout(
        &download(&client, &result.output.urls()[0]).await,
        WIDTH,
        HEIGHT,
    );
    match client.fetch(processing.id).await.unwrap() {
        MaskState::Done(again) => assert_eq!(again.output, result.output),
        other => panic!("done by now: {other:?}"),
    }
    // An id ModelsLab never gave: an `error` answer (HTTP 200), a failed job.
    let error = client.fetch(123_456_789).await.unwrap_err();
    assert!(
        matches!(&error, CutoutError::JobFailed { status, job_id, .. }
            if status == "error" && job_id == "123456789"),
        "{error:?}"
    );
    assert!(error.to_string().contains("not found"), "{error}");

    // The generated builder through `Context::call`: the raw `processing` answer.
    let raw = client
        .context()
        .call(
            "removebg_mask",
            client
                .removebg_mask()
                .body_map(|body| body.image(url.clone()).only_mask(true))
                .send(),
        )
        .await
        .unwrap()
        .into_inner();
    let types::RemovebgMaskResponse::RemovebgMaskProcessing(queued) = raw else {
        panic!("queued: {raw:?}");
    };
    assert!(
        queued
            .fetch_result
            .unwrap()
            .contains("/image_editing/fetch/")
    );
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 2);
}

#[tokio::test]
async fn base64_results_decode_to_the_image() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let result = client
        .remove_bg(ImageSource::bytes(sb::disc_png(WIDTH, HEIGHT), "disc.png"))
        .base64(true)
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    assert!(
        matches!(result.output, MaskOutput::Base64(_)),
        "{:?}",
        result.output
    );
    assert!(result.output.urls().is_empty());
    let images = result.decode_base64().unwrap();
    assert_eq!(images.len(), 1);
    assert_cutout(&images[0], WIDTH, HEIGHT);

    // Links are not base64: a local error, nothing sent.
    let links = client
        .remove_bg(ImageSource::bytes(sb::disc_png(WIDTH, HEIGHT), "disc.png"))
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    sandbox.clear_requests();
    let error = links.decode_base64().unwrap_err();
    assert!(
        matches!(&error, CutoutError::InvalidInput { field, .. } if field == "output"),
        "{error:?}"
    );
    assert!(error.to_string().contains(".base64(true)"), "{error}");
    assert!(sandbox.requests().is_empty());
}

/// Sends `request` for a mask and returns the mask.
async fn mask_of(request: modelslab::RemoveBgRequest<'_>, client: &Client) -> image::GrayImage {
    let result = request
        .only_mask(true)
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    let bytes = download(client, &result.output.urls()[0]).await;
    image::load_from_memory(&bytes).unwrap().to_luma8()
}

#[tokio::test]
async fn the_options_reach_the_server() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let url = sandbox
        .host_file("disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    // Inverted: the disc is black, the background white.
    let inverted = mask_of(
        client.remove_bg(ImageSource::url(&url)).inverse_mask(true),
        &client,
    )
    .await;
    assert!(inverted.get_pixel(WIDTH / 2, HEIGHT / 2).0[0] <= 40);
    assert!(inverted.get_pixel(2, 2).0[0] >= 200);
    // Post-processed: hard edges, only black and white.
    let hard = mask_of(
        client
            .remove_bg(ImageSource::url(&url))
            .post_process_mask(true),
        &client,
    )
    .await;
    assert!(hard.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
    // Alpha matting with explicit thresholds, at the edges of their ranges.
    let matted = mask_of(
        client
            .remove_bg(ImageSource::url(&url))
            .alpha_matting(true)
            .foreground_threshold(240)
            .background_threshold(0)
            .erode_size(5)
            .seed(42),
        &client,
    )
    .await;
    assert_mask(
        &sb::encode(
            &image::DynamicImage::ImageLuma8(matted),
            image::ImageFormat::Png,
        ),
        WIDTH,
        HEIGHT,
    );
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 3);
}

#[tokio::test]
async fn job_slots_keep_twelve_requests_under_the_queue_cap() {
    let sandbox = sb::start_sandbox().await; // ModelsLab's queue cap: 5
    let client: Client = sb::client_builder(&sandbox, Provider::ModelsLab)
        .max_concurrent_jobs(Some(5))
        .build()
        .unwrap();
    let url = sandbox
        .host_file("disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    let jobs = (0..12u32).map(|i| {
        let (client, url) = (&client, url.clone());
        async move {
            let kind = if i.is_multiple_of(2) {
                CutoutKind::Rgba
            } else {
                CutoutKind::Mask
            };
            let cutout = client
                .remove_background(
                    ImageSource::url(url),
                    RemoveOptions::default().kind(kind).wait(sb::wait()),
                )
                .await
                .unwrap();
            match kind {
                CutoutKind::Rgba => assert_cutout(&cutout.bytes, WIDTH, HEIGHT).dimensions(),
                _ => assert_mask(&cutout.bytes, WIDTH, HEIGHT).dimensions(),
            }
        }
    });
    join_all(jobs).await;
    let log = requests_to(&sandbox, Some(Provider::ModelsLab));
    assert!(
        log.iter().all(|r| r.status == 200),
        "no 429 from the queue: {:#?}",
        log.iter().filter(|r| r.status != 200).collect::<Vec<_>>()
    );
    assert_eq!(log.iter().filter(|r| r.submission).count(), 12);
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 12);
}

/// A client without job slots or retries, and a sandbox whose jobs stay queued for 30 s.
async fn unguarded() -> (sb::Sandbox, Client, String) {
    let sandbox = sb::sandbox_builder()
        .job_duration(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let client: Client = sb::client_builder(&sandbox, Provider::ModelsLab)
        .max_concurrent_jobs(None)
        .retry(modelslab::RetryPolicy::none())
        .build()
        .unwrap();
    let url = sandbox
        .host_file("disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    (sandbox, client, url)
}

#[tokio::test]
async fn the_queue_cap_refuses_a_sixth_queued_request_with_429() {
    // The control of the test above, one request after the other: the cap is real.
    let (sandbox, client, url) = unguarded().await;
    for _ in 0..5 {
        let state = client
            .remove_bg(ImageSource::url(&url))
            .submit()
            .await
            .unwrap()
            .into_state();
        assert!(matches!(state, MaskState::Processing(_)), "{state:?}");
    }
    let error = client
        .remove_bg(ImageSource::url(&url))
        .submit()
        .await
        .unwrap_err();
    assert!(error.is_rate_limited(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 5);
}

#[tokio::test]
async fn concurrent_requests_cannot_overrun_the_queue_cap() {
    // Twelve requests at once, without job slots: ModelsLab queues 5 and refuses the rest.
    let (sandbox, client, url) = unguarded().await;
    let answers =
        join_all((0..12).map(|_| client.remove_bg(ImageSource::url(url.clone())).submit())).await;
    let queued = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(
        sandbox.submissions(Provider::ModelsLab),
        5,
        "the sandbox accepted {queued} of 12 concurrent requests with a queue cap of 5"
    );
    for error in answers.into_iter().filter_map(Result::err) {
        assert!(error.is_rate_limited(), "{error:?}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    }
}

#[tokio::test]
async fn webhook_calls_parse() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let receiver = WebhookReceiver::start(Vec::new()).await;
    let result = client
        .remove_bg(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "d.jpg"))
        .webhook(receiver.url())
        .track_id(42)
        .wait(sb::wait())
        .run()
        .await
        .unwrap();
    sb::eventually("the webhook call", Duration::from_secs(10), || {
        !receiver.bodies().is_empty()
    })
    .await;
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "ModelsLab calls once");
    let WebhookPayload::Success(call) = webhook::parse(&bodies[0]).unwrap() else {
        panic!("a success call");
    };
    assert_eq!(call.id.as_ref().and_then(webhook::id_number), result.id);
    assert_eq!(
        call.track_id.as_ref().and_then(webhook::id_number),
        Some(42)
    );
    assert_eq!(call.output, result.output.urls());
    assert_cutout(&download(&client, &call.output[0]).await, WIDTH, HEIGHT);
    let deliveries = sandbox.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    // A status ModelsLab did not document reads as the catch-all; no status at all is refused.
    assert!(matches!(
        webhook::parse(b"{\"status\": \"maybe\"}").unwrap(),
        WebhookPayload::Other(other) if other.status == "maybe"
    ));
    assert!(
        webhook::parse(b"{\"state\": \"maybe\"}")
            .unwrap_err()
            .is_invalid_input()
    );
}

#[tokio::test]
async fn background_remover_makes_cutouts_and_masks() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "modelslab");
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let record = events.clone();
    let cutout = remover
        .remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default()
                .wait(sb::wait())
                .on_progress(move |e| record.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    assert_eq!(cutout.kind, CutoutKind::Rgba);
    assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    let events = events.lock().unwrap().clone();
    let job_id = cutout.job_id.clone().expect("the request id");
    assert_eq!(events.first(), Some(&Progress::Submitted { job_id }));
    assert!(events.iter().any(|e| matches!(e, Progress::Waiting(_))));
    assert_eq!(events.last(), Some(&Progress::Downloading));

    let url = sandbox
        .host_file("disc.png", sb::disc_png(WIDTH, HEIGHT).into())
        .await;
    let mask = remover
        .remove_background(
            ImageSource::url(url),
            RemoveOptions::mask().wait(sb::wait()),
        )
        .await
        .unwrap();
    assert_eq!(mask.kind, CutoutKind::Mask);
    assert_mask(&mask.bytes, WIDTH, HEIGHT);
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 2);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_and_an_empty_account_402() {
    let sandbox = sb::start_sandbox().await;
    let wrong: Client = sb::with_wrong_key(&sandbox, Provider::ModelsLab);
    let image = || ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg");
    let error = wrong
        .remove_background(image(), RemoveOptions::default().wait(sb::wait()))
        .await
        .unwrap_err();
    assert!(error.is_auth(), "{error:?}");
    assert!(
        !error.to_string().contains("not-the-sandbox-key"),
        "{error}"
    );

    let client = sb::modelslab(&sandbox);
    sandbox.set_credits(Provider::ModelsLab, 0);
    let error = client.remove_bg(image()).run().await.unwrap_err();
    assert!(error.is_insufficient_credits(), "{error:?}");
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 0);
    assert_eq!(sandbox.requests().len(), 2, "neither is retried");
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::modelslab(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let text = write(&dir, "notes.png", b"words, not pixels");
    let missing = dir.path().join("missing.png");
    let hosted = "http://127.0.0.1:9/disc.jpg";
    let request = || client.remove_bg(ImageSource::url(hosted));

    expect_invalid(
        &sandbox,
        "alpha_matting_foreground_threshold",
        "outside 0..=240",
        || request().foreground_threshold(241).run(),
    )
    .await;
    expect_invalid(
        &sandbox,
        "alpha_matting_background_threshold",
        "outside 0..=20",
        || request().background_threshold(21).run(),
    )
    .await;
    expect_invalid(
        &sandbox,
        "alpha_matting_erode_size",
        "outside 0..=5",
        || request().erode_size(6).submit(),
    )
    .await;
    expect_invalid(&sandbox, "webhook", "not an absolute URL", || {
        request().webhook("hooks.example.com/modelslab").run()
    })
    .await;
    expect_invalid(&sandbox, "webhook", "scheme `ftp`", || {
        request().webhook("ftp://hooks.example.com/modelslab").run()
    })
    .await;
    expect_invalid(&sandbox, "image", "scheme `ftp`", || {
        client
            .remove_bg(ImageSource::url("ftp://files.example.com/disc.jpg"))
            .run()
    })
    .await;
    expect_invalid(&sandbox, "image", "scheme `data`", || {
        client
            .remove_bg(ImageSource::url("data:text/plain;base64,aGk="))
            .run()
    })
    .await;
    expect_invalid(&sandbox, "image", "not an absolute URL", || {
        client
            .remove_bg(ImageSource::url("images/disc.jpg"))
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "image", "does not exist", || {
        client.remove_bg(missing.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "is not a file", || {
        client.remove_bg(dir.path()).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "not an image", || {
        client.remove_bg(text.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "not an image", || {
        client
            .remove_bg(ImageSource::bytes(&b"\x00\x01\x02"[..], "x.png"))
            .submit()
    })
    .await;
    let remover: &dyn BackgroundRemover = &client;
    expect_invalid(&sandbox, "image", "not an image", || {
        remover.remove_background(ImageSource::path(&text), RemoveOptions::mask())
    })
    .await;
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 0);
}

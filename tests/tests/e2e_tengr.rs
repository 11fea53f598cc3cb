//! End to end: the real `artworks-seg` client and its hand-written layer against the in-process
//! Tengr.ai simulator of `cutout-sandbox`: text and points segmentation, background removal,
//! results in the requested format, the artwork list, and the 8-day retention.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use artworks_seg::types::{self, ArtworkStatus, OutputFormat};
use artworks_seg::{
    BackgroundRemover, Client, CutoutError, ImageSource, Progress, RemoveOptions,
    SegmentationRequest, webhook,
};
use cutout_runtime::JobProgress;
use cutout_tests::sandbox::{
    self as sb, HEIGHT, Provider, Sandbox, WIDTH, assert_cutout, assert_mask, expect_invalid,
    expect_unsupported, is_png, is_webp, operations, requests_to,
};

async fn hosted(sandbox: &Sandbox) -> String {
    sandbox
        .host_file("inputs/disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await
}

#[tokio::test]
async fn text_segmentation_masks_the_subject() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    let mut job = SegmentationRequest::text(&url, "the orange disc")
        .confidence(0.4)
        .max_detections(1)
        .combine_masks(true)
        .output_format(OutputFormat::Png)
        .submit(&client)
        .await
        .unwrap();
    assert_eq!(job.status(), ArtworkStatus::Starting);
    assert_eq!(job.artwork().artwork_type.as_deref(), Some("segmentation"));
    let seen: Arc<Mutex<Vec<JobProgress>>> = Arc::default();
    let record = seen.clone();
    let urls = job
        .wait(&sb::wait(), move |p| record.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    assert_eq!(urls.len(), 1);
    assert!(urls[0].ends_with(".png"), "{urls:?}");
    assert_eq!(job.status(), ArtworkStatus::Succeeded);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].status, "starting",
        "the record in hand is the first poll"
    );
    assert!(seen.iter().all(|p| p.percent.is_none() && p.eta.is_none()));

    let results = job.result_bytes().await.unwrap();
    assert_eq!(results.len(), 1);
    assert!(is_png(&results[0]));
    assert_mask(&results[0], WIDTH, HEIGHT);

    // The parameters went on the wire as Tengr names them.
    let parameters = job.artwork().parameters.clone().expect("parameters");
    assert_eq!(parameters["method"], "text");
    assert_eq!(parameters["textPrompt"], "the orange disc");
    assert_eq!(parameters["textConfidence"], 0.4);
    assert_eq!(parameters["textMaxDetections"], 1);
    assert_eq!(parameters["outputFormat"], "png");

    // Without a format, the server's choice: WebP.
    let mut auto = SegmentationRequest::text(&url, "the disc")
        .submit(&client)
        .await
        .unwrap();
    let urls = auto.wait(&sb::wait(), |_| {}).await.unwrap();
    assert!(urls[0].ends_with(".webp"), "{urls:?}");
    let bytes = auto.result_bytes().await.unwrap();
    assert!(is_webp(&bytes[0]));
    assert_mask(&bytes[0], WIDTH, HEIGHT);
    assert_eq!(sandbox.submissions(Provider::Tengr), 2);
}

#[tokio::test]
async fn points_segmentation_in_webp() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    let mut job = SegmentationRequest::points(&url)
        .positive(0.5, 0.5)
        .positive(0.45, 0.55)
        .negative(0.02, 0.03)
        .refinement_steps(2)
        .multimask(false)
        .best_mask(true)
        .mask_expand(1)
        .mask_blur_sigma(0.5)
        .mask_kernel_size(3)
        .tapered_corners(true)
        .output_format(OutputFormat::Webp)
        .submit(&client)
        .await
        .unwrap();
    job.wait(&sb::wait(), |_| {}).await.unwrap();
    let results = job.result_bytes().await.unwrap();
    assert!(is_webp(&results[0]), "{:02x?}", &results[0][..12]);
    assert_mask(&results[0], WIDTH, HEIGHT);
    let parameters = job.artwork().parameters.clone().expect("parameters");
    assert_eq!(parameters["method"], "points");
    assert_eq!(
        parameters["pointsPositive"],
        serde_json::json!({"points": [[0.5, 0.5], [0.45, 0.55]], "labels": [1, 1]})
    );
    assert_eq!(
        parameters["pointsNegative"],
        serde_json::json!({"points": [[0.02, 0.03]], "labels": [0]})
    );
}

#[tokio::test]
async fn background_removal_results_download_in_the_requested_format() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    let dir = tempfile::tempdir().unwrap();

    let mut png = client
        .remove_bg(&url)
        .output_format(OutputFormat::Png)
        .submit()
        .await
        .unwrap();
    assert_eq!(
        png.artwork().artwork_type.as_deref(),
        Some("remove_background")
    );
    png.wait(&sb::wait(), |_| {}).await.unwrap();
    let files = png.download_results(dir.path(), false).await.unwrap();
    assert_eq!(files, [dir.path().join(format!("{}-0.png", png.id()))]);
    let bytes = std::fs::read(&files[0]).unwrap();
    assert!(is_png(&bytes));
    assert_cutout(&bytes, WIDTH, HEIGHT);
    // Again: the file is there, so nothing is sent unless overwriting is allowed.
    expect_invalid(&sandbox, "destination", "already exists", || {
        png.download_results(dir.path(), false)
    })
    .await;
    png.download_results(dir.path(), true).await.unwrap();

    // WebP, with a public HTTPS webhook (accepted, never called by the sandbox).
    let mut webp = client
        .remove_bg(&url)
        .output_format(OutputFormat::Webp)
        .webhook("https://hooks.example.com/tengr?token=abc")
        .submit()
        .await
        .unwrap();
    webp.wait(&sb::wait(), |_| {}).await.unwrap();
    let files = webp.download_results(dir.path(), false).await.unwrap();
    assert!(
        files[0].extension().is_some_and(|e| e == "webp"),
        "{files:?}"
    );
    let bytes = std::fs::read(&files[0]).unwrap();
    assert!(is_webp(&bytes));
    assert_cutout(&bytes, WIDTH, HEIGHT);
    assert!(sandbox.webhook_deliveries().is_empty());

    // The webhook body is the artwork: it parses back to the record.
    let body = serde_json::to_vec(webp.artwork()).unwrap();
    assert_eq!(&webhook::parse(&body).unwrap(), webp.artwork());
    let error = webhook::parse(b"{\"status\": \"done\"}").unwrap_err();
    assert!(
        matches!(error, CutoutError::UnexpectedResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_list_is_newest_first_and_pages() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    let mut ids = Vec::new();
    for prompt in ["first", "second", "third"] {
        let job = SegmentationRequest::text(&url, prompt)
            .submit(&client)
            .await
            .unwrap();
        ids.push(job.id().to_owned());
    }
    ids.reverse();
    let listed: Vec<String> = client
        .artworks(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|job| job.id().to_owned())
        .collect();
    assert_eq!(listed, ids);
    let page = client.artworks(1, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id(), ids[1]);
    assert_eq!(
        requests_to(&sandbox, Some(Provider::Tengr))
            .last()
            .unwrap()
            .query
            .as_deref(),
        Some("limit=1&offset=1")
    );
    // Picked up by id (after a restart, from a webhook...), then followed to the end.
    let mut job = client.artwork(&ids[0]).await.unwrap();
    job.wait(&sb::wait(), |_| {}).await.unwrap();
    assert_eq!(
        job.refresh().await.unwrap().status,
        ArtworkStatus::Succeeded
    );
    assert_mask(&job.result_bytes().await.unwrap()[0], WIDTH, HEIGHT);
}

#[tokio::test]
async fn artworks_are_gone_after_eight_days() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    let mut job = client.remove_bg(&url).submit().await.unwrap();
    let urls = job.wait(&sb::wait(), |_| {}).await.unwrap();
    sandbox.advance_clock(Duration::from_secs(8 * 24 * 3600 + 1));

    let error = client.artwork(job.id()).await.unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(job.id()), "{message}");
    assert!(message.contains("8 days after creation"), "{message}");
    assert!(job.refresh().await.unwrap_err().is_not_found());
    assert!(client.artworks(0, 10).await.unwrap().is_empty());
    let error = client
        .context()
        .download_bytes(&urls[0], 1 << 20)
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "the images go too: {error}");
}

#[tokio::test]
async fn an_unreachable_image_fails_the_artwork_without_a_charge() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let mut job = SegmentationRequest::text("https://images.example.com/missing.jpg", "anything")
        .submit(&client)
        .await
        .unwrap();
    let error = job.wait(&sb::wait(), |_| {}).await.unwrap_err();
    assert!(
        matches!(&error, CutoutError::JobFailed { status, job_id, .. }
            if status == "failed" && job_id == job.id()),
        "{error:?}"
    );
    assert_eq!(job.status(), ArtworkStatus::Failed);
    assert!(matches!(
        job.result_urls(),
        Err(CutoutError::JobFailed { .. })
    ));
    assert_eq!(
        sandbox.credits(Provider::Tengr),
        1000,
        "failed artworks are free"
    );
}

#[tokio::test]
async fn background_remover_makes_cutouts_from_urls_only() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "tengr");
    let url = hosted(&sandbox).await;
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let record = events.clone();
    let cutout = remover
        .remove_background(
            ImageSource::url(url),
            RemoveOptions::default()
                .wait(sb::wait())
                .on_progress(move |e| record.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    assert!(is_png(&cutout.bytes));
    assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    let events = events.lock().unwrap().clone();
    let job_id = cutout.job_id.clone().expect("the artwork id");
    assert_eq!(events.first(), Some(&Progress::Submitted { job_id }));
    assert_eq!(events.last(), Some(&Progress::Downloading));

    expect_unsupported(&sandbox, "Tengr fetches images by URL", || {
        remover.remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default(),
        )
    })
    .await;
    expect_unsupported(&sandbox, "submit a `SegmentationRequest::text`", || {
        remover.remove_background(
            ImageSource::url("https://images.example.com/disc.jpg"),
            RemoveOptions::mask(),
        )
    })
    .await;
    assert_eq!(sandbox.submissions(Provider::Tengr), 1);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_and_an_empty_account_402() {
    let sandbox = sb::start_sandbox().await;
    let url = hosted(&sandbox).await;
    let wrong: Client = sb::with_wrong_key(&sandbox, Provider::Tengr);
    let error = SegmentationRequest::text(&url, "the disc")
        .submit(&wrong)
        .await
        .unwrap_err();
    assert!(error.is_auth(), "{error:?}");
    assert_eq!(error.status(), Some(403));

    let client = sb::tengr(&sandbox);
    sandbox.set_credits(Provider::Tengr, 0);
    let error = client
        .remove_background(ImageSource::url(url), RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(error.is_insufficient_credits(), "{error:?}");
    assert_eq!(sandbox.submissions(Provider::Tengr), 0);
}

#[tokio::test]
async fn every_generated_operation_reaches_the_sandbox() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = hosted(&sandbox).await;
    // create_segmentation, through the generated builder and `Context::call`.
    let artwork = client
        .context()
        .call(
            "create_segmentation",
            client
                .create_segmentation()
                .body_map(|body| {
                    body.image_url(url.clone())
                        .method(types::SegmentationMethod::Text)
                        .text_prompt(Some("the disc".to_owned()))
                        .output_format(Some(OutputFormat::Png))
                })
                .send(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut job = artworks_seg::ArtworkJob::new(client.clone(), artwork);
    job.wait(&sb::wait(), |_| {}).await.unwrap(); // get_artwork
    assert_mask(&job.result_bytes().await.unwrap()[0], WIDTH, HEIGHT);
    let mut removal = client
        .remove_bg(&url)
        .output_format(OutputFormat::Png)
        .submit()
        .await
        .unwrap(); // create_remove_background
    removal.wait(&sb::wait(), |_| {}).await.unwrap();
    assert_eq!(client.artworks(0, 500).await.unwrap().len(), 2); // list_artworks

    let seen = operations(&requests_to(&sandbox, Some(Provider::Tengr)));
    let expected = [
        "POST /v2/artworks/segmentation",
        "POST /v2/artworks/remove-background",
        "GET /v2/artworks/{id}",
        "GET /v2/artworks",
    ];
    assert_eq!(seen, expected.iter().map(|s| s.to_string()).collect());
    assert!(sandbox.requests().iter().all(|r| r.status < 400));
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::tengr(&sandbox);
    let url = "https://images.example.com/disc.jpg";
    let text = || SegmentationRequest::text(url, "the disc");
    let points = || SegmentationRequest::points(url).positive(0.5, 0.5);

    expect_invalid(&sandbox, "image_url", "empty", || {
        SegmentationRequest::text("  ", "the disc").submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "image_url", "scheme `ftp`", || {
        SegmentationRequest::text("ftp://images.example.com/a.jpg", "x").submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "image_url", "not a URL", || {
        SegmentationRequest::points("http://")
            .positive(0.5, 0.5)
            .submit(&client)
    })
    .await;
    expect_unsupported(&sandbox, "local path", || {
        SegmentationRequest::text("photos/disc.jpg", "x").submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "prompt", "empty", || {
        SegmentationRequest::text(url, " ").submit(&client)
    })
    .await;
    for confidence in [1.5, -0.1, f64::NAN] {
        expect_invalid(&sandbox, "confidence", "outside 0..=1", || {
            text().confidence(confidence).submit(&client)
        })
        .await;
    }
    for max in [101, -2] {
        expect_invalid(&sandbox, "max_detections", "outside -1..=100", || {
            text().max_detections(max).submit(&client)
        })
        .await;
    }
    expect_invalid(
        &sandbox,
        "points_positive",
        "at least one positive point",
        || {
            SegmentationRequest::points(url)
                .negative(0.1, 0.1)
                .submit(&client)
        },
    )
    .await;
    expect_invalid(&sandbox, "points_positive[1]", "not in 0.0..=1.0", || {
        points().positive(1.5, 0.5).submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "points_negative[0]", "not in 0.0..=1.0", || {
        points().negative(f64::INFINITY, 0.5).submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "refinement_steps", "above 10", || {
        points().refinement_steps(11).submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "mask_expand", "outside -16384..=16384", || {
        points().mask_expand(16_385).submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "mask_blur_sigma", "outside 0.1..=100", || {
        text().mask_blur_sigma(0.05).submit(&client)
    })
    .await;
    expect_invalid(&sandbox, "mask_kernel_size", "above 100", || {
        text().mask_kernel_size(101).submit(&client)
    })
    .await;
    for (hook, hint) in [
        ("http://hooks.example.com/tengr", "plain http://"),
        ("https://127.0.0.1/hook", "a loopback address"),
        (
            "https://169.254.169.254/latest",
            "the cloud metadata address",
        ),
        ("https://10.1.2.3/hook", "a private address (10.0.0.0/8)"),
        ("https://[::1]/hook", "the loopback address (::1)"),
        (
            "https://[::ffff:192.168.1.2]/hook",
            "an IPv4-mapped form of a private",
        ),
        (
            "https://metadata.google.internal/hook",
            "the cloud metadata host",
        ),
        ("https://localhost/hook", "a loopback name"),
        ("https://intranet/hook", "a single-label name"),
        ("ftp://hooks.example.com/hook", "scheme `ftp`"),
        ("not a url", "not a URL"),
    ] {
        expect_invalid(&sandbox, "webhook", hint, || {
            text().webhook(hook).submit(&client)
        })
        .await;
    }
    expect_invalid(&sandbox, "webhook", "plain http://", || {
        client
            .remove_bg(url)
            .webhook("http://hooks.example.com/x")
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "image_url", "scheme `ftp`", || {
        client.remove_bg("ftp://images.example.com/a.jpg").submit()
    })
    .await;
    expect_unsupported(&sandbox, "local path", || {
        client.remove_bg("C:\\photos\\disc.jpg").submit()
    })
    .await;
    for limit in [0, 501] {
        expect_invalid(&sandbox, "limit", "outside 1..=500", || {
            client.artworks(0, limit)
        })
        .await;
    }
    expect_invalid(&sandbox, "id", "empty", || client.artwork(" ")).await;
    assert_eq!(sandbox.submissions(Provider::Tengr), 0);
}

//! End to end: the real `topaz-image` client and its hand-written layer against the in-process
//! Topaz simulator of `cutout-sandbox`. Every operation, real images in and real cut-outs out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutout_runtime::JobProgress;
use cutout_tests::sandbox::{
    self as sb, HEIGHT, Provider, Sandbox, WIDTH, WebhookReceiver, assert_cutout, assert_mask,
    expect_invalid, operations, requests_to,
};
use futures_util::{StreamExt, TryStreamExt};
use topaz_image::types::JobStatus;
use topaz_image::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, Mode, Model, Progress,
    RemoveOptions, credits_for_output, webhook,
};

/// A sandbox whose jobs take long enough to be caught running; tests move its clock forward to
/// finish them.
async fn slow_sandbox() -> Sandbox {
    sb::sandbox_builder()
        .job_duration(Duration::from_secs(30))
        .start()
        .await
        .expect("sandbox")
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

async fn output(job: &topaz_image::Job) -> Vec<u8> {
    job.wait(&sb::wait(), |_| {}).await.expect("job completes");
    job.download_bytes(1 << 20)
        .await
        .expect("download")
        .to_vec()
}

#[tokio::test]
async fn matting_from_a_file_bytes_a_url_and_a_source_id() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let jpeg = sb::disc_jpeg(WIDTH, HEIGHT);
    let file = write(&dir, "disc.jpg", &jpeg);

    // A local file, streamed: the default (RemoveBG, segmentation) is the RGBA cut-out.
    let from_file = client.matting(file.as_path()).submit().await.unwrap();
    assert_cutout(&output(&from_file).await, WIDTH, HEIGHT);
    let source_id = from_file.source_id().expect("a source id").to_owned();

    // Bytes in memory, Object model, alpha mode: the mask.
    let png = sb::disc_png(WIDTH, HEIGHT);
    let from_bytes = client
        .matting(ImageSource::bytes(png, "disc.png"))
        .model(Model::Object)
        .mode(Mode::Alpha)
        .submit()
        .await
        .unwrap();
    assert_mask(&output(&from_bytes).await, WIDTH, HEIGHT);

    // A URL Topaz fetches itself (the sandbox's file host).
    let url = sandbox.host_file("inputs/disc.jpg", jpeg.into()).await;
    let from_url = client
        .matting(ImageSource::url(url))
        .model(Model::RemoveBg)
        .mode(Mode::Alpha)
        .submit()
        .await
        .unwrap();
    assert_mask(&output(&from_url).await, WIDTH, HEIGHT);
    assert_eq!(
        from_url.status().await.unwrap().filename.as_deref(),
        Some("disc.jpg")
    );

    // The first upload again, by its source id: nothing is uploaded.
    let reused = client
        .matting_from_source_id(&source_id)
        .model(Model::Object)
        .mode(Mode::Segmentation)
        .submit()
        .await
        .unwrap();
    assert_eq!(reused.source_id(), Some(source_id.as_str()));
    assert_cutout(&output(&reused).await, WIDTH, HEIGHT);
    let status = reused.status().await.unwrap();
    assert_eq!(status.source_id.as_deref(), Some(source_id.as_str()));
    assert_eq!(status.model.as_deref(), Some("Object"));
    assert_eq!(
        (status.input_width, status.input_height),
        (Some(i64::from(WIDTH)), Some(i64::from(HEIGHT)))
    );

    assert_eq!(sandbox.submissions(Provider::Topaz), 4);
    // Four jobs of a 96×72 image at 1 credit each.
    assert_eq!(sandbox.credits(Provider::Topaz), 1000 - 4);
}

#[tokio::test]
async fn wait_reports_rising_progress_with_an_eta() {
    let sandbox = sb::sandbox_builder()
        .job_duration(Duration::from_millis(400))
        .start()
        .await
        .unwrap();
    let client = sb::topaz(&sandbox);
    let job = client
        .matting(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .submit()
        .await
        .unwrap();
    assert!(job.eta().is_some(), "the submission's answer has an ETA");
    let seen: Arc<Mutex<Vec<JobProgress>>> = Arc::default();
    let record = seen.clone();
    let done = job
        .wait(&sb::wait(), move |p| record.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.progress, Some(100));

    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "several polls while the job ran: {seen:?}");
    let percents: Vec<u8> = seen
        .iter()
        .map(|p| p.percent.expect("a percentage"))
        .collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {percents:?}"
    );
    assert!(percents.iter().all(|&p| p < 100), "{percents:?}");
    assert!(
        seen.iter().any(|p| p.status == "Processing"),
        "the job was seen processing: {seen:?}"
    );
    assert!(
        seen.iter().any(|p| p.eta.is_some()),
        "Topaz's ETA reaches the waiter: {seen:?}"
    );
    assert!(seen.iter().all(|p| p.job_id == job.process_id()));
    let polls: Vec<u32> = seen.iter().map(|p| p.polls).collect();
    assert_eq!(polls, (1..=seen.len() as u32).collect::<Vec<_>>());
}

#[tokio::test]
async fn download_to_is_atomic_and_never_clobbers() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let job = client
        .matting(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .submit()
        .await
        .unwrap();
    job.wait(&sb::wait(), |_| {}).await.unwrap();

    let path = dir.path().join("disc.png");
    let written = job.download_to(&path, false).await.unwrap();
    assert_eq!(written.path, path);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(written.bytes, bytes.len() as u64);
    assert_eq!(written.content_type.as_deref(), Some("image/png"));
    assert_cutout(&bytes, WIDTH, HEIGHT);

    // An existing file is refused before anything is sent, and left as it was.
    std::fs::write(&path, b"keep me").unwrap();
    expect_invalid(&sandbox, "destination", "already exists", || {
        job.download_to(&path, false)
    })
    .await;
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    job.download_to(&path, true).await.unwrap();
    assert_cutout(&std::fs::read(&path).unwrap(), WIDTH, HEIGHT);

    // Every transfer breaks off halfway: the download fails after its retries and leaves neither
    // the file nor a temporary one.
    sandbox.set_faults(sb::Faults {
        on_downloads: sb::FaultRates {
            truncated: 1.0,
            ..Default::default()
        },
        ..Default::default()
    });
    let broken = dir.path().join("broken.png");
    let error = job.download_to(&broken, false).await.unwrap_err();
    assert!(
        matches!(
            error,
            CutoutError::Transport { .. } | CutoutError::UnexpectedResponse { .. }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("download"), "{error}");
    assert!(!broken.exists());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["disc.png"], "no temporary file is left behind");
    let truncated = requests_to(&sandbox, None)
        .iter()
        .filter(|r| r.fault == Some(sb::FaultKind::Truncated))
        .count();
    assert_eq!(truncated, sb::retry().max_attempts as usize);
}

#[tokio::test]
async fn the_input_download_url_serves_the_uploaded_image() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let jpeg = sb::disc_jpeg(WIDTH, HEIGHT);
    let job = client
        .matting(ImageSource::bytes(jpeg.clone(), "disc.jpg"))
        .submit()
        .await
        .unwrap();
    let links = job.input_download_url().await.unwrap();
    let head_url = links.head_url.as_deref().unwrap_or_default();
    assert!(head_url.contains("signature="), "{head_url}");
    let (bytes, content_type) = client
        .context()
        .download_bytes(&links.download_url, 1 << 20)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), jpeg.as_slice());
    assert_eq!(content_type.as_deref(), Some("image/jpeg"));
    // The output is not ready yet (the job runs 150 ms): a 409 that says to wait.
    let early = job.output_download_url().await;
    if let Err(error) = early {
        assert_eq!(error.status(), Some(409), "{error}");
        assert!(error.to_string().contains("Job::wait"), "{error}");
    }
}

#[tokio::test]
async fn cancel_answers_204_then_409_and_delete_needs_a_finished_job() {
    let sandbox = slow_sandbox().await;
    let client = sb::topaz(&sandbox);
    let image = || ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg");

    // Cancelled while running.
    let running = client.matting(image()).submit().await.unwrap();
    running.cancel().await.unwrap();
    assert_eq!(running.status().await.unwrap().status, JobStatus::Cancelled);
    let error = running.wait(&sb::wait(), |_| {}).await.unwrap_err();
    assert!(
        matches!(&error, CutoutError::JobFailed { status, .. } if status == "Cancelled"),
        "{error:?}"
    );
    let again = running.cancel().await.unwrap_err();
    assert_eq!(again.status(), Some(409));
    assert!(
        again.to_string().contains("can no longer be cancelled"),
        "{again}"
    );

    // A running job cannot be deleted; a finished one cannot be cancelled, but can be deleted.
    let job = client.matting(image()).submit().await.unwrap();
    let error = job.delete().await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("still running"), "{error}");
    sandbox.advance_clock(Duration::from_secs(31));
    assert_eq!(job.status().await.unwrap().status, JobStatus::Completed);
    let error = job.cancel().await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("already finished"), "{error}");
    assert_cutout(&job.download_bytes(1 << 20).await.unwrap(), WIDTH, HEIGHT);
    job.delete().await.unwrap();
    let gone = job.status().await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");

    // The cancel and delete answers on the wire.
    let statuses: Vec<(String, u16)> = requests_to(&sandbox, Some(Provider::Topaz))
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| {
            (
                r.path.split('/').nth(3).unwrap_or_default().to_owned(),
                r.status,
            )
        })
        .collect();
    let expected: Vec<(String, u16)> = [
        ("cancel", 204),
        ("cancel", 409),
        ("status", 409),
        ("cancel", 409),
        ("status", 204),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_owned(), s))
    .collect();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn lists_come_in_both_shapes_and_delete_all_keeps_running_jobs() {
    let sandbox = slow_sandbox().await;
    let client = sb::topaz(&sandbox);
    let jpeg = sb::disc_jpeg(WIDTH, HEIGHT);
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = client
            .matting(ImageSource::bytes(jpeg.clone(), format!("disc-{i}.jpg")))
            .submit()
            .await
            .unwrap();
        ids.push(job.process_id().to_owned());
    }
    sandbox.advance_clock(Duration::from_secs(31));

    // list_jobs: pages of 100, so one request here.
    sandbox.clear_requests();
    let listed: Vec<String> = client
        .list_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.process_id)
        .collect();
    assert_eq!(listed, ids);
    let log = sandbox.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].query.as_deref(), Some("limit=100&paginated=true"));

    // Paginated, two at a time: three pages following the cursor.
    sandbox.clear_requests();
    let paged: Vec<topaz_image::types::StatusResponse> =
        client.job_pages(2).try_collect().await.unwrap();
    assert_eq!(
        paged
            .iter()
            .map(|s| s.process_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(paged.iter().all(|s| s.status == JobStatus::Completed));
    let queries: Vec<String> = sandbox
        .requests()
        .into_iter()
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert!(queries[0].contains("paginated=true") && queries[0].contains("limit=2"));
    assert!(!queries[0].contains("cursor="));
    assert!(queries[1].contains("cursor=") && queries[2].contains("cursor="));

    // A job still running survives `delete_all_jobs`.
    let running = client
        .matting(ImageSource::bytes(jpeg, "late.jpg"))
        .submit()
        .await
        .unwrap();
    assert_eq!(client.delete_all_jobs().await.unwrap(), Some(5));
    let left: Vec<String> = client
        .list_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.process_id)
        .collect();
    assert_eq!(left, [running.process_id().to_owned()]);
    assert!(
        client
            .job(&ids[0])
            .status()
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn estimates_follow_the_published_table() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let small = client
        .estimate_matting(WIDTH, HEIGHT, Model::RemoveBg)
        .await
        .unwrap();
    assert_eq!(small.credits, 1);
    assert_eq!(Some(small.credits), credits_for_output(WIDTH, HEIGHT));
    // The sandbox's jobs take 150 ms: Topaz reports whole seconds.
    assert_eq!(small.duration, Duration::from_secs(1));
    for (width, height) in [(6000, 4000), (8000, 5000), (8000, 8000), (10_000, 10_000)] {
        let estimate = client
            .estimate_matting(width, height, Model::Object)
            .await
            .unwrap();
        assert_eq!(
            Some(estimate.credits),
            credits_for_output(width, height),
            "{width}×{height}"
        );
    }
    assert_eq!(
        sandbox.submissions(Provider::Topaz),
        0,
        "estimates are free"
    );
}

#[tokio::test]
async fn an_empty_account_answers_402() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    sandbox.set_credits(Provider::Topaz, 0);
    let error = client
        .matting(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .submit()
        .await
        .unwrap_err();
    assert!(error.is_insufficient_credits(), "{error:?}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("top up"), "{error}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
    assert_eq!(sandbox.requests().len(), 1, "a 402 is not retried");

    sandbox.set_credits(Provider::Topaz, 1);
    let remover: &dyn BackgroundRemover = &client;
    let cutout = remover
        .remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default().wait(sb::wait()),
        )
        .await
        .unwrap();
    assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    assert_eq!(sandbox.credits(Provider::Topaz), 0);
}

#[tokio::test]
async fn webhooks_reach_a_loopback_receiver_and_are_retried_after_a_500() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    // The first notification is refused with a 500, so Topaz sends it again.
    let receiver = WebhookReceiver::start(vec![500]).await;
    let job = client
        .matting(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .mode(Mode::Alpha)
        .webhook_url(receiver.url())
        .submit()
        .await
        .unwrap();
    job.wait(&sb::wait(), |_| {}).await.unwrap();
    sb::eventually(
        "the Completed notification",
        Duration::from_secs(10),
        || {
            receiver
                .bodies()
                .iter()
                .any(|body| webhook::parse(body).is_ok_and(|n| n.status == JobStatus::Completed))
        },
    )
    .await;
    // Let a late retry land too, then read everything.
    sb::eventually("four deliveries", Duration::from_secs(10), || {
        receiver.bodies().len() >= 4 && sandbox.webhook_deliveries().len() >= 4
    })
    .await;

    let notifications: Vec<_> = receiver
        .bodies()
        .iter()
        .map(|body| webhook::parse(body).expect("a Topaz notification"))
        .collect();
    assert!(
        notifications
            .iter()
            .all(|n| n.process_id == job.process_id())
    );
    // Pending, Processing and Completed, one of them twice: the one refused with a 500.
    let deliveries = sandbox.webhook_deliveries();
    let refused: Vec<_> = deliveries
        .iter()
        .filter(|d| d.status == Some(500))
        .collect();
    assert_eq!(refused.len(), 1, "{deliveries:#?}");
    assert_eq!(refused[0].attempt, 1);
    let refused_status = refused[0].payload["status"].as_str().unwrap().to_owned();
    let retried = deliveries
        .iter()
        .find(|d| d.attempt == 2)
        .expect("the refused notification was sent again");
    assert_eq!(retried.status, Some(200));
    assert_eq!(retried.payload, refused[0].payload);
    for status in [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
    ] {
        let count = notifications.iter().filter(|n| n.status == status).count();
        let expected = if status.to_string() == refused_status {
            2
        } else {
            1
        };
        assert_eq!(
            count, expected,
            "{status} notifications: {notifications:#?}"
        );
    }
    assert_eq!(notifications.len(), 4);
    // Notification ids are ULIDs: the latest status has the greatest.
    let newest = notifications
        .iter()
        .max_by(|a, b| a.notification_id.cmp(&b.notification_id))
        .unwrap();
    assert_eq!(newest.status, JobStatus::Completed);
    assert!(newest.is_final());
    // The Completed notification links the output, which is the mask.
    let url = newest.download_url.as_deref().expect("a download link");
    let (mask, _) = client.context().download_bytes(url, 1 << 20).await.unwrap();
    assert_mask(&mask, WIDTH, HEIGHT);
}

#[tokio::test]
async fn background_remover_makes_cutouts_and_masks() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "topaz");
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "disc.jpg", &sb::disc_jpeg(WIDTH, HEIGHT));

    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let record = events.clone();
    let cutout = remover
        .remove_background(
            ImageSource::path(&file),
            RemoveOptions::default()
                .wait(sb::wait())
                .on_progress(move |event| record.lock().unwrap().push(event.clone())),
        )
        .await
        .unwrap();
    assert_eq!(cutout.kind, CutoutKind::Rgba);
    assert_eq!((cutout.width, cutout.height), (WIDTH, HEIGHT));
    assert_eq!(cutout.provider, "topaz");
    assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    let events = events.lock().unwrap().clone();
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        events.contains(&Progress::Uploading {
            sent: size,
            total: size
        }),
        "{events:?}"
    );
    let job_id = cutout.job_id.clone().expect("a job id");
    let submitted = events
        .iter()
        .position(|e| {
            *e == Progress::Submitted {
                job_id: job_id.clone(),
            }
        })
        .expect("Submitted");
    let downloading = events
        .iter()
        .position(|e| *e == Progress::Downloading)
        .expect("Downloading");
    assert!(submitted < downloading);
    assert!(
        events[submitted + 1..downloading]
            .iter()
            .all(|e| matches!(e, Progress::Waiting(p) if p.job_id == job_id)),
        "{events:?}"
    );

    let mask = remover
        .remove_background(
            ImageSource::bytes(sb::disc_png(WIDTH, HEIGHT), "disc.png"),
            RemoveOptions::mask().wait(sb::wait()),
        )
        .await
        .unwrap();
    assert_eq!(mask.kind, CutoutKind::Mask);
    assert_mask(&mask.bytes, WIDTH, HEIGHT);
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error() {
    let sandbox = sb::start_sandbox().await;
    let client: Client = sb::with_wrong_key(&sandbox, Provider::Topaz);
    let error = client
        .remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default().wait(sb::wait()),
        )
        .await
        .unwrap_err();
    assert!(error.is_auth(), "{error:?}");
    assert_eq!(error.status(), Some(403));
    assert!(
        !error.to_string().contains("not-the-sandbox-key"),
        "{error}"
    );
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
    assert_eq!(
        sandbox.requests().len(),
        1,
        "an auth failure is not retried"
    );
}

#[tokio::test]
async fn every_generated_operation_reaches_the_sandbox() {
    let sandbox = slow_sandbox().await;
    let client = sb::topaz(&sandbox);
    let image = || ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg");

    let job = client.matting(image()).submit().await.unwrap(); // post_matting
    let cancelled = client.matting(image()).submit().await.unwrap();
    cancelled.cancel().await.unwrap(); // cancel_task
    sandbox.advance_clock(Duration::from_secs(31));
    // get_status, through the generated builder and `Context::call`.
    let status = client
        .context()
        .call(
            "get_status",
            client.get_status().process_id(job.process_id()).send(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status, JobStatus::Completed);
    assert_cutout(&job.download_bytes(1 << 20).await.unwrap(), WIDTH, HEIGHT); // get_download_output
    job.input_download_url().await.unwrap(); // get_download_input
    client
        .estimate_matting(WIDTH, HEIGHT, Model::RemoveBg)
        .await
        .unwrap(); // post_estimate
    assert_eq!(client.list_jobs().await.unwrap().len(), 2); // get_all_statuses
    cancelled.delete().await.unwrap(); // delete_status
    assert_eq!(client.delete_all_jobs().await.unwrap(), Some(1)); // delete_all_statuses

    let seen = operations(&requests_to(&sandbox, Some(Provider::Topaz)));
    let expected = [
        "POST /image/v1/matting/async",
        "DELETE /image/v1/cancel/{id}",
        "GET /image/v1/status/{id}",
        "GET /image/v1/download/{id}",
        "GET /image/v1/download/input/{id}",
        "POST /image/v1/estimate",
        "GET /image/v1/status",
        "DELETE /image/v1/status/{id}",
        "DELETE /image/v1/status",
    ];
    assert_eq!(
        seen,
        expected.iter().map(|s| s.to_string()).collect(),
        "every one of the 9 operations, and nothing else"
    );
    assert!(
        sandbox.requests().iter().all(|r| r.status < 400),
        "{:#?}",
        sandbox.requests()
    );
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::topaz(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let jpeg = write(&dir, "disc.jpg", &sb::disc_jpeg(WIDTH, HEIGHT));
    let text = write(&dir, "notes.jpg", b"these are not pixels");
    let webp = write(&dir, "disc.webp", &sb::disc_webp(WIDTH, HEIGHT));
    let missing = dir.path().join("missing.jpg");
    let existing = write(&dir, "taken.png", b"already here");

    expect_invalid(&sandbox, "image", "does not exist", || {
        client.matting(missing.as_path()).submit()
    })
    .await;
    expect_invalid(&sandbox, "image", "is a directory", || {
        client.matting(dir.path()).submit()
    })
    .await;
    expect_invalid(&sandbox, "image", "not an image", || {
        client.matting(text.as_path()).submit()
    })
    .await;
    expect_invalid(&sandbox, "image", "Topaz accepts JPEG, PNG or TIFF", || {
        client.matting(webp.as_path()).submit()
    })
    .await;
    expect_invalid(&sandbox, "image", "not an image", || {
        client
            .matting(ImageSource::bytes(&b"GIF? no"[..], "x.jpg"))
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "source_url", "not an absolute URL", || {
        client.matting(ImageSource::url("images/disc.jpg")).submit()
    })
    .await;
    expect_invalid(&sandbox, "source_url", "scheme `ftp`", || {
        client
            .matting(ImageSource::url("ftp://files.example.com/disc.jpg"))
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "webhook_url", "not an absolute URL", || {
        client
            .matting(jpeg.as_path())
            .webhook_url("hooks.example.com/topaz")
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "webhook_url", "scheme `file`", || {
        client
            .matting(jpeg.as_path())
            .webhook_url("file:///tmp/hook")
            .submit()
    })
    .await;
    expect_invalid(&sandbox, "source_id", "empty", || {
        client.matting_from_source_id("   ").submit()
    })
    .await;
    expect_invalid(&sandbox, "setting", "empty name", || {
        client.matting(jpeg.as_path()).setting(" ", "1").submit()
    })
    .await;
    expect_invalid(&sandbox, "setting `mode`", "typed field", || {
        client
            .matting(jpeg.as_path())
            .setting("mode", "alpha")
            .submit()
    })
    .await;
    for limit in [0, 101] {
        expect_invalid(&sandbox, "limit", "outside 1..=100", || {
            let mut pages = client.job_pages(limit);
            async move { pages.next().await.expect("one item") }
        })
        .await;
    }
    expect_invalid(&sandbox, "input_width", "outside 1..=32000", || {
        client.estimate_matting(0, HEIGHT, Model::RemoveBg)
    })
    .await;
    expect_invalid(&sandbox, "input_height", "outside 1..=32000", || {
        client.estimate_matting(WIDTH, 32_001, Model::Object)
    })
    .await;
    let handle = client.job("0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11");
    expect_invalid(&sandbox, "destination", "already exists", || {
        handle.download_to(&existing, false)
    })
    .await;
    let remover: &dyn BackgroundRemover = &client;
    expect_invalid(&sandbox, "image", "not an image", || {
        remover.remove_background(ImageSource::path(&text), RemoveOptions::default())
    })
    .await;
    expect_invalid(&sandbox, "image", "Topaz accepts JPEG, PNG or TIFF", || {
        remover.remove_background(
            ImageSource::bytes(sb::disc_webp(WIDTH, HEIGHT), "disc.webp"),
            RemoveOptions::mask(),
        )
    })
    .await;
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
}

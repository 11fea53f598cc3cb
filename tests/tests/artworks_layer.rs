//! The hand-written Tengr artworks layer: checked segmentation requests (each rule refusing with
//! zero requests), create → wait → download flows, webhooks, listing and errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use artworks_seg::types::{ArtworkStatus, OutputFormat, TengrError};
use artworks_seg::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, Progress, RemoveOptions,
    RetryPolicy, SegmentationRequest, WaitPolicy, webhook,
};
use axum::http::Method;
use cutout_runtime::{ErrorBody, JobProgress};
use cutout_tests::{RecordingServer, Route, fixture};
use image::{ExtendedColorType, ImageEncoder};
use serde_json::json;

const KEY: &str = "tengr-layer-key";
const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const IMAGE: &str = "https://images.example.com/street.jpg";

async fn server(routes: Vec<Route>) -> (RecordingServer, Client) {
    let server = RecordingServer::start(routes).await;
    let client = Client::builder()
        .base_url(server.url())
        .key(KEY)
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(10))
                .without_jitter(),
        )
        .build()
        .unwrap();
    (server, client)
}

fn quick() -> WaitPolicy {
    WaitPolicy::default()
        .min_interval(Duration::from_millis(5))
        .max_interval(Duration::from_millis(20))
        .deadline(Duration::from_secs(10))
}

fn artwork(status: &str, results: &[String]) -> serde_json::Value {
    json!({
        "id": ID,
        "artworkType": "segmentation",
        "parameters": {"imageUrl": IMAGE},
        "duration": 1.5,
        "results": results,
        "status": status,
        "createdAt": "2024-07-29T15:51:28.071Z",
    })
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &vec![200u8; (width * height) as usize],
            width,
            height,
            ExtendedColorType::L8,
        )
        .unwrap();
    out
}

/// The artwork's life on the API server: created `starting`, `processing` for `processing`
/// polls, then final.
fn lifecycle(create_path: &str, processing: usize, last: serde_json::Value) -> Vec<Route> {
    let get = format!("/v2/artworks/{ID}");
    vec![
        Route::json(Method::POST, create_path, 202, artwork("starting", &[])),
        Route::json(Method::GET, &get, 200, artwork("processing", &[])).times(processing),
        Route::json(Method::GET, &get, 200, last),
    ]
}

fn gets(server: &RecordingServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET)
        .count()
}

// ---- Flows ---------------------------------------------------------------------------------

#[tokio::test]
async fn text_segmentation_waits_and_downloads_results_without_the_key() {
    let mask = png(8, 6);
    let cdn = RecordingServer::start(vec![
        Route::bytes(Method::GET, "/r/mask.png", 200, mask.clone(), "image/png"),
        Route::bytes(Method::GET, "/r/second", 200, mask.clone(), "image/webp"),
    ])
    .await;
    let results = vec![
        format!("{}/r/mask.png?token=abc", cdn.url()),
        format!("{}/r/second", cdn.url()),
    ];
    let (api, client) = server(lifecycle(
        "/v2/artworks/segmentation",
        2,
        artwork("succeeded", &results),
    ))
    .await;

    let mut job = SegmentationRequest::text(IMAGE, "the red car")
        .confidence(0.35)
        .max_detections(3)
        .combine_masks(false)
        .mask_expand(-8)
        .mask_blur_sigma(2.5)
        .mask_kernel_size(12)
        .tapered_corners(true)
        .output_format(OutputFormat::Png)
        .webhook("https://hooks.example.com/tengr?secret=s3")
        .submit(&client)
        .await
        .unwrap();
    assert_eq!((job.id(), job.status()), (ID, ArtworkStatus::Starting));

    let seen: Arc<Mutex<Vec<JobProgress>>> = Arc::default();
    let sink = seen.clone();
    let urls = job
        .wait(&quick(), move |p| sink.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    assert_eq!(urls, results);
    assert_eq!(job.status(), ArtworkStatus::Succeeded);
    // The record from the 202 counts as the first poll; then two `processing` and the final GET.
    assert_eq!(gets(&api), 3);
    let seen = seen.lock().unwrap().clone();
    let statuses: Vec<_> = seen.iter().map(|p| (p.polls, p.status.as_str())).collect();
    assert_eq!(
        statuses,
        [(1, "starting"), (2, "processing"), (3, "processing")]
    );
    assert!(seen.iter().all(|p| p.eta.is_none() && p.job_id == ID));

    let create = &api.requests()[0];
    assert_eq!(
        create.header("authorization").as_deref(),
        Some("Bearer tengr-layer-key")
    );
    assert_eq!(
        create.json(),
        json!({
            "imageUrl": IMAGE,
            "method": "text",
            "textPrompt": "the red car",
            "textConfidence": 0.35,
            "textMaxDetections": 3,
            "textCombineMasks": false,
            "maskExpand": -8,
            "maskBlurSigma": 2.5,
            "maskKernelSize": 12,
            "maskTaperedCorners": true,
            "outputFormat": "png",
            "webhook": "https://hooks.example.com/tengr?secret=s3",
            // Points-mode members always travel with their defaults (the generated type has them).
            "pointsBestMask": true,
            "pointsMultimask": true,
            "pointsRefinementSteps": 0,
        })
    );

    let dir = tempfile::tempdir().unwrap();
    let files = job.download_results(dir.path(), false).await.unwrap();
    assert_eq!(
        files,
        [
            dir.path().join(format!("{ID}-0.png")),
            dir.path().join(format!("{ID}-1.webp")),
        ]
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), mask);
    assert!(
        cdn.requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    // Not overwritten without permission.
    let again = job.download_results(dir.path(), false).await.unwrap_err();
    assert!(again.is_invalid_input(), "{again}");
}

#[tokio::test]
async fn points_segmentation_sends_labelled_points() {
    let mask = png(4, 4);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/m.png",
        200,
        mask.clone(),
        "image/png",
    )])
    .await;
    let (api, client) = server(lifecycle(
        "/v2/artworks/segmentation",
        1,
        artwork("succeeded", &[format!("{}/m.png", cdn.url())]),
    ))
    .await;
    let mut job = SegmentationRequest::points(IMAGE)
        .positive(0.25, 0.5)
        .positive(1.0, 0.0)
        .negative(0.9, 0.1)
        .refinement_steps(3)
        .multimask(false)
        .best_mask(true)
        .submit(&client)
        .await
        .unwrap();
    job.wait(&quick(), |_| {}).await.unwrap();
    assert_eq!(job.result_bytes().await.unwrap(), vec![mask]);

    let body = api.requests()[0].json();
    assert_eq!(body["method"], "points");
    assert_eq!(
        body["pointsPositive"],
        json!({"points": [[0.25, 0.5], [1.0, 0.0]], "labels": [1, 1]})
    );
    assert_eq!(
        body["pointsNegative"],
        json!({"points": [[0.9, 0.1]], "labels": [0]})
    );
    assert_eq!(body["pointsRefinementSteps"], 3);
    assert_eq!(body["pointsMultimask"], false);
    assert!(body.get("textPrompt").is_none());
    assert!(body.get("webhook").is_none());
    assert_eq!(cdn.single().header("authorization"), None);
}

#[tokio::test]
async fn a_failed_artwork_is_job_failed() {
    for last in ["failed", "canceled"] {
        let (_api, client) = server(lifecycle(
            "/v2/artworks/segmentation",
            1,
            artwork(last, &[]),
        ))
        .await;
        let mut job = SegmentationRequest::text(IMAGE, "a dog")
            .submit(&client)
            .await
            .unwrap();
        let error = job.wait(&quick(), |_| {}).await.unwrap_err();
        match &error {
            CutoutError::JobFailed {
                provider,
                job_id,
                status,
                ..
            } => assert_eq!(
                (*provider, job_id.as_str(), status.as_str()),
                ("tengr", ID, last)
            ),
            other => panic!("expected JobFailed, got {other:?}"),
        }
        // The final record is kept.
        assert_eq!(job.status().to_string(), last);
        assert!(matches!(
            job.download_results(".", false).await,
            Err(CutoutError::JobFailed { .. })
        ));
    }
}

#[tokio::test]
async fn results_before_success_say_to_wait() {
    let (api, client) = server(vec![Route::json(
        Method::POST,
        "/v2/artworks/segmentation",
        202,
        artwork("starting", &[]),
    )])
    .await;
    let job = SegmentationRequest::text(IMAGE, "a dog")
        .submit(&client)
        .await
        .unwrap();
    let error = job.result_bytes().await.unwrap_err();
    assert!(
        error.to_string().contains("is still starting: wait for it"),
        "{error}"
    );
    assert_eq!(api.requests().len(), 1);
}

#[tokio::test]
async fn background_removal_artwork_flow() {
    let (api, client) = server(vec![Route::json(
        Method::POST,
        "/v2/artworks/remove-background",
        202,
        artwork("starting", &[]),
    )])
    .await;
    let job = client
        .remove_bg(IMAGE)
        .output_format(OutputFormat::Webp)
        .webhook("https://hooks.example.com/x")
        .submit()
        .await
        .unwrap();
    assert_eq!(job.id(), ID);
    assert_eq!(
        api.single().json(),
        json!({"imageUrl": IMAGE, "outputFormat": "webp", "webhook": "https://hooks.example.com/x"})
    );
}

#[tokio::test]
async fn the_remover_waits_and_returns_a_png_cutout() {
    let cutout_png = png(10, 7);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/cut.png",
        200,
        cutout_png.clone(),
        "image/png",
    )])
    .await;
    let (api, client) = server(lifecycle(
        "/v2/artworks/remove-background",
        1,
        artwork("succeeded", &[format!("{}/cut.png", cdn.url())]),
    ))
    .await;
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let cutout = client
        .remove_background(
            ImageSource::url(IMAGE),
            RemoveOptions::default()
                .wait(quick())
                .on_progress(move |e| sink.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes, cutout_png);
    assert_eq!(
        (cutout.width, cutout.height, cutout.kind),
        (10, 7, CutoutKind::Rgba)
    );
    assert_eq!(cutout.job_id.as_deref(), Some(ID));
    assert_eq!(
        api.requests()[0].json(),
        json!({"imageUrl": IMAGE, "outputFormat": "png"})
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], Progress::Submitted { job_id: ID.into() });
    assert!(matches!(seen[1], Progress::Waiting(_)));
    assert_eq!(seen.last(), Some(&Progress::Downloading));
    assert_eq!(cdn.single().header("authorization"), None);
}

#[tokio::test]
async fn the_remover_needs_a_url_and_makes_no_masks() {
    let (api, client) = server(vec![]).await;
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "tengr");
    let error = remover
        .remove_background(ImageSource::path("photo.jpg"), RemoveOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CutoutError::Unsupported { message, .. }
            if message.contains("Tengr fetches images by URL: put the file somewhere public and pass its URL")),
        "{error}"
    );
    let error = remover
        .remove_background(
            ImageSource::bytes(png(2, 2), "a.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, CutoutError::Unsupported { .. }), "{error}");
    let error = remover
        .remove_background(ImageSource::url(IMAGE), RemoveOptions::mask())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CutoutError::Unsupported { message, .. } if message.contains("submit a `SegmentationRequest::text`")),
        "{error}"
    );
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn an_expired_artwork_says_artworks_last_8_days() {
    let (_api, client) = server(vec![Route::json(
        Method::GET,
        &format!("/v2/artworks/{ID}"),
        404,
        json!({"message": "Artwork not found", "statusCode": 404, "error": "Not Found"}),
    )])
    .await;
    let error = client.artwork(ID).await.unwrap_err();
    assert!(error.is_not_found());
    let text = error.to_string();
    assert!(
        text.contains("Artwork not found (Not Found)")
            && text.contains(&format!("no artwork `{ID}`"))
            && text.contains("8 days after creation"),
        "{text}"
    );
}

#[tokio::test]
async fn listing_checks_the_limit_and_pages() {
    let (api, client) = server(vec![Route::json(
        Method::GET,
        "/v2/artworks",
        200,
        json!([
            artwork("succeeded", &["https://cdn.example.com/a.png".to_owned()]),
            artwork("processing", &[])
        ]),
    )])
    .await;
    for limit in [0, 501] {
        let error = client.artworks(0, limit).await.unwrap_err();
        assert!(
            matches!(&error, CutoutError::InvalidInput { field, message }
                if field == "limit" && message == &format!("{limit} is outside 1..=500: ask for 1 to 500 artworks per page")),
            "{error}"
        );
    }
    assert!(api.requests().is_empty());
    let page = client.artworks(20, 500).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[1].status(), ArtworkStatus::Processing);
    let query = api.single().query.unwrap();
    assert!(
        query.contains("limit=500") && query.contains("offset=20"),
        "{query}"
    );
}

#[tokio::test]
async fn an_empty_artwork_id_is_refused() {
    let (api, client) = server(vec![]).await;
    let error = client.artwork(" ").await.unwrap_err();
    assert_eq!(error_field(&error), "id");
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn an_artwork_id_of_dot_dot_is_refused_before_it_reaches_another_endpoint() {
    // `/v2/artworks/..` would be read as `/v2/`: a call, with the key, to another endpoint.
    let (api, client) = server(vec![]).await;
    for id in ["..", "."] {
        let error = client.artwork(id).await.unwrap_err();
        assert!(
            matches!(&error, CutoutError::InvalidInput { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("`..`"), "{error}");
    }
    assert!(api.requests().is_empty(), "{:#?}", api.requests());
}

// ---- Webhooks and error bodies ---------------------------------------------------------------

#[test]
fn webhook_deliveries_parse_as_artworks() {
    let body = serde_json::to_vec(&fixture("tengr/artwork.segmentation.documented.json")).unwrap();
    let artwork = webhook::parse(&body).unwrap();
    assert_eq!(artwork.id, ID);
    assert_eq!(artwork.status, ArtworkStatus::Starting);
    let done = webhook::parse(
        br#"{"id": "a1", "status": "succeeded", "results": ["https://cdn.example.com/1.png"]}"#,
    )
    .unwrap();
    assert_eq!(done.results.unwrap().len(), 1);
    let error = webhook::parse(b"{\"status\": \"exploded\"}").unwrap_err();
    assert!(
        matches!(&error, CutoutError::UnexpectedResponse { operation: "webhook", body: Some(body), .. } if body.contains("exploded")),
        "{error}"
    );
}

#[test]
fn error_bodies_show_message_and_details() {
    let body: TengrError = serde_json::from_str(
        r#"{"message": "Invalid points", "statusCode": 400, "error": "Bad Request"}"#,
    )
    .unwrap();
    assert_eq!(
        body.message().as_deref(),
        Some("Invalid points (Bad Request)")
    );
    assert_eq!(body.code(), Some(400));
    let body: TengrError = serde_json::from_str(r#"{"message": "Too many requests"}"#).unwrap();
    assert_eq!(body.message().as_deref(), Some("Too many requests"));
}

// ---- Local rules: each refused with zero requests -------------------------------------------

fn error_field(error: &CutoutError) -> &str {
    match error {
        CutoutError::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}: {other}"),
    }
}

/// Sends `segmentation` to a server with no routes and returns the refusal, checking that
/// nothing reached the server.
async fn refused<M: artworks_seg::SegmentationMode>(
    segmentation: SegmentationRequest<M>,
) -> CutoutError {
    let (api, client) = server(vec![]).await;
    let error = segmentation.submit(&client).await.unwrap_err();
    assert!(api.requests().is_empty(), "{:#?}", api.requests());
    error
}

fn assert_invalid(error: &CutoutError, field: &str, part: &str) {
    match error {
        CutoutError::InvalidInput {
            field: got,
            message,
        } => {
            assert_eq!(got, field, "{message}");
            assert!(message.contains(part), "{message}");
        }
        other => panic!("expected InvalidInput on `{field}`, got {other:?}: {other}"),
    }
}

#[tokio::test]
async fn a_local_path_as_image_url_is_unsupported() {
    for path in [
        "photo.jpg",
        "/tmp/photo.jpg",
        "file:///tmp/photo.jpg",
        r"C:\photo.jpg",
    ] {
        let error = refused(SegmentationRequest::text(path, "a dog")).await;
        match &error {
            CutoutError::Unsupported { provider, message } => {
                assert_eq!(*provider, "tengr");
                assert!(
                    message.ends_with(
                        "Tengr fetches images by URL: put the file somewhere public and pass its URL"
                    ),
                    "{message}"
                );
            }
            other => panic!("{path}: expected Unsupported, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_image_url_must_be_http() {
    let error = refused(SegmentationRequest::text(
        "ftp://files.example.com/a.jpg",
        "a dog",
    ))
    .await;
    assert_invalid(&error, "image_url", "has scheme `ftp`");
    let error = refused(SegmentationRequest::text("   ", "a dog")).await;
    assert_invalid(&error, "image_url", "the image URL is empty");
}

#[tokio::test]
async fn the_prompt_must_not_be_empty() {
    let error = refused(SegmentationRequest::text(IMAGE, "  ")).await;
    assert_invalid(&error, "prompt", "the text prompt is empty");
}

#[tokio::test]
async fn confidence_must_be_between_0_and_1() {
    for value in [1.5, -0.1, f64::NAN] {
        let error = refused(SegmentationRequest::text(IMAGE, "a dog").confidence(value)).await;
        assert_invalid(&error, "confidence", "is outside 0..=1");
    }
}

#[tokio::test]
async fn max_detections_must_be_between_minus_1_and_100() {
    for value in [-2, 101] {
        let error = refused(SegmentationRequest::text(IMAGE, "a dog").max_detections(value)).await;
        assert_invalid(&error, "max_detections", "is outside -1..=100");
    }
}

#[tokio::test]
async fn points_need_a_positive_point() {
    let error = refused(SegmentationRequest::points(IMAGE).negative(0.5, 0.5)).await;
    assert_invalid(&error, "points_positive", "at least one positive point");
}

#[tokio::test]
async fn points_must_be_fractions_of_the_image() {
    for (x, y) in [
        (1.2, 0.5),
        (0.5, -0.1),
        (f64::INFINITY, 0.5),
        (0.5, f64::NAN),
    ] {
        let error = refused(
            SegmentationRequest::points(IMAGE)
                .positive(0.1, 0.1)
                .positive(x, y),
        )
        .await;
        assert_invalid(&error, "points_positive[1]", "is not in 0.0..=1.0");
    }
    let error = refused(
        SegmentationRequest::points(IMAGE)
            .positive(0.1, 0.1)
            .negative(640.0, 480.0),
    )
    .await;
    assert_invalid(
        &error,
        "points_negative[0]",
        "divide pixel positions by the image size",
    );
}

#[tokio::test]
async fn refinement_steps_are_at_most_10() {
    let error = refused(
        SegmentationRequest::points(IMAGE)
            .positive(0.5, 0.5)
            .refinement_steps(11),
    )
    .await;
    assert_invalid(&error, "refinement_steps", "11 is above 10");
}

#[tokio::test]
async fn mask_expand_is_within_16384() {
    for value in [16385, -16385] {
        let error = refused(SegmentationRequest::text(IMAGE, "a dog").mask_expand(value)).await;
        assert_invalid(&error, "mask_expand", "is outside -16384..=16384");
    }
}

#[tokio::test]
async fn mask_blur_sigma_is_between_0_1_and_100() {
    for value in [0.05, 100.5, f64::NAN] {
        let error = refused(SegmentationRequest::text(IMAGE, "a dog").mask_blur_sigma(value)).await;
        assert_invalid(&error, "mask_blur_sigma", "is outside 0.1..=100");
    }
}

#[tokio::test]
async fn mask_kernel_size_is_at_most_100() {
    let error = refused(SegmentationRequest::text(IMAGE, "a dog").mask_kernel_size(101)).await;
    assert_invalid(&error, "mask_kernel_size", "101 is above 100");
}

/// One test per webhook rule: the URL is refused with a message naming the rule, and nothing is
/// sent.
macro_rules! refused_webhooks {
    ($($name:ident: $url:expr => $part:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let error = refused(SegmentationRequest::text(IMAGE, "a dog").webhook($url)).await;
            assert_invalid(&error, "webhook", $part);
            // The same rule guards background-removal artworks.
            let (api, client) = server(vec![]).await;
            let error = client
                .remove_bg(IMAGE).webhook($url).submit()
                .await
                .unwrap_err();
            assert_invalid(&error, "webhook", $part);
            assert!(api.requests().is_empty());
        }
    )*};
}

refused_webhooks! {
    webhook_over_plain_http: "http://hooks.example.com/tengr" => "uses plain http://, but Tengr only delivers webhooks over HTTPS";
    webhook_with_another_scheme: "wss://hooks.example.com/tengr" => "has scheme `wss`";
    webhook_not_a_url: "hooks.example.com/tengr" => "is not a URL";
    webhook_to_ipv4_loopback: "https://127.0.0.1:8443/hook" => "a loopback address (127.0.0.0/8)";
    webhook_to_ipv4_loopback_spelled_as_a_number: "https://2130706433/hook" => "a loopback address (127.0.0.0/8)";
    webhook_to_private_10: "https://10.1.2.3/hook" => "a private address (10.0.0.0/8)";
    webhook_to_private_172_16: "https://172.31.255.1/hook" => "a private address (172.16.0.0/12)";
    webhook_to_private_192_168: "https://192.168.1.10/hook" => "a private address (192.168.0.0/16)";
    webhook_to_link_local: "https://169.254.10.20/hook" => "a link-local address (169.254.0.0/16)";
    webhook_to_cloud_metadata: "https://169.254.169.254/latest/meta-data" => "the cloud metadata address (169.254.169.254)";
    webhook_to_cgnat: "https://100.100.1.1/hook" => "a shared carrier-grade NAT address (100.64.0.0/10)";
    webhook_to_unspecified: "https://0.0.0.0/hook" => "an unspecified address (0.0.0.0/8)";
    webhook_to_broadcast: "https://255.255.255.255/hook" => "the broadcast address";
    webhook_to_multicast: "https://224.0.0.251/hook" => "a multicast address (224.0.0.0/4)";
    webhook_to_reserved: "https://240.0.0.1/hook" => "a reserved address (240.0.0.0/4)";
    webhook_to_ipv6_loopback: "https://[::1]/hook" => "the loopback address (::1)";
    webhook_to_ipv6_unspecified: "https://[::]/hook" => "the unspecified address (::)";
    webhook_to_ipv6_unique_local: "https://[fd00:ec2::254]/hook" => "a unique local address (fc00::/7)";
    webhook_to_ipv6_link_local: "https://[fe80::1]/hook" => "a link-local address (fe80::/10)";
    webhook_to_ipv6_multicast: "https://[ff02::1]/hook" => "a multicast address (ff00::/8)";
    webhook_to_ipv4_mapped_private: "https://[::ffff:192.168.0.1]/hook" => "an IPv4-mapped form of a private address (192.168.0.0/16)";
    webhook_to_localhost: "https://localhost/hook" => "a loopback name (localhost)";
    webhook_to_a_localhost_subdomain: "https://app.localhost./hook" => "a loopback name (localhost)";
    webhook_to_mdns_local: "https://printer.local/hook" => "a local-network name (*.local)";
    webhook_to_internal: "https://billing.corp.internal/hook" => "an internal name (*.internal)";
    webhook_to_google_metadata: "https://metadata.google.internal/computeMetadata/v1" => "the cloud metadata host (metadata.google.internal)";
    webhook_to_a_single_label_name: "https://metadata/computeMetadata/v1" => "a single-label name";
    // Spellings that got through before the check used IANA's special-purpose table.
    webhook_to_ipv4_compatible_loopback: "https://[::127.0.0.1]/" => "a deprecated IPv4-compatible address (::/96, here 127.0.0.1)";
    webhook_to_nat64_loopback: "https://[64:ff9b::7f00:1]/" => "a NAT64 form (64:ff9b::/96) of a loopback address (127.0.0.0/8)";
    webhook_to_nat64_private: "https://[64:ff9b::a00:1]/" => "a NAT64 form (64:ff9b::/96) of a private address (10.0.0.0/8)";
    webhook_to_local_use_nat64: "https://[64:ff9b:1::808:808]/" => "a local-use NAT64 address (64:ff9b:1::/48)";
    webhook_to_6to4_loopback: "https://[2002:7f00:1::]/" => "a 6to4 form (2002::/16) of a loopback address (127.0.0.0/8)";
    webhook_to_6to4_private: "https://[2002:c0a8:101::1]/" => "a 6to4 form (2002::/16) of a private address (192.168.0.0/16)";
    webhook_to_ipv6_site_local: "https://[fec0::1]/" => "a site-local address (fec0::/10)";
    webhook_to_ietf_protocol_assignments: "https://192.0.0.1/" => "an IETF protocol assignment (192.0.0.0/24)";
    webhook_to_benchmarking: "https://198.18.0.1/" => "a benchmarking address (198.18.0.0/15)";
    webhook_to_benchmarking_upper_half: "https://198.19.255.254/" => "a benchmarking address (198.18.0.0/15)";
    webhook_to_documentation_v4: "https://203.0.113.7/" => "a documentation address (203.0.113.0/24)";
    webhook_to_documentation_v6: "https://[2001:db8::1]/" => "a documentation address (2001:db8::/32)";
    webhook_to_ipv4_mapped_loopback: "https://[::ffff:127.0.0.1]/" => "an IPv4-mapped form of a loopback address";
    webhook_to_ipv4_mapped_cgnat_hex: "https://[::ffff:6440:1]/" => "an IPv4-mapped form of a shared carrier-grade NAT address";
    webhook_to_localhost_with_a_dot: "https://localhost./" => "a loopback name (localhost)";
    webhook_to_localhost_upper_case: "https://LOCALHOST/" => "a loopback name (localhost)";
    webhook_to_a_name_with_a_trailing_dot: "https://hooks.example.com./tengr" => "a name ending in a dot";
    webhook_to_internal_with_a_dot: "https://metadata.google.internal./" => "the cloud metadata host";
    webhook_to_loopback_in_hex: "https://0x7f.1/" => "a loopback address (127.0.0.0/8)";
    // Found by review after the table was written.
    webhook_to_segment_routing: "https://[5f00::1]/" => "a segment-routing address (5f00::/16)";
    webhook_to_orchid: "https://[2001:10::1]/" => "a deprecated ORCHID address (2001:10::/28)";
    webhook_to_ipv4_translated_loopback: "https://[::ffff:0:7f00:1]/" => "an IPv4-translated form (::ffff:0:0/96) of a loopback address";
    webhook_to_home_arpa: "https://router.home.arpa/hook" => "a home-network name (*.home.arpa)";
}

#[test]
fn public_webhooks_are_accepted_and_messages_hide_queries() {
    for url in [
        "https://hooks.example.com/tengr",
        "https://172.32.0.1/hook",
        "https://100.128.0.1/hook",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://[::ffff:8.8.8.8]/hook",
        // NAT64 and 6to4 forms of public IPv4 addresses reach those addresses.
        "https://[64:ff9b::808:808]/hook",
        "https://[2002:808:808::1]/hook",
        "https://192.0.1.1/hook",
        "https://198.20.0.1/hook",
    ] {
        webhook::check_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let request = SegmentationRequest::text(IMAGE, "x")
            .webhook(url)
            .to_request()
            .unwrap();
        assert_eq!(request.webhook.as_deref(), Some(url));
    }
    let error = webhook::check_url("http://user:pw@hooks.example.com/x?token=secret").unwrap_err();
    let text = error.to_string();
    assert!(!text.contains("secret") && !text.contains("pw"), "{text}");
    let debug = format!(
        "{:?}",
        SegmentationRequest::text(IMAGE, "x").webhook("https://h.example.com/x?token=secret")
    );
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn defaults_match_the_documented_ones() {
    let request = SegmentationRequest::points(IMAGE)
        .positive(0.0, 1.0)
        .to_request()
        .unwrap();
    assert_eq!(request.mask_blur_sigma, 0.1);
    assert_eq!(request.mask_expand, 0);
    assert_eq!(request.text_confidence, 0.2);
    assert_eq!(request.text_max_detections, -1);
    assert!(request.points_best_mask && request.points_multimask);
    assert!(request.points_negative.is_none());
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let (_server, client) = server(vec![]).await;
    let artwork: artworks_seg::types::Artwork =
        serde_json::from_value(fixture("tengr/artwork.segmentation.documented.json")).unwrap();
    let shown = [
        format!("{client:?}"),
        format!("{:?}", client.context()),
        format!("{:?}", SegmentationRequest::text(IMAGE, "the red car")),
        format!(
            "{:?}",
            SegmentationRequest::points(IMAGE).positive(0.5, 0.5)
        ),
        format!(
            "{:?}",
            artworks_seg::ArtworkJob::new(client.clone(), artwork)
        ),
        format!("{:?}", Client::builder().key(KEY)),
        format!("{:?}", client.remove_bg(IMAGE)),
    ];
    for text in shown {
        assert!(!text.contains(KEY), "{text}");
    }
    let debug = format!(
        "{:?}",
        client
            .remove_bg(IMAGE)
            .webhook("https://h.example.com/x?token=secret")
    );
    assert!(
        debug.contains("RemoveBgRequest") && !debug.contains("secret"),
        "{debug}"
    );
}

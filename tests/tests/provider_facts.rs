//! Provider facts as data: what `specs/providers.toml` says each provider makes and takes is
//! what the facade answers, what stops an input before any request, and what the runtime's
//! error advice names. Every server here is a plain loopback server.

use axum::http::Method;
use cutout::{CutoutKind, Error, ImageFormat, ImageSource, Provider, RemoveOptions, RetryPolicy};
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

/// A real (tiny) JPEG on disk.
fn local_jpeg(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("photo.jpg");
    image::RgbImage::from_pixel(16, 12, image::Rgb([200, 30, 30]))
        .save(&path)
        .unwrap();
    path
}

#[tokio::test]
async fn a_loop_over_every_provider_with_a_local_file_stops_early_for_tengr() {
    let dir = tempfile::tempdir().unwrap();
    let source = ImageSource::path(local_jpeg(dir.path()));
    let mut refused = Vec::new();
    for &provider in Provider::ALL {
        let answered = provider.check(&source, CutoutKind::Rgba);
        assert_eq!(
            answered.is_ok(),
            provider.accepts_local_files(),
            "{provider}"
        );
        if provider.accepts_local_files() {
            continue;
        }
        let error = answered.unwrap_err();
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("by URL only") && text.contains("photo.jpg"),
            "{text}"
        );

        // The remover itself refuses before sending anything.
        let server = RecordingServer::start(Vec::new()).await;
        let remover = provider
            .remover(server.url(), "key-facts", RetryPolicy::none())
            .unwrap();
        let error = remover
            .remove_background(source.clone(), RemoveOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Unsupported { .. }), "{error:?}");
        assert!(server.requests().is_empty(), "nothing may be sent");
        refused.push(provider);
    }
    assert_eq!(refused, [Provider::Tengr]);

    // A URL is taken by every provider.
    let url = ImageSource::url("https://images.example.com/photo.jpg");
    for &provider in Provider::ALL {
        provider.check(&url, CutoutKind::Rgba).unwrap();
    }
}

#[test]
fn capabilities_are_the_documented_facts() {
    let makes_masks: Vec<Provider> = Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.makes_masks())
        .collect();
    assert_eq!(makes_masks, [Provider::Topaz, Provider::ModelsLab]);
    let url = ImageSource::url("https://images.example.com/photo.jpg");
    let error = Provider::BackgroundCut
        .check(&url, CutoutKind::Mask)
        .unwrap_err();
    assert!(
        error.to_string().contains("makes cut-outs only, not masks"),
        "{error}"
    );

    assert_eq!(Provider::ModelsLab.max_concurrent_jobs(), Some(5));
    assert_eq!(Provider::Topaz.max_concurrent_jobs(), None);
    let topaz = Provider::Topaz.capabilities();
    assert_eq!(
        topaz.input_formats,
        [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff]
    );
    assert_eq!(topaz.max_side, Some(32_000));
    // Limits nobody publishes stay unknown rather than guessed.
    for &provider in Provider::ALL {
        let capabilities = provider.capabilities();
        assert_eq!(capabilities.max_upload_bytes, None, "{provider}");
        assert_eq!(capabilities.max_pixels, None, "{provider}");
        assert!(!provider.info().submissions.is_empty(), "{provider}");
    }
}

#[tokio::test]
async fn the_415_advice_names_the_providers_own_formats() {
    let body = json!({"message": "Unsupported Media Type"});
    let server = RecordingServer::start(vec![Route::json(
        Method::GET,
        "/status/8a7f4c1e-0000-4000-8000-000000000001",
        415,
        body,
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(server.url())
        .key("key-facts")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client
        .context()
        .call(
            "get_status",
            client
                .get_status()
                .process_id("8a7f4c1e-0000-4000-8000-000000000001")
                .send(),
        )
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("send a JPEG, PNG or TIFF image"), "{text}");

    // A provider that documents no formats is not told Topaz's.
    let error =
        modelslab_fetch_answered(415, json!({"status": "error", "message": "unsupported"})).await;
    let text = error.to_string();
    assert!(!text.contains("TIFF"), "{text}");
    assert!(text.contains("file type is not supported"), "{text}");
}

#[tokio::test]
async fn an_undocumented_status_is_read_with_the_providers_own_error_body() {
    // 418 is in no description; ModelsLab's older endpoints spell the field `messege`.
    let error = modelslab_fetch_answered(
        418,
        json!({"status": "error", "messege": "Invalid API key"}),
    )
    .await;
    assert_eq!(error.status(), Some(418));
    assert_eq!(error.provider_message(), Some("Invalid API key"));
    assert_eq!(error.raw_body(), None);
}

/// The error of ModelsLab's `fetch_result` (generated, through the runtime) when a loopback
/// server answers `status` with `body`.
async fn modelslab_fetch_answered(status: u16, body: serde_json::Value) -> Error {
    let server = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/fetch/7",
        status,
        body,
    )])
    .await;
    let client = modelslab::Client::builder()
        .base_url(server.url())
        .key("key-facts")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    client
        .context()
        .call("fetch_result", client.fetch_result().id(7).send())
        .await
        .unwrap_err()
}

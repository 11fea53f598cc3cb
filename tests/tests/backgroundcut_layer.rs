//! The hand-written BackgroundCut layer: local checks (each refusing with zero requests), the
//! upload → process → public URL → download flows, and what errors say.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use backgroundcut::storage::unique_key;
use backgroundcut::types::{BackgroundCutError, MattingOutputType};
use backgroundcut::{
    BackgroundRemover, Client, CutoutError, CutoutKind, ImageSource, MattingFormat, Progress,
    RemoveOptions, RetryPolicy, Variant,
};
use cutout_runtime::ErrorBody;
use cutout_tests::{RecordingServer, Route};
use image::{ExtendedColorType, ImageEncoder};
use serde_json::json;

const KEY: &str = "bgcut-layer-key";

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

fn jpeg_rgb(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height)
        .flat_map(|i| [(i % 251) as u8, 90, 200])
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&pixels, width, height, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn jpeg_gray(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height)
        .map(|i| [0, 128, 255][(i % 3) as usize])
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&pixels, width, height, ExtendedColorType::L8)
        .unwrap();
    out
}

fn png_rgba(width: u32, height: u32) -> Vec<u8> {
    let pixels = vec![120u8; (width * height * 4) as usize];
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, width, height, ExtendedColorType::Rgba8)
        .unwrap();
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A photo and a matching trimap on disk.
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    (
        write(dir, "photo.jpg", &jpeg_rgb(64, 48)),
        write(dir, "trimap.jpg", &jpeg_gray(64, 48)),
    )
}

fn invalid(error: &CutoutError) -> (&str, &str) {
    match error {
        CutoutError::InvalidInput { field, message } => (field, message),
        other => panic!("expected InvalidInput, got {other:?}: {other}"),
    }
}

fn events() -> (
    Arc<Mutex<Vec<Progress>>>,
    impl Fn(&Progress) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |event: &Progress| {
        sink.lock().unwrap().push(event.clone())
    })
}

// ---- Matting: local checks, each before any request -------------------------------------------

#[tokio::test]
async fn matting_refuses_a_png_image() {
    let dir = tempfile::tempdir().unwrap();
    let (_, trimap) = inputs(dir.path());
    let image = write(dir.path(), "x.png", &png_rgba(64, 48));
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "image");
    assert!(
        message.starts_with("BackgroundCut matting needs a JPEG image; `")
            && message.ends_with("x.png` is PNG: convert it"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_a_png_trimap() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = inputs(dir.path());
    let trimap = write(dir.path(), "trimap.png", &png_rgba(64, 48));
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "trimap");
    assert!(
        message.starts_with("BackgroundCut matting needs a JPEG trimap;")
            && message.ends_with("trimap.png` is PNG: convert it"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_a_colour_trimap() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = inputs(dir.path());
    let trimap = write(dir.path(), "trimap-rgb.jpg", &jpeg_rgb(64, 48));
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "trimap");
    assert!(
        message.contains("is an RGB JPEG, but matting needs a grayscale (single-channel) JPEG"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_a_trimap_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let image = write(dir.path(), "photo.jpg", &jpeg_rgb(64, 47));
    let trimap = write(dir.path(), "trimap.jpg", &jpeg_gray(64, 48));
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    assert_eq!(
        invalid(&error),
        (
            "trimap",
            "trimap is 64×48 but the image is 64×47: make the trimap exactly the image's size"
        )
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_a_grayscale_photo() {
    let dir = tempfile::tempdir().unwrap();
    let (_, trimap) = inputs(dir.path());
    let image = write(dir.path(), "gray-photo.jpg", &jpeg_gray(64, 48));
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "image");
    assert!(
        message.contains("needs an RGB JPEG image") && message.contains("convert it to RGB"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_a_file_that_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let (_, trimap) = inputs(dir.path());
    let image = write(dir.path(), "notes.jpg", b"just text");
    let (server, client) = server(vec![]).await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "image");
    assert!(message.contains("is not a JPEG, PNG"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_rgba_output_to_a_jpeg_key() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (server, client) = server(vec![]).await;
    let error = client
        .matting(image, trimap)
        .output_key("project/result.jpg")
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        invalid(&error),
        (
            "output_key",
            "output key `project/result.jpg` ends in .jpg, but rgba output must be written to a \
             .png or .webp key: change the key's extension (or use output_type mask for a JPEG \
             matte)"
        )
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_mask_output_to_a_png_key() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (server, client) = server(vec![]).await;
    let error = client
        .matting(image, trimap)
        .output_type(MattingOutputType::Mask)
        .output_key("project/matte.png")
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "output_key");
    assert!(
        message.contains("ends in .png, but mask output must be written to a .jpg or .jpeg key"),
        "{message}"
    );
    // A key without an extension is refused too.
    let error = client
        .matting(dir.path().join("photo.jpg"), dir.path().join("trimap.jpg"))
        .output_type(MattingOutputType::Mask)
        .output_key("project/matte")
        .run()
        .await
        .unwrap_err();
    assert!(invalid(&error).1.contains("has no extension"), "{error}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_output_compression_outside_1_to_100() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (server, client) = server(vec![]).await;
    for quality in [0, 101] {
        let error = client
            .matting(image.clone(), trimap.clone())
            .output_compression(quality)
            .run()
            .await
            .unwrap_err();
        assert_eq!(
            invalid(&error),
            (
                "output_compression",
                format!(
                    "{quality} is outside 1..=100: pass a quality from 1 (smallest) to 100 (best)"
                )
                .as_str()
            )
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_an_output_format_with_mask_output() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (server, client) = server(vec![]).await;
    let error = client
        .matting(image, trimap)
        .output_type(MattingOutputType::Mask)
        .output_format(MattingFormat::Webp)
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "output_format");
    assert!(
        message.contains("mask output is always a JPEG"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_refuses_an_output_key_that_contradicts_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (server, client) = server(vec![]).await;
    let error = client
        .matting(image, trimap)
        .output_format(MattingFormat::Webp)
        .output_key("project/result.png")
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "output_key");
    assert!(
        message.contains("does not end in .webp although output_format is Webp"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn matting_to_an_existing_file_is_refused_before_uploading() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let existing = write(dir.path(), "out.png", b"keep me");
    let (server, client) = server(vec![]).await;
    let error = client
        .matting(image, trimap)
        .run_to(&existing, false)
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "destination");
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert!(server.requests().is_empty());
}

// ---- Matting: the flow ----------------------------------------------------------------------

/// The API server: uploads, a process answer, and a public link on the `cdn` server.
fn api_routes(process_path: &str, answer: serde_json::Value, cdn: &str, file: &str) -> Vec<Route> {
    vec![
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"success": true}),
        ),
        Route::json(Method::POST, process_path, 200, answer),
        Route::json(
            Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            json!({"url": format!("{cdn}{file}?expires=1&sig=secret")}),
        ),
    ]
}

#[tokio::test]
async fn matting_uploads_both_inputs_processes_and_downloads_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let result = png_rgba(64, 48);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/files/result.png",
        200,
        result.clone(),
        "image/png",
    )])
    .await;
    let (api, client) = server(api_routes(
        "/v3/tools/ai/matting/process/",
        json!({"output_key": "project/result.png"}),
        cdn.url(),
        "/files/result.png",
    ))
    .await;
    let (seen, sink) = events();

    let output = client
        .matting(image.clone(), trimap.clone())
        .output_key("project/result.png")
        .key_prefix("project/")
        .on_progress(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(output.output_key, "project/result.png");
    assert_eq!(output.bytes, result);
    assert_eq!(output.content_type.as_deref(), Some("image/png"));
    assert!(output.public_url.starts_with(cdn.url()));
    let cutout = output.clone().into_cutout(CutoutKind::Rgba).unwrap();
    assert_eq!((cutout.width, cutout.height), (64, 48));
    // The link's query is a credential: Debug leaves it out.
    assert!(!format!("{output:?}").contains("secret"));

    let requests = api.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    // Two uploads (in either order), each a file part and a key under the prefix.
    let uploads: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v3/file-ops/upload/")
        .collect();
    assert_eq!(uploads.len(), 2);
    let mut keys = std::collections::HashMap::new();
    for upload in &uploads {
        assert_eq!(
            upload.header("authorization").as_deref(),
            Some("Token bgcut-layer-key")
        );
        let key = upload.part("key").text();
        let file = upload.part("file");
        assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
        assert!(
            key.starts_with("project/") && key.ends_with(".jpg"),
            "{key}"
        );
        keys.insert(file.file_name.clone().unwrap(), (key, file.data.clone()));
    }
    let (image_key, image_bytes) = &keys["photo.jpg"];
    let (trimap_key, trimap_bytes) = &keys["trimap.jpg"];
    assert_eq!(image_bytes, &std::fs::read(&image).unwrap());
    assert_eq!(trimap_bytes, &std::fs::read(&trimap).unwrap());
    assert_ne!(image_key, trimap_key);

    // Process names exactly the uploaded keys.
    let process = &requests[2];
    assert_eq!(process.path, "/v3/tools/ai/matting/process/");
    assert_eq!(
        process.json(),
        json!({
            "input_key": image_key,
            "trimap_key": trimap_key,
            "output_key": "project/result.png",
            "output_type": "rgba",
            "output_compression": 95,
        })
    );
    assert_eq!(requests[3].json(), json!({"key": "project/result.png"}));

    // The download host never sees the key.
    let download = cdn.single();
    assert_eq!(download.header("authorization"), None);
    assert_eq!(download.query.as_deref(), Some("expires=1&sig=secret"));

    let seen = seen.lock().unwrap();
    let total = image_bytes.len() as u64 + trimap_bytes.len() as u64;
    let uploaded: Vec<_> = seen
        .iter()
        .filter_map(|event| match event {
            Progress::Uploading { sent, total } => Some((*sent, *total)),
            _ => None,
        })
        .collect();
    assert!(uploaded.iter().all(|(_, t)| *t == total), "{uploaded:?}");
    assert_eq!(uploaded.last().map(|(sent, _)| *sent), Some(total));
    assert!(seen.contains(&Progress::Submitted {
        job_id: "project/result.png".into()
    }));
    assert_eq!(seen.last(), Some(&Progress::Downloading));
}

#[tokio::test]
async fn matting_makes_fresh_keys_and_streams_a_mask_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let matte = jpeg_gray(64, 48);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/m.jpg",
        200,
        matte.clone(),
        "image/jpeg",
    )])
    .await;
    let (api, client) = server(api_routes(
        "/v3/tools/ai/matting/process/",
        json!({"output_key": "cutout/matte-1.jpg"}),
        cdn.url(),
        "/m.jpg",
    ))
    .await;
    let destination = dir.path().join("matte.jpg");
    let saved = client
        .matting(image, trimap)
        .output_type(MattingOutputType::Mask)
        .output_compression(80)
        .run_to(&destination, false)
        .await
        .unwrap();
    assert_eq!(saved.file.path, destination);
    assert_eq!(std::fs::read(&destination).unwrap(), matte);
    let body = api.requests()[2].json();
    assert_eq!(body["output_type"], "mask");
    assert_eq!(body["output_compression"], 80);
    let output_key = body["output_key"].as_str().unwrap();
    assert!(
        output_key.starts_with("cutout/matte-") && output_key.ends_with(".jpg"),
        "{output_key}"
    );
    assert_eq!(cdn.single().header("authorization"), None);
}

#[tokio::test]
async fn matting_downloads_url_inputs_before_checking_and_uploading_them() {
    let photo = jpeg_rgb(64, 48);
    let trimap = jpeg_gray(64, 48);
    let cdn = RecordingServer::start(vec![
        Route::bytes(
            Method::GET,
            "/in/photo.jpg",
            200,
            photo.clone(),
            "image/jpeg",
        ),
        Route::bytes(
            Method::GET,
            "/in/trimap.jpg",
            200,
            trimap.clone(),
            "image/jpeg",
        ),
        Route::bytes(Method::GET, "/out.png", 200, png_rgba(64, 48), "image/png"),
    ])
    .await;
    let (api, client) = server(api_routes(
        "/v3/tools/ai/matting/process/",
        json!({"output_key": "cutout/out.png"}),
        cdn.url(),
        "/out.png",
    ))
    .await;
    client
        .matting(
            ImageSource::url(format!("{}/in/photo.jpg", cdn.url())),
            ImageSource::url(format!("{}/in/trimap.jpg", cdn.url())),
        )
        .run()
        .await
        .unwrap();
    let uploads: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v3/file-ops/upload/")
        .collect();
    let mut sent: Vec<_> = uploads
        .iter()
        .map(|r| r.part("file").data.clone())
        .collect();
    sent.sort();
    let mut expected = vec![photo, trimap];
    expected.sort();
    assert_eq!(sent, expected);
    assert!(
        cdn.requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

#[tokio::test]
async fn an_expired_key_says_files_expire_after_two_hours() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (api, client) = server(vec![
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"success": true}),
        ),
        Route::json(
            Method::POST,
            "/v3/tools/ai/matting/process/",
            404,
            json!({"detail": "Not found."}),
        ),
    ])
    .await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("Not found.")
            && text.contains("BackgroundCut deletes files 2 hours after upload")
            && text.contains("upload the inputs again"),
        "{text}"
    );
    let body = api.requests()[2].json();
    for key in [&body["input_key"], &body["trimap_key"]] {
        assert!(text.contains(key.as_str().unwrap()), "{text}");
    }
}

#[tokio::test]
async fn a_504_on_process_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (image, trimap) = inputs(dir.path());
    let (api, client) = server(vec![
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"success": true}),
        ),
        Route::empty(Method::POST, "/v3/tools/ai/matting/process/", 504).times(1),
        Route::json(
            Method::POST,
            "/v3/tools/ai/matting/process/",
            200,
            json!({"output_key": "cutout/x.png"}),
        ),
    ])
    .await;
    let error = client.matting(image, trimap).run().await.unwrap_err();
    assert_eq!(error.status(), Some(504), "{error}");
    assert!(
        error.to_string().contains("narrow the trimap's gray band"),
        "{error}"
    );
    let processes = api
        .requests()
        .iter()
        .filter(|r| r.path == "/v3/tools/ai/matting/process/")
        .count();
    assert_eq!(processes, 1);
}

#[tokio::test]
async fn a_503_on_upload_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "photo.jpg", &jpeg_rgb(8, 8));
    let (api, client) = server(vec![
        Route::empty(Method::POST, "/v3/file-ops/upload/", 503).times(1),
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"success": true}),
        ),
    ])
    .await;
    client
        .upload(path.as_path(), "project/photo.jpg")
        .await
        .unwrap();
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    // The file was opened again for the second attempt.
    assert_eq!(requests[1].part("file").data, std::fs::read(&path).unwrap());
    assert_eq!(requests[1].part("key").text(), "project/photo.jpg");
}

// ---- Storage -------------------------------------------------------------------------------

#[tokio::test]
async fn upload_refuses_an_empty_key() {
    let (server, client) = server(vec![]).await;
    let error = client
        .upload(ImageSource::bytes(jpeg_rgb(4, 4), "a.jpg"), " ")
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "key");
    assert!(message.contains("the key is empty"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn upload_success_false_is_an_error() {
    let (_server, client) = server(vec![Route::json(
        Method::POST,
        "/v3/file-ops/upload/",
        200,
        json!({"success": false}),
    )])
    .await;
    let error = client
        .upload(ImageSource::bytes(jpeg_rgb(4, 4), "a.jpg"), "k.jpg")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("answered `success: false`"),
        "{error}"
    );
}

#[tokio::test]
async fn public_url_names_the_expired_key() {
    let (_server, client) = server(vec![Route::json(
        Method::POST,
        "/v3/file-ops/get-public-url/",
        404,
        json!({"message": "File not found"}),
    )])
    .await;
    let error = client.public_url("project/old.png").await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("no file under `project/old.png`") && text.contains("2 hours"),
        "{text}"
    );
}

#[test]
fn unique_keys_are_fresh_and_keep_prefix_and_extension() {
    let keys: std::collections::HashSet<String> =
        (0..2000).map(|_| unique_key("proj/a/", ".jpg")).collect();
    assert_eq!(keys.len(), 2000);
    assert!(
        keys.iter()
            .all(|k| k.starts_with("proj/a/") && k.ends_with(".jpg"))
    );
    assert!(!unique_key("x-", "").contains('.'));
}

#[test]
fn error_bodies_show_whichever_message_is_present() {
    let parse = |text: &str| serde_json::from_str::<BackgroundCutError>(text).unwrap();
    assert_eq!(
        parse(r#"{"detail": "Invalid token."}"#)
            .message()
            .as_deref(),
        Some("Invalid token.")
    );
    assert_eq!(
        parse(r#"{"message": "Insufficient credits"}"#)
            .message()
            .as_deref(),
        Some("Insufficient credits")
    );
    assert_eq!(
        parse(r#"{"error": "bad_request"}"#).message().as_deref(),
        Some("bad_request")
    );
    assert_eq!(
        parse(r#"{"output_key": ["Unsupported extension for rgba."]}"#)
            .message()
            .as_deref(),
        Some("output_key: Unsupported extension for rgba.")
    );
    assert_eq!(parse("{}").message(), None);
}

// ---- Remove BG -----------------------------------------------------------------------------

#[tokio::test]
async fn remove_bg_refuses_output_compression_outside_1_to_100() {
    let (server, client) = server(vec![]).await;
    let error = client
        .remove_bg(ImageSource::bytes(jpeg_rgb(8, 8), "p.jpg"))
        .variant(Variant::png())
        .variant(Variant::webp().output_compression(0))
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "output_variants[1].output_compression");
    assert!(message.contains("0 is outside 1..=100"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn remove_bg_refuses_a_zero_max_resolution() {
    let (server, client) = server(vec![]).await;
    let error = client
        .remove_bg(ImageSource::bytes(jpeg_rgb(8, 8), "p.jpg"))
        .variant(Variant::png().max_resolution(0))
        .run()
        .await
        .unwrap_err();
    assert_eq!(invalid(&error).0, "output_variants[0].max_resolution");
    assert!(server.requests().is_empty());
}

/// A PNG header alone (33 bytes) claiming 0×0 pixels.
fn empty_png_header() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

#[tokio::test]
async fn remove_bg_refuses_an_image_of_zero_pixels() {
    let (server, client) = server(vec![]).await;
    let error = client
        .remove_bg(ImageSource::bytes(empty_png_header(), "empty.png"))
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "image");
    assert!(message.contains("says it is 0×0 pixels"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn remove_bg_refuses_a_file_that_is_not_an_image() {
    let (server, client) = server(vec![]).await;
    let error = client
        .remove_bg(ImageSource::bytes(&b"%PDF-1.7"[..], "doc.pdf"))
        .run()
        .await
        .unwrap_err();
    assert_eq!(invalid(&error).0, "image");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn remove_bg_downloads_every_variant() {
    let png = png_rgba(8, 8);
    let jpg = jpeg_rgb(8, 8);
    let cdn = RecordingServer::start(vec![
        Route::bytes(Method::GET, "/v/a.png", 200, png.clone(), "image/png"),
        Route::bytes(Method::GET, "/v/b.jpg", 200, jpg.clone(), "image/jpeg"),
    ])
    .await;
    let (api, client) = server(vec![
        Route::json(
            Method::POST,
            "/v3/file-ops/upload/",
            200,
            json!({"success": true}),
        ),
        Route::json(
            Method::POST,
            "/v3/tools/ai/remove-bg/process/",
            200,
            json!({"output_keys": ["shop/a.png", "shop/b.jpg"]}),
        ),
        Route::json(
            Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            json!({"url": format!("{}/v/a.png", cdn.url())}),
        )
        .times(1),
        Route::json(
            Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            json!({"url": format!("{}/v/b.jpg", cdn.url())}),
        ),
    ])
    .await;
    let outputs = client
        .remove_bg(ImageSource::bytes(jpeg_rgb(8, 8), "product.jpg"))
        .key_prefix("shop/")
        .variant(Variant::png().output_key("shop/a.png"))
        .variant(
            Variant::jpg()
                .output_key("shop/b.jpg")
                .max_resolution(1_000_000)
                .quality("high")
                .background_color("#ffffff")
                .output_compression(70)
                .autocrop(true),
        )
        .run()
        .await
        .unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(
        (outputs[0].bytes.as_ref(), outputs[1].bytes.as_ref()),
        (&png[..], &jpg[..])
    );

    let requests = api.requests();
    let upload = &requests[0];
    let input_key = upload.part("key").text();
    assert!(input_key.starts_with("shop/input-") && input_key.ends_with(".jpg"));
    assert_eq!(
        requests[1].json(),
        json!({
            "input_key": input_key,
            "output_variants": [
                {"output_key": "shop/a.png", "format": "png", "max_resolution": 12000000,
                 "quality": "medium", "output_compression": 85, "autocrop": false},
                {"output_key": "shop/b.jpg", "format": "jpg", "max_resolution": 1000000,
                 "quality": "high", "background_color": "#ffffff", "output_compression": 70,
                 "autocrop": true},
            ],
        })
    );
    assert_eq!(requests[2].json(), json!({"key": "shop/a.png"}));
    assert_eq!(requests[3].json(), json!({"key": "shop/b.jpg"}));
    assert!(
        cdn.requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

// ---- AI Cut --------------------------------------------------------------------------------

#[tokio::test]
async fn ai_cut_refuses_a_png_input() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(png_rgba(8, 8), "x.png"))
        .foreground(1.0, 1.0)
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        invalid(&error),
        (
            "image",
            "BackgroundCut AI Cut needs a JPEG image; `x.png` is PNG: convert it"
        )
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_needs_a_foreground_point() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(8, 8), "p.jpg"))
        .background(1.0, 1.0)
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "foreground");
    assert!(
        message.contains("at least one foreground point"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_refuses_points_outside_the_image() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(64, 48), "p.jpg"))
        .foreground(10.0, 10.0)
        .background(64.0, 5.0)
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "background[0]");
    assert!(
        message.contains("(64, 5) is outside the 64×48 image"),
        "{message}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_refuses_negative_coordinates() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(64, 48), "p.jpg"))
        .foreground(3.0, -1.0)
        .run()
        .await
        .unwrap_err();
    assert_eq!(invalid(&error).0, "foreground[0]");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_refuses_coordinates_that_are_not_numbers() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(64, 48), "p.jpg"))
        .foreground(3.0, 4.0)
        .foreground(f64::NAN, 4.0)
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "foreground[1]");
    assert!(message.contains("finite pixel coordinates"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_refuses_an_output_key_that_is_not_jpeg() {
    let (server, client) = server(vec![]).await;
    let error = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(64, 48), "p.jpg"))
        .foreground(3.0, 4.0)
        .output_key("masks/m.png")
        .run()
        .await
        .unwrap_err();
    let (field, message) = invalid(&error);
    assert_eq!(field, "output_key");
    assert!(message.contains("must end in .jpg or .jpeg"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ai_cut_uploads_segments_and_downloads_the_mask() {
    let mask = jpeg_gray(64, 48);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/mask.jpg",
        200,
        mask.clone(),
        "image/jpeg",
    )])
    .await;
    let (api, client) = server(api_routes(
        "/v3/tools/ai/ai-cut/segment/",
        json!({"output_key": "cutout/mask.jpg"}),
        cdn.url(),
        "/mask.jpg",
    ))
    .await;
    let output = client
        .ai_cut(ImageSource::bytes(jpeg_rgb(64, 48), "photo.jpg"))
        .foreground(20.0, 30.5)
        .foreground(40.0, 10.0)
        .background(1.0, 2.0)
        .run()
        .await
        .unwrap();
    assert_eq!(output.bytes, mask);
    let requests = api.requests();
    let input_key = requests[0].part("key").text();
    let body = requests[1].json();
    assert_eq!(body["input_key"], input_key.as_str());
    assert!(input_key.ends_with(".jpg"));
    assert!(body["output_key"].as_str().unwrap().ends_with(".jpg"));
    assert_eq!(
        body["foreground_points"],
        json!([{"x": 20.0, "y": 30.5}, {"x": 40.0, "y": 10.0}])
    );
    assert_eq!(body["background_points"], json!([{"x": 1.0, "y": 2.0}]));
    assert_eq!(cdn.single().header("authorization"), None);
}

// ---- BackgroundRemover -----------------------------------------------------------------------

#[tokio::test]
async fn the_remover_makes_a_png_cutout() {
    let result = png_rgba(16, 12);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/c.png",
        200,
        result.clone(),
        "image/png",
    )])
    .await;
    let (api, client) = server(api_routes(
        "/v3/tools/ai/remove-bg/process/",
        json!({"output_keys": ["cutout/c.png"]}),
        cdn.url(),
        "/c.png",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let photo = write(dir.path(), "photo.jpg", &jpeg_rgb(16, 12));
    let (seen, sink) = events();
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "backgroundcut");
    let cutout = remover
        .remove_background(
            ImageSource::path(&photo),
            RemoveOptions::default().on_progress(sink),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes, result);
    assert_eq!((cutout.width, cutout.height), (16, 12));
    assert_eq!(cutout.kind, CutoutKind::Rgba);
    assert_eq!(cutout.job_id.as_deref(), Some("cutout/c.png"));
    let variants = &api.requests()[1].json()["output_variants"];
    assert_eq!(variants.as_array().unwrap().len(), 1);
    assert_eq!(variants[0]["format"], "png");
    let seen = seen.lock().unwrap();
    assert!(matches!(seen.first(), Some(Progress::Uploading { .. })));
    assert_eq!(seen.last(), Some(&Progress::Downloading));
}

#[tokio::test]
async fn the_remover_refuses_masks_with_advice() {
    let (server, client) = server(vec![]).await;
    let error = BackgroundRemover::remove_background(
        &client,
        ImageSource::bytes(jpeg_rgb(8, 8), "p.jpg"),
        RemoveOptions::mask(),
    )
    .await
    .unwrap_err();
    match &error {
        CutoutError::Unsupported { provider, message } => {
            assert_eq!(*provider, "backgroundcut");
            assert!(
                message.contains("output_type(MattingOutputType::Mask)"),
                "{message}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let (_server, client) = server(vec![]).await;
    let image = ImageSource::bytes(jpeg_rgb(8, 8), "photo.jpg");
    let trimap = ImageSource::bytes(jpeg_gray(8, 8), "trimap.jpg");
    let shown = [
        format!("{client:?}"),
        format!("{:?}", client.context()),
        format!("{:?}", client.matting(image.clone(), trimap)),
        format!("{:?}", client.remove_bg(image.clone())),
        format!("{:?}", client.ai_cut(image).foreground(1.0, 1.0)),
        format!("{:?}", Client::builder().key(KEY)),
    ];
    for text in shown {
        assert!(!text.contains(KEY), "{text}");
    }
}

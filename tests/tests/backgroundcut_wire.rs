//! What the generated BackgroundCut client puts on the wire, operation by operation.

use axum::http::Method;
use backgroundcut::{Client, Error, types};
use cutout_tests::{RecordingServer, Route, fixture, wire_snapshot};
use serde_json::json;

const KEY: &str = "bgcut-test-key";

async fn server(routes: Vec<Route>) -> (RecordingServer, Client) {
    let server = RecordingServer::start(routes).await;
    let client = Client::builder()
        .base_url(server.url())
        .key(KEY)
        // One request per call: what is recorded is exactly what one attempt sends.
        .retry(cutout_runtime::RetryPolicy::none())
        .build()
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn upload_sends_the_file_and_key_as_multipart_with_the_token_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    let jpeg: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xDB]
        .into_iter()
        .chain(std::iter::repeat_n(7u8, 1000))
        .collect();
    std::fs::write(&path, &jpeg).unwrap();
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/v3/file-ops/upload/",
        200,
        json!({"success": true}),
    )])
    .await;

    let answer = client
        .upload_file()
        .file_path(&path)
        .body_map(|form| form.key("my-project/photo.jpg".to_owned()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.success, Some(true));

    let request = server.single();
    assert_eq!(
        request.header("authorization").as_deref(),
        Some("Token bgcut-test-key")
    );
    let file = request.part("file");
    assert_eq!(
        (file.file_name.as_deref(), file.content_type.as_deref()),
        (Some("photo.jpg"), Some("image/jpeg"))
    );
    assert_eq!(file.data, jpeg);
    assert_eq!(request.part("key").text(), "my-project/photo.jpg");
    insta::assert_json_snapshot!(wire_snapshot(&request));
}

#[tokio::test]
async fn upload_without_the_required_file_fails_locally() {
    let (server, client) = server(vec![]).await;
    let error = client
        .upload_file()
        .body_map(|form| form.key("k.jpg".to_owned()))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidRequest(m) if m == "the `file` file part is required"),
        "{error}"
    );
    assert!(server.requests().is_empty());
}

/// Seed 001's matting request, reproduced field for field from typed values.
#[tokio::test]
async fn matting_reproduces_the_documented_request() {
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/v3/tools/ai/matting/process/",
        200,
        fixture("backgroundcut/matting.response.documented.json"),
    )])
    .await;
    let answer = client
        .process_matting()
        .body_map(|b| {
            b.input_key("my-project/photo.jpg".to_owned())
                .trimap_key("my-project/trimap.jpg".to_owned())
                .output_key("my-project/result.png".to_owned())
                .output_type(types::MattingOutputType::Rgba)
                .output_compression(std::num::NonZeroU64::new(95).unwrap())
        })
        .send()
        .await
        .unwrap();
    assert_eq!(answer.output_key, "my-project/result.png");

    let request = server.single();
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.path, "/v3/tools/ai/matting/process/",
        "the trailing slash is part of the path"
    );
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        request.header("authorization").as_deref(),
        Some("Token bgcut-test-key")
    );
    assert_eq!(
        request.json(),
        fixture("backgroundcut/matting.request.documented.json")
    );
    insta::assert_json_snapshot!(wire_snapshot(&request));
}

#[tokio::test]
async fn remove_bg_ai_cut_and_public_url() {
    let (server, client) = server(vec![
        Route::json(
            Method::POST,
            "/v3/tools/ai/remove-bg/process/",
            200,
            json!({"output_keys": ["out/a.png", "out/a.webp"]}),
        ),
        Route::json(
            Method::POST,
            "/v3/tools/ai/ai-cut/segment/",
            200,
            json!({"output_key": "out/cut.jpg"}),
        ),
        Route::json(
            Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            json!({"url": "https://files.example.com/out/a.png?sig=x"}),
        ),
    ])
    .await;
    let variants = vec![
        types::OutputVariant::builder()
            .output_key("out/a.png".to_owned())
            .try_into()
            .unwrap(),
        types::OutputVariant::builder()
            .output_key("out/a.webp".to_owned())
            .format("webp".to_owned())
            .background_color(Some("#ffffff".to_owned()))
            .autocrop(true)
            .try_into()
            .unwrap(),
    ];
    let removed = client
        .process_remove_bg()
        .body_map(|b| b.input_key("in/a.jpg".to_owned()).output_variants(variants))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.output_keys, ["out/a.png", "out/a.webp"]);

    let point = |x: f64, y: f64| -> types::AiCutPoint {
        types::AiCutPoint::builder().x(x).y(y).try_into().unwrap()
    };
    client
        .process_ai_cut()
        .body_map(|b| {
            b.input_key("in/a.jpg".to_owned())
                .output_key("out/cut.jpg".to_owned())
                .foreground_points(vec![point(120.0, 80.0), point(130.0, 95.0)])
                .background_points(vec![point(5.0, 5.0)])
        })
        .send()
        .await
        .unwrap();
    let url = client
        .get_public_url()
        .body_map(|b| b.key("out/a.png".to_owned()))
        .send()
        .await
        .unwrap();
    assert!(url.url.starts_with("https://files.example.com/"));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.header("authorization").as_deref(),
            Some("Token bgcut-test-key")
        );
    }
    insta::assert_json_snapshot!(requests.iter().map(wire_snapshot).collect::<Vec<_>>());
}

#[tokio::test]
async fn documented_errors_surface_with_status_and_body() {
    let (_server, client) = server(vec![Route::json(
        Method::POST,
        "/v3/tools/ai/matting/process/",
        404,
        json!({"detail": "input_key not found", "region": "eu"}),
    )])
    .await;
    let error = client
        .process_matting()
        .body_map(|b| {
            b.input_key("a.jpg".to_owned())
                .trimap_key("t.jpg".to_owned())
                .output_key("o.png".to_owned())
        })
        .send()
        .await
        .unwrap_err();
    match error {
        Error::ErrorResponse(body) => {
            assert_eq!(body.status(), 404);
            assert_eq!(body.detail.as_deref(), Some("input_key not found"));
            assert_eq!(body.extra.get("region"), Some(&json!("eu")));
        }
        other => panic!("expected an error response, got {other}"),
    }
}

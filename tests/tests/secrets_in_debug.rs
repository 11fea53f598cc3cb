//! No `Debug` or error message shows a presigned signature, a token in a query or a password in
//! a URL: generated types print their fields through `cutout_runtime::validate::Redacted`, and
//! answer bodies kept in errors have their URLs cleaned. Answers are JSON literals written from
//! the providers' docs.

use axum::http::Method;
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

const SECRETS: [&str; 3] = ["SIGNATURE-SECRET", "hunter2", "TOKEN-SECRET"];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows `{secret}`: {text}");
    }
}

#[test]
fn generated_types_never_print_secrets() {
    let signed = "https://bucket.example/o.png?X-Amz-Signature=SIGNATURE-SECRET";
    let with_password = "https://me:hunter2@img.example.com/a.jpg";
    let hook = "https://hooks.example.com/x?token=TOKEN-SECRET";

    let download: topaz_image::types::DownloadResponse =
        serde_json::from_value(json!({"download_url": signed, "head_url": signed, "expiry": 1}))
            .unwrap();
    let request: topaz_image::types::MattingGanRequest =
        serde_json::from_value(json!({"source_url": with_password, "webhook_url": hook})).unwrap();
    let artwork: artworks_seg::types::Artwork = serde_json::from_value(json!({
        "id": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "status": "succeeded",
        "results": [signed], "parameters": {"imageUrl": with_password, "webhook": hook}
    }))
    .unwrap();
    let public: backgroundcut::types::PublicUrlResponse =
        serde_json::from_value(json!({"url": signed})).unwrap();
    let success: modelslab::types::ResultSuccess = serde_json::from_value(json!({
        "status": "success", "output": [signed], "proxy_links": [signed], "id": 7
    }))
    .unwrap();
    let answer: modelslab::types::RemovebgMaskResponse = serde_json::from_value(json!({
        "status": "processing", "id": 7, "eta": 3, "fetch_result": hook, "future_links": [signed]
    }))
    .unwrap();
    for (what, text) in [
        ("topaz DownloadResponse", format!("{download:?}")),
        ("topaz DownloadResponse {:#?}", format!("{download:#?}")),
        ("topaz MattingGanRequest", format!("{request:?}")),
        ("tengr Artwork", format!("{artwork:?}")),
        ("backgroundcut PublicUrlResponse", format!("{public:?}")),
        ("modelslab ResultSuccess", format!("{success:?}")),
        ("modelslab RemovebgMaskResponse", format!("{answer:?}")),
    ] {
        assert_clean(what, &text);
        // What is not secret is still shown.
        assert!(
            text.contains("bucket.example/o.png")
                || text.contains("img.example.com")
                || text.contains("hooks.example.com"),
            "{what}: {text}"
        );
    }
    // The values themselves are untouched: only their `Debug` is redacted.
    assert_eq!(download.download_url, signed);
}

/// A download answer that does not match the documented shape is an error that keeps the body,
/// without the signature of the link inside it.
#[tokio::test]
async fn an_answer_body_kept_in_an_error_shows_no_signature() {
    const ID: &str = "6f1c2a9e-3b7d-4c1e-8f2a-9d0e1b2c3d4e";
    let api = RecordingServer::start(vec![Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        200,
        // `download_url` is required; this answer names it differently.
        json!({"downloadUrl": "https://bucket.example/o.png?X-Amz-Signature=SIGNATURE-SECRET",
               "note": "see https://me:hunter2@bucket.example/help?token=TOKEN-SECRET"}),
    )])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(api.url())
        .key("secrets-test-key")
        .build()
        .unwrap();
    let error = client.job(ID).output_download_url().await.unwrap_err();
    assert_clean("Display", &error.to_string());
    assert_clean("Debug", &format!("{error:?}"));
    assert!(
        error.to_string().contains("bucket.example/o.png"),
        "{error}"
    );
}

/// The hand-written results of ModelsLab print their links without their query.
#[test]
fn modelslab_results_never_print_signatures() {
    let signed = "https://pub.example/x.png?X-Amz-Signature=SIGNATURE-SECRET";
    let success: modelslab::types::ResultSuccess = serde_json::from_value(json!({
        "status": "success", "output": [signed], "proxy_links": [signed], "id": 7
    }))
    .unwrap();
    let result = modelslab::MaskResult::from(success);
    assert_clean("MaskResult", &format!("{result:?}"));
    assert!(format!("{result:?}").contains("https://pub.example/x.png"));
}

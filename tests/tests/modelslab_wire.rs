//! What the generated ModelsLab client puts on the wire: the key travels in the JSON body.

use axum::http::Method;
use cutout_tests::{RecordingServer, Route, fixture, wire_snapshot};
use modelslab::{Client, types};
use serde_json::json;

const KEY: &str = "modelslab-test-key";

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

/// Seed 002's request body, reproduced from typed values: every field it shows is sent with the
/// same value (its empty `key` placeholder becomes the client's key; its `null`s are left out,
/// which the API reads the same way), plus the documented defaults of the fields it omits.
#[tokio::test]
async fn removebg_mask_reproduces_the_documented_body_with_the_key_injected() {
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        200,
        fixture("modelslab/removebg_mask.success.documented.json"),
    )])
    .await;
    let documented = fixture("modelslab/removebg_mask.request.documented.json");
    let answer = client
        .removebg_mask()
        .body_map(|b| {
            b.image(documented["image"].as_str().unwrap().to_owned())
                .seed(Some(12345))
                .post_process_mask(false)
                .only_mask(false)
                .alpha_matting(false)
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    match answer {
        types::RemovebgMaskResponse::ResultSuccess(success) => assert_eq!(success.output.len(), 1),
        other => panic!("expected success, got {other:?}"),
    }

    let request = server.single();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/image_editing/removebg_mask");
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        request.header("authorization"),
        None,
        "ModelsLab takes no auth header"
    );
    let sent = request.json();
    assert_eq!(sent["key"], KEY);
    for (field, value) in documented.as_object().unwrap() {
        match (field.as_str(), value) {
            ("key", _) => {}
            (_, serde_json::Value::Null) => {
                assert!(sent.get(field).is_none(), "{field} should be left out")
            }
            _ => assert_eq!(&sent[field], value, "field {field}"),
        }
    }
    insta::assert_json_snapshot!(wire_snapshot(&request));
}

#[tokio::test]
async fn fetch_posts_the_key_to_the_id_path_and_reads_a_string_output() {
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/image_editing/fetch/96709",
        200,
        fixture("modelslab/fetch.processing.json"),
    )])
    .await;
    let answer = client
        .fetch_result()
        .id(96709)
        .body(types::FetchRequest::default())
        .send()
        .await
        .unwrap()
        .into_inner();
    match answer {
        types::FetchResponse::FetchProcessing(processing) => {
            assert_eq!(
                processing.output,
                Some(types::PendingOutput::String(String::new()))
            );
            assert_eq!(processing.eta, Some(4.0));
        }
        other => panic!("expected processing, got {other:?}"),
    }
    let request = server.single();
    assert_eq!(request.path, "/image_editing/fetch/96709");
    assert_eq!(request.json(), json!({"key": KEY}));
    insta::assert_json_snapshot!(wire_snapshot(&request));
}

#[tokio::test]
async fn http_429_carries_retry_after() {
    let (_server, client) = server(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        429,
        fixture("modelslab/rate_limited.json"),
    )])
    .await;
    let error = client
        .removebg_mask()
        .body_map(|b| b.image("https://images.example.com/a.png".to_owned()))
        .send()
        .await
        .unwrap_err();
    match error {
        modelslab::Error::ErrorResponse(body) => {
            assert_eq!(body.status(), 429);
            assert_eq!(body.retry_after, Some(30));
        }
        other => panic!("expected an error response, got {other}"),
    }
}

#[test]
fn neither_the_client_nor_the_request_types_can_show_the_key() {
    let client = Client::with_key("ml-live-secret").unwrap();
    assert!(!format!("{client:?}").contains("ml-live-secret"));
    // The key is not a field of the request types: the client adds it to the body on the way
    // out, so no request value can carry it into a log.
    let request =
        types::RemovebgMaskRequest::builder().image("https://images.example.com/a.png".to_owned());
    let request = types::RemovebgMaskRequest::try_from(request).unwrap();
    let shown = format!("{request:?} {:?}", types::FetchRequest::default());
    assert!(!shown.contains("key"), "{shown}");
}

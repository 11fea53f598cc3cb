//! What the generated Topaz client puts on the wire, operation by operation, against a local
//! recording server (loopback only).

use axum::http::Method;
use cutout_tests::{RecordingServer, Route, wire_snapshot};
use serde_json::json;
use topaz_image::{Client, Error, types};

const KEY: &str = "topaz-test-key";
const ID: &str = "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11";

fn status_body(status: &str, progress: i64) -> serde_json::Value {
    json!({
        "process_id": ID, "source_id": "src-1", "filename": "portrait.jpg",
        "input_format": "jpeg", "output_format": "png",
        "input_height": 768, "input_width": 1024, "output_height": 768, "output_width": 1024,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": status, "progress": progress,
        "eta": 1_763_800_000, "creation_time": 1_763_799_000, "modification_time": 1_763_799_500,
        "credits": 1, "subject_detection": null
    })
}

fn accepted() -> serde_json::Value {
    json!({"process_id": ID, "source_id": "src-1", "eta": 1_763_800_000})
}

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
async fn post_matting_streams_the_file_and_sends_every_text_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portrait.jpg");
    let image: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xE0]
        .into_iter()
        .chain((0..70_000u32).map(|i| (i % 251) as u8))
        .collect();
    std::fs::write(&path, &image).unwrap();
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/matting/async",
        200,
        accepted(),
    )])
    .await;

    let response = client
        .post_matting()
        .image_path(&path)
        .body_map(|form| {
            form.model(types::MattingGanRequestModel::RemoveBg)
                .mode(types::MattingGanRequestMode::Alpha)
                .webhook_url("https://hooks.example.com/topaz".to_owned())
        })
        .extra_field("crop_to_fill", "false")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.process_id, ID);
    assert_eq!(response.eta, Some(1_763_800_000));

    let request = server.single();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/matting/async");
    assert_eq!(request.header("x-api-key").as_deref(), Some(KEY));
    assert_eq!(
        request.header("api-version"),
        None,
        "progenitor's undocumented header is stripped"
    );
    assert!(
        request
            .header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    assert!(
        request.header("content-length").is_some(),
        "file length known: {:?}",
        request.headers
    );

    let file = request.part("image");
    assert_eq!(file.file_name.as_deref(), Some("portrait.jpg"));
    assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(file.data, image);

    let texts: Vec<(String, String)> = request
        .parts
        .iter()
        .filter(|p| p.file_name.is_none())
        .map(|p| (p.name.clone(), p.text()))
        .collect();
    assert_eq!(
        texts,
        // Typed fields in name order, then free-form fields in the order they were added.
        [
            ("mode", "alpha"),
            ("model", "RemoveBG"),
            ("output_format", "png"),
            ("webhook_url", "https://hooks.example.com/topaz"),
            ("crop_to_fill", "false"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    insta::assert_json_snapshot!(wire_snapshot(&server.single()));
}

#[tokio::test]
async fn post_matting_from_bytes_or_url() {
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/matting/async",
        200,
        accepted(),
    )])
    .await;
    client
        .post_matting()
        .image_bytes(vec![0x89, b'P', b'N', b'G'], "cut.png")
        .send()
        .await
        .unwrap();
    client
        .post_matting()
        .body_map(|form| form.source_url("https://images.example.com/a.jpg".to_owned()))
        .send()
        .await
        .unwrap();
    let requests = server.requests();
    let bytes_part = requests[0].part("image");
    assert_eq!(bytes_part.file_name.as_deref(), Some("cut.png"));
    assert_eq!(bytes_part.content_type.as_deref(), Some("image/png"));
    assert_eq!(bytes_part.data, b"\x89PNG");
    assert!(requests[1].parts.iter().all(|p| p.name != "image"));
    assert_eq!(
        requests[1].part("source_url").text(),
        "https://images.example.com/a.jpg"
    );
    assert_eq!(
        requests[1].part("model").text(),
        "Object",
        "the documented default is sent"
    );
    insta::assert_json_snapshot!(requests.iter().map(wire_snapshot).collect::<Vec<_>>());
}

#[tokio::test]
async fn post_matting_error_bodies_parse_into_the_named_error_schema() {
    let (_server, client) = server(vec![Route::json(
        Method::POST,
        "/matting/async",
        415,
        json!({"code": 415, "message": "unsupported image format"}),
    )])
    .await;
    let error = client
        .post_matting()
        .image_bytes(vec![1, 2, 3], "notes.txt")
        .send()
        .await
        .unwrap_err();
    match error {
        Error::ErrorResponse(response) => {
            assert_eq!(response.status(), 415);
            assert_eq!(
                response.message.as_deref(),
                Some("unsupported image format")
            );
            assert_eq!(response.code, Some(415));
        }
        other => panic!("expected an error response, got {other}"),
    }
}

#[tokio::test]
async fn a_missing_file_fails_before_any_request_is_sent() {
    let (server, client) = server(vec![]).await;
    let error = client
        .post_matting()
        .image_path("/no/such/dir/portrait.jpg")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidRequest(m) if m.contains("cannot open `/no/such/dir/portrait.jpg`")),
        "{error}"
    );
    assert!(server.requests().is_empty());
}

/// One case per JSON operation: method, path, query and body as documented.
#[tokio::test]
async fn every_json_operation_uses_its_documented_method_and_path() {
    let page = json!({"data": [status_body("Processing", 40)], "pagination": {"next_cursor": "c2", "has_next_page": true}});
    let links = json!({"download_url": "https://s3.example.com/out?sig=1", "head_url": "https://s3.example.com/out?sig=2", "expiry": 1_763_803_600});
    let status_path = format!("/status/{ID}");
    let (server, client) = server(vec![
        Route::json(
            Method::GET,
            &status_path,
            200,
            status_body("Completed", 100),
        ),
        Route::empty(Method::DELETE, &status_path, 204),
        Route::json(Method::GET, "/status", 200, page),
        Route::json(Method::DELETE, "/status", 200, json!({"deleted_count": 3})),
        Route::json(Method::GET, &format!("/download/{ID}"), 200, links.clone()),
        Route::json(Method::GET, &format!("/download/input/{ID}"), 200, links),
        Route::empty(Method::DELETE, &format!("/cancel/{ID}"), 204),
        Route::json(
            Method::POST,
            "/estimate",
            200,
            json!({"duration": 12, "credits": 1}),
        ),
    ])
    .await;

    let status = client.get_status().process_id(ID).send().await.unwrap();
    assert_eq!(status.status, types::JobStatus::Completed);
    assert_eq!(status.subject_detection, None);
    client.delete_status().process_id(ID).send().await.unwrap();
    let list = client
        .get_all_statuses()
        .paginated(true)
        .limit(std::num::NonZeroU64::new(10).unwrap())
        .cursor("c1")
        .send()
        .await
        .unwrap();
    match list.into_inner() {
        types::StatusList::Page(page) => {
            assert_eq!(page.data.len(), 1);
            assert_eq!(page.pagination.next_cursor.as_deref(), Some("c2"));
        }
        other => panic!("expected a page, got {other:?}"),
    }
    assert_eq!(
        client
            .delete_all_statuses()
            .send()
            .await
            .unwrap()
            .deleted_count,
        Some(3)
    );
    let output = client
        .get_download_output()
        .process_id(ID)
        .send()
        .await
        .unwrap();
    assert_eq!(output.expiry, Some(1_763_803_600));
    client
        .get_download_input()
        .process_id(ID)
        .send()
        .await
        .unwrap();
    client.cancel_task().process_id(ID).send().await.unwrap();
    let estimate = client
        .post_estimate()
        .body_map(|b| {
            b.category(types::EstimateCategory::Matting)
                .model(types::EstimateRequestModel::Object)
                .input_height(768)
                .input_width(1024)
        })
        .send()
        .await
        .unwrap();
    assert_eq!((estimate.duration, estimate.credits), (12, 1));

    let seen: Vec<(Method, String, Option<String>)> = server
        .requests()
        .into_iter()
        .inspect(|r| {
            assert_eq!(
                r.header("x-api-key").as_deref(),
                Some(KEY),
                "{} {}",
                r.method,
                r.path
            )
        })
        .map(|r| (r.method, r.path, r.query))
        .collect();
    let expected = [
        (Method::GET, status_path.clone(), None),
        (Method::DELETE, status_path, None),
        (
            Method::GET,
            "/status".to_owned(),
            Some("cursor=c1&limit=10&paginated=true".to_owned()),
        ),
        (Method::DELETE, "/status".to_owned(), None),
        (Method::GET, format!("/download/{ID}"), None),
        (Method::GET, format!("/download/input/{ID}"), None),
        (Method::DELETE, format!("/cancel/{ID}"), None),
        (Method::POST, "/estimate".to_owned(), None),
    ];
    assert_eq!(seen, expected);
    let estimate_request = server.requests().pop().unwrap();
    assert_eq!(
        estimate_request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        estimate_request.json(),
        json!({"category": "Matting", "model": "Object", "input_height": 768, "input_width": 1024})
    );
    insta::assert_json_snapshot!(
        server
            .requests()
            .iter()
            .map(wire_snapshot)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn get_all_statuses_accepts_the_plain_array_shape() {
    let (_server, client) = server(vec![Route::json(
        Method::GET,
        "/status",
        200,
        json!([status_body("Pending", 0), status_body("Failed", 0)]),
    )])
    .await;
    match client.get_all_statuses().send().await.unwrap().into_inner() {
        types::StatusList::Array(all) => {
            assert_eq!(all.len(), 2);
            assert_eq!(all[1].status, types::JobStatus::Failed);
        }
        other => panic!("expected an array, got {other:?}"),
    }
}

#[tokio::test]
async fn download_before_completion_is_a_409_with_the_message() {
    let (_server, client) = server(vec![Route::json(
        Method::GET,
        &format!("/download/{ID}"),
        409,
        json!({"message": "output not ready"}),
    )])
    .await;
    let error = client
        .get_download_output()
        .process_id(ID)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(409));
    match error {
        Error::ErrorResponse(body) => assert_eq!(body.message.as_deref(), Some("output not ready")),
        other => panic!("expected an error response, got {other}"),
    }
}

#[test]
fn debug_of_a_client_never_shows_the_key() {
    let client = Client::with_key("sk-live-abcdef").unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("sk-live-abcdef"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

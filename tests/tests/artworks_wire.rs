//! What the generated Tengr.ai artworks client puts on the wire (camelCase JSON, Bearer auth).

use artworks_seg::{Client, types};
use axum::http::Method;
use cutout_tests::{RecordingServer, Route, fixture, wire_snapshot};
use serde_json::json;

const KEY: &str = "tengr-test-key";
const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

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

fn artwork(status: &str) -> serde_json::Value {
    let mut body = fixture("tengr/artwork.segmentation.documented.json");
    body["status"] = status.into();
    body
}

#[tokio::test]
async fn segmentation_by_text_and_by_points() {
    let (server, client) = server(vec![Route::json(
        Method::POST,
        "/v2/artworks/segmentation",
        202,
        artwork("starting"),
    )])
    .await;
    let created = client
        .create_segmentation()
        .body_map(|b| {
            b.image_url("https://images.example.com/cat.jpg".to_owned())
                .method(types::SegmentationMethod::Text)
                .text_prompt(Some("the cat".to_owned()))
                .text_confidence(0.35)
                .output_format(Some(types::OutputFormat::Png))
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(created.id, ID);
    assert_eq!(created.status, types::ArtworkStatus::Starting);

    let points: types::PointSet = types::PointSet::builder()
        .points(vec![
            types::NormalizedPoint([0.25, 0.5]),
            types::NormalizedPoint([0.3, 0.55]),
        ])
        .labels(vec![1, 1])
        .try_into()
        .unwrap();
    client
        .create_segmentation()
        .body_map(|b| {
            b.image_url("https://images.example.com/cat.jpg".to_owned())
                .method(types::SegmentationMethod::Points)
                .points_positive(Some(points))
                .mask_expand(8)
                .webhook(Some("https://hooks.example.com/tengr".to_owned()))
        })
        .send()
        .await
        .unwrap();

    let requests = server.requests();
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/v2/artworks/segmentation")
        );
        assert_eq!(
            request.header("authorization").as_deref(),
            Some("Bearer tengr-test-key")
        );
    }
    assert_eq!(
        requests[0].json()["textPrompt"],
        "the cat",
        "camelCase on the wire"
    );
    assert_eq!(
        requests[1].json()["pointsPositive"],
        json!({"points": [[0.25, 0.5], [0.3, 0.55]], "labels": [1, 1]})
    );
    insta::assert_json_snapshot!(requests.iter().map(wire_snapshot).collect::<Vec<_>>());
}

#[tokio::test]
async fn remove_background_get_and_list() {
    let (server, client) = server(vec![
        Route::json(
            Method::POST,
            "/v2/artworks/remove-background",
            202,
            artwork("starting"),
        ),
        Route::json(
            Method::GET,
            &format!("/v2/artworks/{ID}"),
            200,
            artwork("succeeded"),
        ),
        Route::json(
            Method::GET,
            "/v2/artworks",
            200,
            json!([artwork("processing"), artwork("failed")]),
        ),
    ])
    .await;
    client
        .create_remove_background()
        .body_map(|b| b.image_url("https://images.example.com/cat.jpg".to_owned()))
        .send()
        .await
        .unwrap();
    let done = client.get_artwork().id(ID).send().await.unwrap();
    assert_eq!(done.status, types::ArtworkStatus::Succeeded);
    let list = client
        .list_artworks()
        .offset(20)
        .limit(std::num::NonZeroU64::new(50).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);

    let seen: Vec<(String, String, Option<String>)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path, r.query))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "POST".to_owned(),
                "/v2/artworks/remove-background".to_owned(),
                None
            ),
            ("GET".to_owned(), format!("/v2/artworks/{ID}"), None),
            (
                "GET".to_owned(),
                "/v2/artworks".to_owned(),
                Some("limit=50&offset=20".to_owned())
            ),
        ]
    );
    assert_eq!(
        server.requests()[0].json(),
        json!({"imageUrl": "https://images.example.com/cat.jpg"})
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
async fn expired_artworks_answer_404_with_the_error_schema() {
    let (_server, client) = server(vec![Route::json(
        Method::GET,
        &format!("/v2/artworks/{ID}"),
        404,
        json!({"message": "Artwork not found", "statusCode": 404, "error": "Not Found"}),
    )])
    .await;
    match client.get_artwork().id(ID).send().await.unwrap_err() {
        artworks_seg::Error::ErrorResponse(body) => {
            assert_eq!(body.message.as_deref(), Some("Artwork not found"));
            assert_eq!(body.status_code, Some(404));
        }
        other => panic!("expected an error response, got {other}"),
    }
}

//! ModelsLab: key in the body, queued requests and fetch, the queue cap, data URIs, options,
//! and the error answers.

use std::time::Duration;

use base64::Engine as _;
use cutout_sandbox::{Provider, Sandbox};
use image::DynamicImage;
use modelslab::types::{FetchResponse, FlexibleId, RemovebgMaskResponse};
use serde_json::{Value, json};

use crate::common::{
    alpha_centre_and_corner, decode, disc_png, eventually, http, json, mask_centre_and_corner,
};

fn client(sandbox: &Sandbox) -> modelslab::Client {
    modelslab::Client::with_base_url(
        &sandbox.base_url(Provider::ModelsLab),
        sandbox.key(Provider::ModelsLab),
    )
    .expect("client builds")
}

/// POSTs `body` (with the sandbox's key unless it has one) to `removebg_mask`.
async fn removebg(sandbox: &Sandbox, mut body: Value) -> (u16, Value) {
    if body.get("key").is_none() {
        body["key"] = json!(sandbox.key(Provider::ModelsLab));
    }
    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    json(http().post(url).json(&body).send().await.expect("sent")).await
}

fn data_uri() -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(disc_png())
    )
}

#[tokio::test]
async fn auth_in_the_body() {
    let sandbox = Sandbox::start().await.expect("starts");
    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    let (status, body) = json(
        http()
            .post(&url)
            .json(&json!({"image": data_uri()}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");
    assert!(body["message"].is_string());
    let (status, body) = removebg(&sandbox, json!({"key": "nope", "image": data_uri()})).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("error")));
    let fetch = format!(
        "{}/image_editing/fetch/1",
        sandbox.base_url(Provider::ModelsLab)
    );
    let (status, _) = json(
        http()
            .post(fetch)
            .json(&json!({}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn queued_request_then_fetch() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_secs(10))
        .start()
        .await
        .expect("starts");
    let hosted = sandbox.host_file("disc.png", disc_png()).await;
    let modelslab = client(&sandbox);
    let answer = modelslab
        .removebg_mask()
        .body_map(|body| body.image(hosted.clone()).track_id(Some(7)))
        .send()
        .await
        .expect("answered")
        .into_inner();
    let RemovebgMaskResponse::RemovebgMaskProcessing(queued) = answer else {
        panic!("expected a processing answer, got {answer:?}");
    };
    assert_eq!(queued.eta, Some(10.0));
    assert_eq!(
        queued.output,
        Some(modelslab::types::PendingOutput::Array(Vec::new()))
    );
    let FlexibleId::Integer(id) = queued.id else {
        panic!("an integer id");
    };
    assert!(
        queued
            .fetch_result
            .as_deref()
            .is_some_and(|u| u.ends_with(&format!("/image_editing/fetch/{id}")))
    );
    let future = queued.future_links.unwrap_or_default();
    assert_eq!(future.len(), 1);
    assert_eq!(
        http().get(&future[0]).send().await.expect("sent").status(),
        404,
        "not ready yet"
    );

    // Still processing: `output` is a string here (raw check of the wire shape).
    let fetch_url = format!(
        "{}/image_editing/fetch/{id}",
        sandbox.base_url(Provider::ModelsLab)
    );
    let (status, raw) = json(
        http()
            .post(&fetch_url)
            .json(&json!({"key": sandbox.key(Provider::ModelsLab)}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(raw["status"], "processing");
    assert_eq!(raw["output"], "");
    let fetched = modelslab
        .fetch_result()
        .id(id)
        .send()
        .await
        .expect("fetched")
        .into_inner();
    assert!(matches!(fetched, FetchResponse::FetchProcessing(_)));

    sandbox.advance_clock(Duration::from_secs(10));
    let fetched = modelslab
        .fetch_result()
        .id(id)
        .send()
        .await
        .expect("fetched")
        .into_inner();
    let FetchResponse::ResultSuccess(done) = fetched else {
        panic!("expected success, got {fetched:?}");
    };
    assert_eq!(done.output, future);
    let bytes = http()
        .get(&done.output[0])
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    let cut = decode(&bytes);
    assert!(matches!(cut, DynamicImage::ImageRgba8(_)));
    let (centre, corner) = alpha_centre_and_corner(&cut);
    assert!(centre > 200 && corner < 50);

    let unknown = modelslab
        .fetch_result()
        .id(1)
        .send()
        .await
        .expect("answered")
        .into_inner();
    assert!(matches!(unknown, FetchResponse::ModelsLabError(_)));
}

#[tokio::test]
async fn queue_cap_answers_429_with_retry_after() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_secs(10))
        .modelslab_queue_cap(2)
        .start()
        .await
        .expect("starts");
    for _ in 0..2 {
        let (status, body) = removebg(&sandbox, json!({"image": data_uri()})).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("processing")));
    }
    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    let response = http()
        .post(url)
        .json(&json!({"key": sandbox.key(Provider::ModelsLab), "image": data_uri()}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let (status, body) = json(response).await;
    assert_eq!(status, 429);
    assert_eq!(body["status"], "error");
    assert_eq!(body["retry_after"], 30);
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 2);
    sandbox.advance_clock(Duration::from_secs(10));
    let (status, _) = removebg(&sandbox, json!({"image": data_uri()})).await;
    assert_eq!(status, 200, "the queue drained");
}

#[tokio::test]
async fn immediate_answers_options_and_errors() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    // A data URI, answered at once.
    let (status, body) = removebg(&sandbox, json!({"image": data_uri(), "only_mask": true})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("success")),
        "{body}"
    );
    assert_eq!(body["meta"]["only_mask"], "1");
    let url = body["output"][0].as_str().unwrap_or_default();
    let mask = decode(
        &http()
            .get(url)
            .send()
            .await
            .expect("sent")
            .bytes()
            .await
            .expect("body"),
    );
    assert!(matches!(mask, DynamicImage::ImageLuma8(_)));
    let (centre, corner) = mask_centre_and_corner(&mask);
    assert!(centre > 200 && corner < 50);

    // A file PUT on the file host (how the binary takes URL inputs) works as `image` too.
    let put = http()
        .put(format!("{}/hosted/put/disc.png", sandbox.files_url()))
        .body(disc_png())
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 201);
    let hosted = put.text().await.expect("body").trim().to_owned();
    assert!(hosted.ends_with("/hosted/put/disc.png"));
    let (status, body) = removebg(&sandbox, json!({"image": hosted})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("success")),
        "{body}"
    );

    // inverse_mask flips it; base64 answers with the image itself.
    let (_, body) = removebg(
        &sandbox,
        json!({"image": data_uri(), "only_mask": true, "inverse_mask": true, "base64": true}),
    )
    .await;
    let data = body["output"][0].as_str().unwrap_or_default();
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64 output");
    let (centre, corner) = mask_centre_and_corner(&decode(&png));
    assert!(centre < 50 && corner > 200);

    // Error answers (HTTP 200, status "error").
    for (body, what) in [
        (
            json!({"image": "https://example.com/cat.png"}),
            "a URL off the sandbox",
        ),
        (
            json!({"image": format!("{}/hosted/missing.png", sandbox.files_url())}),
            "a missing file",
        ),
        (json!({"image": "data:image/png;base64,!!!"}), "bad base64"),
        (
            json!({"image": "data:image/png;base64,aGVsbG8="}),
            "not an image",
        ),
        (
            json!({"image": data_uri(), "alpha_matting_foreground_threshold": 241}),
            "foreground threshold",
        ),
        (
            json!({"image": data_uri(), "alpha_matting_background_threshold": 21}),
            "background threshold",
        ),
        (
            json!({"image": data_uri(), "alpha_matting_erode_size": 6}),
            "erode size",
        ),
        (
            json!({"image": data_uri(), "alpha_matting_erode_size": -1}),
            "negative erode size",
        ),
        (json!({}), "no image"),
    ] {
        let (status, answer) = removebg(&sandbox, body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("error")),
            "{what}: {answer}"
        );
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let (status, _) = removebg(&sandbox, json!({"image": data_uri(), "only_mask": "yes"})).await;
    assert_eq!(status, 400, "wrongly typed field");
    let (status, answer) = removebg(
        &sandbox,
        json!({"image": data_uri(), "alpha_matting": true, "alpha_matting_erode_size": 0,
               "alpha_matting_foreground_threshold": 0, "alpha_matting_background_threshold": 0}),
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("success")),
        "range ends are valid"
    );
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 4);
}

#[tokio::test]
async fn webhook_once_to_loopback() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    // Nobody listens on this port: the single attempt fails and is not retried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    drop(listener);
    let (status, _) = removebg(
        &sandbox,
        json!({"image": data_uri(), "webhook": url, "track_id": 3}),
    )
    .await;
    assert_eq!(status, 200);
    let delivery = eventually(Duration::from_secs(5), || {
        let found = sandbox.webhook_deliveries().into_iter().next();
        async move { found }
    })
    .await;
    assert_eq!(delivery.provider, Provider::ModelsLab);
    assert_eq!(delivery.payload["status"], "success");
    assert_eq!(delivery.payload["track_id"], 3);
    assert_eq!(delivery.status, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sandbox.webhook_deliveries().len(),
        1,
        "best effort: no retry"
    );
}

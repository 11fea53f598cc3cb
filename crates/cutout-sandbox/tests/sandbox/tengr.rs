//! Tengr: artworks from 202 to succeeded, result formats, points and text modes, validation,
//! webhook rules, unreachable images, expiry and listing.

use std::time::Duration;

use artworks_seg::types::{ArtworkStatus, OutputFormat, PointSet, SegmentationMethod};
use cutout_sandbox::{Provider, Sandbox};
use image::{DynamicImage, ImageFormat};
use serde_json::{Value, json};

use crate::common::{
    alpha_centre_and_corner, decode, disc_png, http, json, mask_centre_and_corner,
};

fn client(sandbox: &Sandbox) -> artworks_seg::Client {
    artworks_seg::Client::with_base_url(
        &sandbox.base_url(Provider::Tengr),
        sandbox.key(Provider::Tengr),
    )
    .expect("client builds")
}

async fn create(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", sandbox.base_url(Provider::Tengr)))
        .bearer_auth(sandbox.key(Provider::Tengr))
        .json(&body)
        .send()
        .await
        .expect("sent");
    json(response).await
}

/// One labelled point, built as users build generated types (they are `#[non_exhaustive]`).
fn point_set(point: [f64; 2], label: i64) -> PointSet {
    PointSet::builder()
        .points(vec![point.into()])
        .labels(vec![label])
        .try_into()
        .unwrap()
}

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_secs(10))
        .start()
        .await
        .expect("starts")
}

#[tokio::test]
async fn auth_missing_is_401_and_wrong_is_403() {
    let sandbox = sandbox().await;
    let url = format!("{}/v2/artworks", sandbox.base_url(Provider::Tengr));
    let (status, body) = json(http().get(&url).send().await.expect("sent")).await;
    assert_eq!((status, body["statusCode"].as_i64()), (401, Some(401)));
    assert!(body["message"].is_string());
    let (status, _) = json(
        http()
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn segmentation_from_202_to_succeeded() {
    let sandbox = sandbox().await;
    let image_url = sandbox.host_file("street.png", disc_png()).await;
    let tengr = client(&sandbox);
    let created = tengr
        .create_segmentation()
        .body_map(|body| {
            body.image_url(image_url.clone())
                .method(SegmentationMethod::Text)
                .text_prompt(Some("the red disc".to_string()))
        })
        .send()
        .await
        .expect("created");
    assert_eq!(created.status().as_u16(), 202);
    let created = created.into_inner();
    assert_eq!(created.status, ArtworkStatus::Starting);
    assert_eq!(created.artwork_type.as_deref(), Some("segmentation"));
    let parameters = created.parameters.clone().unwrap_or_default();
    assert_eq!(parameters.get("textPrompt"), Some(&json!("the red disc")));
    assert!(created.created_at.is_some());

    sandbox.advance_clock(Duration::from_secs(3));
    let artwork = tengr
        .get_artwork()
        .id(&created.id)
        .send()
        .await
        .expect("read");
    assert_eq!(artwork.status, ArtworkStatus::Processing);
    assert!(artwork.results.as_ref().is_none_or(|r| r.is_empty()));

    sandbox.advance_clock(Duration::from_secs(8));
    let artwork = tengr
        .get_artwork()
        .id(&created.id)
        .send()
        .await
        .expect("read")
        .into_inner();
    assert_eq!(artwork.status, ArtworkStatus::Succeeded);
    let results = artwork.results.unwrap_or_default();
    assert_eq!(results.len(), 1);
    // auto = WebP, the mask of the disc (the prompt is not interpreted).
    let bytes = http()
        .get(&results[0])
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(image::guess_format(&bytes).ok(), Some(ImageFormat::WebP));
    let (centre, corner) = mask_centre_and_corner(&decode(&bytes));
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    // Points mode, PNG.
    let created = tengr
        .create_segmentation()
        .body_map(|body| {
            body.image_url(image_url.clone())
                .method(SegmentationMethod::Points)
                .points_positive(Some(point_set([0.5, 0.5], 1)))
                .points_negative(Some(point_set([0.02, 0.02], 0)))
                .output_format(Some(OutputFormat::Png))
        })
        .send()
        .await
        .expect("created")
        .into_inner();
    sandbox.advance_clock(Duration::from_secs(11));
    let artwork = tengr
        .get_artwork()
        .id(&created.id)
        .send()
        .await
        .expect("read")
        .into_inner();
    let url = artwork
        .results
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_default();
    let bytes = http()
        .get(&url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(image::guess_format(&bytes).ok(), Some(ImageFormat::Png));
    let (centre, corner) = mask_centre_and_corner(&decode(&bytes));
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    // Remove-background: an RGBA cut-out.
    let (status, body) = create(
        &sandbox,
        "/v2/artworks/remove-background",
        json!({"imageUrl": image_url, "outputFormat": "png"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("starting")));
    assert_eq!(body["artworkType"], "remove_background");
    sandbox.advance_clock(Duration::from_secs(11));
    let id = body["id"].as_str().unwrap_or_default();
    let artwork = tengr
        .get_artwork()
        .id(id)
        .send()
        .await
        .expect("read")
        .into_inner();
    let url = artwork
        .results
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_default();
    let cut = decode(
        &http()
            .get(&url)
            .send()
            .await
            .expect("sent")
            .bytes()
            .await
            .expect("body"),
    );
    assert!(matches!(cut, DynamicImage::ImageRgba8(_)));
    let (centre, corner) = alpha_centre_and_corner(&cut);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    let listed = tengr
        .list_artworks()
        .limit(2u64)
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, id, "newest first");
    assert_eq!(sandbox.submissions(Provider::Tengr), 3);

    // Eight days later everything is gone.
    sandbox.advance_clock(Duration::from_secs(8 * 24 * 3600));
    let gone = tengr.get_artwork().id(id).send().await;
    assert_eq!(
        gone.err().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(404)
    );
    assert_eq!(http().get(&url).send().await.expect("sent").status(), 404);
    assert!(tengr.list_artworks().send().await.expect("list").is_empty());
}

#[tokio::test]
async fn validation_and_unreachable_images() {
    let sandbox = sandbox().await;
    let image_url = sandbox.host_file("street.png", disc_png()).await;
    let seg = "/v2/artworks/segmentation";
    let text = |extra: Value| {
        let mut body = json!({"imageUrl": image_url, "method": "text", "textPrompt": "car"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let points =
        |set: Value| json!({"imageUrl": image_url, "method": "points", "pointsPositive": set});
    let cases = [
        (
            json!({"method": "text", "textPrompt": "car"}),
            "imageUrl missing",
        ),
        (
            json!({"imageUrl": "not a url", "method": "text", "textPrompt": "car"}),
            "imageUrl not a URL",
        ),
        (json!({"imageUrl": image_url}), "method missing"),
        (
            json!({"imageUrl": image_url, "method": "lasso"}),
            "unknown method",
        ),
        (
            json!({"imageUrl": image_url, "method": "text"}),
            "textPrompt missing",
        ),
        (
            text(json!({"textConfidence": 1.5})),
            "textConfidence above 1",
        ),
        (
            text(json!({"textMaxDetections": -2})),
            "textMaxDetections below -1",
        ),
        (
            text(json!({"textMaxDetections": 101})),
            "textMaxDetections above 100",
        ),
        (text(json!({"maskExpand": 16385})), "maskExpand above range"),
        (
            text(json!({"maskExpand": 1.5})),
            "maskExpand not an integer",
        ),
        (
            text(json!({"maskBlurSigma": 0.05})),
            "maskBlurSigma below 0.1",
        ),
        (
            text(json!({"maskBlurSigma": 101})),
            "maskBlurSigma above 100",
        ),
        (
            text(json!({"maskKernelSize": 101})),
            "maskKernelSize above 100",
        ),
        (text(json!({"outputFormat": "gif"})), "unknown outputFormat"),
        (
            text(json!({"webhook": "http://hooks.example.com/x"})),
            "webhook not HTTPS",
        ),
        (
            text(json!({"webhook": "https://127.0.0.1/x"})),
            "webhook on loopback",
        ),
        (
            text(json!({"webhook": "https://192.168.1.10/x"})),
            "webhook on a private address",
        ),
        (
            text(json!({"webhook": "https://169.254.169.254/x"})),
            "webhook to cloud metadata",
        ),
        (
            points(json!({"points": [[0.5, 0.5, 0.5]], "labels": [1]})),
            "three numbers",
        ),
        (
            points(json!({"points": [[0.5]], "labels": [1]})),
            "one number",
        ),
        (
            points(json!({"points": [[1.5, 0.5]], "labels": [1]})),
            "outside 0..1",
        ),
        (
            points(json!({"points": [[0.5, 0.5]], "labels": [1, 1]})),
            "labels count",
        ),
        (points(json!({"points": []})), "no positive point"),
        (
            json!({"imageUrl": image_url, "method": "points", "pointsPositive": {"points": [[0.5, 0.5]]}, "pointsRefinementSteps": 11}),
            "refinement steps above 10",
        ),
    ];
    for (body, what) in cases {
        let (status, answer) = create(&sandbox, seg, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["statusCode"], 400, "{what}");
        assert_eq!(answer["error"], "Bad Request", "{what}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let (status, _) = create(&sandbox, "/v2/artworks/remove-background", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(sandbox.submissions(Provider::Tengr), 0);

    // A public HTTPS webhook is accepted (and, the sandbox being offline, never called).
    let (status, _) = create(
        &sandbox,
        seg,
        text(json!({"webhook": "https://hooks.example.com/tengr"})),
    )
    .await;
    assert_eq!(status, 202);

    // Images the sandbox cannot fetch make the artwork fail, free of charge.
    let credits = sandbox.credits(Provider::Tengr);
    let (status, body) = create(
        &sandbox,
        "/v2/artworks/remove-background",
        json!({"imageUrl": "https://example.com/cat.png"}),
    )
    .await;
    assert_eq!(status, 202);
    sandbox.advance_clock(Duration::from_secs(11));
    let id = body["id"].as_str().unwrap_or_default();
    let artwork = client(&sandbox)
        .get_artwork()
        .id(id)
        .send()
        .await
        .expect("read")
        .into_inner();
    assert_eq!(artwork.status, ArtworkStatus::Failed);
    assert!(artwork.results.unwrap_or_default().is_empty());
    assert_eq!(sandbox.credits(Provider::Tengr), credits);
    assert!(sandbox.webhook_deliveries().is_empty());

    let list = format!("{}/v2/artworks", sandbox.base_url(Provider::Tengr));
    for query in ["limit=0", "limit=501", "offset=-1", "limit=abc"] {
        let response = http()
            .get(format!("{list}?{query}"))
            .bearer_auth(sandbox.key(Provider::Tengr))
            .send()
            .await;
        assert_eq!(response.expect("sent").status(), 400, "{query}");
    }
    let response = http()
        .get(format!("{list}?limit=500&offset=1"))
        .bearer_auth(sandbox.key(Provider::Tengr))
        .send()
        .await;
    let (status, listed) = json(response.expect("sent")).await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
    let unknown = client(&sandbox).get_artwork().id("nope").send().await;
    assert_eq!(
        unknown.err().and_then(|e| e.status()).map(|s| s.as_u16()),
        Some(404)
    );
}

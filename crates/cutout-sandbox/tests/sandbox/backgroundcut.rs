//! BackgroundCut: key-space storage, trimap matting, remove-bg variants, AI Cut, public URLs,
//! expiry and every documented validation.

use std::time::Duration;

use backgroundcut::types::MattingOutputType;
use bytes::Bytes;
use cutout_sandbox::{Provider, Sandbox};
use image::{DynamicImage, ImageFormat};
use serde_json::{Value, json};

use crate::common::{
    self, H, W, alpha_centre_and_corner, decode, disc_jpeg, http, json, mask_centre_and_corner,
    trimap_jpeg,
};

fn client(sandbox: &Sandbox) -> backgroundcut::Client {
    backgroundcut::Client::with_base_url(
        &sandbox.base_url(Provider::BackgroundCut),
        sandbox.key(Provider::BackgroundCut),
    )
    .expect("client builds")
}

async fn upload(sandbox: &Sandbox, key: &str, bytes: Bytes) {
    client(sandbox)
        .upload_file()
        .file_bytes(bytes, "upload.bin")
        .body_map(|form| form.key(key))
        .send()
        .await
        .expect("uploaded");
}

/// POSTs JSON to a tool with the sandbox's key.
async fn call(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!(
            "{}{path}",
            sandbox.base_url(Provider::BackgroundCut)
        ))
        .header(
            "Authorization",
            format!("Token {}", sandbox.key(Provider::BackgroundCut)),
        )
        .json(&body)
        .send()
        .await
        .expect("sent");
    json(response).await
}

async fn download(sandbox: &Sandbox, key: &str) -> Bytes {
    let (status, body) = call(
        sandbox,
        "/v3/file-ops/get-public-url/",
        json!({ "key": key }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap_or_default();
    let response = http().get(url).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("body")
}

const MATTING: &str = "/v3/tools/ai/matting/process/";

#[tokio::test]
async fn auth_is_401_for_missing_and_wrong_tokens() {
    let sandbox = Sandbox::start().await.expect("starts");
    let url = format!(
        "{}/v3/file-ops/get-public-url/",
        sandbox.base_url(Provider::BackgroundCut)
    );
    for authorization in [
        None,
        Some("Token nope"),
        Some("Bearer sandbox-backgroundcut-key"),
    ] {
        let mut request = http().post(&url).json(&json!({"key": "a.jpg"}));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let (status, body) = json(request.send().await.expect("sent")).await;
        assert_eq!(status, 401, "{authorization:?}");
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn matting_flow_and_expiry() {
    let sandbox = Sandbox::start().await.expect("starts");
    let bgcut = client(&sandbox);
    upload(&sandbox, "my-project/photo.jpg", disc_jpeg()).await;
    upload(&sandbox, "my-project/trimap.jpg", trimap_jpeg()).await;
    let matted = bgcut
        .process_matting()
        .body_map(|body| {
            body.input_key("my-project/photo.jpg")
                .trimap_key("my-project/trimap.jpg")
                .output_key("my-project/result.png")
                .output_type(Some(MattingOutputType::Rgba))
        })
        .send()
        .await
        .expect("matted")
        .into_inner();
    assert_eq!(matted.output_key, "my-project/result.png");
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 1);
    let link = bgcut
        .get_public_url()
        .body_map(|body| body.key(matted.output_key.clone()))
        .send()
        .await
        .expect("link")
        .into_inner();
    // The public link needs no key.
    let result = http()
        .get(&link.url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    let image = decode(&result);
    assert_eq!((image.width(), image.height()), (W, H));
    assert!(matches!(image, DynamicImage::ImageRgba8(_)));
    let (centre, corner) = alpha_centre_and_corner(&image);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    // Mask output: a grayscale JPEG.
    let (status, body) = call(
        &sandbox,
        MATTING,
        json!({"input_key": "my-project/photo.jpg", "trimap_key": "my-project/trimap.jpg",
               "output_key": "my-project/mask.jpg", "output_type": "mask", "output_compression": 80}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mask = download(&sandbox, "my-project/mask.jpg").await;
    assert_eq!(image::guess_format(&mask).ok(), Some(ImageFormat::Jpeg));
    let mask = decode(&mask);
    assert!(matches!(mask, DynamicImage::ImageLuma8(_)));
    let (centre, corner) = mask_centre_and_corner(&mask);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );

    // WebP output for rgba.
    let (status, _) = call(
        &sandbox,
        MATTING,
        json!({"input_key": "my-project/photo.jpg", "trimap_key": "my-project/trimap.jpg",
               "output_key": "out/result.webp"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        image::guess_format(&download(&sandbox, "out/result.webp").await).ok(),
        Some(ImageFormat::WebP)
    );

    // Two hours later every file is gone.
    sandbox.advance_clock(Duration::from_secs(2 * 3600 + 1));
    let (status, body) = call(
        &sandbox,
        MATTING,
        json!({"input_key": "my-project/photo.jpg", "trimap_key": "my-project/trimap.jpg",
               "output_key": "my-project/again.png"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(
        &sandbox,
        "/v3/file-ops/get-public-url/",
        json!({"key": "my-project/result.png"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        http().get(&link.url).send().await.expect("sent").status(),
        404
    );
}

#[tokio::test]
async fn matting_validation() {
    let sandbox = Sandbox::start().await.expect("starts");
    upload(&sandbox, "photo.jpg", disc_jpeg()).await;
    upload(&sandbox, "trimap.jpg", trimap_jpeg()).await;
    upload(&sandbox, "photo.png", common::disc_png()).await;
    upload(&sandbox, "gray.jpg", trimap_jpeg()).await;
    upload(&sandbox, "rgb-trimap.jpg", disc_jpeg()).await;
    let small = DynamicImage::ImageLuma8(image::imageops::resize(
        &common::trimap(),
        32,
        24,
        image::imageops::FilterType::Nearest,
    ));
    upload(&sandbox, "small-trimap.jpg", common::jpeg(&small)).await;

    let base =
        json!({"input_key": "photo.jpg", "trimap_key": "trimap.jpg", "output_key": "out.png"});
    let with = |changes: Value| {
        let mut body = base.clone();
        if let (Some(b), Some(c)) = (body.as_object_mut(), changes.as_object()) {
            for (k, v) in c {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        body
    };
    let cases = [
        (json!({"input_key": "photo.png"}), 400, "not a JPEG source"),
        (json!({"input_key": "gray.jpg"}), 400, "grayscale source"),
        (
            json!({"trimap_key": "rgb-trimap.jpg"}),
            400,
            "colour trimap",
        ),
        (
            json!({"trimap_key": "small-trimap.jpg"}),
            400,
            "size mismatch",
        ),
        (
            json!({"output_key": "out.jpg"}),
            400,
            "rgba into a JPEG key",
        ),
        (json!({"output_type": "mask"}), 400, "mask into a PNG key"),
        (json!({"output_type": "alpha"}), 400, "unknown output_type"),
        (json!({"output_compression": 0}), 400, "compression below 1"),
        (
            json!({"output_compression": 101}),
            400,
            "compression above 100",
        ),
        (json!({"trimap_key": null}), 400, "missing trimap_key"),
        (json!({"input_key": "nope.jpg"}), 404, "missing input"),
        (json!({"trimap_key": "nope.jpg"}), 404, "missing trimap"),
        (json!({"output_compression": 100}), 200, "valid"),
    ];
    for (changes, expected, what) in cases {
        let (status, body) = call(&sandbox, MATTING, with(changes)).await;
        assert_eq!(status, expected, "{what}: {body}");
        if status != 200 {
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {body}"
            );
        }
    }
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 1);
    let (status, _) = call(&sandbox, "/v3/file-ops/upload/", json!({})).await;
    assert_eq!(status, 400, "upload must be multipart");
}

#[tokio::test]
async fn remove_bg_variants_and_ai_cut() {
    let sandbox = Sandbox::start().await.expect("starts");
    upload(&sandbox, "in/photo.jpg", disc_jpeg()).await;
    let (status, body) = call(
        &sandbox,
        "/v3/tools/ai/remove-bg/process/",
        json!({"input_key": "in/photo.jpg", "output_variants": [
            {"output_key": "out/a.png"},
            {"output_key": "out/b.webp", "format": "webp", "autocrop": true},
            {"output_key": "out/c.jpg", "format": "jpg", "background_color": "#ffffff", "output_compression": 90},
            {"output_key": "out/d.png", "max_resolution": 768}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["output_keys"],
        json!(["out/a.png", "out/b.webp", "out/c.jpg", "out/d.png"])
    );
    let a = decode(&download(&sandbox, "out/a.png").await);
    let (centre, corner) = alpha_centre_and_corner(&a);
    assert!(centre > 200 && corner < 50);
    let b = download(&sandbox, "out/b.webp").await;
    assert_eq!(image::guess_format(&b).ok(), Some(ImageFormat::WebP));
    assert!(decode(&b).width() < W, "autocrop keeps the disc only");
    let c = decode(&download(&sandbox, "out/c.jpg").await).to_rgb8();
    assert!(
        c.get_pixel(1, 1).0.iter().all(|v| *v > 230),
        "white background"
    );
    let d = decode(&download(&sandbox, "out/d.png").await);
    assert!(u64::from(d.width()) * u64::from(d.height()) <= 768);

    for (variants, what) in [
        (json!([]), "no variants"),
        (json!([{"format": "png"}]), "variant without output_key"),
        (
            json!([{"output_key": "x.gif", "format": "gif"}]),
            "unknown format",
        ),
        (
            json!([{"output_key": "x.png", "background_color": "ultraviolet"}]),
            "bad colour",
        ),
    ] {
        let (status, body) = call(
            &sandbox,
            "/v3/tools/ai/remove-bg/process/",
            json!({"input_key": "in/photo.jpg", "output_variants": variants}),
        )
        .await;
        assert_eq!(status, 400, "{what}: {body}");
    }

    let cut = "/v3/tools/ai/ai-cut/segment/";
    let (status, body) = call(
        &sandbox,
        cut,
        json!({"input_key": "in/photo.jpg", "output_key": "out/cut.jpg",
               "foreground_points": [{"x": 32, "y": 24}], "background_points": [{"x": 2, "y": 2}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mask = decode(&download(&sandbox, "out/cut.jpg").await);
    let (centre, corner) = mask_centre_and_corner(&mask);
    assert!(
        centre > 200 && corner < 50,
        "centre {centre}, corner {corner}"
    );
    for (body, what) in [
        (
            json!({"input_key": "in/photo.jpg", "output_key": "out/cut.png", "foreground_points": [{"x": 1, "y": 1}]}),
            "PNG output key",
        ),
        (
            json!({"input_key": "in/photo.png", "output_key": "out/cut.jpg", "foreground_points": [{"x": 1, "y": 1}]}),
            "PNG input key",
        ),
        (
            json!({"input_key": "in/photo.jpg", "output_key": "out/cut.jpg", "foreground_points": []}),
            "no foreground point",
        ),
        (
            json!({"input_key": "in/photo.jpg", "output_key": "out/cut.jpg", "foreground_points": [{"x": 500, "y": 1}]}),
            "point outside",
        ),
        (
            json!({"input_key": "in/photo.jpg", "output_key": "out/cut.jpg", "foreground_points": [{"x": "a"}]}),
            "malformed point",
        ),
    ] {
        let (status, answer) = call(&sandbox, cut, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
    }
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 2);
}

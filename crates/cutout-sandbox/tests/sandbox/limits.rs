//! Real photos: uploads up to the cap are accepted (axum's 2 MiB default does not apply) and
//! 413 above it; the pixel budget answered as each provider documents; BackgroundCut's 504
//! after its processing limit, on the sandbox clock.

use std::time::Duration;

use bytes::Bytes;
use cutout_sandbox::{Provider, Sandbox};
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{H, W, disc_jpeg, disc_png, encode, http, json};

/// A PNG of seeded noise: it does not compress, so its size is about 3 bytes per pixel.
fn noisy_png(width: u32, height: u32) -> Bytes {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let image = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    encode(&DynamicImage::ImageRgb8(image), ImageFormat::Png)
}

async fn topaz_submit(sandbox: &Sandbox, bytes: Bytes) -> (u16, Value) {
    let form = Form::new().part("image", Part::stream(bytes).file_name("photo.png"));
    let response = http()
        .post(format!(
            "{}/matting/async",
            sandbox.base_url(Provider::Topaz)
        ))
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .multipart(form)
        .send()
        .await
        .expect("sent");
    json(response).await
}

async fn backgroundcut(sandbox: &Sandbox, path: &str, body: Value) -> (u16, Value) {
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

async fn backgroundcut_upload(sandbox: &Sandbox, key: &str, bytes: Bytes) -> (u16, Value) {
    let form = Form::new()
        .part("file", Part::stream(bytes).file_name("upload.bin"))
        .text("key", key.to_owned());
    let response = http()
        .post(format!(
            "{}/v3/file-ops/upload/",
            sandbox.base_url(Provider::BackgroundCut)
        ))
        .header(
            "Authorization",
            format!("Token {}", sandbox.key(Provider::BackgroundCut)),
        )
        .multipart(form)
        .send()
        .await
        .expect("sent");
    json(response).await
}

#[tokio::test]
async fn uploads_over_two_mebibytes_are_accepted_up_to_the_cap_and_413_above_it() {
    let photo = noisy_png(1500, 1400);
    assert!(photo.len() > 6_000_000, "{} bytes", photo.len());
    let sandbox = Sandbox::start().await.expect("starts");
    let (status, body) = topaz_submit(&sandbox, photo.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = backgroundcut_upload(&sandbox, "big.png", photo.clone()).await;
    assert_eq!(status, 200, "{body}");

    let small = Sandbox::builder()
        .max_upload_bytes(1 << 20)
        .start()
        .await
        .expect("starts");
    let (status, body) = topaz_submit(&small, photo.clone()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], 413);
    let (status, body) = backgroundcut_upload(&small, "big.png", photo).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["message"].is_string());
    assert_eq!(small.submissions(Provider::Topaz), 0);
}

#[tokio::test]
async fn the_pixel_budget_is_answered_as_each_provider_documents() {
    let budget = u64::from(W * H) - 1;
    let sandbox = Sandbox::builder()
        .max_pixels(budget)
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    let credits = sandbox.credits(Provider::Topaz);

    let (status, body) = topaz_submit(&sandbox, disc_png()).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap_or_default().contains("MP"),
        "{body}"
    );

    let (status, _) = backgroundcut_upload(&sandbox, "in/photo.jpg", disc_jpeg()).await;
    assert_eq!(status, 200);
    let (status, body) = backgroundcut(
        &sandbox,
        "/v3/tools/ai/remove-bg/process/",
        json!({"input_key": "in/photo.jpg", "output_variants": [{"output_key": "out/a.png"}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let image = sandbox.host_file("photo.png", disc_png()).await;
    let response = http()
        .post(format!(
            "{}/image_editing/removebg_mask",
            sandbox.base_url(Provider::ModelsLab)
        ))
        .json(&json!({"key": sandbox.key(Provider::ModelsLab), "image": image}))
        .send()
        .await
        .expect("sent");
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("error")),
        "{body}"
    );

    let response = http()
        .post(format!(
            "{}/v2/artworks/remove-background",
            sandbox.base_url(Provider::Tengr)
        ))
        .header(
            "Authorization",
            format!("Bearer {}", sandbox.key(Provider::Tengr)),
        )
        .json(&json!({"imageUrl": image}))
        .send()
        .await
        .expect("sent");
    let (status, body) = json(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["statusCode"], 400);

    for provider in Provider::ALL.iter().copied() {
        assert_eq!(sandbox.submissions(provider), 0, "{provider}");
        assert_eq!(sandbox.credits(provider), credits, "{provider} charged");
    }

    // One pixel more of budget and the same image goes through.
    let roomy = Sandbox::builder()
        .max_pixels(budget + 1)
        .start()
        .await
        .expect("starts");
    assert_eq!(topaz_submit(&roomy, disc_png()).await.0, 200);
}

#[tokio::test]
async fn backgroundcut_answers_504_after_its_processing_limit_on_the_sandbox_clock() {
    let sandbox = Sandbox::builder()
        .backgroundcut_per_megapixel(Duration::from_secs(24 * 3600))
        .start()
        .await
        .expect("starts");
    let credits = sandbox.credits(Provider::BackgroundCut);
    let (status, _) = backgroundcut_upload(&sandbox, "in/photo.jpg", disc_jpeg()).await;
    assert_eq!(status, 200);
    let request = backgroundcut(
        &sandbox,
        "/v3/tools/ai/remove-bg/process/",
        json!({"input_key": "in/photo.jpg", "output_variants": [{"output_key": "out/a.png"}]}),
    );
    let clock = async {
        // Still waiting for the limit: moving the clock 29 s is not enough, 30 s is.
        tokio::time::sleep(Duration::from_millis(200)).await;
        sandbox.advance_clock(Duration::from_secs(29));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sandbox.submissions(Provider::BackgroundCut), 0);
        sandbox.advance_clock(Duration::from_secs(1));
    };
    let started = std::time::Instant::now();
    let ((status, body), ()) = tokio::join!(request, clock);
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("30 s"),
        "{body}"
    );
    assert_eq!(
        sandbox.credits(Provider::BackgroundCut),
        credits,
        "not charged"
    );
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 0);

    // At the default rate the same small image is done at once.
    let quick = Sandbox::start().await.expect("starts");
    backgroundcut_upload(&quick, "in/photo.jpg", disc_jpeg()).await;
    let (status, body) = backgroundcut(
        &quick,
        "/v3/tools/ai/remove-bg/process/",
        json!({"input_key": "in/photo.jpg", "output_variants": [{"output_key": "out/a.png"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

//! The typed httpmock helpers each provider crate generates behind its `mock` feature: a user's
//! unit test mocks an operation with typed values and the hand-written layer runs against it.

use cutout_tests::fixture;
use httpmock::MockServer;

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encode png");
    bytes.into_inner()
}

#[tokio::test]
async fn topaz_multipart_and_json_operations_can_be_mocked() {
    use topaz_image::mock::MockServerExt;
    use topaz_image::{Client, ImageSource, types};

    let server = MockServer::start_async().await;
    let accepted: types::AsyncResponse = serde_json::from_value(serde_json::json!({
        "process_id": "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11",
        "source_id": "7e1a0c2e-9d4b-4f6a-8a39-0d6f3c1b2a77",
        "eta": 1_900_000_000u64
    }))
    .unwrap();
    let submit = server.post_matting(|_, then| {
        then.ok(&accepted);
    });
    let status: types::StatusResponse = serde_json::from_value(serde_json::json!({
        "process_id": "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11", "filename": "a.png",
        "input_format": "png", "output_format": "png", "input_height": 4, "input_width": 6,
        "output_height": 4, "output_width": 6, "category": "Matting", "model_type": "matting",
        "model": "RemoveBG", "crop_to_fill": false, "status": "Processing", "progress": 40,
        "eta": 1_900_000_000u64, "creation_time": 1_899_999_990u64,
        "modification_time": 1_899_999_995u64, "credits": 1
    }))
    .unwrap();
    let poll = server.get_status(|when, then| {
        when.process_id("4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11");
        then.ok(&status);
    });

    let client = Client::with_base_url(&server.base_url(), "mock-key").unwrap();
    let job = client
        .matting(ImageSource::bytes(png(6, 4), "a.png"))
        .submit()
        .await
        .unwrap();
    assert_eq!(job.process_id(), "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11");
    let seen = job.status().await.unwrap();
    assert_eq!(seen.progress, Some(40));
    submit.assert_async().await;
    poll.assert_async().await;
}

#[tokio::test]
async fn backgroundcut_uploads_can_be_mocked() {
    use backgroundcut::mock::MockServerExt;
    use backgroundcut::{Client, ImageSource, types};

    let server = MockServer::start_async().await;
    let upload = server.upload_file(|_, then| {
        let answer: types::UploadResponse = types::UploadResponse::builder()
            .success(Some(true))
            .try_into()
            .unwrap();
        then.ok(&answer);
    });
    let client = Client::with_base_url(&server.base_url(), "mock-key").unwrap();
    client
        .upload(ImageSource::bytes(png(2, 2), "a.png"), "project/a.png")
        .await
        .unwrap();
    upload.assert_async().await;
}

#[tokio::test]
async fn modelslab_fetch_can_be_mocked() {
    use modelslab::mock::MockServerExt;
    use modelslab::{Client, MaskState, types};

    let server = MockServer::start_async().await;
    let done: types::FetchResponse =
        serde_json::from_value(fixture("modelslab/removebg_mask.success.documented.json")).unwrap();
    let fetch = server.fetch_result(|when, then| {
        when.id(42);
        then.ok(&done);
    });
    let client = Client::with_base_url(&server.base_url(), "mock-key").unwrap();
    let state = client.fetch(42).await.unwrap();
    assert!(matches!(state, MaskState::Done(_)), "{state:?}");
    fetch.assert_async().await;
}

#[tokio::test]
async fn tengr_artworks_can_be_mocked() {
    use artworks_seg::Client;
    use artworks_seg::mock::MockServerExt;

    let server = MockServer::start_async().await;
    let artwork: artworks_seg::types::Artwork =
        serde_json::from_value(fixture("tengr/artwork.segmentation.documented.json")).unwrap();
    let get = server.get_artwork(|when, then| {
        when.id("3fa85f64-5717-4562-b3fc-2c963f66afa6");
        then.ok(&artwork);
    });
    let client = Client::with_base_url(&server.base_url(), "mock-key").unwrap();
    let job = client
        .artwork("3fa85f64-5717-4562-b3fc-2c963f66afa6")
        .await
        .unwrap();
    assert_eq!(job.id(), "3fa85f64-5717-4562-b3fc-2c963f66afa6");
    get.assert_async().await;
}

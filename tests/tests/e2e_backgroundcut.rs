//! End to end: the real `backgroundcut` client and its hand-written layer against the in-process
//! BackgroundCut simulator of `cutout-sandbox`: uploads, trimap matting, background removal into
//! variants, AI Cut, public URLs and the 2-hour expiry of the key space.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backgroundcut::storage::unique_key;
use backgroundcut::trimap::{encode_trimap_jpeg, trimap_file_from_mask, trimap_from_mask};
use backgroundcut::types::{self, MattingOutputType};
use backgroundcut::{
    BackgroundRemover, Client, CutoutError, ImageSource, MattingFormat, Progress, RemoveOptions,
    Variant,
};
use cutout_tests::sandbox::{
    self as sb, HEIGHT, Provider, WIDTH, assert_cutout, assert_flattened, assert_mask,
    expect_invalid, expect_unsupported, is_jpeg, is_png, is_webp, operations, requests_to,
};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// The disc's trimap, made from its mask by the crate's own helper, as a grayscale JPEG.
fn trimap_jpeg() -> Vec<u8> {
    let trimap = trimap_from_mask(&sb::disc_mask(WIDTH, HEIGHT), 4);
    encode_trimap_jpeg(&trimap, 95).expect("trimap encodes")
}

#[tokio::test]
async fn uploads_and_public_urls_round_trip() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let jpeg = sb::disc_jpeg(WIDTH, HEIGHT);
    let file = write(&dir, "disc.jpg", &jpeg);

    // A file streamed from disk, bytes, and a URL (downloaded, then uploaded: BackgroundCut
    // reads only its own store).
    let hosted = sandbox.host_file("disc.jpg", jpeg.clone().into()).await;
    let sources = [
        ImageSource::path(&file),
        ImageSource::bytes(jpeg.clone(), "disc.jpg"),
        ImageSource::url(hosted),
    ];
    for (i, source) in sources.into_iter().enumerate() {
        let key = format!("e2e/{i}/disc.jpg");
        client.upload(source, &key).await.unwrap();
        let link = client.public_url(&key).await.unwrap();
        assert!(link.contains("signature="), "{link}");
        let (bytes, content_type) = client
            .context()
            .download_bytes(&link, 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), jpeg.as_slice(), "upload {i} round-trips");
        assert_eq!(content_type.as_deref(), Some("image/jpeg"));
    }
    // The key is never sent to the file host.
    assert_eq!(requests_to(&sandbox, None).len(), 4);
    assert_eq!(
        sandbox.submissions(Provider::BackgroundCut),
        0,
        "storage is free"
    );
}

#[tokio::test]
async fn matting_with_a_real_trimap_gives_rgba_webp_and_mask_outputs() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let image = write(&dir, "disc.jpg", &sb::disc_jpeg(WIDTH, HEIGHT));
    let trimap = write(&dir, "disc.trimap.jpg", &trimap_jpeg());

    // RGBA as PNG (the default), with progress.
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let record = events.clone();
    let rgba = client
        .matting(image.as_path(), trimap.as_path())
        .key_prefix("e2e/")
        .on_progress(move |event| record.lock().unwrap().push(event.clone()))
        .run()
        .await
        .unwrap();
    assert!(rgba.output_key.starts_with("e2e/matte-") && rgba.output_key.ends_with(".png"));
    assert!(is_png(&rgba.bytes));
    assert_eq!(rgba.content_type.as_deref(), Some("image/png"));
    assert_cutout(&rgba.bytes, WIDTH, HEIGHT);
    let events = events.lock().unwrap().clone();
    let total =
        std::fs::metadata(&image).unwrap().len() + std::fs::metadata(&trimap).unwrap().len();
    assert!(
        events.contains(&Progress::Uploading { sent: total, total }),
        "both uploads counted together: {events:?}"
    );
    assert!(events.contains(&Progress::Submitted {
        job_id: rgba.output_key.clone()
    }));
    assert_eq!(events.last(), Some(&Progress::Downloading));

    // RGBA as WebP under a key of our own, inputs given as bytes.
    let webp = client
        .matting(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            ImageSource::bytes(trimap_jpeg(), "trimap.jpg"),
        )
        .output_format(MattingFormat::Webp)
        .output_compression(90)
        .output_key("e2e/result.webp")
        .run()
        .await
        .unwrap();
    assert_eq!(webp.output_key, "e2e/result.webp");
    assert!(is_webp(&webp.bytes));
    assert_cutout(&webp.bytes, WIDTH, HEIGHT);

    // The matte, a grayscale JPEG, streamed to a file; the inputs as URLs.
    let image_url = sandbox
        .host_file("m/disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    let trimap_url = sandbox
        .host_file("m/trimap.jpg", trimap_jpeg().into())
        .await;
    let path = dir.path().join("matte.jpg");
    let saved = client
        .matting(ImageSource::url(image_url), ImageSource::url(trimap_url))
        .output_type(MattingOutputType::Mask)
        .run_to(&path, false)
        .await
        .unwrap();
    assert_eq!(saved.file.path, path);
    let matte = std::fs::read(&path).unwrap();
    assert!(is_jpeg(&matte));
    assert_mask(&matte, WIDTH, HEIGHT);

    // The trimap helper that works from file to file makes an equally good trimap.
    let mask_png = write(
        &dir,
        "mask.png",
        &sb::encode(
            &image::DynamicImage::ImageLuma8(sb::disc_mask(WIDTH, HEIGHT)),
            image::ImageFormat::Png,
        ),
    );
    let from_file = dir.path().join("from-file.trimap.jpg");
    trimap_file_from_mask(&mask_png, 4, &from_file, false).unwrap();
    let again = client
        .matting(image.as_path(), from_file.as_path())
        .run()
        .await
        .unwrap();
    assert_cutout(&again.bytes, WIDTH, HEIGHT);

    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 4);
    assert_eq!(sandbox.credits(Provider::BackgroundCut), 1000 - 4);
}

#[tokio::test]
async fn remove_bg_makes_every_variant() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let outputs = client
        .remove_bg(ImageSource::bytes(sb::disc_png(WIDTH, HEIGHT), "disc.png"))
        .variant(Variant::png().output_key("e2e/variants/cutout.png"))
        .variant(Variant::webp())
        .variant(Variant::jpg())
        .variant(
            Variant::jpg()
                .background_color("#00ff00")
                .output_compression(90),
        )
        .variant(Variant::png().autocrop(true))
        .variant(Variant::png().max_resolution(u64::from(WIDTH * HEIGHT / 4)))
        .variant(Variant::png().quality("high"))
        .run()
        .await
        .unwrap();
    assert_eq!(outputs.len(), 7);
    assert_eq!(outputs[0].output_key, "e2e/variants/cutout.png");
    assert!(is_png(&outputs[0].bytes));
    assert_cutout(&outputs[0].bytes, WIDTH, HEIGHT);
    assert!(is_webp(&outputs[1].bytes));
    assert_cutout(&outputs[1].bytes, WIDTH, HEIGHT);
    // JPEG has no transparency: white unless a colour is given.
    assert!(is_jpeg(&outputs[2].bytes));
    assert_flattened(&outputs[2].bytes, WIDTH, HEIGHT, [255, 255, 255]);
    assert_flattened(&outputs[3].bytes, WIDTH, HEIGHT, [0, 255, 0]);
    // Cropped to the disc: smaller, still the opaque disc in the middle.
    let cropped = image::load_from_memory(&outputs[4].bytes)
        .unwrap()
        .to_rgba8();
    let (w, h) = cropped.dimensions();
    assert!(w < WIDTH && h < HEIGHT && w.abs_diff(h) <= 2, "{w}×{h}");
    assert!(cropped.get_pixel(w / 2, h / 2).0[3] >= 200);
    // Scaled down to at most a quarter of the pixels, keeping the aspect ratio.
    let small = image::load_from_memory(&outputs[5].bytes)
        .unwrap()
        .to_rgba8();
    let (w, h) = small.dimensions();
    assert!(w * h <= WIDTH * HEIGHT / 4, "{w}×{h}");
    assert!(
        (f64::from(w) / f64::from(h) - 4.0 / 3.0).abs() < 0.1,
        "{w}×{h}"
    );
    assert_cutout(&outputs[6].bytes, WIDTH, HEIGHT);

    // One paid call, one credit per variant.
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 1);
    assert_eq!(sandbox.credits(Provider::BackgroundCut), 1000 - 7);
}

#[tokio::test]
async fn ai_cut_segments_from_points() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let image = write(&dir, "disc.jpg", &sb::disc_jpeg(WIDTH, HEIGHT));
    let (cx, cy) = (f64::from(WIDTH) / 2.0, f64::from(HEIGHT) / 2.0);

    let mask = client
        .ai_cut(image.as_path())
        .foreground(cx, cy)
        .background(3.0, 3.0)
        .output_key("e2e/ai-cut/mask.jpg")
        .run()
        .await
        .unwrap();
    assert_eq!(mask.output_key, "e2e/ai-cut/mask.jpg");
    assert!(is_jpeg(&mask.bytes));
    assert_mask(&mask.bytes, WIDTH, HEIGHT);

    // Streamed to a file, with a single click.
    let path = dir.path().join("mask.jpg");
    client
        .ai_cut(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .foreground(cx + 5.0, cy - 5.0)
        .run_to(&path, false)
        .await
        .unwrap();
    assert_mask(&std::fs::read(&path).unwrap(), WIDTH, HEIGHT);
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 2);
}

#[tokio::test]
async fn files_expire_two_hours_after_upload() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let key = unique_key("e2e/", "jpg");
    client
        .upload(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            &key,
        )
        .await
        .unwrap();
    let link = client.public_url(&key).await.unwrap();

    // Public links last 15 minutes; the file itself stays, so a fresh link works.
    sandbox.advance_clock(Duration::from_secs(16 * 60));
    let error = client
        .context()
        .download_bytes(&link, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(403), "{error}");
    let fresh = client.public_url(&key).await.unwrap();
    client
        .context()
        .download_bytes(&fresh, 1 << 20)
        .await
        .unwrap();

    // Two hours after the upload the file is gone: 404, with BackgroundCut's rule in the message.
    sandbox.advance_clock(Duration::from_secs(2 * 3600 - 16 * 60 + 1));
    let error = client.public_url(&key).await.unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&key), "{message}");
    assert!(
        message.contains("2 hours after upload") && message.contains("upload the inputs again"),
        "{message}"
    );

    // A tool run on the expired input through the generated builder: the same 404.
    let request: types::MattingRequest = types::MattingRequest::builder()
        .input_key(key.clone())
        .trimap_key(key.clone())
        .output_key("e2e/never.png".to_owned())
        .output_type(Some(MattingOutputType::Rgba))
        .output_compression(std::num::NonZeroU64::new(95).unwrap())
        .try_into()
        .unwrap();
    let error = client
        .context()
        .call(
            "process_matting",
            client.process_matting().body(request).send(),
        )
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(error.to_string().contains("2 hours"), "{error}");
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 0);
}

#[tokio::test]
async fn background_remover_makes_cutouts_and_refuses_masks() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let remover: &dyn BackgroundRemover = &client;
    assert_eq!(remover.provider_name(), "backgroundcut");
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let record = events.clone();
    let cutout = remover
        .remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default().on_progress(move |e| record.lock().unwrap().push(e.clone())),
        )
        .await
        .unwrap();
    assert_eq!((cutout.width, cutout.height), (WIDTH, HEIGHT));
    assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    let events = events.lock().unwrap().clone();
    assert!(
        matches!(events.first(), Some(Progress::Uploading { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::Submitted { .. }))
    );
    assert_eq!(events.last(), Some(&Progress::Downloading));

    let url = sandbox
        .host_file("disc.jpg", sb::disc_jpeg(WIDTH, HEIGHT).into())
        .await;
    let from_url = remover
        .remove_background(ImageSource::url(url), RemoveOptions::default())
        .await
        .unwrap();
    assert_cutout(&from_url.bytes, WIDTH, HEIGHT);

    expect_unsupported(&sandbox, "Client::matting", || {
        remover.remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::mask(),
        )
    })
    .await;
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 2);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_and_an_empty_account_402() {
    let sandbox = sb::start_sandbox().await;
    let wrong: Client = sb::with_wrong_key(&sandbox, Provider::BackgroundCut);
    let error = wrong
        .remove_background(
            ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"),
            RemoveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(error.is_auth(), "{error:?}");
    assert_eq!(
        error.status(),
        Some(401),
        "BackgroundCut answers 401 for a wrong key"
    );
    assert!(
        error.to_string().contains("BACKGROUNDCUT_API_KEY"),
        "{error}"
    );

    let client = sb::backgroundcut(&sandbox);
    sandbox.set_credits(Provider::BackgroundCut, 0);
    let error = client
        .remove_bg(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .run()
        .await
        .unwrap_err();
    assert!(error.is_insufficient_credits(), "{error:?}");
    let error = client
        .ai_cut(ImageSource::bytes(sb::disc_jpeg(WIDTH, HEIGHT), "disc.jpg"))
        .foreground(48.0, 36.0)
        .run()
        .await
        .unwrap_err();
    assert!(error.is_insufficient_credits(), "{error:?}");
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 0);
}

#[tokio::test]
async fn every_generated_operation_reaches_the_sandbox() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let jpeg = sb::disc_jpeg(WIDTH, HEIGHT);
    // Through the generated builders and `Context::call`: upload both inputs, run matting, mint
    // a link.
    for (key, bytes) in [
        ("raw/photo.jpg", jpeg.clone()),
        ("raw/trimap.jpg", trimap_jpeg()),
    ] {
        let answer = client
            .context()
            .call(
                "upload_file",
                client
                    .upload_file()
                    .file_bytes(bytes, "upload.jpg")
                    .body_map(|form| form.key(key))
                    .send(),
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.success, Some(true));
    }
    let matted = client
        .context()
        .call(
            "process_matting",
            client
                .process_matting()
                .body_map(|body| {
                    body.input_key("raw/photo.jpg")
                        .trimap_key("raw/trimap.jpg")
                        .output_key("raw/result.png")
                        .output_type(MattingOutputType::Rgba)
                })
                .send(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(matted.output_key, "raw/result.png");
    let link = client
        .context()
        .call(
            "get_public_url",
            client
                .get_public_url()
                .body_map(|body| body.key(matted.output_key))
                .send(),
        )
        .await
        .unwrap()
        .into_inner()
        .url;
    let (bytes, _) = client
        .context()
        .download_bytes(&link, 1 << 20)
        .await
        .unwrap();
    assert_cutout(&bytes, WIDTH, HEIGHT);
    // The other two tools, through the layer.
    client
        .remove_bg(ImageSource::bytes(jpeg.clone(), "disc.jpg"))
        .run()
        .await
        .unwrap();
    client
        .ai_cut(ImageSource::bytes(jpeg, "disc.jpg"))
        .foreground(48.0, 36.0)
        .run()
        .await
        .unwrap();

    let seen = operations(&requests_to(&sandbox, Some(Provider::BackgroundCut)));
    let expected = [
        "POST /v3/file-ops/upload/",
        "POST /v3/file-ops/get-public-url/",
        "POST /v3/tools/ai/matting/process/",
        "POST /v3/tools/ai/remove-bg/process/",
        "POST /v3/tools/ai/ai-cut/segment/",
    ];
    assert_eq!(seen, expected.iter().map(|s| s.to_string()).collect());
    assert!(sandbox.requests().iter().all(|r| r.status == 200));
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 3);
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let sandbox = sb::start_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let jpeg = write(&dir, "disc.jpg", &sb::disc_jpeg(WIDTH, HEIGHT));
    let trimap = write(&dir, "trimap.jpg", &trimap_jpeg());
    let png = write(&dir, "disc.png", &sb::disc_png(WIDTH, HEIGHT));
    let gray = write(&dir, "gray.jpg", &sb::disc_gray_jpeg(WIDTH, HEIGHT));
    let small_trimap = write(
        &dir,
        "small-trimap.jpg",
        &encode_trimap_jpeg(&trimap_from_mask(&sb::disc_mask(WIDTH, HEIGHT - 1), 4), 95).unwrap(),
    );
    let text = write(&dir, "notes.jpg", b"not an image at all");
    let existing = write(&dir, "taken.png", b"keep");
    let matting = || client.matting(jpeg.as_path(), trimap.as_path());

    // Matting.
    for quality in [0, 101] {
        expect_invalid(&sandbox, "output_compression", "outside 1..=100", || {
            matting().output_compression(quality).run()
        })
        .await;
    }
    expect_invalid(&sandbox, "output_format", "rgba output only", || {
        matting()
            .output_type(MattingOutputType::Mask)
            .output_format(MattingFormat::Png)
            .run()
    })
    .await;
    expect_invalid(
        &sandbox,
        "output_key",
        "must be written to a .png or .webp key",
        || matting().output_key("e2e/out.jpg").run(),
    )
    .await;
    expect_invalid(
        &sandbox,
        "output_key",
        "must be written to a .jpg or .jpeg key",
        || {
            matting()
                .output_type(MattingOutputType::Mask)
                .output_key("e2e/out.png")
                .run()
        },
    )
    .await;
    expect_invalid(&sandbox, "output_key", "has no extension", || {
        matting().output_key("e2e/out").run()
    })
    .await;
    expect_invalid(&sandbox, "output_key", "empty", || {
        matting().output_key("  ").run()
    })
    .await;
    expect_invalid(&sandbox, "output_key", "make them agree", || {
        matting()
            .output_format(MattingFormat::Webp)
            .output_key("e2e/out.png")
            .run()
    })
    .await;
    expect_invalid(&sandbox, "image", "needs a JPEG image", || {
        client.matting(png.as_path(), trimap.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "convert it to RGB", || {
        client.matting(gray.as_path(), trimap.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "is not a JPEG, PNG", || {
        client.matting(text.as_path(), trimap.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "trimap", "needs a JPEG trimap", || {
        client.matting(jpeg.as_path(), png.as_path()).run()
    })
    .await;
    expect_invalid(&sandbox, "trimap", "grayscale (single-channel)", || {
        client.matting(jpeg.as_path(), jpeg.as_path()).run()
    })
    .await;
    expect_invalid(
        &sandbox,
        "trimap",
        &format!(
            "trimap is {WIDTH}×{} but the image is {WIDTH}×{HEIGHT}: make the trimap exactly the \
             image's size",
            HEIGHT - 1
        ),
        || client.matting(jpeg.as_path(), small_trimap.as_path()).run(),
    )
    .await;
    expect_invalid(&sandbox, "image", "not an http(s) URL", || {
        client
            .matting(
                ImageSource::url("ftp://files.example.com/a.jpg"),
                trimap.as_path(),
            )
            .run()
    })
    .await;
    expect_invalid(&sandbox, "destination", "already exists", || {
        matting().run_to(&existing, false)
    })
    .await;

    // Background removal.
    let remove_bg = || client.remove_bg(jpeg.as_path());
    expect_invalid(
        &sandbox,
        "output_variants[1].output_compression",
        "outside 1..=100",
        || {
            remove_bg()
                .variant(Variant::png())
                .variant(Variant::jpg().output_compression(0))
                .run()
        },
    )
    .await;
    expect_invalid(
        &sandbox,
        "output_variants[0].max_resolution",
        "at least 1",
        || remove_bg().variant(Variant::webp().max_resolution(0)).run(),
    )
    .await;
    expect_invalid(&sandbox, "output_variants[0].output_key", "empty", || {
        remove_bg().variant(Variant::png().output_key("")).run()
    })
    .await;
    expect_invalid(&sandbox, "image", "is not a JPEG, PNG", || {
        client
            .remove_bg(ImageSource::bytes(&b"garbage"[..], "x.png"))
            .run()
    })
    .await;

    // AI Cut.
    expect_invalid(
        &sandbox,
        "foreground",
        "at least one foreground point",
        || client.ai_cut(jpeg.as_path()).background(1.0, 1.0).run(),
    )
    .await;
    expect_invalid(&sandbox, "output_key", "must end in .jpg or .jpeg", || {
        client
            .ai_cut(jpeg.as_path())
            .foreground(10.0, 10.0)
            .output_key("e2e/mask.png")
            .run()
    })
    .await;
    expect_invalid(&sandbox, "image", "needs a JPEG image", || {
        client.ai_cut(png.as_path()).foreground(10.0, 10.0).run()
    })
    .await;
    expect_invalid(
        &sandbox,
        "foreground[1]",
        "outside the 96×72 image",
        || {
            client
                .ai_cut(jpeg.as_path())
                .foreground(10.0, 10.0)
                .foreground(96.0, 10.0)
                .run()
        },
    )
    .await;
    expect_invalid(&sandbox, "background[0]", "not a position", || {
        client
            .ai_cut(jpeg.as_path())
            .foreground(10.0, 10.0)
            .background(f64::NAN, 3.0)
            .run()
    })
    .await;
    expect_invalid(&sandbox, "background[0]", "outside", || {
        client
            .ai_cut(jpeg.as_path())
            .foreground(10.0, 10.0)
            .background(-1.0, 3.0)
            .run()
    })
    .await;
    expect_invalid(&sandbox, "destination", "already exists", || {
        client
            .ai_cut(jpeg.as_path())
            .foreground(10.0, 10.0)
            .run_to(&existing, false)
    })
    .await;

    // Storage.
    expect_invalid(&sandbox, "key", "empty", || {
        client.upload(jpeg.as_path(), " ")
    })
    .await;
    expect_invalid(&sandbox, "key", "empty", || client.public_url("")).await;

    // The provider-neutral path.
    let remover: &dyn BackgroundRemover = &client;
    expect_invalid(&sandbox, "image", "is not a JPEG, PNG", || {
        remover.remove_background(ImageSource::path(&text), RemoveOptions::default())
    })
    .await;
    let error = remover
        .remove_background(ImageSource::path(&text), RemoveOptions::mask())
        .await
        .unwrap_err();
    assert!(
        matches!(error, CutoutError::Unsupported { .. }),
        "{error:?}"
    );
    assert!(sandbox.requests().is_empty());
    assert_eq!(sandbox.submissions(Provider::BackgroundCut), 0);
}

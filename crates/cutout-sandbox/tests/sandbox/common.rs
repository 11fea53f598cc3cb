//! Test images, HTTP helpers and small assertions shared by the test modules.

use std::future::Future;
use std::io::Cursor;
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};

pub const W: u32 = 64;
pub const H: u32 = 48;
/// Radius of the disc in the test images.
pub const R: f32 = 16.0;

fn distance_to_centre(x: u32, y: u32) -> f32 {
    ((x as f32 - W as f32 / 2.0).powi(2) + (y as f32 - H as f32 / 2.0).powi(2)).sqrt()
}

/// A red disc on a flat green background.
pub fn disc() -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| {
        if distance_to_centre(x, y) < R {
            Rgb([220, 30, 40])
        } else {
            Rgb([30, 160, 60])
        }
    })
}

/// A trimap of the disc: white inside, black outside, gray on a band around its edge.
pub fn trimap() -> GrayImage {
    GrayImage::from_fn(W, H, |x, y| {
        let d = distance_to_centre(x, y);
        Luma([if d < R - 4.0 {
            255
        } else if d > R + 4.0 {
            0
        } else {
            128
        }])
    })
}

pub fn encode(image: &DynamicImage, format: ImageFormat) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encodes");
    Bytes::from(out.into_inner())
}

pub fn jpeg(image: &DynamicImage) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    image
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 95))
        .expect("encodes");
    Bytes::from(out.into_inner())
}

pub fn disc_png() -> Bytes {
    encode(&DynamicImage::ImageRgb8(disc()), ImageFormat::Png)
}

pub fn disc_jpeg() -> Bytes {
    jpeg(&DynamicImage::ImageRgb8(disc()))
}

pub fn trimap_jpeg() -> Bytes {
    jpeg(&DynamicImage::ImageLuma8(trimap()))
}

pub fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("the result is an image")
}

/// Alpha of a cut-out at the disc centre and at a corner.
pub fn alpha_centre_and_corner(image: &DynamicImage) -> (u8, u8) {
    let rgba = image.to_rgba8();
    (rgba.get_pixel(W / 2, H / 2).0[3], rgba.get_pixel(1, 1).0[3])
}

/// Gray level of a mask at the disc centre and at a corner (a WebP mask decodes as colour).
pub fn mask_centre_and_corner(image: &DynamicImage) -> (u8, u8) {
    let gray = image.to_luma8();
    (gray.get_pixel(W / 2, H / 2).0[0], gray.get_pixel(1, 1).0[0])
}

thread_local! {
    /// One client per test (each test has its own thread and runtime): building a client is
    /// slow (TLS roots), and its pooled connections must not outlive the test's runtime.
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds");
}

/// The test's HTTP client; it never goes through a proxy from the environment.
pub fn http() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

/// Polls `check` until it returns `Some`, for at most `timeout` (real time).
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Status and JSON body of a response.
pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

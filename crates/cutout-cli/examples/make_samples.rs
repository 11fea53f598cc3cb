//! Draws the sample images of `crates/cutout-cli/samples/`, deterministically:
//!
//! - `subject.jpg`: a 320×240 RGB JPEG of a shaded red apple with a stem and a leaf on a plain,
//!   very slightly graded background (the sandbox's background removal keys on the border
//!   colour, and BackgroundCut matting needs an RGB JPEG);
//! - `subject-mask.png`: its binary mask (white = apple, stem and leaf);
//! - `subject-trimap.jpg`: the trimap made from that mask with a 3 px band (grayscale JPEG, as
//!   `cutout matte --trimap` needs it).
//!
//! Regenerate with `cargo run -p cutout-cli --example make_samples`.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, Luma, Rgb, RgbImage};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// Sub-samples per pixel side, for smooth edges.
const SAMPLES: u32 = 4;

/// What covers a point of the picture.
enum Surface {
    Background,
    Subject([f32; 3]),
}

fn background(y: f32) -> [f32; 3] {
    // A gentle top-to-bottom grade of ±3 levels: still one colour for the sandbox.
    let t = y / HEIGHT as f32 - 0.5;
    [236.0 - 6.0 * t, 232.0 - 6.0 * t, 224.0 - 6.0 * t]
}

fn in_circle(x: f32, y: f32, cx: f32, cy: f32, r: f32) -> bool {
    (x - cx).powi(2) + (y - cy).powi(2) <= r * r
}

/// The apple, its stem and its leaf; the leaf is drawn over the stem, the stem over the body.
fn surface(x: f32, y: f32) -> Surface {
    // Leaf: an ellipse tilted up to the right.
    let (lx, ly) = (x - 192.0, y - 50.0);
    let angle = -0.45f32;
    let (u, v) = (
        lx * angle.cos() + ly * angle.sin(),
        -lx * angle.sin() + ly * angle.cos(),
    );
    if (u / 24.0).powi(2) + (v / 10.0).powi(2) <= 1.0 {
        let vein = if v.abs() < 1.2 && u.abs() < 20.0 {
            0.85
        } else {
            1.0
        };
        return Surface::Subject([76.0 * vein, 152.0 * vein, 58.0 * vein]);
    }
    // Stem: a slanted bar from (158, 72) up to (166, 38), 7 px wide.
    let (ax, ay, bx, by) = (158.0f32, 72.0f32, 166.0f32, 38.0f32);
    let (dx, dy) = (bx - ax, by - ay);
    let t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    let (px, py) = (ax + t * dx, ay + t * dy);
    if (x - px).powi(2) + (y - py).powi(2) <= 3.5f32.powi(2) {
        return Surface::Subject([104.0, 66.0, 36.0]);
    }
    // Body: two overlapping discs (the dip at the top of an apple) and a rounder bottom.
    let bottom = ((x - 161.0) / 52.0).powi(2) + ((y - 158.0) / 52.0).powi(2) <= 1.0;
    if in_circle(x, y, 142.0, 140.0, 70.0) || in_circle(x, y, 180.0, 140.0, 70.0) || bottom {
        // Diffuse light from the upper left on a sphere around the body's centre.
        let (cx, cy, r) = (161.0f32, 140.0f32, 86.0f32);
        let (nx, ny) = ((x - cx) / r, (y - cy) / r);
        let nz = (1.0 - nx * nx - ny * ny).max(0.0).sqrt();
        let light = [-0.5f32, -0.6, 0.62];
        let norm = (light[0].powi(2) + light[1].powi(2) + light[2].powi(2)).sqrt();
        let lit = ((nx * light[0] + ny * light[1] + nz * light[2]) / norm).clamp(0.0, 1.0);
        let shade = 0.88 + 0.22 * lit;
        return Surface::Subject([206.0 * shade, 46.0 * shade, 40.0 * shade]);
    }
    Surface::Background
}

fn draw() -> (RgbImage, GrayImage) {
    let mut picture = RgbImage::new(WIDTH, HEIGHT);
    let mut mask = GrayImage::new(WIDTH, HEIGHT);
    let step = 1.0 / SAMPLES as f32;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let mut colour = [0f32; 3];
            let mut covered = 0u32;
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    let (fx, fy) = (
                        x as f32 + (sx as f32 + 0.5) * step,
                        y as f32 + (sy as f32 + 0.5) * step,
                    );
                    let sample = match surface(fx, fy) {
                        Surface::Background => background(fy),
                        Surface::Subject(c) => {
                            covered += 1;
                            c
                        }
                    };
                    for (total, value) in colour.iter_mut().zip(sample) {
                        *total += value;
                    }
                }
            }
            let n = (SAMPLES * SAMPLES) as f32;
            let pixel = colour.map(|c| (c / n).round().clamp(0.0, 255.0) as u8);
            picture.put_pixel(x, y, Rgb(pixel));
            let inside = covered * 2 >= SAMPLES * SAMPLES;
            mask.put_pixel(x, y, Luma([if inside { 255 } else { 0 }]));
        }
    }
    (picture, mask)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    std::fs::create_dir_all(&folder)?;
    let (picture, mask) = draw();

    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&picture)?;
    std::fs::write(folder.join("subject.jpg"), &jpeg)?;

    mask.save(folder.join("subject-mask.png"))?;

    let trimap = backgroundcut::trimap::trimap_from_mask(&mask, 3);
    let trimap_jpeg = backgroundcut::trimap::encode_trimap_jpeg(&trimap, 95)?;
    std::fs::write(folder.join("subject-trimap.jpg"), &trimap_jpeg)?;

    for name in ["subject.jpg", "subject-mask.png", "subject-trimap.jpg"] {
        let size = std::fs::metadata(folder.join(name))?.len();
        println!("wrote samples/{name} ({size} bytes)");
    }
    Ok(())
}

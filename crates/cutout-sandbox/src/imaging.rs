//! The image algorithms behind every simulated model.
//!
//! They are deliberately simple and deterministic, yet they compute real results from the input
//! (never an echo of it), so a test can check that a cut-out is opaque on the subject and
//! transparent on the background:
//!
//! - background removal: alpha from the colour distance to the median border colour, through a
//!   smoothstep between two thresholds;
//! - trimap matting: known 255/0 kept; in the unknown band, each pixel compares its colour with
//!   the nearest known foreground and background pixels;
//! - points: region growing from positive points, held back by negative points;
//! - mask post-processing: grow/shrink by a distance transform, Gaussian blur, inversion.

use std::collections::VecDeque;
use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};

/// A decoded input and the format it was in.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) image: DynamicImage,
    pub(crate) format: ImageFormat,
}

/// Why bytes could not be used as an image.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// No known image signature.
    NotAnImage,
    /// A known image format that this sandbox cannot read.
    Unsupported(ImageFormat),
    /// The signature is right but the data is broken.
    Corrupt(String),
    /// More pixels than the sandbox's pixel budget (checked from the header, before decoding).
    TooManyPixels {
        /// Width in the image's header.
        width: u32,
        /// Height in the image's header.
        height: u32,
        /// The budget, in pixels.
        budget: u64,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotAnImage => f.write_str("the file is not an image"),
            DecodeError::Unsupported(format) => {
                write!(
                    f,
                    "the {} image format is not supported",
                    format_name(*format)
                )
            }
            DecodeError::Corrupt(e) => write!(f, "the image could not be decoded: {e}"),
            DecodeError::TooManyPixels {
                width,
                height,
                budget,
            } => write!(
                f,
                "the image is {width}x{height} ({:.1} MP), over the limit of {:.1} MP",
                f64::from(*width) * f64::from(*height) / 1e6,
                *budget as f64 / 1e6
            ),
        }
    }
}

/// The format the bytes claim to be, by their signature.
pub(crate) fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok()
}

/// Decodes an image, telling "not an image", "unsupported format", "corrupt" and "too many
/// pixels" apart. The size is read from the header first, so an image over `max_pixels` costs
/// no decoding (a 140 KB PNG can declare 12000x12000).
pub(crate) fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, DecodeError> {
    let format = sniff(bytes).ok_or(DecodeError::NotAnImage)?;
    if !format.reading_enabled() {
        return Err(DecodeError::Unsupported(format));
    }
    let (width, height) = image::ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            budget: max_pixels,
        });
    }
    let image = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(DecodeError::Corrupt("the image is empty".into()));
    }
    Ok(Decoded { image, format })
}

/// Short lowercase name of a format ("jpeg", "png").
pub(crate) fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::WebP => "webp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Ico => "ico",
        ImageFormat::Avif => "avif",
        _ => "unknown",
    }
}

/// MIME type for a stored file, from its signature.
pub(crate) fn content_type_of(bytes: &[u8]) -> &'static str {
    match sniff(bytes) {
        Some(format) => format.to_mime_type(),
        None => "application/octet-stream",
    }
}

/// An output encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutFormat {
    Png,
    Jpeg,
    WebP,
}

impl OutFormat {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            OutFormat::Png => "png",
            OutFormat::Jpeg => "jpg",
            OutFormat::WebP => "webp",
        }
    }

    pub(crate) fn mime(self) -> &'static str {
        match self {
            OutFormat::Png => "image/png",
            OutFormat::Jpeg => "image/jpeg",
            OutFormat::WebP => "image/webp",
        }
    }
}

/// Encodes `image`. JPEG drops any alpha channel (it cannot hold one) and uses `quality`
/// (1..=100); PNG and WebP are lossless (the `image` crate only writes lossless WebP).
pub(crate) fn encode(
    image: &DynamicImage,
    format: OutFormat,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        OutFormat::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        OutFormat::WebP => image.write_with_encoder(WebPEncoder::new_lossless(&mut out)),
        OutFormat::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
            match image {
                DynamicImage::ImageLuma8(_) => image.write_with_encoder(encoder),
                other => DynamicImage::ImageRgb8(other.to_rgb8()).write_with_encoder(encoder),
            }
        }
    };
    result.map_err(|e| format!("could not encode the result: {e}"))?;
    Ok(out.into_inner())
}

/// Thresholds (colour distances, 0..=441) of the background-removal smoothstep.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AlphaParams {
    /// At or below this distance from the background colour a pixel is fully transparent.
    pub(crate) lo: f32,
    /// At or above this distance a pixel is fully opaque.
    pub(crate) hi: f32,
}

/// The general-purpose setting (ModelsLab, Tengr, BackgroundCut, Topaz `RemoveBG`).
pub(crate) const REMOVE_BG: AlphaParams = AlphaParams { lo: 20.0, hi: 60.0 };
/// A slightly more conservative setting, for Topaz's `Object` model.
pub(crate) const OBJECT: AlphaParams = AlphaParams { lo: 30.0, hi: 80.0 };

fn color_distance(a: &Rgb<u8>, b: &Rgb<u8>) -> f32 {
    let d = |i: usize| f32::from(a.0[i]) - f32::from(b.0[i]);
    (d(0) * d(0) + d(1) * d(1) + d(2) * d(2)).sqrt()
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    if edge1 <= edge0 {
        return if x >= edge1 { 1.0 } else { 0.0 };
    }
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn to_u8(v: f32) -> u8 {
    // Clamped first, so the cast cannot truncate.
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The per-channel median of the image's border pixels: the presumed background colour.
pub(crate) fn border_median(img: &RgbImage) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    let mut channels: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut add = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        for (c, values) in channels.iter_mut().enumerate() {
            values.push(p.0[c]);
        }
    };
    for x in 0..w {
        add(x, 0);
        if h > 1 {
            add(x, h - 1);
        }
    }
    for y in 1..h.saturating_sub(1) {
        add(0, y);
        if w > 1 {
            add(w - 1, y);
        }
    }
    let median = |values: &mut Vec<u8>| {
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    Rgb([
        median(&mut channels[0]),
        median(&mut channels[1]),
        median(&mut channels[2]),
    ])
}

/// Background removal: alpha rises with the colour distance to the median border colour.
pub(crate) fn background_alpha(img: &RgbImage, params: AlphaParams) -> GrayImage {
    let background = border_median(img);
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let d = color_distance(img.get_pixel(x, y), &background);
        Luma([to_u8(smoothstep(params.lo, params.hi, d))])
    })
}

/// For every pixel, the index of the (approximately) nearest seed pixel, by two-pass
/// propagation of nearest-seed coordinates (a vector distance transform).
fn nearest_seeds(w: u32, h: u32, is_seed: impl Fn(usize) -> bool) -> Vec<Option<usize>> {
    let (wi, hi) = (w as i64, h as i64);
    let n = (w as usize) * (h as usize);
    let mut nearest: Vec<Option<usize>> = (0..n).map(|i| is_seed(i).then_some(i)).collect();
    let d2 = |p: usize, s: usize| {
        let (px, py) = ((p % w as usize) as i64, (p / w as usize) as i64);
        let (sx, sy) = ((s % w as usize) as i64, (s / w as usize) as i64);
        (px - sx) * (px - sx) + (py - sy) * (py - sy)
    };
    let mut relax = |x: i64, y: i64, offsets: &[(i64, i64)]| {
        let p = (y * wi + x) as usize;
        for &(dx, dy) in offsets {
            let (nx, ny) = (x + dx, y + dy);
            if nx < 0 || ny < 0 || nx >= wi || ny >= hi {
                continue;
            }
            if let Some(s) = nearest[(ny * wi + nx) as usize] {
                let better = match nearest[p] {
                    Some(current) => d2(p, s) < d2(p, current),
                    None => true,
                };
                if better {
                    nearest[p] = Some(s);
                }
            }
        }
    };
    for y in 0..hi {
        for x in 0..wi {
            relax(x, y, &[(-1, 0), (-1, -1), (0, -1), (1, -1)]);
        }
    }
    for y in (0..hi).rev() {
        for x in (0..wi).rev() {
            relax(x, y, &[(1, 0), (1, 1), (0, 1), (-1, 1)]);
        }
    }
    nearest
}

fn distance(w: u32, a: usize, b: usize) -> f32 {
    let w = w as usize;
    let dx = (a % w) as f32 - (b % w) as f32;
    let dy = (a / w) as f32 - (b / w) as f32;
    (dx * dx + dy * dy).sqrt()
}

/// Trimap values at or above this are known foreground (JPEG trimaps are never exact).
const TRIMAP_FG: u8 = 192;
/// Trimap values at or below this are known background.
const TRIMAP_BG: u8 = 63;
/// How far (in pixels) an unknown pixel looks for known foreground and background.
const TRIMAP_WINDOW: f32 = 40.0;

/// How many pixels of a trimap are in its unknown (gray) band: the work of trimap matting.
pub(crate) fn unknown_band(trimap: &GrayImage) -> u64 {
    trimap
        .as_raw()
        .iter()
        .filter(|v| (TRIMAP_BG + 1..TRIMAP_FG).contains(*v))
        .count() as u64
}

/// Trimap-guided matting. `trimap` must have the dimensions of `img`.
pub(crate) fn trimap_matte(img: &RgbImage, trimap: &GrayImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let t = trimap.as_raw();
    let near_fg = nearest_seeds(w, h, |i| t.get(i).is_some_and(|v| *v >= TRIMAP_FG));
    let near_bg = nearest_seeds(w, h, |i| t.get(i).is_some_and(|v| *v <= TRIMAP_BG));
    let pixel = |i: usize| img.get_pixel((i % w as usize) as u32, (i / w as usize) as u32);
    GrayImage::from_fn(w, h, |x, y| {
        let i = (y as usize) * (w as usize) + x as usize;
        let v = t.get(i).copied().unwrap_or(0);
        if v >= TRIMAP_FG {
            return Luma([255]);
        }
        if v <= TRIMAP_BG {
            return Luma([0]);
        }
        let within = |s: Option<usize>| s.filter(|s| distance(w, i, *s) <= TRIMAP_WINDOW);
        let c = pixel(i);
        let alpha = match (within(near_fg[i]), within(near_bg[i])) {
            (Some(f), Some(b)) => {
                let df = color_distance(c, pixel(f));
                let db = color_distance(c, pixel(b));
                if df + db <= f32::EPSILON {
                    0.5
                } else {
                    db / (df + db)
                }
            }
            (Some(_), None) => 1.0,
            (None, Some(_)) => 0.0,
            // Nothing known nearby: keep the trimap's own estimate.
            (None, None) => f32::from(v) / 255.0,
        };
        Luma([to_u8(alpha)])
    })
}

/// How far (colour distance) region growing may stray from the colour under the seed point.
const GROW_TOLERANCE: f32 = 60.0;

/// Point-guided segmentation: grows a region from each positive point over pixels of similar
/// colour, never into a negative point nor into pixels closer in colour to a negative point
/// than to the seed. The hard region is softened by a 3x3 box filter. Points outside the image
/// are ignored.
pub(crate) fn grow_from_points(
    img: &RgbImage,
    positive: &[(u32, u32)],
    negative: &[(u32, u32)],
) -> GrayImage {
    let (w, h) = img.dimensions();
    let inside = |&(x, y): &(u32, u32)| x < w && y < h;
    let negative: Vec<(u32, u32)> = negative.iter().copied().filter(inside).collect();
    let negative_colors: Vec<Rgb<u8>> = negative
        .iter()
        .map(|&(x, y)| *img.get_pixel(x, y))
        .collect();
    let mut region = vec![false; (w as usize) * (h as usize)];
    let blocked = |x: u32, y: u32| negative.contains(&(x, y));
    for seed in positive.iter().copied().filter(inside) {
        let seed_color = *img.get_pixel(seed.0, seed.1);
        let accept = |x: u32, y: u32| {
            if blocked(x, y) {
                return false;
            }
            let c = img.get_pixel(x, y);
            let d_seed = color_distance(c, &seed_color);
            d_seed <= GROW_TOLERANCE
                && negative_colors
                    .iter()
                    .all(|n| d_seed < color_distance(c, n))
        };
        let start = (seed.1 as usize) * (w as usize) + seed.0 as usize;
        if region[start] || blocked(seed.0, seed.1) {
            continue;
        }
        region[start] = true;
        let mut queue = VecDeque::from([seed]);
        while let Some((x, y)) = queue.pop_front() {
            let neighbours = [
                (x.checked_sub(1), Some(y)),
                (x.checked_add(1).filter(|v| *v < w), Some(y)),
                (Some(x), y.checked_sub(1)),
                (Some(x), y.checked_add(1).filter(|v| *v < h)),
            ];
            for (nx, ny) in neighbours {
                let (Some(nx), Some(ny)) = (nx, ny) else {
                    continue;
                };
                let idx = (ny as usize) * (w as usize) + nx as usize;
                if !region[idx] && accept(nx, ny) {
                    region[idx] = true;
                    queue.push_back((nx, ny));
                }
            }
        }
    }
    soften(w, h, &region)
}

/// A 3x3 box filter over a binary region, as a grayscale mask.
fn soften(w: u32, h: u32, region: &[bool]) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let mut on = 0u32;
        let mut total = 0u32;
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                if nx < 0 || ny < 0 || nx >= i64::from(w) || ny >= i64::from(h) {
                    continue;
                }
                total += 1;
                if region[(ny as usize) * (w as usize) + nx as usize] {
                    on += 1;
                }
            }
        }
        Luma([to_u8(on as f32 / total.max(1) as f32)])
    })
}

/// Grows (`by > 0`) or shrinks (`by < 0`) a mask by `by` pixels.
pub(crate) fn expand_mask(mask: &GrayImage, by: i64) -> GrayImage {
    if by == 0 {
        return mask.clone();
    }
    let (w, h) = mask.dimensions();
    let m = mask.as_raw();
    let grow = by > 0;
    let reach = by.unsigned_abs() as f32;
    let near = nearest_seeds(w, h, |i| m.get(i).is_some_and(|v| (*v >= 128) == grow));
    GrayImage::from_fn(w, h, |x, y| {
        let i = (y as usize) * (w as usize) + x as usize;
        let original = m.get(i).copied().unwrap_or(0);
        match near[i] {
            Some(s) if distance(w, i, s) <= reach => Luma([if grow { 255 } else { 0 }]),
            _ => Luma([original]),
        }
    })
}

/// Gaussian blur of a mask; sigmas below 0.3 px change nothing visible and are skipped.
pub(crate) fn blur_mask(mask: &GrayImage, sigma: f32) -> GrayImage {
    if sigma < 0.3 {
        mask.clone()
    } else {
        image::imageops::blur(mask, sigma)
    }
}

/// Shrinks a mask's foreground by `px` pixels (ModelsLab's `alpha_matting_erode_size`).
pub(crate) fn erode(mask: &GrayImage, px: u32) -> GrayImage {
    expand_mask(mask, -i64::from(px))
}

/// Maps alpha through two thresholds: at or above `fg` it becomes 255, at or below `bg` 0.
pub(crate) fn clamp_thresholds(mask: &GrayImage, fg: u8, bg: u8) -> GrayImage {
    GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        let v = mask.get_pixel(x, y).0[0];
        Luma([if v >= fg.max(1) {
            255
        } else if v <= bg {
            0
        } else {
            v
        }])
    })
}

/// Inverts a mask (background becomes foreground).
pub(crate) fn invert(mask: &GrayImage) -> GrayImage {
    GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        Luma([255 - mask.get_pixel(x, y).0[0]])
    })
}

/// Hardens a mask to 0/255 at the half-way point.
pub(crate) fn binarize(mask: &GrayImage) -> GrayImage {
    GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        Luma([if mask.get_pixel(x, y).0[0] >= 128 {
            255
        } else {
            0
        }])
    })
}

/// The cut-out: the input's colours with `alpha` as transparency.
pub(crate) fn cutout(img: &RgbImage, alpha: &GrayImage) -> RgbaImage {
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let Rgb([r, g, b]) = *img.get_pixel(x, y);
        let a = alpha.get_pixel_checked(x, y).map_or(0, |p| p.0[0]);
        Rgba([r, g, b, a])
    })
}

/// Composites a cut-out over a solid colour.
pub(crate) fn flatten(rgba: &RgbaImage, background: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let Rgba([r, g, b, a]) = *rgba.get_pixel(x, y);
        let a = u16::from(a);
        let mix =
            |fg: u8, bg: u8| ((u16::from(fg) * a + u16::from(bg) * (255 - a) + 127) / 255) as u8;
        Rgb([
            mix(r, background[0]),
            mix(g, background[1]),
            mix(b, background[2]),
        ])
    })
}

/// Crops a cut-out to the bounding box of its visible pixels (unchanged if none is visible).
pub(crate) fn autocrop(rgba: &RgbaImage) -> RgbaImage {
    let (w, h) = rgba.dimensions();
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in rgba.enumerate_pixels() {
        if p.0[3] > 0 {
            bounds = Some(match bounds {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    match bounds {
        Some((x0, y0, x1, y1)) if (x1 - x0 + 1, y1 - y0 + 1) != (w, h) => {
            image::imageops::crop_imm(rgba, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image()
        }
        _ => rgba.clone(),
    }
}

/// Scales an image down (keeping its aspect ratio) so that it has at most `max_pixels` pixels.
pub(crate) fn limit_pixels(img: DynamicImage, max_pixels: u64) -> DynamicImage {
    let (w, h) = (u64::from(img.width()), u64::from(img.height()));
    if max_pixels == 0 || w * h <= max_pixels {
        return img;
    }
    let scale = (max_pixels as f64 / (w * h) as f64).sqrt();
    let nw = ((w as f64 * scale).floor() as u32).max(1);
    let nh = ((h as f64 * scale).floor() as u32).max(1);
    img.resize_exact(nw, nh, image::imageops::FilterType::Triangle)
}

/// Parses a background colour: `#rgb`, `#rrggbb` (the `#` is optional), or `r,g,b`.
pub(crate) fn parse_color(text: &str) -> Option<[u8; 3]> {
    let t = text.trim();
    if let Some((r, rest)) = t.split_once(',') {
        let (g, b) = rest.split_once(',')?;
        return Some([
            r.trim().parse().ok()?,
            g.trim().parse().ok()?,
            b.trim().parse().ok()?,
        ]);
    }
    let hex = t.strip_prefix('#').unwrap_or(t);
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        3 => {
            let digit = |i: usize| channel(&hex[i..=i]).map(|v| v * 17);
            Some([digit(0)?, digit(1)?, digit(2)?])
        }
        6 => Some([
            channel(&hex[0..2])?,
            channel(&hex[2..4])?,
            channel(&hex[4..6])?,
        ]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(w: u32, h: u32) -> RgbImage {
        let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, h as f32 / 3.0);
        RgbImage::from_fn(w, h, |x, y| {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            if d < r {
                Rgb([220, 30, 40])
            } else {
                Rgb([30, 160, 60])
            }
        })
    }

    #[test]
    fn background_alpha_separates_disc() {
        let img = disc(64, 48);
        let alpha = background_alpha(&img, REMOVE_BG);
        assert_eq!(alpha.get_pixel(32, 24).0[0], 255);
        assert_eq!(alpha.get_pixel(0, 0).0[0], 0);
    }

    #[test]
    fn trimap_resolves_unknown_band() {
        let img = disc(64, 48);
        let trimap = GrayImage::from_fn(64, 48, |x, y| {
            let d = ((x as f32 - 32.0).powi(2) + (y as f32 - 24.0).powi(2)).sqrt();
            Luma([if d < 12.0 {
                255
            } else if d > 20.0 {
                0
            } else {
                128
            }])
        });
        let matte = trimap_matte(&img, &trimap);
        assert_eq!(matte.get_pixel(32, 24).0[0], 255);
        assert_eq!(matte.get_pixel(0, 0).0[0], 0);
        // Inside the band but on the disc (radius 16): opaque; outside it: transparent.
        assert!(matte.get_pixel(32 + 14, 24).0[0] > 200);
        assert!(matte.get_pixel(32 + 18, 24).0[0] < 55);
    }

    #[test]
    fn points_grow_over_the_subject_only() {
        let img = disc(64, 48);
        let mask = grow_from_points(&img, &[(32, 24)], &[(2, 2)]);
        assert_eq!(mask.get_pixel(32, 24).0[0], 255);
        assert_eq!(mask.get_pixel(1, 1).0[0], 0);
        let none = grow_from_points(&img, &[(500, 500)], &[]);
        assert!(none.pixels().all(|p| p.0[0] == 0));
    }

    #[test]
    fn expand_and_shrink() {
        let mask = GrayImage::from_fn(20, 20, |x, _| Luma([if x < 10 { 255 } else { 0 }]));
        assert_eq!(expand_mask(&mask, 3).get_pixel(12, 5).0[0], 255);
        assert_eq!(expand_mask(&mask, -3).get_pixel(8, 5).0[0], 0);
        assert_eq!(expand_mask(&mask, -3).get_pixel(2, 5).0[0], 255);
    }

    #[test]
    fn colors_parse() {
        assert_eq!(parse_color("#fff"), Some([255, 255, 255]));
        assert_eq!(parse_color("00FF80"), Some([0, 255, 128]));
        assert_eq!(parse_color("1, 2,3"), Some([1, 2, 3]));
        assert_eq!(parse_color("blue"), None);
    }

    #[test]
    fn encode_decode_round_trip() {
        let img = DynamicImage::ImageRgb8(disc(16, 12));
        for format in [OutFormat::Png, OutFormat::Jpeg, OutFormat::WebP] {
            let bytes = encode(&img, format, 90).expect("encodes");
            let back = decode(&bytes, 1000).expect("decodes");
            assert_eq!(back.image.width(), 16);
        }
        assert!(matches!(
            decode(b"hello", 1000),
            Err(DecodeError::NotAnImage)
        ));
        assert!(matches!(
            decode(b"\x89PNG\r\n\x1a\nbroken", 1000),
            Err(DecodeError::Corrupt(_))
        ));
        let png = encode(&img, OutFormat::Png, 90).expect("encodes");
        assert!(matches!(
            decode(&png, 16 * 12 - 1),
            Err(DecodeError::TooManyPixels {
                width: 16,
                height: 12,
                budget: 191
            })
        ));
    }
}

//! Trimaps from masks (crate feature `image`, off by default).
//!
//! Matting needs a *trimap*: a grayscale JPEG the size of the photo, 255 where the subject surely
//! is, 0 where it surely is not, and 128 over the uncertain band along the edge that the model
//! resolves. A narrow band is faster and cleaner (a wide one can run into the ~30 s server limit).
//!
//! [`trimap_from_mask`] makes one from any mask (a rough segmentation, an AI Cut result, the
//! alpha of a cut-out): pixels at or above [`FOREGROUND_THRESHOLD`] (128) count as foreground, and
//! every pixel within `band` pixels of the foreground/background boundary, on either side, turns
//! gray. Distances are exact Euclidean distances, computed in time proportional to the number of
//! pixels whatever the band (a separable distance transform, not a window scan).
//! [`encode_trimap_jpeg`] writes the single-channel JPEG matting requires, and
//! [`trimap_file_from_mask`] does both from file to file.
//!
//! Enable with `backgroundcut = { version = "…", features = ["image"] }`; the
//! [`image`](https://docs.rs/image) crate is re-exported as `backgroundcut::image`.
//!
//! # Examples
//!
//! ```
//! use backgroundcut::image::{GrayImage, Luma};
//! use backgroundcut::trimap::{encode_trimap_jpeg, trimap_from_mask};
//!
//! // A 40×40 mask whose left half is the subject.
//! let mask = GrayImage::from_fn(40, 40, |x, _| Luma([if x < 20 { 255 } else { 0 }]));
//! let trimap = trimap_from_mask(&mask, 3);
//! assert_eq!(trimap.get_pixel(16, 0).0, [255]); // 4 px inside: sure foreground
//! assert_eq!(trimap.get_pixel(17, 0).0, [128]); // 3 px inside: in the band
//! assert_eq!(trimap.get_pixel(22, 0).0, [128]); // 3 px outside: in the band
//! assert_eq!(trimap.get_pixel(23, 0).0, [0]); // 4 px outside: sure background
//! let jpeg = encode_trimap_jpeg(&trimap, 95)?;
//! assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
//! # Ok::<(), backgroundcut::CutoutError>(())
//! ```

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, GrayImage, ImageError};

use crate::{CutoutError, CutoutResult};

/// Mask values at or above this count as foreground.
pub const FOREGROUND_THRESHOLD: u8 = 128;

/// Trimap value of sure foreground.
pub const FOREGROUND: u8 = 255;
/// Trimap value of sure background.
pub const BACKGROUND: u8 = 0;
/// Trimap value of the uncertain band.
pub const UNKNOWN: u8 = 128;

/// A binary copy of `mask`: 255 where a value is at least `level`, 0 elsewhere.
pub fn threshold(mask: &GrayImage, level: u8) -> GrayImage {
    let mut out = mask.clone();
    for value in out.iter_mut() {
        *value = if *value >= level { 255 } else { 0 };
    }
    out
}

/// A trimap from `mask` (values ≥ 128 are foreground): 255 inside, 0 outside, and 128 for every
/// pixel whose Euclidean distance to the nearest pixel of the other side is at most `band`. So the
/// gray band is `band` pixels deep on each side of the edge; `band` 0 gives a plain binary trimap.
pub fn trimap_from_mask(mask: &GrayImage, band: u32) -> GrayImage {
    trimap_from_mask_with(mask, band, FOREGROUND_THRESHOLD)
}

/// [`trimap_from_mask`] with another foreground threshold: values ≥ `level` are foreground.
pub fn trimap_from_mask_with(mask: &GrayImage, band: u32, level: u8) -> GrayImage {
    let (width, height) = mask.dimensions();
    let (w, h) = (width as usize, height as usize);
    let values = mask.as_raw();
    let foreground = |value: u8| value >= level;
    // Foreground pixels near background, and background pixels near foreground.
    let near_background = within(values, w, h, band, |value| !foreground(value));
    let near_foreground = within(values, w, h, band, foreground);
    let pixels = values
        .iter()
        .zip(near_background.iter().zip(&near_foreground))
        .map(
            |(&value, (&near_bg, &near_fg))| match (foreground(value), near_bg, near_fg) {
                (true, true, _) | (false, _, true) => UNKNOWN,
                (true, false, _) => FOREGROUND,
                (false, _, false) => BACKGROUND,
            },
        )
        .collect();
    // Same size as the mask, so the buffer always fits.
    GrayImage::from_raw(width, height, pixels).unwrap_or_else(|| GrayImage::new(width, height))
}

/// For every pixel, whether its Euclidean distance to the nearest pixel where `target` holds is at
/// most `band` (Felzenszwalb–Huttenlocher: an exact transform down the columns, then along the
/// rows; column distances are capped at `band + 1`, which cannot change a `≤ band` answer).
fn within(values: &[u8], w: usize, h: usize, band: u32, target: impl Fn(u8) -> bool) -> Vec<bool> {
    if !values.iter().any(|&value| target(value)) {
        // Nothing to be near (and no cap could stand for "infinitely far" at the largest bands).
        return vec![false; w * h];
    }
    let far = band.saturating_add(1);
    // Vertical distance to the nearest target pixel in the same column, capped at `far`.
    let mut column = vec![far; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            column[i] = if target(values[i]) {
                0
            } else if y > 0 {
                column[i - w].saturating_add(1).min(far)
            } else {
                far
            };
        }
    }
    for y in (0..h.saturating_sub(1)).rev() {
        for x in 0..w {
            let i = y * w + x;
            column[i] = column[i].min(column[i + w].saturating_add(1));
        }
    }
    // Along each row: the lower envelope of the parabolas (x - p)² + column(p)².
    let limit = f64::from(band) * f64::from(band);
    let mut result = vec![false; w * h];
    let mut f = vec![0f64; w];
    let mut vertices: Vec<usize> = Vec::with_capacity(w);
    let mut bounds: Vec<f64> = Vec::with_capacity(w);
    for y in 0..h {
        let row = &column[y * w..(y + 1) * w];
        for (slot, &distance) in f.iter_mut().zip(row) {
            *slot = f64::from(distance) * f64::from(distance);
        }
        vertices.clear();
        bounds.clear();
        for q in 0..w {
            let mut start = f64::NEG_INFINITY;
            while let Some(&p) = vertices.last() {
                let (pf, qf) = (p as f64, q as f64);
                start = ((f[q] + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf));
                if bounds.last().is_some_and(|&bound| start <= bound) {
                    vertices.pop();
                    bounds.pop();
                    start = f64::NEG_INFINITY;
                } else {
                    break;
                }
            }
            vertices.push(q);
            bounds.push(start);
        }
        let mut k = 0;
        for q in 0..w {
            while k + 1 < vertices.len() && bounds[k + 1] < q as f64 {
                k += 1;
            }
            let p = vertices[k];
            let dx = q as f64 - p as f64;
            result[y * w + q] = dx * dx + f[p] <= limit;
        }
    }
    result
}

/// Encodes a trimap as the single-channel (grayscale) JPEG matting requires. `quality` is 1..=100;
/// use 90 or more so that the three levels stay clean.
pub fn encode_trimap_jpeg(trimap: &GrayImage, quality: u8) -> CutoutResult<Vec<u8>> {
    if !(1..=100).contains(&quality) {
        return Err(CutoutError::invalid(
            "quality",
            format!("{quality} is outside 1..=100: pass a JPEG quality (90 or more for trimaps)"),
        ));
    }
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode(
            trimap.as_raw(),
            trimap.width(),
            trimap.height(),
            ExtendedColorType::L8,
        )
        .map_err(|e| {
            CutoutError::invalid(
                "trimap",
                format!(
                    "cannot encode the {}×{} trimap as JPEG: {e} (JPEG allows at most 65535×65535)",
                    trimap.width(),
                    trimap.height()
                ),
            )
        })?;
    Ok(bytes)
}

/// Reads the mask at `mask_path` (any PNG, JPEG or WebP; when it has an alpha channel, as a cut-out
/// does, the alpha is the mask, otherwise its gray levels are), makes a trimap with a `band`-pixel
/// band, and writes it to `out_path` as a grayscale JPEG (quality 95), through a temporary file
/// and a rename. Without `overwrite`, an existing `out_path` is an error and stays as it is.
///
/// This decodes and encodes whole images: from async code, call it inside
/// `tokio::task::spawn_blocking` for large images.
pub fn trimap_file_from_mask(
    mask_path: impl AsRef<Path>,
    band: u32,
    out_path: impl AsRef<Path>,
    overwrite: bool,
) -> CutoutResult<()> {
    let (mask_path, out_path) = (mask_path.as_ref(), out_path.as_ref());
    cutout_runtime::validate::destination_free(out_path, overwrite)?;
    let mask = read_mask(mask_path)?;
    let jpeg = encode_trimap_jpeg(&trimap_from_mask(&mask, band), 95)?;
    cutout_runtime::write_atomically_blocking(out_path, &jpeg, overwrite)
}

/// Reads a mask file (any PNG, JPEG or WebP): its alpha channel when it has one, as a cut-out
/// does, otherwise its gray levels.
pub fn read_mask(mask_path: impl AsRef<Path>) -> CutoutResult<GrayImage> {
    let mask_path = mask_path.as_ref();
    let decoded = image::open(mask_path).map_err(|e| match e {
        ImageError::IoError(e) => CutoutError::io("read", mask_path, e),
        other => CutoutError::invalid(
            "mask",
            format!(
                "cannot read `{}` as a PNG, JPEG or WebP image: {other}",
                mask_path.display()
            ),
        ),
    })?;
    Ok(if decoded.color().has_alpha() {
        let with_alpha = decoded.to_luma_alpha8();
        let (width, height) = with_alpha.dimensions();
        GrayImage::from_fn(width, height, |x, y| {
            image::Luma([with_alpha.get_pixel(x, y).0[1]])
        })
    } else {
        decoded.to_luma8()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn left_half(width: u32, height: u32, edge: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, _| Luma([if x < edge { 255 } else { 0 }]))
    }

    #[test]
    fn the_band_is_exactly_band_pixels_deep_on_each_side() {
        for band in [1u32, 2, 5, 9] {
            let mask = left_half(40, 3, 20);
            let trimap = trimap_from_mask(&mask, band);
            for y in 0..3 {
                // Foreground pixel x is 20 - x pixels from the first background column.
                assert_eq!(trimap.get_pixel(20 - band, y).0, [UNKNOWN], "band {band}");
                assert_eq!(
                    trimap.get_pixel(20 - band - 1, y).0,
                    [FOREGROUND],
                    "band {band}"
                );
                // Background pixel x is x - 19 pixels from the last foreground column.
                assert_eq!(trimap.get_pixel(19 + band, y).0, [UNKNOWN], "band {band}");
                assert_eq!(
                    trimap.get_pixel(19 + band + 1, y).0,
                    [BACKGROUND],
                    "band {band}"
                );
            }
        }
    }

    #[test]
    fn distances_are_euclidean() {
        // One background pixel in a foreground field: the pixel 3 across and 4 down is 5 away.
        let mut mask = GrayImage::from_pixel(21, 21, Luma([255]));
        mask.put_pixel(5, 5, Luma([0]));
        assert_eq!(trimap_from_mask(&mask, 5).get_pixel(8, 9).0, [UNKNOWN]);
        assert_eq!(trimap_from_mask(&mask, 4).get_pixel(8, 9).0, [FOREGROUND]);
        // The background pixel itself is 1 from the foreground.
        assert_eq!(trimap_from_mask(&mask, 1).get_pixel(5, 5).0, [UNKNOWN]);
        assert_eq!(trimap_from_mask(&mask, 0).get_pixel(5, 5).0, [BACKGROUND]);
    }

    #[test]
    fn matches_a_brute_force_distance_on_random_masks() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20 {
            let (w, h) = (7 + (round % 5) as u32 * 3, 5 + (round % 4) as u32 * 4);
            let mask = GrayImage::from_fn(w, h, |_, _| Luma([(next() % 256) as u8]));
            let band = (round % 6) as u32;
            let trimap = trimap_from_mask(&mask, band);
            for (x, y, pixel) in trimap.enumerate_pixels() {
                let fg = mask.get_pixel(x, y).0[0] >= 128;
                let mut nearest = u64::MAX;
                for (ox, oy, other) in mask.enumerate_pixels() {
                    if (other.0[0] >= 128) != fg {
                        let dx = i64::from(ox) - i64::from(x);
                        let dy = i64::from(oy) - i64::from(y);
                        nearest = nearest.min((dx * dx + dy * dy) as u64);
                    }
                }
                let expected = if nearest <= u64::from(band * band) {
                    UNKNOWN
                } else if fg {
                    FOREGROUND
                } else {
                    BACKGROUND
                };
                assert_eq!(pixel.0[0], expected, "round {round} at ({x}, {y})");
            }
        }
    }

    #[test]
    fn uniform_masks_have_no_band_and_thresholds_split_at_128() {
        let all = GrayImage::from_pixel(8, 8, Luma([200]));
        assert!(trimap_from_mask(&all, 3).iter().all(|&v| v == FOREGROUND));
        let none = GrayImage::from_pixel(8, 8, Luma([127]));
        assert!(trimap_from_mask(&none, 3).iter().all(|&v| v == BACKGROUND));
        let soft = GrayImage::from_fn(4, 1, |x, _| Luma([[0, 127, 128, 255][x as usize]]));
        assert_eq!(threshold(&soft, 128).as_raw(), &vec![0, 0, 255, 255]);
        let trimap = trimap_from_mask_with(&soft, 0, 100);
        assert_eq!(trimap.as_raw(), &vec![0, 255, 255, 255]);
        assert_eq!(
            trimap_from_mask(&GrayImage::new(0, 0), 4).dimensions(),
            (0, 0)
        );
    }

    #[test]
    fn the_jpeg_is_single_channel_and_the_file_is_written_atomically() {
        let trimap = trimap_from_mask(&left_half(64, 48, 30), 4);
        let jpeg = encode_trimap_jpeg(&trimap, 95).unwrap();
        let info = cutout_runtime::probe::probe_bytes(&jpeg).unwrap();
        assert_eq!((info.width, info.height), (64, 48));
        assert_eq!(info.color, cutout_runtime::probe::ColorLayout::Gray);
        assert!(
            encode_trimap_jpeg(&trimap, 0)
                .unwrap_err()
                .is_invalid_input()
        );

        let dir = tempfile::tempdir().unwrap();
        // A cut-out's alpha is its mask.
        let cutout = image::RgbaImage::from_fn(64, 48, |x, _| {
            image::Rgba([10, 20, 30, if x < 30 { 255 } else { 0 }])
        });
        let mask_path = dir.path().join("cutout.png");
        cutout.save(&mask_path).unwrap();
        let out = dir.path().join("trimap.jpg");
        trimap_file_from_mask(&mask_path, 4, &out, false).unwrap();
        let written = image::open(&out).unwrap().to_luma8();
        assert_eq!(written.dimensions(), (64, 48));
        assert!(written.get_pixel(5, 5).0[0] > 240);
        assert!(written.get_pixel(60, 5).0[0] < 15);
        assert!((written.get_pixel(29, 5).0[0] as i32 - 128).abs() < 20);
        // Not overwritten without permission, and no temporary files left behind.
        let err = trimap_file_from_mask(&mask_path, 4, &out, false).unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        trimap_file_from_mask(&mask_path, 2, &out, true).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let missing = trimap_file_from_mask(dir.path().join("nope.png"), 4, &out, true);
        assert!(matches!(missing, Err(CutoutError::Io { .. })));
    }
}

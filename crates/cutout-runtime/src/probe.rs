//! Reading an image's format, size and colour layout from its header, without decoding it, so
//! inputs can be checked before they are uploaded.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::Error;

/// An image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// TIFF.
    Tiff,
    /// GIF.
    Gif,
    /// BMP.
    Bmp,
}

impl ImageFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
        }
    }

    /// The MIME type.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    /// The format a file name's extension names, if any.
    pub fn from_extension(name: &str) -> Option<Self> {
        let extension = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
        Some(match extension.as_str() {
            "jpg" | "jpeg" => ImageFormat::Jpeg,
            "png" => ImageFormat::Png,
            "webp" => ImageFormat::Webp,
            "tif" | "tiff" => ImageFormat::Tiff,
            "gif" => ImageFormat::Gif,
            "bmp" => ImageFormat::Bmp,
            _ => return None,
        })
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Webp => "WebP",
            ImageFormat::Tiff => "TIFF",
            ImageFormat::Gif => "GIF",
            ImageFormat::Bmp => "BMP",
        })
    }
}

/// How pixels are stored, as far as the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColorLayout {
    /// One channel.
    Gray,
    /// Gray with alpha.
    GrayAlpha,
    /// Three colour channels.
    Rgb,
    /// Colour with alpha.
    Rgba,
    /// Four-channel CMYK (JPEG).
    Cmyk,
    /// A palette.
    Indexed,
    /// Not stated in the header, or another layout.
    Unknown,
}

/// What the header of an image says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageInfo {
    /// The format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Colour layout.
    pub color: ColorLayout,
}

impl ImageInfo {
    /// Width × height, in megapixels.
    pub fn megapixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) / 1_000_000.0
    }
}

/// Probes an image held in memory. `None` when the bytes are not a supported image.
pub fn probe_bytes(bytes: &[u8]) -> Option<ImageInfo> {
    probe_reader(&mut std::io::Cursor::new(bytes))
        .ok()
        .flatten()
}

/// Probes an image file, reading only its header (a few KiB at most for JPEG, whose size
/// sits after metadata segments that are skipped, not read).
pub fn probe_file(path: &Path) -> Result<Option<ImageInfo>, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    probe_reader(&mut file).map_err(|e| Error::io("read", path, e))
}

/// Probes any seekable reader.
pub fn probe_reader<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<ImageInfo>> {
    let mut head = [0u8; 32];
    let n = read_up_to(reader, &mut head)?;
    let head = &head[..n];
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(png(head));
    }
    if head.starts_with(&[0xFF, 0xD8]) {
        return jpeg(reader);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return webp(reader);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return tiff(reader, head[0] == b'I');
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Ok((head.len() >= 10).then(|| ImageInfo {
            format: ImageFormat::Gif,
            width: u32::from(u16::from_le_bytes([head[6], head[7]])),
            height: u32::from(u16::from_le_bytes([head[8], head[9]])),
            color: ColorLayout::Indexed,
        }));
    }
    if head.starts_with(b"BM") && head.len() >= 26 {
        let width = i32::from_le_bytes([head[18], head[19], head[20], head[21]]);
        let height = i32::from_le_bytes([head[22], head[23], head[24], head[25]]);
        return Ok(Some(ImageInfo {
            format: ImageFormat::Bmp,
            width: width.unsigned_abs(),
            height: height.unsigned_abs(),
            color: ColorLayout::Unknown,
        }));
    }
    Ok(None)
}

fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn png(head: &[u8]) -> Option<ImageInfo> {
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, bit depth, colour type.
    if head.len() < 26 || &head[12..16] != b"IHDR" {
        return None;
    }
    Some(ImageInfo {
        format: ImageFormat::Png,
        width: be32(&head[16..20]),
        height: be32(&head[20..24]),
        color: match head[25] {
            0 => ColorLayout::Gray,
            2 => ColorLayout::Rgb,
            3 => ColorLayout::Indexed,
            4 => ColorLayout::GrayAlpha,
            6 => ColorLayout::Rgba,
            _ => ColorLayout::Unknown,
        },
    })
}

fn jpeg<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<ImageInfo>> {
    reader.seek(SeekFrom::Start(2))?;
    loop {
        let mut marker = [0u8; 2];
        if read_up_to(reader, &mut marker)? < 2 || marker[0] != 0xFF {
            return Ok(None);
        }
        let kind = marker[1];
        match kind {
            // Fill bytes and markers without a length.
            0xFF => {
                reader.seek(SeekFrom::Current(-1))?;
                continue;
            }
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Ok(None),
            _ => {}
        }
        let mut length = [0u8; 2];
        if read_up_to(reader, &mut length)? < 2 {
            return Ok(None);
        }
        let length = u16::from_be_bytes(length);
        if length < 2 {
            return Ok(None);
        }
        // Start-of-frame markers (baseline, progressive, lossless…), not DHT/JPG/DAC.
        if matches!(kind, 0xC0..=0xCF) && !matches!(kind, 0xC4 | 0xC8 | 0xCC) {
            let mut frame = [0u8; 6];
            if read_up_to(reader, &mut frame)? < 6 {
                return Ok(None);
            }
            let height = u32::from(u16::from_be_bytes([frame[1], frame[2]]));
            let width = u32::from(u16::from_be_bytes([frame[3], frame[4]]));
            let color = match frame[5] {
                1 => ColorLayout::Gray,
                3 => ColorLayout::Rgb,
                4 => ColorLayout::Cmyk,
                _ => ColorLayout::Unknown,
            };
            return Ok(Some(ImageInfo {
                format: ImageFormat::Jpeg,
                width,
                height,
                color,
            }));
        }
        reader.seek(SeekFrom::Current(i64::from(length) - 2))?;
    }
}

fn webp<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<ImageInfo>> {
    reader.seek(SeekFrom::Start(12))?;
    let mut chunk = [0u8; 30];
    let n = read_up_to(reader, &mut chunk)?;
    let chunk = &chunk[..n];
    if chunk.len() < 18 {
        return Ok(None);
    }
    let data = &chunk[8..];
    let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    let info = match &chunk[0..4] {
        b"VP8 " if data.len() >= 10 => Some((
            u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3FFF),
            u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3FFF),
            ColorLayout::Rgb,
        )),
        b"VP8L" if data.len() >= 5 && data[0] == 0x2F => {
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            let alpha = bits >> 28 & 1 == 1;
            Some((
                (bits & 0x3FFF) + 1,
                (bits >> 14 & 0x3FFF) + 1,
                if alpha {
                    ColorLayout::Rgba
                } else {
                    ColorLayout::Rgb
                },
            ))
        }
        b"VP8X" if data.len() >= 10 => {
            let alpha = data[0] & 0x10 != 0;
            Some((
                le24(&data[4..7]) + 1,
                le24(&data[7..10]) + 1,
                if alpha {
                    ColorLayout::Rgba
                } else {
                    ColorLayout::Rgb
                },
            ))
        }
        _ => None,
    };
    Ok(info.map(|(width, height, color)| ImageInfo {
        format: ImageFormat::Webp,
        width,
        height,
        color,
    }))
}

fn tiff<R: Read + Seek>(reader: &mut R, little: bool) -> std::io::Result<Option<ImageInfo>> {
    let u16_of = |b: [u8; 2]| {
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let u32_of = |b: [u8; 4]| {
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    reader.seek(SeekFrom::Start(4))?;
    let mut offset = [0u8; 4];
    reader.read_exact(&mut offset)?;
    reader.seek(SeekFrom::Start(u64::from(u32_of(offset))))?;
    let mut count = [0u8; 2];
    reader.read_exact(&mut count)?;
    let (mut width, mut height, mut samples) = (None, None, None);
    for _ in 0..u16_of(count).min(512) {
        let mut entry = [0u8; 12];
        reader.read_exact(&mut entry)?;
        let tag = u16_of([entry[0], entry[1]]);
        let kind = u16_of([entry[2], entry[3]]);
        let value = if kind == 3 {
            u32::from(u16_of([entry[8], entry[9]]))
        } else {
            u32_of([entry[8], entry[9], entry[10], entry[11]])
        };
        match tag {
            256 => width = Some(value),
            257 => height = Some(value),
            277 => samples = Some(value),
            _ => {}
        }
    }
    Ok(match (width, height) {
        (Some(width), Some(height)) => Some(ImageInfo {
            format: ImageFormat::Tiff,
            width,
            height,
            color: match samples {
                Some(1) => ColorLayout::Gray,
                Some(3) => ColorLayout::Rgb,
                Some(4) => ColorLayout::Rgba,
                _ => ColorLayout::Unknown,
            },
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal baseline JPEG header: SOI, an APP0 segment to skip, SOF0 with the given size and
    /// component count.
    fn jpeg_header(width: u16, height: u16, components: u8) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        b.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        b.extend_from_slice(&[0xFF, 0xC0, 0x00, 8 + 3 * components, 8]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.push(components);
        b
    }

    #[test]
    fn jpeg_size_and_components() {
        let info = probe_bytes(&jpeg_header(1024, 767, 1)).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Jpeg, 1024, 767)
        );
        assert_eq!(info.color, ColorLayout::Gray);
        assert_eq!(
            probe_bytes(&jpeg_header(4, 3, 3)).unwrap().color,
            ColorLayout::Rgb
        );
    }

    #[test]
    fn png_header() {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&640u32.to_be_bytes());
        b.extend_from_slice(&480u32.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0]);
        let info = probe_bytes(&b).unwrap();
        assert_eq!(
            (info.format, info.width, info.height, info.color),
            (ImageFormat::Png, 640, 480, ColorLayout::Rgba)
        );
    }

    #[test]
    fn not_an_image() {
        assert_eq!(probe_bytes(b"hello, world"), None);
        assert_eq!(probe_bytes(&[0xFF, 0xD8, 0xFF]), None);
        assert_eq!(probe_bytes(b""), None);
    }

    #[test]
    fn extensions() {
        assert_eq!(
            ImageFormat::from_extension("a/b.JPEG"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::from_extension("x.txt"), None);
    }
}

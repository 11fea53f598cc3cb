//! Reading an image's format, size and colour layout from its header, without decoding it, so
//! inputs can be checked before they are uploaded.

use std::fmt;
use std::io::{BufRead, Read, Seek, SeekFrom};
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

    /// The format a MIME type names (`image/png`, `image/jpeg; charset=…`, the non-standard
    /// `image/jpg`), if any.
    pub fn from_mime_type(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next()?.trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
            "image/png" => ImageFormat::Png,
            "image/webp" => ImageFormat::Webp,
            "image/tiff" => ImageFormat::Tiff,
            "image/gif" => ImageFormat::Gif,
            "image/bmp" => ImageFormat::Bmp,
            _ => return None,
        })
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

/// The longest side any format read here can validly state: PNG's 2³¹ − 1 (JPEG, GIF and WebP
/// cannot say more than 65535; a larger TIFF or BMP value is a damaged header).
pub const MAX_SIDE: u32 = i32::MAX as u32;

impl ImageInfo {
    /// Width × height, in megapixels.
    pub fn megapixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) / 1_000_000.0
    }

    /// Refuses, before anything is sent, a header that states zero pixels or a side longer
    /// than any format allows ([`MAX_SIDE`]) or than the provider documents: `limit` is the
    /// provider's name and its longest accepted side, where it documents one. `name` is how the
    /// image is shown in the message; the error is an [`Error::InvalidInput`] for `field`.
    pub fn check_dimensions(
        &self,
        field: &str,
        name: &str,
        limit: Option<(&str, u32)>,
    ) -> Result<(), Error> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 {
            return Err(Error::invalid(
                field,
                format!(
                    "`{name}` says it is {width}×{height} pixels: an image needs at least one \
                     pixel a side, so the file is damaged or not a real {}; pass another image",
                    self.format
                ),
            ));
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::invalid(
                field,
                format!(
                    "`{name}` says it is {width}×{height} pixels, more than a {} can hold: its \
                     header is damaged; pass another image",
                    self.format
                ),
            ));
        }
        if let Some((provider, max)) = limit
            && (width > max || height > max)
        {
            return Err(Error::invalid(
                field,
                format!(
                    "`{name}` is {width}×{height} pixels; {provider} accepts at most {max} \
                     pixels a side: scale it down first"
                ),
            ));
        }
        Ok(())
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

/// The longest run of `0xFF` fill bytes accepted before a marker. The format allows any number,
/// but encoders write a handful; a file of nothing but fill is not an image.
const MAX_JPEG_FILL: usize = 64 * 1024;

fn jpeg<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<ImageInfo>> {
    reader.seek(SeekFrom::Start(2))?;
    // Markers are read byte by byte: through a buffer, so a long run of fill bytes costs no
    // system calls (it once cost two per byte).
    let mut reader = std::io::BufReader::with_capacity(16 * 1024, reader);
    loop {
        if next_byte(&mut reader)? != Some(0xFF) {
            return Ok(None);
        }
        // Fill bytes: any number of 0xFF before the marker's kind.
        let mut fill = 0;
        let kind = loop {
            match next_byte(&mut reader)? {
                Some(0xFF) if fill < MAX_JPEG_FILL => fill += 1,
                Some(0xFF) | None => return Ok(None),
                Some(kind) => break kind,
            }
        };
        match kind {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Ok(None),
            _ => {}
        }
        let (Some(high), Some(low)) = (next_byte(&mut reader)?, next_byte(&mut reader)?) else {
            return Ok(None);
        };
        let length = u16::from_be_bytes([high, low]);
        if length < 2 {
            return Ok(None);
        }
        // Start-of-frame markers (baseline, progressive, lossless…), not DHT/JPG/DAC.
        if matches!(kind, 0xC0..=0xCF) && !matches!(kind, 0xC4 | 0xC8 | 0xCC) {
            let mut frame = [0u8; 6];
            for slot in &mut frame {
                match next_byte(&mut reader)? {
                    Some(b) => *slot = b,
                    None => return Ok(None),
                }
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
        // Skip the segment; within the buffer this is no system call either.
        reader.seek_relative(i64::from(length) - 2)?;
    }
}

/// The next byte of a buffered reader, `None` at the end.
fn next_byte<B: BufRead>(reader: &mut B) -> std::io::Result<Option<u8>> {
    let next = reader.fill_buf()?.first().copied();
    if next.is_some() {
        reader.consume(1);
    }
    Ok(next)
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
    fn one_table_maps_formats_mime_types_and_extensions() {
        for format in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Webp,
            ImageFormat::Tiff,
            ImageFormat::Gif,
            ImageFormat::Bmp,
        ] {
            assert_eq!(
                ImageFormat::from_mime_type(format.mime_type()),
                Some(format)
            );
            let name = format!("a.{}", format.extension());
            assert_eq!(ImageFormat::from_extension(&name), Some(format));
        }
        assert_eq!(
            ImageFormat::from_mime_type("Image/JPG; charset=binary"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::from_mime_type("application/json"), None);
        assert_eq!(
            ImageFormat::from_extension("a.TIF"),
            Some(ImageFormat::Tiff)
        );
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

    /// A 33-byte PNG: signature, and an IHDR chunk stating `width`×`height`.
    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn zero_and_absurd_sizes_are_refused() {
        let zero = probe_bytes(&png_of(0, 0)).unwrap();
        assert_eq!(png_of(0, 0).len(), 33);
        let err = zero.check_dimensions("image", "a.png", None).unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(err.to_string().contains("0×0 pixels"), "{err}");
        let tall = probe_bytes(&png_of(1, 0)).unwrap();
        assert!(tall.check_dimensions("image", "a.png", None).is_err());
        // More than a PNG can state.
        let absurd = probe_bytes(&png_of(u32::MAX, 5)).unwrap();
        let err = absurd.check_dimensions("image", "a.png", None).unwrap_err();
        assert!(err.to_string().contains("header is damaged"), "{err}");
        // A BMP of height i32::MIN.
        let mut bmp = b"BM".to_vec();
        bmp.resize(26, 0);
        bmp[18..22].copy_from_slice(&4i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&i32::MIN.to_le_bytes());
        let bmp = probe_bytes(&bmp).unwrap();
        assert!(bmp.check_dimensions("image", "a.bmp", None).is_err());
        // The provider's documented maximum.
        let big = probe_bytes(&png_of(32_001, 10)).unwrap();
        big.check_dimensions("image", "a.png", None).unwrap();
        let err = big
            .check_dimensions("image", "a.png", Some(("Topaz", 32_000)))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("Topaz accepts at most 32000 pixels a side"),
            "{err}"
        );
        probe_bytes(&png_of(32_000, 32_000))
            .unwrap()
            .check_dimensions("image", "a.png", Some(("Topaz", 32_000)))
            .unwrap();
        probe_bytes(&png_of(1, 1))
            .unwrap()
            .check_dimensions("image", "a.png", None)
            .unwrap();
    }

    #[test]
    fn a_jpeg_of_fill_bytes_is_refused_quickly() {
        // `FF D8` and then 8 MiB of 0xFF, from a file as the CLI reads it: this took 23 s when
        // every byte cost two system calls.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fill.jpg");
        let mut bytes = vec![0xFF, 0xD8];
        bytes.resize(2 + 8 * 1024 * 1024, 0xFF);
        std::fs::write(&path, &bytes).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(probe_file(&path).unwrap(), None);
        assert_eq!(probe_bytes(&bytes), None);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    }

    /// A reader that counts the calls that would be system calls on a file.
    struct Counting<R> {
        inner: R,
        calls: usize,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            self.inner.read(buf)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.calls += 1;
            self.inner.seek(pos)
        }
    }

    #[test]
    fn many_small_jpeg_segments_are_skipped_through_the_buffer() {
        // 8 MiB of empty APP0 segments before the frame: three calls per segment (six million)
        // before the reads were buffered; a few per 16 KiB buffer now.
        let mut bytes = vec![0xFF, 0xD8];
        for _ in 0..(2 * 1024 * 1024) {
            bytes.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x02]);
        }
        bytes.extend_from_slice(&jpeg_header(640, 480, 3)[2..]);
        let mut reader = Counting {
            inner: std::io::Cursor::new(&bytes),
            calls: 0,
        };
        let info = probe_reader(&mut reader).unwrap().unwrap();
        assert_eq!((info.width, info.height), (640, 480));
        assert!(reader.calls < 2_000, "{} calls", reader.calls);

        // And the fill run: refused after at most a few buffers.
        let mut fill = vec![0xFF, 0xD8];
        fill.resize(2 + 8 * 1024 * 1024, 0xFF);
        let mut reader = Counting {
            inner: std::io::Cursor::new(&fill),
            calls: 0,
        };
        assert_eq!(probe_reader(&mut reader).unwrap(), None);
        assert!(reader.calls < 20, "{} calls", reader.calls);
    }

    #[test]
    fn a_few_fill_bytes_before_a_marker_are_fine() {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF];
        b.extend_from_slice(&jpeg_header(10, 20, 3)[3..]);
        let info = probe_bytes(&b).unwrap();
        assert_eq!((info.width, info.height), (10, 20));
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

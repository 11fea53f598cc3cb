//! Checks on input images shared by the workflows, and upload progress for several files at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cutout_runtime::multipart::UploadProgress;
use cutout_runtime::probe::{ColorLayout, ImageFormat};
use cutout_runtime::{ImageInfo, Progress, ProgressFn};

use crate::{CutoutError, CutoutResult, ImageSource};

/// Reads the header of a path or bytes source; a file that is not an image is an error naming
/// `field`.
pub(crate) fn probe(source: &ImageSource, field: &str) -> CutoutResult<ImageInfo> {
    source.probe(field)?.ok_or_else(|| {
        CutoutError::invalid(
            field,
            format!(
                "`{}` must be downloaded before it is checked",
                source.describe()
            ),
        )
    })
}

/// A JPEG, or an error saying what `tool` needs and how to get there.
pub(crate) fn require_jpeg(
    info: &ImageInfo,
    source: &ImageSource,
    field: &str,
    tool: &str,
    what: &str,
) -> CutoutResult<()> {
    if info.format == ImageFormat::Jpeg {
        return Ok(());
    }
    Err(CutoutError::invalid(
        field,
        format!(
            "BackgroundCut {tool} needs a JPEG {what}; `{}` is {}: convert it",
            source.describe(),
            info.format
        ),
    ))
}

/// A colour layout as named in messages, with its article ("an RGB", "a grayscale").
pub(crate) fn layout_name(color: ColorLayout) -> &'static str {
    match color {
        ColorLayout::Gray => "a grayscale",
        ColorLayout::GrayAlpha => "a grayscale-with-alpha",
        ColorLayout::Rgb => "an RGB",
        ColorLayout::Rgba => "an RGBA",
        ColorLayout::Cmyk => "a CMYK",
        ColorLayout::Indexed => "a palette",
        _ => "an unknown-layout",
    }
}

/// The lower-case extension of a key, if it has one.
pub(crate) fn key_extension(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (stem, extension) = name.rsplit_once('.')?;
    (!stem.is_empty() && !extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

/// A quality setting in 1..=100.
pub(crate) fn check_compression(value: Option<u32>, field: &str) -> CutoutResult<()> {
    match value {
        Some(value) if !(1..=100).contains(&value) => Err(CutoutError::invalid(
            field,
            format!("{value} is outside 1..=100: pass a quality from 1 (smallest) to 100 (best)"),
        )),
        _ => Ok(()),
    }
}

/// Upload progress of several files sent at once, reported as one running total.
pub(crate) struct UploadMeter {
    sent: Arc<[AtomicU64]>,
    total: u64,
    progress: ProgressFn,
}

impl UploadMeter {
    /// A meter for files of these sizes, or `None` without a progress callback.
    pub(crate) fn new(progress: Option<&ProgressFn>, sizes: &[u64]) -> Option<Self> {
        let progress = progress?.clone();
        Some(Self {
            sent: sizes.iter().map(|_| AtomicU64::new(0)).collect(),
            total: sizes.iter().sum(),
            progress,
        })
    }

    /// The callback for file number `slot`.
    pub(crate) fn slot(&self, slot: usize) -> UploadProgress {
        let sent = self.sent.clone();
        let total = self.total;
        let progress = self.progress.clone();
        Arc::new(move |done, _| {
            if let Some(counter) = sent.get(slot) {
                counter.store(done, Ordering::Relaxed);
            }
            let sum = sent.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            progress(&Progress::Uploading { sent: sum, total });
        })
    }
}

/// The slot's callback of an optional meter.
pub(crate) fn slot(meter: &Option<UploadMeter>, slot: usize) -> Option<UploadProgress> {
    meter.as_ref().map(|meter| meter.slot(slot))
}

/// Calls an optional progress callback.
pub(crate) fn report(progress: &Option<ProgressFn>, event: Progress) {
    if let Some(progress) = progress {
        progress(&event);
    }
}

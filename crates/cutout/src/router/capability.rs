//! Whether a provider can take an input, from its documented [`Capabilities`] and the image's
//! header: a provider that cannot is skipped for the input, not tried.

use cutout_runtime::probe::{self, ImageInfo};
use cutout_runtime::{Capabilities, CutoutKind, Error, ImageSource};

use crate::Provider;

/// What the router knows of a local input: its size and header (`None` where unknown).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct InputFacts {
    pub(super) bytes: Option<u64>,
    pub(super) header: Option<ImageInfo>,
}

/// Whether any of these capabilities needs the size or the header of an input.
pub(super) fn needs_facts(capabilities: &Capabilities) -> bool {
    !capabilities.input_formats.is_empty()
        || capabilities.max_upload_bytes.is_some()
        || capabilities.max_side.is_some()
        || capabilities.max_pixels.is_some()
}

/// The size and header of a local input (nothing for a URL, which is not fetched). Reading a
/// header is a little blocking I/O, done off the async threads. A file that cannot be read or
/// is not an image gives no facts: the provider's own check reports that, with its own words.
pub(super) async fn facts(source: &ImageSource) -> InputFacts {
    match source {
        ImageSource::Url(_) => InputFacts::default(),
        ImageSource::Bytes { bytes, .. } => InputFacts {
            bytes: Some(bytes.len() as u64),
            header: probe::probe_bytes(bytes),
        },
        ImageSource::Path(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || InputFacts {
                bytes: std::fs::metadata(&path).ok().map(|m| m.len()),
                header: probe::probe_file(&path).ok().flatten(),
            })
            .await
            .unwrap_or_default()
        }
    }
}

/// `Err(why)` when `provider` cannot take `source` to make `kind`: [`Provider::check`] (local
/// files, outputs), then the documented formats and limits against `facts`.
pub(super) fn can_take(
    provider: Provider,
    source: &ImageSource,
    kind: CutoutKind,
    facts: &InputFacts,
) -> Result<(), String> {
    if let Err(error) = provider.check(source, kind) {
        return Err(match error {
            Error::Unsupported { message, .. } => message,
            other => other.to_string(),
        });
    }
    let capabilities = provider.capabilities();
    let name = source.describe();
    if let Some(header) = facts.header {
        if !capabilities.input_formats.is_empty()
            && !capabilities.input_formats.contains(&header.format)
        {
            return Err(format!(
                "`{name}` is a {} image; {provider} takes {}",
                header.format,
                capabilities.formats_text().unwrap_or_default()
            ));
        }
        if let Some(max) = capabilities.max_side
            && (header.width > max || header.height > max)
        {
            return Err(format!(
                "`{name}` is {}×{} pixels; {provider} takes at most {max} a side",
                header.width, header.height
            ));
        }
        let pixels = u64::from(header.width) * u64::from(header.height);
        if let Some(max) = capabilities.max_pixels
            && pixels > max
        {
            return Err(format!(
                "`{name}` has {pixels} pixels; {provider} takes at most {max}"
            ));
        }
    }
    if let (Some(bytes), Some(max)) = (facts.bytes, capabilities.max_upload_bytes)
        && bytes > max
    {
        return Err(format!(
            "`{name}` is {bytes} bytes; {provider} takes uploads of at most {max}"
        ));
    }
    Ok(())
}

/// After `provider` refused the input as invalid or unsupported (`status`, if it answered),
/// whether `later` has what `provider` lacked: only a documented difference counts (a larger
/// upload limit after a 413, a format `provider` does not list after a 415, any capability
/// after [`Error::Unsupported`]); an input that is simply bad is not sent around.
pub(super) fn later_has_what_was_missing(
    provider: Provider,
    later: Provider,
    status: Option<u16>,
    unsupported: bool,
    facts: &InputFacts,
) -> bool {
    let (this, that) = (provider.capabilities(), later.capabilities());
    if unsupported {
        return true;
    }
    match status {
        Some(413) => match (this.max_upload_bytes, that.max_upload_bytes) {
            (Some(this), Some(that)) => that > this,
            _ => false,
        },
        Some(415) => facts.header.is_some_and(|header| {
            !this.input_formats.contains(&header.format)
                && that.input_formats.contains(&header.format)
        }),
        _ => false,
    }
}

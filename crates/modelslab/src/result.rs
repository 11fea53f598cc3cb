//! What a finished background removal holds: [`MaskResult`] and its [`MaskOutput`] (links, or
//! base64 text when the request asked for it).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::jobs::{id_number, seconds};
use crate::{CutoutError, CutoutResult, PROVIDER, types};

/// A finished background removal. Its `Debug` shows the links without their query (they may
/// be presigned).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct MaskResult {
    /// ModelsLab's id of the request, when it gave one.
    pub id: Option<i64>,
    /// The images: links, or base64 text when `base64` was asked for.
    pub output: MaskOutput,
    /// The same images through ModelsLab's CDN.
    pub proxy_links: Vec<String>,
    /// How long the processing took.
    pub generation_time: Option<Duration>,
    /// The parameters the request ran with, as ModelsLab reports them (raw JSON values).
    pub meta: Option<types::Meta>,
}

impl fmt::Debug for MaskResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use cutout_runtime::validate::Redacted;
        f.debug_struct("MaskResult")
            .field("id", &self.id)
            .field("output", &Redacted(&self.output))
            .field("proxy_links", &Redacted(&self.proxy_links))
            .field("generation_time", &self.generation_time)
            .field("meta", &self.meta)
            .finish()
    }
}

impl From<types::ResultSuccess> for MaskResult {
    fn from(done: types::ResultSuccess) -> Self {
        Self {
            id: done.id.as_ref().and_then(id_number),
            output: MaskOutput::from_items(done.output),
            proxy_links: done.proxy_links.unwrap_or_default(),
            generation_time: seconds(done.generation_time),
            meta: done.meta,
        }
    }
}

impl MaskResult {
    /// Decodes base64 output (with or without a `data:…;base64,` prefix) into image bytes. An
    /// error when the output is links (download those instead) or not valid base64.
    pub fn decode_base64(&self) -> CutoutResult<Vec<Vec<u8>>> {
        let MaskOutput::Base64(items) = &self.output else {
            return Err(CutoutError::invalid(
                "output",
                "the result holds links, not base64 data: download them, or send the request \
                 with `.base64(true)`",
            ));
        };
        items
            .iter()
            .map(|item| {
                let data = match item.split_once(";base64,") {
                    Some((prefix, data)) if prefix.starts_with("data:") => data,
                    _ => item.as_str(),
                };
                STANDARD.decode(data.trim()).map_err(|e| {
                    CutoutError::unexpected(
                        PROVIDER.name,
                        "removebg_mask",
                        format!("an output image is not valid base64: {e}"),
                    )
                    .with_status(200)
                })
            })
            .collect()
    }
}

/// The images of a result.
#[derive(Clone, PartialEq, Eq)]
pub enum MaskOutput {
    /// Links to the images.
    Urls(Vec<String>),
    /// The images as base64 text (possibly as `data:` URIs).
    Base64(Vec<String>),
}

impl fmt::Debug for MaskOutput {
    /// Base64 images are shown by length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaskOutput::Urls(urls) => f.debug_tuple("Urls").field(urls).finish(),
            MaskOutput::Base64(items) => {
                let lengths: Vec<String> = items
                    .iter()
                    .map(|item| format!("<{} base64 chars>", item.len()))
                    .collect();
                f.debug_tuple("Base64").field(&lengths).finish()
            }
        }
    }
}

impl MaskOutput {
    /// Links when every item is an `http(s)` URL (an empty list counts as links), base64
    /// otherwise.
    fn from_items(items: Vec<String>) -> Self {
        if items
            .iter()
            .all(|item| item.starts_with("https://") || item.starts_with("http://"))
        {
            MaskOutput::Urls(items)
        } else {
            MaskOutput::Base64(items)
        }
    }

    /// The links; empty for base64 output.
    pub fn urls(&self) -> &[String] {
        match self {
            MaskOutput::Urls(urls) => urls,
            MaskOutput::Base64(_) => &[],
        }
    }

    /// How many images there are.
    pub fn len(&self) -> usize {
        match self {
            MaskOutput::Urls(items) | MaskOutput::Base64(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_kinds() {
        let urls = MaskOutput::from_items(vec!["https://cdn.example.com/a.png".into()]);
        assert_eq!(urls.urls().len(), 1);
        let data = MaskOutput::from_items(vec!["iVBORw0KGgo=".into()]);
        assert!(data.urls().is_empty());
        assert_eq!(format!("{data:?}"), "Base64([\"<12 base64 chars>\"])");
    }
}

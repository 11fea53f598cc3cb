//! Segmentation requests ([`SegmentationRequest`]), checked before they are sent.
//!
//! A [`SegmentationRequest`] is either by **text** ([`SegmentationRequest::text`]: a prompt, with a detection
//! confidence, a cap on detections and whether to merge their masks) or by **points**
//! ([`SegmentationRequest::points`]: positive and negative points, with refinement steps and candidate
//! mask choices). The mode is part of the type, so a text-only option cannot be set on a points
//! request or the other way round. The mask post-processing (expand, blur, kernel, tapered
//! corners), the output format and the webhook are common to both.
//!
//! [`SegmentationRequest::submit`] checks the whole request and sends nothing when a value is out of range:
//!
//! - the image URL is an absolute `http(s)://` URL (a local path is
//!   [`CutoutError::Unsupported`]: Tengr fetches images by URL);
//! - the prompt is not empty; confidence is in 0..=1; max detections in -1..=100 (-1: no limit);
//! - there is at least one positive point; every point is finite and in 0.0..=1.0 (fractions of
//!   the image's width and height); refinement steps are at most 10;
//! - mask expand is in -16384..=16384, blur sigma in 0.1..=100, kernel size at most 100;
//! - the webhook passes [`webhook::check_url`].
//!
//! Points are sent as `{points: [[x, y], …], labels: […]}` with one label per point: 1 for
//! positive points and 0 for negative ones (the labels' meaning is not published; these are the
//! usual foreground/background values).
//!
//! # Examples
//!
//! ```no_run
//! use artworks_seg::{Client, SegmentationRequest, WaitPolicy, types::OutputFormat};
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?;
//! let by_text = SegmentationRequest::text("https://example.com/street.jpg", "the red car")
//!     .confidence(0.4)
//!     .max_detections(1)
//!     .output_format(OutputFormat::Png);
//! let mut job = by_text.submit(&client).await?;
//! job.wait(&WaitPolicy::default(), |p| println!("{}", p.status)).await?;
//! let files = job.download_results("masks", false).await?;
//!
//! let by_points = SegmentationRequest::points("https://example.com/street.jpg")
//!     .positive(0.42, 0.61)
//!     .negative(0.10, 0.15)
//!     .mask_expand(4)
//!     .webhook("https://hooks.example.com/tengr");
//! let job = by_points.submit(&client).await?;
//! println!("artwork {} is {}", job.id(), job.status());
//! # Ok(()) }
//! ```
//!
//! Every submission is paid. To survive a crash without paying twice, keep the artwork id as
//! soon as `submit` returns, and re-attach to it later with [`Client::artwork`] (it reads the
//! artwork; nothing is created):
//!
//! ```no_run
//! use artworks_seg::{Client, SegmentationRequest, WaitPolicy};
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?;
//! let job = SegmentationRequest::text("https://example.com/street.jpg", "the red car")
//!     .submit(&client)
//!     .await?;
//! let id = job.id().to_owned(); // store it (a journal, a database row) before waiting
//!
//! // … later, maybe after a restart:
//! let mut job = client.artwork(&id).await?;
//! job.wait(&WaitPolicy::default(), |_| {}).await?;
//! let masks = job.result_bytes().await?;
//! # let _ = masks;
//! # Ok(()) }
//! ```

use std::fmt;

use crate::artworks::ArtworkJob;
use crate::types::{self, OutputFormat};
use crate::{Client, CutoutError, CutoutResult, webhook};

/// What a text segmentation looks for. Made by [`SegmentationRequest::text`].
#[derive(Debug, Clone, PartialEq)]
pub struct TextMode {
    prompt: String,
    confidence: Option<f64>,
    max_detections: Option<i64>,
    combine_masks: Option<bool>,
}

/// Where a points segmentation looks. Made by [`SegmentationRequest::points`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointsMode {
    positive: Vec<(f64, f64)>,
    negative: Vec<(f64, f64)>,
    refinement_steps: Option<u32>,
    multimask: Option<bool>,
    best_mask: Option<bool>,
}

mod sealed {
    use crate::{CutoutResult, types};

    /// Fills the mode's part of a request, checking it. Not implementable outside this crate.
    pub trait Sealed {
        fn apply(&self, request: &mut types::SegmentationRequest) -> CutoutResult<()>;
    }
}

/// The two modes, [`TextMode`] and [`PointsMode`].
pub trait SegmentationMode: sealed::Sealed + Clone + fmt::Debug + Send + Sync {}
impl SegmentationMode for TextMode {}
impl SegmentationMode for PointsMode {}

/// A segmentation request: by text ([`SegmentationRequest::text`]) or by points
/// ([`SegmentationRequest::points`]). Send it with [`submit`](Self::submit); check it without sending with
/// [`to_request`](Self::to_request).
#[derive(Clone, PartialEq)]
pub struct SegmentationRequest<M> {
    image_url: String,
    mode: M,
    mask_expand: Option<i64>,
    mask_blur_sigma: Option<f64>,
    mask_kernel_size: Option<u32>,
    tapered_corners: Option<bool>,
    output_format: Option<OutputFormat>,
    webhook: Option<String>,
}

impl<M: fmt::Debug> fmt::Debug for SegmentationRequest<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentationRequest")
            .field("image_url", &webhook::shown(&self.image_url))
            .field("mode", &self.mode)
            .field("mask_expand", &self.mask_expand)
            .field("mask_blur_sigma", &self.mask_blur_sigma)
            .field("mask_kernel_size", &self.mask_kernel_size)
            .field("tapered_corners", &self.tapered_corners)
            .field("output_format", &self.output_format)
            // A webhook URL may carry a token in its query.
            .field("webhook", &self.webhook.as_deref().map(webhook::shown))
            .finish()
    }
}

impl<M> SegmentationRequest<M> {
    fn with_mode(image_url: String, mode: M) -> Self {
        Self {
            image_url,
            mode,
            mask_expand: None,
            mask_blur_sigma: None,
            mask_kernel_size: None,
            tapered_corners: None,
            output_format: None,
            webhook: None,
        }
    }

    /// Grows (positive) or shrinks (negative) the masks, -16384..=16384 (default 0).
    pub fn mask_expand(mut self, amount: i64) -> Self {
        self.mask_expand = Some(amount);
        self
    }

    /// The strength of the blur around the masks, 0.1..=100 (default 0.1).
    pub fn mask_blur_sigma(mut self, sigma: f64) -> Self {
        self.mask_blur_sigma = Some(sigma);
        self
    }

    /// The size of the area the blur covers, 0..=100 (default 0).
    pub fn mask_kernel_size(mut self, size: u32) -> Self {
        self.mask_kernel_size = Some(size);
        self
    }

    /// Smooths the masks' corners while they are expanded.
    pub fn tapered_corners(mut self, tapered: bool) -> Self {
        self.tapered_corners = Some(tapered);
        self
    }

    /// The format of the result images: `Auto` (the server's choice, currently WebP), `Png` or
    /// `Webp`.
    pub fn output_format(mut self, format: OutputFormat) -> Self {
        self.output_format = Some(format);
        self
    }

    /// An HTTPS URL of a public host that receives the final artwork (see [`crate::webhook`]).
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }
}

impl SegmentationRequest<TextMode> {
    /// Segments what `prompt` describes in the image at `image_url` (an `http(s)://` URL Tengr can
    /// fetch).
    pub fn text(image_url: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self::with_mode(
            image_url.into(),
            TextMode {
                prompt: prompt.into(),
                confidence: None,
                max_detections: None,
                combine_masks: None,
            },
        )
    }

    /// The lowest detection confidence kept, 0..=1 (default 0.2).
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.mode.confidence = Some(confidence);
        self
    }

    /// The most detections kept, -1..=100; -1 (the default) keeps all.
    pub fn max_detections(mut self, max: i64) -> Self {
        self.mode.max_detections = Some(max);
        self
    }

    /// Merges the masks of all detections into one (default true).
    pub fn combine_masks(mut self, combine: bool) -> Self {
        self.mode.combine_masks = Some(combine);
        self
    }
}

impl SegmentationRequest<PointsMode> {
    /// Segments what the points added next mark in the image at `image_url` (an `http(s)://` URL
    /// Tengr can fetch). At least one [`positive`](Self::positive) point is needed.
    pub fn points(image_url: impl Into<String>) -> Self {
        Self::with_mode(image_url.into(), PointsMode::default())
    }

    /// A point on what the mask should cover; `x` and `y` are fractions of the image's width and
    /// height, 0.0..=1.0.
    pub fn positive(mut self, x: f64, y: f64) -> Self {
        self.mode.positive.push((x, y));
        self
    }

    /// A point on what the mask should leave out; `x` and `y` in 0.0..=1.0.
    pub fn negative(mut self, x: f64, y: f64) -> Self {
        self.mode.negative.push((x, y));
        self
    }

    /// Refinement passes over the first mask, 0..=10 (default 0).
    pub fn refinement_steps(mut self, steps: u32) -> Self {
        self.mode.refinement_steps = Some(steps);
        self
    }

    /// Produces several candidate masks (default true).
    pub fn multimask(mut self, multimask: bool) -> Self {
        self.mode.multimask = Some(multimask);
        self
    }

    /// Keeps only the best candidate mask (default true).
    pub fn best_mask(mut self, best: bool) -> Self {
        self.mode.best_mask = Some(best);
        self
    }
}

impl<M: SegmentationMode> SegmentationRequest<M> {
    /// Checks every value and makes the wire request, without sending anything.
    pub fn to_request(&self) -> CutoutResult<types::SegmentationRequest> {
        check_image_url(&self.image_url)?;
        // The builder, not a struct literal: a field Tengr adds later must not break this crate.
        let mut request: types::SegmentationRequest = CutoutError::incomplete_request(
            types::SegmentationRequest::builder()
                .image_url(self.image_url.trim().to_owned())
                .mask_blur_sigma(0.1)
                .mask_expand(0)
                .mask_kernel_size(0)
                .mask_tapered_corners(self.tapered_corners)
                .method(types::SegmentationMethod::Text)
                .output_format(self.output_format)
                .points_best_mask(true)
                .points_multimask(true)
                .points_negative(None)
                .points_positive(None)
                .points_refinement_steps(0)
                .text_combine_masks(true)
                .text_confidence(0.2)
                .text_max_detections(-1)
                .text_prompt(None)
                .webhook(None)
                .try_into(),
        )?;
        sealed::Sealed::apply(&self.mode, &mut request)?;
        if let Some(amount) = self.mask_expand {
            if !(-16384..=16384).contains(&amount) {
                return Err(CutoutError::invalid(
                    "mask_expand",
                    format!(
                        "{amount} is outside -16384..=16384: pass a smaller growth (positive) or \
                         shrink (negative)"
                    ),
                ));
            }
            request.mask_expand = amount;
        }
        if let Some(sigma) = self.mask_blur_sigma {
            if !(sigma.is_finite() && (0.1..=100.0).contains(&sigma)) {
                return Err(CutoutError::invalid(
                    "mask_blur_sigma",
                    format!("{sigma} is outside 0.1..=100: pass a blur strength in that range"),
                ));
            }
            request.mask_blur_sigma = sigma;
        }
        if let Some(size) = self.mask_kernel_size {
            if size > 100 {
                return Err(CutoutError::invalid(
                    "mask_kernel_size",
                    format!("{size} is above 100: pass a blur area from 0 to 100"),
                ));
            }
            request.mask_kernel_size = i64::from(size);
        }
        if let Some(url) = &self.webhook {
            webhook::check_url(url)?;
            request.webhook = Some(url.trim().to_owned());
        }
        Ok(request)
    }
}

impl sealed::Sealed for TextMode {
    fn apply(&self, request: &mut types::SegmentationRequest) -> CutoutResult<()> {
        request.method = types::SegmentationMethod::Text;
        if self.prompt.trim().is_empty() {
            return Err(CutoutError::invalid(
                "prompt",
                "the text prompt is empty: describe what to segment, e.g. \"the red car\"",
            ));
        }
        request.text_prompt = Some(self.prompt.clone());
        if let Some(confidence) = self.confidence {
            if !(confidence.is_finite() && (0.0..=1.0).contains(&confidence)) {
                return Err(CutoutError::invalid(
                    "confidence",
                    format!(
                        "{confidence} is outside 0..=1: pass a detection threshold such as 0.2"
                    ),
                ));
            }
            request.text_confidence = confidence;
        }
        if let Some(max) = self.max_detections {
            if !(-1..=100).contains(&max) {
                return Err(CutoutError::invalid(
                    "max_detections",
                    format!("{max} is outside -1..=100: pass at most 100, or -1 for no limit"),
                ));
            }
            request.text_max_detections = max;
        }
        if let Some(combine) = self.combine_masks {
            request.text_combine_masks = combine;
        }
        Ok(())
    }
}

impl sealed::Sealed for PointsMode {
    fn apply(&self, request: &mut types::SegmentationRequest) -> CutoutResult<()> {
        request.method = types::SegmentationMethod::Points;
        if self.positive.is_empty() {
            return Err(CutoutError::invalid(
                "points_positive",
                "a points segmentation needs at least one positive point: add one on the subject \
                 with `.positive(x, y)` (x and y are fractions of the width and height)",
            ));
        }
        request.points_positive = Some(point_set(&self.positive, "points_positive", 1)?);
        if !self.negative.is_empty() {
            request.points_negative = Some(point_set(&self.negative, "points_negative", 0)?);
        }
        if let Some(steps) = self.refinement_steps {
            if steps > 10 {
                return Err(CutoutError::invalid(
                    "refinement_steps",
                    format!("{steps} is above 10: pass 0 to 10 refinement passes"),
                ));
            }
            request.points_refinement_steps = i64::from(steps);
        }
        if let Some(multimask) = self.multimask {
            request.points_multimask = multimask;
        }
        if let Some(best) = self.best_mask {
            request.points_best_mask = best;
        }
        Ok(())
    }
}

/// Checks the points and labels each one with `label`.
fn point_set(points: &[(f64, f64)], field: &str, label: i64) -> CutoutResult<types::PointSet> {
    for (index, &(x, y)) in points.iter().enumerate() {
        let inside = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !inside(x) || !inside(y) {
            return Err(CutoutError::invalid(
                format!("{field}[{index}]"),
                format!(
                    "({x}, {y}) is not in 0.0..=1.0: points are fractions of the image's width \
                     and height (divide pixel positions by the image size)"
                ),
            ));
        }
    }
    CutoutError::incomplete_request(
        types::PointSet::builder()
            .points(
                points
                    .iter()
                    .map(|&(x, y)| types::NormalizedPoint([x, y]))
                    .collect::<Vec<_>>(),
            )
            .labels(vec![label; points.len()])
            .try_into(),
    )
}

/// An absolute `http(s)://` URL; a local path is [`CutoutError::Unsupported`].
pub(crate) fn check_image_url(url: &str) -> CutoutResult<()> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(CutoutError::invalid(
            "image_url",
            "the image URL is empty: pass the http(s):// URL of the image",
        ));
    }
    let local = || CutoutError::Unsupported {
        provider: crate::PROVIDER.name,
        message: format!(
            "`{}` is a local path, but Tengr fetches images by URL: put the file somewhere public \
             and pass its URL",
            webhook::shown(trimmed)
        ),
    };
    let parsed = match url::Url::parse(trimmed) {
        Ok(parsed) => parsed,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(local()),
        Err(e) => {
            return Err(CutoutError::invalid(
                "image_url",
                format!(
                    "`{}` is not a URL ({e}): pass the http(s):// URL of the image",
                    webhook::shown(trimmed)
                ),
            ));
        }
    };
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(()),
        "http" | "https" => Err(CutoutError::invalid(
            "image_url",
            format!(
                "`{}` has no host: pass the http(s):// URL of the image",
                webhook::display(&parsed)
            ),
        )),
        // `file:` URLs and Windows drive letters (`C:\photo.jpg` parses with scheme `c`).
        scheme if scheme == "file" || scheme.len() == 1 => Err(local()),
        scheme => Err(CutoutError::invalid(
            "image_url",
            format!(
                "`{}` has scheme `{scheme}`: Tengr fetches images over http(s)://",
                webhook::display(&parsed)
            ),
        )),
    }
}

impl<M: SegmentationMode> SegmentationRequest<M> {
    /// Checks the request (see the [module docs](crate::segmentation)) and creates the artwork
    /// with `client`. The answer comes at once, usually with status `starting`;
    /// [`ArtworkJob::wait`] follows it to the end. Not re-sent after a timeout or a 502/504,
    /// which may have created it.
    pub async fn submit(self, client: &Client) -> CutoutResult<ArtworkJob> {
        let request = self.to_request()?;
        let send = client.create_segmentation().body(request).send();
        ArtworkJob::create(client, "create_segmentation", send).await
    }
}

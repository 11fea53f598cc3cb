//! Background removal in one call, into one or more output variants.
//!
//! [`Client::remove_bg`] uploads the image under a fresh key, asks BackgroundCut for every
//! [`Variant`] (format, size limit, quality, background colour, compression, cropping), then mints a
//! link for each output and downloads it. Without a variant, one PNG cut-out on transparency is
//! made. [`RemoveBgRequest::submit`] stops before the downloads and returns the output keys in an
//! [`OutputJob`], to download now or later ([`Client::output`]).
//!
//! Checked before anything is sent: the input is an image, each `output_compression` is in
//! 1..=100, each `max_resolution` is at least 1, explicit output keys are not empty. Other
//! limits (the accepted formats and quality levels, the colour notation) are not published, so
//! they are passed through as given.
//!
//! # Examples
//!
//! ```no_run
//! use backgroundcut::{Client, ImageSource, Variant};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?;
//! let outputs = client
//!     .remove_bg(ImageSource::path("photo.jpg"))
//!     .variant(Variant::png())
//!     .variant(
//!         Variant::jpg()
//!             .background_color("#ffffff")
//!             .max_resolution(1_000_000)
//!             .output_compression(80)
//!             .autocrop(true),
//!     )
//!     .run()
//!     .await?;
//! outputs[0].save("photo.cutout.png", false).await?;
//! outputs[1].save("photo.thumb.jpg", false).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use cutout_runtime::{Progress, ProgressFn};

use crate::error::explain;
use crate::inputs::{self, UploadMeter, check_compression, report};
use crate::storage::{OutputJob, StoredOutput, check_key, source_len, unique_key};
use crate::types;
use crate::{Client, CutoutError, CutoutResult, ImageSource};

/// The image format of an output variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VariantFormat {
    /// PNG, with transparency (the default).
    #[default]
    Png,
    /// WebP.
    Webp,
    /// JPEG (no transparency: set a background colour).
    Jpg,
}

impl VariantFormat {
    /// The value sent as `format`, and the extension of generated keys.
    pub fn as_str(self) -> &'static str {
        match self {
            VariantFormat::Png => "png",
            VariantFormat::Webp => "webp",
            VariantFormat::Jpg => "jpg",
        }
    }
}

/// One output file of a background removal. Unset fields take BackgroundCut's defaults
/// (12 megapixels, `medium` quality, transparent background, compression 85, no cropping).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Variant {
    format: VariantFormat,
    output_key: Option<String>,
    max_resolution: Option<u64>,
    quality: Option<String>,
    background_color: Option<String>,
    output_compression: Option<u32>,
    autocrop: bool,
}

impl Variant {
    /// A PNG output.
    pub fn png() -> Self {
        Self::new(VariantFormat::Png)
    }
    /// A WebP output.
    pub fn webp() -> Self {
        Self::new(VariantFormat::Webp)
    }
    /// A JPEG output.
    pub fn jpg() -> Self {
        Self::new(VariantFormat::Jpg)
    }
    /// An output in `format`.
    pub fn new(format: VariantFormat) -> Self {
        Self {
            format,
            ..Self::default()
        }
    }
    /// Writes this output under `key` instead of a fresh one (replacing a file already there).
    pub fn output_key(mut self, key: impl Into<String>) -> Self {
        self.output_key = Some(key.into());
        self
    }
    /// The most pixels (width × height) the output may have; BackgroundCut's default is
    /// 12 000 000.
    pub fn max_resolution(mut self, pixels: u64) -> Self {
        self.max_resolution = Some(pixels);
        self
    }
    /// The processing quality level (`medium` by default; other levels are not published and are
    /// passed through).
    pub fn quality(mut self, quality: impl Into<String>) -> Self {
        self.quality = Some(quality.into());
        self
    }
    /// Fills the removed background with this colour instead of transparency (notation not
    /// published; passed through).
    pub fn background_color(mut self, color: impl Into<String>) -> Self {
        self.background_color = Some(color.into());
        self
    }
    /// Encoder quality for lossy formats, 1..=100 (default 85).
    pub fn output_compression(mut self, quality: u32) -> Self {
        self.output_compression = Some(quality);
        self
    }
    /// Crops the output to the subject's bounding box.
    pub fn autocrop(mut self, autocrop: bool) -> Self {
        self.autocrop = autocrop;
        self
    }
}

/// A background removal being set up. Made by [`Client::remove_bg`]; nothing is sent before
/// [`run`](Self::run) or [`submit`](Self::submit).
#[must_use = "a background removal does nothing until `run` or `submit` is awaited"]
pub struct RemoveBgRequest<'a> {
    client: &'a Client,
    image: ImageSource,
    variants: Vec<Variant>,
    key_prefix: String,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for RemoveBgRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveBgRequest")
            .field("image", &self.image)
            .field("variants", &self.variants)
            .field("key_prefix", &self.key_prefix)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Removes the background of `image` into the variants added with
    /// [`RemoveBgRequest::variant`] (one PNG when none is added). See the
    /// [module docs](crate::remove_bg).
    pub fn remove_bg(&self, image: impl Into<ImageSource>) -> RemoveBgRequest<'_> {
        RemoveBgRequest {
            client: self,
            image: image.into(),
            variants: Vec::new(),
            key_prefix: "cutout/".to_owned(),
            progress: None,
        }
    }
}

impl<'a> RemoveBgRequest<'a> {
    /// Adds an output variant.
    pub fn variant(mut self, variant: Variant) -> Self {
        self.variants.push(variant);
        self
    }

    /// The start of every key this request makes (default `cutout/`; the slash is part of the key).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Called with [`Progress::Uploading`], [`Progress::Submitted`] (the first output key as the
    /// job id) and [`Progress::Downloading`].
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Uploads, processes, and downloads every output, in the order of the variants:
    /// [`submit`](Self::submit), then [`OutputJob::download_all`].
    pub async fn run(self) -> CutoutResult<Vec<StoredOutput>> {
        let progress = self.progress.clone();
        let job = self.submit().await?;
        report(&progress, Progress::Downloading);
        job.download_all().await
    }

    /// Uploads and processes (the paid step), without downloading: the returned [`OutputJob`]
    /// holds the output keys, in the order of the variants. Keep them to download the results
    /// later ([`Client::output`]), even from another process, within the 2 hours BackgroundCut
    /// keeps them.
    ///
    /// ```no_run
    /// # async fn run(client: backgroundcut::Client) -> Result<(), backgroundcut::CutoutError> {
    /// use backgroundcut::ImageSource;
    /// let job = client.remove_bg(ImageSource::path("photo.jpg")).submit().await?;
    /// let key = job.output_key().unwrap_or_default().to_owned(); // store it before downloading
    ///
    /// // … later, maybe after a restart:
    /// let cutout = client.output([key]).download().await?;
    /// cutout.save("photo.cutout.png", false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn submit(self) -> CutoutResult<OutputJob> {
        let variants = if self.variants.is_empty() {
            vec![Variant::png()]
        } else {
            self.variants.clone()
        };
        let mut wire = Vec::with_capacity(variants.len());
        for (index, variant) in variants.iter().enumerate() {
            wire.push(self.to_wire(index, variant)?);
        }
        let client = self.client;
        let image = client.fetch_if_url(self.image.clone(), "image").await?;
        let info = inputs::probe(&image, "image")?;
        let input_key = unique_key(
            &format!("{}input-", self.key_prefix),
            info.format.extension(),
        );
        let meter = UploadMeter::new(self.progress.as_ref(), &[source_len(&image)?]);
        client
            .upload_resolved(&image, &input_key, inputs::slot(&meter, 0))
            .await?;

        let request: types::RemoveBgRequest = CutoutError::incomplete_request(
            types::RemoveBgRequest::builder()
                .input_key(input_key.clone())
                .output_variants(wire)
                .try_into(),
        )?;
        let answer = client
            .context()
            .call(
                "process_remove_bg",
                client.process_remove_bg().body(request).send(),
            )
            .await
            .map_err(|error| explain(error, &[&input_key]))?
            .into_inner();
        // One output per variant asked for: keys beyond those are not kept (a server listing
        // thousands must not make us fetch thousands).
        let keys: Vec<String> = answer
            .output_keys
            .into_iter()
            .take(variants.len())
            .collect();
        let Some(first) = keys.first() else {
            return Err(CutoutError::unexpected(
                crate::PROVIDER.name,
                "process_remove_bg",
                "the answer lists no output key",
            )
            .with_status(200));
        };
        report(
            &self.progress,
            Progress::Submitted {
                job_id: first.clone(),
            },
        );
        Ok(client.output(keys))
    }

    /// Checks one variant and makes its wire form.
    fn to_wire(&self, index: usize, variant: &Variant) -> CutoutResult<types::OutputVariant> {
        let field = |name: &str| format!("output_variants[{index}].{name}");
        check_compression(variant.output_compression, &field("output_compression"))?;
        let max_resolution = match variant.max_resolution {
            None => 12_000_000,
            Some(0) => {
                return Err(CutoutError::invalid(
                    field("max_resolution"),
                    "0 pixels leaves nothing: pass at least 1 (BackgroundCut's default is \
                     12 000 000)",
                ));
            }
            Some(pixels) => i64::try_from(pixels).map_err(|_| {
                CutoutError::invalid(
                    field("max_resolution"),
                    format!("{pixels} is too large: pass at most {}", i64::MAX),
                )
            })?,
        };
        let output_key = match &variant.output_key {
            Some(key) => {
                check_key(key, &field("output_key"))?;
                key.clone()
            }
            None => unique_key(
                &format!("{}cutout-", self.key_prefix),
                variant.format.as_str(),
            ),
        };
        CutoutError::incomplete_request(
            types::OutputVariant::builder()
                .autocrop(variant.autocrop)
                .background_color(variant.background_color.clone())
                .format(variant.format.as_str().to_owned())
                .max_resolution(max_resolution)
                .output_compression(i64::from(variant.output_compression.unwrap_or(85)))
                .output_key(output_key)
                .quality(
                    variant
                        .quality
                        .clone()
                        .unwrap_or_else(|| "medium".to_owned()),
                )
                .try_into(),
        )
    }
}

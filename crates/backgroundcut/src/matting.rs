//! Trimap-guided matting in one call: check → upload → process → download.
//!
//! [`Client::matting`] takes the photo and its trimap and returns a [`MattingRequest`] builder;
//! [`MattingRequest::run`] then
//!
//! 1. checks everything the API would refuse, **before anything is uploaded**: the photo is an RGB
//!    JPEG, the trimap is a grayscale JPEG of exactly the photo's size, the output key's extension
//!    fits the output type, the compression is in 1..=100;
//! 2. uploads both files under fresh keys ([`unique_key`]), at the same
//!    time, streamed from disk;
//! 3. runs matting (not retried after a 504 or a broken connection: the job may have been taken);
//! 4. mints a public link for the result and downloads it, without the API key.
//!
//! [`MattingRequest::submit`] stops after step 3 and returns an [`OutputJob`] holding the output
//! key: keep the key, and download the result later with [`Client::output`] (no paid request).
//!
//! Inputs given as [`ImageSource::Url`] are downloaded first (BackgroundCut reads only its own
//! store), then checked and uploaded like local files.
//!
//! Uploaded files are deleted by BackgroundCut 2 hours after upload; a 404 says so.
//!
//! # Examples
//!
//! ```no_run
//! use backgroundcut::{Client, ImageSource, MattingFormat, types::MattingOutputType};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?;
//! let result = client
//!     .matting(ImageSource::path("photo.jpg"), ImageSource::path("trimap.jpg"))
//!     .output_type(MattingOutputType::Rgba)
//!     .output_format(MattingFormat::Webp)
//!     .output_compression(90)
//!     .key_prefix("my-project/")
//!     .on_progress(|event| println!("{event:?}"))
//!     .run()
//!     .await?;
//! result.save("photo.cutout.webp", false).await?;
//!
//! // Or stream the result straight to a file:
//! client
//!     .matting(ImageSource::path("photo.jpg"), ImageSource::path("trimap.jpg"))
//!     .output_type(MattingOutputType::Mask)
//!     .run_to("photo.matte.jpg", true)
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;

use cutout_runtime::probe::ColorLayout;
use cutout_runtime::{Progress, ProgressFn};

use crate::error::explain;
use crate::inputs::{self, UploadMeter, check_compression, key_extension, report};
use crate::storage::{OutputJob, SavedOutput, StoredOutput, check_key, source_len, unique_key};
use crate::types::{self, MattingOutputType};
use crate::{Client, CutoutError, CutoutResult, ImageSource};

/// The image format of an `rgba` matting result. (A `mask` result is always a JPEG.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MattingFormat {
    /// Lossless PNG (the default). `output_compression` does not apply.
    #[default]
    Png,
    /// WebP, with `output_compression` as its quality.
    Webp,
}

impl MattingFormat {
    fn extension(self) -> &'static str {
        match self {
            MattingFormat::Png => "png",
            MattingFormat::Webp => "webp",
        }
    }
}

/// A matting run being set up. Made by [`Client::matting`]; nothing is sent before
/// [`run`](Self::run), [`run_to`](Self::run_to) or [`submit`](Self::submit).
#[must_use = "a matting request does nothing until `run`, `run_to` or `submit` is awaited"]
pub struct MattingRequest<'a> {
    client: &'a Client,
    image: ImageSource,
    trimap: ImageSource,
    output_type: MattingOutputType,
    output_format: Option<MattingFormat>,
    output_compression: Option<u32>,
    output_key: Option<String>,
    key_prefix: String,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for MattingRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MattingRequest")
            .field("image", &self.image)
            .field("trimap", &self.trimap)
            .field("output_type", &self.output_type)
            .field("output_format", &self.output_format)
            .field("output_compression", &self.output_compression)
            .field("output_key", &self.output_key)
            .field("key_prefix", &self.key_prefix)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

/// What the checks established, ready to upload.
struct Checked {
    image: ImageSource,
    trimap: ImageSource,
    output_key: String,
}

impl Client {
    /// Mattes `image` (an RGB JPEG) guided by `trimap` (a grayscale JPEG of exactly the same size:
    /// 255 foreground, 0 background, about 128 for the band the model resolves). See the
    /// [module docs](crate::matting) for the steps.
    pub fn matting(
        &self,
        image: impl Into<ImageSource>,
        trimap: impl Into<ImageSource>,
    ) -> MattingRequest<'_> {
        MattingRequest {
            client: self,
            image: image.into(),
            trimap: trimap.into(),
            output_type: MattingOutputType::Rgba,
            output_format: None,
            output_compression: None,
            output_key: None,
            key_prefix: "cutout/".to_owned(),
            progress: None,
        }
    }
}

impl<'a> MattingRequest<'a> {
    /// `Rgba` (default): the colour cut-out on transparency. `Mask`: the grayscale matte, as a
    /// JPEG.
    pub fn output_type(mut self, output_type: MattingOutputType) -> Self {
        self.output_type = output_type;
        self
    }

    /// The format of an `Rgba` result (PNG by default). Not allowed with `Mask` output, which is
    /// always a JPEG.
    pub fn output_format(mut self, format: MattingFormat) -> Self {
        self.output_format = Some(format);
        self
    }

    /// Encoder quality for lossy results (WebP, and the JPEG of a mask), 1..=100; BackgroundCut's
    /// default is 95. PNG ignores it.
    pub fn output_compression(mut self, quality: u32) -> Self {
        self.output_compression = Some(quality);
        self
    }

    /// Writes the result under this key instead of a fresh one. Its extension must fit the output
    /// type: `.png`/`.webp` for `Rgba`, `.jpg`/`.jpeg` for `Mask`. An existing file under the key
    /// is replaced.
    pub fn output_key(mut self, key: impl Into<String>) -> Self {
        self.output_key = Some(key.into());
        self
    }

    /// The start of every key this request makes (default `cutout/`). Keys are flat names: the slash
    /// is part of the key, not a folder.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Called with [`Progress::Uploading`] (both files together), [`Progress::Submitted`] (with the
    /// output key as the job id) and [`Progress::Downloading`].
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Runs the request and downloads the result into memory: [`submit`](Self::submit), then
    /// [`OutputJob::download`].
    pub async fn run(self) -> CutoutResult<StoredOutput> {
        let progress = self.progress.clone();
        let job = self.submit().await?;
        report(&progress, Progress::Downloading);
        job.download().await
    }

    /// Runs the request and streams the result to `path` (a temporary file renamed into place). Without
    /// `overwrite`, an existing `path` is refused before anything is uploaded.
    pub async fn run_to(
        self,
        path: impl AsRef<Path>,
        overwrite: bool,
    ) -> CutoutResult<SavedOutput> {
        let path = path.as_ref();
        cutout_runtime::validate::destination_free(path, overwrite)?;
        let progress = self.progress.clone();
        let job = self.submit().await?;
        report(&progress, Progress::Downloading);
        job.download_to(path, overwrite).await
    }

    /// Checks, uploads and runs matting (the paid step), without downloading: the returned
    /// [`OutputJob`] holds the output key. Keep it to download the result later
    /// ([`Client::output`]), even from another process, within the 2 hours BackgroundCut keeps
    /// it.
    ///
    /// ```no_run
    /// # async fn run(client: backgroundcut::Client) -> Result<(), backgroundcut::CutoutError> {
    /// use backgroundcut::ImageSource;
    /// let job = client
    ///     .matting(ImageSource::path("photo.jpg"), ImageSource::path("trimap.jpg"))
    ///     .submit()
    ///     .await?;
    /// let key = job.output_key().unwrap_or_default().to_owned(); // store it before downloading
    ///
    /// // … later, maybe after a restart:
    /// client.output([key]).download_to("photo.cutout.png", false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn submit(self) -> CutoutResult<OutputJob> {
        let checked = self.check().await?;
        let output_key = self.process(checked).await?;
        Ok(self.client.output([output_key]))
    }

    /// Every local check, in the order a user would fix them; nothing is sent to the API.
    async fn check(&self) -> CutoutResult<Checked> {
        let output_key = self.check_output()?;
        let image = self
            .client
            .fetch_if_url(self.image.clone(), "image")
            .await?;
        let trimap = self
            .client
            .fetch_if_url(self.trimap.clone(), "trimap")
            .await?;
        check_inputs(&image, &trimap)?;
        Ok(Checked {
            image,
            trimap,
            output_key,
        })
    }

    /// The output settings: compression, type and format, and the output key (given, or a fresh
    /// one with the extension they imply).
    fn check_output(&self) -> CutoutResult<String> {
        check_compression(self.output_compression, "output_compression")?;
        // Comparisons, not a `match`: a type a spec update adds must not stop this crate from
        // compiling (it is refused until the crate knows its key rules).
        let (allowed, advice): (&[&str], &str) = if self.output_type == MattingOutputType::Rgba {
            (
                &["png", "webp"],
                "rgba output must be written to a .png or .webp key: change the key's extension \
                 (or use output_type mask for a JPEG matte)",
            )
        } else if self.output_type == MattingOutputType::Mask {
            (
                &["jpg", "jpeg"],
                "mask output must be written to a .jpg or .jpeg key: change the key's extension \
                 (or use output_type rgba for a PNG or WebP cut-out)",
            )
        } else {
            return Err(CutoutError::Unsupported {
                provider: crate::PROVIDER.name,
                message: format!(
                    "output_type {} is not supported by this version of the crate: use rgba or \
                     mask, or update the crate",
                    self.output_type
                ),
            });
        };
        if self.output_type == MattingOutputType::Mask && self.output_format.is_some() {
            return Err(CutoutError::invalid(
                "output_format",
                "output_format applies to rgba output only; mask output is always a JPEG: drop \
                 output_format or use output_type rgba",
            ));
        }
        let output_key = match &self.output_key {
            Some(key) => {
                check_given_key(key, allowed, advice, self.output_format)?;
                key.clone()
            }
            None => {
                // Rgba or mask (any other type was refused above).
                let extension = if self.output_type == MattingOutputType::Mask {
                    "jpg"
                } else {
                    self.output_format.unwrap_or_default().extension()
                };
                unique_key(&format!("{}matte-", self.key_prefix), extension)
            }
        };
        Ok(output_key)
    }

    /// Uploads both inputs at once, runs matting, and returns the key the result was written to.
    async fn process(&self, checked: Checked) -> CutoutResult<String> {
        let client = self.client;
        let image_key = unique_key(&format!("{}image-", self.key_prefix), "jpg");
        let trimap_key = unique_key(&format!("{}trimap-", self.key_prefix), "jpg");
        let sizes = [source_len(&checked.image)?, source_len(&checked.trimap)?];
        let meter = UploadMeter::new(self.progress.as_ref(), &sizes);
        futures_util::future::try_join(
            client.upload_resolved(&checked.image, &image_key, inputs::slot(&meter, 0)),
            client.upload_resolved(&checked.trimap, &trimap_key, inputs::slot(&meter, 1)),
        )
        .await?;

        // BackgroundCut's default is 95; a set value was checked to be in 1..=100.
        let quality = self.output_compression.unwrap_or(95);
        let output_compression = NonZeroU64::new(u64::from(quality))
            .ok_or_else(|| CutoutError::invalid("output_compression", "0 is outside 1..=100"))?;
        let request: types::MattingRequest = CutoutError::incomplete_request(
            types::MattingRequest::builder()
                .input_key(image_key.clone())
                .trimap_key(trimap_key.clone())
                .output_key(checked.output_key)
                .output_type(Some(self.output_type))
                .output_compression(output_compression)
                .try_into(),
        )?;
        let answer = client
            .context()
            .call(
                "process_matting",
                client.process_matting().body(request).send(),
            )
            .await
            .map_err(|error| explain(error, &[&image_key, &trimap_key]))?
            .into_inner();
        report(
            &self.progress,
            Progress::Submitted {
                job_id: answer.output_key.clone(),
            },
        );
        Ok(answer.output_key)
    }
}

/// A given output key is a valid key whose extension fits the output type (`allowed`, with
/// `advice` when it does not) and agrees with the output format, when one is set.
fn check_given_key(
    key: &str,
    allowed: &[&str],
    advice: &str,
    output_format: Option<MattingFormat>,
) -> CutoutResult<()> {
    check_key(key, "output_key")?;
    let extension = key_extension(key);
    let fits = extension
        .as_deref()
        .is_some_and(|extension| allowed.contains(&extension));
    if !fits {
        let has = match &extension {
            Some(extension) => format!("ends in .{extension}"),
            None => "has no extension".to_owned(),
        };
        return Err(CutoutError::invalid(
            "output_key",
            format!("output key `{key}` {has}, but {advice}"),
        ));
    }
    if let Some(format) = output_format {
        let matches = match format {
            MattingFormat::Png => extension.as_deref() == Some("png"),
            MattingFormat::Webp => extension.as_deref() == Some("webp"),
        };
        if !matches {
            return Err(CutoutError::invalid(
                "output_key",
                format!(
                    "output key `{key}` does not end in .{} although output_format \
                     is {format:?}: make them agree (the key's extension decides \
                     the format)",
                    format.extension()
                ),
            ));
        }
    }
    Ok(())
}

/// The image is an RGB JPEG and the trimap a grayscale JPEG of exactly its size.
fn check_inputs(image: &ImageSource, trimap: &ImageSource) -> CutoutResult<()> {
    let image_info = inputs::probe(image, "image")?;
    inputs::require_jpeg(&image_info, image, "image", "matting", "image")?;
    if matches!(
        image_info.color,
        ColorLayout::Gray | ColorLayout::GrayAlpha | ColorLayout::Cmyk
    ) {
        return Err(CutoutError::invalid(
            "image",
            format!(
                "BackgroundCut matting needs an RGB JPEG image; `{}` is {} JPEG: convert \
                 it to RGB",
                image.describe(),
                inputs::layout_name(image_info.color)
            ),
        ));
    }
    let trimap_info = inputs::probe(trimap, "trimap")?;
    inputs::require_jpeg(&trimap_info, trimap, "trimap", "matting", "trimap")?;
    if trimap_info.color != ColorLayout::Gray {
        return Err(CutoutError::invalid(
            "trimap",
            format!(
                "the trimap `{}` is {} JPEG, but matting needs a grayscale (single-channel) \
                 JPEG: convert it to grayscale (255 foreground, 0 background, 128 unknown)",
                trimap.describe(),
                inputs::layout_name(trimap_info.color)
            ),
        ));
    }
    if (trimap_info.width, trimap_info.height) != (image_info.width, image_info.height) {
        return Err(CutoutError::invalid(
            "trimap",
            format!(
                "trimap is {}×{} but the image is {}×{}: make the trimap exactly the image's \
                 size",
                trimap_info.width, trimap_info.height, image_info.width, image_info.height
            ),
        ));
    }
    Ok(())
}

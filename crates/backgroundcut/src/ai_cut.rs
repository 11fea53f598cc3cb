//! AI Cut: a mask from foreground and background clicks, in one call.
//!
//! [`Client::ai_cut`] takes a JPEG and returns an [`AiCutRequest`]; add points with
//! [`foreground`](AiCutRequest::foreground) and [`background`](AiCutRequest::background), then
//! [`run`](AiCutRequest::run) uploads the image under a fresh `.jpg` key, segments it, and downloads the
//! mask (a JPEG). (The generated [`Client::ai_cut`] is the raw operation; this is the workflow.)
//!
//! Checked before anything is sent: the image is a JPEG (both keys must end in `.jpg`/`.jpeg`, and
//! the input is uploaded under such a key), there is at least one foreground point, and every
//! point is a finite, non-negative pixel position inside the image.
//!
//! The tool keeps no state between calls: to refine a mask, run again with every point placed so
//! far, not only the new one (clone the request before `run` to keep its points).
//!
//! # Examples
//!
//! ```no_run
//! use backgroundcut::{Client, ImageSource};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?;
//! let mask = client
//!     .ai_cut(ImageSource::path("photo.jpg"))
//!     .foreground(420.0, 310.0)
//!     .background(30.0, 40.0)
//!     .run()
//!     .await?;
//! mask.save("photo.mask.jpg", false).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use cutout_runtime::{ImageInfo, Progress, ProgressFn};

use crate::error::explain;
use crate::inputs::{self, UploadMeter, key_extension, report};
use crate::storage::{SavedOutput, StoredOutput, check_key, source_len, unique_key};
use crate::types;
use crate::{Client, CutoutError, CutoutResult, ImageSource};

/// A point-guided segmentation being set up. Made by [`Client::ai_cut`]; nothing is sent
/// before [`run`](Self::run) or [`run_to`](Self::run_to).
#[derive(Clone)]
#[must_use = "an AI Cut request does nothing until `run` or `run_to` is awaited"]
pub struct AiCutRequest<'a> {
    client: &'a Client,
    image: ImageSource,
    foreground: Vec<(f64, f64)>,
    background: Vec<(f64, f64)>,
    output_key: Option<String>,
    key_prefix: String,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for AiCutRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiCutRequest")
            .field("image", &self.image)
            .field("foreground", &self.foreground)
            .field("background", &self.background)
            .field("output_key", &self.output_key)
            .field("key_prefix", &self.key_prefix)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Segments `image` (a JPEG) from the points added to the returned request. See the
    /// [module docs](crate::ai_cut).
    pub fn ai_cut(&self, image: impl Into<ImageSource>) -> AiCutRequest<'_> {
        AiCutRequest {
            client: self,
            image: image.into(),
            foreground: Vec::new(),
            background: Vec::new(),
            output_key: None,
            key_prefix: "cutout/".to_owned(),
            progress: None,
        }
    }
}

impl<'a> AiCutRequest<'a> {
    /// A point on the subject to keep, in pixels from the top-left corner.
    pub fn foreground(mut self, x: f64, y: f64) -> Self {
        self.foreground.push((x, y));
        self
    }

    /// A point on something to leave out, in pixels from the top-left corner.
    pub fn background(mut self, x: f64, y: f64) -> Self {
        self.background.push((x, y));
        self
    }

    /// Writes the mask under this key (it must end in `.jpg` or `.jpeg`) instead of a fresh one.
    pub fn output_key(mut self, key: impl Into<String>) -> Self {
        self.output_key = Some(key.into());
        self
    }

    /// The start of every key this request makes (default `cutout/`; the slash is part of the key).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Called with [`Progress::Uploading`], [`Progress::Submitted`] (the output key as the job id)
    /// and [`Progress::Downloading`].
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Runs the segmentation and downloads the mask into memory.
    pub async fn run(self) -> CutoutResult<StoredOutput> {
        let output_key = self.segment().await?;
        report(&self.progress, Progress::Downloading);
        self.client.download_output(&output_key).await
    }

    /// Runs the segmentation and streams the mask to `path`. Without `overwrite`, an existing
    /// `path` is refused before anything is uploaded.
    pub async fn run_to(
        self,
        path: impl AsRef<Path>,
        overwrite: bool,
    ) -> CutoutResult<SavedOutput> {
        let path = path.as_ref();
        cutout_runtime::validate::destination_free(path, overwrite)?;
        let output_key = self.segment().await?;
        report(&self.progress, Progress::Downloading);
        self.client.save_output(output_key, path, overwrite).await
    }

    /// Checks, uploads and segments; returns the key of the mask.
    async fn segment(&self) -> CutoutResult<String> {
        let output_key = match &self.output_key {
            Some(key) => {
                check_key(key, "output_key")?;
                if !matches!(key_extension(key).as_deref(), Some("jpg" | "jpeg")) {
                    return Err(CutoutError::invalid(
                        "output_key",
                        format!(
                            "output key `{key}` must end in .jpg or .jpeg: AI Cut writes its mask \
                             as a JPEG"
                        ),
                    ));
                }
                key.clone()
            }
            None => unique_key(&format!("{}mask-", self.key_prefix), "jpg"),
        };
        if self.foreground.is_empty() {
            return Err(CutoutError::invalid(
                "foreground",
                "AI Cut needs at least one foreground point: add one on the subject with \
                 `.foreground(x, y)`",
            ));
        }
        let client = self.client;
        let image = client.fetch_if_url(self.image.clone(), "image").await?;
        let info = inputs::probe(&image, "image")?;
        inputs::require_jpeg(&info, &image, "image", "AI Cut", "image")?;
        let foreground = check_points(&self.foreground, "foreground", &info)?;
        let background = check_points(&self.background, "background", &info)?;

        let input_key = unique_key(&format!("{}input-", self.key_prefix), "jpg");
        let meter = UploadMeter::new(self.progress.as_ref(), &[source_len(&image)?]);
        client
            .upload_resolved(&image, &input_key, inputs::slot(&meter, 0))
            .await?;
        let request: types::AiCutRequest = CutoutError::incomplete_request(
            types::AiCutRequest::builder()
                .input_key(input_key.clone())
                .output_key(output_key)
                .foreground_points(foreground)
                .background_points(background)
                .try_into(),
        )?;
        let answer = client
            .context()
            .call(
                "process_ai_cut",
                client.process_ai_cut().body(request).send(),
            )
            .await
            .map_err(|error| explain(error, &[&input_key]))?
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

/// Every point finite, non-negative and inside the image.
fn check_points(
    points: &[(f64, f64)],
    name: &str,
    info: &ImageInfo,
) -> CutoutResult<Vec<types::AiCutPoint>> {
    let (width, height) = (f64::from(info.width), f64::from(info.height));
    points
        .iter()
        .enumerate()
        .map(|(index, &(x, y))| {
            let field = format!("{name}[{index}]");
            if !x.is_finite() || !y.is_finite() {
                return Err(CutoutError::invalid(
                    field,
                    format!("({x}, {y}) is not a position: pass finite pixel coordinates"),
                ));
            }
            if x < 0.0 || y < 0.0 || x >= width || y >= height {
                return Err(CutoutError::invalid(
                    field,
                    format!(
                        "({x}, {y}) is outside the {}×{} image: points are pixel positions, x in \
                         0..{} and y in 0..{}",
                        info.width, info.height, info.width, info.height
                    ),
                ));
            }
            CutoutError::incomplete_request(types::AiCutPoint::builder().x(x).y(y).try_into())
        })
        .collect()
}

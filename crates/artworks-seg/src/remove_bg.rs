//! Background removal artworks (`POST /v2/artworks/remove-background`): [`Client::remove_bg`] →
//! [`RemoveBgRequest`], checked locally, then [`submit`](RemoveBgRequest::submit) → [`ArtworkJob`].
//!
//! Checked before anything is sent: the image URL is an absolute `http(s)://` URL Tengr can
//! fetch (a local path is [`CutoutError::Unsupported`]: there is
//! no upload), and the webhook passes [`webhook::check_url`].
//!
//! # Examples
//!
//! ```no_run
//! use artworks_seg::{Client, WaitPolicy, types::OutputFormat};
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?;
//! let mut job = client
//!     .remove_bg("https://example.com/photo.jpg")
//!     .output_format(OutputFormat::Png)
//!     .submit()
//!     .await?;
//! job.wait(&WaitPolicy::default(), |p| println!("{}", p.status)).await?;
//! let files = job.download_results("cutouts", false).await?;
//! # let _ = files;
//! # Ok(()) }
//! ```

use std::fmt;

use crate::artworks::ArtworkJob;
use crate::segmentation::check_image_url;
use crate::types::{self, OutputFormat};
use crate::{Client, CutoutError, CutoutResult, webhook};

/// A background-removal artwork being set up: made by [`Client::remove_bg`], sent by
/// [`submit`](Self::submit).
#[must_use = "nothing is sent until `submit` is awaited"]
pub struct RemoveBgRequest<'a> {
    client: &'a Client,
    image_url: String,
    output_format: Option<OutputFormat>,
    webhook: Option<String>,
}

impl fmt::Debug for RemoveBgRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveBgRequest")
            .field("image_url", &webhook::shown(&self.image_url))
            .field("output_format", &self.output_format)
            // A webhook URL may carry a token in its query.
            .field("webhook", &self.webhook.as_deref().map(webhook::shown))
            .finish()
    }
}

impl Client {
    /// Starts a background-removal request for the image at `image_url` (an `http(s)://` URL
    /// Tengr can fetch). Nothing is sent until [`RemoveBgRequest::submit`].
    pub fn remove_bg(&self, image_url: impl Into<String>) -> RemoveBgRequest<'_> {
        RemoveBgRequest {
            client: self,
            image_url: image_url.into(),
            output_format: None,
            webhook: None,
        }
    }
}

impl RemoveBgRequest<'_> {
    /// The result's format (default: the server's choice).
    pub fn output_format(mut self, format: OutputFormat) -> Self {
        self.output_format = Some(format);
        self
    }

    /// A URL Tengr calls when the artwork is final; checked as in [`webhook::check_url`] when
    /// the request is submitted.
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }

    /// Checks the request and creates the artwork. The answer comes at once, usually with status
    /// `starting`; [`ArtworkJob::wait`] follows it to the end. Not re-sent after a timeout or a
    /// 502/504, which may have created it.
    pub async fn submit(self) -> CutoutResult<ArtworkJob> {
        check_image_url(&self.image_url)?;
        if let Some(url) = &self.webhook {
            webhook::check_url(url)?;
        }
        let request: types::RemoveBackgroundRequest = CutoutError::incomplete_request(
            types::RemoveBackgroundRequest::builder()
                .image_url(self.image_url.trim().to_owned())
                .output_format(self.output_format)
                .webhook(self.webhook.map(|url| url.trim().to_owned()))
                .try_into(),
        )?;
        let send = self.client.create_remove_background().body(request).send();
        ArtworkJob::create(self.client, "create_remove_background", send).await
    }
}

//! [`BackgroundRemover`] for the ModelsLab [`Client`]: the provider-neutral one-call path.
//!
//! `remove_background` sends `removebg_mask` with `only_mask` for [`CutoutKind::Mask`] (the cut-out
//! otherwise), waits for a queued request at ModelsLab's ETA, and downloads the first output link
//! into memory (at most [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES)). It holds one of the client's job slots until the
//! result is ready, and reports [`Progress::Submitted`] once ModelsLab has an id for the request,
//! [`Progress::Waiting`] at every poll and [`Progress::Downloading`] before the download. Local
//! images travel inside the JSON body, so there is no upload progress to report.
//!
//! # Examples
//!
//! ```no_run
//! use modelslab::{BackgroundRemover, Client, ImageSource, RemoveOptions};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let mask = client
//!     .remove_background(ImageSource::path("portrait.jpg"), RemoveOptions::mask())
//!     .await?;
//! mask.save("portrait.mask.png", false).await?;
//! # Ok(()) }
//! ```

use cutout_runtime::{BoxFuture, Cutout, CutoutKind, ImageSource, Progress, RemoveOptions};

use crate::{BackgroundRemover, Client, CutoutError, PROVIDER};
use crate::{MaskOutput, MaskState};

impl BackgroundRemover for Client {
    fn provider_name(&self) -> &'static str {
        PROVIDER.name
    }

    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, CutoutError>> {
        Box::pin(async move {
            let checked = self
                .remove_bg(source)
                .only_mask(options.kind == CutoutKind::Mask)
                .check()?;
            let slot = self.context().job_slot().await;
            let result = match checked.post().await? {
                MaskState::Done(result) => {
                    if let Some(id) = result.id {
                        options.report(Progress::Submitted {
                            job_id: id.to_string(),
                        });
                    }
                    result
                }
                MaskState::Processing(processing) => {
                    options.report(Progress::Submitted {
                        job_id: processing.id.to_string(),
                    });
                    self.wait_for_mask(&processing, &options.wait, |progress| {
                        options.report(Progress::Waiting(progress.clone()));
                    })
                    .await?
                }
            };
            // The request is out of the account's queue: the slot is free for the next one.
            drop(slot);
            let url = match &result.output {
                MaskOutput::Urls(urls) => urls.first(),
                MaskOutput::Base64(_) => None,
            }
            .ok_or_else(|| {
                CutoutError::unexpected(
                    PROVIDER.name,
                    "removebg_mask",
                    "the result has no output link to download",
                )
                .with_status(200)
            })?;
            options.report(Progress::Downloading);
            let (bytes, _content_type) = self
                .context()
                .download_bytes(url, crate::MAX_RESULT_BYTES)
                .await?;
            Cutout::new(
                bytes,
                options.kind,
                PROVIDER.name,
                result.id.map(|id| id.to_string()),
            )
        })
    }
}

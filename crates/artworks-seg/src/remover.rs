//! [`BackgroundRemover`] for Tengr: the provider-neutral cut-out, in one call or two.
//!
//! `submit_removal` creates a background-removal artwork with PNG output and returns a
//! [`JobTicket`] holding the artwork id; `resume_removal` reads that artwork again
//! ([`Client::artwork`]), waits for it with the options' [`WaitPolicy`](crate::WaitPolicy), and
//! downloads the first result as a [`Cutout`]. `remove_background` does both, counting the
//! creation answer as the first poll instead of reading the artwork again.
//!
//! Tengr fetches its inputs by URL, so only [`ImageSource::Url`] is accepted; a local file or
//! bytes is [`CutoutError::Unsupported`] (put the file somewhere public and pass its URL).
//! [`CutoutKind::Mask`] is also unsupported: background removal makes cut-outs; for a mask, use
//! [`SegmentationRequest::submit`](crate::SegmentationRequest::submit) (by text or by points).
//!
//! # Examples
//!
//! ```no_run
//! use artworks_seg::{BackgroundRemover, Client, ImageSource, RemoveOptions};
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?;
//! let cutout = client
//!     .remove_background(
//!         ImageSource::url("https://example.com/photo.jpg"),
//!         RemoveOptions::default().on_progress(|event| println!("{event:?}")),
//!     )
//!     .await?;
//! cutout.save("photo.cutout.png", false).await?;
//!
//! // In two steps: keep the ticket (it serialises), resume later without paying again.
//! let ticket = client
//!     .submit_removal(ImageSource::url("https://example.com/car.jpg"), RemoveOptions::default())
//!     .await?;
//! let cutout = client.resume_removal(ticket, RemoveOptions::default()).await?;
//! # let _ = cutout;
//! # Ok(()) }
//! ```

use cutout_runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, ImageSource, JobTicket, Progress,
    RemoveOptions,
};

use crate::ArtworkJob;
use crate::types::OutputFormat;
use crate::{Client, CutoutError, CutoutResult};

impl BackgroundRemover for Client {
    fn provider_name(&self) -> &'static str {
        crate::PROVIDER.name
    }

    fn submit_removal<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, CutoutResult<JobTicket>> {
        Box::pin(async move {
            let job = self.create_removal(source, &options).await?;
            Ok(JobTicket::new(crate::PROVIDER.name, job.id()))
        })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, CutoutResult<Cutout>> {
        Box::pin(async move {
            let id = ticket.require_job_id(crate::PROVIDER.name)?;
            let job = self.artwork(id).await?;
            self.finish_removal(job, &options).await
        })
    }

    /// Overridden for a real reason: the creation answer is already the artwork's first state.
    /// In one call it counts as the first poll (and is reported), instead of being read again
    /// by id as `resume_removal` must. The steps are the same functions the two methods use.
    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, CutoutResult<Cutout>> {
        Box::pin(async move {
            let job = self.create_removal(source, &options).await?;
            self.finish_removal(job, &options).await
        })
    }
}

impl Client {
    /// The paid step: checks the inputs and creates the background-removal artwork.
    async fn create_removal(
        &self,
        source: ImageSource,
        options: &RemoveOptions,
    ) -> CutoutResult<ArtworkJob> {
        // What the provider makes and takes is decided by its facts (providers.toml); the
        // messages add what to use instead.
        if crate::PROVIDER.check_output(options.kind).is_err() {
            return Err(CutoutError::Unsupported {
                provider: crate::PROVIDER.name,
                message: "Tengr's background removal makes cut-outs, not masks: for a mask, \
                          submit a `SegmentationRequest::text` or \
                          `SegmentationRequest::points`"
                    .to_owned(),
            });
        }
        let url = match &source {
            ImageSource::Url(url) => url.clone(),
            other => {
                return Err(CutoutError::Unsupported {
                    provider: crate::PROVIDER.name,
                    message: format!(
                        "`{}` is a local image, but Tengr fetches images by URL: put the file \
                         somewhere public and pass its URL (`ImageSource::url`)",
                        other.describe()
                    ),
                });
            }
        };
        let job = self
            .remove_bg(url.as_str())
            .output_format(OutputFormat::Png)
            .submit()
            .await?;
        options.report(Progress::Submitted {
            job_id: job.id().to_owned(),
        });
        Ok(job)
    }

    /// Waits for an artwork and downloads its first result.
    async fn finish_removal(
        &self,
        mut job: ArtworkJob,
        options: &RemoveOptions,
    ) -> CutoutResult<Cutout> {
        job.wait(&options.wait, |progress| {
            options.report(Progress::Waiting(progress.clone()))
        })
        .await?;
        options.report(Progress::Downloading);
        // A succeeded artwork has at least one result (checked by `result_urls`).
        let url = job.result_urls()?.first().cloned().unwrap_or_default();
        let (first, _) = self
            .context()
            .download_bytes(&url, crate::MAX_RESULT_BYTES)
            .await?;
        Cutout::new(
            first,
            CutoutKind::Rgba,
            crate::PROVIDER.name,
            Some(job.id().to_owned()),
        )
    }
}

//! [`BackgroundRemover`] for the Topaz [`Client`]: the provider-neutral path, in one call or two.
//!
//! `submit_removal` runs the `RemoveBG` model: mode `alpha` for [`CutoutKind::Mask`],
//! `segmentation` (the subject on a transparent background) for [`CutoutKind::Rgba`]. It reports
//! [`Progress::Uploading`] while a local image streams out and [`Progress::Submitted`] once Topaz
//! has the job; its [`JobTicket`] holds the process id. `resume_removal` re-attaches to that
//! process id ([`Client::job`]), reports [`Progress::Waiting`] at every poll and
//! [`Progress::Downloading`] before the result (at most
//! [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES)) is fetched into memory. `remove_background`
//! is the two in a row.
//!
//! # Examples
//!
//! ```no_run
//! use topaz_image::{BackgroundRemover, Client, ImageSource, Progress, RemoveOptions};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! let client = Client::from_env()?;
//! let options = RemoveOptions::mask().on_progress(|event| {
//!     if let Progress::Waiting(job) = event {
//!         eprintln!("{} {:?}% eta {:?}", job.status, job.percent, job.eta);
//!     }
//! });
//! let mask = client
//!     .remove_background(ImageSource::path("portrait.jpg"), options.clone())
//!     .await?;
//! mask.save("portrait.mask.png", false).await?;
//!
//! // In two steps: keep the ticket (it serialises), resume later without paying again.
//! let ticket = client
//!     .submit_removal(ImageSource::path("group.jpg"), options.clone())
//!     .await?;
//! let mask = client.resume_removal(ticket, options).await?;
//! # let _ = mask;
//! # Ok(()) }
//! ```

use cutout_runtime::{
    BoxFuture, Cutout, CutoutKind, ImageSource, JobTicket, Progress, RemoveOptions,
};

use crate::{BackgroundRemover, Client, CutoutError, Mode, Model, PROVIDER};

impl BackgroundRemover for Client {
    fn provider_name(&self) -> &'static str {
        PROVIDER.name
    }

    fn submit_removal<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<JobTicket, CutoutError>> {
        Box::pin(async move {
            let mode = match options.kind {
                CutoutKind::Mask => Mode::Alpha,
                CutoutKind::Rgba => Mode::Segmentation,
            };
            let mut request = self.matting(source).model(Model::RemoveBg).mode(mode);
            if let Some(progress) = options.progress.clone() {
                request = request.on_upload_progress(move |sent, total| {
                    progress(&Progress::Uploading { sent, total });
                });
            }
            let job = request.submit().await?;
            options.report(Progress::Submitted {
                job_id: job.process_id().to_owned(),
            });
            Ok(JobTicket::new(PROVIDER.name, job.process_id()).with_eta(job.eta()))
        })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, CutoutError>> {
        Box::pin(async move {
            let job = self.job(ticket.require_job_id(PROVIDER.name)?).with_eta(
                ticket
                    .eta_unix_secs
                    .and_then(|secs| i64::try_from(secs).ok()),
            );
            job.wait(&options.wait, |progress| {
                options.report(Progress::Waiting(progress.clone()));
            })
            .await?;
            options.report(Progress::Downloading);
            let bytes = job.download_bytes(crate::MAX_RESULT_BYTES).await?;
            Cutout::new(
                bytes,
                options.kind,
                PROVIDER.name,
                Some(job.process_id().to_owned()),
            )
        })
    }
}

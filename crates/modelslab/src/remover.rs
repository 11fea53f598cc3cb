//! [`BackgroundRemover`] for the ModelsLab [`Client`]: the provider-neutral path, in one call or
//! two.
//!
//! `submit_removal` sends `removebg_mask` with `only_mask` for [`CutoutKind::Mask`] (the cut-out
//! otherwise), holding one of the client's job slots while the request is sent, and reports
//! [`Progress::Submitted`] once ModelsLab has an id for it. Its [`JobTicket`] holds the request
//! id of a queued request, or, when ModelsLab answers `success` at once, the first output link
//! (and the id when there is one). Local images travel inside the JSON body, so there is no
//! upload progress to report.
//!
//! `resume_removal` downloads the ticket's result link when it has one (no API call at all);
//! otherwise it fetches the request by id until it is done, at ModelsLab's ETA, while holding a
//! job slot (reporting [`Progress::Waiting`] at every poll), and downloads the first output link
//! into memory (at most [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES)) after
//! [`Progress::Downloading`]. `remove_background` is the two in a row, holding one job slot
//! from the POST until the result is ready (ModelsLab caps an account's queued requests).
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
//!
//! // In two steps: keep the ticket (it serialises), resume later without paying again.
//! let ticket = client
//!     .submit_removal(ImageSource::path("group.jpg"), RemoveOptions::mask())
//!     .await?;
//! let mask = client.resume_removal(ticket, RemoveOptions::mask()).await?;
//! # let _ = mask;
//! # Ok(()) }
//! ```

use cutout_runtime::{
    BoxFuture, Cutout, CutoutKind, ImageSource, JobTicket, Progress, RemoveOptions,
};

use crate::{BackgroundRemover, Client, CutoutError, PROVIDER};
use crate::{MaskResult, MaskState, Processing};

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
            let _slot = self.context().job_slot().await;
            let (ticket, _queued) = self.submit_in_slot(source, &options).await?;
            Ok(ticket)
        })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, CutoutError>> {
        Box::pin(async move {
            ticket.check_provider(PROVIDER.name)?;
            let url = match &ticket.result_url {
                // The result was ready in the first answer: nothing to ask ModelsLab.
                Some(url) => url.clone(),
                None => {
                    let id = request_id(&ticket)?;
                    // A queued request counts against the account's queue: hold a slot until
                    // it is out of it.
                    let _slot = self.context().job_slot().await;
                    // The ticket does not keep the first answer's ETA: the waiter starts from
                    // "processing" and asks after the policy's shortest pause.
                    let queued = Processing {
                        id,
                        status: "processing".to_owned(),
                        eta: None,
                        message: None,
                        tip: None,
                        future_links: Vec::new(),
                    };
                    self.wait_in_slot(&queued, &options).await?
                }
            };
            self.download(url, ticket.job_id, &options).await
        })
    }

    /// Overridden for a real reason: ModelsLab caps how many requests an account may have
    /// queued, and a request is queued from its POST until it is done. Submit and resume each
    /// take a job slot only while they talk to ModelsLab, so doing them one after the other
    /// would free the slot while the request is still queued, and a burst of calls would pass
    /// the cap (HTTP 429). Here one slot is held from the POST until the result is ready; the
    /// steps are the same functions `submit_removal` and `resume_removal` use.
    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, CutoutError>> {
        Box::pin(async move {
            let slot = self.context().job_slot().await;
            let (ticket, queued) = self.submit_in_slot(source, &options).await?;
            let url = match queued {
                // Waits from the first answer itself, at its ETA.
                Some(queued) => self.wait_in_slot(&queued, &options).await?,
                // A request done at once has its link in the ticket (`submit_in_slot`).
                None => ticket.result_url.clone().unwrap_or_default(),
            };
            drop(slot);
            self.download(url, ticket.job_id, &options).await
        })
    }
}

impl Client {
    /// The submission of [`BackgroundRemover::submit_removal`], for a caller holding a job slot:
    /// the ticket, and ModelsLab's answer when it queued the request.
    async fn submit_in_slot(
        &self,
        source: ImageSource,
        options: &RemoveOptions,
    ) -> Result<(JobTicket, Option<Processing>), CutoutError> {
        let checked = self
            .remove_bg(source)
            .only_mask(options.kind == CutoutKind::Mask)
            .check()?;
        let (ticket, queued) = match checked.post().await? {
            MaskState::Done(result) => {
                let url = first_link(&result)?;
                let ticket = match result.id {
                    Some(id) => JobTicket::new(PROVIDER.name, id.to_string()),
                    None => JobTicket::ready(PROVIDER.name, url.as_str()),
                };
                (ticket.with_result_url(url), None)
            }
            MaskState::Processing(processing) => (
                JobTicket::new(PROVIDER.name, processing.id.to_string()),
                Some(processing),
            ),
        };
        if let Some(id) = &ticket.job_id {
            options.report(Progress::Submitted { job_id: id.clone() });
        }
        Ok((ticket, queued))
    }

    /// Waits for a queued request, for a caller holding a job slot, and returns its first
    /// output link.
    async fn wait_in_slot(
        &self,
        queued: &Processing,
        options: &RemoveOptions,
    ) -> Result<String, CutoutError> {
        let result = self
            .wait_for_mask(queued, &options.wait, |progress| {
                options.report(Progress::Waiting(progress.clone()));
            })
            .await?;
        first_link(&result)
    }

    /// Downloads a result link into memory (no slot needed: the request has left the queue).
    async fn download(
        &self,
        url: String,
        job_id: Option<String>,
        options: &RemoveOptions,
    ) -> Result<Cutout, CutoutError> {
        options.report(Progress::Downloading);
        let (bytes, _content_type) = self
            .context()
            .download_bytes(&url, crate::MAX_RESULT_BYTES)
            .await?;
        Cutout::new(bytes, options.kind, PROVIDER.name, job_id)
    }
}

/// The first output link of a finished request.
fn first_link(result: &MaskResult) -> Result<String, CutoutError> {
    result.output.urls().first().cloned().ok_or_else(|| {
        CutoutError::unexpected(
            PROVIDER.name,
            "removebg_mask",
            "the result has no output link to download",
        )
        .with_status(200)
    })
}

/// The ticket's request id, as the number ModelsLab fetches by.
fn request_id(ticket: &JobTicket) -> Result<i64, CutoutError> {
    let id = ticket.require_job_id(PROVIDER.name)?;
    id.trim().parse().map_err(|_| {
        CutoutError::invalid(
            "ticket",
            format!(
                "`{id}` is not a ModelsLab request id: they are numbers (from `submit_removal`)"
            ),
        )
    })
}

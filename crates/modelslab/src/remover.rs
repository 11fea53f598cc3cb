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
//! otherwise it fetches the request by id, waits for it at ModelsLab's ETA while holding a job
//! slot (reporting [`Progress::Waiting`] at every poll), and downloads the first output link
//! into memory (at most [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES)) after
//! [`Progress::Downloading`]. `remove_background` is the two in a row.
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
use crate::{MaskResult, MaskState};

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
            let checked = self
                .remove_bg(source)
                .only_mask(options.kind == CutoutKind::Mask)
                .check()?;
            let slot = self.context().job_slot().await;
            let answer = checked.post().await;
            drop(slot);
            let ticket = match answer? {
                MaskState::Done(result) => {
                    let url = first_link(&result)?;
                    match result.id {
                        Some(id) => JobTicket::new(PROVIDER.name, id.to_string()),
                        None => JobTicket::ready(PROVIDER.name, url.as_str()),
                    }
                    .with_result_url(url)
                }
                MaskState::Processing(processing) => {
                    JobTicket::new(PROVIDER.name, processing.id.to_string())
                }
            };
            if let Some(id) = &ticket.job_id {
                options.report(Progress::Submitted { job_id: id.clone() });
            }
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
                    // A queued request still counts against the account's queue: hold a slot
                    // until it is out of it.
                    let slot = self.context().job_slot().await;
                    let result = match self.fetch(id).await? {
                        MaskState::Done(result) => result,
                        MaskState::Processing(processing) => {
                            self.wait_for_mask(&processing, &options.wait, |progress| {
                                options.report(Progress::Waiting(progress.clone()));
                            })
                            .await?
                        }
                    };
                    drop(slot);
                    first_link(&result)?
                }
            };
            options.report(Progress::Downloading);
            let (bytes, _content_type) = self
                .context()
                .download_bytes(&url, crate::MAX_RESULT_BYTES)
                .await?;
            Cutout::new(bytes, options.kind, PROVIDER.name, ticket.job_id.clone())
        })
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

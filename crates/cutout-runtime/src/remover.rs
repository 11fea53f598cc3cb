//! One method, every provider: an image in, a cut-out out.
//!
//! Each provider crate implements [`BackgroundRemover`] for its `Client`, so an application can
//! switch provider by changing the line that makes the client:
//!
//! ```no_run
//! # async fn demo(remover: &dyn cutout_runtime::BackgroundRemover) -> Result<(), cutout_runtime::Error> {
//! use cutout_runtime::{ImageSource, RemoveOptions};
//! let cutout = remover
//!     .remove_background(ImageSource::path("photo.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("photo.cutout.png", false).await?;
//! # Ok(()) }
//! ```
//!
//! # Resumable work: never pay twice
//!
//! Every submission costs money. A program that must survive a crash splits the call in two and
//! keeps the [`JobTicket`] in between (a journal, a database row, a file): once the ticket is
//! stored, a later run resumes the job instead of submitting it again.
//!
//! ```no_run
//! # async fn demo(remover: &dyn cutout_runtime::BackgroundRemover) -> Result<(), Box<dyn std::error::Error>> {
//! use cutout_runtime::{ImageSource, JobTicket, RemoveOptions};
//! let options = RemoveOptions::default();
//! let ticket = match remover.submit_removal(ImageSource::path("photo.jpg"), options.clone()).await {
//!     Ok(ticket) => ticket,
//!     Err(error) => {
//!         // After a timeout or a 502 the provider may have charged for the job: record it as
//!         // uncertain rather than sending it again.
//!         eprintln!("uncertain: {}", error.may_have_been_taken());
//!         return Err(error.into());
//!     }
//! };
//! std::fs::write("photo.ticket.json", serde_json::to_vec(&ticket)?)?;
//!
//! // … later, maybe in another process, with a new client:
//! let ticket: JobTicket = serde_json::from_slice(&std::fs::read("photo.ticket.json")?)?;
//! let cutout = remover.resume_removal(ticket, options).await?; // sends no paid request
//! cutout.save("photo.cutout.png", false).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::fs::write_atomically;
use crate::probe::{ImageFormat, probe_bytes};
use crate::wait::{JobProgress, WaitPolicy};
use crate::{Error, ImageSource};

/// The largest result the one-call paths download into memory (512 MiB); larger results go to
/// a file with the providers' `download_to`/`run_to`.
pub const MAX_RESULT_BYTES: u64 = 512 * 1024 * 1024;

/// A boxed future, so that [`BackgroundRemover`] can be used as `dyn BackgroundRemover`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the cut-out should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoutKind {
    /// The subject on a transparent background.
    #[default]
    Rgba,
    /// A grayscale mask: white is the subject.
    Mask,
}

/// Something that happened while a cut-out was being made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Bytes of the input sent so far.
    Uploading {
        /// Sent.
        sent: u64,
        /// In all.
        total: u64,
    },
    /// The provider accepted the job.
    Submitted {
        /// Its id.
        job_id: String,
    },
    /// The job is running.
    Waiting(JobProgress),
    /// The result is being downloaded.
    Downloading,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of [`BackgroundRemover::remove_background`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RemoveOptions {
    /// A cut-out (default) or a mask.
    pub kind: CutoutKind,
    /// How to wait for asynchronous jobs (default [`WaitPolicy::default`]).
    pub wait: WaitPolicy,
    /// Called as the work progresses.
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for RemoveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveOptions")
            .field("kind", &self.kind)
            .field("wait", &self.wait)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RemoveOptions {
    /// A mask instead of a cut-out.
    pub fn mask() -> Self {
        Self::default().kind(CutoutKind::Mask)
    }
    /// Sets the kind.
    pub fn kind(mut self, kind: CutoutKind) -> Self {
        self.kind = kind;
        self
    }
    /// Sets the wait policy.
    pub fn wait(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }
    /// Sets a progress callback.
    pub fn on_progress(mut self, progress: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
    /// Reports `event` to the callback, if any.
    pub fn report(&self, event: Progress) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }
}

/// A finished cut-out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cutout {
    /// The image.
    pub bytes: Bytes,
    /// Its format (read from the bytes).
    pub format: ImageFormat,
    /// Its size, from its header.
    pub width: u32,
    /// Its size, from its header.
    pub height: u32,
    /// Cut-out or mask.
    pub kind: CutoutKind,
    /// Which provider made it.
    pub provider: &'static str,
    /// The provider's job id, when there was a job.
    pub job_id: Option<String>,
}

impl fmt::Debug for Cutout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cutout")
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("kind", &self.kind)
            .field("provider", &self.provider)
            .field("job_id", &self.job_id)
            .finish()
    }
}

impl Cutout {
    /// Wraps a downloaded result, checking that it is an image.
    pub fn new(
        bytes: Bytes,
        kind: CutoutKind,
        provider: &'static str,
        job_id: Option<String>,
    ) -> Result<Self, Error> {
        let info = probe_bytes(&bytes).ok_or_else(|| {
            Error::unexpected(
                provider,
                "download",
                format!("the result ({} bytes) is not an image", bytes.len()),
            )
        })?;
        Ok(Self {
            bytes,
            format: info.format,
            width: info.width,
            height: info.height,
            kind,
            provider,
            job_id,
        })
    }

    /// Writes the image to `path` through a temporary file and a rename, so a failure leaves no
    /// partial file. Without `overwrite`, an existing file is an error and stays as it is.
    pub async fn save(&self, path: impl AsRef<Path>, overwrite: bool) -> Result<(), Error> {
        write_atomically(path.as_ref(), &self.bytes, overwrite).await
    }
}

/// A paid job the provider has accepted: what is needed to pick it up again, in this process or
/// after a crash, without submitting (and paying for) it a second time.
///
/// Made by [`BackgroundRemover::submit_removal`], consumed by
/// [`BackgroundRemover::resume_removal`]. It serialises (serde) so that a journal can keep it.
/// Its `Debug` hides the query of `result_url` (a presigned link may carry a token).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct JobTicket {
    /// The provider's short name (`topaz`, `backgroundcut`, `modelslab`, `tengr`).
    pub provider: String,
    /// The provider's id of the job: Topaz's process id, ModelsLab's request id, Tengr's
    /// artwork id, BackgroundCut's output key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Where the result already is, when the provider's first answer said so (ModelsLab may
    /// answer `success` with the output link at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// When the provider expected the job to be done when it accepted it, in Unix seconds
    /// (Topaz's `eta`): resuming waits for it instead of polling at once. A hint only; a
    /// journal written before this field existed reads as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_unix_secs: Option<u64>,
}

impl JobTicket {
    /// A ticket for the job `job_id` of `provider`.
    pub fn new(provider: impl Into<String>, job_id: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            job_id: Some(job_id.into()),
            result_url: None,
            eta_unix_secs: None,
        }
    }

    /// A ticket for a result that is ready already at `result_url`, when the provider gave the
    /// job no id.
    pub fn ready(provider: impl Into<String>, result_url: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            job_id: None,
            result_url: Some(result_url.into()),
            eta_unix_secs: None,
        }
    }

    /// Adds when the provider expected the job to be done (see
    /// [`eta_unix_secs`](Self::eta_unix_secs)); a time before 1970 is left out.
    pub fn with_eta(mut self, eta: Option<std::time::SystemTime>) -> Self {
        self.eta_unix_secs = eta
            .and_then(|eta| eta.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| since.as_secs());
        self
    }

    /// Adds the link of a result that is ready already.
    pub fn with_result_url(mut self, url: impl Into<String>) -> Self {
        self.result_url = Some(url.into());
        self
    }

    /// Checks, before anything is sent, that this ticket was made by `provider` and names a job
    /// or a result: otherwise an [`Error::InvalidInput`] for the field `ticket` saying what is
    /// wrong. The one check every provider's
    /// [`resume_removal`](BackgroundRemover::resume_removal) starts with.
    pub fn check_provider(&self, provider: &str) -> Result<(), Error> {
        if self.provider != provider {
            return Err(Error::invalid(
                "ticket",
                format!(
                    "this ticket belongs to the provider `{}`, not `{provider}`: resume it with \
                     a {} client",
                    self.provider, self.provider
                ),
            ));
        }
        let named = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        if !named(&self.job_id) && !named(&self.result_url) {
            return Err(Error::invalid(
                "ticket",
                format!(
                    "this {provider} ticket has neither a job id nor a result link: there is \
                     nothing to resume (submit the job again only if it was never accepted)"
                ),
            ));
        }
        Ok(())
    }

    /// [`check_provider`](Self::check_provider), then the job id, for providers that can only
    /// resume by id: a ticket without one is an [`Error::InvalidInput`] (field `ticket`).
    pub fn require_job_id(&self, provider: &str) -> Result<&str, Error> {
        self.check_provider(provider)?;
        match self.job_id.as_deref().filter(|id| !id.trim().is_empty()) {
            Some(id) => Ok(id),
            None => Err(Error::invalid(
                "ticket",
                format!(
                    "this {provider} ticket has no job id, and {provider} jobs are resumed by \
                     their id"
                ),
            )),
        }
    }
}

impl fmt::Debug for JobTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobTicket")
            .field("provider", &self.provider)
            .field("job_id", &self.job_id)
            .field(
                "result_url",
                &self.result_url.as_deref().map(crate::validate::display_url),
            )
            .field("eta_unix_secs", &self.eta_unix_secs)
            .finish()
    }
}

/// Removes the background of an image. Implemented by every provider crate's `Client`.
///
/// The work is two steps, so that a caller who must never pay twice (a batch journal) can record
/// the paid job between them: [`submit_removal`](Self::submit_removal) sends the paid request and
/// returns a [`JobTicket`] as soon as the provider has accepted it;
/// [`resume_removal`](Self::resume_removal) waits for that job and downloads its result, and
/// never submits anything. [`remove_background`](Self::remove_background) does both.
pub trait BackgroundRemover: Send + Sync {
    /// The provider's short name (`topaz`, `backgroundcut`, `modelslab`, `tengr`).
    fn provider_name(&self) -> &'static str;

    /// Sends `source` to the provider (the paid request) and returns the accepted job, without
    /// waiting for it. Reports [`Progress::Uploading`] and [`Progress::Submitted`].
    ///
    /// When this fails, [`Error::may_have_been_taken`] says whether the provider may have
    /// accepted (and charged for) the job anyway.
    fn submit_removal<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<JobTicket, Error>>;

    /// Waits for the job of `ticket` (made by [`submit_removal`](Self::submit_removal), maybe
    /// by another process) and downloads its result. Never submits anything. Reports
    /// [`Progress::Waiting`] and [`Progress::Downloading`].
    ///
    /// A ticket of another provider, or one with neither a job id nor a result link, is an
    /// [`Error::InvalidInput`] (field `ticket`) before any request is sent.
    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>>;

    /// Sends `source` to the provider, waits for the job and downloads the result:
    /// [`submit_removal`](Self::submit_removal) then [`resume_removal`](Self::resume_removal),
    /// so the one-call and the resumable use share one code path.
    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>> {
        Box::pin(async move {
            let ticket = self.submit_removal(source, options.clone()).await?;
            self.resume_removal(ticket, options).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_and_message(error: Error) -> (String, String) {
        match error {
            Error::InvalidInput { field, message } => (field, message),
            other => panic!("not invalid input: {other:?}"),
        }
    }

    #[test]
    fn a_ticket_is_checked_for_its_provider_and_its_contents() {
        let ticket = JobTicket::new("topaz", "id-1");
        assert!(ticket.check_provider("topaz").is_ok());
        assert_eq!(ticket.require_job_id("topaz").unwrap(), "id-1");

        let (field, message) = field_and_message(ticket.check_provider("tengr").unwrap_err());
        assert_eq!(field, "ticket");
        assert!(
            message.contains("`topaz`") && message.contains("tengr"),
            "{message}"
        );

        // A ready result is enough to resume, but not for a provider that resumes by id.
        let ready = JobTicket::ready("modelslab", "https://cdn.example.com/a.png");
        assert!(ready.check_provider("modelslab").is_ok());
        let (_, message) = field_and_message(ready.require_job_id("modelslab").unwrap_err());
        assert!(message.contains("no job id"), "{message}");

        // Blank ids name nothing.
        let blank = JobTicket::new("tengr", "  ");
        let (_, message) = field_and_message(blank.check_provider("tengr").unwrap_err());
        assert!(
            message.contains("neither a job id nor a result link"),
            "{message}"
        );
    }
}

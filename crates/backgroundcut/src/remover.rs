//! [`BackgroundRemover`] for BackgroundCut: the provider-neutral cut-out, in one call or two.
//!
//! `submit_removal` runs [`RemoveBgRequest::submit`](crate::RemoveBgRequest::submit) with one
//! PNG variant (upload and processing: BackgroundCut answers with the output key once the work
//! is done) and returns a [`JobTicket`] holding that key. `resume_removal` downloads the result
//! under the key ([`Client::output`]: a minted public link, fetched without the API key), so it
//! sends no paid request; BackgroundCut keeps outputs for 2 hours, after which the key answers
//! 404. `remove_background` is the two in a row. Local files are streamed, bytes are sent as
//! they are, and URLs are downloaded first (BackgroundCut reads only its own store).
//!
//! [`CutoutKind::Mask`] is refused with [`CutoutError::Unsupported`]: BackgroundCut's background
//! removal makes cut-outs, not masks, and its mask-making tools need more than an image (matting
//! needs a trimap, AI Cut needs points). Use [`Client::matting`] with
//! `output_type(MattingOutputType::Mask)` or [`Client::ai_cut`] for a mask.
//!
//! # Examples
//!
//! ```no_run
//! use backgroundcut::{BackgroundRemover, Client, ImageSource, RemoveOptions};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?;
//! let cutout = client
//!     .remove_background(ImageSource::path("photo.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("photo.cutout.png", false).await?;
//!
//! // In two steps: keep the ticket (it serialises), download later without paying again.
//! let ticket = client
//!     .submit_removal(ImageSource::path("car.jpg"), RemoveOptions::default())
//!     .await?;
//! let cutout = client.resume_removal(ticket, RemoveOptions::default()).await?;
//! # let _ = cutout;
//! # Ok(()) }
//! ```

use cutout_runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, ImageSource, JobTicket, Progress,
    RemoveOptions,
};

use crate::remove_bg::Variant;
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
            // What the provider makes is decided by its facts (providers.toml); the message
            // adds what to use instead.
            if crate::PROVIDER.check_output(options.kind).is_err() {
                return Err(CutoutError::Unsupported {
                    provider: crate::PROVIDER.name,
                    message: "BackgroundCut's background removal makes cut-outs, not masks: for a \
                              mask use `Client::matting` with `output_type(MattingOutputType::\
                              Mask)` (it needs a trimap) or `Client::ai_cut` (it needs points)"
                        .to_owned(),
                });
            }
            let mut request = self.remove_bg(source).variant(Variant::png());
            if let Some(progress) = options.progress.clone() {
                // `submit` reports Uploading and Submitted; the download is `resume_removal`'s.
                request = request.on_progress(move |event| progress(event));
            }
            let job = request.submit().await?;
            // `submit` refuses an answer without an output key.
            let key = job.output_key().unwrap_or_default();
            Ok(JobTicket::new(crate::PROVIDER.name, key))
        })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, CutoutResult<Cutout>> {
        Box::pin(async move {
            let key = ticket.require_job_id(crate::PROVIDER.name)?;
            options.report(Progress::Downloading);
            let output = self.download_output(key).await?;
            output.into_cutout(CutoutKind::Rgba)
        })
    }
}

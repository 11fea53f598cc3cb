//! [`BackgroundRemover`] for BackgroundCut: the provider-neutral one-call cut-out.
//!
//! It runs [`Client::remove_bg`] with one PNG variant and returns the result as a [`Cutout`].
//! Local files are streamed, bytes are sent as they are, and URLs are downloaded first
//! (BackgroundCut reads only its own store).
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
//! # Ok(()) }
//! ```

use cutout_runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, ImageSource, RemoveOptions,
};

use crate::remove_bg::Variant;
use crate::{Client, CutoutError, CutoutResult};

impl BackgroundRemover for Client {
    fn provider_name(&self) -> &'static str {
        crate::PROVIDER.name
    }

    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, CutoutResult<Cutout>> {
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
            let mut job = self.remove_bg(source).variant(Variant::png());
            if let Some(progress) = options.progress.clone() {
                job = job.on_progress(move |event| progress(event));
            }
            let output = job.run().await?.into_iter().next().ok_or_else(|| {
                CutoutError::unexpected(
                    crate::PROVIDER.name,
                    "process_remove_bg",
                    "the answer lists no output key",
                )
                .with_status(200)
            })?;
            output.into_cutout(CutoutKind::Rgba)
        })
    }
}

//! Typed async client for the [Topaz Labs Image API](https://developer.topazlabs.com/):
//! matting (cut a subject out as an alpha mask or an RGBA image, with the `Object` or
//! `RemoveBG` model) and the job lifecycle around it (status, list, download, cancel, estimate).
//!
//! # The short path
//!
//! The key comes from `TOPAZ_API_KEY` (and the base URL from `TOPAZ_BASE_URL`, when set). One
//! call uploads the image, waits for the job (polling at Topaz's ETA) and downloads the result:
//!
//! ```no_run
//! use topaz_image::{BackgroundRemover, Client, ImageSource, RemoveOptions};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! let client = Client::from_env()?;
//! let cutout = client
//!     .remove_background(ImageSource::path("portrait.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("portrait.png", false).await?;
//! # Ok(()) }
//! ```
//!
//! With more control, but still checked locally before anything is sent
//! ([`Client::matting`] → [`Job`]):
//!
//! ```no_run
//! use topaz_image::{Client, ImageSource, Mode, Model, WaitPolicy};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! let client = Client::from_env()?;
//! let job = client
//!     .matting(ImageSource::path("portrait.jpg"))
//!     .model(Model::Object)
//!     .mode(Mode::Alpha)
//!     .submit()
//!     .await?;
//! job.wait(&WaitPolicy::default(), |p| eprintln!("{:?}% done", p.percent)).await?;
//! job.download_to("portrait.mask.png", false).await?;
//! # Ok(()) }
//! ```
//!
//! # Full control: the generated operations
//!
//! Every API operation is a method of [`Client`] returning a builder; `send()` it. Pass the call
//! through [`Context::call`](cutout_runtime::Context::call) to get a [`CutoutError`] with
//! Topaz's message instead of progenitor's [`Error`]:
//!
//! ```no_run
//! use topaz_image::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder().key(std::env::var("TOPAZ_API_KEY")?).build()?;
//! let job = client
//!     .post_matting()
//!     .image_path("portrait.jpg")
//!     .body_map(|form| {
//!         form.model(types::MattingGanRequestModel::RemoveBg)
//!             .mode(types::MattingGanRequestMode::Segmentation)
//!     })
//!     .send()
//!     .await?
//!     .into_inner();
//! let status = client
//!     .context()
//!     .call("get_status", client.get_status().process_id(&job.process_id).send())
//!     .await?;
//! // Only the id and the status are always there; a state Topaz adds later reads as
//! // `JobStatus::Unknown` with its name.
//! println!("{} {:?}%", status.status, status.progress);
//! # Ok(())
//! # }
//! ```
//!
//! Retries (429, 425, 503, gateway errors on reads), redirects (the key is dropped when they
//! leave the API's host) and tracing happen inside the client for both paths.
//!
//! # Crate organization
//!
//! Generated (by `cargo xtask codegen` from `specs/topaz-image/openapi.upstream.json`, the
//! provider's own OpenAPI 3.1 document verbatim, and `specs/topaz-image/patch.yaml`;
//! `openapi.effective.json` in this crate is the exact document; never edit either by hand):
//!
//! - [`Client`]: one method per API operation, each returning a builder; [`Client::builder`],
//!   [`Client::from_env`], [`Client::with_key`], [`Client::with_base_url`].
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//!   Responses are read tolerantly: status enums keep a value they do not know in their
//!   `Unknown` variant, unknown members are ignored, and only what a workflow needs (ids,
//!   status, result links) is required; request enums are closed, so what is sent is exactly
//!   what is documented.
//!
//! Hand-written:
//!
//! - [`matting`]: [`Client::matting`] → [`MattingRequest`] → [`Job`] ([`MattingRequest::submit`])
//!   or the output ([`MattingRequest::run`]), with local checks.
//! - [`jobs`]: [`Job`] (status, wait, download, cancel, delete), [`Client::job`],
//!   [`Client::list_jobs`], [`Client::job_pages`], [`Client::delete_all_jobs`].
//! - [`estimate`]: [`Client::estimate_matting`] and the local [`credits_for_output`].
//! - [`webhook`]: [`WebhookNotification`] and [`webhook::parse`].
//! - [`remover`]: [`BackgroundRemover`] for [`Client`].
//! - [`error`]: Topaz's error body ([`types::ApiError`]) feeding [`CutoutError`].
//!
//! The API key is put on requests in one hook (`cutout_runtime::Context::authorize`), only
//! towards the base URL; no type of this crate shows it in its `Debug` output.
//!
//! Everything here is `async` and runs on a [tokio](https://docs.rs/tokio) runtime (the HTTP
//! client, timers and file I/O need one): call it from `#[tokio::main]` or a runtime you build.
//!
//! The runtime types that appear in this crate's signatures are re-exported here, so a program
//! that depends on `topaz-image` alone can name them all:
//!
//! ```no_run
//! use topaz_image::{
//!     ApiKey, AuthScheme, BackgroundRemover, BoxFuture, Capabilities, Client, ClientBuilder, ColorLayout,
//!     Context, Cutout, CutoutError, CutoutKind, CutoutResult, Downloaded, ErrorBody, FilePart, FromParts, UploadProgress,
//!     ImageFormat, ImageInfo, ImageSource, JobProgress, Limits, MAX_RESULT_BYTES, Progress,
//!     ProgressFn, ProviderInfo, RemoveOptions, RetryPolicy, ServiceError, Timeouts,
//!     TransportError, WaitPolicy,
//! };
//!
//! fn names(client: &Client) -> CutoutResult<()> {
//!     let _: &Context = client.context();
//!     let _: ClientBuilder<Client> = Client::builder();
//!     fn buildable<C: FromParts>(_: ClientBuilder<C>) {}
//!     buildable(Client::builder());
//!     let _: FilePart = FilePart::path("a.jpg")
//!         .on_progress(std::sync::Arc::new(|_sent: u64, _total: u64| {}) as UploadProgress);
//!     let _: &ProviderInfo = &topaz_image::PROVIDER;
//!     let _: &Capabilities = &topaz_image::PROVIDER.capabilities;
//!     let _: u64 = MAX_RESULT_BYTES;
//!     let _: Box<dyn BackgroundRemover> = Box::new(client.clone());
//!     let _: BoxFuture<'_, Result<Cutout, CutoutError>> =
//!         client.remove_background(ImageSource::path("a.jpg"), RemoveOptions::default());
//!     let _: fn(&JobProgress) = |progress| drop(progress.status.clone());
//!     let _: WaitPolicy = WaitPolicy::default();
//!     if let Err(CutoutError::Service(service)) = Err::<(), _>(CutoutError::invalid("x", "y")) {
//!         let _: ServiceError = *service;
//!     }
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]
// docs.rs (nightly, `--cfg docsrs`) labels each feature-gated item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

/// Typed [httpmock](https://docs.rs/httpmock) helpers, generated beside the client (feature
/// `mock`): `use mock::MockServerExt;` then one method per operation on `httpmock::MockServer`.
#[cfg(feature = "mock")]
#[rustfmt::skip]
#[path = "generated_mock.rs"]
pub mod mock;

pub mod error;
pub mod estimate;
pub mod jobs;
pub mod matting;
pub mod remover;
pub mod webhook;

pub use generated::*;

// The runtime's types that appear in this crate's signatures, so that depending on this crate
// alone is enough to name them (checked by the "Crate organization" doc test).
pub use cutout_runtime::Error as CutoutError;
pub use cutout_runtime::multipart::{FilePart, UploadProgress};
pub use cutout_runtime::probe::ColorLayout;
pub use cutout_runtime::{
    ApiKey, AuthScheme, BackgroundRemover, BoxFuture, Capabilities, ClientBuilder, Context, Cutout,
    CutoutKind, Downloaded, ErrorBody, FromParts, ImageFormat, ImageInfo, ImageSource, JobProgress,
    JobTicket, Limits, MAX_RESULT_BYTES, Progress, ProgressFn, ProviderInfo, RemoveOptions,
    RetryPolicy, ServiceError, Timeouts, TransportError, WaitPolicy,
};
pub use estimate::{Estimate, credits_for_output};
pub use jobs::{Job, MAX_JOB_PAGES, MAX_LISTED_BYTES};
pub use matting::{MattingRequest, Mode, Model, OutputFormat};
pub use webhook::WebhookNotification;

/// Result of the hand-written layer.
pub type CutoutResult<T> = Result<T, CutoutError>;

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

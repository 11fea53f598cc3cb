//! Typed async client for the [ModelsLab API v6](https://docs.modelslab.com/) image editing
//! endpoints: background removal with an optional mask (`removebg_mask`) and fetching the result
//! of a request the server queued.
//!
//! ModelsLab takes the API key in the JSON body (`"key": "…"`), not in a header. The [`Client`]
//! adds it to every request itself, from the key it was built with, so the `key` fields of the
//! request types are left unset.
//!
//! Every answer comes with HTTP 200 and is one of three shapes, told apart by its `status`:
//! a finished result, a queued request (poll [`Client::fetch_result`] with its `id`), or an error.
//!
//! # The short path
//!
//! The key comes from `MODELSLAB_API_KEY` (and the base URL from `MODELSLAB_BASE_URL`, when set).
//! One call sends the image (a local file travels inline as a data URI, streamed into the
//! body: see [`remove_bg`]), waits for a queued request at ModelsLab's ETA and downloads the
//! result:
//!
//! ```no_run
//! use modelslab::{BackgroundRemover, Client, ImageSource, RemoveOptions};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let cutout = client
//!     .remove_background(ImageSource::path("portrait.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("portrait.png", false).await?;
//! # Ok(()) }
//! ```
//!
//! With every option of the API, still checked locally before anything is sent
//! ([`Client::remove_bg`] → [`RemoveBgRequest`]; [`run`](RemoveBgRequest::run) waits for the
//! result, [`submit`](RemoveBgRequest::submit) returns a [`RemoveBgJob`] on the first answer):
//!
//! ```no_run
//! use modelslab::{Client, ImageSource};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let result = client
//!     .remove_bg(ImageSource::url("https://example.com/portrait.jpg"))
//!     .only_mask(true)
//!     .alpha_matting(true)
//!     .erode_size(3)
//!     .run()
//!     .await?;
//! println!("{:?}", result.output.urls());
//! # Ok(()) }
//! ```
//!
//! # Full control: the generated operations
//!
//! Each operation is a method of [`Client`] returning a builder; `send()` it. Pass the call
//! through [`Context::call`](cutout_runtime::Context::call) to get a [`CutoutError`] with
//! ModelsLab's message instead of progenitor's [`Error`]:
//!
//! ```no_run
//! use modelslab::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder().key(std::env::var("MODELSLAB_API_KEY")?).build()?;
//! let answer = client
//!     .context()
//!     .call(
//!         "removebg_mask",
//!         client
//!             .removebg_mask()
//!             .body_map(|body| body.image("https://example.com/portrait.jpg").only_mask(true))
//!             .send(),
//!     )
//!     .await?
//!     .into_inner();
//! match answer {
//!     types::RemovebgMaskResponse::ResultSuccess(done) => println!("mask: {:?}", done.output),
//!     types::RemovebgMaskResponse::RemovebgMaskProcessing(queued) => {
//!         if let types::FlexibleId::Integer(id) = queued.id {
//!             // Later (after `queued.eta` seconds): ask again until it is done.
//!             let again = client.fetch_result().id(id).send().await?.into_inner();
//!             println!("{again:?}");
//!         }
//!     }
//!     types::RemovebgMaskResponse::ModelsLabError(error) => {
//!         println!("failed: {:?}", error.message.or(error.messege));
//!     }
//!     // A status this client does not know (ModelsLab may add some): still running.
//!     types::RemovebgMaskResponse::OtherAnswer(other) => println!("still {}", other.status),
//!     // Generated enums are `#[non_exhaustive]`: a kind of answer a later spec adds lands here.
//!     _ => println!("an answer this version does not know"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Retries (429 after the `retry_after` the body asks for, 503, gateway errors on fetches),
//! redirects (the key is taken out of the body when they leave the API's host; a request with a
//! local image, whose body is streamed, is not redirected at all) and tracing happen inside the
//! client for every path. The client runs at most 5 requests at once by default (the
//! smallest plan's queue cap); change it with
//! [`ClientBuilder::max_concurrent_jobs`](cutout_runtime::ClientBuilder::max_concurrent_jobs).
//!
//! # Crate organization
//!
//! Generated (by `cargo xtask codegen` from `specs/modelslab/openapi.yaml`, a hand-written
//! OpenAPI 3.0.3 description: ModelsLab publishes none; `openapi.effective.json` in this crate is
//! the exact document it was generated from; never edit either by hand):
//!
//! - [`Client`]: one method per API operation, each returning a builder; [`Client::builder`],
//!   [`Client::from_env`], [`Client::with_key`], [`Client::with_base_url`].
//! - [`types`]: request and response bodies (and the webhook payloads, [`types::WebhookPayload`]);
//!   [`builder`]: the per-operation builders.
//!   Answers are read tolerantly: a `status` ModelsLab has not documented reads as
//!   [`types::OtherAnswer`] (a request still running) or [`types::WebhookOther`], unknown members
//!   are ignored, and only what a workflow needs (status, the queued id, the output) is required.
//!
//! Hand-written:
//!
//! - [`remove_bg`]: [`Client::remove_bg`] → [`RemoveBgRequest`] (options and local checks;
//!   local images sent inline as data URIs, their JSON body streamed);
//!   [`RemoveBgRequest::run`] waits for the result,
//!   [`RemoveBgRequest::submit`] returns a [`RemoveBgJob`].
//! - [`jobs`]: [`RemoveBgJob`] (state, refresh, wait), [`MaskState`], [`Processing`],
//!   [`Client::fetch`], [`Client::wait_for_mask`].
//! - [`result`]: [`MaskResult`] and its [`MaskOutput`].
//! - [`webhook`]: [`webhook::parse`] for the calls ModelsLab makes to a request's webhook.
//! - [`remover`]: [`BackgroundRemover`] for [`Client`].
//! - [`error`]: ModelsLab's error body ([`types::ModelsLabError`], `message` or `messege`, and
//!   `retry_after`) feeding [`CutoutError`].
//!
//! The API key is put on requests in one hook (`cutout_runtime::Context::authorize`), only
//! towards the base URL; no type of this crate shows it in its `Debug` output.
//!
//! Everything here is `async` and runs on a [tokio](https://docs.rs/tokio) runtime (the HTTP
//! client, timers and file I/O need one): call it from `#[tokio::main]` or a runtime you build.
//!
//! The runtime types that appear in this crate's signatures are re-exported here, so a program
//! that depends on `modelslab` alone can name them all:
//!
//! ```no_run
//! use modelslab::{
//!     ApiKey, AuthScheme, BackgroundRemover, BoxFuture, Capabilities, Client, ClientBuilder, ColorLayout,
//!     Context, Cutout, CutoutError, CutoutKind, CutoutResult, Downloaded, ErrorBody, FromParts,
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
//!     let _: &ProviderInfo = &modelslab::PROVIDER;
//!     let _: &Capabilities = &modelslab::PROVIDER.capabilities;
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
mod inline;
pub mod jobs;
pub mod remove_bg;
pub mod remover;
pub mod result;
pub mod webhook;

pub use generated::*;

// The runtime's types that appear in this crate's signatures, so that depending on this crate
// alone is enough to name them (checked by the "Crate organization" doc test).
pub use cutout_runtime::Error as CutoutError;
pub use cutout_runtime::probe::ColorLayout;
pub use cutout_runtime::{
    ApiKey, AuthScheme, BackgroundRemover, BoxFuture, Capabilities, ClientBuilder, Context, Cutout,
    CutoutKind, Downloaded, ErrorBody, FromParts, ImageFormat, ImageInfo, ImageSource, JobProgress,
    JobTicket, Limits, MAX_RESULT_BYTES, Progress, ProgressFn, ProviderInfo, RemoveOptions,
    RetryPolicy, ServiceError, Timeouts, TransportError, WaitPolicy,
};
pub use jobs::{MaskState, Processing, RemoveBgJob};
pub use remove_bg::RemoveBgRequest;
pub use result::{MaskOutput, MaskResult};

/// Result of the hand-written layer.
pub type CutoutResult<T> = Result<T, CutoutError>;

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

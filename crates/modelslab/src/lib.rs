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
//! One call sends the image (a local file travels inline as a data URI), waits for a queued
//! request at ModelsLab's ETA and downloads the result:
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
//! ([`Client::remove_background_mask`]):
//!
//! ```no_run
//! use modelslab::{Client, ImageSource};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let result = client
//!     .remove_background_mask(ImageSource::url("https://example.com/portrait.jpg"))
//!     .only_mask(true)
//!     .alpha_matting(true)
//!     .erode_size(3)
//!     .send()
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
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Retries (429 after the `retry_after` the body asks for, 503, gateway errors on fetches),
//! redirects (the key is taken out of the body when they leave the API's host) and tracing happen
//! inside the client for every path. The client runs at most 5 requests at once by default (the
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
//! - [`removebg`]: [`Client::remove_background_mask`] → [`RemoveBgMask`] → [`MaskResult`],
//!   [`Client::fetch`], [`Client::wait_for_mask`].
//! - [`webhook`]: [`webhook::parse`] for the calls ModelsLab makes to a request's webhook.
//! - [`remover`]: [`BackgroundRemover`] for [`Client`].
//! - `error`: ModelsLab's error body ([`types::ModelsLabError`], `message` or `messege`, and
//!   `retry_after`) feeding [`CutoutError`].
//!
//! The API key is put on requests in one hook (`cutout_runtime::Context::authorize`), only
//! towards the base URL; no type of this crate shows it in its `Debug` output.

#![warn(missing_docs)]

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

/// Typed [httpmock](https://docs.rs/httpmock) helpers, generated beside the client (feature
/// `mock`): `use mock::MockServerExt;` then one method per operation on `httpmock::MockServer`.
#[cfg(feature = "mock")]
#[rustfmt::skip]
#[path = "generated_mock.rs"]
pub mod mock;

mod error;
pub mod removebg;
pub mod remover;
pub mod webhook;

pub use generated::*;

pub use cutout_runtime::Error as CutoutError;
pub use cutout_runtime::{
    ApiKey, BackgroundRemover, ClientBuilder, Cutout, CutoutKind, ImageSource, Progress,
    RemoveOptions, RetryPolicy, Timeouts, WaitPolicy,
};
pub use removebg::{MaskOutput, MaskResult, MaskState, Processing, RemoveBgMask};

/// Result of the hand-written layer.
pub type CutoutResult<T> = Result<T, CutoutError>;

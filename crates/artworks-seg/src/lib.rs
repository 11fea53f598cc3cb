//! Typed async client for the [Tengr.ai](https://tengr.ai/) artworks API v2, the parts that
//! isolate subjects: segmentation masks chosen by a text prompt or by points, and background
//! removal.
//!
//! Every request creates an *artwork* that is processed asynchronously: creating one answers
//! `202 Accepted` with its record, which is then read back (or delivered to a webhook) until its
//! [`types::ArtworkStatus`] is final. Artworks are deleted 8 days after creation. Tengr fetches
//! input images by URL: there is no upload.
//!
//! Tengr.ai does not publish the base URL of this API. [`DEFAULT_BASE_URL`] is an assumption;
//! [`Client::with_base_url`] or `TENGR_BASE_URL` sets another one.
//!
//! # Quick start: one call
//!
//! A [`SegmentationRequest`] is checked locally (URL, prompt, point coordinates, ranges, webhook host)
//! before it is sent; the [`ArtworkJob`] it starts is then waited for and its masks downloaded
//! without the API key:
//!
//! ```no_run
//! use artworks_seg::{Client, SegmentationRequest, WaitPolicy};
//!
//! # async fn run() -> Result<(), artworks_seg::CutoutError> {
//! let client = Client::from_env()?; // TENGR_API_KEY
//! let mut job = SegmentationRequest::text("https://example.com/street.jpg", "the red car").submit(&client)
//!     .await?;
//! job.wait(&WaitPolicy::default(), |_| {}).await?;
//! let files = job.download_results("masks", false).await?;
//!
//! // Or, the same for every provider:
//! use artworks_seg::{BackgroundRemover, ImageSource, RemoveOptions};
//! let cutout = client
//!     .remove_background(ImageSource::url("https://example.com/photo.jpg"), RemoveOptions::default())
//!     .await?;
//! cutout.save("photo.png", false).await?;
//! # Ok(()) }
//! ```
//!
//! # Full control: the generated operations
//!
//! Every API operation is a method of [`Client`] returning a builder; `send()` it. Errors are
//! progenitor's [`Error`]; route the call through [`Client::context`]`().call(..)` to get a
//! [`CutoutError`] instead.
//!
//! ```no_run
//! use artworks_seg::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::with_key(std::env::var("TENGR_API_KEY")?)?;
//! let artwork = client
//!     .create_segmentation()
//!     .body_map(|body| {
//!         body.image_url("https://example.com/street.jpg")
//!             .method(types::SegmentationMethod::Text)
//!             .text_prompt(Some("the red car".to_string()))
//!             .output_format(Some(types::OutputFormat::Png))
//!     })
//!     .send()
//!     .await?
//!     .into_inner();
//! // Later: read it back until it is final.
//! let artwork = client.get_artwork().id(&artwork.id).send().await?.into_inner();
//! if artwork.status == types::ArtworkStatus::Succeeded {
//!     println!("masks: {:?}", artwork.results);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Crate organization
//!
//! Generated (by `cargo xtask codegen` from `specs/artworks-seg/openapi.yaml`, a hand-written
//! OpenAPI 3.0.3 description: Tengr.ai publishes none; `openapi.effective.json` in this crate is
//! the exact document it was generated from; never edit either by hand):
//!
//! - [`Client`]: one method per API operation, each returning a builder; [`Client::builder`],
//!   [`Client::from_env`], [`Client::with_key`], [`Client::with_base_url`] build a client. The API
//!   key is put on requests in one hook (`cutout_runtime::Context::authorize`), only towards the
//!   base URL.
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//!   Responses are read tolerantly: status enums keep a value they do not know in their
//!   `Unknown` variant, unknown members are ignored, and only what a workflow needs (ids,
//!   status, result links) is required; request enums are closed, so what is sent is exactly
//!   what is documented.
//!
//! Hand-written, beside it:
//!
//! - [`segmentation`]: [`SegmentationRequest`] (text or points, checked locally) →
//!   [`SegmentationRequest::submit`] → [`ArtworkJob`].
//! - [`remove_bg`]: [`Client::remove_bg`] → [`RemoveBgRequest`] → [`ArtworkJob`], background
//!   removal.
//! - [`artworks`]: [`ArtworkJob`] (refresh, wait, download results), [`Client::artwork`],
//!   [`Client::artworks`].
//! - [`webhook`]: [`webhook::parse`] for deliveries, [`webhook::check_url`] for webhook URLs.
//! - [`remover`]: the provider-neutral [`BackgroundRemover`].
//! - [`error`]: how Tengr's error bodies become [`CutoutError`]s.
//!
//! Everything here is `async` and runs on a [tokio](https://docs.rs/tokio) runtime (the HTTP
//! client, timers and file I/O need one): call it from `#[tokio::main]` or a runtime you build.
//!
//! The runtime types that appear in this crate's signatures are re-exported here, so a program
//! that depends on `artworks-seg` alone can name them all:
//!
//! ```no_run
//! use artworks_seg::{
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
//!     let _: &ProviderInfo = &artworks_seg::PROVIDER;
//!     let _: &Capabilities = &artworks_seg::PROVIDER.capabilities;
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

pub use generated::*;

pub mod artworks;
pub mod error;
pub mod remove_bg;
pub mod remover;
pub mod segmentation;
pub mod webhook;

pub use artworks::ArtworkJob;
pub use remove_bg::RemoveBgRequest;
pub use segmentation::{PointsMode, SegmentationMode, SegmentationRequest, TextMode};

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

/// Result of the hand-written layer.
pub type CutoutResult<T> = Result<T, CutoutError>;

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

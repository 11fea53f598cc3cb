//! Typed async client for the [BackgroundCut API v3](https://backgroundcut.co/) (beta):
//! upload files into a per-account key space, then run its AI tools on them (trimap-guided
//! matting, background removal into several output variants, point-guided "AI Cut"), and mint
//! short-lived download links for the results.
//!
//! Keys are flat names (`my-project/photo.jpg`: the slash is part of the key), files are deleted
//! two hours after upload, and storage is regional (another region answers 404).
//!
//! # Quick start: one call
//!
//! The workflows check the inputs locally (a JPEG photo, a grayscale JPEG trimap of the same size,
//! an output key that fits the output type…), upload them under fresh keys, run the tool, and
//! download the result without sending the key to the download host:
//!
//! ```no_run
//! use backgroundcut::{Client, ImageSource, types::MattingOutputType};
//!
//! # async fn run() -> Result<(), backgroundcut::CutoutError> {
//! let client = Client::from_env()?; // BACKGROUNDCUT_API_KEY
//! let result = client
//!     .matting(ImageSource::path("photo.jpg"), ImageSource::path("trimap.jpg"))
//!     .output_type(MattingOutputType::Rgba)
//!     .run()
//!     .await?;
//! result.save("photo.cutout.png", false).await?;
//!
//! // Or, the same for every provider:
//! use backgroundcut::{BackgroundRemover, RemoveOptions};
//! let cutout = client
//!     .remove_background(ImageSource::path("photo.jpg"), RemoveOptions::default())
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
//! use backgroundcut::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::with_key(std::env::var("BACKGROUNDCUT_API_KEY")?)?;
//! // Both inputs must be in the key space before matting runs.
//! client
//!     .upload_file()
//!     .file_path("photo.jpg")
//!     .body_map(|form| form.key("my-project/photo.jpg"))
//!     .send()
//!     .await?;
//! client
//!     .upload_file()
//!     .file_path("trimap.jpg")
//!     .body_map(|form| form.key("my-project/trimap.jpg"))
//!     .send()
//!     .await?;
//! let matted = client
//!     .process_matting()
//!     .body_map(|body| {
//!         body.input_key("my-project/photo.jpg")
//!             .trimap_key("my-project/trimap.jpg")
//!             .output_key("my-project/result.png")
//!             .output_type(types::MattingOutputType::Rgba)
//!     })
//!     .send()
//!     .await?
//!     .into_inner();
//! let link = client
//!     .get_public_url()
//!     .body_map(|body| body.key(matted.output_key))
//!     .send()
//!     .await?;
//! println!("download: {}", link.url);
//! # Ok(())
//! # }
//! ```
//!
//! # Crate organization
//!
//! Generated (by `cargo xtask codegen` from `specs/backgroundcut/openapi.yaml`, a hand-written
//! OpenAPI 3.0.3 description: BackgroundCut publishes none; `openapi.effective.json` in this crate
//! is the exact document it was generated from; never edit either by hand):
//!
//! - [`Client`]: one method per API operation, each returning a builder; [`Client::builder`],
//!   [`Client::from_env`], [`Client::with_key`], [`Client::with_base_url`] build a client. The API
//!   key is put on requests in one hook (`cutout_runtime::Context::authorize`), only towards the
//!   base URL.
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//!   Responses are read tolerantly: unknown members are ignored and only what a workflow needs
//!   (output keys, download links) is required; request enums are closed, so what is sent is
//!   exactly what is documented.
//!
//! Hand-written, beside it:
//!
//! - [`storage`]: [`Client::upload`], [`Client::public_url`], [`storage::unique_key`], and what
//!   the key space's rules mean (flat names, 2-hour expiry); [`OutputJob`], the outputs of a
//!   `submit` (processed, not downloaded), and [`Client::output`] to re-attach to them by key.
//! - [`matting`]: [`Client::matting`] → [`MattingRequest`], the whole trimap-matting flow.
//! - [`remove_bg`]: [`Client::remove_bg`] → [`RemoveBgRequest`], background removal into
//!   [`Variant`]s.
//! - [`ai_cut`]: [`Client::ai_cut`] → [`AiCutRequest`], a mask from foreground and background
//!   points.
//! - `trimap` (feature `image`, off by default): trimaps from masks, encoded as grayscale JPEG.
//! - [`remover`]: the provider-neutral [`BackgroundRemover`].
//! - [`error`]: how BackgroundCut's error bodies become [`CutoutError`]s.
//!
//! Everything here is `async` and runs on a [tokio](https://docs.rs/tokio) runtime (the HTTP
//! client, timers and file I/O need one): call it from `#[tokio::main]` or a runtime you build.
//!
//! The runtime types that appear in this crate's signatures are re-exported here, so a program
//! that depends on `backgroundcut` alone can name them all:
//!
//! ```no_run
//! use backgroundcut::{
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
//!     let _: &ProviderInfo = &backgroundcut::PROVIDER;
//!     let _: &Capabilities = &backgroundcut::PROVIDER.capabilities;
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

pub mod ai_cut;
pub mod error;
mod inputs;
pub mod matting;
pub mod remove_bg;
pub mod remover;
pub mod storage;
#[cfg(feature = "image")]
pub mod trimap;

pub use ai_cut::AiCutRequest;
pub use matting::{MattingFormat, MattingRequest};
pub use remove_bg::{RemoveBgRequest, Variant, VariantFormat};
pub use storage::{OutputJob, SavedOutput, StoredOutput};

/// The `image` crate, as the `trimap` functions use it (feature `image`).
#[cfg(feature = "image")]
pub use image;

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

/// Result of the hand-written layer.
pub type CutoutResult<T> = Result<T, CutoutError>;

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

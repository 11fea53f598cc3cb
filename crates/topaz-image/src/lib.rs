//! Typed async client for the [Topaz Labs Image API](https://developer.topazlabs.com/):
//! matting (cut a subject out as an alpha mask or an RGBA image, with the `Object` or
//! `RemoveBG` model) and the job lifecycle around it (status, list, download, cancel, estimate).
//!
//! # Quick start
//!
//! ```no_run
//! use topaz_image::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::with_key(std::env::var("TOPAZ_API_KEY")?)?;
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
//! let status = client.get_status().process_id(&job.process_id).send().await?;
//! println!("{:?} {}%", status.status, status.progress);
//! # Ok(())
//! # }
//! ```
//!
//! # Crate organization
//!
//! - [`Client`]: one method per API operation, each returning a builder; `send()` it.
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//! - `src/generated.rs` is written by `cargo xtask codegen` from
//!   `specs/topaz-image/openapi.upstream.json` (the provider's own OpenAPI 3.1 document, verbatim)
//!   and `specs/topaz-image/patch.yaml`; `openapi.effective.json` in this crate is the exact
//!   document it was generated from. Never edit either by hand.
//! - [`Client::with_key`] / [`Client::with_base_url`] build a client; the API key is put on
//!   requests in one hook (`cutout_runtime::Context::authorize`), only towards the base URL.

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

pub use generated::*;

//! Typed async client for the [Tengr.ai](https://tengr.ai/) artworks API v2, the parts that
//! isolate subjects: segmentation masks chosen by a text prompt or by points, and background
//! removal.
//!
//! Every request creates an *artwork* that is processed asynchronously: creating one answers
//! `202 Accepted` with its record, which is then read back with [`Client::get_artwork`] (or
//! delivered to a webhook) until its [`types::ArtworkStatus`] is final. Artworks are deleted 8 days
//! after creation.
//!
//! Tengr.ai does not publish the base URL of this API. [`DEFAULT_BASE_URL`] is an assumption;
//! [`Client::with_base_url`] takes another one.
//!
//! # Quick start
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
//! - [`Client`]: one method per API operation, each returning a builder; `send()` it.
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//! - `src/generated.rs` is written by `cargo xtask codegen` from `specs/artworks-seg/openapi.yaml`
//!   (a hand-written OpenAPI 3.0.3 description: Tengr.ai publishes none);
//!   `openapi.effective.json` in this crate is the exact document it was generated from. Never
//!   edit either by hand.
//! - [`Client::with_key`] / [`Client::with_base_url`] build a client; the API key is put on
//!   requests in one hook (`cutout_runtime::Context::authorize`), only towards the base URL.

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

pub use generated::*;

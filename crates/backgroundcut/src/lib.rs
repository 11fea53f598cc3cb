//! Typed async client for the [BackgroundCut API v3](https://backgroundcut.co/) (beta):
//! upload files into a per-account key space, then run its AI tools on them (trimap-guided
//! matting, background removal into several output variants, point-guided "AI Cut"), and mint
//! short-lived download links for the results.
//!
//! Keys are flat names (`my-project/photo.jpg`: the slash is part of the key), files are deleted
//! two hours after upload, and storage is regional (another region answers 404).
//!
//! # Quick start
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
//! - [`Client`]: one method per API operation, each returning a builder; `send()` it.
//! - [`types`]: request and response bodies; [`builder`]: the per-operation builders.
//! - `src/generated.rs` is written by `cargo xtask codegen` from `specs/backgroundcut/openapi.yaml`
//!   (a hand-written OpenAPI 3.0.3 description: BackgroundCut publishes none);
//!   `openapi.effective.json` in this crate is the exact document it was generated from. Never
//!   edit either by hand.
//! - [`Client::with_key`] / [`Client::with_base_url`] build a client; the API key is put on
//!   requests in one hook (`cutout_runtime::Context::authorize`), only towards the base URL.

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

pub use generated::*;

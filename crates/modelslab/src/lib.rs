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
//! # Quick start
//!
//! ```no_run
//! use modelslab::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::with_key(std::env::var("MODELSLAB_API_KEY")?)?;
//! let answer = client
//!     .removebg_mask()
//!     .body_map(|body| body.image("https://example.com/portrait.jpg").only_mask(true))
//!     .send()
//!     .await?
//!     .into_inner();
//! match answer {
//!     types::RemovebgMaskResponse::ResultSuccess(done) => println!("mask: {:?}", done.output),
//!     types::RemovebgMaskResponse::RemovebgMaskProcessing(queued) => {
//!         if let Some(types::FlexibleId::Integer(id)) = queued.id {
//!             // Later (after `queued.eta` seconds): ask again until it is done.
//!             let again = client.fetch_result().id(id).send().await?.into_inner();
//!             println!("{again:?}");
//!         }
//!     }
//!     types::RemovebgMaskResponse::ModelsLabError(error) => {
//!         println!("failed: {:?}", error.message.or(error.messege));
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Crate organization
//!
//! - [`Client`]: one method per API operation, each returning a builder; `send()` it.
//! - [`types`]: request and response bodies (and the webhook payloads, [`types::WebhookPayload`]);
//!   [`builder`]: the per-operation builders.
//! - `src/generated.rs` is written by `cargo xtask codegen` from `specs/modelslab/openapi.yaml`
//!   (a hand-written OpenAPI 3.0.3 description: ModelsLab publishes none);
//!   `openapi.effective.json` in this crate is the exact document it was generated from. Never
//!   edit either by hand.
//! - [`Client::with_key`] / [`Client::with_base_url`] build a client; the API key is put on
//!   requests in one hook (`cutout_runtime::Context::authorize`), only towards the base URL.

// Formatted by the xtask (prettyplease), not rustfmt: `--check` compares bytes.
#[rustfmt::skip]
mod generated;

pub use generated::*;

//! Stateful, loopback-only HTTP simulators of the four APIs the `cutout` clients talk to:
//! Topaz Labs Image API (matting jobs), BackgroundCut v3, ModelsLab v6 image editing and the
//! Tengr.ai artworks API v2, plus a file host for their inputs and outputs.
//!
//! Use it in-process from tests (each simulator listens on its own ephemeral port of 127.0.0.1)
//! or run the `cutout-sandbox` binary for a local demo.
//!
//! ```
//! use cutout_sandbox::{Provider, Sandbox};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sandbox = Sandbox::builder()
//!     .job_duration(std::time::Duration::from_millis(100))
//!     .start()
//!     .await?;
//! let base = sandbox.base_url(Provider::Topaz); // http://127.0.0.1:PORT/image/v1
//! let key = sandbox.key(Provider::Topaz); // "sandbox-topaz-key"
//! assert!(base.ends_with("/image/v1") && key == "sandbox-topaz-key");
//! // Point a client at `base` with `key`, submit a job, then:
//! sandbox.advance_clock(std::time::Duration::from_secs(2)); // the job is done
//! assert_eq!(sandbox.submissions(Provider::Topaz), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # What the simulators do
//!
//! They follow each provider's documentation: paths (trailing slashes included), field names,
//! status codes and error shapes. Requests are read by the documented field names (raw JSON and
//! multipart), never with the clients' request types, so a wrong name in a client's spec fails
//! here too; the response bodies are the provider crates' own generated types, checked against
//! documented examples by tests. Uploads are accepted up to [`SandboxBuilder::max_upload_bytes`]
//! and images up to [`SandboxBuilder::max_pixels`] (50 MP by default); each simulator refuses
//! more the way its provider documents. Results are computed from the input by small deterministic algorithms (colour-distance
//! background removal, trimap matting, region growing from points), never echoed, in the
//! requested format.
//!
//! Time-dependent behaviour (job progress, expiry of files, links and artworks, webhook
//! retries) follows the sandbox clock, which runs with real time and jumps with
//! [`Sandbox::advance_clock`]. URL inputs are only ever fetched from the sandbox's own file host,
//! resolved in-process: the sandbox makes no outbound connection (webhooks go to loopback
//! receivers only).
//!
//! # Faults
//!
//! [`Faults`] gives per-request probabilities of a 429 (with `Retry-After`), 503, 502, 500, a
//! dropped connection, a slow answer or a truncated download, separately for submissions (paid,
//! job-creating requests), other API requests and file-host downloads. They are drawn from a
//! seeded generator, one draw per request, before the request is handled, so a faulted request
//! never creates a job or spends credits, and a given seed and request order always give the
//! same faults. Every request, faulted or not, is in [`Sandbox::requests`].
//!
//! # Modules
//!
//! `topaz`, `backgroundcut`, `modelslab`, `tengr`: one simulator each; every handler returns
//! `Result<Response, Rejection>`, and `server` renders a `Rejection` in the error shape of the
//! provider whose port answered. Shared: `server` (connections, fault injection, logging,
//! error rendering), `faults`, `clock`, `log`, `files` (the file host and
//! presigned URLs), `imaging`, `auth`, `webhooks`, `state`.

#![warn(missing_docs)]

mod auth;
mod backgroundcut;
mod clock;
mod faults;
mod files;
mod flags;
mod imaging;
mod log;
mod modelslab;
mod provider;
mod sandbox;
mod server;
mod state;
mod tengr;
mod topaz;
mod util;
mod webhooks;

/// The simulated providers are the facade's (one provider enum for the workspace).
pub use cutout::{Provider, UnknownProvider};
pub use faults::{FaultKind, FaultRates, Faults};
pub use flags::{ProviderCredits, ProviderFault};
pub use log::LoggedRequest;
pub use sandbox::{DEFAULT_MAX_PIXELS, Sandbox, SandboxBuilder, SandboxKeys, SandboxPorts};
pub use webhooks::WebhookDelivery;

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

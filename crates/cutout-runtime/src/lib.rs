//! What every `cutout` provider crate shares.
//!
//! Provider crates (`topaz-image`, `backgroundcut`, `modelslab`, `artworks-seg`) are generated
//! from API descriptions; the generated code calls into this crate for the concerns that must be
//! implemented once and the same way everywhere:
//!
//! - [`ApiKey`]: a secret that never prints, sent only on API calls (under the base URL).
//! - [`ProviderInfo`]: each provider's facts, generated from `specs/providers.toml`: key and
//!   base-URL variables, paid operations, queue cap and [`Capabilities`] (outputs, local files
//!   or URLs only, documented formats and limits).
//! - [`ClientBuilder`]: key and base URL from code or the environment, [`RetryPolicy`],
//!   [`Timeouts`], [`Limits`]; plain `http://` refused except on loopback.
//! - [`Context`]: carried by every generated `Client`; its hooks authenticate, retry, follow
//!   redirects (dropping the key when they leave the API) and trace every request.
//! - [`wait`]: one poller for every provider's jobs, driven by the provider's ETA.
//! - [`Context::download_to`]: streamed, length-checked, atomically renamed downloads that never
//!   carry credentials, with a size cap and one deadline per result.
//! - [`fs`]: every file written the same way: complete, synced and renamed into place, or not at all.
//! - [`ImageSource`]: a local file, bytes or a URL, shown in messages without secrets.
//! - [`probe`]: image format and size from the header alone, for local validation;
//!   [`ImageFormat`] is the one table of formats, MIME types and extensions.
//! - [`multipart`]: `multipart/form-data` bodies whose file parts are streamed from disk.
//! - [`Error`]: the error of the hand-written layer, with `is_retryable()` and friends;
//!   [`Error::with_advice`] adds a provider's explanation of a status, [`Error::unexpected`]
//!   reports an answer that breaks the API description.
//! - [`BackgroundRemover`]: one method from an image to a cut-out, implemented by every provider.
//!
//! Everything that talks to a server is `async` and runs on a [tokio](https://tokio.rs) runtime.

#![warn(missing_docs)]

mod auth;
mod config;
mod context;
pub mod decode;
mod download;
mod error;
pub mod fs;
pub mod lenient;
pub mod multipart;
pub mod probe;
mod remover;
mod retry;
mod source;
mod transport;
mod urls;
pub mod validate;
pub mod wait;

pub use auth::ApiKey;
pub use config::{
    AuthScheme, Capabilities, ClientBuilder, FromParts, Limits, ProviderInfo, Timeouts,
    check_base_url, is_loopback,
};
pub use context::Context;
pub use download::Downloaded;
pub use error::{Error, ErrorBody, Result, ServiceError, TransportError};
pub use fs::{write_atomically, write_atomically_blocking};
pub use probe::{ImageFormat, ImageInfo};
pub use remover::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, JobTicket, MAX_RESULT_BYTES, Progress,
    ProgressFn, RemoveOptions,
};
pub use retry::{RetryPolicy, parse_retry_after};
pub use source::ImageSource;
pub use urls::{PathSegment, format_url};
pub use validate::redact_url;
pub use wait::{JobProgress, Poll, WaitPolicy, wait_for, wait_for_known};

// The README's examples are compiled as doctests, so the crates.io page cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

//! [`Context`]: the state every generated `Client` carries. Its methods are grouped by concern:
//! here the settings, in `auth.rs` the credentials, in `urls.rs` the URLs of API calls, in
//! `transport.rs` sending and retrying, in `download.rs` downloading results.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::KeyHeader;
use crate::{ApiKey, Limits, ProviderInfo, RetryPolicy, Timeouts};

/// State every generated `Client` carries (its progenitor "inner" value): which provider it
/// talks to, its key, and how requests are retried and timed out.
///
/// The provider crates implement progenitor's `ClientHooks` for their `Client` by calling
/// [`Context::authorize`] (`pre`) and [`Context::execute`] (`exec`), so every operation, generated
/// or hand-written, is authenticated, retried and traced in this one place.
#[derive(Clone)]
pub struct Context {
    pub(crate) provider: &'static ProviderInfo,
    pub(crate) key: Option<ApiKey>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeouts: Timeouts,
    pub(crate) limits: Limits,
    pub(crate) http: reqwest::Client,
    job_slots: Option<Arc<Semaphore>>,
    /// The key's header, made once rather than for every request (`None` for a key that
    /// travels in the body, or no key).
    pub(crate) key_header: Option<KeyHeader>,
    /// The base URL the hooks pass, parsed on first use: every request is checked against it.
    pub(crate) parsed_base: Arc<OnceLock<(String, Option<reqwest::Url>)>>,
    /// The time limit the HTTP client puts on every request that sets none, when this crate
    /// built the client (`Timeouts::request`); `None` for a client from your own builder.
    pub(crate) client_timeout: Option<std::time::Duration>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("provider", &self.provider.name)
            .field("key", &self.key)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for `provider`. Usually made by [`ClientBuilder`](crate::ClientBuilder).
    pub fn new(
        provider: &'static ProviderInfo,
        key: Option<ApiKey>,
        retry: RetryPolicy,
        timeouts: Timeouts,
        http: reqwest::Client,
    ) -> Self {
        Self {
            provider,
            key_header: KeyHeader::new(provider, key.as_ref()),
            key,
            retry,
            timeouts,
            limits: Limits::default(),
            http,
            job_slots: None,
            parsed_base: Arc::default(),
            client_timeout: None,
        }
    }

    /// Says that `http` applies `limit` to every request that sets no limit of its own, as the
    /// client [`ClientBuilder`](crate::ClientBuilder) makes does with `Timeouts::request`: API
    /// calls with that limit then leave it to the client instead of setting it on each request
    /// (which costs reqwest an allocation per call).
    pub(crate) fn with_client_timeout(mut self, limit: Option<std::time::Duration>) -> Self {
        self.client_timeout = limit;
        self
    }

    /// Sets the size limits on answers and downloads (default [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The size limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Limits how many jobs run at once through this context and its clones.
    pub fn with_job_slots(mut self, limit: Option<usize>) -> Self {
        self.job_slots = limit.map(|n| Arc::new(Semaphore::new(n.max(1))));
        self
    }

    /// Waits for a free job slot, when jobs are limited. Hold the permit from submitting a job
    /// until it has finished; dropping it frees the slot.
    pub async fn job_slot(&self) -> Option<OwnedSemaphorePermit> {
        match &self.job_slots {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// The provider this context belongs to.
    pub fn provider(&self) -> &'static ProviderInfo {
        self.provider
    }

    /// The key, if one is set.
    pub fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The time limits.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The HTTP client (shared with the generated `Client`). The one
    /// [`ClientBuilder`](crate::ClientBuilder) makes gives every request that sets no time limit
    /// of its own `Timeouts::request`; one from your own `reqwest::ClientBuilder` keeps its
    /// settings.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

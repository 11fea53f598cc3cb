//! The one error type of the hand-written layer of every provider crate.
//!
//! Generated operations return progenitor's `Error<E>`; the workflows (`from_env`, submit → wait
//! → download, local validation) return [`Error`], which keeps what a caller needs to decide what
//! to do next: the HTTP status, the provider's own message, the raw body when it did not parse, and
//! whether trying again can help.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Result of the hand-written layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Match with a `..` arm: variants may be added.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The client is not configured: no key, or a base URL that cannot be used.
    Config {
        /// What is missing or wrong, and how to fix it.
        message: String,
    },
    /// No API key was given (or it is empty): nothing can be sent.
    MissingKey {
        /// Provider name.
        provider: &'static str,
        /// The environment variable that would hold it.
        variable: &'static str,
        /// A key was given, but it is empty.
        empty: bool,
    },
    /// An input was rejected locally, before any request was sent.
    InvalidInput {
        /// The parameter at fault (`trimap`, `output_compression`, `points_positive[2]`…).
        field: String,
        /// What is wrong with it and what is accepted.
        message: String,
    },
    /// The API answered with an error status.
    Service(Box<ServiceError>),
    /// The request could not be sent, or the answer could not be read.
    Transport {
        /// Provider name.
        provider: &'static str,
        /// The operation that failed.
        operation: &'static str,
        /// Whether the request may have reached the server (a job submission that fails this
        /// way may have been accepted: check before submitting again).
        maybe_sent: bool,
        /// The underlying error (its URL stripped of userinfo and query).
        source: TransportError,
    },
    /// The API answered something its description does not allow.
    UnexpectedResponse {
        /// Provider name.
        provider: &'static str,
        /// The operation.
        operation: &'static str,
        /// HTTP status, when known.
        status: Option<u16>,
        /// What did not match.
        message: String,
        /// The body as received (truncated to 4 KiB), when there was one.
        body: Option<String>,
    },
    /// A job ended without a result (failed or cancelled on the provider's side).
    JobFailed {
        /// Provider name.
        provider: &'static str,
        /// The provider's job id.
        job_id: String,
        /// The terminal state (`Failed`, `Cancelled`, `error`…).
        status: String,
        /// The provider's explanation, when it gave one.
        message: Option<String>,
    },
    /// Waiting for a job took longer than the configured deadline. The job may still finish.
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long was waited.
        waited: Duration,
    },
    /// A local file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`read`, `create a temporary file in`…).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// This provider cannot do what was asked with these inputs.
    Unsupported {
        /// Provider name.
        provider: &'static str,
        /// What is not supported and what to do instead.
        message: String,
    },
}

/// An error answer from the API.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceError {
    /// Provider name.
    pub provider: &'static str,
    /// The environment variable that holds this provider's key (named in auth failures).
    pub key_variable: &'static str,
    /// The operation (generated operation id, e.g. `post_matting`).
    pub operation: &'static str,
    /// HTTP status.
    pub status: u16,
    /// The provider's error code, when its error body has one.
    pub code: Option<i64>,
    /// The provider's message, when the body had one.
    pub message: Option<String>,
    /// The raw body (truncated to 4 KiB) when it did not parse as the documented error shape.
    pub raw_body: Option<String>,
    /// How long the provider asked to wait before trying again (`Retry-After`, `retry_after`).
    pub retry_after: Option<Duration>,
    /// What the status means and what to do about it, shown after the message: the runtime's
    /// general advice for the status, or the provider's own (set with [`Error::with_advice`]).
    pub advice: Option<String>,
}

/// Implemented by each provider's error body type so that [`Error`] can show its message.
pub trait ErrorBody {
    /// The human-readable message, if the body has one.
    fn message(&self) -> Option<String>;
    /// A numeric error code, if the body has one.
    fn code(&self) -> Option<i64> {
        None
    }
    /// A wait the body asks for (ModelsLab's `retry_after`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

const BODY_LIMIT: usize = 4096;

/// Keeps the first 4 KiB of a body, as text, with the URLs in it shown without their userinfo
/// and query (an answer that did not parse may still hold a presigned link).
pub(crate) fn truncate_body(bytes: &[u8]) -> String {
    let end = bytes.len().min(BODY_LIMIT);
    let mut text =
        crate::validate::scrub_urls(&String::from_utf8_lossy(&bytes[..end])).into_owned();
    if bytes.len() > BODY_LIMIT {
        text.push('…');
    }
    text
}

impl Error {
    /// A local validation failure.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A generated request type whose builder could not finish: it lacks a field the API
    /// requires. The provider crates build every request value through its builder (so an
    /// optional field the provider adds later doesn't break them); this happens only when a spec
    /// update made a new field required and the crate does not set it yet.
    pub fn incomplete_request<T>(result: Result<T, impl std::fmt::Display>) -> Result<T, Self> {
        result.map_err(|error| Error::InvalidInput {
            field: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .to_owned(),
            message: format!(
                "the request cannot be built ({error}): the API requires a field this version of \
                 the crate does not set; update the crate"
            ),
        })
    }

    /// A configuration failure.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// A file error.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(e) => Some(e.status),
            Error::UnexpectedResponse { status, .. } => *status,
            _ => None,
        }
    }

    /// The provider's own message, when it gave one.
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            Error::Service(e) => e.message.as_deref(),
            Error::JobFailed { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The body of an answer that did not parse.
    pub fn raw_body(&self) -> Option<&str> {
        match self {
            Error::Service(e) => e.raw_body.as_deref(),
            Error::UnexpectedResponse { body, .. } => body.as_deref(),
            _ => None,
        }
    }

    /// The wait the provider asked for before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Service(e) => e.retry_after,
            _ => None,
        }
    }

    /// Whether the same call may succeed later: rate limits, overload, gateway errors, timeouts
    /// and connection failures. (The client already retried these as its `RetryPolicy` allows.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service(e) => matches!(e.status, 408 | 425 | 429 | 500 | 502 | 503 | 504),
            Error::Transport { .. } | Error::Timeout { .. } => true,
            _ => false,
        }
    }

    /// After a failed job submission: whether the provider may have accepted (and charged for)
    /// the job anyway, so that sending it again could pay twice.
    ///
    /// `false` when it surely did not: the request was refused before it was sent (invalid
    /// input, configuration, unsupported, a local file), the connection was never established,
    /// or the provider answered with a refusal (4xx, 503) or a definite failure. `true` after a
    /// timeout, a reset connection, a 500/502/504, or an answer that could not be read.
    pub fn may_have_been_taken(&self) -> bool {
        match self {
            Error::Config { .. }
            | Error::MissingKey { .. }
            | Error::InvalidInput { .. }
            | Error::Io { .. }
            | Error::Unsupported { .. }
            | Error::JobFailed { .. } => false,
            Error::Service(e) => !matches!(e.status, 400..=499 | 503),
            Error::Transport { maybe_sent, .. } => *maybe_sent,
            Error::UnexpectedResponse { status, .. } => !matches!(status, Some(400..=499 | 503)),
            Error::Timeout { .. } => true,
        }
    }

    /// The account has no credits left for this (HTTP 402). Not retryable: top up first.
    pub fn is_insufficient_credits(&self) -> bool {
        self.status() == Some(402)
    }

    /// The key is missing, wrong or not allowed to do this (HTTP 401/403, or no key configured).
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403)) || matches!(self, Error::MissingKey { .. })
    }

    /// The job, file or key does not exist (any more): HTTP 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Too many requests (HTTP 429).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// The input was rejected locally and nothing was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }

    /// A well-formed answer that does not say what the API description promises: the one
    /// constructor of [`Error::UnexpectedResponse`]. Add the status and body with
    /// [`with_status`](Self::with_status) and [`with_body`](Self::with_body).
    pub fn unexpected(
        provider: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::UnexpectedResponse {
            provider,
            operation,
            status: None,
            message: message.into(),
            body: None,
        }
    }

    /// Sets the HTTP status of an [`Error::UnexpectedResponse`] (other errors are unchanged).
    pub fn with_status(mut self, status: impl Into<Option<u16>>) -> Self {
        if let Error::UnexpectedResponse { status: slot, .. } = &mut self {
            *slot = status.into();
        }
        self
    }

    /// Sets the body of an [`Error::UnexpectedResponse`], keeping its first 4 KiB (other errors
    /// are unchanged).
    pub fn with_body(mut self, body: &[u8]) -> Self {
        if let Error::UnexpectedResponse { body: slot, .. } = &mut self {
            *slot = Some(truncate_body(body));
        }
        self
    }

    /// The one way to add a provider's own explanation to an error answer: `advice` sees the
    /// [`ServiceError`] and returns what the status means for this provider and operation (or
    /// `None` to keep the general advice). Other errors pass through unchanged.
    ///
    /// ```
    /// # fn demo(error: cutout_runtime::Error) -> cutout_runtime::Error {
    /// error.with_advice(|service| {
    ///     (service.status == 404).then(|| "files are deleted 2 hours after upload".to_owned())
    /// })
    /// # }
    /// ```
    pub fn with_advice(mut self, advice: impl FnOnce(&ServiceError) -> Option<String>) -> Self {
        if let Error::Service(service) = &mut self
            && let Some(advice) = advice(service)
        {
            service.advice = Some(advice);
        }
        self
    }

    /// An error answer built by hand, with the general advice for `status`: for a provider
    /// crate whose API reports a failure in a body its status does not reflect (ModelsLab's
    /// `status: error` sent with HTTP 200 when the wallet is empty is, in meaning, a 402), and
    /// for tests of code that decides on errors.
    pub fn answered(
        provider: &crate::ProviderInfo,
        operation: &'static str,
        status: u16,
        message: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Error::Service(Box::new(ServiceError {
            provider: provider.name,
            key_variable: provider.key_env,
            operation,
            status,
            code: None,
            message,
            raw_body: None,
            retry_after,
            advice: general_advice(status, provider),
        }))
    }

    /// Builds the error for an answer whose status is an error.
    pub(crate) fn service(
        provider: &crate::ProviderInfo,
        operation: &'static str,
        status: u16,
        parsed: Option<&dyn ErrorBody>,
        raw_body: Option<String>,
        retry_after_header: Option<Duration>,
    ) -> Self {
        Error::Service(Box::new(ServiceError {
            provider: provider.name,
            key_variable: provider.key_env,
            operation,
            status,
            code: parsed.and_then(|b| b.code()),
            message: parsed.and_then(|b| b.message()),
            raw_body,
            retry_after: retry_after_header.or_else(|| parsed.and_then(|b| b.retry_after())),
            advice: general_advice(status, provider),
        }))
    }
}

/// What an error status means for any provider, with the provider's documented facts
/// ([`Capabilities`](crate::Capabilities)) where they help.
fn general_advice(status: u16, provider: &crate::ProviderInfo) -> Option<String> {
    let capabilities = &provider.capabilities;
    Some(match status {
        401 => format!(
            "the API key is missing or not recognised: check {}",
            provider.key_env
        ),
        403 => "the key is not allowed to do this (check the account's plan and the key's scope)"
            .to_owned(),
        402 => "the account has no credits left: top up before retrying".to_owned(),
        404 => {
            "it does not exist (any more): uploads and jobs expire; check the id or key".to_owned()
        }
        413 => match capabilities.max_upload_bytes {
            Some(limit) => format!(
                "the upload is too large for the API: send an image of at most {}",
                human_size(limit)
            ),
            None => "the upload is too large for the API: send a smaller image".to_owned(),
        },
        415 => match capabilities.formats_text() {
            Some(formats) => format!("the file type is not supported: send a {formats} image"),
            None => {
                "the file type is not supported: convert the image to another format".to_owned()
            }
        },
        // Topaz documents 425 as "too early to reserve credits": a short wait is the cure too.
        425 => "the service is not ready to take this yet: retry in a moment".to_owned(),
        429 => "too many requests: slow down or retry later".to_owned(),
        500..=599 => "the service failed or is overloaded: retry later".to_owned(),
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { message } => write!(f, "configuration: {message}"),
            Error::MissingKey {
                provider,
                variable,
                empty: false,
            } => write!(
                f,
                "configuration: no {provider} API key: set {variable} (or pass one with `.key(...)`)"
            ),
            Error::MissingKey {
                provider,
                variable,
                empty: true,
            } => write!(
                f,
                "configuration: the {provider} API key is empty: set {variable} to your key"
            ),
            Error::InvalidInput { field, message } => {
                write!(f, "invalid `{field}`: {message} (nothing was sent)")
            }
            Error::Service(e) => {
                write!(
                    f,
                    "{} {} failed with HTTP {}",
                    e.provider, e.operation, e.status
                )?;
                if let Some(message) = &e.message {
                    write!(f, ": {message}")?;
                } else if let Some(body) = &e.raw_body {
                    write!(f, ": {body}")?;
                }
                if let Some(advice) = &e.advice {
                    write!(f, " ({advice})")?;
                }
                if let Some(wait) = e.retry_after {
                    write!(f, "; the provider asks to wait {} s", wait.as_secs())?;
                }
                Ok(())
            }
            Error::Transport {
                provider,
                operation,
                maybe_sent,
                source,
            } => {
                write!(f, "{provider} {operation}: ")?;
                if source.is_connect() {
                    write!(f, "could not connect")?;
                } else if source.is_timeout() {
                    write!(f, "timed out")?;
                } else {
                    write!(f, "the connection failed")?;
                }
                if *maybe_sent && *operation != "download" {
                    write!(
                        f,
                        " after the request was sent; it may have been accepted, so it was not \
                         sent again (check the job list before resubmitting)"
                    )?;
                }
                write!(f, ": {source}")
            }
            Error::UnexpectedResponse {
                provider,
                operation,
                status,
                message,
                body,
            } => {
                write!(f, "{provider} {operation}: unexpected answer")?;
                if let Some(status) = status {
                    write!(f, " (HTTP {status})")?;
                }
                write!(f, ": {message}")?;
                if let Some(body) = body {
                    write!(f, "; body: {body}")?;
                }
                Ok(())
            }
            Error::JobFailed {
                provider,
                job_id,
                status,
                message,
            } => {
                write!(f, "{provider} job {job_id} ended as {status}")?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Error::Timeout { what, waited } => write!(
                f,
                "gave up waiting for {what} after {:.1} s (raise the time limit; a job that was \
                 started may still finish)",
                waited.as_secs_f64()
            ),
            Error::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} `{}`: {source}", path.display()),
            Error::Unsupported { provider, message } => write!(f, "{provider}: {message}"),
        }
    }
}

/// A failed HTTP exchange: a `reqwest::Error` whose URL has lost its userinfo and query string
/// (presigned links carry signatures there), so neither `Debug` nor `Display` can show a secret.
pub struct TransportError(reqwest::Error);

impl TransportError {
    /// Wraps `error`, redacting its URL.
    pub fn new(mut error: reqwest::Error) -> Self {
        if let Some(url) = error.url_mut() {
            *url = crate::validate::redact_url(url);
        }
        Self(error)
    }

    /// The connection could not be established (nothing was sent).
    pub fn is_connect(&self) -> bool {
        self.0.is_connect()
    }

    /// A time limit ran out.
    pub fn is_timeout(&self) -> bool {
        self.0.is_timeout()
    }

    /// The answer's body could not be read.
    pub fn is_body(&self) -> bool {
        self.0.is_body() || self.0.is_decode()
    }

    /// The underlying error (its URL already redacted).
    pub fn get_ref(&self) -> &reqwest::Error {
        &self.0
    }
}

impl From<reqwest::Error> for TransportError {
    fn from(error: reqwest::Error) -> Self {
        Self::new(error)
    }
}

impl fmt::Display for TransportError {
    /// The error and its causes (the URL in them is the redacted one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(inner) = source {
            write!(f, ": {inner}")?;
            source = inner.source();
        }
        Ok(())
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("url", &self.0.url().map(|url| url.as_str()))
            .field("connect", &self.0.is_connect())
            .field("timeout", &self.0.is_timeout())
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The end of a body cut off at a size limit: the typed cause inside the `reqwest::Error` that
/// reading such a body gives, found again by [`too_large_in`].
#[derive(Debug)]
pub(crate) struct TooLarge {
    /// The limit in bytes.
    pub(crate) limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the answer is larger than {}", human_size(self.limit))
    }
}

impl std::error::Error for TooLarge {}

/// The [`TooLarge`] somewhere in `error`'s causes.
pub(crate) fn too_large_in(error: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(too_large) = e.downcast_ref::<TooLarge>() {
            return Some(too_large.limit);
        }
        current = e.source();
    }
    None
}

/// `8 MiB`, `64 KiB`, `1000 bytes`.
pub(crate) fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport { source, .. } => Some(source),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Error::Service(Box::new(self.clone())), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Body(&'static str);
    impl ErrorBody for Body {
        fn message(&self) -> Option<String> {
            Some(self.0.to_owned())
        }
    }

    #[test]
    fn service_errors_say_what_to_do() {
        let e = Error::service(
            &crate::config::tests::TOPAZ,
            "post_matting",
            402,
            Some(&Body("Insufficient credits")),
            None,
            None,
        );
        assert!(e.is_insufficient_credits());
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "topaz post_matting failed with HTTP 402: Insufficient credits (the account has no \
             credits left: top up before retrying)"
        );
        let e = Error::service(
            &crate::config::tests::TOPAZ,
            "get_status",
            401,
            None,
            Some("<html>".into()),
            None,
        );
        assert!(e.is_auth());
        assert!(e.to_string().contains("check TOPAZ_API_KEY"), "{e}");
        assert_eq!(e.raw_body(), Some("<html>"));
    }

    #[test]
    fn advice_comes_from_the_providers_facts_and_can_be_replaced() {
        static SMALL_UPLOADS: crate::ProviderInfo = crate::ProviderInfo {
            capabilities: crate::Capabilities {
                max_upload_bytes: Some(25 << 20),
                ..crate::config::tests::CUTOUTS_ONLY
            },
            ..crate::config::tests::TOPAZ
        };
        let too_large = Error::service(&SMALL_UPLOADS, "upload", 413, None, None, None);
        assert!(
            too_large.to_string().ends_with(
                "(the upload is too large for the API: send an \
                 image of at most 25 MiB)"
            ),
            "{too_large}"
        );
        // Topaz documents its formats; a provider that documents none is not given Topaz's.
        let topaz = Error::service(&crate::config::tests::TOPAZ, "m", 415, None, None, None);
        assert!(
            topaz.to_string().contains("send a JPEG, PNG or TIFF image"),
            "{topaz}"
        );
        let other = Error::service(&SMALL_UPLOADS, "m", 415, None, None, None);
        assert!(!other.to_string().contains("TIFF"), "{other}");

        // A provider's own advice replaces the general one, for the statuses it chooses.
        let explain = |error: Error| {
            error.with_advice(|service| {
                (service.status == 404).then(|| "files expire after 2 hours".to_owned())
            })
        };
        let gone = explain(Error::service(
            &SMALL_UPLOADS,
            "get",
            404,
            Some(&Body("Not found.")),
            None,
            None,
        ));
        assert_eq!(
            gone.to_string(),
            "topaz get failed with HTTP 404: Not found. (files expire after 2 hours)"
        );
        assert_eq!(gone.provider_message(), Some("Not found."));
        let kept = explain(Error::service(&SMALL_UPLOADS, "get", 402, None, None, None));
        assert!(kept.to_string().contains("top up"), "{kept}");
        let local = explain(Error::invalid("image", "too small"));
        assert!(local.is_invalid_input());
    }

    #[test]
    fn an_unexpected_answer_is_built_in_one_place() {
        let error = Error::unexpected("topaz", "get_status", "no status")
            .with_status(200)
            .with_body(&[b'x'; 5000]);
        assert_eq!(error.status(), Some(200));
        assert_eq!(error.raw_body().map(|b| b.chars().count()), Some(4097));
        assert!(
            error
                .to_string()
                .starts_with("topaz get_status: unexpected answer (HTTP 200): no status; body: x"),
            "{error}"
        );
        let bare = Error::unexpected("tengr", "webhook", "not JSON");
        assert_eq!(
            bare.to_string(),
            "tengr webhook: unexpected answer: not JSON"
        );
        // Other errors pass through the setters unchanged.
        let other = Error::config("x").with_status(500).with_body(b"y");
        assert_eq!(other.status(), None);
    }

    /// A transport error of the given kind (built without a network: a URL reqwest refuses).
    fn transport(maybe_sent: bool) -> Error {
        let source = reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("a relative URL is refused");
        Error::Transport {
            provider: "topaz",
            operation: "post_matting",
            maybe_sent,
            source: TransportError::new(source),
        }
    }

    #[test]
    fn only_failures_after_the_request_left_may_have_been_taken() {
        let service = |status| {
            Error::service(
                &crate::config::tests::TOPAZ,
                "post",
                status,
                None,
                None,
                None,
            )
        };
        // Refusals: the provider answered that it did not take the job.
        for status in [400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 503] {
            assert!(!service(status).may_have_been_taken(), "HTTP {status}");
        }
        // Failures behind the door: it may have started (and charged) before failing.
        for status in [500, 502, 504] {
            assert!(service(status).may_have_been_taken(), "HTTP {status}");
        }
        assert!(transport(true).may_have_been_taken());
        assert!(!transport(false).may_have_been_taken());
        let timeout = Error::Timeout {
            what: "topaz job".into(),
            waited: Duration::from_secs(1),
        };
        assert!(timeout.may_have_been_taken());
        // An answer we could not read: only a refusal status rules the job out.
        let unreadable = || Error::unexpected("modelslab", "removebg_mask", "not JSON");
        assert!(unreadable().may_have_been_taken());
        assert!(unreadable().with_status(200).may_have_been_taken());
        assert!(unreadable().with_status(502).may_have_been_taken());
        assert!(!unreadable().with_status(400).may_have_been_taken());
        assert!(!unreadable().with_status(503).may_have_been_taken());
        // Refused before anything was sent.
        let local = [
            Error::invalid("image", "not an image"),
            Error::config("no base URL"),
            Error::MissingKey {
                provider: "topaz",
                variable: "TOPAZ_API_KEY",
                empty: true,
            },
            Error::Unsupported {
                provider: "tengr",
                message: "masks".into(),
            },
            Error::io(
                "read",
                "photo.jpg",
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ),
            Error::JobFailed {
                provider: "topaz",
                job_id: "1".into(),
                status: "Failed".into(),
                message: None,
            },
        ];
        for error in local {
            assert!(!error.may_have_been_taken(), "{error:?}");
        }
    }

    #[test]
    fn long_bodies_are_truncated() {
        let text = truncate_body(&[b'a'; 5000]);
        assert_eq!(text.chars().count(), 4097);
    }
}

//! Sending requests: retries, redirects, time limits and tracing, for every operation of every
//! provider. The generated `ClientHooks::exec` of each `Client` calls [`Context::execute`];
//! generated multipart operations call [`Context::execute_rebuilding`] so that files are re-opened
//! for each attempt instead of being held in memory.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::future::Either;
use futures_util::{FutureExt, StreamExt};
use http_body::{Frame, SizeHint};
use progenitor_client::ResponseValue;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, Request, Response, ResponseBuilderExt, StatusCode};
use tracing::Instrument;

use crate::error::{ErrorBody, TooLarge, human_size, too_large_in, truncate_body};
use crate::retry::{
    error_is_retryable, parse_retry_after, retry_after_in_body, status_is_retryable,
};
use crate::{Context, Error};

const MAX_REDIRECTS: usize = 5;
/// Request bodies larger than this get the upload time limit rather than the request one.
const INLINE_UPLOAD: usize = 1024 * 1024;

tokio::task_local! {
    /// The status of the last answer seen inside a [`Context::call`], so that an answer whose body
    /// does not parse still reports its status.
    static LAST_STATUS: Cell<Option<u16>>;
}

/// Whom a request is for, which decides whether it may carry the key.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// An API operation of the API at this base URL: the key goes on it, and on the redirects
    /// that stay under the base URL.
    Api(&'a str),
    /// A download (a result, a presigned or public link, an input URL): never any credentials,
    /// whatever the host.
    Anonymous,
}

impl Scope<'_> {
    fn covers(self, context: &Context, url: &reqwest::Url) -> bool {
        match self {
            Scope::Api(base_url) => context.is_api_url(base_url, url),
            Scope::Anonymous => false,
        }
    }
}

/// What a request is sent for, the same for each of its attempts.
#[derive(Clone, Copy)]
pub(crate) struct Sending<'a> {
    /// Who the request is for.
    pub(crate) scope: Scope<'a>,
    /// The time limit put on every attempt and redirect that has none.
    pub(crate) limit: Option<Duration>,
    /// The operation, for retries and traces.
    pub(crate) operation: &'static str,
}

impl Sending<'_> {
    fn limit_time(&self, request: &mut Request) {
        if let Some(limit) = self.limit
            && request.timeout().is_none()
        {
            *request.timeout_mut() = Some(limit);
        }
    }
}

/// What to do after an attempt.
enum Next {
    Return(reqwest::Result<Response>),
    RetryAfter(Duration),
}

impl Context {
    /// Sends `request` with this client's retry policy, time limits and redirect rules. Used by
    /// the generated `ClientHooks::exec`; `operation` is the generated operation id. The answer's
    /// body is capped by [`Limits`](crate::Limits): a success answer past `json_answer` ends
    /// with an error, an error body is cut at `error_body`.
    ///
    /// (Written as a function returning a future rather than an `async fn`, here and in
    /// [`call`](Self::call): each `async` layer would hold its own copy of the request and of the
    /// future it awaits, and every call's future is moved several times.)
    pub fn execute<'a>(
        &'a self,
        base_url: &'a str,
        request: Request,
        operation: &'static str,
    ) -> impl Future<Output = reqwest::Result<Response>> + Send + 'a {
        // A JSON body this large carries an image inline (ModelsLab's data URIs): give it the
        // time of an upload, not of a small call. A time limit the caller set stays.
        let inline_upload = request
            .body()
            .and_then(|body| body.as_bytes())
            .is_some_and(|bytes| bytes.len() > INLINE_UPLOAD);
        let limit = request.timeout().is_none().then_some(if inline_upload {
            self.timeouts.upload
        } else {
            self.timeouts.request
        });
        let send = Sending {
            scope: Scope::Api(base_url),
            limit,
            operation,
        };
        // Boxed: the state of retries and redirects stays in one place on the heap instead of
        // being copied into every future that wraps this one (the generated operation's, then
        // `call`'s, then the caller's).
        Box::pin(self.send(send, request))
            .map(move |result| result.map(|response| self.cap_answer(response)))
    }

    /// Sends `request` with retries and redirects, carrying credentials only where the scope
    /// allows. The body is returned uncapped: callers put their own limit on it.
    pub(crate) async fn send(
        &self,
        send: Sending<'_>,
        mut request: Request,
    ) -> reqwest::Result<Response> {
        let mut attempt = 1;
        loop {
            // The one copy made per attempt: kept for a retry, and the template of a redirect.
            // (Made before the time limit is set, which would make it dearer to copy.)
            let spare = if attempt < self.retry.max_attempts {
                request.try_clone()
            } else {
                None
            };
            let result = self.attempt(send, request, spare.as_ref(), attempt).await;
            // A streamed body cannot be copied: such requests go through `execute_rebuilding`.
            let Some(spare) = spare else {
                return result;
            };
            if self.is_final(&result, send.operation) {
                return result;
            }
            // Retrying is rare: its futures are boxed rather than kept in every call's future.
            match Box::pin(self.next(result, send.operation, attempt)).await {
                Next::Return(result) => return result,
                Next::RetryAfter(wait) => {
                    Box::pin(tokio::time::sleep(wait)).await;
                    request = spare;
                    attempt += 1;
                }
            }
        }
    }

    /// Like [`execute`](Self::execute) for requests whose body is streamed (file uploads):
    /// `build` makes a fresh request, re-opening its files, for every attempt.
    pub async fn execute_rebuilding<F, Fut, E>(
        &self,
        base_url: &str,
        operation: &'static str,
        mut build: F,
    ) -> Result<reqwest::Result<Response>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Request, E>>,
    {
        let mut attempt = 1;
        loop {
            let mut request = build().await?;
            if request.timeout().is_none() {
                *request.timeout_mut() = Some(self.timeouts.upload);
            }
            let send = Sending {
                scope: Scope::Api(base_url),
                limit: None,
                operation,
            };
            let result = self.attempt(send, request, None, attempt).await;
            if attempt >= self.retry.max_attempts {
                return Ok(result.map(|response| self.cap_answer(response)));
            }
            match self.next(result, operation, attempt).await {
                Next::Return(result) => return Ok(result.map(|response| self.cap_answer(response))),
                Next::RetryAfter(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt, following redirects, in a tracing span. `copy` is a copy of `request`, when
    /// the caller has one.
    fn attempt<'a>(
        &'a self,
        send: Sending<'a>,
        request: Request,
        copy: Option<&'a Request>,
        attempt: u32,
    ) -> impl Future<Output = reqwest::Result<Response>> + Send + 'a {
        let span = tracing::debug_span!(
            "cutout.attempt",
            provider = self.provider.name,
            operation = send.operation,
            attempt,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        // Timed only for a subscriber that listens.
        let started = (!span.is_disabled()).then(Instant::now);
        let attempt = self.follow_redirects(send, request, copy);
        // A span nobody listens to is not entered at every poll.
        let attempt = if span.is_disabled() {
            Either::Left(attempt)
        } else {
            Either::Right(attempt.instrument(span.clone()))
        };
        attempt.map(move |result| {
                if let Some(started) = started {
                    span.record("duration_ms", started.elapsed().as_millis() as u64);
                }
                match &result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        span.record("status", status);
                        let _ = LAST_STATUS.try_with(|last| last.set(Some(status)));
                    }
                    Err(error) => {
                        tracing::debug!(parent: &span, connect = error.is_connect(), timeout = error.is_timeout(), "request failed");
                    }
                }
                result
            })
    }

    /// Sends the request and follows redirects itself: the key is taken off when a redirect leaves
    /// the API (its origin or its base path; reqwest would keep a custom header such as
    /// `X-API-Key`), and put back only when a redirect comes back under the base URL.
    ///
    /// A redirect is made from a copy of the request: `copy` (the caller's) for the first hop, so
    /// that a request that is not redirected is copied no more than for its retry.
    async fn follow_redirects(
        &self,
        send: Sending<'_>,
        mut request: Request,
        copy: Option<&Request>,
    ) -> reqwest::Result<Response> {
        let scope = send.scope;
        let mut copy = copy;
        let mut own_copy = if copy.is_none() {
            request.try_clone()
        } else {
            None
        };
        for _ in 0..MAX_REDIRECTS {
            send.limit_time(&mut request);
            let response = self.http.execute(request).await?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            let spare = match copy.take() {
                Some(copy) => copy.try_clone(),
                None => own_copy.take(),
            };
            let (Some(mut next), Some(target)) = (spare, redirect_target(&response)) else {
                return Ok(response);
            };
            if status == StatusCode::SEE_OTHER
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && next.method() != Method::GET
                    && next.method() != Method::HEAD)
            {
                *next.method_mut() = Method::GET;
                *next.body_mut() = None;
                next.headers_mut().remove(CONTENT_TYPE);
                next.headers_mut().remove(CONTENT_LENGTH);
            }
            let was_api = scope.covers(self, next.url());
            *next.url_mut() = target;
            match scope {
                Scope::Api(base_url) if scope.covers(self, next.url()) => {
                    // Back under the base URL: the key goes on again (it is already there when
                    // the redirect stayed inside).
                    if !was_api && self.authorize(base_url, &mut next).is_err() {
                        return Ok(response);
                    }
                }
                _ => self.strip_credentials(&mut next),
            }
            own_copy = next.try_clone();
            request = next;
        }
        send.limit_time(&mut request);
        let response = self.http.execute(request).await?;
        Ok(response)
    }

    /// Whether `result` is returned as it is, without another attempt: an answer or an error
    /// that is not retried, or any answer to a submission when submissions are not retried.
    fn is_final(&self, result: &reqwest::Result<Response>, operation: &'static str) -> bool {
        let submission = self.provider.submissions.contains(&operation);
        if submission && !self.retry.retry_submissions {
            return true;
        }
        match result {
            Ok(response) => !status_is_retryable(response.status().as_u16(), submission),
            Err(error) => !error_is_retryable(error, submission),
        }
    }

    /// Decides whether to try again, and after how long.
    async fn next(
        &self,
        result: reqwest::Result<Response>,
        operation: &'static str,
        attempt: u32,
    ) -> Next {
        if self.is_final(&result, operation) {
            return Next::Return(result);
        }
        let backoff = self.retry.backoff(attempt - 1);
        match result {
            Err(_) => {
                tracing::warn!(
                    provider = self.provider.name,
                    operation,
                    attempt,
                    wait_ms = backoff.as_millis() as u64,
                    "connection failed, retrying"
                );
                Next::RetryAfter(backoff)
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let header_wait = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let (response, body_wait) = if header_wait.is_none() && status == 429 {
                    read_retry_after_from_body(response, self.limits.error_body).await
                } else {
                    (Ok(response), None)
                };
                let response = match response {
                    Ok(response) => response,
                    // The body could not be read: the answer is gone, so try again.
                    Err(_) => return Next::RetryAfter(backoff),
                };
                let wait = match header_wait.or(body_wait) {
                    Some(asked) if asked > self.retry.max_retry_after => {
                        return Next::Return(Ok(response));
                    }
                    Some(asked) => asked,
                    None => backoff,
                };
                tracing::warn!(
                    provider = self.provider.name,
                    operation,
                    attempt,
                    status,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                Next::RetryAfter(wait)
            }
        }
    }

    /// Runs a generated operation and turns its error into [`Error`], in a tracing span named
    /// after the operation. The hand-written layer sends every call through here.
    pub fn call<T, E, F>(
        &self,
        operation: &'static str,
        send: F,
    ) -> impl Future<Output = Result<ResponseValue<T>, Error>>
    where
        F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
        E: ErrorBody + serde::de::DeserializeOwned,
    {
        let span = tracing::info_span!("cutout.call", provider = self.provider.name, operation);
        let scoped = LAST_STATUS.scope(
            Cell::new(None),
            send.map(|result| (result, LAST_STATUS.with(Cell::get))),
        );
        // A span nobody listens to is not entered at every poll.
        let traced = if span.is_disabled() {
            Either::Left(scoped)
        } else {
            Either::Right(scoped.instrument(span))
        };
        traced.then(move |(result, status)| match result {
            Ok(value) => Either::Left(std::future::ready(Ok(value))),
            // Boxed: only failed calls pay for the conversion's future.
            Err(error) => Either::Right(Box::pin(self.convert(operation, error, status)).map(Err)),
        })
    }

    /// The [`Error`] for a failed generated operation.
    pub async fn convert<E: ErrorBody + serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        error: progenitor_client::Error<E>,
        status: Option<u16>,
    ) -> Error {
        use progenitor_client::Error as P;
        let provider = self.provider;
        match error {
            P::InvalidRequest(message) => Error::invalid("request", message),
            P::Custom(message) => Error::config(message),
            P::CommunicationError(source) | P::InvalidUpgrade(source) => {
                // A file part that changed size broke the body off before its announced end:
                // the server cannot have taken the request, and the file is what to fix.
                if let Some((changed, kind)) = crate::multipart::file_changed_in(&source) {
                    return Error::io(
                        "send",
                        changed.path.clone(),
                        std::io::Error::new(kind, changed.message()),
                    );
                }
                Error::Transport {
                    provider: provider.name,
                    operation,
                    maybe_sent: !source.is_connect(),
                    source: source.into(),
                }
            }
            P::ResponseBodyError(source) => match too_large_in(&source) {
                Some(limit) => Error::unexpected(
                    provider.name,
                    operation,
                    format!(
                        "the answer is larger than {}, the limit for an API answer: stopped \
                         reading it (raise `Limits::json_answer` if such answers are expected)",
                        human_size(limit)
                    ),
                )
                .with_status(status),
                None => Error::Transport {
                    provider: provider.name,
                    operation,
                    maybe_sent: true,
                    source: source.into(),
                },
            },
            P::ErrorResponse(value) => {
                let header_wait = value
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let status = value.status().as_u16();
                Error::service(
                    provider,
                    operation,
                    status,
                    Some(&*value),
                    None,
                    header_wait,
                )
            }
            P::InvalidResponsePayload(bytes, parse_error) => match status {
                Some(status) if status >= 400 => Error::service(
                    provider,
                    operation,
                    status,
                    None,
                    Some(truncate_body(&bytes)),
                    None,
                ),
                status => Error::unexpected(
                    provider.name,
                    operation,
                    format!("the body does not match the API description: {parse_error}"),
                )
                .with_status(status)
                .with_body(&bytes),
            },
            P::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let header_wait = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let body = response.bytes().await.unwrap_or_default();
                if status >= 400 {
                    // A status the description does not list: the provider's own error body
                    // first (it knows the provider's spellings), then a generic shape.
                    let parsed: Option<Box<dyn ErrorBody>> = serde_json::from_slice::<E>(&body)
                        .ok()
                        .filter(|own| own.message().is_some())
                        .map(|own| Box::new(own) as Box<dyn ErrorBody>)
                        .or_else(|| {
                            GenericErrorBody::parse(&body)
                                .map(|g| Box::new(g) as Box<dyn ErrorBody>)
                        });
                    Error::service(
                        provider,
                        operation,
                        status,
                        parsed.as_deref(),
                        parsed.is_none().then(|| truncate_body(&body)),
                        header_wait,
                    )
                } else {
                    let error = Error::unexpected(
                        provider.name,
                        operation,
                        "the API description does not list this status",
                    )
                    .with_status(status);
                    if body.is_empty() {
                        error
                    } else {
                        error.with_body(&body)
                    }
                }
            }
        }
    }
}

/// A JSON error body of unknown shape with a `message` (or `detail`, `error`) string, for an
/// answer that the provider's own error body does not describe.
struct GenericErrorBody {
    message: String,
    retry_after: Option<Duration>,
}

impl GenericErrorBody {
    fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let message = ["message", "detail", "error"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|v| v.as_str()))?;
        Some(Self {
            message: message.to_owned(),
            retry_after: retry_after_in_body(body),
        })
    }
}

impl ErrorBody for GenericErrorBody {
    fn message(&self) -> Option<String> {
        Some(self.message.clone())
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

fn redirect_target(response: &Response) -> Option<reqwest::Url> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    response.url().join(location).ok()
}

/// Reads an error body (at most `limit` bytes of it) for a `retry_after` field and gives back an
/// equivalent response.
async fn read_retry_after_from_body(
    response: Response,
    limit: u64,
) -> (reqwest::Result<Response>, Option<Duration>) {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return (Ok(response), None);
    }
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = match read_at_most(response, limit).await {
        Ok(body) => body,
        Err(error) => return (Err(error), None),
    };
    let wait = retry_after_in_body(&body);
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    if rebuilt.body().len() as u64 >= limit {
        rebuilt.headers_mut().remove(CONTENT_LENGTH);
    }
    (Ok(Response::from(rebuilt)), wait)
}

/// The first `limit` bytes of a body (all of it when shorter); the rest is never read.
pub(crate) async fn read_at_most(response: Response, limit: u64) -> reqwest::Result<Bytes> {
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit.saturating_sub(body.len() as u64);
        if chunk.len() as u64 >= room {
            body.extend_from_slice(&chunk[..room as usize]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl Context {
    /// Puts a size limit on an API answer's body, so that the generated code, which reads whole
    /// bodies, never holds more than the limit: a success answer past [`Limits::json_answer`]
    /// ends with a [`TooLarge`] error (turned into a clear [`Error`] by
    /// [`convert`](Self::convert)); an error body is cut at [`Limits::error_body`], which still
    /// leaves its status and the start of its text to report.
    ///
    /// [`Limits::json_answer`]: crate::Limits::json_answer
    /// [`Limits::error_body`]: crate::Limits::error_body
    fn cap_answer(&self, response: Response) -> Response {
        let status = response.status();
        let (limit, overflow) = if status.is_client_error() || status.is_server_error() {
            (self.limits.error_body, Overflow::Cut)
        } else {
            (self.limits.json_answer, Overflow::Fail)
        };
        // A body of announced length is read to that length and no further (the HTTP layer
        // stops there; a body being decompressed has no exact length), so most answers, small
        // and with a `Content-Length`, need no wrapper.
        if response
            .content_length()
            .is_some_and(|length| length <= limit)
        {
            return response;
        }
        cap_body(response, limit, overflow)
    }
}

/// What a capped body does at its limit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Ends there, as if the body were complete.
    Cut,
    /// Ends with a [`TooLarge`] error.
    Fail,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `response` with a body that yields at most `limit` bytes.
///
/// The body is wrapped, not re-streamed: the response keeps its URL and extensions, and the
/// wrapper passes on when the body is complete, so reading a whole small answer takes no more
/// polls than reading it unwrapped.
pub(crate) fn cap_body(response: Response, limit: u64, overflow: Overflow) -> Response {
    let announced_too_large = response.content_length().is_some_and(|n| n > limit);
    // `http::Response` from a `reqwest::Response` drops the URL: it goes back in as the
    // extension `reqwest::Response::from` reads it from.
    let url = http::Response::builder()
        .url(response.url().clone())
        .body(())
        .map(|carrier| carrier.into_parts().0.extensions);
    let (mut parts, body) = http::Response::from(response).into_parts();
    if let Ok(url) = url {
        parts.extensions.extend(url);
    }
    if overflow == Overflow::Cut && announced_too_large {
        parts.headers.remove(CONTENT_LENGTH);
    }
    let capped = Capped {
        inner: body,
        limit,
        seen: 0,
        overflow,
        // Said so up front: nothing is read.
        fail_now: overflow == Overflow::Fail && announced_too_large,
        finished: false,
    };
    Response::from(http::Response::from_parts(
        parts,
        reqwest::Body::wrap(capped),
    ))
}

/// A body cut at `limit` bytes, or failing there (see [`Overflow`]).
struct Capped {
    inner: reqwest::Body,
    limit: u64,
    seen: u64,
    overflow: Overflow,
    fail_now: bool,
    finished: bool,
}

impl http_body::Body for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if this.fail_now {
            this.finished = true;
            return Poll::Ready(Some(Err(Box::new(TooLarge { limit: this.limit }))));
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => {
                this.finished = true;
                return Poll::Ready(None);
            }
            Some(Err(error)) => {
                this.finished = true;
                return Poll::Ready(Some(Err(Box::new(error))));
            }
            Some(Ok(frame)) => frame,
        };
        let mut chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            // Trailers pass as they are.
            Err(frame) => return Poll::Ready(Some(Ok(frame))),
        };
        let room = this.limit - this.seen;
        if chunk.len() as u64 > room {
            this.finished = true;
            match this.overflow {
                Overflow::Cut => chunk.truncate(room as usize),
                Overflow::Fail => {
                    return Poll::Ready(Some(Err(Box::new(TooLarge { limit: this.limit }))));
                }
            }
        }
        this.seen += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished || (!self.fail_now && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.fail_now {
            // Ends with an error: no length to promise.
            return SizeHint::new();
        }
        if self.finished {
            return SizeHint::with_exact(0);
        }
        let room = self.limit - self.seen;
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().min(room));
        hint.set_upper(inner.upper().map_or(room, |upper| upper.min(room)));
        hint
    }
}

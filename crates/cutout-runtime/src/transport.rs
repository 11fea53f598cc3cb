//! Sending requests: retries, redirects, time limits and tracing, for every operation of every
//! provider. The generated `ClientHooks::exec` of each `Client` calls [`Context::execute`];
//! generated multipart operations call [`Context::execute_rebuilding`] so that files are re-opened
//! for each attempt instead of being held in memory.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
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

thread_local! {
    /// The status of the last answer an attempt got (or whose body failed to decode), for
    /// [`Context::call`]: progenitor's errors for an answer whose body cannot be read or decoded
    /// carry no status. `Call` clears it before each poll of its operation and takes it after,
    /// keeping the latest between polls; an answer arrives within the poll that records it,
    /// on the same thread, so no other task can come between.
    pub(crate) static ANSWER_STATUS: Cell<Option<u16>> = const { Cell::new(None) };
}

/// Records the status of an answer (see [`ANSWER_STATUS`]).
pub(crate) fn record_answer_status(status: u16) {
    ANSWER_STATUS.with(|slot| slot.set(Some(status)));
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
    /// Puts the time limit on a request that has none. A limit that the HTTP client already
    /// applies to every request (see [`Context::http`]) is not set again: a request's own limit
    /// costs reqwest a map of extensions, allocated on every call.
    fn limit_time(&self, context: &Context, request: &mut Request) {
        if let Some(limit) = self.limit
            && request.timeout().is_none()
            && context.client_timeout != Some(limit)
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
        self.send(send, request)
            .map(move |result| result.map(|response| self.cap_answer(response)))
    }

    /// Sends `request` with retries and redirects, carrying credentials only where the scope
    /// allows. The body is returned uncapped: callers put their own limit on it.
    ///
    /// The first attempt, when it is not redirected and needs no retry (nearly every call), runs
    /// in one small hand-written future ([`Sent`]); redirects and retries go on in a boxed
    /// `async fn`, so that their state is not part of every call's future.
    pub(crate) fn send<'a>(
        &'a self,
        send: Sending<'a>,
        request: Request,
    ) -> impl Future<Output = reqwest::Result<Response>> + Send + 'a {
        Sent {
            context: self,
            send,
            start: reqwest::Client::execute,
            state: SentState::Start(request),
            spare: None,
            trace: AttemptTrace::new(self, send.operation, 1),
        }
    }

    /// What follows a first attempt that was redirected: the redirects (in that attempt's
    /// span), then the retries if its answer is not final.
    async fn after_redirect(
        &self,
        send: Sending<'_>,
        response: Response,
        spare: Request,
        trace: AttemptTrace,
    ) -> reqwest::Result<Response> {
        let result = trace.run(self.redirect(send, response, &spare)).await;
        trace.finish(&result);
        if self.tries_again(&result, send.operation, 1) {
            return self.retry(send, result, spare).await;
        }
        result
    }

    /// The attempts after the first, whose `result` is not final; `spare` is a copy of the
    /// request.
    async fn retry(
        &self,
        send: Sending<'_>,
        mut result: reqwest::Result<Response>,
        mut spare: Request,
    ) -> reqwest::Result<Response> {
        let mut attempt = 1;
        loop {
            let wait = match self.next(result, send.operation, attempt).await {
                Next::Return(result) => return result,
                Next::RetryAfter(wait) => wait,
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
            let request = spare;
            let copy = copy_of(&request);
            result = self.attempt(send, request, copy.as_ref(), attempt).await;
            match copy {
                Some(copy) if self.tries_again(&result, send.operation, attempt) => spare = copy,
                _ => return result,
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
            let copy = copy_of(&request);
            let result = self.attempt(send, request, copy.as_ref(), attempt).await;
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
    /// it can be copied (a redirect is made from it; without one, a redirect is returned as it
    /// is).
    async fn attempt(
        &self,
        send: Sending<'_>,
        mut request: Request,
        copy: Option<&Request>,
        attempt: u32,
    ) -> reqwest::Result<Response> {
        let trace = AttemptTrace::new(self, send.operation, attempt);
        send.limit_time(self, &mut request);
        let result = trace
            .run(async {
                let response = self.http.execute(request).await?;
                match copy {
                    Some(copy) if is_followed(response.status()) => {
                        Box::pin(self.redirect(send, response, copy)).await
                    }
                    _ => Ok(response),
                }
            })
            .await;
        trace.finish(&result);
        result
    }

    /// Follows `response`, a redirect of the request `copy` is a copy of, and the redirects
    /// after it: at most [`MAX_REDIRECTS`] in all; the answer after the last one is returned as
    /// it is.
    async fn redirect(
        &self,
        send: Sending<'_>,
        mut response: Response,
        copy: &Request,
    ) -> reqwest::Result<Response> {
        let scope = send.scope;
        let mut template = copy_of(copy);
        for _ in 0..MAX_REDIRECTS {
            let status = response.status();
            let (Some(mut next), Some(target)) = (template.take(), redirect_target(&response))
            else {
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
            template = copy_of(&next);
            send.limit_time(self, &mut next);
            response = self.http.execute(next).await?;
            if !is_followed(response.status()) {
                return Ok(response);
            }
        }
        Ok(response)
    }

    /// Whether attempt number `attempt`, which gave `result`, is followed by another one.
    fn tries_again(
        &self,
        result: &reqwest::Result<Response>,
        operation: &'static str,
        attempt: u32,
    ) -> bool {
        attempt < self.retry.max_attempts && !self.is_final(result, operation)
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
    pub fn call<'a, T, E, F>(
        &'a self,
        operation: &'static str,
        send: F,
    ) -> impl Future<Output = Result<ResponseValue<T>, Error>> + use<'a, T, E, F>
    where
        F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
        E: ErrorBody + serde::de::DeserializeOwned + Send + 'a,
    {
        let span = tracing::info_span!("cutout.call", provider = self.provider.name, operation);
        Call {
            context: self,
            operation,
            send,
            status: None,
            converting: None,
            // A span nobody listens to is not entered at every poll.
            span: (!span.is_disabled()).then_some(span),
            answer: PhantomData,
        }
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

/// The future of [`Context::send`]: the first attempt, then, only when it was redirected or is
/// to be retried, what follows it (boxed). The request goes out at the first poll, as it would
/// from an `async fn`.
struct Sent<'a, F, P> {
    context: &'a Context,
    send: Sending<'a>,
    /// `reqwest::Client::execute` (a zero-sized function item: it names reqwest's future type).
    start: F,
    state: SentState<'a, P>,
    /// A copy of the request made when it is sent: kept for a retry, and the template of a
    /// redirect (none for a streamed body, which cannot be copied). Taken only by them, and
    /// dropped where it lies otherwise: moving it would copy the whole request.
    spare: Option<Request>,
    trace: AttemptTrace,
}

// The request waits in `Start` until the first poll; then reqwest's future takes its place:
// boxing the request to even the variants out would cost an allocation per call.
#[allow(clippy::large_enum_variant)]
enum SentState<'a, P> {
    Start(Request),
    /// reqwest's future.
    First(P),
    Then(Pin<Box<dyn Future<Output = reqwest::Result<Response>> + Send + 'a>>),
    Done,
}

impl<'a, F, P> Future for Sent<'a, F, P>
where
    F: Fn(&reqwest::Client, Request) -> P + Unpin,
    P: Future<Output = reqwest::Result<Response>> + Unpin,
{
    type Output = reqwest::Result<Response>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (context, send) = (this.context, this.send);
        if matches!(this.state, SentState::Start(_))
            && let SentState::Start(mut request) =
                std::mem::replace(&mut this.state, SentState::Done)
        {
            // The one copy made per attempt. (Made before the time limit is set, which would
            // make it dearer to copy.)
            this.spare = copy_of(&request);
            send.limit_time(context, &mut request);
            this.state = SentState::First((this.start)(&context.http, request));
        }
        let first = match &mut this.state {
            SentState::First(first) => first,
            SentState::Then(then) => {
                let polled = then.as_mut().poll(cx);
                if polled.is_ready() {
                    this.state = SentState::Done;
                }
                return polled;
            }
            SentState::Start(_) | SentState::Done => {
                panic!("the future of a request was polled after it completed")
            }
        };
        let result = {
            let _entered = this.trace.enter();
            ready!(Pin::new(first).poll(cx))
        };
        let redirected = this.spare.is_some()
            && matches!(&result, Ok(response) if is_followed(response.status()));
        let mut then: Pin<Box<dyn Future<Output = _> + Send + 'a>> = if redirected {
            let (Ok(response), Some(spare)) = (result, this.spare.take()) else {
                unreachable!("a redirect has an answer and a spare request");
            };
            follow_redirect(context, send, response, spare, this.trace.clone())
        } else {
            this.trace.finish(&result);
            if this.spare.is_some() && context.tries_again(&result, send.operation, 1) {
                let spare = this.spare.take().expect("checked above");
                try_again(context, send, result, spare)
            } else {
                this.spare = None;
                this.state = SentState::Done;
                return Poll::Ready(result);
            }
        };
        let polled = then.as_mut().poll(cx);
        this.state = match polled {
            Poll::Pending => SentState::Then(then),
            Poll::Ready(_) => SentState::Done,
        };
        polled
    }
}

/// The rest of a first attempt that was redirected, boxed. (Out of line, as is
/// [`try_again`]: few calls take these ways, and code that every call runs stays smaller.)
#[cold]
#[inline(never)]
fn follow_redirect<'a>(
    context: &'a Context,
    send: Sending<'a>,
    response: Response,
    spare: Request,
    trace: AttemptTrace,
) -> Pin<Box<dyn Future<Output = reqwest::Result<Response>> + Send + 'a>> {
    Box::pin(context.after_redirect(send, response, spare, trace))
}

/// The attempts after a first one that is to be retried, boxed.
#[cold]
#[inline(never)]
fn try_again<'a>(
    context: &'a Context,
    send: Sending<'a>,
    result: reqwest::Result<Response>,
    spare: Request,
) -> Pin<Box<dyn Future<Output = reqwest::Result<Response>> + Send + 'a>> {
    Box::pin(context.retry(send, result, spare))
}

/// The tracing of one attempt: its span, entered only when a subscriber listens, and its time.
#[derive(Clone)]
struct AttemptTrace {
    span: tracing::Span,
    /// Timed only for a subscriber that listens.
    started: Option<Instant>,
}

impl AttemptTrace {
    fn new(context: &Context, operation: &'static str, attempt: u32) -> Self {
        let span = tracing::debug_span!(
            "cutout.attempt",
            provider = context.provider.name,
            operation,
            attempt,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = (!span.is_disabled()).then(Instant::now);
        Self { span, started }
    }

    /// Enters the span for one poll, when a subscriber listens.
    fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.started.map(|_| self.span.enter())
    }

    /// Runs `attempt` in the span (a span nobody listens to is not entered at every poll).
    fn run<F: Future>(&self, attempt: F) -> impl Future<Output = F::Output> {
        match self.started {
            Some(_) => Either::Left(attempt.instrument(self.span.clone())),
            None => Either::Right(attempt),
        }
    }

    /// Records the attempt's outcome: its status for [`Context::call`], and in the span.
    fn finish(&self, result: &reqwest::Result<Response>) {
        if let Ok(response) = result {
            record_answer_status(response.status().as_u16());
        }
        let Some(started) = self.started else { return };
        let span = &self.span;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match result {
            Ok(response) => {
                span.record("status", response.status().as_u16());
            }
            Err(error) => {
                tracing::debug!(parent: span, connect = error.is_connect(), timeout = error.is_timeout(), "request failed");
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Context::call`]: the operation's future, then, only when it failed, the
    /// conversion of its error. (One hand-written layer: combinators or an `async` block would
    /// each hold or move another copy of the operation's large future and of its answer.)
    struct Call<'a, F, T, E> {
        context: &'a Context,
        operation: &'static str,
        #[pin]
        send: F,
        // The status of the last answer seen (see `ANSWER_STATUS`).
        status: Option<u16>,
        converting: Option<Pin<Box<dyn Future<Output = Error> + Send + 'a>>>,
        span: Option<tracing::Span>,
        answer: PhantomData<fn() -> (T, E)>,
    }
}

impl<'a, F, T, E> Future for Call<'a, F, T, E>
where
    F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
    E: ErrorBody + serde::de::DeserializeOwned + Send + 'a,
{
    type Output = Result<ResponseValue<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        if let Some(converting) = this.converting {
            return converting.as_mut().poll(cx).map(Err);
        }
        ANSWER_STATUS.with(|slot| slot.set(None));
        let polled = this.send.poll(cx);
        if let Some(status) = ANSWER_STATUS.with(Cell::take) {
            *this.status = Some(status);
        }
        match ready!(polled) {
            Ok(value) => Poll::Ready(Ok(value)),
            Err(error) => {
                let status = *this.status;
                // Boxed: only failed calls pay for the conversion's future.
                let mut converting = converting(this.context, this.operation, error, status);
                let polled = converting.as_mut().poll(cx);
                *this.converting = Some(converting);
                polled.map(Err)
            }
        }
    }
}

/// The conversion of a failed operation's error, boxed and out of line: only failed calls
/// pay for its future and its code.
#[cold]
#[inline(never)]
fn converting<'a, E: ErrorBody + serde::de::DeserializeOwned + Send + 'a>(
    context: &'a Context,
    operation: &'static str,
    error: progenitor_client::Error<E>,
    status: Option<u16>,
) -> Pin<Box<dyn Future<Output = Error> + Send + 'a>> {
    Box::pin(context.convert(operation, error, status))
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

/// A copy of `request`, or `None` when its body is a stream, which cannot be copied.
///
/// reqwest's `Request::try_clone` allocates a map of extensions for the copy's time limit even
/// when there is none; a request without a body, such as every poll of a job, is copied here
/// field by field instead. (A time limit is the only extension reqwest reads from a request it
/// sends, so it is the only one copied.)
fn copy_of(request: &Request) -> Option<Request> {
    if request.body().is_some() {
        return request.try_clone();
    }
    let mut copy = Request::new(request.method().clone(), request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    if let Some(limit) = request.timeout() {
        *copy.timeout_mut() = Some(*limit);
    }
    Some(copy)
}

/// A redirect this client follows (any 3xx but 304, which is not one).
fn is_followed(status: StatusCode) -> bool {
    status.is_redirection() && status != StatusCode::NOT_MODIFIED
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_the_same_request() {
        let mut request = Request::new(
            Method::GET,
            "https://api.example/v1/status/x".parse().unwrap(),
        );
        request
            .headers_mut()
            .insert("x-api-key", "secret".parse().unwrap());
        *request.version_mut() = reqwest::Version::HTTP_11;
        let copy = copy_of(&request).unwrap();
        assert_eq!(copy.method(), Method::GET);
        assert_eq!(copy.url(), request.url());
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.version(), reqwest::Version::HTTP_11);
        assert_eq!(copy.timeout(), None);

        // A time limit goes with the copy, and a body that is bytes.
        *request.timeout_mut() = Some(Duration::from_secs(7));
        *request.method_mut() = Method::POST;
        *request.body_mut() = Some(reqwest::Body::from("{}"));
        let copy = copy_of(&request).unwrap();
        assert_eq!(copy.timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(copy.method(), Method::POST);
        assert_eq!(copy.body().and_then(|b| b.as_bytes()), Some(&b"{}"[..]));
        *request.body_mut() = None;
        assert_eq!(
            copy_of(&request).unwrap().timeout(),
            Some(&Duration::from_secs(7))
        );

        // A streamed body cannot be copied.
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("x"))]);
        *request.body_mut() = Some(reqwest::Body::wrap_stream(stream));
        assert!(copy_of(&request).is_none());
    }
}

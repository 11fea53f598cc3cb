//! Sending requests: retries, redirects, time limits and tracing, for every operation of every
//! provider. The generated `ClientHooks::exec` of each `Client` calls [`Context::execute`];
//! generated multipart operations call [`Context::execute_rebuilding`] so that files are re-opened
//! for each attempt instead of being held in memory.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use progenitor_client::ResponseValue;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, Request, Response, StatusCode};
use tracing::Instrument;

use crate::auth::same_origin;
use crate::error::{ErrorBody, truncate_body};
use crate::retry::{
    error_is_retryable, parse_retry_after, retry_after_in_body, status_is_retryable,
};
use crate::{Context, Error};

const MAX_REDIRECTS: usize = 5;
/// Request bodies larger than this get the upload time limit rather than the request one.
const INLINE_UPLOAD: usize = 1024 * 1024;
/// Error bodies larger than this are not read to look for `retry_after`.
const SMALL_BODY: u64 = 64 * 1024;

tokio::task_local! {
    /// The status of the last answer seen inside a [`Context::call`], so that an answer whose body
    /// does not parse still reports its status.
    static LAST_STATUS: Cell<Option<u16>>;
}

/// What to do after an attempt.
enum Next {
    Return(reqwest::Result<Response>),
    RetryAfter(Duration),
}

impl Context {
    /// Sends `request` with this client's retry policy, time limits and redirect rules. Used by
    /// the generated `ClientHooks::exec`; `operation` is the generated operation id.
    pub async fn execute(
        &self,
        base_url: &str,
        mut request: Request,
        operation: &'static str,
    ) -> reqwest::Result<Response> {
        if request.timeout().is_none() {
            // A JSON body this large carries an image inline (ModelsLab's data URIs): give it the
            // time of an upload, not of a small call.
            let inline_upload = request
                .body()
                .and_then(|body| body.as_bytes())
                .is_some_and(|bytes| bytes.len() > INLINE_UPLOAD);
            *request.timeout_mut() = Some(if inline_upload {
                self.timeouts.upload
            } else {
                self.timeouts.request
            });
        }
        let mut attempt = 1;
        loop {
            let spare = if attempt < self.retry.max_attempts {
                request.try_clone()
            } else {
                None
            };
            let result = self.attempt(base_url, request, operation, attempt).await;
            // A streamed body cannot be copied: such requests go through `execute_rebuilding`.
            let Some(spare) = spare else {
                return result;
            };
            match self.next(result, operation, attempt).await {
                Next::Return(result) => return result,
                Next::RetryAfter(wait) => {
                    tokio::time::sleep(wait).await;
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
            let result = self.attempt(base_url, request, operation, attempt).await;
            if attempt >= self.retry.max_attempts {
                return Ok(result);
            }
            match self.next(result, operation, attempt).await {
                Next::Return(result) => return Ok(result),
                Next::RetryAfter(wait) => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt, following redirects, in a tracing span.
    async fn attempt(
        &self,
        base_url: &str,
        request: Request,
        operation: &'static str,
        attempt: u32,
    ) -> reqwest::Result<Response> {
        let span = tracing::debug_span!(
            "cutout.attempt",
            provider = self.provider.name,
            operation,
            attempt,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .follow_redirects(base_url, request)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
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
    }

    /// Sends the request and follows redirects itself: the key is taken off when a redirect leaves
    /// the API's origin (reqwest would keep a custom header such as `X-API-Key`).
    async fn follow_redirects(
        &self,
        base_url: &str,
        mut request: Request,
    ) -> reqwest::Result<Response> {
        for _ in 0..MAX_REDIRECTS {
            let spare = request.try_clone();
            let response = self.http.execute(request).await?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
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
            if !same_origin(next.url().as_str(), &target) {
                self.strip_credentials(&mut next);
            }
            *next.url_mut() = target;
            // Puts the key back only if the new place is the API itself.
            if self.authorize(base_url, &mut next).is_err() {
                return Ok(response);
            }
            request = next;
        }
        let response = self.http.execute(request).await?;
        Ok(response)
    }

    /// Decides whether to try again, and after how long.
    async fn next(
        &self,
        result: reqwest::Result<Response>,
        operation: &'static str,
        attempt: u32,
    ) -> Next {
        let submission = self.provider.submissions.contains(&operation);
        let backoff = self.retry.backoff(attempt - 1);
        match result {
            Err(error) => {
                if error_is_retryable(&error, submission) {
                    tracing::warn!(
                        provider = self.provider.name,
                        operation,
                        attempt,
                        wait_ms = backoff.as_millis() as u64,
                        "connection failed, retrying"
                    );
                    Next::RetryAfter(backoff)
                } else {
                    Next::Return(Err(error))
                }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                if !status_is_retryable(status, submission) {
                    return Next::Return(Ok(response));
                }
                let header_wait = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let (response, body_wait) = if header_wait.is_none() && status == 429 {
                    read_retry_after_from_body(response).await
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
    pub async fn call<T, E, F>(
        &self,
        operation: &'static str,
        send: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<E>>>,
        E: ErrorBody,
    {
        let span = tracing::info_span!("cutout.call", provider = self.provider.name, operation);
        let (result, status) = LAST_STATUS
            .scope(Cell::new(None), async {
                let result = send.await;
                (result, LAST_STATUS.with(|last| last.get()))
            })
            .instrument(span)
            .await;
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.convert(operation, error, status).await),
        }
    }

    /// The [`Error`] for a failed generated operation.
    pub async fn convert<E: ErrorBody>(
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
            P::CommunicationError(source) | P::InvalidUpgrade(source) => Error::Transport {
                provider: provider.name,
                operation,
                maybe_sent: !source.is_connect(),
                source,
            },
            P::ResponseBodyError(source) => Error::Transport {
                provider: provider.name,
                operation,
                maybe_sent: true,
                source,
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
                status => Error::UnexpectedResponse {
                    provider: provider.name,
                    operation,
                    status,
                    message: format!("the body does not match the API description: {parse_error}"),
                    body: Some(truncate_body(&bytes)),
                },
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
                    let parsed = GenericErrorBody::parse(&body);
                    Error::service(
                        provider,
                        operation,
                        status,
                        parsed.as_ref().map(|p| p as &dyn ErrorBody),
                        parsed.is_none().then(|| truncate_body(&body)),
                        header_wait,
                    )
                } else {
                    Error::UnexpectedResponse {
                        provider: provider.name,
                        operation,
                        status: Some(status),
                        message: "the API description does not list this status".to_owned(),
                        body: (!body.is_empty()).then(|| truncate_body(&body)),
                    }
                }
            }
        }
    }
}

/// A JSON error body of unknown shape with a `message` (or `detail`, `error`) string.
struct GenericErrorBody {
    message: String,
    retry_after: Option<Duration>,
}

impl GenericErrorBody {
    fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let message = ["message", "messege", "detail", "error"]
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

/// Reads a small error body for a `retry_after` field and gives back an equivalent response.
async fn read_retry_after_from_body(
    response: Response,
) -> (reqwest::Result<Response>, Option<Duration>) {
    if response
        .content_length()
        .is_some_and(|length| length > SMALL_BODY)
    {
        return (Ok(response), None);
    }
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => return (Err(error), None),
    };
    let wait = retry_after_in_body(&body);
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    (Ok(Response::from(rebuilt)), wait)
}

//! Serving: one loopback listener per simulator, connections served with hyper directly (not
//! `axum::serve`) so a request can be answered with no response at all (a dropped connection).
//!
//! Every request passes through [`handle`], which logs it, decides its fault before the router
//! sees it, and applies that fault.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::faults::{Category, FaultKind};
use crate::log::LoggedRequest;
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::{Rejection, read_body};
use crate::{backgroundcut, modelslab, tengr, topaz};

/// How long a truncated body stalls before the connection is cut.
const TRUNCATION_PAUSE: std::time::Duration = std::time::Duration::from_millis(30);

/// Binds a loopback listener (`port` 0 = ephemeral).
pub(crate) async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Serves `router` on `listener` until the returned task is aborted (which also aborts every
/// open connection: they live in the task's `JoinSet`).
pub(crate) fn spawn(
    listener: TcpListener,
    router: Router,
    provider: Option<Provider>,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let router = router.clone();
                        let shared = shared.clone();
                        let service = hyper::service::service_fn(move |request| {
                            handle(request, router.clone(), provider, shared.clone())
                        });
                        connections.spawn(async move {
                            let served = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                            if let Err(e) = served {
                                tracing::debug!("connection closed: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// Which fault rates apply to a request.
fn classify(provider: Option<Provider>, method: &Method, path: &str) -> Category {
    let submission = match provider {
        None => return Category::Download,
        Some(Provider::Topaz) => topaz::is_submission(method, path),
        Some(Provider::BackgroundCut) => backgroundcut::is_submission(method, path),
        Some(Provider::ModelsLab) => modelslab::is_submission(method, path),
        Some(Provider::Tengr) => tengr::is_submission(method, path),
        Some(_) => false,
    };
    if submission {
        Category::Submission
    } else {
        Category::Other
    }
}

/// An injected error answer, in the shape of the provider's own errors.
fn fault_response(provider: Option<Provider>, status: u16, retry_after: u64) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status {
        StatusCode::TOO_MANY_REQUESTS => "too many requests, slow down",
        StatusCode::SERVICE_UNAVAILABLE => "the service is temporarily unavailable",
        StatusCode::BAD_GATEWAY => "bad gateway",
        _ => "internal server error",
    };
    let mut rejection = Rejection::new(status, message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        rejection.retry_after = Some(retry_after);
    }
    render(provider, rejection)
}

/// A refused request in the error shape of the provider whose port answered.
fn render(provider: Option<Provider>, rejection: Rejection) -> Response<Body> {
    let Rejection {
        status,
        message,
        retry_after,
    } = rejection;
    let mut response = match provider {
        None => plain_text(status, &message),
        Some(Provider::Topaz) => topaz::error(status, message),
        Some(Provider::BackgroundCut) => backgroundcut::error(status, message),
        Some(Provider::ModelsLab) => modelslab::error(status, message, retry_after),
        Some(Provider::Tengr) => tengr::error(status, message),
        Some(_) => plain_text(status, &message),
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Renders a handler's [`Rejection`] (carried in the response's extensions); any other
/// response passes unchanged.
fn render_rejection(provider: Option<Provider>, mut response: Response<Body>) -> Response<Body> {
    match response.extensions_mut().remove::<Rejection>() {
        Some(rejection) => render(provider, rejection),
        None => response,
    }
}

/// The file host's errors are plain text, like a static file server's.
fn plain_text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Rewrites a successful answer so its body stops halfway: the full `Content-Length` is
/// announced, half the bytes are sent, then the body fails and hyper cuts the connection.
async fn truncate(response: Response<Body>) -> Response<Body> {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(full) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if full.is_empty() {
        return Response::from_parts(parts, Body::empty());
    }
    let half = full.slice(..full.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    // The failure comes a moment after the first half, so hyper has flushed the head and that
    // half before it aborts the connection.
    let first = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(half)]);
    let failure = futures_util::stream::once(async {
        tokio::time::sleep(TRUNCATION_PAUSE).await;
        Err(std::io::Error::other("body truncated by an injected fault"))
    });
    Response::from_parts(parts, Body::from_stream(first.chain(failure)))
}

/// One request: log, decide the fault, apply it or route the request.
async fn handle(
    request: Request<Incoming>,
    router: Router,
    provider: Option<Provider>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, DroppedByFault> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let category = classify(provider, &method, &path);
    // Deciding and logging under one lock keeps the log order equal to the draw order.
    let (id, fault, rates) = {
        let mut faults = crate::util::lock(&shared.faults);
        let (fault, rates) = faults.decide(category, provider);
        let id = shared.log.push(LoggedRequest {
            provider,
            method: method.to_string(),
            path,
            query: request.uri().query().map(str::to_owned),
            status: 0,
            fault,
            submission: category == Category::Submission,
        });
        (id, fault, rates)
    };
    let route = |request: Request<Incoming>| async move {
        let response: Result<Response<Body>, Infallible> =
            router.oneshot(request.map(Body::new)).await;
        match response {
            Ok(response) => render_rejection(provider, response),
            Err(never) => match never {},
        }
    };
    let response = match fault {
        Some(FaultKind::Dropped) => return Err(DroppedByFault),
        Some(FaultKind::AnswerLost) => {
            // The work is done (and logged with its real status); only the answer is lost.
            let response = route(request).await;
            shared.log.set_status(id, response.status().as_u16());
            return Err(DroppedByFault);
        }
        Some(
            kind @ (FaultKind::RateLimited
            | FaultKind::Unavailable
            | FaultKind::BadGateway
            | FaultKind::Internal),
        ) => {
            // Read the body first so the client is not cut off mid-upload.
            let _ = read_body(
                Body::new(request.into_body()),
                shared.config.max_upload_bytes,
            )
            .await;
            let status = kind.status().unwrap_or(500);
            fault_response(provider, status, rates.retry_after())
        }
        Some(FaultKind::Slow) => {
            tokio::time::sleep(rates.slow_by).await;
            route(request).await
        }
        Some(FaultKind::Truncated) => {
            let head = method == Method::HEAD;
            let response = route(request).await;
            if head {
                response
            } else {
                truncate(response).await
            }
        }
        None => route(request).await,
    };
    shared.log.set_status(id, response.status().as_u16());
    Ok(response)
}

//! Test support shared by the workspace-level tests in `tests/tests/`.
//!
//! [`RecordingServer`] is a loopback HTTP server that records every request it receives
//! (method, path, query, headers, body, and the parts of a `multipart/form-data` body) and answers
//! from a table of canned responses, so a test can assert exactly what a client put on the wire.
//! Routes can answer a limited number of times (then the next matching route answers), carry
//! headers (`Retry-After`, `Location`), serve raw bytes, break off a body, or answer late, which
//! is what retry, redirect and download tests need.

pub mod sandbox;
pub mod sink;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// One part of a recorded multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field name.
    pub name: String,
    /// The file name, for file parts.
    pub file_name: Option<String>,
    /// The part's content type, if sent.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

impl Part {
    /// The part's bytes as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path, without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body (empty for multipart bodies, whose parts are in `parts`).
    pub body: Vec<u8>,
    /// Parts of a `multipart/form-data` body.
    pub parts: Vec<Part>,
    /// When the request arrived.
    pub at: Instant,
}

impl Recorded {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// The multipart part named `name`.
    pub fn part(&self, name: &str) -> &Part {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no part named `{name}` in {:?}", self.parts))
    }
}

/// A canned answer: for requests whose method and path match, this status, headers and body.
///
/// A path ending in `*` matches every path with that prefix.
#[derive(Debug, Clone)]
pub struct Route {
    method: Method,
    path: String,
    status: StatusCode,
    body: Body,
    headers: Vec<(String, String)>,
    /// How many more times this route answers (`None`: always).
    remaining: Option<Arc<AtomicUsize>>,
    /// Send only this many bytes of the body, then break the connection.
    truncate_to: Option<usize>,
    delay: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(serde_json::Value),
    Bytes(Vec<u8>, String),
}

impl Route {
    fn new(method: Method, path: &str, status: u16, body: Body) -> Self {
        Self {
            method,
            path: path.to_owned(),
            status: StatusCode::from_u16(status).expect("valid status"),
            body,
            headers: Vec::new(),
            remaining: None,
            truncate_to: None,
            delay: None,
        }
    }

    /// Answer `method path` with `status` and a JSON `body`.
    pub fn json(method: Method, path: &str, status: u16, body: serde_json::Value) -> Self {
        Self::new(method, path, status, Body::Json(body))
    }

    /// Answer `method path` with `status` and no body.
    pub fn empty(method: Method, path: &str, status: u16) -> Self {
        Self::new(method, path, status, Body::None)
    }

    /// Answer `method path` with `status` and raw bytes of `content_type`.
    pub fn bytes(
        method: Method,
        path: &str,
        status: u16,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Self {
        Self::new(
            method,
            path,
            status,
            Body::Bytes(bytes, content_type.to_owned()),
        )
    }

    /// Answer with a redirect (`status` 301/302/303/307/308) to `location`.
    pub fn redirect(method: Method, path: &str, status: u16, location: &str) -> Self {
        Self::new(method, path, status, Body::None).header("location", location)
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers only `n` times; later requests fall through to the next matching route.
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(Arc::new(AtomicUsize::new(n)));
        self
    }

    /// Announces the full body length but sends only `n` bytes, then breaks the connection.
    pub fn truncated(mut self, n: usize) -> Self {
        self.truncate_to = Some(n);
        self
    }

    /// Waits before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        let path_matches = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        };
        self.method == *method && path_matches
    }

    /// Takes one use of a limited route; false once it is used up.
    fn take(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    async fn respond(&self) -> Response {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let (bytes, content_type) = match &self.body {
            Body::None => (Vec::new(), None),
            Body::Json(value) => (
                serde_json::to_vec(value).expect("JSON encodes"),
                Some("application/json".to_owned()),
            ),
            Body::Bytes(bytes, content_type) => (bytes.clone(), Some(content_type.clone())),
        };
        let full_length = bytes.len();
        let body = match self.truncate_to {
            Some(n) => {
                let head = Bytes::from(bytes[..n.min(full_length)].to_vec());
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(head),
                    Err(std::io::Error::other(
                        "connection broken off by the test server",
                    )),
                ];
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }
            None => axum::body::Body::from(bytes),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert("content-type", content_type.parse().expect("header value"));
        }
        if self.truncate_to.is_some() {
            headers.insert("content-length", full_length.into());
        }
        for (name, value) in &self.headers {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
        }
        response
    }
}

#[derive(Clone)]
struct State {
    routes: Arc<Vec<Route>>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

/// A recording server on `127.0.0.1` with an ephemeral port. It stops when dropped.
#[derive(Debug)]
pub struct RecordingServer {
    base_url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingServer {
    /// Starts a server answering from `routes`; unmatched requests get 404 `{"message": …}`.
    pub async fn start(routes: Vec<Route>) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = State {
            routes: Arc::new(routes),
            log: log.clone(),
        };
        let app =
            axum::Router::new().fallback(move |request: Request| handle(state.clone(), request));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            base_url: format!("http://{address}"),
            log,
            task,
        }
    }

    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log lock").clone()
    }

    /// The only request received; panics unless there was exactly one.
    pub fn single(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(
            requests.len(),
            1,
            "expected exactly one request: {requests:#?}"
        );
        requests.into_iter().next().expect("one request")
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(state: State, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let is_multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut parts = Vec::new();
    let mut body = Vec::new();
    if is_multipart {
        let mut multipart = match axum::extract::Multipart::from_request(request, &()).await {
            Ok(m) => m,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let data: Bytes = field.bytes().await.unwrap_or_default();
            parts.push(Part {
                name,
                file_name,
                content_type,
                data: data.to_vec(),
            });
        }
    } else {
        body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
    }
    state.log.lock().expect("log lock").push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
        body,
        parts,
        at: Instant::now(),
    });
    match state
        .routes
        .iter()
        .find(|r| r.matches(&method, &path) && r.take())
    {
        Some(route) => route.respond().await,
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": format!("no route for {method} {path}")})),
        )
            .into_response(),
    }
}

/// A JSON example body from `tests/fixtures/`.
pub fn fixture(relative: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A recorded request as a snapshot-friendly value: method, path, query, the headers that
/// matter on the wire (credentials redacted), and the JSON body or multipart parts.
pub fn wire_snapshot(request: &Recorded) -> serde_json::Value {
    const SECRET_HEADERS: &[&str] = &["authorization", "x-api-key"];
    let mut headers = serde_json::Map::new();
    for name in ["authorization", "x-api-key", "content-type", "accept"] {
        if let Some(value) = request.header(name) {
            let shown = if SECRET_HEADERS.contains(&name) {
                // Keep the scheme word (`Token`, `Bearer`) so the snapshot shows the format.
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} [redacted]"),
                    None => "[redacted]".to_owned(),
                }
            } else if name == "content-type" && value.starts_with("multipart/form-data") {
                "multipart/form-data; boundary=[boundary]".to_owned()
            } else {
                value
            };
            headers.insert(name.to_owned(), shown.into());
        }
    }
    let mut snapshot = serde_json::json!({
        "method": request.method.as_str(),
        "path": request.path,
        "query": request.query,
        "headers": headers,
    });
    if !request.parts.is_empty() {
        let parts: Vec<serde_json::Value> = request
            .parts
            .iter()
            .map(|p| match &p.file_name {
                Some(file_name) => serde_json::json!({
                    "name": p.name, "file_name": file_name, "content_type": p.content_type,
                    "bytes": p.data.len(),
                }),
                None => serde_json::json!({"name": p.name, "text": p.text()}),
            })
            .collect();
        snapshot["parts"] = parts.into();
    } else if !request.body.is_empty() {
        let mut body = request.json();
        if let Some(key) = body.get_mut("key") {
            *key = "[redacted]".into();
        }
        snapshot["body"] = body;
    }
    snapshot
}

// The loopback server and helpers shared by `transport.rs` and `traces.rs` (included, not a
// module, so both binaries use them as their own items).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cutout_runtime::{
    ApiKey, AuthScheme, Context, Error, ErrorBody, ProviderInfo, RetryPolicy, Timeouts,
};

/// A provider that documents nothing beyond making cut-outs.
const CUTOUTS_ONLY: cutout_runtime::Capabilities = cutout_runtime::Capabilities {
    outputs: &[cutout_runtime::CutoutKind::Rgba],
    accepts_local_files: true,
    input_formats: &[],
    max_upload_bytes: None,
    max_side: None,
    max_pixels: None,
};

static HEADER_AUTH: ProviderInfo = ProviderInfo {
    name: "example",
    key_env: "EXAMPLE_API_KEY",
    base_url_env: "EXAMPLE_BASE_URL",
    default_base_url: "https://api.example.com",
    auth: AuthScheme::Header {
        name: "X-API-Key",
        prefix: None,
    },
    submissions: &["submit"],
    max_concurrent_jobs: None,
    capabilities: CUTOUTS_ONLY,
};

static BODY_AUTH: ProviderInfo = ProviderInfo {
    name: "bodykey",
    key_env: "BODYKEY_API_KEY",
    base_url_env: "BODYKEY_BASE_URL",
    default_base_url: "https://api.example.com",
    auth: AuthScheme::BodyField { field: "key" },
    submissions: &["submit"],
    max_concurrent_jobs: None,
    capabilities: CUTOUTS_ONLY,
};

const KEY: &str = "sk-transport-test-secret";

/// One scripted answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Announce the full length but send only this many bytes.
    truncate_to: Option<usize>,
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: Vec::new(),
        delay: Duration::ZERO,
        truncate_to: None,
    }
}

impl Answer {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    fn truncated(mut self, n: usize) -> Self {
        self.truncate_to = Some(n);
        self
    }
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// A loopback server that answers from a script (the last answer repeats) and records requests.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(script: Vec<Answer>) -> Self {
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let script = script.clone();
            let log = log.clone();
            async move {
                let path = request.uri().path().to_owned();
                let headers = request.headers().clone();
                let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default()
                    .to_vec();
                log.lock().unwrap().push(Seen {
                    path,
                    headers,
                    body,
                    at: Instant::now(),
                });
                let next = {
                    let mut script = script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front().unwrap()
                    } else {
                        script.front().cloned().unwrap()
                    }
                };
                respond(next).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn respond(answer: Answer) -> Response {
    tokio::time::sleep(answer.delay).await;
    let full = answer.body.len();
    let body = match answer.truncate_to {
        Some(n) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from(answer.body[..n].to_vec())),
                Err(std::io::Error::other("broken off")),
            ];
            axum::body::Body::from_stream(futures_util::stream::iter(chunks))
        }
        None => axum::body::Body::from(answer.body),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap();
    if answer.truncate_to.is_some() {
        response.headers_mut().insert("content-length", full.into());
    }
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response.into_response()
}

fn context(provider: &'static ProviderInfo, retry: RetryPolicy, timeouts: Timeouts) -> Context {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Context::new(provider, Some(ApiKey::new(KEY)), retry, timeouts, http)
}

/// A context made as a provider's `ClientBuilder` makes it: its HTTP client applies
/// `timeouts.request` to every request that sets no limit of its own.
fn built_context(retry: RetryPolicy, timeouts: Timeouts) -> Context {
    struct Built(Context);
    impl cutout_runtime::FromParts for Built {
        const PROVIDER: &'static ProviderInfo = &HEADER_AUTH;
        fn from_parts(_base_url: &str, _http: reqwest::Client, context: Context) -> Self {
            Self(context)
        }
    }
    cutout_runtime::ClientBuilder::<Built>::new()
        .key(KEY)
        .base_url("http://127.0.0.1:9")
        .retry(retry)
        .timeouts(timeouts)
        .build()
        .unwrap()
        .0
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(20))
        .without_jitter()
}

/// Sends like a generated operation does: authorize (the `pre` hook), then `execute`.
async fn send(
    context: &Context,
    base: &str,
    method: reqwest::Method,
    path: &str,
    json: Option<serde_json::Value>,
    operation: &'static str,
) -> reqwest::Result<reqwest::Response> {
    let mut request = reqwest::Request::new(method, format!("{base}{path}").parse().unwrap());
    if let Some(json) = json {
        *request.body_mut() = Some(serde_json::to_vec(&json).unwrap().into());
        request
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    context.authorize(base, &mut request).unwrap();
    context.execute(base, request, operation).await
}

fn gaps(seen: &[Seen]) -> Vec<Duration> {
    seen.windows(2).map(|w| w[1].at - w[0].at).collect()
}


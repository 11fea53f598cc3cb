//! The file host: one loopback origin that serves every file the simulators hand out (hosted
//! test inputs, BackgroundCut's key space, presigned Topaz links, ModelsLab and Tengr results).
//!
//! Files are addressed by a storage path (`hosted/a.png`, `topaz/<id>/output.png`,
//! `backgroundcut/<key>`, ...). A file is either public or signed: a signed file is only served
//! through a presigned URL (`?expires=<unix>&signature=<hex>`, the signature covering method,
//! path and expiry, like S3's), which needs no API key and answers 403 once expired. A file can
//! also expire itself (it is then gone: 404) or not be available yet (a result that is still
//! being computed: 404).
//!
//! `PUT /hosted/<name>` stores a public file (the HTTP twin of `Sandbox::host_file`, for the
//! binary).
//!
//! URL inputs of the simulators are resolved here, in-process: the sandbox never makes an
//! outbound connection to fetch an image.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::clock::SimTime;
use crate::state::Shared;
use crate::util::{decode_path, encode_path, lock, parse_query, query_value, read_body};

/// Whether a file needs a presigned URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Public,
    Signed,
}

/// One stored file.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub(crate) bytes: Bytes,
    pub(crate) content_type: String,
    /// Deleted from this moment on.
    pub(crate) expires_at: Option<SimTime>,
    /// Not served before this moment (a result still being computed).
    pub(crate) available_at: Option<SimTime>,
    pub(crate) access: Access,
}

impl Blob {
    pub(crate) fn new(bytes: impl Into<Bytes>, content_type: &str, access: Access) -> Self {
        Self {
            bytes: bytes.into(),
            content_type: content_type.to_owned(),
            expires_at: None,
            available_at: None,
            access,
        }
    }

    pub(crate) fn expires_at(mut self, t: SimTime) -> Self {
        self.expires_at = Some(t);
        self
    }

    pub(crate) fn available_at(mut self, t: SimTime) -> Self {
        self.available_at = Some(t);
        self
    }

    fn live(&self, now: SimTime) -> bool {
        self.expires_at.is_none_or(|t| now < t) && self.available_at.is_none_or(|t| now >= t)
    }
}

/// Why a URL input could not be fetched.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Not a URL, or not one of the file host: the sandbox fetches nothing else.
    Unreachable(String),
    /// The file host answered 404.
    NotFound,
    /// The file host answered 403 (expired or invalid presigned URL).
    Denied(&'static str),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unreachable(why) => write!(f, "the URL cannot be fetched: {why}"),
            FetchError::NotFound => f.write_str("the URL answered 404 Not Found"),
            FetchError::Denied(why) => write!(f, "the URL answered 403 Forbidden ({why})"),
        }
    }
}

/// The store and its signing secret.
#[derive(Debug)]
pub(crate) struct FileHost {
    origin: String,
    secret: u64,
    blobs: Mutex<HashMap<String, Blob>>,
}

impl FileHost {
    pub(crate) fn new(origin: String, secret: u64) -> Self {
        Self {
            origin,
            secret,
            blobs: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn put(&self, path: &str, blob: Blob) {
        lock(&self.blobs).insert(path.to_owned(), blob);
    }

    pub(crate) fn remove(&self, path: &str) {
        lock(&self.blobs).remove(path);
    }

    /// The file at `path` if it exists, has not expired and is available at `now`.
    pub(crate) fn live(&self, path: &str, now: SimTime) -> Option<Blob> {
        lock(&self.blobs).get(path).filter(|b| b.live(now)).cloned()
    }

    /// The plain URL of a (public) file.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.origin, encode_path(path))
    }

    /// A presigned URL for `method` (`GET` or `HEAD`) on `path`, valid until `expires` (Unix s).
    pub(crate) fn presign(&self, path: &str, method: &Method, expires: i64) -> String {
        let signature = self.signature(path, method, expires);
        format!("{}?expires={expires}&signature={signature}", self.url(path))
    }

    fn signature(&self, path: &str, method: &Method, expires: i64) -> String {
        let mut hasher = DefaultHasher::new();
        (self.secret, method.as_str(), path, expires).hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Checks the presigned query of a request for a signed file.
    fn authorize(
        &self,
        path: &str,
        method: &Method,
        query: Option<&str>,
        now_unix: i64,
    ) -> Result<(), &'static str> {
        let pairs = parse_query(query).ok_or("malformed query string")?;
        let (Some(expires), Some(signature)) = (
            query_value(&pairs, "expires"),
            query_value(&pairs, "signature"),
        ) else {
            return Err("this file is only served through a presigned URL");
        };
        let expires: i64 = expires.parse().map_err(|_| "malformed expiry")?;
        // HEAD is allowed on a GET link (it reveals nothing more), not the other way round.
        let valid = self.signature(path, method, expires) == signature
            || (method == Method::HEAD && self.signature(path, &Method::GET, expires) == signature);
        if !valid {
            return Err("the signature does not match");
        }
        if now_unix >= expires {
            return Err("the presigned URL has expired");
        }
        Ok(())
    }

    /// The storage path a URL of this host points at, if it is one.
    fn own_path(&self, url: &reqwest::Url) -> Option<String> {
        let origin = reqwest::Url::parse(&self.origin).ok()?;
        let loopback_name =
            |host: Option<&str>| matches!(host, Some("127.0.0.1" | "localhost" | "[::1]" | "::1"));
        let same = url.scheme() == origin.scheme()
            && url.port_or_known_default() == origin.port_or_known_default()
            && loopback_name(url.host_str())
            && loopback_name(origin.host_str());
        if !same {
            return None;
        }
        decode_path(url.path().trim_start_matches('/'))
    }

    /// Fetches a URL input in-process, as a GET through the file host would.
    pub(crate) fn fetch(&self, url: &str, now: SimTime, now_unix: i64) -> Result<Blob, FetchError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| FetchError::Unreachable(format!("not a valid URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Unreachable(format!(
                "unsupported scheme `{}`",
                parsed.scheme()
            )));
        }
        let path = self.own_path(&parsed).ok_or_else(|| {
            FetchError::Unreachable(format!(
                "the sandbox only fetches from its own file host ({})",
                self.origin
            ))
        })?;
        let blob = self.live(&path, now).ok_or(FetchError::NotFound)?;
        if blob.access == Access::Signed {
            self.authorize(&path, &Method::GET, parsed.query(), now_unix)
                .map_err(FetchError::Denied)?;
        }
        Ok(blob)
    }
}

/// Where hosted inputs live (`Sandbox::host_file`, or `PUT /hosted/<name>`).
pub(crate) const HOSTED: &str = "hosted/";

/// The file host's router: `GET`/`HEAD` on any path, `PUT` under `/hosted/`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(serve).with_state(shared)
}

fn plain(status: StatusCode, text: &str) -> Response {
    let text = format!("{}\n", text.trim_end());
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `PUT /hosted/<name>`: the HTTP twin of `Sandbox::host_file`, so the binary can take URL
/// inputs too. Answers 201 with the file's URL.
async fn host(shared: &Shared, path: &str, body: Body) -> Response {
    let Ok(bytes) = read_body(body, shared.config.max_upload_bytes).await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "the file is too large");
    };
    let content_type = crate::imaging::content_type_of(&bytes);
    shared
        .files
        .put(path, Blob::new(bytes, content_type, Access::Public));
    let url = shared.files.url(path);
    (StatusCode::CREATED, format!("{url}\n")).into_response()
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let Some(path) = decode_path(request.uri().path().trim_start_matches('/')) else {
        return plain(StatusCode::BAD_REQUEST, "malformed path");
    };
    if method == Method::PUT && path.starts_with(HOSTED) && path.len() > HOSTED.len() {
        return host(&shared, &path, request.into_body()).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served (and PUT under /hosted/)",
        );
    }
    let now = shared.now();
    let Some(blob) = shared.files.live(&path, now) else {
        return plain(StatusCode::NOT_FOUND, "no such file\n");
    };
    if blob.access == Access::Signed {
        let now_unix = shared.clock.unix_secs(now);
        if let Err(why) = shared
            .files
            .authorize(&path, &method, request.uri().query(), now_unix)
        {
            return plain(StatusCode::FORBIDDEN, why);
        }
    }
    let content_type = HeaderValue::from_str(&blob.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let length = HeaderValue::from(blob.bytes.len());
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(blob.bytes)
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, length);
    response
}

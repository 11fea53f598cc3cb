//! Small helpers shared by the simulators.

use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

/// Locks a mutex, ignoring poisoning: the sandbox's state stays usable even if a handler
/// panicked while holding a lock (which a test would report anyway).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The one error type of every handler: a refused request, answered with a status and a
/// message instead of a result. Handlers return `Result<Response, Rejection>` and use `?`.
///
/// As a response it is only a marker: [`crate::server`] renders it in the error shape of the
/// provider whose port answered (the same rendering as injected faults), so a handler never
/// needs to know how its provider spells errors.
#[derive(Clone, Debug)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// Seconds for `Retry-After` (and ModelsLab's `retry_after`), on 429 answers.
    pub(crate) retry_after: Option<u64>,
}

impl Rejection {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error answer with HTTP 200, as ModelsLab gives for validation problems.
    pub(crate) fn answer(message: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, message)
    }

    /// HTTP 429 with a retry delay.
    pub(crate) fn too_many(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// What every handler returns.
pub(crate) type Answer = Result<Response, Rejection>;

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The connection failed while reading.
    Io(String),
}

/// Reads a whole request body, up to `limit` bytes.
///
/// A body over the limit is still drained (up to a bounded amount) before the error is
/// returned: answering while the client is still sending makes many clients report a broken
/// pipe instead of the 413 the API documents.
pub(crate) async fn read_body(body: Body, limit: u64) -> Result<Bytes, BodyError> {
    let drain_cap = limit.saturating_mul(2).saturating_add(16 << 20);
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Io(e.to_string()))?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > drain_cap {
            return Err(BodyError::TooLarge);
        }
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        Err(BodyError::TooLarge)
    } else {
        Ok(buf.freeze())
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub(crate) struct Part {
    /// The part's `name`.
    pub(crate) name: String,
    /// The part's `filename`, for file parts.
    pub(crate) file_name: Option<String>,
    /// The part's content.
    pub(crate) bytes: Bytes,
}

impl Part {
    /// The content as text (a form value).
    pub(crate) fn text(&self) -> Result<String, Rejection> {
        String::from_utf8(self.bytes.to_vec())
            .map_err(|_| Rejection::bad_request(format!("field `{}` is not UTF-8 text", self.name)))
    }
}

/// Splits a `multipart/form-data` body that [`read_body`] already read (so already within the
/// upload cap) into its named parts. Unnamed parts are skipped.
///
/// axum's `Multipart` applies a 2 MiB default limit to any request that did not pass through
/// a `DefaultBodyLimit` layer; the body is already bounded here, so the limit is lifted for
/// this one parse (an ordinary phone photo is 5 MB or more).
pub(crate) async fn multipart_parts(
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Vec<Part>, Rejection> {
    use axum::extract::{DefaultBodyLimit, FromRequest, Multipart};
    use tower::{Layer, ServiceExt};

    let content_type = content_type.unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request must be multipart/form-data",
        ));
    }
    let request = axum::http::Request::builder()
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(|e| Rejection::bad_request(format!("malformed request: {e}")))?;
    let malformed = |e: &dyn std::fmt::Display| {
        Rejection::bad_request(format!("malformed multipart body: {e}"))
    };
    let parse = tower::service_fn(move |request: axum::extract::Request| async move {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| malformed(&e.body_text()))?;
        let mut parts = Vec::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| malformed(&e.body_text()))?
        {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| malformed(&e.body_text()))?;
            parts.push(Part {
                name,
                file_name,
                bytes,
            });
        }
        Ok::<_, Rejection>(parts)
    });
    DefaultBodyLimit::disable()
        .layer(parse)
        .oneshot(request)
        .await
}

/// Runs CPU-bound image work off the async workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("image processing task failed: {e}"))
}

/// Percent-encodes a storage path for use in a URL path (slashes are kept).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a raw query string into decoded pairs (`+` is a space, as in forms).
pub(crate) fn parse_query(query: Option<&str>) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((
            decode_path(&k.replace('+', " "))?,
            decode_path(&v.replace('+', " "))?,
        ));
    }
    Some(pairs)
}

/// The last value of query parameter `name`.
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The canonical reason phrase of a status code ("Bad Request"), for error bodies.
pub(crate) fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The value a generated type's builder made. The generated types are `#[non_exhaustive]`
/// outside their crate (a field the provider adds must not break code using them), so the
/// simulators build their answers with builders, like any user. Each call site sets every
/// required field, so an error here is a bug in the simulator, never something a request causes.
pub(crate) fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| {
        panic!(
            "simulator bug: incomplete {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_encoding_round_trips() {
        let key = "my project/photo #1?.jpg";
        let encoded = encode_path(key);
        assert!(!encoded.contains(' ') && !encoded.contains('#') && !encoded.contains('?'));
        assert_eq!(decode_path(&encoded).as_deref(), Some(key));
        assert_eq!(decode_path("%zz"), None);
    }

    #[test]
    fn query_parsing() {
        let pairs = parse_query(Some("a=1&b=x+y&a=2&flag")).unwrap_or_default();
        assert_eq!(query_value(&pairs, "a"), Some("2"));
        assert_eq!(query_value(&pairs, "b"), Some("x y"));
        assert_eq!(query_value(&pairs, "flag"), Some(""));
        assert_eq!(query_value(&pairs, "c"), None);
    }
}

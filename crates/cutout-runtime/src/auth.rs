//! API keys and the one place where they are put on (or taken off) a request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use reqwest::header::{HeaderName, HeaderValue};
use serde::de::IgnoredAny;

use crate::{AuthScheme, Context, ProviderInfo};

/// An API key. Its `Debug` and `Display` print a redaction, never the key, so it can sit in
/// structs that are logged or snapshotted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. Surrounding whitespace (a trailing newline from a file or `echo`) is trimmed.
    pub fn new(key: impl Into<String>) -> Self {
        let key: String = key.into();
        let trimmed = key.trim();
        if trimmed.len() == key.len() {
            Self(key)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// The key itself, for the rare caller that must send it somewhere by hand.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the key is empty (after trimming).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

/// Credentials: the one place a key is put on (or taken off) a request.
impl Context {
    /// Puts the credentials on `request`, but only when it is an API call: its URL is under
    /// `base_url` (same scheme, host and port, and a path inside the base URL's path). A key is
    /// never sent to another host, nor to another path of the API's host (a file host behind
    /// the same name). A key that travels in the body is never put on a `GET` or `HEAD`, which
    /// have no body.
    pub fn authorize(&self, base_url: &str, request: &mut reqwest::Request) -> Result<(), String> {
        if !self.is_api_url(base_url, request.url()) {
            return Ok(());
        }
        let Some(key) = &self.key else {
            return Ok(());
        };
        match self.provider.auth {
            AuthScheme::Header { .. } => match &self.key_header {
                Some(header) => header.put_on(request),
                None => Ok(()),
            },
            AuthScheme::BodyField { .. }
                if matches!(
                    *request.method(),
                    reqwest::Method::GET | reqwest::Method::HEAD
                ) =>
            {
                Ok(())
            }
            AuthScheme::BodyField { field } => inject_body_field(request, field, key),
        }
    }

    /// Takes the credentials off a request (before it follows a redirect elsewhere).
    pub(crate) fn strip_credentials(&self, request: &mut reqwest::Request) {
        match self.provider.auth {
            AuthScheme::Header { name, .. } => {
                request.headers_mut().remove(name);
            }
            AuthScheme::BodyField { field } => {
                let stripped = request
                    .body()
                    .and_then(|body| body.as_bytes())
                    .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
                    .and_then(|value| match value {
                        serde_json::Value::Object(mut object) => {
                            object.remove(field);
                            serde_json::to_vec(&object).ok()
                        }
                        _ => None,
                    });
                if let Some(bytes) = stripped {
                    *request.body_mut() = Some(bytes.into());
                }
            }
        }
    }
}

/// Adds `"<field>": "<key>"` to a JSON object body. Requests without a body get one.
///
/// The body can be large (ModelsLab takes images inline as base64), so it is not parsed into a
/// tree and written out again: its top-level field names are read without copying any value,
/// and the key is spliced in after the opening brace, one copy of the body in all. Only a body
/// that already has the field (set by the caller) is rewritten, to replace its value.
fn inject_body_field(
    request: &mut reqwest::Request,
    field: &str,
    key: &ApiKey,
) -> Result<(), String> {
    let not_an_object =
        || format!("cannot add the `{field}` credential: the request body is not a JSON object");
    let bytes: &[u8] = match request.body() {
        None => b"{}",
        Some(body) => body.as_bytes().ok_or_else(|| {
            format!("cannot add the `{field}` credential to a streamed request body")
        })?,
    };
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let fields: HashMap<Cow<'_, str>, IgnoredAny> =
        serde_json::from_slice(bytes).map_err(|_| not_an_object())?;
    let value = serde_json::to_string(key.expose()).map_err(|e| e.to_string())?;
    let body = if fields.contains_key(field) {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|_| not_an_object())?;
        object.insert(
            field.to_owned(),
            serde_json::Value::String(key.expose().to_owned()),
        );
        serde_json::to_vec(&object).map_err(|e| e.to_string())?
    } else {
        let open = bytes
            .iter()
            .position(|&b| b == b'{')
            .ok_or_else(not_an_object)?;
        let name = serde_json::to_string(field).map_err(|e| e.to_string())?;
        let mut spliced = Vec::with_capacity(bytes.len() + name.len() + value.len() + 2);
        spliced.extend_from_slice(&bytes[..=open]);
        spliced.extend_from_slice(name.as_bytes());
        spliced.push(b':');
        spliced.extend_from_slice(value.as_bytes());
        if !fields.is_empty() {
            spliced.push(b',');
        }
        spliced.extend_from_slice(&bytes[open + 1..]);
        spliced
    };
    request.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *request.body_mut() = Some(body.into());
    Ok(())
}

/// The header that carries the key (`X-API-Key: <key>`, `Authorization: Token <key>`), made once
/// per [`Context`]: the same name and value go on every request. A key that cannot be sent in a
/// header keeps its error, reported by every request that would carry it (as before anything
/// is sent), not by the builder.
#[derive(Clone)]
pub(crate) struct KeyHeader(Result<(HeaderName, HeaderValue), String>);

impl KeyHeader {
    /// The header for `key`, when the provider takes its key in a header.
    pub(crate) fn new(provider: &ProviderInfo, key: Option<&ApiKey>) -> Option<Self> {
        let AuthScheme::Header { name, prefix } = provider.auth else {
            return None;
        };
        let key = key?;
        let make = || {
            let text = match prefix {
                Some(prefix) => format!("{prefix} {}", key.expose()),
                None => key.expose().to_owned(),
            };
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                "the API key contains characters that cannot be sent in an HTTP header".to_owned()
            })?;
            value.set_sensitive(true);
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            Ok((name, value))
        };
        Some(Self(make()))
    }

    fn put_on(&self, request: &mut reqwest::Request) -> Result<(), String> {
        let (name, value) = self.0.as_ref().map_err(Clone::clone)?;
        request.headers_mut().insert(name.clone(), value.clone());
        Ok(())
    }
}

impl Context {
    /// [`under_base`], with `base_url` parsed once: the generated hooks pass the same base URL
    /// for every request. Another base URL is parsed every time.
    pub(crate) fn is_api_url(&self, base_url: &str, url: &reqwest::Url) -> bool {
        match self.parsed_base(base_url) {
            Some(base) => under_parsed_base(base, url),
            None => under_base(base_url, url),
        }
    }
}

/// Whether `url` is an API call of the API at `base_url`: same scheme, host and port, and a path
/// equal to the base URL's path or below it on a segment boundary (`/api/v6` covers `/api/v6`
/// and `/api/v6/x`, not `/api/v6x` nor `/other`).
pub(crate) fn under_base(base_url: &str, url: &reqwest::Url) -> bool {
    reqwest::Url::parse(base_url).is_ok_and(|base| under_parsed_base(&base, url))
}

fn under_parsed_base(base: &reqwest::Url, url: &reqwest::Url) -> bool {
    if !same_origin(base, url) {
        return false;
    }
    let prefix = base.path().trim_end_matches('/');
    match url.path().strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Same scheme, host and port.
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{CUTOUTS_ONLY, TOPAZ};
    use crate::{ProviderInfo, RetryPolicy, Timeouts};

    static MODELSLAB: ProviderInfo = ProviderInfo {
        name: "modelslab",
        key_env: "MODELSLAB_API_KEY",
        base_url_env: "MODELSLAB_BASE_URL",
        default_base_url: "https://modelslab.com/api/v6",
        auth: AuthScheme::BodyField { field: "key" },
        submissions: &[],
        max_concurrent_jobs: None,
        capabilities: CUTOUTS_ONLY,
    };
    static BACKGROUNDCUT: ProviderInfo = ProviderInfo {
        name: "backgroundcut",
        key_env: "BACKGROUNDCUT_API_KEY",
        base_url_env: "BACKGROUNDCUT_BASE_URL",
        default_base_url: "https://api.backgroundcut.co",
        auth: AuthScheme::Header {
            name: "Authorization",
            prefix: Some("Token"),
        },
        submissions: &[],
        max_concurrent_jobs: None,
        capabilities: CUTOUTS_ONLY,
    };

    fn context(provider: &'static ProviderInfo, key: &str) -> Context {
        Context::new(
            provider,
            Some(ApiKey::new(key)),
            RetryPolicy::none(),
            Timeouts::default(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::new("sk-very-secret\n");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{key}"), "<redacted>");
        assert!(!format!("{:?}", context(&TOPAZ, "sk-very-secret")).contains("secret"));
        assert_eq!(key.expose(), "sk-very-secret");
    }

    fn request(url: &str, body: Option<&str>) -> reqwest::Request {
        let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
        *request.body_mut() = body.map(|b| b.to_owned().into());
        request
    }

    #[test]
    fn the_base_path_is_matched_on_segment_boundaries() {
        let under = |base: &str, url: &str| under_base(base, &url.parse().unwrap());
        assert!(under("https://h/api/v6", "https://h/api/v6/x"));
        assert!(under("https://h/api/v6", "https://h/api/v6"));
        assert!(under("https://h/api/v6/", "https://h/api/v6/x?q=1"));
        assert!(under("https://h", "https://h/anything"));
        assert!(under("https://h:443/api", "https://h/api/x"));
        assert!(!under("https://h/api/v6", "https://h/api/v6x"));
        assert!(!under("https://h/api/v6", "https://h/other"));
        assert!(!under("https://h/api/v6", "https://h/api/v6/../../other"));
        assert!(!under("https://h/api/v6", "http://h/api/v6/x"));
        assert!(!under("https://h/api/v6", "https://h:8443/api/v6/x"));
        assert!(!under("https://h/api/v6", "https://g/api/v6/x"));
        assert!(!under("not a url", "https://h/api/v6/x"));
    }

    #[test]
    fn header_auth_only_goes_to_the_api_origin() {
        let context = context(&BACKGROUNDCUT, "k1");
        let mut own = request("https://api.example.com/v3/x/", None);
        context
            .authorize("https://api.example.com", &mut own)
            .unwrap();
        let value = own.headers().get("authorization").unwrap();
        assert_eq!(value, "Token k1");
        assert!(value.is_sensitive());
        context.strip_credentials(&mut own);
        assert!(own.headers().get("authorization").is_none());

        let mut other = request("https://cdn.example.net/file.png", None);
        context
            .authorize("https://api.example.com", &mut other)
            .unwrap();
        assert!(other.headers().get("authorization").is_none());
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_refused_by_every_request_it_would_go_on() {
        // The header is made once per context; its error stays until a request needs it.
        let header_key = context(&BACKGROUNDCUT, "k\u{7}bell");
        for _ in 0..2 {
            let mut own = request("https://api.example.com/v3/x/", None);
            let err = header_key
                .authorize("https://api.example.com", &mut own)
                .unwrap_err();
            assert_eq!(
                err,
                "the API key contains characters that cannot be sent in an HTTP header"
            );
            assert!(own.headers().get("authorization").is_none());
        }
        // A request that would not carry the key is not refused.
        let mut other = request("https://cdn.example.net/file.png", None);
        header_key
            .authorize("https://api.example.com", &mut other)
            .unwrap();
        // A key that travels in the body does not need to be a header value.
        let body_key = context(&MODELSLAB, "k\u{7}bell");
        let mut req = request("https://ml.example.com/api/v6/x", Some("{}"));
        body_key
            .authorize("https://ml.example.com/api/v6", &mut req)
            .unwrap();
    }

    #[test]
    fn the_base_url_is_checked_the_same_whichever_was_seen_first() {
        // The first base URL is kept parsed; any other is still judged on its own.
        let context = context(&BACKGROUNDCUT, "k1");
        let cases = [
            ("https://h/api/v6", "https://h/api/v6/x", true),
            ("https://other/api", "https://h/api/v6/x", false),
            ("https://other/api", "https://other/api/y", true),
            ("https://h/api/v6", "https://h/api/v6x", false),
            ("not a url", "https://h/api/v6/x", false),
            ("https://h/api/v6", "https://other/api/y", false),
        ];
        for (base, url, expected) in cases {
            let url: reqwest::Url = url.parse().unwrap();
            assert_eq!(context.is_api_url(base, &url), expected, "{base} {url}");
            assert_eq!(under_base(base, &url), expected, "{base} {url}");
            let mut req = request(url.as_str(), None);
            context.authorize(base, &mut req).unwrap();
            assert_eq!(
                req.headers().get("authorization").is_some(),
                expected,
                "{base} {url}"
            );
        }
    }

    #[test]
    fn body_field_auth_is_added_to_json_bodies() {
        let context = context(&MODELSLAB, "k2");
        let mut req = request("https://ml.example.com/api/v6/x", Some(r#"{"image":"u"}"#));
        context
            .authorize("https://ml.example.com/api/v6", &mut req)
            .unwrap();
        let body = |req: &reqwest::Request| -> serde_json::Value {
            serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap()
        };
        assert_eq!(body(&req), serde_json::json!({"image": "u", "key": "k2"}));
        context.strip_credentials(&mut req);
        assert_eq!(body(&req), serde_json::json!({"image": "u"}));

        // A key the caller set is replaced, not duplicated.
        let mut req = request(
            "https://ml.example.com/api/v6/x",
            Some(r#"{"key":"mine","image":"u"}"#),
        );
        context
            .authorize("https://ml.example.com/api/v6", &mut req)
            .unwrap();
        assert_eq!(body(&req), serde_json::json!({"image": "u", "key": "k2"}));
        // No body, or an empty object, gets one holding just the key.
        for empty in [None, Some("{}"), Some(" { } ")] {
            let mut req = request("https://ml.example.com/api/v6/x", empty);
            context
                .authorize("https://ml.example.com/api/v6", &mut req)
                .unwrap();
            assert_eq!(body(&req), serde_json::json!({"key": "k2"}));
        }

        let mut bad = request("https://ml.example.com/api/v6/x", Some("[1]"));
        let err = context
            .authorize("https://ml.example.com/api/v6", &mut bad)
            .unwrap_err();
        assert!(err.contains("not a JSON object"), "{err}");
    }
}

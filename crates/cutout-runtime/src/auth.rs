//! API keys and the one place where they are put on a request.

use std::fmt;

use reqwest::header::{HeaderName, HeaderValue};

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

/// How a provider expects its key.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No credentials (for tests against servers that need none).
    None,
    /// A request header: `X-API-Key: <key>`, or `Authorization: Token <key>` with a prefix.
    Header {
        /// Header name, e.g. `X-API-Key` or `Authorization`.
        name: &'static str,
        /// Text before the key, e.g. `Token` or `Bearer` (a space is added).
        prefix: Option<&'static str>,
        /// The key.
        key: ApiKey,
    },
    /// A field of the JSON request body (ModelsLab's `key`).
    BodyField {
        /// The field name.
        field: &'static str,
        /// The key.
        key: ApiKey,
    },
}

/// State every generated `Client` carries (its progenitor "inner" value): how to authenticate.
///
/// The provider crates implement progenitor's `ClientHooks` for their `Client` by calling
/// [`Context::authorize`], so every operation, generated or hand-written, is authenticated in
/// this one place.
#[derive(Clone, Debug)]
pub struct Context {
    auth: Auth,
}

impl Context {
    /// A context that authenticates with `auth`.
    pub fn new(auth: Auth) -> Self {
        Self { auth }
    }

    /// The authentication in use.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Puts the credentials on `request`, but only when it goes to the API itself (same scheme,
    /// host and port as `base_url`): a key is never sent to another host.
    pub fn authorize(&self, base_url: &str, request: &mut reqwest::Request) -> Result<(), String> {
        // progenitor stamps every request with the spec's version; no provider documents that
        // header, so it is not sent.
        request.headers_mut().remove("api-version");
        if !same_origin(base_url, request.url()) {
            return Ok(());
        }
        match &self.auth {
            Auth::None => Ok(()),
            Auth::Header { name, prefix, key } => {
                let text = match prefix {
                    Some(prefix) => format!("{prefix} {}", key.expose()),
                    None => key.expose().to_owned(),
                };
                let mut value = HeaderValue::from_str(&text).map_err(|_| {
                    "the API key contains characters that cannot be sent in an HTTP header"
                        .to_owned()
                })?;
                value.set_sensitive(true);
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a valid header name"))?;
                request.headers_mut().insert(name, value);
                Ok(())
            }
            Auth::BodyField { field, key } => inject_body_field(request, field, key),
        }
    }
}

/// Adds `"<field>": "<key>"` to a JSON object body. Requests without a JSON body get one.
fn inject_body_field(
    request: &mut reqwest::Request,
    field: &str,
    key: &ApiKey,
) -> Result<(), String> {
    let mut object = match request.body() {
        None => serde_json::Map::new(),
        Some(body) => {
            let bytes = body.as_bytes().ok_or_else(|| {
                format!("cannot add the `{field}` credential to a streamed request body")
            })?;
            if bytes.is_empty() {
                serde_json::Map::new()
            } else {
                match serde_json::from_slice::<serde_json::Value>(bytes) {
                    Ok(serde_json::Value::Object(object)) => object,
                    _ => {
                        return Err(format!(
                            "cannot add the `{field}` credential: the request body is not a JSON object"
                        ));
                    }
                }
            }
        }
    };
    object.insert(
        field.to_owned(),
        serde_json::Value::String(key.expose().to_owned()),
    );
    let bytes = serde_json::to_vec(&object).map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *request.body_mut() = Some(bytes.into());
    Ok(())
}

fn same_origin(base_url: &str, url: &reqwest::Url) -> bool {
    match reqwest::Url::parse(base_url) {
        Ok(base) => {
            base.scheme() == url.scheme()
                && base.host_str() == url.host_str()
                && base.port_or_known_default() == url.port_or_known_default()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::new("sk-very-secret\n");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{key}"), "<redacted>");
        let auth = Auth::Header {
            name: "X-API-Key",
            prefix: None,
            key: key.clone(),
        };
        assert!(!format!("{:?}", Context::new(auth)).contains("secret"));
        assert_eq!(key.expose(), "sk-very-secret");
    }

    fn request(url: &str, body: Option<&str>) -> reqwest::Request {
        let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
        *request.body_mut() = body.map(|b| b.to_owned().into());
        request
    }

    #[test]
    fn header_auth_only_goes_to_the_api_origin() {
        let context = Context::new(Auth::Header {
            name: "Authorization",
            prefix: Some("Token"),
            key: ApiKey::new("k1"),
        });
        let mut own = request("https://api.example.com/v3/x/", None);
        context
            .authorize("https://api.example.com", &mut own)
            .unwrap();
        let value = own.headers().get("authorization").unwrap();
        assert_eq!(value, "Token k1");
        assert!(value.is_sensitive());

        let mut other = request("https://cdn.example.net/file.png", None);
        context
            .authorize("https://api.example.com", &mut other)
            .unwrap();
        assert!(other.headers().get("authorization").is_none());
    }

    #[test]
    fn body_field_auth_is_added_to_json_bodies() {
        let context = Context::new(Auth::BodyField {
            field: "key",
            key: ApiKey::new("k2"),
        });
        let mut req = request("https://ml.example.com/api/v6/x", Some(r#"{"image":"u"}"#));
        context
            .authorize("https://ml.example.com/api/v6", &mut req)
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(req.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"image": "u", "key": "k2"}));

        let mut bad = request("https://ml.example.com/api/v6/x", Some("[1]"));
        let err = context
            .authorize("https://ml.example.com/api/v6", &mut bad)
            .unwrap_err();
        assert!(err.contains("not a JSON object"), "{err}");
    }
}

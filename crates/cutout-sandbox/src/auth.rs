//! Credential checks, one function per way the providers carry their key.
//!
//! The sandbox answers a missing credential with 401 and a wrong one with 403 (BackgroundCut,
//! whose documentation says 401 for both, answers 401 for both).

use axum::http::HeaderMap;

/// The outcome of a credential check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    Valid,
    Missing,
    Wrong,
}

impl Credential {
    /// The usual HTTP status for a rejected credential (`None` when it is valid).
    pub(crate) fn rejection(self) -> Option<(u16, &'static str)> {
        match self {
            Credential::Valid => None,
            Credential::Missing => Some((401, "missing API key")),
            Credential::Wrong => Some((403, "invalid API key")),
        }
    }
}

fn compare(given: &str, expected: &str) -> Credential {
    if given.trim().is_empty() {
        Credential::Missing
    } else if given.trim() == expected {
        Credential::Valid
    } else {
        Credential::Wrong
    }
}

/// A key sent as the whole value of header `name` (Topaz's `X-API-Key`).
pub(crate) fn header_key(headers: &HeaderMap, name: &str, expected: &str) -> Credential {
    match headers.get(name) {
        None => Credential::Missing,
        Some(value) => match value.to_str() {
            Ok(text) => compare(text, expected),
            Err(_) => Credential::Wrong,
        },
    }
}

/// A key in `Authorization: <scheme> <key>` for one of `schemes` (case-insensitive scheme).
/// Another scheme counts as a missing credential.
pub(crate) fn authorization(headers: &HeaderMap, schemes: &[&str], expected: &str) -> Credential {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Credential::Missing;
    };
    let Ok(text) = value.to_str() else {
        return Credential::Wrong;
    };
    let Some((scheme, key)) = text.trim().split_once(' ') else {
        return Credential::Missing;
    };
    if schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        compare(key, expected)
    } else {
        Credential::Missing
    }
}

/// A key in the `key` member of a JSON body (ModelsLab).
pub(crate) fn body_key(key: Option<&serde_json::Value>, expected: &str) -> Credential {
    match key {
        None | Some(serde_json::Value::Null) => Credential::Missing,
        Some(serde_json::Value::String(key)) => compare(key, expected),
        Some(_) => Credential::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn authorization_schemes() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            authorization(&headers, &["Bearer"], "k"),
            Credential::Missing
        );
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
        assert_eq!(authorization(&headers, &["Bearer"], "k"), Credential::Valid);
        assert_eq!(
            authorization(&headers, &["Token"], "k"),
            Credential::Missing
        );
        headers.insert("authorization", HeaderValue::from_static("bearer nope"));
        assert_eq!(authorization(&headers, &["Bearer"], "k"), Credential::Wrong);
    }

    #[test]
    fn body_keys() {
        let expected = "k";
        assert_eq!(
            body_key(serde_json::json!({}).get("key"), expected),
            Credential::Missing
        );
        assert_eq!(
            body_key(serde_json::json!({"key": ""}).get("key"), expected),
            Credential::Missing
        );
        assert_eq!(
            body_key(serde_json::json!({"key": "k"}).get("key"), expected),
            Credential::Valid
        );
        assert_eq!(
            body_key(serde_json::json!({"key": 5}).get("key"), expected),
            Credential::Wrong
        );
    }
}

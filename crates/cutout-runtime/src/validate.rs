//! Small checks the provider layers share, so that the same mistake gets the same message
//! everywhere.

use crate::Error;

/// An absolute `http://` or `https://` URL with a host, trimmed; otherwise an
/// [`Error::InvalidInput`] for `field` that shows the URL without its query (which may be a
/// credential) and says what is accepted.
pub fn http_url(field: &str, url: &str) -> Result<String, Error> {
    let trimmed = url.trim();
    let shown = display_url(trimmed);
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        Error::invalid(
            field,
            format!(
                "`{shown}` is not an absolute URL ({e}): pass a full http(s) URL such as \
                 https://example.com/path"
            ),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(
            field,
            format!(
                "`{shown}` has scheme `{}`: pass a full http(s) URL such as \
                 https://example.com/path",
                parsed.scheme()
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

pub use crate::fs::destination_free;

/// The URL without its query and fragment (presigned links carry their signature in the query).
/// To show a URL, use [`display_url`], which also drops `user:password@`.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A URL as it may be shown in messages, progress lines, `--json` output and `Debug`: without
/// its query and fragment (presigned links carry their signature there) and without userinfo
/// (`user:password@`). Works on text that does not parse as a URL too, so a malformed URL in an
/// error message is cleaned the same way.
pub fn display_url(url: &str) -> String {
    let base = without_query(url.trim());
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    // The authority ends at the first `/` (or `\`, which WHATWG parsers read as `/`); its
    // userinfo ends at the last `@` in it.
    let end = rest.find(['/', '\\']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// A parsed `url` as it may be kept in an error (reqwest errors hold a `Url`): without its
/// userinfo (`user:password@`), query string and fragment, which may hold secrets (presigned
/// signatures, tokens). A removed query shows as `?redacted`. The same rule as [`display_url`],
/// for a `Url` rather than text.
pub fn redact_url(url: &url::Url) -> url::Url {
    let mut clean = url.clone();
    // Both fail only for URLs that cannot have userinfo at all (`data:`, `mailto:`).
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_fragment(None);
    if clean.query().is_some() {
        clean.set_query(Some("redacted"));
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_userinfo_query_and_fragment() {
        for (url, shown) in [
            (
                "https://user:pa55@cdn.example.com/a/b.png?X-Amz-Signature=s#f",
                "https://cdn.example.com/a/b.png",
            ),
            ("http://u@127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://a:b@c@host.example/x@y", "https://host.example/x@y"),
            ("https://host.example/p?token=t", "https://host.example/p"),
            ("HTTPS://me:pw@Host.example\\x", "HTTPS://Host.example\\x"),
            ("not a url?secret", "not a url"),
        ] {
            assert_eq!(display_url(url), shown, "{url}");
        }
        let error = http_url("source_url", "https://me:hunter2@/x").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert_eq!(
            http_url("webhook", " https://hooks.example.com/x?token=1 ").unwrap(),
            "https://hooks.example.com/x?token=1"
        );
        let error = http_url("webhook", "ftp://files.example.com/x?token=secret").unwrap_err();
        assert!(error.to_string().contains("has scheme `ftp`"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
        let error = http_url("source_url", "/relative").unwrap_err();
        assert!(error.to_string().contains("not an absolute URL"), "{error}");
    }
}

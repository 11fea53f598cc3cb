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
/// (`user:password@`). A text rule, so that a malformed URL in an error message is cleaned the
/// same way, and so that spellings a URL parser accepts with fewer slashes
/// (`https:user:pw@host`, `https:/user:pw@host`) lose their userinfo too.
pub fn display_url(url: &str) -> String {
    let base = without_query(url.trim());
    let Some((scheme, rest)) = base.split_once(':') else {
        return base.to_owned();
    };
    let slashes = rest.len() - rest.trim_start_matches(['/', '\\']).len();
    if slashes < 2 && !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        // Not an authority-based URL (`data:`, `mailto:`, a Windows path): nothing to strip.
        return base.to_owned();
    }
    let rest = &rest[slashes..];
    // The authority ends at the first `/` (or `\`, which WHATWG parsers read as `/`); its
    // userinfo ends at the last `@` in it.
    let end = rest.find(['/', '\\']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// `text` with every `http(s)://` URL in it shown as [`display_url`] shows it: for free text that
/// may quote URLs, such as an answer body kept in an error or a value printed by `Debug`.
pub fn scrub_urls(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("http://") && !lower.contains("https://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        // A URL ends where JSON, Debug output or prose would end it.
        let end = tail
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '"' | '\'' | '<' | '>' | ',' | ')' | ']' | '}' | '\\')
            })
            .unwrap_or(tail.len());
        out.push_str(&display_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Where the next `http://` or `https://` starts, in any letter case.
fn find_url(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| {
        let tail = &bytes[i..];
        tail.len() >= 7
            && (tail[..7].eq_ignore_ascii_case(b"http://")
                || (tail.len() >= 8 && tail[..8].eq_ignore_ascii_case(b"https://")))
    })
}

/// Shows a value's `Debug` with every URL in it cleaned by [`scrub_urls`]. The generated types
/// print their fields through it, so logging a presigned download answer with `{:?}` does not
/// log its signature.
pub struct Redacted<'a, T: ?Sized>(pub &'a T);

impl<T: std::fmt::Debug + ?Sized> std::fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = if f.alternate() {
            format!("{:#?}", self.0)
        } else {
            format!("{:?}", self.0)
        };
        f.write_str(&scrub_urls(&text))
    }
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
            (
                "https:me:hunter2@img.example.com/a.jpg",
                "https://img.example.com/a.jpg",
            ),
            (
                "https:/me:hunter2@img.example.com/a.jpg",
                "https://img.example.com/a.jpg",
            ),
        ] {
            assert_eq!(display_url(url), shown, "{url}");
        }
        let error = http_url("source_url", "https://me:hunter2@/x").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn urls_inside_text_are_scrubbed() {
        let body = r#"{"download_url":"https://bucket.example/o.png?X-Amz-Signature=SECRET","n":1,
            "list":["HTTP://u:pw@cdn.example/a.png#frag", 'https://x.example/b?t=SECRET2']} see https://ok.example/p"#;
        let clean = scrub_urls(body);
        for secret in ["SECRET", "pw@", "frag", "u:"] {
            assert!(!clean.contains(secret), "{clean}");
        }
        assert!(
            clean.contains(r#""https://bucket.example/o.png","n":1"#),
            "{clean}"
        );
        assert!(clean.contains("https://ok.example/p"), "{clean}");
        assert!(matches!(
            scrub_urls("no links here"),
            std::borrow::Cow::Borrowed(_)
        ));

        #[derive(Debug)]
        #[allow(dead_code)]
        struct Answer {
            download_url: String,
            links: Vec<String>,
        }
        let answer = Answer {
            download_url: "https://b.example/o.png?X-Amz-Signature=SECRET".into(),
            links: vec!["https://user:hunter2@c.example/x".into()],
        };
        for shown in [
            format!("{:?}", Redacted(&answer)),
            format!("{:#?}", Redacted(&answer)),
        ] {
            assert!(
                !shown.contains("SECRET") && !shown.contains("hunter2"),
                "{shown}"
            );
            assert!(shown.contains("https://c.example/x"), "{shown}");
        }
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

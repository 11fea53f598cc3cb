//! The URLs of API calls: built from the base URL, parsed once per [`Context`], rather than
//! parsed whole from text on every call; path parameters percent-encoded as they are written.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS};

use crate::Context;

/// What a path parameter has percent-encoded: everything but what may stand in a path segment
/// as it is: the set progenitor's `encode_path` uses, so that URLs do not change, and `\`.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    // Not in progenitor's set: a URL parser reads `\` as `/` in http(s) paths, so an id holding
    // one would split into two segments.
    .add(b'\\');

/// The bytes written as they are in any path segment (a subset of what [`PATH_SEGMENT`] leaves
/// alone), as a table: one lookup per byte of an id.
static PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        plain[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    plain
};

/// The text of an API call's URL, as `format!` would write it, into a string allocated once
/// (`format!` starts from an empty string and grows it, copying, as the base URL, the path and
/// each parameter arrive). The generated operations call it as
/// `format_url(format_args!("{}/status/{}", client.baseurl, PathSegment(&id)))`.
pub fn format_url(text: fmt::Arguments<'_>) -> String {
    let mut url = String::with_capacity(192);
    // Writing into a `String` fails only if a `Display` implementation does, which `format!`
    // treats the same way.
    fmt::write(&mut url, text).expect("a Display implementation returned an error unexpectedly");
    url
}

/// A path parameter, percent-encoded as it is written into the URL's text. The generated
/// operations format `PathSegment(&id)` where progenitor wrote `encode_path(&id.to_string())`:
/// the same text, without the two strings made on the way.
#[derive(Debug)]
pub struct PathSegment<'a, T: ?Sized>(pub &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for PathSegment<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Percent-encodes what is written through it.
        struct Encoding<'a, 'b>(&'a mut fmt::Formatter<'b>);

        impl fmt::Write for Encoding<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                // Most parameters (ids) need no encoding at all: written as they are.
                if text.bytes().all(|b| PLAIN[usize::from(b)]) {
                    return self.0.write_str(text);
                }
                // Encoding is per byte, so text arriving in pieces encodes as if it came whole.
                for piece in percent_encoding::utf8_percent_encode(text, PATH_SEGMENT) {
                    self.0.write_str(piece)?;
                }
                Ok(())
            }
        }

        fmt::write(&mut Encoding(f), format_args!("{}", self.0))
    }
}

impl Context {
    /// The base URL the hooks pass, parsed on first use (`None` when `base_url` is not the text
    /// this context was first used with, or does not parse).
    pub(crate) fn parsed_base(&self, base_url: &str) -> Option<&reqwest::Url> {
        let (text, parsed) = self
            .parsed_base
            .get_or_init(|| (base_url.to_owned(), reqwest::Url::parse(base_url).ok()));
        if text == base_url {
            parsed.as_ref()
        } else {
            None
        }
    }

    /// The URL of an API call from its text, `base_url` followed by the operation's path (path
    /// parameters already percent-encoded), as every generated operation formats it. The result
    /// is the URL `reqwest::Url::parse(url)` gives; only the path is parsed, onto a copy of the
    /// parsed base URL. Parsing the whole text (scheme, host, port) again on every call cost
    /// more than the rest of a small call's own work.
    ///
    /// Text that does not start with the base URL as the parser writes it (say `HTTPS://Host`)
    /// is parsed whole. The error says why the text is not a URL.
    ///
    /// A path segment `.` or `..` (an id of `..`, say) is refused: the parser would resolve it,
    /// and the call, with the key, would go to another endpoint of the API than the one named.
    pub fn api_url(&self, base_url: &str, url: &str) -> Result<reqwest::Url, String> {
        // The generated operations write the base URL (checked, so without dot segments) then
        // the path: only that path is looked at.
        let dotted = match url.strip_prefix(base_url) {
            Some(path) => dot_segment_in(path.as_bytes()),
            None => has_dot_segment(url),
        };
        if dotted {
            return Err(
                "a path parameter is `.` or `..` (or `%2e`), which would send the call \
                 to another endpoint: check the id"
                    .to_owned(),
            );
        }
        match self
            .parsed_base(base_url)
            .and_then(|base| path_onto(base, url))
        {
            Some(parsed) => Ok(parsed),
            // The text is not repeated: it may hold a password from the base URL.
            None => reqwest::Url::parse(url).map_err(|error| {
                format!("the operation's URL is not valid ({error}): check the base URL")
            }),
        }
    }

    /// A request to `url` with no headers or body yet: what `reqwest::Client::request(method,
    /// url).build()` gives, made directly. The generated operations whose requests have only
    /// headers (every status poll) build them with this and `headers_mut().append`, as
    /// reqwest's builder would; the builder copies the request at each step and holds a
    /// reference to the client, and a small call felt both.
    ///
    /// A URL with a user name or a password still goes through reqwest's builder, which turns
    /// them into an `Authorization: Basic` header and takes them out of the URL.
    pub fn new_request(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
    ) -> reqwest::Result<reqwest::Request> {
        if url.username().is_empty() && url.password().is_none() {
            Ok(reqwest::Request::new(method, url))
        } else {
            self.http.request(method, url).build()
        }
    }
}

/// Whether the path of the URL text `url` has a segment that the URL parser reads as `.` or
/// `..` (`%2e` is a dot there, a backslash separates segments in http(s) URLs, tabs and
/// newlines are dropped before parsing, and spaces and control characters at the end).
fn has_dot_segment(url: &str) -> bool {
    // Byte scans (every call goes through here): the scheme's `://`, then the authority, which
    // ends at the path, or at a query or fragment when there is no path.
    let bytes = url.as_bytes();
    let after_scheme = match memchr::memchr(b':', bytes) {
        Some(at) if bytes[at + 1..].starts_with(b"//") => &bytes[at + 3..],
        _ => bytes,
    };
    let Some(path_start) = after_scheme
        .iter()
        .position(|b| matches!(b, b'/' | b'\\' | b'?' | b'#'))
        .filter(|&at| matches!(after_scheme[at], b'/' | b'\\'))
    else {
        return false;
    };
    dot_segment_in(&after_scheme[path_start..])
}

/// Whether `path` (a URL's path, perhaps followed by its query and fragment) has a segment the
/// URL parser reads as `.` or `..`.
fn dot_segment_in(path: &[u8]) -> bool {
    let path = match memchr::memchr2(b'?', b'#', path) {
        Some(end) => &path[..end],
        // The path ends the text: the parser trims spaces and control characters from the
        // text's end (`.. ` is `..`).
        None => {
            let kept = path
                .iter()
                .rposition(|&b| b > b' ')
                .map_or(0, |last| last + 1);
            &path[..kept]
        }
    };
    // Most paths (ids, names) have neither: nothing more to look at.
    if memchr::memchr2(b'.', b'%', path).is_none() {
        return false;
    }
    path.split(|&b| b == b'/' || b == b'\\').any(|segment| {
        let segment: Vec<u8> = segment
            .iter()
            .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'))
            .map(u8::to_ascii_lowercase)
            .collect();
        let segment = String::from_utf8_lossy(&segment).replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

/// `url` as a copy of `base` with only the path parsed, when the text starts with `base` as
/// written by the parser and the rest is a path.
fn path_onto(base: &reqwest::Url, url: &str) -> Option<reqwest::Url> {
    if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
        return None;
    }
    // Without a query or a fragment, the base's text is its origin then its path.
    let serialized = base.as_str();
    let origin = &serialized[..serialized.len() - base.path().len()];
    let path = url.strip_prefix(origin)?;
    // Only a path: a query or a fragment is left to the whole parse. (Not `base.join(path)`: a
    // rest such as `//host` or `/\host` would be read as another host there, not as a path.)
    // So is a text ending in a space or a control character, which the whole parse trims and
    // `set_path` would encode.
    if !path.starts_with('/')
        || memchr::memchr2(b'?', b'#', path.as_bytes()).is_some()
        || path.bytes().last().is_some_and(|b| b <= b' ')
    {
        return None;
    }
    let mut parsed = base.clone();
    parsed.set_path(path);
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use crate::config::tests::TOPAZ;
    use crate::{Context, RetryPolicy, Timeouts};

    fn context() -> Context {
        Context::new(
            &TOPAZ,
            None,
            RetryPolicy::default(),
            Timeouts::default(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn a_new_request_is_what_reqwests_builder_makes() {
        let context = context();
        let http = reqwest::Client::new();
        for (method, url) in [
            (
                reqwest::Method::GET,
                "https://api.example.com/image/v1/status/a-b",
            ),
            (reqwest::Method::DELETE, "http://127.0.0.1:9/x%20y"),
            // A user name and a password become a Basic header and leave the URL.
            (
                reqwest::Method::GET,
                "https://user:p%40ss@api.example.com/v1/x",
            ),
            (
                reqwest::Method::GET,
                "https://only-user@api.example.com/v1/x",
            ),
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            let made = context.new_request(method.clone(), url.clone()).unwrap();
            let built = http.request(method.clone(), url).build().unwrap();
            assert_eq!(made.method(), built.method());
            assert_eq!(made.url(), built.url());
            assert_eq!(made.headers(), built.headers());
            assert_eq!(made.version(), built.version());
            assert_eq!(made.timeout(), built.timeout());
            assert!(made.body().is_none() && built.body().is_none());
        }
        let with_user = context
            .new_request(
                reqwest::Method::GET,
                reqwest::Url::parse("https://user:p%40ss@api.example.com/v1/x").unwrap(),
            )
            .unwrap();
        assert_eq!(with_user.url().as_str(), "https://api.example.com/v1/x");
        assert!(with_user.headers()["authorization"].is_sensitive());
    }

    #[test]
    fn a_dot_segment_is_refused_before_it_moves_the_call() {
        let context = context();
        let base = "https://api.example.com/v2";
        // An id of `.` or `..` as the generated code encodes it (it leaves dots as they are).
        for id in [".", ".."] {
            let text = format!("{base}/artworks/{}", segment(id));
            assert!(context.api_url(base, &text).is_err(), "{text}");
        }
        // At the end of the text, spaces and control characters are trimmed away.
        for id in [".. ", "%2e%2e\u{c}", ". \u{1f}"] {
            let text = format!("{base}/artworks/{id}");
            assert!(context.api_url(base, &text).is_err(), "{text:?}");
        }
        // Text written by hand, in the spellings the parser also reads as dots.
        for id in [".", "..", "%2e", "%2E%2e", ".%2E", "%2e.", ".\t."] {
            for text in [
                format!("{base}/artworks/{id}"),
                format!("{base}/artworks/{id}/x?y=1"),
                format!("{base}\\artworks\\{id}"),
            ] {
                let error = context.api_url(base, &text).unwrap_err();
                assert!(error.contains("`..`"), "{text}: {error}");
            }
        }
        // Dots elsewhere are only dots; a query or a fragment is not a path.
        for fine in [
            format!("{base}/artworks/a.png"),
            format!("{base}/artworks/...%2e"),
            format!("{base}/artworks/x?next=../.."),
            format!("{base}/artworks/x#.."),
            // Inside the path a space is encoded, not trimmed: `..%20` is no dot segment.
            format!("{base}/artworks/.. ?q"),
            format!("{base}/artworks/{}", segment("%2e%2e")),
            "https://api.example.com".to_owned(),
            "https://api.example.com?a=/../".to_owned(),
        ] {
            assert!(context.api_url(base, &fine).is_ok(), "{fine}");
        }
    }

    /// Path parameters as the generated code writes them (progenitor's `encode_path`).
    fn segment(value: &str) -> String {
        progenitor_client::encode_path(value)
    }

    #[test]
    fn the_same_url_as_parsing_the_text() {
        let awkward = [
            "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11",
            "",
            "a.b",
            "...",
            "%2e%2e%2e",
            "a/b",
            "a\\b",
            "a b\t\n\r",
            "100%",
            "?x=1#frag",
            "ünïcødé ✂",
            "[::1]",
            "a;b=c,d",
            "\u{0}\u{7f}",
            "~!$&'()*+=:@",
        ];
        for base in [
            "https://api.topazlabs.com/image/v1",
            "https://api.topazlabs.com/image/v1/",
            "https://api.topazlabs.com",
            "http://127.0.0.1:40000/image/v1",
            "http://[::1]:8080/a/b",
            "https://bücher.example/v3",
            "HTTPS://API.TOPAZLABS.COM:443/Image/v1",
            "http://localhost:80/x",
        ] {
            // The parser writes these bases as they are given: only their paths are parsed.
            let written_as_parsed =
                !base.starts_with("HTTPS") && !base.contains(":80/") && base.is_ascii();
            for id in awkward {
                let context = context();
                let text = format!("{base}/status/{}", segment(id));
                let expected = reqwest::Url::parse(&text).unwrap();
                let built = context.api_url(base, &text).unwrap();
                assert_eq!(built, expected, "{text}");
                assert_eq!(built.as_str(), expected.as_str());
                let parsed_base = reqwest::Url::parse(base).unwrap();
                assert_eq!(
                    super::path_onto(&parsed_base, &text).is_some(),
                    written_as_parsed,
                    "{text}"
                );
            }
            // Text written by hand rather than by a generated operation: what looks like another
            // host stays a path, a query or a fragment is one, as when the whole text is parsed.
            for rest in [
                "/x ",
                "/x\u{0}",
                "/x\u{1f}",
                "/x\t",
                "//x/y",
                "/\\x/y",
                "/\t/x",
                "/a\tb\n",
                "/a/.x/b..",
                "/a?b=c",
                "/a#f",
                "/a?b#f",
                "/?",
                "/#",
            ] {
                let context = context();
                let text = format!("{base}{rest}");
                let expected = reqwest::Url::parse(&text).unwrap();
                assert_eq!(context.api_url(base, &text).unwrap(), expected, "{text}");
                assert_eq!(
                    context.api_url(base, &text).unwrap().as_str(),
                    expected.as_str()
                );
            }
        }
    }

    #[test]
    fn path_segments_are_encoded_as_progenitor_encodes_them() {
        let mut all_bytes = String::new();
        for c in (0u32..0x250)
            .chain([0x2702, 0x1F600])
            .filter_map(char::from_u32)
        {
            all_bytes.push(c);
        }
        for value in [
            "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11",
            "",
            "a/b?c#d e%f",
            "~!$&'()*+,;=:@[]\\^|",
            all_bytes.as_str(),
        ] {
            // progenitor's text, but for `\`, which stays in its segment here.
            assert_eq!(
                super::PathSegment(value).to_string(),
                segment(value).replace('\\', "%5C"),
                "{value:?}"
            );
        }
        // Any `Display`, as progenitor's `to_string()` took.
        assert_eq!(super::PathSegment(&-42i64).to_string(), "-42");
    }

    #[test]
    fn url_text_is_what_format_writes() {
        let base = "https://api.topazlabs.com/image/v1";
        let id = "a b/c";
        let long = "x".repeat(500);
        assert_eq!(
            super::format_url(format_args!("{}/status/{}", base, super::PathSegment(id))),
            format!("{}/status/{}", base, super::PathSegment(id))
        );
        assert_eq!(
            super::format_url(format_args!("{}/{}", base, long)),
            format!("{base}/{long}")
        );
    }

    #[test]
    fn text_under_another_base_is_parsed_whole() {
        let context = context();
        let base = "https://api.topazlabs.com/image/v1";
        assert!(context.parsed_base(base).is_some());
        // The context was first used with `base`: another base's text is parsed as it is.
        let other = "https://example.com/v2/status/x";
        assert_eq!(
            context
                .api_url("https://example.com/v2", other)
                .unwrap()
                .as_str(),
            other
        );
        assert_eq!(context.api_url(base, other).unwrap().as_str(), other);
    }

    #[test]
    fn text_that_is_not_a_url_is_an_error_without_the_text() {
        let context = context();
        let base = "https://user:hunter2@exa mple.com/v1";
        let error = context
            .api_url(base, &format!("{base}/status/x"))
            .unwrap_err();
        assert!(
            error.contains("the operation's URL is not valid"),
            "{error}"
        );
        assert!(error.contains("check the base URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

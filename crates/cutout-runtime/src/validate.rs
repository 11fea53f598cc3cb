//! Small checks the provider layers share, so that the same mistake gets the same message
//! everywhere.

use crate::Error;

/// An absolute `http://` or `https://` URL with a host, trimmed; otherwise an
/// [`Error::InvalidInput`] for `field` that shows the URL without its query (which may be a
/// credential) and says what is accepted.
pub fn http_url(field: &str, url: &str) -> Result<String, Error> {
    let trimmed = url.trim();
    let shown = without_query(trimmed);
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

/// Refuses an existing `path` unless `overwrite`, before any work is done: an
/// [`Error::InvalidInput`] for `destination` (nothing was sent yet). The write itself checks
/// again, so a file created meanwhile is not clobbered either.
pub fn destination_free(path: &std::path::Path, overwrite: bool) -> Result<(), Error> {
    if !overwrite && path.exists() {
        return Err(Error::invalid(
            "destination",
            format!(
                "`{}` already exists; choose another path or allow overwriting",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// The URL without its query and fragment: what may be shown in messages and `Debug` output
/// (presigned links carry their signature in the query).
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

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

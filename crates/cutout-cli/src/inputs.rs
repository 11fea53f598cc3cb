//! Inputs as given on the command line: local files or http(s) URLs.

use std::path::{Path, PathBuf};

use cutout::runtime::validate::display_url;
use cutout::runtime::{Error, ImageSource};

/// One input image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A local file.
    Path(PathBuf),
    /// An http(s) URL the provider fetches (or the client downloads first).
    Url(String),
}

impl Input {
    /// `http://…` and `https://…` are URLs; anything else is a path.
    pub fn parse(text: &str) -> Self {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Input::Url(text.trim().to_owned())
        } else {
            Input::Path(PathBuf::from(text))
        }
    }

    /// How the input is shown (progress lines, `--json`): the path as given, or the URL without
    /// its query (which may hold a token) and its `user:password@`.
    pub fn display(&self) -> String {
        match self {
            Input::Path(path) => path.display().to_string(),
            Input::Url(url) => display_url(url),
        }
    }

    /// The name outputs are derived from: the file's stem, or the stem of the URL's last path
    /// segment (`image` when there is none).
    pub fn stem(&self) -> String {
        let stem = match self {
            Input::Path(path) => path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned()),
            Input::Url(url) => display_url(url)
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(_, path)| path.rsplit('/').next())
                .filter(|name| !name.is_empty())
                .map(|name| match Path::new(name).file_stem() {
                    Some(stem) => stem.to_string_lossy().into_owned(),
                    None => name.to_owned(),
                }),
        };
        let stem = stem.unwrap_or_default();
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_control()
                    || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
                {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if safe.is_empty() || safe == "." || safe == ".." {
            "image".to_owned()
        } else {
            safe
        }
    }

    /// Checks a local input before anything is sent: it exists, is a file, and its header is an
    /// image. URLs are not checked here (the provider or the client fetches them).
    pub fn check_local(&self, field: &str) -> Result<(), Error> {
        let Input::Path(path) = self else {
            return Ok(());
        };
        if !path.exists() {
            return Err(Error::invalid(
                field,
                format!(
                    "`{}` does not exist: check the path (relative paths start from the current \
                     directory)",
                    path.display()
                ),
            ));
        }
        if !path.is_file() {
            return Err(Error::invalid(
                field,
                format!("`{}` is not a file: pass an image file", path.display()),
            ));
        }
        ImageSource::path(path).probe(field).map(|_| ())
    }

    /// The input as the runtime's image source.
    pub fn source(&self) -> ImageSource {
        match self {
            Input::Path(path) => ImageSource::Path(path.clone()),
            Input::Url(url) => ImageSource::Url(url.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart_and_named() {
        let url = Input::parse("https://cdn.example.com/a/b/photo.final.jpg?sig=secret");
        assert!(matches!(url, Input::Url(_)));
        assert_eq!(url.stem(), "photo.final");
        assert_eq!(url.display(), "https://cdn.example.com/a/b/photo.final.jpg");
        let with_userinfo = Input::parse("https://me:hunter2@cdn.example.com/p.jpg?t=1");
        assert_eq!(with_userinfo.display(), "https://cdn.example.com/p.jpg");
        assert_eq!(with_userinfo.stem(), "p");
        assert_eq!(Input::parse("HTTP://example.com/").stem(), "image");
        assert_eq!(Input::parse("https://example.com").stem(), "image");
        let path = Input::parse("dir/holiday photo.png");
        assert_eq!(path, Input::Path(PathBuf::from("dir/holiday photo.png")));
        assert_eq!(path.stem(), "holiday photo");
    }

    #[test]
    fn local_inputs_are_checked_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Input::Path(dir.path().join("nope.jpg"));
        assert!(
            missing
                .check_local("input")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        let err = Input::Path(text).check_local("input").unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
        assert!(err.to_string().contains("is not a JPEG, PNG"), "{err}");
        assert!(
            Input::Path(dir.path().to_path_buf())
                .check_local("input")
                .is_err()
        );
    }
}

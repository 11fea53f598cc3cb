//! `specs/<provider>/lock.toml`: where a provider's spec came from, and what generated its code.
//!
//! Two writers, each owning its part, so neither undoes the other:
//! - `cargo xtask spec update` records a new document: `[spec]` `sha256`, `retrieved`, and
//!   `source`/`fetch` when given a URL.
//! - `cargo xtask codegen` writes `[generator]` (the progenitor and typify versions, read from the
//!   root `Cargo.lock`) and, for a `hand-written` document only, `sha256` (and `retrieved` when the
//!   document changed). It never rewrites an `upstream` document's hash: a document that no longer
//!   matches its lock was edited by hand, which `--check` refuses and plain `codegen` warns about.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Provider;
use crate::error::{Error, Located, Result, io};

/// The lock's file name inside `specs/<provider>/`.
pub const LOCK_FILE: &str = "lock.toml";

/// Where a provider's lock lives, relative to the root (`specs/<provider>/lock.toml`).
pub fn path(provider: &str) -> PathBuf {
    Path::new("specs").join(provider).join(LOCK_FILE)
}

/// The comment every lock starts with (the rest of the file is rewritten by the xtask, so the
/// documentation of the format lives here rather than beside the fields).
const HEADER: &str = "\
# Where this provider's spec came from and what generated its code. Rewritten by the xtask: kind,
# document and source_note are set when a provider is added; the commands below write the rest.
#   [spec] kind       \"upstream\": the provider's own document, kept byte-for-byte (local changes go
#                     in the merge patch); \"hand-written\": we wrote it from the provider's documentation
#   [spec] document   the spec file (the same as `spec` in specs/providers.toml)
#   [spec] source     the URL it was taken from, as far as it is known; source_note says the rest
#   [spec] fetch      true when `source` serves the document itself (the spec-update workflow fetches it)
#   [spec] sha256, retrieved (YYYY-MM-DD)   of the document's bytes; written by
#                     `cargo xtask spec update <provider> --from <file> [--source URL] [--date D]`,
#                     and for a hand-written document by `cargo xtask codegen` when the file changes
#   [generator]       progenitor/typify versions from Cargo.lock; written by `cargo xtask codegen`
# `cargo xtask codegen --check` fails when this file does not match the document or Cargo.lock.
";

/// Whose document the spec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The provider's own machine-readable document, kept verbatim.
    Upstream,
    /// Written by us from the provider's documentation pages.
    HandWritten,
}

impl Kind {
    /// The name used in the lock and in `spec list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Upstream => "upstream",
            Kind::HandWritten => "hand-written",
        }
    }
}

/// The `[spec]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecLock {
    /// Whose document it is.
    pub kind: Kind,
    /// The spec file, relative to the root.
    pub document: PathBuf,
    /// The URL the document was taken from, as far as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What is known about the source beyond the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_note: Option<String>,
    /// Whether `source` serves the document itself, so it can be fetched unattended.
    #[serde(default)]
    pub fetch: bool,
    /// sha256 of the document's bytes (hex). Absent only in a new hand-written lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When the document was retrieved (or, hand-written, last written), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieved: Option<String>,
}

/// The `[generator]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// The progenitor version.
    pub progenitor: String,
    /// The typify version.
    pub typify: String,
}

/// A whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Where the document came from.
    pub spec: SpecLock,
    /// What generated the code (absent only in a new lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Generator>,
}

impl Lock {
    /// The file's text: the header comment, then the tables.
    pub fn render(&self) -> String {
        let body = toml::to_string(self).expect("a lock serializes to TOML");
        format!("{HEADER}\n{body}")
    }
}

/// Reads and validates `relative` (a lock file).
pub fn read(root: &Path, relative: &Path) -> Result<Lock> {
    let path = root.join(relative);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let lock: Lock = toml::from_str(&text).map_err(|e| Error::Config {
        path: relative.to_path_buf(),
        message: format!("not a valid lock: {}", e.to_string().trim_end()),
    })?;
    let mut problems = Vec::new();
    if let Some(sha) = &lock.spec.sha256
        && !(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        problems.push(located(
            relative,
            "/spec/sha256",
            format!("`{sha}` is not a sha256 (64 hex digits)"),
        ));
    }
    if let Some(date) = &lock.spec.retrieved
        && let Err(message) = check_date(date)
    {
        problems.push(located(relative, "/spec/retrieved", message));
    }
    if problems.is_empty() {
        Ok(lock)
    } else {
        Err(Error::Lock(problems))
    }
}

/// A `YYYY-MM-DD` calendar date, or why not.
pub fn check_date(date: &str) -> std::result::Result<(), String> {
    let well_formed = date.len() == 10
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok_and(|d| {
            d.format("%Y-%m-%d").to_string() == date // no missing leading zeros
        });
    if well_formed {
        Ok(())
    } else {
        Err(format!("`{date}` is not a date of the form YYYY-MM-DD"))
    }
}

/// A source URL fit to be recorded in a lock (and in the spec-update workflow's commit message),
/// or why not: `https` only, since the workflow fetches nothing else, and neither userinfo nor a
/// query or fragment, which can carry a token (a presigned link's signature is in its query).
pub fn check_source(source: &str) -> std::result::Result<(), String> {
    let url = url::Url::parse(source).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "must be an https URL (the spec-update workflow fetches over HTTPS only), not `{}:`",
            url.scheme()
        ));
    }
    // `https://@host/` parses with an empty user name: refuse any `@` before the host as well.
    let authority = source.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    });
    if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
        return Err(
            "must not carry a user name or password: the lock and the workflow's commit message would show it"
                .to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "must not have a query or fragment (`?…`, `#…`): it can carry a token, and the lock would record it; give the document's address without it"
                .to_owned(),
        );
    }
    Ok(())
}

/// A retrieval date that is not in the future (a day of slack for time zones), or why not.
pub fn check_not_future(date: &str) -> std::result::Result<(), String> {
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    // Both are YYYY-MM-DD, so text order is date order.
    if date > tomorrow.as_str() {
        Err(format!(
            "`{date}` is in the future: give the date the document was retrieved"
        ))
    } else {
        Ok(())
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Hex sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn located(file: &Path, pointer: &str, message: String) -> Located {
    Located {
        file: file.to_path_buf(),
        location: pointer.to_owned(),
        message,
    }
}

/// The progenitor and typify versions in the root's `Cargo.lock`: what actually generated the
/// code (the xtask is built from that lock).
pub fn generator_versions(root: &Path) -> Result<Generator> {
    let relative = Path::new("Cargo.lock");
    let path = root.join(relative);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let config = |message: String| Error::Config {
        path: relative.to_path_buf(),
        message,
    };
    let value: toml::Table = toml::from_str(&text).map_err(|e| config(e.to_string()))?;
    let packages = value
        .get("package")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| config("no [[package]] entries".to_owned()))?;
    let version = |name: &str| -> Result<String> {
        let versions: Vec<&str> = packages
            .iter()
            .filter(|p| p.get("name").and_then(toml::Value::as_str) == Some(name))
            .filter_map(|p| p.get("version").and_then(toml::Value::as_str))
            .collect();
        match versions.as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => Err(config(format!(
                "no `{name}` package: the generator versions recorded in the spec locks are read from here"
            ))),
            many => Err(config(format!(
                "`{name}` appears in {} versions ({}); the spec locks need one generator version",
                many.len(),
                many.join(", ")
            ))),
        }
    };
    Ok(Generator {
        progenitor: version("progenitor")?,
        typify: version("typify")?,
    })
}

/// What `codegen` makes of one provider's lock.
#[derive(Debug)]
pub struct Refreshed {
    /// The lock's path and the text codegen would write.
    pub file: (PathBuf, String),
    /// What is out of date in the lock on disk (`--check` fails on these).
    pub problems: Vec<Located>,
    /// What plain `codegen` generates anyway but the user should know.
    pub warnings: Vec<String>,
}

/// The lock configured for `provider` (`None` when it has none), checked against the provider
/// table; returned with its path relative to the root.
pub fn load_for(root: &Path, provider: &Provider) -> Result<Option<(PathBuf, Lock)>> {
    let Some(relative) = &provider.lock else {
        return Ok(None);
    };
    if !root.join(relative).exists() {
        return Err(Error::Lock(vec![located(
            relative,
            "",
            format!(
                "missing. For the provider's own document run `cargo xtask spec update {name} --from {doc} --source <URL>`; \
                 for a hand-written one write `[spec]` with `kind = \"hand-written\"` and `document = \"{doc}\"`, then run `cargo xtask codegen {name}`",
                name = provider.name,
                doc = provider.spec.display()
            ),
        )]));
    }
    let lock = read(root, relative)?;
    if lock.spec.document != provider.spec {
        return Err(Error::Lock(vec![located(
            relative,
            "/spec/document",
            format!(
                "`{}`, but specs/providers.toml says the spec is `{}`; make them the same",
                lock.spec.document.display(),
                provider.spec.display()
            ),
        )]));
    }
    Ok(Some((relative.clone(), lock)))
}

/// Compares a provider's lock with its document (`document`: the bytes codegen generates from)
/// and the generator versions, and returns the lock as codegen writes it.
pub fn refresh(
    relative: &Path,
    provider: &Provider,
    old: &Lock,
    document: &[u8],
    generator: &Generator,
) -> Refreshed {
    let mut new = old.clone();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let actual = sha256(document);
    match old.spec.kind {
        Kind::Upstream => match &old.spec.sha256 {
            Some(recorded) if *recorded == actual => {}
            recorded => {
                let message = format!(
                    "{doc} (sha256 {actual}) is not the upstream document recorded here (sha256 {recorded}). \
                     The upstream document is kept verbatim: put local changes in {patch}, \
                     or record a new upstream with `cargo xtask spec update {name} --from <FILE> --source <URL>`",
                    doc = provider.spec.display(),
                    recorded = recorded.as_deref().unwrap_or("none"),
                    patch = provider.patch.as_ref().map_or(
                        "a merge patch (`patch` in specs/providers.toml)".to_owned(),
                        |p| p.display().to_string()
                    ),
                    name = provider.name,
                );
                warnings.push(format!(
                    "warning: {}: /spec/sha256: {message}. Generating from the edited document anyway; `codegen --check` will fail",
                    relative.display()
                ));
                problems.push(located(relative, "/spec/sha256", message));
            }
        },
        Kind::HandWritten => {
            if old.spec.sha256.as_deref() != Some(actual.as_str()) {
                problems.push(located(
                    relative,
                    "/spec/sha256",
                    format!(
                        "does not match {} (sha256 {actual}); run `cargo xtask codegen {}` and commit the lock",
                        provider.spec.display(),
                        provider.name
                    ),
                ));
                new.spec.sha256 = Some(actual);
                new.spec.retrieved = Some(today());
            }
        }
    }
    match &old.generator {
        Some(recorded) if recorded == generator => {}
        recorded => {
            let was = recorded.as_ref().map_or("none recorded".to_owned(), |g| {
                format!("progenitor {}, typify {}", g.progenitor, g.typify)
            });
            problems.push(located(
                relative,
                "/generator",
                format!(
                    "{was}, but Cargo.lock has progenitor {}, typify {}: the generated code is from another generator; \
                     run `cargo xtask codegen {}` and commit the result",
                    generator.progenitor, generator.typify, provider.name
                ),
            ));
            new.generator = Some(generator.clone());
        }
    }
    Refreshed {
        file: (relative.to_path_buf(), new.render()),
        problems,
        warnings,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_source_is_https_without_userinfo_query_or_fragment() {
        assert_eq!(check_source("https://example.com/openapi.json"), Ok(()));
        for (bad, says) in [
            ("http://example.com/o.json", "https"),
            ("ftp://example.com/o.json", "https"),
            (
                "https://user:s3cret@example.com/o.json",
                "user name or password",
            ),
            ("https://example.com/o.json?token=abc", "query"),
            ("https://example.com/o.json#part", "query or fragment"),
            ("not a url", "not a URL"),
        ] {
            let message = check_source(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
            assert!(
                !message.contains("s3cret") && !message.contains("abc"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_retrieval_date_is_not_in_the_future() {
        assert_eq!(check_not_future(&today()), Ok(()));
        assert_eq!(check_not_future("2026-01-01"), Ok(()));
        assert!(
            check_not_future("2999-01-01")
                .unwrap_err()
                .contains("future")
        );
    }
    use super::*;

    #[test]
    fn dates_must_be_real_and_zero_padded() {
        assert!(check_date("2026-11-21").is_ok());
        assert!(check_date("2024-02-29").is_ok());
        for bad in [
            "2026-2-03",
            "2026-02-30",
            "2025-02-29",
            "21-11-2026",
            "2026-11-21T00:00",
            "",
        ] {
            assert_eq!(
                check_date(bad),
                Err(format!("`{bad}` is not a date of the form YYYY-MM-DD")),
                "{bad}"
            );
        }
        assert!(check_date(&today()).is_ok());
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_rendered_lock_reads_back_and_a_malformed_one_is_located() {
        let lock = Lock {
            spec: SpecLock {
                kind: Kind::HandWritten,
                document: PathBuf::from("specs/x/openapi.yaml"),
                source: None,
                source_note: Some("Written from the docs.".to_owned()),
                fetch: false,
                sha256: Some(sha256(b"x")),
                retrieved: Some("2026-11-21".to_owned()),
            },
            generator: Some(Generator {
                progenitor: "0.15.1".to_owned(),
                typify: "0.8.0".to_owned(),
            }),
        };
        let dir = tempfile::tempdir().unwrap();
        let relative = Path::new("lock.toml");
        std::fs::write(dir.path().join(relative), lock.render()).unwrap();
        assert_eq!(read(dir.path(), relative).unwrap(), lock);
        assert!(
            lock.render()
                .starts_with("# Where this provider's spec came from")
        );

        let broken = lock
            .render()
            .replace(&sha256(b"x"), "abc")
            .replace("2026-11-21", "yesterday");
        std::fs::write(dir.path().join(relative), broken).unwrap();
        let err = read(dir.path(), relative).unwrap_err().to_string();
        assert!(
            err.contains("lock.toml: /spec/sha256: `abc` is not a sha256 (64 hex digits)"),
            "{err}"
        );
        assert!(
            err.contains("lock.toml: /spec/retrieved: `yesterday` is not a date"),
            "{err}"
        );
    }
}

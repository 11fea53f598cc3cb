//! `cargo xtask spec update` and `spec list`: recording a new spec document and its provenance.
//!
//! An update is computed entirely in memory (the new document parsed, the merge patch checked
//! against it, the provider regenerated through [`crate::plan`], the lock rewritten) and written
//! only when all of it succeeded; if a write fails midway, the files already replaced are put back.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Located, Result, io};
use crate::lock::{self, Kind, Lock, SpecLock};
use crate::{Replacement, config, output, spec};

/// What `spec update` is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The provider (a table of `specs/providers.toml`).
    pub provider: String,
    /// The new document, copied byte for byte.
    pub from: PathBuf,
    /// Where it was downloaded from (recorded as `source`, with `fetch = true`).
    pub source: Option<String>,
    /// The retrieval date, `YYYY-MM-DD` (default: today, UTC).
    pub date: Option<String>,
}

/// What `spec update` did.
#[derive(Debug)]
pub struct Updated {
    /// The provider.
    pub provider: String,
    /// The document file that was replaced.
    pub document: PathBuf,
    /// The sha256 recorded before, if any.
    pub old_sha256: Option<String>,
    /// The new document's sha256.
    pub new_sha256: String,
    /// Files written, relative to the root (empty when the document was already recorded).
    pub written: Vec<PathBuf>,
}

/// Replaces `request.provider`'s spec document with `request.from`, records it in the lock and
/// regenerates the provider. Nothing is written unless everything succeeded.
pub fn update(root: &Path, request: &Request) -> Result<Updated> {
    let provider =
        config::select(config::load(root)?, std::slice::from_ref(&request.provider))?.remove(0);
    let Some(lock_path) = provider.lock.clone() else {
        return Err(Error::Config {
            path: PathBuf::from(config::CONFIG_PATH),
            message: format!(
                "providers.{name} has no `lock`; add `lock = \"{}\"` to record where its spec comes from",
                lock::path(&provider.name).display(),
                name = provider.name
            ),
        });
    };
    let date = match &request.date {
        Some(date) => {
            lock::check_date(date)
                .and_then(|()| lock::check_not_future(date))
                .map_err(|message| Error::Config {
                    path: PathBuf::from("--date"),
                    message,
                })?;
            date.clone()
        }
        None => lock::today(),
    };
    if let Some(source) = &request.source {
        lock::check_source(source).map_err(|message| Error::Config {
            path: PathBuf::from("--source"),
            message,
        })?;
    }

    // The new document, checked as what it will become (its format is the spec file's).
    let bytes = std::fs::read(&request.from).map_err(io(&request.from))?;
    let at_source = |problems: Vec<Located>| {
        Error::Spec(
            problems
                .into_iter()
                .map(|p| Located {
                    file: request.from.clone(),
                    ..p
                })
                .collect(),
        )
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        at_source(vec![Located {
            file: PathBuf::new(),
            location: format!("byte {}", e.valid_up_to()),
            message: "not UTF-8 text".to_owned(),
        }])
    })?;
    let value = spec::parse(&provider.spec, text).map_err(|e| match e {
        Error::Spec(problems) => at_source(problems),
        other => other,
    })?;

    if let Some(patch_path) = &provider.patch {
        let patch = spec::load(root, patch_path)?;
        // An old document that no longer parses has nothing to compare with.
        let old = spec::load(root, &provider.spec).ok().map(|d| d.value);
        let mut problems = Vec::new();
        stale_merges(
            &patch.value,
            old.as_ref(),
            Some(&value),
            String::new(),
            patch_path,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(Error::Spec(problems));
        }
    }

    let old_lock = if root.join(&lock_path).exists() {
        lock::load_for(root, &provider)?.map(|(_, lock)| lock)
    } else {
        None
    };
    let new_sha256 = lock::sha256(&bytes);
    let old_sha256 = old_lock.as_ref().and_then(|l| l.spec.sha256.clone());
    let mut new_lock = old_lock.clone().unwrap_or_else(|| Lock {
        spec: SpecLock {
            kind: Kind::Upstream,
            document: provider.spec.clone(),
            source: None,
            source_note: None,
            fetch: false,
            sha256: None,
            retrieved: None,
        },
        generator: None,
    });
    // The same bytes again keep their date, so a scheduled run that finds nothing new changes nothing.
    if old_sha256.as_deref() != Some(new_sha256.as_str()) {
        new_lock.spec.sha256 = Some(new_sha256.clone());
        new_lock.spec.retrieved = Some(date);
    }
    if let Some(source) = &request.source
        && new_lock.spec.source.as_deref() != Some(source.as_str())
    {
        new_lock.spec.source = Some(source.clone());
        // The note described the old source.
        new_lock.spec.source_note = None;
    }
    if request.source.is_some() {
        new_lock.spec.fetch = true;
    }

    let replacement = Replacement {
        provider: provider.name.clone(),
        bytes: bytes.clone(),
        document: spec::Document {
            file: request.from.clone(),
            value,
        },
        lock: new_lock,
    };
    let plan = crate::plan(root, std::slice::from_ref(&provider), Some(&replacement))?;
    let mut files = vec![(provider.spec.clone(), text.to_owned())];
    files.extend(plan.files);
    let written = write_or_restore(root, &files)?;
    Ok(Updated {
        provider: provider.name,
        document: provider.spec,
        old_sha256,
        new_sha256,
        written,
    })
}

/// Every object of the merge patch that merges into an object of the old upstream document which
/// the new one no longer has: merged anyway, it would create half an object silently.
fn stale_merges(
    patch: &Value,
    old: Option<&Value>,
    new: Option<&Value>,
    pointer: String,
    patch_file: &Path,
    problems: &mut Vec<Located>,
) {
    let Value::Object(members) = patch else {
        return;
    };
    for (key, child) in members {
        if !child.is_object() {
            continue;
        }
        let here = format!("{pointer}/{}", spec::escape(key));
        let old_child = old.and_then(|o| o.get(key)).filter(|v| v.is_object());
        let new_child = new.and_then(|n| n.get(key)).filter(|v| v.is_object());
        match (old_child, new_child) {
            // The patch adds this object itself: nothing upstream to go stale.
            (None, _) => {}
            (Some(_), None) => problems.push(Located {
                file: patch_file.to_path_buf(),
                location: here,
                message: "the new upstream document no longer has this object; \
                          the patch would create a partial one. Update the patch for the new document"
                    .to_owned(),
            }),
            (Some(_), Some(_)) => {
                stale_merges(child, old_child, new_child, here, patch_file, problems)
            }
        }
    }
}

/// Writes `files`; if one write fails, puts back what the earlier ones replaced.
fn write_or_restore(root: &Path, files: &[(PathBuf, String)]) -> Result<Vec<PathBuf>> {
    let before: Vec<(PathBuf, Option<Vec<u8>>)> = files
        .iter()
        .map(|(path, _)| (path.clone(), std::fs::read(root.join(path)).ok()))
        .collect();
    let mut written = Vec::new();
    for file in files {
        match output::write_all(root, std::slice::from_ref(file)) {
            Ok(mut done) => written.append(&mut done),
            Err(error) => {
                for path in &written {
                    let full = root.join(path);
                    match before
                        .iter()
                        .find(|(p, _)| p == path)
                        .and_then(|(_, b)| b.as_ref())
                    {
                        Some(bytes) => {
                            let _ = std::fs::write(&full, bytes);
                        }
                        None => {
                            let _ = std::fs::remove_file(&full);
                        }
                    }
                }
                return Err(error);
            }
        }
    }
    Ok(written)
}

/// One provider's provenance, as `spec list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The provider.
    pub provider: String,
    /// `upstream` or `hand-written`; `None` when the provider has no lock.
    pub kind: Option<&'static str>,
    /// The spec file.
    pub document: PathBuf,
    /// The lock file, if configured.
    pub lock: Option<PathBuf>,
    /// Where the document came from, as far as known.
    pub source: Option<String>,
    /// What is known about the source beyond the URL.
    pub source_note: Option<String>,
    /// Whether `source` can be fetched unattended: an upstream document served as itself.
    pub fetchable: bool,
    /// The recorded sha256.
    pub sha256: Option<String>,
    /// The recorded retrieval date.
    pub retrieved: Option<String>,
}

/// Every configured provider's provenance, in table order.
pub fn list(root: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for provider in config::load(root)? {
        let lock = lock::load_for(root, &provider)?;
        let spec = lock.as_ref().map(|(_, l)| &l.spec);
        entries.push(Entry {
            kind: spec.map(|s| s.kind.as_str()),
            document: provider.spec.clone(),
            lock: lock.as_ref().map(|(p, _)| p.clone()),
            source: spec.and_then(|s| s.source.clone()),
            source_note: spec.and_then(|s| s.source_note.clone()),
            fetchable: spec
                .is_some_and(|s| s.kind == Kind::Upstream && s.fetch && s.source.is_some()),
            sha256: spec.and_then(|s| s.sha256.clone()),
            retrieved: spec.and_then(|s| s.retrieved.clone()),
            provider: provider.name,
        });
    }
    Ok(entries)
}

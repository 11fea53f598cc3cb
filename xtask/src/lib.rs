//! The codegen behind `cargo xtask codegen`.
//!
//! For each provider in `specs/providers.toml`: load its spec (and merge patch), check every
//! `$ref`, lower OpenAPI 3.1 to 3.0.3, decide which enums are read tolerantly ([`tolerant`]), take the `multipart/form-data` operations out and generate
//! them here, let progenitor generate the rest, mark the generated types `#[non_exhaustive]` so
//! additive spec changes don't break users ([`attributes`]), format with prettyplease and write
//! `crates/<provider>/src/generated.rs` and `crates/<provider>/openapi.effective.json`.
//! Nothing is written unless every provider generated cleanly.

pub mod api_diff;
pub mod attributes;
pub mod bench;
pub mod bump;
pub mod config;
pub mod error;
pub mod generate;
pub mod lock;
pub mod lower;
pub mod multipart;
pub mod output;
pub mod redact;
pub mod requests;
pub mod spec;
pub mod spec_update;
pub mod tolerant;

use std::path::{Path, PathBuf};

pub use error::{Error, Located, Result};

/// What `codegen` did.
#[derive(Debug, Default)]
pub struct Report {
    /// Providers generated.
    pub providers: Vec<String>,
    /// Files rewritten (empty with `--check` or when nothing changed).
    pub written: Vec<PathBuf>,
    /// Lines of generated Rust, per provider.
    pub lines: Vec<(String, usize)>,
    /// What was generated anyway but needs attention (an upstream document edited by hand).
    pub warnings: Vec<String>,
}

/// Generates the named providers (all when `names` is empty). With `check`, writes nothing and
/// fails with [`Error::Lock`] when a spec lock is out of date, or [`Error::Stale`] and unified
/// diffs when anything on disk differs.
pub fn codegen(root: &Path, names: &[String], check: bool) -> Result<Report> {
    let providers = config::select(config::load(root)?, names)?;
    let plan = plan(root, &providers, None)?;
    let mut report = plan.report();
    if check {
        if !plan.lock_problems.is_empty() {
            return Err(Error::Lock(plan.lock_problems));
        }
        let diffs = output::diffs(root, &plan.files);
        if !diffs.is_empty() {
            return Err(Error::Stale { diffs });
        }
    } else {
        report.written = output::write_all(root, &plan.files)?;
    }
    Ok(report)
}

/// A document that stands in for a provider's spec file (`cargo xtask spec update`).
#[derive(Debug)]
pub struct Replacement {
    /// The provider whose document it replaces.
    pub provider: String,
    /// The document's bytes, exactly as they will be written.
    pub bytes: Vec<u8>,
    /// Its parsed content; `file` names where it came from, for messages.
    pub document: spec::Document,
    /// The provider's lock with the new document recorded in `[spec]`.
    pub lock: lock::Lock,
}

/// Everything codegen would write, computed in memory.
#[derive(Debug)]
pub struct Plan {
    /// Providers generated.
    pub providers: Vec<String>,
    /// `(path, content)` of every generated file and lock, relative to the root.
    pub files: Vec<(PathBuf, String)>,
    /// Lines of generated Rust, per provider.
    pub lines: Vec<(String, usize)>,
    /// What is out of date in the locks on disk.
    pub lock_problems: Vec<Located>,
    /// Warnings for plain `codegen`.
    pub warnings: Vec<String>,
}

impl Plan {
    fn report(&self) -> Report {
        Report {
            providers: self.providers.clone(),
            written: Vec::new(),
            lines: self.lines.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// Generates `providers` in memory: the code, the effective specs and the refreshed locks. The one
/// code path behind `codegen` and `spec update`.
pub fn plan(
    root: &Path,
    providers: &[config::Provider],
    replacement: Option<&Replacement>,
) -> Result<Plan> {
    let generator = if providers.iter().any(|p| p.lock.is_some()) {
        Some(lock::generator_versions(root)?)
    } else {
        None
    };
    let mut plan = Plan {
        providers: Vec::new(),
        files: Vec::new(),
        lines: Vec::new(),
        lock_problems: Vec::new(),
        warnings: Vec::new(),
    };
    for provider in providers {
        let replaced = replacement.filter(|r| r.provider == provider.name);
        let (bytes, document) = match replaced {
            Some(r) => (r.bytes.clone(), r.document.clone()),
            None => {
                let path = root.join(&provider.spec);
                let bytes = std::fs::read(&path).map_err(error::io(&path))?;
                let text = std::str::from_utf8(&bytes).map_err(|e| {
                    error::io(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                })?;
                let value = spec::parse(&provider.spec, text)?;
                let document = spec::Document {
                    file: provider.spec.clone(),
                    value,
                };
                (bytes, document)
            }
        };
        let lock = match replaced {
            Some(r) => provider.lock.clone().map(|path| (path, r.lock.clone())),
            None => lock::load_for(root, provider)?,
        };
        let output = generate::generate_from(root, provider, document)?;
        let rust = output
            .files
            .iter()
            .find(|(p, _)| p.extension().is_some_and(|e| e == "rs"));
        plan.lines.push((
            output.provider.clone(),
            rust.map_or(0, |(_, c)| c.lines().count()),
        ));
        plan.providers.push(output.provider.clone());
        plan.files.extend(output.files);
        if let (Some((path, old)), Some(generator)) = (&lock, &generator) {
            let refreshed = lock::refresh(path, provider, old, &bytes, generator);
            plan.files.push(refreshed.file);
            plan.lock_problems.extend(refreshed.problems);
            plan.warnings.extend(refreshed.warnings);
        }
    }
    Ok(plan)
}

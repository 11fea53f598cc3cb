//! The codegen behind `cargo xtask codegen`.
//!
//! For each provider in `specs/providers.toml`: load its spec (and merge patch), check every
//! `$ref`, lower OpenAPI 3.1 to 3.0.3, decide which enums are read tolerantly ([`tolerant`]), take the `multipart/form-data` operations out and generate
//! them here, let progenitor generate the rest, mark the generated types `#[non_exhaustive]` so
//! additive spec changes don't break users ([`attributes`]), format with prettyplease and write
//! `crates/<provider>/src/generated.rs` and `crates/<provider>/openapi.effective.json`.
//! Nothing is written unless every provider generated cleanly.

pub mod attributes;
pub mod config;
pub mod error;
pub mod generate;
pub mod lower;
pub mod multipart;
pub mod output;
pub mod redact;
pub mod spec;
pub mod tolerant;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};

/// What `codegen` did.
#[derive(Debug, Default)]
pub struct Report {
    /// Providers generated.
    pub providers: Vec<String>,
    /// Files rewritten (empty with `--check` or when nothing changed).
    pub written: Vec<PathBuf>,
    /// Lines of generated Rust, per provider.
    pub lines: Vec<(String, usize)>,
}

/// Generates the named providers (all when `names` is empty). With `check`, writes nothing and
/// fails with [`Error::Stale`] and unified diffs when anything on disk differs.
pub fn codegen(root: &Path, names: &[String], check: bool) -> Result<Report> {
    let providers = config::select(config::load(root)?, names)?;
    let mut outputs = Vec::new();
    for provider in &providers {
        outputs.push(generate::generate(root, provider)?);
    }
    let files: Vec<(PathBuf, String)> = outputs
        .iter()
        .flat_map(|o| o.files.iter().cloned())
        .collect();
    let lines = outputs
        .iter()
        .map(|o| {
            let rust = o
                .files
                .iter()
                .find(|(p, _)| p.extension().is_some_and(|e| e == "rs"));
            (
                o.provider.clone(),
                rust.map_or(0, |(_, c)| c.lines().count()),
            )
        })
        .collect();
    let mut report = Report {
        providers: outputs.iter().map(|o| o.provider.clone()).collect(),
        written: Vec::new(),
        lines,
    };
    if check {
        let diffs = output::diffs(root, &files);
        if !diffs.is_empty() {
            return Err(Error::Stale { diffs });
        }
    } else {
        report.written = output::write_all(root, &files)?;
    }
    Ok(report)
}

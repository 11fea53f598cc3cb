//! `cargo xtask api-diff`: what changed in each provider's effective spec since a git revision,
//! classified from the point of view of the generated crate's users (its semver).
//!
//! OLD is the `openapi.effective.json` committed at the revision, NEW is the effective spec the
//! working tree produces now ([`crate::generate::effective_spec`], exactly what codegen uses), so
//! a spec update that was not regenerated yet still diffs correctly. The comparison itself is
//! Oxide's `drift`, extended where it cannot tell ([`classify`]).

pub mod classify;
pub mod providers;
pub mod report;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use serde_json::Value;

use crate::config::{self, Provider};
use crate::generate::{self, EFFECTIVE_SPEC};

/// How a change affects code written against the generated crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Descriptions, summaries, examples, titles: only the docs change.
    Documentation,
    /// New things users may start using; nothing that compiled stops compiling.
    Additive,
    /// Code written against the old crate may stop compiling or behave differently.
    Breaking,
}

impl Class {
    /// The word used in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Documentation => "documentation",
            Class::Additive => "additive",
            Class::Breaking => "breaking",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Its class.
    pub class: Class,
    /// JSON pointer into the effective spec (the new one; the old one for what was removed),
    /// as a URI fragment: `#/components/schemas/AsyncResponse/properties/eta`.
    pub path: String,
    /// The operation ids the change reaches (sorted; empty when it reaches none).
    pub operations: Vec<String>,
    /// What changed, in words.
    pub message: String,
}

/// The version move a provider crate needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bump {
    /// The crate's version at the base revision (`None`: the crate is new).
    pub from: Option<String>,
    /// The version it needs.
    pub to: String,
    /// Why, in words.
    pub reason: String,
}

/// What changed for one provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderDiff {
    /// Provider (and crate) name.
    pub provider: String,
    /// The revision compared against, as given.
    pub base: String,
    /// The commit it named when compared (full hash).
    pub base_commit: String,
    /// The provider had no effective spec at the base revision.
    #[serde(skip)]
    pub new_crate: bool,
    /// Every change, breaking first.
    pub changes: Vec<Change>,
    /// With `--bump`: the version it needs (`None` when nothing changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bump: Option<Bump>,
    /// With `--bump`: the crate directory, for `--write`.
    #[serde(skip)]
    pub crate_dir: PathBuf,
    /// The crate directory at the base revision (its `crate` in that revision's
    /// `specs/providers.toml`; it may have moved since), `None` for a new provider.
    #[serde(skip)]
    pub base_crate_dir: Option<PathBuf>,
    /// The provider's table is gone from `specs/providers.toml`: its crate is no longer
    /// generated (nothing to bump or write).
    #[serde(skip)]
    pub removed: bool,
}

impl ProviderDiff {
    /// The most severe class of its changes (`None`: nothing changed).
    pub fn worst(&self) -> Option<Class> {
        self.changes.iter().map(|c| c.class).max()
    }

    /// `HEAD (e6bc3b0)`: the revision as given and the commit it named.
    pub fn base_label(&self) -> String {
        let short: String = self.base_commit.chars().take(7).collect();
        if self.base == self.base_commit || self.base == short {
            short
        } else {
            format!("{} ({short})", self.base)
        }
    }

    /// How many changes of `class`.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }
}

/// Why `api-diff` could not answer (exit code 2).
#[derive(Debug)]
pub enum Error {
    /// Loading the configuration or building the working tree's effective spec failed.
    Xtask(crate::Error),
    /// A git command failed (unknown revision, not a repository).
    Git {
        /// The git arguments.
        command: String,
        /// What git said.
        message: String,
    },
    /// A file at the base revision is not what it should be.
    Base {
        /// `REV:path`.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A crate version could not be read or moved.
    Version {
        /// The manifest.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Xtask(e) => write!(f, "{e}"),
            Error::Git { command, message } => write!(f, "`git {command}` failed: {message}"),
            Error::Base { file, message } => write!(f, "{file}: {message}"),
            Error::Version { file, message } => write!(f, "{}: {message}", file.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Xtask(e)
    }
}

/// Runs `git -C root args…`, returning stdout.
fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| Error::Git {
            command: args.join(" "),
            message: format!("could not run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(Error::Git {
            command: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(output.stdout)
}

/// Checks that `rev` names a commit, with a clear message when it does not, and returns that
/// commit's full hash (reports name it: `HEAD` moves).
pub fn check_revision(root: &Path, rev: &str) -> Result<String, Error> {
    if rev.starts_with('-') {
        return Err(Error::Git {
            command: format!("rev-parse {rev}"),
            message: "a revision cannot start with `-`".into(),
        });
    }
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
    .map_err(|e| Error::Git {
        command: format!("rev-parse --verify {rev}"),
        message: match e {
            // `--quiet`: git says nothing when the repository is fine but the name is unknown.
            Error::Git { message, .. } if !message.is_empty() => message,
            _ => format!(
                "`{rev}` is not a commit of the repository at {}",
                root.display()
            ),
        },
    })
}

/// The text of `path` (relative to the root, `/`-separated) at `rev`, `None` when the file does
/// not exist there. The revision must have been checked with [`check_revision`].
pub fn file_at(root: &Path, rev: &str, path: &Path) -> Result<Option<String>, Error> {
    let spec = format!("{rev}:{}", path.to_string_lossy().replace('\\', "/"));
    if git(root, &["cat-file", "-e", &spec]).is_err() {
        return Ok(None);
    }
    let bytes = git(root, &["show", &spec])?;
    String::from_utf8(bytes).map(Some).map_err(|_| Error::Base {
        file: spec,
        message: "not UTF-8".into(),
    })
}

/// The smallest valid document: what a provider that did not exist yet is compared from.
fn empty_document() -> Value {
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "", "version": ""},
        "paths": {}
    })
}

/// Diffs one provider: its effective spec (and its table in `specs/providers.toml`) at commit
/// `commit` (named `rev` in reports) against the working tree's.
///
/// NEW is generated in full, in memory: a spec progenitor cannot generate (two typed error
/// schemas, a `204` beside a typed `200`…) is an error here, with the generator's located
/// message, rather than a report of additive changes.
pub fn diff_provider(
    root: &Path,
    rev: &str,
    commit: &str,
    provider: &Provider,
) -> Result<ProviderDiff, Error> {
    let generated = generate::generate(root, provider)?;
    let effective_path = provider.crate_dir.join(EFFECTIVE_SPEC);
    let new: Value = generated
        .files
        .iter()
        .find(|(path, _)| *path == effective_path)
        .map(|(_, text)| serde_json::from_str(text))
        .transpose()
        .map_err(|e| Error::Base {
            file: effective_path.display().to_string(),
            message: format!("the generated effective spec is not JSON: {e}"),
        })?
        .map_or_else(|| generate::effective_spec(root, provider), Ok)?;
    // Where the crate was at the base: a moved crate is compared with its own past, not
    // taken for a new one.
    let base_tables = base_crate_dirs(root, commit)?;
    let base_crate_dir = base_tables
        .as_ref()
        .map_or(Some(provider.crate_dir.clone()), |tables| {
            tables.get(&provider.name).cloned()
        });
    let old_file = match &base_crate_dir {
        Some(dir) => file_at(root, commit, &dir.join(EFFECTIVE_SPEC))?,
        None => None,
    };
    let old_path = base_crate_dir
        .as_ref()
        .map_or(effective_path, |dir| dir.join(EFFECTIVE_SPEC));
    let (old, new_crate) = match old_file {
        Some(text) => {
            let value: Value = serde_json::from_str(&text).map_err(|e| Error::Base {
                file: format!("{rev}:{}", old_path.display()),
                message: format!("not valid JSON: {e}"),
            })?;
            (value, false)
        }
        None => (empty_document(), true),
    };
    let mut changes = classify::diff(&old, &new);
    if let Some(old_config) = file_at(root, commit, Path::new(config::CONFIG_PATH))? {
        let path = root.join(config::CONFIG_PATH);
        let new_config =
            std::fs::read_to_string(&path).map_err(|e| Error::Xtask(crate::error::io(&path)(e)))?;
        let found =
            providers::diff(&provider.name, &old_config, &new_config).map_err(|message| {
                Error::Base {
                    file: config::CONFIG_PATH.into(),
                    message,
                }
            })?;
        changes.extend(found);
        changes.sort_by(|a, b| b.class.cmp(&a.class).then_with(|| a.path.cmp(&b.path)));
    }
    if new_crate {
        // Everything is new: one line per operation says what the crate offers.
        changes.retain(|c| c.class != Class::Documentation);
        for change in &mut changes {
            change.class = Class::Additive;
        }
    }
    Ok(ProviderDiff {
        provider: provider.name.clone(),
        base: rev.to_owned(),
        base_commit: commit.to_owned(),
        new_crate,
        changes,
        bump: None,
        crate_dir: provider.crate_dir.clone(),
        base_crate_dir: if new_crate { None } else { base_crate_dir },
        removed: false,
    })
}

/// Each provider's crate directory in `specs/providers.toml` at `commit` (`None` when the
/// file did not exist there).
fn base_crate_dirs(
    root: &Path,
    commit: &str,
) -> Result<Option<std::collections::BTreeMap<String, PathBuf>>, Error> {
    let Some(text) = file_at(root, commit, Path::new(config::CONFIG_PATH))? else {
        return Ok(None);
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| Error::Base {
        file: format!("{commit}:{}", config::CONFIG_PATH),
        message: format!("not valid TOML: {e}"),
    })?;
    let providers = table.get("providers").and_then(toml::Value::as_table);
    providers
        .into_iter()
        .flatten()
        .map(
            |(name, value)| match value.get("crate").and_then(toml::Value::as_str) {
                Some(dir) => Ok((name.clone(), PathBuf::from(dir))),
                // Guessing would compare against nothing: everything would look additive.
                None => Err(Error::Base {
                    file: format!("{commit}:{}", config::CONFIG_PATH),
                    message: format!("[providers.{name}] has no `crate` folder"),
                }),
            },
        )
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Providers configured at `commit` that the working tree's `specs/providers.toml` no longer
/// has: breaking for their users (the crate is not generated any more).
fn removed_providers(
    root: &Path,
    rev: &str,
    commit: &str,
    configured: &[Provider],
) -> Result<Vec<ProviderDiff>, Error> {
    let Some(tables) = base_crate_dirs(root, commit)? else {
        return Ok(Vec::new());
    };
    Ok(tables
        .into_iter()
        .filter(|(name, _)| !configured.iter().any(|p| &p.name == name))
        .map(|(name, dir)| ProviderDiff {
            changes: vec![Change {
                class: Class::Breaking,
                path: format!("{} [providers.{name}]", config::CONFIG_PATH),
                operations: Vec::new(),
                message: "provider removed: `cargo xtask codegen` no longer generates its crate"
                    .to_owned(),
            }],
            provider: name,
            base: rev.to_owned(),
            base_commit: commit.to_owned(),
            new_crate: false,
            bump: None,
            crate_dir: dir.clone(),
            base_crate_dir: Some(dir),
            removed: true,
        })
        .collect())
}

/// Diffs the named providers (all configured ones when `names` is empty) against `rev`.
/// Any error (unknown provider or revision, a spec that does not build) fails the whole run.
pub fn diff(root: &Path, rev: &str, names: &[String]) -> Result<Vec<ProviderDiff>, Error> {
    let configured = config::load(root)?;
    let providers = config::select(configured.clone(), names)?;
    let commit = check_revision(root, rev)?;
    let mut diffs = providers
        .iter()
        .map(|p| diff_provider(root, rev, &commit, p))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        diffs.extend(removed_providers(root, rev, &commit, &configured)?);
    }
    Ok(diffs)
}

//! `api-diff --bump [--write]`: the version each provider crate needs after a spec change, and
//! applying it (crate manifest, the root `[workspace.dependencies]` entry, `CHANGELOG.md`).
//!
//! The new version is computed from the crate's version at the base revision, or is the working
//! tree's when that is higher (a maintainer already bumped further), so running `--write` twice
//! gives the same files.

use std::path::{Path, PathBuf};

use semver::Version;
use toml_edit::{DocumentMut, Item, Value};

use crate::api_diff::{self, Bump, Class, Error, ProviderDiff, report};

/// The version after a change of class `worst` (`None`: nothing changed, no bump).
/// While at 0.x a breaking change takes the next minor and anything else the next patch; from
/// 1.0 on: major, minor, patch.
pub fn next(from: &Version, worst: Option<Class>) -> Option<(Version, String)> {
    let worst = worst?;
    let mut to = from.clone();
    to.pre = semver::Prerelease::EMPTY;
    to.build = semver::BuildMetadata::EMPTY;
    let reason = match (from.major, worst) {
        (0, Class::Breaking) => {
            to.minor += 1;
            to.patch = 0;
            "breaking change, next minor while at 0.x"
        }
        (0, _) => {
            to.patch += 1;
            "no breaking change, next patch while at 0.x"
        }
        (_, Class::Breaking) => {
            to.major += 1;
            to.minor = 0;
            to.patch = 0;
            "breaking change"
        }
        (_, Class::Additive) => {
            to.minor += 1;
            to.patch = 0;
            "additive change"
        }
        (_, Class::Documentation) => {
            to.patch += 1;
            "documentation-only change"
        }
    };
    Some((to, reason.to_owned()))
}

fn manifest_version(file: &Path, text: &str) -> Result<Version, Error> {
    let bad = |message: String| Error::Version {
        file: file.to_path_buf(),
        message,
    };
    let doc: DocumentMut = text
        .parse()
        .map_err(|e| bad(format!("not valid TOML: {e}")))?;
    let version = doc
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .ok_or_else(|| {
            bad("no literal `package.version` (provider crates carry their own)".into())
        })?;
    Version::parse(version).map_err(|e| bad(format!("`{version}` is not a semver version: {e}")))
}

/// Fills in `bump` of every diff that has changes, from the crate's version at `rev`.
pub fn plan(root: &Path, rev: &str, diffs: &mut [ProviderDiff]) -> Result<(), Error> {
    for diff in diffs.iter_mut() {
        if diff.removed {
            continue;
        }
        let manifest = diff.crate_dir.join("Cargo.toml");
        let base_manifest = diff
            .base_crate_dir
            .as_ref()
            .map_or_else(|| manifest.clone(), |dir| dir.join("Cargo.toml"));
        let (from, reason_prefix) = match api_diff::file_at(root, rev, &base_manifest)? {
            Some(text) if !diff.new_crate => (
                Some(manifest_version(
                    &PathBuf::from(format!("{rev}:{}", base_manifest.display())),
                    &text,
                )?),
                "",
            ),
            _ => (None, "new crate"),
        };
        diff.bump = match from {
            Some(from) => match next(&from, diff.worst()) {
                None => None,
                Some((to, reason)) => {
                    // A maintainer who already moved the crate further keeps that version:
                    // never lower it.
                    let path = root.join(&manifest);
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| crate::error::io(&path)(e))?;
                    let now = manifest_version(&manifest, &text)?;
                    let (to, reason) = if now > to {
                        (
                            now.clone(),
                            format!(
                                "{reason}, computed {to}; the working tree already has {now}, kept"
                            ),
                        )
                    } else {
                        (to, reason)
                    };
                    Some(Bump {
                        from: Some(from.to_string()),
                        to: to.to_string(),
                        reason: format!("{reason_prefix}{reason}"),
                    })
                }
            },
            None => {
                // A crate that did not exist at `rev` is released at the version it has now.
                let path = root.join(&manifest);
                let text =
                    std::fs::read_to_string(&path).map_err(|e| crate::error::io(&path)(e))?;
                let now = manifest_version(&manifest, &text)?;
                Some(Bump {
                    from: None,
                    to: now.to_string(),
                    reason: reason_prefix.to_owned(),
                })
            }
        };
    }
    Ok(())
}

/// Replaces a TOML value, keeping the spaces and comments around it.
fn set(item: &mut Item, text: &str) {
    let mut value = Value::from(text);
    if let Some(old) = item.as_value() {
        *value.decor_mut() = old.decor().clone();
    }
    *item = Item::Value(value);
}

/// Puts `section` (starting `## <version>`) at the top of a changelog, below its intro, in
/// place of an existing section for the same version.
pub fn changelog_with(text: &str, version: &str, section: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let is_heading = |l: &str| l.starts_with("## ");
    let same_version = |l: &str| {
        l.strip_prefix("## ")
            .is_some_and(|rest| rest == version || rest.starts_with(&format!("{version} ")))
    };
    let mut out: Vec<String> = Vec::new();
    let first = lines
        .iter()
        .position(|l| is_heading(l))
        .unwrap_or(lines.len());
    out.extend(lines[..first].iter().map(|l| (*l).to_owned()));
    if out.last().is_some_and(|l| !l.is_empty()) {
        out.push(String::new());
    }
    out.extend(section.trim_end().lines().map(str::to_owned));
    out.push(String::new());
    let mut skipping = false;
    for line in &lines[first..] {
        if is_heading(line) {
            skipping = same_version(line);
        }
        if !skipping {
            out.push((*line).to_owned());
        }
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out.join("\n") + "\n"
}

/// The new contents of every file `--write` changes (paths relative to the root): each bumped
/// crate's `Cargo.toml` and `CHANGELOG.md`, and the root `Cargo.toml`. Nothing is written here.
pub fn files(
    root: &Path,
    diffs: &[ProviderDiff],
    date: &str,
) -> Result<Vec<(PathBuf, String)>, Error> {
    let read = |relative: &Path| -> Result<String, Error> {
        let path = root.join(relative);
        std::fs::read_to_string(&path).map_err(|e| Error::Xtask(crate::error::io(&path)(e)))
    };
    let workspace_path = PathBuf::from("Cargo.toml");
    let workspace_text = read(&workspace_path)?;
    let mut workspace: DocumentMut = workspace_text.parse().map_err(|e| Error::Version {
        file: workspace_path.clone(),
        message: format!("not valid TOML: {e}"),
    })?;
    let mut out = Vec::new();
    for diff in diffs {
        let Some(bump) = &diff.bump else { continue };
        let manifest_path = diff.crate_dir.join("Cargo.toml");
        let mut manifest: DocumentMut =
            read(&manifest_path)?.parse().map_err(|e| Error::Version {
                file: manifest_path.clone(),
                message: format!("not valid TOML: {e}"),
            })?;
        match manifest
            .get_mut("package")
            .and_then(|p| p.get_mut("version"))
        {
            Some(item) if item.is_str() => set(item, &bump.to),
            _ => {
                return Err(Error::Version {
                    file: manifest_path,
                    message: "no literal `package.version` to move".into(),
                });
            }
        }
        out.push((manifest_path, manifest.to_string()));

        // The entry other workspace crates (the facade) depend on.
        if let Some(entry) = workspace
            .get_mut("workspace")
            .and_then(|w| w.get_mut("dependencies"))
            .and_then(|d| d.get_mut(&diff.provider))
            && let Some(version) = entry.get_mut("version")
        {
            set(version, &bump.to);
        }

        let changelog_path = diff.crate_dir.join("CHANGELOG.md");
        let existing = match std::fs::read_to_string(root.join(&changelog_path)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("# Changelog of `{}`\n", diff.provider)
            }
            Err(e) => {
                return Err(Error::Xtask(crate::error::io(root.join(&changelog_path))(
                    e,
                )));
            }
        };
        let section = format!("## {} — {date}\n\n{}", bump.to, report::markdown_body(diff));
        out.push((
            changelog_path,
            changelog_with(&existing, &bump.to, &section),
        ));
    }
    let new_workspace = workspace.to_string();
    if new_workspace != workspace_text {
        out.push((workspace_path, new_workspace));
    }
    Ok(out)
}

/// Writes what [`files`] computed, each file atomically (temporary file and rename).
pub fn write(root: &Path, diffs: &[ProviderDiff], date: &str) -> Result<Vec<PathBuf>, Error> {
    let files = files(root, diffs, date)?;
    Ok(crate::output::write_all(root, &files)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn next_versions() {
        let to = |from: &str, class| next(&v(from), Some(class)).unwrap().0.to_string();
        assert_eq!(to("0.1.3", Class::Breaking), "0.2.0");
        assert_eq!(to("0.1.3", Class::Additive), "0.1.4");
        assert_eq!(to("0.1.3", Class::Documentation), "0.1.4");
        assert_eq!(to("1.2.3", Class::Breaking), "2.0.0");
        assert_eq!(to("1.2.3", Class::Additive), "1.3.0");
        assert_eq!(to("1.2.3", Class::Documentation), "1.2.4");
        assert_eq!(to("0.1.3-rc.1", Class::Additive), "0.1.4");
        assert_eq!(next(&v("0.1.3"), None), None);
    }

    #[test]
    fn a_section_for_the_same_version_is_replaced_whatever_its_date() {
        let text =
            "# Changelog\n\nIntro.\n\n## 0.2.0 — 2026-01-01\n\nold report\n\n## 0.1.0\n\nFirst.\n";
        let section = "## 0.2.0 — 2026-11-28\n\nnew report\n";
        assert_eq!(
            changelog_with(text, "0.2.0", section),
            "# Changelog\n\nIntro.\n\n## 0.2.0 — 2026-11-28\n\nnew report\n\n## 0.1.0\n\nFirst.\n"
        );
        // A file without sections gets one.
        assert_eq!(
            changelog_with("# Changelog\n", "0.2.0", section),
            "# Changelog\n\n## 0.2.0 — 2026-11-28\n\nnew report\n"
        );
    }
}

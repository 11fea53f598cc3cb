//! `cargo xtask api-diff [--base REV] [--format text|markdown|json] [--bump [--write]] [--root DIR] [PROVIDER…]`
//!
//! Exit codes: 0 nothing breaking, 1 something breaking, 2 error (bad arguments, unknown
//! provider or revision, a spec that does not build, a file that cannot be written).

use std::path::PathBuf;
use std::process::ExitCode;

use xtask::api_diff::{self, report};

const USAGE: &str = "\
usage: cargo xtask api-diff [--base REV] [--format text|markdown|json] [--bump [--write]] [--root DIR] [PROVIDER…]

Compares each provider's effective spec committed at REV (crates/<p>/openapi.effective.json)
with the one the working tree's specs/ produce now, and classifies every change for the
generated crate's users: breaking, additive or documentation-only. With no PROVIDER, all of them.

  --base REV        the git revision to compare with (default: HEAD)
  --format FORMAT   text (default: one line per change), markdown (pull request body) or json
  --bump            also give the version each changed crate needs (from its version at REV)
  --write           with --bump: set that version in crates/<p>/Cargo.toml and the root
                    [workspace.dependencies], and add the report to crates/<p>/CHANGELOG.md
  --root DIR        the repository root (default: this workspace)

Exit status: 0 nothing breaking, 1 something breaking, 2 error.";

#[derive(Clone, Copy)]
enum Format {
    Text,
    Markdown,
    Json,
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("{message}\n\n{USAGE}");
    ExitCode::from(2)
}

pub fn run(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut base = "HEAD".to_owned();
    let mut format = Format::Text;
    let mut bump = false;
    let mut write = false;
    let mut root = crate::workspace_root();
    let mut names = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--base" => match args.next() {
                Some(rev) => base = rev,
                None => return usage_error("--base needs a revision"),
            },
            "--format" => match args.next().as_deref() {
                Some("text") => format = Format::Text,
                Some("markdown") => format = Format::Markdown,
                Some("json") => format = Format::Json,
                Some(other) => {
                    return usage_error(&format!(
                        "unknown format `{other}` (text, markdown or json)"
                    ));
                }
                None => return usage_error("--format needs text, markdown or json"),
            },
            "--bump" => bump = true,
            "--write" => write = true,
            "--root" => match args.next() {
                Some(dir) => root = PathBuf::from(dir),
                None => return usage_error("--root needs a directory"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                return usage_error(&format!("unknown option `{flag}`"));
            }
            name => names.push(name.to_owned()),
        }
    }
    if write && !bump {
        return usage_error("--write only goes with --bump");
    }

    let mut diffs = match api_diff::diff(&root, &base, &names) {
        Ok(diffs) => diffs,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if bump && let Err(error) = xtask::bump::plan(&root, &base, &mut diffs) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    if write {
        match xtask::bump::write(&root, &diffs, &xtask::lock::today()) {
            Ok(written) => {
                for path in written {
                    eprintln!("wrote {}", path.display());
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let output = match format {
        Format::Text => report::text(&diffs),
        Format::Markdown => report::markdown(&diffs),
        Format::Json => report::json(&diffs),
    };
    print!("{output}");
    if report::any_breaking(&diffs) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

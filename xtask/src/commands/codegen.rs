//! `cargo xtask codegen [--check] [--root DIR] [PROVIDER…]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask codegen [--check] [--root DIR] [PROVIDER…]

Generates crates/<provider>/src/generated.rs and crates/<provider>/openapi.effective.json
from specs/ (configured in specs/providers.toml). With no PROVIDER, all of them.

  --check       write nothing; exit 1 with a unified diff if any generated file is out of date
  --root DIR    the repository root (default: this workspace)";

pub fn run(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut check = false;
    let mut names = Vec::new();
    let mut root = crate::workspace_root();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--root" => match args.next() {
                Some(dir) => root = PathBuf::from(dir),
                None => {
                    eprintln!("--root needs a directory\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                eprintln!("unknown option `{flag}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
            name => names.push(name.to_owned()),
        }
    }
    let started = Instant::now();
    match xtask::codegen(&root, &names, check) {
        Ok(report) => {
            let elapsed = started.elapsed();
            for warning in &report.warnings {
                eprintln!("{warning}");
            }
            for (provider, lines) in &report.lines {
                eprintln!("{provider}: {lines} lines of Rust");
            }
            if check {
                eprintln!(
                    "codegen --check: {} provider(s) up to date ({elapsed:.2?})",
                    report.providers.len()
                );
            } else if report.written.is_empty() {
                eprintln!("codegen: nothing changed ({elapsed:.2?})");
            } else {
                for path in &report.written {
                    eprintln!("wrote {}", path.display());
                }
                eprintln!(
                    "codegen: {} file(s) written ({elapsed:.2?})",
                    report.written.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

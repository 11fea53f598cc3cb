//! `cargo xtask spec update <PROVIDER> --from <FILE> [--source URL] [--root DIR]`
//!
//! (Filled in by the spec-provenance work: parse, call the library, print what changed.)

use std::process::ExitCode;

pub fn run(_args: impl Iterator<Item = String>) -> ExitCode {
    eprintln!("`cargo xtask spec` is not available yet");
    ExitCode::from(2)
}

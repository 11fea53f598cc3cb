//! `cargo xtask api-diff [--base REV] [--format text|markdown|json] [--bump [--write]] [--root DIR] [PROVIDER…]`
//!
//! Exit codes: 0 nothing breaking, 1 something breaking, 2 error (bad arguments, unreadable
//! revision or spec). (Filled in by the api-diff work.)

use std::process::ExitCode;

pub fn run(_args: impl Iterator<Item = String>) -> ExitCode {
    eprintln!("`cargo xtask api-diff` is not available yet");
    ExitCode::from(2)
}

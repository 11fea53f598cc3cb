//! `cargo xtask`: regenerate the provider crates, record where their specs came from, and
//! report what a spec change means for users.
//!
//! Each subcommand parses its own arguments in `commands/`; the work itself is in the library.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <COMMAND> [OPTIONS]

Commands:
  codegen [--check] [PROVIDER…]
        Generate crates/<provider>/src/generated.rs and openapi.effective.json from specs/.
  spec update <PROVIDER> --from <FILE> [--source URL] [--date YYYY-MM-DD]
        Replace a provider's spec document verbatim, update its lock and regenerate.
  spec list [--json]
        Where each provider's spec came from (specs/<provider>/lock.toml).
  api-diff [--base REV] [--format text|markdown|json] [--bump [--write]] [PROVIDER…]
        Classify what changed in each effective spec since REV (breaking, additive,
        documentation-only). Exit 0: nothing breaking; 1: something breaking; 2: error.
  bench [--quick] [--only PART,…] [--rounds N] [--write] [--no-build]
        The performance suite: ours beside a peer, interleaved, as ratios (BENCHMARKS.md).

Every command takes --root DIR (the repository root; default: this workspace) and --help.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("codegen") => commands::codegen::run(args),
        Some("spec") => commands::spec::run(args),
        Some("api-diff") => commands::api_diff::run(args),
        Some("bench") => commands::bench::run(args),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the xtask's manifest folder's parent (cargo sets the variable at build
/// time, so this works from any current directory).
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

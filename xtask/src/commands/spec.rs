//! `cargo xtask spec update <PROVIDER> --from <FILE> [--source URL] [--date YYYY-MM-DD] [--root DIR]`
//! and `cargo xtask spec list [--json] [--root DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask spec update <PROVIDER> --from <FILE> [--source URL] [--date YYYY-MM-DD] [--root DIR]
       cargo xtask spec list [--json] [--root DIR]

update  Replace PROVIDER's spec document with FILE, byte for byte; record its sha256 and date
        (and --source: the URL it was downloaded from) in specs/<provider>/lock.toml; regenerate
        the provider. Nothing is written if the document does not parse, the merge patch no
        longer applies, or generation fails.
list    Each provider's spec provenance: kind (upstream or hand-written), document, source,
        whether the source can be fetched unattended, sha256, date retrieved.

  --from FILE       the new document (JSON or YAML, as the provider's spec file)
  --source URL      where FILE was downloaded from (recorded; the spec-update workflow fetches it)
  --date DATE       the retrieval date, YYYY-MM-DD (default: today, UTC)
  --json            list as a JSON array
  --root DIR        the repository root (default: this workspace)";

pub fn run(mut args: impl Iterator<Item = String>) -> ExitCode {
    let action = args.next();
    let mut root = crate::workspace_root();
    let mut from = None;
    let mut source = None;
    let mut date = None;
    let mut json = false;
    let mut names = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| super::flag_value(&mut args, flag, USAGE);
        match arg.as_str() {
            "--root" => match value("--root") {
                Some(dir) => root = PathBuf::from(dir),
                None => return ExitCode::from(2),
            },
            "--from" if action.as_deref() == Some("update") => match value("--from") {
                Some(file) => from = Some(PathBuf::from(file)),
                None => return ExitCode::from(2),
            },
            "--source" if action.as_deref() == Some("update") => match value("--source") {
                Some(url) => source = Some(url),
                None => return ExitCode::from(2),
            },
            "--date" if action.as_deref() == Some("update") => match value("--date") {
                Some(day) => date = Some(day),
                None => return ExitCode::from(2),
            },
            "--json" if action.as_deref() == Some("list") => json = true,
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
    match action.as_deref() {
        Some("update") => {
            let (provider, from) = match (names.as_slice(), from) {
                ([provider], Some(from)) => (provider.clone(), from),
                _ => {
                    eprintln!("spec update takes one PROVIDER and --from FILE\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            update(
                &root,
                &xtask::spec_update::Request {
                    provider,
                    from,
                    source,
                    date,
                },
            )
        }
        Some("list") if names.is_empty() => list(&root, json),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn update(root: &std::path::Path, request: &xtask::spec_update::Request) -> ExitCode {
    match xtask::spec_update::update(root, request) {
        Ok(updated) => {
            let old = updated.old_sha256.as_deref().unwrap_or("(none recorded)");
            if updated.old_sha256.as_deref() == Some(updated.new_sha256.as_str()) {
                eprintln!(
                    "{}: {} is already the recorded document (sha256 {old})",
                    updated.provider,
                    updated.document.display()
                );
            } else {
                eprintln!(
                    "{}: {}\n  sha256 {old}\n      -> {}",
                    updated.provider,
                    updated.document.display(),
                    updated.new_sha256
                );
            }
            if updated.written.is_empty() {
                eprintln!("nothing changed on disk");
            } else {
                for path in &updated.written {
                    eprintln!("wrote {}", path.display());
                }
                eprintln!(
                    "next: `cargo xtask api-diff {}` says what changed for users",
                    updated.provider
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}\nnothing was written");
            ExitCode::FAILURE
        }
    }
}

fn list(root: &std::path::Path, json: bool) -> ExitCode {
    let entries = match xtask::spec_update::list(root) {
        Ok(entries) => entries,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("entries serialize")
        );
    } else {
        for e in &entries {
            println!(
                "{:<16} {:<13} {} sha256 {} retrieved {} source {}{}",
                e.provider,
                e.kind.unwrap_or("(no lock)"),
                e.document.display(),
                e.sha256.as_deref().unwrap_or("-"),
                e.retrieved.as_deref().unwrap_or("-"),
                e.source.as_deref().unwrap_or("(not recorded)"),
                if e.fetchable { " (fetchable)" } else { "" }
            );
        }
    }
    ExitCode::SUCCESS
}

//! `cargo xtask bench [--quick] [--only PART,…] [--rounds N] [--write] [--no-build] [--root DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use xtask::bench::{self, Options, PARTS, report};

const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--only PART,…] [--rounds N] [--write] [--no-build] [--root DIR]

Runs the performance suite: release builds of the measured programs (built first), each beside a
peer in the same run, interleaved, reported as ratios. Prints a markdown section; --write also
puts it into BENCHMARKS.md between its bench markers. The full suite takes about 5 minutes after
the builds (the jobs part alone is about 70 s).

Parts (default: all):
  upload   1 GiB multipart upload by the Topaz and BackgroundCut clients vs curl and a
           hand-written reqwest stream: wall time and peak RSS
  calls    Topaz get_status vs raw reqwest, sequential and 16 at once
  jobs     1000 sandbox jobs of 2 s at 64-way, through the CLI and the Topaz client, vs the
           ideal makespan; status polls per job; completion-notice delay
  codegen  `xtask codegen --check` for every provider
  journal  the batch journal's cost per job vs a loopback round trip

  --quick      small sizes and 3 rounds (128 MiB upload, 128 jobs of 1 s, …): to try the suite
  --only LIST  comma-separated parts
  --rounds N   interleaved rounds of the upload and codegen parts (default 5)
  --write      replace the generated section of BENCHMARKS.md (refused with --quick or --only:
               the file reports the full suite)
  --no-build   use the binaries already in target/release
  --root DIR   the repository root (default: this workspace)";

pub fn run(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut root = crate::workspace_root();
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut rounds = None;
    let mut write = false;
    let mut no_build = false;
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| super::flag_value(&mut args, flag, USAGE);
        match arg.as_str() {
            "--root" => match value("--root") {
                Some(dir) => root = PathBuf::from(dir),
                None => return ExitCode::from(2),
            },
            "--only" => match value("--only") {
                Some(list) => {
                    let parts: Vec<String> = list.split(',').map(|p| p.trim().to_owned()).collect();
                    if let Some(bad) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
                        eprintln!("unknown part `{bad}`: the parts are {}", PARTS.join(", "));
                        return ExitCode::from(2);
                    }
                    only = Some(parts);
                }
                None => return ExitCode::from(2),
            },
            "--rounds" => match value("--rounds").map(|n| n.parse::<usize>()) {
                Some(Ok(n)) if n > 0 => rounds = Some(n),
                Some(_) => {
                    eprintln!("--rounds takes a whole number of at least 1");
                    return ExitCode::from(2);
                }
                None => return ExitCode::from(2),
            },
            "--quick" => quick = true,
            "--write" => write = true,
            "--no-build" => no_build = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument `{other}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if write && (quick || only.is_some()) {
        eprintln!("--write records the full suite: leave out --quick and --only");
        return ExitCode::from(2);
    }
    let mut options = if quick {
        Options::quick(root)
    } else {
        Options::full(root)
    };
    if let Some(parts) = only {
        options.parts = parts;
    }
    if let Some(rounds) = rounds {
        options.rounds = rounds;
    }
    options.no_build = no_build;
    let benchmarks = options.root.join("BENCHMARKS.md");
    if write {
        // Check the markers now, not after minutes of measuring.
        let checked = std::fs::read_to_string(&benchmarks)
            .map_err(|e| e.to_string())
            .and_then(|text| report::splice(&text, ""));
        if let Err(message) = checked {
            eprintln!("{}: {message}", benchmarks.display());
            return ExitCode::from(2);
        }
    }
    let results = match bench::run(&options) {
        Ok(results) => results,
        Err(message) => {
            eprintln!("bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    let section = report::render(&results, &options);
    println!("{section}");
    let failures = results.failures();
    if !failures.is_empty() {
        for (part, error) in &failures {
            eprintln!("bench: {part} failed: {error}");
        }
        if write {
            eprintln!(
                "bench: BENCHMARKS.md is left as it was: a run with failed parts is not recorded"
            );
        }
        return ExitCode::FAILURE;
    }
    if write {
        let path = benchmarks;
        let written = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| report::splice(&text, &section))
            .and_then(|text| std::fs::write(&path, text).map_err(|e| e.to_string()));
        if let Err(message) = written {
            eprintln!("{}: {message}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("bench: wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

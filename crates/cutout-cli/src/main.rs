//! `cutout`: background removal, matting and segmentation from the shell.
//!
//! The command line of the `cutout` workspace. It sends images to Topaz Labs, BackgroundCut,
//! ModelsLab or Tengr.ai through the typed clients of the facade crate `cutout` and writes the
//! results as files; `--sandbox` runs everything against the simulators of `cutout-sandbox`
//! inside the process, without keys or network.
//!
//! ```text
//! cutout --sandbox remove-bg crates/cutout-cli/samples/subject.jpg -o out/
//! cutout remove-bg photos/*.jpg --provider modelslab --mask -o masks/
//! cutout matte photo.jpg --trimap-from-mask photo.mask.png --band 12
//! cutout segment https://example.com/street.jpg --prompt "the red car"
//! cutout trimap photo.mask.png -o photo.trimap.jpg --band 8
//! cutout jobs list | status ID… | cancel ID… | download ID… | submit IMAGE…
//! cutout compare photo.jpg --providers all -o compare/
//! cutout estimate photos/*.jpg
//! cutout journal out/
//! cutout sandbox
//! ```
//!
//! Exit codes: 0 all inputs succeeded, 1 some failed (the summary says which and why), 2 usage
//! error, 3 configuration or setup error (missing key, unusable journal…; nothing was sent), 4
//! stopped by `--max-credits` (some inputs not submitted), 130 interrupted.
//! See `crates/cutout-cli/README.md` for the whole tour.
//!
//! # Modules
//!
//! - `cli`: the commands and flags (clap derive) and their help texts.
//! - `backend`: clients from the environment or pointed at the in-process sandbox.
//! - `inputs`, `output`: what the inputs are, where results go, the no-overwrite rule.
//! - `sheet`: the contact sheet of `compare` (pure drawing).
//! - `report`: progress bars or plain lines, `--json` lines, the summary.
//! - `failure`: exit codes and command-level errors.
//! - `commands::*`: one module per command.

use std::process::ExitCode;

use clap::Parser;

mod backend;
mod batch;
mod cli;
mod failure;
mod inputs;
mod output;
mod report;
mod sheet;

mod commands {
    pub mod compare;
    pub mod estimate;
    pub mod jobs;
    pub mod journal;
    pub mod matte;
    pub mod remove_bg;
    pub mod sandbox;
    pub mod segment;
    pub mod trimap;
}

use cli::{Cli, Command};
use failure::{EXIT_OK, Failure};

fn main() -> ExitCode {
    // Help, version and usage errors exit here (0 or 2).
    let cli = Cli::parse();
    if let Err(failure) = install_logging() {
        return failure.report();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Setup(format!("cannot start the async runtime: {e}")).report(),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let Cli { global, command } = cli;
    let serves = matches!(command, Command::Sandbox(_));
    let work = async {
        match command {
            Command::RemoveBg(args) => commands::remove_bg::run(&global, args).await,
            Command::Matte(args) => commands::matte::run(&global, args).await,
            Command::Segment(args) => commands::segment::run(&global, args).await,
            Command::Trimap(args) => commands::trimap::run(&global, args).await,
            Command::Jobs(command) => commands::jobs::run(&global, command).await,
            Command::Compare(args) => commands::compare::run(&global, args).await,
            Command::Estimate(args) => commands::estimate::run(&global, args).await,
            Command::Journal(args) => commands::journal::run(&global, args).await,
            // It waits for Ctrl-C itself, and stopping there is a success.
            Command::Sandbox(args) => commands::sandbox::run(&global, args).await,
        }
    };
    if serves {
        return work.await;
    }
    // Dropping the work on Ctrl-C drops its temporary files too: no partial output is left.
    tokio::select! {
        outcome = work => outcome,
        _ = ctrl_c() => Err(Failure::Interrupted),
    }
}

/// The variables that turn diagnostics on; the first one set wins.
const LOG_VARIABLES: [&str; 2] = ["CUTOUT_LOG", "RUST_LOG"];

/// Diagnostics (the router's decisions, the runtime's retries…) on stderr, off unless
/// `CUTOUT_LOG` or `RUST_LOG` is set. The value is a level (`info`) or `target=level,…`
/// (`cutout::router=info,cutout_runtime=warn`); one that does not parse is a usage error.
fn install_logging() -> Result<(), Failure> {
    use std::str::FromStr;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let Some((name, value)) = LOG_VARIABLES.iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        (!value.trim().is_empty()).then_some((*name, value))
    }) else {
        return Ok(());
    };
    let targets = Targets::from_str(value.trim()).map_err(|e| {
        Failure::Usage(format!(
            "{name}=`{value}` is not a log filter ({e}): write a level (`info`) or \
             `target=level` pairs separated by commas (`cutout::router=info,cutout_runtime=warn`)"
        ))
    })?;
    // Only if nothing else installed one first (nothing does; a failure is harmless).
    // fmt's own cap is INFO: lift it so that `debug`/`trace` in the filter take effect.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .finish()
        .with(targets)
        .try_init();
    Ok(())
}

/// Ctrl-C, or never if it cannot be watched.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

//! Exit codes, and the errors that stop a command before (or instead of) processing inputs.

use std::fmt;
use std::process::ExitCode;

/// Every input succeeded.
pub const EXIT_OK: u8 = 0;
/// At least one input failed; the others were processed.
pub const EXIT_INPUTS_FAILED: u8 = 1;
/// The command line is wrong (clap uses the same code for its own errors).
pub const EXIT_USAGE: u8 = 2;
/// Configuration or setup: a missing key, a bad base URL, an output folder that cannot be made,
/// a sandbox that cannot start. Nothing was sent.
pub const EXIT_CONFIG: u8 = 3;
/// `--max-credits` stopped new submissions: some inputs were not submitted.
pub const EXIT_BUDGET: u8 = 4;
/// Interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command stopped as a whole.
#[derive(Debug)]
pub enum Failure {
    /// A usage error clap could not catch (e.g. `-o file` with several inputs).
    Usage(String),
    /// A client could not be configured (missing key, bad base URL).
    Config {
        /// The runtime's message (it names the environment variable).
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// Something around the work could not be set up.
    Setup(String),
    /// Some inputs failed; each was reported already.
    InputsFailed,
    /// `--max-credits` left inputs unsubmitted (reported already).
    BudgetStopped,
    /// A command without inputs (`jobs list`) failed.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
}

impl Failure {
    /// A client configuration error, with a hint for the command line.
    pub fn config(error: &cutout::runtime::Error) -> Self {
        let message = error.to_string();
        let hint = match error {
            cutout::runtime::Error::MissingKey { .. } => Some(
                "export the variable named above with your key, or add --sandbox to try the \
                 command against the local simulators"
                    .to_owned(),
            ),
            _ => None,
        };
        // The runtime speaks to library users; on the command line `.key(...)` means nothing.
        let message = message.replace(" (or pass one with `.key(...)`)", "");
        Failure::Config { message, hint }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Config { .. } | Failure::Setup(_) => EXIT_CONFIG,
            Failure::InputsFailed | Failure::Failed(_) => EXIT_INPUTS_FAILED,
            Failure::BudgetStopped => EXIT_BUDGET,
            Failure::Interrupted => EXIT_INTERRUPTED,
        }
    }

    /// Prints the failure (if it has not been reported already) and gives the exit code.
    pub fn report(self) -> ExitCode {
        match &self {
            Failure::InputsFailed | Failure::BudgetStopped => {}
            Failure::Interrupted => match crate::batch::running_journal() {
                // A unit whose request was on its way may have been accepted (and paid): the
                // journal says so, and the next run settles it.
                Some(journal) => eprintln!(
                    "interrupted: run the same command again to go on (paid jobs are picked up \
                     without paying again; no partial output was written); an input that was \
                     being submitted, if any, is uncertain (the provider may have it): `cutout \
                     journal {}` lists those; --resubmit-uncertain only after checking",
                    journal.display()
                ),
                None => eprintln!("interrupted: unfinished outputs were not written"),
            },
            other => eprintln!("error: {other}"),
        }
        ExitCode::from(self.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Setup(message) | Failure::Failed(message) => {
                f.write_str(message)
            }
            Failure::Config { message, hint } => {
                f.write_str(message)?;
                if let Some(hint) = hint {
                    write!(f, "\nhint: {hint}")?;
                }
                Ok(())
            }
            Failure::InputsFailed => f.write_str("some inputs failed"),
            Failure::BudgetStopped => f.write_str("stopped by --max-credits"),
            Failure::Interrupted => f.write_str("interrupted"),
        }
    }
}

//! Every way codegen can fail, each naming the file and, where there is one, the JSON pointer.

use std::fmt;
use std::path::PathBuf;

/// One problem at one place of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file the problem is in (relative to the repository root when possible).
    pub file: PathBuf,
    /// JSON pointer (RFC 6901) of the offending value, or `line L, column C` for parse errors.
    pub location: String,
    /// What is wrong, and when possible what to do.
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = if self.location.is_empty() {
            "(document root)"
        } else {
            &self.location
        };
        write!(f, "{}: {location}: {}", self.file.display(), self.message)
    }
}

/// Why `cargo xtask codegen` failed. Nothing is written when any of these is returned.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The provider configuration is wrong.
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No provider of that name is configured.
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The configured names.
        known: Vec<String>,
    },
    /// Problems in a spec, each with its place.
    Spec(Vec<Located>),
    /// The generator (progenitor) rejected the spec or panicked.
    Generator {
        /// The provider.
        provider: String,
        /// The operation that failed, when it could be narrowed down.
        operation: Option<String>,
        /// The generator's message.
        message: String,
    },
    /// A spec lock (`specs/<provider>/lock.toml`) does not match its document or the generator.
    Lock(Vec<Located>),
    /// `--check`: files on disk differ from what the specs generate.
    Stale {
        /// Unified diffs, one per stale file.
        diffs: Vec<String>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Config { path, message } => write!(f, "{}: {message}", path.display()),
            Error::UnknownProvider { name, known } => write!(
                f,
                "unknown provider `{name}`; configured providers: {}",
                known.join(", ")
            ),
            Error::Spec(problems) => {
                let n = problems.len();
                write!(
                    f,
                    "{n} problem{} in the spec:",
                    if n == 1 { "" } else { "s" }
                )?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
            Error::Lock(problems) => {
                let n = problems.len();
                write!(
                    f,
                    "{n} problem{} with the spec locks:",
                    if n == 1 { "" } else { "s" }
                )?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
            Error::Generator {
                provider,
                operation,
                message,
            } => match operation {
                Some(op) => write!(
                    f,
                    "{provider}: the generator failed on operation `{op}`: {message}"
                ),
                None => write!(f, "{provider}: the generator failed: {message}"),
            },
            Error::Stale { diffs } => {
                writeln!(
                    f,
                    "{} generated file(s) are out of date; run `cargo xtask codegen` and commit the result:",
                    diffs.len()
                )?;
                for diff in diffs {
                    write!(f, "\n{diff}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An I/O error tied to its path.
pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

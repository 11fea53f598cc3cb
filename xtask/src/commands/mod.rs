//! Command-line parsing, one file per subcommand. Each returns the process exit code.

pub mod api_diff;
pub mod bench;
pub mod codegen;
pub mod spec;

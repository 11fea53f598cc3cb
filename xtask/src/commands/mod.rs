//! Command-line parsing, one file per subcommand. Each returns the process exit code.

pub mod api_diff;
pub mod bench;
pub mod codegen;
pub mod spec;

/// The value after `flag`, or `None` (after printing `usage`) when it is missing. A flag in a
/// value's place means the value was forgotten.
pub fn flag_value(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
    usage: &str,
) -> Option<String> {
    let value = args.next().filter(|v| !v.starts_with("--"));
    if value.is_none() {
        eprintln!("{flag} needs a value\n\n{usage}");
    }
    value
}

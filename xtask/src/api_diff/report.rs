//! The three output formats of `api-diff`: text (one line per change), markdown (the pull
//! request body of the spec-update workflow, and the CHANGELOG section) and JSON.
//!
//! JSON shape (stable):
//! `{"providers":[{"provider":..,"base":..,"base_commit":..,"changes":[{"class":"breaking|additive|documentation",
//! "path":..,"operations":[..],"message":..}],"bump":{"from":..,"to":..,"reason":..}}],
//! "breaking":bool}` (`bump` only with `--bump` and when something changed).

use std::fmt::Write as _;

use serde::Serialize;

use super::{Class, ProviderDiff};

/// What the facade needs to know after a provider bump (said, not automated).
pub const FACADE_NOTE: &str = "The facade crate `cutout` depends on the provider crates: a breaking provider bump needs a release of `cutout` too.";

/// True when any provider has a breaking change.
pub fn any_breaking(diffs: &[ProviderDiff]) -> bool {
    diffs.iter().any(|d| d.worst() == Some(Class::Breaking))
}

/// One line per change: `breaking  topaz-image  #/…/eta  type changed … (getStatus, postMatting)`,
/// then one `bump` line per provider when bumps were computed.
pub fn text(diffs: &[ProviderDiff]) -> String {
    let mut out = String::new();
    for diff in diffs {
        if diff.changes.is_empty() {
            let _ = writeln!(
                out,
                "unchanged  {}  (since {})",
                diff.provider,
                diff.base_label()
            );
        }
        for change in &diff.changes {
            let _ = write!(
                out,
                "{}  {}  {}  {}",
                change.class, diff.provider, change.path, change.message
            );
            if !change.operations.is_empty() {
                let _ = write!(out, " ({})", change.operations.join(", "));
            }
            out.push('\n');
        }
    }
    let mut bumped = false;
    for diff in diffs {
        if let Some(bump) = &diff.bump {
            bumped = true;
            let _ = writeln!(
                out,
                "bump  {}  {} -> {}  ({})",
                diff.provider,
                bump.from.as_deref().unwrap_or("(new crate)"),
                bump.to,
                bump.reason
            );
        }
    }
    if bumped {
        let _ = writeln!(out, "note  {FACADE_NOTE}");
    }
    out
}

/// Table cell text: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `text` as inline code, whatever backticks it holds (CommonMark: a longer fence, and spaces
/// when it starts or ends with one).
fn code(text: &str) -> String {
    let text = cell(text);
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

/// A message cell: its backticks are markup (the messages quote names with them); a name with
/// an odd number of backticks inside would open a span that never closes, so those are escaped.
fn message_cell(text: &str) -> String {
    let text = cell(text);
    if text.matches('`').count().is_multiple_of(2) {
        text
    } else {
        text.replace('`', "\\`")
    }
}

fn counts(diff: &ProviderDiff) -> String {
    let breaking = diff.count(Class::Breaking);
    let breaking = if breaking > 0 {
        format!("**{breaking} breaking**")
    } else {
        "0 breaking".to_owned()
    };
    format!(
        "{breaking}, {} additive, {} documentation-only",
        diff.count(Class::Additive),
        diff.count(Class::Documentation)
    )
}

/// `` `HEAD` (`e6bc3b0`) ``.
fn base(diff: &ProviderDiff) -> String {
    let short: String = diff.base_commit.chars().take(7).collect();
    if diff.base_label() == short {
        code(&short)
    } else {
        format!("{} ({})", code(&diff.base), code(&short))
    }
}

/// The summary line and the table of one provider, without a heading (the CHANGELOG section).
pub fn markdown_body(diff: &ProviderDiff) -> String {
    let mut out = String::new();
    if diff.changes.is_empty() {
        let _ = writeln!(out, "No change to the effective spec since {}.", base(diff));
        return out;
    }
    let _ = write!(out, "{} since {}.", counts(diff), base(diff));
    match &diff.bump {
        Some(bump) => {
            let from = bump.from.as_deref().unwrap_or("(new crate)");
            let _ = write!(
                out,
                " Suggested bump: {from} → **{}** ({}).",
                bump.to, bump.reason
            );
        }
        None if diff.removed => {
            out.push_str(" The provider is removed: no release of its crate.");
        }
        None => {
            let level = match diff.worst() {
                Some(Class::Breaking) => "breaking (next minor while at 0.x, else major)",
                Some(Class::Additive) => "additive (next patch while at 0.x, else minor)",
                _ => "documentation (next patch)",
            };
            let _ = write!(out, " Suggested bump: {level}.");
        }
    }
    out.push_str("\n\n| Class | Where | What | Operations |\n| --- | --- | --- | --- |\n");
    for change in &diff.changes {
        let operations = change
            .operations
            .iter()
            .map(|o| code(o))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            change.class,
            code(&change.path),
            message_cell(&change.message),
            operations
        );
    }
    out
}

/// A section per provider (`### \`topaz-image\``), then the facade note when a bump was computed.
pub fn markdown(diffs: &[ProviderDiff]) -> String {
    let mut out = String::new();
    for diff in diffs {
        let _ = writeln!(out, "### `{}`\n", diff.provider);
        out.push_str(&markdown_body(diff));
        out.push('\n');
    }
    if diffs.iter().any(|d| d.bump.is_some()) {
        let _ = writeln!(out, "> {FACADE_NOTE}");
    }
    out
}

#[derive(Serialize)]
struct Json<'a> {
    providers: &'a [ProviderDiff],
    breaking: bool,
}

/// The JSON document (pretty-printed, one trailing newline).
pub fn json(diffs: &[ProviderDiff]) -> String {
    let doc = Json {
        providers: diffs,
        breaking: any_breaking(diffs),
    };
    serde_json::to_string_pretty(&doc).expect("the report serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticks_in_names_do_not_break_the_table() {
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        // Balanced backticks are the messages' own markup; an odd one is escaped.
        assert_eq!(message_cell("field `x` removed"), "field `x` removed");
        assert_eq!(
            message_cell("field `a`b` removed"),
            "field \\`a\\`b\\` removed"
        );
    }
}

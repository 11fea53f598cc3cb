//! `cutout journal`: what a batch journal holds (nothing is sent anywhere).

use cutout::batch::{Row, SqliteStore};
use serde::Serialize;

use crate::batch::{JOURNAL_NAME, setup};
use crate::cli::{Global, JournalArgs};
use crate::failure::Failure;

/// One row of `--json`.
#[derive(Serialize)]
struct Line<'a> {
    input: &'a str,
    provider: &'a str,
    state: &'static str,
    job_id: Option<&'a str>,
    /// The jobs of earlier attempts (a re-submitted row), each paid for.
    previous_job_ids: Vec<&'a str>,
    outputs: Vec<String>,
    failure: Option<&'a str>,
    paid: Option<bool>,
    credits: u32,
    attempts: u32,
}

/// Runs the command.
pub async fn run(global: &Global, args: JournalArgs) -> Result<(), Failure> {
    let path = match (&args.journal, &args.output) {
        (Some(path), _) => path.clone(),
        (None, Some(out)) if out.is_file() => out.clone(),
        (None, Some(out)) => out.join(JOURNAL_NAME),
        (None, None) => JOURNAL_NAME.into(),
    };
    if !path.exists() {
        return Err(Failure::Setup(format!(
            "there is no journal at `{}`: pass the output folder of a batch (its journal is \
             {JOURNAL_NAME} there) or the journal's path with --journal",
            path.display()
        )));
    }
    // Opening takes the journal's exclusive lock: a running batch gets a clear "in use".
    let opened = path.clone();
    let (rows, summary) = tokio::task::spawn_blocking(move || {
        let store = SqliteStore::open(&opened)?;
        let rows = cutout::batch::Store::rows(&store)?;
        Ok::<_, cutout::batch::JournalError>((rows, cutout::batch::summary(&store)?))
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    .map_err(|error| match error {
        // Reading it now would show half a batch: say what is going on and when to look.
        cutout::batch::JournalError::InUse { path } => Failure::Setup(format!(
            "a batch is running on the journal `{}` (another cutout run holds it): run \
             `cutout journal` again when that batch ends",
            path.display()
        )),
        other => setup(other),
    })?;

    if global.json {
        for row in &rows {
            crate::report::print_json(&Line {
                input: &row.display,
                provider: &row.provider,
                state: row.state.as_str(),
                job_id: row.ticket.as_ref().and_then(|t| t.job_id.as_deref()),
                previous_job_ids: earlier(row),
                outputs: row
                    .outputs
                    .iter()
                    .map(|o| o.path.display().to_string())
                    .collect(),
                failure: row.failure.as_deref(),
                paid: row.paid,
                credits: row.credits,
                attempts: row.attempts,
            });
        }
        return Ok(());
    }

    crate::report::out(format_args!(
        "journal {}: {} unit{}",
        path.display(),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    for (state, count) in &summary.counts {
        crate::report::out(format_args!("  {:<11} {count}", state.as_str()));
    }
    crate::report::out(format_args!(
        "  paid credits (estimated): {}",
        summary.paid_credits
    ));
    if !summary.failed.is_empty() {
        crate::report::out(format_args!("failed:"));
        for row in &summary.failed {
            let paid = match row.paid {
                Some(true) => "paid",
                Some(false) => "not paid",
                None => "paid?",
            };
            crate::report::out(format_args!(
                "  {} ({}, {paid}{}): {}",
                row.display,
                row.provider,
                job(row),
                row.failure.as_deref().unwrap_or("no reason recorded")
            ));
        }
    }
    if !summary.uncertain.is_empty() {
        crate::report::out(format_args!(
            "uncertain (submitted without a clear answer: a lost or failed answer, or a run \
             stopped mid-submission; the provider may have the job): check the provider's \
             dashboard or `cutout jobs`; run the command again with --resubmit-uncertain to pay \
             again:"
        ));
        for row in &summary.uncertain {
            crate::report::out(format_args!(
                "  {} ({}{}){}",
                row.display,
                row.provider,
                job(row),
                row.failure
                    .as_deref()
                    .map(|cause| format!(": {}", crate::batch::cli_words(cause)))
                    .unwrap_or_default()
            ));
        }
    }
    if !summary.in_flight.is_empty() {
        crate::report::out(format_args!(
            "submitted, not finished (the same command again picks them up):"
        ));
        for row in &summary.in_flight {
            crate::report::out(format_args!(
                "  {} ({}{})",
                row.display,
                row.provider,
                job(row)
            ));
        }
    }
    let resubmitted: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.previous_tickets.is_empty())
        .collect();
    if !resubmitted.is_empty() {
        crate::report::out(format_args!(
            "submitted more than once (every job named was paid for):"
        ));
        for row in resubmitted {
            crate::report::out(format_args!(
                "  {} ({}, {}{})",
                row.display,
                row.provider,
                row.state.as_str(),
                job(row)
            ));
        }
    }
    Ok(())
}

/// The job ids of a row's earlier attempts, oldest first.
fn earlier(row: &Row) -> Vec<&str> {
    row.previous_tickets
        .iter()
        .filter_map(|t| t.job_id.as_deref())
        .collect()
}

/// `, job ID` (and `, earlier jobs A, B` for a re-submitted row), or nothing.
fn job(row: &Row) -> String {
    let mut text = row
        .ticket
        .as_ref()
        .and_then(|t| t.job_id.as_deref())
        .map(|id| format!(", job {id}"))
        .unwrap_or_default();
    let earlier = earlier(row);
    if !earlier.is_empty() {
        text.push_str(&format!(
            ", earlier job{} {}",
            if earlier.len() == 1 { "" } else { "s" },
            earlier.join(", ")
        ));
    }
    text
}

//! [`summary`]: what a journal holds, for `cutout journal` and for services' reports.

use std::collections::BTreeMap;

use super::store::{JournalError, Row, State, Store};

/// A journal at a glance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// Rows per state.
    pub counts: BTreeMap<State, usize>,
    /// Failed rows (their `failure` says why, `paid` whether they were paid).
    pub failed: Vec<Row>,
    /// Rows left `submitting` by a crash: the provider may or may not have the job.
    pub uncertain: Vec<Row>,
    /// Rows submitted and not finished (their tickets carry the job ids).
    pub in_flight: Vec<Row>,
    /// Sum of the estimated credits of every accepted submission (all attempts of every row).
    pub paid_credits: u64,
}

/// Summarises the journal in `store`.
pub fn summary(store: &dyn Store) -> Result<Summary, JournalError> {
    let mut summary = Summary {
        counts: BTreeMap::new(),
        failed: Vec::new(),
        uncertain: Vec::new(),
        in_flight: Vec::new(),
        paid_credits: 0,
    };
    for row in store.rows()? {
        *summary.counts.entry(row.state).or_insert(0) += 1;
        summary.paid_credits += row.spent_credits;
        match row.state {
            State::Failed => summary.failed.push(row),
            State::Submitting => summary.uncertain.push(row),
            State::Submitted => summary.in_flight.push(row),
            _ => {}
        }
    }
    Ok(summary)
}

//! Planning: what a run would do with each unit, from the journal and the files on disk,
//! sending nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use cutout_runtime::JobTicket;

use super::key::{WorkKey, hash_file};
use super::store::{JournalError, OutputRecord, Row, State, Store};
use super::work::{Unit, split_providers};

/// What a run does with one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Done, and every output it recorded here is present and intact: nothing to do.
    Skip,
    /// Done, but this unit's output is missing while an intact copy of the same work's results
    /// exists elsewhere: copy them here, nothing paid.
    Copy {
        /// The intact results, in order.
        from: Vec<PathBuf>,
    },
    /// Submitted (paid) before: pick the job up again, never submit it again. Also a done unit
    /// whose outputs are missing (some or all) with no intact copy elsewhere: its results are
    /// downloaded again from the recorded job, nothing paid.
    Reattach(JobTicket),
    /// Left `submitting` by a crash: the provider may or may not have the job. Submitted again
    /// only with `resubmit_uncertain` (`resubmit`), since that may pay twice.
    Uncertain {
        /// Whether this run submits it again.
        resubmit: bool,
    },
    /// New, or failed without being paid, or done but its outputs are gone and the journal
    /// has no job to download them from again, or done and `force` asks to redo it.
    Submit,
    /// Failed after being paid (or it is not known whether it was), and `retry_failed` (or `force`) asks
    /// to try again: submitted again, paid again. Shown apart so that a plan says so.
    Retry,
    /// Failed in an earlier run after it was paid (or it is not known whether it was): not
    /// submitted again without `retry_failed`, so a plain re-run never pays twice for it. Ends
    /// as a failure that says so.
    FailedBefore {
        /// Why it failed then.
        reason: String,
        /// Whether that attempt was paid (`None`: unknown).
        paid: Option<bool>,
    },
    /// The same work as an earlier unit of this batch (index into the batch): paid once, the
    /// results copied.
    Duplicate(usize),
    /// Cannot run without `force`: a file is where its results would go that the journal did
    /// not write (or that changed since). Refused before anything is paid. The reason says
    /// what `force` would cost: nothing for a paid job not yet delivered (it is downloaded
    /// again), a new payment for a done unit (it is redone).
    Blocked(String),
}

impl Action {
    /// A short name: `skip`, `copy`, `reattach`, `uncertain`, `submit`, `retry`,
    /// `failed_before`, `duplicate`, `blocked`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Skip => "skip",
            Action::Copy { .. } => "copy",
            Action::Reattach(_) => "reattach",
            Action::Uncertain { .. } => "uncertain",
            Action::Submit => "submit",
            Action::Retry => "retry",
            Action::FailedBefore { .. } => "failed_before",
            Action::Duplicate(_) => "duplicate",
            Action::Blocked(_) => "blocked",
        }
    }

    /// Whether the action sends a paid request.
    pub fn pays(&self) -> bool {
        matches!(
            self,
            Action::Submit | Action::Retry | Action::Uncertain { resubmit: true }
        )
    }
}

/// Options of [`plan`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct PlanOptions {
    /// Redo and overwrite: done units are submitted again (paid again), units that failed
    /// after being paid are retried (as with `retry_failed`), and files in the way are
    /// replaced. Never pays twice for a job not yet delivered: a `submitted` unit is re-attached
    /// (its results overwrite what is in the way), and a unit left `submitting` stays
    /// uncertain unless `resubmit_uncertain`. Duplicates are still paid once.
    pub force: bool,
    /// Submit again the units a crash left `submitting` (may pay twice).
    pub resubmit_uncertain: bool,
    /// Submit again the units that failed after being paid ([`Action::Retry`]; pays again).
    pub retry_failed: bool,
}

impl PlanOptions {
    /// Sets `force`.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
    /// Sets `retry_failed`.
    pub fn retry_failed(mut self, retry: bool) -> Self {
        self.retry_failed = retry;
        self
    }
    /// Sets `resubmit_uncertain`.
    pub fn resubmit_uncertain(mut self, resubmit: bool) -> Self {
        self.resubmit_uncertain = resubmit;
        self
    }
}

/// What a run would do with a batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// One action per unit, in the order of the units.
    pub actions: Vec<Action>,
    /// How many units get each action ([`Action::name`]).
    pub totals: BTreeMap<&'static str, usize>,
    /// The estimated credits of what would be submitted (sum of the units' `credits`).
    pub estimated_credits: u64,
    /// Output files the journal wrote (intact), which a run may overwrite.
    pub(crate) owned: HashSet<PathBuf>,
    /// Per unit, the job a previous run paid for, if the journal has it.
    pub(crate) previous: Vec<Option<JobTicket>>,
    /// Per unit, its estimated credits.
    pub(crate) credits: Vec<u32>,
    /// Per unit, the providers whose earlier jobs for it failed (from the row's earlier
    /// tickets): a re-route never goes back to them.
    pub(crate) failed_before: Vec<Vec<String>>,
    /// Per unit, the key of the row it adopts (the same work recorded under another provider
    /// list, [`Unit::related`]): the run re-keys that row to the unit's key before acting on
    /// it, except an uncertain row (left where it is, under the list that names every provider
    /// that may hold the job; a resubmission is recorded under the unit's own key). `None`:
    /// the unit's own row, or none.
    pub adopted_from: Vec<Option<WorkKey>>,
    /// Per unit, what the journal recorded about its last attempt (a submission whose answer
    /// was lost, a download cut…): shown with an uncertain unit instead of guessing a cause.
    /// `None` for an uncertain unit: a run was killed while submitting it.
    pub noted: Vec<Option<String>>,
}

impl Plan {
    /// The units (indexes) that a run with budget `max_credits` would not submit: the paying
    /// units in batch order, by the runner's own rule ([`Batch::max_credits`](super::Batch::max_credits)):
    /// the first one that would pass the budget stops every submission after it. A run may
    /// leave out fewer when submissions refused before the budget ran out are refunded.
    pub fn over_budget(&self, max_credits: u64) -> Vec<usize> {
        let mut budget = Budget::new(Some(max_credits));
        (0..self.actions.len())
            .filter(|&i| self.actions[i].pays() && !budget.take(self.credits[i]))
            .collect()
    }
}

/// The budget rule, shared by the runner and [`Plan::over_budget`]: credits are reserved in
/// batch order; the first unit that would pass the limit closes the budget for good.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) limit: Option<u64>,
    pub(crate) spent: u64,
    pub(crate) exhausted: bool,
}

impl Budget {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Budget {
            limit,
            spent: 0,
            exhausted: false,
        }
    }

    /// Reserves `credits`, or says no (and no to everything after).
    pub(crate) fn take(&mut self, credits: u32) -> bool {
        if self.exhausted {
            return false;
        }
        if let Some(limit) = self.limit
            && self.spent + u64::from(credits) > limit
        {
            self.exhausted = true;
            return false;
        }
        self.spent += u64::from(credits);
        true
    }
}

/// The journal's files, checked lazily.
#[derive(Default)]
struct Owned {
    recorded: HashMap<PathBuf, Vec<OutputRecord>>,
    checked: HashMap<PathBuf, bool>,
}

impl Owned {
    /// Whether the journal wrote `path` and it is intact.
    fn owns(&mut self, path: &Path) -> bool {
        if let Some(&known) = self.checked.get(path) {
            return known;
        }
        let intact = self
            .recorded
            .get(path)
            .is_some_and(|records| records.iter().any(intact));
        self.checked.insert(path.to_path_buf(), intact);
        intact
    }
}

/// Whether the recorded file is at its place with its recorded size and hash.
fn intact(record: &OutputRecord) -> bool {
    match std::fs::metadata(&record.path) {
        Ok(m) if m.is_file() && m.len() == record.size => {
            hash_file(&record.path).is_ok_and(|(_, hash)| hash == record.sha256)
        }
        _ => false,
    }
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The groups of a row's outputs (one per place the job's results were written), in order.
fn groups(outputs: &[OutputRecord]) -> Vec<&[OutputRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=outputs.len() {
        if i == outputs.len() || outputs[i].index == 0 {
            if start < i {
                out.push(&outputs[start..i]);
            }
            start = i;
        }
    }
    out
}

/// Plans `units`: reads the journal once and checks the files on disk (recorded outputs are
/// hashed to prove they are intact). Sends nothing and writes nothing. Blocking.
pub fn plan(store: &dyn Store, units: &[Unit], options: PlanOptions) -> Result<Plan, JournalError> {
    let rows: HashMap<WorkKey, Row> = store
        .rows()?
        .into_iter()
        .map(|row| (row.key.clone(), row))
        .collect();
    // The files the journal wrote, for any key; a run may overwrite those that are intact.
    // Checked (hashed) only when a unit of this batch needs to know, so a small batch against a
    // large journal does not read every output the journal ever wrote.
    let mut owned = Owned::default();
    for row in rows.values() {
        for record in &row.outputs {
            owned
                .recorded
                .entry(record.path.clone())
                .or_default()
                .push(record.clone());
        }
    }

    let mut first_of: HashMap<&WorkKey, usize> = HashMap::new();
    let mut actions = Vec::with_capacity(units.len());
    let mut previous = Vec::with_capacity(units.len());
    let mut adopted_by: HashMap<&WorkKey, usize> = HashMap::new();
    let mut adopted_from = Vec::with_capacity(units.len());
    let mut failed_before = Vec::with_capacity(units.len());
    let mut noted = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        let own = rows.get(&unit.key);
        // Work a run with another provider list paid for, which this unit may take over.
        // Not over a row of its own that holds anything: only over one that sent nothing or
        // that the provider refused unpaid (a 402 under this list, then done under another).
        let adopted = match own {
            Some(row) if !gives_way(row) => None,
            _ => adoptable(&rows, unit, &mut owned, &adopted_by),
        };
        let row = adopted.or(own);
        previous.push(row.and_then(|r| r.ticket.clone()));
        noted.push(row.and_then(|r| r.failure.clone()));
        // Providers that failed this work before, under either key (the own row's history
        // is merged into the adopted one).
        let mut failed: Vec<String> = row.map(|r| r.failed_before.clone()).unwrap_or_default();
        if adopted.is_some() {
            for name in own.map(|r| r.failed_before.clone()).unwrap_or_default() {
                if !failed.contains(&name) {
                    failed.push(name);
                }
            }
        }
        failed_before.push(failed);
        // This unit's recorded results, all present and intact (a done row, or a paid row that
        // failed later while the user restored its files).
        let mine_intact = |owned: &mut Owned, row: &Row| {
            let mine: Vec<&OutputRecord> = row
                .outputs
                .iter()
                .filter(|o| unit.output.is_result(&o.path, o.index as usize))
                .collect();
            // Every recorded result is checked (no short cut), so that a re-attach may replace
            // the intact ones.
            let intact: Vec<bool> = mine.iter().map(|o| owned.owns(&o.path)).collect();
            !mine.is_empty() && intact.iter().all(|&ok| ok)
        };
        let mut action = match row {
            None => Action::Submit,
            Some(row) => match row.state {
                State::Planned => Action::Submit,
                // Force does not bypass this: the provider may have the job already.
                State::Submitting => Action::Uncertain {
                    resubmit: options.resubmit_uncertain,
                },
                // Paid and not delivered: picked up again (force only lets it overwrite what
                // is in the way), never paid again.
                State::Submitted => match &row.ticket {
                    Some(ticket) => Action::Reattach(ticket.clone()),
                    None => Action::Uncertain {
                        resubmit: options.resubmit_uncertain,
                    },
                },
                State::Failed if row.paid == Some(false) => Action::Submit,
                State::Failed if options.retry_failed || options.force => Action::Retry,
                State::Failed if mine_intact(&mut owned, row) => Action::Skip,
                State::Failed => Action::FailedBefore {
                    reason: row
                        .failure
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into()),
                    paid: row.paid,
                },
                // Redo: paid again, which is what force asks for.
                State::Done if options.force => Action::Submit,
                State::Done => {
                    let mine: Vec<&OutputRecord> = row
                        .outputs
                        .iter()
                        .filter(|o| unit.output.is_result(&o.path, o.index as usize))
                        .collect();
                    let elsewhere = groups(&row.outputs).into_iter().find(|g| {
                        !g.iter()
                            .any(|o| unit.output.is_result(&o.path, o.index as usize))
                            && g.iter().all(|o| owned.owns(&o.path))
                    });
                    if mine_intact(&mut owned, row) {
                        Action::Skip
                    } else if let Some(changed) = mine
                        .iter()
                        .find(|o| exists(&o.path) && !owned.owns(&o.path))
                    {
                        let what = if row.ticket.is_some() {
                            "move it away to download it again from its job (free), or pass \
                             force to redo it (paid again)"
                        } else {
                            "move it away, or pass force to redo it (paid again)"
                        };
                        Action::Blocked(format!(
                            "`{}` changed since this journal wrote it; {what}",
                            changed.path.display()
                        ))
                    } else if let Some(group) = elsewhere {
                        Action::Copy {
                            from: group.iter().map(|o| o.path.clone()).collect(),
                        }
                    } else if let Some(ticket) = &row.ticket {
                        // The job was paid for: download its results again.
                        Action::Reattach(ticket.clone())
                    } else {
                        Action::Submit
                    }
                }
            },
        };
        // Results written to a new place must not replace a file the journal did not write.
        if !options.force
            && !matches!(
                action,
                Action::Skip | Action::Blocked(_) | Action::FailedBefore { .. }
            )
            && let Some(foreign) = unit
                .output
                .first_candidates()
                .into_iter()
                .find(|p| exists(p) && !owned.owns(p))
        {
            let what = if matches!(action, Action::Reattach(_)) {
                "move it away or pass force to replace it (the paid job is downloaded again, \
                 not paid again)"
            } else {
                "move it away or pass force to replace it"
            };
            action = Action::Blocked(format!(
                "`{}` already exists and was not written by this journal; {what}",
                foreign.display()
            ));
        }
        // An adopted row is re-keyed only for what acts on it as recorded; a unit that pays
        // anew (force) or is blocked leaves it where it is.
        let adopts = adopted.filter(|_| {
            matches!(
                action,
                Action::Skip | Action::Copy { .. } | Action::Reattach(_) | Action::Uncertain { .. }
            ) && !first_of.contains_key(&unit.key)
        });
        if let Some(row) = adopts {
            adopted_by.insert(&row.key, i);
        } else if adopted.is_some() {
            // Not taken over after all: the unit goes on under its own row, with its history.
            previous[i] = own.and_then(|r| r.ticket.clone());
            noted[i] = own.and_then(|r| r.failure.clone());
            failed_before[i] = own.map(|r| r.failed_before.clone()).unwrap_or_default();
        }
        adopted_from.push(adopts.map(|r| r.key.clone()));
        // The same work twice in one batch: paid once (by the first), copied here, unless this
        // copy is already in place. A blocked unit pays for nothing, so it is nobody's first.
        if let Some(&first) = first_of.get(&unit.key) {
            if !matches!(action, Action::Skip | Action::Blocked(_)) {
                action = Action::Duplicate(first);
            }
        } else if !matches!(action, Action::Blocked(_)) {
            first_of.insert(&unit.key, i);
        }
        actions.push(action);
    }

    let mut totals = BTreeMap::new();
    let mut estimated_credits = 0u64;
    for (action, unit) in actions.iter().zip(units) {
        *totals.entry(action.name()).or_insert(0) += 1;
        if action.pays() {
            estimated_credits += u64::from(unit.credits);
        }
    }
    Ok(Plan {
        actions,
        totals,
        estimated_credits,
        owned: owned
            .checked
            .into_iter()
            .filter_map(|(path, intact)| intact.then_some(path))
            .collect(),
        previous,
        credits: units.iter().map(|u| u.credits).collect(),
        failed_before,
        adopted_from,
        noted,
    })
}

/// Whether a unit's own row may give way to a row it adopts: it holds no job (`planned`, or
/// `failed` unpaid: refused). [`Store::rekey`] replaces the same rows and no others, merging
/// their history (earlier jobs, credits spent, files written) into the adopted row.
///
/// [`Store::rekey`]: super::Store::rekey
fn gives_way(row: &Row) -> bool {
    row.state == State::Planned || (row.state == State::Failed && row.paid == Some(false))
}

/// The best row recorded for `unit`'s work under another provider choice that a provider it
/// accepts served or is serving ([`Unit::related`]), and that no earlier unit of the batch
/// adopted: done with intact results first, then submitted (paid, not delivered), then done
/// without intact results, then left submitting (uncertain) under a list that shares a
/// provider with it. Failed rows never fit: a new list is a new attempt.
fn adoptable<'r>(
    rows: &'r HashMap<WorkKey, Row>,
    unit: &Unit,
    owned: &mut Owned,
    adopted_by: &HashMap<&WorkKey, usize>,
) -> Option<&'r Row> {
    let accepts = |name: &str| unit.accepts.iter().any(|a| a == name);
    let mut best: Option<(u8, &Row)> = None;
    for key in &unit.related {
        let Some(row) = rows.get(key) else { continue };
        if adopted_by.contains_key(&row.key) {
            continue;
        }
        let by_ticket = row.ticket.as_ref().map(|t| accepts(&t.provider));
        let by_list = || split_providers(&row.provider).iter().any(|n| accepts(n));
        let rank = match (row.state, by_ticket) {
            (State::Done, Some(true)) => {
                if groups(&row.outputs)
                    .iter()
                    .any(|g| g.iter().all(|o| owned.owns(&o.path)))
                {
                    0
                } else {
                    2
                }
            }
            (State::Submitted, Some(true)) => 1,
            // No ticket: the provider may or may not have the job (uncertain).
            (State::Submitted, None) | (State::Submitting, _) if by_list() => 3,
            _ => continue,
        };
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, row));
        }
    }
    best.map(|(_, row)| row)
}

//! The batch runner: runs a [`Plan`] against a [`Work`], keeping the journal one step ahead of
//! every paid request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cutout_runtime::{Cutout, Error, JobTicket};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::key::{WorkKey, hex};
use super::plan::{Action, Budget, Plan, PlanOptions, plan};
use super::store::{JournalError, OutputRecord, Store};
use super::work::{Unit, Work};
use crate::router::{Attempt, AttemptOutcome, Decision, ErrorClass};

/// The cause of an [`Outcome::Uncertain`] left by a run that was killed (or lost power) while
/// submitting the unit: the journal has no error for it.
pub const UNCERTAIN_AFTER_A_KILL: &str = "a run was stopped while submitting it";

/// How one unit ended in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Its results were already in place.
    Skipped,
    /// Its results were written (after a submission, a re-attach, or a copy).
    Done {
        /// The files written.
        outputs: Vec<PathBuf>,
    },
    /// Submitted, but the job had not finished within the wait deadline; the next run
    /// re-attaches it (nothing is paid again).
    StillRunning {
        /// Why waiting stopped.
        error: String,
    },
    /// The provider may or may not have accepted it (a crash, or an answer lost in transit):
    /// not submitted again unless `resubmit_uncertain`.
    Uncertain {
        /// What happened: the error this run saw, or, for a unit an earlier run left
        /// uncertain, the error that run recorded ("an earlier run's submission ended with:
        /// …") or [`UNCERTAIN_AFTER_A_KILL`].
        error: Option<String>,
    },
    /// Not submitted: the budget would have been passed.
    OverBudget,
    /// It failed.
    Failed {
        /// Why.
        error: String,
        /// Whether it was paid for (`None`: unknown).
        paid: Option<bool>,
    },
}

impl Outcome {
    /// A short name: `skipped`, `done`, `still_running`, `uncertain`, `over_budget`, `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Skipped => "skipped",
            Outcome::Done { .. } => "done",
            Outcome::StillRunning { .. } => "still_running",
            Outcome::Uncertain { .. } => "uncertain",
            Outcome::OverBudget => "over_budget",
            Outcome::Failed { .. } => "failed",
        }
    }

    /// Whether the unit's results are in place.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Skipped | Outcome::Done { .. })
    }
}

/// Something that happened to a unit during a run: enough for a line per unit, and for
/// `--json` lines carrying the provider and job id of every paid job.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The run decided what to do with the unit.
    Planned {
        /// Index of the unit in the batch.
        index: usize,
        /// Its display name.
        display: String,
        /// The action.
        action: Action,
    },
    /// The paid request is about to be sent (the journal says so already).
    Submitting {
        /// Index of the unit.
        index: usize,
        /// Its display name.
        display: String,
    },
    /// The provider accepted the job (the journal has its ticket).
    Submitted {
        /// Index of the unit.
        index: usize,
        /// Its display name.
        display: String,
        /// The job (its `provider` is the one that accepted it).
        ticket: JobTicket,
        /// Every provider considered for this submission, in order (empty for a [`Work`]
        /// that does not route).
        attempts: Vec<Attempt>,
    },
    /// The unit ended.
    Finished {
        /// Index of the unit.
        index: usize,
        /// Its display name.
        display: String,
        /// Provider short name: the one that took its job (the ticket's), else the unit's.
        provider: String,
        /// The job, when one was paid for (in this run or before).
        ticket: Option<JobTicket>,
        /// How it ended.
        outcome: Outcome,
        /// Every provider considered for it in this run, in order, over all its submissions
        /// (empty when nothing was submitted, or for a [`Work`] that does not route).
        attempts: Vec<Attempt>,
    },
}

/// Called with every [`Event`].
pub type EventFn = Arc<dyn Fn(&Event) + Send + Sync>;

/// One unit's line of a [`Report`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnitReport {
    /// Index of the unit in the batch.
    pub index: usize,
    /// Its display name.
    pub display: String,
    /// Provider short name: the one that took its job (the ticket's), else the unit's.
    pub provider: String,
    /// What the plan said.
    pub action: Action,
    /// The paid job, if any (the last one, after a re-route).
    pub ticket: Option<JobTicket>,
    /// How it ended.
    pub outcome: Outcome,
    /// Every provider considered for it in this run, in order, over all its submissions.
    pub attempts: Vec<Attempt>,
}

/// What a run did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// One per unit, in the order of the units.
    pub units: Vec<UnitReport>,
    /// Units per planned action.
    pub actions: BTreeMap<&'static str, usize>,
    /// Units per outcome.
    pub outcomes: BTreeMap<&'static str, usize>,
    /// Estimated credits of what this run submitted.
    pub spent_credits: u64,
    /// Whether the budget stopped new submissions.
    pub budget_exhausted: bool,
}

impl Report {
    /// Whether every unit's results are in place.
    pub fn all_succeeded(&self) -> bool {
        self.units.iter().all(|u| u.outcome.is_success())
    }

    /// The units left uncertain.
    pub fn uncertain(&self) -> impl Iterator<Item = &UnitReport> {
        self.units
            .iter()
            .filter(|u| matches!(u.outcome, Outcome::Uncertain { .. }))
    }
}

/// Runs batches of [`Unit`]s through a [`Work`], with a journal, so that nothing is paid twice.
#[derive(Clone)]
pub struct Batch {
    store: Arc<dyn Store>,
    concurrency: usize,
    max_credits: Option<u64>,
    resubmit_uncertain: bool,
    retry_failed: bool,
    force: bool,
    on_event: Option<EventFn>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("concurrency", &self.concurrency)
            .field("max_credits", &self.max_credits)
            .field("resubmit_uncertain", &self.resubmit_uncertain)
            .field("retry_failed", &self.retry_failed)
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A journal error ends the unit (and is reported), but never leads to paying without a record.
fn journal_failed(e: JournalError, paid: Option<bool>) -> Outcome {
    Outcome::Failed {
        error: e.to_string(),
        paid,
    }
}

impl Batch {
    /// A runner over `store`: 4 units at a time, no budget, no force.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Batch {
            store,
            concurrency: 4,
            max_credits: None,
            resubmit_uncertain: false,
            retry_failed: false,
            force: false,
            on_event: None,
        }
    }
    /// How many units are worked on at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Stops submitting new work once the estimate would pass `credits`.
    ///
    /// Units reserve their estimated credits in batch order as they are submitted; the first
    /// unit that would pass the budget is not submitted, and neither is any unit after it,
    /// even a smaller one that would still fit: the run *stops submitting new work* (work
    /// already accepted, re-attaches and copies go on). A submission the provider surely
    /// refused gives its credits back, but that does not reopen a budget that ran out. Such
    /// units end as [`Outcome::OverBudget`] and [`Report::budget_exhausted`] is set;
    /// [`Plan::over_budget`] tells beforehand which units a budget leaves out.
    pub fn max_credits(mut self, credits: Option<u64>) -> Self {
        self.max_credits = credits;
        self
    }
    /// Submits again the units a crash left `submitting` (may pay twice).
    pub fn resubmit_uncertain(mut self, yes: bool) -> Self {
        self.resubmit_uncertain = yes;
        self
    }
    /// Submits again the units that failed after being paid ([`Action::Retry`]; pays again).
    /// Without it they end as failures that say so ([`Action::FailedBefore`]).
    pub fn retry_failed(mut self, yes: bool) -> Self {
        self.retry_failed = yes;
        self
    }
    /// Redo and overwrite: done units are submitted again (paid again), units that failed
    /// after being paid are retried (implies [`Batch::retry_failed`]), and files in the way are
    /// replaced. A job paid for and not yet delivered (`submitted`) is still re-attached, never
    /// paid again (its results replace what is in the way), and a unit left `submitting` stays
    /// uncertain unless [`Batch::resubmit_uncertain`]. See [`PlanOptions::force`].
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }
    /// Called with every event.
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    fn emit(&self, event: Event) {
        if let Some(f) = &self.on_event {
            f(&event);
        }
    }

    fn plan_options(&self) -> PlanOptions {
        PlanOptions::default()
            .force(self.force)
            .resubmit_uncertain(self.resubmit_uncertain)
            .retry_failed(self.retry_failed)
    }

    /// What [`run`](Self::run) would do, sending nothing (a dry run).
    pub async fn plan(&self, units: Arc<Vec<Unit>>) -> Result<Plan, JournalError> {
        let store = self.store.clone();
        let options = self.plan_options();
        blocking(move || plan(&*store, &units, options)).await
    }

    /// Plans `units` and runs the plan. Dropping the future (Ctrl-C) leaves the journal
    /// consistent: each state is durable before the step it announces.
    pub async fn run(&self, work: &dyn Work, units: Vec<Unit>) -> Result<Report, JournalError> {
        let units = Arc::new(units);
        let plan = self.plan(units.clone()).await?;
        // Rows recorded under another provider list that units of this one adopt: moved to
        // the units' keys, durably, before anything acts on them (a dry run never gets here).
        // Never an uncertain row: its key and provider list are the only record of who may
        // hold the job, and moving it under a narrower list would hide it from a later run
        // with another list (which would pay again). A resubmission goes under the unit's own
        // key; the uncertain row stays as it is.
        let rekeys: Vec<(WorkKey, WorkKey, String)> = units
            .iter()
            .zip(&plan.adopted_from)
            .zip(&plan.actions)
            .filter(|(_, action)| !matches!(action, Action::Uncertain { .. }))
            .filter_map(|((unit, from), _)| {
                from.as_ref()
                    .map(|from| (from.clone(), unit.key.clone(), unit.provider.clone()))
            })
            .collect();
        if !rekeys.is_empty() {
            let store = self.store.clone();
            blocking(move || {
                rekeys
                    .iter()
                    .try_for_each(|(from, to, provider)| store.rekey(from, to, provider))
            })
            .await?;
        }
        let to_record: Vec<usize> = (0..units.len())
            .filter(|&i| plan.actions[i].pays())
            .collect();
        if !to_record.is_empty() {
            let store = self.store.clone();
            let units = units.clone();
            blocking(move || {
                let list: Vec<&Unit> = to_record.iter().map(|&i| &units[i]).collect();
                store.record_planned(&list)
            })
            .await?;
        }
        for (index, (unit, action)) in units.iter().zip(&plan.actions).enumerate() {
            self.emit(Event::Planned {
                index,
                display: unit.display.clone(),
                action: action.clone(),
            });
        }
        let budget = Mutex::new(Budget::new(self.max_credits));
        let ctx = RunCtx {
            batch: self,
            work,
            plan: &plan,
            budget: &budget,
        };

        // First every unit but the duplicates, then the duplicates copy their first's results.
        let mut results: Vec<Option<Ran>> = vec![None; units.len()];
        let firsts = futures_util::stream::iter(
            (0..units.len()).filter(|&i| !matches!(plan.actions[i], Action::Duplicate(_))),
        )
        .map(|i| {
            let ctx = &ctx;
            let unit = &units[i];
            async move { (i, ctx.run_unit(i, unit).await) }
        })
        .buffer_unordered(self.concurrency)
        .collect::<Vec<_>>()
        .await;
        for (i, result) in firsts {
            results[i] = Some(result);
        }
        for i in 0..units.len() {
            if let Action::Duplicate(first) = plan.actions[i] {
                let outcome = match results[first].as_ref().map(|r| &r.outcome) {
                    Some(Outcome::Done { outputs }) => ctx.copy(&units[i], outputs.clone()).await,
                    Some(Outcome::Skipped) => match ctx.recorded_outputs(&units[first]).await {
                        Ok(outputs) => ctx.copy(&units[i], outputs).await,
                        Err(outcome) => outcome,
                    },
                    Some(other) => other.clone(),
                    None => Outcome::Failed {
                        error: "its first unit did not run".to_owned(),
                        paid: Some(false),
                    },
                };
                let ticket = results[first].as_ref().and_then(|r| r.ticket.clone());
                // Nothing was tried for a copy: its first unit's attempts are that unit's.
                let ran = Ran {
                    ticket,
                    outcome,
                    attempts: Vec::new(),
                };
                self.emit(Event::Finished {
                    index: i,
                    display: units[i].display.clone(),
                    provider: ran.provider(&units[i]),
                    ticket: ran.ticket.clone(),
                    outcome: ran.outcome.clone(),
                    attempts: Vec::new(),
                });
                results[i] = Some(ran);
            }
        }

        let budget = budget
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut report = Report {
            units: Vec::with_capacity(units.len()),
            actions: plan.totals.clone(),
            outcomes: BTreeMap::new(),
            spent_credits: budget.spent,
            budget_exhausted: budget.exhausted,
        };
        for (index, (unit, result)) in units.iter().zip(results).enumerate() {
            let ran = result.expect("every unit ran");
            *report.outcomes.entry(ran.outcome.name()).or_insert(0) += 1;
            report.units.push(UnitReport {
                index,
                display: unit.display.clone(),
                provider: ran.provider(unit),
                action: plan.actions[index].clone(),
                ticket: ran.ticket,
                outcome: ran.outcome,
                attempts: ran.attempts,
            });
        }
        Ok(report)
    }
}

struct RunCtx<'a> {
    batch: &'a Batch,
    work: &'a dyn Work,
    plan: &'a Plan,
    budget: &'a Mutex<Budget>,
}

/// How one unit ended in a run: its (last) paid job, the outcome, and what was tried.
#[derive(Clone)]
struct Ran {
    ticket: Option<JobTicket>,
    outcome: Outcome,
    attempts: Vec<Attempt>,
}

impl Ran {
    fn of(ticket: Option<JobTicket>, outcome: Outcome) -> Self {
        Ran {
            ticket,
            outcome,
            attempts: Vec::new(),
        }
    }

    /// The provider that took the unit's job (a routed unit names its list), else the unit's.
    fn provider(&self, unit: &Unit) -> String {
        self.ticket
            .as_ref()
            .map(|t| t.provider.clone())
            .unwrap_or_else(|| unit.provider.clone())
    }
}

/// How waiting for a paid job ended.
enum Resumed {
    /// Done, or stopped (still running, failed for good, kept for the next run).
    Ended(Outcome),
    /// The job failed at its provider ([`Error::JobFailed`]): the unit may go elsewhere.
    JobFailed(String),
}

impl RunCtx<'_> {
    async fn run_unit(&self, index: usize, unit: &Unit) -> Ran {
        let action = &self.plan.actions[index];
        let ran = match action {
            // The job a previous run paid for, so that a report names it.
            Action::Skip => Ran::of(self.plan.previous[index].clone(), Outcome::Skipped),
            Action::Blocked(reason) => Ran::of(
                None,
                Outcome::Failed {
                    error: reason.clone(),
                    paid: Some(false),
                },
            ),
            Action::Uncertain { resubmit: false } => {
                // What the journal knows, not a guess: the error an earlier run saw, or
                // nothing (a run killed mid-submission).
                let cause = match &self.plan.noted[index] {
                    Some(seen) => format!("an earlier run's submission ended with: {seen}"),
                    None => UNCERTAIN_AFTER_A_KILL.to_owned(),
                };
                Ran::of(None, Outcome::Uncertain { error: Some(cause) })
            }
            Action::FailedBefore { reason, paid } => Ran::of(
                self.plan.previous[index].clone(),
                Outcome::Failed {
                    error: format!(
                        "failed in an earlier run after it was paid: {reason}; \
                         pass retry_failed to submit it again"
                    ),
                    paid: *paid,
                },
            ),
            Action::Copy { from } => Ran::of(None, self.copy(unit, from.clone()).await),
            // A re-route after this job fails never goes back to a provider whose earlier job
            // for this unit failed (recorded in the row's earlier tickets).
            Action::Reattach(ticket) => {
                let failed = self.plan.failed_before[index].clone();
                self.follow(index, unit, ticket.clone(), Vec::new(), failed, false)
                    .await
            }
            Action::Submit | Action::Retry | Action::Uncertain { resubmit: true } => {
                self.submit(index, unit).await
            }
            Action::Duplicate(_) => unreachable!("duplicates run after their first"),
        };
        self.batch.emit(Event::Finished {
            index,
            display: unit.display.clone(),
            provider: ran.provider(unit),
            ticket: ran.ticket.clone(),
            outcome: ran.outcome.clone(),
            attempts: ran.attempts.clone(),
        });
        ran
    }

    fn take_budget(&self, unit: &Unit) -> bool {
        self.budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(unit.credits)
    }

    fn refund(&self, unit: &Unit) {
        self.budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .spent -= u64::from(unit.credits);
    }

    /// Durable before the request is sent: a crash from here on leaves an uncertain row, never
    /// a forgotten paid job. (An earlier job's ticket moves to the row's previous tickets.)
    async fn begin_submit(&self, index: usize, unit: &Unit) -> Result<(), JournalError> {
        let store = self.batch.store.clone();
        let owned = unit.clone();
        blocking(move || store.begin_submit(&owned)).await?;
        self.batch.emit(Event::Submitting {
            index,
            display: unit.display.clone(),
        });
        Ok(())
    }

    async fn submit(&self, index: usize, unit: &Unit) -> Ran {
        if !self.take_budget(unit) {
            return Ran::of(None, Outcome::OverBudget);
        }
        if let Err(e) = self.begin_submit(index, unit).await {
            self.refund(unit);
            return Ran::of(None, journal_failed(e, Some(false)));
        }
        // A retry (or a new submission) may go to any provider, as asked; a re-route after
        // its job fails still leaves out every provider that failed it. A submission a
        // stopped run left uncertain was already past those (a re-route): sent again, it
        // leaves them out too, unless that leaves nowhere to send it (a work of one provider).
        let failed_before = &self.plan.failed_before[index];
        let failed = failed_before.clone();
        let uncertain = matches!(self.plan.actions[index], Action::Uncertain { .. });
        let route = if uncertain && !failed_before.is_empty() {
            self.work
                .route(unit, failed_before)
                .or_else(|| self.work.route(unit, &[]))
        } else {
            self.work.route(unit, &[])
        };
        let Some(route) = route else {
            // A work that sends nowhere: nothing was sent, the row says so.
            self.refund(unit);
            return self
                .refused(unit, "no provider can take it".to_owned(), false)
                .await;
        };
        let routed = route.await;
        self.accepted(index, unit, routed.result, routed.attempts, failed, None)
            .await
    }

    /// After a submission (the row is `submitting`): records the accepted job before the
    /// first poll and follows it; or ends the unit on a refusal. `earlier`: for a re-route,
    /// why the unit's paid job failed at its provider (the submission then left out
    /// `failed_providers`, see [`follow`](Self::follow)).
    async fn accepted(
        &self,
        index: usize,
        unit: &Unit,
        result: Result<JobTicket, Error>,
        attempts: Vec<Attempt>,
        failed_providers: Vec<String>,
        earlier: Option<String>,
    ) -> Ran {
        let rerouted = earlier.is_some();
        let ticket = match result {
            Ok(ticket) => ticket,
            Err(e) if e.may_have_been_taken() => {
                // The row stays `submitting`: the next run reports it as uncertain, with what
                // this run saw (a lost answer, a 502…) rather than a guess. Best effort: the
                // unit is uncertain whether or not the note is written.
                let store = self.batch.store.clone();
                let key = unit.key.clone();
                let seen = e.to_string();
                let _ = blocking(move || store.note_failure(&key, &seen)).await;
                return Ran {
                    ticket: None,
                    outcome: Outcome::Uncertain {
                        error: Some(e.to_string()),
                    },
                    attempts,
                };
            }
            Err(e) => {
                self.refund(unit);
                let (error, paid_before) = match earlier {
                    Some(failed) => (
                        format!("{failed}; not taken by another provider: {e}"),
                        true,
                    ),
                    None => (e.to_string(), false),
                };
                let mut ran = self.refused(unit, error, paid_before).await;
                ran.attempts = attempts;
                return ran;
            }
        };
        // Durable before the first poll: the job can be picked up again after a crash.
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        let stored = ticket.clone();
        if let Err(e) = blocking(move || store.mark_submitted(&key, &stored)).await {
            return Ran {
                ticket: Some(ticket),
                outcome: journal_failed(e, Some(true)),
                attempts,
            };
        }
        self.batch.emit(Event::Submitted {
            index,
            display: unit.display.clone(),
            ticket: ticket.clone(),
            attempts: attempts.clone(),
        });
        // A job from a provider this submission left out: the work ignored `exclude`.
        let excluded = rerouted && failed_providers.contains(&ticket.provider);
        self.follow(index, unit, ticket, attempts, failed_providers, excluded)
            .await
    }

    /// A submission surely not taken: the row is failed, paid only if an earlier job of this
    /// unit (a re-route's first) was.
    async fn refused(&self, unit: &Unit, error: String, paid_before: bool) -> Ran {
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        let reason = error.clone();
        let paid = Some(paid_before);
        if let Err(je) = blocking(move || store.mark_failed(&key, &reason, paid)).await {
            return Ran::of(None, journal_failed(je, paid));
        }
        Ran::of(None, Outcome::Failed { error, paid })
    }

    /// Waits for an accepted job; when it fails at its provider and the work can send the
    /// unit elsewhere, records the failed job, then submits again (within the budget), leaving
    /// out `failed_providers` (every provider whose job for this unit failed, in this run or
    /// an earlier one) and this job's. `excluded`: the job came from a provider the
    /// submission had left out (a work that ignores `exclude`): no re-route, so that such a
    /// work cannot loop.
    async fn follow(
        &self,
        index: usize,
        unit: &Unit,
        ticket: JobTicket,
        mut attempts: Vec<Attempt>,
        mut failed_providers: Vec<String>,
        excluded: bool,
    ) -> Ran {
        let error = match self.resume(unit, ticket.clone()).await {
            Resumed::Ended(outcome) => {
                return Ran {
                    ticket: Some(ticket),
                    outcome,
                    attempts,
                };
            }
            Resumed::JobFailed(error) => error,
        };
        // A provider that failed this unit is not asked again.
        if !failed_providers.contains(&ticket.provider) {
            failed_providers.push(ticket.provider.clone());
        }
        // Asking for the route sends nothing yet (its future is lazy).
        let route = if excluded {
            None
        } else {
            self.work.route(unit, &failed_providers)
        };
        let Some(route) = route else {
            job_failed(&mut attempts, &ticket, &error, Decision::Stop);
            let earlier: Vec<&str> = failed_providers
                .iter()
                .filter(|p| **p != ticket.provider)
                .map(String::as_str)
                .collect();
            let error = if earlier.is_empty() {
                error
            } else {
                format!(
                    "{error}; its earlier jobs failed at {} (not asked again)",
                    earlier.join(", ")
                )
            };
            return Ran {
                outcome: self.fail_paid(unit, error).await,
                ticket: Some(ticket),
                attempts,
            };
        };
        if !self.take_budget(unit) {
            job_failed(&mut attempts, &ticket, &error, Decision::Stop);
            return Ran {
                outcome: self
                    .fail_paid(
                        unit,
                        format!(
                            "{error}; not sent to another provider: the budget \
                             (max_credits) has no room for it"
                        ),
                    )
                    .await,
                ticket: Some(ticket),
                attempts,
            };
        }
        // The failed job joins the row's earlier tickets and the row is `submitting` again,
        // durably, before the new request: a crash in between leaves it uncertain.
        job_failed(&mut attempts, &ticket, &error, Decision::NextProvider);
        if let Err(e) = self.begin_submit(index, unit).await {
            self.refund(unit);
            drop(route);
            return Ran {
                outcome: journal_failed(e, Some(true)),
                ticket: Some(ticket),
                attempts,
            };
        }
        let routed = route.await;
        attempts.extend(routed.attempts);
        let mut ran = Box::pin(self.accepted(
            index,
            unit,
            routed.result,
            attempts,
            failed_providers.clone(),
            Some(error),
        ))
        .await;
        if ran.ticket.is_none() {
            // Refused or uncertain: the report still names the job that was paid for.
            ran.ticket = Some(ticket);
        }
        ran
    }

    async fn resume(&self, unit: &Unit, ticket: JobTicket) -> Resumed {
        let result = match self.work.resume(unit, ticket).await {
            Ok(cutouts) => self.write_results(unit, &cutouts).await,
            // The job may still finish: the row stays as it is, re-attached next time.
            Err(e @ Error::Timeout { .. }) => {
                return Resumed::Ended(Outcome::StillRunning {
                    error: e.to_string(),
                });
            }
            Err(e @ Error::JobFailed { .. }) => return Resumed::JobFailed(e.to_string()),
            Err(e) if ends_the_job(&e) => Err(Stop::Definite(e.to_string())),
            Err(e) => Err(Stop::Pending(e.to_string())),
        };
        Resumed::Ended(match result {
            Ok(records) => {
                let store = self.batch.store.clone();
                let key = unit.key.clone();
                let paths = records.iter().map(|r| r.path.clone()).collect();
                match blocking(move || store.mark_done(&key, &records)).await {
                    Ok(()) => Outcome::Done { outputs: paths },
                    Err(e) => journal_failed(e, Some(true)),
                }
            }
            Err(Stop::Definite(error)) => self.fail_paid(unit, error).await,
            Err(Stop::Pending(error)) => self.keep_paid(unit, error).await,
        })
    }

    /// The job is gone or failed for good: the row is failed (paid), and only `retry_failed`
    /// submits it again.
    async fn fail_paid(&self, unit: &Unit, error: String) -> Outcome {
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        let reason = error.clone();
        match blocking(move || store.mark_failed(&key, &reason, Some(true))).await {
            Ok(()) => Outcome::Failed {
                error: format!(
                    "{error}; the job was paid for: pass retry_failed to submit it again \
                     (pays again)"
                ),
                paid: Some(true),
            },
            Err(e) => journal_failed(e, Some(true)),
        }
    }

    /// The job was paid and may still be fetched (a download cut, a file in the way…): the row
    /// keeps its state and ticket so that the next run picks the job up again, free.
    async fn keep_paid(&self, unit: &Unit, error: String) -> Outcome {
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        let reason = error.clone();
        match blocking(move || store.note_failure(&key, &reason)).await {
            Ok(()) => Outcome::Failed {
                error: format!(
                    "{error}; the job is paid for and kept: fix this and run the same command \
                     again soon (providers keep results for a limited time); it is picked up \
                     again without paying"
                ),
                paid: Some(true),
            },
            Err(e) => journal_failed(e, Some(true)),
        }
    }

    fn may_overwrite(&self, path: &std::path::Path) -> bool {
        self.batch.force || self.plan.owned.contains(path)
    }

    /// Writes every result atomically, all or none: every path is checked before the first
    /// is written (a file the journal did not write is never replaced without force), and a
    /// write failing midway removes the files written before it.
    async fn write_results(
        &self,
        unit: &Unit,
        cutouts: &[Cutout],
    ) -> Result<Vec<OutputRecord>, Stop> {
        if cutouts.is_empty() {
            return Err(Stop::Definite(format!(
                "the job of `{}` returned no image",
                unit.display
            )));
        }
        let paths: Vec<PathBuf> = cutouts
            .iter()
            .enumerate()
            .map(|(i, c)| unit.output.path_for(i, c.format.extension()))
            .collect();
        if let Some(blocked) = paths
            .iter()
            .find(|p| std::fs::symlink_metadata(p).is_ok() && !self.may_overwrite(p))
        {
            return Err(Stop::Pending(format!(
                "`{}` is in the way: it was not written by this journal, so no result of the \
                 job was written; move it away or pass force to replace it (the paid job is \
                 downloaded again, not paid again)",
                blocked.display()
            )));
        }
        let mut records: Vec<OutputRecord> = Vec::with_capacity(cutouts.len());
        for (i, (cutout, path)) in cutouts.iter().zip(paths).enumerate() {
            if let Err(e) = write_file(&path, &cutout.bytes, self.may_overwrite(&path)).await {
                // Nothing unrecorded is left behind: the next run writes them all again.
                for written in &records {
                    let _ = tokio::fs::remove_file(&written.path).await;
                }
                return Err(Stop::Pending(e.to_string()));
            }
            records.push(OutputRecord {
                size: cutout.bytes.len() as u64,
                sha256: hex(&Sha256::digest(&cutout.bytes)),
                path,
                index: i as u32,
            });
        }
        Ok(records)
    }

    async fn recorded_outputs(&self, unit: &Unit) -> Result<Vec<PathBuf>, Outcome> {
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        let output = unit.output.clone();
        match blocking(move || store.get(&key)).await {
            Ok(Some(row)) => Ok(row
                .outputs
                .iter()
                .filter(|o| output.is_result(&o.path, o.index as usize))
                .map(|o| o.path.clone())
                .collect()),
            Ok(None) => Err(Outcome::Failed {
                error: "its first unit has no journal row".to_owned(),
                paid: Some(false),
            }),
            Err(e) => Err(journal_failed(e, Some(false))),
        }
    }

    /// Copies a done unit's results (same key) to this unit's place; nothing is paid.
    async fn copy(&self, unit: &Unit, from: Vec<PathBuf>) -> Outcome {
        let mut records = Vec::with_capacity(from.len());
        for (i, source) in from.iter().enumerate() {
            let bytes = match tokio::fs::read(source).await {
                Ok(b) => b,
                Err(e) => {
                    return Outcome::Failed {
                        error: Error::io("read", source, e).to_string(),
                        paid: Some(false),
                    };
                }
            };
            let ext = source
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("png")
                .to_owned();
            let path = unit.output.path_for(i, &ext);
            if path == *source {
                records.push(OutputRecord {
                    size: bytes.len() as u64,
                    sha256: hex(&Sha256::digest(&bytes)),
                    path,
                    index: i as u32,
                });
                continue;
            }
            if let Err(e) = write_file(&path, &bytes, self.may_overwrite(&path)).await {
                return Outcome::Failed {
                    error: e.to_string(),
                    paid: Some(false),
                };
            }
            records.push(OutputRecord {
                size: bytes.len() as u64,
                sha256: hex(&Sha256::digest(&bytes)),
                path,
                index: i as u32,
            });
        }
        let paths = records.iter().map(|r| r.path.clone()).collect();
        let store = self.batch.store.clone();
        let key = unit.key.clone();
        match blocking(move || store.add_outputs(&key, &records)).await {
            Ok(()) => Outcome::Done { outputs: paths },
            Err(e) => journal_failed(e, Some(false)),
        }
    }
}

/// The provider that took `ticket`'s job is shown as having failed it (its submission was
/// `Served`), with what the runner did next. Nothing changes for a work that does not route
/// (no attempts).
fn job_failed(attempts: &mut [Attempt], ticket: &JobTicket, error: &str, decision: Decision) {
    let Ok(provider) = ticket.provider.parse::<crate::Provider>() else {
        return;
    };
    if let Some(attempt) = attempts
        .iter_mut()
        .rev()
        .find(|a| a.provider == provider && a.outcome == AttemptOutcome::Served)
    {
        attempt.outcome = AttemptOutcome::Failed {
            class: ErrorClass::JobFailed,
            message: error.to_owned(),
            decision,
        };
    }
}

/// Why a paid job's results were not written.
enum Stop {
    /// The job failed or is gone: paying again is the only way to a result.
    Definite(String),
    /// The job may still be fetched (transport, server error, a local write): re-attach.
    Pending(String),
}

/// Whether an error while waiting for or downloading an accepted job means the job will never
/// give its result: it failed, it (or its result) is gone (404, 410, or an anonymous result
/// link refused with 403), the ticket is not valid, or the result is not an image. Anything
/// else (transport, 5xx, 429, the key refused, a local file) may pass.
fn ends_the_job(e: &Error) -> bool {
    if e.is_not_found() || e.status() == Some(410) {
        return true;
    }
    match e {
        Error::JobFailed { .. } | Error::InvalidInput { .. } | Error::Unsupported { .. } => true,
        // Result links carry no key: a refusal there is the link's end, not the key's.
        Error::Service(service) => service.operation == "download" && service.status == 403,
        Error::UnexpectedResponse {
            operation, status, ..
        } => *operation == "download" && !matches!(status, Some(500..=599)),
        _ => false,
    }
}

/// Creates the folder and writes the file atomically.
async fn write_file(path: &std::path::Path, bytes: &[u8], overwrite: bool) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| Error::io("create the folder", parent, e))?;
    }
    cutout_runtime::write_atomically(path, bytes, overwrite).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_definite_end_of_a_paid_job_fails_it() {
        let gone = Error::unexpected("p", "get_status", "no such job").with_status(404);
        let expired = Error::unexpected("p", "get_status", "expired").with_status(410);
        let not_an_image = Error::unexpected("p", "download", "the result is not an image");
        let job_failed = Error::JobFailed {
            provider: "p",
            job_id: "j".into(),
            status: "failed".into(),
            message: None,
        };
        let bad_ticket = Error::invalid("ticket", "no job id");
        for e in [gone, expired, not_an_image, job_failed, bad_ticket] {
            assert!(ends_the_job(&e), "{e:?}");
        }
        let bad_gateway = Error::unexpected("p", "download", "bad gateway").with_status(502);
        let odd_status = Error::unexpected("p", "get_status", "odd answer");
        let disk = Error::io("write", "out/a.png", std::io::ErrorKind::StorageFull.into());
        let config = Error::config("no key");
        for e in [bad_gateway, odd_status, disk, config] {
            assert!(!ends_the_job(&e), "{e:?}");
        }
    }
}

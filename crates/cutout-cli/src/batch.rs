//! The CLI on the journal (`cutout::batch`): where the journal lives, opening it (or not, for a
//! dry run), one progress task per unit, the plan of `--dry-run`, and what a finished run says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cutout::Provider;
use cutout::batch::{
    Action, Batch, Event, JournalError, OutputName, OutputRecord, Plan, PlanOptions, Report, Row,
    SqliteStore, Store, Unit, Work, WorkKey,
};
use cutout::router::{Attempt, AttemptOutcome, Decision, SkipReason};
use cutout::runtime::{CutoutKind, Error, ImageSource, JobTicket};
use serde::Serialize;

use crate::cli::{BatchArgs, Global};
use crate::failure::Failure;
use crate::inputs::{Entry, Expansion};
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

/// A command's inputs as a batch: what [`prepare`] needs.
pub struct Spec<'a> {
    /// Global flags.
    pub global: &'a Global,
    /// The expanded inputs (for the note about skipped files).
    pub expansion: &'a Expansion,
    /// The inputs to work on (the expansion's, or fewer: matte leaves out the trimaps).
    pub entries: &'a [Entry],
    /// Where results go.
    pub out: &'a OutSpec,
    /// The provider that does the paid work (with a fallback list: its first).
    pub provider: Provider,
    /// An ordered fallback list (`--provider a,b`), or empty for one provider. A unit's
    /// provider is then the list joined with `,` (its work key says which list may serve it)
    /// and its estimate the most any listed provider that can take it charges.
    pub fallback: &'a [Provider],
    /// `k=v` pairs of everything that changes the paid result (sorted here).
    pub params: Vec<String>,
    /// The output kind and the results' suffix (`cutout`, `mask`).
    pub suffix: &'static str,
    /// The batch flags.
    pub batch: &'a BatchArgs,
    /// `--force`.
    pub force: bool,
    /// Per entry, the images sent with it (a trimap…): part of the unit's key. Empty when
    /// the command has none.
    pub companions: Vec<Vec<ImageSource>>,
    /// Whether the journal recognises the same work run with another provider list (or a
    /// single provider) that shares a provider with this one ([`Unit::related`]): done, or
    /// paid and in flight, by a provider of this choice, it is not paid again.
    pub relate_lists: bool,
}

/// A batch ready to run (not a dry run).
pub struct Prepared {
    units: Vec<Unit>,
    bad: Vec<(String, String)>,
    journal: PathBuf,
    /// The journal, when it was opened before the output folder was made (`--journal`).
    store: Option<Arc<dyn Store>>,
    ui: Arc<Ui>,
    tasks: Arc<Tasks>,
    /// How results name the provider before one took the job (the list, for a fallback).
    provider: &'static str,
}

impl Prepared {
    /// The progress tasks, for the command's [`Work`].
    pub fn tasks(&self) -> Arc<Tasks> {
        self.tasks.clone()
    }
}

/// Builds the units (inputs hashed, credits estimated from their headers); with `--dry-run`
/// prints the plan and returns `None` (having sent and created nothing). Otherwise creates the
/// output folder and fails, before anything is paid, the inputs whose results could not be
/// written there.
pub async fn prepare(
    spec: Spec<'_>,
    credits: fn(Provider, &ImageSource) -> Result<u32, Error>,
) -> Result<Option<Prepared>, Failure> {
    let mut params = spec.params;
    if spec.global.sandbox {
        // Simulated results are never mistaken for real ones, nor the other way round.
        params.push("endpoint=sandbox".to_owned());
    }
    params.sort();
    let params = params.join(",");
    let journal = journal_path(spec.batch.journal.as_deref(), spec.out);
    let providers: Vec<Provider> = if spec.fallback.is_empty() {
        vec![spec.provider]
    } else {
        spec.fallback.to_vec()
    };
    let (units, relatives, bad) = make_units(
        spec.entries,
        spec.companions,
        spec.out,
        providers.clone(),
        &params,
        spec.suffix,
        credits,
    )
    .await;
    let units = if spec.relate_lists {
        related(units, &providers)
    } else {
        units
    };
    if spec.batch.dry_run {
        let plan = dry_plan(&journal, &units, spec.batch, spec.force)?;
        if !spec.global.quiet
            && let Some(note) = without_journal(spec.expansion, &journal).skip_note()
        {
            eprintln!("{note}");
        }
        print_plan(spec.global, &units, &plan, &journal, spec.batch.max_credits);
        for (input, error) in &bad {
            eprintln!("error: {input}: {error}");
        }
        return if bad.is_empty() {
            Ok(None)
        } else {
            Err(Failure::InputsFailed)
        };
    }
    // A journal kept elsewhere is opened (and checked: schema, lock, writable) before the output
    // folder is made, so that a refused journal leaves nothing behind.
    let store = match spec.batch.journal {
        Some(_) => Some(open(&journal)?),
        None => None,
    };
    spec.out.prepare()?;
    // A folder in the way or an unwritable folder fails its input now, before it is paid for
    // (existing files are the plan's business: the journal may have written them).
    let mut bad = bad;
    let mut ready = Vec::with_capacity(units.len());
    for (unit, relative) in units.into_iter().zip(relatives) {
        match output::precheck_result(spec.out, &relative, spec.suffix, false, true) {
            Ok(()) => ready.push(unit),
            Err(error) => bad.push((unit.display.clone(), error)),
        }
    }
    let ui = Arc::new(Ui::new(spec.global, spec.entries.len()));
    ui.expanded(&without_journal(spec.expansion, &journal));
    // The tasks know the units the runner gets (their indexes are the runner's).
    let tasks = Arc::new(Tasks::new(ui.clone(), &ready));
    Ok(Some(Prepared {
        units: ready,
        bad,
        journal,
        store,
        ui,
        tasks,
        provider: provider_label(spec.provider, spec.fallback),
    }))
}

/// The provider name of a run's units: the provider's, or the fallback list joined with `,`.
pub fn provider_label(provider: Provider, fallback: &[Provider]) -> &'static str {
    if fallback.is_empty() {
        return provider.name();
    }
    let joined: Vec<&str> = fallback.iter().map(|p| p.name()).collect();
    // Once per process (one batch per command): records carry a `&'static str`.
    Box::leak(joined.join(",").into_boxed_str())
}

/// The expansion's note without the journal's own files (a `--journal` inside an input folder
/// is not a skipped input).
fn without_journal(expansion: &Expansion, journal: &Path) -> Expansion {
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let journal = canonical(journal);
    let own = |path: &Path| {
        let path = canonical(path);
        path == journal
            || ["-wal", "-shm", "-journal"].iter().any(|suffix| {
                let mut name = journal.as_os_str().to_owned();
                name.push(suffix);
                path == Path::new(&name)
            })
    };
    Expansion {
        entries: Vec::new(),
        skipped: expansion
            .skipped
            .iter()
            .filter(|path| !own(path))
            .cloned()
            .collect(),
        earlier_results: expansion.earlier_results,
        hidden: expansion.hidden,
        special: expansion.special,
    }
}

/// The units of `entries` (with their relative output names), and the inputs that cannot be
/// one (unreadable, not an image), with why.
async fn make_units(
    entries: &[Entry],
    companions: Vec<Vec<ImageSource>>,
    spec: &OutSpec,
    providers: Vec<Provider>,
    params: &str,
    suffix: &'static str,
    credits: fn(Provider, &ImageSource) -> Result<u32, Error>,
) -> (Vec<Unit>, Vec<PathBuf>, Vec<(String, String)>) {
    let entries = entries.to_vec();
    let spec = spec.clone();
    let params = params.to_owned();
    let name = providers
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(",");
    let kind = if suffix == "mask" {
        CutoutKind::Mask
    } else {
        CutoutKind::Rgba
    };
    // Hashing reads every file: off the async threads.
    tokio::task::spawn_blocking(move || {
        let mut units = Vec::with_capacity(entries.len());
        let mut relatives = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let input = &entry.input;
            let mut sources = vec![input.source()];
            sources.extend(companions.get(i).cloned().unwrap_or_default());
            let made = input.check_local("input").and_then(|()| {
                let source = input.source();
                // With a list: the most any provider that can take it would charge (so the
                // budget is never passed whoever serves it).
                let mut most = None;
                for &provider in &providers {
                    if providers.len() > 1 && provider.check(&source, kind).is_err() {
                        continue;
                    }
                    let c = credits(provider, &source)?;
                    most = Some(most.map_or(c, |m: u32| m.max(c)));
                }
                let credits = most.unwrap_or(1);
                Unit::new(
                    sources,
                    name.clone(),
                    params.clone(),
                    suffix,
                    spec.output_name(&entry.relative, suffix),
                    credits,
                )
            });
            match made {
                Ok(unit) => {
                    units.push(unit.display(input.display()));
                    relatives.push(entry.relative.clone());
                }
                Err(error) => bad.push((input.display(), error.to_string())),
            }
        }
        (units, relatives, bad)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// `units` knowing the same work under every other provider list that shares a provider with
/// `providers`, and accepting those providers ([`Unit::related`]).
fn related(units: Vec<Unit>, providers: &[Provider]) -> Vec<Unit> {
    let lists = sharing_lists(providers);
    let accepts: Vec<String> = providers.iter().map(|p| p.name().to_owned()).collect();
    units
        .into_iter()
        .map(|unit| {
            let keys = lists.iter().map(|l| unit.key_for_provider(l)).collect();
            unit.related(keys, accepts.clone())
        })
        .collect()
}

/// The provider names of every ordered list of distinct providers (one provider alone
/// included) that shares at least one provider with `chosen`: the provider fields under which
/// the journal may hold the same work done or paid by a provider chosen now.
fn sharing_lists(chosen: &[Provider]) -> Vec<String> {
    fn extend(prefix: &mut Vec<Provider>, chosen: &[Provider], out: &mut Vec<String>) {
        if prefix.iter().any(|p| chosen.contains(p)) {
            let names: Vec<&str> = prefix.iter().map(|p| p.name()).collect();
            out.push(names.join(","));
        }
        for &next in Provider::ALL {
            if !prefix.contains(&next) {
                prefix.push(next);
                extend(prefix, chosen, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    extend(&mut Vec::new(), chosen, &mut out);
    out
}

/// Runs a prepared batch through `work`: the journal is opened (and locked), the inputs that
/// could not be units are reported, then the runner goes.
pub async fn execute<W: Work>(
    prepared: Prepared,
    global: &Global,
    batch: &BatchArgs,
    force: bool,
    concurrency: usize,
    work: W,
) -> Result<(), Failure> {
    let Prepared {
        units,
        bad,
        journal,
        store,
        ui,
        tasks,
        provider,
    } = prepared;
    let store = match store {
        Some(store) => store,
        None => open(&journal)?,
    };
    // For the message of a Ctrl-C from here on (one batch per process).
    let _ = RUNNING_JOURNAL.set(journal.clone());
    for (input, error) in bad {
        let task = ui.task(&input);
        ui.done(&task, Record::failed(input, provider, &task, error));
    }
    let shown = tasks.clone();
    let name = provider;
    let runner = Batch::new(store)
        .concurrency(concurrency)
        .max_credits(batch.max_credits)
        .resubmit_uncertain(batch.resubmit_uncertain)
        .retry_failed(batch.retry_failed)
        .force(force)
        .on_event(move |event| shown.on_event(event, name));
    let report = runner.run(&work, units).await.map_err(setup)?;
    // The journal holds an exclusive lock until it is dropped; the display is shared until then.
    drop(runner);
    drop(work);
    drop(tasks);
    let ui = Arc::try_unwrap(ui)
        .map_err(|_| Failure::Setup("the progress display is still in use".to_owned()))?;
    finish(ui, global, &report, &journal)
}

/// One provider's part in a unit, as `--json` shows it (`tried`).
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    /// The provider.
    pub provider: &'static str,
    /// `served`, `skipped` or `failed`.
    pub outcome: &'static str,
    /// Why it was skipped: `cannot_take`, `over_budget`, `cooling_down`, `breaker_open`,
    /// `excluded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// How its failure was classified (`out_of_credits`, `outage`, `job_failed`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    /// What the router did next: `retry`, `next_provider`, `stop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'static str>,
    /// The failure's message, or what a skip was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn skip_reason(reason: &SkipReason) -> (&'static str, Option<String>) {
    match reason {
        SkipReason::CannotTake(why) => ("cannot_take", Some(why.clone())),
        SkipReason::OverBudget => ("over_budget", None),
        SkipReason::CoolingDown { remaining } => (
            "cooling_down",
            Some(format!("for {} s more", remaining.as_secs())),
        ),
        SkipReason::BreakerOpen { remaining } => (
            "breaker_open",
            Some(format!("a probe in {} s", remaining.as_secs())),
        ),
        SkipReason::Excluded => ("excluded", Some("its job for this input failed".to_owned())),
        #[allow(unreachable_patterns)]
        _ => ("other", None),
    }
}

/// The `tried` list of an attempt list. A provider skipped as `excluded` after a re-route is
/// left out when the list already has its attempt (the failure says it all; the skip would
/// count it twice).
pub fn tried(attempts: &[Attempt]) -> Vec<Tried> {
    attempts
        .iter()
        .enumerate()
        .filter(|(at, attempt)| {
            !(matches!(
                attempt.outcome,
                AttemptOutcome::Skipped(SkipReason::Excluded)
            ) && attempts[..*at]
                .iter()
                .any(|a| a.provider == attempt.provider))
        })
        .map(|(_, attempt)| {
            let mut line = Tried {
                provider: attempt.provider.name(),
                outcome: "served",
                reason: None,
                class: None,
                decision: None,
                message: None,
            };
            match &attempt.outcome {
                AttemptOutcome::Served => {}
                AttemptOutcome::Skipped(reason) => {
                    let (name, message) = skip_reason(reason);
                    line.outcome = "skipped";
                    line.reason = Some(name);
                    line.message = message;
                }
                AttemptOutcome::Failed {
                    class,
                    message,
                    decision,
                } => {
                    line.outcome = "failed";
                    line.class = Some(class.name());
                    line.message = Some(message.clone());
                    line.decision = Some(match decision {
                        Decision::RetryAfter(_) => "retry",
                        Decision::NextProvider => "next_provider",
                        Decision::Stop => "stop",
                        #[allow(unreachable_patterns)]
                        _ => "other",
                    });
                }
                #[allow(unreachable_patterns)]
                _ => line.outcome = "other",
            }
            line
        })
        .collect()
}

/// Per provider: inputs served, failures by class, skips by reason, over a run's attempts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProviderCounts {
    /// Inputs it served.
    pub served: usize,
    /// Its failures, by class.
    pub failed: std::collections::BTreeMap<&'static str, usize>,
    /// Inputs it was skipped for, by reason.
    pub skipped: std::collections::BTreeMap<&'static str, usize>,
}

/// The per-provider counts of a run, in the order providers first appear.
pub fn provider_counts(report: &Report) -> Vec<(&'static str, ProviderCounts)> {
    let mut counts: Vec<(&'static str, ProviderCounts)> = Vec::new();
    for line in report.units.iter().flat_map(|u| tried(&u.attempts)) {
        let at = match counts.iter().position(|(p, _)| *p == line.provider) {
            Some(at) => at,
            None => {
                counts.push((line.provider, ProviderCounts::default()));
                counts.len() - 1
            }
        };
        let entry = &mut counts[at].1;
        match line.outcome {
            "served" => entry.served += 1,
            "skipped" => {
                *entry
                    .skipped
                    .entry(line.reason.unwrap_or("other"))
                    .or_default() += 1
            }
            _ => {
                *entry
                    .failed
                    .entry(line.class.unwrap_or("other"))
                    .or_default() += 1
            }
        }
    }
    counts
}

/// The line of the summary that says what each provider did.
pub fn provider_summary(counts: &[(&'static str, ProviderCounts)]) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(provider, c)| {
            let mut items = vec![format!("{} served", c.served)];
            for (class, n) in &c.failed {
                items.push(format!("{n} failed ({class})"));
            }
            for (reason, n) in &c.skipped {
                items.push(format!("{n} skipped ({reason})"));
            }
            format!("{provider}: {}", items.join(", "))
        })
        .collect();
    Some(format!("providers: {}", parts.join("; ")))
}

/// The journal of the batch this process is running, once its runner started.
static RUNNING_JOURNAL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Records the journal of the batch this process runs (one per process), for what a Ctrl-C
/// says; `execute` does it itself.
pub fn set_running_journal(journal: &Path) {
    let _ = RUNNING_JOURNAL.set(journal.to_path_buf());
}

/// The journal of the running batch, if one started (for what a Ctrl-C says).
pub fn running_journal() -> Option<&'static Path> {
    RUNNING_JOURNAL.get().map(PathBuf::as_path)
}

/// The journal's file name in an output folder.
pub const JOURNAL_NAME: &str = ".cutout-journal.sqlite";

/// Where the journal of a run is: `--journal`, else in the output folder (beside the file for
/// `-o FILE`, the current directory without `-o`).
pub fn journal_path(explicit: Option<&Path>, spec: &OutSpec) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    match spec {
        OutSpec::Cwd => PathBuf::from(JOURNAL_NAME),
        OutSpec::Dir(dir) => dir.join(JOURNAL_NAME),
        OutSpec::File(file) => match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.join(JOURNAL_NAME),
            _ => PathBuf::from(JOURNAL_NAME),
        },
    }
}

/// A journal error as a setup failure (exit 3): it names the path and says what to do.
pub fn setup(error: JournalError) -> Failure {
    Failure::Setup(error.to_string())
}

/// The journal of a dry run that has none yet: empty, and never written (a dry run creates
/// nothing).
struct Absent;

impl Store for Absent {
    fn get(&self, _key: &WorkKey) -> Result<Option<Row>, JournalError> {
        Ok(None)
    }
    fn rows(&self) -> Result<Vec<Row>, JournalError> {
        Ok(Vec::new())
    }
    fn record_planned(&self, _units: &[&Unit]) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn begin_submit(&self, _unit: &Unit) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn mark_submitted(&self, _key: &WorkKey, _ticket: &JobTicket) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn mark_done(&self, _key: &WorkKey, _outputs: &[OutputRecord]) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn add_outputs(&self, _key: &WorkKey, _outputs: &[OutputRecord]) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn mark_failed(
        &self,
        _key: &WorkKey,
        _reason: &str,
        _paid: Option<bool>,
    ) -> Result<(), JournalError> {
        Err(read_only())
    }
    fn rekey(&self, _from: &WorkKey, _to: &WorkKey, _provider: &str) -> Result<(), JournalError> {
        Err(read_only())
    }
}

fn read_only() -> JournalError {
    JournalError::ReadOnly {
        path: PathBuf::from("(dry run)"),
        what: "a dry run writes nothing".to_owned(),
    }
}

/// Opens the journal at `path` for a run (created with its folder when missing).
pub fn open(path: &Path) -> Result<Arc<dyn Store>, Failure> {
    let owned = path.to_path_buf();
    SqliteStore::open(owned)
        .map(|store| Arc::new(store) as Arc<dyn Store>)
        .map_err(setup)
}

/// Plans `units` against the journal at `path` without creating anything: an absent journal is
/// an empty one.
pub fn dry_plan(
    path: &Path,
    units: &[Unit],
    args: &BatchArgs,
    force: bool,
) -> Result<Plan, Failure> {
    let options = PlanOptions::default()
        .force(force)
        .resubmit_uncertain(args.resubmit_uncertain)
        .retry_failed(args.retry_failed);
    let plan = if path.exists() {
        let store = SqliteStore::open(path).map_err(setup)?;
        cutout::batch::plan(&store, units, options)
    } else {
        cutout::batch::plan(&Absent, units, options)
    };
    plan.map_err(setup)
}

/// How an output name is shown (a stem's extension is only known from the result).
fn show_output(output: &OutputName) -> String {
    match output {
        OutputName::Stem(stem) => format!("{}.*", stem.display()),
        OutputName::Exact(path) => path.display().to_string(),
    }
}

/// One row of `--dry-run --json`.
#[derive(Serialize)]
struct PlanLine<'a> {
    input: &'a str,
    provider: &'a str,
    action: &'static str,
    output: String,
    credits: u32,
    job_id: Option<String>,
    /// `--max-credits` leaves it out: the real run would not submit it.
    over_budget: bool,
    /// The journal has this work under another provider list (done, or paid and in flight,
    /// by a provider chosen now): the run takes that record over instead of paying again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    adopted: bool,
}

/// Prints the plan of a dry run: one line per unit (stdout), the totals and the estimate, and
/// what `max_credits` would leave out.
pub fn print_plan(
    global: &Global,
    units: &[Unit],
    plan: &Plan,
    journal: &Path,
    max_credits: Option<u64>,
) {
    let left_out: std::collections::HashSet<usize> = max_credits
        .map(|max| plan.over_budget(max))
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (index, (unit, action)) in units.iter().zip(&plan.actions).enumerate() {
        let over = left_out.contains(&index);
        let credits = if action.pays() { unit.credits } else { 0 };
        let job_id = match action {
            Action::Reattach(ticket) => ticket.job_id.clone(),
            _ => None,
        };
        if global.json {
            crate::report::print_json(&PlanLine {
                input: &unit.display,
                provider: &unit.provider,
                action: action.name(),
                output: show_output(&unit.output),
                credits,
                job_id,
                over_budget: over,
                adopted: plan.adopted_from[index].is_some(),
            });
            continue;
        }
        let mut line = format!(
            "{:<10} {} → {}",
            action.name(),
            unit.display,
            show_output(&unit.output)
        );
        if action.pays() {
            line.push_str(&format!(
                " ({credits} credit{})",
                if credits == 1 { "" } else { "s" }
            ));
        }
        match action {
            Action::Reattach(ticket) => {
                line.push_str(&format!(
                    " (job {})",
                    ticket.job_id.as_deref().unwrap_or("with a ready result")
                ));
            }
            Action::Uncertain { resubmit: false } => line.push_str(&format!(
                " ({}: not sent again without --resubmit-uncertain)",
                match &plan.noted[index] {
                    Some(seen) => format!(
                        "an earlier run's submission ended with: {}",
                        cli_words(seen)
                    ),
                    None => cutout::batch::UNCERTAIN_AFTER_A_KILL.to_owned(),
                }
            )),
            Action::Blocked(reason) => line.push_str(&format!(": {}", cli_words(reason))),
            Action::FailedBefore { reason, .. } => line.push_str(&format!(
                " (failed in an earlier run after it was paid: {reason}; not sent again without \
                 --retry-failed)"
            )),
            Action::Duplicate(first) => {
                line.push_str(&format!(
                    " (same work as {}: paid once)",
                    units[*first].display
                ));
            }
            _ => {}
        }
        if plan.adopted_from[index].is_some() {
            line.push_str(" (recorded under another provider list)");
        }
        if over {
            line.push_str(" — over budget: not submitted with --max-credits");
        }
        crate::report::out(format_args!("{line}"));
    }
    if !global.json {
        let totals: Vec<String> = plan
            .totals
            .iter()
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        crate::report::out(format_args!(
            "dry run: {}; estimated {} credit{} (sent nothing; journal `{}`)",
            totals.join(", "),
            plan.estimated_credits,
            if plan.estimated_credits == 1 { "" } else { "s" },
            journal.display()
        ));
        if let Some(max) = max_credits
            && !left_out.is_empty()
        {
            let cut: u64 = left_out.iter().map(|&i| u64::from(units[i].credits)).sum();
            let count = left_out.len();
            crate::report::out(format_args!(
                "over budget: --max-credits {max} leaves out {count} input{} ({cut} credit{}): \
                 the real run would not submit {} and would exit 4",
                if count == 1 { "" } else { "s" },
                if cut == 1 { "" } else { "s" },
                if count == 1 { "it" } else { "them" },
            ));
        }
    }
}

/// The runner's words for the library ("pass force") said for the command line.
pub fn cli_words(text: &str) -> String {
    text.replace("pass force", "pass --force")
        .replace("pass retry_failed", "pass --retry-failed")
}

/// The progress tasks of a batch's units, made when a unit starts.
pub struct Tasks {
    ui: Arc<Ui>,
    names: Vec<String>,
    index_of: HashMap<OutputName, usize>,
    /// Unit `i`'s output name (for the line of a skipped unit).
    outputs: Vec<OutputName>,
    /// Whether unit `i` writes to a file the user named (`-o FILE`).
    exact: Vec<bool>,
    /// What the plan does with unit `i` (known from the runner's `Planned` events).
    actions: Mutex<Vec<Option<&'static str>>>,
    live: Mutex<HashMap<usize, Arc<Task>>>,
}

impl Tasks {
    /// Tasks for `units`, shown by `ui`.
    pub fn new(ui: Arc<Ui>, units: &[Unit]) -> Self {
        Tasks {
            ui,
            names: units.iter().map(|u| u.display.clone()).collect(),
            index_of: units
                .iter()
                .enumerate()
                .map(|(i, u)| (u.output.clone(), i))
                .collect(),
            outputs: units.iter().map(|u| u.output.clone()).collect(),
            exact: units
                .iter()
                .map(|u| matches!(u.output, OutputName::Exact(_)))
                .collect(),
            actions: Mutex::new(vec![None; units.len()]),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The index of `unit` in the batch (output names are unique: checked before).
    pub fn index(&self, unit: &Unit) -> usize {
        self.index_of.get(&unit.output).copied().unwrap_or(0)
    }

    /// The task of unit `index`, started on first use.
    pub fn get(&self, index: usize) -> Arc<Task> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.entry(index)
            .or_insert_with(|| {
                self.ui
                    .task(self.names.get(index).map(String::as_str).unwrap_or(""))
            })
            .clone()
    }

    /// The task of `unit`.
    pub fn of(&self, unit: &Unit) -> Arc<Task> {
        self.get(self.index(unit))
    }

    /// Shows an event of the runner: a finished unit becomes a result line (and a JSON line).
    pub fn on_event(&self, event: &Event, provider: &'static str) {
        let (index, display, ticket, outcome, served_by, attempts) = match event {
            Event::Planned { index, action, .. } => {
                let mut actions = self.actions.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = actions.get_mut(*index) {
                    *slot = Some(action.name());
                }
                return;
            }
            Event::Finished {
                index,
                display,
                ticket,
                outcome,
                provider,
                attempts,
                ..
            } => (index, display, ticket, outcome, provider, attempts),
            _ => return,
        };
        // The provider that took the job (a fallback list names it in the ticket).
        let provider = served_by
            .parse::<Provider>()
            .map(Provider::name)
            .unwrap_or(provider);
        let task = self.get(*index);
        let mut record = record(display, provider, &task, ticket.as_ref(), outcome);
        if !attempts.is_empty() {
            record.tried = Some(tried(attempts));
        }
        record.action = self
            .actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(*index)
            .copied()
            .flatten();
        if let cutout::batch::Outcome::Skipped = outcome
            && let Some(name) = self.outputs.get(*index)
            && let Some(existing) = existing_output(name)
        {
            record.output = Some(existing.display().to_string());
            record.bytes = std::fs::metadata(&existing).ok().map(|m| m.len());
        }
        // A file named with -o that got another format than its extension says: tell.
        if self.exact.get(*index).copied().unwrap_or(false)
            && let cutout::batch::Outcome::Done { outputs } = outcome
            && let Some(first) = outputs.first()
            && let Ok(Some(info)) = ImageSource::path(first).probe("result")
        {
            crate::commands::remove_bg::warn_extension(&self.ui, first, info.format.extension());
        }
        self.ui.done(&task, record);
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(index);
    }
}

/// The first result of a unit skipped as done: the exact path, or the stem with the extension
/// found on disk (the plan checked that the journal's outputs are there).
pub fn existing_output(name: &OutputName) -> Option<PathBuf> {
    match name {
        OutputName::Exact(path) => Some(path.clone()),
        OutputName::Stem(_) => output::RESULT_EXTENSIONS
            .iter()
            .map(|ext| name.path_for(0, ext))
            .find(|path| path.is_file()),
    }
}

/// The `--json` record of a finished unit.
fn record(
    display: &str,
    provider: &'static str,
    task: &Task,
    ticket: Option<&JobTicket>,
    outcome: &cutout::batch::Outcome,
) -> Record {
    use cutout::batch::Outcome;
    let job_id = ticket.and_then(|t| t.job_id.clone());
    let mut record = match outcome {
        Outcome::Skipped | Outcome::Done { .. } => Record::ok(display.to_owned(), provider, task),
        Outcome::StillRunning { error } => Record::failed(
            display.to_owned(),
            provider,
            task,
            format!(
                "still running{}: run the same command again to pick it up ({error})",
                job_id
                    .as_deref()
                    .map(|id| format!(" (job {id})"))
                    .unwrap_or_default()
            ),
        ),
        // The cause this run saw, or what the journal has for a row an earlier run left.
        Outcome::Uncertain { error } => Record::failed(
            display.to_owned(),
            provider,
            task,
            crate::report::uncertain_words(error.as_deref().map(cli_words).as_deref()),
        ),
        Outcome::OverBudget => Record::not_submitted(display.to_owned(), provider, task),
        Outcome::Failed { error, .. } => {
            Record::failed(display.to_owned(), provider, task, cli_words(error))
        }
        // `Outcome` may grow: an unknown outcome is not a success.
        #[allow(unreachable_patterns)]
        other => Record::failed(
            display.to_owned(),
            provider,
            task,
            format!("ended as {}", other.name()),
        ),
    };
    record.job_id = job_id;
    record.outcome = Some(outcome.name());
    if let Outcome::Done { outputs } = outcome
        && let Some(first) = outputs.first()
    {
        record.output = Some(first.display().to_string());
        record.bytes = std::fs::metadata(first).ok().map(|m| m.len());
        if let Ok(Some(info)) = ImageSource::path(first).probe("result") {
            record.width = Some(info.width);
            record.height = Some(info.height);
        }
    }
    record
}

/// Closes a run: the summary (uncertain units, the budget), the journal's path, the exit code.
pub fn finish(ui: Ui, global: &Global, report: &Report, journal: &Path) -> Result<(), Failure> {
    let uncertain: Vec<_> = report.uncertain().collect();
    if !uncertain.is_empty() {
        eprintln!(
            "{} input{} uncertain (the provider may have the job): check the provider's \
             dashboard or `cutout jobs`; run again with --resubmit-uncertain to pay again:",
            uncertain.len(),
            if uncertain.len() == 1 { " is" } else { "s are" }
        );
        for unit in &uncertain {
            // The cause this run saw (a 502, a lost answer…), or the journal's for an
            // earlier run's row.
            let cause = match &unit.outcome {
                cutout::batch::Outcome::Uncertain { error: Some(cause) } => cli_words(cause),
                _ => crate::report::KILLED_MID_SUBMISSION.to_owned(),
            };
            eprintln!("  {}: {cause}", unit.display);
        }
    }
    if let Some(line) = provider_summary(&provider_counts(report))
        && !global.quiet
    {
        eprintln!("{line}");
    }
    let result = ui.finish();
    if !global.quiet {
        eprintln!("journal: {}", journal.display());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_lists_are_every_ordered_list_with_a_chosen_provider() {
        let all = sharing_lists(&[Provider::ALL[0]]);
        let n = Provider::ALL.len();
        // Lists without the chosen provider: every ordered list over the others.
        let without: usize = (1..n)
            .map(|k| (0..k).map(|i| n - 1 - i).product::<usize>())
            .sum();
        let total: usize = (1..=n)
            .map(|k| (0..k).map(|i| n - i).product::<usize>())
            .sum();
        assert_eq!(all.len(), total - without);
        let first = Provider::ALL[0].name();
        assert!(
            all.iter().all(|l| l.split(',').any(|p| p == first)),
            "{all:?}"
        );
        assert!(all.contains(&first.to_owned()));
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}

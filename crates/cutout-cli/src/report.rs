//! What the user sees: progress bars on a terminal (plain lines otherwise), one JSON object per
//! input with `--json`, and a closing summary that says which inputs failed and why.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutout::runtime::Progress;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::Global;
use crate::failure::Failure;

/// The outcome of one input, as printed by `--json` (one object per line on stdout).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The input as given (a URL without its query).
    pub input: String,
    /// The file written, if any.
    pub output: Option<String>,
    /// The provider that did the work (`local` for local work).
    pub provider: &'static str,
    /// `ok` or `error`.
    pub status: &'static str,
    /// What went wrong.
    pub error: Option<String>,
    /// Size of the written file.
    pub bytes: Option<u64>,
    /// Width of the result in pixels.
    pub width: Option<u32>,
    /// Height of the result in pixels.
    pub height: Option<u32>,
    /// The provider's job id (Topaz process id, ModelsLab request id, Tengr artwork id,
    /// BackgroundCut output key).
    pub job_id: Option<String>,
    /// Time from the start of this input to its end.
    pub elapsed_ms: u64,
    /// How a batch unit ended (`done`, `skipped`, `failed`, `uncertain`, `still_running`,
    /// `over_budget`); commands without a journal leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// What the batch's plan did with the input (`submit`, `skip`, `reattach`, `uncertain`,
    /// `retry`, `copy`, `duplicate`, `blocked`); commands without a journal leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// With a fallback list (`--provider a,b`): every provider considered, in order, and what
    /// happened there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tried: Option<Vec<crate::batch::Tried>>,
}

impl Record {
    /// A successful input.
    pub fn ok(input: String, provider: &'static str, task: &Task) -> Self {
        Self {
            input,
            output: None,
            provider,
            status: "ok",
            error: None,
            bytes: None,
            width: None,
            height: None,
            job_id: None,
            elapsed_ms: task.elapsed_ms(),
            outcome: None,
            action: None,
            tried: None,
        }
    }

    /// An input left out by `--max-credits`.
    pub fn not_submitted(input: String, provider: &'static str, task: &Task) -> Self {
        Self {
            status: "not_submitted",
            ..Self::ok(input, provider, task)
        }
    }

    /// Notes the cut-out written to `path`: its size, dimensions and job.
    pub fn wrote(&mut self, path: &std::path::Path, cutout: &cutout::Cutout) {
        self.output = Some(path.display().to_string());
        self.bytes = Some(cutout.bytes.len() as u64);
        self.width = Some(cutout.width);
        self.height = Some(cutout.height);
        self.job_id = cutout.job_id.clone();
    }

    /// A failed input.
    pub fn failed(input: String, provider: &'static str, task: &Task, error: String) -> Self {
        Self {
            status: "error",
            error: Some(error),
            ..Self::ok(input, provider, task)
        }
    }

    /// Whether the input succeeded.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

enum Display {
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
    },
    Lines,
    Quiet,
}

#[derive(Default)]
struct Counts {
    ok: usize,
    not_submitted: usize,
    failed: Vec<(String, String)>,
}

/// The progress display of one command.
pub struct Ui {
    display: Display,
    json: bool,
    total: usize,
    counts: Mutex<Counts>,
}

impl Ui {
    /// Bars when stderr is a terminal, plain lines otherwise, nothing but failures with
    /// `--quiet`.
    pub fn new(global: &Global, total: usize) -> Self {
        let display = if global.quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "  {prefix:24.bold} {bar:20.green/white} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.set_prefix("total");
            Display::Bars { multi, overall }
        } else {
            Display::Lines
        };
        Self {
            display,
            json: global.json,
            total,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// A line of information (above the bars on a terminal; not shown with `--quiet`).
    pub fn note(&self, line: &str) {
        match &self.display {
            Display::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            Display::Lines => eprintln!("{line}"),
            Display::Quiet => {}
        }
    }

    /// The note about files of folders and globs that were skipped (stderr, not with
    /// `--quiet`).
    pub fn expanded(&self, expansion: &crate::inputs::Expansion) {
        if let Some(note) = expansion.skip_note() {
            self.note(&note);
        }
    }

    /// Starts showing the progress of `input`.
    pub fn task(&self, input: &str) -> Arc<Task> {
        let bar = match &self.display {
            Display::Bars { multi, overall } => {
                let bar = multi.insert_before(overall, ProgressBar::no_length());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {bar:20.cyan/blue} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(format!("{:<24}", shorten(input, 24)));
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                Some(bar)
            }
            _ => None,
        };
        Arc::new(Task {
            name: input.to_owned(),
            bar,
            lines: matches!(self.display, Display::Lines),
            state: Mutex::new(TaskState::default()),
            started: Instant::now(),
        })
    }

    /// Ends `task` with its outcome: a result line, a JSON line with `--json`, the counters.
    pub fn done(&self, task: &Task, record: Record) {
        if let Some(bar) = &task.bar {
            bar.finish_and_clear();
        }
        let held = record.status == "not_submitted";
        let line = if record.is_ok() {
            Some(format!("✓ {}", describe_ok(&record)))
        } else if held {
            Some(format!("- {}: not submitted (--max-credits)", record.input))
        } else if self.total > 1 {
            Some(format!(
                "✗ {}: {}",
                record.input,
                record.error.as_deref().unwrap_or("failed")
            ))
        } else {
            // A single failure is told by the summary.
            None
        };
        if let Some(line) = line {
            match &self.display {
                Display::Bars { multi, .. } => {
                    let _ = multi.println(&line);
                }
                Display::Lines => eprintln!("{line}"),
                Display::Quiet if !record.is_ok() => eprintln!("{line}"),
                Display::Quiet => {}
            }
        }
        if self.json {
            print_json(&record);
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if record.is_ok() {
            counts.ok += 1;
        } else if held {
            counts.not_submitted += 1;
        } else {
            counts.failed.push((
                record.input.clone(),
                record.error.clone().unwrap_or_default(),
            ));
        }
        if let Display::Bars { overall, .. } = &self.display {
            overall.inc(1);
            overall.set_message(format!("{} ok, {} failed", counts.ok, counts.failed.len()));
        }
    }

    /// Closes the display and prints the summary; an error when any input failed.
    pub fn finish(self) -> Result<(), Failure> {
        if let Display::Bars { overall, .. } = &self.display {
            overall.finish_and_clear();
        }
        let counts = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        let failed = counts.failed.len();
        if failed == 0 && counts.not_submitted > 0 {
            eprintln!(
                "stopped by --max-credits: {} input{} not submitted ({} ok); run again with a \
                 higher budget or without it to finish (nothing is paid twice)",
                counts.not_submitted,
                if counts.not_submitted == 1 {
                    " was"
                } else {
                    "s were"
                },
                counts.ok
            );
            return Err(Failure::BudgetStopped);
        }
        if failed == 0 {
            if self.total > 1 && !matches!(self.display, Display::Quiet) {
                eprintln!("all {} inputs ok", self.total);
            }
            return Ok(());
        }
        if self.total == 1 {
            let (input, error) = &counts.failed[0];
            eprintln!("error: {input}: {error}");
        } else {
            eprintln!(
                "{failed} of {} inputs failed ({} ok{}):",
                self.total,
                counts.ok,
                if counts.not_submitted > 0 {
                    format!(", {} not submitted by --max-credits", counts.not_submitted)
                } else {
                    String::new()
                }
            );
            for (input, error) in &counts.failed {
                eprintln!("  {input}: {error}");
            }
        }
        Err(Failure::InputsFailed)
    }
}

/// Prints one line on stdout (listings: plans, journals, jobs). A reader that went away
/// (`cutout journal | head -1`) ends the program quietly with status 0, as Unix tools do,
/// instead of panicking; any other write error is reported and ends it with status 1.
pub fn out(line: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

/// Prints any serialisable value as one line of JSON on stdout. Write errors are ignored (a
/// batch goes on, and its journal still records every paid job, when its reader went away).
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

impl Drop for Ui {
    /// Interrupted work leaves no half-drawn bars behind.
    fn drop(&mut self) {
        if let Display::Bars { multi, .. } = &self.display {
            let _ = multi.clear();
        }
    }
}

fn describe_ok(record: &Record) -> String {
    let mut text = record.input.clone();
    if record.outcome == Some("skipped") {
        // Nothing was done now: say where the earlier result is, and its job.
        if let Some(output) = &record.output {
            text.push_str(&format!(" → {output}"));
        }
        let job = record
            .job_id
            .as_deref()
            .map(|id| format!(", job {id}"))
            .unwrap_or_default();
        return format!("{text} (done earlier{job})");
    }
    if let Some(output) = &record.output {
        text.push_str(&format!(" → {output}"));
    } else if let Some(job_id) = &record.job_id {
        text.push_str(&format!(" → job {job_id}"));
    }
    let mut details = Vec::new();
    if let (Some(w), Some(h)) = (record.width, record.height) {
        details.push(format!("{w}×{h}"));
    }
    if let Some(bytes) = record.bytes {
        details.push(HumanBytes(bytes).to_string());
    }
    details.push(format!("{:.1} s", record.elapsed_ms as f64 / 1000.0));
    format!("{text} ({})", details.join(", "))
}

/// At most `max` characters, keeping the end (the file name).
fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - (max - 1)).collect();
    format!("…{tail}")
}

#[derive(Default)]
struct TaskState {
    uploading: bool,
    last_status: Option<String>,
}

/// The progress of one input.
pub struct Task {
    name: String,
    bar: Option<ProgressBar>,
    lines: bool,
    state: Mutex<TaskState>,
    started: Instant,
}

impl Drop for Task {
    /// An interrupted task takes its bar with it.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.disable_steady_tick();
            bar.finish_and_clear();
        }
    }
}

impl Task {
    /// Milliseconds since the task started.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Shows a free-form stage ("decoding the mask").
    pub fn stage(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        } else if self.lines {
            eprintln!("{}: {message}", self.name);
        }
    }

    /// Shows one event of the runtime's progress callback.
    pub fn on(&self, event: &Progress) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Progress::Uploading { sent, total } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*total);
                    bar.set_position(*sent);
                    bar.set_message(format!(
                        "uploading {}/{}",
                        HumanBytes(*sent),
                        HumanBytes(*total)
                    ));
                } else if self.lines && !state.uploading {
                    eprintln!("{}: uploading {}", self.name, HumanBytes(*total));
                }
                state.uploading = true;
            }
            Progress::Submitted { job_id } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(100);
                    bar.set_position(0);
                    bar.set_message(format!("submitted, job {job_id}"));
                } else if self.lines {
                    eprintln!("{}: submitted, job {job_id}", self.name);
                }
            }
            Progress::Waiting(job) => {
                let percent = job.percent.map(|p| format!(" {p}%")).unwrap_or_default();
                let eta = job
                    .eta
                    .map(|eta| format!(", about {} s left", eta.as_secs().max(1)))
                    .unwrap_or_default();
                if let Some(bar) = &self.bar {
                    bar.set_length(100);
                    bar.set_position(u64::from(job.percent.unwrap_or(0)));
                    bar.set_message(format!("{}{percent}{eta}", job.status));
                } else if self.lines {
                    let line = format!("{}{percent}", job.status);
                    if state.last_status.as_deref() != Some(line.as_str()) {
                        eprintln!("{}: job {} {line}", self.name, job.job_id);
                        state.last_status = Some(line);
                    }
                }
            }
            Progress::Downloading => {
                if let Some(bar) = &self.bar {
                    bar.set_length(100);
                    bar.set_position(100);
                    bar.set_message("downloading the result");
                } else if self.lines {
                    eprintln!("{}: downloading the result", self.name);
                }
            }
            _ => {}
        }
    }
}

/// Why a unit is uncertain when a killed run left it mid-submission.
pub const KILLED_MID_SUBMISSION: &str = cutout::batch::UNCERTAIN_AFTER_A_KILL;

/// The `error` of an uncertain unit: the cause this run saw (a 502, a dropped connection, a lost
/// answer…), or `None` for a row a killed run left mid-submission; then what to do.
pub fn uncertain_words(cause: Option<&str>) -> String {
    format!(
        "uncertain: {}, so the provider may have the job; check the provider's dashboard or \
         `cutout jobs`; run again with --resubmit-uncertain to pay again",
        cause.unwrap_or(KILLED_MID_SUBMISSION)
    )
}

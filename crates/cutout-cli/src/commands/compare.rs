//! `cutout compare`: every chosen provider on each image, through the batch journal (one unit
//! per image and provider, so a re-run pays nothing twice), then a contact sheet per image
//! ([`crate::sheet`]) and a table (or JSON lines) of what each provider did.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use cutout::Provider;
use cutout::batch::{Action, Batch, Event, Outcome, OutputName, Unit, Work};
use cutout::runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket, RemoveOptions,
    WaitPolicy,
};
use serde::Serialize;

use crate::backend::Backend;
use crate::batch as journal;
use crate::cli::{BatchArgs, Global, WaitArgs};
use crate::failure::Failure;
use crate::inputs::{self, Entry, Input};
use crate::output::{self, OutSpec};
use crate::sheet::{self, Layout, Tile};

/// `cutout compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Images: local files, folders, glob patterns or http(s) URLs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    /// The providers to compare: `all`, or a comma-separated list (topaz,modelslab).
    #[arg(long, value_name = "all|LIST", default_value = "all", value_parser = parse_providers)]
    pub providers: ProviderList,

    /// The output folder (created if missing): DIR/<name>.<provider>.<ext> per result and
    /// DIR/<name>.sheet.png per image.
    #[arg(short, long, value_name = "DIR", required = true)]
    pub output: PathBuf,

    /// Replace files in the way that this command did not write (and pay again for results
    /// the journal has, as remove-bg --force).
    #[arg(short, long)]
    pub force: bool,

    /// How many (image, provider) jobs run at once [default: the smallest queue cap of the
    /// providers compared, else 4].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,

    #[command(flatten)]
    pub batch: BatchArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// The providers of `--providers`, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderList {
    /// The providers.
    pub providers: Vec<Provider>,
    /// Whether it was `all` (then a provider without a key is left out, not an error).
    pub all: bool,
}

/// `all`, or names separated by commas (parsed like `remove-bg --provider`).
pub fn parse_providers(text: &str) -> Result<ProviderList, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(ProviderList {
            providers: Provider::ALL.to_vec(),
            all: true,
        });
    }
    let list = crate::cli::parse_provider_list(text)?;
    Ok(ProviderList {
        providers: list,
        all: false,
    })
}

pub const AFTER_HELP: &str = "\
Every provider is asked once per image (one paid job each, estimated like remove-bg: Topaz by
the image's megapixels, the others 1 credit). A provider that cannot take an image (Tengr
fetches images by URL: a local file works only with --sandbox) is listed as such, not sent.
The jobs go through the batch journal (DIR/.cutout-journal.sqlite): a re-run pays nothing
again, and --dry-run / --max-credits work as in remove-bg.

The contact sheet shows the input and each result side by side, over a checkerboard so that
transparency shows, labelled with the provider, the seconds it took and its credits (a failed
provider gets an empty tile with the reason). The table (with --json: one line per image and
provider) gives each result's seconds and estimated credits; a result `skipped` was paid in an
earlier run, and the last line on stderr says what this run spent.

Examples:
  cutout --sandbox compare crates/cutout-cli/samples/subject.jpg -o compare/
  cutout compare photo.jpg --providers topaz,backgroundcut -o compare/";

/// What happens for one (image, provider).
#[derive(Debug, Clone)]
enum Cell {
    /// Unit `n` of the batch.
    Unit(usize),
    /// The provider cannot take the image: not sent, not a failure.
    Cannot(String),
    /// The provider has no key (with `--providers all`): not sent, not a failure.
    Unconfigured(String),
    /// The image (or its output) failed before anything was sent.
    Bad(String),
}

/// How a cell ended, for the table, the JSON line and the sheet.
struct Row {
    provider: Provider,
    status: &'static str,
    seconds: Option<f64>,
    credits: u32,
    /// `credits` is an estimate of a submission that may have been taken (uncertain): possibly
    /// paid, not surely.
    possibly_paid: bool,
    /// The uncertain submission was an earlier run's: not part of this run's spend.
    earlier: bool,
    output: Option<PathBuf>,
    job_id: Option<String>,
    error: Option<String>,
}

/// One `--json` line.
#[derive(Serialize)]
struct JsonLine<'a> {
    input: &'a str,
    provider: &'static str,
    status: &'static str,
    seconds: Option<f64>,
    credits: u32,
    /// Present (true) when `credits` is the estimate of an uncertain submission.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    possibly_paid: bool,
    output: Option<String>,
    sheet: Option<String>,
    job_id: Option<&'a str>,
    error: Option<&'a str>,
}

/// Runs the command.
pub async fn run(global: &Global, args: CompareArgs) -> Result<(), Failure> {
    let dir = args.output.clone();
    let spec = OutSpec::Dir(dir.clone());
    let expansion = inputs::expand(&args.images, "image", Some(&dir))?;
    let entries = expansion.entries.clone();
    if !global.quiet
        && let Some(note) = expansion.skip_note()
    {
        eprintln!("{note}");
    }
    output::check_collisions(&spec, &entries, "sheet")?;
    let providers = args.providers.providers.clone();
    let mut params = vec!["kind=cutout".to_owned()];
    if global.sandbox {
        // Simulated results are never mistaken for real ones (as in remove-bg).
        params.push("endpoint=sandbox".to_owned());
    }
    params.sort();
    let (units, mut cells) = make_units(
        entries.clone(),
        providers.clone(),
        spec.clone(),
        params.join(","),
        global.sandbox,
    )
    .await;
    let journal_file = journal::journal_path(args.batch.journal.as_deref(), &spec);
    if args.batch.dry_run {
        let plan = journal::dry_plan(&journal_file, &units, &args.batch, args.force)?;
        journal::print_plan(global, &units, &plan, &journal_file, args.batch.max_credits);
        for (entry, row) in entries.iter().zip(&cells) {
            if let Some(problem) = sheet_blocked(&sheet_path(&dir, &entry.relative), args.force) {
                eprintln!("not sent: {}: {problem}", entry.input.display());
            }
            for (provider, cell) in providers.iter().zip(row) {
                if let Cell::Cannot(why) | Cell::Bad(why) | Cell::Unconfigured(why) = cell {
                    eprintln!("not sent: {} with {provider}: {why}", entry.input.display());
                }
            }
        }
        return Ok(());
    }
    // The clients before the output folder: a missing key leaves nothing behind. With `all`,
    // a provider without a key is left out (and said so); one named explicitly must have it.
    let backend = Backend::new(global).await?;
    let explicit = !args.providers.all;
    let mut removers: HashMap<&'static str, Box<dyn BackgroundRemover>> = HashMap::new();
    let mut unconfigured: HashMap<Provider, String> = HashMap::new();
    let mut first_failure = None;
    for provider in &providers {
        match backend.remover(*provider) {
            Ok(remover) => {
                removers.insert(provider.name(), remover);
            }
            Err(failure) if explicit => return Err(failure),
            Err(failure) => {
                let (key, _) = crate::backend::env_vars(*provider);
                unconfigured.insert(*provider, format!("not configured: set {key}"));
                first_failure.get_or_insert(failure);
            }
        }
    }
    // No provider usable at all: a configuration error (exit 3), nothing created.
    if removers.is_empty()
        && let Some(failure) = first_failure
    {
        return Err(failure);
    }
    spec.prepare()?;
    // Inputs whose results or sheet could not be written are failed now, before they are paid.
    let mut blocked_units = HashSet::new();
    for (entry, row) in entries.iter().zip(cells.iter_mut()) {
        let sheet_path = sheet_path(&dir, &entry.relative);
        let sheet_problem = sheet_blocked(&sheet_path, args.force);
        for (provider, cell) in providers.iter().zip(row.iter_mut()) {
            let Cell::Unit(index) = *cell else { continue };
            if let Some(why) = unconfigured.get(provider) {
                blocked_units.insert(index);
                *cell = Cell::Unconfigured(why.clone());
                continue;
            }
            let problem = sheet_problem.clone().or_else(|| {
                output::precheck_result(&spec, &entry.relative, provider.name(), false, true).err()
            });
            if let Some(problem) = problem {
                blocked_units.insert(index);
                *cell = Cell::Bad(problem);
            }
        }
    }
    // Renumber the units that are still to run.
    let mut renumber = HashMap::new();
    let mut ready = Vec::new();
    for (index, unit) in units.into_iter().enumerate() {
        if !blocked_units.contains(&index) {
            renumber.insert(index, ready.len());
            ready.push(unit);
        }
    }
    for cell in cells.iter_mut().flatten() {
        if let Cell::Unit(index) = cell {
            *index = renumber[index];
        }
    }
    let store = journal::open(&journal_file)?;
    journal::set_running_journal(&journal_file);
    // The smallest documented queue cap of the providers compared, else 4.
    let concurrency = args.concurrency.map(usize::from).unwrap_or_else(|| {
        providers
            .iter()
            .map(|p| crate::cli::default_concurrency(*p))
            .min()
            .unwrap_or(4)
    });
    let work = CompareWork {
        backend: &backend,
        removers,
        wait: backend.wait_policy(&args.wait),
        slots: ready
            .iter()
            .enumerate()
            .map(|(i, u)| (u.output.clone(), i))
            .collect(),
    };
    let started: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let took: Arc<Mutex<HashMap<usize, Duration>>> = Arc::default();
    let (started_events, took_events) = (started.clone(), took.clone());
    let quiet = global.quiet;
    let runner = Batch::new(store.clone())
        .concurrency(concurrency)
        .max_credits(args.batch.max_credits)
        .resubmit_uncertain(args.batch.resubmit_uncertain)
        .retry_failed(args.batch.retry_failed)
        .force(args.force)
        .on_event(move |event| match event {
            Event::Submitting { index, display } => {
                if !quiet {
                    eprintln!("sending {display}");
                }
                lock(&started_events).insert(*index, Instant::now());
            }
            Event::Finished { index, .. } => {
                if let Some(start) = lock(&started_events).get(index) {
                    lock(&took_events).insert(*index, start.elapsed());
                }
            }
            _ => {}
        });
    let report = runner
        .run(&work, ready.clone())
        .await
        .map_err(journal::setup)?;
    drop(runner);
    drop(work);
    let took = lock(&took).clone();

    let mut failed = false;
    // Estimated credits of submissions that may have been taken (uncertain): by this run (in
    // its spend already) and by earlier runs (not).
    let mut possibly_paid: u64 = 0;
    let mut possibly_paid_before: u64 = 0;
    for (entry, row) in entries.iter().zip(&cells) {
        let rows: Vec<Row> = providers
            .iter()
            .zip(row)
            .map(|(provider, cell)| row_of(*provider, cell, &ready, &report, &took, store.as_ref()))
            .collect();
        for r in rows.iter().filter(|r| r.possibly_paid) {
            if r.earlier {
                possibly_paid_before += u64::from(r.credits);
            } else {
                possibly_paid += u64::from(r.credits);
            }
        }
        failed |= rows.iter().any(|r| {
            !matches!(
                r.status,
                "done" | "skipped" | "unsupported" | "not_configured"
            )
        });
        let sheet_file = sheet_path(&dir, &entry.relative);
        // Nothing was sent for this image (it is not one, or its outputs are blocked): no sheet.
        let sheet_shown = if row.iter().all(|c| matches!(c, Cell::Bad(_))) {
            None
        } else {
            match write_sheet(entry, &rows, &sheet_file, args.force).await {
                Ok(()) => Some(sheet_file.display().to_string()),
                Err(error) => {
                    failed = true;
                    eprintln!("error: the sheet of {}: {error}", entry.input.display());
                    None
                }
            }
        };
        print_rows(global, entry, &rows, sheet_shown.as_deref());
    }
    if !global.quiet {
        let possibly = if possibly_paid > 0 {
            // The run's spend counts them already (they may have been taken).
            format!(
                ", {possibly_paid} of them possibly (uncertain submissions: see `cutout \
                 journal`)"
            )
        } else {
            String::new()
        };
        let before = if possibly_paid_before > 0 {
            format!(
                "; {possibly_paid_before} credit{} possibly paid by an earlier run (uncertain \
                 submissions: see `cutout journal`)",
                if possibly_paid_before == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        eprintln!(
            "spent {} credit{} in this run (estimated){possibly}{before}; journal: {}",
            report.spent_credits,
            if report.spent_credits == 1 { "" } else { "s" },
            journal_file.display()
        );
    }
    if report.budget_exhausted {
        return Err(Failure::BudgetStopped);
    }
    if failed {
        return Err(Failure::InputsFailed);
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `DIR/<name>.sheet.png`.
fn sheet_path(dir: &Path, relative: &Path) -> PathBuf {
    let mut name = relative.as_os_str().to_owned();
    name.push(".sheet.png");
    dir.join(name)
}

/// The units (one per image and provider that can take it) and, per image, per provider,
/// what happens. Hashing reads the files: off the async threads.
async fn make_units(
    entries: Vec<Entry>,
    providers: Vec<Provider>,
    spec: OutSpec,
    params: String,
    sandbox: bool,
) -> (Vec<Unit>, Vec<Vec<Cell>>) {
    tokio::task::spawn_blocking(move || {
        let mut units = Vec::new();
        let mut cells = Vec::with_capacity(entries.len());
        for entry in &entries {
            let input = &entry.input;
            let source = input.source();
            if let Err(error) = input.check_local("image") {
                cells.push(vec![Cell::Bad(error.to_string()); providers.len()]);
                continue;
            }
            let mut row = Vec::with_capacity(providers.len());
            for provider in &providers {
                // The sandbox's file host makes local files reachable for URL-only providers,
                // as in remove-bg.
                let hosted = sandbox && matches!(input, Input::Path(_));
                let checked = match provider.check(&source, CutoutKind::Rgba) {
                    Err(_) if hosted && !provider.accepts_local_files() => Ok(()),
                    other => other,
                };
                if let Err(error) = checked {
                    row.push(Cell::Cannot(cannot_reason(*provider, input, &error)));
                    continue;
                }
                let made =
                    crate::commands::remove_bg::credits(*provider, &source).and_then(|credits| {
                        Unit::new(
                            vec![source.clone()],
                            provider.name(),
                            params.clone(),
                            "cutout",
                            spec.output_name(&entry.relative, provider.name()),
                            credits,
                        )
                    });
                match made {
                    Ok(unit) => {
                        row.push(Cell::Unit(units.len()));
                        units.push(unit.display(format!("{} ({provider})", input.display())));
                    }
                    Err(error) => row.push(Cell::Bad(error.to_string())),
                }
            }
            cells.push(row);
        }
        (units, cells)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A short reason for a provider that cannot take an input (it goes on a tile).
fn cannot_reason(provider: Provider, input: &Input, error: &Error) -> String {
    if matches!(input, Input::Path(_)) && !provider.accepts_local_files() {
        return "cannot take a local file (URL only; try --sandbox)".to_owned();
    }
    match error {
        Error::Unsupported { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// How the cell ended.
fn row_of(
    provider: Provider,
    cell: &Cell,
    units: &[Unit],
    report: &cutout::batch::Report,
    took: &HashMap<usize, Duration>,
    store: &dyn cutout::batch::Store,
) -> Row {
    let mut row = Row {
        provider,
        status: "unsupported",
        seconds: None,
        credits: 0,
        possibly_paid: false,
        earlier: false,
        output: None,
        job_id: None,
        error: None,
    };
    let index = match cell {
        Cell::Cannot(why) => {
            row.error = Some(why.clone());
            return row;
        }
        Cell::Unconfigured(why) => {
            row.status = "not_configured";
            row.error = Some(why.clone());
            return row;
        }
        Cell::Bad(why) => {
            row.status = "failed";
            row.error = Some(journal::cli_words(why));
            return row;
        }
        Cell::Unit(index) => *index,
    };
    let Some(unit_report) = report.units.iter().find(|u| u.index == index) else {
        row.status = "failed";
        row.error = Some("the run did not report it".to_owned());
        return row;
    };
    let unit = &units[index];
    row.status = unit_report.outcome.name();
    row.job_id = unit_report.ticket.as_ref().and_then(|t| t.job_id.clone());
    // A result from an earlier run keeps what it cost and took then (from the journal: from
    // the provider's acceptance to the result written).
    let journal_row = store.get(&unit.key).ok().flatten();
    let seconds = took.get(&index).copied().or_else(|| {
        let row = journal_row.as_ref()?;
        let from = row.submitted_at?;
        let ms = u64::try_from(row.updated_at.checked_sub(from)?).ok()?;
        Some(Duration::from_millis(ms))
    });
    if unit_report.outcome.is_success() {
        row.seconds = seconds.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0);
    }
    // What the unit has cost, in this run or before (a failed job may have been paid too).
    row.credits = journal_row
        .map(|r| u32::try_from(r.spent_credits).unwrap_or(u32::MAX))
        .unwrap_or(0);
    match &unit_report.outcome {
        Outcome::Done { outputs } => row.output = outputs.first().cloned(),
        Outcome::Skipped => row.output = journal::existing_output(&unit.output),
        Outcome::Failed { error, .. } => row.error = Some(journal::cli_words(error)),
        Outcome::StillRunning { error } => {
            row.error = Some(format!(
                "still running: run the same command again to pick it up ({error})"
            ))
        }
        // The cause this run saw (a 502, a lost answer…), or the journal's for an earlier run's.
        Outcome::Uncertain { error } => {
            let cause = match error {
                Some(cause) => journal::cli_words(cause),
                None => crate::report::KILLED_MID_SUBMISSION.to_owned(),
            };
            // It may have been taken, and charged: count its estimate as possibly paid.
            if row.credits == 0 {
                row.credits = unit.credits;
                row.possibly_paid = true;
            }
            row.earlier = matches!(unit_report.action, Action::Uncertain { resubmit: false });
            row.error = Some(format!(
                "uncertain: {cause}, so the provider may have the job; see `cutout journal`"
            ))
        }
        Outcome::OverBudget => row.error = Some("not submitted: --max-credits".to_owned()),
        #[allow(unreachable_patterns)]
        other => row.error = Some(format!("ended as {}", other.name())),
    }
    row
}

/// The text tag that marks the sheets this command wrote (so a re-run may replace them).
const SHEET_KEYWORD: &str = "Software";
const SHEET_MARK: &str = "cutout compare";

/// Why the sheet at `path` cannot be written: a file there that this command did not write,
/// without --force.
fn sheet_blocked(path: &Path, force: bool) -> Option<String> {
    if force || !path.exists() {
        return None;
    }
    if written_by_us(path) {
        return None;
    }
    Some(output::exists_message(path))
}

/// Whether `path` is a PNG carrying our mark.
fn written_by_us(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let Ok(reader) = decoder.read_info() else {
        return false;
    };
    reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .any(|chunk| chunk.keyword == SHEET_KEYWORD && chunk.text == SHEET_MARK)
}

/// Draws and writes the sheet of one image (atomically; replacing only a sheet this command
/// wrote, or anything with --force).
async fn write_sheet(entry: &Entry, rows: &[Row], path: &Path, force: bool) -> Result<(), String> {
    let layout = Layout::default();
    let input = entry.input.clone();
    let tiles_rows: Vec<(String, Option<PathBuf>, Vec<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.provider.name().to_owned(),
                row.output.clone(),
                label(row, layout),
            )
        })
        .collect();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let mut tiles = Vec::with_capacity(tiles_rows.len() + 1);
        let (image, size) = match &input {
            Input::Path(path) => match image::open(path) {
                Ok(image) => {
                    let size = format!("{}x{}", image.width(), image.height());
                    (Some(image.to_rgba8()), size)
                }
                Err(e) => (None, format!("cannot decode: {e}")),
            },
            Input::Url(_) => (None, "a URL (not downloaded)".to_owned()),
        };
        tiles.push(Tile {
            image,
            lines: vec![format!("input: {}", input.stem()), size],
        });
        for (_, output, lines) in tiles_rows {
            let image = output
                .as_deref()
                .and_then(|p| image::open(p).ok())
                .map(|i| i.to_rgba8());
            tiles.push(Tile { image, lines });
        }
        encode(&sheet::render(&tiles, layout))
    })
    .await
    .map_err(|e| e.to_string())??;
    // A mirrored subfolder (photos/a/b.jpg → DIR/a/) may not exist when no result came.
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    let overwrite = force || (path.exists() && written_by_us(path));
    cutout::runtime::write_atomically(path, &bytes, overwrite)
        .await
        .map_err(|e| e.to_string())
}

/// The label lines under a provider's tile.
fn label(row: &Row, layout: Layout) -> Vec<String> {
    let mut lines = vec![row.provider.name().to_owned()];
    match row.status {
        "done" | "skipped" => {
            let time = match row.seconds {
                Some(s) => format!("{s:.1} s"),
                None => "- s".to_owned(),
            };
            lines.push(format!(
                "{time}, {} credit{}{}",
                row.credits,
                if row.credits == 1 { "" } else { "s" },
                if row.status == "skipped" {
                    " (earlier run)"
                } else {
                    ""
                }
            ));
        }
        status => {
            let why = row.error.as_deref().unwrap_or(status);
            let text = if matches!(status, "unsupported" | "not_configured") {
                why.to_owned()
            } else {
                format!("{status}: {why}")
            };
            if row.possibly_paid {
                lines.push(format!(
                    "possibly {} credit{}",
                    row.credits,
                    if row.credits == 1 { "" } else { "s" }
                ));
            }
            let room = (layout.label_lines as usize).saturating_sub(lines.len());
            lines.extend(sheet::fit_lines(&text, layout.columns(), room));
        }
    }
    lines
}

/// PNG bytes of `sheet`, marked as ours.
fn encode(sheet: &image::RgbaImage) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, sheet.width(), sheet.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    encoder
        .add_text_chunk(SHEET_KEYWORD.to_owned(), SHEET_MARK.to_owned())
        .map_err(|e| e.to_string())?;
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(sheet.as_raw())
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// The table of one image (or its JSON lines).
fn print_rows(global: &Global, entry: &Entry, rows: &[Row], sheet: Option<&str>) {
    let input = entry.input.display();
    if global.json {
        for row in rows {
            crate::report::print_json(&JsonLine {
                input: &input,
                provider: row.provider.name(),
                status: row.status,
                seconds: row.seconds,
                credits: row.credits,
                possibly_paid: row.possibly_paid,
                output: row.output.as_ref().map(|p| p.display().to_string()),
                sheet: sheet.map(str::to_owned),
                job_id: row.job_id.as_deref(),
                error: row.error.as_deref(),
            });
        }
        return;
    }
    crate::report::out(format_args!("{input} → {}", sheet.unwrap_or("(no sheet)")));
    crate::report::out(format_args!(
        "  {:<14} {:<12} {:>7} {:>7}  output",
        "provider", "status", "seconds", "credits"
    ));
    for row in rows {
        let seconds = row
            .seconds
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".to_owned());
        let what = match (&row.output, &row.error) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(error)) => error.clone(),
            (None, None) => String::new(),
        };
        let credits = if row.possibly_paid {
            format!("{}?", row.credits)
        } else {
            row.credits.to_string()
        };
        let what = if row.possibly_paid {
            format!(
                "possibly paid {} credit{}; {what}",
                row.credits,
                if row.credits == 1 { "" } else { "s" }
            )
        } else {
            what
        };
        crate::report::out(format_args!(
            "  {:<14} {:<12} {:>7} {:>7}  {what}",
            row.provider.name(),
            row.status,
            seconds,
            credits
        ));
    }
}

/// The paid work: each unit to its own provider's remover; for a URL-only provider under
/// --sandbox, the local file is put on the sandbox's file host first (the key stays its
/// content hash).
struct CompareWork<'a> {
    backend: &'a Backend,
    removers: HashMap<&'static str, Box<dyn BackgroundRemover>>,
    wait: WaitPolicy,
    /// A unique slot per unit on the file host.
    slots: HashMap<OutputName, usize>,
}

impl CompareWork<'_> {
    fn remover(&self, unit: &Unit) -> Result<(Provider, &dyn BackgroundRemover), Error> {
        let provider: Provider = unit
            .provider
            .parse()
            .map_err(|e| Error::invalid("provider", format!("{e}")))?;
        let remover = self
            .removers
            .get(provider.name())
            .ok_or_else(|| Error::invalid("provider", format!("{provider} is not configured")))?;
        Ok((provider, remover.as_ref()))
    }

    fn options(&self) -> RemoveOptions {
        RemoveOptions::default()
            .kind(CutoutKind::Rgba)
            .wait(self.wait.clone())
    }
}

impl Work for CompareWork<'_> {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let (provider, remover) = self.remover(unit)?;
            let source = unit.sources.first().cloned().ok_or_else(|| {
                Error::invalid("sources", format!("`{}` has no image", unit.display))
            })?;
            let source = match source {
                ImageSource::Path(path) if !provider.accepts_local_files() => {
                    let slot = self.slots.get(&unit.output).copied().unwrap_or(0);
                    ImageSource::url(
                        self.backend
                            .url_for(&Input::Path(path), slot, provider)
                            .await?,
                    )
                }
                other => other,
            };
            remover.submit_removal(source, self.options()).await
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let (_, remover) = self.remover(unit)?;
            // Within --wait-timeout: a job cut short is picked up by the next run.
            let limit = self.wait.deadline;
            match tokio::time::timeout(limit, remover.resume_removal(ticket, self.options())).await
            {
                Ok(cutout) => Ok(vec![cutout?]),
                Err(_) => Err(Error::Timeout {
                    what: "this job (waiting and downloading: --wait-timeout)".to_owned(),
                    waited: limit,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_lists_parse() {
        let all = parse_providers("ALL").unwrap();
        assert_eq!(all.providers, Provider::ALL.to_vec());
        assert!(all.all);
        let list = parse_providers(" modelslab , Topaz").unwrap();
        assert_eq!(list.providers, vec![Provider::ModelsLab, Provider::Topaz]);
        assert_eq!(
            parse_providers("modelslab,topaz,modelslab").unwrap_err(),
            "`modelslab,topaz,modelslab` lists modelslab twice: name each provider once"
        );
        assert!(!list.all);
        assert!(
            parse_providers("nope")
                .unwrap_err()
                .contains("unknown provider")
        );
        assert!(parse_providers(",").is_err());
    }
}

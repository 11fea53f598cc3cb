//! `cutout remove-bg`: many inputs, one provider, through the provider-neutral
//! [`BackgroundRemover`] trait.

use std::sync::Arc;

use cutout::Provider;
use cutout::batch::{Batch, Unit, Work};
use cutout::runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket, RemoveOptions,
    WaitPolicy,
};

use crate::backend::Backend;
use crate::batch::{self as journal, Tasks};
use crate::cli::{Global, RemoveBgArgs, default_concurrency, mask_command};
use crate::failure::Failure;
use crate::inputs::{self, Entry, Input};
use crate::output::{self, OutSpec};
use crate::report::{Record, Ui};

/// Runs the command through the journal: a re-run resumes, nothing is paid twice.
pub async fn run(global: &Global, args: RemoveBgArgs) -> Result<(), Failure> {
    let expansion = inputs::expand(
        &args.inputs,
        "input",
        OutSpec::folder_of(args.output.output.as_deref()).as_deref(),
    )?;
    let entries = &expansion.entries;
    let spec = OutSpec::new(args.output.output.as_deref(), entries.len())?;
    let suffix = if args.mask { "mask" } else { "cutout" };
    output::check_collisions(&spec, entries, suffix)?;
    if args.mask && !args.provider.makes_masks() {
        return Err(Failure::Usage(no_mask(args.provider)));
    }
    let provider = args.provider;
    let journal_path = journal::journal_path(args.batch.journal.as_deref(), &spec);
    // Said before the key is asked for: no key would make local files work for this provider.
    if !global.sandbox
        && !provider.accepts_local_files()
        && entries
            .iter()
            .all(|entry| matches!(entry.input, Input::Path(_)))
    {
        return Err(Failure::Usage(format!(
            "{provider} fetches images by URL: pass public http(s) URLs to the images (or try it \
             with --sandbox, which hosts local files itself)"
        )));
    }

    // The units: each input hashed (its key) and its credits estimated from its header.
    let mut params = vec![format!("kind={suffix}")];
    if global.sandbox {
        // Simulated results are never mistaken for real ones, nor the other way round.
        params.push("endpoint=sandbox".to_owned());
    }
    params.sort();
    let params = params.join(",");
    let (units, relatives, mut bad) = make_units(entries, &spec, provider, &params, suffix).await;

    if args.batch.dry_run {
        let plan = journal::dry_plan(&journal_path, &units, &args.batch, args.output.force)?;
        journal::print_plan(global, &units, &plan, &journal_path);
        for (input, error) in &bad {
            eprintln!("error: {input}: {error}");
        }
        return if bad.is_empty() {
            Ok(())
        } else {
            Err(Failure::InputsFailed)
        };
    }

    let backend = Backend::new(global).await?;
    let remover = backend.remover(provider)?;
    spec.prepare()?;
    // A folder in the way or an unwritable folder fails its input now, before it is paid for
    // (existing files are the plan's business: the journal may have written them).
    let mut ready = Vec::with_capacity(units.len());
    for (unit, relative) in units.into_iter().zip(relatives) {
        match output::precheck_result(&spec, &relative, suffix, false, true) {
            Ok(()) => ready.push(unit),
            Err(error) => bad.push((unit.display.clone(), error)),
        }
    }
    let units = ready;
    let store = journal::open(&journal_path)?;
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(provider));
    let ui = Arc::new(Ui::new(global, entries.len()));
    ui.expanded(&expansion);
    for (input, error) in bad {
        let task = ui.task(&input);
        ui.done(&task, Record::failed(input, provider.name(), &task, error));
    }
    let tasks = Arc::new(Tasks::new(ui.clone(), &units));
    let work = RemoveWork {
        backend: &backend,
        remover: remover.as_ref(),
        provider,
        kind: if args.mask {
            CutoutKind::Mask
        } else {
            CutoutKind::Rgba
        },
        wait: backend.wait_policy(&args.wait),
        tasks: tasks.clone(),
        host_files: !provider.accepts_local_files(),
    };
    let shown = tasks.clone();
    let name = provider.name();
    let batch = Batch::new(store)
        .concurrency(concurrency)
        .max_credits(args.batch.max_credits)
        .resubmit_uncertain(args.batch.resubmit_uncertain)
        .force(args.output.force)
        .on_event(move |event| shown.on_event(event, name));
    let report = batch.run(&work, units).await.map_err(journal::setup)?;
    // The journal holds an exclusive lock until it is dropped; the display is shared until then.
    drop(batch);
    drop(work);
    drop(tasks);
    let ui = Arc::try_unwrap(ui)
        .map_err(|_| Failure::Setup("the progress display is still in use".to_owned()))?;
    journal::finish(ui, global, &report, &journal_path)
}

/// The units of `entries` (with their relative output names), and the inputs that cannot be
/// one (unreadable, not an image), with why.
async fn make_units(
    entries: &[Entry],
    spec: &OutSpec,
    provider: Provider,
    params: &str,
    suffix: &'static str,
) -> (Vec<Unit>, Vec<std::path::PathBuf>, Vec<(String, String)>) {
    let entries = entries.to_vec();
    let spec = spec.clone();
    let params = params.to_owned();
    // Hashing reads every file: off the async threads.
    tokio::task::spawn_blocking(move || {
        let mut units = Vec::with_capacity(entries.len());
        let mut relatives = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for entry in &entries {
            let input = &entry.input;
            let made = input.check_local("input").and_then(|()| {
                let credits = credits(provider, &input.source())?;
                Unit::new(
                    vec![input.source()],
                    provider.name(),
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

/// The estimated credits of one paid call: Topaz by the image's megapixels (a URL: at least 1),
/// the others 1.
pub fn credits(provider: Provider, source: &ImageSource) -> Result<u32, Error> {
    if provider != Provider::Topaz {
        return Ok(1);
    }
    Ok(match source.probe("input")? {
        Some(info) => cutout::topaz::credits_for_output(info.width, info.height).unwrap_or(1),
        None => 1,
    })
}

/// remove-bg as batch work: the provider's remover, progress shown on the unit's task, and for a
/// URL-only provider under --sandbox the local file hosted first (the key stays its content
/// hash).
struct RemoveWork<'a> {
    backend: &'a Backend,
    remover: &'a dyn BackgroundRemover,
    provider: Provider,
    kind: CutoutKind,
    wait: WaitPolicy,
    tasks: Arc<Tasks>,
    host_files: bool,
}

impl RemoveWork<'_> {
    fn options(&self, unit: &Unit) -> RemoveOptions {
        let task = self.tasks.of(unit);
        RemoveOptions::default()
            .kind(self.kind)
            .wait(self.wait.clone())
            .on_progress(move |event| task.on(event))
    }
}

impl Work for RemoveWork<'_> {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let source = unit.sources.first().cloned().ok_or_else(|| {
                Error::invalid("sources", format!("`{}` has no image", unit.display))
            })?;
            let source = match source {
                ImageSource::Path(path) if self.host_files => ImageSource::url(
                    self.backend
                        .url_for(&Input::Path(path), self.tasks.index(unit), self.provider)
                        .await?,
                ),
                other => other,
            };
            self.remover
                .submit_removal(source, self.options(unit))
                .await
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            // Waiting and downloading within --wait-timeout: a job cut short is picked up by
            // the next run.
            let limit = self.wait.deadline;
            let resumed = self.remover.resume_removal(ticket, self.options(unit));
            match tokio::time::timeout(limit, resumed).await {
                Ok(cutout) => Ok(vec![cutout?]),
                Err(_) => Err(Error::Timeout {
                    what: "this input (waiting and downloading: --wait-timeout)".to_owned(),
                    waited: limit,
                }),
            }
        })
    }
}

/// Why `--mask` cannot be used with `provider`, and what makes the mask instead.
fn no_mask(provider: Provider) -> String {
    let makers: Vec<String> = Provider::ALL
        .iter()
        .filter(|p| p.makes_masks())
        .map(|p| format!("--provider {p}"))
        .collect();
    let mut message = format!("{provider}'s background removal makes cut-outs only:");
    if let Some(command) = mask_command(provider) {
        message.push_str(&format!(" use `{command}` for a mask, or"));
    }
    message.push_str(&format!(" {}", makers.join(" or ")));
    message
}

/// Says so when the file named with `-o` gets another format than its extension suggests.
pub fn warn_extension(ui: &Ui, path: &std::path::Path, actual: &str) {
    let given = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let same = given == actual || (actual == "jpg" && given == "jpeg");
    if !same {
        ui.note(&format!(
            "note: `{}` holds a {} image (its name says otherwise)",
            path.display(),
            actual.to_ascii_uppercase()
        ));
    }
}

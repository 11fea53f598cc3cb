//! `cutout remove-bg`: many inputs, one provider (or an ordered fallback list, through a
//! [`Router`]), through the provider-neutral [`BackgroundRemover`] trait.

use std::sync::Arc;

use cutout::Provider;
use cutout::batch::{RouterWork, Unit, Work};
use cutout::router::{Routed, Router};
use cutout::runtime::{
    BackgroundRemover, BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket, RemoveOptions,
    WaitPolicy,
};

use crate::backend::Backend;
use crate::batch::{self as journal, Tasks};
use crate::cli::{Global, RemoveBgArgs, default_concurrency, mask_command};
use crate::failure::Failure;
use crate::inputs::{self, Input};
use crate::output::{self, OutSpec};
use crate::report::Ui;

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
    let list = fallback_list(&args.provider)?;
    let provider = list[0];
    let fallback: &[Provider] = if list.len() > 1 { &list } else { &[] };
    let kind = if args.mask {
        CutoutKind::Mask
    } else {
        CutoutKind::Rgba
    };
    if !fallback.is_empty() {
        // Before any key is asked for and anything is sent: every input has a taker.
        check_takers(fallback, entries, kind)?;
    } else if args.mask && !provider.makes_masks() {
        return Err(Failure::Usage(no_mask(provider)));
    }
    // Said before the key is asked for: no key would make local files work for this provider.
    if fallback.is_empty()
        && !global.sandbox
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
    let spec_batch = journal::Spec {
        global,
        expansion: &expansion,
        entries,
        out: &spec,
        provider,
        fallback,
        params: vec![format!("kind={suffix}")],
        suffix,
        batch: &args.batch,
        force: args.output.force,
        companions: Vec::new(),
        // The same input done (or paid and in flight) by a provider chosen now is not paid
        // again, whatever list it was run with.
        relate_lists: true,
    };
    if args.batch.dry_run {
        // The plan needs no client: no key is asked for, nothing is started.
        journal::prepare(spec_batch, credits).await?;
        return Ok(());
    }
    // The clients before the output folder: a missing key leaves nothing behind.
    let backend = Backend::new(global).await?;
    if !fallback.is_empty() {
        let router = backend.router(fallback)?;
        let Some(prepared) = journal::prepare(spec_batch, credits).await? else {
            return Ok(());
        };
        // The smallest queue cap of the list: any of them may get every input.
        let concurrency = args.concurrency.map(usize::from).unwrap_or_else(|| {
            fallback
                .iter()
                .map(|p| default_concurrency(*p))
                .min()
                .unwrap_or(4)
        });
        let tasks = prepared.tasks();
        let wait = backend.wait_policy(&args.wait);
        let options = RemoveOptions::default().kind(kind).wait(wait.clone());
        let work = RoutedRemoveWork {
            inner: RouterWork::new(&router, options).per_unit(move |unit, options| {
                let task = tasks.of(unit);
                options.on_progress(move |event| task.on(event))
            }),
            wait,
        };
        return journal::execute(
            prepared,
            global,
            &args.batch,
            args.output.force,
            concurrency,
            work,
        )
        .await;
    }
    let remover = backend.remover(provider)?;
    let Some(prepared) = journal::prepare(spec_batch, credits).await? else {
        return Ok(());
    };
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(provider));
    let work = RemoveWork {
        backend: &backend,
        remover: remover.as_ref(),
        provider,
        kind,
        wait: backend.wait_policy(&args.wait),
        tasks: prepared.tasks(),
        host_files: !provider.accepts_local_files(),
    };
    journal::execute(
        prepared,
        global,
        &args.batch,
        args.output.force,
        concurrency,
        work,
    )
    .await
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

/// The providers of `--provider`, in order: one, or a fallback list without repeats.
fn fallback_list(given: &[Provider]) -> Result<Vec<Provider>, Failure> {
    let mut list: Vec<Provider> = Vec::with_capacity(given.len());
    for provider in given {
        if list.contains(provider) {
            return Err(Failure::Usage(format!(
                "--provider lists {provider} twice: name each provider once, in the order to \
                 try them"
            )));
        }
        list.push(*provider);
    }
    if list.is_empty() {
        list.push(Provider::Topaz);
    }
    Ok(list)
}

/// With a fallback list, every input must be takeable by one of the listed providers (from
/// their documented capabilities): otherwise a usage error saying why each could not, before
/// anything is sent. An input that is unreadable or no image is left to the batch (it fails
/// alone).
fn check_takers(
    providers: &[Provider],
    entries: &[crate::inputs::Entry],
    kind: CutoutKind,
) -> Result<(), Failure> {
    let mut refused = Vec::new();
    for entry in entries {
        let source = entry.input.source();
        let mut reasons = Vec::with_capacity(providers.len());
        for &provider in providers {
            match provider.check(&source, kind) {
                Ok(()) => {
                    reasons.clear();
                    break;
                }
                // The error names its provider; the library's hint means nothing here.
                Err(e @ Error::Unsupported { .. }) => reasons.push(
                    e.to_string()
                        .replace(" (check with `accepts_local_files()`)", ""),
                ),
                // Not a matter of capability: the batch reports it for this input alone.
                Err(_) => {
                    reasons.clear();
                    break;
                }
            }
        }
        if !reasons.is_empty() {
            refused.push(format!(
                "no listed provider can take `{}`: {}",
                entry.input.display(),
                reasons.join("; ")
            ));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "{} (nothing was sent; add a provider that can take {} to --provider)",
        refused.join("\n"),
        if refused.len() == 1 { "it" } else { "them" }
    )))
}

/// remove-bg through a router: [`RouterWork`], with the unit's wait and download bounded by
/// `--wait-timeout` as for one provider.
struct RoutedRemoveWork<'a> {
    inner: RouterWork<&'a Router>,
    wait: WaitPolicy,
}

impl Work for RoutedRemoveWork<'_> {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        self.inner.submit(unit)
    }

    fn route<'a>(
        &'a self,
        unit: &'a Unit,
        exclude: &'a [String],
    ) -> Option<BoxFuture<'a, Routed<JobTicket>>> {
        self.inner.route(unit, exclude)
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let limit = self.wait.deadline;
            match tokio::time::timeout(limit, self.inner.resume(unit, ticket)).await {
                Ok(cutouts) => cutouts,
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

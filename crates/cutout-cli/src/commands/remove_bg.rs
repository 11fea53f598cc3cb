//! `cutout remove-bg`: many inputs, one provider, through the provider-neutral
//! [`BackgroundRemover`] trait.

use std::sync::Arc;

use cutout::Provider;
use cutout::batch::{Unit, Work};
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
    if args.mask && !args.provider.makes_masks() {
        return Err(Failure::Usage(no_mask(args.provider)));
    }
    let provider = args.provider;
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
    let spec_batch = journal::Spec {
        global,
        expansion: &expansion,
        entries,
        out: &spec,
        provider,
        params: vec![format!("kind={suffix}")],
        suffix,
        batch: &args.batch,
        force: args.output.force,
        companions: Vec::new(),
    };
    if args.batch.dry_run {
        // The plan needs no client: no key is asked for, nothing is started.
        journal::prepare(spec_batch, credits).await?;
        return Ok(());
    }
    // The clients before the output folder: a missing key leaves nothing behind.
    let backend = Backend::new(global).await?;
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
        kind: if args.mask {
            CutoutKind::Mask
        } else {
            CutoutKind::Rgba
        },
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

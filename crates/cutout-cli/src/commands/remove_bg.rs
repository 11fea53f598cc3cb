//! `cutout remove-bg`: many inputs, one provider, through the provider-neutral
//! [`BackgroundRemover`] trait.

use std::sync::Arc;

use cutout::Provider;
use cutout::runtime::{BackgroundRemover, CutoutKind, ImageSource, RemoveOptions, WaitPolicy};
use futures_util::StreamExt;

use crate::backend::Backend;
use crate::cli::{Global, RemoveBgArgs, default_concurrency, mask_command};
use crate::failure::Failure;
use crate::inputs::{self, Entry, Input};
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

struct Context<'a> {
    backend: &'a Backend,
    remover: &'a dyn BackgroundRemover,
    provider: Provider,
    spec: &'a OutSpec,
    suffix: &'static str,
    kind: CutoutKind,
    wait: WaitPolicy,
    force: bool,
    ui: &'a Ui,
}

/// Runs the command.
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
    let backend = Backend::new(global).await?;
    // Said before the key is asked for: no key would make local files work for this provider.
    if !backend.is_sandbox()
        && !args.provider.accepts_local_files()
        && entries
            .iter()
            .all(|entry| matches!(entry.input, Input::Path(_)))
    {
        return Err(Failure::Usage(format!(
            "{} fetches images by URL: pass public http(s) URLs to the images (or try it with \
             --sandbox, which hosts local files itself)",
            args.provider
        )));
    }
    let remover = backend.remover(args.provider)?;
    spec.prepare()?;
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(args.provider));
    let ui = Ui::new(global, entries.len());
    ui.expanded(&expansion);
    let context = Context {
        backend: &backend,
        remover: remover.as_ref(),
        provider: args.provider,
        spec: &spec,
        suffix,
        kind: if args.mask {
            CutoutKind::Mask
        } else {
            CutoutKind::Rgba
        },
        wait: backend.wait_policy(&args.wait),
        force: args.output.force,
        ui: &ui,
    };
    futures_util::stream::iter(entries.iter().enumerate())
        .map(|(index, entry)| one(&context, index, entry))
        .buffer_unordered(concurrency)
        .for_each(|(task, record)| {
            ui.done(&task, record);
            std::future::ready(())
        })
        .await;
    ui.finish()
}

async fn one(context: &Context<'_>, index: usize, entry: &Entry) -> (Arc<Task>, Record) {
    let input = &entry.input;
    let task = context.ui.task(&input.display());
    let provider = context.provider.name();
    let work = process(context, index, entry, &task);
    let record = match Backend::within_deadline(&context.wait, work).await {
        Ok(record) => record,
        Err(error) => Record::failed(input.display(), provider, &task, error),
    };
    (task, record)
}

async fn process(
    context: &Context<'_>,
    index: usize,
    entry: &Entry,
    task: &Arc<Task>,
) -> Result<Record, String> {
    let input = &entry.input;
    input.check_local("input").map_err(|e| e.to_string())?;
    let relative = &entry.relative;
    output::precheck_result(context.spec, relative, context.suffix, false, context.force)?;
    let source = if context.provider.accepts_local_files() {
        input.source()
    } else {
        // A provider that only fetches URLs: the sandbox hosts a local file, the real API cannot.
        ImageSource::url(
            context
                .backend
                .url_for(input, index, context.provider)
                .await
                .map_err(|e| e.to_string())?,
        )
    };
    let progress = Arc::clone(task);
    let options = RemoveOptions::default()
        .kind(context.kind)
        .wait(context.wait.clone())
        .on_progress(move |event| progress.on(event));
    let cutout = context
        .remover
        .remove_background(source, options)
        .await
        .map_err(|e| e.to_string())?;
    let path = context
        .spec
        .path(relative, context.suffix, cutout.format.extension());
    if context.spec.is_file() {
        warn_extension(context.ui, &path, cutout.format.extension());
    }
    output::write(&path, &cutout.bytes, context.force).await?;
    let mut record = Record::ok(input.display(), context.provider.name(), task);
    record.wrote(&path, &cutout);
    Ok(record)
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

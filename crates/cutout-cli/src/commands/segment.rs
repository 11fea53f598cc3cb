//! `cutout segment`: Tengr.ai segmentation of images by a text prompt or by points; writes each
//! one's mask(s) under its mirrored name.

use std::sync::Arc;

use cutout::Provider;
use cutout::artworks::types::OutputFormat;
use cutout::artworks::{ArtworkJob, SegmentationMode, SegmentationRequest};
use cutout::runtime::{Cutout, CutoutKind, Progress};
use futures_util::StreamExt;

use crate::backend::Backend;
use crate::cli::{Global, MaskFormat, SegmentArgs, default_concurrency};
use crate::failure::Failure;
use crate::inputs::{self, Entry};
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

/// What every image of the command shares.
struct Context<'a> {
    backend: &'a Backend,
    client: &'a cutout::artworks::Client,
    args: &'a SegmentArgs,
    spec: &'a OutSpec,
    ui: &'a Ui,
}

/// Runs the command.
pub async fn run(global: &Global, args: SegmentArgs) -> Result<(), Failure> {
    let expansion = inputs::expand(
        &args.images,
        "image",
        OutSpec::folder_of(args.output.output.as_deref()).as_deref(),
    )?;
    let entries = &expansion.entries;
    let spec = OutSpec::new(args.output.output.as_deref(), entries.len())?;
    output::check_collisions(&spec, entries, "mask")?;
    let backend = Backend::new(global).await?;
    let client: cutout::artworks::Client = backend.client(Provider::Tengr)?;
    spec.prepare()?;
    let ui = Ui::new(global, entries.len());
    ui.expanded(&expansion);
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(Provider::Tengr));
    let context = Context {
        backend: &backend,
        client: &client,
        args: &args,
        spec: &spec,
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
    let task = context.ui.task(&entry.input.display());
    let work = segment(context, index, entry, &task);
    let wait = context.backend.wait_policy(&context.args.wait);
    let record = match Backend::within_deadline(&wait, work).await {
        Ok(record) => record,
        Err(error) => Record::failed(entry.input.display(), Provider::Tengr.name(), &task, error),
    };
    (task, record)
}

async fn segment(
    context: &Context<'_>,
    index: usize,
    entry: &Entry,
    task: &Arc<Task>,
) -> Result<Record, String> {
    let Context {
        backend,
        client,
        args,
        spec,
        ui,
    } = *context;
    let image = &entry.input;
    image.check_local("image").map_err(|e| e.to_string())?;
    let format = match args.format {
        MaskFormat::Png => OutputFormat::Png,
        MaskFormat::Webp => OutputFormat::Webp,
    };
    let relative = &entry.relative;
    // Several masks may come back (`-2`, `-3`…), in the format asked for or another.
    output::precheck_result(spec, relative, "mask", true, args.output.force)?;
    let url = backend
        .url_for(image, index, Provider::Tengr)
        .await
        .map_err(|e| e.to_string())?;
    let mut job = match &args.prompt {
        Some(prompt) => {
            create(
                client,
                SegmentationRequest::text(url, prompt.clone()),
                format,
                args.expand,
            )
            .await?
        }
        None => {
            let mut points = SegmentationRequest::points(url);
            for point in &args.points {
                points = if point.foreground {
                    points.positive(point.x, point.y)
                } else {
                    points.negative(point.x, point.y)
                };
            }
            create(client, points, format, args.expand).await?
        }
    };
    let id = job.id().to_owned();
    task.on(&Progress::Submitted { job_id: id.clone() });
    job.wait(&backend.wait_policy(&args.wait), |progress| {
        task.on(&Progress::Waiting(progress.clone()))
    })
    .await
    .map_err(|e| e.to_string())?;
    task.on(&Progress::Downloading);
    let results = job.result_bytes().await.map_err(|e| e.to_string())?;
    let mut record = Record::ok(image.display(), Provider::Tengr.name(), task);
    record.job_id = Some(id.clone());
    for (index, bytes) in results.into_iter().enumerate() {
        let mask = Cutout::new(
            bytes,
            CutoutKind::Mask,
            Provider::Tengr.name(),
            Some(id.clone()),
        )
        .map_err(|e| e.to_string())?;
        let path = spec.nth_path(relative, "mask", mask.format.extension(), index + 1);
        if spec.is_file() {
            super::remove_bg::warn_extension(ui, &path, mask.format.extension());
        }
        output::write(&path, &mask.bytes, args.output.force).await?;
        if index == 0 {
            record.wrote(&path, &mask);
        } else {
            ui.note(&format!("  another mask → {}", path.display()));
        }
    }
    Ok(record)
}

async fn create<M: SegmentationMode>(
    client: &cutout::artworks::Client,
    segmentation: SegmentationRequest<M>,
    format: OutputFormat,
    expand: i64,
) -> Result<ArtworkJob, String> {
    let mut segmentation = segmentation.output_format(format);
    if expand != 0 {
        segmentation = segmentation.mask_expand(expand);
    }
    segmentation.submit(client).await.map_err(|e| e.to_string())
}

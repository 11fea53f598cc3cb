//! `cutout segment`: Tengr.ai segmentation of images by a text prompt or by points; writes each
//! one's mask(s) under its mirrored name.

use std::sync::Arc;

use cutout::Provider;
use cutout::artworks::types::OutputFormat;
use cutout::artworks::{ArtworkJob, SegmentationMode, SegmentationRequest};
use cutout::batch::{Unit, Work};
use cutout::runtime::{
    BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket, Progress, WaitPolicy,
};

use crate::backend::Backend;
use crate::batch::{self as journal, Tasks};
use crate::cli::{Global, MaskFormat, SegmentArgs, default_concurrency};
use crate::failure::Failure;
use crate::inputs::{self, Input};
use crate::output::{self, OutSpec};

/// Runs the command through the journal: a re-run resumes, nothing is paid twice.
pub async fn run(global: &Global, args: SegmentArgs) -> Result<(), Failure> {
    let expansion = inputs::expand(
        &args.images,
        "image",
        OutSpec::folder_of(args.output.output.as_deref()).as_deref(),
    )?;
    let entries = &expansion.entries;
    let spec = OutSpec::new(args.output.output.as_deref(), entries.len())?;
    output::check_collisions(&spec, entries, "mask")?;
    let format = match args.format {
        MaskFormat::Png => OutputFormat::Png,
        MaskFormat::Webp => OutputFormat::Webp,
    };
    // Everything that changes the paid result.
    let mut params = vec![
        format!("format={}", format_name(args.format)),
        format!("expand={}", args.expand),
    ];
    match &args.prompt {
        Some(prompt) => params.push(format!("prompt={prompt}")),
        None => params.push(format!(
            "points={}",
            args.points
                .iter()
                .map(|p| format!("{},{}:{}", p.x, p.y, if p.foreground { "fg" } else { "bg" }))
                .collect::<Vec<_>>()
                .join(";")
        )),
    }
    let batch = journal::Spec {
        global,
        expansion: &expansion,
        entries,
        out: &spec,
        provider: Provider::Tengr,
        fallback: &[],
        params,
        suffix: "mask",
        batch: &args.batch,
        force: args.output.force,
        companions: Vec::new(),
        relate_lists: false,
    };
    if args.batch.dry_run {
        // The plan needs no client: no key is asked for, nothing is started.
        journal::prepare(batch, |_, _| Ok(1)).await?;
        return Ok(());
    }
    // The clients before the output folder: a missing key leaves nothing behind.
    let backend = Backend::new(global).await?;
    let client: cutout::artworks::Client = backend.client(Provider::Tengr)?;
    let Some(prepared) = journal::prepare(batch, |_, _| Ok(1)).await? else {
        return Ok(());
    };
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(Provider::Tengr));
    let work = SegmentWork {
        backend: &backend,
        client: &client,
        args: &args,
        format,
        wait: backend.wait_policy(&args.wait),
        tasks: prepared.tasks(),
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

fn format_name(format: MaskFormat) -> &'static str {
    match format {
        MaskFormat::Png => "png",
        MaskFormat::Webp => "webp",
    }
}

/// Segmentation as batch work: submit creates the artwork (the paid step), resume reads it
/// again by id, waits and downloads every mask.
struct SegmentWork<'a> {
    backend: &'a Backend,
    client: &'a cutout::artworks::Client,
    args: &'a SegmentArgs,
    format: OutputFormat,
    wait: WaitPolicy,
    tasks: Arc<Tasks>,
}

impl Work for SegmentWork<'_> {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let image = match unit.sources.first() {
                Some(ImageSource::Path(path)) => Input::Path(path.clone()),
                Some(ImageSource::Url(url)) => Input::Url(url.clone()),
                _ => {
                    return Err(Error::invalid(
                        "image",
                        format!("`{}` is neither a file nor a URL", unit.display),
                    ));
                }
            };
            // Tengr fetches by URL: under --sandbox a local file is hosted first (the unit's
            // key stays the file's content hash).
            let url = self
                .backend
                .url_for(&image, self.tasks.index(unit), Provider::Tengr)
                .await?;
            let args = self.args;
            let job = match &args.prompt {
                Some(prompt) => {
                    create(
                        self.client,
                        SegmentationRequest::text(url, prompt.clone()),
                        self.format,
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
                    create(self.client, points, self.format, args.expand).await?
                }
            };
            let id = job.id().to_owned();
            self.tasks
                .of(unit)
                .on(&Progress::Submitted { job_id: id.clone() });
            Ok(JobTicket::new(Provider::Tengr.name(), id))
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let id = ticket.require_job_id(Provider::Tengr.name())?.to_owned();
            let task = self.tasks.of(unit);
            let limit = self.wait.deadline;
            let work = async {
                let mut job = self.client.artwork(&id).await?;
                job.wait(&self.wait, |progress| {
                    task.on(&Progress::Waiting(progress.clone()))
                })
                .await?;
                task.on(&Progress::Downloading);
                let results = job.result_bytes().await?;
                results
                    .into_iter()
                    .map(|bytes| {
                        Cutout::new(
                            bytes,
                            CutoutKind::Mask,
                            Provider::Tengr.name(),
                            Some(id.clone()),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout {
                    what: "this image (waiting and downloading: --wait-timeout)".to_owned(),
                    waited: limit,
                }),
            }
        })
    }
}

async fn create<M: SegmentationMode>(
    client: &cutout::artworks::Client,
    segmentation: SegmentationRequest<M>,
    format: OutputFormat,
    expand: i64,
) -> Result<ArtworkJob, Error> {
    let mut segmentation = segmentation.output_format(format);
    if expand != 0 {
        segmentation = segmentation.mask_expand(expand);
    }
    segmentation.submit(client).await
}

//! `cutout segment`: Tengr.ai segmentation by a text prompt or by points; writes the mask(s).

use std::sync::Arc;

use cutout::Provider;
use cutout::artworks::types::OutputFormat;
use cutout::artworks::{ArtworkJob, SegmentationMode, SegmentationRequest};
use cutout::runtime::{Cutout, CutoutKind, Progress};

use crate::backend::Backend;
use crate::cli::{Global, MaskFormat, SegmentArgs};
use crate::failure::Failure;
use crate::inputs::Input;
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

/// Runs the command.
pub async fn run(global: &Global, args: SegmentArgs) -> Result<(), Failure> {
    let image = Input::parse(&args.image);
    let spec = OutSpec::new(args.output.output.as_deref(), 1)?;
    let backend = Backend::new(global).await?;
    let client: cutout::artworks::Client = backend.client(Provider::Tengr)?;
    spec.prepare()?;
    let ui = Ui::new(global, 1);
    let task = ui.task(&image.display());
    let work = segment(&backend, &client, &args, &image, &spec, &task, &ui);
    let record = match Backend::within_deadline(&backend.wait_policy(&args.wait), work).await {
        Ok(record) => record,
        Err(error) => Record::failed(image.display(), Provider::Tengr.name(), &task, error),
    };
    ui.done(&task, record);
    ui.finish()
}

async fn segment(
    backend: &Backend,
    client: &cutout::artworks::Client,
    args: &SegmentArgs,
    image: &Input,
    spec: &OutSpec,
    task: &Arc<Task>,
    ui: &Ui,
) -> Result<Record, String> {
    image.check_local("image").map_err(|e| e.to_string())?;
    let format = match args.format {
        MaskFormat::Png => OutputFormat::Png,
        MaskFormat::Webp => OutputFormat::Webp,
    };
    let stem = image.stem();
    // Several masks may come back (`-2`, `-3`…), in the format asked for or another.
    output::precheck_result(spec, &stem, "mask", true, args.output.force)?;
    let url = backend
        .url_for(image, 0, Provider::Tengr)
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
        let path = spec.nth_path(&stem, "mask", mask.format.extension(), index + 1);
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

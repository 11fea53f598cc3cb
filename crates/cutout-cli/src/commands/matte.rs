//! `cutout matte`: BackgroundCut's trimap-guided matting of one image.

use std::path::Path;
use std::sync::Arc;

use backgroundcut::types::MattingOutputType;
use cutout::Provider;
use cutout::runtime::probe::ImageFormat;
use cutout::runtime::{CutoutKind, ImageSource};

use crate::backend::Backend;
use crate::cli::{Global, MatteArgs};
use crate::failure::Failure;
use crate::inputs::Input;
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

const PROVIDER: &str = "backgroundcut";

/// Runs the command.
pub async fn run(global: &Global, args: MatteArgs) -> Result<(), Failure> {
    let image = Input::parse(&args.image);
    let spec = OutSpec::new(args.output.output.as_deref(), 1)?;
    let backend = Backend::new(global).await?;
    let client: cutout::backgroundcut::Client = backend.client(Provider::BackgroundCut)?;
    spec.prepare()?;
    let ui = Ui::new(global, 1);
    let task = ui.task(&image.display());
    let work = matte(&client, &args, &image, &spec, &task, &ui);
    let record = match Backend::within_deadline(&backend.wait_policy(&args.wait), work).await {
        Ok(record) => record,
        Err(error) => Record::failed(image.display(), PROVIDER, &task, error),
    };
    ui.done(&task, record);
    ui.finish()
}

async fn matte(
    client: &cutout::backgroundcut::Client,
    args: &MatteArgs,
    image: &Input,
    spec: &OutSpec,
    task: &Arc<Task>,
    ui: &Ui,
) -> Result<Record, String> {
    image.check_local("image").map_err(|e| e.to_string())?;
    let force = args.output.force;
    let (suffix, output_type, kind) = if args.mask {
        ("mask", MattingOutputType::Mask, CutoutKind::Mask)
    } else {
        ("cutout", MattingOutputType::Rgba, CutoutKind::Rgba)
    };
    let stem = image.stem();
    output::precheck_result(spec, &stem, suffix, false, force)?;
    let trimap = match (&args.trimap, &args.trimap_from_mask) {
        (Some(trimap), _) => {
            let trimap = Input::parse(trimap);
            trimap.check_local("trimap").map_err(|e| e.to_string())?;
            if let Ok(Some(info)) = trimap.source().probe("trimap")
                && info.format != ImageFormat::Jpeg
            {
                return Err(format!(
                    "the trimap `{}` is a {}, but matting needs a grayscale JPEG trimap: if it is \
                     a mask, pass it with --trimap-from-mask instead (or turn it into a trimap \
                     with `cutout trimap`)",
                    trimap.display(),
                    info.format
                ));
            }
            trimap.source()
        }
        (None, Some(mask)) => {
            task.stage("making the trimap");
            let size = match image.source().probe("image") {
                Ok(Some(info)) => Some((info.width, info.height)),
                _ => None,
            };
            let (mask, band) = (mask.clone(), args.band);
            let jpeg = tokio::task::spawn_blocking(move || trimap_from_mask(&mask, band, size))
                .await
                .map_err(|e| format!("making the trimap failed: {e}"))??;
            ImageSource::bytes(jpeg, "trimap.jpg")
        }
        (None, None) => return Err("pass --trimap or --trimap-from-mask".to_owned()),
    };
    let progress = Arc::clone(task);
    let stored = client
        .matting(image.source(), trimap)
        .output_type(output_type)
        .on_progress(move |event| progress.on(event))
        .run()
        .await
        .map_err(|e| e.to_string())?;
    let cutout = stored.into_cutout(kind).map_err(|e| e.to_string())?;
    let path = spec.path(&stem, suffix, cutout.format.extension());
    if spec.is_file() {
        super::remove_bg::warn_extension(ui, &path, cutout.format.extension());
    }
    output::write(&path, &cutout.bytes, force).await?;
    let mut record = Record::ok(image.display(), PROVIDER, task);
    record.wrote(&path, &cutout);
    Ok(record)
}

/// Reads a mask (its alpha when it has one, else its gray levels), checks it has the image's
/// size when that is known, and returns its trimap as the grayscale JPEG matting needs.
pub fn trimap_from_mask(
    mask_path: &Path,
    band: u32,
    image_size: Option<(u32, u32)>,
) -> Result<Vec<u8>, String> {
    let mask = backgroundcut::trimap::read_mask(mask_path).map_err(|e| e.to_string())?;
    let (width, height) = mask.dimensions();
    if let Some((image_width, image_height)) = image_size
        && (width, height) != (image_width, image_height)
    {
        return Err(format!(
            "the mask is {width}×{height} but the image is {image_width}×{image_height}: make \
             the mask exactly the image's size"
        ));
    }
    let trimap = backgroundcut::trimap::trimap_from_mask(&mask, band);
    backgroundcut::trimap::encode_trimap_jpeg(&trimap, 95).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_of_the_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.png");
        image::GrayImage::from_fn(40, 30, |x, _| image::Luma([if x < 20 { 255 } else { 0 }]))
            .save(&path)
            .unwrap();
        let err = trimap_from_mask(&path, 3, Some((41, 30))).unwrap_err();
        assert!(
            err.contains("the mask is 40×30 but the image is 41×30"),
            "{err}"
        );
        let jpeg = trimap_from_mask(&path, 3, Some((40, 30))).unwrap();
        let info = cutout::runtime::probe::probe_bytes(&jpeg).unwrap();
        assert_eq!((info.width, info.height), (40, 30));
        assert!(trimap_from_mask(&dir.path().join("none.png"), 3, None).is_err());
    }
}

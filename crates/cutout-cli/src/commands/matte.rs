//! `cutout matte`: BackgroundCut's trimap-guided matting of images, each paired with its
//! trimap (or the mask to make one from) by name.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use backgroundcut::types::MattingOutputType;
use cutout::Provider;
use cutout::runtime::probe::ImageFormat;
use cutout::runtime::{CutoutKind, ImageSource};
use futures_util::StreamExt;

use crate::backend::Backend;
use crate::cli::{Global, MatteArgs, default_concurrency};
use crate::failure::Failure;
use crate::inputs::{self, Entry, Input};
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui};

const PROVIDER: &str = "backgroundcut";

/// The extensions a trimap or mask paired by name may have.
const GUIDE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "JPG", "JPEG", "PNG", "WEBP"];

/// What guides the matting of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Guide {
    /// A trimap to send as it is.
    Trimap(Input),
    /// A mask to make the trimap from.
    Mask(PathBuf),
}

/// Runs the command.
pub async fn run(global: &Global, args: MatteArgs) -> Result<(), Failure> {
    let expansion = inputs::expand(
        &args.images,
        "image",
        OutSpec::folder_of(args.output.output.as_deref()).as_deref(),
    )?;
    let pairs = pair(expansion.entries.clone(), &args)?;
    let spec = OutSpec::new(args.output.output.as_deref(), pairs.len())?;
    let suffix = if args.mask { "mask" } else { "cutout" };
    let entries: Vec<Entry> = pairs.iter().map(|(entry, _)| entry.clone()).collect();
    output::check_collisions(&spec, &entries, suffix)?;
    let backend = Backend::new(global).await?;
    let client: cutout::backgroundcut::Client = backend.client(Provider::BackgroundCut)?;
    spec.prepare()?;
    let ui = Ui::new(global, pairs.len());
    ui.expanded(&expansion);
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(Provider::BackgroundCut));
    let wait = backend.wait_policy(&args.wait);
    let (client_ref, args_ref, spec_ref, ui_ref) = (&client, &args, &spec, &ui);
    futures_util::stream::iter(pairs.iter())
        .map(|(entry, guide)| {
            let wait = wait.clone();
            async move {
                let task = ui_ref.task(&entry.input.display());
                let work = matte(client_ref, args_ref, entry, guide, spec_ref, &task, ui_ref);
                let record = match Backend::within_deadline(&wait, work).await {
                    Ok(record) => record,
                    Err(error) => Record::failed(entry.input.display(), PROVIDER, &task, error),
                };
                (task, record)
            }
        })
        .buffer_unordered(concurrency)
        .for_each(|(task, record)| {
            ui.done(&task, record);
            std::future::ready(())
        })
        .await;
    ui.finish()
}

/// Gives every image its guide: the one file given, or the file of the same relative name in
/// the folder given. Images without one are reported together, before anything is sent; in a
/// folder that holds both, the trimaps (masks) are not photos to matte.
fn pair(entries: Vec<Entry>, args: &MatteArgs) -> Result<Vec<(Entry, Guide)>, Failure> {
    let (flag, given, kind) = match (&args.trimap, &args.trimap_from_mask) {
        (Some(trimap), _) => ("--trimap", PathBuf::from(trimap), "trimap"),
        (None, Some(mask)) => ("--trimap-from-mask", mask.clone(), "mask"),
        (None, None) => return Err(Failure::Usage("pass --trimap or --trimap-from-mask".into())),
    };
    if !given.is_dir() {
        if entries.len() > 1 {
            return Err(Failure::Usage(format!(
                "{flag} `{}` is one file, but there are {} images: pass a folder holding a {kind} \
                 for each image, named like it (<name>.{kind}.<ext> or <name>.<ext>)",
                given.display(),
                entries.len()
            )));
        }
        let guide = match &args.trimap {
            Some(trimap) => Guide::Trimap(Input::parse(trimap)),
            None => Guide::Mask(given),
        };
        return Ok(entries
            .into_iter()
            .map(|entry| (entry, guide.clone()))
            .collect());
    }
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let found: Vec<Option<PathBuf>> = entries
        .iter()
        .map(|entry| {
            let own = match &entry.input {
                Input::Path(path) => Some(canonical(path)),
                Input::Url(_) => None,
            };
            find_guide(&given, &entry.relative, kind)
                .into_iter()
                .find(|candidate| Some(canonical(candidate)) != own)
        })
        .collect();
    let guides: HashSet<PathBuf> = found.iter().flatten().map(|p| canonical(p)).collect();
    let mut pairs = Vec::new();
    let mut missing = Vec::new();
    for (entry, guide) in entries.into_iter().zip(found) {
        if let Input::Path(path) = &entry.input
            && guides.contains(&canonical(path))
        {
            continue;
        }
        match guide {
            Some(guide) if args.trimap.is_some() => {
                pairs.push((entry, Guide::Trimap(Input::Path(guide))))
            }
            Some(guide) => pairs.push((entry, Guide::Mask(guide))),
            None => missing.push(entry.input.display()),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::Usage(format!(
            "no {kind} in `{}` for {} image{}: {}; each needs <name>.{kind}.<ext> or \
             <name>.<ext> at the same place under the {kind} folder as the image under its \
             own (nothing was sent)",
            given.display(),
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(pairs)
}

/// The files that may be the guide of the image named `relative`, in order of preference.
fn find_guide(folder: &Path, relative: &Path, kind: &str) -> Vec<PathBuf> {
    let base = folder.join(relative);
    let mut candidates = Vec::new();
    for infix in [format!(".{kind}."), ".".to_owned()] {
        for extension in GUIDE_EXTENSIONS {
            let mut name = base.as_os_str().to_owned();
            name.push(format!("{infix}{extension}"));
            let path = PathBuf::from(name);
            if path.is_file() {
                candidates.push(path);
            }
        }
    }
    candidates
}

async fn matte(
    client: &cutout::backgroundcut::Client,
    args: &MatteArgs,
    entry: &Entry,
    guide: &Guide,
    spec: &OutSpec,
    task: &Arc<Task>,
    ui: &Ui,
) -> Result<Record, String> {
    let image = &entry.input;
    image.check_local("image").map_err(|e| e.to_string())?;
    let force = args.output.force;
    let (suffix, output_type, kind) = if args.mask {
        ("mask", MattingOutputType::Mask, CutoutKind::Mask)
    } else {
        ("cutout", MattingOutputType::Rgba, CutoutKind::Rgba)
    };
    let relative = &entry.relative;
    output::precheck_result(spec, relative, suffix, false, force)?;
    let trimap = match guide {
        Guide::Trimap(trimap) => {
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
        Guide::Mask(mask) => {
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
    let path = spec.path(relative, suffix, cutout.format.extension());
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

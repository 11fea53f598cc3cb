//! `cutout matte`: BackgroundCut's trimap-guided matting of images, each paired with its
//! trimap (or the mask to make one from) by name.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use backgroundcut::types::MattingOutputType;
use cutout::Provider;
use cutout::batch::{Unit, Work};
use cutout::runtime::probe::ImageFormat;
use cutout::runtime::{
    BoxFuture, Cutout, CutoutKind, Error, ImageSource, JobTicket, Progress, WaitPolicy,
};

use crate::backend::Backend;
use crate::batch::{self as journal, Tasks};
use crate::cli::{Global, MatteArgs, default_concurrency};
use crate::failure::Failure;
use crate::inputs::{self, Entry, Input};
use crate::output::{self, OutSpec};

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

/// Runs the command through the journal: a re-run resumes, nothing is paid twice.
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
    // The guide is part of the work: its content is in the key, and how it is used in params.
    let companions = pairs
        .iter()
        .map(|(_, guide)| {
            vec![match guide {
                Guide::Trimap(trimap) => trimap.source(),
                Guide::Mask(mask) => ImageSource::Path(mask.clone()),
            }]
        })
        .collect();
    let from_mask = args.trimap.is_none();
    let mut params = vec![format!("output={suffix}")];
    if from_mask {
        params.push("guide=mask".to_owned());
        params.push(format!("band={}", args.band));
    } else {
        params.push("guide=trimap".to_owned());
    }
    let batch = journal::Spec {
        global,
        expansion: &expansion,
        entries: &entries,
        out: &spec,
        provider: Provider::BackgroundCut,
        fallback: &[],
        params,
        suffix,
        batch: &args.batch,
        force: args.output.force,
        companions,
        relate_lists: false,
    };
    if args.batch.dry_run {
        // The plan needs no client: no key is asked for, nothing is started.
        journal::prepare(batch, |_, _| Ok(1)).await?;
        return Ok(());
    }
    // The clients before the output folder: a missing key leaves nothing behind.
    let backend = Backend::new(global).await?;
    let client: cutout::backgroundcut::Client = backend.client(Provider::BackgroundCut)?;
    let Some(prepared) = journal::prepare(batch, |_, _| Ok(1)).await? else {
        return Ok(());
    };
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or_else(|| default_concurrency(Provider::BackgroundCut));
    let work = MatteWork {
        client: &client,
        from_mask,
        band: args.band,
        mask: args.mask,
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

/// Matting as batch work: submit sends the photo and its trimap (made from the mask first when
/// that is the guide) and keeps the output key; resume downloads the result by that key
/// (BackgroundCut keeps it 2 hours).
struct MatteWork<'a> {
    client: &'a cutout::backgroundcut::Client,
    from_mask: bool,
    band: u32,
    mask: bool,
    wait: WaitPolicy,
    tasks: Arc<Tasks>,
}

impl Work for MatteWork<'_> {
    fn submit<'a>(&'a self, unit: &'a Unit) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move {
            let (Some(image), Some(guide)) = (unit.sources.first(), unit.sources.get(1)) else {
                return Err(Error::invalid(
                    "trimap",
                    format!("`{}` has no trimap", unit.display),
                ));
            };
            let task = self.tasks.of(unit);
            let trimap = if self.from_mask {
                let ImageSource::Path(mask) = guide.clone() else {
                    return Err(Error::invalid("mask", "the mask must be a local file"));
                };
                task.stage("making the trimap");
                let size = match image.probe("image") {
                    Ok(Some(info)) => Some((info.width, info.height)),
                    _ => None,
                };
                let band = self.band;
                let jpeg = tokio::task::spawn_blocking(move || trimap_from_mask(&mask, band, size))
                    .await
                    .map_err(|e| Error::invalid("mask", format!("making the trimap failed: {e}")))?
                    .map_err(|e| Error::invalid("mask", e))?;
                ImageSource::bytes(jpeg, "trimap.jpg")
            } else {
                if let Ok(Some(info)) = guide.probe("trimap")
                    && info.format != ImageFormat::Jpeg
                {
                    return Err(Error::invalid(
                        "trimap",
                        format!(
                            "the trimap `{}` is a {}, but matting needs a grayscale JPEG trimap: \
                             if it is a mask, pass it with --trimap-from-mask instead (or turn \
                             it into a trimap with `cutout trimap`)",
                            guide.describe(),
                            info.format
                        ),
                    ));
                }
                guide.clone()
            };
            let output_type = if self.mask {
                MattingOutputType::Mask
            } else {
                MattingOutputType::Rgba
            };
            let progress = task.clone();
            let job = self
                .client
                .matting(image.clone(), trimap)
                .output_type(output_type)
                .on_progress(move |event| progress.on(event))
                .submit()
                .await?;
            let key = job
                .output_key()
                .ok_or_else(|| Error::invalid("output", "the matting job has no output key"))?
                .to_owned();
            task.on(&Progress::Submitted {
                job_id: key.clone(),
            });
            Ok(JobTicket::new(PROVIDER, key))
        })
    }

    fn resume<'a>(
        &'a self,
        unit: &'a Unit,
        ticket: JobTicket,
    ) -> BoxFuture<'a, Result<Vec<Cutout>, Error>> {
        Box::pin(async move {
            let key = ticket.require_job_id(PROVIDER)?.to_owned();
            self.tasks.of(unit).on(&Progress::Downloading);
            let kind = if self.mask {
                CutoutKind::Mask
            } else {
                CutoutKind::Rgba
            };
            let limit = self.wait.deadline;
            let download = async {
                self.client
                    .output([key])
                    .download()
                    .await?
                    .into_cutout(kind)
            };
            match tokio::time::timeout(limit, download).await {
                Ok(cutout) => Ok(vec![cutout?]),
                Err(_) => Err(Error::Timeout {
                    what: "this image (downloading: --wait-timeout)".to_owned(),
                    waited: limit,
                }),
            }
        })
    }
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

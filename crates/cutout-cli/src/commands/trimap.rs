//! `cutout trimap`: a trimap from a mask, computed locally with `backgroundcut::trimap`.

use std::path::PathBuf;

use crate::cli::{Global, TrimapArgs};
use crate::failure::Failure;
use crate::inputs::Input;
use crate::output::{self, OutSpec};
use crate::report::{Record, Ui};

const PROVIDER: &str = "local";

/// Runs the command.
pub async fn run(global: &Global, args: TrimapArgs) -> Result<(), Failure> {
    let spec = OutSpec::new(args.output.as_deref(), 1)?;
    if let OutSpec::File(file) = &spec {
        let extension = file
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if !matches!(extension.as_deref(), Some("jpg" | "jpeg")) {
            return Err(Failure::Usage(format!(
                "-o `{}`: the trimap is a grayscale JPEG, so name it .jpg (or pass a folder)",
                file.display()
            )));
        }
    }
    spec.prepare()?;
    let ui = Ui::new(global, 1);
    let mask = Input::Path(args.mask.clone());
    let task = ui.task(&mask.display());
    let path = spec.path(std::path::Path::new(&mask.stem()), "trimap", "jpg");
    let outcome = make(args.mask.clone(), args.band, path.clone(), args.force).await;
    let record = match outcome {
        Ok((bytes, width, height)) => {
            let mut record = Record::ok(mask.display(), PROVIDER, &task);
            record.output = Some(path.display().to_string());
            record.bytes = Some(bytes);
            record.width = Some(width);
            record.height = Some(height);
            record
        }
        Err(error) => Record::failed(mask.display(), PROVIDER, &task, error),
    };
    ui.done(&task, record);
    ui.finish()
}

async fn make(
    mask: PathBuf,
    band: u32,
    path: PathBuf,
    force: bool,
) -> Result<(u64, u32, u32), String> {
    output::precheck(&path, force)?;
    let written = path.clone();
    tokio::task::spawn_blocking(move || {
        backgroundcut::trimap::trimap_file_from_mask(&mask, band, &written, force)
    })
    .await
    .map_err(|e| format!("making the trimap failed: {e}"))?
    .map_err(|e| {
        if !force && std::fs::symlink_metadata(&path).is_ok() {
            output::exists_message(&path)
        } else {
            e.to_string()
        }
    })?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let info = cutout::runtime::probe::probe_file(&path)
        .ok()
        .flatten()
        .ok_or_else(|| format!("`{}` was written but cannot be read back", path.display()))?;
    Ok((bytes, info.width, info.height))
}

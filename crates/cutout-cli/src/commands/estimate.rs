//! `cutout estimate`: what Topaz would charge (and how long it would take) for matting images.

use cutout::Provider;
use cutout::runtime::ImageSource;
use cutout::topaz::{Client, Model};
use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{EstimateArgs, Global, ModelArg};
use crate::failure::Failure;

/// One estimate, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Line {
    input: String,
    model: &'static str,
    status: &'static str,
    error: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    credits: Option<u32>,
    duration_s: Option<u64>,
}

/// Runs the command.
pub async fn run(global: &Global, args: EstimateArgs) -> Result<(), Failure> {
    let backend = Backend::new(global).await?;
    let client: Client = backend.client(Provider::Topaz)?;
    let (model, model_name) = match args.model {
        ModelArg::RemoveBg => (Model::RemoveBg, "remove-bg"),
        ModelArg::Object => (Model::Object, "object"),
    };
    type Size = Result<(u32, u32), String>;
    let mut items: Vec<(String, Size)> = Vec::new();
    for path in &args.images {
        let size = match ImageSource::path(path).probe("image") {
            Ok(Some(info)) => Ok((info.width, info.height)),
            Ok(None) => Err("no size".to_owned()),
            Err(error) => Err(error.to_string()),
        };
        items.push((path.display().to_string(), size));
    }
    for &(width, height) in &args.size {
        items.push((format!("{width}x{height}"), Ok((width, height))));
    }
    let total = items.len();
    let (mut credits, mut failed) = (0u64, Vec::new());
    for (input, size) in items {
        let mut line = Line {
            input: input.clone(),
            model: model_name,
            status: "ok",
            error: None,
            width: None,
            height: None,
            credits: None,
            duration_s: None,
        };
        let outcome = match size {
            Ok((width, height)) => {
                line.width = Some(width);
                line.height = Some(height);
                client
                    .estimate_matting(width, height, model)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(estimate) => {
                credits += u64::from(estimate.credits);
                line.credits = Some(estimate.credits);
                line.duration_s = Some(estimate.duration.as_secs());
                if !global.json {
                    crate::report::out(format_args!(
                        "{input} ({}×{}): {} credit{}, about {} s",
                        line.width.unwrap_or(0),
                        line.height.unwrap_or(0),
                        estimate.credits,
                        if estimate.credits == 1 { "" } else { "s" },
                        estimate.duration.as_secs()
                    ));
                }
            }
            Err(error) => {
                line.status = "error";
                line.error = Some(error.clone());
                failed.push((input, error));
            }
        }
        if global.json {
            crate::report::print_json(&line);
        }
    }
    if !global.json && total > 1 {
        crate::report::out(format_args!(
            "total: {credits} credit{} for {} image{}",
            if credits == 1 { "" } else { "s" },
            total - failed.len(),
            if total - failed.len() == 1 { "" } else { "s" }
        ));
    }
    if failed.is_empty() {
        return Ok(());
    }
    if total == 1 {
        eprintln!("error: {}: {}", failed[0].0, failed[0].1);
    } else {
        eprintln!("{} of {total} estimates failed:", failed.len());
        for (input, error) in &failed {
            eprintln!("  {input}: {error}");
        }
    }
    Err(Failure::InputsFailed)
}

//! `cutout jobs …`: the Topaz job lifecycle (list, status, cancel, download, submit).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cutout::Provider;
use cutout::runtime::{Cutout, CutoutKind, Progress, WaitPolicy};
use cutout::topaz::types::StatusResponse;
use cutout::topaz::{Client, Mode, Model};
use futures_util::StreamExt;
use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{Global, JobsCommand, ModelArg, OutputArgs, WaitArgs};
use crate::failure::Failure;
use crate::inputs::Input;
use crate::output::{self, OutSpec};
use crate::report::{Record, Task, Ui, print_json};

const PROVIDER: &str = "topaz";

/// How many downloads or submissions run at once.
const CONCURRENCY: usize = 4;

/// Runs the command.
pub async fn run(global: &Global, command: JobsCommand) -> Result<(), Failure> {
    if let JobsCommand::Download { ids, output, .. } = &command {
        // Usage errors before anything else.
        OutSpec::new(output.output.as_deref(), ids.len())?;
    }
    let backend = Backend::new(global).await?;
    let client: Client = backend.client(Provider::Topaz)?;
    match command {
        JobsCommand::List { max_pages } => list(global, &client, max_pages).await,
        JobsCommand::Status { ids } => status(global, &client, &ids).await,
        JobsCommand::Cancel { ids } => cancel(global, &client, &ids).await,
        JobsCommand::Download { ids, output, wait } => {
            download(global, &backend, &client, &ids, &output, &wait).await
        }
        JobsCommand::Submit {
            inputs,
            mask,
            model,
        } => submit(global, &client, &inputs, mask, model).await,
    }
}

async fn list(global: &Global, client: &Client, max_pages: usize) -> Result<(), Failure> {
    let mut jobs = client
        .list_jobs_up_to(max_pages)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    jobs.sort_by_key(|job| std::cmp::Reverse(job.creation_time));
    if global.json {
        for job in &jobs {
            print_json(job);
        }
        return Ok(());
    }
    if jobs.is_empty() {
        eprintln!("no jobs");
        return Ok(());
    }
    println!(
        "{:<36}  {:<10}  {:>4}  {:>9}  {:>8}  FILE",
        "JOB ID", "STATUS", "DONE", "SIZE", "CREATED"
    );
    for job in &jobs {
        println!(
            "{:<36}  {:<10}  {:>4}  {:>9}  {:>8}  {}",
            job.process_id,
            job.status.to_string(),
            percent(job.progress),
            size(job.output_width, job.output_height),
            job.creation_time.map_or_else(|| "-".to_owned(), ago),
            job.filename.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Now, in Unix seconds.
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `42%`, or `-` when Topaz left the progress out.
fn percent(progress: Option<i64>) -> String {
    progress.map_or_else(|| "-".to_owned(), |p| format!("{}%", p.clamp(0, 100)))
}

/// `W×H`, or `?` for a side Topaz left out.
fn size(width: Option<i64>, height: Option<i64>) -> String {
    let side = |v: Option<i64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    format!("{}×{}", side(width), side(height))
}

/// `12s ago`, `5m ago`, `3h ago`, `2d ago`. Any server value is shown, none panics: the
/// difference saturates (a time in the future is `0s ago`).
fn ago(unix_seconds: i64) -> String {
    let seconds = now_unix().saturating_sub(unix_seconds).max(0);
    match seconds {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// A failed lookup, as `--json` prints it.
#[derive(Serialize)]
struct JobError<'a> {
    process_id: &'a str,
    status: &'static str,
    error: String,
}

/// Prints the failures of a per-id command and turns them into the exit status.
fn summarize(total: usize, failed: Vec<(String, String)>) -> Result<(), Failure> {
    if failed.is_empty() {
        return Ok(());
    }
    if total == 1 {
        eprintln!("error: {}: {}", failed[0].0, failed[0].1);
    } else {
        eprintln!("{} of {total} jobs failed:", failed.len());
        for (id, error) in &failed {
            eprintln!("  {id}: {error}");
        }
    }
    Err(Failure::InputsFailed)
}

async fn status(global: &Global, client: &Client, ids: &[String]) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for id in ids {
        match client.job(id.as_str()).status().await {
            Ok(status) if global.json => print_json(&status),
            Ok(status) => println!("{}", describe(&status)),
            Err(error) => {
                if global.json {
                    print_json(&JobError {
                        process_id: id,
                        status: "error",
                        error: error.to_string(),
                    });
                }
                failed.push((id.clone(), error.to_string()));
            }
        }
    }
    summarize(ids.len(), failed)
}

/// One line about a job.
fn describe(status: &StatusResponse) -> String {
    // Every field but the id and the status may be missing: say `-`/`?` rather than fail.
    let mut line = format!(
        "{}  {} {}  {}  {} → {} {}",
        status.process_id,
        status.status,
        percent(status.progress),
        status.filename.as_deref().unwrap_or("-"),
        size(status.input_width, status.input_height),
        size(status.output_width, status.output_height),
        status.output_format.as_deref().unwrap_or("-"),
    );
    // Saturating: the ETA is the server's number, i64::MIN and i64::MAX included.
    let left = status.eta.map(|eta| eta.saturating_sub(now_unix()));
    // An unknown state is still running, as the waiter treats it.
    let running = matches!(
        status.status,
        cutout::topaz::types::JobStatus::Pending
            | cutout::topaz::types::JobStatus::Processing
            | cutout::topaz::types::JobStatus::Unknown(_)
    );
    if let Some(left) = left.filter(|left| running && *left > 0) {
        line.push_str(&format!("  about {left} s left"));
    }
    if let Some(credits) = status.credits {
        line.push_str(&format!(
            "  {credits} credit{}",
            if credits == 1 { "" } else { "s" }
        ));
    }
    line
}

#[derive(Serialize)]
struct Cancelled<'a> {
    process_id: &'a str,
    status: &'static str,
    error: Option<String>,
}

async fn cancel(global: &Global, client: &Client, ids: &[String]) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for id in ids {
        let outcome = client.job(id.as_str()).cancel().await;
        if global.json {
            print_json(&Cancelled {
                process_id: id,
                status: if outcome.is_ok() { "ok" } else { "error" },
                error: outcome.as_ref().err().map(|e| e.to_string()),
            });
        }
        match outcome {
            Ok(()) if !global.json => println!("cancelled {id}"),
            Ok(()) => {}
            Err(error) => failed.push((id.clone(), error.to_string())),
        }
    }
    summarize(ids.len(), failed)
}

async fn download(
    global: &Global,
    backend: &Backend,
    client: &Client,
    ids: &[String],
    output: &OutputArgs,
    wait: &WaitArgs,
) -> Result<(), Failure> {
    let spec = OutSpec::new(output.output.as_deref(), ids.len())?;
    spec.prepare()?;
    let policy = backend.wait_policy(wait);
    let ui = Ui::new(global, ids.len());
    futures_util::stream::iter(ids)
        .map(|id| {
            let task = ui.task(id);
            let (spec, policy) = (&spec, &policy);
            async move {
                let work = download_one(client, id, spec, output.force, policy, &task);
                let record = match Backend::within_deadline(policy, work).await {
                    Ok(record) => record,
                    Err(error) => Record::failed(id.clone(), PROVIDER, &task, error),
                };
                (task, record)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|(task, record)| {
            ui.done(&task, record);
            std::future::ready(())
        })
        .await;
    ui.finish()
}

async fn download_one(
    client: &Client,
    id: &str,
    spec: &OutSpec,
    force: bool,
    policy: &WaitPolicy,
    task: &Arc<Task>,
) -> Result<Record, String> {
    let name = |extension: &str| match spec {
        OutSpec::File(file) => file.clone(),
        OutSpec::Dir(dir) => dir.join(format!("{id}.{extension}")),
        OutSpec::Cwd => format!("{id}.{extension}").into(),
    };
    for extension in output::RESULT_EXTENSIONS {
        output::precheck(&name(extension), force)?;
    }
    let job = client.job(id);
    job.wait(policy, |progress| {
        task.on(&Progress::Waiting(progress.clone()))
    })
    .await
    .map_err(|e| e.to_string())?;
    task.on(&Progress::Downloading);
    let bytes = job
        .download_bytes(cutout::runtime::MAX_RESULT_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    let result = Cutout::new(bytes, CutoutKind::Rgba, PROVIDER, Some(id.to_owned()))
        .map_err(|e| e.to_string())?;
    let path = name(result.format.extension());
    output::write(&path, &result.bytes, force).await?;
    let mut record = Record::ok(id.to_owned(), PROVIDER, task);
    record.wrote(&path, &result);
    Ok(record)
}

async fn submit(
    global: &Global,
    client: &Client,
    inputs: &[String],
    mask: bool,
    model: ModelArg,
) -> Result<(), Failure> {
    let inputs: Vec<Input> = inputs.iter().map(|text| Input::parse(text)).collect();
    let ui = Ui::new(global, inputs.len());
    let model = match model {
        ModelArg::RemoveBg => Model::RemoveBg,
        ModelArg::Object => Model::Object,
    };
    let mode = if mask {
        Mode::Alpha
    } else {
        Mode::Segmentation
    };
    futures_util::stream::iter(&inputs)
        .map(|input| {
            let task = ui.task(&input.display());
            async move {
                let outcome = async {
                    input.check_local("input").map_err(|e| e.to_string())?;
                    let progress = Arc::clone(&task);
                    let job = client
                        .matting(input.source())
                        .model(model)
                        .mode(mode)
                        .on_upload_progress(move |sent, total| {
                            progress.on(&Progress::Uploading { sent, total })
                        })
                        .submit()
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut record = Record::ok(input.display(), PROVIDER, &task);
                    record.job_id = Some(job.process_id().to_owned());
                    if let Some(eta) = job.eta()
                        && let Ok(left) = eta.duration_since(SystemTime::now())
                    {
                        let left = left.max(Duration::from_secs(1));
                        task.stage(&format!("about {} s to go", left.as_secs()));
                    }
                    Ok::<_, String>(record)
                }
                .await;
                let record = outcome.unwrap_or_else(|error| {
                    Record::failed(input.display(), PROVIDER, &task, error)
                });
                (task, record)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|(task, record)| {
            if !global.json
                && let Some(id) = &record.job_id
            {
                println!("{id}");
            }
            ui.done(&task, record);
            std::future::ready(())
        })
        .await;
    ui.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_server_times_do_not_panic() {
        for seconds in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            let shown = ago(seconds);
            assert!(shown.ends_with(" ago"), "{shown}");
        }
        assert_eq!(ago(i64::MAX), "0s ago");
        assert!(ago(i64::MIN).ends_with("d ago"));
    }
}

//! `cutout jobs …`: paid jobs of every provider. `status` and `download` take the job ids of
//! any provider (`--provider`): a Topaz process id, a ModelsLab request id, a Tengr artwork id or
//! a BackgroundCut output key, re-attached with each client's own call (nothing is submitted);
//! `list` works with Topaz and Tengr, `cancel` and `submit` with Topaz only.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cutout::Provider;
use cutout::runtime::{self, Cutout, CutoutKind, Progress, WaitPolicy};
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

/// The most results one job is downloaded with (a ModelsLab output list longer than this is
/// not a real answer; Tengr's client has its own bound).
const MAX_RESULTS: usize = 128;

/// Tengr artworks asked for per page of `jobs list -p tengr`.
const ARTWORK_PAGE: u32 = 100;

/// Runs the command.
pub async fn run(global: &Global, command: JobsCommand) -> Result<(), Failure> {
    // Usage errors before anything else (no sandbox started, no client made, nothing sent).
    match &command {
        JobsCommand::List { provider, .. } => only_listable(*provider)?,
        JobsCommand::Cancel { provider, .. } => only_topaz(*provider, "cancel")?,
        JobsCommand::Submit { provider, .. } => only_topaz(*provider, "submit")?,
        JobsCommand::Status { provider, ids } => {
            check_ids(provider.provider, ids)?;
        }
        JobsCommand::Download {
            provider,
            ids,
            output,
            ..
        } => {
            check_ids(provider.provider, ids)?;
            let spec = OutSpec::new(output.output.as_deref(), ids.len())?;
            check_names(provider.provider, &spec, ids)?;
        }
    }
    let backend = Backend::new(global).await?;
    match command {
        JobsCommand::List {
            provider,
            max_pages,
        } => match provider {
            Provider::Tengr => {
                list_artworks(global, &backend.client(Provider::Tengr)?, max_pages).await
            }
            _ => list(global, &backend.client(Provider::Topaz)?, max_pages).await,
        },
        JobsCommand::Status { provider, ids } => {
            let clients = Clients::new(&backend, provider.provider)?;
            status(global, &clients, &ids).await
        }
        JobsCommand::Cancel { ids, .. } => {
            cancel(global, &backend.client(Provider::Topaz)?, &ids).await
        }
        JobsCommand::Download {
            provider,
            ids,
            output,
            wait,
        } => {
            let clients = Clients::new(&backend, provider.provider)?;
            download(global, &backend, &clients, &ids, &output, &wait).await
        }
        JobsCommand::Submit {
            inputs,
            mask,
            model,
            ..
        } => {
            submit(
                global,
                &backend.client(Provider::Topaz)?,
                &inputs,
                mask,
                model,
            )
            .await
        }
    }
}

/// `cancel` and `submit` exist for Topaz only: say what the other providers offer instead.
fn only_topaz(provider: Provider, command: &str) -> Result<(), Failure> {
    if provider == Provider::Topaz {
        return Ok(());
    }
    let instead = match (command, provider) {
        ("cancel", Provider::BackgroundCut) => {
            "BackgroundCut answers only once the work is done (its output key is the finished \
             result), so there is nothing to cancel"
                .to_owned()
        }
        ("cancel", Provider::ModelsLab) => {
            "ModelsLab has no way to cancel a queued request".to_owned()
        }
        ("cancel", _) => "Tengr documents no way to cancel an artwork".to_owned(),
        (_, Provider::Tengr) => {
            "for tengr use `cutout segment` or `cutout remove-bg -p tengr` (their --json lines \
             carry the artwork id)"
                .to_owned()
        }
        (_, other) => format!(
            "for {other} use `cutout remove-bg -p {other}` (its --json lines carry the job id)"
        ),
    };
    Err(Failure::Usage(format!(
        "`cutout jobs {command}` works with topaz jobs only: {instead}"
    )))
}

/// `list` exists for Topaz (its jobs) and Tengr (its artworks).
fn only_listable(provider: Provider) -> Result<(), Failure> {
    let why = match provider {
        Provider::Topaz | Provider::Tengr => return Ok(()),
        Provider::ModelsLab => "ModelsLab has no way to list requests",
        Provider::BackgroundCut => "BackgroundCut's storage cannot be listed",
        _ => "this provider has no list",
    };
    Err(Failure::Usage(format!(
        "`cutout jobs list` works with topaz and tengr: {why}; keep the job ids from the --json \
         lines of the command that made them (or from its batch journal) and pass them to \
         `cutout jobs status -p {provider}`"
    )))
}

/// Ids that cannot be the provider's are refused before any request: an empty one, a ModelsLab
/// request id that is not a number.
fn check_ids(provider: Provider, ids: &[String]) -> Result<(), Failure> {
    for id in ids {
        if id.trim().is_empty() {
            return Err(Failure::Usage(
                "an empty job id: pass the ids the provider answered with".to_owned(),
            ));
        }
        if provider == Provider::ModelsLab {
            modelslab_id(id)?;
        }
    }
    Ok(())
}

/// A ModelsLab request id: a number.
fn modelslab_id(id: &str) -> Result<i64, Failure> {
    id.trim().parse().map_err(|_| {
        Failure::Usage(format!(
            "`{id}` is not a ModelsLab request id: they are numbers (the `job_id` of the --json \
             lines of `cutout remove-bg -p modelslab`)"
        ))
    })
}

/// The file name (without extension) of a job's results: the id with every character that does
/// not belong in a file name replaced by `_`, so that no id (a BackgroundCut key like
/// `cutout/x.png`, or `../x`) can make folders or leave `-o`. A BackgroundCut key's own image
/// extension is dropped: the written file gets the extension of the format that arrives.
pub fn result_stem(provider: Provider, id: &str) -> String {
    let mut id = id.trim();
    if provider == Provider::BackgroundCut
        && runtime::probe::ImageFormat::from_extension(id).is_some()
        && let Some((stem, _)) = id.rsplit_once('.')
        && !stem.is_empty()
    {
        id = stem;
    }
    let mut stem: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    // Neither hidden nor `.`/`..`.
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    if stem.is_empty() {
        stem.push_str("job");
    }
    stem
}

/// Two ids whose results would get the same name are refused before anything is sent.
fn check_names(provider: Provider, spec: &OutSpec, ids: &[String]) -> Result<(), Failure> {
    if spec.is_file() {
        return Ok(());
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    for id in ids {
        let stem = result_stem(provider, id);
        if let Some(first) = seen.insert(stem.clone(), id) {
            return Err(Failure::Usage(format!(
                "the jobs `{first}` and `{id}` would both be written as {stem}.*: download them \
                 separately with different -o folders"
            )));
        }
    }
    Ok(())
}

/// Where the `n`th (from 1) result of a job goes: `<stem>.<ext>`, then `<stem>-2.<ext>`, … in
/// the folder; beside a named file, `<file stem>-2.<ext>`, ….
fn result_path(spec: &OutSpec, stem: &str, extension: &str, n: usize) -> PathBuf {
    let name = if n <= 1 {
        format!("{stem}.{extension}")
    } else {
        format!("{stem}-{n}.{extension}")
    };
    match spec {
        OutSpec::File(file) if n <= 1 => file.clone(),
        OutSpec::File(file) => {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            let extension = file.extension().map_or_else(
                || extension.to_owned(),
                |e| e.to_string_lossy().into_owned(),
            );
            file.with_file_name(format!("{stem}-{n}.{extension}"))
        }
        OutSpec::Dir(dir) => dir.join(name),
        OutSpec::Cwd => PathBuf::from(name),
    }
}

/// The client of the provider whose jobs are looked at.
enum Clients {
    Topaz(Client),
    BackgroundCut(cutout::backgroundcut::Client),
    ModelsLab(cutout::modelslab::Client),
    Tengr(cutout::artworks::Client),
}

impl Clients {
    fn new(backend: &Backend, provider: Provider) -> Result<Self, Failure> {
        Ok(match provider {
            Provider::Topaz => Clients::Topaz(backend.client(provider)?),
            Provider::BackgroundCut => Clients::BackgroundCut(backend.client(provider)?),
            Provider::ModelsLab => Clients::ModelsLab(backend.client(provider)?),
            Provider::Tengr => Clients::Tengr(backend.client(provider)?),
            other => {
                return Err(Failure::Usage(format!(
                    "`cutout jobs` does not know the jobs of {other}"
                )));
            }
        })
    }

    fn provider(&self) -> Provider {
        match self {
            Clients::Topaz(_) => Provider::Topaz,
            Clients::BackgroundCut(_) => Provider::BackgroundCut,
            Clients::ModelsLab(_) => Provider::ModelsLab,
            Clients::Tengr(_) => Provider::Tengr,
        }
    }
}

/// An error about job `id`, in words: an id the provider does not know is "no such job", with
/// what may have happened to it.
fn explain(provider: Provider, id: &str, error: &runtime::Error) -> String {
    // ModelsLab answers an unknown request id with HTTP 200 and `error`, "… not found".
    let answer = match error {
        runtime::Error::JobFailed {
            message: Some(message),
            ..
        } if provider == Provider::ModelsLab && says_not_found(message) => {
            format!("ModelsLab: \"{message}\"")
        }
        _ if error.is_not_found() => "HTTP 404".to_owned(),
        _ => return error.to_string(),
    };
    let why = match provider {
        Provider::Topaz => "check the process id (`cutout jobs list` shows the account's jobs)",
        Provider::ModelsLab => "check the request id",
        Provider::Tengr => "artworks are deleted 8 days after they were made",
        Provider::BackgroundCut => {
            "outputs are deleted 2 hours after they were written, and a request routed to \
             another region also answers 404"
        }
        _ => "check the id",
    };
    format!("no such job at {provider}: `{id}` ({why}; {answer})")
}

/// Whether ModelsLab's `error` message says the request id is unknown.
fn says_not_found(message: &str) -> bool {
    message.to_ascii_lowercase().contains("not found")
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
    crate::report::out(format_args!(
        "{:<36}  {:<10}  {:>4}  {:>9}  {:>8}  FILE",
        "JOB ID", "STATUS", "DONE", "SIZE", "CREATED"
    ));
    for job in &jobs {
        crate::report::out(format_args!(
            "{:<36}  {:<10}  {:>4}  {:>9}  {:>8}  {}",
            job.process_id,
            job.status.to_string(),
            percent(job.progress),
            size(job.output_width, job.output_height),
            job.creation_time.map_or_else(|| "-".to_owned(), ago),
            job.filename.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
}

/// An artwork of `jobs list -p tengr`, as `--json` prints it (without its result links and
/// parameters, which may hold presigned URLs).
#[derive(Serialize)]
struct ArtworkLine {
    provider: &'static str,
    job_id: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    results: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

/// Tengr's artworks, read [`ARTWORK_PAGE`] at a time for at most `max_pages` pages; newest first
/// (Tengr does not publish its order). A server that repeats a page is an error, not a loop.
async fn list_artworks(
    global: &Global,
    client: &cutout::artworks::Client,
    max_pages: usize,
) -> Result<(), Failure> {
    let mut seen = HashSet::new();
    let mut artworks = Vec::new();
    let mut offset = 0u64;
    let mut complete = false;
    for _ in 0..max_pages {
        let page = client
            .artworks(offset, ARTWORK_PAGE)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let count = page.len();
        let mut new = 0;
        for job in page {
            if seen.insert(job.id().to_owned()) {
                new += 1;
                artworks.push(job.into_artwork());
            }
        }
        if count < ARTWORK_PAGE as usize {
            complete = true;
            break;
        }
        if new == 0 {
            return Err(Failure::Failed(format!(
                "tengr answered the page at offset {offset} with artworks it had listed already: \
                 stopping rather than reading the list forever"
            )));
        }
        offset = offset.saturating_add(count as u64);
    }
    if !complete {
        return Err(Failure::Failed(format!(
            "tengr's list of artworks is longer than {max_pages} pages of {ARTWORK_PAGE}: pass a \
             larger --max-pages to read more"
        )));
    }
    artworks.sort_by_key(|artwork| std::cmp::Reverse(artwork.created_at));
    let lines: Vec<ArtworkLine> = artworks
        .into_iter()
        .map(|artwork| ArtworkLine {
            provider: Provider::Tengr.name(),
            status: artwork.status.to_string(),
            kind: artwork.artwork_type,
            results: artwork.results.map_or(0, |results| results.len()),
            created_at: artwork.created_at.map(|time| time.to_rfc3339()),
            job_id: artwork.id,
        })
        .collect();
    if global.json {
        lines.iter().for_each(print_json);
        return Ok(());
    }
    if lines.is_empty() {
        eprintln!("no artworks");
        return Ok(());
    }
    crate::report::out(format_args!(
        "{:<36}  {:<10}  {:<18}  {:>7}  CREATED",
        "ARTWORK ID", "STATUS", "TYPE", "RESULTS"
    ));
    for line in &lines {
        crate::report::out(format_args!(
            "{:<36}  {:<10}  {:<18}  {:>7}  {}",
            line.job_id,
            line.status,
            line.kind.as_deref().unwrap_or("-"),
            line.results,
            line.created_at.as_deref().unwrap_or("-")
        ));
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
    provider: &'static str,
    job_id: &'a str,
    /// Topaz's name for the id (kept for scripts written before the other providers).
    #[serde(skip_serializing_if = "Option::is_none")]
    process_id: Option<&'a str>,
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

async fn status(global: &Global, clients: &Clients, ids: &[String]) -> Result<(), Failure> {
    let provider = clients.provider();
    let mut failed = Vec::new();
    for id in ids {
        match job_status(clients, id).await {
            Ok(Status::Topaz(status)) if global.json => print_json(&status),
            Ok(Status::Topaz(status)) => crate::report::out(format_args!("{}", describe(&status))),
            Ok(Status::Other(state)) if global.json => print_json(&state),
            Ok(Status::Other(state)) => crate::report::out(format_args!("{}", state.line())),
            Err(error) => {
                let error = explain(provider, id, &error);
                if global.json {
                    print_json(&JobError {
                        provider: provider.name(),
                        job_id: id,
                        process_id: (provider == Provider::Topaz).then_some(id.as_str()),
                        status: "error",
                        error: error.clone(),
                    });
                }
                failed.push((id.clone(), error));
            }
        }
    }
    summarize(ids.len(), failed)
}

/// What a provider says about a job: Topaz's own status record (as before), or the common
/// shape of the others.
enum Status {
    Topaz(Box<StatusResponse>),
    Other(JobState),
}

/// The state of a ModelsLab request, a Tengr artwork or a BackgroundCut output, as `--json`
/// prints it. Result links are not shown: they may be presigned.
#[derive(Debug, Serialize)]
struct JobState {
    provider: &'static str,
    job_id: String,
    /// The provider's own word (`processing`, `success`, `succeeded`, `stored`…).
    status: String,
    /// Whether the result can be downloaded now.
    ready: bool,
    /// How many result images the job has, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<usize>,
    /// The provider's estimate of the time left, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_seconds: Option<u64>,
    /// What kind of work it is (Tengr's `artworkType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    /// When the job was made (RFC 3339), when the provider says.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    /// The provider's message, or what is knowable about the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl JobState {
    fn new(provider: Provider, id: &str, status: impl Into<String>, ready: bool) -> Self {
        Self {
            provider: provider.name(),
            job_id: id.to_owned(),
            status: status.into(),
            ready,
            results: None,
            eta_seconds: None,
            kind: None,
            created_at: None,
            message: None,
        }
    }

    /// One line for people.
    fn line(&self) -> String {
        let mut line = format!("{}  {}", self.job_id, self.status);
        if let Some(kind) = &self.kind {
            line.push_str(&format!("  {kind}"));
        }
        if let Some(results) = self.results {
            let s = if results == 1 { "" } else { "s" };
            line.push_str(&format!("  {results} result{s}"));
        }
        if let Some(eta) = self.eta_seconds {
            line.push_str(&format!("  about {} s left", eta.max(1)));
        }
        if let Some(created) = &self.created_at {
            line.push_str(&format!("  created {created}"));
        }
        if let Some(message) = &self.message {
            line.push_str(&format!("  ({message})"));
        }
        line
    }
}

/// Asks the provider once about job `id`.
async fn job_status(clients: &Clients, id: &str) -> Result<Status, runtime::Error> {
    use cutout::modelslab::MaskState;
    let provider = clients.provider();
    match clients {
        Clients::Topaz(client) => client
            .job(id)
            .status()
            .await
            .map(|status| Status::Topaz(Box::new(status))),
        Clients::ModelsLab(client) => {
            let number: i64 = id.trim().parse().map_err(|_| {
                runtime::Error::invalid("job_id", format!("`{id}` is not a number"))
            })?;
            let state = match client.fetch(number).await {
                Ok(MaskState::Done(result)) => {
                    let mut state = JobState::new(provider, id, "success", true);
                    state.results = Some(result.output.len());
                    state
                }
                Ok(MaskState::Processing(queued)) => {
                    let mut state = JobState::new(provider, id, queued.status, false);
                    state.eta_seconds = queued.eta.map(|eta| eta.as_secs());
                    state.message = queued.message;
                    state
                }
                // A failed request is a state to report, not a failed lookup.
                Err(runtime::Error::JobFailed {
                    status, message, ..
                }) if !message.as_deref().is_some_and(says_not_found) => {
                    let mut state = JobState::new(provider, id, status, false);
                    state.message = message;
                    state
                }
                Err(error) => return Err(error),
            };
            Ok(Status::Other(state))
        }
        Clients::Tengr(client) => {
            let job = client.artwork(id).await?;
            let artwork = job.artwork();
            let ready = matches!(
                artwork.status,
                cutout::artworks::types::ArtworkStatus::Succeeded
            );
            let mut state = JobState::new(provider, id, artwork.status.to_string(), ready);
            state.results = artwork.results.as_ref().map(Vec::len);
            state.kind = artwork.artwork_type.clone();
            state.created_at = artwork.created_at.map(|time| time.to_rfc3339());
            Ok(Status::Other(state))
        }
        Clients::BackgroundCut(client) => {
            // BackgroundCut has no job status: its processing call answers once the output is
            // written. What can be known is whether the output is still kept, which minting its
            // download link tells (the link itself is not shown: it is a credential).
            client.public_url(id).await?;
            let mut state = JobState::new(provider, id, "stored", true);
            state.message = Some(
                "the output is in storage and can be downloaded; BackgroundCut deletes outputs 2 \
                 hours after they were written"
                    .to_owned(),
            );
            Ok(Status::Other(state))
        }
    }
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
            Ok(()) if !global.json => crate::report::out(format_args!("cancelled {id}")),
            Ok(()) => {}
            Err(error) => failed.push((id.clone(), error.to_string())),
        }
    }
    summarize(ids.len(), failed)
}

async fn download(
    global: &Global,
    backend: &Backend,
    clients: &Clients,
    ids: &[String],
    output: &OutputArgs,
    wait: &WaitArgs,
) -> Result<(), Failure> {
    let provider = clients.provider();
    let spec = OutSpec::new(output.output.as_deref(), ids.len())?;
    spec.prepare()?;
    let policy = backend.wait_policy(wait);
    let ui = Ui::new(global, ids.len());
    futures_util::stream::iter(ids)
        .map(|id| {
            let task = ui.task(id);
            let (spec, policy) = (&spec, &policy);
            async move {
                let work = download_one(clients, id, spec, output.force, policy, &task);
                let record = match Backend::within_deadline(policy, work).await {
                    Ok(record) => record,
                    Err(error) => {
                        let mut record = Record::failed(id.clone(), provider.name(), &task, error);
                        record.job_id = Some(id.clone());
                        record
                    }
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
    clients: &Clients,
    id: &str,
    spec: &OutSpec,
    force: bool,
    policy: &WaitPolicy,
    task: &Arc<Task>,
) -> Result<Record, String> {
    let provider = clients.provider();
    let stem = result_stem(provider, id);
    // The first result's names are checked before anything is sent; the further ones (known
    // once the job is done) before anything is written.
    for extension in output::RESULT_EXTENSIONS {
        output::precheck(&result_path(spec, &stem, extension, 1), force)?;
    }
    let results = fetch_results(clients, id, policy, task)
        .await
        .map_err(|error| explain(provider, id, &error))?;
    let kind = match provider {
        Provider::Tengr => CutoutKind::Mask,
        _ => CutoutKind::Rgba,
    };
    let mut written = Vec::with_capacity(results.len());
    for (index, bytes) in results.into_iter().enumerate() {
        let result = Cutout::new(bytes, kind, provider.name(), Some(id.to_owned()))
            .map_err(|e| e.to_string())?;
        let path = result_path(spec, &stem, result.format.extension(), index + 1);
        output::precheck(&path, force)?;
        written.push((path, result));
    }
    let mut record = Record::ok(id.to_owned(), provider.name(), task);
    record.job_id = Some(id.to_owned());
    for (index, (path, result)) in written.iter().enumerate() {
        output::write(path, &result.bytes, force).await?;
        if index == 0 {
            record.wrote(path, result);
        } else {
            task.stage(&format!("another result → {}", path.display()));
        }
    }
    Ok(record)
}

/// Waits for job `id` where there is something to wait for, and downloads all its results
/// (in memory, [`runtime::MAX_RESULT_BYTES`] in all).
async fn fetch_results(
    clients: &Clients,
    id: &str,
    policy: &WaitPolicy,
    task: &Arc<Task>,
) -> Result<Vec<Bytes>, runtime::Error> {
    use cutout::modelslab::{MaskOutput, MaskState};
    let on_progress = |progress: &runtime::JobProgress| {
        task.on(&Progress::Waiting(progress.clone()));
    };
    match clients {
        Clients::Topaz(client) => {
            let job = client.job(id);
            job.wait(policy, on_progress).await?;
            task.on(&Progress::Downloading);
            Ok(vec![job.download_bytes(runtime::MAX_RESULT_BYTES).await?])
        }
        Clients::ModelsLab(client) => {
            let number: i64 = id.trim().parse().map_err(|_| {
                runtime::Error::invalid("job_id", format!("`{id}` is not a number"))
            })?;
            let result = match client.fetch(number).await? {
                MaskState::Done(result) => result,
                MaskState::Processing(queued) => {
                    client.wait_for_mask(&queued, policy, on_progress).await?
                }
            };
            task.on(&Progress::Downloading);
            if result.output.is_empty() || result.output.len() > MAX_RESULTS {
                return Err(runtime::Error::unexpected(
                    Provider::ModelsLab.name(),
                    "fetch_result",
                    format!(
                        "request {id} is done but lists {} output images",
                        result.output.len()
                    ),
                ));
            }
            match &result.output {
                MaskOutput::Urls(urls) => {
                    let context = client.context();
                    let mut left = runtime::MAX_RESULT_BYTES;
                    let mut results = Vec::with_capacity(urls.len());
                    for url in urls {
                        let (bytes, _) = context.download_bytes(url, left).await?;
                        left = left.saturating_sub(bytes.len() as u64);
                        results.push(bytes);
                    }
                    Ok(results)
                }
                MaskOutput::Base64(_) => Ok(result
                    .decode_base64()?
                    .into_iter()
                    .map(Bytes::from)
                    .collect()),
            }
        }
        Clients::Tengr(client) => {
            let mut job = client.artwork(id).await?;
            job.wait(policy, on_progress).await?;
            task.on(&Progress::Downloading);
            job.result_bytes().await
        }
        Clients::BackgroundCut(client) => {
            // Nothing to wait for: an output key exists once the work is done.
            task.on(&Progress::Downloading);
            Ok(vec![client.download_output(id).await?.bytes])
        }
    }
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
                crate::report::out(format_args!("{id}"));
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
    use std::path::Path;

    #[test]
    fn job_ids_become_flat_file_names_inside_the_output_folder() {
        let topaz = "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11";
        assert_eq!(result_stem(Provider::Topaz, topaz), topaz);
        assert_eq!(result_stem(Provider::ModelsLab, "81234567"), "81234567");
        // A key's own image extension is dropped (the result's format names the file).
        assert_eq!(
            result_stem(Provider::BackgroundCut, "cutout/cutout-1-0-ab.png"),
            "cutout_cutout-1-0-ab"
        );
        assert_eq!(result_stem(Provider::BackgroundCut, "x.JPEG"), "x");
        assert_eq!(result_stem(Provider::BackgroundCut, "x.tar"), "x.tar");
        assert_eq!(result_stem(Provider::BackgroundCut, ".png"), "_png");
        // Nothing that walks out of the folder, is hidden or is empty.
        assert_eq!(
            result_stem(Provider::Tengr, "../../etc/passwd"),
            "_._.._etc_passwd"
        );
        assert_eq!(result_stem(Provider::Tengr, ".."), "_.");
        assert_eq!(result_stem(Provider::Tengr, "a\\b:c\0d"), "a_b_c_d");
        assert_eq!(result_stem(Provider::Tengr, "é"), "_");
        assert_eq!(result_stem(Provider::BackgroundCut, " "), "job");
        for id in ["../x", "/abs", "a/../../b", "C:\\x", "..", "."] {
            let stem = result_stem(Provider::BackgroundCut, id);
            let path = result_path(&OutSpec::Dir(PathBuf::from("out")), &stem, "png", 2);
            assert_eq!(
                path.parent(),
                Some(Path::new("out")),
                "{id} → {}",
                path.display()
            );
            assert!(!stem.starts_with('.'), "{id} → {stem}");
        }
        // Very long ids are cut to a name the file system takes.
        assert_eq!(result_stem(Provider::Tengr, &"a".repeat(1000)).len(), 200);
    }

    #[test]
    fn several_results_are_numbered() {
        let dir = OutSpec::Dir(PathBuf::from("out"));
        assert_eq!(
            result_path(&dir, "id", "png", 1),
            PathBuf::from("out/id.png")
        );
        assert_eq!(
            result_path(&dir, "id", "webp", 3),
            PathBuf::from("out/id-3.webp")
        );
        assert_eq!(
            result_path(&OutSpec::Cwd, "id", "png", 2),
            PathBuf::from("id-2.png")
        );
        let file = OutSpec::File(PathBuf::from("x/m.png"));
        assert_eq!(result_path(&file, "id", "png", 1), PathBuf::from("x/m.png"));
        assert_eq!(
            result_path(&file, "id", "png", 2),
            PathBuf::from("x/m-2.png")
        );
    }

    #[test]
    fn unknown_jobs_are_told_apart_from_failed_ones() {
        let failed = |message: &str| runtime::Error::JobFailed {
            provider: "modelslab",
            job_id: "5".to_owned(),
            status: "error".to_owned(),
            message: Some(message.to_owned()),
        };
        let text = explain(Provider::ModelsLab, "5", &failed("Request id 5 not found."));
        assert!(text.starts_with("no such job at modelslab: `5`"), "{text}");
        let text = explain(Provider::ModelsLab, "5", &failed("out of memory"));
        assert!(!text.contains("no such job"), "{text}");
        // Elsewhere "not found" in a failure's words is just a failure.
        let text = explain(Provider::Tengr, "5", &failed("subject not found"));
        assert!(!text.contains("no such job"), "{text}");
        assert!(modelslab_id("12").is_ok());
        for bad in ["", "abc", "1.5", "0x10"] {
            assert_eq!(
                modelslab_id(bad).unwrap_err().code(),
                crate::failure::EXIT_USAGE
            );
        }
    }

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

//! Many short Topaz jobs against the sandbox, at a fixed concurrency, compared with the ideal
//! makespan (`ceil(jobs / concurrency) × job duration`: every slot busy, every completion noticed
//! the instant it happens). Two runs, one after the other, against one in-process sandbox:
//!
//! - `cli`: the `cutout` program (`--cli PATH`) as a user runs it, `remove-bg -j C DIR -o OUT`,
//!   pointed at the sandbox through `TOPAZ_BASE_URL`/`TOPAZ_API_KEY` (so with the production wait
//!   policy, not `--sandbox`'s). Uploads, waits, downloads and the batch journal included.
//! - `library`: the same images through `topaz_image::Client` (`matting(..).submit()`, then
//!   `Job::wait` with `WaitPolicy::default()`), no download: polls per job and the
//!   completion-notice delay, `noticed − (submission started + job duration)`. That is an upper
//!   bound: the job's clock starts when the sandbox takes the upload, a little after.
//!
//! Polls are counted by the sandbox (its request log), not by the client.
//!
//! ```text
//! cargo build --release -p cutout-cli -p cutout-tests --example bench_jobs
//! target/release/examples/bench_jobs --cli target/release/cutout --work target/bench/jobs
//! ```
//!
//! Options: `--jobs N` (1000), `--concurrency C` (64), `--job-ms D` (2000), `--only cli|library`.
//! The last stdout line is one JSON object (read by `cargo xtask bench`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cutout_sandbox::{Provider, Sandbox};
use futures_util::StreamExt;
use topaz_image::{ImageSource, WaitPolicy};

struct Args {
    cli: Option<PathBuf>,
    work: PathBuf,
    jobs: usize,
    concurrency: usize,
    job_ms: u64,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        cli: None,
        work: PathBuf::from("target/bench/jobs"),
        jobs: 1000,
        concurrency: 64,
        job_ms: 2000,
        only: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cli" => args.cli = Some(PathBuf::from(value()?)),
            "--work" => args.work = PathBuf::from(value()?),
            "--jobs" => args.jobs = number(&flag, &value()?)?,
            "--concurrency" => args.concurrency = number(&flag, &value()?)?,
            "--job-ms" => args.job_ms = number(&flag, &value()?)? as u64,
            "--only" => args.only = Some(value()?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if args.jobs == 0 || args.concurrency == 0 {
        return Err("--jobs and --concurrency must be at least 1".into());
    }
    if args.cli.is_none() && args.only.as_deref() != Some("library") {
        return Err("--cli PATH (the `cutout` binary) is needed, or `--only library`".into());
    }
    Ok(args)
}

fn number(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a whole number, not `{value}`"))
}

/// `count` distinct 4×4 PNGs (the CLI's journal would treat identical inputs as one).
fn images(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            let bytes = (n as u32).to_le_bytes();
            let image = image::RgbaImage::from_fn(4, 4, |x, y| {
                image::Rgba([bytes[0], bytes[1], bytes[2], (x * 4 + y) as u8 * 16])
            });
            let mut png = std::io::Cursor::new(Vec::new());
            image
                .write_to(&mut png, image::ImageFormat::Png)
                .expect("a 4×4 PNG encodes");
            png.into_inner()
        })
        .collect()
}

fn write_inputs(dir: &Path, images: &[Vec<u8>]) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (n, png) in images.iter().enumerate() {
        std::fs::write(dir.join(format!("{n:05}.png")), png)?;
    }
    Ok(())
}

/// Status polls the sandbox's Topaz simulator answered, and jobs it accepted.
fn topaz_counts(sandbox: &Sandbox) -> (usize, usize) {
    let requests = sandbox.requests();
    let polls = requests
        .iter()
        .filter(|r| r.provider == Some(Provider::Topaz) && r.method == "GET")
        .filter(|r| r.path.contains("/status/"))
        .count();
    (polls, sandbox.submissions(Provider::Topaz))
}

fn ideal(args: &Args) -> Duration {
    Duration::from_millis(args.job_ms) * args.jobs.div_ceil(args.concurrency) as u32
}

async fn run_cli(
    args: &Args,
    sandbox: &Sandbox,
    inputs: &Path,
) -> Result<serde_json::Value, String> {
    let cli = args.cli.as_ref().expect("checked by parse_args");
    let out = args.work.join("out");
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    sandbox.clear_requests();
    let submissions_before = sandbox.submissions(Provider::Topaz);
    let info = Provider::Topaz.info();
    let mut command = Command::new(cli);
    command
        .env_clear()
        .env(info.key_env, sandbox.key(Provider::Topaz))
        .env(info.base_url_env, sandbox.base_url(Provider::Topaz))
        .args(["--quiet", "remove-bg", "--provider", "topaz", "-j"])
        .arg(args.concurrency.to_string())
        .arg(inputs)
        .arg("-o")
        .arg(format!("{}/", out.display()));
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    let wall = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "the CLI failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let written = std::fs::read_dir(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains(".cutout."))
        .count();
    if written != args.jobs {
        return Err(format!(
            "the CLI wrote {written} cut-outs for {} inputs",
            args.jobs
        ));
    }
    let (polls, submissions) = topaz_counts(sandbox);
    let jobs = submissions - submissions_before;
    let ideal = ideal(args);
    println!(
        "cli: {} jobs in {:.2} s (ideal {:.2} s, {:.3}×), {:.2} status polls per job",
        jobs,
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64(),
        polls as f64 / jobs as f64
    );
    Ok(serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "ratio": wall.as_secs_f64() / ideal.as_secs_f64(),
        "jobs": jobs,
        "polls_per_job": polls as f64 / jobs as f64,
    }))
}

async fn run_library(
    args: &Args,
    sandbox: &Sandbox,
    images: &[Vec<u8>],
) -> Result<serde_json::Value, String> {
    let client: topaz_image::Client = topaz_image::ClientBuilder::new()
        .base_url(sandbox.base_url(Provider::Topaz))
        .key(sandbox.key(Provider::Topaz))
        .build()
        .map_err(|e| e.to_string())?;
    sandbox.clear_requests();
    let policy = WaitPolicy::default();
    let job = Duration::from_millis(args.job_ms);
    let started = Instant::now();
    let results: Vec<Result<Duration, String>> =
        futures_util::stream::iter(images.iter().enumerate())
            .map(|(n, png)| {
                let client = &client;
                let policy = &policy;
                async move {
                    let submitted = Instant::now();
                    let running = client
                        .matting(ImageSource::bytes(png.clone(), format!("{n}.png")))
                        .submit()
                        .await
                        .map_err(|e| e.to_string())?;
                    running
                        .wait(policy, |_| {})
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(submitted.elapsed().saturating_sub(job))
                }
            })
            .buffer_unordered(args.concurrency)
            .collect()
            .await;
    let wall = started.elapsed();
    let mut delays = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    delays.sort();
    let (polls, _) = topaz_counts(sandbox);
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    let ideal = ideal(args);
    let mean = delays.iter().map(Duration::as_secs_f64).sum::<f64>() / delays.len() as f64 * 1e3;
    println!(
        "library: {} jobs in {:.2} s (ideal {:.2} s, {:.3}×), {:.2} status polls per job, \
         completion noticed {:.0} ms late on average (median {:.0}, p90 {:.0}, max {:.0})",
        delays.len(),
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64(),
        polls as f64 / delays.len() as f64,
        mean,
        at(0.5),
        at(0.9),
        at(1.0)
    );
    Ok(serde_json::json!({
        "wall_s": wall.as_secs_f64(),
        "ratio": wall.as_secs_f64() / ideal.as_secs_f64(),
        "jobs": delays.len(),
        "polls_per_job": polls as f64 / delays.len() as f64,
        "delay_ms": {"mean": mean, "median": at(0.5), "p90": at(0.9), "max": at(1.0)},
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench_jobs: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<serde_json::Value, String> {
    let args = parse_args()?;
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(args.job_ms))
        // Enough for both runs (each job costs a credit).
        .credits(i64::try_from(args.jobs * 4).unwrap_or(i64::MAX))
        .start()
        .await
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let images = images(args.jobs);
    let inputs = args.work.join("in");
    write_inputs(&inputs, &images).map_err(|e| format!("{}: {e}", inputs.display()))?;
    let mut summary = serde_json::json!({
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "job_ms": args.job_ms,
        "ideal_s": ideal(&args).as_secs_f64(),
    });
    if args.only.as_deref() != Some("library") {
        summary["cli"] = run_cli(&args, &sandbox, &inputs).await?;
    }
    if args.only.as_deref() != Some("cli") {
        summary["library"] = run_library(&args, &sandbox, &images).await?;
    }
    Ok(summary)
}

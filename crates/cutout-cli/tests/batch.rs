//! The CLI on its journal, as real processes: the sandbox runs in this test process (so it
//! outlives the CLI we SIGKILL), the CLI is pointed at it through `TOPAZ_BASE_URL` /
//! `TOPAZ_API_KEY` (not `--sandbox`, whose simulators would die with it), and the sandbox's
//! counters say what was paid.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutout_sandbox::{FaultRates, Faults, Provider, Sandbox};

mod support;
use support::run;

async fn sandbox(job: Duration) -> Sandbox {
    Sandbox::builder().job_duration(job).start().await.unwrap()
}

/// `cutout` in `dir`, with nothing from our environment but the provider's base URL and key.
fn cutout(dir: &Path, sandbox: &Sandbox, provider: Provider) -> Command {
    support::cutout_against(dir, sandbox, &[provider])
}

/// A running CLI whose stderr lines are collected as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

fn spawn(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Running { child, lines }
}

impl Running {
    fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// SIGKILL: no destructor, no signal handler runs.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Waits (up to 30 s) until `done` says so.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain-colour PNG (small on disk whatever its size).
fn png(path: &Path, width: u32, height: u32, shade: u8) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    image::RgbImage::from_pixel(width, height, image::Rgb([shade, 255 - shade, 90]))
        .save(path)
        .unwrap();
}

/// The result at `path` decodes and has the input's size.
fn assert_image(path: &Path, width: u32, height: u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        (image.width(), image.height()),
        (width, height),
        "{}",
        path.display()
    );
}

fn submissions_sent(sandbox: &Sandbox) -> usize {
    sandbox.requests().iter().filter(|r| r.submission).count()
}

/// Three different images in `dir/in/`.
fn three(dir: &Path) -> Vec<PathBuf> {
    (0..3u8)
        .map(|i| {
            let path = dir.join(format!("in/p{i}.png"));
            png(&path, 64 + u32::from(i) * 8, 48, i * 60);
            path
        })
        .collect()
}

fn batch_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["remove-bg", "in", "-o", "out/"];
    args.extend_from_slice(extra);
    if !extra.contains(&"-j") {
        args.extend_from_slice(&["-j", "3"]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_submissions_were_answered_a_rerun_pays_nothing_again() {
    let sandbox = sandbox(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let running = spawn(command);
    // The progress lines say the provider answered with a job id; the journal has it a moment
    // later (before the first poll).
    until("3 jobs submitted", || running.count("submitted, job") == 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.kill();
    assert_eq!(sandbox.submissions(Provider::Topaz), 3);
    assert!(!dir.path().join("out/p0.cutout.png").exists());

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sandbox.submissions(Provider::Topaz),
        3,
        "nothing paid twice"
    );
    for i in 0..3u32 {
        assert_image(
            &dir.path().join(format!("out/p{i}.cutout.png")),
            64 + i * 8,
            48,
        );
    }
    assert!(err.contains("journal: out/.cutout-journal.sqlite"), "{err}");

    // A third identical run: nothing sent at all, nothing downloaded.
    sandbox.clear_requests();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["outcome"], "skipped", "{line}");
        assert_eq!(line["action"], "skip", "{line}");
        assert_eq!(line["provider"], "topaz");
        assert!(
            line["job_id"].is_string(),
            "a skipped unit names its job: {line}"
        );
        // Its existing result, and a line that says it was done before (not "0.0 s").
        let input = line["input"].as_str().unwrap();
        let name = input
            .strip_prefix("in/")
            .unwrap()
            .strip_suffix(".png")
            .unwrap();
        let output = format!("out/{name}.cutout.png");
        assert_eq!(line["output"], output.as_str(), "{line}");
        let job = line["job_id"].as_str().unwrap();
        assert!(
            err.contains(&format!("✓ {input} → {output} (done earlier, job {job})")),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_a_submission_is_in_flight_it_is_uncertain_until_resubmitted() {
    let sandbox = sandbox(Duration::from_millis(100)).await;
    sandbox.set_faults(Faults {
        on_submissions: FaultRates {
            slow: 1.0,
            slow_by: Duration::from_secs(2),
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let running = spawn(command);
    until("the submission to arrive", || {
        sandbox
            .requests()
            .iter()
            .any(|r| r.submission && r.status == 0)
    })
    .await;
    // While the run holds its journal, `cutout journal` says so instead of reading half a batch.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "out"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("a batch is running on the journal `out/.cutout-journal.sqlite`"),
        "{err}"
    );
    assert!(err.contains("again when that batch ends"), "{err}");
    running.kill();
    sandbox.set_faults(Faults::none());

    sandbox.clear_requests();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 input is uncertain"), "{err}");
    // A killed run recorded no error: the journal says so rather than invent one.
    assert!(
        err.contains("a run was stopped while submitting it"),
        "{err}"
    );
    assert!(err.contains("in/only.png"), "{err}");
    assert!(err.contains("--resubmit-uncertain"), "{err}");
    assert_eq!(
        submissions_sent(&sandbox),
        0,
        "an uncertain unit is not sent"
    );

    // The journal command says the same, without sending anything.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "out"]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("submitting  1"), "{out}");
    assert!(out.contains("uncertain"), "{out}");
    assert!(out.contains("in/only.png (topaz)"), "{out}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--resubmit-uncertain"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(submissions_sent(&sandbox), 1);
    assert_image(&dir.path().join("out/only.cutout.png"), 40, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_download_a_rerun_reattaches_and_leaves_no_partial_file() {
    let sandbox = sandbox(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    sandbox.set_faults(Faults {
        on_downloads: FaultRates {
            slow: 1.0,
            slow_by: Duration::from_secs(20),
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let running = spawn(command);
    until("the download to start", || {
        sandbox.submissions(Provider::Topaz) == 1
            && sandbox
                .requests()
                .iter()
                .any(|r| r.provider.is_none() && r.method == "GET" && r.status == 0)
    })
    .await;
    running.kill();
    sandbox.set_faults(Faults::none());
    // Only hidden temporary files (if any), never a partial result under its name.
    let visible: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(visible.is_empty(), "{visible:?}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "re-attached");
    assert_image(&dir.path().join("out/only.cutout.png"), 40, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_images_under_two_names_are_paid_once() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/a.png"), 50, 40, 7);
    std::fs::create_dir_all(dir.path().join("in/sub")).unwrap();
    std::fs::copy(dir.path().join("in/a.png"), dir.path().join("in/sub/b.png")).unwrap();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
    assert_image(&dir.path().join("out/a.cutout.png"), 50, 40);
    assert_image(&dir.path().join("out/sub/b.cutout.png"), 50, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_nothing_creates_nothing_and_estimates_what_is_charged() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/small.png"), 64, 48, 1);
    png(&dir.path().join("in/wide.png"), 300, 20, 2);
    // 6000 × 4100 = 24.6 MP: 2 credits.
    png(&dir.path().join("in/big.png"), 6000, 4100, 3);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--dry-run", "--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
    assert!(
        !dir.path().join("out").exists(),
        "no output folder, no journal"
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let mut estimate = 0;
    for line in &lines {
        assert_eq!(line["action"], "submit", "{line}");
        assert_eq!(line["provider"], "topaz");
        estimate += line["credits"].as_i64().unwrap();
        if line["input"] == "in/big.png" {
            assert_eq!(line["credits"], 2);
        }
    }
    assert_eq!(estimate, 4);

    // The human plan: one line per unit and the total; no key is needed to plan.
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .args(batch_args(&["--dry-run"]));
    let (code, out, _) = run(command).await;
    assert_eq!(code, 0);
    assert!(out.contains("estimated 4 credits"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("submit")).count(), 3);

    let before = sandbox.credits(Provider::Topaz);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(before - sandbox.credits(Provider::Topaz), estimate);

    // Now the plan skips them all and would charge nothing.
    sandbox.clear_requests();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--dry-run"]));
    let (code, out, _) = run(command).await;
    assert_eq!(code, 0);
    assert!(out.contains("3 skip"), "{out}");
    assert!(out.contains("estimated 0 credits"), "{out}");
    assert!(sandbox.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_credits_stops_new_work_with_exit_4_and_a_rerun_finishes() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    // The dry run shows what the budget leaves out (the last input), and exits 0.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--max-credits", "2", "--dry-run", "--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let over: Vec<&str> = lines
        .iter()
        .filter(|l| l["over_budget"] == true)
        .map(|l| l["input"].as_str().unwrap())
        .collect();
    assert_eq!(over, ["in/p2.png"], "{out}");
    assert!(lines.iter().all(|l| l["action"] == "submit"), "{out}");
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--max-credits", "2", "--dry-run"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("in/p2.png → out/p2.cutout.* (1 credit) — over budget"),
        "{out}"
    );
    assert!(
        out.contains(
            "--max-credits 2 leaves out 1 input (1 credit): the real run would not \
                      submit it and would exit 4"
        ),
        "{out}"
    );
    assert!(sandbox.requests().is_empty());
    // The journal elsewhere, here inside the input folder: not counted as a skipped input.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[
        "--max-credits",
        "2",
        "-j",
        "1",
        "--journal",
        "in/batch.db",
    ]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("stopped by --max-credits: 1 input was not submitted"),
        "{err}"
    );
    assert!(
        err.contains("in/p2.png: not submitted"),
        "the one the dry run named: {err}"
    );
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
    assert!(!err.contains("skipped"), "{err}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--journal", "in/batch.db"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("skipped"), "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 3);
    for i in 0..3u32 {
        assert_image(
            &dir.path().join(format!("out/p{i}.cutout.png")),
            64 + i * 8,
            48,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_names_the_job_of_a_paid_unit_whose_download_failed() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    sandbox.set_faults(Faults {
        on_downloads: FaultRates {
            internal: 1.0,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--json", "-q"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["status"], "error", "{line}");
    assert_eq!(line["provider"], "topaz");
    assert_eq!(line["outcome"], "failed");
    assert!(line["job_id"].is_string(), "{line}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);

    // The journal keeps the paid job (a server error is not the job's end): still submitted.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "--journal", "out/.cutout-journal.sqlite"]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("submitted   1"), "{out}");
    let job = line["job_id"].as_str().unwrap();
    assert!(out.contains(&format!("job {job}")), "{out}");

    // Once the downloads work again, the same command picks the job up: nothing paid again.
    sandbox.set_faults(Faults::default());
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--json", "-q"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_command_reports_a_finished_journal_and_refuses_others() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "out/"]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 units"), "{out}");
    assert!(out.contains("done        3"), "{out}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["--json", "journal", "out/"]);
    let (code, out, _) = run(command).await;
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "done" && r["job_id"].is_string())
    );

    // No journal there: an error naming the path and what to do.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "elsewhere"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no journal at `elsewhere/.cutout-journal.sqlite`"),
        "{err}"
    );

    // Another program's SQLite database: refused, left untouched.
    let foreign = dir.path().join("other.sqlite");
    {
        let db = rusqlite::Connection::open(&foreign).unwrap();
        db.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "--journal", "other.sqlite"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is a database of another program"), "{err}");
    assert!(
        std::fs::read(&foreign).unwrap() == before,
        "the foreign database was changed"
    );

    // The same file as a batch's journal: refused before anything is sent.
    sandbox.clear_requests();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--journal", "other.sqlite", "--force"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("other.sqlite"), "{err}");
    assert!(sandbox.requests().is_empty());
    assert!(
        std::fs::read(&foreign).unwrap() == before,
        "the foreign database was changed"
    );

    // A refused journal kept elsewhere leaves no output folder behind either.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "fresh/",
        "--journal",
        "other.sqlite",
    ]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("other.sqlite"), "{err}");
    assert!(
        !dir.path().join("fresh").exists(),
        "the output folder was created for a refused journal"
    );
    assert!(sandbox.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modelslab_killed_after_submission_is_resumed_without_paying_again() {
    let sandbox = sandbox(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let mut command = cutout(dir.path(), &sandbox, Provider::ModelsLab);
    command.args(batch_args(&["--provider", "modelslab"]));
    let running = spawn(command);
    until("3 jobs submitted", || running.count("submitted, job") == 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.kill();
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 3);

    let mut command = cutout(dir.path(), &sandbox, Provider::ModelsLab);
    command.args(batch_args(&["--provider", "modelslab"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 3);
    for i in 0..3u32 {
        assert_image(
            &dir.path().join(format!("out/p{i}.cutout.png")),
            64 + i * 8,
            48,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tengr_segmentation_killed_after_submission_is_resumed_by_artwork_id() {
    let sandbox = sandbox(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().unwrap();
    // Tengr fetches by URL: the images are on the sandbox's file host.
    let mut urls = Vec::new();
    for i in 0..2u8 {
        let path = dir.path().join(format!("src{i}.png"));
        png(&path, 60, 40 + u32::from(i) * 10, 40 * i);
        let bytes = std::fs::read(&path).unwrap();
        urls.push(
            sandbox
                .host_file(&format!("shot{i}.png"), bytes.into())
                .await,
        );
    }
    let args = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["segment".into()];
        args.extend(urls.iter().cloned());
        for a in ["--prompt", "the square", "-o", "out/"].iter().chain(extra) {
            args.push((*a).to_owned());
        }
        args
    };
    let mut command = cutout(dir.path(), &sandbox, Provider::Tengr);
    command.args(args(&[]));
    let running = spawn(command);
    until("2 artworks submitted", || {
        running.count("submitted, job") == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.kill();
    assert_eq!(sandbox.submissions(Provider::Tengr), 2);

    let mut command = cutout(dir.path(), &sandbox, Provider::Tengr);
    command.args(args(&["--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sandbox.submissions(Provider::Tengr),
        2,
        "nothing paid twice"
    );
    for line in out.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["provider"], "tengr");
        assert_eq!(line["outcome"], "done", "{line}");
        assert_eq!(line["action"], "reattach", "{line}");
        assert!(line["job_id"].is_string());
    }
    for i in 0..2u32 {
        assert_image(
            &dir.path().join(format!("out/shot{i}.mask.png")),
            60,
            40 + i * 10,
        );
    }

    // Another prompt is other paid work: planned as a submission, not a skip.
    let mut command = cutout(dir.path(), &sandbox, Provider::Tengr);
    command.args(args(&["--dry-run"]));
    let (code, out, _) = run(command).await;
    assert_eq!(code, 0);
    assert!(out.contains("2 skip"), "{out}");
    let mut other: Vec<String> = args(&["--dry-run"]);
    assert_eq!(other[4], "the square");
    other[4] = "the circle".into();
    let mut command = cutout(dir.path(), &sandbox, Provider::Tengr);
    command.args(&other);
    let (code, out, _) = run(command).await;
    assert_eq!(code, 0);
    assert!(out.contains("2 submit"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backgroundcut_matting_killed_before_its_download_is_fetched_by_output_key() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    // Matting takes an RGB JPEG and a grayscale JPEG trimap of its size.
    let photo = image::RgbImage::from_fn(48, 32, |x, _| {
        if (12..36).contains(&x) {
            image::Rgb([200, 40, 40])
        } else {
            image::Rgb([20, 20, 220])
        }
    });
    photo.save(dir.path().join("photo.jpg")).unwrap();
    let trimap = image::GrayImage::from_fn(48, 32, |x, _| match x {
        14..34 => image::Luma([255]),
        10..38 => image::Luma([128]),
        _ => image::Luma([0]),
    });
    trimap.save(dir.path().join("photo.trimap.jpg")).unwrap();
    sandbox.set_faults(Faults {
        on_downloads: FaultRates {
            slow: 1.0,
            slow_by: Duration::from_secs(20),
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let args = [
        "matte",
        "photo.jpg",
        "--trimap",
        "photo.trimap.jpg",
        "-o",
        "out/",
    ];
    let mut command = cutout(dir.path(), &sandbox, Provider::BackgroundCut);
    command.args(args);
    let running = spawn(command);
    until("the result's download to start", || {
        sandbox.submissions(Provider::BackgroundCut) == 1
            && sandbox
                .requests()
                .iter()
                .any(|r| r.provider.is_none() && r.method == "GET" && r.status == 0)
    })
    .await;
    running.kill();
    sandbox.set_faults(Faults::none());

    let mut command = cutout(dir.path(), &sandbox, Provider::BackgroundCut);
    command.args(args);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sandbox.submissions(Provider::BackgroundCut),
        1,
        "fetched by its output key, not matted again"
    );
    assert_image(&dir.path().join("out/photo.cutout.png"), 48, 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_refused_before_sending_fails_alone_and_the_others_are_reported() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/a.png"), 30, 20, 1);
    png(&dir.path().join("in/b.png"), 36, 20, 2);
    png(&dir.path().join("in/c.png"), 42, 20, 3);
    // A folder where a's result would go: a fails before anything is sent.
    std::fs::create_dir_all(dir.path().join("out/a.cutout.png")).unwrap();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
    let mut lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| l["input"].as_str().unwrap_or_default().to_owned());
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["input"], "in/a.png");
    assert_eq!(lines[0]["status"], "error");
    for (line, (name, width)) in lines[1..].iter().zip([("b", 36), ("c", 42)]) {
        assert_eq!(line["input"], format!("in/{name}.png"), "{line}");
        assert_eq!(line["action"], "submit", "{line}");
        assert_eq!(line["outcome"], "done", "{line}");
        assert_eq!(line["output"], format!("out/{name}.cutout.png"), "{line}");
        assert_eq!(line["width"], width, "{line}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_submission_names_the_journal_and_exits_130() {
    let sandbox = sandbox(Duration::from_millis(100)).await;
    sandbox.set_faults(Faults {
        on_submissions: FaultRates {
            slow: 1.0,
            slow_by: Duration::from_secs(5),
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let mut running = spawn(command);
    until("the submission to arrive", || {
        sandbox
            .requests()
            .iter()
            .any(|r| r.submission && r.status == 0)
    })
    .await;
    let pid = running.child.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(status.success());
    let status = tokio::task::spawn_blocking(move || {
        let status = running.child.wait().unwrap();
        (status, running.lines)
    })
    .await
    .unwrap();
    let (status, lines) = status;
    assert_eq!(status.code(), Some(130));
    // The reader thread may still be draining the pipe.
    until("the last line", || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("interrupted"))
    })
    .await;
    let err = lines.lock().unwrap().join("\n");
    assert!(
        err.contains(
            "interrupted: run the same command again to go on (paid jobs are picked up without \
             paying again; no partial output was written); an input that was being submitted, \
             if any, is uncertain (the provider may have it): `cutout journal \
             out/.cutout-journal.sqlite` lists those; --resubmit-uncertain only after checking"
        ),
        "{err}"
    );
    assert!(!dir.path().join("out/only.cutout.png").exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_with_a_fifo_and_hidden_files_is_planned_promptly_without_them() {
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/a.png"), 40, 30, 10);
    // Opening a FIFO blocks until a writer comes: the walk must never open it.
    let status = Command::new("mkfifo")
        .arg(dir.path().join("in/pipe.png"))
        .status()
        .unwrap();
    assert!(status.success());
    png(&dir.path().join("in/.hidden.png"), 40, 30, 20);
    png(&dir.path().join("in/.thumbs/t.png"), 40, 30, 30);
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .args(batch_args(&["--dry-run", "--json"]));
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a hang is a failure, not a stuck test run.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the dry run hung on the FIFO");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let inputs: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["input"].to_string())
        .collect();
    assert_eq!(inputs, ["\"in/a.png\""], "{out}");
    assert!(err.contains("left out 2 hidden files or folders"), "{err}");
    assert!(err.contains("skipped 1 special file"), "{err}");
    // An explicit hidden file is still taken.
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command.current_dir(dir.path()).env_clear().args([
        "remove-bg",
        "in/.hidden.png",
        "-o",
        "out/",
        "--dry-run",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("submit     in/.hidden.png"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_job_that_is_gone_is_reported_and_paid_again_only_with_retry_failed() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    // Run 1: the job is accepted, its download fails: the row keeps the paid job.
    sandbox.set_faults(Faults {
        on_downloads: FaultRates {
            internal: 1.0,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--json", "-q"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let job = line["job_id"].as_str().unwrap().to_owned();
    sandbox.set_faults(Faults::default());

    // The job disappears at the provider (deleted here; expired in real life).
    let client = cutout::topaz::Client::builder()
        .base_url(sandbox.base_url(Provider::Topaz))
        .key(sandbox.key(Provider::Topaz))
        .build()
        .unwrap();
    client.job(job.as_str()).delete().await.unwrap();

    // Run 2: re-attaching finds no job: a paid failure, nothing submitted.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);

    // Run 3 (plain, and its dry run): reported as failed before, not paid again.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--dry-run"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("failed_before"), "{out}");
    assert!(out.contains("--retry-failed"), "{out}");
    assert!(out.contains("estimated 0 credits"), "{out}");
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pass --retry-failed"), "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);

    // Run 4: asked for explicitly, it is paid once more and finishes.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--retry-failed"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
    assert_image(&dir.path().join("out/only.cutout.png"), 40, 30);

    // The journal still names the first paid job, in its text and its JSON.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "out"]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("submitted more than once"), "{out}");
    assert!(out.contains(&format!("earlier job {job}")), "{out}");
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["--json", "journal", "out"]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["previous_job_ids"], serde_json::json!([job]), "{row}");
    assert_ne!(row["job_id"], job.as_str(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_reattaches_a_paid_job_over_a_file_in_the_way_and_never_pays_again() {
    let sandbox = sandbox(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/only.png"), 40, 30, 10);
    // Run 1: paid, then given up on by --wait-timeout: the job stays submitted.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--wait-timeout", "1"]));
    let (code, _, err) = run(command).await;
    assert_ne!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
    let result = dir.path().join("out/only.cutout.png");
    std::fs::write(&result, b"the user's file").unwrap();

    // Run 2: the file in the way is not replaced; the hint says force costs nothing here.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "move it away or pass --force to replace it (the paid job is downloaded again, not \
             paid again)"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&result).unwrap(), b"the user's file");

    // Run 3, --force: re-attached and overwritten, still paid once.
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--force", "--json"]));
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["action"], "reattach", "{line}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "not paid again");
    assert_image(&result, 40, 30);

    // Run 4, --force on a done input: redone, paid again (that is what --force asks for).
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--force"]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_where_an_output_folder_must_be_is_refused_before_paying() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("in/sub/a.png"), 30, 20, 1);
    png(&dir.path().join("in/b.png"), 36, 20, 2);
    std::fs::create_dir_all(dir.path().join("o8")).unwrap();
    std::fs::write(dir.path().join("o8/sub"), b"a file").unwrap();
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["remove-bg", "in", "-o", "o8/", "-j", "2"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`o8/sub` is a file, but the result `o8/sub/a.cutout.png` needs a folder"),
        "{err}"
    );
    // Only b was sent: a was refused before anything was paid for it.
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
    assert_image(&dir.path().join("o8/b.cutout.png"), 36, 20);
    assert_eq!(std::fs::read(dir.path().join("o8/sub")).unwrap(), b"a file");
}

/// Runs `command` with its stdout closed before it writes: it must end quietly, not panic.
fn with_stdout_closed(mut command: Command) -> (i32, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_end_quietly_when_their_reader_goes_away() {
    let sandbox = sandbox(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    three(dir.path());
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&["--dry-run"]));
    let (code, err) = tokio::task::spawn_blocking(move || with_stdout_closed(command))
        .await
        .unwrap();
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(code, 0, "{err}");

    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(batch_args(&[]));
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let mut command = cutout(dir.path(), &sandbox, Provider::Topaz);
    command.args(["journal", "out"]);
    let (code, err) = tokio::task::spawn_blocking(move || with_stdout_closed(command))
        .await
        .unwrap();
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(code, 0, "{err}");
}

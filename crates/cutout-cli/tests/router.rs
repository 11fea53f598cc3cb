//! `remove-bg --provider a,b`: the CLI over a router, as real processes against a sandbox that
//! runs in this test process (the CLI is pointed at it through `*_BASE_URL` / `*_API_KEY`), whose
//! counters say what each provider was sent and paid.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cutout_sandbox::{FaultRates, Faults, Provider, Sandbox};

mod support;
use support::{json_lines, run};

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

/// `cutout` in `dir`, with nothing from our environment but the base URL and key of Topaz,
/// ModelsLab and BackgroundCut.
fn cutout(dir: &Path, sandbox: &Sandbox) -> Command {
    support::cutout_against(
        dir,
        sandbox,
        &[
            Provider::Topaz,
            Provider::ModelsLab,
            Provider::BackgroundCut,
        ],
    )
}

/// `n` different plain-colour PNGs in `dir/in/`.
fn inputs(dir: &Path, n: u8) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("in/p{i}.png"));
            image::RgbImage::from_pixel(40 + u32::from(i), 30, image::Rgb([i * 20, 90, 200]))
                .save(&path)
                .unwrap();
            path
        })
        .collect()
}

/// Paid-endpoint requests `provider` received (accepted or not).
fn submissions_sent(sandbox: &Sandbox, provider: Provider) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.submission && r.provider == Some(provider))
        .count()
}

/// Every result of `n` inputs is in `out/` and decodes to its input's size.
fn assert_results(dir: &Path, lines: &[serde_json::Value], n: u8) {
    assert_eq!(lines.len(), usize::from(n));
    for line in lines {
        let output = line["output"].as_str().unwrap_or_else(|| panic!("{line}"));
        let image = image::open(dir.join(output)).unwrap_or_else(|e| panic!("{output}: {e}"));
        let input = line["input"].as_str().unwrap();
        let i: u32 = input
            .trim_start_matches("in/p")
            .trim_end_matches(".png")
            .parse()
            .unwrap();
        assert_eq!((image.width(), image.height()), (40 + i, 30), "{line}");
    }
}

const FALLBACK: &[&str] = &[
    "remove-bg",
    "in",
    "-o",
    "out/",
    "-j",
    "2",
    "--provider",
    "topaz,modelslab",
    "--json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topaz_out_of_credits_every_input_is_served_by_modelslab_and_a_rerun_sends_nothing() {
    let sandbox = sandbox().await;
    sandbox.set_credits(Provider::Topaz, 0);
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 8);
    let mut command = cutout(dir.path(), &sandbox);
    command.args(FALLBACK);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_results(dir.path(), &lines, 8);
    for line in &lines {
        assert_eq!(line["status"], "ok", "{line}");
        assert_eq!(line["provider"], "modelslab", "{line}");
        let tried = line["tried"].as_array().unwrap_or_else(|| panic!("{line}"));
        let topaz = tried
            .iter()
            .find(|t| t["provider"] == "topaz")
            .unwrap_or_else(|| panic!("topaz is listed as tried: {line}"));
        let failed_for_credits = topaz["outcome"] == "failed"
            && topaz["class"] == "out_of_credits"
            && topaz["decision"] == "next_provider";
        let cooling = topaz["outcome"] == "skipped" && topaz["reason"] == "cooling_down";
        assert!(failed_for_credits || cooling, "{line}");
        let last = tried.last().unwrap();
        assert_eq!(last["provider"], "modelslab", "{line}");
        assert_eq!(last["outcome"], "served", "{line}");
    }
    // Topaz is tried no more than the inputs in flight when its first 402 came back.
    let topaz = submissions_sent(&sandbox, Provider::Topaz);
    assert!(topaz <= 2, "topaz was sent {topaz} submissions");
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
    assert_eq!(
        sandbox.submissions(Provider::ModelsLab),
        8,
        "nothing paid twice"
    );
    assert_eq!(submissions_sent(&sandbox, Provider::ModelsLab), 8);

    // The summary counts per provider (stderr).
    assert!(err.contains("modelslab: 8 served"), "{err}");
    let summary = err
        .lines()
        .find(|l| l.starts_with("providers: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(summary.contains("topaz: 0 served"), "{summary}");
    let failed = lines
        .iter()
        .filter(|l| l["tried"][0]["outcome"] == "failed" && l["tried"][0]["provider"] == "topaz")
        .count();
    let skipped = 8 - failed;
    if failed > 0 {
        assert!(
            summary.contains(&format!("{failed} failed (out_of_credits)")),
            "{summary}"
        );
    }
    if skipped > 0 {
        assert!(
            summary.contains(&format!("{skipped} skipped (cooling_down)")),
            "{summary}"
        );
    }

    // The same command again: the journal knows every input under the same list; no request.
    sandbox.clear_requests();
    let mut command = cutout(dir.path(), &sandbox);
    command.args(FALLBACK);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 8);
    for line in &lines {
        assert_eq!(line["outcome"], "skipped", "{line}");
        assert_eq!(line["provider"], "modelslab", "the job's provider: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topaz_down_every_input_is_served_and_its_breaker_stops_the_tries() {
    let sandbox = sandbox().await;
    sandbox.set_provider_faults(
        Provider::Topaz,
        Faults {
            on_submissions: FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            },
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 12);
    let mut command = cutout(dir.path(), &sandbox);
    command.args(FALLBACK);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_results(dir.path(), &lines, 12);
    for line in &lines {
        assert_eq!(line["provider"], "modelslab", "{line}");
        let topaz = &line["tried"][0];
        assert_eq!(topaz["provider"], "topaz", "{line}");
        let outage = topaz["outcome"] == "failed" && topaz["class"] == "outage";
        let open = topaz["outcome"] == "skipped" && topaz["reason"] == "breaker_open";
        assert!(outage || open, "{line}");
    }
    // The breaker opens after its minimum of requests (5 by default), plus those in flight.
    let topaz = submissions_sent(&sandbox, Provider::Topaz);
    assert!(topaz <= 5 + 2, "topaz was sent {topaz} submissions");
    assert!(
        lines
            .iter()
            .any(|l| l["tried"][0]["reason"] == "breaker_open"),
        "some input skipped topaz once its breaker opened"
    );
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 12);
    assert!(err.contains("modelslab: 12 served"), "{err}");
    assert!(err.contains("failed (outage)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_no_listed_provider_can_take_is_refused_before_any_request() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 2);
    // BackgroundCut's background removal makes cut-outs only; Tengr takes URLs only.
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--mask",
        "--provider",
        "backgroundcut,tengr",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no listed provider can take"), "{err}");
    assert!(err.contains("backgroundcut:"), "{err}");
    assert!(err.contains("tengr:"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
    assert!(!dir.path().join("out").exists(), "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_listed_twice_is_a_usage_error() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 1);
    let mut command = cutout(dir.path(), &sandbox);
    command.args(["remove-bg", "in", "--provider", "topaz,modelslab,topaz"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lists topaz twice"), "{err}");
    let mut command = cutout(dir.path(), &sandbox);
    command.args(["remove-bg", "in", "--provider", "topaz,nosuch"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nosuch"), "{err}");
    assert!(sandbox.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_provider_works_as_before_without_a_router() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 2);
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz",
        "--json",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_results(dir.path(), &lines, 2);
    for line in &lines {
        assert_eq!(line["provider"], "topaz", "{line}");
        assert!(line.get("tried").is_none(), "{line}");
    }
    assert!(!err.contains("providers: "), "{err}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 2);
    // Its units are keyed by `topaz` alone, as before: the journal rows say so.
    let journal =
        rusqlite::Connection::open(dir.path().join("out/.cutout-journal.sqlite")).unwrap();
    let providers: Vec<String> = journal
        .prepare("SELECT provider FROM units")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(providers, ["topaz", "topaz"]);
}

/// The journal's rows as (provider field, state).
fn journal_rows(dir: &Path) -> Vec<(String, String)> {
    let journal = rusqlite::Connection::open(dir.join("out/.cutout-journal.sqlite")).unwrap();
    let mut rows: Vec<(String, String)> = journal
        .prepare("SELECT provider, state FROM units")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_paid_under_a_list_is_reattached_by_a_single_provider_run_not_paid_again() {
    // Jobs long enough to kill the CLI while it waits for one.
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_secs(6))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 1);
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz,modelslab",
    ]);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    // Killed while it waits for the job: Topaz took it, the CLI wrote the ticket to its journal
    // right after (within the half second allowed here), and its first poll goes near the ETA
    // the submission gave, 5.5 s or more away. (The journal cannot be read meanwhile: the CLI
    // holds it locked.)
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sandbox.submissions(Provider::Topaz) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "topaz never took the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
    assert_eq!(
        journal_rows(dir.path()),
        [("topaz,modelslab".to_owned(), "submitted".to_owned())]
    );

    // The same input with Topaz alone: the dry run says it re-attaches the paid job.
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz",
        "--dry-run",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("reattach"), "{out}");
    assert!(
        out.contains("(recorded under another provider list)"),
        "{out}"
    );
    assert!(out.contains("estimated 0 credits"), "{out}");
    assert_eq!(
        journal_rows(dir.path()),
        [("topaz,modelslab".to_owned(), "submitted".to_owned())],
        "a dry run writes nothing"
    );

    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz",
        "--json",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_results(dir.path(), &lines, 1);
    assert_eq!(lines[0]["provider"], "topaz", "{out}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "paid once");
    assert_eq!(submissions_sent(&sandbox, Provider::Topaz), 1);
    assert_eq!(submissions_sent(&sandbox, Provider::ModelsLab), 0);
    assert_eq!(
        journal_rows(dir.path()),
        [("topaz".to_owned(), "done".to_owned())],
        "the row is re-keyed to the list of this run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_served_under_one_list_are_not_paid_again_under_another_with_that_provider() {
    let sandbox = sandbox().await;
    sandbox.set_credits(Provider::Topaz, 0);
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), 8);
    let mut command = cutout(dir.path(), &sandbox);
    command.args(FALLBACK);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 8);
    sandbox.set_credits(Provider::Topaz, 1000);

    // ModelsLab served them: any list with ModelsLab finds them done.
    for list in ["modelslab,topaz", "modelslab"] {
        let mut command = cutout(dir.path(), &sandbox);
        command.args([
            "remove-bg",
            "in",
            "-o",
            "out/",
            "--provider",
            list,
            "--json",
        ]);
        let (code, out, err) = run(command).await;
        assert_eq!(code, 0, "{list}: {err}");
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 8);
        for line in &lines {
            assert_eq!(line["outcome"], "skipped", "{list}: {line}");
            assert_eq!(line["provider"], "modelslab", "{list}: {line}");
        }
        assert_eq!(sandbox.submissions(Provider::ModelsLab), 8, "{list}");
        assert_eq!(submissions_sent(&sandbox, Provider::ModelsLab), 8, "{list}");
        assert_eq!(sandbox.submissions(Provider::Topaz), 0, "{list}");
    }

    // Topaz alone did none of them: it is paid for each (as the help says).
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz",
        "--json",
    ]);
    let (code, out, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert_results(dir.path(), &json_lines(&out), 8);
    assert_eq!(sandbox.submissions(Provider::Topaz), 8);
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 8);
}

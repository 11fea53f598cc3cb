//! `remove-bg --provider a,b`: the CLI over a router, as real processes against a sandbox that
//! runs in this test process (the CLI is pointed at it through `*_BASE_URL` / `*_API_KEY`), whose
//! counters say what each provider was sent and paid.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cutout_sandbox::{FaultRates, Faults, Provider, Sandbox};

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

/// `cutout` in `dir`, with nothing from our environment but every provider's base URL and key.
fn cutout(dir: &Path, sandbox: &Sandbox) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command.current_dir(dir).env_clear();
    for (provider, key_env, url_env) in [
        (Provider::Topaz, "TOPAZ_API_KEY", "TOPAZ_BASE_URL"),
        (
            Provider::ModelsLab,
            "MODELSLAB_API_KEY",
            "MODELSLAB_BASE_URL",
        ),
        (
            Provider::BackgroundCut,
            "BACKGROUNDCUT_API_KEY",
            "BACKGROUNDCUT_BASE_URL",
        ),
    ] {
        command
            .env(key_env, sandbox.key(provider))
            .env(url_env, sandbox.base_url(provider));
    }
    command
}

/// Runs to the end (off the async threads: the sandbox answers it meanwhile).
async fn run(mut command: Command) -> (i32, String, String) {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
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

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
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

//! `cutout compare` as a real process: against a sandbox running in this test process (the CLI
//! pointed at it by `*_BASE_URL` / `*_API_KEY`, so that its submission counters say what was
//! paid), and with `--sandbox`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cutout_sandbox::{FaultRates, Faults, Provider, Sandbox};

mod support;
use support::{json_lines, run};

/// The sheet's geometry (the command's default layout): tiles of 320, gaps of 8, a label band
/// of 5 lines of 10 pixels plus 4 (the provider and up to four lines of a failure's reason).
fn sheet_size(tiles: u32) -> (u32, u32) {
    (tiles * 320 + (tiles + 1) * 8, 8 + 320 + 54 + 8)
}

const ALL: [(Provider, &str, &str, &str); 4] = [
    (Provider::Topaz, "topaz", "TOPAZ_API_KEY", "TOPAZ_BASE_URL"),
    (
        Provider::BackgroundCut,
        "backgroundcut",
        "BACKGROUNDCUT_API_KEY",
        "BACKGROUNDCUT_BASE_URL",
    ),
    (
        Provider::ModelsLab,
        "modelslab",
        "MODELSLAB_API_KEY",
        "MODELSLAB_BASE_URL",
    ),
    (Provider::Tengr, "tengr", "TENGR_API_KEY", "TENGR_BASE_URL"),
];

/// `cutout` in `dir` with every provider pointed at `sandbox` and nothing else from our
/// environment.
fn cutout(dir: &Path, sandbox: &Sandbox) -> Command {
    support::cutout_against(dir, sandbox, &ALL.map(|(provider, ..)| provider))
}

/// The repository's sample image, copied into `dir`.
fn sample(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/subject.jpg");
    let to = dir.join("subject.jpg");
    std::fs::copy(from, &to).unwrap();
    to
}

fn submissions(sandbox: &Sandbox) -> Vec<usize> {
    ALL.iter().map(|(p, ..)| sandbox.submissions(*p)).collect()
}

fn dims(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_that_can_take_the_image_runs_once_and_a_rerun_pays_nothing() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.args(["compare", "subject.jpg", "-o", "out/", "--json"]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Tengr fetches images by URL: a local file is listed as not taken, not sent, not failed.
    assert_eq!(submissions(&sandbox), vec![1, 1, 1, 0]);
    let lines = json_lines(&stdout);
    let named: Vec<&str> = lines
        .iter()
        .map(|l| l["provider"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["topaz", "backgroundcut", "modelslab", "tengr"]);
    let out = dir.path().join("out");
    for line in &lines[..3] {
        assert_eq!(line["status"], "done", "{line}");
        assert_eq!(line["credits"], 1, "{line}");
        assert!(line["seconds"].as_f64().is_some(), "{line}");
        assert!(line["job_id"].as_str().is_some(), "{line}");
        assert!(line["error"].is_null(), "{line}");
        let provider = line["provider"].as_str().unwrap();
        let output = out.join(format!("subject.{provider}.png"));
        assert_eq!(line["output"], format!("out/subject.{provider}.png"));
        assert_eq!(dims(&output), (320, 240));
    }
    assert_eq!(lines[3]["status"], "unsupported");
    assert!(
        lines[3]["error"]
            .as_str()
            .unwrap()
            .contains("cannot take a local file"),
        "{}",
        lines[3]
    );
    assert!(!out.join("subject.tengr.png").exists());
    // The input and four tiles (Tengr's saying why it has no result).
    let sheet = out.join("subject.sheet.png");
    assert_eq!(dims(&sheet), sheet_size(5));
    let first = std::fs::read(&sheet).unwrap();

    // Again: nothing is paid, every result is skipped, the sheet (ours) is replaced.
    let mut again = cutout(dir.path(), &sandbox);
    again.args(["compare", "subject.jpg", "-o", "out/", "--json"]);
    let (code, stdout, stderr) = run(again).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        submissions(&sandbox),
        vec![1, 1, 1, 0],
        "nothing paid twice"
    );
    let lines = json_lines(&stdout);
    for line in &lines[..3] {
        assert_eq!(line["status"], "skipped", "{line}");
    }
    assert!(stderr.contains("spent 0 credits in this run"), "{stderr}");
    assert_eq!(dims(&sheet), sheet_size(5));
    // The sheets carry the mark that lets a re-run replace them (and nothing else).
    for bytes in [first, std::fs::read(&sheet).unwrap()] {
        assert!(bytes.windows(14).any(|w| w == b"cutout compare"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_sends_nothing_and_creates_nothing() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "compare",
        "subject.jpg",
        "-o",
        "out/",
        "--providers",
        "modelslab,topaz",
        "--dry-run",
    ]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(submissions(&sandbox), vec![0, 0, 0, 0]);
    assert!(sandbox.requests().is_empty());
    assert!(!dir.path().join("out").exists());
    assert!(
        stdout.contains("(modelslab)") && stdout.contains("(topaz)"),
        "{stdout}"
    );
    assert!(stdout.contains("estimated 2 credits"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_credits_stops_new_jobs_with_exit_4() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "compare",
        "subject.jpg",
        "-o",
        "out/",
        "--providers",
        "topaz,modelslab",
        "--max-credits",
        "1",
        "--json",
    ]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert_eq!(submissions(&sandbox), vec![1, 0, 0, 0]);
    let lines = json_lines(&stdout);
    assert_eq!(lines[0]["status"], "done");
    assert_eq!(lines[1]["status"], "over_budget");
    // The sheet still shows what there is (two tiles after the input).
    assert_eq!(
        dims(&dir.path().join("out/subject.sheet.png")),
        sheet_size(3)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_in_the_way_of_the_sheet_is_refused_before_paying_unless_forced() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("subject.sheet.png"), b"mine").unwrap();
    let args = [
        "compare",
        "subject.jpg",
        "-o",
        "out/",
        "--providers",
        "topaz",
    ];
    let mut command = cutout(dir.path(), &sandbox);
    command.args(args);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(submissions(&sandbox), vec![0, 0, 0, 0]);
    assert_eq!(
        std::fs::read(out.join("subject.sheet.png")).unwrap(),
        b"mine"
    );
    assert!(stdout.contains("--force"), "{stdout}");

    let mut forced = cutout(dir.path(), &sandbox);
    forced.args(args).arg("--force");
    let (code, stdout, stderr) = run(forced).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(submissions(&sandbox), vec![1, 0, 0, 0]);
    assert_eq!(dims(&out.join("subject.sheet.png")), sheet_size(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_sandbox_every_provider_runs_url_only_ones_included() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("CUTOUT_SANDBOX_JOB_MS", "50")
        .args(["--sandbox", "compare", "subject.jpg", "-o", "out/"]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let out = dir.path().join("out");
    for (_, name, ..) in ALL {
        assert_eq!(dims(&out.join(format!("subject.{name}.png"))), (320, 240));
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(row.contains("done"), "{row}");
    }
    assert_eq!(dims(&out.join("subject.sheet.png")), sheet_size(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_any_key_it_is_a_configuration_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .args(["compare", "subject.jpg", "-o", "out/"]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("_API_KEY"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_is_down_fails_alone_with_a_flat_tile_and_its_reason() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    sandbox.set_provider_faults(
        Provider::ModelsLab,
        Faults {
            on_submissions: FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            },
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.args([
        "compare",
        "subject.jpg",
        "-o",
        "out/",
        "--providers",
        "topaz,modelslab",
        "--json",
    ]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(lines[0]["status"], "done");
    assert_eq!(lines[1]["provider"], "modelslab");
    assert_eq!(lines[1]["status"], "failed");
    assert!(lines[1]["output"].is_null());
    assert!(lines[1]["error"].as_str().is_some_and(|e| !e.is_empty()));
    let sheet = image::open(dir.path().join("out/subject.sheet.png"))
        .unwrap()
        .to_rgba8();
    assert_eq!(sheet.dimensions(), sheet_size(3));
    // Topaz's tile (the second) shows the checkerboard around the apple; ModelsLab's (the
    // third) is flat: no result.
    let corner = |tile: u32, dx: u32| *sheet.get_pixel(8 + tile * 328 + dx, 8 + 2);
    assert_ne!(corner(1, 2), corner(1, 18));
    assert_eq!(corner(2, 2), corner(2, 18));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_all_a_provider_without_a_key_is_left_out_but_one_named_must_have_it() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let only_topaz = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("TOPAZ_API_KEY", sandbox.key(Provider::Topaz))
            .env("TOPAZ_BASE_URL", sandbox.base_url(Provider::Topaz));
        command
    };
    let mut named = only_topaz();
    named.args([
        "compare",
        "subject.jpg",
        "-o",
        "out/",
        "--providers",
        "topaz,modelslab",
    ]);
    let (code, stdout, stderr) = run(named).await;
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("MODELSLAB_API_KEY"), "{stderr}");
    assert!(!dir.path().join("out").exists());

    let mut all = only_topaz();
    all.args(["compare", "subject.jpg", "-o", "out/", "--json"]);
    let (code, stdout, stderr) = run(all).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(submissions(&sandbox), vec![1, 0, 0, 0]);
    let statuses: Vec<String> = json_lines(&stdout)
        .iter()
        .map(|l| format!("{}={}", l["provider"], l["status"]))
        .collect();
    assert_eq!(
        statuses,
        [
            "\"topaz\"=\"done\"",
            "\"backgroundcut\"=\"not_configured\"",
            "\"modelslab\"=\"not_configured\"",
            // What it cannot take is said first, key or not.
            "\"tengr\"=\"unsupported\"",
        ]
    );
}

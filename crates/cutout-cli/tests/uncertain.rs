//! A submission whose answer is lost (the sandbox charges, then closes the connection): the
//! unit is uncertain, and what the CLI says about it is the cause this run saw, not "a run was
//! stopped"; `compare` counts its estimate as possibly paid. Real processes against a sandbox
//! running in this test process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cutout_sandbox::{FaultRates, Faults, Provider, Sandbox};

mod support;
use support::{json_lines, run};

/// A sandbox whose Topaz charges each submission and loses the answer.
async fn sandbox() -> Sandbox {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    sandbox.set_provider_faults(
        Provider::Topaz,
        Faults {
            on_submissions: FaultRates {
                answer_lost: 1.0,
                ..FaultRates::default()
            },
            ..Faults::default()
        },
    );
    sandbox
}

/// `cutout` in `dir`, pointed at Topaz and ModelsLab of `sandbox`, nothing else from our
/// environment.
fn cutout(dir: &Path, sandbox: &Sandbox) -> Command {
    support::cutout_against(dir, sandbox, &[Provider::Topaz, Provider::ModelsLab])
}

fn sample(dir: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/subject.jpg");
    std::fs::copy(from, dir.join("subject.jpg")).unwrap();
}

const KILLED: &str = "a run was stopped while submitting";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_bg_says_what_made_a_submission_uncertain() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.args(["remove-bg", "subject.jpg", "-o", "out/", "--json"]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "charged once");
    let lines = json_lines(&stdout);
    assert_eq!(lines[0]["outcome"], "uncertain", "{}", lines[0]);
    let error = lines[0]["error"].as_str().unwrap();
    assert!(error.starts_with("uncertain: topaz"), "{error}");
    assert!(!error.contains(KILLED), "{error}");
    assert!(error.contains("--resubmit-uncertain"), "{error}");
    // The summary names the cause too.
    let summary = stderr
        .lines()
        .skip_while(|l| !l.contains("input is uncertain"))
        .nth(1)
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        summary.starts_with("  subject.jpg: topaz") && !summary.contains(KILLED),
        "{stderr}"
    );

    // The next run finds the row left mid-submission, says what the first run saw (the
    // journal has it), not that a run was killed, and sends nothing.
    let mut command = cutout(dir.path(), &sandbox);
    command.args(["remove-bg", "subject.jpg", "-o", "out/", "--json"]);
    let (code, stdout, stderr) = run(command).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "not sent again");
    let lines = json_lines(&stdout);
    let error = lines[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("uncertain: an earlier run's submission ended with: topaz")
            && !error.contains(KILLED),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_counts_an_uncertain_submission_as_possibly_paid_with_its_cause() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let compare = |json: bool| {
        let mut command = cutout(dir.path(), &sandbox);
        command.args([
            "compare",
            "subject.jpg",
            "-o",
            "out/",
            "--providers",
            "topaz,modelslab",
        ]);
        if json {
            command.arg("--json");
        }
        command
    };
    let (code, stdout, stderr) = run(compare(true)).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(sandbox.submissions(Provider::Topaz), 1);
    let lines = json_lines(&stdout);
    let topaz = &lines[0];
    assert_eq!(topaz["provider"], "topaz");
    assert_eq!(topaz["status"], "uncertain", "{topaz}");
    // The sample (320×240) is estimated at 1 Topaz credit: possibly paid, not 0.
    assert_eq!(topaz["credits"], 1, "{topaz}");
    assert_eq!(topaz["possibly_paid"], true, "{topaz}");
    let error = topaz["error"].as_str().unwrap();
    assert!(
        error.starts_with("uncertain: topaz") && !error.contains(KILLED),
        "{error}"
    );
    assert!(lines[1].get("possibly_paid").is_none(), "{}", lines[1]);
    assert!(
        stderr.contains("spent 2 credits in this run (estimated), 1 of them possibly"),
        "{stderr}"
    );

    // The table of a re-run says "possibly" too (the row a run left: its estimate).
    let (code, stdout, stderr) = run(compare(false)).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("topaz"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("1?")
            && row.contains("possibly paid 1 credit;")
            && row.contains("an earlier run's submission ended with"),
        "{row}"
    );
    assert_eq!(sandbox.submissions(Provider::Topaz), 1, "not sent again");
    // This run spent nothing; the earlier run's uncertain credit is not counted in it.
    assert!(
        stderr.contains(
            "spent 0 credits in this run (estimated); 1 credit possibly paid by an earlier run"
        ),
        "{stderr}"
    );
}

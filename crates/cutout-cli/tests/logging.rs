//! `RUST_LOG` / `CUTOUT_LOG`: the CLI's diagnostics on stderr (the router's decisions), as real
//! processes, in-process `--sandbox` and against a sandbox running in this test process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cutout_sandbox::{Provider, Sandbox};

mod support;
use support::run;

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

/// `cutout` in `dir`, with nothing from our environment but Topaz's and ModelsLab's base URL
/// and key.
fn cutout(dir: &Path, sandbox: &Sandbox) -> Command {
    support::cutout_against(dir, sandbox, &[Provider::Topaz, Provider::ModelsLab])
}

/// One plain-colour PNG in `dir/in/`.
fn input(dir: &Path) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    image::RgbImage::from_pixel(40, 30, image::Rgb([20, 90, 200]))
        .save(dir.join("in/p0.png"))
        .unwrap();
}

/// `RUST_LOG` turns the router's decisions on (stderr, no key or query); unset, nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_shows_the_router_decisions_and_nothing_without_it() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/subject.jpg");
    let dir = tempfile::tempdir().unwrap();
    let in_process = |log: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
        command.current_dir(dir.path()).env_clear();
        if let Some(log) = log {
            command.env("RUST_LOG", log);
        }
        command.args(["--sandbox", "remove-bg"]).arg(&sample).args([
            "--provider",
            "topaz,modelslab",
            "-o",
        ]);
        command
    };
    let mut command = in_process(Some("cutout::router=info"));
    command.arg("logged/");
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("cutout::router") && err.contains("decision=\"served\""),
        "{err}"
    );
    // Debug level too (a skip is a debug event): the filter, not fmt's default cap, decides.
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "cutout::router=debug")
        .args(["--sandbox", "remove-bg"])
        .arg(&sample)
        .args(["--provider", "tengr,modelslab", "-o", "debug/"]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("DEBUG") && l.contains("provider=\"tengr\"")),
        "{err}"
    );

    let mut command = in_process(None);
    command.arg("quiet/");
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("cutout::router") && !err.contains("INFO"),
        "{err}"
    );

    // A fallback decision, against the sandbox as a server: its keys must not be in the log.
    let sandbox = sandbox().await;
    sandbox.set_credits(Provider::Topaz, 0);
    input(dir.path());
    let mut command = cutout(dir.path(), &sandbox);
    command.env("RUST_LOG", "cutout::router=info").args([
        "remove-bg",
        "in",
        "-o",
        "out/",
        "--provider",
        "topaz,modelslab",
    ]);
    let (code, _, err) = run(command).await;
    assert_eq!(code, 0, "{err}");
    let decisions: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("cutout::router"))
        .collect();
    assert!(
        decisions.iter().any(|l| l.contains("provider=\"topaz\"")
            && l.contains("class=\"out_of_credits\"")
            && l.contains("decision=next provider")),
        "{err}"
    );
    assert!(
        decisions
            .iter()
            .any(|l| l.contains("provider=\"modelslab\"") && l.contains("decision=\"served\"")),
        "{err}"
    );
    for provider in [Provider::Topaz, Provider::ModelsLab] {
        assert!(!err.contains(sandbox.key(provider)), "{err}");
    }
    assert!(!err.contains('?'), "no query string: {err}");
}

/// A `RUST_LOG` that does not parse is a usage error that says how to write one.
#[test]
fn an_unparsable_rust_log_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cutout"))
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "cutout::router=loud")
        .args(["--sandbox", "estimate", "x.png"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("RUST_LOG=`cutout::router=loud` is not a log filter")
            && err.contains("cutout::router=info"),
        "{err}"
    );
}

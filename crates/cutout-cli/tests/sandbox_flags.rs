//! `cutout sandbox --credits PROVIDER=N --fail PROVIDER=KIND[:RATE]`: the sandbox as a child
//! process, as a user runs it in one shell, with `cutout remove-bg --provider a,b,c` pointed at it
//! from another through the endpoints it prints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cutout");

/// A `cutout sandbox` child process; [`SandboxProcess::stop`] (or drop) kills and reaps it.
struct SandboxProcess {
    child: Child,
    endpoints: Value,
}

impl SandboxProcess {
    fn start(flags: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .env_clear()
            .args(["sandbox", "--port-base", "0", "--json", "--job-ms", "200"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoints = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        Self { child, endpoints }
    }

    /// `cutout` in `dir` with nothing from our environment but the printed URLs and keys.
    fn cutout(&self, dir: &Path) -> Command {
        let mut command = Command::new(BIN);
        command.current_dir(dir).env_clear();
        for provider in ["topaz", "backgroundcut", "modelslab", "tengr"] {
            let endpoint = &self.endpoints[provider];
            command
                .env(
                    endpoint["key_env"].as_str().unwrap(),
                    endpoint["key"].as_str().unwrap(),
                )
                .env(
                    endpoint["base_url_env"].as_str().unwrap(),
                    endpoint["base_url"].as_str().unwrap(),
                );
        }
        command
    }

    /// Kills the sandbox and checks that it is gone.
    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        assert!(
            self.child.try_wait().unwrap().is_some(),
            "the sandbox is reaped"
        );
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        // After `stop` both calls fail harmlessly; on a failed assertion they end the child.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn input(dir: &Path) {
    image::RgbImage::from_pixel(48, 32, image::Rgb([30, 90, 200]))
        .save(dir.join("photo.png"))
        .unwrap();
}

#[test]
fn topaz_out_of_credits_and_modelslab_down_fall_back_to_backgroundcut() {
    let sandbox =
        SandboxProcess::start(&["--credits", "topaz=0", "--fail", "modelslab=unavailable"]);
    assert_eq!(sandbox.endpoints["topaz"]["credits"], 0);
    assert_eq!(sandbox.endpoints["backgroundcut"]["credits"], 1000);
    assert_eq!(
        sandbox.endpoints["fail"],
        serde_json::json!(["modelslab=unavailable:1"])
    );
    let dir = tempfile::tempdir().unwrap();
    input(dir.path());

    let output = sandbox
        .cutout(dir.path())
        .args([
            "remove-bg",
            "photo.png",
            "-o",
            "out/",
            "--provider",
            "topaz,backgroundcut,modelslab",
            "--json",
        ])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{out}\n{err}");
    let line: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(line["provider"], "backgroundcut", "{line}");
    let topaz = &line["tried"][0];
    assert_eq!(topaz["provider"], "topaz", "{line}");
    assert_eq!(topaz["outcome"], "failed", "{line}");
    assert_eq!(topaz["class"], "out_of_credits", "{line}");
    assert_eq!(line["tried"][1]["provider"], "backgroundcut", "{line}");
    assert_eq!(line["tried"][1]["outcome"], "served", "{line}");
    let written = line["output"].as_str().unwrap_or_else(|| panic!("{line}"));
    let image = image::open(dir.path().join(written)).unwrap_or_else(|e| panic!("{written}: {e}"));
    assert_eq!((image.width(), image.height()), (48, 32), "{line}");

    // ModelsLab alone: its submissions are answered 503, and nothing else is tried.
    let output = sandbox
        .cutout(dir.path())
        .args([
            "remove-bg",
            "photo.png",
            "-o",
            "alone/",
            "--provider",
            "modelslab",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("503"), "{err}");
    sandbox.stop();
}

/// Runs `cutout sandbox ARGS`, which must refuse them at once (a sandbox that started would run
/// until killed: the wait is bounded and the child killed then).
fn refused(args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .env_clear()
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`cutout sandbox {}` started instead of refusing",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2), "usage error for {args:?}");
    assert!(output.stdout.is_empty(), "nothing started for {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_credits_and_faults_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--credits", "gimp=3"], "unknown provider `gimp`"),
        (&["--credits", "topaz=-1"], "not a credit balance"),
        (&["--credits", "topaz=many"], "not a credit balance"),
        (&["--credits", "topaz"], "PROVIDER=N"),
        (&["--fail", "gimp=unavailable"], "unknown provider `gimp`"),
        (&["--fail", "topaz=melted"], "unknown fault `melted`"),
        (&["--fail", "topaz=truncated"], "unknown fault `truncated`"),
        (&["--fail", "topaz=unavailable:1.5"], "not a fault rate"),
        (&["--fail", "topaz=unavailable:often"], "not a fault rate"),
        (&["--fail", "topaz"], "PROVIDER=KIND[:RATE]"),
    ];
    for (args, expected) in cases {
        let err = refused(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn the_global_sandbox_takes_credits_and_faults_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path());
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("CUTOUT_SANDBOX_JOB_MS", "200")
        .env("CUTOUT_SANDBOX_CREDITS", "topaz=0,tengr=5")
        .env("CUTOUT_SANDBOX_FAIL", "modelslab=unavailable")
        .args([
            "--sandbox",
            "remove-bg",
            "photo.png",
            "-o",
            "out/",
            "--provider",
            "topaz,modelslab,backgroundcut",
            "--json",
        ])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{out}\n{err}");
    let line: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(line["provider"], "backgroundcut", "{line}");
    assert_eq!(line["tried"][0]["class"], "out_of_credits", "{line}");
    assert_eq!(line["tried"][1]["provider"], "modelslab", "{line}");
    assert_eq!(line["tried"][1]["class"], "outage", "{line}");

    // A bad value is refused before anything starts.
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("CUTOUT_SANDBOX_FAIL", "modelslab=unavailable:often")
        .args(["--sandbox", "remove-bg", "photo.png"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("not a fault rate"), "{err}");
    assert!(!dir.path().join("photo.cutout.png").exists());
}

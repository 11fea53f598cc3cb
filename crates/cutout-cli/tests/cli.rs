//! The `cutout` binary end to end: every command against the simulators (`--sandbox`, or a
//! `cutout sandbox` server for the Topaz job commands), in temporary folders, with the
//! environment cleared so that no real key is ever used.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use assert_cmd::Command;
use image::GenericImageView;
use serde_json::Value;

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cutout")
}

/// The binary in `dir`, with an empty environment and short simulated jobs.
fn cutout(dir: &Path) -> Command {
    let mut command = Command::new(bin());
    command
        .current_dir(dir)
        .env_clear()
        .env("CUTOUT_SANDBOX_JOB_MS", "50");
    command
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// A temporary folder holding a copy of the sample photo as `subject.jpg`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample("subject.jpg"), dir.path().join("subject.jpg")).unwrap();
    dir
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the command and checks its exit code; returns its output.
fn run(command: &mut Command, code: i32) -> std::process::Output {
    let output = command.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// The file names in `dir`, sorted.
/// The files of `dir`, without the batch journal remove-bg keeps there (tests/batch.rs checks
/// the journal).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".cutout-journal.sqlite"))
        .collect();
    names.sort();
    names
}

/// Decodes `path` and checks its size.
fn image_of_size(path: &Path, width: u32, height: u32) -> image::DynamicImage {
    assert!(path.is_file(), "{} was not written", path.display());
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(image.dimensions(), (width, height), "{}", path.display());
    image
}

/// A cut-out of the sample: transparent in the corners, opaque on the apple.
fn assert_cutout(path: &Path) {
    let image = image_of_size(path, WIDTH, HEIGHT).to_rgba8();
    for (x, y) in [(4, 4), (315, 4), (4, 235), (315, 235)] {
        assert!(
            image.get_pixel(x, y).0[3] < 20,
            "corner {x},{y} of {}",
            path.display()
        );
    }
    let centre = image.get_pixel(160, 140).0;
    assert!(centre[3] > 235, "centre of {}: {centre:?}", path.display());
    assert!(
        centre[0] > 150 && centre[1] < 90,
        "the apple is red: {centre:?}"
    );
}

/// A mask of the sample: black in the corners, white on the apple.
fn assert_mask(path: &Path) {
    let image = image_of_size(path, WIDTH, HEIGHT).to_luma8();
    assert!(
        image.get_pixel(4, 4).0[0] < 30,
        "corner of {}",
        path.display()
    );
    assert!(
        image.get_pixel(160, 140).0[0] > 225,
        "centre of {}",
        path.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Help

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["remove-bg"],
        &["matte"],
        &["segment"],
        &["trimap"],
        &["jobs"],
        &["jobs", "list"],
        &["jobs", "status"],
        &["jobs", "cancel"],
        &["jobs", "download"],
        &["jobs", "submit"],
        &["journal"],
        &["compare"],
        &["estimate"],
        &["sandbox"],
    ];
    for command in commands {
        let output = run(cutout(dir.path()).args(*command).arg("--help"), 0);
        let name = if command.is_empty() {
            "help".to_owned()
        } else {
            format!("help_{}", command.join("_"))
        };
        insta::assert_snapshot!(name, stdout(&output));
    }
}

// ---------------------------------------------------------------------------------------------
// remove-bg

#[test]
fn remove_bg_with_every_provider() {
    let dir = workspace();
    for provider in ["topaz", "backgroundcut", "modelslab", "tengr"] {
        let out = format!("out/{provider}/");
        let output = run(
            cutout(dir.path()).args([
                "--sandbox",
                "remove-bg",
                "subject.jpg",
                "--provider",
                provider,
                "-o",
                &out,
            ]),
            0,
        );
        assert!(
            stderr(&output).contains(&format!("→ {out}subject.cutout.png")),
            "{}",
            stderr(&output)
        );
        assert_cutout(&dir.path().join(&out).join("subject.cutout.png"));
    }
}

#[test]
fn remove_bg_masks_where_the_provider_makes_them() {
    let dir = workspace();
    for provider in ["topaz", "modelslab"] {
        let out = format!("{provider}-mask.png");
        run(
            cutout(dir.path()).args([
                "--sandbox",
                "remove-bg",
                "subject.jpg",
                "--mask",
                "--provider",
                provider,
                "-o",
                &out,
            ]),
            0,
        );
        assert_mask(&dir.path().join(&out));
    }
    for (provider, advice) in [
        ("backgroundcut", "cutout matte"),
        ("tengr", "cutout segment"),
    ] {
        let output = run(
            cutout(dir.path()).args([
                "--sandbox",
                "remove-bg",
                "subject.jpg",
                "--mask",
                "--provider",
                provider,
            ]),
            2,
        );
        assert!(stderr(&output).contains(advice), "{}", stderr(&output));
    }
    assert_eq!(
        files(dir.path()),
        ["modelslab-mask.png", "subject.jpg", "topaz-mask.png"]
    );
}

#[test]
fn many_inputs_run_together_and_default_names_go_to_the_current_directory() {
    let dir = workspace();
    for name in ["b.jpg", "c.png"] {
        std::fs::copy(sample("subject.jpg"), dir.path().join(name)).unwrap();
    }
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "--json",
            "remove-bg",
            "subject.jpg",
            "b.jpg",
            "c.png",
            "--concurrency",
            "3",
        ]),
        0,
    );
    assert_eq!(stdout(&output).lines().count(), 3);
    assert!(
        stderr(&output).contains("all 3 inputs ok"),
        "{}",
        stderr(&output)
    );
    for name in ["subject", "b", "c"] {
        assert_cutout(&dir.path().join(format!("{name}.cutout.png")));
    }
}

#[test]
fn json_lines_have_one_object_per_input() {
    let dir = workspace();
    // One input fails on its own: its result exists already.
    std::fs::copy(sample("subject.jpg"), dir.path().join("taken.jpg")).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/taken.cutout.png"), "kept").unwrap();
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "--json",
            "remove-bg",
            "subject.jpg",
            "taken.jpg",
            "-o",
            "out/",
        ]),
        1,
    );
    let mut lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    lines.sort_by_key(|line| line["input"].as_str().unwrap_or_default().to_owned());
    for line in &mut lines {
        let object = line.as_object_mut().unwrap();
        let elapsed = object["elapsed_ms"].as_u64().unwrap();
        assert!(elapsed < 60_000);
        object.insert("elapsed_ms".into(), "[elapsed]".into());
        if let Some(bytes) = object["bytes"].as_u64() {
            assert!(bytes > 1000);
            object.insert("bytes".into(), "[bytes]".into());
        }
        if object["job_id"].is_string() {
            object.insert("job_id".into(), "[job id]".into());
        }
    }
    insta::assert_json_snapshot!("json_lines", lines);
    assert!(
        stderr(&output).contains("1 of 2 inputs failed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        files(&dir.path().join("out")),
        ["subject.cutout.png", "taken.cutout.png"]
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/taken.cutout.png")).unwrap(),
        b"kept"
    );
}

#[test]
fn existing_outputs_are_never_overwritten_without_force() {
    let dir = workspace();
    // Other bytes than subject.jpg (trailing bytes after the JPEG's end), so other work: the
    // same work would be re-attached to the job paid for it, free, and this run's in-process
    // sandbox no longer has that job.
    let mut other = std::fs::read(sample("subject.jpg")).unwrap();
    other.extend_from_slice(b"\0other");
    std::fs::write(dir.path().join("other.jpg"), other).unwrap();
    run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "subject.jpg", "-o", "out/"]),
        0,
    );
    let existing = dir.path().join("out/subject.cutout.png");
    std::fs::write(&existing, b"keep me").unwrap();

    // The existing output fails its input; the other input still goes through.
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "other.jpg",
            "-o",
            "out/",
        ]),
        1,
    );
    let err = stderr(&output);
    assert!(err.contains("1 of 2 inputs failed"), "{err}");
    assert!(
        err.contains(
            "subject.jpg: `out/subject.cutout.png` changed since this journal wrote it; \
             move it away to download it again from its job (free), or pass --force to redo it \
             (paid again)"
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_cutout(&dir.path().join("out/other.cutout.png"));

    run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "-o",
            "out/",
            "--force",
        ]),
        0,
    );
    assert_cutout(&existing);
    assert_eq!(
        files(&dir.path().join("out")),
        ["other.cutout.png", "subject.cutout.png"]
    );
}

#[test]
fn a_missing_key_is_a_configuration_error_naming_the_variable() {
    let dir = workspace();
    for (provider, variable) in [
        ("topaz", "TOPAZ_API_KEY"),
        ("backgroundcut", "BACKGROUNDCUT_API_KEY"),
        ("modelslab", "MODELSLAB_API_KEY"),
        ("tengr", "TENGR_API_KEY"),
    ] {
        let output = run(
            cutout(dir.path()).args([
                "remove-bg",
                "subject.jpg",
                "https://images.example.com/a.jpg",
                "--provider",
                provider,
                "-o",
                "fresh/",
            ]),
            3,
        );
        let err = stderr(&output);
        assert!(err.contains(&format!("set {variable}")), "{err}");
        assert!(err.contains("--sandbox"), "{err}");
        // Nothing left behind: no output folder, no journal.
        assert!(!dir.path().join("fresh").exists());
    }
    // Only local files for a provider that fetches URLs: said first, since no key would help.
    let output = run(
        cutout(dir.path()).args(["remove-bg", "subject.jpg", "--provider", "tengr"]),
        2,
    );
    let err = stderr(&output);
    assert!(err.contains("fetches images by URL"), "{err}");
    assert!(!err.contains("TENGR_API_KEY"), "{err}");
    let output = run(cutout(dir.path()).args(["jobs", "list"]), 3);
    assert!(stderr(&output).contains("TOPAZ_API_KEY"));
    assert_eq!(files(dir.path()), ["subject.jpg"]);
}

#[test]
fn a_file_that_is_not_an_image_fails_before_anything_is_sent() {
    let dir = workspace();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    // Named explicitly, a non-image is a usage error: the good image beside it is not sent
    // either.
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "subject.jpg", "notes.txt"]),
        2,
    );
    let err = stderr(&output);
    assert!(
        err.contains(
            "error: invalid `input`: `notes.txt` is not a JPEG, PNG, WebP, TIFF, GIF or BMP \
             image (nothing was sent)"
        ),
        "{err}"
    );
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "subject.jpg", "missing.jpg"]),
        2,
    );
    assert!(stderr(&output).contains("`missing.jpg` does not exist"));
    assert_eq!(files(dir.path()), ["notes.txt", "subject.jpg"]);
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = workspace();
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "subject.jpg",
            "-o",
            "one.png",
        ]),
        2,
    );
    assert!(
        stderr(&output).contains("pass a folder"),
        "{}",
        stderr(&output)
    );
    run(
        cutout(dir.path()).args(["remove-bg", "--provider", "nobody", "x.jpg"]),
        2,
    );
    run(cutout(dir.path()).args(["matte", "subject.jpg"]), 2);
    run(
        cutout(dir.path()).args(["segment", "subject.jpg", "--point", "120,80"]),
        2,
    );
    assert_eq!(files(dir.path()), ["subject.jpg"]);
}

/// `remove-bg --provider` and `compare --providers` parse lists the same way: items trimmed,
/// an empty item, an unknown name, a repeat or a repeated flag is a clear usage error.
#[test]
fn provider_lists_parse_the_same_way_in_both_commands() {
    let dir = workspace();
    for (list, expected) in [
        ("topaz,", "empty provider name in `topaz,`"),
        (",topaz", "empty provider name in `,topaz`"),
        (
            "topaz,,modelslab",
            "empty provider name in `topaz,,modelslab`",
        ),
        ("topaz,topaz", "`topaz,topaz` lists topaz twice"),
        ("topaz, nobody", "unknown provider `nobody`"),
    ] {
        for (command, flag) in [("remove-bg", "--provider"), ("compare", "--providers")] {
            let output = run(
                cutout(dir.path()).args(["--sandbox", command, "subject.jpg", flag, list]),
                2,
            );
            let err = stderr(&output);
            assert!(err.contains(expected), "{command} {flag} {list}: {err}");
            assert!(!err.contains("a value is required"), "{err}");
        }
    }
    // Spaces around names are trimmed: the list works (and the journal says which served).
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "--provider",
            " modelslab , topaz",
            "--json",
            "-o",
            "out/",
        ]),
        0,
    );
    let line: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["provider"], "modelslab", "{line}");
    // A repeated flag is refused rather than one of its values silently dropped.
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "--provider",
            "topaz",
            "--provider",
            "modelslab",
        ]),
        2,
    );
    assert!(
        stderr(&output).contains("cannot be used multiple times"),
        "{}",
        stderr(&output)
    );
    assert_eq!(files(dir.path()), ["out", "subject.jpg"]);
    // A list in CUTOUT_PROVIDER (set for remove-bg's fallback) meets a one-provider command:
    // said plainly, with what to pass instead.
    let output = run(
        cutout(dir.path())
            .env("CUTOUT_PROVIDER", "modelslab,topaz")
            .args(["jobs", "status", "some-id"]),
        2,
    );
    let err = stderr(&output);
    assert!(
        err.contains("`modelslab,topaz` is a list, and this command takes one provider")
            && err.contains("-p modelslab"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// matte and trimap

#[test]
fn matte_with_a_trimap() {
    let dir = workspace();
    std::fs::copy(sample("subject-trimap.jpg"), dir.path().join("trimap.jpg")).unwrap();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "subject.jpg",
            "--trimap",
            "trimap.jpg",
        ]),
        0,
    );
    assert_cutout(&dir.path().join("subject.cutout.png"));
}

#[test]
fn matte_with_a_trimap_made_from_a_mask() {
    let dir = workspace();
    std::fs::copy(sample("subject-mask.png"), dir.path().join("mask.png")).unwrap();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "subject.jpg",
            "--trimap-from-mask",
            "mask.png",
            "--band",
            "4",
            "--mask",
            "-o",
            "mattes/",
        ]),
        0,
    );
    let matte = dir.path().join("mattes/subject.mask.jpg");
    assert_mask(&matte);
    assert_eq!(image::open(&matte).unwrap().color(), image::ColorType::L8);
}

#[test]
fn a_trimap_of_the_wrong_size_is_refused_before_anything_is_sent() {
    let dir = workspace();
    let small = image::GrayImage::from_pixel(100, 80, image::Luma([128]));
    small.save(dir.path().join("small.jpg")).unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "matte", "subject.jpg", "--trimap", "small.jpg"]),
        1,
    );
    let err = stderr(&output);
    assert!(
        err.contains(
            "trimap is 100×80 but the image is 320×240: make the trimap exactly the image's size"
        ),
        "{err}"
    );
    // The same with a mask to make the trimap from.
    let small_mask = image::GrayImage::from_pixel(100, 80, image::Luma([255]));
    small_mask.save(dir.path().join("small-mask.png")).unwrap();
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "subject.jpg",
            "--trimap-from-mask",
            "small-mask.png",
        ]),
        1,
    );
    assert!(
        stderr(&output).contains("the mask is 100×80 but the image is 320×240"),
        "{}",
        stderr(&output)
    );
    // A PNG mask passed as the trimap gets pointed to --trimap-from-mask.
    std::fs::copy(sample("subject-mask.png"), dir.path().join("mask.png")).unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "matte", "subject.jpg", "--trimap", "mask.png"]),
        1,
    );
    assert!(
        stderr(&output).contains("--trimap-from-mask"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        files(dir.path()),
        ["mask.png", "small-mask.png", "small.jpg", "subject.jpg"]
    );
}

#[test]
fn trimap_from_a_mask_locally() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample("subject-mask.png"), dir.path().join("mask.png")).unwrap();
    // No --sandbox and no key: nothing is sent anywhere.
    run(
        cutout(dir.path()).args(["trimap", "mask.png", "-o", "trimap.jpg", "--band", "4"]),
        0,
    );
    let trimap = image_of_size(&dir.path().join("trimap.jpg"), WIDTH, HEIGHT);
    assert_eq!(trimap.color(), image::ColorType::L8);
    let trimap = trimap.to_luma8();
    assert!(trimap.get_pixel(4, 4).0[0] < 15);
    assert!(trimap.get_pixel(160, 140).0[0] > 240);
    // The edge of the apple's body, on the left at y = 140, is in the gray band.
    let band = (60..100).filter(|&x| (trimap.get_pixel(x, 140).0[0] as i32 - 128).abs() < 20);
    assert!(band.count() >= 6);

    let output = run(
        cutout(dir.path()).args(["trimap", "mask.png", "-o", "trimap.jpg"]),
        1,
    );
    assert!(stderr(&output).contains("already exists"));
    run(
        cutout(dir.path()).args(["trimap", "mask.png", "-o", "trimap.png"]),
        2,
    );
    run(cutout(dir.path()).args(["trimap", "mask.png"]), 0);
    assert_eq!(
        files(dir.path()),
        ["mask.png", "mask.trimap.jpg", "trimap.jpg"]
    );
}

// ---------------------------------------------------------------------------------------------
// segment

#[test]
fn segment_by_prompt() {
    let dir = workspace();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "segment",
            "subject.jpg",
            "--prompt",
            "the apple",
        ]),
        0,
    );
    assert_mask(&dir.path().join("subject.mask.png"));
}

#[test]
fn segment_by_points() {
    let dir = workspace();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "segment",
            "subject.jpg",
            "--point",
            "0.5,0.6",
            "--point",
            "0.02,0.02:bg",
            "--format",
            "webp",
            "-o",
            "masks/",
        ]),
        0,
    );
    assert_mask(&dir.path().join("masks/subject.mask.webp"));
}

#[test]
fn tengr_needs_a_public_url_without_the_sandbox() {
    let dir = workspace();
    // remove-bg with only local files is a usage error (2): no input could work.
    for (args, code) in [
        (&["segment", "subject.jpg", "--prompt", "apple"][..], 1),
        (&["remove-bg", "subject.jpg", "--provider", "tengr"][..], 2),
    ] {
        let output = run(
            cutout(dir.path())
                .env("TENGR_API_KEY", "not-a-real-key")
                // Nothing listens there, and nothing must be sent anyway.
                .env("TENGR_BASE_URL", "http://127.0.0.1:9")
                .args(args),
            code,
        );
        let err = stderr(&output);
        assert!(err.contains("tengr fetches images by URL"), "{err}");
        assert!(err.contains("public http(s) URL"), "{err}");
    }
    assert_eq!(files(dir.path()), ["subject.jpg"]);
}

// ---------------------------------------------------------------------------------------------
// Topaz jobs and estimates

/// A `cutout sandbox` server, stopped when dropped.
struct Server {
    child: Child,
    endpoints: Value,
}

impl Server {
    fn start(job_ms: u64) -> Self {
        let mut child = std::process::Command::new(bin())
            .env_clear()
            .args(["sandbox", "--json", "--job-ms", &job_ms.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoints: Value = serde_json::from_str(&line).unwrap();
        Self { child, endpoints }
    }

    /// The binary pointed at the server through the Topaz environment variables.
    fn cutout(&self, dir: &Path) -> Command {
        let topaz = &self.endpoints["topaz"];
        let mut command = cutout(dir);
        command
            .env("TOPAZ_BASE_URL", topaz["base_url"].as_str().unwrap())
            .env("TOPAZ_API_KEY", topaz["key"].as_str().unwrap());
        command
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn jobs_list_status_cancel_and_download() {
    let dir = workspace();
    std::fs::copy(sample("subject.jpg"), dir.path().join("second.jpg")).unwrap();
    let server = Server::start(2500);
    assert_eq!(
        server.endpoints["topaz"]["key_env"].as_str(),
        Some("TOPAZ_API_KEY")
    );

    let output = run(
        server
            .cutout(dir.path())
            .args(["jobs", "submit", "subject.jpg", "second.jpg"]),
        0,
    );
    let ids: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), 2, "{}", stdout(&output));
    let (to_cancel, to_keep) = (&ids[0], &ids[1]);

    let output = run(server.cutout(dir.path()).args(["jobs", "list"]), 0);
    let list = stdout(&output);
    assert!(list.starts_with("JOB ID"), "{list}");
    assert!(list.contains(to_cancel) && list.contains(to_keep), "{list}");

    let output = run(
        server
            .cutout(dir.path())
            .args(["--json", "jobs", "status", to_cancel, to_keep]),
        0,
    );
    let statuses: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    for status in &statuses {
        assert!(
            matches!(status["status"].as_str(), Some("Pending" | "Processing")),
            "{status}"
        );
        assert_eq!(status["input_width"], 320);
    }

    let output = run(
        server
            .cutout(dir.path())
            .args(["jobs", "cancel", to_cancel]),
        0,
    );
    assert_eq!(stdout(&output).trim(), format!("cancelled {to_cancel}"));

    // Downloading waits for the running job.
    run(
        server
            .cutout(dir.path())
            .args(["jobs", "download", to_keep, "-o", "results/"]),
        0,
    );
    assert_cutout(&dir.path().join(format!("results/{to_keep}.png")));

    let output = run(
        server
            .cutout(dir.path())
            .args(["jobs", "download", to_cancel, "-o", "results/"]),
        1,
    );
    assert!(stderr(&output).contains("Cancelled"), "{}", stderr(&output));
    let output = run(
        server.cutout(dir.path()).args(["jobs", "cancel", to_keep]),
        1,
    );
    assert!(
        stderr(&output).contains("can no longer be cancelled"),
        "{}",
        stderr(&output)
    );
    let output = run(
        server
            .cutout(dir.path())
            .args(["--json", "jobs", "status", to_cancel]),
        0,
    );
    let status: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(status["status"], "Cancelled");
    let output = run(
        server
            .cutout(dir.path())
            .args(["jobs", "status", "not-a-job"]),
        1,
    );
    assert!(stderr(&output).contains("not-a-job"), "{}", stderr(&output));
    assert_eq!(
        files(&dir.path().join("results")),
        [format!("{to_keep}.png")]
    );
}

#[test]
fn jobs_against_an_empty_in_process_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(cutout(dir.path()).args(["--sandbox", "jobs", "list"]), 0);
    assert!(stderr(&output).contains("no jobs"));
    let output = run(
        cutout(dir.path()).args(["--sandbox", "--json", "jobs", "list"]),
        0,
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn estimate_from_files_and_sizes() {
    let dir = workspace();
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "estimate",
            "subject.jpg",
            "--size",
            "6000x4000",
        ]),
        0,
    );
    let text = stdout(&output);
    assert!(text.contains("subject.jpg (320×240): 1 credit"), "{text}");
    assert!(text.contains("6000x4000 (6000×4000): 1 credit"), "{text}");
    assert!(text.contains("total: 2 credits for 2 images"), "{text}");

    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "--json",
            "estimate",
            "--size",
            "8000x5000",
            "--model",
            "object",
        ]),
        0,
    );
    let line: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["status"], "ok");
    assert_eq!(line["model"], "object");
    assert_eq!(line["width"], 8000);
    assert!(line["credits"].as_u64().unwrap() >= 1);
    assert!(line["duration_s"].is_u64());

    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "estimate", "notes.txt"]),
        1,
    );
    assert!(
        stderr(&output).contains("not a JPEG"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_sandbox_command_prints_endpoints_and_keys() {
    let server = Server::start(1500);
    for provider in ["topaz", "backgroundcut", "modelslab", "tengr"] {
        let endpoint = &server.endpoints[provider];
        assert!(
            endpoint["base_url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert_eq!(
            endpoint["key"].as_str().unwrap(),
            format!("sandbox-{provider}-key")
        );
    }
    assert!(server.endpoints["files_url"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Hostile servers and failing disks

/// A plain loopback server (an axum router answering JSON literals written from the Topaz
/// docs), on its own thread; stopped with the test process.
fn loopback(app: axum::Router) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender
                .send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

/// The binary pointed at a loopback Topaz.
fn against(dir: &Path, base_url: &str) -> Command {
    let mut command = cutout(dir);
    command
        .env("TOPAZ_BASE_URL", base_url)
        .env("TOPAZ_API_KEY", "loopback-test-key")
        .timeout(std::time::Duration::from_secs(60));
    command
}

const JOB_ID: &str = "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11";

/// A Topaz status answer with every time field set to `time`.
fn topaz_status(time: i64) -> Value {
    serde_json::json!({
        "process_id": JOB_ID, "source_id": "src-1", "filename": "portrait.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": "Processing", "progress": 50,
        "eta": time, "creation_time": time, "modification_time": time, "credits": 1
    })
}

#[test]
fn jobs_status_and_list_survive_extreme_server_times() {
    use axum::routing::get;
    let dir = tempfile::tempdir().unwrap();
    for time in [i64::MIN, i64::MAX] {
        let app = axum::Router::new()
            .route(
                "/status",
                get(move || async move {
                    axum::Json(serde_json::json!([topaz_status(time), topaz_status(0)]))
                }),
            )
            .route(
                &format!("/status/{JOB_ID}"),
                get(move || async move { axum::Json(topaz_status(time)) }),
            );
        let url = loopback(app);
        for json in [false, true] {
            let mut args = vec![];
            if json {
                args.push("--json");
            }
            let output = run(
                against(dir.path(), &url).args([&args[..], &["jobs", "list"]].concat()),
                0,
            );
            assert!(stdout(&output).contains(JOB_ID), "{}", stdout(&output));
            let output = run(
                against(dir.path(), &url).args([&args[..], &["jobs", "status", JOB_ID]].concat()),
                0,
            );
            assert!(stdout(&output).contains(JOB_ID), "{}", stdout(&output));
            assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        }
    }
}

#[test]
fn jobs_list_stops_on_a_cursor_cycle() {
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;
    // No cursor → A, A → B, B → A, for ever: a memory of every cursor ends it.
    let app = axum::Router::new().route(
        "/status",
        get(|Query(query): Query<HashMap<String, String>>| async move {
            let next = match query.get("cursor").map(String::as_str) {
                Some("A") => "B",
                _ => "A",
            };
            axum::Json(serde_json::json!({
                "data": [topaz_status(1_763_799_000)],
                "pagination": {"has_next_page": true, "next_cursor": next}
            }))
        }),
    );
    let url = loopback(app);
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = run(against(dir.path(), &url).args(["jobs", "list"]), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let err = stderr(&output);
    assert!(err.contains("hands out the cursor `A` again"), "{err}");

    // And a page limit, for cursors that never repeat.
    let app = axum::Router::new().route(
        "/status",
        get(|Query(query): Query<HashMap<String, String>>| async move {
            let n: u64 = query
                .get("cursor")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            axum::Json(serde_json::json!({
                "data": [topaz_status(1_763_799_000)],
                "pagination": {"has_next_page": true, "next_cursor": (n + 1).to_string()}
            }))
        }),
    );
    let url = loopback(app);
    let output = run(
        against(dir.path(), &url).args(["jobs", "list", "--max-pages", "5"]),
        1,
    );
    let err = stderr(&output);
    assert!(err.contains("beyond 5 pages"), "{err}");
}

/// A tmpfs mounted on a folder, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, options: &str) -> Self {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs on {}", at.display());
        Self(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[test]
fn a_full_disk_fails_the_write_leaves_nothing_and_keeps_the_old_file() {
    if !is_root() {
        // Mounting needs root (CI runs as root); the same logic is tested with an injected
        // failing writer in cutout-runtime's `fs` tests.
        eprintln!("not root: skipping the tmpfs test");
        return;
    }
    let dir = workspace();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let _mounted = Tmpfs::mount(&disk, "size=64k");
    // The cut-out of the sample is about 25 KiB: leave less room than that.
    std::fs::write(disk.join("filler"), vec![0u8; 48 * 1024]).unwrap();
    let old = b"a good cut-out from an earlier run".to_vec();
    std::fs::write(disk.join("other.cutout.png"), &old).unwrap();
    std::fs::copy(dir.path().join("subject.jpg"), dir.path().join("other.jpg")).unwrap();

    // A new file: the write fails part-way, nothing is left.
    let output = run(
        // The journal elsewhere: this is about the result's write.
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "-o",
            "disk/",
            "--journal",
            "journal.sqlite",
        ]),
        1,
    );
    let err = stderr(&output);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains('✓'), "{err}");
    assert_eq!(files(&disk), ["filler", "other.cutout.png"]);

    // Replacing a good file with --force: the write fails, the old file stays as it was.
    // Each run below keeps its own journal: a job paid for in an earlier run is re-attached
    // even with --force, and `--sandbox` jobs end with the process that made them.
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "other.jpg",
            "-o",
            "disk/",
            "--force",
            "--journal",
            "journal-2.sqlite",
        ]),
        1,
    );
    let err = stderr(&output);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(files(&disk), ["filler", "other.cutout.png"]);
    assert_eq!(std::fs::read(disk.join("other.cutout.png")).unwrap(), old);

    // With room again, the same command succeeds.
    std::fs::remove_file(disk.join("filler")).unwrap();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "other.jpg",
            "-o",
            "disk/",
            "--force",
            "--journal",
            "journal-3.sqlite",
        ]),
        0,
    );
    assert_cutout(&disk.join("other.cutout.png"));
    assert_eq!(files(&disk), ["other.cutout.png"]);
}

/// Where the result cannot be written, the input fails before its job is submitted (paid for):
/// a read-only output folder, or a folder in the result's place even with --force.
#[test]
fn an_unwritable_destination_fails_before_anything_is_submitted() {
    let dir = workspace();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::create_dir(dir.path().join("out/subject.cutout.png")).unwrap();
    for provider in ["topaz", "modelslab"] {
        let output = run(
            cutout(dir.path()).args([
                "--sandbox",
                "remove-bg",
                "subject.jpg",
                "--provider",
                provider,
                "-o",
                "out/",
                "--force",
            ]),
            1,
        );
        let err = stderr(&output);
        assert!(err.contains("is a folder"), "{err}");
        assert!(!err.contains("submitted"), "{err}");
    }
    if !is_root() {
        eprintln!("not root: skipping the read-only mount");
        return;
    }
    let readonly = dir.path().join("readonly");
    std::fs::create_dir(&readonly).unwrap();
    let _mounted = Tmpfs::mount(&readonly, "ro,size=64k");
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "--provider",
            "modelslab",
            "-o",
            "readonly/",
        ]),
        3,
    );
    // The journal cannot live there: a setup error naming it, nothing sent.
    let err = stderr(&output);
    assert!(
        err.contains("the journal `readonly/.cutout-journal.sqlite` cannot be written"),
        "{err}"
    );
    assert!(!err.contains("submitted"), "{err}");
    assert!(files(&readonly).is_empty());
    // With the journal elsewhere, the output folder's own check refuses the input.
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "subject.jpg",
            "--provider",
            "modelslab",
            "-o",
            "readonly/",
            "--journal",
            "journal.sqlite",
        ]),
        1,
    );
    let err = stderr(&output);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!err.contains("submitted"), "{err}");
    assert!(files(&readonly).is_empty());
}

#[test]
fn url_userinfo_and_queries_never_show() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard): nothing listens, so every provider fails on it, after showing it.
    let url = "http://me:hunter2@127.0.0.1:9/photo.jpg?token=sekrit";
    for provider in ["topaz", "backgroundcut", "modelslab", "tengr"] {
        for json in [true, false] {
            let mut command = cutout(dir.path());
            command.arg("--sandbox");
            if json {
                command.arg("--json");
            }
            let output = run(command.args(["remove-bg", "--provider", provider, url]), 1);
            let (out, err) = (stdout(&output), stderr(&output));
            for shown in [&out, &err] {
                assert!(
                    !shown.contains("hunter2")
                        && !shown.contains("sekrit")
                        && !shown.contains("me:"),
                    "{provider}: {shown}"
                );
            }
            if json {
                let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
                assert_eq!(line["input"], "http://127.0.0.1:9/photo.jpg", "{provider}");
            } else {
                assert!(
                    err.contains("http://127.0.0.1:9/photo.jpg"),
                    "{provider}: {err}"
                );
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_or_another_format_at_the_destination_is_refused_before_sending() {
    let dir = workspace();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("nowhere.png"),
        out.join("subject.cutout.png"),
    )
    .unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "subject.jpg", "-o", "out/"]),
        1,
    );
    let err = stderr(&output);
    assert!(
        err.contains(
            "`out/subject.cutout.png` already exists and was not written by this journal; \
             move it away or pass --force"
        ),
        "{err}"
    );
    assert!(!err.contains("submitted"), "nothing was sent: {err}");
    assert!(std::fs::symlink_metadata(out.join("subject.cutout.png")).is_ok());
    assert!(!dir.path().join("nowhere.png").exists());

    // The result would be named after the format that comes back: a WebP of that name is
    // checked too.
    std::fs::remove_file(out.join("subject.cutout.png")).unwrap();
    std::fs::write(out.join("subject.cutout.webp"), b"keep me").unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "subject.jpg", "-o", "out/"]),
        1,
    );
    let err = stderr(&output);
    assert!(
        err.contains("`out/subject.cutout.webp` already exists"),
        "{err}"
    );
    assert!(!err.contains("submitted"), "nothing was sent: {err}");
    assert_eq!(files(&out), ["subject.cutout.webp"]);
}

// ---------------------------------------------------------------------------------------------
// A real-sized photo

/// A 4000x3000 JPEG of about 9 MB: a red disc on a green background, both covered in seeded
/// per-pixel noise so the file does not compress small (like a phone photo of a textured scene).
fn noisy_photo(path: &Path) {
    let (w, h) = (4000u32, 3000u32);
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut noise = move || {
        // xorshift64: a fixed seed, so the file is the same on every run.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 25) as i16 - 12
    };
    let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, h as f32 / 3.0);
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        let base: [i16; 3] = if d < r { [220, 30, 40] } else { [30, 160, 60] };
        image::Rgb(base.map(|c| (c + noise()).clamp(0, 255) as u8))
    });
    let file = std::fs::File::create(path).unwrap();
    let encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 95);
    image.write_with_encoder(encoder).unwrap();
}

#[test]
fn a_nine_megabyte_photo_goes_through_every_provider() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    noisy_photo(&photo);
    let size = std::fs::metadata(&photo).unwrap().len();
    assert!(
        (7_000_000..12_000_000).contains(&size),
        "the photo should be about 9 MB, not {size} bytes"
    );
    for provider in ["topaz", "backgroundcut", "modelslab", "tengr"] {
        let out = format!("out/{provider}/");
        let started = std::time::Instant::now();
        run(
            cutout(dir.path()).args([
                "--sandbox",
                "remove-bg",
                "photo.jpg",
                "--provider",
                provider,
                "-o",
                &out,
            ]),
            0,
        );
        // Printed for the record (`cargo test -- --nocapture`): the time per provider.
        eprintln!("{provider}: {:.2?} for {size} bytes", started.elapsed());
        let result =
            image_of_size(&dir.path().join(&out).join("photo.cutout.png"), 4000, 3000).to_rgba8();
        assert!(
            result.get_pixel(2000, 1500).0[3] > 235,
            "{provider}: centre"
        );
        let corner_alpha: u32 = (0..50)
            .flat_map(|x| (0..50).map(move |y| (x, y)))
            .map(|(x, y)| u32::from(result.get_pixel(x, y).0[3]))
            .sum();
        assert!(
            corner_alpha < 2500 * 20,
            "{provider}: corner {corner_alpha}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Folders, globs and mirrored outputs

/// Copies the sample `name` to `dir/to`, making its folders.
fn place(dir: &Path, name: &str, to: &str) {
    let path = dir.join(to);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(sample(name), path).unwrap();
}

/// Every file under `dir`, as sorted `/`-separated relative paths.
fn tree(dir: &Path) -> Vec<String> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(root, &path, out);
            } else if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".cutout-journal.sqlite"))
            {
                let relative = path.strip_prefix(root).unwrap();
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_folder_of_nested_images_is_mirrored_under_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "subject.jpg", "photos/top.jpg");
    place(dir.path(), "subject.jpg", "photos/a/one.jpg");
    place(dir.path(), "subject.jpg", "photos/a/b/two.jpg");
    std::fs::write(dir.path().join("photos/a/readme.txt"), "text").unwrap();
    std::fs::write(dir.path().join("photos/.DS_Store"), [0u8; 16]).unwrap();
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "photos", "-o", "out/"]),
        0,
    );
    let err = stderr(&output);
    assert!(
        err.contains(
            "skipped 1 file that is not an image (e.g. photos/a/readme.txt); left out 1 hidden \
             file or folder (names starting with `.`"
        ),
        "{err}"
    );
    assert_eq!(
        tree(&dir.path().join("out")),
        ["a/b/two.cutout.png", "a/one.cutout.png", "top.cutout.png"]
    );
    for name in ["a/b/two", "a/one", "top"] {
        assert_cutout(&dir.path().join(format!("out/{name}.cutout.png")));
    }
    // With --quiet the note is not printed; with --json it goes to stderr, not stdout.
    let output = run(
        cutout(dir.path()).args(["--sandbox", "-q", "remove-bg", "photos", "-o", "q/"]),
        0,
    );
    assert!(!stderr(&output).contains("skipped"), "{}", stderr(&output));
    let output = run(
        cutout(dir.path()).args(["--sandbox", "--json", "remove-bg", "photos", "-o", "j/"]),
        0,
    );
    assert!(stderr(&output).contains("skipped 1 file"));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().any(|l| l["output"] == "j/a/b/two.cutout.png"));
}

#[test]
fn the_output_folder_inside_the_input_folder_is_not_an_input() {
    let dir = workspace();
    place(dir.path(), "subject.jpg", "sub/other.jpg");
    run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", ".", "-o", "out/"]),
        0,
    );
    let expected = ["out/sub/other.cutout.png", "out/subject.cutout.png"];
    let outputs = |dir: &Path| -> Vec<String> {
        tree(dir)
            .into_iter()
            .filter(|name| name.starts_with("out/"))
            .collect()
    };
    assert_eq!(outputs(dir.path()), expected);
    // Again: the results of the first run are not inputs of the second.
    run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", ".", "-o", "out/", "--force"]),
        0,
    );
    assert_eq!(outputs(dir.path()), expected);
}

#[test]
fn a_quoted_glob_is_expanded_relative_to_its_base() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "subject.jpg", "photos/x/a.jpg");
    place(dir.path(), "subject.jpg", "photos/b.jpg");
    place(dir.path(), "subject-mask.png", "photos/c.png");
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "remove-bg",
            "photos/**/*.jpg",
            "--provider",
            "backgroundcut",
            "-o",
            "out/",
        ]),
        0,
    );
    assert_eq!(
        tree(&dir.path().join("out")),
        ["b.cutout.png", "x/a.cutout.png"]
    );
    let output = run(
        cutout(dir.path()).args(["--sandbox", "remove-bg", "photos/*.gif"]),
        2,
    );
    assert!(
        stderr(&output).contains("`photos/*.gif` matches no files"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn matte_pairs_images_with_a_trimap_folder_by_name() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "subject.jpg", "photos/a.jpg");
    place(dir.path(), "subject.jpg", "photos/sub/b.jpg");
    place(dir.path(), "subject-trimap.jpg", "trimaps/a.trimap.jpg");
    place(dir.path(), "subject-trimap.jpg", "trimaps/sub/b.jpg");
    // One photo without its trimap: refused up front, naming it, nothing written.
    place(dir.path(), "subject.jpg", "photos/sub/c.jpg");
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "photos",
            "--trimap",
            "trimaps",
            "-o",
            "out/",
        ]),
        2,
    );
    let err = stderr(&output);
    assert!(
        err.contains("no trimap in `trimaps` for 1 image: photos/sub/c.jpg"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
    std::fs::remove_file(dir.path().join("photos/sub/c.jpg")).unwrap();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "photos",
            "--trimap",
            "trimaps",
            "-j",
            "2",
            "-o",
            "out/",
        ]),
        0,
    );
    assert_eq!(
        tree(&dir.path().join("out")),
        ["a.cutout.png", "sub/b.cutout.png"]
    );
    assert_cutout(&dir.path().join("out/sub/b.cutout.png"));
    // Masks beside the photos, in the same folder: the masks are not photos to matte.
    place(dir.path(), "subject.jpg", "mixed/p.jpg");
    place(dir.path(), "subject-mask.png", "mixed/p.mask.png");
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "mixed",
            "--trimap-from-mask",
            "mixed",
            "--mask",
            "-o",
            "mattes/",
        ]),
        0,
    );
    assert_eq!(tree(&dir.path().join("mattes")), ["p.mask.jpg"]);
    // A single trimap file for several photos is a usage error.
    let output = run(
        cutout(dir.path()).args([
            "--sandbox",
            "matte",
            "photos",
            "--trimap",
            "trimaps/a.trimap.jpg",
        ]),
        2,
    );
    assert!(stderr(&output).contains("is one file, but there are 2 images"));
}

#[test]
fn segment_writes_each_images_masks_under_its_mirrored_name() {
    let dir = tempfile::tempdir().unwrap();
    place(dir.path(), "subject.jpg", "photos/a.jpg");
    place(dir.path(), "subject.jpg", "photos/deep/a.jpg");
    std::fs::write(dir.path().join("photos/list.csv"), "a,b").unwrap();
    run(
        cutout(dir.path()).args([
            "--sandbox",
            "segment",
            "photos",
            "--point",
            "0.5,0.5",
            "-o",
            "masks/",
        ]),
        0,
    );
    let masks = tree(&dir.path().join("masks"));
    assert!(masks.contains(&"a.mask.png".to_owned()), "{masks:?}");
    assert!(masks.contains(&"deep/a.mask.png".to_owned()), "{masks:?}");
    assert!(
        masks
            .iter()
            .all(|m| m.starts_with("a.mask") || m.starts_with("deep/a.mask"))
    );
    assert_mask(&dir.path().join("masks/deep/a.mask.png"));
}

//! `cutout jobs status/download -p <provider>`: re-attaching to paid jobs of every provider by id.
//!
//! The jobs are made in this process with the library clients against a `cutout_sandbox`
//! started here (an in-process `--sandbox` of the CLI would forget them when it exits); the CLI
//! is pointed at it through the providers' `*_BASE_URL`/`*_API_KEY` variables. Hostile and
//! unusual answers (several results, unknown ids) come from plain loopback servers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bytes::Bytes;
use cutout::Provider;
use cutout::runtime::{ClientBuilder, FromParts, ImageSource};
use cutout_sandbox::Sandbox;
use image::GenericImageView;
use serde_json::Value;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/subject.jpg")
}

/// The binary in `dir`, with an empty environment.
fn cutout(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command.current_dir(dir).env_clear();
    command
}

/// The binary pointed at every provider of `sandbox`.
fn against_sandbox(dir: &Path, sandbox: &Sandbox) -> Command {
    let mut command = cutout(dir);
    for provider in Provider::ALL {
        let info = provider.info();
        command
            .env(info.base_url_env, sandbox.base_url(*provider))
            .env(info.key_env, sandbox.key(*provider));
    }
    command
}

/// Runs the command off the async runtime (the sandbox serves on it meanwhile) and checks its
/// exit code.
async fn run(mut command: Command, code: i32) -> Output {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file under `dir`, as relative paths, sorted (folders are walked, so one made by a
/// job id would show).
fn tree(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if entry.file_type().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names
}

fn client<C: FromParts>(sandbox: &Sandbox, provider: Provider) -> C {
    ClientBuilder::<C>::new()
        .base_url(sandbox.base_url(provider))
        .key(sandbox.key(provider))
        .build()
        .unwrap()
}

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .job_duration(Duration::from_millis(400))
        .start()
        .await
        .unwrap()
}

/// One paid job of each provider, made with the library clients; the ids as the CLI takes them.
async fn one_job_each(sandbox: &Sandbox) -> Vec<(Provider, String)> {
    let topaz: cutout::topaz::Client = client(sandbox, Provider::Topaz);
    let job = topaz
        .matting(ImageSource::path(sample()))
        .submit()
        .await
        .unwrap();
    let topaz_id = job.process_id().to_owned();

    let modelslab: cutout::modelslab::Client = client(sandbox, Provider::ModelsLab);
    let request = modelslab
        .remove_bg(ImageSource::path(sample()))
        .submit()
        .await
        .unwrap();
    let modelslab_id = request.id().unwrap().to_string();

    let tengr: cutout::artworks::Client = client(sandbox, Provider::Tengr);
    let url = sandbox
        .host_file("photo.jpg", Bytes::from(std::fs::read(sample()).unwrap()))
        .await;
    let artwork = tengr.remove_bg(url).submit().await.unwrap();
    let tengr_id = artwork.id().to_owned();

    let backgroundcut: cutout::backgroundcut::Client = client(sandbox, Provider::BackgroundCut);
    let output = backgroundcut
        .remove_bg(ImageSource::path(sample()))
        .submit()
        .await
        .unwrap();
    let key = output.output_key().unwrap().to_owned();
    assert!(key.contains('/'), "a key with a slash: {key}");

    vec![
        (Provider::Topaz, topaz_id),
        (Provider::ModelsLab, modelslab_id),
        (Provider::Tengr, tengr_id),
        (Provider::BackgroundCut, key),
    ]
}

/// The file name the CLI gives the results of `id` (its documented sanitising).
fn stem(provider: Provider, id: &str) -> String {
    let id = match (provider, id.rsplit_once('.')) {
        (Provider::BackgroundCut, Some((stem, "png" | "webp" | "jpg"))) => stem,
        _ => id,
    };
    id.replace('/', "_")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_download_re_attach_to_every_provider_s_jobs_without_paying_again() {
    let sandbox = sandbox().await;
    let jobs = one_job_each(&sandbox).await;
    let paid: Vec<usize> = Provider::ALL
        .iter()
        .map(|p| sandbox.submissions(*p))
        .collect();
    assert_eq!(paid, [1, 1, 1, 1], "one paid job per provider");
    let dir = tempfile::tempdir().unwrap();

    for (provider, id) in &jobs {
        let name = provider.name();
        // Status: one JSON line naming the provider's job.
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(["--json", "jobs", "status", "-p", name, id]);
        let output = run(command, 0).await;
        let line: Value = serde_json::from_str(stdout(&output).trim())
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", stdout(&output)));
        match provider {
            Provider::Topaz => assert_eq!(line["process_id"], id.as_str(), "{line}"),
            _ => {
                assert_eq!(line["job_id"], id.as_str(), "{line}");
                assert_eq!(line["provider"], name, "{line}");
                assert!(line["ready"].is_boolean(), "{line}");
            }
        }
        if *provider == Provider::BackgroundCut {
            assert_eq!(line["status"], "stored", "{line}");
            assert_eq!(line["ready"], true, "{line}");
        }
        // No result link (a presigned credential) is printed.
        assert!(!stdout(&output).contains("http"), "{}", stdout(&output));

        // Human status: one line starting with the id.
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(["jobs", "status", "--provider", &name.to_uppercase(), id]);
        let output = run(command, 0).await;
        assert!(
            stdout(&output).starts_with(id.as_str()),
            "{}",
            stdout(&output)
        );
        assert_eq!(stdout(&output).lines().count(), 1, "{}", stdout(&output));

        // Download: waits for the job where there is one, writes <id>.<ext>.
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(["--json", "jobs", "download", "-p", name, id, "-o", "out/"]);
        let output = run(command, 0).await;
        let record: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(record["provider"], name, "{record}");
        assert_eq!(record["job_id"], id.as_str(), "{record}");
        let written = PathBuf::from(record["output"].as_str().unwrap());
        assert_eq!(
            written.file_stem().unwrap().to_string_lossy(),
            stem(*provider, id),
            "{record}"
        );
        let image = image::open(dir.path().join(&written)).unwrap();
        assert_eq!(image.dimensions(), (320, 240), "{name}");
        let before = std::fs::read(dir.path().join(&written)).unwrap();

        // Again: the result exists, so nothing is replaced without --force.
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(["jobs", "download", "-p", name, id, "-o", "out/"]);
        let output = run(command, 1).await;
        assert!(
            stderr(&output).contains("already exists"),
            "{}",
            stderr(&output)
        );
        assert_eq!(std::fs::read(dir.path().join(&written)).unwrap(), before);
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(["jobs", "download", "-p", name, id, "-o", "out/", "--force"]);
        run(command, 0).await;
    }
    // Everything landed flat in out/ (no folder made from a key's slash), one file per job.
    let files = tree(&dir.path().join("out"));
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| !f.contains('/')), "{files:?}");
    // Looking and downloading sent no paid request.
    let after: Vec<usize> = Provider::ALL
        .iter()
        .map(|p| sandbox.submissions(*p))
        .collect();
    assert_eq!(after, paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_no_such_job_and_malformed_ones_a_usage_error() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let unknown = [
        (Provider::Topaz, "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11"),
        (Provider::ModelsLab, "987654321"),
        (Provider::Tengr, "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        (Provider::BackgroundCut, "cutout/never-written.png"),
    ];
    for (provider, id) in unknown {
        for command_name in ["status", "download"] {
            let mut command = against_sandbox(dir.path(), &sandbox);
            command.args(["jobs", command_name, "-p", provider.name(), id]);
            let output = run(command, 1).await;
            let expected = format!("no such job at {}", provider.name());
            assert!(
                stderr(&output).contains(&expected),
                "{provider} {command_name}: {}",
                stderr(&output)
            );
        }
    }
    assert_eq!(tree(dir.path()), Vec::<String>::new(), "nothing written");

    // A ModelsLab request id is a number: anything else is refused before any request.
    sandbox.clear_requests();
    let mut command = against_sandbox(dir.path(), &sandbox);
    command.args(["jobs", "download", "-p", "modelslab", "12", "abc"]);
    let output = run(command, 2).await;
    assert!(
        stderr(&output).contains("`abc` is not a ModelsLab request id"),
        "{}",
        stderr(&output)
    );
    let mut command = against_sandbox(dir.path(), &sandbox);
    command.args(["jobs", "status", "-p", "modelslab", "1.5"]);
    run(command, 2).await;
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_never_a_path_and_colliding_names_are_refused() {
    let sandbox = sandbox().await;
    let backgroundcut: cutout::backgroundcut::Client = client(&sandbox, Provider::BackgroundCut);
    // Keys are flat names chosen by whoever submitted: this one looks like an absolute path
    // into folders.
    let key = "/escape/sub folder/cut.png";
    let _ = backgroundcut
        .remove_bg(ImageSource::path(sample()))
        .variant(cutout::backgroundcut::Variant::png().output_key(key))
        .submit()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("work")).unwrap();
    let work = dir.path().join("work");
    let mut command = against_sandbox(&work, &sandbox);
    command.args(["jobs", "download", "-p", "backgroundcut", key, "-o", "out/"]);
    run(command, 0).await;
    assert_eq!(
        tree(dir.path()),
        ["work/", "work/out/", "work/out/_escape_sub_folder_cut.png"]
    );
    // Without -o the same file goes to the current folder, still flat.
    let mut command = against_sandbox(&work, &sandbox);
    command.args(["jobs", "download", "-p", "backgroundcut", key]);
    run(command, 0).await;
    assert!(work.join("_escape_sub_folder_cut.png").is_file());

    // Two ids that would share a file name: refused before anything is sent.
    sandbox.clear_requests();
    let mut command = against_sandbox(&work, &sandbox);
    command.args([
        "jobs",
        "download",
        "-p",
        "backgroundcut",
        "a/b.png",
        "a_b.png",
    ]);
    let output = run(command, 2).await;
    assert!(
        stderr(&output).contains("would both be written as a_b"),
        "{}",
        stderr(&output)
    );
    assert!(sandbox.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_works_for_tengr_and_the_topaz_only_commands_say_so() {
    let sandbox = sandbox().await;
    let jobs = one_job_each(&sandbox).await;
    let tengr_id = &jobs[2].1;
    let dir = tempfile::tempdir().unwrap();

    let mut command = against_sandbox(dir.path(), &sandbox);
    command.args(["jobs", "list", "-p", "tengr"]);
    let output = run(command, 0).await;
    assert!(
        stdout(&output).starts_with("ARTWORK ID"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains(tengr_id.as_str()));
    let mut command = against_sandbox(dir.path(), &sandbox);
    command.args(["--json", "jobs", "list", "-p", "tengr"]);
    let output = run(command, 0).await;
    let line: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["job_id"], tengr_id.as_str());
    assert_eq!(line["provider"], "tengr");

    sandbox.clear_requests();
    let refused: [(&[&str], &str); 4] = [
        (
            &["jobs", "list", "-p", "modelslab"],
            "works with topaz and tengr",
        ),
        (
            &["jobs", "cancel", "-p", "tengr", tengr_id],
            "topaz jobs only",
        ),
        (
            &["jobs", "cancel", "-p", "backgroundcut", "k.png"],
            "nothing to cancel",
        ),
        (
            &["jobs", "submit", "-p", "modelslab", "x.jpg"],
            "cutout remove-bg -p modelslab",
        ),
    ];
    for (args, says) in refused {
        let mut command = against_sandbox(dir.path(), &sandbox);
        command.args(args);
        let output = run(command, 2).await;
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // CUTOUT_PROVIDER picks the provider too.
    let mut command = against_sandbox(dir.path(), &sandbox);
    command
        .env("CUTOUT_PROVIDER", "modelslab")
        .args(["jobs", "status", "not-a-number"]);
    run(command, 2).await;
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
}

// ---------------------------------------------------------------------------------------------
// Plain loopback servers (JSON literals from the providers' docs)

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_pixel(width, height, image::Luma([255]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_results_of_one_tengr_artwork_are_numbered() {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;

    const ID: &str = "0d9c4a52-1b7e-4f0e-8a55-6e1f0c2b7d31";
    // The server's own address goes into the artwork's result links.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/v2/artworks/{id}",
            get(
                |State(base): State<String>, UrlPath(id): UrlPath<String>| async move {
                    if id != ID {
                        let body = serde_json::json!({
                            "message": "Artwork not found", "statusCode": 404, "error": "Not Found"
                        });
                        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
                    }
                    axum::Json(serde_json::json!({
                    "id": ID, "artworkType": "segmentation", "status": "succeeded",
                    "parameters": {"imageUrl": "https://example.com/street.jpg", "method": "text"},
                    "duration": 1.5, "createdAt": "2026-11-27T10:00:00.000Z",
                    "results": [format!("{base}/files/0.png"), format!("{base}/files/1.png")]
                }))
                .into_response()
                },
            ),
        )
        .route(
            "/files/{name}",
            get(|UrlPath(name): UrlPath<String>| async move {
                let size = if name == "0.png" { (8, 6) } else { (4, 3) };
                ([("content-type", "image/png")], png(size.0, size.1))
            }),
        )
        .with_state(base.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let tengr = |args: &[&str]| {
        let mut command = cutout(dir.path());
        command
            .env("TENGR_BASE_URL", &base)
            .env("TENGR_API_KEY", "loopback-test-key")
            .args(args);
        command
    };
    let output = run(tengr(&["jobs", "status", "-p", "tengr", ID]), 0).await;
    let line = stdout(&output);
    assert!(
        line.contains("succeeded") && line.contains("2 results"),
        "{line}"
    );

    run(
        tengr(&["jobs", "download", "-p", "tengr", ID, "-o", "out/"]),
        0,
    )
    .await;
    let out = dir.path().join("out");
    assert_eq!(tree(&out), [format!("{ID}-2.png"), format!("{ID}.png")]);
    assert_eq!(
        image::open(out.join(format!("{ID}.png")))
            .unwrap()
            .dimensions(),
        (8, 6)
    );
    assert_eq!(
        image::open(out.join(format!("{ID}-2.png")))
            .unwrap()
            .dimensions(),
        (4, 3)
    );

    // The second name taken: nothing is written, the first result included.
    std::fs::remove_file(out.join(format!("{ID}.png"))).unwrap();
    let output = run(
        tengr(&["jobs", "download", "-p", "tengr", ID, "-o", "out/"]),
        1,
    )
    .await;
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(&out), [format!("{ID}-2.png")]);

    let output = run(
        tengr(&[
            "jobs",
            "status",
            "-p",
            "tengr",
            "5e0c8a1d-0000-4000-8000-000000000000",
        ]),
        1,
    )
    .await;
    assert!(
        stderr(&output).contains("no such job at tengr"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modelslab_request_is_waited_for_and_its_failure_reported() {
    use axum::extract::{Path as UrlPath, State};
    use axum::routing::{get, post};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let polls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/image_editing/fetch/{id}",
            post(
                |State((base, polls)): State<(String, Arc<AtomicUsize>)>,
                 UrlPath(id): UrlPath<String>| async move {
                    let body = match id.as_str() {
                        // Queued for one more poll, then done.
                        "71" if polls.fetch_add(1, Ordering::SeqCst) == 0 => serde_json::json!({
                            "status": "processing", "tip": "Your image is processing",
                            "eta": 1, "message": "Try to fetch request after given eta",
                            "fetch_result": format!("{base}/image_editing/fetch/71"),
                            "id": 71, "output": "", "future_links": [], "meta": {}
                        }),
                        "71" => serde_json::json!({
                            "status": "success", "generationTime": 0.4, "id": 71,
                            "output": [format!("{base}/out/71.png")],
                            "proxy_links": [format!("{base}/out/71.png")], "meta": {}
                        }),
                        // Never done.
                        "74" => serde_json::json!({
                            "status": "processing", "eta": 1, "id": 74, "output": ""
                        }),
                        "72" => serde_json::json!({
                            "status": "error", "message": "the image could not be processed"
                        }),
                        other => serde_json::json!({
                            "status": "error", "message": format!("Request id {other} not found.")
                        }),
                    };
                    axum::Json(body)
                },
            ),
        )
        .route(
            "/out/{name}",
            get(|| async { ([("content-type", "image/png")], png(5, 4)) }),
        )
        .with_state((base.clone(), polls.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let modelslab = |args: &[&str]| {
        let mut command = cutout(dir.path());
        command
            .env("MODELSLAB_BASE_URL", &base)
            .env("MODELSLAB_API_KEY", "loopback-test-key")
            .args(args);
        command
    };
    let output = run(
        modelslab(&["--json", "jobs", "status", "-p", "modelslab", "72"]),
        0,
    )
    .await;
    let line: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["status"], "error");
    assert_eq!(line["ready"], false);
    assert_eq!(line["message"], "the image could not be processed");

    run(modelslab(&["jobs", "download", "-p", "modelslab", "71"]), 0).await;
    assert!(
        polls.load(Ordering::SeqCst) >= 2,
        "it waited for the request"
    );
    assert_eq!(
        image::open(dir.path().join("71.png")).unwrap().dimensions(),
        (5, 4)
    );

    let output = run(modelslab(&["jobs", "download", "-p", "modelslab", "72"]), 1).await;
    assert!(
        stderr(&output).contains("could not be processed"),
        "{}",
        stderr(&output)
    );
    // --wait-timeout bounds the whole id.
    let started = std::time::Instant::now();
    let output = run(
        modelslab(&[
            "jobs",
            "download",
            "-p",
            "modelslab",
            "74",
            "--wait-timeout",
            "2",
        ]),
        1,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr(&output).contains("74"), "{}", stderr(&output));
    let output = run(modelslab(&["jobs", "status", "-p", "modelslab", "73"]), 1).await;
    assert!(
        stderr(&output).contains("no such job at modelslab"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(dir.path()), ["71.png"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tengr_list_that_repeats_its_pages_is_not_read_forever() {
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;

    // Every page is the same 100 artworks, whatever the offset.
    let page: Vec<Value> = (0..100)
        .map(|n| {
            serde_json::json!({
                "id": format!("00000000-0000-4000-8000-{n:012}"), "artworkType": "segmentation",
                "status": "succeeded", "results": [], "createdAt": "2026-11-27T10:00:00.000Z"
            })
        })
        .collect();
    let app = axum::Router::new().route(
        "/v2/artworks",
        get(move |Query(query): Query<HashMap<String, String>>| {
            let page = page.clone();
            async move {
                assert_eq!(query.get("limit").map(String::as_str), Some("100"));
                axum::Json(page)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let mut command = cutout(dir.path());
    command
        .env("TENGR_BASE_URL", &base)
        .env("TENGR_API_KEY", "loopback-test-key")
        .args(["jobs", "list", "-p", "tengr"]);
    let output = run(command, 1).await;
    assert!(
        stderr(&output).contains("listed already"),
        "{}",
        stderr(&output)
    );
    // A bound on the pages is an error too, not a silently short list.
    let mut command = cutout(dir.path());
    command
        .env("TENGR_BASE_URL", &base)
        .env("TENGR_API_KEY", "loopback-test-key")
        .args(["jobs", "list", "-p", "tengr", "--max-pages", "1"]);
    let output = run(command, 1).await;
    assert!(
        stderr(&output).contains("--max-pages"),
        "{}",
        stderr(&output)
    );
}

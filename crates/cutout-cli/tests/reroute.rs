//! After the batch re-route (a job that failed at Topaz goes to ModelsLab), Topaz is counted
//! once per input: its failure, not also a skip as `excluded`. A loopback Topaz written from
//! its documentation (accepts, then reports the job `Failed`), ModelsLab from the sandbox.

use std::process::Command;
use std::time::Duration;

use axum::routing::{get, post};
use cutout_sandbox::{Provider, Sandbox};
use serde_json::json;

const JOB_ID: &str = "7a1c2f1e-5d55-4a8e-9a55-2f3b1c0d9e42";

/// Topaz: every submission accepted, every job reported failed.
async fn failing_topaz() -> String {
    let status = || {
        json!({
            "process_id": JOB_ID, "source_id": "src-1", "filename": "p.png",
            "input_format": "png", "output_format": "png",
            "input_height": 30, "input_width": 40, "output_height": 30, "output_width": 40,
            "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
            "crop_to_fill": false, "status": "Failed", "progress": 100,
            "eta": 1_763_799_600, "creation_time": 1_763_799_000,
            "modification_time": 1_763_799_500, "credits": 1
        })
    };
    let app = axum::Router::new()
        .route(
            "/matting/async",
            post(|| async {
                axum::Json(
                    json!({"process_id": JOB_ID, "source_id": "src-1", "eta": 1_763_799_600}),
                )
            }),
        )
        .route(
            &format!("/status/{JOB_ID}"),
            get(move || async move { axum::Json(status()) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_whose_job_failed_is_listed_and_counted_once() {
    let sandbox = Sandbox::builder()
        .job_duration(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let topaz = failing_topaz().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    for i in 0..3u8 {
        image::RgbImage::from_pixel(40, 30, image::Rgb([i * 40, 90, 200]))
            .save(dir.path().join(format!("in/p{i}.png")))
            .unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("TOPAZ_BASE_URL", &topaz)
        .env("TOPAZ_API_KEY", "loopback-test-key")
        .env("MODELSLAB_BASE_URL", sandbox.base_url(Provider::ModelsLab))
        .env("MODELSLAB_API_KEY", sandbox.key(Provider::ModelsLab))
        .args([
            "remove-bg",
            "in",
            "-o",
            "out/",
            "-j",
            "1",
            "--provider",
            "topaz,modelslab",
            "--json",
        ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(sandbox.submissions(Provider::ModelsLab), 3);
    for line in stdout.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["provider"], "modelslab", "{line}");
        let tried = line["tried"].as_array().unwrap();
        let topaz: Vec<_> = tried.iter().filter(|t| t["provider"] == "topaz").collect();
        assert_eq!(topaz.len(), 1, "Topaz once: {line}");
        assert_eq!(topaz[0]["outcome"], "failed", "{line}");
        assert_eq!(topaz[0]["class"], "job_failed", "{line}");
        assert!(!line.to_string().contains("excluded"), "{line}");
    }
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("providers: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        summary.contains("topaz: 0 served, 3 failed (job_failed)") && !summary.contains("skipped"),
        "{summary}"
    );
}

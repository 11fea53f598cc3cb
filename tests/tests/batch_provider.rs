//! `cutout::batch` through a real provider client (Topaz) against loopback servers: a run
//! dropped after the submissions were accepted is resumed by the next run without a second
//! `POST /matting/async`. Needs the providers' submit_removal/resume_removal (branch a-resume).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use cutout::batch::{Action, Batch, OutputName, RemoverWork, SqliteStore, State, Store, Unit};
use cutout::{BackgroundRemover, ImageSource, RemoveOptions, WaitPolicy};
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

const ID: &str = "7d0c1a52-0b4e-4f55-8d7a-3e9f2b6c4a10";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn status(state: &str) -> serde_json::Value {
    json!({
        "process_id": ID, "source_id": "src-1", "filename": "a.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": state, "progress": 100,
        "eta": now(), "creation_time": 1_763_799_000, "modification_time": 1_763_799_500,
        "credits": 1
    })
}

fn client(server: &RecordingServer) -> Box<dyn BackgroundRemover> {
    Box::new(
        cutout::topaz::Client::builder()
            .base_url(server.url())
            .key("batch-provider-test-key")
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_dropped_topaz_run_is_resumed_without_submitting_again() {
    let dir = tempfile::tempdir().unwrap();
    let units: Vec<Unit> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let input = dir.path().join(format!("{name}.png"));
            std::fs::write(&input, cutout_tests::sandbox::disc_png(4 + i as u32, 3)).unwrap();
            Unit::new(
                vec![ImageSource::path(&input)],
                "topaz",
                "model=RemoveBG",
                "cutout",
                OutputName::Stem(dir.path().join("out").join(name)),
                1,
            )
            .unwrap()
        })
        .collect();
    let store = Arc::new(SqliteStore::open(dir.path().join("journal.sqlite")).unwrap());
    let wait = WaitPolicy::default()
        .min_interval(Duration::from_millis(10))
        .max_interval(Duration::from_millis(50))
        .deadline(Duration::from_secs(10));

    // First run: Topaz accepts both jobs, then never answers a status read; the run is dropped.
    let accepting = RecordingServer::start(vec![
        Route::json(
            Method::POST,
            "/matting/async",
            200,
            json!({"process_id": ID, "source_id": "src-1", "eta": now()}),
        ),
        Route::json(
            Method::GET,
            &format!("/status/{ID}"),
            200,
            status("Processing"),
        )
        .delay(Duration::from_secs(60)),
    ])
    .await;
    let work = RemoverWork::new(
        client(&accepting),
        RemoveOptions::default().wait(wait.clone()),
    );
    let batch = Batch::new(store.clone());
    let run = batch.run(&work, units.clone());
    assert!(
        tokio::time::timeout(Duration::from_secs(3), run)
            .await
            .is_err()
    );
    for unit in &units {
        let row = store.get(&unit.key).unwrap().unwrap();
        assert_eq!(row.state, State::Submitted);
        assert_eq!(row.ticket.unwrap().job_id.as_deref(), Some(ID));
    }
    let posts = |s: &RecordingServer| {
        s.requests()
            .iter()
            .filter(|r| r.method == Method::POST)
            .count()
    };
    assert_eq!(posts(&accepting), 2);

    // Second run: the jobs are finished; they are re-attached, nothing is posted.
    let result = cutout_tests::sandbox::disc_png(4, 3);
    let cdn = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/out/r.png",
        200,
        result.clone(),
        "image/png",
    )])
    .await;
    let finished = RecordingServer::start(vec![
        Route::json(Method::GET, &format!("/status/{ID}"), 200, status("Completed")),
        Route::json(
            Method::GET,
            &format!("/download/{ID}"),
            200,
            json!({"download_url": format!("{}/out/r.png", cdn.url()), "head_url": format!("{}/out/r.png", cdn.url()), "expiry": now() + 3600}),
        ),
    ])
    .await;
    let work = RemoverWork::new(client(&finished), RemoveOptions::default().wait(wait));
    let report = Batch::new(store.clone())
        .run(&work, units.clone())
        .await
        .unwrap();
    assert!(report.all_succeeded(), "{report:#?}");
    assert!(
        report
            .units
            .iter()
            .all(|u| matches!(u.action, Action::Reattach(_)))
    );
    assert_eq!(
        posts(&finished),
        0,
        "a submitted job is never submitted again"
    );
    for name in ["a", "b"] {
        let out = dir.path().join("out").join(format!("{name}.png"));
        assert_eq!(std::fs::read(out).unwrap(), result);
    }
}

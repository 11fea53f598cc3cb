//! `topaz-image`'s job list against hostile loopback servers (plain axum handlers answering JSON
//! literals written from the Topaz docs, sharing no types with the client): cursors that cycle
//! or never end stop with a clear error in bounded time, and extreme time values in status
//! answers never panic.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use topaz_image::{Client, CutoutError, RetryPolicy};

const ID: &str = "0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11";

/// A status answer as Topaz documents it, with the given times.
fn status(id: &str, eta: i64, creation_time: i64, modification_time: i64) -> Value {
    json!({
        "process_id": id, "source_id": "src-1", "filename": "portrait.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": "Processing", "progress": 50,
        "eta": eta, "creation_time": creation_time, "modification_time": modification_time,
        "credits": 1
    })
}

/// The answer to `GET /status` for a cursor.
type Pager = Arc<dyn Fn(Option<&str>) -> Value + Send + Sync>;

/// Serves `GET /status` with `page(cursor)` and counts the requests.
async fn serve(
    page: impl Fn(Option<&str>) -> Value + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let page: Pager = Arc::new(page);
    let app = axum::Router::new()
        .route(
            "/status",
            get(
                |State((page, hits)): State<(Pager, Arc<AtomicUsize>)>,
                 Query(query): Query<HashMap<String, String>>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(page(query.get("cursor").map(String::as_str)))
                },
            ),
        )
        .with_state((page, hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, hits, task)
}

fn client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .key("paging-test-key")
        .retry(RetryPolicy::default().max_attempts(1))
        .build()
        .unwrap()
}

/// A page of one job pointing at `next`.
fn page_to(id: &str, next: &str) -> Value {
    json!({"data": [status(id, 0, 1_763_799_000, 1_763_799_000)],
           "pagination": {"has_next_page": true, "next_cursor": next}})
}

fn assert_stopped(error: &CutoutError, fragment: &str) {
    match error {
        CutoutError::UnexpectedResponse { message, .. } => {
            assert!(message.contains(fragment), "{message}")
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cursor_cycle_a_b_a_ends_with_an_error() {
    // No cursor → A, A → B, B → A: the previous cursor always differs from the next one, so
    // only a memory of every cursor seen ends the walk.
    let (url, hits, task) = serve(|cursor| match cursor {
        None | Some("B") => page_to("1", "A"),
        _ => page_to("2", "B"),
    })
    .await;
    let client = client(&url);

    let error = tokio::time::timeout(Duration::from_secs(10), client.list_jobs())
        .await
        .expect("the walk ends")
        .unwrap_err();
    assert_stopped(&error, "hands out the cursor `A` again");
    assert_eq!(hits.swap(0, Ordering::SeqCst), 3, "/status, A, B");

    let walked: Result<Vec<_>, _> =
        tokio::time::timeout(Duration::from_secs(10), client.job_pages(1).try_collect())
            .await
            .expect("the stream ends");
    assert_stopped(&walked.unwrap_err(), "hands out the cursor `A` again");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    task.abort();
}

#[tokio::test]
async fn endless_fresh_cursors_stop_at_the_page_limit() {
    let (url, hits, task) = serve(|cursor| {
        let n: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        page_to(&format!("job-{n}"), &(n + 1).to_string())
    })
    .await;
    let client = client(&url);
    let error = tokio::time::timeout(Duration::from_secs(10), client.list_jobs_up_to(25))
        .await
        .expect("the walk ends")
        .unwrap_err();
    assert_stopped(&error, "beyond 25 pages");
    assert_eq!(hits.swap(0, Ordering::SeqCst), 25);

    let mut pages = client.job_pages_up_to(100, 7);
    let mut jobs = 0;
    let error = loop {
        match pages.try_next().await {
            Ok(Some(_)) => jobs += 1,
            Ok(None) => panic!("the stream ended without an error"),
            Err(error) => break error,
        }
    };
    assert_stopped(&error, "beyond 7 pages");
    assert_eq!(jobs, 7);
    assert_eq!(hits.load(Ordering::SeqCst), 7);
    task.abort();
}

#[tokio::test]
async fn extreme_times_in_status_answers_do_not_panic() {
    let extremes = [i64::MIN, -1, 0, i64::MAX];
    let (url, _, task) = serve(move |_| {
        let jobs: Vec<Value> = extremes
            .iter()
            .flat_map(|&a| extremes.iter().map(move |&b| status(ID, a, b, a)))
            .collect();
        json!(jobs)
    })
    .await;
    let jobs = client(&url).list_jobs().await.unwrap();
    assert_eq!(jobs.len(), 16);
    task.abort();

    for eta in extremes {
        let body = status(ID, eta, eta, eta);
        let app = axum::Router::new().route(
            &format!("/status/{ID}"),
            get(move || {
                let body = body.clone();
                async move { axum::Json(body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let job = client(&url).job(ID);
        job.status().await.unwrap();
        // Waiting turns the ETA into a pause: bounded by the deadline, whatever the value.
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            job.wait(
                &topaz_image::WaitPolicy::default()
                    .min_interval(Duration::from_millis(10))
                    .max_interval(Duration::from_millis(20))
                    .deadline(Duration::from_millis(100)),
                |_| {},
            ),
        )
        .await
        .expect("the deadline holds");
        assert!(
            matches!(waited, Err(CutoutError::Timeout { .. })),
            "{waited:?}"
        );
        server.abort();
    }
}

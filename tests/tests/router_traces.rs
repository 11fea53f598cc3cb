//! The router's decisions as a `tracing` subscriber sees them, in a test binary of its own
//! (`tracing` caches each callsite's interest process-wide): one event per decision, with the
//! provider, the class and the decision, and neither the key nor a URL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use cutout::router::{RoutePolicy, Router};
use cutout::{ImageSource, Provider, RemoveOptions, RetryPolicy};
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

const KEY: &str = "traced-secret-key-6502";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_decision_is_traced_without_secrets() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let topaz = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/matting/async",
        402,
        json!({"message": "Insufficient credits"}),
    )])
    .await;
    let modelslab = RecordingServer::start(vec![Route::json(
        Method::POST,
        "/image_editing/removebg_mask",
        200,
        json!({
            "status": "processing", "tip": "wait", "eta": 30, "message": "queued",
            "fetch_result": "https://modelslab.com/api/v6/image_editing/fetch/77",
            "id": 77, "output": [], "future_links": [], "proxy_links": [], "meta": {}
        }),
    )])
    .await;
    let retry = RetryPolicy::default()
        .retry_submissions(false)
        .base_delay(Duration::from_millis(10));
    let router = Router::builder()
        .policy(RoutePolicy::default())
        .route(
            Provider::Topaz,
            Provider::Topaz
                .remover(topaz.url(), KEY, retry.clone())
                .unwrap(),
        )
        .route(
            Provider::ModelsLab,
            Provider::ModelsLab
                .remover(modelslab.url(), KEY, retry)
                .unwrap(),
        )
        .build()
        .unwrap();
    let source = "https://user:pw@images.example.com/p.jpg?sig=query-secret";
    for _ in 0..2 {
        let routed = router
            .submit(ImageSource::url(source), RemoveOptions::default(), &[])
            .await;
        assert_eq!(routed.served_by(), Some(Provider::ModelsLab));
    }

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let router_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cutout::router"))
        .collect();
    assert!(
        router_lines.iter().any(|l| l.contains("provider=\"topaz\"")
            && l.contains("class=\"out_of_credits\"")
            && l.contains("decision=next provider")),
        "{text}"
    );
    assert!(
        router_lines
            .iter()
            .any(|l| l.contains("provider=\"topaz\"") && l.contains("reason=\"cooling_down\"")),
        "{text}"
    );
    assert_eq!(
        router_lines
            .iter()
            .filter(|l| l.contains("provider=\"modelslab\"") && l.contains("decision=\"served\""))
            .count(),
        2,
        "{text}"
    );
    for secret in [KEY, "query-secret", "user:pw", "127.0.0.1"] {
        assert!(
            !router_lines.iter().any(|l| l.contains(secret)),
            "{secret} in {text}"
        );
    }
}

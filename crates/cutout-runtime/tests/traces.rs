//! What the request path traces, in a test binary of its own: `tracing` caches each callsite's
//! interest process-wide, and tests running beside this one on other threads without a
//! subscriber made its events go missing now and then.

// The shared helpers are more than this binary needs.
#![allow(dead_code, unused_imports)]

include!("support/transport.rs");

#[tokio::test(flavor = "current_thread")]
async fn traces_name_operation_attempt_and_status_but_never_the_key() {
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
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start(vec![answer(503), answer(200)]).await;
    let ctx = context(&BODY_AUTH, fast_retries(), Timeouts::default());
    send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/x",
        Some(serde_json::json!({})),
        "submit",
    )
    .await
    .unwrap();
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("cutout.attempt"), "{text}");
    assert!(text.contains("operation=\"submit\""), "{text}");
    assert!(text.contains("attempt=2"), "{text}");
    assert!(text.contains("status=503"), "{text}");
    assert!(text.contains("status=200"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

//! A loopback server that drains upload bodies without keeping them, for memory and speed
//! measurements of large uploads (`examples/upload_rss.rs`, `examples/bench_upload.rs`).
//!
//! Every request body is read chunk by chunk and counted, then answered with what the API's
//! upload route would answer (a JSON literal written from the provider docs). The count of the
//! request's own body travels back in the [`BODY_BYTES_HEADER`] response header, and the running
//! total of all bodies is kept in [`Sink::received`]. hyper answers `Expect: 100-continue` when
//! the body is first read, and decodes both `Content-Length` and chunked bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// The response header carrying the number of body bytes the sink read for that request.
pub const BODY_BYTES_HEADER: &str = "x-sink-body-bytes";

/// A running sink: its address and the bytes it has drained so far.
#[derive(Debug)]
pub struct Sink {
    url: String,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Binds 127.0.0.1 on a free port and serves on the current runtime until dropped.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve_sink(listener, received.clone()));
        Ok(Self {
            url,
            received,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A handle to the count of body bytes received (all requests together); `swap(0, …)` reads
    /// and resets it.
    pub fn received(&self) -> Arc<AtomicU64> {
        self.received.clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the sink on `listener` until the task is dropped, adding every drained body's length
/// to `received`.
pub async fn serve_sink(listener: tokio::net::TcpListener, received: Arc<AtomicU64>) {
    let app = axum::Router::new().fallback(drain).with_state(received);
    // `serve` only returns on a listener error, which ends the sink like a drop would.
    let _ = axum::serve(listener, app).await;
}

/// Drains the request body chunk by chunk, counting bytes, and answers like the API would.
async fn drain(State(received): State<Arc<AtomicU64>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let mut body = request.into_body().into_data_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => bytes += chunk.len() as u64,
            Err(_) => return axum::http::StatusCode::BAD_REQUEST.into_response(),
        }
    }
    received.fetch_add(bytes, Ordering::Relaxed);
    let answer = if path.ends_with("/image_editing/removebg_mask") {
        // ModelsLab `POST /api/v6/image_editing/removebg_mask`.
        serde_json::json!({
            "status": "success", "generationTime": 0.5, "id": 1,
            "output": ["https://example.com/out.png"], "proxy_links": [], "meta": {}
        })
    } else if path.ends_with("/matting/async") {
        // Topaz `POST /image/v1/matting/async`.
        serde_json::json!({
            "process_id": "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11",
            "source_id": "7e1a0c2e-9d4b-4f6a-8a39-0d6f3c1b2a77",
            "eta": 1_900_000_000u64
        })
    } else {
        // BackgroundCut `POST /v3/file-ops/upload/`.
        serde_json::json!({"success": true})
    };
    ([(BODY_BYTES_HEADER, bytes.to_string())], axum::Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn counted(response: &reqwest::Response) -> u64 {
        response.headers()[BODY_BYTES_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn counts_sized_and_chunked_bodies_and_answers_each_route() {
        let sink = Sink::start().await.unwrap();
        let client = reqwest::Client::new();

        let sized = client
            .post(format!("{}/image/v1/matting/async", sink.url()))
            .body(vec![7u8; 300_001])
            .send()
            .await
            .unwrap();
        assert_eq!(counted(&sized), 300_001);
        let answer: serde_json::Value = sized.json().await.unwrap();
        assert_eq!(answer["process_id"], "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11");

        // No length known: reqwest sends it chunked.
        let pieces = (0..5).map(|_| Ok::<_, std::io::Error>(vec![1u8; 70_000]));
        let chunked = client
            .post(format!("{}/v3/file-ops/upload/", sink.url()))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                pieces,
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(counted(&chunked), 350_000);
        assert_eq!(
            chunked.json::<serde_json::Value>().await.unwrap(),
            serde_json::json!({"success": true})
        );
        assert_eq!(sink.received().load(Ordering::Relaxed), 650_001);
    }

    #[tokio::test]
    async fn answers_expect_100_continue_before_the_body_is_sent() {
        let sink = Sink::start().await.unwrap();
        let address = sink.url().trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(
                b"POST /image/v1/matting/async HTTP/1.1\r\nHost: sink\r\nContent-Length: 5\r\n\
                  Expect: 100-continue\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"hello").await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains(&format!("{BODY_BYTES_HEADER}: 5\r\n")),
            "{answer}"
        );
    }
}

//! Hostile servers: answers that never end, error bodies that never end, downloads that trickle,
//! absurd `Retry-After` values. Each must end with a clear error in bounded time, after reading
//! far less than "endless", and without holding much memory. Plain loopback servers (axum
//! handlers, no client types); the clients are the real provider clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use cutout_runtime::{Error, Limits, RetryPolicy, Timeouts};
use futures_util::StreamExt;

const KEY: &str = "sk-hostile-test";
const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const MIB: u64 = 1 << 20;

/// Counts the bytes a server handed to the connection.
#[derive(Clone, Default)]
struct Sent(Arc<AtomicU64>);

impl Sent {
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A body that starts with `head` and then repeats `fill` forever.
fn endless(head: &'static str, fill: u8, sent: &Sent) -> Body {
    let sent = sent.clone();
    let chunk = Bytes::from(vec![fill; 64 * 1024]);
    let stream = futures_util::stream::once(async move { Bytes::from_static(head.as_bytes()) })
        .chain(futures_util::stream::repeat(chunk))
        .map(move |bytes| {
            sent.0.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            Ok::<_, std::io::Error>(bytes)
        });
    Body::from_stream(stream)
}

/// A body of `length` announced bytes sent one every `every`, that breaks off after `count`.
fn trickle(count: u64, every: Duration, sent: &Sent) -> Body {
    let sent = sent.clone();
    let stream = futures_util::stream::unfold(0u64, move |n| {
        let sent = sent.clone();
        async move {
            tokio::time::sleep(every).await;
            if n == count {
                return Some((Err(std::io::Error::other("broken off")), n + 1));
            }
            if n > count {
                return None;
            }
            sent.0.fetch_add(1, Ordering::SeqCst);
            Some((Ok(Bytes::from_static(b"x")), n + 1))
        }
    });
    Body::from_stream(stream)
}

fn response(status: u16, headers: &[(&str, &str)], body: Body) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

/// A loopback server whose answers `handler` makes from the request path.
async fn serve(
    handler: impl Fn(&str, &Sent) -> Response + Send + Sync + 'static,
) -> (String, Sent) {
    let sent = Sent::default();
    let counter = sent.clone();
    let handler = Arc::new(handler);
    let app = axum::Router::new().fallback(move |request: Request| {
        let (handler, counter) = (handler.clone(), counter.clone());
        async move { handler(request.uri().path(), &counter) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, sent)
}

fn topaz(url: &str, retry: RetryPolicy, timeouts: Timeouts, limits: Limits) -> topaz_image::Client {
    topaz_image::Client::builder()
        .base_url(url)
        .key(KEY)
        .retry(retry)
        .timeouts(timeouts)
        .limits(limits)
        .build()
        .unwrap()
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .base_delay(Duration::from_millis(10))
        .without_jitter()
}

/// A Topaz API whose status answer is endless JSON and whose output link is `link`.
async fn endless_status_server() -> (String, Sent) {
    serve(|path, sent| {
        if path.starts_with("/status/") {
            response(
                200,
                &[("content-type", "application/json")],
                endless(
                    r#"{"process_id":"x","status":"Processing","filler":""#,
                    b'a',
                    sent,
                ),
            )
        } else {
            response(404, &[], Body::empty())
        }
    })
    .await
}

async fn endless_status_case() -> (Error, Duration, u64) {
    let (url, sent) = endless_status_server().await;
    let client = topaz(
        &url,
        RetryPolicy::none(),
        Timeouts::default(),
        Limits::default(),
    );
    let started = Instant::now();
    let error = client.job(ID).status().await.unwrap_err();
    (error, started.elapsed(), sent.get())
}

#[tokio::test]
async fn an_endless_json_answer_stops_at_8_mib_with_a_clear_error() {
    let (error, elapsed, sent) = endless_status_case().await;
    let message = error.to_string();
    assert!(
        matches!(error, Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
    assert!(message.contains("larger than 8 MiB"), "{message}");
    assert!(message.contains("get_status"), "{message}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert!(sent < 32 * MIB, "the server sent {sent} bytes");
    println!("endless JSON: failed after {elapsed:?}, the server sent {sent} bytes");
}

/// Peak memory of a process that meets the endless JSON answer, measured in a child process
/// (this test binary again, running only the case) so that other tests do not count.
#[cfg(target_os = "linux")]
#[test]
fn an_endless_json_answer_keeps_peak_memory_under_64_mib() {
    const CHILD: &str = "CUTOUT_HOSTILE_MEMORY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (error, _, sent) = runtime.block_on(endless_status_case());
        assert!(error.to_string().contains("larger than 8 MiB"), "{error}");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let peak = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .to_owned();
        println!("PEAK_RSS_KB={peak} SENT={sent}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "an_endless_json_answer_keeps_peak_memory_under_64_mib",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak_kb: u64 = stdout
        .split("PEAK_RSS_KB=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no measurement in {stdout}"));
    println!("endless JSON: peak RSS {peak_kb} kB");
    assert!(peak_kb < 64 * 1024, "peak RSS {peak_kb} kB");
}

#[tokio::test]
async fn an_endless_error_body_is_cut_and_reported_by_its_status() {
    let (url, sent) = serve(|_, sent| {
        response(
            500,
            &[("content-type", "text/html")],
            endless("<html>", b'x', sent),
        )
    })
    .await;
    let client = topaz(
        &url,
        RetryPolicy::none(),
        Timeouts::default(),
        Limits::default(),
    );
    let started = Instant::now();
    let error = client.job(ID).status().await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.status(), Some(500), "{error:?}");
    assert!(
        error.raw_body().unwrap().starts_with("<html>xxx"),
        "{error:?}"
    );
    assert!(error.to_string().len() < 8 * 1024);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(
        sent.get() < 16 * MIB,
        "the server sent {} bytes",
        sent.get()
    );
}

#[tokio::test]
async fn an_endless_429_body_is_read_only_up_to_the_error_limit() {
    let (url, sent) = serve(|_, sent| {
        response(
            429,
            &[("content-type", "application/json")],
            endless("{\"message\":\"", b'x', sent),
        )
    })
    .await;
    let client = topaz(
        &url,
        quick_retries(3),
        Timeouts::default(),
        Limits::default(),
    );
    let started = Instant::now();
    let error = client.job(ID).status().await.unwrap_err();
    assert_eq!(error.status(), Some(429), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        sent.get() < 48 * MIB,
        "the server sent {} bytes",
        sent.get()
    );
}

/// A Topaz API whose output link points at `file` on the same server, answered by `file_answer`.
async fn download_server(
    file_answer: impl Fn(&Sent) -> Response + Send + Sync + 'static,
) -> (String, Sent) {
    let (url_tx, url_rx) = std::sync::mpsc::channel::<String>();
    let link = std::sync::OnceLock::<String>::new();
    let url_rx = std::sync::Mutex::new(url_rx);
    let (url, sent) = serve(move |path, sent| {
        if path.starts_with("/download/") {
            let link = link.get_or_init(|| url_rx.lock().unwrap().recv().unwrap());
            let body = format!(
                r#"{{"download_url":"{link}/files/out.png?X-Amz-Signature=s","head_url":"{link}/files/out.png","expiry":4102444800}}"#
            );
            response(200, &[("content-type", "application/json")], Body::from(body))
        } else {
            file_answer(sent)
        }
    })
    .await;
    url_tx.send(url.clone()).unwrap();
    (url, sent)
}

#[tokio::test]
async fn an_endless_download_with_an_error_status_is_cut() {
    let (url, sent) =
        download_server(|sent| response(403, &[], endless("AccessDenied", b'z', sent))).await;
    let client = topaz(
        &url,
        quick_retries(3),
        Timeouts::default(),
        Limits::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let error = client.job(ID).download_bytes(MIB).await.unwrap_err();
    assert_eq!(error.status(), Some(403), "{error:?}");
    assert!(error.raw_body().unwrap().starts_with("AccessDeniedzzz"));
    let error = client
        .job(ID)
        .download_to(dir.path().join("out.png"), false)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(403), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        sent.get() < 16 * MIB,
        "the server sent {} bytes",
        sent.get()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_endless_download_stops_at_the_size_limit() {
    let (url, sent) = download_server(|sent| {
        response(
            200,
            &[("content-type", "image/png")],
            endless("\u{89}PNG", 0, sent),
        )
    })
    .await;
    let client = topaz(
        &url,
        quick_retries(3),
        Timeouts::default(),
        Limits::default().result_file(4 * MIB),
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let error = client
        .job(ID)
        .download_to(dir.path().join("out.png"), false)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("larger than 4 MiB"), "{error}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file left"
    );
    let error = client.job(ID).download_bytes(MIB).await.unwrap_err();
    assert!(error.to_string().contains("larger than 1 MiB"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        sent.get() < 64 * MIB,
        "the server sent {} bytes",
        sent.get()
    );
}

#[tokio::test]
async fn a_trickling_download_ends_at_the_per_result_deadline_across_retries() {
    // Each attempt trickles for about a second and then breaks off, which is retried: without
    // one deadline for the whole result, four attempts would take four seconds or more.
    let (url, sent) = download_server(|sent| {
        response(
            200,
            &[("content-length", "1000")],
            trickle(10, Duration::from_millis(100), sent),
        )
    })
    .await;
    let client = topaz(
        &url,
        quick_retries(4),
        Timeouts::default().download(Duration::from_millis(2500)),
        Limits::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let error = client
        .job(ID)
        .download_to(dir.path().join("out.png"), false)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("download"), "{error}");
    assert!(
        elapsed >= Duration::from_millis(2400) && elapsed < Duration::from_millis(3500),
        "{elapsed:?}"
    );
    assert!(
        sent.get() >= 10,
        "the first attempt trickled: {}",
        sent.get()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn retry_after_extremes_neither_panic_nor_hang() {
    let headers = [
        "18446744073709551615",
        "99999999999999999999999999999",
        "-1",
        "1e300",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "",
    ];
    let bodies = [
        r#"{"retry_after": 18446744073709551615}"#,
        r#"{"retry_after": 1e300}"#,
        r#"{"retry_after": -5}"#,
        r#"{"retry_after": "99999999999999999999999"}"#,
        r#"{"retry_after": null}"#,
    ];
    let mut cases: Vec<(Option<&'static str>, &'static str)> =
        headers.iter().map(|h| (Some(*h), "{}")).collect();
    cases.extend(bodies.iter().map(|b| (None, *b)));
    for (header, body) in cases {
        let (url, _) = serve(move |_, _| {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(value) = header {
                headers.push(("retry-after", value));
            }
            response(429, &headers, Body::from(body))
        })
        .await;
        let client = topaz(
            &url,
            quick_retries(3),
            Timeouts::default(),
            Limits::default(),
        );
        let started = Instant::now();
        let error = client.job(ID).status().await.unwrap_err();
        assert_eq!(error.status(), Some(429), "{header:?} {body}: {error:?}");
        let _ = error.to_string();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{header:?} {body}: {:?}",
            started.elapsed()
        );
    }
}

/// A job list whose pages are each within the answer cap but which never ends, with fresh
/// cursors and bulky jobs, stops at the memory budget of `list_jobs` (64 MiB of jobs) instead of
/// growing until the process dies. Every request asks for pages of 100 (a busy account's
/// unpaginated list could exceed the answer cap).
#[tokio::test]
async fn an_endless_list_of_bulky_jobs_stops_at_the_memory_budget() {
    let pages = Arc::new(AtomicU64::new(0));
    let queries = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (counter, seen) = (pages.clone(), queries.clone());
    let app = axum::Router::new().fallback(move |request: Request| {
        let (counter, seen) = (counter.clone(), seen.clone());
        async move {
            seen.lock()
                .unwrap()
                .push(request.uri().query().unwrap_or_default().to_owned());
            let page = counter.fetch_add(1, Ordering::SeqCst);
            // 100 jobs of about 60 KB each: a 6 MB page, under the 8 MiB answer cap.
            let filler = "x".repeat(60_000);
            let jobs: Vec<serde_json::Value> = (0..100)
                .map(|n| {
                    serde_json::json!({"process_id": format!("{page}-{n}"), "status": "Completed",
                                       "filename": filler})
                })
                .collect();
            axum::Json(serde_json::json!({
                "data": jobs,
                "pagination": {"has_next_page": true, "next_cursor": format!("c{page}")}
            }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = topaz(
        &url,
        quick_retries(1),
        Timeouts::default(),
        Limits::default(),
    );
    let started = Instant::now();
    let error = client.list_jobs().await.unwrap_err();
    assert!(error.to_string().contains("larger than 64 MiB"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // 64 MiB of 6 MB pages: the walk stopped after about a dozen pages, not 10 000.
    let fetched = pages.load(Ordering::SeqCst);
    assert!((10..=13).contains(&fetched), "{fetched} pages");
    for query in queries.lock().unwrap().iter() {
        assert!(
            query.contains("paginated=true") && query.contains("limit=100"),
            "{query}"
        );
    }
}

/// An artwork that lists far more results than a segmentation can make is refused before any
/// result is downloaded.
#[tokio::test]
async fn an_artwork_listing_a_thousand_results_downloads_none() {
    const ARTWORK: &str = "0d6f8a52-91c4-4a7e-b1f3-5c2e7d9a0b18";
    let downloads = Arc::new(AtomicU64::new(0));
    let counter = downloads.clone();
    let (url, _) = serve(move |path, _| {
        if path.starts_with("/r/") {
            counter.fetch_add(1, Ordering::SeqCst);
            return response(200, &[("content-type", "image/png")], Body::from("png"));
        }
        response(404, &[], Body::empty())
    })
    .await;
    let results: Vec<String> = (0..1000).map(|n| format!("{url}/r/{n}.png")).collect();
    let api = cutout_tests::RecordingServer::start(vec![cutout_tests::Route::json(
        axum::http::Method::GET,
        &format!("/v2/artworks/{ARTWORK}"),
        200,
        serde_json::json!({"id": ARTWORK, "status": "succeeded", "results": results}),
    )])
    .await;
    let client = artworks_seg::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let job = client.artwork(ARTWORK).await.unwrap();
    let error = job.result_bytes().await.unwrap_err();
    assert!(error.to_string().contains("1000 results"), "{error}");
    let dir = tempfile::tempdir().unwrap();
    assert!(job.download_results(dir.path(), false).await.is_err());
    assert_eq!(downloads.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A remove-bg answer listing more output keys than variants were asked for: only the asked-for
/// outputs are fetched.
#[tokio::test]
async fn backgroundcut_fetches_only_the_outputs_it_asked_for() {
    use cutout_runtime::{BackgroundRemover, ImageSource, RemoveOptions};
    let png = cutout_tests::sandbox::disc_png(5, 4);
    let served = png.clone();
    let (host, _) = serve(move |_, _| {
        response(
            200,
            &[("content-type", "image/png")],
            Body::from(served.clone()),
        )
    })
    .await;
    let keys: Vec<String> = (0..200).map(|n| format!("out/{n}.png")).collect();
    let api = cutout_tests::RecordingServer::start(vec![
        cutout_tests::Route::json(
            axum::http::Method::POST,
            "/v3/file-ops/upload/",
            200,
            serde_json::json!({"success": true}),
        ),
        cutout_tests::Route::json(
            axum::http::Method::POST,
            "/v3/tools/ai/remove-bg/process/",
            200,
            serde_json::json!({"output_keys": keys}),
        ),
        cutout_tests::Route::json(
            axum::http::Method::POST,
            "/v3/file-ops/get-public-url/",
            200,
            serde_json::json!({"url": format!("{host}/f/result.png")}),
        ),
    ])
    .await;
    let client = backgroundcut::Client::builder()
        .base_url(api.url())
        .key(KEY)
        .build()
        .unwrap();
    let cutout = client
        .remove_background(
            ImageSource::bytes(png.clone(), "portrait.png"),
            RemoveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(cutout.bytes.as_ref(), png.as_slice());
    let public_url_calls = api
        .requests()
        .iter()
        .filter(|r| r.path == "/v3/file-ops/get-public-url/")
        .count();
    assert_eq!(public_url_calls, 1);
}

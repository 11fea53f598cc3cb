//! Where the key goes, for every provider, against plain loopback servers written from the
//! providers' docs (JSON literals, no client types): API operations under the base URL carry it;
//! result links, presigned and public links and BackgroundCut's input URLs never do, wherever
//! they point: the API's origin, a path under the base URL, a sibling path, another origin. A
//! download is a plain `GET` with no body (ModelsLab's key travels in JSON bodies).

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use cutout_runtime::{BackgroundRemover, ImageSource, RemoveOptions, RetryPolicy};
use serde_json::json;

const KEY: &str = "sk-credentials-test-0123456789";
const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
/// Every API path lives under this base path.
const BASE_PATH: &str = "/api/v1";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    /// Whether the key is anywhere in the request: a header value or the body.
    fn has_key(&self) -> bool {
        self.headers
            .values()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(KEY))
            || String::from_utf8_lossy(&self.body).contains(KEY)
    }
}

/// A fake of all four APIs under [`BASE_PATH`], and a file host on every other path. The links
/// its answers give are whatever the test put in `link` (and `input` for BackgroundCut's input).
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    link: Arc<Mutex<String>>,
}

impl Fake {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let link = Arc::new(Mutex::new(String::new()));
        let (log, result) = (seen.clone(), link.clone());
        let app = axum::Router::new().fallback(move |request: Request| {
            let (log, result) = (log.clone(), result.clone());
            async move {
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let headers = request.headers().clone();
                let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default()
                    .to_vec();
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    path: path.clone(),
                    headers,
                    body,
                });
                let link = result.lock().unwrap().clone();
                answer(&method, &path, &link)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen, link }
    }

    fn base_url(&self) -> String {
        format!("{}{BASE_PATH}", self.url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

fn json_answer(status: u16, body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
    response
}

/// The documented answers (from each provider's docs), with `link` as the result link.
fn answer(method: &Method, path: &str, link: &str) -> Response {
    let api = path.strip_prefix(BASE_PATH);
    match (method.as_str(), api) {
        // Topaz: presigned links to a job's output.
        ("GET", Some(p)) if p == format!("/download/{ID}") => json_answer(
            200,
            json!({"download_url": link, "head_url": link, "expiry": 4_102_444_800_i64}),
        ),
        // BackgroundCut: upload, remove-bg, public URL.
        ("POST", Some("/v3/file-ops/upload/")) => json_answer(200, json!({"success": true})),
        ("POST", Some("/v3/tools/ai/remove-bg/process/")) => {
            json_answer(200, json!({"output_keys": ["cutout/result.png"]}))
        }
        ("POST", Some("/v3/file-ops/get-public-url/")) => json_answer(200, json!({"url": link})),
        // ModelsLab: a mask that is ready at once.
        ("POST", Some("/image_editing/removebg_mask")) => json_answer(
            200,
            json!({
                "status": "success", "generationTime": 0.8, "id": 96709,
                "output": [link], "proxy_links": [link], "meta": {"seed": 1}
            }),
        ),
        // Tengr: a succeeded artwork.
        ("GET", Some(p)) if p == format!("/v2/artworks/{ID}") => json_answer(
            200,
            json!({
                "id": ID, "artworkType": "segmentation",
                "parameters": {"imageUrl": "https://images.example.com/street.jpg"},
                "duration": 1.5, "results": [link], "status": "succeeded",
                "createdAt": "2024-07-29T15:51:28.071Z",
            }),
        ),
        // Everything else is a file (a result or an input), on whichever path it is.
        ("GET", _) => (
            [("content-type", "image/png")],
            cutout_tests::sandbox::disc_png(24, 16),
        )
            .into_response(),
        _ => json_answer(404, json!({"message": "no such operation"})),
    }
}

/// Where a link points, relative to the API at `api.base_url()`.
fn placements(api: &Fake, other: &Fake) -> Vec<(&'static str, String)> {
    let signed = "?X-Amz-Signature=secret-signature";
    vec![
        (
            "the API's origin",
            format!("{}/files/r.png{signed}", api.url),
        ),
        (
            "a path under the base URL",
            format!("{}/files/r.png{signed}", api.base_url()),
        ),
        (
            "a sibling of the base path",
            format!("{}x/files/r.png{signed}", api.base_url()),
        ),
        (
            "another path of the host",
            format!("{}/other/r.png", api.url),
        ),
        ("another origin", format!("{}/r.png{signed}", other.url)),
    ]
}

fn retry() -> RetryPolicy {
    RetryPolicy::none()
}

/// Checks what the servers saw: API calls carry the key; file requests are bare GETs.
fn check(api: &Fake, other: &Fake, place: &str, api_calls: usize) {
    let mut seen = api.seen();
    seen.extend(other.seen());
    let (calls, files): (Vec<_>, Vec<_>) = seen.iter().partition(|s| {
        s.path.starts_with(&format!("{BASE_PATH}/"))
            && !s.path.starts_with(&format!("{BASE_PATH}/files/"))
    });
    assert_eq!(calls.len(), api_calls, "{place}: {seen:#?}");
    for call in &calls {
        assert!(
            call.has_key(),
            "{place}: an API call without the key: {call:?}"
        );
    }
    assert!(!files.is_empty(), "{place}: nothing was downloaded");
    for file in &files {
        assert_eq!(file.method, Method::GET, "{place}: {file:?}");
        assert!(!file.has_key(), "{place}: the key went to a file: {file:?}");
        assert!(
            file.body.is_empty(),
            "{place}: a download carried a body: {file:?}"
        );
        assert!(
            file.headers.get("authorization").is_none() && file.headers.get("x-api-key").is_none(),
            "{place}: {file:?}"
        );
        assert!(file.headers.get("content-length").is_none_or(|v| v == "0"));
    }
}

#[tokio::test]
async fn topaz_output_links_get_no_key_wherever_they_point() {
    let (api, other) = (Fake::start().await, Fake::start().await);
    let client = topaz_image::Client::builder()
        .base_url(api.base_url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (place, link) in placements(&api, &other) {
        *api.link.lock().unwrap() = link;
        api.clear();
        other.clear();
        let bytes = client.job(ID).download_bytes(1 << 20).await.unwrap();
        assert!(cutout_tests::sandbox::is_png(&bytes), "{place}");
        let path = dir
            .path()
            .join(format!("{}.png", api.seen().len() + other.seen().len()));
        client.job(ID).download_to(&path, true).await.unwrap();
        check(&api, &other, place, 2);
    }
}

#[tokio::test]
async fn backgroundcut_public_links_and_input_urls_get_no_key_wherever_they_point() {
    let (api, other) = (Fake::start().await, Fake::start().await);
    let client = backgroundcut::Client::builder()
        .base_url(api.base_url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    for (place, link) in placements(&api, &other) {
        *api.link.lock().unwrap() = link.clone();
        api.clear();
        other.clear();
        // The input is a URL at the same place: it is fetched here, then uploaded.
        let input = link.replace("r.png", "input.png");
        let cutout = client
            .remove_background(ImageSource::url(input), RemoveOptions::default())
            .await
            .unwrap();
        assert_eq!((cutout.width, cutout.height), (24, 16), "{place}");
        // upload, remove-bg, public URL
        check(&api, &other, place, 3);
        let files = api
            .seen()
            .into_iter()
            .chain(other.seen())
            .filter(|s| s.path.ends_with(".png"))
            .count();
        assert_eq!(files, 2, "{place}: the input and the result");
    }
}

#[tokio::test]
async fn modelslab_output_links_get_no_key_and_no_body_wherever_they_point() {
    let (api, other) = (Fake::start().await, Fake::start().await);
    let client = modelslab::Client::builder()
        .base_url(api.base_url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    for (place, link) in placements(&api, &other) {
        *api.link.lock().unwrap() = link;
        api.clear();
        other.clear();
        let cutout = client
            .remove_background(
                ImageSource::url("https://images.example.com/p.jpg"),
                RemoveOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!((cutout.width, cutout.height), (24, 16), "{place}");
        check(&api, &other, place, 1);
        // The key of the API call is in its JSON body.
        let call = api
            .seen()
            .into_iter()
            .find(|s| s.path.ends_with("/removebg_mask"))
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["key"], KEY, "{place}");
    }
}

#[tokio::test]
async fn tengr_results_get_no_key_wherever_they_point() {
    let (api, other) = (Fake::start().await, Fake::start().await);
    let client = artworks_seg::Client::builder()
        .base_url(api.base_url())
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (index, (place, link)) in placements(&api, &other).into_iter().enumerate() {
        *api.link.lock().unwrap() = link;
        api.clear();
        other.clear();
        let job = client.artwork(ID).await.unwrap();
        let results = job.result_bytes().await.unwrap();
        assert_eq!(results.len(), 1, "{place}");
        let folder = dir.path().join(index.to_string());
        std::fs::create_dir(&folder).unwrap();
        let written = job.download_results(&folder, false).await.unwrap();
        assert_eq!(written.len(), 1, "{place}");
        check(&api, &other, place, 1);
    }
}

#[tokio::test]
async fn a_redirect_from_the_api_to_outside_its_base_path_drops_the_key() {
    // The API answers a call with a redirect to a sibling path of the same host.
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let log = log.clone();
        async move {
            let path = request.uri().path().to_owned();
            log.lock().unwrap().push(Seen {
                method: request.method().clone(),
                path: path.clone(),
                headers: request.headers().clone(),
                body: Vec::new(),
            });
            if path.starts_with(BASE_PATH) {
                Response::builder()
                    .status(307)
                    .header("location", format!("/elsewhere{path}"))
                    .body(axum::body::Body::empty())
                    .unwrap()
            } else {
                json_answer(
                    200,
                    json!({"download_url": "x", "head_url": "x", "expiry": 1}),
                )
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = topaz_image::Client::builder()
        .base_url(format!("{url}{BASE_PATH}"))
        .key(KEY)
        .retry(retry())
        .build()
        .unwrap();
    // The answer's link does not matter: only the two API-side requests are looked at.
    let _ = client.job(ID).output_download_url().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(seen[0].has_key());
    assert!(seen[1].path.starts_with("/elsewhere/"));
    assert!(!seen[1].has_key(), "{:?}", seen[1]);
}

/// A caller's own `reqwest::ClientBuilder` cannot make the client follow redirects behind the
/// runtime's back (reqwest would forward `X-API-Key` to another origin): its redirect policy is
/// replaced, and the runtime's own redirect handling drops the key.
#[tokio::test]
async fn a_callers_reqwest_builder_does_not_forward_the_key_on_a_redirect() {
    use cutout_tests::{RecordingServer, Route};
    let elsewhere = RecordingServer::start(vec![Route::json(
        Method::GET,
        "/status-copy",
        200,
        json!({"process_id": ID, "status": "Processing"}),
    )])
    .await;
    let api = RecordingServer::start(vec![
        Route::json(Method::GET, &format!("/status/{ID}"), 307, json!({}))
            .header("location", &format!("{}/status-copy", elsewhere.url())),
    ])
    .await;
    let client = topaz_image::Client::builder()
        .base_url(api.url())
        .key(KEY)
        // reqwest's default policy follows redirects itself.
        .reqwest_client(reqwest::Client::builder())
        .build()
        .unwrap();
    let status = client.job(ID).status().await.unwrap();
    assert_eq!(status.status.as_str(), "Processing");
    assert_eq!(api.requests()[0].header("x-api-key").as_deref(), Some(KEY));
    let moved = elsewhere.requests();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].header("x-api-key"), None, "{:?}", moved[0].headers);
}

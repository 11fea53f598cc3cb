//! One side of the upload benchmark: a draining loopback sink, or one multipart upload of a file
//! to it through the Topaz client, the BackgroundCut client, or a hand-written reqwest stream.
//! `cargo xtask bench` runs each as its own process to measure its wall time and peak RSS, and
//! runs curl against the same sink.
//!
//! ```text
//! cargo build --release -p cutout-tests --example bench_upload
//! bench_upload sink
//!     binds 127.0.0.1:0, prints {"port":N}, drains uploads until stdin reaches EOF
//! bench_upload send --via <topaz|backgroundcut|reqwest> --url http://127.0.0.1:PORT --file PATH
//!     one upload; last stdout line {"via":"..","bytes":B,"secs":S}, where B is the body length
//!     the sink counted and S the wall time of the upload call
//! ```
//!
//! The same form and route as `--via topaz`, with curl (`-H 'Expect:'` keeps curl from waiting
//! a second for a `100 Continue`; the part's type is what the clients guess from the file's
//! extension, `image/jpeg` for a `.jpg`):
//!
//! ```text
//! curl -sS -o /dev/null -H 'Expect:' -H 'Accept: application/json' -H 'X-API-Key: bench-key' \
//!   -F mode=segmentation -F model=Object -F output_format=png \
//!   -F 'image=@FILE.jpg;type=image/jpeg' http://127.0.0.1:PORT/image/v1/matting/async
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cutout_tests::sink::{BODY_BYTES_HEADER, serve_sink};

/// The key every competitor sends; the sink ignores it.
const KEY: &str = "bench-key";
/// The route of the Topaz upload, under the sink's URL (also the `reqwest` competitor's).
const TOPAZ_BASE: &str = "/image/v1";
/// Read size of the hand-written reqwest stream: curl's upload buffer size.
const REQWEST_CHUNK: usize = 64 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sink") if args.len() == 1 => sink(),
        Some("send") => parse_send(&args[1..]).and_then(|send| send.run()),
        _ => Err(usage().into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_upload: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    "usage: bench_upload sink\n       \
     bench_upload send --via <topaz|backgroundcut|reqwest> --url http://127.0.0.1:PORT --file PATH"
        .to_owned()
}

/// Serves the sink until stdin reaches EOF (the parent closes it) or the process is killed.
fn sink() -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Default::default();
        tokio::spawn(serve_sink(listener, received));
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::json!({ "port": port }))?;
        stdout.flush()?;
        drop(stdout);
        tokio::task::spawn_blocking(|| {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            while !matches!(stdin.read(&mut buf), Ok(0) | Err(_)) {}
        })
        .await?;
        Ok(())
    })
}

/// Who sends the file.
#[derive(Clone, Copy, Debug)]
enum Via {
    Topaz,
    BackgroundCut,
    Reqwest,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Topaz => "topaz",
            Via::BackgroundCut => "backgroundcut",
            Via::Reqwest => "reqwest",
        }
    }
}

struct Upload {
    via: Via,
    url: String,
    file: PathBuf,
}

fn parse_send(args: &[String]) -> Result<Upload, BoxError> {
    let (mut via, mut url, mut file) = (None, None, None);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--via" => {
                via = Some(match value.as_str() {
                    "topaz" => Via::Topaz,
                    "backgroundcut" => Via::BackgroundCut,
                    "reqwest" => Via::Reqwest,
                    other => {
                        return Err(format!(
                            "unknown --via `{other}`: expected topaz, backgroundcut or reqwest"
                        )
                        .into());
                    }
                })
            }
            "--url" => url = Some(value.trim_end_matches('/').to_owned()),
            "--file" => file = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument `{other}`\n{}", usage()).into()),
        }
    }
    match (via, url, file) {
        (Some(via), Some(url), Some(file)) => Ok(Upload { via, url, file }),
        _ => Err(format!("send needs --via, --url and --file\n{}", usage()).into()),
    }
}

impl Upload {
    fn run(self) -> Result<(), BoxError> {
        let size = std::fs::metadata(&self.file)
            .map_err(|e| format!("cannot read `{}`: {e}", self.file.display()))?
            .len();
        // What `#[tokio::main]` gives an application.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let (bytes, secs) = runtime.block_on(self.upload())?;
        if bytes < size {
            return Err(format!(
                "the sink counted {bytes} body bytes, fewer than the file's {size}"
            )
            .into());
        }
        println!(
            "{}",
            serde_json::json!({ "via": self.via.name(), "bytes": bytes, "secs": secs })
        );
        Ok(())
    }

    /// Uploads the file once; returns the body bytes the sink counted and the call's wall time.
    async fn upload(&self) -> Result<(u64, f64), BoxError> {
        let (url, path) = (&self.url, &self.file);
        let (headers, secs) = match self.via {
            Via::Topaz => {
                let client =
                    topaz_image::Client::with_base_url(&format!("{url}{TOPAZ_BASE}"), KEY)?;
                let started = Instant::now();
                let answer = client.post_matting().image_path(path).send().await?;
                (answer.headers().clone(), started.elapsed())
            }
            Via::BackgroundCut => {
                let client = backgroundcut::Client::with_base_url(url, KEY)?;
                let started = Instant::now();
                let answer = client
                    .upload_file()
                    .file_path(path)
                    .body_map(|form| form.key("bench/upload.jpg".to_owned()))
                    .send()
                    .await?;
                (answer.headers().clone(), started.elapsed())
            }
            Via::Reqwest => {
                let client = reqwest::Client::new();
                let started = Instant::now();
                let answer = reqwest_upload(&client, url, path).await?;
                (answer, started.elapsed())
            }
        };
        let bytes = headers
            .get(BODY_BYTES_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or("the answer has no body count: is the URL a `bench_upload sink`?")?;
        Ok((bytes, secs.as_secs_f64()))
    }
}

/// The Topaz upload written directly with reqwest: the same route, headers and form (text parts
/// in the client's order, then the file streamed with its length known).
async fn reqwest_upload(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
) -> Result<reqwest::header::HeaderMap, BoxError> {
    let file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, REQWEST_CHUNK);
    let file_name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), length)
            .file_name(file_name)
            .mime_str(content_type(path))?;
    let form = reqwest::multipart::Form::new()
        .text("mode", "segmentation")
        .text("model", "Object")
        .text("output_format", "png")
        .part("image", part);
    let response = client
        .post(format!("{url}{TOPAZ_BASE}/matting/async"))
        .header("Accept", "application/json")
        .header("X-API-Key", KEY)
        .multipart(form)
        .send()
        .await?
        .error_for_status()?;
    let headers = response.headers().clone();
    response.bytes().await?;
    Ok(headers)
}

/// The type the clients guess from the extension, for the few this benchmark uses.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}

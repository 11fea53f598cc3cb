//! Per-call overhead of the Topaz client against raw reqwest: the same small JSON call (Topaz
//! `getStatus`, `GET /status/{process_id}`) to the same loopback server, decoded into the same
//! generated type, one call after another and with several in flight.
//!
//! ```text
//! cargo build --release -p cutout-tests --example bench_calls
//! target/release/examples/bench_calls [--calls N] [--concurrency C] [--rounds R]
//! ```
//!
//! `--profile client` (or `reqwest`, or `limited`) makes only that path's calls, one after the other, and
//! prints nothing else: run it under `valgrind --tool=callgrind` at two call counts, and the
//! difference of the totals divided by the difference of the counts is that path's instructions
//! per call, free of start-up costs.
//!
//! A third path is raw reqwest with a 60 s time limit, the limit the client puts on such a call
//! (`Timeouts::request`): the client keeps that promise, the plain peer does not, and the second
//! ratio shows what is left once both keep it.
//!
//! The last line of its output is one JSON object (read by `cargo xtask bench`):
//! `{"calls":N,"rounds":R,"concurrency":C,"sequential":{"client_us":..,"reqwest_us":..,"ratio":..,
//! "limited_us":..,"ratio_limited":..},"concurrent":{..}}`, where `*_us` is the median over rounds
//! of the wall time per call and `ratio` (`ratio_limited`) the median of the per-round ratios
//! client / reqwest (client / reqwest with the time limit). Each mode also has `per_round`:
//! `{"client_us":[..],"reqwest_us":[..],"limited_us":[..]}`, one value per round, so that
//! `cargo xtask bench` can pool the rounds of several processes.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use topaz_image::types::StatusResponse;

const KEY: &str = "bench-key-0123456789abcdef";
const PROCESS_ID: &str = "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11";
/// The API's base path, as in production (`https://api.topazlabs.com/image/v1`).
const BASE_PATH: &str = "/image/v1";

/// A job status as Topaz documents it (written out, not serialized from the client's types).
const STATUS_BODY: &str = r#"{
  "process_id": "4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11",
  "source_id": "7e1a0c2e-9d4b-4f6a-8a39-0d6f3c1b2a77",
  "filename": "portrait.jpg",
  "input_format": "jpeg",
  "output_format": "png",
  "input_height": 3024,
  "input_width": 4032,
  "output_height": 3024,
  "output_width": 4032,
  "category": "Matting",
  "model_type": "Matting",
  "model": "RemoveBG",
  "crop_to_fill": false,
  "status": "Processing",
  "progress": 42,
  "eta": 1900000060,
  "creation_time": 1900000000,
  "modification_time": 1900000030,
  "credits": 1
}"#;

struct Args {
    calls: usize,
    concurrency: usize,
    rounds: usize,
    /// Only this path's calls, for a profiler (`--profile client|reqwest|limited`).
    profile: Option<Path>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Client,
    Reqwest,
    /// Raw reqwest with the client's time limit.
    Limited,
}

fn parse_args() -> Args {
    let mut args = Args {
        calls: 2000,
        concurrency: 16,
        rounds: 7,
        profile: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = |it: &mut dyn Iterator<Item = String>| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .unwrap_or_else(|| panic!("{flag} needs a positive number"))
        };
        match flag.as_str() {
            "--calls" => args.calls = value(&mut it),
            "--concurrency" => args.concurrency = value(&mut it),
            "--rounds" => args.rounds = value(&mut it),
            "--profile" => {
                args.profile = Some(match it.next().as_deref() {
                    Some("client") => Path::Client,
                    Some("reqwest") => Path::Reqwest,
                    Some("limited") => Path::Limited,
                    _ => panic!("--profile needs `client`, `reqwest` or `limited`"),
                })
            }
            other => panic!(
                "unknown argument `{other}`: bench_calls [--calls N] [--concurrency C] \
                 [--rounds R] [--profile client|reqwest|limited]"
            ),
        }
    }
    args
}

/// Starts the loopback server on its own thread and runtime; returns its address.
fn start_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                &format!("{BASE_PATH}/status/{{process_id}}"),
                axum::routing::get(|| async {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        STATUS_BODY,
                    )
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// Wall time of `calls` calls made one after the other.
async fn sequential<F, Fut>(calls: usize, call: &F) -> Timing
where
    F: Fn() -> Fut,
    Fut: Future<Output = StatusResponse>,
{
    let (started, cpu) = (Instant::now(), cpu_time());
    for _ in 0..calls {
        std::hint::black_box(call().await);
    }
    Timing {
        wall: started.elapsed(),
        cpu: cpu_time() - cpu,
    }
}

/// Wall time of `calls` calls with `concurrency` in flight.
async fn concurrent<F, Fut>(calls: usize, concurrency: usize, call: &F) -> Timing
where
    F: Fn() -> Fut,
    Fut: Future<Output = StatusResponse>,
{
    let (started, cpu) = (Instant::now(), cpu_time());
    futures_util::stream::iter(0..calls)
        .map(|_| call())
        .buffer_unordered(concurrency)
        .for_each(|status| {
            std::hint::black_box(status);
            async {}
        })
        .await;
    Timing {
        wall: started.elapsed(),
        cpu: cpu_time() - cpu,
    }
}

/// Wall time, and CPU time of the whole process (both runtimes, the server's included).
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// CPU time of every thread of the process so far, from `/proc/self/task/*/schedstat` (Linux;
/// zero elsewhere). A steadier figure than wall time on a busy machine, shown for information.
fn cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Per-round figures of one mode (sequential or concurrent).
#[derive(Default)]
struct Series {
    client_us: Vec<f64>,
    reqwest_us: Vec<f64>,
    ratio: Vec<f64>,
    limited_us: Vec<f64>,
    ratio_limited: Vec<f64>,
}

/// A mode's medians.
struct Medians {
    client_us: f64,
    reqwest_us: f64,
    ratio: f64,
    limited_us: f64,
    ratio_limited: f64,
}

impl Series {
    /// Records a round; returns its line of output.
    fn push(&mut self, calls: usize, client: Timing, reqwest: Timing, limited: Timing) -> String {
        let per_call = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
        let ratio = client.wall.as_secs_f64() / reqwest.wall.as_secs_f64();
        let ratio_limited = client.wall.as_secs_f64() / limited.wall.as_secs_f64();
        self.client_us.push(per_call(client.wall));
        self.reqwest_us.push(per_call(reqwest.wall));
        self.ratio.push(ratio);
        self.limited_us.push(per_call(limited.wall));
        self.ratio_limited.push(ratio_limited);
        format!(
            "client {:7.2} µs reqwest {:7.2} µs ({ratio:.3}×) with a time limit {:7.2} µs \
             ({ratio_limited:.3}×; CPU {:6.2} / {:6.2} / {:6.2} µs)",
            per_call(client.wall),
            per_call(reqwest.wall),
            per_call(limited.wall),
            per_call(client.cpu),
            per_call(reqwest.cpu),
            per_call(limited.cpu),
        )
    }

    fn medians(&self) -> Medians {
        Medians {
            client_us: median(&self.client_us),
            reqwest_us: median(&self.reqwest_us),
            ratio: median(&self.ratio),
            limited_us: median(&self.limited_us),
            ratio_limited: median(&self.ratio_limited),
        }
    }
}

fn main() {
    let args = parse_args();
    let addr = start_server();
    let base_url = format!("http://{addr}{BASE_PATH}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The measurement runs as a task on the workers, as a server's handler would.
    let (seq_rounds, conc_rounds) = runtime
        .block_on(runtime.spawn(measure(
            args.calls,
            args.concurrency,
            args.rounds,
            args.profile,
            base_url,
        )))
        .expect("the measurement task panicked");
    if args.profile.is_some() {
        return;
    }
    let (seq, conc) = (seq_rounds.medians(), conc_rounds.medians());
    for (mode, m) in [("sequential:       ", &seq), ("16 in flight:     ", &conc)] {
        println!(
            "median per call, {mode} client {:.2} µs, reqwest {:.2} µs, ratio {:.3}; with a time limit {:.2} µs, ratio {:.3}",
            m.client_us, m.reqwest_us, m.ratio, m.limited_us, m.ratio_limited
        );
    }
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let rounded = |xs: &[f64]| xs.iter().map(|&x| round(x)).collect::<Vec<_>>();
    let mode = |m: &Medians, rounds: &Series| {
        serde_json::json!({
            "client_us": round(m.client_us),
            "reqwest_us": round(m.reqwest_us),
            "ratio": round(m.ratio),
            "limited_us": round(m.limited_us),
            "ratio_limited": round(m.ratio_limited),
            "per_round": {
                "client_us": rounded(&rounds.client_us),
                "reqwest_us": rounded(&rounds.reqwest_us),
                "limited_us": rounded(&rounds.limited_us),
            },
        })
    };
    let summary = serde_json::json!({
        "calls": args.calls,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "sequential": mode(&seq, &seq_rounds),
        "concurrent": mode(&conc, &conc_rounds),
    });
    println!("{summary}");
}

/// One status call through raw reqwest: the GET with the key header, the body decoded.
async fn raw_status(http: &reqwest::Client, url: &str) -> StatusResponse {
    let response = http
        .get(url)
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("reqwest call failed");
    assert!(response.status().is_success(), "{}", response.status());
    let body = response.bytes().await.expect("reqwest body failed");
    serde_json::from_slice::<StatusResponse>(&body).expect("decode the status")
}

async fn measure(
    calls: usize,
    concurrency: usize,
    rounds: usize,
    profile: Option<Path>,
    base_url: String,
) -> (Series, Series) {
    // (a) the client, built the way users build it.
    let client = topaz_image::Client::builder()
        .base_url(&base_url)
        .key(KEY)
        .build()
        .expect("build the Topaz client");
    let job = client.job(PROCESS_ID);
    let through_client = || async {
        job.status()
            .await
            .unwrap_or_else(|e| panic!("client call failed: {e}"))
    };

    // (b) raw reqwest: one kept-alive client, the key header, the same type decoded.
    let raw = reqwest::Client::new();
    let url = format!("{base_url}/status/{PROCESS_ID}");
    let through_reqwest = || raw_status(&raw, &url);

    // (c) raw reqwest with the time limit the client puts on such a call.
    let limited = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build the reqwest client with a time limit");
    let through_limited = || raw_status(&limited, &url);

    // All give the same answer.
    let a = through_client().await;
    let b = through_reqwest().await;
    assert!(a == b, "the two paths decoded different statuses");
    assert!(through_limited().await == b, "the two reqwest paths differ");
    assert_eq!(a.process_id, PROCESS_ID);

    match profile {
        Some(Path::Client) => {
            sequential(calls, &through_client).await;
            return Default::default();
        }
        Some(Path::Reqwest) => {
            sequential(calls, &through_reqwest).await;
            return Default::default();
        }
        Some(Path::Limited) => {
            sequential(calls, &through_limited).await;
            return Default::default();
        }
        None => {}
    }

    // Warm up: connections, pools, allocator.
    let warm = (calls / 4).max(100);
    concurrent(warm, concurrency, &through_client).await;
    concurrent(warm, concurrency, &through_reqwest).await;
    concurrent(warm, concurrency, &through_limited).await;
    sequential(warm, &through_client).await;
    sequential(warm, &through_reqwest).await;
    sequential(warm, &through_limited).await;

    let mut seq = Series::default();
    let mut conc = Series::default();
    for round in 0..rounds {
        // Each path goes first, second and third in turn.
        let mut timings = [None; 3];
        for slot in 0..3 {
            let path = (round + slot) % 3;
            timings[path] = Some(match path {
                0 => sequential(calls, &through_client).await,
                1 => sequential(calls, &through_reqwest).await,
                _ => sequential(calls, &through_limited).await,
            });
        }
        let [Some(c), Some(r), Some(l)] = timings else {
            unreachable!("every path ran");
        };
        let seq_line = seq.push(calls, c, r, l);
        let mut timings = [None; 3];
        for slot in 0..3 {
            let path = (round + slot) % 3;
            timings[path] = Some(match path {
                0 => concurrent(calls, concurrency, &through_client).await,
                1 => concurrent(calls, concurrency, &through_reqwest).await,
                _ => concurrent(calls, concurrency, &through_limited).await,
            });
        }
        let [Some(c), Some(r), Some(l)] = timings else {
            unreachable!("every path ran");
        };
        let conc_line = conc.push(calls, c, r, l);
        println!(
            "round {}: sequential {seq_line}; {concurrency} in flight {conc_line}",
            round + 1
        );
    }
    (seq, conc)
}

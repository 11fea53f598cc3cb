//! What the batch journal costs, next to what it guards: an HTTP round trip.
//!
//! ```text
//! cargo run --release -p cutout --features batch --example journal_bench [-- INPUTS]
//! ```
//!
//! Prints medians of: planning INPUTS (default 10,000) small images (content hash + header
//! probe + journal lookups) against an empty journal and against one where every unit is done
//! (the re-run, which also hashes every output); the journal's cost per job (its three
//! durable transitions: submitting, submitted, done); and one loopback HTTP round trip. The
//! last line repeats them as one JSON object, for `cargo xtask bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cutout::ImageSource;
use cutout::batch::{OutputName, OutputRecord, SqliteStore, Store, Unit, hash_file, plan};
use cutout::runtime::JobTicket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn small_png() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(64, 64, |x, y| image::Rgba([x as u8, y as u8, 90, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode");
    out
}

/// Hashes and probes every input: what a CLI does to turn a folder into units.
fn units(dir: &std::path::Path, n: usize) -> Vec<Unit> {
    (0..n)
        .map(|i| {
            let input = dir.join("in").join(format!("{i:05}.png"));
            let source = ImageSource::path(&input);
            source.probe("image").expect("probe").expect("an image");
            Unit::new(
                vec![source],
                "topaz",
                "model=remove-bg",
                "cutout",
                OutputName::Stem(dir.join("out").join(format!("{i:05}"))),
                1,
            )
            .expect("unit")
        })
        .collect()
}

/// A loopback HTTP/1.1 server answering every request with a small JSON body, keep-alive.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buffer[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let body = br#"{"status":"Completed","process_id":"bench"}"#;
                        // One write: a head and a body sent apart meet delayed ACKs (40 ms).
                        let mut answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        answer.extend_from_slice(body);
                        if socket.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{address}/status")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("INPUTS is a number"));
    let dir = tempfile::tempdir_in(".").expect("temporary folder");
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("in")).expect("mkdir");
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    let png = small_png();
    for i in 0..n {
        // Distinct contents (bytes after the image's end), so every input is its own unit.
        let mut bytes = png.clone();
        bytes.extend_from_slice(format!("{i}").as_bytes());
        std::fs::write(root.join("in").join(format!("{i:05}.png")), bytes).expect("write");
    }
    println!(
        "{n} inputs of {} bytes each in {}",
        png.len(),
        root.display()
    );

    // Planning against an empty journal: hash + probe + lookups.
    let store = Arc::new(SqliteStore::open(root.join("journal.sqlite")).expect("journal"));
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let units = units(&root, n);
        let planned = plan(&*store, &units, Default::default()).expect("plan");
        assert_eq!(planned.totals.get("submit"), Some(&n));
        samples.push(start.elapsed());
    }
    let plan_new = median(samples);

    // Every unit done, its output written: the re-run plan also proves each output intact.
    let all = units(&root, n);
    for unit in &all {
        let path = unit.output.path_for(0, "png");
        std::fs::write(&path, &png).expect("write output");
        let (size, sha256) = hash_file(&path).expect("hash");
        store.begin_submit(unit).expect("journal");
        store
            .mark_submitted(&unit.key, &JobTicket::new("topaz", "p"))
            .expect("journal");
        store
            .mark_done(
                &unit.key,
                &[OutputRecord {
                    path,
                    size,
                    sha256,
                    index: 0,
                }],
            )
            .expect("journal");
    }
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let units = units(&root, n);
        let planned = plan(&*store, &units, Default::default()).expect("plan");
        assert_eq!(planned.totals.get("skip"), Some(&n));
        samples.push(start.elapsed());
    }
    let plan_done = median(samples);

    // The journal per job: three durable transactions.
    let jobs = units(&root, 500.min(n));
    let fresh = SqliteStore::open(root.join("per-job.sqlite")).expect("journal");
    let mut per_job = Vec::new();
    for unit in &jobs {
        let start = Instant::now();
        fresh.begin_submit(unit).expect("journal");
        fresh
            .mark_submitted(&unit.key, &JobTicket::new("topaz", "p"))
            .expect("journal");
        fresh.mark_done(&unit.key, &[]).expect("journal");
        per_job.push(start.elapsed());
    }
    let journal_job = median(per_job);

    // What synchronous=FULL costs over NORMAL: the same three transactions on a bare table.
    let mut sync_cost = Vec::new();
    for mode in ["NORMAL", "FULL"] {
        let c = rusqlite::Connection::open(root.join(format!("sync-{mode}.sqlite"))).expect("open");
        c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .expect("wal");
        c.pragma_update(None, "synchronous", mode).expect("sync");
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, s TEXT)")
            .expect("table");
        let mut samples = Vec::new();
        for k in 0..500 {
            let start = Instant::now();
            c.execute("INSERT INTO t VALUES (?1, 'submitting')", [k])
                .expect("insert");
            c.execute("UPDATE t SET s = 'submitted' WHERE k = ?1", [k])
                .expect("update");
            c.execute("UPDATE t SET s = 'done' WHERE k = ?1", [k])
                .expect("update");
            samples.push(start.elapsed());
        }
        sync_cost.push((mode, median(samples)));
    }

    // One loopback HTTP round trip (connection kept alive), and one on a new connection.
    let url = serve().await;
    let client = reqwest::Client::new();
    let mut warm = Vec::new();
    for _ in 0..500 {
        let start = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        assert!(!body.is_empty());
        warm.push(start.elapsed());
    }
    let http_warm = median(warm);
    let mut cold = Vec::new();
    for _ in 0..200 {
        let client = reqwest::Client::new();
        let start = Instant::now();
        client
            .get(&url)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        cold.push(start.elapsed());
    }
    let http_cold = median(cold);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("| measurement (median) | time |");
    println!("|---|---|");
    println!(
        "| plan {n} inputs, empty journal (hash + probe + lookups) | {:.0} ms ({:.1} µs/input) |",
        ms(plan_new),
        ms(plan_new) * 1000.0 / n as f64
    );
    println!(
        "| plan {n} inputs, all done (also hashes every output) | {:.0} ms ({:.1} µs/input) |",
        ms(plan_done),
        ms(plan_done) * 1000.0 / n as f64
    );
    println!(
        "| journal per job (submitting + submitted + done, synchronous=FULL) | {:.3} ms |",
        ms(journal_job)
    );
    for (mode, d) in &sync_cost {
        println!(
            "| 3 bare WAL transactions, synchronous={mode} | {:.3} ms |",
            ms(*d)
        );
    }
    println!(
        "| loopback HTTP round trip, kept-alive connection | {:.3} ms |",
        ms(http_warm)
    );
    println!(
        "| loopback HTTP round trip, new connection | {:.3} ms |",
        ms(http_cold)
    );
    println!(
        "| ratio journal per job / kept-alive round trip | {:.2} |",
        ms(journal_job) / ms(http_warm)
    );
    println!(
        "| ratio journal per job / new-connection round trip | {:.2} |",
        ms(journal_job) / ms(http_cold)
    );
    // The last line, for `cargo xtask bench`.
    let sync_ms: serde_json::Map<String, serde_json::Value> = sync_cost
        .iter()
        .map(|(mode, d)| (mode.to_string(), ms(*d).into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "inputs": n,
            "plan_new_ms": ms(plan_new),
            "plan_done_ms": ms(plan_done),
            "journal_job_ms": ms(journal_job),
            "sync_ms": sync_ms,
            "http_warm_ms": ms(http_warm),
            "http_cold_ms": ms(http_cold),
        })
    );
}

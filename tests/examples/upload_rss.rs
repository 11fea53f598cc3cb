//! Uploads a large file through the Topaz and BackgroundCut clients to a local server that
//! discards what it receives, and reports the peak memory of the process. Uploads are streamed
//! from disk, so the peak should not grow with the file.
//!
//! With a second argument it then sends an image of that many MiB to ModelsLab, which takes
//! images inline as a base64 data URI inside its JSON body. That body is streamed too (the
//! image is encoded chunk by chunk as it goes out), so the peak should not grow with the image
//! either; the example raises the client's inline limit (`Limits::inline_image`, 64 MiB by
//! default) to the image's size, and reports how much the peak grew.
//!
//! ```text
//! cargo build --release -p cutout-tests --example upload_rss
//! /usr/bin/time -v target/release/examples/upload_rss 1024      # MiB; prints bytes sent and VmHWM
//! target/release/examples/upload_rss 64 256                     # also a 256 MiB ModelsLab image
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cutout_tests::sink::Sink;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args().nth(1).map_or(Ok(1024), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("large.jpg");
    // A sparse file: the size is real for every read, without writing a gigabyte first.
    let file = std::fs::File::create(&path)?;
    file.set_len(mib * 1024 * 1024)?;
    drop(file);

    let sink = Sink::start().await?;
    let url = sink.url().to_owned();
    let received = sink.received();
    println!(
        "file: {mib} MiB; peak RSS before uploads: {} KiB",
        peak_rss_kib()
    );

    let topaz = topaz_image::Client::with_base_url(&format!("{url}/image/v1"), "bench-key")?;
    let started = Instant::now();
    topaz.post_matting().image_path(&path).send().await?;
    report("topaz post_matting", &received, started);

    let backgroundcut = backgroundcut::Client::with_base_url(&url, "bench-key")?;
    let started = Instant::now();
    backgroundcut
        .upload_file()
        .file_path(&path)
        .body_map(|form| form.key("bench/large.jpg".to_owned()))
        .send()
        .await?;
    report("backgroundcut upload_file", &received, started);
    println!("peak RSS (VmHWM): {} KiB", peak_rss_kib());

    if let Some(inline_mib) = std::env::args().nth(2) {
        let inline_mib: u64 = inline_mib.parse()?;
        // A PNG header (so the local format check passes) followed by filler.
        let image = dir.path().join("inline.png");
        let mut header = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        header.extend_from_slice(&4000u32.to_be_bytes());
        header.extend_from_slice(&3000u32.to_be_bytes());
        header.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut file = std::fs::File::create(&image)?;
        file.write_all(&header)?;
        file.set_len(inline_mib * 1024 * 1024)?;
        drop(file);
        let before = peak_rss_kib();
        let modelslab = modelslab::Client::builder()
            .base_url(format!("{url}/api/v6"))
            .key("bench-key")
            .limits(modelslab::Limits::default().inline_image(inline_mib * 1024 * 1024))
            .build()?;
        let started = Instant::now();
        // The first answer is enough: what is measured is the request, not the job.
        let _first_answer = modelslab
            .remove_bg(modelslab::ImageSource::path(&image))
            .submit()
            .await?;
        let bytes = received.swap(0, Ordering::Relaxed);
        let after = peak_rss_kib();
        println!(
            "modelslab removebg_mask ({inline_mib} MiB image inline): server received {bytes} bytes \
             in {:.2} s; peak RSS {before} -> {after} KiB (+{:.1} MiB, {:.3}× the image)",
            started.elapsed().as_secs_f64(),
            after.saturating_sub(before) as f64 / 1024.0,
            after.saturating_sub(before) as f64 / (inline_mib * 1024) as f64
        );
    }
    std::io::stdout().flush()?;
    Ok(())
}

fn report(what: &str, received: &AtomicU64, started: Instant) {
    let bytes = received.swap(0, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{what}: server received {bytes} bytes in {seconds:.2} s ({:.0} MiB/s); peak RSS so far {} KiB",
        bytes as f64 / 1048576.0 / seconds,
        peak_rss_kib()
    );
}

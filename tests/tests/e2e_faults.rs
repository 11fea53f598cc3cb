//! End to end under injected faults: 200 one-call cut-outs per provider, 16 at a time, against a
//! sandbox that rate-limits, fails, drops, slows down and truncates a share of the requests
//! (seeded). Every job must finish with the right image, and no paid job may be submitted twice.
//! Then the faults a client must not paper over: a dropped or 502'd submission is not sent again,
//! and a 500 surfaces as an error.

use std::time::Duration;

use cutout_runtime::{BackgroundRemover, CutoutKind, Error, ImageSource, RemoveOptions};
use cutout_tests::sandbox::{
    self as sb, FaultKind, FaultRates, Faults, LoggedRequest, Provider, Sandbox, assert_cutout,
    assert_mask, fault_counts, requests_to,
};
use futures_util::{StreamExt, stream};

const JOBS: usize = 200;
const CONCURRENCY: usize = 16;

/// The faults of the run: on paid submissions only those a server surely did not act on (so the
/// client may send them again); on everything else, every kind of trouble.
fn hostile() -> Faults {
    let slow_by = Duration::from_millis(100);
    Faults {
        on_submissions: FaultRates {
            rate_limited: 0.1,
            unavailable: 0.05,
            retry_after_secs: 1,
            ..FaultRates::default()
        },
        on_other: FaultRates {
            rate_limited: 0.05,
            unavailable: 0.05,
            bad_gateway: 0.05,
            dropped: 0.05,
            slow: 0.05,
            slow_by,
            retry_after_secs: 1,
            ..FaultRates::default()
        },
        on_downloads: FaultRates {
            truncated: 0.05,
            dropped: 0.05,
            ..FaultRates::default()
        },
    }
}

async fn hostile_sandbox() -> Sandbox {
    sb::sandbox_builder()
        .seed(2024)
        .job_duration(Duration::from_millis(100))
        .faults(hostile())
        .modelslab_queue_cap(CONCURRENCY)
        .modelslab_retry_after(1)
        .start()
        .await
        .expect("sandbox")
}

/// Job `i`'s input size: sizes vary, so a result mixed up with another job's would show.
fn size_of_job(i: usize) -> (u32, u32) {
    (64 + 2 * (i % 16) as u32, 48 + (i % 9) as u32)
}

/// One job: its input, the kind of result asked for, and the input's size.
struct Job {
    source: ImageSource,
    kind: CutoutKind,
    size: (u32, u32),
}

/// Runs every job through `remover`, `CONCURRENCY` at a time, and checks every result.
async fn run_all(remover: &dyn BackgroundRemover, jobs: Vec<Job>) {
    let failures: Vec<String> = stream::iter(jobs.into_iter().enumerate())
        .map(|(i, job)| async move {
            let options = RemoveOptions::default().kind(job.kind).wait(sb::wait());
            let cutout = remover
                .remove_background(job.source, options)
                .await
                .map_err(|e| format!("job {i}: {e}"))?;
            let (width, height) = job.size;
            assert_eq!(cutout.kind, job.kind);
            match job.kind {
                CutoutKind::Mask => assert_mask(&cutout.bytes, width, height).dimensions(),
                _ => assert_cutout(&cutout.bytes, width, height).dimensions(),
            };
            Ok::<(), String>(())
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {JOBS} jobs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checks the log of a run: each paid job accepted exactly once, and faults of every configured
/// kind were really injected, on submissions, other API calls and downloads.
fn check_log(sandbox: &Sandbox, provider: Provider, downloads: &[FaultKind]) {
    assert_eq!(
        sandbox.submissions(provider),
        JOBS,
        "{provider}: every job accepted exactly once (no duplicate paid submission)"
    );
    let api = requests_to(sandbox, Some(provider));
    let (submissions, other): (Vec<LoggedRequest>, Vec<LoggedRequest>) =
        api.into_iter().partition(|r| r.submission);
    let accepted = submissions
        .iter()
        .filter(|r| r.fault.is_none() && r.status < 300)
        .count();
    assert_eq!(
        accepted, JOBS,
        "{provider}: one successful submission per job"
    );
    let on_submissions = fault_counts(&submissions);
    for kind in [FaultKind::RateLimited, FaultKind::Unavailable] {
        assert!(
            on_submissions.get(&kind).copied().unwrap_or(0) > 0,
            "{provider}: no {kind:?} on submissions: {on_submissions:?}"
        );
    }
    assert!(
        on_submissions
            .keys()
            .all(|k| matches!(k, FaultKind::RateLimited | FaultKind::Unavailable)),
        "{on_submissions:?}"
    );
    assert_eq!(
        submissions.len(),
        JOBS + on_submissions.values().sum::<usize>(),
        "{provider}: a submission is re-sent only after a fault"
    );
    let on_other = fault_counts(&other);
    for kind in [
        FaultKind::RateLimited,
        FaultKind::Unavailable,
        FaultKind::BadGateway,
        FaultKind::Dropped,
        FaultKind::Slow,
    ] {
        assert!(
            on_other.get(&kind).copied().unwrap_or(0) > 0,
            "{provider}: no {kind:?} on other API requests: {on_other:?}"
        );
    }
    let on_downloads = fault_counts(&requests_to(sandbox, None));
    for kind in downloads {
        assert!(
            on_downloads.get(kind).copied().unwrap_or(0) > 0,
            "{provider}: no {kind:?} on downloads: {on_downloads:?}"
        );
    }
    eprintln!(
        "{provider}: {} submissions ({on_submissions:?}), {} other ({on_other:?}), downloads \
         {on_downloads:?}",
        submissions.len(),
        other.len()
    );
}

fn jpeg(i: usize) -> (Vec<u8>, (u32, u32)) {
    let size = size_of_job(i);
    (sb::disc_jpeg(size.0, size.1), size)
}

fn kind_of(i: usize) -> CutoutKind {
    if i.is_multiple_of(2) {
        CutoutKind::Rgba
    } else {
        CutoutKind::Mask
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topaz_finishes_200_jobs_under_faults() {
    let sandbox = hostile_sandbox().await;
    let client = sb::topaz(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let (bytes, size) = jpeg(i);
        // A third each: bytes, a file streamed from disk (re-opened for each attempt), and a
        // URL Topaz fetches itself.
        let source = match i % 3 {
            0 => ImageSource::bytes(bytes, format!("disc-{i}.jpg")),
            1 => {
                let path = dir.path().join(format!("disc-{i}.jpg"));
                std::fs::write(&path, bytes).unwrap();
                ImageSource::path(path)
            }
            _ => ImageSource::url(
                sandbox
                    .host_file(&format!("in/{i}.jpg"), bytes.into())
                    .await,
            ),
        };
        jobs.push(Job {
            source,
            kind: kind_of(i),
            size,
        });
    }
    run_all(&client, jobs).await;
    check_log(
        &sandbox,
        Provider::Topaz,
        &[FaultKind::Truncated, FaultKind::Dropped],
    );
    assert_eq!(sandbox.credits(Provider::Topaz), 1000 - JOBS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backgroundcut_finishes_200_jobs_under_faults() {
    let sandbox = hostile_sandbox().await;
    let client = sb::backgroundcut(&sandbox);
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let (bytes, size) = jpeg(i);
        // Half as bytes, half as URLs (downloaded by the client, through the faults, then
        // uploaded).
        let source = if i % 4 < 2 {
            ImageSource::bytes(bytes, format!("disc-{i}.jpg"))
        } else {
            ImageSource::url(
                sandbox
                    .host_file(&format!("in/{i}.jpg"), bytes.into())
                    .await,
            )
        };
        jobs.push(Job {
            source,
            kind: CutoutKind::Rgba,
            size,
        });
    }
    run_all(&client, jobs).await;
    check_log(
        &sandbox,
        Provider::BackgroundCut,
        &[FaultKind::Truncated, FaultKind::Dropped],
    );
    assert_eq!(sandbox.credits(Provider::BackgroundCut), 1000 - JOBS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modelslab_finishes_200_jobs_under_faults() {
    let sandbox = hostile_sandbox().await;
    let client: modelslab::Client = sb::client_builder(&sandbox, Provider::ModelsLab)
        .max_concurrent_jobs(Some(CONCURRENCY))
        .build()
        .unwrap();
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let (bytes, size) = jpeg(i);
        // Half by URL, half inline as data URIs.
        let source = if i % 4 < 2 {
            ImageSource::url(
                sandbox
                    .host_file(&format!("in/{i}.jpg"), bytes.into())
                    .await,
            )
        } else {
            ImageSource::bytes(bytes, format!("disc-{i}.jpg"))
        };
        jobs.push(Job {
            source,
            kind: kind_of(i),
            size,
        });
    }
    run_all(&client, jobs).await;
    check_log(
        &sandbox,
        Provider::ModelsLab,
        &[FaultKind::Truncated, FaultKind::Dropped],
    );
    let queue_full = requests_to(&sandbox, Some(Provider::ModelsLab))
        .iter()
        .filter(|r| r.status == 429 && r.fault.is_none())
        .count();
    assert_eq!(queue_full, 0, "the job slots kept the queue under its cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tengr_finishes_200_jobs_under_faults() {
    let sandbox = hostile_sandbox().await;
    let client = sb::tengr(&sandbox);
    let mut jobs = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let (bytes, size) = jpeg(i);
        let url = sandbox
            .host_file(&format!("in/{i}.jpg"), bytes.into())
            .await;
        jobs.push(Job {
            source: ImageSource::url(url),
            kind: CutoutKind::Rgba,
            size,
        });
    }
    run_all(&client, jobs).await;
    check_log(
        &sandbox,
        Provider::Tengr,
        &[FaultKind::Truncated, FaultKind::Dropped],
    );
    assert_eq!(sandbox.credits(Provider::Tengr), 1000 - JOBS as i64);
}

// ---------------------------------------------------------------------------------------------
// Faults a client must not retry

/// Each provider's client, as a `BackgroundRemover`, with an input it can take.
async fn remover_and_input(
    sandbox: &Sandbox,
    provider: Provider,
) -> (Box<dyn BackgroundRemover>, ImageSource) {
    let bytes = sb::disc_jpeg(sb::WIDTH, sb::HEIGHT);
    match provider {
        Provider::Topaz => (
            Box::new(sb::topaz(sandbox)),
            ImageSource::bytes(bytes, "disc.jpg"),
        ),
        Provider::BackgroundCut => (
            Box::new(sb::backgroundcut(sandbox)),
            ImageSource::bytes(bytes, "disc.jpg"),
        ),
        Provider::ModelsLab => (
            Box::new(sb::modelslab(sandbox)),
            ImageSource::bytes(bytes, "disc.jpg"),
        ),
        Provider::Tengr => (
            Box::new(sb::tengr(sandbox)),
            ImageSource::url(sandbox.host_file("disc.jpg", bytes.into()).await),
        ),
        other => panic!("no simulator for {other}"),
    }
}

/// Runs one cut-out of `provider` against a sandbox with `faults` and returns the error and the
/// provider's requests.
async fn fail_once(provider: Provider, faults: Faults) -> (Error, Sandbox, Vec<LoggedRequest>) {
    let sandbox = sb::start_sandbox().await;
    let (remover, input) = remover_and_input(&sandbox, provider).await;
    sandbox.set_faults(faults);
    let error = remover
        .remove_background(input, RemoveOptions::default().wait(sb::wait()))
        .await
        .expect_err("the fault surfaces");
    let log = requests_to(&sandbox, Some(provider));
    (error, sandbox, log)
}

fn on_submissions(rates: FaultRates) -> Faults {
    Faults {
        on_submissions: rates,
        ..Faults::default()
    }
}

#[tokio::test]
async fn a_dropped_submission_is_never_sent_again() {
    for provider in Provider::ALL.iter().copied() {
        let (error, sandbox, log) = fail_once(
            provider,
            on_submissions(FaultRates {
                dropped: 1.0,
                ..FaultRates::default()
            }),
        )
        .await;
        let submissions: Vec<_> = log.iter().filter(|r| r.submission).collect();
        assert_eq!(submissions.len(), 1, "{provider}: {log:#?}");
        assert_eq!(submissions[0].fault, Some(FaultKind::Dropped));
        assert_eq!(sandbox.submissions(provider), 0);
        assert!(
            matches!(
                error,
                Error::Transport {
                    maybe_sent: true,
                    ..
                }
            ),
            "{provider}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("it may have been accepted, so it was not sent again"),
            "{provider}: {message}"
        );
        assert!(
            error.is_retryable(),
            "the caller may decide to check and retry"
        );
    }
}

#[tokio::test]
async fn a_submission_whose_answer_is_lost_was_accepted_once_and_is_never_sent_again() {
    for provider in Provider::ALL.iter().copied() {
        let (error, sandbox, log) = fail_once(
            provider,
            on_submissions(FaultRates {
                answer_lost: 1.0,
                ..FaultRates::default()
            }),
        )
        .await;
        let submissions: Vec<_> = log.iter().filter(|r| r.submission).collect();
        assert_eq!(submissions.len(), 1, "{provider}: {log:#?}");
        assert_eq!(submissions[0].fault, Some(FaultKind::AnswerLost));
        // The provider did the paid work: exactly once, because the client did not re-send.
        assert_eq!(sandbox.submissions(provider), 1, "{provider}");
        assert!(
            matches!(
                error,
                Error::Transport {
                    maybe_sent: true,
                    ..
                }
            ),
            "{provider}: {error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("it may have been accepted, so it was not sent again"),
            "{provider}: {error}"
        );
    }
}

#[tokio::test]
async fn a_502_on_a_submission_is_not_sent_again_but_a_503_is() {
    for provider in Provider::ALL.iter().copied() {
        let (error, sandbox, log) = fail_once(
            provider,
            on_submissions(FaultRates {
                bad_gateway: 1.0,
                ..FaultRates::default()
            }),
        )
        .await;
        assert_eq!(error.status(), Some(502), "{provider}: {error}");
        assert_eq!(log.iter().filter(|r| r.submission).count(), 1, "{provider}");
        assert_eq!(sandbox.submissions(provider), 0);

        // Refused before anything was done: sent again, as often as the policy allows.
        let (error, sandbox, log) = fail_once(
            provider,
            on_submissions(FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            }),
        )
        .await;
        assert_eq!(error.status(), Some(503), "{provider}: {error}");
        assert_eq!(
            log.iter().filter(|r| r.submission).count(),
            sb::retry().max_attempts as usize,
            "{provider}"
        );
        assert_eq!(sandbox.submissions(provider), 0);
    }
}

#[tokio::test]
async fn a_500_surfaces_as_an_error() {
    for provider in Provider::ALL.iter().copied() {
        // On the paid request.
        let (error, sandbox, log) = fail_once(
            provider,
            on_submissions(FaultRates {
                internal: 1.0,
                ..FaultRates::default()
            }),
        )
        .await;
        assert_eq!(error.status(), Some(500), "{provider}: {error:?}");
        assert!(matches!(error, Error::Service(_)), "{provider}: {error:?}");
        assert!(error.to_string().contains("retry later"), "{error}");
        assert_eq!(log.iter().filter(|r| r.submission).count(), 1, "{provider}");
        assert_eq!(sandbox.submissions(provider), 0);

        // On the first request that is not paid (an upload, a status, a fetch): not retried
        // either; a job the server accepted before it stays accepted.
        let (error, sandbox, log) = fail_once(
            provider,
            Faults {
                on_other: FaultRates {
                    internal: 1.0,
                    ..FaultRates::default()
                },
                ..Faults::default()
            },
        )
        .await;
        assert_eq!(error.status(), Some(500), "{provider}: {error:?}");
        let failed: Vec<_> = log.iter().filter(|r| r.status == 500).collect();
        assert_eq!(failed.len(), 1, "{provider}: not retried: {log:#?}");
        let expected_jobs = match provider {
            // BackgroundCut uploads before its paid call, so nothing was submitted.
            Provider::BackgroundCut => 0,
            _ => 1,
        };
        assert_eq!(sandbox.submissions(provider), expected_jobs, "{provider}");
    }
}

//! The provider router against the in-process sandbox (the acceptance scenarios):
//! Topaz out of credits with 8 inputs 2 at a time, a Topaz outage that opens its breaker and
//! a probe that brings it back, a 429 storm with a long Retry-After, and a slow submission that
//! may have been taken. The sandbox's counters show that nothing was paid twice.

use std::time::Duration;

use cutout::router::{
    AttemptOutcome, BreakerPolicy, Decision, ErrorClass, RoutePolicy, Routed, Router, SkipReason,
};
use cutout::{Cutout, ImageSource, Provider, RemoveOptions, RetryPolicy, Timeouts};
use cutout_tests::sandbox::{
    self as sb, FaultRates, Faults, HEIGHT, Sandbox, WIDTH, disc_png, start_sandbox,
};
use futures_util::StreamExt;

fn retry() -> RetryPolicy {
    sb::retry().retry_submissions(false)
}

fn options() -> RemoveOptions {
    RemoveOptions::default().wait(sb::wait())
}

fn input(n: usize) -> ImageSource {
    ImageSource::bytes(disc_png(WIDTH, HEIGHT), format!("photo-{n}.png"))
}

/// Topaz then ModelsLab, both at the sandbox.
fn router(sandbox: &Sandbox, policy: RoutePolicy) -> Router {
    let mut builder = Router::builder().policy(policy);
    for (provider, simulated) in [
        (Provider::Topaz, sb::Provider::Topaz),
        (Provider::ModelsLab, sb::Provider::ModelsLab),
    ] {
        let remover = provider
            .remover(
                &sandbox.base_url(simulated),
                sandbox.key(simulated),
                retry(),
            )
            .unwrap();
        builder = builder.route(provider, remover);
    }
    builder.build().unwrap()
}

/// Submissions the sandbox's `provider` received, whatever their outcome.
fn submissions_sent(sandbox: &Sandbox, provider: sb::Provider) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.provider == Some(provider) && r.submission)
        .count()
}

async fn remove_all(
    router: &Router,
    inputs: std::ops::Range<usize>,
    at_once: usize,
) -> Vec<Routed<Cutout>> {
    futures_util::stream::iter(inputs)
        .map(|n| router.remove(input(n), options()))
        .buffer_unordered(at_once)
        .collect()
        .await
}

fn on_submissions(rates: FaultRates) -> Faults {
    Faults {
        on_submissions: rates,
        ..Faults::none()
    }
}

#[tokio::test]
async fn topaz_out_of_credits_eight_inputs_two_at_a_time_are_all_served_by_modelslab() {
    let sandbox = start_sandbox().await;
    sandbox.set_credits(sb::Provider::Topaz, 0);
    let router = router(&sandbox, RoutePolicy::default());

    let results = remove_all(&router, 0..8, 2).await;
    for routed in &results {
        assert_eq!(
            routed.served_by(),
            Some(Provider::ModelsLab),
            "{:?}",
            routed.attempts
        );
        let cutout = routed.result.as_ref().unwrap();
        sb::assert_cutout(&cutout.bytes, WIDTH, HEIGHT);
    }
    // Tried no more than the inputs in flight when the first 402 arrived.
    let tried = submissions_sent(&sandbox, sb::Provider::Topaz);
    assert!((1..=2).contains(&tried), "Topaz tried {tried} times");
    assert_eq!(sandbox.submissions(sb::Provider::Topaz), 0);
    assert_eq!(
        sandbox.submissions(sb::Provider::ModelsLab),
        8,
        "nothing paid twice"
    );
    assert_eq!(submissions_sent(&sandbox, sb::Provider::ModelsLab), 8);
    let cooled = results
        .iter()
        .filter(|r| {
            matches!(
                r.attempts[0].outcome,
                AttemptOutcome::Skipped(SkipReason::CoolingDown { .. })
            )
        })
        .count();
    assert_eq!(cooled, 8 - tried);
    let stats = router.stats();
    assert_eq!(
        stats[0].failures.get("out_of_credits").copied(),
        Some(tried as u64)
    );
    assert_eq!(stats[1].delivered, 8);
}

#[tokio::test]
async fn a_topaz_outage_opens_its_breaker_and_a_probe_brings_it_back() {
    // Jobs done at once, so that the six inputs take far less than the breaker's cooldown.
    let sandbox = sb::sandbox_builder()
        .job_duration(Duration::ZERO)
        .start()
        .await
        .unwrap();
    sandbox.set_provider_faults(
        sb::Provider::Topaz,
        on_submissions(FaultRates {
            unavailable: 1.0,
            ..FaultRates::default()
        }),
    );
    let cooldown = Duration::from_secs(3);
    let router = router(
        &sandbox,
        RoutePolicy::default().breaker(
            BreakerPolicy::default()
                .min_requests(3)
                .failure_ratio(0.5)
                .cooldown(cooldown),
        ),
    );

    let started = std::time::Instant::now();
    for routed in remove_all(&router, 0..6, 1).await {
        assert_eq!(
            routed.served_by(),
            Some(Provider::ModelsLab),
            "{:?}",
            routed.attempts
        );
    }
    assert!(started.elapsed() < cooldown, "{:?}", started.elapsed());
    assert_eq!(
        submissions_sent(&sandbox, sb::Provider::Topaz),
        3,
        "Topaz stops being tried once its breaker opens"
    );

    sandbox.clear_provider_faults(sb::Provider::Topaz);
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let after = remove_all(&router, 6..9, 1).await;
    for routed in &after {
        assert_eq!(
            routed.served_by(),
            Some(Provider::Topaz),
            "{:?}",
            routed.attempts
        );
    }
    assert_eq!(submissions_sent(&sandbox, sb::Provider::Topaz), 6);
    assert_eq!(sandbox.submissions(sb::Provider::Topaz), 3);
    assert_eq!(sandbox.submissions(sb::Provider::ModelsLab), 6);
}

#[tokio::test]
async fn a_429_storm_with_a_long_retry_after_goes_to_modelslab() {
    let sandbox = start_sandbox().await;
    sandbox.set_provider_faults(
        sb::Provider::Topaz,
        on_submissions(FaultRates {
            rate_limited: 1.0,
            retry_after_secs: 3600,
            ..FaultRates::default()
        }),
    );
    let router = router(&sandbox, RoutePolicy::default());
    let started = std::time::Instant::now();
    for routed in remove_all(&router, 0..4, 2).await {
        assert_eq!(
            routed.served_by(),
            Some(Provider::ModelsLab),
            "{:?}",
            routed.attempts
        );
        // Told 429 itself, or (later inputs) left Topaz alone while its hour-long pause lasts.
        assert!(
            matches!(
                &routed.attempts[0].outcome,
                AttemptOutcome::Failed {
                    class: ErrorClass::RateLimited,
                    decision: Decision::NextProvider,
                    ..
                } | AttemptOutcome::Skipped(SkipReason::RateLimited { .. })
            ),
            "{:?}",
            routed.attempts
        );
    }
    // Only the inputs in flight when the first 429 came back asked Topaz at all.
    assert!(submissions_sent(&sandbox, sb::Provider::Topaz) <= 2);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "nobody waited an hour"
    );
    assert_eq!(sandbox.submissions(sb::Provider::Topaz), 0);
    assert_eq!(sandbox.submissions(sb::Provider::ModelsLab), 4);
}

#[tokio::test]
async fn a_slow_topaz_submission_may_have_been_taken_and_modelslab_is_not_tried() {
    let sandbox = start_sandbox().await;
    sandbox.set_provider_faults(
        sb::Provider::Topaz,
        on_submissions(FaultRates {
            slow: 1.0,
            slow_by: Duration::from_millis(1500),
            ..FaultRates::default()
        }),
    );
    let limit = Duration::from_millis(300);
    let topaz = topaz_image::Client::builder()
        .base_url(sandbox.base_url(sb::Provider::Topaz))
        .key(sandbox.key(sb::Provider::Topaz))
        .retry(retry())
        .timeouts(Timeouts::default().request(limit).upload(limit))
        .build()
        .unwrap();
    let modelslab = Provider::ModelsLab
        .remover(
            &sandbox.base_url(sb::Provider::ModelsLab),
            sandbox.key(sb::Provider::ModelsLab),
            retry(),
        )
        .unwrap();
    let router = Router::builder()
        .route(Provider::Topaz, Box::new(topaz))
        .route(Provider::ModelsLab, modelslab)
        .build()
        .unwrap();

    let routed = router.remove(input(0), options()).await;
    let error = routed.result.unwrap_err();
    assert!(error.may_have_been_taken(), "{error}");
    assert_eq!(routed.attempts.len(), 1, "{:?}", routed.attempts);
    assert!(matches!(
        &routed.attempts[0].outcome,
        AttemptOutcome::Failed {
            class: ErrorClass::MayHaveBeenTaken,
            decision: Decision::Stop,
            ..
        }
    ));
    assert_eq!(submissions_sent(&sandbox, sb::Provider::ModelsLab), 0);
    assert_eq!(
        submissions_sent(&sandbox, sb::Provider::Topaz),
        1,
        "sent once, not again"
    );
}

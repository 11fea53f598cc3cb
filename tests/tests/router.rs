//! The provider router against plain loopback servers that share no types with the clients
//! (JSON literals written from the providers' documentation), with the real clients behind it:
//! fallback on "out of credits" with a cooldown every later input sees, no fallback after a
//! submission that may have been taken, the circuit breaker and its one probe, Retry-After,
//! the capability filter, budgets, a job that failed at the provider, resuming by ticket, stats,
//! and no key in Debug.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use cutout::router::{
    AttemptOutcome, BreakerPolicy, BreakerState, Decision, ErrorClass, ProviderBudget, RoutePolicy,
    Router, RouterBuilder, SkipReason,
};
use cutout::{Error, ImageSource, JobTicket, Provider, RemoveOptions, RetryPolicy, WaitPolicy};
use cutout_tests::{RecordingServer, Route};
use serde_json::json;

const KEY: &str = "router-secret-key-8086";
const TOPAZ_ID: &str = "5d3c1a2b-7e8f-4a9b-8c7d-6e5f4a3b2c1d";
const MODELSLAB_ID: i64 = 424242;
const IMAGE_URL: &str = "https://images.example.com/portrait.jpg";
const TOPAZ_SUBMIT: &str = "/matting/async";
const MODELSLAB_SUBMIT: &str = "/image_editing/removebg_mask";

fn png(width: u32, height: u32) -> Vec<u8> {
    cutout_tests::sandbox::disc_png(width, height)
}

/// The router's clients: submissions are not retried by the client (the router is the one
/// retry loop), other requests are, quickly.
fn retry() -> RetryPolicy {
    RetryPolicy::default()
        .retry_submissions(false)
        .base_delay(Duration::from_millis(10))
        .without_jitter()
}

fn options() -> RemoveOptions {
    RemoveOptions::default().wait(
        WaitPolicy::default()
            .min_interval(Duration::from_millis(5))
            .max_interval(Duration::from_millis(20))
            .deadline(Duration::from_secs(10)),
    )
}

fn route(builder: RouterBuilder, provider: Provider, url: &str) -> RouterBuilder {
    builder.route(provider, provider.remover(url, KEY, retry()).unwrap())
}

fn router(routes: &[(Provider, &str)], policy: RoutePolicy) -> Router {
    let mut builder = Router::builder().policy(policy);
    for (provider, url) in routes {
        builder = route(builder, *provider, url);
    }
    builder.build().unwrap()
}

/// Submissions (`POST path`) a server received.
fn posts(server: &RecordingServer, path: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST && r.path == path)
        .count()
}

async fn file_host(bytes: Vec<u8>) -> (RecordingServer, String) {
    let host = RecordingServer::start(vec![Route::bytes(
        Method::GET,
        "/out/cut.png",
        200,
        bytes,
        "image/png",
    )])
    .await;
    let link = format!("{}/out/cut.png?X-Amz-Signature=sig-secret-1", host.url());
    (host, link)
}

// Topaz, from its documentation: 200 {process_id, source_id, eta}; status; download link.

fn topaz_accepted() -> Route {
    Route::json(
        Method::POST,
        TOPAZ_SUBMIT,
        200,
        json!({"process_id": TOPAZ_ID, "source_id": "src-9", "eta": 1_763_799_600}),
    )
}

fn topaz_status(status: &str) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "process_id": TOPAZ_ID, "source_id": "src-9", "filename": "portrait.png",
        "input_format": "png", "output_format": "png",
        "input_height": 3, "input_width": 4, "output_height": 3, "output_width": 4,
        "category": "Matting", "model_type": "Matting", "model": "RemoveBG",
        "crop_to_fill": false, "status": status, "progress": 100,
        "eta": now + 1, "creation_time": 1_763_799_000, "modification_time": 1_763_799_500,
        "credits": 1
    })
}

/// Everything after a Topaz submission: completed at once, with a download link.
fn topaz_delivers(link: &str) -> Vec<Route> {
    vec![
        Route::json(
            Method::GET,
            &format!("/status/{TOPAZ_ID}"),
            200,
            topaz_status("Completed"),
        ),
        Route::json(
            Method::GET,
            &format!("/download/{TOPAZ_ID}"),
            200,
            json!({"download_url": link, "head_url": link, "expiry": 4_102_444_800_i64}),
        ),
    ]
}

fn topaz_error(status: u16, message: &str) -> Route {
    Route::json(
        Method::POST,
        TOPAZ_SUBMIT,
        status,
        json!({"message": message}),
    )
}

/// ModelsLab, from its documentation: HTTP 200 `success` with the output links at once.
fn modelslab_success(link: &str) -> Route {
    Route::json(
        Method::POST,
        MODELSLAB_SUBMIT,
        200,
        json!({
            "status": "success", "generationTime": 0.8, "id": MODELSLAB_ID,
            "output": [link], "proxy_links": [link], "meta": {"only_mask": "0"}
        }),
    )
}

fn failed_class(outcome: &AttemptOutcome) -> Option<(ErrorClass, Decision)> {
    match outcome {
        AttemptOutcome::Failed {
            class, decision, ..
        } => Some((*class, *decision)),
        _ => None,
    }
}

#[tokio::test]
async fn out_of_credits_at_topaz_goes_to_modelslab_and_topaz_cools_down() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![topaz_error(402, "Insufficient credits")]).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );

    let first = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(
        first.served_by(),
        Some(Provider::ModelsLab),
        "{:?}",
        first.attempts
    );
    assert_eq!(first.result.as_ref().unwrap().provider, "modelslab");
    assert_eq!(
        failed_class(&first.attempts[0].outcome),
        Some((ErrorClass::OutOfCredits, Decision::NextProvider))
    );
    let shown = first.attempts[0].outcome.to_string();
    assert!(
        shown.starts_with("out_of_credits → next provider: ")
            && shown.contains("Insufficient credits"),
        "{shown}"
    );

    let second = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(second.served_by(), Some(Provider::ModelsLab));
    match &second.attempts[0].outcome {
        AttemptOutcome::Skipped(SkipReason::CoolingDown { remaining }) => {
            assert!(*remaining > Duration::from_secs(3590), "{remaining:?}");
        }
        other => panic!("Topaz should cool down: {other:?}"),
    }
    assert_eq!(
        second.attempts[0].outcome.to_string(),
        "skipped: cooling down (59m left)"
    );
    assert_eq!(
        posts(&topaz, TOPAZ_SUBMIT),
        1,
        "the second input never reached Topaz"
    );
    assert_eq!(posts(&modelslab, MODELSLAB_SUBMIT), 2);

    // Stats after the scenario.
    let stats = router.stats();
    let (t, m) = (&stats[0], &stats[1]);
    assert_eq!(t.provider, Provider::Topaz);
    assert_eq!(t.failures.get("out_of_credits"), Some(&1));
    assert_eq!(t.skipped.get("cooling_down"), Some(&1));
    assert_eq!((t.sent, t.calls, t.accepted, t.credits), (1, 0, 0, 0));
    assert!(
        t.cooling_down
            .is_some_and(|d| d > Duration::from_secs(3590))
    );
    assert_eq!(t.breaker, BreakerState::Closed);
    assert_eq!(
        (m.sent, m.calls, m.accepted, m.delivered, m.credits),
        (2, 2, 2, 2, 2)
    );
    assert!(m.failures.is_empty() && m.skipped.is_empty());
    assert!(m.slowest_submit <= m.submit_time && m.submit_time > Duration::ZERO);

    // No key in Debug of the router, its stats or the attempts.
    for shown in [
        format!("{router:?}"),
        format!("{stats:?}"),
        format!("{:?}", first.attempts),
        format!("{:?}", second),
    ] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("sig-secret-1"), "{shown}");
    }
}

#[tokio::test]
async fn a_502_may_have_been_taken_and_is_not_sent_elsewhere() {
    let topaz = RecordingServer::start(vec![topaz_error(502, "Bad gateway")]).await;
    let modelslab = RecordingServer::start(vec![]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    let error = routed.result.unwrap_err();
    assert!(error.may_have_been_taken(), "{error}");
    assert_eq!(routed.attempts.len(), 1, "{:?}", routed.attempts);
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((ErrorClass::MayHaveBeenTaken, Decision::Stop))
    );
    assert!(
        modelslab.requests().is_empty(),
        "ModelsLab received nothing"
    );
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1, "and Topaz got it once");
    // It may have been taken: the budget keeps counting it.
    assert_eq!(router.stats()[0].calls, 1);
}

#[tokio::test]
async fn an_outage_opens_the_breaker_and_one_probe_brings_topaz_back() {
    let (_host, link) = file_host(png(8, 6)).await;
    let mut topaz_routes = vec![
        topaz_error(503, "Service unavailable").times(3),
        topaz_accepted(),
    ];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    // Long enough for the four inputs below to finish inside it, even on a busy machine.
    let cooldown = Duration::from_secs(1);
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default().breaker(
            BreakerPolicy::default()
                .min_requests(3)
                .failure_ratio(0.5)
                .cooldown(cooldown),
        ),
    );

    for n in 0..3 {
        let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
        assert_eq!(routed.served_by(), Some(Provider::ModelsLab), "input {n}");
        assert_eq!(
            failed_class(&routed.attempts[0].outcome),
            Some((ErrorClass::Outage, Decision::NextProvider))
        );
    }
    assert!(matches!(
        router.stats()[0].breaker,
        BreakerState::Open { .. }
    ));
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert!(
        matches!(
            routed.attempts[0].outcome,
            AttemptOutcome::Skipped(SkipReason::BreakerOpen { .. })
        ),
        "{:?}",
        routed.attempts
    );
    assert_eq!(
        posts(&topaz, TOPAZ_SUBMIT),
        3,
        "Topaz is not tried while open"
    );

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let probe = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(
        probe.served_by(),
        Some(Provider::Topaz),
        "{:?}",
        probe.attempts
    );
    assert_eq!(router.stats()[0].breaker, BreakerState::Closed);
    let after = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(after.served_by(), Some(Provider::Topaz));
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 5);
    assert_eq!(posts(&modelslab, MODELSLAB_SUBMIT), 4);
    assert_eq!(router.stats()[0].failures.get("outage"), Some(&3));
}

#[tokio::test]
async fn a_short_retry_after_is_waited_for_at_the_same_provider() {
    let (_host, link) = file_host(png(8, 6)).await;
    let mut topaz_routes = vec![
        topaz_error(429, "Too many requests")
            .header("retry-after", "1")
            .times(1),
        topaz_accepted(),
    ];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let started = std::time::Instant::now();
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::Topaz),
        "{:?}",
        routed.attempts
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((
            ErrorClass::RateLimited,
            Decision::RetryAfter(Duration::from_secs(1))
        ))
    );
    assert_eq!(routed.attempts.len(), 2);
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 2);
    assert!(modelslab.requests().is_empty());
}

#[tokio::test]
async fn a_long_retry_after_goes_to_the_next_provider() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![
        topaz_error(429, "Too many requests").header("retry-after", "3600"),
    ])
    .await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let started = std::time::Instant::now();
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(routed.served_by(), Some(Provider::ModelsLab));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((ErrorClass::RateLimited, Decision::NextProvider))
    );
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
}

#[tokio::test]
async fn tengr_is_skipped_for_a_local_file_without_a_request() {
    let (_host, link) = file_host(png(8, 6)).await;
    let tengr = RecordingServer::start(vec![]).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Tengr, tengr.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let routed = router
        .remove(ImageSource::bytes(png(12, 9), "photo.png"), options())
        .await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::ModelsLab),
        "{:?}",
        routed.attempts
    );
    assert!(
        matches!(
            &routed.attempts[0].outcome,
            AttemptOutcome::Skipped(SkipReason::CannotTake(why)) if why.contains("URL")
        ),
        "{:?}",
        routed.attempts
    );
    assert_eq!(routed.attempts[0].elapsed, Duration::ZERO);
    assert!(tengr.requests().is_empty());
    // The image went inline to ModelsLab.
    let sent = modelslab.single().json();
    assert!(
        sent["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );

    // A mask from a router whose only provider makes cut-outs: nobody can take it, nothing sent.
    let only_tengr = router_with_tengr_only(tengr.url());
    let routed = only_tengr
        .remove(ImageSource::url(IMAGE_URL), RemoveOptions::mask())
        .await;
    let error = routed.result.unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
    assert!(
        error.to_string().contains("tengr: skipped: cannot take it"),
        "{error}"
    );
    assert!(tengr.requests().is_empty());
}

#[tokio::test]
async fn an_image_over_modelslabs_inline_limit_goes_to_a_provider_that_uploads_files() {
    let (_host, link) = file_host(png(8, 6)).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let mut topaz_routes = vec![topaz_accepted()];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    // A ModelsLab client that sends images of at most 100 bytes inline.
    let small_inline = modelslab::Client::builder()
        .base_url(modelslab.url())
        .key(KEY)
        .retry(retry())
        .limits(cutout::runtime::Limits::default().inline_image(100))
        .build()
        .unwrap();
    let router = route(
        Router::builder().route(Provider::ModelsLab, Box::new(small_inline)),
        Provider::Topaz,
        topaz.url(),
    )
    .build()
    .unwrap();
    let image = png(64, 48);
    assert!(image.len() > 100);
    let routed = router
        .remove(ImageSource::bytes(image, "photo.png"), options())
        .await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::Topaz),
        "{:?}",
        routed.attempts
    );
    assert!(
        modelslab.requests().is_empty(),
        "nothing was sent to ModelsLab"
    );
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
}

fn router_with_tengr_only(url: &str) -> Router {
    router(&[(Provider::Tengr, url)], RoutePolicy::default())
}

#[tokio::test]
async fn a_calls_budget_sends_the_second_input_to_the_next_provider() {
    let (_host, link) = file_host(png(8, 6)).await;
    let mut topaz_routes = vec![topaz_accepted()];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let mut builder = Router::builder();
    builder = route(builder, Provider::Topaz, topaz.url());
    builder = route(builder, Provider::ModelsLab, modelslab.url());
    let router = builder
        .budget(Provider::Topaz, ProviderBudget::calls(1))
        .build()
        .unwrap();

    let first = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(first.served_by(), Some(Provider::Topaz));
    let second = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(second.served_by(), Some(Provider::ModelsLab));
    assert_eq!(
        second.attempts[0].outcome,
        AttemptOutcome::Skipped(SkipReason::OverBudget)
    );
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
    assert_eq!(router.stats()[0].skipped.get("over_budget"), Some(&1));
}

#[tokio::test]
async fn a_job_that_failed_at_topaz_is_served_by_modelslab_each_paid_once() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![
        topaz_accepted(),
        Route::json(
            Method::GET,
            &format!("/status/{TOPAZ_ID}"),
            200,
            topaz_status("Failed"),
        ),
    ])
    .await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::ModelsLab),
        "{:?}",
        routed.attempts
    );
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((ErrorClass::JobFailed, Decision::NextProvider))
    );
    assert_eq!(routed.attempts.len(), 2, "{:?}", routed.attempts);
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
    assert_eq!(posts(&modelslab, MODELSLAB_SUBMIT), 1);
    let stats = router.stats();
    assert_eq!(stats[0].accepted, 1);
    assert_eq!(stats[0].delivered, 0);
    assert_eq!(stats[0].failures.get("job_failed"), Some(&1));
    // Excluded for the input after its failed job: counted as that failure, not also a skip.
    assert!(stats[0].skipped.is_empty(), "{:?}", stats[0].skipped);
    assert_eq!(stats[1].delivered, 1);
}

#[tokio::test]
async fn a_failed_job_with_nobody_left_returns_the_job_failure() {
    let topaz = RecordingServer::start(vec![
        topaz_accepted(),
        Route::json(
            Method::GET,
            &format!("/status/{TOPAZ_ID}"),
            200,
            topaz_status("Failed"),
        ),
    ])
    .await;
    let router = router(&[(Provider::Topaz, topaz.url())], RoutePolicy::default());
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    let error = routed.result.unwrap_err();
    assert!(matches!(error, Error::JobFailed { .. }), "{error}");
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
}

#[tokio::test]
async fn resume_goes_to_the_provider_of_the_ticket() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![]).await;
    let modelslab = RecordingServer::start(vec![Route::json(
        Method::POST,
        &format!("/image_editing/fetch/{MODELSLAB_ID}"),
        200,
        json!({
            "status": "success", "generationTime": 0.8, "id": MODELSLAB_ID,
            "output": [link], "proxy_links": [link], "meta": {}
        }),
    )])
    .await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let cutout = router
        .resume(
            JobTicket::new("modelslab", MODELSLAB_ID.to_string()),
            options(),
        )
        .await
        .unwrap();
    assert_eq!(cutout.provider, "modelslab");
    assert!(topaz.requests().is_empty());
    assert_eq!(
        posts(&modelslab, MODELSLAB_SUBMIT),
        0,
        "resuming never submits"
    );

    for provider in ["tengr", "gimp"] {
        let error = router
            .resume(JobTicket::new(provider, "1"), options())
            .await
            .unwrap_err();
        match &error {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "ticket");
                assert!(message.contains(provider), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(router.stats()[1].delivered, 1);
}

#[test]
fn the_builder_refuses_an_empty_list_twins_and_mismatched_clients() {
    let url = "http://127.0.0.1:9";
    let empty = Router::builder().build().unwrap_err();
    assert!(matches!(empty, Error::Config { .. }), "{empty}");
    let twice = route(
        route(Router::builder(), Provider::Topaz, url),
        Provider::Topaz,
        url,
    )
    .build()
    .unwrap_err();
    assert!(twice.to_string().contains("twice"), "{twice}");
    let mismatched = Router::builder()
        .route(
            Provider::Topaz,
            Provider::ModelsLab.remover(url, KEY, retry()).unwrap(),
        )
        .build()
        .unwrap_err();
    assert!(
        mismatched.to_string().contains("modelslab client"),
        "{mismatched}"
    );
}

#[tokio::test]
async fn a_probe_whose_call_is_cancelled_lets_the_next_probe_through() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![
        topaz_error(503, "Service unavailable").times(1),
        // The probe: an answer that never comes in time.
        topaz_accepted().delay(Duration::from_secs(10)),
    ])
    .await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let cooldown = Duration::from_millis(100);
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default().breaker(BreakerPolicy::default().min_requests(1).cooldown(cooldown)),
    );
    let first = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(first.served_by(), Some(Provider::ModelsLab));
    tokio::time::sleep(cooldown + Duration::from_millis(20)).await;
    // The caller gives up on the probe.
    let cancelled = tokio::time::timeout(
        Duration::from_secs(1),
        router.remove(ImageSource::url(IMAGE_URL), options()),
    )
    .await;
    assert!(cancelled.is_err());
    assert_eq!(router.stats()[0].breaker, BreakerState::HalfOpen);
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 2);
    // The next input probes again rather than finding the breaker stuck.
    let again = tokio::time::timeout(
        Duration::from_secs(1),
        router.remove(ImageSource::url(IMAGE_URL), options()),
    )
    .await;
    assert!(again.is_err());
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 3);
}

#[tokio::test]
async fn a_format_topaz_does_not_document_is_skipped_by_its_header() {
    let (_host, link) = file_host(png(8, 6)).await;
    let topaz = RecordingServer::start(vec![]).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    let webp = cutout_tests::sandbox::disc_webp(12, 9);
    let routed = router
        .remove(ImageSource::bytes(webp, "photo.webp"), options())
        .await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::ModelsLab),
        "{:?}",
        routed.attempts
    );
    assert!(
        matches!(
            &routed.attempts[0].outcome,
            AttemptOutcome::Skipped(SkipReason::CannotTake(why)) if why.contains("WebP")
        ),
        "{:?}",
        routed.attempts
    );
    assert!(topaz.requests().is_empty());
}

#[tokio::test]
async fn a_single_provider_waits_out_a_short_outage_like_a_bare_client() {
    let (_host, link) = file_host(png(8, 6)).await;
    let mut topaz_routes = vec![
        topaz_error(503, "Service unavailable").times(1),
        topaz_accepted(),
    ];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let router = router(
        &[(Provider::Topaz, topaz.url())],
        RoutePolicy::default().backoff(Duration::from_millis(50)),
    );
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert_eq!(
        routed.served_by(),
        Some(Provider::Topaz),
        "{:?}",
        routed.attempts
    );
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((
            ErrorClass::Outage,
            Decision::RetryAfter(Duration::from_millis(50))
        ))
    );
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 2);
}

#[tokio::test]
async fn a_credits_budget_holds_under_concurrent_inputs() {
    use futures_util::StreamExt;
    let (_host, link) = file_host(png(8, 6)).await;
    // Slow acceptances, so that many inputs are in flight at Topaz at once.
    let mut topaz_routes = vec![topaz_accepted().delay(Duration::from_millis(150))];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let mut builder = Router::builder();
    builder = route(builder, Provider::Topaz, topaz.url());
    builder = route(builder, Provider::ModelsLab, modelslab.url());
    let router = builder
        .budget(Provider::Topaz, ProviderBudget::credits(5))
        .cost(|provider, _| if provider == Provider::Topaz { 2 } else { 1 })
        .build()
        .unwrap();
    let results: Vec<_> = futures_util::stream::iter(0..8)
        .map(|_| router.remove(ImageSource::url(IMAGE_URL), options()))
        .buffer_unordered(8)
        .collect()
        .await;
    let by_topaz = results
        .iter()
        .filter(|r| r.served_by() == Some(Provider::Topaz))
        .count();
    assert!(results.iter().all(|r| r.result.is_ok()));
    // 2 credits each within 5: two inputs, never a third sent while two were in flight.
    assert_eq!(by_topaz, 2);
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 2);
    assert_eq!(posts(&modelslab, MODELSLAB_SUBMIT), 6);
    let stats = router.stats();
    assert_eq!((stats[0].calls, stats[0].credits), (2, 4));
    assert_eq!(stats[0].skipped.get("over_budget"), Some(&6));
}

#[tokio::test]
async fn a_huge_cooldown_saturates_and_a_lone_provider_stops_rather_than_goes_nowhere() {
    let topaz = RecordingServer::start(vec![topaz_error(402, "Insufficient credits")]).await;
    let router = router(
        &[(Provider::Topaz, topaz.url())],
        RoutePolicy::default().cooldown(Duration::MAX),
    );
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert!(routed.result.is_err());
    // Nobody after Topaz: the attempt says "stop", not "next provider".
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((ErrorClass::OutOfCredits, Decision::Stop))
    );
    assert!(
        routed.attempts[0]
            .outcome
            .to_string()
            .starts_with("out_of_credits → stop: "),
        "{}",
        routed.attempts[0].outcome
    );
    let stats = router.stats();
    assert!(
        stats[0]
            .cooling_down
            .is_some_and(|d| d > Duration::from_secs(365 * 24 * 3600)),
        "{:?}",
        stats[0].cooling_down
    );
    // A later input is skipped, not sent.
    let again = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert!(matches!(
        again.attempts[0].outcome,
        AttemptOutcome::Skipped(SkipReason::CoolingDown { .. })
    ));
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 1);
}

#[tokio::test]
async fn stopping_for_want_of_a_next_provider_still_says_why_each_later_one_was_not_tried() {
    let topaz = RecordingServer::start(vec![topaz_error(402, "Insufficient credits")]).await;
    let modelslab = RecordingServer::start(vec![]).await;
    let router = Router::builder()
        .route(
            Provider::Topaz,
            Provider::Topaz.remover(topaz.url(), KEY, retry()).unwrap(),
        )
        .route(
            Provider::ModelsLab,
            Provider::ModelsLab
                .remover(modelslab.url(), KEY, retry())
                .unwrap(),
        )
        .budget(Provider::ModelsLab, ProviderBudget::calls(0))
        .build()
        .unwrap();
    let routed = router.remove(ImageSource::url(IMAGE_URL), options()).await;
    assert!(routed.result.is_err());
    assert_eq!(
        failed_class(&routed.attempts[0].outcome),
        Some((ErrorClass::OutOfCredits, Decision::Stop)),
        "{:?}",
        routed.attempts
    );
    assert!(
        matches!(
            routed.attempts.get(1).map(|a| (a.provider, &a.outcome)),
            Some((
                Provider::ModelsLab,
                AttemptOutcome::Skipped(SkipReason::OverBudget)
            ))
        ),
        "{:?}",
        routed.attempts
    );
    assert_eq!(routed.attempts.len(), 2);
    assert!(modelslab.requests().is_empty());
    assert_eq!(router.stats()[1].skipped.get("over_budget"), Some(&1));
}

#[tokio::test]
async fn a_429_is_learnt_once_other_inputs_leave_the_provider_alone_while_it_lasts() {
    use futures_util::StreamExt;
    let (_host, link) = file_host(png(8, 6)).await;
    // Topaz is in a 429 storm with `Retry-After: 1`; ModelsLab is fine.
    let topaz = RecordingServer::start(vec![
        topaz_error(429, "Too many requests").header("retry-after", "1"),
    ])
    .await;
    let modelslab = RecordingServer::start(vec![modelslab_success(&link)]).await;
    let router = router(
        &[
            (Provider::Topaz, topaz.url()),
            (Provider::ModelsLab, modelslab.url()),
        ],
        RoutePolicy::default(),
    );
    // 8 inputs, 2 at a time (the CLI's -j 2).
    let results: Vec<_> = futures_util::stream::iter(0..8)
        .map(|_| router.remove(ImageSource::url(IMAGE_URL), options()))
        .buffered(2)
        .collect()
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.served_by() == Some(Provider::ModelsLab))
    );
    // The two first inputs wait out the Retry-After twice each (3 tries), then go on; the
    // others find Topaz paused and never send it anything. Without the shared pause every
    // input would try Topaz 3 times: 24 requests.
    let to_topaz = posts(&topaz, TOPAZ_SUBMIT);
    assert!(to_topaz <= 8, "{to_topaz} submissions to Topaz");
    let paused = results
        .iter()
        .filter(|r| {
            matches!(
                r.attempts[0].outcome,
                AttemptOutcome::Skipped(SkipReason::RateLimited { .. })
            )
        })
        .count();
    assert!(
        paused >= 4,
        "{paused} inputs skipped Topaz while it was paused"
    );
    assert_eq!(
        router.stats()[0].skipped.get("rate_limited"),
        Some(&(paused as u64))
    );
}

#[tokio::test]
async fn a_lone_provider_paused_by_a_429_makes_other_inputs_wait_not_fail() {
    use futures_util::StreamExt;
    let (_host, link) = file_host(png(8, 6)).await;
    let mut topaz_routes = vec![
        topaz_error(429, "Too many requests")
            .header("retry-after", "1")
            .times(1),
        topaz_accepted(),
    ];
    topaz_routes.extend(topaz_delivers(&link));
    let topaz = RecordingServer::start(topaz_routes).await;
    let router = router(&[(Provider::Topaz, topaz.url())], RoutePolicy::default());
    // The first input meets the 429; the two others arrive while Topaz is paused.
    let first = router.remove(ImageSource::url(IMAGE_URL), options());
    let later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        futures_util::stream::iter(0..2)
            .map(|_| router.remove(ImageSource::url(IMAGE_URL), options()))
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await
    };
    let (first, mut results) = tokio::join!(first, later);
    results.push(first);
    assert!(
        results.iter().all(|r| r.result.is_ok()),
        "{:?}",
        results.iter().map(|r| &r.attempts).collect::<Vec<_>>()
    );
    // One 429, then the three accepted: the late two waited for the pause, not one gave up
    // for want of another provider, and none was sent during the pause.
    assert_eq!(posts(&topaz, TOPAZ_SUBMIT), 4);
}

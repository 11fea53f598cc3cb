//! Faults (determinism, no side effects, dropped and truncated connections, 429s) and credits.

use std::time::Duration;

use cutout_sandbox::{FaultKind, FaultRates, Faults, Provider, Sandbox};
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::common::{disc_jpeg, disc_png, http, json};

async fn submit_topaz(sandbox: &Sandbox) -> reqwest::Result<reqwest::Response> {
    let form = Form::new().part("image", Part::stream(disc_png()).file_name("disc.png"));
    http()
        .post(format!(
            "{}/matting/async",
            sandbox.base_url(Provider::Topaz)
        ))
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .multipart(form)
        .send()
        .await
}

fn flaky() -> FaultRates {
    FaultRates {
        rate_limited: 0.15,
        retry_after_secs: 2,
        unavailable: 0.15,
        bad_gateway: 0.1,
        internal: 0.1,
        dropped: 0.1,
        ..FaultRates::default()
    }
}

/// Twenty submissions and status reads; what each answered (0 = no answer).
async fn run_sequence(seed: u64) -> (Vec<u16>, Vec<Option<FaultKind>>, usize) {
    let sandbox = Sandbox::builder()
        .seed(seed)
        .faults(Faults::on_api(flaky()))
        .start()
        .await
        .expect("starts");
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let status = submit_topaz(&sandbox)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(status);
        let list = http()
            .get(format!("{}/status", sandbox.base_url(Provider::Topaz)))
            .header("X-API-Key", sandbox.key(Provider::Topaz))
            .send()
            .await;
        statuses.push(list.map(|r| r.status().as_u16()).unwrap_or(0));
    }
    let log = sandbox.requests();
    assert_eq!(log.len(), 40);
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        statuses,
        "the log records what the client saw"
    );
    let faults = log.iter().map(|r| r.fault).collect();
    // Faulted submissions never created a job.
    let accepted = log
        .iter()
        .filter(|r| r.submission && r.status == 200)
        .count();
    assert_eq!(sandbox.submissions(Provider::Topaz), accepted);
    assert_eq!(sandbox.credits(Provider::Topaz), 1000 - accepted as i64);
    let topaz = topaz_image::Client::with_base_url(
        &sandbox.base_url(Provider::Topaz),
        sandbox.key(Provider::Topaz),
    )
    .expect("client builds");
    sandbox.set_faults(Faults::none());
    let jobs = topaz
        .get_all_statuses()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(matches!(jobs, topaz_image::types::StatusList::Array(ref a) if a.len() == accepted));
    (statuses, faults, accepted)
}

#[tokio::test]
async fn faults_are_deterministic_and_have_no_side_effects() {
    let (first, first_faults, accepted) = run_sequence(42).await;
    let (second, second_faults, _) = run_sequence(42).await;
    assert_eq!(first, second);
    assert_eq!(first_faults, second_faults);
    assert!(
        first_faults.iter().any(Option::is_some),
        "some faults at these rates"
    );
    assert!(accepted > 0 && accepted < 20, "{accepted} of 20 accepted");
    for (status, fault) in first.iter().zip(&first_faults) {
        let expected = match fault {
            None => 200,
            Some(FaultKind::RateLimited) => 429,
            Some(FaultKind::Unavailable) => 503,
            Some(FaultKind::BadGateway) => 502,
            Some(FaultKind::Internal) => 500,
            Some(FaultKind::Dropped) => 0,
            Some(other) => panic!("unexpected fault {other:?}"),
        };
        assert_eq!(*status, expected);
    }
    let (_, other_faults, _) = run_sequence(7).await;
    assert_ne!(first_faults, other_faults, "another seed, another sequence");
}

#[tokio::test]
async fn injected_errors_use_each_providers_shape() {
    let rate_limited = FaultRates {
        rate_limited: 1.0,
        retry_after_secs: 3,
        ..FaultRates::default()
    };
    let sandbox = Sandbox::builder()
        .faults(Faults::on_api(rate_limited))
        .start()
        .await
        .expect("starts");
    let response = submit_topaz(&sandbox).await.expect("answered");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let (status, body) = json(response).await;
    assert_eq!((status, body["code"].as_i64()), (429, Some(429)));

    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    let response = http()
        .post(url)
        .json(&json!({"key": "x", "image": "y"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let (status, body) = json(response).await;
    assert_eq!(status, 429);
    assert_eq!(
        (body["status"].as_str(), body["retry_after"].as_i64()),
        (Some("error"), Some(3))
    );

    let url = format!("{}/v2/artworks", sandbox.base_url(Provider::Tengr));
    let (status, body) = json(http().get(url).send().await.expect("answered")).await;
    assert_eq!((status, body["statusCode"].as_i64()), (429, Some(429)));

    sandbox.set_faults(Faults::on_api(FaultRates {
        unavailable: 1.0,
        ..FaultRates::default()
    }));
    let url = format!(
        "{}/v3/file-ops/get-public-url/",
        sandbox.base_url(Provider::BackgroundCut)
    );
    let (status, body) = json(
        http()
            .post(url)
            .json(&json!({"key": "k"}))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(status, 503);
    assert!(body["message"].is_string());
    assert!(sandbox.requests().iter().all(|r| r.fault.is_some()));
    assert_eq!(sandbox.submissions(Provider::Topaz), 0);
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let sandbox = Sandbox::builder()
        .faults(Faults {
            on_other: FaultRates {
                dropped: 1.0,
                ..FaultRates::default()
            },
            ..Faults::default()
        })
        .start()
        .await
        .expect("starts");
    let result = http()
        .get(format!("{}/status", sandbox.base_url(Provider::Topaz)))
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .send()
        .await;
    let error = result.expect_err("no response at all");
    assert!(!error.is_status() && !error.is_timeout(), "{error}");
    let log = sandbox.requests();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status, log[0].fault), (0, Some(FaultKind::Dropped)));
    assert_eq!(log[0].provider, Some(Provider::Topaz));
    assert_eq!(log[0].path, "/image/v1/status");
}

#[tokio::test]
async fn truncated_downloads_fail_while_reading_the_body() {
    let sandbox = Sandbox::start().await.expect("starts");
    let payload = disc_jpeg();
    let url = sandbox.host_file("big.jpg", payload.clone()).await;
    let whole = http()
        .get(&url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(whole, payload);
    sandbox.set_faults(Faults {
        on_downloads: FaultRates {
            truncated: 1.0,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let response = http().get(&url).send().await.expect("headers arrive");
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(payload.len() as u64));
    assert!(response.bytes().await.is_err(), "the body is cut short");
    let last = sandbox.requests().pop().expect("logged");
    assert_eq!(
        (last.provider, last.status, last.fault),
        (None, 200, Some(FaultKind::Truncated))
    );
    assert!(!last.submission);
    sandbox.clear_requests();
    assert!(sandbox.requests().is_empty());
}

#[tokio::test]
async fn slow_requests_are_delayed_then_handled() {
    let sandbox = Sandbox::builder()
        .faults(Faults {
            on_other: FaultRates {
                slow: 1.0,
                slow_by: Duration::from_millis(400),
                ..FaultRates::default()
            },
            ..Faults::default()
        })
        .start()
        .await
        .expect("starts");
    let url = format!("{}/status", sandbox.base_url(Provider::Topaz));
    let quick = http()
        .get(&url)
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(quick.is_err_and(|e| e.is_timeout()));
    let patient = http()
        .get(&url)
        .header("X-API-Key", sandbox.key(Provider::Topaz))
        .send()
        .await
        .expect("answered");
    assert_eq!(patient.status(), 200);
}

#[tokio::test]
async fn no_credits_means_402_and_no_job() {
    let sandbox = Sandbox::builder()
        .credits(0)
        .job_duration(Duration::ZERO)
        .start()
        .await
        .expect("starts");
    let image_url = sandbox.host_file("disc.png", disc_png()).await;
    let (status, body) = json(submit_topaz(&sandbox).await.expect("answered")).await;
    assert_eq!((status, body["code"].as_i64()), (402, Some(402)));

    let bgcut = format!("{}/v3/", sandbox.base_url(Provider::BackgroundCut));
    let token = format!("Token {}", sandbox.key(Provider::BackgroundCut));
    let form = Form::new()
        .part("file", Part::stream(disc_png()).file_name("a.png"))
        .text("key", "in.png");
    let upload = http()
        .post(format!("{bgcut}file-ops/upload/"))
        .header("Authorization", &token)
        .multipart(form);
    assert_eq!(
        upload.send().await.expect("sent").status(),
        200,
        "uploads are free"
    );
    let removal = json!({"input_key": "in.png", "output_variants": [{"output_key": "out.png"}]});
    let response = http()
        .post(format!("{bgcut}tools/ai/remove-bg/process/"))
        .header("Authorization", &token)
        .json(&removal)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 402);

    let url = format!(
        "{}/image_editing/removebg_mask",
        sandbox.base_url(Provider::ModelsLab)
    );
    let body = json!({"key": sandbox.key(Provider::ModelsLab), "image": image_url});
    let (status, answer) = json(http().post(url).json(&body).send().await.expect("sent")).await;
    assert_eq!((status, answer["status"].as_str()), (402, Some("error")));

    let url = format!(
        "{}/v2/artworks/remove-background",
        sandbox.base_url(Provider::Tengr)
    );
    let response = http()
        .post(&url)
        .bearer_auth(sandbox.key(Provider::Tengr))
        .json(&json!({"imageUrl": image_url}))
        .send();
    assert_eq!(response.await.expect("sent").status(), 402);

    for provider in Provider::ALL.iter().copied() {
        assert_eq!(sandbox.submissions(provider), 0, "{provider}");
    }
    // Topping up makes the same request succeed.
    sandbox.set_credits(Provider::Tengr, 1);
    let response = http()
        .post(&url)
        .bearer_auth(sandbox.key(Provider::Tengr))
        .json(&json!({"imageUrl": image_url}))
        .send();
    assert_eq!(response.await.expect("sent").status(), 202);
    assert_eq!(sandbox.credits(Provider::Tengr), 0);
}

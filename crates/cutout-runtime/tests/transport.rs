//! The runtime's request path against real loopback servers: retry schedule, what is never sent
//! twice, redirects and downloads (its traces: `traces.rs`). Provider crates inherit all of this
//! through their generated hooks; these tests pin it down once, independently of any provider.

include!("support/transport.rs");

#[tokio::test]
async fn retry_after_in_seconds_is_honoured() {
    let server = Server::start(vec![answer(429).header("retry-after", "1"), answer(200)]).await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/status",
        None,
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        gaps(&seen)[0] >= Duration::from_secs(1),
        "{:?}",
        gaps(&seen)
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let when = std::time::SystemTime::now() + Duration::from_secs(2);
    let server = Server::start(vec![
        answer(503).header("retry-after", httpdate::fmt_http_date(when)),
        answer(200),
    ])
    .await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/status",
        None,
        "poll",
    )
    .await
    .unwrap();
    // HTTP dates have one-second resolution.
    assert!(gaps(&server.seen())[0] >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_retry_after_field_in_a_json_body_is_honoured() {
    let body = br#"{"status":"error","message":"queue full","retry_after":1}"#;
    let server = Server::start(vec![answer(429).body(body.to_vec()), answer(200)]).await;
    let ctx = context(&BODY_AUTH, fast_retries(), Timeouts::default());
    let json = serde_json::json!({"image": "https://example.com/a.png"});
    send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/removebg",
        Some(json),
        "submit",
    )
    .await
    .unwrap();
    let seen = server.seen();
    assert_eq!(
        seen.len(),
        2,
        "a 429 was surely not taken, so a submission is re-sent"
    );
    assert!(gaps(&seen)[0] >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_wait_longer_than_allowed_returns_the_answer_with_its_body() {
    let body = br#"{"status":"error","message":"queue full","retry_after":3600}"#;
    let server = Server::start(vec![answer(429).body(body.to_vec())]).await;
    let ctx = context(&BODY_AUTH, fast_retries(), Timeouts::default());
    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/x",
        Some(serde_json::json!({})),
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 429);
    // The body was read to find `retry_after`; the caller still gets all of it.
    assert_eq!(response.bytes().await.unwrap().as_ref(), body);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn backoff_doubles_between_attempts() {
    let server = Server::start(vec![answer(502), answer(502), answer(502), answer(200)]).await;
    let retry = RetryPolicy::default()
        .base_delay(Duration::from_millis(100))
        .without_jitter();
    let ctx = context(&HEADER_AUTH, retry, Timeouts::default());
    send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/status",
        None,
        "poll",
    )
    .await
    .unwrap();
    let gaps = gaps(&server.seen());
    assert_eq!(gaps.len(), 3);
    for (gap, expected) in gaps.iter().zip([100, 200, 400]) {
        let expected = Duration::from_millis(expected);
        assert!(
            // The lower bound is the rule; the upper one only catches a wrong unit or a missing
            // cap, loosely enough for a loaded CI machine.
            *gap >= expected && *gap < expected + Duration::from_secs(1),
            "{gaps:?}"
        );
    }
}

#[tokio::test]
async fn a_submission_is_not_resent_after_a_gateway_error_but_a_poll_is() {
    let server = Server::start(vec![answer(502), answer(502), answer(200)]).await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/jobs",
        Some(serde_json::json!({})),
        "submit",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(server.seen().len(), 1);

    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/jobs/1",
        None,
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn without_submission_retries_a_refused_submission_is_returned_but_a_poll_is_retried() {
    // A 503 is normally re-sent even for a submission; a caller with its own loop (the router)
    // gets it back at once, while reads keep the client's retries.
    let server = Server::start(vec![answer(503), answer(503), answer(200)]).await;
    let ctx = context(
        &HEADER_AUTH,
        fast_retries().retry_submissions(false),
        Timeouts::default(),
    );
    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/jobs",
        Some(serde_json::json!({})),
        "submit",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.seen().len(), 1);

    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/jobs/1",
        None,
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_timed_out_submission_is_not_resent_but_a_timed_out_poll_is() {
    let server = Server::start(vec![answer(200).delay(Duration::from_millis(400))]).await;
    let timeouts = Timeouts::default().request(Duration::from_millis(100));
    let ctx = context(&HEADER_AUTH, fast_retries().max_attempts(3), timeouts);
    let error = send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/jobs",
        Some(serde_json::json!({})),
        "submit",
    )
    .await
    .unwrap_err();
    assert!(error.is_timeout());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.seen().len(),
        1,
        "the job may exist: never send it twice"
    );

    let error = send(
        &ctx,
        &server.url,
        reqwest::Method::GET,
        "/jobs/1",
        None,
        "poll",
    )
    .await
    .unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(
        server.seen().len(),
        4,
        "one submission, then three attempts of the poll"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_submission() {
    // Reserve a port, close it, and open it again only after the first attempt was refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let seen = Arc::new(Mutex::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let app = axum::Router::new().fallback(move || {
            *counter.lock().unwrap() += 1;
            async { "{}" }
        });
        axum::serve(listener, app).await
    });
    let retry = RetryPolicy::default()
        .base_delay(Duration::from_millis(200))
        .max_attempts(4)
        .without_jitter();
    let ctx = context(&HEADER_AUTH, retry, Timeouts::default());
    let base = format!("http://{address}");
    let response = send(
        &ctx,
        &base,
        reqwest::Method::POST,
        "/jobs",
        Some(serde_json::json!({})),
        "submit",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        *seen.lock().unwrap(),
        1,
        "exactly one submission reached the server"
    );
}

#[tokio::test]
async fn no_retries_with_the_none_policy() {
    let server = Server::start(vec![answer(503), answer(200)]).await;
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let response = send(&ctx, &server.url, reqwest::Method::GET, "/x", None, "poll")
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_a_header_key() {
    // With retries the redirect is made from the spare copy; without, there is none and it is
    // made from the request's own copy. Both drop the key.
    for retry in [fast_retries(), RetryPolicy::none()] {
        let elsewhere = Server::start(vec![answer(200).body("done")]).await;
        let api = Server::start(vec![
            answer(302).header("location", "/moved"),
            answer(307).header("location", format!("{}/file", elsewhere.url)),
        ])
        .await;
        let ctx = context(&HEADER_AUTH, retry, Timeouts::default());
        let response = send(&ctx, &api.url, reqwest::Method::GET, "/start", None, "poll")
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
        let api_seen = api.seen();
        assert_eq!(api_seen.len(), 2);
        // Same origin: the key is still sent.
        assert_eq!(api_seen[1].path, "/moved");
        assert_eq!(api_seen[1].headers.get("x-api-key").unwrap(), KEY);
        let other = elsewhere.seen();
        assert_eq!(other.len(), 1);
        assert!(
            other[0].headers.get("x-api-key").is_none(),
            "{:?}",
            other[0].headers
        );
    }
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_a_body_key() {
    let elsewhere = Server::start(vec![answer(200)]).await;
    let api = Server::start(vec![
        answer(307).header("location", format!("{}/collect", elsewhere.url)),
    ])
    .await;
    let ctx = context(&BODY_AUTH, fast_retries(), Timeouts::default());
    let json = serde_json::json!({"image": "https://example.com/a.png"});
    send(
        &ctx,
        &api.url,
        reqwest::Method::POST,
        "/removebg",
        Some(json),
        "poll",
    )
    .await
    .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&api.seen()[0].body).unwrap();
    assert_eq!(sent["key"], KEY);
    let forwarded: serde_json::Value = serde_json::from_slice(&elsewhere.seen()[0].body).unwrap();
    assert_eq!(
        forwarded,
        serde_json::json!({"image": "https://example.com/a.png"})
    );
}

#[tokio::test]
async fn downloads_are_atomic_and_never_clobber() {
    let image = vec![7u8; 100_000];
    let server = Server::start(vec![answer(200).body(image.clone())]).await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.png");
    let done = ctx
        .download_to(&format!("{}/out.png", server.url), &path, false)
        .await
        .unwrap();
    assert_eq!(done.bytes, 100_000);
    assert_eq!(std::fs::read(&path).unwrap(), image);

    std::fs::write(&path, b"mine").unwrap();
    let error = ctx
        .download_to(&format!("{}/out.png", server.url), &path, false)
        .await
        .unwrap_err();
    assert!(error.is_invalid_input(), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"mine");
}

#[tokio::test]
async fn a_truncated_download_leaves_no_file() {
    let server = Server::start(vec![answer(200).body(vec![1u8; 50_000]).truncated(20_000)]).await;
    let ctx = context(
        &HEADER_AUTH,
        fast_retries().max_attempts(2),
        Timeouts::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("result.png");
    let error = ctx
        .download_to(&format!("{}/r.png", server.url), &path, true)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(server.seen().len(), 2, "a broken download is tried again");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no partial or temporary file: {left:?}");
}

#[tokio::test]
async fn a_download_link_on_another_origin_gets_no_key() {
    let storage = Server::start(vec![answer(200).body("png")]).await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    let (bytes, _) = ctx
        .download_bytes(&format!("{}/o.png?sig=abc", storage.url), 1024)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"png");
    assert!(storage.seen()[0].headers.get("x-api-key").is_none());
}

#[derive(serde::Deserialize)]
struct Message(String);
impl ErrorBody for Message {
    fn message(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

#[tokio::test]
async fn an_error_body_that_does_not_parse_keeps_its_status() {
    let server = Server::start(vec![answer(502).body("<html>Bad gateway</html>")]).await;
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let error = ctx
        .call("get_status", async {
            // What a generated operation does when a documented error status has a body that
            // is not the documented JSON.
            let response = send(
                &ctx,
                &server.url,
                reqwest::Method::GET,
                "/s",
                None,
                "get_status",
            )
            .await
            .map_err(progenitor_client::Error::<Message>::CommunicationError)?;
            let bytes = response.bytes().await.unwrap();
            let parse_error = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_err();
            Err::<progenitor_client::ResponseValue<()>, _>(
                progenitor_client::Error::<Message>::InvalidResponsePayload(bytes, parse_error),
            )
        })
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(502));
    assert_eq!(error.raw_body(), Some("<html>Bad gateway</html>"));
    assert!(error.is_retryable());
    assert!(matches!(error, Error::Service(_)));
}

#[tokio::test]
async fn api_calls_carry_the_key_only_under_the_base_path() {
    let server = Server::start(vec![answer(200)]).await;
    let base = format!("{}/api/v6", server.url);
    for (provider, method) in [
        (&HEADER_AUTH, reqwest::Method::GET),
        (&BODY_AUTH, reqwest::Method::POST),
    ] {
        let ctx = context(provider, RetryPolicy::none(), Timeouts::default());
        for (path, carries) in [
            ("/api/v6/x", true),
            ("/api/v6", true),
            ("/api/v6x", false),
            ("/api/v6x/y", false),
            ("/other", false),
            ("/api", false),
        ] {
            let url = format!("{}{path}", server.url);
            let mut request = reqwest::Request::new(method.clone(), url.parse().unwrap());
            if method == reqwest::Method::POST {
                *request.body_mut() = Some(b"{}".to_vec().into());
            }
            ctx.authorize(&base, &mut request).unwrap();
            ctx.execute(&base, request, "poll").await.unwrap();
            let seen = server.seen().pop().unwrap();
            assert_eq!(seen.path, path);
            let sent = seen.headers.get("x-api-key").is_some()
                || String::from_utf8_lossy(&seen.body).contains(KEY);
            assert_eq!(sent, carries, "{} {path}: {seen:?}", provider.name);
        }
    }
}

#[tokio::test]
async fn a_key_that_travels_in_the_body_never_puts_a_body_on_get_or_head() {
    let server = Server::start(vec![answer(200)]).await;
    let ctx = context(&BODY_AUTH, RetryPolicy::none(), Timeouts::default());
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let response = send(&ctx, &server.url, method.clone(), "/x", None, "poll")
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen = server.seen().pop().unwrap();
        assert!(seen.body.is_empty(), "{method}: {seen:?}");
        assert!(seen.headers.get("content-length").is_none_or(|v| v == "0"));
    }
}

#[tokio::test]
async fn a_303_from_a_body_key_call_follows_as_a_bare_get() {
    let server = Server::start(vec![
        answer(303).header("location", "/api/result"),
        answer(200),
    ])
    .await;
    let base = format!("{}/api", server.url);
    let ctx = context(&BODY_AUTH, RetryPolicy::none(), Timeouts::default());
    send(
        &ctx,
        &base,
        reqwest::Method::POST,
        "/submit",
        Some(serde_json::json!({"image": "u"})),
        "poll",
    )
    .await
    .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(String::from_utf8_lossy(&seen[0].body).contains(KEY));
    assert_eq!(seen[1].path, "/api/result");
    assert!(seen[1].body.is_empty(), "{:?}", seen[1]);
}

#[tokio::test]
async fn downloads_never_carry_credentials_even_to_the_api_itself() {
    let server = Server::start(vec![answer(200).body("png")]).await;
    let base = format!("{}/api", server.url);
    for provider in [&HEADER_AUTH, &BODY_AUTH] {
        let ctx = context(provider, RetryPolicy::none(), Timeouts::default());
        for path in ["/api/files/r.png", "/r.png", "/apix/r.png"] {
            let (bytes, _) = ctx
                .download_bytes(&format!("{}{path}", server.url), 1024)
                .await
                .unwrap();
            assert_eq!(bytes.as_ref(), b"png");
            let seen = server.seen().pop().unwrap();
            assert!(seen.headers.get("x-api-key").is_none(), "{seen:?}");
            assert!(seen.body.is_empty(), "{seen:?}");
        }
        // An API call to the same server still carries it.
        send(
            &ctx,
            &base,
            reqwest::Method::POST,
            "/x",
            Some(serde_json::json!({})),
            "poll",
        )
        .await
        .unwrap();
        let seen = server.seen().pop().unwrap();
        assert!(
            seen.headers.get("x-api-key").is_some()
                || String::from_utf8_lossy(&seen.body).contains(KEY)
        );
    }
}

#[tokio::test]
async fn download_errors_show_no_signature_and_no_password() {
    // A port with nothing listening: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://user:pw-secret@127.0.0.1:{port}/x.png?X-Amz-Signature=sig-secret");
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let error = ctx.download_bytes(&url, 1024).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    // A body that breaks off, from a server that is there.
    let server = Server::start(vec![answer(200).body(vec![1u8; 5000]).truncated(10)]).await;
    let broken = format!(
        "http://user:pw-secret@{}/x.png?X-Amz-Signature=sig-secret",
        server.url.trim_start_matches("http://")
    );
    let dir = tempfile::tempdir().unwrap();
    let second = ctx
        .download_to(&broken, &dir.path().join("x.png"), false)
        .await
        .unwrap_err();
    for error in [error, second] {
        let shown = format!("{error:?} {error} {:?}", std::error::Error::source(&error));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
        assert!(shown.contains("/x.png?redacted"), "{shown}");
    }
}

#[tokio::test]
async fn a_retried_request_resends_the_same_body_and_key() {
    // The retry is sent from the copy made before the first attempt.
    let server = Server::start(vec![answer(503), answer(200)]).await;
    let ctx = context(&HEADER_AUTH, fast_retries(), Timeouts::default());
    let json = serde_json::json!({"image": "https://example.com/a.png", "n": 1});
    let response = send(
        &ctx,
        &server.url,
        reqwest::Method::POST,
        "/poll",
        Some(json.clone()),
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path, "/poll");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&request.body).unwrap(),
            json
        );
        assert_eq!(request.headers.get("x-api-key").unwrap(), KEY);
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/json"
        );
    }
    assert_eq!(seen[0].body, seen[1].body, "byte for byte");
}

#[tokio::test]
async fn a_redirected_request_keeps_the_time_limit() {
    // The limit is put on each request as it is sent: the redirect's and the retry's too.
    let slow = Server::start(vec![answer(200).delay(Duration::from_millis(600))]).await;
    let api = Server::start(vec![
        answer(307).header("location", format!("{}/slow", slow.url)),
    ])
    .await;
    let timeouts = Timeouts::default().request(Duration::from_millis(150));
    let ctx = context(&HEADER_AUTH, fast_retries().max_attempts(2), timeouts);
    let started = Instant::now();
    let error = send(&ctx, &api.url, reqwest::Method::GET, "/start", None, "poll")
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_millis(1100));
    assert_eq!(api.seen().len(), 2, "the timed-out poll was tried again");
    assert_eq!(slow.seen().len(), 2);
}

#[tokio::test]
async fn answers_of_announced_length_are_capped() {
    // (Answers of unannounced length: `tests/tests/hostile_servers.rs`.)
    let limits = cutout_runtime::Limits::default()
        .json_answer(1000)
        .error_body(1000);
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default()).with_limits(limits);
    // Announced and within the limit (to the byte): read whole.
    let exact = Server::start(vec![answer(200).body(vec![b'a'; 1000])]).await;
    let response = send(&ctx, &exact.url, reqwest::Method::GET, "/a", None, "poll")
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), 1000);
    // Announced and over it: fails without reading, and the answer keeps its URL.
    let over = Server::start(vec![answer(200).body(vec![b'a'; 1001])]).await;
    let response = send(&ctx, &over.url, reqwest::Method::GET, "/b", None, "poll")
        .await
        .unwrap();
    assert_eq!(response.url().path(), "/b");
    let error = response.bytes().await.unwrap_err();
    assert!(format!("{error:?}").contains("TooLarge"), "{error:?}");
    // An error body over the limit is cut there, its length no longer announced.
    let error_body = Server::start(vec![answer(500).body(vec![b'e'; 3000])]).await;
    let response = send(
        &ctx,
        &error_body.url,
        reqwest::Method::GET,
        "/d",
        None,
        "poll",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.bytes().await.unwrap().len(), 1000);
}

#[tokio::test]
async fn a_file_that_grows_while_it_is_uploaded_is_a_file_error_not_a_maybe_accepted_request() {
    // A server that reads whatever comes and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/upload", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut socket, &mut tokio::io::sink()).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    std::fs::write(&path, vec![7u8; 3000]).unwrap();
    let form = cutout_runtime::multipart::Form::new()
        .file("image", cutout_runtime::multipart::FilePart::path(&path))
        .build()
        .await
        .unwrap();
    // The file grows after the form announced its length.
    let mut grown = vec![7u8; 3000];
    grown.extend_from_slice(b"appended");
    std::fs::write(&path, grown).unwrap();

    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let request = ctx.http().post(&url).multipart(form).build().unwrap();
    let failed = ctx.http().execute(request).await.unwrap_err();
    let error = ctx
        .convert::<Message>(
            "post_matting",
            progenitor_client::Error::CommunicationError(failed),
            None,
        )
        .await;
    // The body broke off before its announced end: nothing can have been accepted, and the
    // error names the file rather than saying the paid job may exist.
    assert!(
        matches!(&error, Error::Io { action: "send", path: p, .. } if p == &path),
        "{error:?}"
    );
    assert!(!error.may_have_been_taken());
    assert!(
        error.to_string().contains("grew while it was being sent"),
        "{error}"
    );
}

#[tokio::test]
async fn the_status_of_a_bad_body_is_kept_when_the_error_comes_a_poll_later() {
    let server = Server::start(vec![answer(502).body("<html>Bad gateway</html>")]).await;
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let error = ctx
        .call("get_status", async {
            let response = send(
                &ctx,
                &server.url,
                reqwest::Method::GET,
                "/s",
                None,
                "get_status",
            )
            .await
            .map_err(progenitor_client::Error::<Message>::CommunicationError)?;
            let decoded = cutout_runtime::decode::from_response::<Message, Message>(response).await;
            // Hand-written code may await something else before returning the error.
            tokio::task::yield_now().await;
            let body = decoded?;
            Err::<progenitor_client::ResponseValue<()>, _>(progenitor_client::Error::ErrorResponse(
                body,
            ))
        })
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(502));
    assert!(matches!(error, Error::Service(_)), "{error:?}");
}

// A client from `ClientBuilder` applies `Timeouts::request` itself; what sets its own limit
// must not be cut at it.

#[tokio::test]
async fn a_download_is_not_cut_at_the_clients_request_limit() {
    let slow = Server::start(vec![
        answer(200)
            .body("png")
            .delay(Duration::from_millis(600));
        2
    ])
    .await;
    let storage = Server::start(vec![
        answer(302).header("location", format!("{}/o.png", slow.url)),
    ])
    .await;
    let timeouts = Timeouts::default()
        .request(Duration::from_millis(150))
        .download(Duration::from_secs(5));
    let ctx = built_context(RetryPolicy::none(), timeouts);
    // Directly, then through a redirect.
    for url in [
        format!("{}/o.png", slow.url),
        format!("{}/o.png", storage.url),
    ] {
        let (bytes, _) = ctx.download_bytes(&url, 1024).await.unwrap();
        assert_eq!(bytes.as_ref(), b"png");
    }
    assert_eq!(slow.seen().len(), 2);
}

#[tokio::test]
async fn uploads_get_the_upload_limit_not_the_clients_request_limit() {
    let timeouts = Timeouts::default()
        .request(Duration::from_millis(150))
        .upload(Duration::from_secs(5));
    let ctx = built_context(RetryPolicy::none(), timeouts);
    // An image inline in a JSON body (over 1 MiB).
    let api = Server::start(vec![
        answer(200).body("{}").delay(Duration::from_millis(600)),
    ])
    .await;
    let big = "x".repeat(2 * 1024 * 1024);
    let json = serde_json::json!({ "image": big });
    send(
        &ctx,
        &api.url,
        reqwest::Method::POST,
        "/x",
        Some(json),
        "poll",
    )
    .await
    .unwrap();
    // A streamed body, rebuilt for each attempt.
    let api = Server::start(vec![
        answer(200).body("{}").delay(Duration::from_millis(600)),
    ])
    .await;
    let url = api.url.clone();
    let result = ctx
        .execute_rebuilding(&api.url, "submit", || {
            let url = url.clone();
            async move {
                let chunk = Ok::<_, std::io::Error>(axum::body::Bytes::from("abc"));
                let mut request = reqwest::Request::new(
                    reqwest::Method::POST,
                    format!("{url}/up").parse().unwrap(),
                );
                *request.body_mut() =
                    Some(reqwest::Body::wrap_stream(futures_util::stream::iter([
                        chunk,
                    ])));
                Ok::<_, ()>(request)
            }
        })
        .await
        .unwrap();
    result.unwrap();
}

#[tokio::test]
async fn a_small_call_keeps_the_clients_limit_on_every_hop_and_attempt() {
    let slow = Server::start(vec![answer(200).delay(Duration::from_millis(600)); 2]).await;
    let api = Server::start(vec![
        answer(307)
            .header("location", format!("{}/slow", slow.url));
        2
    ])
    .await;
    let timeouts = Timeouts::default().request(Duration::from_millis(150));
    let ctx = built_context(fast_retries().max_attempts(2), timeouts);
    let started = Instant::now();
    let error = send(&ctx, &api.url, reqwest::Method::GET, "/start", None, "poll")
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(api.seen().len(), 2);
    assert_eq!(slow.seen().len(), 2);
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_redirects() {
    let api = Server::start(vec![answer(302).header("location", "/again"); 20]).await;
    let ctx = context(&HEADER_AUTH, RetryPolicy::none(), Timeouts::default());
    let response = send(&ctx, &api.url, reqwest::Method::GET, "/start", None, "poll")
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(api.seen().len(), 6, "1 request + 5 redirects");
}

#[tokio::test]
async fn a_redirected_call_that_meets_a_503_is_retried_from_the_original_request() {
    let api = Server::start(vec![
        answer(307).header("location", "/moved"),
        answer(503),
        answer(200),
    ])
    .await;
    let ctx = context(
        &HEADER_AUTH,
        fast_retries().max_attempts(2),
        Timeouts::default(),
    );
    let response = send(&ctx, &api.url, reqwest::Method::GET, "/start", None, "poll")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = api.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].path, "/start");
    assert!(seen.iter().all(|s| s.headers.get("x-api-key").is_some()));
}

#[tokio::test]
async fn a_redirected_submission_that_meets_a_502_is_not_resent() {
    let api = Server::start(vec![
        answer(307).header("location", "/moved"),
        answer(502),
        answer(200),
    ])
    .await;
    let ctx = context(
        &HEADER_AUTH,
        fast_retries().max_attempts(3),
        Timeouts::default(),
    );
    let json = serde_json::json!({});
    let response = send(
        &ctx,
        &api.url,
        reqwest::Method::POST,
        "/start",
        Some(json),
        "submit",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(api.seen().len(), 2);
}

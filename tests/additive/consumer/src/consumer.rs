// Code written against the v1 client, in the style the crate docs teach: request bodies through
// builders (`X::builder()`, an operation's `body_map`), responses read by field, patterns with
// `..`, `match` with a `_` arm. `lib.rs` compiles this file twice: `api` is the v1 client in one
// module and the v2 client (v1 plus only additive changes) in the other. Do not change it to make
// v2 compile: that it compiles unchanged is the test.

use api::types;
use api::{Client, Error, ResponseValue};

/// A client for another deployment of the API (a loopback server in tests).
pub fn client(base_url: &str) -> Option<Client> {
    Client::with_base_url(base_url, "consumer-key").ok()
}

/// A request body built on its own, with its builder.
pub fn new_job(image_url: &str) -> Result<types::NewJob, types::error::ConversionError> {
    types::NewJob::builder()
        .image_url(image_url.to_owned())
        .mode(types::Mode::Mask)
        .try_into()
}

/// Starts a job: an optional query parameter, the body through `body_map`.
pub async fn submit(client: &Client, image_url: &str) -> Result<types::Job, Error<types::Problem>> {
    client
        .create_job()
        .priority(1)
        .body_map(|body| body.image_url(image_url.to_owned()).mode(types::Mode::Cutout))
        .send()
        .await
        .map(ResponseValue::into_inner)
}

/// Reads a job back.
pub async fn fetch(client: &Client, id: &str) -> Result<types::Job, Error<types::Problem>> {
    client
        .get_job()
        .id(id)
        .send()
        .await
        .map(ResponseValue::into_inner)
}

/// A response built with its builder, as a mock answer in the user's own tests.
pub fn mock_job(id: &str) -> Result<types::Job, types::error::ConversionError> {
    types::Job::builder()
        .id(id.to_owned())
        .state(types::JobState::Running)
        .progress(Some(40))
        .try_into()
}

/// One line about a job: fields by name, a pattern with `..`, a `match` with a `_` arm.
pub fn describe(job: &types::Job) -> String {
    let types::Job { id, state, .. } = job;
    let state = match state {
        types::JobState::Queued => "queued".to_owned(),
        types::JobState::Running => format!("running ({}%)", job.progress.unwrap_or(0)),
        types::JobState::Done => "done".to_owned(),
        other => format!("{other} (not known to this client)"),
    };
    format!("{id}: {state}")
}

/// A request enum read back: still a `match` with a `_` arm.
pub fn mode_name(mode: &types::Mode) -> &'static str {
    match mode {
        types::Mode::Cutout => "cut-out",
        types::Mode::Mask => "mask",
        _ => "another mode",
    }
}

/// A newtype is built with its constructor and read through `Deref`.
pub fn labels(names: &[&str]) -> (types::Labels, usize) {
    let labels = types::Labels(names.iter().map(|n| (*n).to_owned()).collect());
    let count = labels.len();
    (labels, count)
}

/// What an error body says.
pub fn problem(problem: &types::Problem) -> &str {
    let types::Problem { message, .. } = problem;
    message.as_deref().unwrap_or("no message")
}

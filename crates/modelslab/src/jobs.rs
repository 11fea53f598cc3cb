//! Following a background removal ModelsLab queued: the [`RemoveBgJob`] handle that
//! [`RemoveBgRequest::submit`](crate::RemoveBgRequest::submit) returns, [`Client::fetch`] (ask
//! once) and [`Client::wait_for_mask`] (poll at ModelsLab's ETA until it is done).
//!
//! # How outcomes map
//!
//! - `success`: a [`MaskResult`].
//! - `processing`: polled through [`Client::fetch`]; the first progress report is the
//!   submission's own answer (with its ETA), each later one a fetch. Both shapes of a queued
//!   answer's `output` (an array from `removebg_mask`, a string, often empty, from `fetch`) are
//!   accepted.
//! - a status this client does not know (say `queued`): still running, polled like
//!   `processing` (at its ETA when it gives one, else with backoff) and reported to
//!   `on_progress` as ModelsLab sent it ([`Processing::status`]).
//! - `error` (sent with HTTP 200): [`CutoutError::JobFailed`] with status `error` and ModelsLab's
//!   message (read from `message` or `messege`); its `job_id` is the request id when ModelsLab had
//!   queued the request, otherwise `(not queued)`.
//! - HTTP error statuses: [`CutoutError::Service`]; a 429 is retried after the `retry_after` the
//!   body asks for (within the client's [`RetryPolicy`](crate::RetryPolicy)).
//!
//! # Examples
//!
//! ```no_run
//! use modelslab::{Client, ImageSource, MaskState, WaitPolicy};
//!
//! # async fn run() -> Result<(), modelslab::CutoutError> {
//! let client = Client::from_env()?;
//! let job = client
//!     .remove_bg(ImageSource::url("https://example.com/portrait.jpg"))
//!     .submit()
//!     .await?;
//! if let MaskState::Processing(queued) = job.state() {
//!     println!("queued as {} (eta {:?})", queued.id, queued.eta);
//! }
//! let result = job.wait(&WaitPolicy::default(), |p| eprintln!("{}", p.status)).await?;
//! println!("{:?}", result.output.urls());
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use cutout_runtime::{JobProgress, Poll, wait_for};

use crate::error::{either_spelling, error_message};
use crate::result::MaskResult;
use crate::{Client, CutoutError, CutoutResult, PROVIDER, WaitPolicy, types};

/// A background removal ModelsLab has answered: done at once, or queued. Made by
/// [`RemoveBgRequest::submit`](crate::RemoveBgRequest::submit); owns a clone of the client.
#[derive(Clone)]
#[must_use = "a queued request is only followed by `wait`"]
pub struct RemoveBgJob {
    client: Client,
    state: MaskState,
}

impl fmt::Debug for RemoveBgJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoveBgJob")
            .field("state", &self.state)
            .field("base_url", &self.client.baseurl)
            .finish()
    }
}

impl RemoveBgJob {
    pub(crate) fn new(client: Client, state: MaskState) -> Self {
        Self { client, state }
    }

    /// ModelsLab's latest answer.
    pub fn state(&self) -> &MaskState {
        &self.state
    }

    /// ModelsLab's latest answer, taking it out of the handle.
    pub fn into_state(self) -> MaskState {
        self.state
    }

    /// The request's id: the queued id, or the finished result's id when ModelsLab gave one.
    pub fn id(&self) -> Option<i64> {
        match &self.state {
            MaskState::Done(result) => result.id,
            MaskState::Processing(queued) => Some(queued.id),
        }
    }

    /// Asks once more for a queued request's outcome ([`Client::fetch`]); a finished one is
    /// left as it is.
    pub async fn refresh(&mut self) -> CutoutResult<&MaskState> {
        if let MaskState::Processing(queued) = &self.state {
            self.state = self.client.fetch(queued.id).await?;
        }
        Ok(&self.state)
    }

    /// The result: at once when it is done, otherwise after polling the queued request with
    /// [`Client::wait_for_mask`] (which does not hold a job slot).
    pub async fn wait(
        self,
        policy: &WaitPolicy,
        on_progress: impl FnMut(&JobProgress),
    ) -> CutoutResult<MaskResult> {
        match self.state {
            MaskState::Done(result) => Ok(result),
            MaskState::Processing(queued) => {
                self.client
                    .wait_for_mask(&queued, policy, on_progress)
                    .await
            }
        }
    }
}

impl Client {
    /// Asks once for the outcome of a queued request (`POST /image_editing/fetch/{id}`). An
    /// `error` answer is a [`CutoutError::JobFailed`].
    pub async fn fetch(&self, id: i64) -> CutoutResult<MaskState> {
        let answer = self
            .context()
            .call("fetch_result", self.fetch_result().id(id).send())
            .await;
        match answer.map(|answer| answer.into_inner()) {
            Ok(types::FetchResponse::ResultSuccess(done)) => Ok(MaskState::Done(done.into())),
            Ok(types::FetchResponse::FetchProcessing(queued)) => {
                Ok(MaskState::Processing(Processing {
                    id: queued.id.as_ref().and_then(id_number).unwrap_or(id),
                    status: PROCESSING.to_owned(),
                    eta: seconds(queued.eta),
                    message: queued.message,
                    tip: queued.tip,
                    future_links: queued.future_links.unwrap_or_default(),
                }))
            }
            Ok(types::FetchResponse::ModelsLabError(error)) => Err(failed(Some(id), &error)),
            Ok(types::FetchResponse::OtherAnswer(other)) => {
                other_answer(other, Some(id), "fetch_result")
            }
            Err(error) => Err(error),
        }
    }

    /// Polls a queued request (from [`RemoveBgJob`]) until it is done, at the ETA
    /// ModelsLab announces (within `policy`'s bounds). The first report to `on_progress` is
    /// `processing` itself; each later one is a fetch. An `error` answer is a
    /// [`CutoutError::JobFailed`]; running past the deadline a [`CutoutError::Timeout`].
    ///
    /// This does not hold a job slot: hold one yourself
    /// (`client.context().job_slot().await`) if you submit many requests.
    pub async fn wait_for_mask(
        &self,
        processing: &Processing,
        policy: &WaitPolicy,
        on_progress: impl FnMut(&JobProgress),
    ) -> CutoutResult<MaskResult> {
        let id = processing.id;
        let mut first = Some(processing.progress());
        wait_for(
            policy,
            &format!("modelslab request {id}"),
            move || {
                let first = first.take();
                async move {
                    if let Some(first) = first {
                        return Ok(Poll::Pending(first));
                    }
                    match self.fetch(id).await? {
                        MaskState::Done(result) => Ok(Poll::Done(result)),
                        MaskState::Processing(queued) => Ok(Poll::Pending(queued.progress())),
                    }
                }
            },
            on_progress,
        )
        .await
    }
}

/// ModelsLab's first (or a fetch's) answer.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskState {
    /// The result is ready.
    Done(MaskResult),
    /// ModelsLab queued the request: fetch it again after its ETA.
    Processing(Processing),
}

/// A queued request. Its `Debug` shows the future links without their query.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Processing {
    /// The request's id, for [`Client::fetch`].
    pub id: i64,
    /// ModelsLab's status word: `processing`, or a state this client does not know (say
    /// `queued`), which counts as still running.
    pub status: String,
    /// How long ModelsLab expects it to take from now.
    pub eta: Option<Duration>,
    /// ModelsLab's note about the request.
    pub message: Option<String>,
    /// ModelsLab's hint about the queue.
    pub tip: Option<String>,
    /// Links where the images will appear once ready.
    pub future_links: Vec<String>,
}

impl std::fmt::Debug for Processing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processing")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("eta", &self.eta)
            .field("message", &self.message)
            .field("tip", &self.tip)
            .field(
                "future_links",
                &cutout_runtime::validate::Redacted(&self.future_links),
            )
            .finish()
    }
}

impl Processing {
    /// The state for the waiter.
    fn progress(&self) -> JobProgress {
        JobProgress::new(self.id.to_string(), self.status.as_str()).eta(self.eta)
    }
}

/// An id as a number: ModelsLab sends ids as numbers, and sometimes as numeric strings.
pub(crate) fn id_number(id: &types::FlexibleId) -> Option<i64> {
    match id {
        types::FlexibleId::Integer(id) => Some(*id),
        types::FlexibleId::String(id) => id.trim().parse().ok(),
    }
}

/// Seconds as a duration, when positive and finite.
pub(crate) fn seconds(value: Option<f64>) -> Option<Duration> {
    value
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// An `error` answer as an error.
pub(crate) fn failed(id: Option<i64>, error: &types::ModelsLabError) -> CutoutError {
    let message = error_message(error)
        .unwrap_or_else(|| "ModelsLab answered `error` without a message".to_owned());
    refused_or_failed(id, "error", message)
}

/// An `error` (or `failed`) answer: a [`CutoutError::JobFailed`], except a refused submission
/// (`id` is `None`: nothing was queued) whose message says the wallet is empty, which ModelsLab
/// may send with HTTP 200: that is a 402 in meaning, so it reads as one
/// ([`CutoutError::is_insufficient_credits`]) and callers top up instead of retrying.
fn refused_or_failed(id: Option<i64>, status: &str, message: String) -> CutoutError {
    if id.is_none() && says_no_credits(&message) {
        return CutoutError::answered(&PROVIDER, "removebg_mask", 402, Some(message), None);
    }
    CutoutError::JobFailed {
        provider: PROVIDER.name,
        job_id: id.map_or_else(|| "(not queued)".to_owned(), |id| id.to_string()),
        status: status.to_owned(),
        message: Some(message),
    }
}

/// Whether a refusal is ModelsLab's way of saying "no credits" ("Insufficient balance: please
/// top up your wallet.", "insufficient credits", …).
fn says_no_credits(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["balance", "credit", "wallet", "top up"]
        .iter()
        .any(|word| message.contains(word))
}

pub(crate) fn no_id(id: Option<&types::FlexibleId>, status: &str) -> CutoutError {
    let message = match id {
        Some(id) => {
            format!(
                "the request was answered `{status}` under the id `{id}`, which is not a number"
            )
        }
        None => format!("the request was answered `{status}` without an id to fetch it with"),
    };
    CutoutError::unexpected(PROVIDER.name, "removebg_mask", message).with_status(200)
}

/// The documented status of a queued request.
pub(crate) const PROCESSING: &str = "processing";

/// An answer that is none of the documented shapes ([`types::OtherAnswer`]): a status this
/// client does not know is a request still running (polled like `processing`, at its ETA if it
/// gives one); a documented status in a shape that does not match is reported as such. `id` is
/// the request's id when it is already known (a fetch).
pub(crate) fn other_answer(
    other: types::OtherAnswer,
    id: Option<i64>,
    operation: &'static str,
) -> CutoutResult<MaskState> {
    let status = other.status.trim();
    let message = either_spelling(&other.message, &other.messege);
    match status {
        "success" => Err(CutoutError::unexpected(
            PROVIDER.name,
            operation,
            "ModelsLab answered `success` without the list of its `output` images",
        )
        .with_status(200)),
        // `failed` is how webhooks spell a failure.
        "error" | "failed" => Err(refused_or_failed(
            id,
            status,
            message.unwrap_or_else(|| format!("ModelsLab answered `{status}` without a message")),
        )),
        _ => {
            let Some(id) = other.id.as_ref().and_then(id_number).or(id) else {
                return Err(no_id(other.id.as_ref(), status));
            };
            Ok(MaskState::Processing(Processing {
                id,
                status: status.to_owned(),
                eta: seconds(other.eta),
                message,
                tip: other.tip,
                future_links: Vec::new(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_body(json: &str) -> types::ModelsLabError {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_empty_wallet_refusal_reads_as_insufficient_credits() {
        let refused = failed(
            None,
            &error_body(
                r#"{"status":"error","message":"Insufficient balance: please top up your wallet."}"#,
            ),
        );
        assert!(refused.is_insufficient_credits(), "{refused:?}");
        assert!(!refused.may_have_been_taken());
        assert!(
            refused.to_string().contains("Insufficient balance"),
            "{refused}"
        );

        // The older spelling of the field, through the shape-tolerant path.
        let other: types::OtherAnswer =
            serde_json::from_str(r#"{"status":"error","messege":"Not enough credits"}"#).unwrap();
        let refused = other_answer(other, None, "removebg_mask").unwrap_err();
        assert!(refused.is_insufficient_credits(), "{refused:?}");

        // Any other refusal stays a failed request, and a queued job that failed stays failed.
        let other = failed(
            None,
            &error_body(r#"{"status":"error","message":"Invalid image"}"#),
        );
        assert!(matches!(other, CutoutError::JobFailed { .. }), "{other:?}");
        let queued = failed(
            Some(7),
            &error_body(r#"{"status":"error","message":"insufficient credits"}"#),
        );
        assert!(
            matches!(queued, CutoutError::JobFailed { .. }),
            "{queued:?}"
        );
    }
}

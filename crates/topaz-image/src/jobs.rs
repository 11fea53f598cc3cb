//! The lifecycle of a Topaz job: status, waiting, download, cancel, delete, and the job list.
//!
//! A [`Job`] is a handle on one job: it owns a clone of the [`Client`] (clones share the
//! connection pool), so it is `'static` and can be moved into a task. Get one from
//! [`MattingRequest::submit`](crate::MattingRequest::submit), or for an existing job from
//! [`Client::job`].
//!
//! - [`Job::wait`] polls `GET /status/{id}` with the shared waiter, scheduling each poll for the
//!   job's ETA; `Completed` ends the wait, `Failed` and `Cancelled` are
//!   [`CutoutError::JobFailed`].
//! - [`Job::download_to`] mints a presigned link and streams the output to a temporary file
//!   beside the destination, checks its length, then renames it into place: a failure leaves no
//!   file behind. The presigned link is on another host, so the API key is not sent there.
//! - Conflicts are explained: downloading before the job completed, cancelling a finished job,
//!   or deleting a running one answer HTTP 409, which comes back as a [`CutoutError`] whose
//!   message says what to do (its [`status`](CutoutError::status) stays `Some(409)`).
//!
//! # Examples
//!
//! ```no_run
//! use futures_util::TryStreamExt;
//! use topaz_image::{Client, WaitPolicy, types::JobStatus};
//!
//! # async fn run() -> Result<(), topaz_image::CutoutError> {
//! let client = Client::from_env()?;
//! let job = client.job("0b7c2f1e-5d55-4a8e-9a55-2f3b1c0d9e11");
//! let status = job.wait(&WaitPolicy::default(), |_| {}).await?;
//! assert_eq!(status.status, JobStatus::Completed);
//! let bytes = job.download_bytes(64 << 20).await?;
//! println!("{} bytes", bytes.len());
//!
//! // Every job of the account, 100 per request.
//! let mut jobs = client.job_pages(100);
//! while let Some(job) = jobs.try_next().await? {
//!     println!("{} {}", job.process_id, job.status);
//! }
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cutout_runtime::{Downloaded, JobProgress, Poll, wait_for_known};
use futures_util::future::Either;
use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt, stream};
use progenitor_client::ClientInfo;

use crate::error::explain_conflict;
use crate::{Client, CutoutError, CutoutResult, PROVIDER, WaitPolicy, types};

/// A handle on one Topaz job. Cheap to clone.
#[derive(Clone)]
pub struct Job {
    client: Client,
    process_id: String,
    source_id: Option<String>,
    eta: Option<SystemTime>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("process_id", &self.process_id)
            .field("source_id", &self.source_id)
            .field("eta", &self.eta)
            .field("base_url", &self.client.baseurl())
            .finish()
    }
}

impl Client {
    /// A handle on an existing job, from its `process_id`. Nothing is sent.
    pub fn job(&self, process_id: impl Into<String>) -> Job {
        Job {
            client: self.clone(),
            process_id: process_id.into(),
            source_id: None,
            eta: None,
        }
    }

    /// Every job of the account, read 100 at a time (a busy account's unpaginated list could
    /// be larger than an API answer may be), for at most [`MAX_JOB_PAGES`] pages and
    /// [`MAX_LISTED_BYTES`] of jobs (see [`list_jobs_up_to`](Self::list_jobs_up_to));
    /// [`job_pages`](Self::job_pages) streams a list of any length instead.
    pub async fn list_jobs(&self) -> CutoutResult<Vec<types::StatusResponse>> {
        self.list_jobs_up_to(MAX_JOB_PAGES).await
    }

    /// [`list_jobs`](Self::list_jobs), following at most `max_pages` pages. A server that
    /// repeats a cursor (any earlier one, not only the last), has more pages, or lists more
    /// than [`MAX_LISTED_BYTES`] of jobs is an [`CutoutError::UnexpectedResponse`] instead of an
    /// endless walk or a list that outgrows memory.
    pub async fn list_jobs_up_to(
        &self,
        max_pages: usize,
    ) -> CutoutResult<Vec<types::StatusResponse>> {
        let mut walk = CursorWalk::new(max_pages);
        let mut jobs = Vec::new();
        let mut listed = 0usize;
        let mut cursor = None;
        loop {
            let (more, next) = fetch_page(self, Some(100), cursor.as_deref()).await?;
            for job in more {
                // The size the job had on the wire, near enough: what keeping it costs.
                listed += serde_json::to_vec(&job).map_or(0, |bytes| bytes.len());
                if listed > MAX_LISTED_BYTES {
                    return Err(CutoutError::unexpected(
                        PROVIDER.name,
                        "get_all_statuses",
                        format!(
                            "the job list is larger than {} MiB after {} jobs: stopped there \
                             (read it page by page with `job_pages`)",
                            MAX_LISTED_BYTES >> 20,
                            jobs.len()
                        ),
                    )
                    .with_status(200));
                }
                jobs.push(job);
            }
            match next {
                Some(next) => {
                    walk.follow(&next)?;
                    cursor = Some(next);
                }
                None => return Ok(jobs),
            }
        }
    }

    /// Every job of the account, fetched `limit` at a time (`1..=100`) as the stream is read,
    /// following `next_cursor` until the last page, for at most [`MAX_JOB_PAGES`] pages (see
    /// [`job_pages_up_to`](Self::job_pages_up_to)). A `limit` outside `1..=100` is the
    /// stream's only item: a [`CutoutError::InvalidInput`], before any request. A failed page
    /// ends the stream after its error.
    pub fn job_pages(
        &self,
        limit: u8,
    ) -> impl Stream<Item = CutoutResult<types::StatusResponse>> + Send + Unpin + 'static {
        self.job_pages_up_to(limit, MAX_JOB_PAGES)
    }

    /// [`job_pages`](Self::job_pages), for at most `max_pages` pages. A repeated cursor (any
    /// earlier one) or a page beyond `max_pages` ends the stream with a
    /// [`CutoutError::UnexpectedResponse`].
    pub fn job_pages_up_to(
        &self,
        limit: u8,
        max_pages: usize,
    ) -> impl Stream<Item = CutoutResult<types::StatusResponse>> + Send + Unpin + 'static {
        enum Cursor {
            Start,
            Next(String),
            End,
        }
        let client = self.clone();
        let start = (Cursor::Start, CursorWalk::new(max_pages));
        let pages = stream::try_unfold(start, move |(cursor, mut walk)| {
            let client = client.clone();
            async move {
                let cursor = match cursor {
                    Cursor::End => return Ok(None),
                    Cursor::Start => None,
                    Cursor::Next(cursor) => {
                        walk.follow(&cursor)?;
                        Some(cursor)
                    }
                };
                if !(1..=100).contains(&limit) {
                    return Err(CutoutError::invalid(
                        "limit",
                        format!("a page of {limit} jobs is outside 1..=100: pass 1 to 100"),
                    ));
                }
                let (jobs, next) = fetch_page(&client, Some(limit), cursor.as_deref()).await?;
                let next = match next {
                    Some(next) => Cursor::Next(next),
                    None => Cursor::End,
                };
                Ok(Some((jobs, (next, walk))))
            }
        });
        Box::pin(
            pages
                .map_ok(|jobs| stream::iter(jobs.into_iter().map(Ok)))
                .try_flatten(),
        )
        .fuse()
    }

    /// Deletes the records of every job of the account; returns how many were deleted (`None`
    /// when Topaz's answer does not say).
    pub async fn delete_all_jobs(&self) -> CutoutResult<Option<u64>> {
        let answer = self
            .context()
            .call("delete_all_statuses", self.delete_all_statuses().send())
            .await?
            .into_inner();
        Ok(answer.deleted_count)
    }
}

/// How many pages of the job list are followed unless said otherwise: a million jobs at 100 a
/// page, far beyond any account, yet a bound on a server whose cursors never end.
pub const MAX_JOB_PAGES: usize = 10_000;

/// How much of a job list [`Client::list_jobs`] keeps in memory (64 MiB, some 100 000
/// ordinary jobs) before it stops with an error; [`Client::job_pages`] has no such limit.
pub const MAX_LISTED_BYTES: usize = 64 << 20;

/// The cursors followed so far in one walk through the job list: a server that hands out a
/// cursor again (A → B → A) or never stops would otherwise be followed forever.
struct CursorWalk {
    /// Hashes of the cursors followed: a hostile server's cursors may be megabytes long.
    seen: HashSet<u64>,
    pages: usize,
    max_pages: usize,
}

/// A cursor's hash, the same in every run (a collision would only stop a listing early).
fn cursor_hash(cursor: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(cursor)
}

impl CursorWalk {
    fn new(max_pages: usize) -> Self {
        Self {
            seen: HashSet::new(),
            pages: 1,
            max_pages,
        }
    }

    /// Accounts for following `cursor` to one more page, or says why not.
    fn follow(&mut self, cursor: &str) -> CutoutResult<()> {
        let refuse = |message: String| {
            CutoutError::unexpected(PROVIDER.name, "get_all_statuses", message).with_status(200)
        };
        if self.pages >= self.max_pages {
            return Err(refuse(format!(
                "the job list goes on beyond {} pages: stopped there (raise the page limit to \
                 read further)",
                self.max_pages
            )));
        }
        if !self.seen.insert(cursor_hash(cursor)) {
            let shown: String = cursor.chars().take(64).collect();
            return Err(refuse(format!(
                "page {} of the job list hands out the cursor `{shown}` again: stopped rather \
                 than loop over the same pages",
                self.pages
            )));
        }
        self.pages += 1;
        Ok(())
    }
}

/// One `GET /status`: unpaginated without a `limit`, paginated with one. Returns the jobs and
/// the cursor of the next page, if any.
async fn fetch_page(
    client: &Client,
    limit: Option<u8>,
    cursor: Option<&str>,
) -> CutoutResult<(Vec<types::StatusResponse>, Option<String>)> {
    let mut operation = client.get_all_statuses();
    if let Some(limit) = limit {
        operation = operation.paginated(true).limit(u64::from(limit));
    }
    if let Some(cursor) = cursor {
        operation = operation.cursor(cursor);
    }
    let list = client
        .context()
        .call("get_all_statuses", operation.send())
        .await?
        .into_inner();
    match list {
        types::StatusList::Array(jobs) => Ok((jobs.0, None)),
        types::StatusList::Page(page) => {
            let next = match (page.pagination.has_next_page, page.pagination.next_cursor) {
                (true, Some(next)) => Some(next),
                (true, None) => {
                    return Err(CutoutError::unexpected(
                        PROVIDER.name,
                        "get_all_statuses",
                        "the page says another follows but gives no `next_cursor`",
                    )
                    .with_status(200));
                }
                (false, _) => None,
            };
            Ok((page.data, next))
        }
    }
}

impl Job {
    /// The handle for a job Topaz just accepted.
    pub(crate) fn accepted(client: Client, accepted: types::AsyncResponse) -> Self {
        Self {
            client,
            process_id: accepted.process_id,
            source_id: accepted.source_id.filter(|id| !id.is_empty()),
            eta: accepted.eta.and_then(unix_time),
        }
    }

    /// The same handle, expecting the job done at `eta` (Unix seconds, as Topaz sends it):
    /// [`wait`](Self::wait) polls first around then. For a ticket resumed from a journal.
    pub(crate) fn with_eta(mut self, eta: Option<i64>) -> Self {
        self.eta = eta.and_then(unix_time);
        self
    }

    /// The job's id (a UUID).
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// The id of the uploaded image, reusable with [`Client::matting_from_source_id`]. Known for
    /// jobs this handle submitted; `None` for a handle from [`Client::job`] (see
    /// [`types::StatusResponse::source_id`]).
    pub fn source_id(&self) -> Option<&str> {
        self.source_id.as_deref()
    }

    /// When Topaz expected the job to finish when it accepted it. `None` for a handle from
    /// [`Client::job`]; [`Job::status`] has the current estimate.
    pub fn eta(&self) -> Option<SystemTime> {
        self.eta
    }

    /// The client this handle sends with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The process id, if it has the UUID form Topaz documents; otherwise an error before any
    /// request (a typo would only come back as the server's 400).
    fn checked_id(&self) -> CutoutResult<&str> {
        let id = self.process_id.as_str();
        // 8-4-4-4-12 hex digits: checked on every poll, so without allocating.
        let is_uuid = id.len() == 36
            && id.bytes().zip(UUID_SHAPE).all(|(b, dash)| {
                if dash {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
        if is_uuid {
            Ok(id)
        } else {
            Err(CutoutError::invalid(
                "process_id",
                format!(
                    "`{id}` is not a Topaz process id: they are UUIDs like \
                     4b0bd1f4-6c5a-4d5e-9f1e-2f4c9c6f0a11 (from `submit`, or `list_jobs`)"
                ),
            ))
        }
    }

    /// The job's current state (one `GET /status/{process_id}`).
    //
    // A function returning a future rather than an `async fn`: jobs are polled over and over,
    // and an `async` layer would hold, and move, one more copy of the call's future each time.
    pub fn status(&self) -> impl Future<Output = CutoutResult<types::StatusResponse>> + Send + '_ {
        match self.checked_id() {
            Ok(id) => {
                let operation = self.client.get_status().process_id(id);
                Either::Left(
                    self.client
                        .context()
                        .call("get_status", operation.send())
                        .map(|answer| answer.map(progenitor_client::ResponseValue::into_inner)),
                )
            }
            Err(error) => Either::Right(std::future::ready(Err(error))),
        }
    }

    /// Polls until the job is `Completed` and returns its final status. Each poll is scheduled
    /// around the job's ETA (within the policy's bounds; without an ETA the pauses back off); a
    /// handle that [submitted](crate::MattingRequest::submit) the job already knows its ETA, so
    /// its first poll waits for it instead of going out at once;
    /// `on_progress` sees every intermediate state with its percentage and ETA when Topaz gives
    /// them. `Failed` or `Cancelled` is a [`CutoutError::JobFailed`]; running past the policy's
    /// deadline is a [`CutoutError::Timeout`] (the job goes on). A state this client does not
    /// know ([`types::JobStatus::Unknown`], say `Queued`) counts as still running and is
    /// reported to `on_progress` as Topaz sent it.
    pub async fn wait(
        &self,
        policy: &WaitPolicy,
        on_progress: impl FnMut(&JobProgress),
    ) -> CutoutResult<types::StatusResponse> {
        let what = format!("topaz job {}", self.process_id);
        // The submission's answer said when the job should be done: the first poll goes there
        // (polling at once would only hear "Pending" and the same ETA again).
        let known = self
            .eta
            .and_then(|eta| eta.duration_since(SystemTime::now()).ok());
        let known = JobProgress::new(self.process_id.clone(), "Pending")
            .eta(known)
            .eta_resolution(Some(ETA_RESOLUTION));
        wait_for_known(
            policy,
            &what,
            known,
            || async {
                let status = self.status().await?;
                match &status.status {
                    types::JobStatus::Completed => Ok(Poll::Done(status)),
                    types::JobStatus::Failed | types::JobStatus::Cancelled => {
                        Err(job_failed(&self.process_id, &status.status))
                    }
                    // Pending, Processing, a status Topaz sends that we don't know, and one a
                    // spec update adds (the wildcard keeps that additive change compiling).
                    _ => Ok(Poll::Pending(progress_of(&status))),
                }
            },
            on_progress,
        )
        .await
    }

    /// Fresh presigned links (valid one hour) to the job's output. A job that has not completed
    /// answers HTTP 409, returned as an error that says to wait first.
    pub async fn output_download_url(&self) -> CutoutResult<types::DownloadResponse> {
        let operation = self
            .client
            .get_download_output()
            .process_id(self.checked_id()?);
        self.client
            .context()
            .call("get_download_output", operation.send())
            .await
            .map(|answer| answer.into_inner())
            .map_err(|error| {
                explain_conflict(error, || {
                    format!(
                        "the output of job {} is not ready yet: wait until its status is \
                         Completed (`Job::wait`) before downloading",
                        self.process_id
                    )
                })
            })
    }

    /// Fresh presigned links (valid one hour) to the job's input image.
    pub async fn input_download_url(&self) -> CutoutResult<types::DownloadResponse> {
        let operation = self
            .client
            .get_download_input()
            .process_id(self.checked_id()?);
        Ok(self
            .client
            .context()
            .call("get_download_input", operation.send())
            .await?
            .into_inner())
    }

    /// Downloads the output to `path` through a temporary file in the same folder, checked
    /// against `Content-Length` and renamed into place, so a failure leaves neither a partial
    /// file nor a temporary one. Without `overwrite` an existing file is an error (checked before
    /// anything is sent, and again at the rename). Broken transfers are retried under the
    /// client's retry policy. No credentials are sent with the download.
    pub async fn download_to(
        &self,
        path: impl AsRef<Path>,
        overwrite: bool,
    ) -> CutoutResult<Downloaded> {
        let path = path.as_ref();
        cutout_runtime::validate::destination_free(path, overwrite)?;
        let links = self.output_download_url().await?;
        self.client
            .context()
            .download_to(&links.download_url, path, overwrite)
            .await
    }

    /// Downloads the output into memory, refusing more than `limit` bytes.
    pub async fn download_bytes(&self, limit: u64) -> CutoutResult<Bytes> {
        let links = self.output_download_url().await?;
        let (bytes, _content_type) = self
            .client
            .context()
            .download_bytes(&links.download_url, limit)
            .await?;
        Ok(bytes)
    }

    /// Cancels the job while it is pending or processing. A job that already finished answers
    /// HTTP 409, returned as an error that says so.
    pub async fn cancel(&self) -> CutoutResult<()> {
        let operation = self.client.cancel_task().process_id(self.checked_id()?);
        self.client
            .context()
            .call("cancel_task", operation.send())
            .await
            .map(|_| ())
            .map_err(|error| {
                explain_conflict(error, || {
                    format!(
                        "job {} has already finished (Completed, Failed or Cancelled), so it \
                         can no longer be cancelled",
                        self.process_id
                    )
                })
            })
    }

    /// Deletes the job's record. A job that is still running answers HTTP 409, returned as an
    /// error that says to cancel it or wait for it first.
    pub async fn delete(&self) -> CutoutResult<()> {
        let operation = self.client.delete_status().process_id(self.checked_id()?);
        self.client
            .context()
            .call("delete_status", operation.send())
            .await
            .map(|_| ())
            .map_err(|error| {
                explain_conflict(error, || {
                    format!(
                        "job {} is still running: cancel it (`Job::cancel`) or wait for it \
                         to finish before deleting its record",
                        self.process_id
                    )
                })
            })
    }
}

fn job_failed(process_id: &str, status: &types::JobStatus) -> CutoutError {
    let message = match status {
        types::JobStatus::Cancelled => "the job was cancelled before it finished".to_owned(),
        _ => format!(
            "Topaz could not process the image; check that it is a readable {} and submit it \
             again",
            PROVIDER
                .capabilities
                .formats_text()
                .unwrap_or_else(|| "image".to_owned())
        ),
    };
    CutoutError::JobFailed {
        provider: PROVIDER.name,
        job_id: process_id.to_owned(),
        status: status.to_string(),
        message: Some(message),
    }
}

/// What one status says for the waiter: percent done and the time left until the ETA, each
/// when Topaz gives it (without an ETA the waiter backs off). The ETA is a whole Unix second,
/// and Topaz does not say which way it rounds: the job may finish up to a second either side
/// of it, which the waiter is told so that it polls around the ETA, not only at it.
pub(crate) fn progress_of(status: &types::StatusResponse) -> JobProgress {
    JobProgress::new(status.process_id.clone(), status.status.to_string())
        .percent(status.progress.map(|p| p.clamp(0, 100) as u8))
        .eta(status.eta.and_then(time_left))
        .eta_resolution(status.eta.map(|_| ETA_RESOLUTION))
}

/// Topaz's ETAs are whole Unix seconds.
const ETA_RESOLUTION: Duration = Duration::from_secs(1);

/// Where a process id (a UUID, 8-4-4-4-12 hex digits) has its dashes.
const UUID_SHAPE: [bool; 36] = {
    let mut shape = [false; 36];
    shape[8] = true;
    shape[13] = true;
    shape[18] = true;
    shape[23] = true;
    shape
};

/// A Unix time in seconds, if it is not negative and the clock can represent it (a server
/// value of `i64::MAX` is `None`, not a panic).
pub(crate) fn unix_time(seconds: i64) -> Option<SystemTime> {
    u64::try_from(seconds)
        .ok()
        .and_then(|seconds| UNIX_EPOCH.checked_add(Duration::from_secs(seconds)))
}

/// How long until a Unix time; `None` once it has passed.
fn time_left(unix_seconds: i64) -> Option<Duration> {
    unix_time(unix_seconds)?
        .duration_since(SystemTime::now())
        .ok()
        .filter(|left| !left.is_zero())
}

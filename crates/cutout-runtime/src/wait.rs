//! Waiting for a job: one poller for every provider.
//!
//! A provider supplies a `poll` function that asks for the job's state once; [`wait_for`] calls it
//! until the job is done, sleeping in between. When the provider gave an ETA the next poll is
//! scheduled for then; otherwise the interval grows from `min_interval` to `max_interval`. Dropping
//! the returned future stops polling.
//!
//! Every provider maps its job states onto [`Poll`] the same way: its documented success state is
//! [`Poll::Done`], its documented failure states are an error, and **every other state is
//! [`Poll::Pending`]**, including a state the provider added after the client was written (the
//! `Unknown` variant of a generated status enum). The raw status word goes into
//! [`JobProgress::status`] as sent, so a caller sees `Queued` while polling goes on (at the ETA
//! when there is one, with backoff otherwise) until a known final state or the deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// How to wait for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitPolicy {
    /// The shortest pause between two polls. Default 1 s.
    pub min_interval: Duration,
    /// The longest pause between two polls. Default 15 s.
    pub max_interval: Duration,
    /// Give up after this long (the job may still finish). Default 30 min.
    pub deadline: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
            deadline: Duration::from_secs(30 * 60),
        }
    }
}

impl WaitPolicy {
    /// Sets the shortest pause.
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self.max_interval = self.max_interval.max(interval);
        self
    }
    /// Sets the longest pause.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval.max(self.min_interval);
        self
    }
    /// Sets the overall deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// A job's state as seen by one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobProgress {
    /// The provider's job id.
    pub job_id: String,
    /// The provider's status word as sent (`Pending`, `processing`, or one it added later).
    pub status: String,
    /// Percent done, when the provider says.
    pub percent: Option<u8>,
    /// How long until the provider expects the job to be done, when it says.
    pub eta: Option<Duration>,
    /// Polls so far, this one included.
    pub polls: u32,
}

impl JobProgress {
    /// A job that is not done yet.
    pub fn new(job_id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            status: status.into(),
            percent: None,
            eta: None,
            polls: 0,
        }
    }
    /// With a completion percentage.
    pub fn percent(mut self, percent: Option<u8>) -> Self {
        self.percent = percent.map(|p| p.min(100));
        self
    }
    /// With the provider's estimate of the time left.
    pub fn eta(mut self, eta: Option<Duration>) -> Self {
        self.eta = eta;
        self
    }
}

/// The answer of one poll.
#[derive(Debug)]
pub enum Poll<T> {
    /// The job reached a successful terminal state.
    Done(T),
    /// The job is still running.
    Pending(JobProgress),
}

/// Polls until the job is done, the poll fails (a failed job is a failed poll), or the deadline
/// passes. `on_progress` sees every intermediate state.
pub async fn wait_for<T, P, Fut>(
    policy: &WaitPolicy,
    what: &str,
    mut poll: P,
    mut on_progress: impl FnMut(&JobProgress),
) -> Result<T, Error>
where
    P: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, Error>>,
{
    let started = Instant::now();
    let mut polls = 0;
    let mut interval = policy.min_interval;
    loop {
        polls += 1;
        let mut progress = match poll().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Pending(progress) => progress,
        };
        progress.polls = polls;
        on_progress(&progress);
        let pause = match progress.eta {
            // The provider said when: come back then (not before the minimum, not after the
            // maximum, so a wrong ETA costs at most one long pause).
            Some(eta) if eta > Duration::ZERO => {
                interval = policy.min_interval;
                eta.clamp(policy.min_interval, policy.max_interval)
            }
            // No ETA, or it has passed: back off.
            _ => {
                let pause = interval;
                interval = (interval * 2).min(policy.max_interval);
                pause
            }
        };
        let elapsed = started.elapsed();
        if elapsed >= policy.deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: elapsed,
            });
        }
        // The last pause ends at the deadline, for one final poll.
        tokio::time::sleep(pause.min(policy.deadline - elapsed)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn an_eta_decides_when_to_poll_again() {
        let polls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let policy = WaitPolicy::default()
            .min_interval(Duration::from_millis(100))
            .max_interval(Duration::from_secs(60));
        let value = wait_for(
            &policy,
            "job",
            || async {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                let left = Duration::from_secs(10).saturating_sub(started.elapsed());
                if left.is_zero() {
                    Ok(Poll::Done(n))
                } else {
                    Ok(Poll::Pending(
                        JobProgress::new("j", "Processing").eta(Some(left)),
                    ))
                }
            },
            |_| {},
        )
        .await
        .unwrap();
        // One poll now, one when the ETA says the job is done.
        assert_eq!(value, 1);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_eta_the_interval_doubles_and_the_deadline_holds() {
        let polls = AtomicU32::new(0);
        let seen = std::sync::Mutex::new(Vec::new());
        let policy = WaitPolicy::default()
            .min_interval(Duration::from_secs(1))
            .max_interval(Duration::from_secs(4))
            .deadline(Duration::from_secs(12));
        let started = tokio::time::Instant::now();
        let err = wait_for(
            &policy,
            "topaz job 1",
            || async {
                polls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(Poll::<()>::Pending(JobProgress::new("1", "Pending")))
            },
            |_| seen.lock().unwrap().push(started.elapsed().as_secs()),
        )
        .await
        .unwrap_err();
        // Polls at 0, 1, 3, 7, 11 and a last one at the deadline (12).
        assert_eq!(*seen.lock().unwrap(), [0, 1, 3, 7, 11, 12]);
        assert!(matches!(err, Error::Timeout { .. }));
        assert!(err.to_string().contains("topaz job 1"));
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_future_stops_polling() {
        let polls = std::sync::Arc::new(AtomicU32::new(0));
        let counter = polls.clone();
        let policy = WaitPolicy::default()
            .min_interval(Duration::from_secs(1))
            .max_interval(Duration::from_secs(1));
        let waiting = tokio::spawn(async move {
            wait_for(
                &policy,
                "job",
                || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, Error>(Poll::<()>::Pending(JobProgress::new("j", "Pending"))) }
                },
                |_| {},
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
        waiting.abort();
        let _ = waiting.await;
        let seen = polls.load(Ordering::SeqCst);
        assert_eq!(seen, 3, "polls at 0, 1 and 2 s");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            polls.load(Ordering::SeqCst),
            seen,
            "no poll after the future is dropped"
        );
    }
}

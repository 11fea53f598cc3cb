//! Waiting for a job: one poller for every provider.
//!
//! A provider supplies a `poll` function that asks for the job's state once; [`wait_for`] calls it
//! until the job is done, sleeping in between. When the provider gave an ETA the next poll is
//! scheduled for then; otherwise the interval grows from `min_interval` to `max_interval`. Dropping
//! the returned future stops polling.
//!
//! An ETA with a known resolution ([`JobProgress::eta_resolution`], e.g. Topaz's whole Unix
//! seconds) only says the job finishes within about that much of it, earlier or later (whether the
//! provider rounds up or down). Polling exactly at such an ETA notices completion up to a whole
//! resolution late, so the waiter comes back from half a resolution before the ETA on, in steps
//! of half a resolution counted from the first poll (never less than `min_interval`, 500 ms by
//! default); once the ETA has passed it backs off from that step. Against an ETA rounded up that
//! is about 1.5 polls after the first, with the completion noticed a quarter of a resolution late
//! on average. When the submission's answer already gave the ETA, [`wait_for_known`] skips the
//! first poll, which would only have repeated it.
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

/// The shortest pause when backing off without an ETA, whatever the policy's minimum.
const SHORTEST_BACKOFF: Duration = Duration::from_millis(1);

/// How to wait for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitPolicy {
    /// The shortest pause between two polls. Default 500 ms: half of Topaz's one-second ETA
    /// resolution, the step the waiter takes around such an ETA (a larger minimum makes those
    /// steps larger, and completions are noticed later).
    pub min_interval: Duration,
    /// The longest pause between two polls. Default 15 s.
    pub max_interval: Duration,
    /// Give up after this long (the job may still finish). Default 30 min.
    pub deadline: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(500),
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
    /// How coarse the provider's ETAs are (Topaz: whole seconds), when known: the job may finish
    /// up to about this much before or after [`eta`](Self::eta). Set also when the ETA has
    /// passed (`eta` is then `None`), so the waiter keeps stepping around it.
    pub eta_resolution: Option<Duration>,
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
            eta_resolution: None,
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
    /// With how coarse the provider's ETAs are (see [`eta_resolution`](Self::eta_resolution)).
    pub fn eta_resolution(mut self, resolution: Option<Duration>) -> Self {
        self.eta_resolution = resolution.filter(|r| !r.is_zero());
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
/// passes. `on_progress` sees every intermediate state. The first poll is sent at once.
pub async fn wait_for<T, P, Fut>(
    policy: &WaitPolicy,
    what: &str,
    poll: P,
    on_progress: impl FnMut(&JobProgress),
) -> Result<T, Error>
where
    P: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, Error>>,
{
    wait_from(policy, what, None, poll, on_progress).await
}

/// Like [`wait_for`], for a job whose state is already known without a poll: the answer that
/// submitted it said when it should be done (Topaz's `eta`). The first poll is then scheduled
/// from `known` as if a poll had just returned it, instead of being sent at once to learn what
/// the submission already said. `known` is not passed to `on_progress` (the caller has it) and
/// does not count as a poll. An ETA that has already passed gives an immediate first poll.
pub async fn wait_for_known<T, P, Fut>(
    policy: &WaitPolicy,
    what: &str,
    known: JobProgress,
    poll: P,
    on_progress: impl FnMut(&JobProgress),
) -> Result<T, Error>
where
    P: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, Error>>,
{
    let known = known.eta.filter(|eta| !eta.is_zero()).map(|_| known);
    wait_from(policy, what, known, poll, on_progress).await
}

async fn wait_from<T, P, Fut>(
    policy: &WaitPolicy,
    what: &str,
    mut known: Option<JobProgress>,
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
        let progress = match known.take() {
            Some(progress) => progress,
            None => {
                polls += 1;
                let mut progress = match poll().await? {
                    Poll::Done(value) => return Ok(value),
                    Poll::Pending(progress) => progress,
                };
                progress.polls = polls;
                on_progress(&progress);
                progress
            }
        };
        // Steps around a coarse ETA: half its resolution, never below the minimum.
        // (A zero step, from a zero minimum and a resolution of a nanosecond, would divide by
        // zero below: such an ETA is taken as an exact one.)
        let step = progress
            .eta_resolution
            .map(|resolution| (resolution / 2).max(policy.min_interval))
            .filter(|step| !step.is_zero());
        let pause = match (progress.eta, progress.eta_resolution, step) {
            // A coarse ETA: the first point of the grid `start + k * step` that is neither
            // earlier than half a resolution before the ETA nor sooner than the minimum pause.
            // Counting the steps from the first poll, not from the ETA, keeps a job that takes a
            // whole number of steps from being seen a step late every time (the next job starts
            // when one is seen, so an ETA-aligned grid would lock onto the worst phase).
            (Some(eta), Some(resolution), Some(step)) if eta > Duration::ZERO => {
                interval = step;
                let elapsed = started.elapsed();
                let earliest = elapsed
                    .saturating_add(eta.saturating_sub(resolution / 2))
                    .max(elapsed.saturating_add(policy.min_interval));
                let steps = earliest.as_nanos().div_ceil(step.as_nanos());
                let at = u32::try_from(steps)
                    .ok()
                    .and_then(|steps| step.checked_mul(steps))
                    .unwrap_or(Duration::MAX);
                at.saturating_sub(elapsed).min(policy.max_interval)
            }
            // The provider said when: come back then (not before the minimum, not after the
            // maximum, so a wrong ETA costs at most one long pause).
            (Some(eta), _, _) if eta > Duration::ZERO => {
                interval = policy.min_interval;
                // (Not `clamp`: the fields are public, and a minimum above the maximum would
                // make it panic.)
                eta.max(policy.min_interval).min(policy.max_interval)
            }
            // No ETA, or it has passed: back off (from the step, after a coarse ETA).
            (_, _, step) => {
                // Never a zero pause (a zero minimum would otherwise poll in a tight loop).
                let pause = interval
                    .max(step.unwrap_or_default())
                    .min(policy.max_interval)
                    .max(SHORTEST_BACKOFF);
                interval = pause.saturating_mul(2).min(policy.max_interval);
                pause
            }
        };
        let elapsed = started.elapsed();
        // Past the deadline: give up, unless nothing was polled yet (a known state with a zero
        // deadline still gets its one poll).
        if elapsed >= policy.deadline && polls > 0 {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: elapsed,
            });
        }
        // The last pause ends at the deadline, for one final poll.
        tokio::time::sleep(pause.min(policy.deadline.saturating_sub(elapsed))).await;
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

    /// Runs a job that finishes `finish` after the start, whose provider reports the ETA
    /// `eta_at` (time since the start, a whole second) with a resolution of one second; returns
    /// the instants of every poll, the one that sees the job done included.
    async fn poll_instants(
        policy: &WaitPolicy,
        finish: Duration,
        eta_at: Duration,
    ) -> Vec<Duration> {
        instants(policy, finish, eta_at, false).await.0
    }

    /// Like [`poll_instants`], but the ETA is known from the submission (`wait_for_known`);
    /// returns the poll instants and the polls `on_progress` was told about.
    async fn known_poll_instants(
        policy: &WaitPolicy,
        finish: Duration,
        eta_at: Duration,
    ) -> (Vec<Duration>, Vec<u32>) {
        instants(policy, finish, eta_at, true).await
    }

    async fn instants(
        policy: &WaitPolicy,
        finish: Duration,
        eta_at: Duration,
        known: bool,
    ) -> (Vec<Duration>, Vec<u32>) {
        let started = tokio::time::Instant::now();
        let seen = std::sync::Mutex::new(Vec::new());
        let mut reported = Vec::new();
        // As Topaz: the time left until the ETA, none once it has passed; the resolution
        // either way.
        let progress = |status: &str, now: Duration| {
            JobProgress::new("j", status)
                .eta(eta_at.checked_sub(now).filter(|left| !left.is_zero()))
                .eta_resolution(Some(Duration::from_secs(1)))
        };
        let poll = || async {
            let now = started.elapsed();
            seen.lock().unwrap().push(now);
            if now >= finish {
                return Ok(Poll::Done(()));
            }
            Ok(Poll::Pending(progress("Processing", now)))
        };
        let on_progress = |p: &JobProgress| reported.push(p.polls);
        if known {
            let first = progress("Pending", Duration::ZERO);
            wait_for_known(policy, "job", first, poll, on_progress).await
        } else {
            wait_for(policy, "job", poll, on_progress).await
        }
        .unwrap();
        (seen.into_inner().unwrap(), reported)
    }

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    fn fast_policy() -> WaitPolicy {
        WaitPolicy::default()
            .min_interval(Duration::from_millis(50))
            .max_interval(Duration::from_secs(60))
    }

    #[tokio::test(start_paused = true)]
    async fn a_resolution_too_fine_to_step_with_a_zero_minimum_is_an_exact_eta() {
        let policy = WaitPolicy::default()
            .min_interval(Duration::ZERO)
            .max_interval(Duration::from_secs(60));
        let started = tokio::time::Instant::now();
        let seen = std::sync::Mutex::new(Vec::new());
        wait_for(
            &policy,
            "job",
            || async {
                let now = started.elapsed();
                seen.lock().unwrap().push(now);
                if now >= Duration::from_secs(2) {
                    return Ok(Poll::Done(()));
                }
                let mut progress = JobProgress::new("j", "Processing")
                    .eta(Some(Duration::from_secs(2) - now))
                    .eta_resolution(Some(Duration::from_nanos(1)));
                // The field is public: a zero resolution must not divide by zero either.
                if now > Duration::ZERO {
                    progress.eta_resolution = Some(Duration::ZERO);
                }
                Ok(Poll::Pending(progress))
            },
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(seen.into_inner().unwrap(), ms(&[0, 2000]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_second_eta_rounded_up_is_polled_half_a_second_before_and_at_it() {
        let policy = fast_policy();
        // Finishing in the first half of the second before the ETA (3 s): seen at 2.5 s.
        let early =
            poll_instants(&policy, Duration::from_millis(2300), Duration::from_secs(3)).await;
        assert_eq!(early, ms(&[0, 2500]));
        // In the second half: seen at the ETA, the third poll.
        let late =
            poll_instants(&policy, Duration::from_millis(2700), Duration::from_secs(3)).await;
        assert_eq!(late, ms(&[0, 2500, 3000]));
        // The job finishing exactly at the ETA is seen then.
        let exact = poll_instants(&policy, Duration::from_secs(3), Duration::from_secs(3)).await;
        assert_eq!(exact, ms(&[0, 2500, 3000]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_steps_count_from_the_first_poll_not_from_the_eta() {
        let policy = fast_policy();
        // Two-second jobs whose ETA, rounded up to a whole second, falls 0.3 s after the finish:
        // seen exactly at 2 s (four steps), not at the ETA (2.3 s) or 1.8 s + a step.
        let seen =
            poll_instants(&policy, Duration::from_secs(2), Duration::from_millis(2300)).await;
        assert_eq!(seen, ms(&[0, 2000]));
        // 0.8 s after the finish: 2 s is before `eta - 0.5`, so 2.5 s.
        let seen =
            poll_instants(&policy, Duration::from_secs(2), Duration::from_millis(2800)).await;
        assert_eq!(seen, ms(&[0, 2500]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_second_eta_rounded_down_is_followed_in_half_second_steps() {
        let policy = fast_policy();
        // ETA 2 s, finishing at 2.3 s: polls at 1.5, 2 (the ETA has passed), 2.5.
        let early =
            poll_instants(&policy, Duration::from_millis(2300), Duration::from_secs(2)).await;
        assert_eq!(early, ms(&[0, 1500, 2000, 2500]));
        // Finishing at 2.7 s: the step after 2.5 s has doubled to 1 s.
        let late =
            poll_instants(&policy, Duration::from_millis(2700), Duration::from_secs(2)).await;
        assert_eq!(late, ms(&[0, 1500, 2000, 2500, 3500]));
    }

    #[tokio::test(start_paused = true)]
    async fn an_eta_wrong_by_seconds_backs_off_from_the_half_second_step() {
        let policy = fast_policy();
        // ETA 2 s, finishing at 6.2 s: after the ETA the pauses are 0.5, 1, 2, 4 s.
        let seen =
            poll_instants(&policy, Duration::from_millis(6200), Duration::from_secs(2)).await;
        assert_eq!(seen, ms(&[0, 1500, 2000, 2500, 3500, 5500, 9500]));
        // The backoff stops at the maximum pause.
        let capped = fast_policy().max_interval(Duration::from_secs(1));
        let seen =
            poll_instants(&capped, Duration::from_millis(4200), Duration::from_secs(2)).await;
        assert_eq!(seen, ms(&[0, 1000, 1500, 2000, 2500, 3500, 4500]));
    }

    #[tokio::test(start_paused = true)]
    async fn an_eta_already_past_steps_by_half_a_second_not_by_the_minimum() {
        let policy = fast_policy();
        // The ETA (0 s) has passed at the first poll; the job finishes at 1.2 s.
        let seen = poll_instants(&policy, Duration::from_millis(1200), Duration::ZERO).await;
        assert_eq!(seen, ms(&[0, 500, 1500]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_minimum_pause_is_the_floor_of_the_steps() {
        // With a 1 s minimum the steps are whole seconds: at the ETA, then after.
        let policy = WaitPolicy::default().min_interval(Duration::from_secs(1));
        let up = poll_instants(&policy, Duration::from_millis(2700), Duration::from_secs(3)).await;
        assert_eq!(up, ms(&[0, 3000]));
        let down =
            poll_instants(&policy, Duration::from_millis(2300), Duration::from_secs(2)).await;
        assert_eq!(down, ms(&[0, 2000, 3000]));
        // No pause is shorter than the minimum, however close the ETA.
        let close = poll_instants(
            &policy,
            Duration::from_millis(900),
            Duration::from_millis(1000),
        )
        .await;
        assert_eq!(close, ms(&[0, 1000]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_coarse_eta_keeps_the_deadline() {
        let policy = fast_policy().deadline(Duration::from_millis(2700));
        let started = tokio::time::Instant::now();
        let err = wait_for(
            &policy,
            "topaz job 2",
            || async {
                let left = Duration::from_secs(3).checked_sub(started.elapsed());
                Ok::<_, Error>(Poll::<()>::Pending(
                    JobProgress::new("2", "Processing")
                        .eta(left)
                        .eta_resolution(Some(Duration::from_secs(1))),
                ))
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }));
        assert_eq!(started.elapsed(), Duration::from_millis(2700));
    }
    #[tokio::test(start_paused = true)]
    async fn the_default_policy_steps_by_half_a_second_around_a_whole_second_eta() {
        let policy = WaitPolicy::default();
        assert_eq!(policy.min_interval, Duration::from_millis(500));
        // Rounded up (finishes at 2.7 s, ETA 3 s): half a second before the ETA, then at it.
        let up = poll_instants(&policy, Duration::from_millis(2700), Duration::from_secs(3)).await;
        assert_eq!(up, ms(&[0, 2500, 3000]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_eta_replaces_the_first_poll() {
        let policy = WaitPolicy::default();
        // Finishes at 1.8 s, ETA 2 s: no poll at 0, the first one half a second before the ETA
        // and the second at it.
        let (seen, reported) =
            known_poll_instants(&policy, Duration::from_millis(1800), Duration::from_secs(2)).await;
        assert_eq!(seen, ms(&[1500, 2000]));
        // The known state is not a poll: the first poll reported is number 1.
        assert_eq!(reported, [1]);
        // A job done by the first scheduled poll costs that one poll.
        let (seen, reported) =
            known_poll_instants(&policy, Duration::from_millis(1400), Duration::from_secs(2)).await;
        assert_eq!(seen, ms(&[1500]));
        assert!(reported.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_eta_that_has_passed_polls_at_once() {
        let (seen, _) =
            known_poll_instants(&WaitPolicy::default(), Duration::ZERO, Duration::ZERO).await;
        assert_eq!(seen, ms(&[0]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_eta_keeps_the_deadline() {
        // An ETA far past the deadline: one poll at the deadline, then the timeout.
        let policy = WaitPolicy::default().deadline(Duration::from_secs(5));
        let started = tokio::time::Instant::now();
        let known = JobProgress::new("j", "Pending").eta(Some(Duration::from_secs(3600)));
        let polls = AtomicU32::new(0);
        let error = wait_for_known(
            &policy,
            "job",
            known,
            || async {
                polls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(Poll::<()>::Pending(JobProgress::new("j", "Pending")))
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
    #[tokio::test(start_paused = true)]
    async fn policies_set_through_the_public_fields_neither_panic_nor_spin() {
        // A minimum above the maximum, and an ETA: no panic, one pause of the maximum.
        let mut inverted = WaitPolicy::default().deadline(Duration::from_secs(5));
        inverted.min_interval = Duration::from_secs(3);
        inverted.max_interval = Duration::from_secs(1);
        let seen = poll_instants(&inverted, Duration::from_secs(2), Duration::from_secs(4)).await;
        assert_eq!(seen, ms(&[0, 1000, 2000]));
        // Zero pauses and no ETA: polls at most every millisecond until the deadline.
        let mut zero = WaitPolicy::default().deadline(Duration::from_millis(20));
        zero.min_interval = Duration::ZERO;
        zero.max_interval = Duration::ZERO;
        let polls = AtomicU32::new(0);
        let error = wait_for(
            &zero,
            "job",
            || async {
                polls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(Poll::<()>::Pending(JobProgress::new("j", "Pending")))
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }));
        assert!(polls.load(Ordering::SeqCst) <= 22, "{polls:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_eta_with_a_zero_deadline_still_polls_once() {
        let policy = WaitPolicy::default().deadline(Duration::ZERO);
        let (seen, _) = known_poll_instants(&policy, Duration::ZERO, Duration::from_secs(2)).await;
        assert_eq!(seen, ms(&[0]));
    }
}

//! When and how long to wait before sending a failed request again.

use std::time::{Duration, SystemTime};

/// How failed requests are retried.
///
/// Retried: HTTP 429, 425, 502, 503, 504 and connection failures, with exponential backoff and
/// full jitter (a random wait between zero and `base_delay × 2ⁿ`, capped at `max_delay`), or
/// exactly the wait the server asked for (`Retry-After` in seconds or as an HTTP date, or a
/// `retry_after` field in a JSON error body).
///
/// A job submission (an operation that starts paid work) is sent again only when the server
/// surely did not take it: 429, 425 and 503 answers, and connections that were never
/// established. After a timeout, a reset or a 502/504 the job may exist, so the error is returned
/// instead of risking a second charge.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` means no retry.
    pub max_attempts: u32,
    /// The backoff before the first retry (before jitter).
    pub base_delay: Duration,
    /// The largest backoff between two attempts.
    pub max_delay: Duration,
    /// A server asking for a longer wait than this is not retried: its answer is returned.
    pub max_retry_after: Duration,
    /// Whether backoffs are randomised (full jitter). Turn off only for tests.
    pub jitter: bool,
    /// Whether job submissions are retried at all (default `true`, within the rule above).
    /// A caller with its own retry loop for submissions (the `cutout` router, which sends a
    /// refused submission to another provider) turns this off, so that retries do not stack.
    pub retry_submissions: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, 500 ms base, 20 s cap, server-requested waits up to 2 minutes, jitter on.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            jitter: true,
            retry_submissions: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the backoff cap.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the longest server-requested wait that is still honoured.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Sets [`retry_submissions`](Self::retry_submissions): `false` sends every job submission
    /// once and returns its failure, for a caller that retries (or reroutes) submissions
    /// itself. Other requests keep being retried.
    pub fn retry_submissions(mut self, retry: bool) -> Self {
        self.retry_submissions = retry;
        self
    }

    /// Turns jitter off, so backoffs are exactly `base_delay × 2ⁿ` (for reproducible tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The backoff before retry number `retry` (0 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_delay);
        if self.jitter {
            ceiling.mul_f64(fastrand::f64())
        } else {
            ceiling
        }
    }
}

/// Whether an answer with this status is worth sending again.
pub(crate) fn status_is_retryable(status: u16, submission: bool) -> bool {
    match status {
        // The server refused before doing anything.
        425 | 429 | 503 => true,
        // A gateway gave up; the origin may have started the job.
        502 | 504 => !submission,
        _ => false,
    }
}

/// Whether a transport failure is worth another attempt.
pub(crate) fn error_is_retryable(error: &reqwest::Error, submission: bool) -> bool {
    // A connection that was never established carried nothing.
    error.is_connect()
        || (!submission && (error.is_timeout() || error.is_request() || error.is_body()))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A `retry_after` number of seconds in a JSON body (ModelsLab's 429 answer).
pub(crate) fn retry_after_in_body(body: &[u8]) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let seconds = value.get("retry_after")?;
    seconds
        .as_u64()
        .or_else(|| seconds.as_str().and_then(|s| s.trim().parse().ok()))
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(500))
            .without_jitter();
        let delays: Vec<_> = (0..5).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let jittered = RetryPolicy::default().base_delay(Duration::from_millis(100));
        for n in 0..50 {
            assert!(jittered.backoff(n % 3) <= Duration::from_millis(400));
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            retry_after_in_body(br#"{"status":"error","retry_after":30}"#),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn submissions_are_resent_only_when_surely_not_taken() {
        for status in [425, 429, 503] {
            assert!(status_is_retryable(status, true));
        }
        for status in [502, 504] {
            assert!(!status_is_retryable(status, true));
            assert!(status_is_retryable(status, false));
        }
        for status in [400, 401, 402, 404, 409, 500] {
            assert!(!status_is_retryable(status, false));
        }
    }
}

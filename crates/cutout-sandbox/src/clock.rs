//! The sandbox clock: real time since start plus whatever tests added with `advance_clock`.
//!
//! Every time-dependent rule of the simulators (job progress, link and file expiry, webhook
//! backoff) reads this clock, so a test can jump hours ahead without waiting.

use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// A point on the sandbox clock, measured from the moment the sandbox started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct SimTime(Duration);

impl SimTime {
    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    pub(crate) fn since(self, earlier: SimTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: Duration) -> SimTime {
        SimTime(self.0.saturating_add(rhs))
    }
}

impl Sub<SimTime> for SimTime {
    type Output = Duration;
    fn sub(self, rhs: SimTime) -> Duration {
        self.since(rhs)
    }
}

/// The clock shared by every simulator of one sandbox.
#[derive(Debug)]
pub(crate) struct Clock {
    started: Instant,
    /// Wall-clock time at start, so timestamps in answers look like real Unix times.
    started_wall: Duration,
    /// Manual advances, in nanoseconds.
    offset_nanos: AtomicU64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            started_wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            offset_nanos: AtomicU64::new(0),
        }
    }

    /// The current sandbox time.
    pub(crate) fn now(&self) -> SimTime {
        let offset = Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst));
        SimTime(self.started.elapsed().saturating_add(offset))
    }

    /// Moves the clock forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| {
                Some(old.saturating_add(nanos))
            });
    }

    /// `t` as a Unix time in seconds (rounded down).
    pub(crate) fn unix_secs(&self, t: SimTime) -> i64 {
        i64::try_from(self.started_wall.saturating_add(t.0).as_secs()).unwrap_or(i64::MAX)
    }

    /// `t` as a Unix time in seconds, rounded up (for deadlines such as an ETA).
    pub(crate) fn unix_secs_ceil(&self, t: SimTime) -> i64 {
        let total = self.started_wall.saturating_add(t.0);
        let secs = i64::try_from(total.as_secs()).unwrap_or(i64::MAX);
        if total.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        }
    }

    /// `t` as a Unix time in milliseconds.
    pub(crate) fn unix_millis(&self, t: SimTime) -> u64 {
        u64::try_from(self.started_wall.saturating_add(t.0).as_millis()).unwrap_or(u64::MAX)
    }

    /// `t` as a UTC date-time.
    pub(crate) fn datetime(&self, t: SimTime) -> DateTime<Utc> {
        let total = self.started_wall.saturating_add(t.0);
        let secs = i64::try_from(total.as_secs()).unwrap_or(i64::MAX);
        DateTime::from_timestamp(secs, total.subsec_nanos()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_time_forward() {
        let clock = Clock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after.since(before) >= Duration::from_secs(3600));
        assert!(clock.unix_secs(after) - clock.unix_secs(before) >= 3600);
    }
}

//! A circuit breaker per provider: closed while the failure ratio over a time window stays low,
//! open (skipped) for a cooldown once it does not, then half-open: one probe decides. Time is an
//! argument, so the state machine is tested without sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// The outcomes considered: those of the last `window` (default 60 s).
    pub window: Duration,
    /// No opening on fewer outcomes than this within the window (default 5).
    pub min_requests: u32,
    /// Opens when failures / outcomes within the window reach this (default 0.5).
    pub failure_ratio: f64,
    /// How long it stays open before one probe is let through (default 30 s).
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            window: Duration::from_secs(60),
            min_requests: 5,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// The most outcomes a breaker keeps, whatever the window: enough for any ratio to be
/// meaningful, small enough that a busy provider cannot grow it without bound.
const MAX_OUTCOMES: usize = 1024;

impl BreakerPolicy {
    /// Sets [`window`](Self::window).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
    /// Sets [`min_requests`](Self::min_requests).
    pub fn min_requests(mut self, requests: u32) -> Self {
        self.min_requests = requests;
        self
    }
    /// Sets [`failure_ratio`](Self::failure_ratio) (clamped to 0..=1).
    pub fn failure_ratio(mut self, ratio: f64) -> Self {
        self.failure_ratio = ratio.clamp(0.0, 1.0);
        self
    }
    /// Sets [`cooldown`](Self::cooldown).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }
}

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Requests go through.
    Closed,
    /// Requests are refused until the cooldown ends.
    Open {
        /// Time left until a probe is let through.
        remaining: Duration,
    },
    /// One probe is (or may be) in flight; its outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open`, `half_open`.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Whether a request may go to the provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Yes.
    Allowed,
    /// Yes, as the one half-open probe: report its outcome.
    Probe,
    /// No: open (or a probe is already in flight), for at least this long.
    Refused {
        /// Time left until a probe is let through (zero while a probe is in flight).
        remaining: Duration,
    },
}

/// One provider's breaker. Bounded: it keeps at most the outcomes of one window, capped.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    outcomes: VecDeque<(Instant, bool)>,
    open_until: Option<Instant>,
    probe_in_flight: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            outcomes: VecDeque::new(),
            open_until: None,
            probe_in_flight: false,
        }
    }

    /// Asks to send a request at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.open_until {
            None => Admission::Allowed,
            Some(until) if now < until => Admission::Refused {
                remaining: until - now,
            },
            Some(_) if self.probe_in_flight => Admission::Refused {
                remaining: Duration::ZERO,
            },
            Some(_) => {
                self.probe_in_flight = true;
                Admission::Probe
            }
        }
    }

    /// Records a success at `now` (a probe's success closes the breaker).
    pub fn record_success(&mut self, now: Instant) {
        match self.open_until {
            // Half-open: the probe went through; start afresh.
            Some(until) if now >= until => {
                self.open_until = None;
                self.probe_in_flight = false;
                self.outcomes.clear();
            }
            // A request admitted before the breaker opened: the cooldown still stands.
            Some(_) => {}
            None => self.push(now, true),
        }
    }

    /// Records a failure at `now` (a probe's failure re-opens it for another cooldown).
    pub fn record_failure(&mut self, now: Instant) {
        match self.open_until {
            Some(until) if now >= until => self.open(now),
            Some(_) => {}
            None => {
                self.push(now, false);
                let total = self.outcomes.len();
                let failures = self.outcomes.iter().filter(|(_, ok)| !ok).count();
                if total >= self.policy.min_requests.max(1) as usize
                    && failures as f64 >= self.policy.failure_ratio * total as f64
                {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: Instant) {
        self.open_until = Some(later(now, self.policy.cooldown));
        self.probe_in_flight = false;
        self.outcomes.clear();
    }

    /// Keeps the outcome, forgetting those older than the window (and the oldest beyond the cap).
    fn push(&mut self, now: Instant, ok: bool) {
        while let Some((at, _)) = self.outcomes.front()
            && now.saturating_duration_since(*at) > self.policy.window
        {
            self.outcomes.pop_front();
        }
        if self.outcomes.len() >= MAX_OUTCOMES {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back((now, ok));
    }

    /// A request admitted as [`Admission::Probe`] ended without an outcome for the provider's
    /// health (e.g. invalid input): let another probe through.
    pub fn release_probe(&mut self) {
        self.probe_in_flight = false;
    }

    /// Whether the one half-open probe is out.
    pub fn probe_in_flight(&self) -> bool {
        self.probe_in_flight
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open {
                remaining: until - now,
            },
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

/// `now + wait`, saturating: a wait too long for the clock (`Duration::MAX`) is "far future"
/// (about 30 years), never a panic.
pub(crate) fn later(now: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR.min(wait)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy::default()
            .window(Duration::from_secs(60))
            .min_requests(4)
            .failure_ratio(0.5)
            .cooldown(Duration::from_secs(30))
    }

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn opens_at_the_ratio_once_there_are_enough_outcomes() {
        let t = Instant::now();
        let mut breaker = Breaker::new(policy());
        // Three failures: below min_requests, still closed.
        for s in 0..3 {
            breaker.record_failure(at(t, s));
            assert_eq!(breaker.admit(at(t, s)), Admission::Allowed);
        }
        breaker.record_failure(at(t, 3));
        assert_eq!(
            breaker.state(at(t, 3)),
            BreakerState::Open {
                remaining: Duration::from_secs(30)
            }
        );
        assert_eq!(
            breaker.admit(at(t, 13)),
            Admission::Refused {
                remaining: Duration::from_secs(20)
            }
        );

        // Successes count as outcomes: 1 of 4 and 2 of 5 stay closed, 3 of 6 (0.5) opens.
        let mut breaker = Breaker::new(policy());
        breaker.record_success(at(t, 0));
        breaker.record_success(at(t, 1));
        breaker.record_failure(at(t, 2));
        breaker.record_success(at(t, 3));
        assert_eq!(breaker.state(at(t, 3)), BreakerState::Closed);
        breaker.record_failure(at(t, 4));
        assert_eq!(breaker.state(at(t, 4)), BreakerState::Closed);
        breaker.record_failure(at(t, 5));
        assert!(matches!(breaker.state(at(t, 5)), BreakerState::Open { .. }));
    }

    #[test]
    fn outcomes_older_than_the_window_do_not_count() {
        let t = Instant::now();
        let mut breaker = Breaker::new(policy());
        for s in 0..3 {
            breaker.record_failure(at(t, s));
        }
        // 100 s later the three are forgotten: one more failure is one outcome in the window.
        breaker.record_failure(at(t, 100));
        assert_eq!(breaker.state(at(t, 100)), BreakerState::Closed);
        for s in 101..104 {
            breaker.record_failure(at(t, s));
        }
        assert!(matches!(
            breaker.state(at(t, 103)),
            BreakerState::Open { .. }
        ));
    }

    #[test]
    fn one_probe_after_the_cooldown_decides() {
        let t = Instant::now();
        let mut breaker = Breaker::new(policy());
        for s in 0..4 {
            breaker.record_failure(at(t, s));
        }
        // Open until 33 s; then exactly one probe.
        assert!(matches!(
            breaker.admit(at(t, 32)),
            Admission::Refused { .. }
        ));
        assert_eq!(breaker.state(at(t, 33)), BreakerState::HalfOpen);
        assert_eq!(breaker.admit(at(t, 33)), Admission::Probe);
        assert_eq!(
            breaker.admit(at(t, 33)),
            Admission::Refused {
                remaining: Duration::ZERO
            }
        );
        // The probe fails: open for another cooldown.
        breaker.record_failure(at(t, 34));
        assert_eq!(
            breaker.state(at(t, 34)),
            BreakerState::Open {
                remaining: Duration::from_secs(30)
            }
        );
        assert!(matches!(
            breaker.admit(at(t, 50)),
            Admission::Refused { .. }
        ));
        // The next probe succeeds: closed, with a clean window.
        assert_eq!(breaker.admit(at(t, 64)), Admission::Probe);
        breaker.record_success(at(t, 65));
        assert_eq!(breaker.state(at(t, 65)), BreakerState::Closed);
        assert_eq!(breaker.admit(at(t, 65)), Admission::Allowed);
        for s in 66..69 {
            breaker.record_failure(at(t, s));
        }
        assert_eq!(breaker.state(at(t, 68)), BreakerState::Closed);
    }

    #[test]
    fn a_released_probe_lets_another_through_and_memory_is_capped() {
        let t = Instant::now();
        let mut breaker = Breaker::new(policy());
        for s in 0..4 {
            breaker.record_failure(at(t, s));
        }
        assert_eq!(breaker.admit(at(t, 40)), Admission::Probe);
        breaker.release_probe();
        assert_eq!(breaker.admit(at(t, 40)), Admission::Probe);

        let mut busy = Breaker::new(policy().window(Duration::from_secs(3600)));
        for n in 0..10_000 {
            busy.record_success(t + Duration::from_millis(n));
        }
        assert!(busy.outcomes.len() <= MAX_OUTCOMES);
        assert_eq!(BreakerState::HalfOpen.name(), "half_open");
    }

    #[test]
    fn a_cooldown_too_long_for_the_clock_saturates_instead_of_panicking() {
        let t = Instant::now();
        let mut breaker = Breaker::new(policy().cooldown(Duration::MAX));
        for s in 0..4 {
            breaker.record_failure(at(t, s));
        }
        match breaker.state(at(t, 4)) {
            BreakerState::Open { remaining } => {
                assert!(
                    remaining > Duration::from_secs(365 * 24 * 3600),
                    "{remaining:?}"
                )
            }
            other => panic!("should be open: {other:?}"),
        }
        assert!(matches!(
            breaker.admit(at(t, 3600)),
            Admission::Refused { .. }
        ));
        assert!(later(t, Duration::MAX) > at(t, 1_000_000));
        assert_eq!(later(t, Duration::from_secs(5)), at(t, 5));
    }
}

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
        todo!()
    }
}

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
        todo!()
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
        let _ = now;
        todo!()
    }

    /// Records a success at `now` (a probe's success closes the breaker).
    pub fn record_success(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    /// Records a failure at `now` (a probe's failure re-opens it for another cooldown).
    pub fn record_failure(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    /// A request admitted as [`Admission::Probe`] ended without an outcome for the provider's
    /// health (e.g. invalid input): let another probe through.
    pub fn release_probe(&mut self) {
        self.probe_in_flight = false;
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        let _ = now;
        todo!()
    }
}

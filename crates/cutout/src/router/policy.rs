//! The routing policy as pure functions: an error is classified once ([`classify`]), and a class
//! plus the router's state gives a [`Decision`] ([`decide`]). No clock, no I/O: unit-tested as a
//! table.

use std::time::Duration;

use cutout_runtime::Error;

use super::breaker::BreakerPolicy;

/// What kind of failure a provider's answer was, as far as routing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// No credits or quota left (HTTP 402, or the provider's own spelling of it).
    OutOfCredits,
    /// Too many requests (HTTP 429, or a queue cap).
    RateLimited,
    /// The provider is down or unreachable, and surely did not take the job: 503, a connection
    /// never established.
    Outage,
    /// The submission failed in a way that may have left a paid job behind: a timeout, a reset
    /// connection, 500/502/504, an unreadable answer. Never sent elsewhere.
    MayHaveBeenTaken,
    /// The key is missing, wrong, or not allowed (401/403).
    Auth,
    /// The input itself was refused (locally, or 400/413/415/422 by the provider).
    InvalidInput,
    /// The provider cannot do this with this input (a capability it lacks).
    Unsupported,
    /// The job was accepted and then failed at the provider.
    JobFailed,
    /// Anything else (a local file error, an unexpected answer before any job existed).
    Other,
}

impl ErrorClass {
    /// A short name for logs, stats and JSON: `out_of_credits`, `rate_limited`, `outage`,
    /// `may_have_been_taken`, `auth`, `invalid_input`, `unsupported`, `job_failed`, `other`.
    pub fn name(self) -> &'static str {
        todo!()
    }
}

/// Classifies a failed submission or job.
pub fn classify(error: &Error) -> ErrorClass {
    let _ = error;
    todo!()
}

/// What the router does after a provider failed an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Wait, then send to the same provider again (a short `Retry-After`).
    RetryAfter(Duration),
    /// Send the input to the next provider that can take it.
    NextProvider,
    /// Stop: return this error to the caller (the input is at fault, or the job may have been
    /// taken and paid for).
    Stop,
}

/// What happens to the failing provider, besides the decision for this input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthEffect {
    /// Nothing.
    None,
    /// Skip the provider for every input for this long (out of credits, bad key).
    CoolDown(Duration),
    /// A failure for its circuit breaker.
    BreakerFailure,
}

/// The router's knobs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RoutePolicy {
    /// How long a provider out of credits (or with a refused key) is skipped (default 1 h).
    pub cooldown: Duration,
    /// The longest `Retry-After` the router waits for before trying the same provider again;
    /// a longer one sends the input to the next provider (default 5 s).
    pub max_retry_after: Duration,
    /// How many times one input waits for the same provider (default 2).
    pub max_waits: u32,
    /// The circuit breaker of each provider.
    pub breaker: BreakerPolicy,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        todo!()
    }
}

impl RoutePolicy {
    /// Sets [`cooldown`](Self::cooldown).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// Sets [`max_retry_after`](Self::max_retry_after).
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }
    /// Sets [`max_waits`](Self::max_waits).
    pub fn max_waits(mut self, waits: u32) -> Self {
        self.max_waits = waits;
        self
    }
    /// Sets [`breaker`](Self::breaker).
    pub fn breaker(mut self, breaker: BreakerPolicy) -> Self {
        self.breaker = breaker;
        self
    }
}

/// What [`decide`] knows besides the error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Situation {
    /// The wait the provider asked for, if any.
    pub retry_after: Option<Duration>,
    /// How often this input has already waited for this provider.
    pub waits_so_far: u32,
    /// Whether a later provider in the list can take what this one refused as unsupported or
    /// invalid (e.g. a larger size limit, a format this one lacks).
    pub later_provider_can_take_it: bool,
}

/// The policy: error class + situation → what to do with the input, and with the provider.
pub fn decide(
    class: ErrorClass,
    situation: Situation,
    policy: &RoutePolicy,
) -> (Decision, HealthEffect) {
    let _ = (class, situation, policy);
    todo!()
}

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
        match self {
            ErrorClass::OutOfCredits => "out_of_credits",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Outage => "outage",
            ErrorClass::MayHaveBeenTaken => "may_have_been_taken",
            ErrorClass::Auth => "auth",
            ErrorClass::InvalidInput => "invalid_input",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::JobFailed => "job_failed",
            ErrorClass::Other => "other",
        }
    }
}

/// Classifies a failed submission or job. The order of the checks matters: a definite answer
/// about the job or the input wins over a status that could mean several things, and
/// [`Error::may_have_been_taken`] comes last but one, so that nothing that may have been paid
/// for is ever classified as safe to send elsewhere.
pub fn classify(error: &Error) -> ErrorClass {
    let status = error.status();
    if matches!(error, Error::JobFailed { .. }) {
        ErrorClass::JobFailed
    } else if error.is_invalid_input() || matches!(status, Some(400 | 413 | 415 | 422)) {
        ErrorClass::InvalidInput
    } else if matches!(error, Error::Unsupported { .. }) {
        ErrorClass::Unsupported
    } else if error.is_auth() {
        ErrorClass::Auth
    } else if error.is_insufficient_credits() {
        ErrorClass::OutOfCredits
    } else if matches!(status, Some(425 | 429)) {
        ErrorClass::RateLimited
    } else if status == Some(503)
        || matches!(
            error,
            Error::Transport {
                maybe_sent: false,
                ..
            }
        )
    {
        ErrorClass::Outage
    } else if error.may_have_been_taken() {
        ErrorClass::MayHaveBeenTaken
    } else {
        ErrorClass::Other
    }
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
    /// Rate limited: other inputs leave the provider alone for this long (its `Retry-After`,
    /// or the router's backoff), so that a 429 is learnt once, not once per input.
    Pause(Duration),
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
    /// With no provider left to try, the first wait after a rate limit or an outage that gave
    /// no `Retry-After`; it doubles with each wait, up to [`max_retry_after`](Self::max_retry_after)
    /// (default 500 ms).
    pub backoff: Duration,
    /// With no provider left to try, the longest `Retry-After` the router waits for (default
    /// 120 s, as a client's own [`RetryPolicy`](cutout_runtime::RetryPolicy)): the last provider
    /// is then no worse than a bare client.
    pub max_last_resort_wait: Duration,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        RoutePolicy {
            cooldown: Duration::from_secs(3600),
            max_retry_after: Duration::from_secs(5),
            max_waits: 2,
            breaker: BreakerPolicy::default(),
            backoff: Duration::from_millis(500),
            max_last_resort_wait: Duration::from_secs(120),
        }
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
    /// Sets [`backoff`](Self::backoff).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }
    /// Sets [`max_last_resort_wait`](Self::max_last_resort_wait).
    pub fn max_last_resort_wait(mut self, wait: Duration) -> Self {
        self.max_last_resort_wait = wait;
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
    /// No later provider can be tried for this input now (none left, or each skipped): a rate
    /// limit or an outage is then waited out (with a backoff, at most
    /// [`RoutePolicy::max_waits`] times) rather than returned at once.
    pub no_provider_left: bool,
}

impl Situation {
    /// Sets [`retry_after`](Self::retry_after).
    pub fn retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }
    /// Sets [`waits_so_far`](Self::waits_so_far).
    pub fn waits_so_far(mut self, waits: u32) -> Self {
        self.waits_so_far = waits;
        self
    }
    /// Sets [`later_provider_can_take_it`](Self::later_provider_can_take_it).
    pub fn later_provider_can_take_it(mut self, yes: bool) -> Self {
        self.later_provider_can_take_it = yes;
        self
    }
    /// Sets [`no_provider_left`](Self::no_provider_left).
    pub fn no_provider_left(mut self, yes: bool) -> Self {
        self.no_provider_left = yes;
        self
    }
}

/// The policy: error class + situation → what to do with the input, and with the provider.
pub fn decide(
    class: ErrorClass,
    situation: Situation,
    policy: &RoutePolicy,
) -> (Decision, HealthEffect) {
    let can_wait = situation.waits_so_far < policy.max_waits;
    // With nobody else to ask, wait as a bare client would: the provider's own wait when it is
    // not too long, else a doubling backoff.
    let last_resort_wait = || {
        if !(situation.no_provider_left && can_wait) {
            return None;
        }
        match situation.retry_after {
            Some(wait) if wait <= policy.max_last_resort_wait => Some(wait),
            Some(_) => None,
            None => Some(
                policy
                    .backoff
                    .saturating_mul(1u32 << situation.waits_so_far.min(16))
                    .min(policy.max_retry_after.max(policy.backoff)),
            ),
        }
    };
    let (decision, effect) = match class {
        ErrorClass::OutOfCredits | ErrorClass::Auth => (
            Decision::NextProvider,
            HealthEffect::CoolDown(policy.cooldown),
        ),
        ErrorClass::RateLimited => {
            let decision = match situation.retry_after {
                Some(wait) if wait <= policy.max_retry_after && can_wait => {
                    Decision::RetryAfter(wait)
                }
                _ => last_resort_wait().map_or(Decision::NextProvider, Decision::RetryAfter),
            };
            let pause = match decision {
                Decision::RetryAfter(wait) => wait,
                _ => situation.retry_after.unwrap_or(policy.backoff),
            };
            (decision, HealthEffect::Pause(pause))
        }
        ErrorClass::Outage => (
            last_resort_wait().map_or(Decision::NextProvider, Decision::RetryAfter),
            HealthEffect::BreakerFailure,
        ),
        // Never sent elsewhere: the first provider may be doing (and charging for) it.
        ErrorClass::MayHaveBeenTaken => (Decision::Stop, HealthEffect::BreakerFailure),
        ErrorClass::InvalidInput | ErrorClass::Unsupported => {
            if situation.later_provider_can_take_it {
                (Decision::NextProvider, HealthEffect::None)
            } else {
                (Decision::Stop, HealthEffect::None)
            }
        }
        ErrorClass::JobFailed => (Decision::NextProvider, HealthEffect::None),
        ErrorClass::Other => (Decision::Stop, HealthEffect::None),
    };
    // "Next provider" with nobody left to take the input would be a false promise.
    match decision {
        Decision::NextProvider if situation.no_provider_left => (Decision::Stop, effect),
        _ => (decision, effect),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, retry_after: Option<u64>) -> Error {
        Error::answered(
            crate::Provider::ALL[0].info(),
            "submit",
            status,
            Some("no".to_owned()),
            retry_after.map(Duration::from_secs),
        )
    }

    fn transport(maybe_sent: bool) -> Error {
        let built = reqwest::Client::new().get("http://[::1").build();
        Error::Transport {
            provider: "topaz",
            operation: "post_matting",
            maybe_sent,
            source: cutout_runtime::TransportError::new(built.unwrap_err()),
        }
    }

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let job_failed = Error::JobFailed {
            provider: "topaz",
            job_id: "1".into(),
            status: "Failed".into(),
            message: None,
        };
        let table: Vec<(Error, ErrorClass)> = vec![
            (job_failed, JobFailed),
            (Error::invalid("image", "bad"), InvalidInput),
            (answered(400, None), InvalidInput),
            (answered(413, None), InvalidInput),
            (answered(415, None), InvalidInput),
            (answered(422, None), InvalidInput),
            (
                Error::Unsupported {
                    provider: "tengr",
                    message: "url only".into(),
                },
                Unsupported,
            ),
            (answered(401, None), Auth),
            (answered(403, None), Auth),
            (
                Error::MissingKey {
                    provider: "topaz",
                    variable: "TOPAZ_API_KEY",
                    empty: true,
                },
                Auth,
            ),
            (answered(402, None), OutOfCredits),
            (answered(429, Some(1)), RateLimited),
            (answered(425, None), RateLimited),
            (answered(503, Some(5)), Outage),
            (
                Error::unexpected("topaz", "post_matting", "html").with_status(503),
                Outage,
            ),
            (transport(false), Outage),
            (transport(true), MayHaveBeenTaken),
            (answered(500, None), MayHaveBeenTaken),
            (answered(502, None), MayHaveBeenTaken),
            (answered(504, None), MayHaveBeenTaken),
            (
                Error::Timeout {
                    what: "the answer".into(),
                    waited: Duration::from_secs(1),
                },
                MayHaveBeenTaken,
            ),
            (
                Error::unexpected("topaz", "post_matting", "no id").with_status(200),
                MayHaveBeenTaken,
            ),
            (answered(404, None), Other),
            (Error::config("no base url"), Other),
            (
                Error::io(
                    "read",
                    "a.png",
                    std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
                ),
                Other,
            ),
        ];
        for (error, class) in &table {
            assert_eq!(classify(error), *class, "{error:?}");
        }
        // Nothing classified as safe to send elsewhere may have been taken.
        for (error, class) in &table {
            if matches!(
                class,
                OutOfCredits | RateLimited | Outage | Auth | InvalidInput
            ) {
                assert!(!error.may_have_been_taken(), "{error:?}");
            }
        }
    }

    #[test]
    fn decide_table() {
        use Decision::*;
        use HealthEffect as H;
        let policy = RoutePolicy::default();
        let s = Situation::default;
        let secs = Duration::from_secs;
        let cases: Vec<(ErrorClass, Situation, (Decision, HealthEffect))> = vec![
            (
                ErrorClass::OutOfCredits,
                s(),
                (NextProvider, H::CoolDown(secs(3600))),
            ),
            (
                ErrorClass::Auth,
                s(),
                (NextProvider, H::CoolDown(secs(3600))),
            ),
            // A short Retry-After is waited for, twice at most; a long one goes on. Either
            // way the provider is paused for other inputs as long as it asked (or a backoff).
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(1))),
                (RetryAfter(secs(1)), H::Pause(secs(1))),
            ),
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(5))),
                (RetryAfter(secs(5)), H::Pause(secs(5))),
            ),
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(1))).waits_so_far(2),
                (NextProvider, H::Pause(secs(1))),
            ),
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(3600))),
                (NextProvider, H::Pause(secs(3600))),
            ),
            (
                ErrorClass::RateLimited,
                s(),
                (NextProvider, H::Pause(Duration::from_millis(500))),
            ),
            // Nobody else: wait as a bare client would.
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(30))).no_provider_left(true),
                (RetryAfter(secs(30)), H::Pause(secs(30))),
            ),
            (
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(3600))).no_provider_left(true),
                (Stop, H::Pause(secs(3600))),
            ),
            (
                ErrorClass::RateLimited,
                s().no_provider_left(true).waits_so_far(1),
                (
                    RetryAfter(Duration::from_millis(1000)),
                    H::Pause(Duration::from_millis(1000)),
                ),
            ),
            (ErrorClass::Outage, s(), (NextProvider, H::BreakerFailure)),
            (
                ErrorClass::Outage,
                s().no_provider_left(true),
                (RetryAfter(Duration::from_millis(500)), H::BreakerFailure),
            ),
            (
                ErrorClass::Outage,
                s().no_provider_left(true).waits_so_far(2),
                (Stop, H::BreakerFailure),
            ),
            // Nobody left: stop, whatever the class would otherwise say.
            (
                ErrorClass::OutOfCredits,
                s().no_provider_left(true),
                (Stop, H::CoolDown(secs(3600))),
            ),
            (
                ErrorClass::JobFailed,
                s().no_provider_left(true),
                (Stop, H::None),
            ),
            (
                ErrorClass::InvalidInput,
                s().later_provider_can_take_it(true).no_provider_left(true),
                (Stop, H::None),
            ),
            // Never elsewhere, whoever else could take it.
            (ErrorClass::MayHaveBeenTaken, s(), (Stop, H::BreakerFailure)),
            (
                ErrorClass::MayHaveBeenTaken,
                s().later_provider_can_take_it(true).no_provider_left(true),
                (Stop, H::BreakerFailure),
            ),
            (ErrorClass::InvalidInput, s(), (Stop, H::None)),
            (
                ErrorClass::InvalidInput,
                s().later_provider_can_take_it(true),
                (NextProvider, H::None),
            ),
            (ErrorClass::Unsupported, s(), (Stop, H::None)),
            (
                ErrorClass::Unsupported,
                s().later_provider_can_take_it(true),
                (NextProvider, H::None),
            ),
            (ErrorClass::JobFailed, s(), (NextProvider, H::None)),
            (ErrorClass::Other, s(), (Stop, H::None)),
            (
                ErrorClass::Other,
                s().later_provider_can_take_it(true),
                (Stop, H::None),
            ),
        ];
        for (class, situation, expected) in cases {
            assert_eq!(
                decide(class, situation, &policy),
                expected,
                "{class:?} {situation:?}"
            );
        }
        let patient = RoutePolicy::default().max_waits(0).cooldown(secs(60));
        assert_eq!(
            decide(
                ErrorClass::RateLimited,
                s().retry_after(Some(secs(1))),
                &patient
            ),
            (NextProvider, H::Pause(secs(1)))
        );
        assert_eq!(
            decide(ErrorClass::OutOfCredits, s(), &patient),
            (NextProvider, H::CoolDown(secs(60)))
        );
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(ErrorClass::OutOfCredits.name(), "out_of_credits");
        assert_eq!(ErrorClass::MayHaveBeenTaken.name(), "may_have_been_taken");
        assert_eq!(ErrorClass::JobFailed.name(), "job_failed");
    }
}

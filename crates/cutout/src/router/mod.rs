//! A [`Router`]: one [`BackgroundRemover`] over an ordered list of providers, falling back from
//! one to the next without ever paying twice.
//!
//! For each input the router walks its providers in order:
//!
//! - a provider that cannot take the input (a local file for a URL-only provider, a mask from
//!   one that makes cut-outs only, a format or size beyond its documented limits) is skipped,
//!   not tried; so is one over its [`ProviderBudget`], one cooling down, and one whose circuit
//!   breaker is open;
//! - out of credits (402, or the provider's own spelling) or a refused key: the provider cools
//!   down ([`RoutePolicy::cooldown`], 1 h by default) and the input goes to the next;
//! - 429 with a short `Retry-After`: wait and try the same provider again; otherwise the next.
//!   Either way the provider is paused for every other input for as long as it asked (or a
//!   backoff): they go to the next provider meanwhile, or wait if nobody else can take them,
//!   so a 429 storm is learnt once, not once per input;
//! - an outage (503, a connection never established): a failure for that provider's
//!   [`Breaker`], and the input goes to the next;
//! - a failure after which the provider **may have taken** the job (a timeout, a reset, a
//!   500/502/504): the error is returned, never sent elsewhere (that could pay twice);
//! - invalid input: returned (the input is at fault), unless a later provider can take what
//!   this one could not;
//! - a job that failed at the provider ([`Error::JobFailed`]): in
//!   [`remove_background`](BackgroundRemover::remove_background), the next provider.
//!
//! The clients keep their own [`RetryPolicy`](cutout_runtime::RetryPolicy) for reads; the
//! router is the one retry loop for submissions (its clients are built with retries of
//! submissions off, see [`Router::from_env`]).
//!
//! ```no_run
//! use cutout::router::Router;
//! use cutout::{ImageSource, Provider, RemoveOptions};
//!
//! # async fn run() -> Result<(), cutout::Error> {
//! let router = Router::from_env(&[Provider::Topaz, Provider::ModelsLab])?;
//! let routed = router
//!     .remove(ImageSource::path("photo.jpg"), RemoveOptions::default())
//!     .await;
//! for attempt in &routed.attempts {
//!     println!("{}: {}", attempt.provider, attempt.outcome);
//! }
//! let cutout = routed.result?;
//! println!("served by {}", cutout.provider);
//! # Ok(()) }
//! ```

mod breaker;
mod capability;
mod policy;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use cutout_runtime::{
    BackgroundRemover, BoxFuture, Cutout, Error, ImageSource, JobTicket, RemoveOptions,
};

pub use breaker::{Admission, Breaker, BreakerPolicy, BreakerState};
pub use policy::{Decision, ErrorClass, HealthEffect, RoutePolicy, Situation, classify, decide};

use crate::Provider;

/// A per-provider limit on what the router sends it (a filter: a provider at its limit is
/// skipped). `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProviderBudget {
    /// Most paid submissions.
    pub calls: Option<u64>,
    /// Most credits, by the router's cost estimate ([`RouterBuilder::cost`]).
    pub credits: Option<u64>,
}

impl ProviderBudget {
    /// At most `calls` submissions.
    pub fn calls(calls: u64) -> Self {
        ProviderBudget {
            calls: Some(calls),
            credits: None,
        }
    }
    /// At most `credits` credits.
    pub fn credits(credits: u64) -> Self {
        ProviderBudget {
            calls: None,
            credits: Some(credits),
        }
    }
}

/// Why a provider was not tried for an input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// It cannot take this input (the message says why).
    CannotTake(String),
    /// Its budget is spent.
    OverBudget,
    /// Cooling down after running out of credits or a refused key.
    CoolingDown {
        /// Time left.
        remaining: Duration,
    },
    /// Its circuit breaker is open (or its one probe is in flight).
    BreakerOpen {
        /// Time left until a probe.
        remaining: Duration,
    },
    /// The caller excluded it (its job for this input failed already).
    Excluded,
    /// It answered another input with 429 (too many requests) a moment ago: left alone until
    /// its `Retry-After` has passed.
    RateLimited {
        /// Time left.
        remaining: Duration,
    },
}

/// What happened at one provider for one input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// It took the input (and, for [`Router::remove`], delivered).
    Served,
    /// Not tried.
    Skipped(SkipReason),
    /// Tried, and it failed.
    Failed {
        /// How the failure was classified.
        class: ErrorClass,
        /// The error's message (no secrets: errors never carry keys).
        message: String,
        /// What the router did next.
        decision: Decision,
    },
}

impl SkipReason {
    /// `cannot_take`, `over_budget`, `cooling_down`, `breaker_open`, `excluded`.
    pub fn name(&self) -> &'static str {
        match self {
            SkipReason::CannotTake(_) => "cannot_take",
            SkipReason::OverBudget => "over_budget",
            SkipReason::CoolingDown { .. } => "cooling_down",
            SkipReason::BreakerOpen { .. } => "breaker_open",
            SkipReason::Excluded => "excluded",
            SkipReason::RateLimited { .. } => "rate_limited",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::CannotTake(why) => write!(f, "cannot take it: {why}"),
            SkipReason::OverBudget => f.write_str("over budget"),
            SkipReason::CoolingDown { remaining } => {
                write!(f, "cooling down ({} left)", Short(*remaining))
            }
            SkipReason::BreakerOpen { remaining } if remaining.is_zero() => {
                f.write_str("circuit half-open (its probe is in flight)")
            }
            SkipReason::BreakerOpen { remaining } => {
                write!(f, "circuit open ({} left)", Short(*remaining))
            }
            SkipReason::Excluded => f.write_str("excluded (its job for this input failed)"),
            SkipReason::RateLimited { remaining } => {
                write!(f, "rate limited ({} left)", Short(*remaining))
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::RetryAfter(wait) => write!(f, "retry in {}", Short(*wait)),
            Decision::NextProvider => f.write_str("next provider"),
            Decision::Stop => f.write_str("stop"),
        }
    }
}

/// A duration as people read it at a glance: `850ms`, `12s`, `59m`, `2h5m`.
struct Short(Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        match secs {
            0 => write!(f, "{}ms", self.0.as_millis()),
            1..60 => write!(f, "{secs}s"),
            60..3600 => write!(f, "{}m", secs / 60),
            _ => write!(f, "{}h{}m", secs / 3600, secs % 3600 / 60),
        }
    }
}

impl fmt::Display for AttemptOutcome {
    /// `served`, `skipped: cooling down (59m left)`, `out_of_credits → next provider: <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Served => f.write_str("served"),
            AttemptOutcome::Skipped(reason) => write!(f, "skipped: {reason}"),
            AttemptOutcome::Failed {
                class,
                message,
                decision,
            } => write!(f, "{} → {decision}: {message}", class.name()),
        }
    }
}

/// One provider's part in routing one input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The provider.
    pub provider: Provider,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// Time spent on it (zero when skipped).
    pub elapsed: Duration,
}

/// A routed call's result and every provider's part in it, in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct Routed<T> {
    /// What the call returned. An error is the last provider's (or the one that stopped the
    /// routing); [`Error::may_have_been_taken`] still tells whether it may have been paid.
    pub result: Result<T, Error>,
    /// Every provider considered, in order.
    pub attempts: Vec<Attempt>,
}

impl<T> Routed<T> {
    /// A result and the attempts that led to it.
    pub fn new(result: Result<T, Error>, attempts: Vec<Attempt>) -> Self {
        Routed { result, attempts }
    }

    /// The provider that served the call, if one did.
    pub fn served_by(&self) -> Option<Provider> {
        self.attempts
            .iter()
            .rev()
            .find(|a| a.outcome == AttemptOutcome::Served)
            .map(|a| a.provider)
    }
}

/// A snapshot of what the router did with one provider.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProviderStats {
    /// The provider.
    pub provider: Provider,
    /// Submissions it accepted.
    pub accepted: u64,
    /// Jobs it delivered (through [`Router::remove`] or [`resume`](BackgroundRemover::resume_removal)).
    pub delivered: u64,
    /// Failures, by [`ErrorClass::name`].
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    /// Inputs not sent to it, by reason (`cannot_take`, `over_budget`, `cooling_down`,
    /// `breaker_open`). Not `excluded`: a provider is excluded for an input only after its job
    /// for that input failed, which [`failures`](Self::failures) already counts.
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    /// Total time of its submissions (accepted or not).
    pub submit_time: Duration,
    /// Its slowest submission.
    pub slowest_submit: Duration,
    /// The calls of its budget: submissions it took, may have taken, or is answering now (one
    /// it surely refused is given back).
    pub calls: u64,
    /// The credits of its budget, by the cost estimate, counted as [`calls`](Self::calls).
    pub credits: u64,
    /// Its breaker now.
    pub breaker: BreakerState,
    /// Time left of its cooldown, if cooling down.
    pub cooling_down: Option<Duration>,
    /// Time left of its pause after a 429, if rate limited.
    pub rate_limited: Option<Duration>,
    /// Every submission sent to it, whatever came of it ([`calls`](Self::calls) leaves out
    /// those it surely did not take).
    pub sent: u64,
}

/// Estimates the credits a submission of `source` to `provider` costs (default: 1).
pub type CostFn = Arc<dyn Fn(Provider, &ImageSource) -> u64 + Send + Sync>;

/// One entry of the list.
struct Route {
    provider: Provider,
    remover: Box<dyn BackgroundRemover>,
    budget: ProviderBudget,
}

/// Mutable state shared by all calls: health and counters per provider, in the list's order.
/// Behind a `std` mutex that is never held across an `.await`.
#[derive(Default)]
struct Shared {
    providers: Vec<Health>,
}

/// One provider's health and counters.
struct Health {
    breaker: Breaker,
    cooling_until: Option<Instant>,
    /// Rate limited (a 429) until then: other inputs go elsewhere, or wait if nobody else can.
    paused_until: Option<Instant>,
    /// Submissions counted against the budget: taken, maybe taken, or in flight.
    calls: u64,
    /// Credits counted against the budget, likewise.
    credits: u64,
    sent: u64,
    accepted: u64,
    delivered: u64,
    failures: BTreeMap<&'static str, u64>,
    skipped: BTreeMap<&'static str, u64>,
    submit_time: Duration,
    slowest_submit: Duration,
}

impl Health {
    fn new(policy: &BreakerPolicy) -> Self {
        Health {
            breaker: Breaker::new(policy.clone()),
            cooling_until: None,
            paused_until: None,
            calls: 0,
            credits: 0,
            sent: 0,
            accepted: 0,
            delivered: 0,
            failures: BTreeMap::new(),
            skipped: BTreeMap::new(),
            submit_time: Duration::ZERO,
            slowest_submit: Duration::ZERO,
        }
    }
}

/// A submission let through: what to give back or report when it ends.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    cost: u64,
    probe: bool,
}

/// An ordered list of providers behind one [`BackgroundRemover`]. See the [module](self) docs.
pub struct Router {
    routes: Vec<Route>,
    policy: RoutePolicy,
    cost: CostFn,
    shared: Mutex<Shared>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("providers", &self.providers())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Router`].
#[must_use]
pub struct RouterBuilder {
    routes: Vec<Route>,
    policy: RoutePolicy,
    cost: Option<CostFn>,
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field(
                "providers",
                &self.routes.iter().map(|r| r.provider).collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RouterBuilder {
    /// Adds `provider`, served by `remover`, after those added before. For explicit base URLs
    /// and keys (a proxy, the sandbox), build each client with retries of submissions off: the
    /// router is their one retry loop.
    ///
    /// ```no_run
    /// use cutout::router::{ProviderBudget, Router};
    /// use cutout::{Provider, RetryPolicy};
    ///
    /// # fn run() -> Result<(), cutout::Error> {
    /// let retry = RetryPolicy::default().retry_submissions(false);
    /// let router = Router::builder()
    ///     .route(
    ///         Provider::Topaz,
    ///         Provider::Topaz.remover("http://127.0.0.1:7301", "topaz-key", retry.clone())?,
    ///     )
    ///     .route(
    ///         Provider::ModelsLab,
    ///         Provider::ModelsLab.remover("http://127.0.0.1:7303", "modelslab-key", retry)?,
    ///     )
    ///     .budget(Provider::Topaz, ProviderBudget::calls(100))
    ///     .build()?;
    /// # let _ = router; Ok(()) }
    /// ```
    pub fn route(mut self, provider: Provider, remover: Box<dyn BackgroundRemover>) -> Self {
        self.routes.push(Route {
            provider,
            remover,
            budget: ProviderBudget::default(),
        });
        self
    }

    /// Limits what is sent to `provider` (added before).
    pub fn budget(mut self, provider: Provider, budget: ProviderBudget) -> Self {
        for route in &mut self.routes {
            if route.provider == provider {
                route.budget = budget;
            }
        }
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: RoutePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the cost estimate the credit budgets and stats use.
    pub fn cost(
        mut self,
        cost: impl Fn(Provider, &ImageSource) -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.cost = Some(Arc::new(cost));
        self
    }

    /// The router. An empty list, a provider listed twice, or a remover whose
    /// [`provider_name`](BackgroundRemover::provider_name) is not its provider's, is an
    /// [`Error::Config`].
    pub fn build(self) -> Result<Router, Error> {
        if self.routes.is_empty() {
            return Err(Error::config(
                "a router needs at least one provider: add one with `route`",
            ));
        }
        for (index, route) in self.routes.iter().enumerate() {
            if self.routes[..index]
                .iter()
                .any(|r| r.provider == route.provider)
            {
                return Err(Error::config(format!(
                    "{} is listed twice in the router: list each provider once",
                    route.provider
                )));
            }
            if route.remover.provider_name() != route.provider.name() {
                return Err(Error::config(format!(
                    "the route for {} is served by a {} client: pass a {} client",
                    route.provider,
                    route.remover.provider_name(),
                    route.provider
                )));
            }
        }
        let shared = Shared {
            providers: self
                .routes
                .iter()
                .map(|_| Health::new(&self.policy.breaker))
                .collect(),
        };
        Ok(Router {
            routes: self.routes,
            policy: self.policy,
            cost: self.cost.unwrap_or_else(|| Arc::new(|_, _| 1)),
            shared: Mutex::new(shared),
        })
    }
}

impl Router {
    /// An empty builder.
    pub fn builder() -> RouterBuilder {
        RouterBuilder {
            routes: Vec::new(),
            policy: RoutePolicy::default(),
            cost: None,
        }
    }

    /// A router over `providers`, in this order, each client configured from the environment
    /// (keys and base URLs, as [`Provider::remover_from_env`]) with retries of submissions left
    /// to the router.
    pub fn from_env(providers: &[Provider]) -> Result<Router, Error> {
        let mut builder = Router::builder();
        for provider in providers {
            let retry = cutout_runtime::RetryPolicy::default().retry_submissions(false);
            builder = builder.route(*provider, provider.remover_from_env_with(retry)?);
        }
        builder.build()
    }

    /// The providers, in order.
    pub fn providers(&self) -> Vec<Provider> {
        self.routes.iter().map(|r| r.provider).collect()
    }

    /// The policy.
    pub fn policy(&self) -> &RoutePolicy {
        &self.policy
    }

    /// Submits `source` to the first provider that takes it (see the [module](self) docs),
    /// skipping those in `exclude`. The ticket names the provider that accepted it.
    pub async fn submit(
        &self,
        source: ImageSource,
        options: RemoveOptions,
        exclude: &[Provider],
    ) -> Routed<JobTicket> {
        let facts = if self
            .routes
            .iter()
            .any(|r| capability::needs_facts(r.provider.capabilities()))
        {
            capability::facts(&source).await
        } else {
            capability::InputFacts::default()
        };
        let takes = |route: &Route| {
            if exclude.contains(&route.provider) {
                return Err(SkipReason::Excluded);
            }
            capability::can_take(route.provider, &source, options.kind, &facts)
                .map_err(SkipReason::CannotTake)
        };
        let mut attempts = Vec::new();
        let mut last_error = None;
        for (index, route) in self.routes.iter().enumerate() {
            let provider = route.provider;
            if let Err(reason) = takes(route) {
                self.skip(index, &reason);
                attempts.push(skipped(provider, reason));
                continue;
            }
            let cost = (self.cost)(provider, &source);
            let mut waits = 0;
            loop {
                let admitted = match self.admit(index, cost) {
                    Ok(admitted) => admitted,
                    // Rate limited a moment ago for another input, and nobody after it can
                    // take this one: wait for the pause to end, as that input does.
                    Err(SkipReason::RateLimited { remaining })
                        if waits < self.policy.max_waits
                            && remaining <= self.policy.max_last_resort_wait
                            && !self.routes[index + 1..].iter().enumerate().any(
                                |(offset, r)| {
                                    takes(r).is_ok() && self.could_admit(index + 1 + offset, cost)
                                },
                            ) =>
                    {
                        tracing::debug!(
                            target: "cutout::router",
                            provider = provider.name(),
                            decision = "wait",
                            wait_ms = remaining.as_millis() as u64,
                            "rate limited for another input; nobody else can take this one"
                        );
                        waits += 1;
                        tokio::time::sleep(remaining).await;
                        continue;
                    }
                    Err(reason) => {
                        self.skip(index, &reason);
                        attempts.push(skipped(provider, reason));
                        break;
                    }
                };
                // Dropped with the future (a cancelled batch): the probe must not stay out
                // for ever. The reservation stays: the submission may have been taken.
                let mut in_flight = InFlight {
                    router: self,
                    index,
                    probe: admitted.probe,
                };
                let started = Instant::now();
                let answer = route
                    .remover
                    .submit_removal(source.clone(), options.clone())
                    .await;
                let elapsed = started.elapsed();
                let error = match answer {
                    Ok(ticket) => {
                        in_flight.probe = false;
                        self.accepted(index, admitted, elapsed);
                        tracing::info!(
                            target: "cutout::router",
                            provider = provider.name(),
                            decision = "served",
                            elapsed_ms = elapsed.as_millis() as u64,
                            "submission accepted"
                        );
                        attempts.push(Attempt {
                            provider,
                            outcome: AttemptOutcome::Served,
                            elapsed,
                        });
                        return Routed::new(Ok(ticket), attempts);
                    }
                    Err(error) => error,
                };
                let class = classify(&error);
                let later = &self.routes[index + 1..];
                let situation = Situation::default()
                    .retry_after(error.retry_after())
                    .waits_so_far(waits)
                    .later_provider_can_take_it(
                        matches!(class, ErrorClass::InvalidInput | ErrorClass::Unsupported)
                            && later.iter().any(|r| {
                                takes(r).is_ok()
                                    && capability::later_has_what_was_missing(
                                        provider,
                                        r.provider,
                                        error.status(),
                                        class == ErrorClass::Unsupported,
                                        &facts,
                                    )
                            }),
                    )
                    .no_provider_left(!later.iter().enumerate().any(|(offset, r)| {
                        takes(r).is_ok() && self.could_admit(index + 1 + offset, cost)
                    }));
                let (decision, effect) = decide(class, situation, &self.policy);
                in_flight.probe = false;
                self.failed(index, admitted, &error, class, effect, elapsed);
                tracing::info!(
                    target: "cutout::router",
                    provider = provider.name(),
                    class = class.name(),
                    decision = %decision,
                    health = ?effect,
                    may_have_been_taken = error.may_have_been_taken(),
                    elapsed_ms = elapsed.as_millis() as u64,
                    "submission failed"
                );
                attempts.push(Attempt {
                    provider,
                    outcome: AttemptOutcome::Failed {
                        class,
                        message: error.to_string(),
                        decision,
                    },
                    elapsed,
                });
                match decision {
                    Decision::RetryAfter(wait) => {
                        waits += 1;
                        tokio::time::sleep(wait).await;
                    }
                    Decision::NextProvider => {
                        last_error = Some(error);
                        break;
                    }
                    Decision::Stop => {
                        // Stopped only because nobody else could take it now: say why each
                        // later provider could not, as going on would have.
                        let went_on = decide(
                            class,
                            Situation {
                                no_provider_left: false,
                                ..situation
                            },
                            &self.policy,
                        )
                        .0 == Decision::NextProvider;
                        if situation.no_provider_left && went_on {
                            for (offset, later_route) in later.iter().enumerate() {
                                let reason = takes(later_route).err().or_else(|| {
                                    let cost = (self.cost)(later_route.provider, &source);
                                    self.refusal(index + 1 + offset, cost)
                                });
                                if let Some(reason) = reason {
                                    self.skip(index + 1 + offset, &reason);
                                    attempts.push(skipped(later_route.provider, reason));
                                }
                            }
                        }
                        return Routed::new(Err(error), attempts);
                    }
                }
            }
        }
        let error = last_error.unwrap_or_else(|| nobody_took(&source, &attempts));
        Routed::new(Err(error), attempts)
    }

    /// Waits for the job of `ticket` at the provider that accepted it and downloads the
    /// result. Never submits. A ticket of a provider not in the list is
    /// [`Error::InvalidInput`].
    pub async fn resume(&self, ticket: JobTicket, options: RemoveOptions) -> Result<Cutout, Error> {
        let Some(index) = self
            .routes
            .iter()
            .position(|r| r.provider.name() == ticket.provider)
        else {
            return Err(Error::invalid(
                "ticket",
                format!(
                    "this ticket belongs to the provider `{}`, which is not in this router \
                     ({}): resume it with a {} client",
                    ticket.provider,
                    self.providers()
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    ticket.provider
                ),
            ));
        };
        let provider = self.routes[index].provider;
        let answer = self.routes[index]
            .remover
            .resume_removal(ticket, options)
            .await;
        let mut shared = self.lock();
        let health = &mut shared.providers[index];
        match &answer {
            Ok(_) => health.delivered += 1,
            Err(error) => {
                let class = classify(error);
                *health.failures.entry(class.name()).or_default() += 1;
                tracing::info!(
                    target: "cutout::router",
                    provider = provider.name(),
                    class = class.name(),
                    "job failed after it was accepted"
                );
            }
        }
        answer
    }

    /// Submits, waits and downloads; when the job fails at the provider
    /// ([`Error::JobFailed`]), the input goes to the next provider. Never pays twice for one
    /// job: a submission that may have been taken ends the routing.
    pub async fn remove(&self, source: ImageSource, options: RemoveOptions) -> Routed<Cutout> {
        let mut exclude: Vec<Provider> = Vec::new();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut job_failed: Option<Error> = None;
        loop {
            let routed = self.submit(source.clone(), options.clone(), &exclude).await;
            let tried = routed
                .attempts
                .iter()
                .any(|a| !matches!(a.outcome, AttemptOutcome::Skipped(_)));
            // The providers excluded here were reported when their job failed.
            attempts.extend(routed.attempts.into_iter().filter(|a| {
                !(a.outcome == AttemptOutcome::Skipped(SkipReason::Excluded)
                    && exclude.contains(&a.provider))
            }));
            let ticket = match routed.result {
                Ok(ticket) => ticket,
                // Nobody else could be tried: the job that failed is the news.
                Err(error) => {
                    let error = match job_failed {
                        Some(failed) if !tried => failed,
                        _ => error,
                    };
                    return Routed::new(Err(error), attempts);
                }
            };
            let Some(served) = attempts.last_mut() else {
                return Routed::new(
                    Err(Error::config("the router lost track of its attempts")),
                    attempts,
                );
            };
            let provider = served.provider;
            let started = Instant::now();
            let answer = self.resume(ticket, options.clone()).await;
            served.elapsed += started.elapsed();
            let error = match answer {
                Ok(cutout) => return Routed::new(Ok(cutout), attempts),
                Err(error) => error,
            };
            let class = classify(&error);
            // Only a job that surely failed is sent elsewhere; anything else may still be
            // running (and paid for) at this provider.
            let decision = if class == ErrorClass::JobFailed {
                Decision::NextProvider
            } else {
                Decision::Stop
            };
            tracing::info!(
                target: "cutout::router",
                provider = provider.name(),
                class = class.name(),
                decision = %decision,
                "accepted job did not deliver"
            );
            served.outcome = AttemptOutcome::Failed {
                class,
                message: error.to_string(),
                decision,
            };
            if decision == Decision::Stop {
                return Routed::new(Err(error), attempts);
            }
            exclude.push(provider);
            job_failed = Some(error);
        }
    }

    /// What the router did with each provider so far, in the list's order.
    pub fn stats(&self) -> Vec<ProviderStats> {
        let now = Instant::now();
        let shared = self.lock();
        self.routes
            .iter()
            .zip(&shared.providers)
            .map(|(route, health)| ProviderStats {
                provider: route.provider,
                accepted: health.accepted,
                delivered: health.delivered,
                failures: health.failures.clone(),
                skipped: health.skipped.clone(),
                submit_time: health.submit_time,
                slowest_submit: health.slowest_submit,
                calls: health.calls,
                credits: health.credits,
                breaker: health.breaker.state(now),
                cooling_down: remaining(health.cooling_until, now),
                rate_limited: remaining(health.paused_until, now),
                sent: health.sent,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The state stays consistent between statements: a panic elsewhere cannot corrupt it.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn skip(&self, index: usize, reason: &SkipReason) {
        // An excluded provider's failed job is counted already (see `ProviderStats::skipped`).
        if !matches!(reason, SkipReason::Excluded) {
            *self.lock().providers[index]
                .skipped
                .entry(reason.name())
                .or_default() += 1;
        }
        tracing::debug!(
            target: "cutout::router",
            provider = self.routes[index].provider.name(),
            decision = "skipped",
            reason = reason.name(),
            "provider skipped"
        );
    }

    /// Lets a submission through, or says why not. Checked and reserved under one lock, so
    /// that concurrent inputs cannot overshoot a budget or send two breaker probes.
    fn admit(&self, index: usize, cost: u64) -> Result<Admitted, SkipReason> {
        let now = Instant::now();
        let budget = self.routes[index].budget;
        let mut shared = self.lock();
        let health = &mut shared.providers[index];
        if let Some(remaining) = remaining(health.cooling_until, now) {
            return Err(SkipReason::CoolingDown { remaining });
        }
        if let Some(remaining) = remaining(health.paused_until, now) {
            return Err(SkipReason::RateLimited { remaining });
        }
        if !within_budget(health, budget, cost) {
            return Err(SkipReason::OverBudget);
        }
        let probe = match health.breaker.admit(now) {
            Admission::Allowed => false,
            Admission::Probe => true,
            Admission::Refused { remaining } => {
                return Err(SkipReason::BreakerOpen { remaining });
            }
        };
        health.calls += 1;
        health.credits += cost;
        health.sent += 1;
        Ok(Admitted { cost, probe })
    }

    /// Whether [`admit`](Self::admit) would let a submission through now (nothing reserved).
    fn could_admit(&self, index: usize, cost: u64) -> bool {
        self.refusal(index, cost).is_none()
    }

    /// Why [`admit`](Self::admit) would refuse a submission now, if it would (nothing
    /// reserved).
    fn refusal(&self, index: usize, cost: u64) -> Option<SkipReason> {
        let now = Instant::now();
        let budget = self.routes[index].budget;
        let shared = self.lock();
        let health = &shared.providers[index];
        if let Some(remaining) = remaining(health.cooling_until, now) {
            return Some(SkipReason::CoolingDown { remaining });
        }
        if let Some(remaining) = remaining(health.paused_until, now) {
            return Some(SkipReason::RateLimited { remaining });
        }
        if !within_budget(health, budget, cost) {
            return Some(SkipReason::OverBudget);
        }
        match health.breaker.state(now) {
            BreakerState::Closed => None,
            BreakerState::Open { remaining } => Some(SkipReason::BreakerOpen { remaining }),
            BreakerState::HalfOpen if health.breaker.probe_in_flight() => {
                Some(SkipReason::BreakerOpen {
                    remaining: Duration::ZERO,
                })
            }
            BreakerState::HalfOpen => None,
        }
    }

    fn accepted(&self, index: usize, _admitted: Admitted, elapsed: Duration) {
        let now = Instant::now();
        let mut shared = self.lock();
        let health = &mut shared.providers[index];
        health.breaker.record_success(now);
        health.accepted += 1;
        health.submit_time += elapsed;
        health.slowest_submit = health.slowest_submit.max(elapsed);
    }

    fn failed(
        &self,
        index: usize,
        admitted: Admitted,
        error: &Error,
        class: ErrorClass,
        effect: HealthEffect,
        elapsed: Duration,
    ) {
        let now = Instant::now();
        let mut shared = self.lock();
        let health = &mut shared.providers[index];
        // Surely not taken: the reservation goes back to the budget.
        if !error.may_have_been_taken() {
            health.calls = health.calls.saturating_sub(1);
            health.credits = health.credits.saturating_sub(admitted.cost);
        }
        *health.failures.entry(class.name()).or_default() += 1;
        health.submit_time += elapsed;
        health.slowest_submit = health.slowest_submit.max(elapsed);
        match effect {
            HealthEffect::CoolDown(cooldown) => {
                let until = breaker::later(now, cooldown);
                health.cooling_until = Some(health.cooling_until.map_or(until, |u| u.max(until)));
                if admitted.probe {
                    health.breaker.release_probe();
                }
            }
            HealthEffect::BreakerFailure => health.breaker.record_failure(now),
            HealthEffect::Pause(pause) => {
                let until = breaker::later(now, pause);
                health.paused_until = Some(health.paused_until.map_or(until, |u| u.max(until)));
                if admitted.probe {
                    health.breaker.release_probe();
                }
            }
            // Says nothing of the provider's health: a probe that ends so lets another through.
            _ if admitted.probe => health.breaker.release_probe(),
            _ => {}
        }
    }
}

/// A submission on its way; if its future is dropped before an outcome, a breaker probe it
/// held is released.
struct InFlight<'a> {
    router: &'a Router,
    index: usize,
    probe: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.router.lock().providers[self.index]
                .breaker
                .release_probe();
        }
    }
}

fn skipped(provider: Provider, reason: SkipReason) -> Attempt {
    Attempt {
        provider,
        outcome: AttemptOutcome::Skipped(reason),
        elapsed: Duration::ZERO,
    }
}

fn remaining(until: Option<Instant>, now: Instant) -> Option<Duration> {
    until.filter(|until| *until > now).map(|until| until - now)
}

fn within_budget(health: &Health, budget: ProviderBudget, cost: u64) -> bool {
    budget.calls.is_none_or(|limit| health.calls < limit)
        && budget
            .credits
            .is_none_or(|limit| health.credits.saturating_add(cost) <= limit)
}

/// The error when no provider was tried: each one's reason, so the caller sees what to change.
fn nobody_took(source: &ImageSource, attempts: &[Attempt]) -> Error {
    let reasons: Vec<String> = attempts
        .iter()
        .map(|a| format!("{}: {}", a.provider, a.outcome))
        .collect();
    Error::Unsupported {
        provider: "router",
        message: format!(
            "no provider could be tried for `{}` ({})",
            source.describe(),
            reasons.join("; ")
        ),
    }
}

impl BackgroundRemover for Router {
    /// `router`: the provider that served a call is in its ticket and its [`Cutout`].
    fn provider_name(&self) -> &'static str {
        "router"
    }

    fn submit_removal<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<JobTicket, Error>> {
        Box::pin(async move { self.submit(source, options, &[]).await.result })
    }

    fn resume_removal<'a>(
        &'a self,
        ticket: JobTicket,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>> {
        Box::pin(self.resume(ticket, options))
    }

    fn remove_background<'a>(
        &'a self,
        source: ImageSource,
        options: RemoveOptions,
    ) -> BoxFuture<'a, Result<Cutout, Error>> {
        Box::pin(async move { self.remove(source, options).await.result })
    }
}

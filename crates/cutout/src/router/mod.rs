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
//! - 429 with a short `Retry-After`: wait and try the same provider again; otherwise the next;
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
mod policy;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
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
    /// `breaker_open`, `excluded`).
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    /// Total time of its submissions (accepted or not).
    pub submit_time: Duration,
    /// Its slowest submission.
    pub slowest_submit: Duration,
    /// Submissions sent (the calls of its budget).
    pub calls: u64,
    /// Credits of its accepted submissions, by the cost estimate.
    pub credits: u64,
    /// Its breaker now.
    pub breaker: BreakerState,
    /// Time left of its cooldown, if cooling down.
    pub cooling_down: Option<Duration>,
}

/// Estimates the credits a submission of `source` to `provider` costs (default: 1).
pub type CostFn = Arc<dyn Fn(Provider, &ImageSource) -> u64 + Send + Sync>;

/// One entry of the list.
struct Route {
    provider: Provider,
    remover: Box<dyn BackgroundRemover>,
    budget: ProviderBudget,
}

/// Mutable state shared by all calls: health and counters per provider.
#[derive(Default)]
struct Shared {}

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
    /// Adds `provider`, served by `remover`, after those added before.
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
        todo!()
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
        let _ = providers;
        todo!()
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
        let _ = (source, options, exclude);
        todo!()
    }

    /// Waits for the job of `ticket` at the provider that accepted it and downloads the
    /// result. Never submits. A ticket of a provider not in the list is
    /// [`Error::InvalidInput`].
    pub async fn resume(&self, ticket: JobTicket, options: RemoveOptions) -> Result<Cutout, Error> {
        let _ = (ticket, options);
        todo!()
    }

    /// Submits, waits and downloads; when the job fails at the provider
    /// ([`Error::JobFailed`]), the input goes to the next provider. Never pays twice for one
    /// job: a submission that may have been taken ends the routing.
    pub async fn remove(&self, source: ImageSource, options: RemoveOptions) -> Routed<Cutout> {
        let _ = (source, options);
        todo!()
    }

    /// What the router did with each provider so far, in the list's order.
    pub fn stats(&self) -> Vec<ProviderStats> {
        todo!()
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

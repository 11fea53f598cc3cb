//! Injected faults: what can go wrong with a request, how often, and the seeded generator that
//! decides it.
//!
//! A fault is decided when a request arrives, before any handler runs, so a faulted request never
//! creates a job or spends credits (the one exception is [`FaultKind::Slow`], which only delays a
//! request that is then handled normally).

use std::collections::HashMap;
use std::time::Duration;

use crate::Provider;

/// Fault probabilities for the three kinds of request the sandbox tells apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Paid, job-creating requests: Topaz `POST /matting/async`, BackgroundCut matting, remove-bg
    /// and ai-cut, ModelsLab `removebg_mask`, Tengr segmentation and remove-background.
    pub on_submissions: FaultRates,
    /// Every other API request (status, lists, downloads links, uploads, fetches...).
    pub on_other: FaultRates,
    /// Requests to the file host (hosted inputs, presigned and public output links).
    pub on_downloads: FaultRates,
}

impl Faults {
    /// No faults at all (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// The same rates for API requests (submissions and the rest); downloads stay healthy.
    pub fn on_api(rates: FaultRates) -> Self {
        Self {
            on_submissions: rates.clone(),
            on_other: rates,
            on_downloads: FaultRates::default(),
        }
    }
}

/// Probabilities (0.0..=1.0) of each fault for one kind of request.
///
/// For each request one number is drawn; the faults are tried in field order and the first whose
/// cumulative probability covers the draw happens. Rates that add up to more than 1 starve the
/// later faults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultRates {
    /// HTTP 429 with a `Retry-After` header (and, for ModelsLab, `retry_after` in the body).
    pub rate_limited: f64,
    /// Seconds announced in `Retry-After` on injected 429s; 0 is sent as 1.
    pub retry_after_secs: u64,
    /// HTTP 503 in the provider's error shape.
    pub unavailable: f64,
    /// HTTP 502 in the provider's error shape.
    pub bad_gateway: f64,
    /// HTTP 500 in the provider's error shape.
    pub internal: f64,
    /// The connection is closed without any response.
    pub dropped: f64,
    /// The request is handled (a submission creates its job and is charged), then the
    /// connection is closed without the answer: what a client sees when a gateway gives up after
    /// the origin did the work. A client must not send such a submission again.
    pub answer_lost: f64,
    /// The request is held for [`FaultRates::slow_by`] (real time), then handled normally.
    pub slow: f64,
    /// How long a slow request is held.
    pub slow_by: Duration,
    /// The response announces its full `Content-Length` but the connection is cut halfway
    /// through the body. Only applied to file-host downloads (ignored for API requests, whose
    /// effects could not be undone).
    pub truncated: f64,
}

impl FaultRates {
    /// Which fault (if any) a draw in `0.0..1.0` selects.
    pub(crate) fn pick(&self, roll: f64, allow_truncated: bool) -> Option<FaultKind> {
        let truncated = if allow_truncated { self.truncated } else { 0.0 };
        let table = [
            (self.rate_limited, FaultKind::RateLimited),
            (self.unavailable, FaultKind::Unavailable),
            (self.bad_gateway, FaultKind::BadGateway),
            (self.internal, FaultKind::Internal),
            (self.dropped, FaultKind::Dropped),
            (self.answer_lost, FaultKind::AnswerLost),
            (self.slow, FaultKind::Slow),
            (truncated, FaultKind::Truncated),
        ];
        let mut cumulative = 0.0;
        for (rate, kind) in table {
            // NaN and negative rates count as zero.
            let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
            cumulative += rate;
            if rate > 0.0 && roll < cumulative {
                return Some(kind);
            }
        }
        None
    }

    /// The `Retry-After` value to announce, in whole seconds (at least 1).
    pub(crate) fn retry_after(&self) -> u64 {
        self.retry_after_secs.max(1)
    }
}

/// What went wrong with a faulted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Answered 429 with `Retry-After`.
    RateLimited,
    /// Answered 503.
    Unavailable,
    /// Answered 502.
    BadGateway,
    /// Answered 500.
    Internal,
    /// Connection closed with no response.
    Dropped,
    /// Handled, then the connection closed before the response.
    AnswerLost,
    /// Delayed, then handled normally.
    Slow,
    /// Body cut short of its `Content-Length`.
    Truncated,
}

impl FaultKind {
    /// The HTTP status of an injected error answer, `None` for the faults that are not one.
    pub(crate) fn status(self) -> Option<u16> {
        match self {
            FaultKind::RateLimited => Some(429),
            FaultKind::Unavailable => Some(503),
            FaultKind::BadGateway => Some(502),
            FaultKind::Internal => Some(500),
            FaultKind::Dropped | FaultKind::AnswerLost | FaultKind::Slow | FaultKind::Truncated => {
                None
            }
        }
    }
}

/// Which fault rates apply to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Submission,
    Other,
    Download,
}

/// A tiny deterministic generator (SplitMix64): the same seed gives the same sequence.
#[derive(Clone, Debug)]
pub(crate) struct Prng(u64);

impl Prng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `0.0..1.0` (53 random bits).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The current fault configuration and the generator that applies it.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) faults: Faults,
    /// Faults of one provider's API in place of `faults` (an outage of one provider while the
    /// others stay healthy). The file host has no provider and always uses `faults`.
    pub(crate) per_provider: HashMap<Provider, Faults>,
    rng: Prng,
}

impl FaultState {
    pub(crate) fn new(faults: Faults, seed: u64) -> Self {
        Self {
            faults,
            per_provider: HashMap::new(),
            rng: Prng::new(seed),
        }
    }

    /// Draws for one request. Exactly one number is drawn per request, whatever the rates, so
    /// the fault sequence only depends on the seed and the order of requests.
    pub(crate) fn decide(
        &mut self,
        category: Category,
        provider: Option<Provider>,
    ) -> (Option<FaultKind>, FaultRates) {
        let roll = self.rng.next_f64();
        let faults = provider
            .and_then(|p| self.per_provider.get(&p))
            .unwrap_or(&self.faults);
        let rates = match category {
            Category::Submission => &faults.on_submissions,
            Category::Other => &faults.on_other,
            Category::Download => &faults.on_downloads,
        };
        let kind = rates.pick(roll, category == Category::Download);
        (kind, rates.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Prng::new(42);
        let mut b = Prng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let x = Prng::new(1).next_f64();
        assert!((0.0..1.0).contains(&x));
    }

    #[test]
    fn pick_walks_cumulative_rates() {
        let rates = FaultRates {
            rate_limited: 0.25,
            internal: 0.25,
            truncated: 0.5,
            ..FaultRates::default()
        };
        assert_eq!(rates.pick(0.1, true), Some(FaultKind::RateLimited));
        assert_eq!(rates.pick(0.4, true), Some(FaultKind::Internal));
        assert_eq!(rates.pick(0.6, true), Some(FaultKind::Truncated));
        assert_eq!(rates.pick(0.6, false), None);
        assert_eq!(FaultRates::default().pick(0.0, true), None);
    }

    #[test]
    fn one_provider_can_have_its_own_faults() {
        let outage = FaultRates {
            unavailable: 1.0,
            ..FaultRates::default()
        };
        let mut state = FaultState::new(Faults::none(), 7);
        state
            .per_provider
            .insert(Provider::Topaz, Faults::on_api(outage));
        let topaz = state.decide(Category::Submission, Some(Provider::Topaz)).0;
        assert_eq!(topaz, Some(FaultKind::Unavailable));
        let other = state
            .decide(Category::Submission, Some(Provider::ModelsLab))
            .0;
        assert_eq!(other, None);
        // The file host belongs to no provider: the shared (healthy) faults.
        assert_eq!(state.decide(Category::Download, None).0, None);
    }
}

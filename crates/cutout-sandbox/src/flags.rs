//! Command-line values shared by `cutout-sandbox` and `cutout sandbox`: one provider's starting
//! credits (`topaz=0`) and one provider's API fault (`modelslab=unavailable:0.5`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{FaultKind, FaultRates, Faults, Provider};

/// `PROVIDER=N`: the starting credit balance of one provider's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderCredits {
    /// Whose account.
    pub provider: Provider,
    /// Its balance; at 0 every paid submission is answered 402 in the provider's own shape.
    pub credits: i64,
}

impl FromStr for ProviderCredits {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, value) = split_pair(text, "PROVIDER=N, e.g. topaz=0")?;
        let provider = name.parse::<Provider>().map_err(|e| e.to_string())?;
        let credits = value
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                format!("`{value}` is not a credit balance: expected a whole number, 0 or more")
            })?;
        Ok(Self { provider, credits })
    }
}

impl fmt::Display for ProviderCredits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.provider.name(), self.credits)
    }
}

/// The kinds of fault that can be put on a provider's API from the command line (truncation
/// only exists for file-host downloads).
const KINDS: [(&str, FaultKind); 7] = [
    ("unavailable", FaultKind::Unavailable),
    ("rate-limited", FaultKind::RateLimited),
    ("bad-gateway", FaultKind::BadGateway),
    ("internal", FaultKind::Internal),
    ("dropped", FaultKind::Dropped),
    ("answer-lost", FaultKind::AnswerLost),
    ("slow", FaultKind::Slow),
];

fn kind_name(kind: FaultKind) -> &'static str {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("truncated", |(name, _)| name)
}

/// `PROVIDER=KIND[:RATE]`: one fault of one provider's API, on its paid submissions only, so
/// that jobs it already accepted can still be polled and fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderFault {
    /// Whose API.
    pub provider: Provider,
    /// One of `unavailable` (503), `rate-limited` (429), `bad-gateway` (502), `internal` (500),
    /// `dropped` (connection closed), `answer-lost` (handled and charged, answer lost), `slow`;
    /// never [`FaultKind::Truncated`], which only applies to downloads.
    pub kind: FaultKind,
    /// Probability per submission, 0..=1 (default 1).
    pub rate: f64,
}

impl FromStr for ProviderFault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, value) = split_pair(text, "PROVIDER=KIND[:RATE], e.g. modelslab=unavailable")?;
        let provider = name.parse::<Provider>().map_err(|e| e.to_string())?;
        let (kind, rate) = match value.split_once(':') {
            Some((kind, rate)) => (kind.trim(), Some(rate.trim())),
            None => (value.trim(), None),
        };
        let lower = kind.to_ascii_lowercase();
        let kind = KINDS
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
                format!(
                    "unknown fault `{kind}`: expected one of {}",
                    names.join(", ")
                )
            })?;
        let rate = match rate {
            None => 1.0,
            Some(rate) => rate
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("`{rate}` is not a fault rate: expected a number from 0 to 1")
                })?,
        };
        Ok(Self {
            provider,
            kind,
            rate,
        })
    }
}

impl fmt::Display for ProviderFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}:{}",
            self.provider.name(),
            kind_name(self.kind),
            self.rate
        )
    }
}

impl ProviderFault {
    /// The faults of each provider named in `list`, for [`crate::Sandbox::set_provider_faults`]:
    /// several kinds of one provider add up; the same kind twice keeps the last rate.
    /// `retry_after_secs` goes into injected 429s, `slow_by` is how long a slow request is held.
    pub fn per_provider(
        list: &[ProviderFault],
        retry_after_secs: u64,
        slow_by: Duration,
    ) -> BTreeMap<&'static str, (Provider, Faults)> {
        let mut map: BTreeMap<&'static str, (Provider, Faults)> = BTreeMap::new();
        for fault in list {
            let (_, faults) = map.entry(fault.provider.name()).or_insert_with(|| {
                let rates = FaultRates {
                    retry_after_secs,
                    slow_by,
                    ..FaultRates::default()
                };
                (
                    fault.provider,
                    Faults {
                        on_submissions: rates,
                        ..Faults::none()
                    },
                )
            });
            let rates = &mut faults.on_submissions;
            let slot = match fault.kind {
                FaultKind::Unavailable => &mut rates.unavailable,
                FaultKind::RateLimited => &mut rates.rate_limited,
                FaultKind::BadGateway => &mut rates.bad_gateway,
                FaultKind::Internal => &mut rates.internal,
                FaultKind::Dropped => &mut rates.dropped,
                FaultKind::AnswerLost => &mut rates.answer_lost,
                FaultKind::Slow => &mut rates.slow,
                // Not accepted by the parser; a hand-built one is ignored on the API.
                FaultKind::Truncated => &mut rates.truncated,
            };
            *slot = fault.rate;
        }
        map
    }
}

fn split_pair<'a>(text: &'a str, expected: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once('=')
        .map(|(name, value)| (name.trim(), value.trim()))
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .ok_or_else(|| format!("`{text}` is not {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_parse_and_reject_bad_values() {
        let parsed: ProviderCredits = "Topaz=0".parse().unwrap();
        assert_eq!(parsed.provider, Provider::Topaz);
        assert_eq!(parsed.credits, 0);
        assert_eq!(parsed.to_string(), "topaz=0");
        assert!(
            "gimp=3"
                .parse::<ProviderCredits>()
                .unwrap_err()
                .contains("unknown provider")
        );
        for bad in ["topaz=-1", "topaz=lots", "topaz=1.5"] {
            let error = bad.parse::<ProviderCredits>().unwrap_err();
            assert!(error.contains("not a credit balance"), "{bad}: {error}");
        }
        for bad in ["topaz", "=3", "topaz="] {
            let error = bad.parse::<ProviderCredits>().unwrap_err();
            assert!(error.contains("PROVIDER=N"), "{bad}: {error}");
        }
    }

    #[test]
    fn faults_parse_and_reject_bad_values() {
        let parsed: ProviderFault = "modelslab=unavailable".parse().unwrap();
        assert_eq!(parsed.provider, Provider::ModelsLab);
        assert_eq!(parsed.kind, FaultKind::Unavailable);
        assert_eq!(parsed.rate, 1.0);
        let parsed: ProviderFault = "tengr=rate-limited:0.25".parse().unwrap();
        assert_eq!(parsed.rate, 0.25);
        assert_eq!(parsed.to_string(), "tengr=rate-limited:0.25");
        assert!(
            "topaz=truncated"
                .parse::<ProviderFault>()
                .unwrap_err()
                .contains("unknown fault `truncated`")
        );
        for bad in [
            "topaz=internal:2",
            "topaz=internal:-0.1",
            "topaz=internal:x",
        ] {
            let error = bad.parse::<ProviderFault>().unwrap_err();
            assert!(error.contains("not a fault rate"), "{bad}: {error}");
        }
        assert!(
            "nobody=internal"
                .parse::<ProviderFault>()
                .unwrap_err()
                .contains("unknown provider")
        );
    }

    #[test]
    fn faults_of_one_provider_add_up_on_submissions_only() {
        let list: Vec<ProviderFault> = [
            "topaz=unavailable:0.5",
            "topaz=rate-limited:0.25",
            "topaz=unavailable:0.75",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let map = ProviderFault::per_provider(&list, 7, Duration::from_millis(10));
        assert_eq!(map.len(), 1);
        let (provider, faults) = &map["topaz"];
        assert_eq!(*provider, Provider::Topaz);
        assert_eq!(faults.on_submissions.unavailable, 0.75);
        assert_eq!(faults.on_submissions.rate_limited, 0.25);
        assert_eq!(faults.on_submissions.retry_after_secs, 7);
        assert_eq!(faults.on_other, FaultRates::default());
        assert_eq!(faults.on_downloads, FaultRates::default());
    }
}

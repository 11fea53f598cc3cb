//! Outgoing webhooks: a queue of notifications, delivered by the background ticker, with the
//! retry rules of each provider, and a record of every attempt.
//!
//! Only loopback receivers (`127.0.0.0/8`, `::1`, `localhost`) are ever called, so the sandbox
//! never connects anywhere else; notifications for other URLs are dropped (and not recorded).

use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::clock::SimTime;
use crate::provider::Provider;
use crate::state::Shared;
use crate::util::lock;

/// One attempt to deliver a webhook.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    /// The simulator that sent it.
    pub provider: Provider,
    /// Where it was POSTed.
    pub url: String,
    /// The JSON body.
    pub payload: serde_json::Value,
    /// 1 for the first attempt of a notification, 2 for its first retry, and so on.
    pub attempt: u32,
    /// The receiver's HTTP status; `None` when no answer came (connection refused, timeout).
    pub status: Option<u16>,
    /// What went wrong when there was no answer.
    pub error: Option<String>,
}

/// How a notification is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Topaz: retried on 5xx (and on no answer) with backoff 5 s, 10 s, 20 s ... capped at
    /// 15 min; a 4xx drops the notification.
    Backoff,
    /// ModelsLab: best effort, a single attempt.
    Never,
}

/// Most attempts of one notification (the providers publish no limit; this keeps a dead
/// receiver from being retried forever).
const MAX_ATTEMPTS: u32 = 20;
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Receivers get this long to answer (real time).
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Pending {
    id: u64,
    provider: Provider,
    url: String,
    payload: serde_json::Value,
    retry: Retry,
    attempts: u32,
    due: SimTime,
    in_flight: bool,
}

/// An attempt taken off the queue by the ticker.
#[derive(Debug)]
pub(crate) struct Attempt {
    id: u64,
    provider: Provider,
    url: String,
    payload: serde_json::Value,
    number: u32,
}

#[derive(Debug, Default)]
struct Queue {
    next_id: u64,
    pending: Vec<Pending>,
}

/// The queue and the delivery record.
#[derive(Debug)]
pub(crate) struct Webhooks {
    client: OnceLock<Option<reqwest::Client>>,
    backoff_scale: f64,
    queue: Mutex<Queue>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
}

/// Whether `url` points at this machine (the only receivers the sandbox calls).
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The delay before retry number `attempts` (1 = the first retry), on the sandbox clock.
fn backoff(attempts: u32, scale: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF);
    Duration::try_from_secs_f64(base.as_secs_f64() * scale).unwrap_or(MAX_BACKOFF)
}

impl Webhooks {
    /// `backoff_scale` multiplies every retry delay (1.0 = the documented delays).
    pub(crate) fn new(backoff_scale: f64) -> Self {
        let backoff_scale = if backoff_scale.is_finite() {
            backoff_scale.max(0.0)
        } else {
            1.0
        };
        Self {
            client: OnceLock::new(),
            backoff_scale,
            queue: Mutex::default(),
            deliveries: Mutex::default(),
        }
    }

    /// The HTTP client, built on first use (most sandboxes never send a webhook, and building
    /// one loads TLS roots).
    fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                let built = reqwest::Client::builder()
                    // Never route a loopback call through a proxy from the environment.
                    .no_proxy()
                    .timeout(RECEIVER_TIMEOUT)
                    .build();
                built
                    .map_err(|e| {
                        tracing::warn!("webhooks disabled: cannot build an HTTP client: {e}")
                    })
                    .ok()
            })
            .as_ref()
    }

    /// Queues a notification, due at `now`. Non-loopback receivers are skipped (logged).
    pub(crate) fn enqueue(
        &self,
        provider: Provider,
        url: &str,
        payload: serde_json::Value,
        retry: Retry,
        now: SimTime,
    ) {
        if !is_loopback_url(url) {
            tracing::info!(%provider, url, "webhook not delivered: the sandbox only calls loopback receivers");
            return;
        }
        let mut queue = lock(&self.queue);
        let id = queue.next_id;
        queue.next_id += 1;
        queue.pending.push(Pending {
            id,
            provider,
            url: url.to_owned(),
            payload,
            retry,
            attempts: 0,
            due: now,
            in_flight: false,
        });
    }

    /// Takes every due notification that is not already being delivered, oldest first.
    pub(crate) fn take_due(&self, now: SimTime) -> Vec<Attempt> {
        let mut queue = lock(&self.queue);
        queue
            .pending
            .iter_mut()
            .filter(|p| !p.in_flight && p.due <= now)
            .map(|p| {
                p.in_flight = true;
                Attempt {
                    id: p.id,
                    provider: p.provider,
                    url: p.url.clone(),
                    payload: p.payload.clone(),
                    number: p.attempts + 1,
                }
            })
            .collect()
    }

    /// POSTs one attempt, records it, then drops the notification or schedules its retry.
    pub(crate) async fn deliver(shared: Arc<Shared>, attempt: Attempt) {
        let this = &shared.webhooks;
        let (status, error) = match this.client() {
            None => (None, Some("no HTTP client".to_owned())),
            Some(client) => match client
                .post(&attempt.url)
                .json(&attempt.payload)
                .send()
                .await
            {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        lock(&this.deliveries).push(WebhookDelivery {
            provider: attempt.provider,
            url: attempt.url.clone(),
            payload: attempt.payload.clone(),
            attempt: attempt.number,
            status,
            error,
        });
        let now = shared.now();
        let mut queue = lock(&this.queue);
        let Some(index) = queue.pending.iter().position(|p| p.id == attempt.id) else {
            return;
        };
        let pending = &mut queue.pending[index];
        pending.attempts = attempt.number;
        pending.in_flight = false;
        // No answer counts as a server error: the receiver may just be restarting.
        let server_error = status.is_none_or(|s| s >= 500);
        let retry =
            pending.retry == Retry::Backoff && server_error && pending.attempts < MAX_ATTEMPTS;
        if retry {
            pending.due = now + backoff(pending.attempts, this.backoff_scale);
        } else {
            queue.pending.remove(index);
        }
    }

    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.deliveries).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(is_loopback_url("http://127.0.0.1:9/hook"));
        assert!(is_loopback_url("http://localhost:9/hook"));
        assert!(is_loopback_url("http://[::1]:9/hook"));
        assert!(!is_loopback_url("https://example.com/hook"));
        assert!(!is_loopback_url("http://10.0.0.1/hook"));
        assert!(!is_loopback_url("ftp://127.0.0.1/hook"));
        assert!(!is_loopback_url("not a url"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(12, 1.0), Duration::from_secs(900));
        assert_eq!(backoff(1, 0.001), Duration::from_millis(5));
    }
}

//! What every simulator of one sandbox shares: configuration, clock, log, faults, credits,
//! identifiers, the file host and the webhook queue.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Clock, SimTime};
use crate::faults::{FaultState, Prng};
use crate::files::FileHost;
use crate::log::RequestLog;
use crate::provider::Provider;
use crate::util::lock;
use crate::webhooks::Webhooks;

/// Settings fixed when the sandbox starts.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) keys: [String; crate::provider::COUNT],
    pub(crate) job_duration: Duration,
    pub(crate) modelslab_queue_cap: usize,
    pub(crate) modelslab_retry_after: u64,
    pub(crate) max_upload_bytes: u64,
    /// The pixel budget of an input image (width x height).
    pub(crate) max_pixels: u64,
    /// BackgroundCut's simulated processing time per megapixel of work.
    pub(crate) backgroundcut_per_megapixel: Duration,
}

/// Where each server listens.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    /// Base URL per provider, indexed by [`Provider::index`].
    pub(crate) base: [String; crate::provider::COUNT],
    /// Origin of the file host (`http://127.0.0.1:PORT`).
    pub(crate) files: String,
}

/// Deterministic identifiers: UUIDs and ULIDs drawn from a seeded generator, so two runs with
/// the same seed and the same requests hand out the same ids.
#[derive(Debug)]
struct IdGen {
    rng: Prng,
    last_ulid: (u64, u128),
}

/// The shared state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) urls: Urls,
    pub(crate) clock: Clock,
    pub(crate) log: RequestLog,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) files: FileHost,
    pub(crate) webhooks: Webhooks,
    /// Wakes the background ticker early (after a clock jump).
    pub(crate) wake: Notify,
    ids: Mutex<IdGen>,
    credits: Mutex<[i64; crate::provider::COUNT]>,
    submissions: [AtomicUsize; crate::provider::COUNT],
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        urls: Urls,
        faults: FaultState,
        seed: u64,
        credits: [i64; crate::provider::COUNT],
        webhooks: Webhooks,
    ) -> Self {
        // Separate streams for ids and signatures keep the fault sequence independent of them.
        let mut secret_rng = Prng::new(seed ^ 0x5EC2_E7F1_1E5A_0001);
        let files = FileHost::new(urls.files.clone(), secret_rng.next_u64());
        Self {
            config,
            urls,
            clock: Clock::new(),
            log: RequestLog::default(),
            faults: Mutex::new(faults),
            files,
            webhooks,
            wake: Notify::new(),
            ids: Mutex::new(IdGen {
                rng: Prng::new(seed ^ 0x1D5E_ED00_0000_0002),
                last_ulid: (0, 0),
            }),
            credits: Mutex::new(credits),
            submissions: Default::default(),
        }
    }

    pub(crate) fn now(&self) -> SimTime {
        self.clock.now()
    }

    pub(crate) fn key(&self, provider: Provider) -> &str {
        &self.config.keys[provider.index()]
    }

    pub(crate) fn base_url(&self, provider: Provider) -> &str {
        &self.urls.base[provider.index()]
    }

    /// Takes `cost` credits if the account has them; `false` (and nothing taken) otherwise.
    pub(crate) fn try_charge(&self, provider: Provider, cost: i64) -> bool {
        let mut credits = lock(&self.credits);
        let balance = &mut credits[provider.index()];
        if *balance < cost || *balance <= 0 {
            return false;
        }
        *balance -= cost;
        true
    }

    /// Gives back credits of a job that could not be completed.
    pub(crate) fn refund(&self, provider: Provider, cost: i64) {
        let mut credits = lock(&self.credits);
        credits[provider.index()] = credits[provider.index()].saturating_add(cost);
    }

    pub(crate) fn credits(&self, provider: Provider) -> i64 {
        lock(&self.credits)[provider.index()]
    }

    pub(crate) fn set_credits(&self, provider: Provider, credits: i64) {
        lock(&self.credits)[provider.index()] = credits;
    }

    /// Counts one accepted paid job.
    pub(crate) fn record_submission(&self, provider: Provider) {
        self.submissions[provider.index()].fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn submissions(&self, provider: Provider) -> usize {
        self.submissions[provider.index()].load(Ordering::SeqCst)
    }

    /// A new random-looking (version 4 layout) UUID from the seeded generator.
    pub(crate) fn uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        lock(&self.ids).rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// A ULID for sandbox time `t`: 48-bit millisecond timestamp plus 80 random bits, Crockford
    /// base32. Ids made in the same millisecond (or out of clock order) increase by one, so
    /// they always sort in creation order.
    pub(crate) fn ulid(&self, t: SimTime) -> String {
        let millis = self.clock.unix_millis(t) & ((1 << 48) - 1);
        let mut ids = lock(&self.ids);
        let (last_ms, last_rand) = ids.last_ulid;
        let (ms, rand) = if millis <= last_ms {
            (last_ms, (last_rand + 1) & ((1 << 80) - 1))
        } else {
            let mut bytes = [0u8; 16];
            ids.rng.fill(&mut bytes);
            (millis, u128::from_le_bytes(bytes) & ((1 << 80) - 1))
        };
        ids.last_ulid = (ms, rand);
        let value = (u128::from(ms) << 80) | rand;
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        (0..26)
            .rev()
            .map(|i| char::from(ALPHABET[((value >> (i * 5)) & 31) as usize]))
            .collect()
    }
}

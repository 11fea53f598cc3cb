//! [`Sandbox`]: starting the five servers, the background ticker, and the test-facing controls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::{JoinHandle, JoinSet};

use crate::backgroundcut::{self, BackgroundCut};
use crate::faults::{FaultState, Faults};
use crate::files::{self, Access, Blob};
use crate::imaging;
use crate::log::LoggedRequest;
use crate::modelslab::{self, ModelsLab};
use crate::provider::Provider;
use crate::server;
use crate::state::{Config, Shared, Urls};
use crate::tengr::{self, Tengr};
use crate::topaz::{self, Topaz};
use crate::webhooks::{WebhookDelivery, Webhooks};

/// How often the ticker looks for status changes and due webhooks (real time).
const TICK: Duration = Duration::from_millis(10);

/// The default pixel budget of an input image: 50 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Ports to listen on (127.0.0.1). 0 picks a free ephemeral port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SandboxPorts {
    /// Topaz simulator.
    pub topaz: u16,
    /// BackgroundCut simulator.
    pub backgroundcut: u16,
    /// ModelsLab simulator.
    pub modelslab: u16,
    /// Tengr simulator.
    pub tengr: u16,
    /// File host.
    pub files: u16,
}

impl SandboxPorts {
    /// Five consecutive ports from `base`: Topaz `base`, BackgroundCut `base + 1`, ModelsLab
    /// `base + 2`, Tengr `base + 3`, files `base + 4`. A base of 0 means all ephemeral; `None`
    /// when the range does not fit below 65536.
    pub fn from_base(base: u16) -> Option<Self> {
        if base == 0 {
            return Some(Self::default());
        }
        Some(Self {
            topaz: base,
            backgroundcut: base.checked_add(1)?,
            modelslab: base.checked_add(2)?,
            tengr: base.checked_add(3)?,
            files: base.checked_add(4)?,
        })
    }

    fn get(&self, provider: Provider) -> u16 {
        let ports: [u16; crate::provider::COUNT] =
            [self.topaz, self.backgroundcut, self.modelslab, self.tengr];
        ports[provider.index()]
    }
}

/// The API key each simulator accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxKeys {
    /// Topaz (`X-API-Key`); default `sandbox-topaz-key`.
    pub topaz: String,
    /// BackgroundCut (`Authorization: Token`); default `sandbox-backgroundcut-key`.
    pub backgroundcut: String,
    /// ModelsLab (`key` in the body); default `sandbox-modelslab-key`.
    pub modelslab: String,
    /// Tengr (`Authorization: Bearer`); default `sandbox-tengr-key`.
    pub tengr: String,
}

impl Default for SandboxKeys {
    fn default() -> Self {
        Self {
            topaz: "sandbox-topaz-key".into(),
            backgroundcut: "sandbox-backgroundcut-key".into(),
            modelslab: "sandbox-modelslab-key".into(),
            tengr: "sandbox-tengr-key".into(),
        }
    }
}

impl SandboxKeys {
    fn slot(&mut self, provider: Provider) -> &mut String {
        let slots: [&mut String; crate::provider::COUNT] = [
            &mut self.topaz,
            &mut self.backgroundcut,
            &mut self.modelslab,
            &mut self.tengr,
        ];
        // `index()` is below `COUNT`, the length of `slots`.
        slots
            .into_iter()
            .nth(provider.index())
            .expect("every provider has a slot")
    }
}

/// Configures and starts a [`Sandbox`].
#[derive(Clone, Debug)]
pub struct SandboxBuilder {
    seed: u64,
    faults: Faults,
    credits: i64,
    job_duration: Duration,
    modelslab_queue_cap: usize,
    modelslab_retry_after: u64,
    max_upload_bytes: u64,
    max_pixels: u64,
    backgroundcut_per_megapixel: Duration,
    ports: SandboxPorts,
    keys: SandboxKeys,
    webhook_backoff_scale: f64,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            faults: Faults::default(),
            credits: 1000,
            job_duration: Duration::from_millis(1500),
            modelslab_queue_cap: 5,
            modelslab_retry_after: 30,
            max_upload_bytes: 64 << 20,
            max_pixels: DEFAULT_MAX_PIXELS,
            backgroundcut_per_megapixel: Duration::from_secs(2),
            ports: SandboxPorts::default(),
            keys: SandboxKeys::default(),
            webhook_backoff_scale: 1.0,
        }
    }
}

impl SandboxBuilder {
    /// Seed of the fault generator and of every id the sandbox hands out (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Injected faults from the start (default none); see also [`Sandbox::set_faults`].
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Credits of every provider's account (default 1000).
    pub fn credits(mut self, credits: i64) -> Self {
        self.credits = credits;
        self
    }

    /// How long a Topaz job, ModelsLab request or Tengr artwork takes on the sandbox clock
    /// (default 1.5 s). Zero finishes them at once (ModelsLab then answers `success` directly).
    pub fn job_duration(mut self, duration: Duration) -> Self {
        self.job_duration = duration;
        self
    }

    /// How many ModelsLab requests may be processing at once before 429 (default 5).
    pub fn modelslab_queue_cap(mut self, cap: usize) -> Self {
        self.modelslab_queue_cap = cap;
        self
    }

    /// `retry_after` (seconds) of ModelsLab's queue-full 429 (default 30).
    pub fn modelslab_retry_after(mut self, secs: u64) -> Self {
        self.modelslab_retry_after = secs;
        self
    }

    /// Largest request body accepted (default 64 MiB): Topaz and BackgroundCut answer 413 above
    /// it, Tengr 400 (its JSON bodies). ModelsLab takes an image of this size inline, so its
    /// JSON bodies may be a third larger (base64) plus 1 MiB before it answers 400.
    pub fn max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }

    /// The pixel budget of an input image, width x height (default [`DEFAULT_MAX_PIXELS`],
    /// 50 MP). Over it, each simulator answers as its provider documents for a too-large
    /// image: Topaz 413, BackgroundCut 400, ModelsLab an `error` answer, Tengr 400. The size
    /// is read from the image header, so a small file declaring a huge image costs nothing.
    pub fn max_pixels(mut self, pixels: u64) -> Self {
        self.max_pixels = pixels;
        self
    }

    /// BackgroundCut's simulated processing time per megapixel of work (default 2 s): the
    /// input's pixels, or for matting only the trimap's unknown band. Over BackgroundCut's
    /// 30 s processing limit (on the sandbox clock) the tool answers 504 once the sandbox clock
    /// has moved 30 s, as BackgroundCut documents; [`Sandbox::advance_clock`] makes that
    /// immediate in tests.
    pub fn backgroundcut_per_megapixel(mut self, time: Duration) -> Self {
        self.backgroundcut_per_megapixel = time;
        self
    }

    /// Fixed ports (default: all ephemeral).
    pub fn ports(mut self, ports: SandboxPorts) -> Self {
        self.ports = ports;
        self
    }

    /// The accepted API keys (default: `sandbox-<provider>-key`).
    pub fn keys(mut self, keys: SandboxKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Overrides the accepted key of one provider.
    pub fn key(mut self, provider: Provider, key: impl Into<String>) -> Self {
        *self.keys.slot(provider) = key.into();
        self
    }

    /// Multiplies Topaz's webhook retry delays (default 1.0: 5 s, 10 s, 20 s ... 15 min on the
    /// sandbox clock); 0.001 turns the first retry delay into 5 ms.
    pub fn webhook_backoff_scale(mut self, scale: f64) -> Self {
        self.webhook_backoff_scale = scale;
        self
    }

    /// Binds every listener on 127.0.0.1 and starts serving on the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<Sandbox> {
        let ports = self.ports;
        let topaz_listener = server::bind(ports.topaz).await?;
        let backgroundcut_listener = server::bind(ports.backgroundcut).await?;
        let modelslab_listener = server::bind(ports.modelslab).await?;
        let tengr_listener = server::bind(ports.tengr).await?;
        let files_listener = server::bind(ports.files).await?;
        let bound = SandboxPorts {
            topaz: topaz_listener.local_addr()?.port(),
            backgroundcut: backgroundcut_listener.local_addr()?.port(),
            modelslab: modelslab_listener.local_addr()?.port(),
            tengr: tengr_listener.local_addr()?.port(),
            files: files_listener.local_addr()?.port(),
        };
        let origin = |port: u16| format!("http://127.0.0.1:{port}");
        let urls = Urls {
            base: [
                format!("{}{}", origin(bound.topaz), topaz::BASE_PATH),
                origin(bound.backgroundcut),
                format!("{}{}", origin(bound.modelslab), modelslab::BASE_PATH),
                origin(bound.tengr),
            ],
            files: origin(bound.files),
        };
        let keys = [
            self.keys.topaz.clone(),
            self.keys.backgroundcut.clone(),
            self.keys.modelslab.clone(),
            self.keys.tengr.clone(),
        ];
        let config = Config {
            keys,
            job_duration: self.job_duration,
            modelslab_queue_cap: self.modelslab_queue_cap,
            modelslab_retry_after: self.modelslab_retry_after,
            max_upload_bytes: self.max_upload_bytes,
            max_pixels: self.max_pixels,
            backgroundcut_per_megapixel: self.backgroundcut_per_megapixel,
        };
        let shared = Arc::new(Shared::new(
            config,
            urls,
            FaultState::new(self.faults, self.seed),
            self.seed,
            [self.credits; crate::provider::COUNT],
            Webhooks::new(self.webhook_backoff_scale),
        ));
        let topaz_app = Arc::new(Topaz::new(shared.clone()));
        let modelslab_app = Arc::new(ModelsLab::new(shared.clone()));
        let tasks = vec![
            server::spawn(
                topaz_listener,
                topaz::router(topaz_app.clone()),
                Some(Provider::Topaz),
                shared.clone(),
            ),
            server::spawn(
                backgroundcut_listener,
                backgroundcut::router(Arc::new(BackgroundCut::new(shared.clone()))),
                Some(Provider::BackgroundCut),
                shared.clone(),
            ),
            server::spawn(
                modelslab_listener,
                modelslab::router(modelslab_app.clone()),
                Some(Provider::ModelsLab),
                shared.clone(),
            ),
            server::spawn(
                tengr_listener,
                tengr::router(Arc::new(Tengr::new(shared.clone()))),
                Some(Provider::Tengr),
                shared.clone(),
            ),
            server::spawn(
                files_listener,
                files::router(shared.clone()),
                None,
                shared.clone(),
            ),
            tokio::spawn(ticker(shared.clone(), topaz_app, modelslab_app)),
        ];
        Ok(Sandbox {
            shared,
            ports: bound,
            tasks,
        })
    }
}

/// Turns clock time into events: queues webhooks of status changes and delivers due ones.
async fn ticker(shared: Arc<Shared>, topaz: Arc<Topaz>, modelslab: Arc<ModelsLab>) {
    let mut deliveries = JoinSet::new();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shared.wake.notified() => {}
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
        }
        let now = shared.now();
        topaz.tick(now);
        modelslab.tick(now);
        for attempt in shared.webhooks.take_due(now) {
            deliveries.spawn(Webhooks::deliver(shared.clone(), attempt));
        }
    }
}

/// Four provider simulators and a file host, each on its own loopback port, sharing one clock,
/// request log, fault generator and credit ledger. Dropping it stops every server.
pub struct Sandbox {
    shared: Arc<Shared>,
    ports: SandboxPorts,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("topaz", &self.base_url(Provider::Topaz))
            .field("backgroundcut", &self.base_url(Provider::BackgroundCut))
            .field("modelslab", &self.base_url(Provider::ModelsLab))
            .field("tengr", &self.base_url(Provider::Tengr))
            .field("files", &self.files_url())
            .finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Sandbox {
    /// Starts a sandbox with the default settings (`Sandbox::builder().start()`).
    pub async fn start() -> std::io::Result<Sandbox> {
        Self::builder().start().await
    }

    /// A builder for a configured sandbox.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The base URL a client of `provider` should use, e.g. `http://127.0.0.1:PORT/image/v1`
    /// for Topaz or `http://127.0.0.1:PORT/api/v6` for ModelsLab.
    pub fn base_url(&self, provider: Provider) -> String {
        self.shared.base_url(provider).to_owned()
    }

    /// The API key the simulator of `provider` accepts.
    pub fn key(&self, provider: Provider) -> &str {
        self.shared.key(provider)
    }

    /// The file host's origin (`http://127.0.0.1:PORT`).
    pub fn files_url(&self) -> String {
        self.shared.urls.files.clone()
    }

    /// The ports actually bound.
    pub fn ports(&self) -> SandboxPorts {
        self.ports
    }

    /// The port of one provider's simulator.
    pub fn port(&self, provider: Provider) -> u16 {
        self.ports.get(provider)
    }

    /// Puts a file on the file host (public, never expires) and returns its URL, usable as
    /// Topaz `source_url`, ModelsLab `image` or Tengr `imageUrl`. A name with slashes makes
    /// nested paths; reusing a name replaces the file.
    pub async fn host_file(&self, name: &str, bytes: Bytes) -> String {
        let path = format!("{}{}", files::HOSTED, name.trim_start_matches('/'));
        let content_type = imaging::content_type_of(&bytes);
        self.shared
            .files
            .put(&path, Blob::new(bytes, content_type, Access::Public));
        self.shared.files.url(&path)
    }

    /// Every request received so far (all servers, file host included), in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.snapshot()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Moves the sandbox clock forward: jobs progress, links and files expire, webhook retries
    /// become due, as if `by` had passed.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.wake.notify_one();
    }

    /// Replaces the injected faults (the generator keeps its position in the sequence).
    pub fn set_faults(&self, faults: Faults) {
        crate::util::lock(&self.shared.faults).faults = faults;
    }

    /// Gives one provider's API its own faults, in place of those of [`set_faults`]
    /// (`Faults::none()` makes it healthy while the others keep theirs): an outage or a 429
    /// storm at one provider. [`clear_provider_faults`] goes back to the shared ones.
    ///
    /// [`set_faults`]: Self::set_faults
    /// [`clear_provider_faults`]: Self::clear_provider_faults
    pub fn set_provider_faults(&self, provider: Provider, faults: Faults) {
        crate::util::lock(&self.shared.faults)
            .per_provider
            .insert(provider, faults);
    }

    /// Makes `provider` follow the shared faults again.
    pub fn clear_provider_faults(&self, provider: Provider) {
        crate::util::lock(&self.shared.faults)
            .per_provider
            .remove(&provider);
    }

    /// Sets the credit balance of one provider's account.
    pub fn set_credits(&self, provider: Provider, credits: i64) {
        self.shared.set_credits(provider, credits);
    }

    /// The current credit balance of one provider's account.
    pub fn credits(&self, provider: Provider) -> i64 {
        self.shared.credits(provider)
    }

    /// How many paid jobs `provider` accepted (to assert that a client never submitted twice).
    pub fn submissions(&self, provider: Provider) -> usize {
        self.shared.submissions(provider)
    }

    /// Every webhook attempt so far, in the order they completed.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.webhooks.deliveries()
    }
}

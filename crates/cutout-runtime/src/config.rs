//! Building a client: key, base URL, retries, timeouts and the HTTP client, from code or from the
//! environment. One builder serves every provider crate; each crate describes itself with a
//! [`ProviderInfo`] generated from `specs/providers.toml`.

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::Duration;

use crate::{ApiKey, Context, CutoutKind, Error, ImageFormat, RetryPolicy};

/// What the shared runtime needs to know about a provider. Each provider crate has one, generated
/// from `specs/providers.toml`, as `PROVIDER`.
#[derive(Debug)]
pub struct ProviderInfo {
    /// Short name used in messages and logs (`topaz`, `backgroundcut`, …).
    pub name: &'static str,
    /// The environment variable [`ClientBuilder::from_env`] reads the key from.
    pub key_env: &'static str,
    /// The environment variable that overrides the base URL.
    pub base_url_env: &'static str,
    /// The production base URL.
    pub default_base_url: &'static str,
    /// How the key travels.
    pub auth: AuthScheme,
    /// Operations that start paid work. They are re-sent only when the server surely did not
    /// take them (see [`RetryPolicy`]).
    pub submissions: &'static [&'static str],
    /// How many jobs an account may have queued at once, when the provider caps it (ModelsLab: 5
    /// on the smallest plan). The client then holds back further jobs instead of being refused.
    pub max_concurrent_jobs: Option<usize>,
    /// What the provider can make and take, as its documentation says.
    pub capabilities: Capabilities,
}

/// What a provider can make and take, from `specs/providers.toml`. A limit that is `None` is
/// one the provider does not document (not "unlimited"): the service may still refuse.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// What its one-call background removal
    /// ([`BackgroundRemover`](crate::BackgroundRemover)) makes.
    pub outputs: &'static [CutoutKind],
    /// Whether local files (paths, bytes) are accepted: uploaded or sent inline. `false`: the
    /// provider fetches every input from a URL it can reach.
    pub accepts_local_files: bool,
    /// The input formats it documents; empty when it documents none.
    pub input_formats: &'static [ImageFormat],
    /// The largest upload, in bytes, when documented.
    pub max_upload_bytes: Option<u64>,
    /// The longest side of an input, in pixels, when documented.
    pub max_side: Option<u32>,
    /// The most pixels (width × height) of an input, when documented.
    pub max_pixels: Option<u64>,
}

impl Capabilities {
    /// Whether its background removal can make `kind`.
    pub fn makes(&self, kind: CutoutKind) -> bool {
        self.outputs.contains(&kind)
    }

    /// The documented input formats for messages (`JPEG, PNG or TIFF`); `None` when undocumented.
    pub fn formats_text(&self) -> Option<String> {
        let names: Vec<String> = self.input_formats.iter().map(ToString::to_string).collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            [rest @ .., last] => Some(format!("{} or {last}", rest.join(", "))),
        }
    }
}

impl ProviderInfo {
    /// Whether local files are accepted (see [`Capabilities::accepts_local_files`]).
    pub fn accepts_local_files(&self) -> bool {
        self.capabilities.accepts_local_files
    }

    /// Whether its background removal can make masks.
    pub fn makes_masks(&self) -> bool {
        self.capabilities.makes(CutoutKind::Mask)
    }

    /// Refuses, before anything is sent, an input this provider cannot take: a local file or
    /// bytes for a provider that fetches images by URL only.
    pub fn check_source(&self, source: &crate::ImageSource) -> Result<(), Error> {
        if self.accepts_local_files() || matches!(source, crate::ImageSource::Url(_)) {
            return Ok(());
        }
        Err(Error::Unsupported {
            provider: self.name,
            message: format!(
                "`{}` is a local image, but {} fetches images by URL only: put it where the \
                 service can reach it and pass its public http(s) URL (check with \
                 `accepts_local_files()`)",
                source.describe(),
                self.name
            ),
        })
    }

    /// Refuses, before anything is sent, a background removal of a kind this provider does not
    /// make (a mask from a provider that makes cut-outs only).
    pub fn check_output(&self, kind: CutoutKind) -> Result<(), Error> {
        if self.capabilities.makes(kind) {
            return Ok(());
        }
        Err(Error::Unsupported {
            provider: self.name,
            message: format!(
                "its background removal makes {} only, not {}",
                kind_name(self.capabilities.outputs.first().copied()),
                kind_name(Some(kind))
            ),
        })
    }
}

fn kind_name(kind: Option<CutoutKind>) -> &'static str {
    match kind {
        Some(CutoutKind::Rgba) => "cut-outs",
        Some(CutoutKind::Mask) => "masks",
        None => "nothing",
    }
}

/// How a provider expects its key.
#[derive(Debug, Clone, Copy)]
pub enum AuthScheme {
    /// A request header: `X-API-Key: <key>`, or `Authorization: Token <key>` with a prefix.
    Header {
        /// Header name.
        name: &'static str,
        /// Text put before the key, followed by a space (`Token`, `Bearer`).
        prefix: Option<&'static str>,
    },
    /// A field of the JSON request body (ModelsLab's `key`).
    BodyField {
        /// The field name.
        field: &'static str,
    },
}

/// Connect and per-request time limits.
///
/// `request` bounds a JSON call from connecting to the end of its answer. Uploads and downloads
/// move whole images, so they get their own, longer limits. `download` bounds everything spent
/// on one result, retries and the waits between them included, so a server that trickles bytes
/// cannot hold a download open longer than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Establishing a connection (TCP + TLS). Default 10 s.
    pub connect: Duration,
    /// A JSON request and its answer. Default 60 s.
    pub request: Duration,
    /// A request that uploads a file, or a JSON request over 1 MiB (an image sent inline).
    /// Default 15 min.
    pub upload: Duration,
    /// Downloading one result (or an input URL fetched locally), all attempts and the waits
    /// between them included. Default 15 min.
    pub download: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            upload: Duration::from_secs(15 * 60),
            download: Duration::from_secs(15 * 60),
        }
    }
}

impl Timeouts {
    /// Sets the connect timeout.
    pub fn connect(mut self, limit: Duration) -> Self {
        self.connect = limit;
        self
    }
    /// Sets the limit for JSON requests.
    pub fn request(mut self, limit: Duration) -> Self {
        self.request = limit;
        self
    }
    /// Sets the limit for uploads.
    pub fn upload(mut self, limit: Duration) -> Self {
        self.upload = limit;
        self
    }
    /// Sets the limit for downloading one result, all attempts included.
    pub fn download(mut self, limit: Duration) -> Self {
        self.download = limit;
        self
    }
}

/// Size limits on what is read from servers, so that no answer can exhaust memory or disk, and
/// on what is sent inline.
///
/// An API answer larger than `json_answer` fails with a clear error after reading no more than
/// that; an error body is read up to `error_body` and the rest dropped; a result downloaded to a
/// file stops with an error past `result_file` (in-memory downloads take their own limit). A
/// local image larger than `inline_image` is refused before anything is sent to a provider that
/// takes images inside its JSON body (ModelsLab).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest JSON answer of an API operation. Default 8 MiB, far above the largest
    /// documented answer (a page of job statuses, a few KiB).
    pub json_answer: u64,
    /// The most of an error body that is read (API errors and downloads alike). Default 64 KiB.
    pub error_body: u64,
    /// The largest result downloaded to a file. Default 512 MiB.
    pub result_file: u64,
    /// The largest local image (file or bytes, before base64) sent inline in a JSON body.
    /// Default 64 MiB. The provider documents no limit of its own (when one does, in
    /// [`Capabilities::max_upload_bytes`], the smaller applies: see
    /// [`inline_image_limit`](Self::inline_image_limit)); this one is the client's, so that a
    /// huge file is not sent by mistake (the body is streamed, so it costs time, not memory).
    pub inline_image: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_answer: 8 << 20,
            error_body: 64 << 10,
            result_file: crate::MAX_RESULT_BYTES,
            inline_image: 64 << 20,
        }
    }
}

impl Limits {
    /// Sets the largest JSON answer.
    pub fn json_answer(mut self, bytes: u64) -> Self {
        self.json_answer = bytes;
        self
    }
    /// Sets how much of an error body is read.
    pub fn error_body(mut self, bytes: u64) -> Self {
        self.error_body = bytes;
        self
    }
    /// Sets the largest result downloaded to a file.
    pub fn result_file(mut self, bytes: u64) -> Self {
        self.result_file = bytes;
        self
    }
    /// Sets the largest local image sent inline in a JSON body.
    pub fn inline_image(mut self, bytes: u64) -> Self {
        self.inline_image = bytes;
        self
    }
    /// The largest image that may be sent inline to a provider with these `capabilities`: the
    /// smaller of [`inline_image`](Self::inline_image) and the provider's documented
    /// [`max_upload_bytes`](Capabilities::max_upload_bytes), when it has one.
    pub fn inline_image_limit(&self, capabilities: &Capabilities) -> u64 {
        capabilities
            .max_upload_bytes
            .map_or(self.inline_image, |documented| {
                documented.min(self.inline_image)
            })
    }

    /// Refuses a local image of `size` bytes that is too large to send inline to `provider`
    /// (see [`inline_image_limit`](Self::inline_image_limit)), before it is read or anything is
    /// sent: an [`Error::Unsupported`] naming the image (`name`), its size, the limit and the ways
    /// out. Unsupported rather than invalid: the image itself is fine, and another provider that
    /// uploads files (or this one, given its URL) can take it, so `cutout::router` moves on to
    /// the next route.
    pub fn check_inline_image(
        &self,
        provider: &ProviderInfo,
        name: &str,
        size: u64,
    ) -> Result<(), Error> {
        let limit = self.inline_image_limit(&provider.capabilities);
        if size <= limit {
            return Ok(());
        }
        let shown = |bytes: u64| format!("{:.1} MiB ({bytes} bytes)", bytes as f64 / 1048576.0);
        let (whose, fix) = if limit < self.inline_image {
            (
                "the provider's documented limit",
                "resize or recompress it, or pass its URL instead",
            )
        } else {
            (
                "this client's limit for an image sent inline",
                "resize or recompress it, pass its URL instead, use a provider that uploads \
                 files, or raise the limit with `Limits::inline_image` (set through \
                 `ClientBuilder::limits`)",
            )
        };
        Err(Error::Unsupported {
            provider: provider.name,
            message: format!(
                "`{name}` is {}, over {whose} of {}: {fix}",
                shown(size),
                shown(limit)
            ),
        })
    }
}

/// Implemented by every generated `Client` so that [`ClientBuilder`] can make one.
pub trait FromParts: Sized {
    /// The provider this client talks to.
    const PROVIDER: &'static ProviderInfo;
    /// Assembles the client.
    fn from_parts(base_url: &str, http: reqwest::Client, context: Context) -> Self;
}

/// Reads a named setting (an environment variable, by default).
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Builds a provider's `Client`: `topaz_image::Client::builder().key(k).build()?`.
///
/// Defaults: the production base URL, [`RetryPolicy::default`], [`Timeouts::default`], and an
/// HTTP client that does not follow redirects by itself (the runtime follows them, and drops the
/// key when a redirect leaves the API's host).
pub struct ClientBuilder<C> {
    provider: &'static ProviderInfo,
    key: Option<ApiKey>,
    base_url: Option<String>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    limits: Limits,
    http: Option<reqwest::ClientBuilder>,
    lookup: Option<EnvLookup>,
    max_concurrent_jobs: Option<usize>,
    client: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("provider", &self.provider.name)
            .field("key", &self.key)
            .field(
                "base_url",
                &self
                    .base_url
                    .as_deref()
                    .map(|url| match url::Url::parse(url) {
                        Ok(parsed) => crate::redact_url(&parsed).to_string(),
                        Err(_) => "<not a URL>".to_owned(),
                    }),
            )
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("limits", &self.limits)
            .field("from_env", &self.lookup.is_some())
            .finish_non_exhaustive()
    }
}

impl<C: FromParts> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: FromParts> ClientBuilder<C> {
    /// A builder with every default and no key.
    pub fn new() -> Self {
        Self {
            provider: C::PROVIDER,
            key: None,
            base_url: None,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            http: None,
            lookup: None,
            max_concurrent_jobs: C::PROVIDER.max_concurrent_jobs,
            client: PhantomData,
        }
    }

    /// The API key.
    pub fn key(mut self, key: impl Into<ApiKey>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Another deployment of the API (a proxy, a local sandbox). `http://` is accepted only for
    /// loopback hosts, so a key never travels unencrypted.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// How failed requests are retried. [`RetryPolicy::none`] turns retries off.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Size limits on answers and downloads.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many jobs this client runs at once (the account's queue cap). `None` lifts the limit.
    /// Defaults to the provider's documented cap, if it has one. Clones of a client share it.
    pub fn max_concurrent_jobs(mut self, limit: Option<usize>) -> Self {
        self.max_concurrent_jobs = limit.map(|n| n.max(1));
        self
    }

    /// Builds the HTTP client from your own `reqwest::ClientBuilder` (proxies, TLS roots,
    /// connection pool, timeouts). Its redirect policy is replaced by "follow none": the runtime
    /// follows redirects itself, so that it can take the key off one that leaves the API (a
    /// client following them on its own would forward a custom header such as `X-API-Key`).
    /// The connect timeout of [`Timeouts`] does not apply to it.
    pub fn reqwest_client(mut self, http: reqwest::ClientBuilder) -> Self {
        self.http = Some(http);
        self
    }

    /// Fills what was not set in code from the environment: the key from the provider's
    /// `*_API_KEY` variable, the base URL from `*_BASE_URL`.
    pub fn from_env(self) -> Self {
        self.from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), with your own lookup (a config file, a secrets store).
    pub fn from_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// Makes the client, or says what is missing.
    pub fn build(self) -> Result<C, Error> {
        let provider = self.provider;
        let from_env = |name: &str| {
            self.lookup
                .as_ref()
                .and_then(|lookup| lookup(name))
                .filter(|value| !value.trim().is_empty())
        };
        let key = match self.key.clone() {
            Some(key) => key,
            None => match from_env(provider.key_env) {
                Some(value) => ApiKey::new(value),
                None => {
                    return Err(Error::MissingKey {
                        provider: provider.name,
                        variable: provider.key_env,
                        empty: false,
                    });
                }
            },
        };
        if key.is_empty() {
            return Err(Error::MissingKey {
                provider: provider.name,
                variable: provider.key_env,
                empty: true,
            });
        }
        let base_url = match (&self.base_url, from_env(provider.base_url_env)) {
            (Some(url), _) => check_base_url(url, "the base URL")?,
            (None, Some(url)) => check_base_url(&url, provider.base_url_env)?,
            (None, None) => provider.default_base_url.to_owned(),
        };
        let (http, client_timeout) = match self.http {
            Some(http) => (
                http.redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?,
                None,
            ),
            None => (
                default_http_client(provider, &self.timeouts)?,
                Some(self.timeouts.request),
            ),
        };
        let context = Context::new(provider, Some(key), self.retry, self.timeouts, http.clone())
            .with_job_slots(self.max_concurrent_jobs)
            .with_limits(self.limits)
            .with_client_timeout(client_timeout);
        Ok(C::from_parts(&base_url, http, context))
    }
}

fn default_http_client(
    provider: &'static ProviderInfo,
    timeouts: &Timeouts,
) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        // Every request gets a time limit: API calls this one (see `Sending::limit_time`),
        // uploads and downloads their own, set on the request.
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent(provider))
        .build()
        .map_err(|e| Error::config(format!("cannot create the HTTP client: {e}")))
}

/// `cutout/<version> (<provider>)`, as a static header value. reqwest copies the User-Agent
/// into every request and into the connector it clones for every request: a value made at run
/// time is shared, and each copy then changes its reference count, an atomic write to memory
/// both cores use; a static one is copied for free. Each provider's text is made once and kept
/// for the life of the process (a few bytes per provider).
fn user_agent(provider: &'static ProviderInfo) -> reqwest::header::HeaderValue {
    use std::sync::{Mutex, PoisonError};
    static AGENTS: Mutex<Vec<(&'static str, &'static str)>> = Mutex::new(Vec::new());
    let mut agents = AGENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let text = match agents.iter().find(|(name, _)| *name == provider.name) {
        Some((_, text)) => *text,
        None => {
            let text = format!("cutout/{} ({})", env!("CARGO_PKG_VERSION"), provider.name);
            // A name that cannot stand in a header (generated names always can) is left out.
            let text = if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                Box::leak(text.into_boxed_str())
            } else {
                concat!("cutout/", env!("CARGO_PKG_VERSION"))
            };
            agents.push((provider.name, text));
            text
        }
    };
    reqwest::header::HeaderValue::from_static(text)
}

/// Accepts `https://` anywhere and `http://` only on loopback; trims a trailing slash (operation
/// paths start with one).
pub fn check_base_url(url: &str, what: &str) -> Result<String, Error> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| Error::config(format!("{what} is not a valid URL: {e}")))?;
    // Messages show the URL without userinfo or query, which may hold secrets.
    let url = crate::redact_url(&parsed);
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => {
            return Err(Error::config(format!(
                "{what} `{url}` uses plain http:// to a non-loopback host, which would send the \
                 API key unencrypted: use https:// (http:// is accepted only for localhost, \
                 127.0.0.0/8 and ::1)"
            )));
        }
        other => {
            return Err(Error::config(format!(
                "{what} `{url}` has scheme `{other}`: use https://"
            )));
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(format!(
            "{what} `{url}` must not have a query or fragment"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Whether the URL's host is the local machine.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost") || domain.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Capabilities of a test provider that documents nothing beyond making cut-outs.
    pub(crate) const CUTOUTS_ONLY: Capabilities = Capabilities {
        outputs: &[CutoutKind::Rgba],
        accepts_local_files: true,
        input_formats: &[],
        max_upload_bytes: None,
        max_side: None,
        max_pixels: None,
    };

    pub(crate) static TOPAZ: ProviderInfo = ProviderInfo {
        name: "topaz",
        key_env: "TOPAZ_API_KEY",
        base_url_env: "TOPAZ_BASE_URL",
        default_base_url: "https://api.topazlabs.com/image/v1",
        auth: AuthScheme::Header {
            name: "X-API-Key",
            prefix: None,
        },
        submissions: &["post_matting"],
        max_concurrent_jobs: None,
        capabilities: Capabilities {
            outputs: &[CutoutKind::Rgba, CutoutKind::Mask],
            accepts_local_files: true,
            input_formats: &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Tiff],
            max_upload_bytes: None,
            max_side: Some(32_000),
            max_pixels: None,
        },
    };

    #[derive(Debug)]
    struct Fake {
        base_url: String,
        context: Context,
    }
    impl FromParts for Fake {
        const PROVIDER: &'static ProviderInfo = &TOPAZ;
        fn from_parts(base_url: &str, _: reqwest::Client, context: Context) -> Self {
            Self {
                base_url: base_url.to_owned(),
                context,
            }
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_user_agent_names_the_provider_and_is_made_once() {
        let agent = user_agent(&TOPAZ);
        assert_eq!(
            agent.to_str().unwrap(),
            concat!("cutout/", env!("CARGO_PKG_VERSION"), " (topaz)")
        );
        let again = user_agent(&TOPAZ);
        assert_eq!(agent.as_bytes().as_ptr(), again.as_bytes().as_ptr());
    }

    #[test]
    fn the_environment_supplies_key_and_base_url() {
        let client = ClientBuilder::<Fake>::new()
            .from_lookup(env(&[
                ("TOPAZ_API_KEY", "k-env\n"),
                ("TOPAZ_BASE_URL", "http://127.0.0.1:9/image/v1/"),
            ]))
            .build()
            .unwrap();
        assert_eq!(client.base_url, "http://127.0.0.1:9/image/v1");
        assert_eq!(client.context.key().unwrap().expose(), "k-env");

        let client = ClientBuilder::<Fake>::new()
            .key("in-code")
            .from_lookup(env(&[("TOPAZ_API_KEY", "k-env")]))
            .build()
            .unwrap();
        assert_eq!(client.context.key().unwrap().expose(), "in-code");
        assert_eq!(client.base_url, "https://api.topazlabs.com/image/v1");
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let err = ClientBuilder::<Fake>::new()
            .from_lookup(env(&[]))
            .build()
            .unwrap_err();
        assert!(err.is_auth());
        assert_eq!(
            err.to_string(),
            "configuration: no topaz API key: set TOPAZ_API_KEY (or pass one with `.key(...)`)"
        );
    }

    #[test]
    fn capabilities_answer_before_anything_is_sent() {
        static URLS_ONLY: ProviderInfo = ProviderInfo {
            name: "tengr",
            capabilities: Capabilities {
                accepts_local_files: false,
                ..CUTOUTS_ONLY
            },
            ..TOPAZ
        };
        let local = crate::ImageSource::path("photos/cat.jpg");
        let url = crate::ImageSource::url("https://cdn.example.com/cat.jpg?sig=secret");
        TOPAZ.check_source(&local).unwrap();
        URLS_ONLY.check_source(&url).unwrap();
        let error = URLS_ONLY.check_source(&local).unwrap_err();
        assert!(matches!(
            error,
            Error::Unsupported {
                provider: "tengr",
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .contains("`photos/cat.jpg` is a local image")
                && error.to_string().contains("by URL only"),
            "{error}"
        );
        assert!(
            URLS_ONLY
                .check_source(&crate::ImageSource::bytes(vec![1], "a.png"))
                .is_err()
        );

        TOPAZ.check_output(CutoutKind::Mask).unwrap();
        assert!(TOPAZ.makes_masks() && !URLS_ONLY.makes_masks());
        let error = URLS_ONLY.check_output(CutoutKind::Mask).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tengr: its background removal makes cut-outs only, not masks"
        );

        assert_eq!(
            TOPAZ.capabilities.formats_text().as_deref(),
            Some("JPEG, PNG or TIFF")
        );
        assert_eq!(CUTOUTS_ONLY.formats_text(), None);
        let one = Capabilities {
            input_formats: &[ImageFormat::Jpeg],
            ..CUTOUTS_ONLY
        };
        assert_eq!(one.formats_text().as_deref(), Some("JPEG"));
    }

    /// A provider that takes images inline, as ModelsLab does.
    fn inline_provider() -> ProviderInfo {
        ProviderInfo {
            name: "inliner",
            auth: AuthScheme::BodyField { field: "key" },
            capabilities: CUTOUTS_ONLY,
            ..TOPAZ
        }
    }

    #[test]
    fn the_inline_image_limit_is_the_smaller_of_the_clients_and_the_providers() {
        let limits = Limits::default();
        assert_eq!(limits.inline_image, 64 << 20);
        assert_eq!(limits.inline_image_limit(&CUTOUTS_ONLY), 64 << 20);
        let provider = |capabilities| ProviderInfo {
            capabilities,
            ..inline_provider()
        };
        limits
            .check_inline_image(&provider(CUTOUTS_ONLY), "a.png", 64 << 20)
            .unwrap();
        let error = limits
            .check_inline_image(&provider(CUTOUTS_ONLY), "a.png", (64 << 20) + 1)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Unsupported {
                    provider: "inliner",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "inliner: `a.png` is 64.0 MiB (67108865 bytes), over this client's limit for an \
             image sent inline of 64.0 MiB (67108864 bytes): resize or recompress it, pass its \
             URL instead, use a provider that uploads files, or raise the limit with \
             `Limits::inline_image` (set through `ClientBuilder::limits`)"
        );
        let raised = limits.inline_image(1 << 30);
        raised
            .check_inline_image(&provider(CUTOUTS_ONLY), "a.png", (64 << 20) + 1)
            .unwrap();

        // A documented limit below the client's wins, and raising the client's does not help.
        let documented = Capabilities {
            max_upload_bytes: Some(10 << 20),
            ..CUTOUTS_ONLY
        };
        assert_eq!(raised.inline_image_limit(&documented), 10 << 20);
        let error = raised
            .check_inline_image(&provider(documented), "b.jpg", (10 << 20) + 1)
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("the provider's documented limit"),
            "{message}"
        );
        assert!(!message.contains("Limits::inline_image"), "{message}");
        // A documented limit above the client's leaves the client's.
        assert_eq!(
            Limits::default()
                .inline_image(1 << 20)
                .inline_image_limit(&documented),
            1 << 20
        );
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        for ok in [
            "https://api.example.com/v1",
            "http://localhost:8080",
            "http://127.0.0.1:1/x",
            "http://[::1]:80",
        ] {
            check_base_url(ok, "base").unwrap();
        }
        let err = check_base_url("http://api.example.com", "TOPAZ_BASE_URL").unwrap_err();
        assert!(!err.is_auth(), "a refused base URL is not a key problem");
        assert!(err.to_string().contains("TOPAZ_BASE_URL"), "{err}");
        assert!(err.to_string().contains("unencrypted"), "{err}");
        assert!(check_base_url("ftp://x", "base").is_err());
        assert!(check_base_url("not a url", "base").is_err());
        let err = ClientBuilder::<Fake>::new()
            .key("k")
            .base_url("http://10.0.0.5")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }));
    }

    #[test]
    fn builder_debug_hides_the_key() {
        let builder = ClientBuilder::<Fake>::new()
            .key("sk-secret-123")
            .base_url("https://user:pw-secret@api.example.com/v1");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("api.example.com/v1"), "{shown}");
        let err = check_base_url("http://user:pw-secret@10.0.0.1/?t=secret", "base").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

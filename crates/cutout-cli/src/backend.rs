//! Where requests go: the real APIs (keys and base URLs from the environment) or the simulators
//! of `cutout-sandbox`, started inside this process by `--sandbox`.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use cutout::Provider;
use cutout::router::Router;
use cutout::runtime::{self, BackgroundRemover, ClientBuilder, FromParts, RetryPolicy, WaitPolicy};
use cutout_sandbox::Sandbox;

use crate::cli::{Global, WaitArgs};
use crate::failure::Failure;
use crate::inputs::Input;

/// How long a simulated job takes unless told otherwise (the sandbox's own default).
pub const DEFAULT_SANDBOX_JOB: Duration = Duration::from_millis(1500);

/// The clients' destination.
pub struct Backend {
    sandbox: Option<Sandbox>,
}

impl Backend {
    /// Starts the simulators with `--sandbox`; otherwise nothing happens until a client is made.
    pub async fn new(global: &Global) -> Result<Self, Failure> {
        let sandbox = if global.sandbox {
            let sandbox = start_sandbox(job_duration(global, None), 0).await?;
            configure_sandbox(&sandbox, &global.sandbox_credits, &global.sandbox_fail, 1);
            Some(sandbox)
        } else {
            None
        };
        Ok(Self { sandbox })
    }

    /// Whether the simulators are in use.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// A client of one provider: pointed at the sandbox, or configured from the environment.
    pub fn client<C: FromParts>(&self, provider: Provider) -> Result<C, Failure> {
        let builder = ClientBuilder::<C>::new();
        let builder = match &self.sandbox {
            Some(sandbox) => builder
                .base_url(sandbox.base_url(provider))
                .key(sandbox.key(provider)),
            None => builder.from_env(),
        };
        builder.build().map_err(|error| Failure::config(&error))
    }

    /// The provider-neutral remover of `provider`, made by the facade.
    pub fn remover(&self, provider: Provider) -> Result<Box<dyn BackgroundRemover>, Failure> {
        let remover = match &self.sandbox {
            Some(sandbox) => provider.remover(
                &sandbox.base_url(provider),
                sandbox.key(provider),
                RetryPolicy::default(),
            ),
            None => provider.remover_from_env(),
        };
        remover.map_err(|error| Failure::config(&error))
    }

    /// A router over `providers`, in order, for a fallback list: the same keys and base URLs
    /// as [`remover`](Self::remover) (the sandbox's, or the environment's), with retries of
    /// submissions left to the router (one retry loop).
    pub fn router(&self, providers: &[Provider]) -> Result<Router, Failure> {
        let built = match &self.sandbox {
            Some(sandbox) => {
                let mut builder = Router::builder();
                for &provider in providers {
                    let remover = provider
                        .remover(
                            &sandbox.base_url(provider),
                            sandbox.key(provider),
                            RetryPolicy::default().retry_submissions(false),
                        )
                        .map_err(|error| Failure::config(&error))?;
                    builder = builder.route(provider, remover);
                }
                builder.build()
            }
            None => Router::from_env(providers),
        };
        built.map_err(|error| Failure::config(&error))
    }

    /// How to wait for jobs: the defaults against the real APIs; against the simulators, pauses
    /// from 50 ms (doubling without an ETA) up to 4 s, so that short simulated jobs finish
    /// promptly while a job with an ETA is polled around it, not every few hundred ms.
    pub fn wait_policy(&self, args: &WaitArgs) -> WaitPolicy {
        let policy = WaitPolicy::default().deadline(Duration::from_secs(args.wait_timeout));
        if self.is_sandbox() {
            policy
                .min_interval(Duration::from_millis(50))
                .max_interval(Duration::from_secs(4))
        } else {
            policy
        }
    }

    /// Runs the work for one input (submitting, waiting and downloading) within the deadline of
    /// `policy` (`--wait-timeout`), so that neither a slow upload nor a trickling download can
    /// outlast it. Work cut short leaves no partial file (downloads go through temporary files
    /// that are removed).
    pub async fn within_deadline<T>(
        policy: &WaitPolicy,
        work: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let limit = policy.deadline;
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(runtime::Error::Timeout {
                what: "this input (submitting, waiting and downloading: --wait-timeout)".to_owned(),
                waited: limit,
            }
            .to_string()),
        }
    }

    /// A URL the provider can fetch `input` from, for providers that only take URLs (Tengr).
    /// With the sandbox a local file is put on its file host (under `slot/`, so that inputs
    /// with the same name do not replace each other); against a real API it is an error that
    /// asks for a public URL.
    pub async fn url_for(
        &self,
        input: &Input,
        slot: usize,
        provider: Provider,
    ) -> Result<String, runtime::Error> {
        match input {
            Input::Url(url) => Ok(url.clone()),
            Input::Path(path) => match &self.sandbox {
                Some(sandbox) => {
                    let bytes = tokio::fs::read(path)
                        .await
                        .map_err(|e| runtime::Error::io("read", path, e))?;
                    let name = format!("{slot}/{}", file_name(path));
                    Ok(sandbox.host_file(&name, Bytes::from(bytes)).await)
                }
                None => Err(runtime::Error::Unsupported {
                    provider: provider.name(),
                    message: format!(
                        "`{}` is a local file, but {provider} fetches images by URL: pass a \
                         public http(s) URL to the image (or try it with --sandbox, which hosts \
                         local files itself)",
                        path.display()
                    ),
                }),
            },
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".to_owned())
}

/// The simulated job duration: `--job-ms` of `cutout sandbox`, else the hidden global flag
/// (`CUTOUT_SANDBOX_JOB_MS`), else the sandbox's default.
pub fn job_duration(global: &Global, explicit: Option<u64>) -> Duration {
    explicit
        .or(global.sandbox_job_ms)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_SANDBOX_JOB)
}

/// Starts the simulators on the current runtime.
pub async fn start_sandbox(job_duration: Duration, port_base: u16) -> Result<Sandbox, Failure> {
    let ports = cutout_sandbox::SandboxPorts::from_base(port_base).ok_or_else(|| {
        Failure::Usage(format!(
            "--port-base {port_base} leaves no room for five consecutive ports: pick one below \
             65531"
        ))
    })?;
    Sandbox::builder()
        .job_duration(job_duration)
        .ports(ports)
        .start()
        .await
        .map_err(|e| Failure::Setup(format!("cannot start the sandbox: {e}")))
}

/// How long `--fail PROVIDER=slow` holds a submission.
pub const SANDBOX_SLOW_BY: Duration = Duration::from_secs(5);

/// Gives the simulators their starting credits and per-provider faults (`cutout sandbox
/// --credits/--fail`, `CUTOUT_SANDBOX_CREDITS/FAIL` for --sandbox); 429s announce
/// `retry_after_secs`.
pub fn configure_sandbox(
    sandbox: &Sandbox,
    credits: &[cutout_sandbox::ProviderCredits],
    fail: &[cutout_sandbox::ProviderFault],
    retry_after_secs: u64,
) {
    for credits in credits {
        sandbox.set_credits(credits.provider, credits.credits);
    }
    let faults =
        cutout_sandbox::ProviderFault::per_provider(fail, retry_after_secs, SANDBOX_SLOW_BY);
    for (provider, faults) in faults.into_values() {
        sandbox.set_provider_faults(provider, faults);
    }
}

/// The environment variables of each provider, for messages.
pub fn env_vars(provider: Provider) -> (&'static str, &'static str) {
    let info = provider.info();
    (info.key_env, info.base_url_env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_covers_the_whole_input() {
        let policy = WaitPolicy::default().deadline(Duration::from_millis(100));
        let started = std::time::Instant::now();
        // Work that would never end on its own (a trickling download, a hung upload).
        let error = Backend::within_deadline(&policy, std::future::pending::<Result<(), String>>())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(error.contains("--wait-timeout"), "{error}");
        assert_eq!(
            Backend::within_deadline(&policy, async { Ok::<_, String>(7) }).await,
            Ok(7)
        );
    }
}

//! `cutout-sandbox`: runs the four provider simulators and the file host until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cutout_sandbox::{
    FaultRates, Faults, Provider, ProviderCredits, ProviderFault, Sandbox, SandboxPorts,
};

/// Local simulators of the Topaz, BackgroundCut, ModelsLab and Tengr.ai APIs (loopback only).
#[derive(Debug, Parser)]
#[command(name = "cutout-sandbox", version)]
struct Args {
    /// First of five consecutive ports: Topaz N, BackgroundCut N+1, ModelsLab N+2, Tengr N+3,
    /// file host N+4. 0 picks free ephemeral ports.
    #[arg(long, default_value_t = 0)]
    port_base: u16,
    /// Seed of the fault generator and of the ids handed out.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How long a Topaz job, ModelsLab request or Tengr artwork takes, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    job_duration_ms: u64,
    /// Credits: N for every account (default 1000), PROVIDER=N for one (repeatable, e.g.
    /// `--credits topaz=0`). At 0 every paid submission is answered 402 in the provider's own
    /// error shape.
    #[arg(long, value_name = "[PROVIDER=]N", value_parser = parse_credits)]
    credits: Vec<Credits>,
    /// ModelsLab requests that may process at once before 429.
    #[arg(long, default_value_t = 5)]
    modelslab_queue_cap: usize,
    /// Probability of a 429 (with Retry-After) on each API request.
    #[arg(long, default_value_t = 0.0)]
    rate_limited: f64,
    /// Seconds announced in Retry-After on injected 429s.
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// Probability of a 503 on each API request.
    #[arg(long, default_value_t = 0.0)]
    unavailable: f64,
    /// Probability of a 502 on each API request.
    #[arg(long, default_value_t = 0.0)]
    bad_gateway: f64,
    /// Probability of a 500 on each API request.
    #[arg(long, default_value_t = 0.0)]
    internal: f64,
    /// Probability that an API request's connection is closed without an answer.
    #[arg(long, default_value_t = 0.0)]
    dropped: f64,
    /// Probability that an API request is handled (a job is created) but its answer is lost.
    #[arg(long, default_value_t = 0.0)]
    answer_lost: f64,
    /// Probability that an API request is held for --slow-ms before it is handled.
    #[arg(long, default_value_t = 0.0)]
    slow: f64,
    /// How long a slow request is held, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
    /// Probability that a file-host download is cut off halfway.
    #[arg(long, default_value_t = 0.0)]
    truncated_downloads: f64,
    /// Probability that a file-host download's connection is closed without an answer.
    #[arg(long, default_value_t = 0.0)]
    dropped_downloads: f64,
    /// PROVIDER=KIND[:RATE] (repeatable): faults of one provider's paid submissions only, in
    /// place of the flags above for that provider; KIND is unavailable, rate-limited,
    /// bad-gateway, internal, dropped, answer-lost or slow, RATE 0..1 (default 1).
    #[arg(long, value_name = "PROVIDER=KIND[:RATE]")]
    fail: Vec<ProviderFault>,
    /// Print the endpoints as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A `--credits` value: every account's balance, or one provider's.
#[derive(Clone, Debug)]
enum Credits {
    All(i64),
    One(ProviderCredits),
}

fn parse_credits(text: &str) -> Result<Credits, String> {
    if text.contains('=') {
        return text.parse().map(Credits::One);
    }
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .map(Credits::All)
        .ok_or_else(|| format!("`{text}` is not N (0 or more) nor PROVIDER=N"))
}

impl Args {
    /// The balance of every account, then the per-provider ones.
    fn credits(&self) -> (i64, Vec<ProviderCredits>) {
        let mut all = 1000;
        let mut one = Vec::new();
        for credits in &self.credits {
            match credits {
                Credits::All(n) => all = *n,
                Credits::One(c) => one.push(*c),
            }
        }
        (all, one)
    }

    fn faults(&self) -> Faults {
        let api = FaultRates {
            rate_limited: self.rate_limited,
            retry_after_secs: self.retry_after_secs,
            unavailable: self.unavailable,
            bad_gateway: self.bad_gateway,
            internal: self.internal,
            dropped: self.dropped,
            answer_lost: self.answer_lost,
            slow: self.slow,
            slow_by: Duration::from_millis(self.slow_ms),
            truncated: 0.0,
        };
        Faults {
            on_submissions: api.clone(),
            on_other: api,
            on_downloads: FaultRates {
                dropped: self.dropped_downloads,
                truncated: self.truncated_downloads,
                ..FaultRates::default()
            },
        }
    }
}

fn auth_hint(provider: Provider) -> &'static str {
    match provider {
        Provider::Topaz => "header X-API-Key: <key>",
        Provider::BackgroundCut => "header Authorization: Token <key>",
        Provider::ModelsLab => "JSON body member \"key\": <key>",
        Provider::Tengr => "header Authorization: Bearer <key>",
        _ => "see the provider's documentation",
    }
}

fn describe(sandbox: &Sandbox, fail: &[ProviderFault], json: bool) -> String {
    let fail: Vec<String> = fail.iter().map(ToString::to_string).collect();
    if json {
        let mut object = serde_json::Map::new();
        for provider in Provider::ALL.iter().copied() {
            object.insert(
                provider.name().to_owned(),
                serde_json::json!({
                    "base_url": sandbox.base_url(provider),
                    "key": sandbox.key(provider),
                    "credits": sandbox.credits(provider),
                }),
            );
        }
        object.insert("files_url".into(), serde_json::json!(sandbox.files_url()));
        object.insert("fail".into(), serde_json::json!(fail));
        return serde_json::Value::Object(object).to_string();
    }
    let mut text = String::from("cutout-sandbox is serving (Ctrl-C to stop)\n");
    for provider in Provider::ALL.iter().copied() {
        text.push_str(&format!(
            "  {:<14} {:<36} key {:<28} credits {:<6} ({})\n",
            provider.name(),
            sandbox.base_url(provider),
            sandbox.key(provider),
            sandbox.credits(provider),
            auth_hint(provider)
        ));
    }
    text.push_str(&format!("  {:<14} {}", "files", sandbox.files_url()));
    if !fail.is_empty() {
        text.push_str(&format!("\n  failing submissions: {}", fail.join(", ")));
    }
    text
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some(ports) = SandboxPorts::from_base(args.port_base) else {
        eprintln!(
            "error: --port-base {} leaves no room for five ports",
            args.port_base
        );
        return ExitCode::FAILURE;
    };
    let started = Sandbox::builder()
        .seed(args.seed)
        .job_duration(Duration::from_millis(args.job_duration_ms))
        .credits(args.credits().0)
        .modelslab_queue_cap(args.modelslab_queue_cap)
        .faults(args.faults())
        .ports(ports)
        .start()
        .await;
    let sandbox = match started {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    for credits in args.credits().1 {
        sandbox.set_credits(credits.provider, credits.credits);
    }
    let per_provider = ProviderFault::per_provider(
        &args.fail,
        args.retry_after_secs,
        Duration::from_millis(args.slow_ms),
    );
    for (provider, faults) in per_provider.into_values() {
        sandbox.set_provider_faults(provider, faults);
    }
    println!("{}", describe(&sandbox, &args.fail, args.json));
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    drop(sandbox);
    ExitCode::SUCCESS
}

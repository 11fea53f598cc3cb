//! `cutout sandbox`: the simulators in the foreground, until Ctrl-C.

use cutout::Provider;
use cutout_sandbox::{ProviderCredits, ProviderFault, Sandbox};
use serde_json::{Map, Value, json};

use crate::backend::{configure_sandbox, env_vars, job_duration, start_sandbox};
use crate::cli::{Global, SandboxArgs};
use crate::failure::Failure;

/// Runs the command.
pub async fn run(global: &Global, args: SandboxArgs) -> Result<(), Failure> {
    let sandbox = start_sandbox(job_duration(global, args.job_ms), args.port_base).await?;
    // The environment's values first, the flags over them.
    let credits: Vec<ProviderCredits> = global
        .sandbox_credits
        .iter()
        .chain(&args.credits)
        .copied()
        .collect();
    let fail: Vec<ProviderFault> = global
        .sandbox_fail
        .iter()
        .chain(&args.fail)
        .cloned()
        .collect();
    configure_sandbox(&sandbox, &credits, &fail, args.retry_after);
    let fail: Vec<String> = fail.iter().map(ToString::to_string).collect();
    if global.json {
        crate::report::print_json(&endpoints(&sandbox, &fail)?);
    } else {
        crate::report::out(format_args!("{}", describe(&sandbox, &fail)?));
    }
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| Failure::Setup(format!("cannot wait for Ctrl-C: {e}")))?;
    drop(sandbox);
    if !global.quiet {
        eprintln!("sandbox stopped");
    }
    Ok(())
}

/// `{"topaz": {"base_url", "key", "key_env", "base_url_env", "credits"}, …, "files_url",
/// "fail": ["modelslab=unavailable:1", …]}`.
fn endpoints(sandbox: &Sandbox, fail: &[String]) -> Result<Value, Failure> {
    let mut object = Map::new();
    for &provider in Provider::ALL {
        let (key_env, base_url_env) = env_vars(provider);
        object.insert(
            provider.name().to_owned(),
            json!({
                "base_url": sandbox.base_url(provider),
                "key": sandbox.key(provider),
                "key_env": key_env,
                "base_url_env": base_url_env,
                "credits": sandbox.credits(provider),
            }),
        );
    }
    object.insert("files_url".to_owned(), json!(sandbox.files_url()));
    object.insert("fail".to_owned(), json!(fail));
    Ok(Value::Object(object))
}

fn describe(sandbox: &Sandbox, fail: &[String]) -> Result<String, Failure> {
    let mut text = String::from(
        "The cutout sandbox is running on 127.0.0.1 (Ctrl-C stops it; state is kept until then).\n\n",
    );
    text.push_str(&format!(
        "  {:<14} {:<40} {:<28} {}\n",
        "provider", "base URL", "key", "credits"
    ));
    for &provider in Provider::ALL {
        text.push_str(&format!(
            "  {:<14} {:<40} {:<28} {}\n",
            provider.name(),
            sandbox.base_url(provider),
            sandbox.key(provider),
            sandbox.credits(provider)
        ));
    }
    text.push_str(&format!("  {:<14} {}\n", "file host", sandbox.files_url()));
    if !fail.is_empty() {
        text.push_str(&format!(
            "\nFailing paid submissions: {}\n",
            fail.join(", ")
        ));
    }
    text.push_str("\nUse it from another shell:\n");
    for &provider in Provider::ALL {
        let (key_env, base_url_env) = env_vars(provider);
        text.push_str(&format!(
            "  export {base_url_env}={} {key_env}={}\n",
            sandbox.base_url(provider),
            sandbox.key(provider)
        ));
    }
    text.push_str("  cutout remove-bg photo.jpg && cutout jobs list");
    Ok(text)
}

//! What the CLI's process tests share: the `cutout` binary pointed at an in-test sandbox, run to
//! the end off the async threads, and its `--json` lines. Each test binary compiles this module
//! on its own and uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use cutout_sandbox::{Provider, Sandbox};

/// `cutout` in `dir`, with nothing from our environment but the base URL and key of each of
/// `providers` in `sandbox` (the variables each provider's client reads).
pub fn cutout_against(dir: &Path, sandbox: &Sandbox, providers: &[Provider]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutout"));
    command.current_dir(dir).env_clear();
    for &provider in providers {
        let info = provider.info();
        command
            .env(info.key_env, sandbox.key(provider))
            .env(info.base_url_env, sandbox.base_url(provider));
    }
    command
}

/// Runs `command` to the end (off the async threads: the sandbox answers it meanwhile): exit
/// code (-1 when killed by a signal), stdout, stderr.
pub async fn run(mut command: Command) -> (i32, String, String) {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `--json` lines of `stdout`, each parsed (a line that is not JSON fails the test).
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

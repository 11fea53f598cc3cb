//! The GitHub workflows (`.github/workflows/`) cannot run here, so everything they ask of the
//! xtask is checked here: their YAML parses and has the promised shape (triggers, minimal
//! permissions, one branch per provider, no `${{ }}` inside scripts), every script is valid bash,
//! every `cargo xtask …` command names a real subcommand and flags (each run for real against a
//! scratch git repository), and the planning and update steps are run with bash against a scratch
//! repository through a `cargo` stand-in that runs the built xtask: `spec update`, and `api-diff`
//! on an additive, a breaking and a broken spec (exit codes 0, 1 and 2, the report file, the bump).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::{docs, setup, succeeds, xtask};

fn workflow(name: &str) -> Value {
    let path = support::manifest_dir()
        .join("../.github/workflows")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(job, step name or id, script)` of every `run` step, in file order.
fn scripts(workflow: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (job, body) in workflow["jobs"].as_object().unwrap() {
        for step in body["steps"].as_array().unwrap() {
            if let Some(run) = step.get("run").and_then(Value::as_str) {
                let name = step
                    .get("name")
                    .or_else(|| step.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                out.push((job.clone(), name.to_owned(), run.to_owned()));
            }
        }
    }
    out
}

fn script(workflow: &Value, step_name: &str) -> String {
    scripts(workflow)
        .into_iter()
        .find(|(_, name, _)| name == step_name)
        .unwrap_or_else(|| panic!("no step named {step_name}"))
        .2
}

#[test]
fn ci_runs_the_ci_script_on_pushes_and_pull_requests() {
    let ci = workflow("ci.yml");
    assert!(ci["on"].get("push").is_some() && ci["on"].get("pull_request").is_some());
    assert_eq!(ci["permissions"], serde_json::json!({"contents": "read"}));
    let runs: Vec<String> = scripts(&ci).into_iter().map(|(_, _, s)| s).collect();
    assert_eq!(
        runs,
        ["bash .ci/run"],
        "CI is the script, nothing beside it"
    );
    assert!(support::manifest_dir().join("../.ci/run").exists());
}

#[test]
fn spec_update_has_its_triggers_minimal_permissions_and_one_branch_per_provider() {
    let w = workflow("spec-update.yml");
    let inputs = &w["on"]["workflow_dispatch"]["inputs"];
    assert_eq!(inputs["provider"]["required"], true);
    assert_eq!(inputs["url"]["required"], false);
    assert!(w["on"]["schedule"][0]["cron"].is_string());
    assert_eq!(w["permissions"], serde_json::json!({"contents": "read"}));
    let update = &w["jobs"]["update"];
    assert_eq!(
        update["permissions"],
        serde_json::json!({"contents": "write", "pull-requests": "write"})
    );
    assert_eq!(
        update["strategy"]["matrix"]["include"],
        "${{ fromJSON(needs.plan.outputs.matrix) }}"
    );
    assert_eq!(
        update["env"]["BRANCH"],
        "spec-update/${{ matrix.provider }}"
    );
    let open = script(&w, "Open or update the pull request");
    for expected in [
        "git push --force origin \"$BRANCH\"",
        "gh pr edit \"$BRANCH\" --title \"$title\" --body-file \"$RUNNER_TEMP/report.md\"",
        "gh pr create --head \"$BRANCH\"",
        "--add-label breaking",
    ] {
        assert!(open.contains(expected), "{expected} in:\n{open}");
    }
}

#[test]
fn every_script_is_valid_bash_and_takes_expressions_only_through_env() {
    for file in ["ci.yml", "spec-update.yml"] {
        for (job, step, script) in scripts(&workflow(file)) {
            // An expression expanded into a script is a script-injection hole (inputs, URLs).
            assert!(
                !script.contains("${{"),
                "{file} {job}/{step}: pass expressions through env"
            );
            let output = Command::new("bash")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{file} {job}/{step}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// Shell words of `text` up to the first unquoted operator; returns them and the bytes consumed.
fn shell_words(text: &str) -> (Vec<String>, usize) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '>' | '|' | '&' | ';' | ')') => {
                words.extend(word.take());
                return (words, i);
            }
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    (words, text.len())
}

/// Every `cargo xtask …` command of a script, as words.
fn xtask_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("cargo xtask ") {
            let tail = &rest[at + "cargo xtask ".len()..];
            let (words, used) = shell_words(tail);
            commands.push(words);
            rest = &tail[used..];
        }
    }
    commands
}

fn substitute(word: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = word.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${name}"), value);
    }
    assert!(
        !out.contains('$'),
        "`{word}`: give the test a value for its variable"
    );
    out
}

#[test]
fn every_xtask_command_of_the_workflows_exists_with_its_flags() {
    let dir = repo();
    let root = dir.path();
    let temp = tempfile::tempdir().unwrap();
    std::fs::copy(docs("v2.json"), temp.path().join("document")).unwrap();
    let vars = BTreeMap::from([
        ("PROVIDER", "up".to_owned()),
        ("URL", "https://up.example.com/v2/openapi.json".to_owned()),
        ("RUNNER_TEMP", temp.path().to_str().unwrap().to_owned()),
    ]);
    let subcommands = ["codegen", "spec", "api-diff"];
    let mut seen = Vec::new();
    for file in ["ci.yml", "spec-update.yml"] {
        for (_, _, script) in scripts(&workflow(file)) {
            for command in xtask_commands(&script) {
                let args: Vec<String> = command.iter().map(|w| substitute(w, &vars)).collect();
                let name = args.first().expect("a subcommand").as_str();
                assert!(subcommands.contains(&name), "unknown `cargo xtask {name}`");
                // Each for real, in order: an unknown flag or value would exit 2. After
                // `spec update` to v2 (a new optional response field), api-diff exits 0.
                let words: Vec<&str> = args.iter().map(String::as_str).collect();
                succeeds(xtask(root, &words));
                seen.push(command.join(" "));
            }
        }
    }
    assert_eq!(
        seen,
        [
            "spec list --json",
            "spec update $PROVIDER --from $RUNNER_TEMP/document --source $URL",
            "api-diff --format markdown $PROVIDER",
            "api-diff --bump --write $PROVIDER",
            // the pull-request step: which file is the provider's document
            "spec list --json",
        ]
    );
    // `spec update` ran for real: the document is recorded; so did `api-diff --bump --write`.
    assert_eq!(
        std::fs::read(root.join("specs/up/openapi.upstream.json")).unwrap(),
        std::fs::read(docs("v2.json")).unwrap()
    );
    assert_eq!(crate_version(root), "0.1.1");
}

/// The crate version `api-diff --bump --write` moves.
fn crate_version(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("crates/up/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    manifest["package"]["version"].as_str().unwrap().to_owned()
}

/// The scratch repository of `setup()` as a git repository with one commit, plus what
/// `api-diff --bump --write` edits: the crate's manifest and changelog, and a root manifest whose
/// `[workspace.dependencies]` names the crate.
fn repo() -> tempfile::TempDir {
    let dir = setup();
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"crates/up\"]\n\n[workspace.dependencies]\n\
         up = { path = \"crates/up\", version = \"0.1.0\" }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("crates/up/Cargo.toml"),
        "[package]\nname = \"up\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("crates/up/CHANGELOG.md"),
        "# Changelog of `up`\n\n## 0.1.0\n\nFirst release.\n",
    )
    .unwrap();
    git(root, &["init", "--quiet"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "--quiet", "-m", "base"]);
    dir
}

/// A folder with a `cargo` that runs the built xtask against `XTASK_ROOT` (`cargo xtask …` is
/// all the scripts call).
fn cargo_stand_in() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cargo");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         [ \"$1\" = xtask ] || { echo \"this cargo only runs xtask\" >&2; exit 97; }\n\
         shift\n\
         exec \"$XTASK_BIN\" \"$@\" --root \"$XTASK_ROOT\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

struct Step<'a> {
    root: &'a Path,
    bin: &'a Path,
    temp: &'a Path,
}

impl Step<'_> {
    /// Runs `script` as GitHub does (`bash -eo pipefail`), in the repository, with `env`;
    /// returns the output and what it wrote to `$GITHUB_OUTPUT`.
    fn run(&self, script: &str, env: &[(&str, &str)]) -> (Output, BTreeMap<String, String>) {
        let outputs = self.temp.join("github-output");
        std::fs::write(&outputs, "").unwrap();
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(self.root)
            .env("PATH", path)
            .env("XTASK_BIN", env!("CARGO_BIN_EXE_xtask"))
            .env("XTASK_ROOT", self.root)
            .env("RUNNER_TEMP", self.temp)
            .env("GITHUB_OUTPUT", &outputs)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let written = std::fs::read_to_string(&outputs)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        (output, written)
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_plan_step_picks_fetchable_providers_or_the_one_asked_for() {
    let dir = setup();
    let bin = cargo_stand_in();
    let temp = tempfile::tempdir().unwrap();
    let step = Step {
        root: dir.path(),
        bin: bin.path(),
        temp: temp.path(),
    };
    let plan = script(&workflow("spec-update.yml"), "Which providers to update");
    let matrix = |written: &BTreeMap<String, String>| -> Value {
        serde_json::from_str(&written["matrix"]).unwrap()
    };

    // Scheduled: only `up` records a fetchable upstream.
    let (output, written) = step.run(&plan, &[("PROVIDER", ""), ("URL", "")]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        matrix(&written),
        serde_json::json!([{"provider": "up", "url": "https://up.example.com/openapi.json"}])
    );

    // By hand, with a URL: any provider.
    let (output, written) = step.run(
        &plan,
        &[
            ("PROVIDER", "hand"),
            ("URL", "https://hand.example.com/doc.yaml"),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        matrix(&written),
        serde_json::json!([{"provider": "hand", "url": "https://hand.example.com/doc.yaml", "fetchable": false}])
    );

    // By hand, without a URL, for a provider with nothing to fetch; or an unknown provider.
    let (output, _) = step.run(&plan, &[("PROVIDER", "hand"), ("URL", "")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("::error::hand has no fetchable source recorded in its lock"),
        "{}",
        text(&output)
    );
    let (output, _) = step.run(&plan, &[("PROVIDER", "nope"), ("URL", "")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("::error::no provider named 'nope'"));
}

fn git(root: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", text(&output));
}

/// The markdown report the built `api-diff` gives for `up` now (what the classify step must have
/// written), with its exit code.
fn real_report(root: &Path) -> (Option<i32>, String) {
    let output = xtask(root, &["api-diff", "--format", "markdown", "up"]);
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn the_update_steps_record_stop_when_unchanged_and_read_api_diff_exit_codes() {
    let dir = repo();
    let root = dir.path();
    let bin = cargo_stand_in();
    let temp = tempfile::tempdir().unwrap();
    let step = Step {
        root,
        bin: bin.path(),
        temp: temp.path(),
    };
    let w = workflow("spec-update.yml");
    let env = [
        ("PROVIDER", "up"),
        ("URL", "https://up.example.com/v2/openapi.json"),
    ];
    let record = script(&w, "Record it and regenerate");
    let changed = script(&w, "Stop when nothing changed");
    let classify = script(&w, "Classify the change");
    let bump = script(&w, "Bump the crate's version and changelog");
    let report_file = temp.path().join("report.md");

    // The fetch step takes HTTPS only (refused before any connection is made).
    let fetch = script(&w, "Fetch the document");
    let (output, _) = step.run(&fetch, &[("URL", "http://127.0.0.1:9/openapi.json")]);
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("Protocol \"http\" not supported"),
        "{}",
        text(&output)
    );
    assert!(!temp.path().join("document").exists());

    // v2, an additive change (`Job.queue_position`): recorded and regenerated by the real
    // xtask, classified by the real api-diff (exit 0), bumped to the next patch.
    std::fs::copy(docs("v2.json"), temp.path().join("document")).unwrap();
    let (output, _) = step.run(&record, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        std::fs::read(root.join("specs/up/openapi.upstream.json")).unwrap(),
        std::fs::read(docs("v2.json")).unwrap()
    );
    let (_, written) = step.run(&changed, &env);
    assert_eq!(written["changed"], "true");
    let (output, written) = step.run(&classify, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(written["breaking"], "false");
    let report = std::fs::read_to_string(&report_file).unwrap();
    assert_eq!(real_report(root), (Some(0), report.clone()));
    assert!(
        report.contains("| additive | `#/components/schemas/Job/properties/queue_position` |")
            && report.contains("0 breaking"),
        "{report}"
    );
    assert!(!report.contains("| breaking |"), "{report}");
    let (output, _) = step.run(&bump, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(crate_version(root), "0.1.1");
    let changelog = std::fs::read_to_string(root.join("crates/up/CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains("## 0.1.1") && changelog.contains("queue_position"),
        "{changelog}"
    );
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(workspace.contains(r#"version = "0.1.1""#), "{workspace}");

    // Next week, the same document: nothing to propose.
    git(root, &["commit", "--quiet", "-am", "v2"]);
    let (output, _) = step.run(&record, &env);
    assert!(output.status.success(), "{}", text(&output));
    let (output, written) = step.run(&changed, &env);
    assert_eq!(written["changed"], "false");
    assert!(text(&output).contains("already recorded"));

    // v3 turns `eta` into a string: breaking. Exit 1 is a result (the step succeeds and says
    // so), and the bump is the next minor.
    let v3 = std::fs::read_to_string(docs("v2.json")).unwrap().replacen(
        r#""integer", "null""#,
        r#""string", "null""#,
        1,
    );
    assert!(
        v3.contains(r#""eta": {"type": ["string", "null"]}"#),
        "{v3}"
    );
    std::fs::write(temp.path().join("document"), &v3).unwrap();
    let (output, _) = step.run(&record, &env);
    assert!(output.status.success(), "{}", text(&output));
    let (_, written) = step.run(&changed, &env);
    assert_eq!(written["changed"], "true");
    let (output, written) = step.run(&classify, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(written["breaking"], "true");
    let report = std::fs::read_to_string(&report_file).unwrap();
    assert_eq!(real_report(root), (Some(1), report.clone()));
    assert!(
        report.contains("| breaking | `#/components/schemas/Job/properties/eta")
            && report.contains("1 breaking"),
        "{report}"
    );
    let (output, _) = step.run(&bump, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(crate_version(root), "0.2.0");

    // A spec that does not build (here: an upstream document edited into invalid JSON): api-diff
    // exits 2, which fails both steps with 2 and says nothing about breaking.
    git(root, &["checkout", "--quiet", "--", "."]);
    std::fs::write(root.join("specs/up/openapi.upstream.json"), "{ not json").unwrap();
    assert_eq!(real_report(root).0, Some(2));
    let (output, written) = step.run(&classify, &env);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(!written.contains_key("breaking"));
    assert!(
        text(&output).contains("openapi.upstream.json"),
        "{}",
        text(&output)
    );
    let (output, _) = step.run(&bump, &env);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert_eq!(crate_version(root), "0.1.1", "nothing written on error");
}

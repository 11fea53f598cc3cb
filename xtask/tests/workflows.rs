//! The GitHub workflows (`.github/workflows/`) cannot run here, so everything they ask of the
//! xtask is checked here: their YAML parses and has the promised shape (triggers, minimal
//! permissions, one branch per provider, no `${{ }}` inside scripts), every script is valid bash,
//! every `cargo xtask …` command names a real subcommand and flags (run for real against a scratch
//! repository, or for `api-diff`, which another branch implements, checked against the usage text),
//! and the planning and update steps are run with bash against a scratch repository through a
//! `cargo` stand-in that runs the built xtask (and fakes `api-diff`'s exit codes).

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

/// The usage line of `command` in `cargo xtask --help`.
fn usage_of(command: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    help.lines()
        .find(|l| l.trim_start().starts_with(&format!("{command} ")))
        .unwrap_or_else(|| panic!("no `{command}` in:\n{help}"))
        .trim()
        .to_owned()
}

/// Checks `args` (after `api-diff`) against its usage text: known flags, a value where the flag
/// takes one (from the listed choices, if any), and configured providers for the rest.
fn check_against_usage(usage: &str, args: &[String], providers: &[&str]) {
    let tokens: Vec<String> = usage
        .split_whitespace()
        .map(|t| t.trim_matches(|c| c == '[' || c == ']').to_owned())
        .collect();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.starts_with("--") {
            let at = tokens
                .iter()
                .position(|t| t == arg)
                .unwrap_or_else(|| panic!("`{arg}` is not in `{usage}`"));
            let value = tokens
                .get(at + 1)
                .filter(|t| !t.starts_with("--") && !t.ends_with('…'));
            if let Some(value) = value {
                let given = args
                    .get(i + 1)
                    .unwrap_or_else(|| panic!("`{arg}` needs a value ({value})"));
                if value.contains('|') {
                    assert!(
                        value.split('|').any(|choice| choice == given),
                        "`{arg} {given}`: not one of {value}"
                    );
                }
                i += 1;
            }
        } else {
            assert!(providers.contains(&arg.as_str()), "`{arg}` is no provider");
        }
        i += 1;
    }
}

#[test]
fn every_xtask_command_of_the_workflows_exists_with_its_flags() {
    let dir = setup();
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
                if name == "api-diff" {
                    check_against_usage(&usage_of("api-diff"), &args[1..], &["up", "hand"]);
                } else {
                    let words: Vec<&str> = args.iter().map(String::as_str).collect();
                    succeeds(xtask(root, &words));
                }
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
        ]
    );
    // `spec update` ran for real: the document is recorded.
    assert_eq!(
        std::fs::read(root.join("specs/up/openapi.upstream.json")).unwrap(),
        std::fs::read(docs("v2.json")).unwrap()
    );
}

/// A folder with a `cargo` that runs the built xtask against `XTASK_ROOT` (`cargo xtask …` is
/// all the scripts call), and answers `api-diff` with `FAKE_API_DIFF_EXIT`: api-diff is not on
/// this branch; its flags are checked by the test above.
fn cargo_stand_in() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cargo");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         [ \"$1\" = xtask ] || { echo \"this cargo only runs xtask\" >&2; exit 97; }\n\
         shift\n\
         if [ \"$1\" = api-diff ]; then echo \"# report of: $*\"; exit \"${FAKE_API_DIFF_EXIT:?}\"; fi\n\
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
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", text(&output));
}

#[test]
fn the_update_steps_record_stop_when_unchanged_and_read_api_diff_exit_codes() {
    let dir = setup();
    let root = dir.path();
    git(root, &["init", "--quiet"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "--quiet", "-m", "base"]);
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

    // The fetch step's file, recorded and regenerated by the real xtask.
    std::fs::copy(docs("v2.json"), temp.path().join("document")).unwrap();
    let (output, _) = step.run(&record, &env);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        std::fs::read(root.join("specs/up/openapi.upstream.json")).unwrap(),
        std::fs::read(docs("v2.json")).unwrap()
    );
    let (_, written) = step.run(&changed, &env);
    assert_eq!(written["changed"], "true");

    // Next week, the same document: nothing to propose.
    git(root, &["commit", "--quiet", "-am", "v2"]);
    let (output, _) = step.run(&record, &env);
    assert!(output.status.success(), "{}", text(&output));
    let (output, written) = step.run(&changed, &env);
    assert_eq!(written["changed"], "false");
    assert!(text(&output).contains("already recorded"));

    // api-diff: 1 (breaking) is a result, 2 an error.
    let classify = script(&w, "Classify the change");
    let bump = script(&w, "Bump the crate's version and changelog");
    for (code, breaking) in [("0", Some("false")), ("1", Some("true")), ("2", None)] {
        let mut with = env.to_vec();
        with.push(("FAKE_API_DIFF_EXIT", code));
        let (output, written) = step.run(&classify, &with);
        match breaking {
            Some(breaking) => {
                assert!(output.status.success(), "{code}: {}", text(&output));
                assert_eq!(written["breaking"], breaking);
                let report = std::fs::read_to_string(temp.path().join("report.md")).unwrap();
                assert_eq!(report, "# report of: api-diff --format markdown up\n");
            }
            None => {
                assert_eq!(output.status.code(), Some(2), "{}", text(&output));
                assert!(!written.contains_key("breaking"));
            }
        }
        let (output, _) = step.run(&bump, &with);
        assert_eq!(
            output.status.success(),
            breaking.is_some(),
            "bump, exit {code}"
        );
    }
}

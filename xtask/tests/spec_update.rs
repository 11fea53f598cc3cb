//! `cargo xtask spec update` and `spec list`, and the spec locks `codegen` keeps, on a scratch
//! copy of `tests/fixtures/update/` (an upstream spec with a merge patch, and a hand-written one)
//! with the workspace's Cargo.lock, through the built binary.

mod support;

use std::path::Path;

use support::{docs, fails, setup, snapshot, stderr, succeeds, xtask};

fn lock(root: &Path, provider: &str) -> xtask::lock::Lock {
    xtask::lock::read(root, &xtask::lock::path(provider)).unwrap()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn update_copies_the_document_verbatim_records_it_and_regenerates() {
    let dir = setup();
    let root = dir.path();
    let old_sha = lock(root, "up").spec.sha256.unwrap();
    let new = std::fs::read(docs("v2.json")).unwrap();
    let out = succeeds(xtask(
        root,
        &[
            "spec",
            "update",
            "up",
            "--from",
            docs("v2.json").to_str().unwrap(),
            "--source",
            "https://up.example.com/v2/openapi.json",
            "--date",
            "2026-11-27",
        ],
    ));

    // The bytes as given (v2.json is pretty-printed, the old document was one line).
    assert_eq!(
        std::fs::read(root.join("specs/up/openapi.upstream.json")).unwrap(),
        new
    );
    let recorded = lock(root, "up");
    let new_sha = xtask::lock::sha256(&new);
    assert_eq!(recorded.spec.sha256.as_deref(), Some(new_sha.as_str()));
    assert_eq!(recorded.spec.retrieved.as_deref(), Some("2026-11-27"));
    assert_eq!(
        recorded.spec.source.as_deref(),
        Some("https://up.example.com/v2/openapi.json")
    );
    assert!(recorded.spec.fetch);
    assert_eq!(recorded.spec.kind, xtask::lock::Kind::Upstream);
    // Regenerated: the new field is in the effective spec and the code; the patch still applied.
    let effective = std::fs::read_to_string(root.join("crates/up/openapi.effective.json")).unwrap();
    assert!(effective.contains("\"queue_position\""), "{effective}");
    assert!(effective.contains("The job's id (documented elsewhere)."));
    let code = std::fs::read_to_string(root.join("crates/up/src/generated.rs")).unwrap();
    assert!(code.contains("queue_position"));

    assert!(
        out.contains(&format!("sha256 {old_sha}\n      -> {new_sha}")),
        "{out}"
    );
    assert!(
        out.contains("wrote specs/up/openapi.upstream.json"),
        "{out}"
    );
    assert!(out.contains("wrote specs/up/lock.toml"), "{out}");
    assert!(out.contains("wrote crates/up/src/generated.rs"), "{out}");
    assert!(out.contains("`cargo xtask api-diff up`"), "{out}");
    succeeds(xtask(root, &["codegen", "--check"]));

    // The same document again (a scheduled run that finds nothing new) changes no byte.
    let before = snapshot(root);
    let again = succeeds(xtask(
        root,
        &[
            "spec",
            "update",
            "up",
            "--from",
            docs("v2.json").to_str().unwrap(),
            "--source",
            "https://up.example.com/v2/openapi.json",
        ],
    ));
    assert!(again.contains("already the recorded document"), "{again}");
    assert!(again.contains("nothing changed on disk"), "{again}");
    assert_eq!(before, snapshot(root));
}

#[test]
fn a_document_that_does_not_parse_or_resolve_writes_nothing() {
    let dir = setup();
    let root = dir.path();
    let before = snapshot(root);
    let scratch = tempfile::tempdir().unwrap();

    let broken = scratch.path().join("broken.json");
    std::fs::write(&broken, "{\"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}").unwrap();
    let err = fails(xtask(
        root,
        &["spec", "update", "up", "--from", broken.to_str().unwrap()],
    ));
    assert!(
        err.contains(&format!(
            "{}: line 2, column 13: invalid JSON",
            broken.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(before, snapshot(root));

    // Parses, but a `$ref` goes nowhere: the located check of codegen names the new file.
    let dangling = scratch.path().join("dangling.json");
    let text = std::fs::read_to_string(docs("v2.json")).unwrap().replacen(
        "#/components/schemas/NewJob",
        "#/components/schemas/Missing",
        1,
    );
    std::fs::write(&dangling, text).unwrap();
    let err = fails(xtask(
        root,
        &["spec", "update", "up", "--from", dangling.to_str().unwrap()],
    ));
    assert!(
        err.contains(&format!(
            "{}: /paths/~1jobs/post/requestBody/content/application~1json/schema/$ref: `$ref: #/components/schemas/Missing` does not resolve",
            dangling.display()
        )),
        "{err}"
    );
    assert_eq!(before, snapshot(root));
}

#[test]
fn a_patch_merging_into_an_object_the_new_upstream_dropped_is_named() {
    let dir = setup();
    let root = dir.path();
    let before = snapshot(root);
    let err = fails(xtask(
        root,
        &[
            "spec",
            "update",
            "up",
            "--from",
            docs("renamed.json").to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("specs/up/patch.yaml: /components/schemas/Job: the new upstream document no longer has this object"),
        "{err}"
    );
    // `Extra` is the patch's own object, not a merge into upstream: not reported.
    assert!(!err.contains("Extra"), "{err}");
    assert_eq!(before, snapshot(root));
}

#[test]
fn a_hand_edited_upstream_document_fails_the_check_naming_the_lock_and_codegen_warns() {
    let dir = setup();
    let root = dir.path();
    let recorded = lock(root, "up");
    let doc = root.join("specs/up/openapi.upstream.json");
    edit(&doc, "\"The job.\"", "\"The job, edited.\"");

    let err = fails(xtask(root, &["codegen", "--check"]));
    assert!(
        err.contains("specs/up/lock.toml: /spec/sha256: specs/up/openapi.upstream.json (sha256 "),
        "{err}"
    );
    assert!(
        err.contains("put local changes in specs/up/patch.yaml, or record a new upstream with `cargo xtask spec update up --from <FILE>"),
        "{err}"
    );

    // Plain codegen still generates from the edited document, says so, and keeps the lock.
    let out = succeeds(xtask(root, &["codegen"]));
    assert!(
        out.contains("warning: specs/up/lock.toml: /spec/sha256:"),
        "{out}"
    );
    let effective = std::fs::read_to_string(root.join("crates/up/openapi.effective.json")).unwrap();
    assert!(effective.contains("The job, edited."), "{effective}");
    assert_eq!(lock(root, "up").spec, recorded.spec);
    fails(xtask(root, &["codegen", "--check"]));

    // Recording the edited document as the upstream settles it.
    let copy = tempfile::tempdir().unwrap();
    let from = copy.path().join("edited.json");
    std::fs::copy(&doc, &from).unwrap();
    succeeds(xtask(
        root,
        &["spec", "update", "up", "--from", from.to_str().unwrap()],
    ));
    succeeds(xtask(root, &["codegen", "--check"]));
}

#[test]
fn a_generator_version_other_than_cargo_lock_s_fails_the_check() {
    let dir = setup();
    let root = dir.path();
    let lock_path = root.join("specs/hand/lock.toml");
    let actual = lock(root, "hand").generator.unwrap();
    edit(
        &lock_path,
        &format!("progenitor = \"{}\"", actual.progenitor),
        "progenitor = \"0.0.1\"",
    );
    let err = fails(xtask(root, &["codegen", "--check"]));
    assert!(
        err.contains(&format!(
            "specs/hand/lock.toml: /generator: progenitor 0.0.1, typify {}, but Cargo.lock has progenitor {}, typify {}",
            actual.typify, actual.progenitor, actual.typify
        )),
        "{err}"
    );
    let out = succeeds(xtask(root, &["codegen"]));
    assert!(out.contains("wrote specs/hand/lock.toml"), "{out}");
    succeeds(xtask(root, &["codegen", "--check"]));
}

#[test]
fn codegen_keeps_a_hand_written_document_s_hash() {
    let dir = setup();
    let root = dir.path();
    let first = lock(root, "hand");
    assert_eq!(first.spec.kind, xtask::lock::Kind::HandWritten);
    let doc = root.join("specs/hand/openapi.yaml");
    assert_eq!(
        first.spec.sha256.as_deref(),
        Some(xtask::lock::sha256(&std::fs::read(&doc).unwrap()).as_str())
    );
    edit(&doc, "description: Pong.", "description: Pong!");
    let err = fails(xtask(root, &["codegen", "--check"]));
    assert!(
        err.contains("specs/hand/lock.toml: /spec/sha256: does not match specs/hand/openapi.yaml"),
        "{err}"
    );
    succeeds(xtask(root, &["codegen"]));
    let second = lock(root, "hand");
    assert_eq!(
        second.spec.sha256.as_deref(),
        Some(xtask::lock::sha256(&std::fs::read(&doc).unwrap()).as_str())
    );
    assert_eq!(second.spec.retrieved, Some(xtask::lock::today()));
    succeeds(xtask(root, &["codegen", "--check"]));
}

#[test]
fn spec_list_json_says_which_providers_can_be_fetched() {
    let dir = setup();
    let output = xtask(dir.path(), &["spec", "list", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let up_sha = lock(dir.path(), "up").spec.sha256.unwrap();
    let hand_sha = lock(dir.path(), "hand").spec.sha256.unwrap();
    assert_eq!(
        list,
        serde_json::json!([
            {
                "provider": "hand",
                "kind": "hand-written",
                "document": "specs/hand/openapi.yaml",
                "lock": "specs/hand/lock.toml",
                "source": null,
                "source_note": "Written for the tests.",
                "fetchable": false,
                "sha256": hand_sha,
                "retrieved": xtask::lock::today(),
            },
            {
                "provider": "up",
                "kind": "upstream",
                "document": "specs/up/openapi.upstream.json",
                "lock": "specs/up/lock.toml",
                "source": "https://up.example.com/openapi.json",
                "source_note": null,
                "fetchable": true,
                "sha256": up_sha,
                "retrieved": "2026-01-02",
            }
        ])
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_is_read() {
    let dir = setup();
    let root = dir.path();
    let before = snapshot(root);
    let v2 = docs("v2.json");
    let v2 = v2.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["spec", "update", "up"],
            "spec update takes one PROVIDER and --from FILE",
        ),
        (
            vec!["spec", "update", "up", "--from"],
            "--from needs a value",
        ),
        (
            vec!["spec", "list", "--from", v2],
            "unknown option `--from`",
        ),
        (vec!["spec", "frobnicate"], "usage: cargo xtask spec"),
    ] {
        let output = xtask(root, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    for (args, expected) in [
        (
            vec!["spec", "update", "up", "--from", v2, "--date", "2026-13-01"],
            "--date: `2026-13-01` is not a date of the form YYYY-MM-DD",
        ),
        (
            vec![
                "spec",
                "update",
                "up",
                "--from",
                v2,
                "--source",
                "file:///etc/passwd",
            ],
            "--source: must be an https URL",
        ),
        (
            vec![
                "spec",
                "update",
                "up",
                "--from",
                v2,
                "--source",
                "https://example.com/o.json?token=s3cret",
            ],
            "must not have a query or fragment",
        ),
        (
            vec!["spec", "update", "up", "--from", v2, "--date", "2999-01-01"],
            "`2999-01-01` is in the future",
        ),
        (
            vec!["spec", "update", "nope", "--from", v2],
            "unknown provider `nope`; configured providers: hand, up",
        ),
    ] {
        let err = fails(xtask(root, &args));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(before, snapshot(root));
}

#[test]
fn every_provider_of_the_workspace_has_its_lock() {
    let root = support::manifest_dir().join("..");
    let providers = xtask::config::load(&root).unwrap();
    assert_eq!(providers.len(), 4);
    for provider in providers {
        let (path, lock) = xtask::lock::load_for(&root, &provider)
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no lock", provider.name));
        assert_eq!(path, xtask::lock::path(&provider.name));
        // Topaz publishes its own document; the other three are written by us.
        let expected = if provider.name == "topaz-image" {
            xtask::lock::Kind::Upstream
        } else {
            xtask::lock::Kind::HandWritten
        };
        assert_eq!(lock.spec.kind, expected, "{}", provider.name);
        assert!(lock.spec.retrieved.is_some() && lock.spec.sha256.is_some());
    }
}

//! `cargo xtask api-diff` end to end: the built binary on a scratch git repository whose one
//! provider (`pets`, `tests/fixtures/api_diff/`) is committed at v1, then given a v2 spec in the
//! working tree. Each fixture pair holds one kind of change, checked for its exact class, path,
//! operations and exit code; then the formats, `--bump` and `--write`, and the errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api_diff")
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Runs the xtask binary; returns (exit code, stdout, stderr).
fn xtask(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn api_diff(root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["api-diff", "--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    xtask(&all)
}

const WORKSPACE: &str = r#"[workspace]
members = ["crates/pets"]

[workspace.dependencies]
# provider crates
pets = { path = "crates/pets", version = "VERSION" } # moved by api-diff --write
serde = "1"
"#;

/// A git repository with a first commit without the provider, and a second with the provider at
/// v1 (spec, generated effective spec, crate manifest at `version`, CHANGELOG).
fn repo(version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    std::fs::write(root.join("README.md"), "scratch\n").unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "before the provider"]);

    std::fs::create_dir_all(root.join("specs")).unwrap();
    std::fs::create_dir_all(root.join("crates/pets")).unwrap();
    std::fs::copy(
        fixtures().join("providers.toml"),
        root.join("specs/providers.toml"),
    )
    .unwrap();
    std::fs::copy(fixtures().join("v1.yaml"), root.join("specs/pets.yaml")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        WORKSPACE.replace("VERSION", version),
    )
    .unwrap();
    std::fs::write(
        root.join("crates/pets/Cargo.toml"),
        format!("[package]\nname = \"pets\"\n# moved by api-diff --write\nversion = \"{version}\"\nedition = \"2024\"\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("crates/pets/CHANGELOG.md"),
        format!("# Changelog of `pets`\n\nIntro.\n\n## {version}\n\nFirst release.\n"),
    )
    .unwrap();
    let (code, _, err) = xtask(&["codegen", "--root", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "pets v1"]);
    dir
}

/// Puts fixture `case` in place of the provider's spec (not committed).
fn change_to(root: &Path, case: &str) {
    std::fs::copy(
        fixtures().join(format!("{case}.yaml")),
        root.join("specs/pets.yaml"),
    )
    .unwrap();
}

/// The commit HEAD names in `root`.
fn head(root: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A report with the base commit (full and short) replaced by `<commit>`.
fn without_commit(root: &Path, report: &str) -> String {
    let commit = head(root);
    report
        .replace(&commit, "<commit>")
        .replace(&commit[..7], "<commit>")
}

fn case(name: &str) -> (i32, String) {
    let dir = repo("0.1.3");
    change_to(dir.path(), name);
    let (code, out, err) = api_diff(dir.path(), &[]);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

#[test]
fn nothing_changed_exits_0() {
    let dir = repo("0.1.3");
    let (code, out, _) = api_diff(dir.path(), &[]);
    // The revision as given and the commit it named then (HEAD moves).
    let short = &head(dir.path())[..7];
    assert_eq!(
        (code, out),
        (0, format!("unchanged  pets  (since HEAD ({short}))\n"))
    );
    let (_, json, _) = api_diff(dir.path(), &["--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["providers"][0]["base"], "HEAD");
    assert_eq!(value["providers"][0]["base_commit"], head(dir.path()));
}

#[test]
fn a_new_typed_error_response_changes_the_error_type_and_is_breaking() {
    // getPet had only a 200: progenitor generated `Error<()>`; with a typed 404 it is
    // `Error<types::Problem>`, which breaks code matching on the error.
    assert_eq!(
        case("new_error_response"),
        (
            1,
            "breaking  pets  #/paths/~1pets~1{id}/get  operation added a new response code 404 (it changes the generated method's types) (getPet)\n\
             breaking  pets  #/paths/~1pets~1{id}/get/responses  the generated method's error type changes from `()` to `types::Problem` (`Error<…>` of `send()`) (getPet)\n\
             additive  pets  #/components/schemas/Problem  new component `Problem` (getPet)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_new_required_response_field_is_breaking_for_builders() {
    assert_eq!(
        case("new_required_response_field"),
        (
            1,
            "breaking  pets  #/components/schemas/Pet/properties/born  new required response field `born`: code building this type with its builder (mock responses) must now set it, or gets \"no value supplied for born\" at run time (getPet, listPets)\n\
             documentation  pets  #/components/schemas/Pet  `x-required-because` changed (getPet, listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_spec_the_generator_refuses_exits_2_with_its_located_error() {
    // A typed 200 beside a bodyless 204: two success types, which progenitor refuses.
    let dir = repo("0.1.3");
    change_to(dir.path(), "two_success_types");
    let (code, out, err) = api_diff(dir.path(), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("pets: the generator failed on operation `deletePet (DELETE /pets/{id})`"),
        "{err}"
    );
}

#[test]
fn providers_toml_changes_are_classified_with_their_path_and_values() {
    let dir = repo("0.1.3");
    let root = dir.path();
    let config = root.join("specs/providers.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("pets.example.com/v1", "pets.example.com/v2")
            .replace("PETS_API_KEY", "PETS_KEY")
            .replace("outputs = [\"cutout\"]", "outputs = [\"cutout\", \"mask\"]")
            .replace("specs/pets.yaml", "specs/./pets.yaml"),
    )
    .unwrap();
    let (code, out, err) = api_diff(root, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        "breaking  pets  specs/providers.toml [providers.pets] base_url  the default base URL changes: \"https://pets.example.com/v1\" → \"https://pets.example.com/v2\"\n\
         breaking  pets  specs/providers.toml [providers.pets] key_env  the environment variable users set changes: \"PETS_API_KEY\" → \"PETS_KEY\"\n\
         additive  pets  specs/providers.toml [providers.pets] capabilities.outputs  more supported: [\"cutout\"] → [\"cutout\", \"mask\"]\n"
    );
}

#[test]
fn bump_never_lowers_a_version_the_working_tree_already_moved_further() {
    let dir = repo("0.1.0");
    let root = dir.path();
    change_to(root, "new_optional_response_field");
    let manifest = root.join("crates/pets/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"0.1.0\"", "\"0.3.0\"")).unwrap();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let (code, out, err) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("bump  pets  0.1.0 -> 0.3.0  (no breaking change, next patch while at 0.x, computed 0.1.1; the working tree already has 0.3.0, kept)"),
        "{out}"
    );
    let first = (
        read("Cargo.toml"),
        read("crates/pets/Cargo.toml"),
        read("crates/pets/CHANGELOG.md"),
    );
    assert!(first.1.contains("version = \"0.3.0\""), "{}", first.1);
    assert!(first.0.contains("version = \"0.3.0\""), "{}", first.0);
    assert!(first.2.contains("\n## 0.3.0 — "), "{}", first.2);
    let (code, _, _) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 0);
    let second = (
        read("Cargo.toml"),
        read("crates/pets/Cargo.toml"),
        read("crates/pets/CHANGELOG.md"),
    );
    assert_eq!(first, second);
}

#[test]
fn removed_operation_is_breaking() {
    assert_eq!(
        case("removed_operation"),
        (
            1,
            "breaking  pets  #/paths/~1pets~1{id}/delete  The operation deletePet was removed (deletePet)\n"
                .to_owned()
        )
    );
}

#[test]
fn new_required_parameter_is_breaking() {
    assert_eq!(
        case("new_required_parameter"),
        (
            1,
            "breaking  pets  #/paths/~1pets/get/parameters/1  A new, required parameter 'owner' was added (listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn changed_field_type_is_breaking_and_names_every_operation_reaching_it() {
    assert_eq!(
        case("changed_field_type"),
        (
            1,
            "breaking  pets  #/components/schemas/Pet/properties/age  type changed from integer to string (getPet, listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn new_optional_response_field_is_additive() {
    assert_eq!(
        case("new_optional_response_field"),
        (
            0,
            "additive  pets  #/components/schemas/Pet/properties/name  new optional response field `name` (getPet, listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn new_enum_value_in_a_response_is_additive() {
    assert_eq!(
        case("new_response_enum_value"),
        (
            0,
            "additive  pets  #/components/schemas/PetStatus/enum  new enum value(s): \"pending\" (getPet, listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn description_only_changes_are_documentation() {
    // The schema description is found by drift; the summary and the title it does not walk.
    assert_eq!(
        case("description_only"),
        (
            0,
            "documentation  pets  #/components/schemas/Pet/properties/age  `description` changed (getPet, listPets)\n\
             documentation  pets  #/info/title  `title` changed\n\
             documentation  pets  #/paths/~1pets/get/summary  `summary` changed (listPets)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_spec_changed_but_not_regenerated_still_diffs() {
    // The effective spec on disk is v1's; only specs/ changed. NEW is built from specs/.
    let dir = repo("0.1.3");
    change_to(dir.path(), "changed_field_type");
    let on_disk =
        std::fs::read_to_string(dir.path().join("crates/pets/openapi.effective.json")).unwrap();
    assert!(on_disk.contains("\"integer\""));
    let (code, out, _) = api_diff(dir.path(), &["pets"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn mixed_markdown_and_json_reports() {
    let dir = repo("0.1.3");
    change_to(dir.path(), "mixed");
    let (code, markdown, err) = api_diff(dir.path(), &["--format", "markdown", "--bump"]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("mixed_markdown", without_commit(dir.path(), &markdown));
    let (code, json, _) = api_diff(dir.path(), &["--format", "json", "--bump"]);
    assert_eq!(code, 1);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["breaking"], true);
    insta::assert_snapshot!("mixed_json", without_commit(dir.path(), &json));
}

/// The `bump` line of a text report.
fn bump_line(version: &str, case: &str) -> String {
    let dir = repo(version);
    change_to(dir.path(), case);
    let (_, out, _) = api_diff(dir.path(), &["--bump"]);
    out.lines()
        .find(|l| l.starts_with("bump  "))
        .unwrap_or_else(|| panic!("no bump line in {out}"))
        .to_owned()
}

#[test]
fn bump_while_at_0x_breaking_takes_the_next_minor_anything_else_the_next_patch() {
    assert_eq!(
        bump_line("0.1.3", "removed_operation"),
        "bump  pets  0.1.3 -> 0.2.0  (breaking change, next minor while at 0.x)"
    );
    assert_eq!(
        bump_line("0.1.3", "new_optional_response_field"),
        "bump  pets  0.1.3 -> 0.1.4  (no breaking change, next patch while at 0.x)"
    );
    assert_eq!(
        bump_line("0.1.3", "description_only"),
        "bump  pets  0.1.3 -> 0.1.4  (no breaking change, next patch while at 0.x)"
    );
}

#[test]
fn bump_from_1_0_is_major_minor_patch() {
    assert_eq!(
        bump_line("1.2.3", "changed_field_type"),
        "bump  pets  1.2.3 -> 2.0.0  (breaking change)"
    );
    assert_eq!(
        bump_line("1.2.3", "new_response_enum_value"),
        "bump  pets  1.2.3 -> 1.3.0  (additive change)"
    );
    assert_eq!(
        bump_line("1.2.3", "description_only"),
        "bump  pets  1.2.3 -> 1.2.4  (documentation-only change)"
    );
}

#[test]
fn no_change_no_bump() {
    let dir = repo("0.1.3");
    let (code, out, _) = api_diff(dir.path(), &["--bump"]);
    assert_eq!(code, 0);
    assert!(!out.contains("bump"), "{out}");
}

#[test]
fn bump_mentions_the_facade() {
    let dir = repo("0.1.3");
    change_to(dir.path(), "removed_operation");
    let (_, out, _) = api_diff(dir.path(), &["--bump"]);
    assert!(
        out.contains("The facade crate `cutout` depends on the provider crates"),
        "{out}"
    );
}

#[test]
fn write_moves_the_versions_and_adds_the_changelog_section_and_twice_is_the_same() {
    let dir = repo("0.1.3");
    let root = dir.path();
    change_to(root, "mixed");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let (code, _, err) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 1, "{err}");
    let first = (
        read("Cargo.toml"),
        read("crates/pets/Cargo.toml"),
        read("crates/pets/CHANGELOG.md"),
    );
    // Formatting and comments kept; only the version moved.
    assert_eq!(first.0, WORKSPACE.replace("VERSION", "0.2.0"));
    assert_eq!(
        first.1,
        "[package]\nname = \"pets\"\n# moved by api-diff --write\nversion = \"0.2.0\"\nedition = \"2024\"\n"
    );
    let changelog = &first.2;
    assert!(
        changelog.starts_with("# Changelog of `pets`\n\nIntro.\n\n## 0.2.0 — "),
        "{changelog}"
    );
    assert!(changelog.contains("| breaking | `#/components/schemas/Pet/properties/age` | type changed from integer to string | `getPet`, `listPets` |"), "{changelog}");
    assert!(
        changelog.ends_with("## 0.1.3\n\nFirst release.\n"),
        "{changelog}"
    );

    let (code, _, _) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 1);
    let second = (
        read("Cargo.toml"),
        read("crates/pets/Cargo.toml"),
        read("crates/pets/CHANGELOG.md"),
    );
    assert_eq!(first, second);
    assert_eq!(second.2.matches("## 0.2.0").count(), 1);
}

#[test]
fn write_needs_bump() {
    let dir = repo("0.1.3");
    let (code, _, err) = api_diff(dir.path(), &["--write"]);
    assert_eq!(code, 2);
    assert!(err.contains("--write only goes with --bump"), "{err}");
}

#[test]
fn a_provider_absent_at_the_base_is_all_additive_and_keeps_its_version() {
    let dir = repo("0.1.3");
    let (code, out, err) = api_diff(dir.path(), &["--base", "HEAD~1", "--bump"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "additive  pets  #/components/schemas/Pet  new component `Pet` (getPet, listPets)\n\
         additive  pets  #/components/schemas/PetList  new component `PetList` (listPets)\n\
         additive  pets  #/components/schemas/PetStatus  new component `PetStatus` (getPet, listPets)\n\
         additive  pets  #/paths/~1pets/get  The operation listPets was added (listPets)\n\
         additive  pets  #/paths/~1pets~1{id}/delete  The operation deletePet was added (deletePet)\n\
         additive  pets  #/paths/~1pets~1{id}/get  The operation getPet was added (getPet)\n\
         bump  pets  (new crate) -> 0.1.3  (new crate)\n\
         note  The facade crate `cutout` depends on the provider crates: a breaking provider bump needs a release of `cutout` too.\n"
    );
}

#[test]
fn unknown_revision_exits_2() {
    let dir = repo("0.1.3");
    let (code, out, err) = api_diff(dir.path(), &["--base", "no-such-rev"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("`no-such-rev` is not a commit"), "{err}");
}

#[test]
fn unknown_provider_exits_2_naming_the_known_ones() {
    let dir = repo("0.1.3");
    let (code, _, err) = api_diff(dir.path(), &["cats"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown provider `cats`; configured providers: pets"),
        "{err}"
    );
}

#[test]
fn a_spec_that_does_not_build_exits_2_and_writes_nothing() {
    let dir = repo("0.1.3");
    let root = dir.path();
    std::fs::write(root.join("specs/pets.yaml"), "openapi: 3.0.3\npaths: [\n").unwrap();
    let before = std::fs::read_to_string(root.join("crates/pets/Cargo.toml")).unwrap();
    let (code, out, err) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("specs/pets.yaml"), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join("crates/pets/Cargo.toml")).unwrap(),
        before
    );
}

/// The cases where drift is extended, on documents built here (the library, no git): one
/// operation `createJob` sending `Req` and answering `Res`.
mod extensions {
    use serde_json::{Value, json};
    use xtask::api_diff::{Class, classify};

    fn doc(req: Value, res: Value, response_type: &str) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/jobs": {"post": {
                "operationId": "createJob",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}},
                "responses": {"200": {"description": "ok", "content": {response_type: {"schema": {"$ref": "#/components/schemas/Res"}}}}}
            }}},
            "components": {"schemas": {"Req": req, "Res": res}}
        })
    }

    fn object(properties: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": properties, "required": required})
    }

    /// `(class, path, message)` of every change.
    fn diff(old: &Value, new: &Value) -> Vec<(Class, String, String)> {
        classify::diff(old, new)
            .into_iter()
            .map(|c| {
                assert_eq!(c.operations, ["createJob"], "{c:?}");
                (c.class, c.path, c.message)
            })
            .collect()
    }

    fn res() -> Value {
        object(json!({"id": {"type": "string"}}), &[])
    }

    #[test]
    fn request_fields_required_or_optional() {
        let old = doc(
            object(json!({"a": {"type": "string"}}), &[]),
            res(),
            "application/json",
        );
        let new = doc(
            object(
                json!({"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "integer"}}),
                &["b"],
            ),
            res(),
            "application/json",
        );
        assert_eq!(
            diff(&old, &new),
            [
                (
                    Class::Breaking,
                    "#/components/schemas/Req/properties/b".into(),
                    "new required request field `b`".into()
                ),
                (
                    Class::Additive,
                    "#/components/schemas/Req/properties/c".into(),
                    "new optional request field `c`".into()
                ),
            ]
        );
    }

    #[test]
    fn requiredness_either_way_and_removed_fields_are_breaking() {
        let old = doc(
            object(
                json!({"a": {"type": "string"}, "b": {"type": "string"}}),
                &["a"],
            ),
            res(),
            "application/json",
        );
        let new = doc(
            object(json!({"a": {"type": "string"}}), &[]),
            res(),
            "application/json",
        );
        assert_eq!(
            diff(&old, &new),
            [
                (
                    Class::Breaking,
                    "#/components/schemas/Req/properties/a".into(),
                    "field `a` is now optional (its Rust type becomes an Option)".into()
                ),
                (
                    Class::Breaking,
                    "#/components/schemas/Req/properties/b".into(),
                    "request field `b` removed".into()
                ),
            ]
        );
    }

    #[test]
    fn request_constraints_tightened_break_loosened_do_not() {
        let field = |rule: Value| {
            let mut schema = json!({"type": "integer", "format": "int64"});
            schema
                .as_object_mut()
                .unwrap()
                .extend(rule.as_object().unwrap().clone());
            object(json!({ "n": schema }), &[])
        };
        let old = doc(field(json!({"maximum": 10})), res(), "application/json");
        let tighter = doc(field(json!({"maximum": 5})), res(), "application/json");
        let looser = doc(field(json!({"maximum": 50})), res(), "application/json");
        assert_eq!(
            diff(&old, &tighter),
            [(
                Class::Breaking,
                "#/components/schemas/Req/properties/n/maximum".into(),
                "request constraint `maximum` tightened: 10 → 5".into()
            )]
        );
        assert_eq!(
            diff(&old, &looser),
            [(
                Class::Additive,
                "#/components/schemas/Req/properties/n/maximum".into(),
                "request constraint `maximum` loosened: 10 → 50".into()
            )]
        );
    }

    #[test]
    fn nullable_drift_does_not_report_is_breaking() {
        let old = doc(object(json!({}), &[]), res(), "application/json");
        let new = doc(
            object(json!({}), &[]),
            object(json!({"id": {"type": "string", "nullable": true}}), &[]),
            "application/json",
        );
        assert_eq!(
            diff(&old, &new),
            [(
                Class::Breaking,
                "#/components/schemas/Res/properties/id".into(),
                "now nullable (its Rust type becomes an Option)".into()
            )]
        );
    }

    #[test]
    fn a_changed_response_content_type_is_breaking_and_does_not_crash_drift() {
        let old = doc(object(json!({}), &[]), res(), "application/json");
        let new = doc(object(json!({}), &[]), res(), "application/xml");
        assert_eq!(
            diff(&old, &new),
            [
                (
                    Class::Breaking,
                    "#/paths/~1jobs/post/responses".into(),
                    "the generated method's success type changes from `types::Res` to `ByteStream` (`ResponseValue<…>` of `send()`)".into()
                ),
                (
                    Class::Breaking,
                    "#/paths/~1jobs/post/responses/200/content/application~1json".into(),
                    "response content type `application/json` removed".into()
                ),
                (
                    Class::Breaking,
                    "#/paths/~1jobs/post/responses/200/content/application~1xml".into(),
                    "response content type `application/xml` added".into()
                ),
            ]
        );
    }

    #[test]
    fn a_format_that_changes_the_rust_type_is_breaking() {
        let with = |format: &str| {
            doc(
                object(json!({}), &[]),
                object(json!({"at": {"type": "string", "format": format}}), &[]),
                "application/json",
            )
        };
        assert_eq!(
            diff(&with("uri"), &with("date-time")),
            [(
                Class::Breaking,
                "#/components/schemas/Res/properties/at/format".into(),
                "format changed from `uri` to `date-time` (the Rust type changes)".into()
            )]
        );
        assert_eq!(
            diff(&with("uri"), &with("email"))[0].0,
            Class::Documentation
        );
    }

    #[test]
    fn a_removed_request_enum_value_is_breaking() {
        let with = |values: Value| {
            doc(
                object(json!({"mode": {"type": "string", "enum": values}}), &[]),
                res(),
                "application/json",
            )
        };
        assert_eq!(
            diff(&with(json!(["a", "b"])), &with(json!(["a"]))),
            [(
                Class::Breaking,
                "#/components/schemas/Req/properties/mode/enum".into(),
                "enum value(s) removed: \"b\"".into()
            )]
        );
    }
    #[test]
    fn a_first_success_response_changes_the_success_type_and_is_breaking() {
        // Only a typed 400 at first: progenitor returns a byte stream on success; a typed 201
        // makes it `types::Res`.
        let mut old = doc(object(json!({}), &[]), res(), "application/json");
        let op = &mut old["paths"]["/jobs"]["post"];
        op["responses"] = json!({"400": op["responses"]["200"].clone()});
        let mut new = old.clone();
        new["paths"]["/jobs"]["post"]["responses"]["201"] =
            new["paths"]["/jobs"]["post"]["responses"]["400"].clone();
        let found = diff(&old, &new);
        assert!(
            found.contains(&(
                Class::Breaking,
                "#/paths/~1jobs/post/responses".into(),
                "the generated method's success type changes from `ByteStream` to `types::Res` (`ResponseValue<…>` of `send()`)".into()
            )),
            "{found:?}"
        );
        assert!(
            found.iter().all(|(c, _, _)| *c == Class::Breaking),
            "{found:?}"
        );
    }

    #[test]
    fn a_new_response_code_of_the_same_type_stays_additive() {
        let old = doc(object(json!({}), &[]), res(), "application/json");
        let mut new = old.clone();
        new["paths"]["/jobs"]["post"]["responses"]["201"] =
            new["paths"]["/jobs"]["post"]["responses"]["200"].clone();
        let found = diff(&old, &new);
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|(c, _, _)| *c == Class::Additive),
            "{found:?}"
        );
    }

    #[test]
    fn a_renamed_operation_id_is_breaking_and_response_headers_are_documentation() {
        let old = doc(object(json!({}), &[]), res(), "application/json");
        let mut new = old.clone();
        new["paths"]["/jobs"]["post"]["operationId"] = json!("makeJob");
        new["paths"]["/jobs"]["post"]["responses"]["200"]["headers"] =
            json!({"X-Eta": {"schema": {"type": "integer"}}});
        let changes = classify::diff(&old, &new);
        let lines: Vec<(Class, &str, &str)> = changes
            .iter()
            .map(|c| (c.class, c.path.as_str(), c.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    Class::Breaking,
                    "#/paths/~1jobs/post/operationId",
                    "operation id changed from \"createJob\" to \"makeJob\" (the generated method is renamed)"
                ),
                (
                    Class::Documentation,
                    "#/paths/~1jobs/post/responses/200/headers",
                    "`headers` added"
                ),
            ]
        );
        assert_eq!(changes[0].operations, ["createJob", "makeJob"]);
    }
}

/// Two component schemas no operation references (as webhook payloads are), each reaching the
/// other: `Webhook` → `WebhookPet` → `Webhook` (through an array, so the generated types are
/// finite).
const WEBHOOKS: &str = r##"    Webhook:
      type: object
      description: A webhook payload no operation returns.
      required: [event]
      properties:
        event:
          type: string
        pet:
          $ref: "#/components/schemas/WebhookPet"
    WebhookPet:
      type: object
      properties:
        name:
          type: string
        seen:
          type: array
          items:
            $ref: "#/components/schemas/Webhook"
"##;

/// The pets repository with [`WEBHOOKS`] committed, then the schemas replaced by `edit(WEBHOOKS)`
/// in the working tree; api-diff's exit code and report, waited for at most a minute (a cycle
/// followed forever fails the test instead of hanging it).
fn webhook_case(edit: impl Fn(&str) -> String) -> (i32, String) {
    let dir = repo("0.1.3");
    let root = dir.path();
    let v1 = std::fs::read_to_string(fixtures().join("v1.yaml")).unwrap();
    std::fs::write(root.join("specs/pets.yaml"), format!("{v1}{WEBHOOKS}")).unwrap();
    let (code, _, err) = xtask(&["codegen", "--root", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "pets with webhooks"]);
    let edited = edit(WEBHOOKS);
    assert_ne!(edited, WEBHOOKS, "the edit changed nothing");
    std::fs::write(root.join("specs/pets.yaml"), format!("{v1}{edited}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["api-diff", "--root", root.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("api-diff did not finish within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.is_empty(), "{err}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn an_unreached_schema_gaining_an_optional_field_is_additive() {
    assert_eq!(
        webhook_case(|s| s.replace(
            "        event:\n          type: string\n",
            "        event:\n          type: string\n        attempt:\n          type: integer\n",
        )),
        (
            0,
            "additive  pets  #/components/schemas/Webhook/properties/attempt  new optional response field `attempt` (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn an_unreached_schema_gaining_a_required_field_is_breaking() {
    let (code, out) = webhook_case(|s| {
        s.replace("required: [event]", "required: [event, attempt]")
            .replace(
                "        event:\n          type: string\n",
                "        event:\n          type: string\n        attempt:\n          type: integer\n",
            )
    });
    assert_eq!(
        (code, out),
        (
            1,
            "breaking  pets  #/components/schemas/Webhook/properties/attempt  new required response field `attempt`: code building this type with its builder (mock responses) must now set it, or gets \"no value supplied for attempt\" at run time (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn an_unreached_schema_changing_a_property_type_is_breaking() {
    // `WebhookPet` is only reached from `Webhook` (and reaches it back): the cycle is compared
    // once per schema and ends.
    assert_eq!(
        webhook_case(|s| s.replace(
            "        name:\n          type: string\n",
            "        name:\n          type: integer\n",
        )),
        (
            1,
            "breaking  pets  #/components/schemas/WebhookPet/properties/name  type changed from string to integer (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn an_unreached_schema_description_is_documentation() {
    assert_eq!(
        webhook_case(|s| s.replace("no operation returns", "sent to the callback URL")),
        (
            0,
            "documentation  pets  #/components/schemas/Webhook/description  `description` changed (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_cycle_of_unreached_schemas_is_walked_once_through_refs_and_items() {
    // Changes on both schemas of the cycle, one inside `items`' target and one under a `$ref`:
    // each is reported once, at its own schema, and the walk ends.
    let (code, out) = webhook_case(|s| {
        s.replace(
            "        seen:\n",
            "        kind:\n          type: string\n          enum: [cat, dog]\n        seen:\n",
        )
        .replace(
            "            $ref: \"#/components/schemas/Webhook\"\n",
            "            $ref: \"#/components/schemas/Webhook\"\n          description: Payloads seen.\n",
        )
    });
    assert_eq!(
        (code, out),
        (
            0,
            "additive  pets  #/components/schemas/WebhookPet/properties/kind  new optional response field `kind` (not reached by any operation: e.g. a webhook payload)\n\
             documentation  pets  #/components/schemas/WebhookPet/properties/seen/description  `description` added (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn an_unreached_schema_losing_a_field_is_breaking_and_an_unexplained_key_stays_unclassified() {
    let (code, out) = webhook_case(|s| {
        s.replace(
            "        name:\n          type: string\n",
            "        name:\n          type: string\n          default: rex\n",
        )
        .replace(
            "        pet:\n          $ref: \"#/components/schemas/WebhookPet\"\n",
            "",
        )
    });
    assert_eq!(
        (code, out),
        (
            1,
            "breaking  pets  #/components/schemas/Webhook/properties/pet  response field `pet` removed (not reached by any operation: e.g. a webhook payload)\n\
             breaking  pets  #/components/schemas/WebhookPet/properties/name/default  unclassified: `default` added (not compared by drift) (not reached by any operation: e.g. a webhook payload)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_moved_crate_is_compared_with_its_own_past_not_taken_for_a_new_one() {
    let dir = repo("0.1.3");
    let root = dir.path();
    git(root, &["mv", "crates/pets", "crates/pet-client"]);
    let config = root.join("specs/providers.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("crate = \"crates/pets\"", "crate = \"crates/pet-client\""),
    )
    .unwrap();
    change_to(root, "changed_field_type");
    let (code, out, err) = api_diff(root, &["--bump"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with(
            "breaking  pets  #/components/schemas/Pet/properties/age  type changed from integer to string (getPet, listPets)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("additive"), "{out}");
    assert!(out.contains("bump  pets  0.1.3 -> 0.2.0"), "{out}");
}

#[test]
fn a_provider_removed_from_the_table_is_breaking() {
    let dir = repo("0.1.3");
    let root = dir.path();
    std::fs::write(root.join("specs/providers.toml"), "[providers]\n").unwrap();
    let (code, out, err) = api_diff(root, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        "breaking  pets  specs/providers.toml [providers.pets]  provider removed: `cargo xtask codegen` no longer generates its crate\n"
    );
    // Nothing to bump or write for it.
    let (code, out, err) = api_diff(root, &["--bump", "--write"]);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains("bump  pets"), "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("crates/pets/Cargo.toml")).unwrap(),
        "[package]\nname = \"pets\"\n# moved by api-diff --write\nversion = \"0.1.3\"\nedition = \"2024\"\n"
    );
}

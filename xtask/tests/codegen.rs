//! The xtask on small fixture specs (`tests/fixtures/`): lowering rules, multipart operations,
//! the named error schema, nullable fields, open response enums; `--check`; determinism; broken
//! specs.

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::{Error, config, generate};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn provider(root: &Path, name: &str) -> config::Provider {
    config::select(config::load(root).unwrap(), &[name.to_owned()])
        .unwrap()
        .remove(0)
}

fn generated_code(name: &str) -> String {
    let root = fixtures();
    let output = generate::generate(&root, &provider(&root, name)).unwrap();
    output
        .files
        .into_iter()
        .find(|(p, _)| p.ends_with(generate::GENERATED_RS))
        .unwrap()
        .1
}

/// The items (at any depth) whose name is in `names`, pretty-printed, in file order.
fn items(code: &str, names: &[&str]) -> String {
    fn name_of(item: &syn::Item) -> Option<String> {
        match item {
            syn::Item::Struct(s) => Some(s.ident.to_string()),
            syn::Item::Enum(e) => Some(e.ident.to_string()),
            syn::Item::Impl(i) if i.trait_.is_none() => match &*i.self_ty {
                syn::Type::Path(p) => p.path.segments.last().map(|s| format!("impl {}", s.ident)),
                _ => None,
            },
            syn::Item::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        }
    }
    fn collect(items: &[syn::Item], names: &[&str], out: &mut Vec<syn::Item>) {
        for item in items {
            if name_of(item).is_some_and(|n| names.contains(&n.as_str())) {
                out.push(item.clone());
            }
            if let syn::Item::Mod(m) = item
                && let Some((_, inner)) = &m.content
            {
                collect(inner, names, out);
            }
        }
    }
    let file: syn::File = syn::parse_str(code).unwrap();
    let mut found = Vec::new();
    collect(&file.items, names, &mut found);
    let mut out = file;
    // The items only: the file's own attributes are checked by `generated_files_allow_missing_docs`.
    out.attrs.clear();
    out.items = found;
    prettyplease::unparse(&out)
}

/// The one method of `impl Client` named `method`.
fn client_method(code: &str, method: &str) -> String {
    let file: syn::File = syn::parse_str(code).unwrap();
    for item in &file.items {
        if let syn::Item::Impl(imp) = item
            && imp.trait_.is_none()
        {
            for inner in &imp.items {
                if let syn::ImplItem::Fn(f) = inner
                    && f.sig.ident == method
                {
                    let mut only = imp.clone();
                    only.items = vec![inner.clone()];
                    let mut out = file.clone();
                    out.attrs.clear();
                    out.items = vec![syn::Item::Impl(only)];
                    return prettyplease::unparse(&out);
                }
            }
        }
    }
    panic!("no method {method}");
}

#[test]
fn generated_files_allow_missing_docs_and_carry_the_capabilities() {
    // The provider crates warn on missing docs; generated code is exempt by its own attribute.
    let code = generated_code("multipart");
    let file: syn::File = syn::parse_str(&code).unwrap();
    let attributes: Vec<String> = file
        .attrs
        .iter()
        .map(|a| quote::ToTokens::to_token_stream(a).to_string())
        .collect();
    assert_eq!(attributes, ["# ! [allow (missing_docs)]"]);
    // `capabilities = { outputs = ["cutout"], local_files = true }`: nothing else documented.
    for expected in [
        "outputs: &[cutout_runtime::CutoutKind::Rgba]",
        "accepts_local_files: true",
        "input_formats: &[]",
        "max_upload_bytes: None",
        "max_side: None",
    ] {
        assert!(code.contains(expected), "{expected} in:\n{code}");
    }
}

#[test]
fn lowering_effective_spec() {
    let root = fixtures();
    let effective = generate::effective_spec(&root, &provider(&root, "lowering")).unwrap();
    insta::assert_json_snapshot!(effective);
}

#[test]
fn lowering_generated_types() {
    let code = generated_code("lowering");
    // `Thing`: const → one-value enum, nullable (type array and oneOf-null), exclusive bounds,
    // binary/base64 content, the patched-in `tags`; `Problem`: the error schema.
    insta::assert_snapshot!(items(&code, &["Thing", "ThingKind", "Problem"]));
}

#[test]
fn multipart_operation_builder() {
    let code = generated_code("multipart");
    insta::assert_snapshot!(
        client_method(&code, "upload_picture")
            + &items(&code, &["UploadPicture", "impl UploadPicture"])
    );
}

#[test]
fn multipart_form_type_keeps_text_fields_only() {
    let code = generated_code("multipart");
    let form = items(&code, &["UploadForm", "Style"]);
    assert!(
        !form.contains("pub picture"),
        "binary parts are not form text fields:\n{form}"
    );
    insta::assert_snapshot!(form);
}

#[test]
fn json_operations_share_the_named_error_schema_and_nullable_fields_are_options() {
    let code = generated_code("multipart");
    let get_stored = items(&code, &["impl GetStored"]);
    assert!(
        get_stored.contains("Result<ResponseValue<types::Stored>, Error<types::Failure>>"),
        "{get_stored}"
    );
    let upload = items(&code, &["impl UploadPicture"]);
    assert!(
        upload.contains("Result<ResponseValue<types::Stored>, Error<types::Failure>>"),
        "{upload}"
    );
    insta::assert_snapshot!(items(&code, &["Failure"]));
}

/// The items of the generated `types` module.
fn types_module(file: &syn::File) -> &[syn::Item] {
    file.items
        .iter()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => {
                m.content.as_ref().map(|(_, i)| i.as_slice())
            }
            _ => None,
        })
        .expect("a generated `types` module")
}

/// The type named `name` and every impl block (inherent or trait) for it, in file order.
fn type_with_impls(code: &str, names: &[&str]) -> String {
    let file: syn::File = syn::parse_str(code).unwrap();
    let types = types_module(&file);
    let wanted = |ident: &syn::Ident| names.iter().any(|n| ident == n);
    let found: Vec<syn::Item> = types
        .iter()
        .filter(|item| match item {
            syn::Item::Enum(e) => wanted(&e.ident),
            syn::Item::Struct(s) => wanted(&s.ident),
            syn::Item::Impl(i) => matches!(&*i.self_ty, syn::Type::Path(p)
                if p.path.segments.last().is_some_and(|s| wanted(&s.ident))),
            _ => false,
        })
        .cloned()
        .collect();
    let mut out = file.clone();
    out.attrs.clear();
    out.items = found;
    prettyplease::unparse(&out)
}

#[test]
fn response_enums_are_open_and_request_enums_stay_closed() {
    let code = generated_code("tolerant");
    // Read only (a response, an error body, an inline enum of a response): open, with the raw
    // value kept and serde written by hand.
    for open in ["JobState", "JobSize", "RefusalReason", "ShadeReceived"] {
        let text = type_with_impls(&code, &[open]);
        assert!(
            text.contains("Unknown(::std::string::String)"),
            "{open} is open:\n{text}"
        );
        assert!(
            text.contains(&format!("impl<'de> ::serde::Deserialize<'de> for {open}")),
            "{text}"
        );
        assert!(!text.contains("derive(::serde::Deserialize"), "{text}");
        assert!(
            !text.contains("TryFrom"),
            "no fallible conversion is left: {text}"
        );
        assert!(!text.contains("Copy"), "{text}");
    }
    // Sent only, or the request side of a shared enum: typify's closed enum, untouched.
    for closed in ["Priority", "Shade"] {
        let text = type_with_impls(&code, &[closed]);
        assert!(!text.contains("Unknown"), "{closed} stays closed:\n{text}");
        assert!(text.contains("::serde::Deserialize"), "{text}");
        assert!(text.contains("Err(\"invalid value\".into())"), "{text}");
    }
    // The shared enum is split: what is sent uses the closed type, what is read the open one.
    let sent = items(&code, &["NewJob"]);
    assert!(
        sent.contains("pub shade: ::std::option::Option<Shade>"),
        "{sent}"
    );
    let read = items(&code, &["Job"]);
    assert!(
        read.contains("pub shade: ::std::option::Option<ShadeReceived>"),
        "{read}"
    );
    assert!(
        read.contains("pub size: ::std::option::Option<JobSize>"),
        "{read}"
    );
    insta::assert_snapshot!(type_with_impls(&code, &["JobState", "Priority"]));
}

#[test]
fn the_effective_spec_marks_open_enums_and_keeps_the_reasons() {
    let root = fixtures();
    let effective = generate::effective_spec(&root, &provider(&root, "tolerant")).unwrap();
    let schemas = &effective["components"]["schemas"];
    for open in ["JobState", "JobSize", "RefusalReason", "ShadeReceived"] {
        assert_eq!(schemas[open]["x-open-enum"], true, "{open}");
    }
    for closed in ["Priority", "Shade"] {
        assert!(schemas[closed].get("x-open-enum").is_none(), "{closed}");
    }
    assert_eq!(
        schemas["Job"]["properties"]["size"]["$ref"],
        "#/components/schemas/JobSize"
    );
    assert_eq!(
        schemas["Job"]["x-required-because"]["state"],
        "Waiting needs it."
    );
}

#[test]
fn a_required_response_member_without_a_reason_is_refused() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/tolerant.yaml"),
            "      x-required-because: {id: The job is followed by it., state: Waiting needs it.}\n",
            "      x-required-because: {id: The job is followed by it.}\n",
        )
    });
    assert!(
        stderr.contains("specs/tolerant.yaml: /components/schemas/Job/required: `state` is required in a schema read from responses, but `x-required-because` does not say why"),
        "{stderr}"
    );
}

#[test]
fn generated_code_starts_with_the_do_not_edit_header() {
    let code = generated_code("multipart");
    let header: Vec<&str> = code.lines().take(3).collect();
    assert_eq!(
        header[0],
        "// @generated by `cargo xtask codegen multipart`. Do not edit by hand: change the spec and regenerate."
    );
    assert_eq!(header[1], "// Spec: specs/multipart.yaml");
    assert!(
        header[2].starts_with("// Effective spec: out/multipart/openapi.effective.json (sha256 "),
        "{}",
        header[2]
    );
    assert!(code.contains("pub const DEFAULT_BASE_URL: &str = \"https://multipart.example.com\";"));
    assert!(code.contains("cutout_runtime::AuthScheme::BodyField"));
    assert!(code.contains("submissions: &[\"upload_picture\"]"));
}

/// A scratch copy of the fixtures, so tests can write and edit freely.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    for entry in std::fs::read_dir(fixtures().join("specs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.path().join("specs").join(entry.file_name()),
        )
        .unwrap();
    }
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn check_fails_with_a_diff_after_a_one_character_change_and_passes_after_regenerating() {
    let dir = scratch();
    let root = dir.path();
    xtask::codegen(root, &[], false).unwrap();
    xtask::codegen(root, &[], true).unwrap();

    edit(
        &root.join("specs/multipart.yaml"),
        "Where to store it.",
        "Where to store it!",
    );
    match xtask::codegen(root, &[], true) {
        Err(Error::Stale { diffs }) => {
            assert_eq!(
                diffs.len(),
                3,
                "the code, the mock helpers (their header names the spec's hash) and the effective spec: {diffs:#?}"
            );
            let code_diff = diffs
                .iter()
                .find(|d| d.contains("generated.rs (on disk)"))
                .unwrap();
            assert!(
                code_diff.contains("-        ///Where to store it.\n"),
                "{code_diff}"
            );
            assert!(
                code_diff.contains("+        ///Where to store it!\n"),
                "{code_diff}"
            );
        }
        other => panic!("expected a stale check, got {other:?}"),
    }

    let report = xtask::codegen(root, &[], false).unwrap();
    assert_eq!(report.written.len(), 3);
    xtask::codegen(root, &[], true).unwrap();
}

fn run_binary(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("codegen")
        .args(["--root", root.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn snapshot_files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for name in ["lowering", "multipart", "tolerant"] {
        for file in [generate::GENERATED_RS, generate::EFFECTIVE_SPEC] {
            let path = root.join("out").join(name).join(file);
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

#[test]
fn two_runs_in_separate_processes_write_identical_bytes() {
    let dir = scratch();
    let first = run_binary(dir.path(), &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = snapshot_files(dir.path());
    for (path, _) in &before {
        std::fs::remove_file(path).unwrap();
    }
    let second = run_binary(dir.path(), &[]);
    assert!(second.status.success());
    assert_eq!(before, snapshot_files(dir.path()));
    let check = run_binary(dir.path(), &["--check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Runs codegen on a scratch copy broken by `breaking`, expecting failure and no files written.
fn broken(breaking: impl FnOnce(&Path)) -> String {
    let dir = scratch();
    breaking(dir.path());
    let output = run_binary(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        !dir.path().join("out").exists(),
        "nothing may be written after an error"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked at"), "no panic trace: {stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "no panic trace: {stderr}"
    );
    stderr
}

#[test]
fn invalid_json_names_file_line_and_column() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/lowering.json"),
            "\"paths\": {",
            "\"paths\": {,",
        )
    });
    assert!(
        stderr.contains("specs/lowering.json: line 6, column 13: invalid JSON"),
        "{stderr}"
    );
}

#[test]
fn invalid_yaml_names_file_and_line() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/multipart.yaml"),
            "  /upload:",
            "  /upload: [\n",
        )
    });
    assert!(stderr.contains("specs/multipart.yaml: line "), "{stderr}");
    assert!(stderr.contains("invalid YAML"), "{stderr}");
}

#[test]
fn unresolvable_ref_names_the_patch_that_introduced_it() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/lowering.patch.yaml"),
            "items: {type: string}",
            "items: {$ref: \"#/components/schemas/Tag\"}",
        )
    });
    assert!(
        stderr.contains("specs/lowering.patch.yaml: /components/schemas/Thing/properties/tags/items/$ref: `$ref: #/components/schemas/Tag` does not resolve"),
        "{stderr}"
    );
}

#[test]
fn unsupported_construct_names_its_pointer() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/lowering.json"),
            "\"count\": {\"type\": \"integer\"",
            "\"count\": {\"if\": {}, \"type\": \"integer\"",
        )
    });
    assert!(
        stderr.contains("specs/lowering.json: /components/schemas/Thing/properties/count/if: `if` (JSON Schema 2020-12) cannot be lowered to OpenAPI 3.0.3"),
        "{stderr}"
    );
}

#[test]
fn a_generator_error_names_the_operation() {
    let stderr = broken(|root| {
        edit(
            &root.join("specs/multipart.yaml"),
            "      operationId: getStored\n",
            "",
        )
    });
    assert!(
        stderr.contains(
            "multipart: the generator failed on operation `(no operationId) (GET /stored/{name})`"
        ),
        "{stderr}"
    );
}

#[test]
fn a_generator_panic_becomes_an_error_naming_the_operation() {
    // progenitor panics ("not yet implemented") on JSON request bodies with an `encoding` map.
    let stderr = broken(|root| {
        edit(
            &root.join("specs/multipart.yaml"),
            "components:\n",
            "  /notes:\n    post:\n      operationId: postNote\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: \"#/components/schemas/Stored\"}\n            encoding: {name: {contentType: text/plain}}\n      responses:\n        \"204\": {description: ok}\ncomponents:\n",
        )
    });
    assert!(stderr.contains("multipart: the generator failed on operation `postNote (POST /notes)`: the generator panicked: not yet implemented: media type encoding not empty"), "{stderr}");
}

#[test]
fn unknown_provider_lists_the_known_ones() {
    let dir = scratch();
    let output = run_binary(dir.path(), &["nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "unknown provider `nope`; configured providers: lowering, multipart, tolerant"
        )
    );
}

/// Every struct and enum directly in the generated `types` module, with whether it carries
/// `#[non_exhaustive]` (and how often) and whether it is a tuple struct.
fn types_and_marks(code: &str) -> Vec<(String, usize, bool)> {
    let file: syn::File = syn::parse_str(code).unwrap();
    let types = types_module(&file);
    let marks = |attrs: &[syn::Attribute]| {
        attrs
            .iter()
            .filter(|a| xtask::attributes::is_non_exhaustive(a))
            .count()
    };
    types
        .iter()
        .filter_map(|item| match item {
            syn::Item::Struct(s) => Some((
                s.ident.to_string(),
                marks(&s.attrs),
                matches!(s.fields, syn::Fields::Unnamed(_)),
            )),
            syn::Item::Enum(e) => Some((e.ident.to_string(), marks(&e.attrs), false)),
            _ => None,
        })
        .collect()
}

fn additive_code(name: &str) -> String {
    let root = fixtures().join("additive");
    let output = generate::generate(&root, &provider(&root, name)).unwrap();
    output
        .files
        .into_iter()
        .find(|(p, _)| p.ends_with(generate::GENERATED_RS))
        .unwrap()
        .1
}

#[test]
fn every_generated_struct_and_enum_of_the_additive_fixture_is_non_exhaustive_once() {
    for name in ["additive-v1", "additive-v2"] {
        let found = types_and_marks(&additive_code(name));
        let names: Vec<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
        // Request and response structs, the error body, a closed (request) and an open
        // (response) enum: each kind the rule covers; and a newtype, which it leaves out.
        assert_eq!(
            names,
            ["Job", "JobState", "Labels", "Mode", "NewJob", "Problem"],
            "{name}"
        );
        for (ty, marks, tuple) in &found {
            let expected = if *tuple { 0 } else { 1 };
            assert_eq!(
                *marks, expected,
                "{name}: {ty} has #[non_exhaustive] {marks} times"
            );
        }
        assert!(found.iter().any(|(ty, _, tuple)| ty == "Labels" && *tuple));
    }
}

#[test]
fn the_other_fixtures_follow_the_same_rule() {
    // Multipart forms, open enums replaced by `tolerant` (marked once, not twice), nullable and
    // lowered types.
    for name in ["lowering", "multipart", "tolerant"] {
        let found = types_and_marks(&generated_code(name));
        assert!(!found.is_empty(), "{name}");
        for (ty, marks, tuple) in found {
            let expected = if tuple { 0 } else { 1 };
            assert_eq!(
                marks, expected,
                "{name}: {ty} has #[non_exhaustive] {marks} times"
            );
        }
    }
}

#[test]
fn the_types_module_documents_the_rule() {
    let code = additive_code("additive-v1");
    let at = code.find("pub mod types {").unwrap();
    let docs = &code[..at];
    let docs = &docs[docs
        .rfind("/// Types used as operation parameters")
        .unwrap()..];
    assert!(
        docs.contains("`#[non_exhaustive]`") && docs.contains("X::builder()"),
        "{docs}"
    );
}

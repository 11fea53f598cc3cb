//! Loading a provider's spec: parse (JSON or YAML), apply the merge patch, check every `$ref`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Located, Result, io};

/// A parsed document and the file it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// Path relative to the repository root, for messages.
    pub file: PathBuf,
    /// The content.
    pub value: Value,
}

/// Reads a JSON (`.json`) or YAML (anything else) document. Parse errors name line and column.
pub fn load(root: &Path, relative: &Path) -> Result<Document> {
    let path = root.join(relative);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let value = parse(relative, &text)?;
    Ok(Document {
        file: relative.to_path_buf(),
        value,
    })
}

/// Parses text as JSON or YAML, chosen by the file's extension.
pub fn parse(file: &Path, text: &str) -> Result<Value> {
    // Some editors and servers start UTF-8 with a byte order mark; neither parser takes it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json = file.extension().is_some_and(|e| e == "json");
    let located = |location: String, message: String| {
        Error::Spec(vec![Located {
            file: file.to_path_buf(),
            location,
            message,
        }])
    };
    if is_json {
        serde_json::from_str(text).map_err(|e| {
            located(
                format!("line {}, column {}", e.line(), e.column()),
                format!("invalid JSON: {e}"),
            )
        })
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let location = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            located(location, format!("invalid YAML: {e}"))
        })
    }
}

/// Applies a JSON Merge Patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(target) = target else {
        unreachable!("made an object just above")
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Undoes [`escape`].
pub fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Every `$ref` must be local (`#/...`) and resolve inside the document.
///
/// `origin` tells, for a pointer, which input file it came from (upstream or patch).
pub fn check_refs(document: &Value, origin: &dyn Fn(&str) -> PathBuf) -> Result<()> {
    let mut problems = Vec::new();
    walk_refs(document, document, String::new(), origin, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Spec(problems))
    }
}

fn walk_refs(
    root: &Value,
    node: &Value,
    pointer: String,
    origin: &dyn Fn(&str) -> PathBuf,
    problems: &mut Vec<Located>,
) {
    match node {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref") {
                let here = format!("{pointer}/$ref");
                let message = match reference.as_str() {
                    None => Some("`$ref` must be a string".to_owned()),
                    Some(r) if !r.starts_with("#/") => Some(format!(
                        "`$ref: {r}` points outside the document; only local references (`#/…`) are supported"
                    )),
                    Some(r) => root.pointer(&r[1..]).is_none().then(|| {
                        format!("`$ref: {r}` does not resolve: nothing is at `{}`", &r[1..])
                    }),
                };
                if let Some(message) = message {
                    problems.push(Located {
                        file: origin(&here),
                        location: here,
                        message,
                    });
                }
            }
            for (key, value) in object {
                walk_refs(
                    root,
                    value,
                    format!("{pointer}/{}", escape(key)),
                    origin,
                    problems,
                );
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                walk_refs(root, value, format!("{pointer}/{i}"), origin, problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_document() {
        let json = super::parse(Path::new("a.json"), "\u{feff}{\"openapi\": \"3.0.3\"}").unwrap();
        assert_eq!(json["openapi"], "3.0.3");
        let yaml = super::parse(Path::new("a.yaml"), "\u{feff}openapi: 3.0.3\n").unwrap();
        assert_eq!(yaml["openapi"], "3.0.3");
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, appendix A (a selection).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[test]
    fn unresolvable_and_remote_refs_are_reported_with_their_pointer() {
        let doc = json!({
            "components": {"schemas": {"A": {"type": "string"}}},
            "paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/components/responses/Missing"}}}}},
            "other": {"$ref": "https://example.com/remote.json"},
            "fine": {"$ref": "#/components/schemas/A"}
        });
        let err = check_refs(&doc, &|_| PathBuf::from("spec.json")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2 problems"), "{text}");
        assert!(
            text.contains("spec.json: /paths/~1x/get/responses/200/$ref: `$ref: #/components/responses/Missing` does not resolve"),
            "{text}"
        );
        assert!(
            text.contains("/other/$ref: `$ref: https://example.com/remote.json` points outside"),
            "{text}"
        );
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let err = parse(Path::new("a.json"), "{\n  \"x\": [1,\n}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("1 problem in the spec:\n  a.json: line 3, column 1: invalid JSON"),
            "{err}"
        );
        let err = parse(Path::new("a.yaml"), "a: [1\nb: 2\n").unwrap_err();
        assert!(err.to_string().contains("a.yaml: line "), "{err}");
    }
}

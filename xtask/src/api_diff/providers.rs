//! Changes to a provider's table in `specs/providers.toml`: codegen emits it into the crate
//! (`DEFAULT_BASE_URL`, the auth hook, `PROVIDER`, which operations are never re-sent), so a
//! change there reaches users as surely as a spec change.
//!
//! Classes, conservatively: the base URL, auth, environment variable names and short name →
//! breaking (users' environment and behaviour change); `submissions` → breaking (which calls
//! are retried changes); a limit (`max_concurrent_jobs`, `capabilities.max_*`) raised or removed,
//! an output or input format added, `local_files` turned on → additive, the reverse → breaking.
//! Where the inputs live (`spec`, `patch`, `lock`, `crate`) is not a user change: not reported.
//! Values are printed only for the keys above (none holds a secret); any other key is named
//! without its values, and is breaking ("unclassified").

use std::collections::BTreeMap;

use toml::Value;

use super::{Change, Class};
use crate::config::CONFIG_PATH;

/// Keys that only say where codegen's inputs and outputs are.
const PLACES: &[&str] = &["spec", "patch", "lock", "crate"];

/// Flattens a table into `dotted.key` → value (arrays stay whole).
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, Value>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(inner) if path != "auth" => flatten(&path, inner, out),
            other => {
                out.insert(path, other.clone());
            }
        }
    }
}

fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::String(s)) => format!("\"{s}\""),
        Some(other) => other.to_string(),
    }
}

/// A URL as shown: userinfo and query string (the places a credential could hide) replaced.
fn url_shown(value: Option<&Value>) -> String {
    let Some(Value::String(url)) = value else {
        return show(value);
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let path = match path.split_once(['?', '#']) {
        Some((path, _)) => format!("{path}?***"),
        None => path.to_owned(),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("\"{scheme}{host}{path}\"")
}

/// The items of an array value, as text.
fn items(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().map(|v| show(Some(v))).collect(),
        _ => Vec::new(),
    }
}

/// Every classified change of provider `name`'s table between `old` (the file at the base
/// revision) and `new` (the working tree's). A provider absent from `old` gives nothing (the
/// whole crate is new and reported as such).
pub fn diff(name: &str, old: &str, new: &str) -> Result<Vec<Change>, String> {
    let table = |text: &str, which: &str| -> Result<Option<toml::Table>, String> {
        let doc: toml::Table = toml::from_str(text)
            .map_err(|e| format!("{which} {CONFIG_PATH} is not valid TOML: {e}"))?;
        Ok(doc
            .get("providers")
            .and_then(|p| p.get(name))
            .and_then(Value::as_table)
            .cloned())
    };
    let (Some(before), Some(after)) = (table(old, "the base revision's")?, table(new, "the")?)
    else {
        return Ok(Vec::new());
    };
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &before, &mut a);
    flatten("", &after, &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x == y || PLACES.contains(&key.as_str()) {
            continue;
        }
        let path = format!("{CONFIG_PATH} [providers.{name}] {key}");
        let values = format!("{} → {}", show(x), show(y));
        let (class, message) = match key.as_str() {
            "base_url" => (
                Class::Breaking,
                format!(
                    "the default base URL changes: {} → {}",
                    url_shown(x),
                    url_shown(y)
                ),
            ),
            "auth" => (
                Class::Breaking,
                format!("how the key is sent changes: {values}"),
            ),
            "key_env" | "base_url_env" => (
                Class::Breaking,
                format!("the environment variable users set changes: {values}"),
            ),
            "short_name" => (
                Class::Breaking,
                format!("the provider's name in messages and logs changes: {values}"),
            ),
            "submissions" => (
                Class::Breaking,
                format!("which operations are never re-sent (paid submissions) changes: {values}"),
            ),
            "max_concurrent_jobs"
            | "capabilities.max_upload_bytes"
            | "capabilities.max_side"
            | "capabilities.max_pixels" => {
                let n = |v: Option<&Value>| v.and_then(Value::as_integer);
                // No value: no documented limit, nothing is refused for it.
                let looser = match (n(x), n(y)) {
                    (Some(p), Some(q)) => q > p,
                    (Some(_), None) => true,
                    _ => false,
                };
                if looser {
                    (
                        Class::Additive,
                        format!("limit raised or removed: {values}"),
                    )
                } else {
                    (Class::Breaking, format!("limit lowered or added: {values}"))
                }
            }
            "capabilities.outputs" | "capabilities.input_formats" => {
                let (old_items, new_items) = (items(x), items(y));
                let gone: Vec<&String> = old_items
                    .iter()
                    .filter(|i| !new_items.contains(i))
                    .collect();
                if gone.is_empty() {
                    (Class::Additive, format!("more supported: {values}"))
                } else {
                    (Class::Breaking, format!("no longer supported: {values}"))
                }
            }
            "capabilities.local_files" => {
                if y.and_then(Value::as_bool) == Some(true) {
                    (Class::Additive, format!("local files now taken: {values}"))
                } else {
                    (
                        Class::Breaking,
                        format!("local files no longer taken: {values}"),
                    )
                }
            }
            // Unknown to this classifier: named, never shown (it could hold anything).
            _ => (
                Class::Breaking,
                "unclassified: changed (values not shown)".to_owned(),
            ),
        };
        out.push(Change {
            class,
            path,
            operations: Vec::new(),
            message,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"
[providers.p]
spec = "a.yaml"
crate = "crates/p"
base_url = "https://a.example"
auth = { header = "X-Key" }
short_name = "p"
key_env = "P_KEY"
base_url_env = "P_URL"
submissions = ["start"]
max_concurrent_jobs = 4
capabilities = { outputs = ["cutout"], local_files = true, max_side = 100 }
"#;

    fn classes(new: &str) -> Vec<(Class, String, String)> {
        diff("p", OLD, new)
            .unwrap()
            .into_iter()
            .map(|c| (c.class, c.path, c.message))
            .collect()
    }

    #[test]
    fn identical_and_input_places_are_not_changes() {
        assert!(classes(OLD).is_empty());
        assert!(classes(&OLD.replace("a.yaml", "b.yaml")).is_empty());
    }

    #[test]
    fn limits_raised_and_outputs_added_are_additive_the_reverse_breaking() {
        let raised = OLD
            .replace("max_side = 100", "max_side = 200")
            .replace("[\"cutout\"]", "[\"cutout\", \"mask\"]");
        let found = classes(&raised);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found.iter().all(|(c, _, _)| *c == Class::Additive),
            "{found:?}"
        );
        let lowered = OLD
            .replace("max_side = 100", "max_side = 50")
            .replace("max_concurrent_jobs = 4\n", "")
            .replace("local_files = true", "local_files = false");
        let found = classes(&lowered);
        assert_eq!(
            found
                .iter()
                .map(|(c, p, _)| (*c, p.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    Class::Breaking,
                    "specs/providers.toml [providers.p] capabilities.local_files"
                ),
                (
                    Class::Breaking,
                    "specs/providers.toml [providers.p] capabilities.max_side"
                ),
                // No documented cap any more: nothing is refused for it.
                (
                    Class::Additive,
                    "specs/providers.toml [providers.p] max_concurrent_jobs"
                ),
            ]
        );
    }

    #[test]
    fn base_urls_are_shown_without_userinfo_or_query() {
        let found =
            classes(&OLD.replace("https://a.example", "https://user:pw@b.example/v2?token=t"));
        assert_eq!(
            found[0].2,
            "the default base URL changes: \"https://a.example\" → \"https://***@b.example/v2?***\""
        );
    }

    #[test]
    fn unknown_keys_are_breaking_and_their_values_never_shown() {
        let found = classes(&OLD.replace(
            "key_env = \"P_KEY\"",
            "key_env = \"P_KEY\"\nsecret = \"s3cr3t\"",
        ));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Class::Breaking);
        assert!(!found[0].2.contains("s3cr3t"), "{found:?}");
    }
}

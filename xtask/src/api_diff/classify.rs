//! Classifying the differences between two effective specs for the generated crate's users.
//!
//! `drift` walks the operations, parameters, request bodies and responses (following `$ref`s)
//! and says what changed from the *server's* compatibility point of view. Its classes are
//! mapped onto the crate's semver here; where it cannot tell (`Unhandled`), where it would
//! panic and where it does not look, this module compares the JSON itself:
//!
//! - `Unhandled` at a schema (properties added or removed, `required` changed, enum values,
//!   `format`, length/range/pattern constraints, `additionalProperties`) → `refine`;
//! - content types added or removed under a response or request body (drift asserts they are
//!   equal and would panic) → `align_content`, which also hands drift the aligned copies;
//! - component schemas no operation reaches (webhook payloads), present on both sides →
//!   `unreached_schemas`, with `refine`'s rules as data the client reads;
//! - `nullable` changes (drift compares them but records nothing) and everything drift does not
//!   walk (`info`, tags, operation summaries and descriptions, components added or removed, what
//!   `unreached_schemas` leaves) → `leftovers`.
//!
//! Anything still unexplained is reported as breaking, labelled "unclassified".

use std::collections::{BTreeMap, BTreeSet};

use drift::{ChangeClass, ChangeComparison, ChangeDetails};
use serde_json::{Map, Value};

use super::{Change, Class};
use crate::spec::{escape, unescape};

/// Keys whose changes only touch documentation (generated doc comments at most).
const DOC_KEYS: &[&str] = &[
    "description",
    "summary",
    "title",
    "example",
    "examples",
    "externalDocs",
    "deprecated",
    "tags",
    "links",
    "x-required-because",
];

/// Constraints on values, with the direction that makes them stricter.
const CONSTRAINTS: &[(&str, Stricter)] = &[
    ("minimum", Stricter::Higher),
    ("maximum", Stricter::Lower),
    ("exclusiveMinimum", Stricter::Higher),
    ("exclusiveMaximum", Stricter::Lower),
    ("minLength", Stricter::Higher),
    ("maxLength", Stricter::Lower),
    ("minItems", Stricter::Higher),
    ("maxItems", Stricter::Lower),
    ("minProperties", Stricter::Higher),
    ("maxProperties", Stricter::Lower),
    ("multipleOf", Stricter::Any),
    ("pattern", Stricter::Any),
    ("uniqueItems", Stricter::Higher),
];

#[derive(Clone, Copy)]
enum Stricter {
    Higher,
    Lower,
    Any,
}

/// Which way data at a place flows: sent by the client (request) or read by it (response).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Direction {
    request: bool,
    response: bool,
}

/// Every classified change from `old` to `new` (both effective specs), breaking first.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let graph = Graph::new(old, new);
    let mut out = Vec::new();
    let (old_aligned, new_aligned) = align_content(old, new, &graph, &mut out);
    // Places drift reported on: whatever lies below them is explained by its report.
    let mut covered: Vec<String> = out.iter().map(|c| bare(&c.path)).collect();

    // drift asserts some things of the documents it is given: a panic, reported below as an
    // unclassified change, printed nowhere else.
    match crate::generate::quietly(|| drift::compare(&old_aligned, &new_aligned)) {
        Ok(Ok(changes)) => {
            for change in changes {
                let Some(first) = change.paths.first() else {
                    continue;
                };
                let (old_base, _) = first.old.base_and_subpath();
                let (new_base, _) = first.new.base_and_subpath();
                for info in &change.changes {
                    let old_ptr = join(old_base, &info.old_subpath);
                    let new_ptr = join(new_base, &info.new_subpath);
                    covered.push(old_ptr.clone());
                    covered.push(new_ptr.clone());
                    map_drift(
                        info,
                        first.comparison,
                        &old_ptr,
                        &new_ptr,
                        old,
                        new,
                        &graph,
                        &mut out,
                    );
                }
            }
        }
        Ok(Err(e)) => out.push(Change {
            class: Class::Breaking,
            path: "#".into(),
            operations: Vec::new(),
            message: format!("unclassified: the differ could not compare the documents: {e:#}"),
        }),
        Err(why) => out.push(Change {
            class: Class::Breaking,
            path: "#".into(),
            operations: Vec::new(),
            message: format!("unclassified: the differ (drift) failed on these documents: {why}"),
        }),
    }
    let (unreached, explained) = unreached_schemas(old, new, &graph, &mut out);
    covered.extend(explained);
    leftovers(old, new, &graph, &covered, &mut out);
    // Say why such a change names no operation (they are read by the client all the same).
    for change in &mut out {
        let under = |name: &String| {
            let component = format!("#/components/schemas/{}", escape(name));
            change.path == component || change.path.starts_with(&format!("{component}/"))
        };
        if change.operations.is_empty() && unreached.iter().any(under) {
            change.message.push(' ');
            change.message.push_str(UNREACHED);
        }
    }
    response_types(old, new, &graph, &mut out);
    tidy(out)
}

/// Appended to the changes in schemas no operation references.
const UNREACHED: &str = "(not reached by any operation: e.g. a webhook payload)";

/// Component schemas present in both documents that no operation reaches in either (webhook
/// payloads the crates deserialize themselves): drift never compares them, so they are compared
/// here with [`refine`]'s rules, as data the client reads. Returns the names of those schemas
/// and the places explained (for [`leftovers`], which classifies the rest: documentation keys,
/// `nullable`, anything unexplained).
fn unreached_schemas(
    old: &Value,
    new: &Value,
    graph: &Graph,
    out: &mut Vec<Change>,
) -> (BTreeSet<String>, Vec<String>) {
    let schemas = |doc: &Value| -> BTreeSet<String> {
        doc.pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (before, after) = (schemas(old), schemas(new));
    let unreached: BTreeSet<String> = before
        .intersection(&after)
        .filter(|name| {
            let key = format!("#/components/schemas/{}", escape(name));
            !graph.requests.contains_key(&key) && !graph.responses.contains_key(&key)
        })
        .cloned()
        .collect();
    let mut covered = Vec::new();
    // Each schema is compared once, at its own place: a `$ref` to the same component on both
    // sides queues that component (cycles end at the visited set).
    let mut pending: Vec<String> = unreached.iter().rev().cloned().collect();
    let mut seen = BTreeSet::new();
    let direction = Direction {
        request: false,
        response: true,
    };
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let pointer = format!("/components/schemas/{}", escape(&name));
        let (Some(a), Some(b)) = (old.pointer(&pointer), new.pointer(&pointer)) else {
            continue;
        };
        let mut push = |class: Class, path: &str, message: String| {
            out.push(graph.change(class, path, message));
        };
        compare_unreached(
            a,
            b,
            &pointer,
            direction,
            &mut push,
            &mut covered,
            &mut |target: &str| {
                if let Some(name) = target.strip_prefix("#/components/schemas/")
                    && unreached.contains(&unescape(name))
                {
                    pending.push(unescape(name));
                }
            },
        );
    }
    (unreached, covered)
}

/// One node of an unreached schema (`here` a bare JSON pointer): [`refine`] at this level,
/// then the common properties, `items`, `additionalProperties` and `allOf`/`oneOf`/`anyOf`
/// members by index. Records in `covered` the places explained; hands same-target `$ref`s to
/// `follow`.
fn compare_unreached(
    old: &Value,
    new: &Value,
    here: &str,
    direction: Direction,
    push: &mut dyn FnMut(Class, &str, String),
    covered: &mut Vec<String>,
    follow: &mut dyn FnMut(&str),
) {
    let fragment = format!("#{here}");
    let (old_ref, new_ref) = (
        old.get("$ref").and_then(Value::as_str),
        new.get("$ref").and_then(Value::as_str),
    );
    if old_ref.is_some() || new_ref.is_some() {
        if old_ref == new_ref {
            if let Some(target) = new_ref {
                follow(target);
            }
        } else {
            push(
                Class::Breaking,
                &fragment,
                format!("type changed from {} to {}", describe(old), describe(new)),
            );
            covered.push(here.to_owned());
        }
        return;
    }
    if old.get("type") != new.get("type") {
        refine(old, new, &fragment, direction, push);
        covered.push(here.to_owned());
        return;
    }
    refine(old, new, &fragment, direction, push);
    // What refine judged at this level (the rest is left to `leftovers`).
    let judged = ["required", "enum", "format"]
        .into_iter()
        .chain(CONSTRAINTS.iter().map(|(k, _)| *k));
    for key in judged {
        if old.get(key) != new.get(key) {
            covered.push(format!("{here}/{key}"));
        }
    }
    let (old_props, new_props) = (properties(old), properties(new));
    for (name, a) in old_props {
        let place = format!("{here}/properties/{}", escape(name));
        match new_props.get(name) {
            Some(b) => compare_unreached(a, b, &place, direction, push, covered, follow),
            None => covered.push(place),
        }
    }
    for name in new_props.keys().filter(|n| !old_props.contains_key(*n)) {
        covered.push(format!("{here}/properties/{}", escape(name)));
    }
    if let (Some(a), Some(b)) = (old.get("items"), new.get("items")) {
        compare_unreached(
            a,
            b,
            &format!("{here}/items"),
            direction,
            push,
            covered,
            follow,
        );
    }
    match (
        old.get("additionalProperties"),
        new.get("additionalProperties"),
    ) {
        (Some(a @ Value::Object(_)), Some(b @ Value::Object(_))) => compare_unreached(
            a,
            b,
            &format!("{here}/additionalProperties"),
            direction,
            push,
            covered,
            follow,
        ),
        (a, b) if a != b => covered.push(format!("{here}/additionalProperties")),
        _ => {}
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        match (
            old.get(key).and_then(Value::as_array),
            new.get(key).and_then(Value::as_array),
        ) {
            (Some(a), Some(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    compare_unreached(
                        x,
                        y,
                        &format!("{here}/{key}/{i}"),
                        direction,
                        push,
                        covered,
                        follow,
                    );
                }
            }
            (a, b) if a != b => {
                push(
                    Class::Breaking,
                    &format!("#{here}/{key}"),
                    format!("`{key}` members added or removed (the generated type changes)"),
                );
                covered.push(format!("{here}/{key}"));
            }
            _ => {}
        }
    }
}

/// What progenitor 0.15.1 makes of the responses of one side (success or error) of an
/// operation (`method.rs`, `extract_responses`): the one kind shared by the matching responses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A JSON body: the named component, or an inline schema (a type named after the operation).
    Type(String),
    /// No content: `()`.
    None,
    /// Another content type: a byte stream.
    Raw,
    /// 101 without content: a websocket upgrade.
    Upgrade,
}

impl Kind {
    fn rust(kinds: &BTreeSet<Kind>) -> String {
        let one = |k: &Kind| match k {
            Kind::Type(name) => format!("types::{name}"),
            Kind::None => "()".into(),
            Kind::Raw => "ByteStream".into(),
            Kind::Upgrade => "reqwest::Upgraded".into(),
        };
        match kinds.len() {
            0 => "()".into(),
            1 => one(kinds.first().expect("one kind")),
            // progenitor refuses several types on one side (api-diff then fails running it).
            _ => format!(
                "several types ({}), which the generator refuses",
                kinds.iter().map(one).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// The success and error kinds of one operation, derived as progenitor derives them: success
/// from `default`, 101 and 2xx (a missing success response counts as a raw 2XX; a 2XX range
/// hides `default`), error from `default`, 4xx and 5xx.
fn operation_kinds(doc: &Value, op: &Value) -> (BTreeSet<Kind>, BTreeSet<Kind>) {
    use heck::ToPascalCase;
    let name = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_pascal_case();
    // (order as progenitor sorts: codes, then ranges as N00, then default last; kind)
    let mut responses: Vec<(u16, bool, Kind)> = Vec::new();
    let Some(map) = op.get("responses").and_then(Value::as_object) else {
        return Default::default();
    };
    for (status, response) in map {
        let (value, is_range) = match status.as_str() {
            "default" => (1000, false),
            s if s.len() == 3 && s.ends_with("XX") => {
                (u16::from(s.as_bytes()[0].wrapping_sub(b'0')) * 100, true)
            }
            s => match s.parse::<u16>() {
                Ok(code) => (code, false),
                Err(_) => continue,
            },
        };
        let mut response = response;
        let mut hops = 0;
        while let Some(target) = response.get("$ref").and_then(Value::as_str) {
            hops += 1;
            match target.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(found) if hops < 32 => response = found,
                _ => break,
            }
        }
        let content = response.get("content").and_then(Value::as_object);
        let json = content.and_then(|c| {
            c.iter().find_map(|(media, v)| {
                (media == "application/json" || media.starts_with("application/json;")).then_some(v)
            })
        });
        let kind = if let Some(media) = json {
            match media
                .get("schema")
                .and_then(|s| s.get("$ref"))
                .and_then(Value::as_str)
            {
                Some(target) => Kind::Type(target.rsplit('/').next().unwrap_or(target).into()),
                None => Kind::Type(format!("{name}Response")),
            }
        } else if value == 101 {
            Kind::Upgrade
        } else if content.is_some_and(|c| !c.is_empty()) {
            Kind::Raw
        } else {
            Kind::None
        };
        responses.push((value, is_range, kind));
    }
    let success = |v: u16, range: bool| {
        v == 1000 || v == 101 || (200..=299).contains(&v) || (range && v == 200)
    };
    let error = |v: u16, _range: bool| v == 1000 || (400..=599).contains(&v);
    if !responses.iter().any(|(v, r, _)| success(*v, *r)) {
        responses.push((200, true, Kind::Raw));
    }
    let pick = |filter: &dyn Fn(u16, bool) -> bool| -> BTreeSet<Kind> {
        let mut items: Vec<&(u16, bool, Kind)> = responses
            .iter()
            .filter(|(v, r, _)| filter(*v, *r))
            .collect();
        items.sort_by_key(|(v, _, _)| *v);
        let len = items.len();
        if len >= 2 && items[len - 2].0 == 200 && items[len - 2].1 && items[len - 1].0 == 1000 {
            items.pop();
        }
        items.into_iter().map(|(_, _, k)| k.clone()).collect()
    };
    (pick(&success), pick(&error))
}

/// A new (or removed, or changed) response code is harmless only when the generated method keeps
/// its success and error types: for every operation in both documents whose derived types
/// differ, one breaking change naming old → new, and the response-code changes drift called
/// additive under that operation become breaking.
fn response_types(old: &Value, new: &Value, graph: &Graph, out: &mut Vec<Change>) {
    let Some(paths) = old.get("paths").and_then(Value::as_object) else {
        return;
    };
    for (path, item) in paths {
        for method in METHODS {
            let (Some(before), Some(after)) = (
                item.get(*method),
                new.get("paths")
                    .and_then(|p| p.get(path))
                    .and_then(|i| i.get(*method)),
            ) else {
                continue;
            };
            let (old_ok, old_err) = operation_kinds(old, before);
            let (new_ok, new_err) = operation_kinds(new, after);
            let place = format!("#/paths/{}/{method}/responses", escape(path));
            let mut changed = false;
            for (side, a, b) in [("success", &old_ok, &new_ok), ("error", &old_err, &new_err)] {
                if a != b {
                    changed = true;
                    let what = if side == "success" {
                        "`ResponseValue<…>`"
                    } else {
                        "`Error<…>`"
                    };
                    out.push(graph.change(
                        Class::Breaking,
                        &place,
                        format!(
                            "the generated method's {side} type changes from `{}` to `{}` ({what} of `send()`)",
                            Kind::rust(a),
                            Kind::rust(b)
                        ),
                    ));
                }
            }
            if changed {
                // drift places "added a new response code" at the operation itself.
                let operation = format!("#/paths/{}/{method}", escape(path));
                let below = format!("{place}/");
                for change in out.iter_mut() {
                    let about_responses = change.path.starts_with(&below)
                        || (change.path == operation && change.message.contains("response code"));
                    if change.class == Class::Additive && about_responses {
                        change.class = Class::Breaking;
                        change
                            .message
                            .push_str(" (it changes the generated method's types)");
                    }
                }
            }
        }
    }
}

/// Sorts (breaking first, then by path) and merges duplicates (drift reports a schema shared by
/// requests and responses once per direction).
fn tidy(changes: Vec<Change>) -> Vec<Change> {
    let mut merged: BTreeMap<(std::cmp::Reverse<Class>, String, String), BTreeSet<String>> =
        BTreeMap::new();
    for change in changes {
        merged
            .entry((std::cmp::Reverse(change.class), change.path, change.message))
            .or_default()
            .extend(change.operations);
    }
    merged
        .into_iter()
        .map(|((class, path, message), operations)| Change {
            class: class.0,
            path,
            operations: operations.into_iter().collect(),
            message,
        })
        .collect()
}

/// `#/a/b` + `c/d` → `#/a/b/c/d`, with drift's `request_body` segment spelled as in the document.
fn join(base: &str, subpath: &str) -> String {
    let mut pointer = if subpath.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{subpath}")
    };
    if pointer.contains("/request_body") {
        pointer = pointer
            .split('/')
            .map(|s| {
                if s == "request_body" {
                    "requestBody"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
    }
    pointer
}

/// A `#/…` fragment as a plain JSON pointer.
fn bare(fragment: &str) -> String {
    fragment.strip_prefix('#').unwrap_or(fragment).to_owned()
}

/// Resolves a drift pointer: like a JSON pointer, but a bare index after a schema means the
/// member of its one-element `allOf`/`oneOf`/`anyOf` (drift flattens those wrappers).
fn resolve<'a>(doc: &'a Value, fragment: &str) -> Option<&'a Value> {
    let mut node = doc;
    for raw in bare(fragment).split('/').skip(1) {
        let segment = unescape(raw);
        node = match node {
            Value::Object(map) => match map.get(&segment) {
                Some(child) => child,
                None => ["allOf", "oneOf", "anyOf"]
                    .iter()
                    .find_map(|k| map.get(*k))
                    .and_then(|list| list.get(segment.parse::<usize>().ok()?))?,
            },
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
        // Follow a `$ref` met on the way, as drift does.
        let mut hops = 0;
        while let Some(target) = node.get("$ref").and_then(Value::as_str) {
            hops += 1;
            if hops > 32 {
                return None;
            }
            node = doc.pointer(target.strip_prefix('#')?)?;
        }
    }
    Some(node)
}

/// Which operations reach which component, and from which side.
struct Graph {
    /// `#/paths/<p>/<method>` → operation id (or `METHOD /path`), both documents.
    operations: BTreeMap<String, BTreeSet<String>>,
    /// Component pointer (`#/components/schemas/X`) → operations reaching it from a request.
    requests: BTreeMap<String, BTreeSet<String>>,
    /// Component pointer → operations reaching it from a response.
    responses: BTreeMap<String, BTreeSet<String>>,
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Graph {
    fn new(old: &Value, new: &Value) -> Self {
        let mut graph = Graph {
            operations: BTreeMap::new(),
            requests: BTreeMap::new(),
            responses: BTreeMap::new(),
        };
        for doc in [old, new] {
            let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
                continue;
            };
            for (path, item) in paths {
                for method in METHODS {
                    let Some(op) = item.get(*method) else {
                        continue;
                    };
                    let name = op.get("operationId").and_then(Value::as_str).map_or_else(
                        || format!("{} {path}", method.to_uppercase()),
                        str::to_owned,
                    );
                    graph
                        .operations
                        .entry(format!("#/paths/{}/{method}", escape(path)))
                        .or_default()
                        .insert(name.clone());
                    let mut sent = Vec::new();
                    sent.extend(op.get("parameters"));
                    sent.extend(item.get("parameters"));
                    sent.extend(op.get("requestBody"));
                    for target in reachable(doc, &sent) {
                        graph
                            .requests
                            .entry(target)
                            .or_default()
                            .insert(name.clone());
                    }
                    let read: Vec<&Value> = op.get("responses").into_iter().collect();
                    for target in reachable(doc, &read) {
                        graph
                            .responses
                            .entry(target)
                            .or_default()
                            .insert(name.clone());
                    }
                }
            }
        }
        graph
    }

    /// The operations a change at `fragment` reaches, and from which side.
    fn place(&self, fragment: &str) -> (BTreeSet<String>, Direction) {
        let segments: Vec<&str> = fragment.split('/').collect();
        // #/paths/<p>/<method>/…
        if segments.get(1) == Some(&"paths") && segments.len() >= 4 {
            let key = segments[..4].join("/");
            let ops = self.operations.get(&key).cloned().unwrap_or_default();
            let rest = segments.get(4).copied();
            let direction = match rest {
                Some("parameters" | "requestBody") => Direction {
                    request: true,
                    response: false,
                },
                Some("responses") => Direction {
                    request: false,
                    response: true,
                },
                _ => Direction::default(),
            };
            return (ops, direction);
        }
        // #/components/<kind>/<name>/…
        if segments.get(1) == Some(&"components") && segments.len() >= 4 {
            let key = segments[..4].join("/");
            let requests = self.requests.get(&key);
            let responses = self.responses.get(&key);
            let ops = requests
                .into_iter()
                .chain(responses)
                .flatten()
                .cloned()
                .collect();
            return (
                ops,
                Direction {
                    request: requests.is_some(),
                    response: responses.is_some(),
                },
            );
        }
        (BTreeSet::new(), Direction::default())
    }

    fn change(&self, class: Class, fragment: &str, message: impl Into<String>) -> Change {
        Change {
            class,
            path: fragment.to_owned(),
            operations: self.place(fragment).0.into_iter().collect(),
            message: message.into(),
        }
    }
}

/// Every component (`#/components/<kind>/<name>`) reachable through `$ref`s from `roots`.
fn reachable(doc: &Value, roots: &[&Value]) -> BTreeSet<String> {
    fn refs(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "$ref"
                        && let Some(target) = value.as_str()
                    {
                        out.push(target.to_owned());
                    } else {
                        refs(value, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    roots.iter().for_each(|r| refs(r, &mut pending));
    let mut seen = BTreeSet::new();
    while let Some(target) = pending.pop() {
        let component: String = target.split('/').take(4).collect::<Vec<_>>().join("/");
        if !seen.insert(component.clone()) {
            continue;
        }
        if let Some(node) = component.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            refs(node, &mut pending);
        }
    }
    seen
}

/// Reports media types added to or removed from each response and request body present in both
/// documents, and returns copies where those maps hold only the shared media types (drift
/// asserts that they match). A media type whose schema appears or disappears is reported here
/// and dropped from the copies too.
fn align_content(old: &Value, new: &Value, graph: &Graph, out: &mut Vec<Change>) -> (Value, Value) {
    let mut old_copy = old.clone();
    let mut new_copy = new.clone();
    let mut places = Vec::new();
    if let Some(paths) = old.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(*method) else {
                    continue;
                };
                let base = format!("/paths/{}/{method}", escape(path));
                places.push((format!("{base}/requestBody/content"), true));
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    for status in responses.keys() {
                        places.push((
                            format!("{base}/responses/{}/content", escape(status)),
                            false,
                        ));
                    }
                }
            }
        }
    }
    for kind in ["requestBodies", "responses"] {
        if let Some(map) = old
            .pointer(&format!("/components/{kind}"))
            .and_then(Value::as_object)
        {
            for name in map.keys() {
                places.push((
                    format!("/components/{kind}/{}/content", escape(name)),
                    kind == "requestBodies",
                ));
            }
        }
    }
    for (pointer, request) in places {
        let (Some(Value::Object(before)), Some(Value::Object(after))) =
            (old.pointer(&pointer), new.pointer(&pointer))
        else {
            continue;
        };
        let owner = pointer.trim_end_matches("/content");
        let side = if request { "request body" } else { "response" };
        let mut dropped = Vec::new();
        for (media, schema) in before {
            match after.get(media) {
                None => {
                    out.push(graph.change(
                        Class::Breaking,
                        &format!("#{owner}/content/{}", escape(media)),
                        format!("{side} content type `{media}` removed"),
                    ));
                    dropped.push(media.clone());
                }
                Some(now) if schema.get("schema").is_some() != now.get("schema").is_some() => {
                    out.push(graph.change(
                        Class::Breaking,
                        &format!("#{owner}/content/{}", escape(media)),
                        format!("{side} `{media}` schema added or removed"),
                    ));
                    dropped.push(media.clone());
                }
                Some(_) => {}
            }
        }
        for media in after.keys().filter(|m| !before.contains_key(*m)) {
            // A new way to send is additive; a new response content type changes what the
            // generated method returns.
            let class = if request {
                Class::Additive
            } else {
                Class::Breaking
            };
            out.push(graph.change(
                class,
                &format!("#{owner}/content/{}", escape(media)),
                format!("{side} content type `{media}` added"),
            ));
            dropped.push(media.clone());
        }
        for copy in [&mut old_copy, &mut new_copy] {
            if let Some(Value::Object(map)) = copy.pointer_mut(&pointer) {
                for media in &dropped {
                    map.remove(media);
                }
            }
        }
    }
    (old_copy, new_copy)
}

/// Maps one drift finding onto the crate's classes, refining what drift leaves unhandled.
#[allow(clippy::too_many_arguments)]
fn map_drift(
    info: &drift::ChangeInfo,
    comparison: ChangeComparison,
    old_ptr: &str,
    new_ptr: &str,
    old: &Value,
    new: &Value,
    graph: &Graph,
    out: &mut Vec<Change>,
) {
    use ChangeDetails as D;
    // What was removed is named where it was; everything else where it is now.
    let removed = new_ptr == "#/paths" || matches!(info.details, D::Removed);
    let here = if removed { old_ptr } else { new_ptr };
    let (mut ops, direction) = graph.place(here);
    ops.extend(graph.place(old_ptr).0);
    let push = |out: &mut Vec<Change>, class: Class, path: &str, message: String| {
        let mut change = graph.change(class, path, message);
        change.operations.extend(ops.iter().cloned());
        change.operations.sort();
        change.operations.dedup();
        out.push(change);
    };
    let message = info.message.clone();
    match (info.class, comparison, info.details) {
        (ChangeClass::Trivial, _, _) => {
            let (class, text) = match (resolve(old, old_ptr), resolve(new, new_ptr)) {
                (Some(a), Some(b)) if a.is_object() && b.is_object() => metadata(a, b),
                _ => (Class::Documentation, message),
            };
            push(out, class, here, text);
        }
        (ChangeClass::Unhandled, _, _) => {
            let before = out.len();
            if let (Some(a), Some(b)) = (resolve(old, old_ptr), resolve(new, new_ptr)) {
                refine(a, b, here, direction, &mut |class, path, text| {
                    push(out, class, path, text)
                });
            }
            if out.len() == before {
                push(
                    out,
                    Class::Breaking,
                    here,
                    format!("unclassified: {message}"),
                );
            }
        }
        (_, ChangeComparison::Structural, D::Removed) => push(out, Class::Breaking, here, message),
        (_, ChangeComparison::Structural, D::Added) => push(out, Class::Additive, here, message),
        // A new optional parameter or body: a new builder setter.
        (_, ChangeComparison::Input, D::Added) => push(out, Class::Additive, here, message),
        // Required → optional: the builder setter stays; the call simply may be left out.
        (_, ChangeComparison::Input, D::LessStrict) => push(out, Class::Additive, here, message),
        // A new response code: one more case the generated method handles.
        (_, ChangeComparison::Output, D::Added) => push(out, Class::Additive, here, message),
        (_, _, D::Datatype | D::UnknownDifference)
            if matches!(info.class, ChangeClass::Incompatible) =>
        {
            let text = match (resolve(old, old_ptr), resolve(new, new_ptr)) {
                (Some(a), Some(b)) => {
                    format!("type changed from {} to {}", describe(a), describe(b))
                }
                _ => message,
            };
            push(out, Class::Breaking, here, text);
        }
        // Removed parameters, new required ones, stricter ones, removed bodies and response codes.
        _ => push(out, Class::Breaking, here, message),
    }
}

/// Classifies a metadata difference between two schema (or operation) nodes.
fn metadata(old: &Value, new: &Value) -> (Class, String) {
    let keys: BTreeSet<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(Map::keys)
        .filter(|k| old.get(k.as_str()) != new.get(k.as_str()))
        .filter(|k| !is_structure_key(k))
        .collect();
    let doc: Vec<&str> = keys
        .iter()
        .filter(|k| DOC_KEYS.contains(&k.as_str()))
        .map(|k| k.as_str())
        .collect();
    let other: Vec<&str> = keys
        .iter()
        .filter(|k| !DOC_KEYS.contains(&k.as_str()))
        .map(|k| k.as_str())
        .collect();
    if other.is_empty() {
        let names = if doc.is_empty() {
            "metadata".to_owned()
        } else {
            doc.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        (Class::Documentation, format!("{names} changed"))
    } else {
        if other == ["x-open-enum"] {
            return (
                Class::Breaking,
                "`x-open-enum` changed: the enum gains or loses its `Unknown(String)` variant"
                    .into(),
            );
        }
        // `default`, `readOnly`, `discriminator`…: they shape the generated code.
        (
            Class::Breaking,
            format!(
                "unclassified: {} changed",
                other
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

/// Keys drift compares itself (they are reported at their own places, not as metadata).
fn is_structure_key(key: &str) -> bool {
    matches!(
        key,
        "type"
            | "properties"
            | "items"
            | "required"
            | "enum"
            | "format"
            | "nullable"
            | "allOf"
            | "oneOf"
            | "anyOf"
            | "not"
            | "additionalProperties"
            | "parameters"
            | "requestBody"
            | "responses"
            | "content"
            | "schema"
    ) || CONSTRAINTS.iter().any(|(k, _)| *k == key)
}

/// A schema's type in words: `integer`, `string (date-time)`, `reference to Foo`, `oneOf`.
fn describe(schema: &Value) -> String {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return format!(
            "reference to {}",
            target.rsplit('/').next().unwrap_or(target)
        );
    }
    let mut text = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => other.to_string(),
        None => ["allOf", "oneOf", "anyOf", "not", "enum"]
            .iter()
            .find(|k| schema.get(**k).is_some())
            .map_or_else(|| "any value".to_owned(), |k| (*k).to_owned()),
    };
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        text.push_str(&format!(" ({format})"));
    }
    text
}

/// The Rust type family typify picks for a `format`, so format changes that keep the Rust type
/// are told apart from those that change it.
fn rust_type(schema: &Value) -> String {
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    match (kind, format) {
        ("string", "date-time" | "date" | "uuid" | "ip" | "ipv4" | "ipv6" | "binary") => {
            format!("string:{format}")
        }
        ("string", _) => "string".into(),
        ("integer", f) if !f.is_empty() => format!("integer:{f}"),
        ("number", "float") => "number:f32".into(),
        ("number", _) => "number:f64".into(),
        (k, _) => k.into(),
    }
}

/// A schema's `properties` (none: an empty map).
fn properties(schema: &Value) -> &Map<String, Value> {
    static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&NONE)
}

/// Finer comparison of two schema nodes drift left unhandled: the object level (properties,
/// `required`, `additionalProperties`), enum values, `format` and constraints. Common
/// properties are not descended into: drift walks those and reports them at their own place.
fn refine(
    old: &Value,
    new: &Value,
    here: &str,
    direction: Direction,
    push: &mut dyn FnMut(Class, &str, String),
) {
    // In a request, a stricter value rule refuses what used to be accepted; in a response it
    // only narrows what the client receives.
    let (stricter, looser) = if direction.request {
        (Class::Breaking, Class::Additive)
    } else {
        (Class::Additive, Class::Additive)
    };
    let side = if direction.request && !direction.response {
        "request"
    } else if direction.response && !direction.request {
        "response"
    } else {
        "request and response"
    };

    if old.get("type") != new.get("type") {
        push(
            Class::Breaking,
            here,
            format!("type changed from {} to {}", describe(old), describe(new)),
        );
        return;
    }

    // Objects.
    let (old_props, new_props) = (properties(old), properties(new));
    let required = |schema: &Value| -> BTreeSet<String> {
        schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let (old_req, new_req) = (required(old), required(new));
    for name in old_props.keys().filter(|n| !new_props.contains_key(*n)) {
        push(
            Class::Breaking,
            &format!("{here}/properties/{}", escape(name)),
            format!("{side} field `{name}` removed"),
        );
    }
    for name in new_props.keys().filter(|n| !old_props.contains_key(*n)) {
        let path = format!("{here}/properties/{}", escape(name));
        let is_required = new_req.contains(name);
        let what = if is_required { "required" } else { "optional" };
        if direction.request && is_required {
            push(
                Class::Breaking,
                &path,
                format!("new required request field `{name}`"),
            );
        } else if is_required {
            // Reading it is fine, but code that builds this type (mock responses in tests,
            // with its builder) fails at run time until it sets the new field.
            push(
                Class::Breaking,
                &path,
                format!(
                    "new required {side} field `{name}`: code building this type with its builder (mock responses) must now set it, or gets \"no value supplied for {name}\" at run time"
                ),
            );
        } else {
            push(
                Class::Additive,
                &path,
                format!("new {what} {side} field `{name}`"),
            );
        }
    }
    for name in old_props.keys().filter(|n| new_props.contains_key(*n)) {
        let path = format!("{here}/properties/{}", escape(name));
        match (old_req.contains(name), new_req.contains(name)) {
            (false, true) => push(
                Class::Breaking,
                &path,
                format!("field `{name}` is now required (its Rust type loses the Option)"),
            ),
            (true, false) => push(
                Class::Breaking,
                &path,
                format!("field `{name}` is now optional (its Rust type becomes an Option)"),
            ),
            _ => {}
        }
    }
    let open = |v: Option<&Value>| matches!(v, None | Some(Value::Bool(true)));
    let (old_ap, new_ap) = (
        old.get("additionalProperties"),
        new.get("additionalProperties"),
    );
    if old_ap != new_ap && !(open(old_ap) && open(new_ap)) {
        push(
            Class::Breaking,
            &format!("{here}/additionalProperties"),
            "unclassified: `additionalProperties` changed".into(),
        );
    }

    // Enum values.
    match (
        old.get("enum").and_then(Value::as_array),
        new.get("enum").and_then(Value::as_array),
    ) {
        (Some(before), Some(after)) => {
            let gone: Vec<String> = before
                .iter()
                .filter(|v| !after.contains(v))
                .map(Value::to_string)
                .collect();
            let added: Vec<String> = after
                .iter()
                .filter(|v| !before.contains(v))
                .map(Value::to_string)
                .collect();
            if !gone.is_empty() {
                push(
                    Class::Breaking,
                    &format!("{here}/enum"),
                    format!("enum value(s) removed: {}", gone.join(", ")),
                );
            }
            if !added.is_empty() {
                push(
                    Class::Additive,
                    &format!("{here}/enum"),
                    format!("new enum value(s): {}", added.join(", ")),
                );
            }
        }
        (None, Some(_)) => push(
            Class::Breaking,
            &format!("{here}/enum"),
            "now an enum (the Rust type changes)".into(),
        ),
        (Some(_), None) => push(
            Class::Breaking,
            &format!("{here}/enum"),
            "no longer an enum (the Rust type changes)".into(),
        ),
        (None, None) => {}
    }

    // Format.
    if old.get("format") != new.get("format") {
        let show = |s: &Value| {
            s.get("format")
                .and_then(Value::as_str)
                .map_or_else(|| "none".to_owned(), |f| format!("`{f}`"))
        };
        let text = format!("format changed from {} to {}", show(old), show(new));
        if rust_type(old) != rust_type(new) {
            push(
                Class::Breaking,
                &format!("{here}/format"),
                format!("{text} (the Rust type changes)"),
            );
        } else {
            push(
                Class::Documentation,
                &format!("{here}/format"),
                format!("{text} (same Rust type)"),
            );
        }
    }

    // typify makes a constrained newtype of a string with a length or pattern rule.
    let string_rules = |s: &Value| {
        ["minLength", "maxLength", "pattern"]
            .iter()
            .any(|k| s.get(*k).is_some())
    };
    if old.get("type").and_then(Value::as_str) == Some("string")
        && string_rules(old) != string_rules(new)
        && old.get("enum").is_none()
        && new.get("enum").is_none()
    {
        push(
            Class::Breaking,
            here,
            "string rules (length, pattern) added or removed: the Rust type changes between String and a checked newtype".into(),
        );
    }

    // typify picks a signed, unsigned or non-zero integer from `minimum`.
    let sign = |s: &Value| match s.get("minimum").and_then(Value::as_f64) {
        Some(m) if m >= 1.0 => "a non-zero unsigned integer",
        Some(m) if m >= 0.0 => "an unsigned integer",
        _ => "a signed integer",
    };
    if old.get("type").and_then(Value::as_str) == Some("integer")
        && old.get("format") == new.get("format")
        && sign(old) != sign(new)
    {
        push(
            Class::Breaking,
            &format!("{here}/minimum"),
            format!(
                "`minimum` changed: the Rust type changes from {} to {}",
                sign(old),
                sign(new)
            ),
        );
    }

    // Constraints.
    for (key, way) in CONSTRAINTS {
        let (a, b) = (old.get(*key), new.get(*key));
        if a == b {
            continue;
        }
        let tighter = match (a, b, way) {
            (None, Some(_), _) => true,
            (Some(_), None, _) => false,
            (Some(a), Some(b), Stricter::Higher) => number(b) > number(a),
            (Some(a), Some(b), Stricter::Lower) => number(b) < number(a),
            (Some(_), Some(_), Stricter::Any) => true,
            (None, None, _) => continue,
        };
        let show = |v: Option<&Value>| v.map_or_else(|| "none".to_owned(), Value::to_string);
        let (class, word) = if tighter {
            (stricter, "tightened")
        } else {
            (looser, "loosened")
        };
        push(
            class,
            &format!("{here}/{key}"),
            format!(
                "{side} constraint `{key}` {word}: {} → {}",
                show(a),
                show(b)
            ),
        );
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or(0.0),
    }
}

/// One difference found by walking both documents side by side.
enum Raw<'a> {
    Changed(&'a Value, &'a Value),
    Added(&'a Value),
    Removed(&'a Value),
}

fn walk<'a>(old: &'a Value, new: &'a Value, pointer: String, out: &mut Vec<(String, Raw<'a>)>) {
    static EMPTY: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| Value::Object(Map::new()));
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = format!("{pointer}/{}", escape(key));
                // Under the root and `components`, a missing map is an empty one: each
                // component added or removed is then told apart.
                let shallow = pointer.is_empty() || pointer == "/components";
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(x, y, child, out),
                    (Some(x), None) if shallow && x.is_object() => walk(x, &EMPTY, child, out),
                    (None, Some(y)) if shallow && y.is_object() => walk(&EMPTY, y, child, out),
                    (Some(x), None) => out.push((child, Raw::Removed(x))),
                    (None, Some(y)) => out.push((child, Raw::Added(y))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if named(a) && named(b) => {
            // Parameters: matched by where and name, not by position.
            let key = |v: &Value| {
                (
                    v.get("in").and_then(Value::as_str).unwrap_or("").to_owned(),
                    v.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                )
            };
            for (i, x) in a.iter().enumerate() {
                match b.iter().position(|y| key(y) == key(x)) {
                    Some(j) => walk(x, &b[j], format!("{pointer}/{j}"), out),
                    None => out.push((format!("{pointer}/{i}"), Raw::Removed(x))),
                }
            }
            for (j, y) in b.iter().enumerate() {
                if !a.iter().any(|x| key(x) == key(y)) {
                    out.push((format!("{pointer}/{j}"), Raw::Added(y)));
                }
            }
        }
        (a, b) if a != b => out.push((pointer, Raw::Changed(a, b))),
        _ => {}
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|v| v.get("name").is_some() && v.get("in").is_some())
}

/// Everything drift does not report: `nullable` changes anywhere (an `Option` appears or goes),
/// added and removed components, and any other difference not below a place already reported
/// (documentation when the key is one, otherwise breaking and unclassified).
fn leftovers(old: &Value, new: &Value, graph: &Graph, covered: &[String], out: &mut Vec<Change>) {
    let covered: Vec<String> = covered.iter().map(|c| bare(c)).collect();
    let mut raw = Vec::new();
    walk(old, new, String::new(), &mut raw);
    for (pointer, difference) in raw {
        let fragment = format!("#{pointer}");
        let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
        let last = segments.last().map(String::as_str).unwrap_or("");
        if last == "nullable" {
            let is = |v: &Value| v.as_bool().unwrap_or(false);
            let (before, after) = match difference {
                Raw::Changed(a, b) => (is(a), is(b)),
                Raw::Added(b) => (false, is(b)),
                Raw::Removed(a) => (is(a), false),
            };
            if before != after {
                let parent = fragment.trim_end_matches("/nullable");
                out.push(graph.change(
                    Class::Breaking,
                    parent,
                    if after {
                        "now nullable (its Rust type becomes an Option)".to_owned()
                    } else {
                        "no longer nullable (its Rust type loses the Option)".to_owned()
                    },
                ));
            }
            continue;
        }
        // `/paths` itself is where drift places the missing side of an added or removed
        // operation: it explains nothing below it.
        let is_covered = covered
            .iter()
            .filter(|c| !c.is_empty() && *c != "/paths")
            .any(|c| {
                *c == pointer
                    || pointer.starts_with(&format!("{c}/"))
                    || c.starts_with(&format!("{pointer}/"))
            });
        if is_covered {
            continue;
        }
        // A whole component added or removed: a Rust type appears or goes.
        if segments.len() == 3 && segments[0] == "components" {
            let name = &segments[2];
            match difference {
                Raw::Added(_) => {
                    out.push(graph.change(
                        Class::Additive,
                        &fragment,
                        format!("new component `{name}`"),
                    ));
                    continue;
                }
                Raw::Removed(_) => {
                    out.push(graph.change(
                        Class::Breaking,
                        &fragment,
                        format!("component `{name}` removed (its generated type goes)"),
                    ));
                    continue;
                }
                Raw::Changed(..) => {}
            }
        }
        // The operation id names the generated method (and its builder).
        if last == "operationId"
            && segments.len() == 4
            && let Raw::Changed(a, b) = difference
        {
            out.push(graph.change(
                Class::Breaking,
                &fragment,
                format!("operation id changed from {a} to {b} (the generated method is renamed)"),
            ));
            continue;
        }
        // `servers`: the base URL comes from providers.toml; response `headers` are not typed by
        // the generated code (they are in the response's `HeaderMap`).
        let documentation = segments
            .first()
            .is_some_and(|s| s == "info" || s == "tags" || s == "servers" || s == "externalDocs")
            || segments.iter().any(|s| DOC_KEYS.contains(&s.as_str()))
            || segments
                .windows(3)
                .any(|w| w[0] == "responses" && w[2] == "headers");
        let verb = match difference {
            Raw::Changed(..) => "changed",
            Raw::Added(_) => "added",
            Raw::Removed(_) => "removed",
        };
        if documentation {
            out.push(graph.change(Class::Documentation, &fragment, format!("`{last}` {verb}")));
        } else {
            out.push(graph.change(
                Class::Breaking,
                &fragment,
                format!("unclassified: `{last}` {verb} (not compared by drift)"),
            ));
        }
    }
}

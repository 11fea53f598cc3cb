//! Reading tolerantly: the spec-level pass that decides which enums are *open*, and the code that
//! makes them so.
//!
//! Providers add job states and other enum values without notice, so every string enum a client
//! **reads** (anything reachable from the schema of any response of any operation, error bodies
//! included) is generated as an open enum, the pattern aws-sdk-rust uses: one variant per
//! documented value plus [`UNKNOWN_VARIANT`]`(String)`, which keeps any other value as it was
//! sent. `as_str()`, `Display`, `FromStr`/`From<&str>` and serde round-trip the raw value.
//! Enums a client **sends** (reachable from request bodies and parameters) stay closed, exactly as
//! typify generates them: what we write stays strict.
//!
//! The pass works on the effective spec, so its decisions are visible there:
//!
//! 1. **Shared schemas are split.** A component schema reached from both requests and responses
//!    that holds an enum (itself or through its members) gets a response-side copy named
//!    `<Name>`[`RECEIVED_SUFFIX`]; every reference on the response side (operation responses,
//!    `components/responses`, response-only schemas and the copies themselves) is pointed at the
//!    copy. The request side keeps the original, closed type, so a value we send can never be an
//!    unknown one, while the same value read back can.
//! 2. **Inline enums are named.** An inline string enum that is a direct property (or the items of
//!    an array property) of a response-only component schema becomes a component of its own,
//!    named as typify would name it (`<Parent><Property>`, `<Parent><Property>Item`), so the
//!    generated type keeps its name. An inline enum anywhere else in a response is an error
//!    asking for it to be named.
//! 3. **Open enums are marked** with [`OPEN_ENUM`]` : true`.
//! 4. **Discriminators stay closed.** The property named by a `discriminator` of a `oneOf`/`anyOf`
//!    selects the member of an untagged union: opening it would let every member match. Such
//!    unions get tolerance from a last, catch-all member in the spec instead.
//! 5. **Every required member of a response schema says why** in [`REQUIRED_BECAUSE`], a map from
//!    each name in `required` to the reason: a field the server might leave out must not be
//!    required, or one missing field fails the whole answer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use heck::ToUpperCamelCase;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use serde_json::{Map, Value, json};

use crate::error::{Error, Located, Result};
use crate::spec::escape;

/// Marks a component schema generated as an open enum.
pub const OPEN_ENUM: &str = "x-open-enum";
/// Beside `required` in a response schema: why each required member is required.
pub const REQUIRED_BECAUSE: &str = "x-required-because";
/// The catch-all variant of every open enum.
pub const UNKNOWN_VARIANT: &str = "Unknown";
/// The name suffix of the response-side copy of a schema shared with requests.
pub const RECEIVED_SUFFIX: &str = "Received";

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// One open enum: its component schema name and its documented values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEnum {
    /// The component schema's name.
    pub schema: String,
    /// The documented values, in spec order.
    pub values: Vec<String>,
}

/// Applies the pass to a lowered (3.0.3) document. `origin` names the input file of a pointer.
pub fn prepare(document: &mut Value, origin: &dyn Fn(&str) -> PathBuf) -> Result<()> {
    let mut problems = Vec::new();
    split_shared(document, &mut problems);
    hoist_inline_enums(document, &mut problems);
    mark_open_enums(document);
    check_required_reasons(document, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Spec(
            problems
                .into_iter()
                .map(|(location, message)| Located {
                    file: origin(&location),
                    location,
                    message,
                })
                .collect(),
        ))
    }
}

/// The open enums of a document [`prepare`] has seen, by schema name.
pub fn open_enums(document: &Value) -> Vec<OpenEnum> {
    schemas(document)
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(_, s)| s.get(OPEN_ENUM) == Some(&Value::Bool(true)))
                .map(|(name, s)| OpenEnum {
                    schema: name.clone(),
                    values: string_values(s).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn schemas(document: &Value) -> Option<&Map<String, Value>> {
    document.pointer("/components/schemas")?.as_object()
}

fn schemas_mut(document: &mut Value) -> Option<&mut Map<String, Value>> {
    document.pointer_mut("/components/schemas")?.as_object_mut()
}

/// The values of a string enum (a `null` member of a nullable enum is left out), or `None` when
/// the schema is not one.
fn string_values(schema: &Value) -> Option<Vec<String>> {
    let values = schema.get("enum")?.as_array()?;
    if let Some(t) = schema.get("type")
        && t != "string"
    {
        return None;
    }
    let strings: Vec<String> = values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    (!strings.is_empty()).then_some(strings)
}

/// The component a schema stands for: a `$ref`, or a lone `allOf` member that is one (the
/// lowering's form of a `$ref` with siblings).
fn ref_name(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(SCHEMA_PREFIX);
    }
    match schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([only]) => ref_name(only),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// The roots of one side: JSON pointers of request bodies and parameters, or of responses.
fn roots(document: &Value, side: Side) -> Vec<String> {
    let mut roots = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return roots;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let item_pointer = format!("/paths/{}", escape(path));
        for (key, operation) in item {
            let pointer = format!("{item_pointer}/{}", escape(key));
            if key == "parameters" {
                if side == Side::Request {
                    roots.push(pointer);
                }
                continue;
            }
            if !operation.is_object() {
                continue;
            }
            match side {
                Side::Request => {
                    for part in ["requestBody", "parameters"] {
                        if operation.get(part).is_some() {
                            roots.push(format!("{pointer}/{part}"));
                        }
                    }
                }
                Side::Response => {
                    if operation.get("responses").is_some() {
                        roots.push(format!("{pointer}/responses"));
                    }
                }
            }
        }
    }
    // Named responses serve responses only.
    if side == Side::Response && document.pointer("/components/responses").is_some() {
        roots.push("/components/responses".to_owned());
    }
    roots
}

/// Every component schema reachable from `side`, following `$ref`s of any kind.
fn reached(document: &Value, side: Side) -> BTreeSet<String> {
    let mut seen_refs = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut stack: Vec<&Value> = roots(document, side)
        .iter()
        .filter_map(|p| document.pointer(p))
        .collect();
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(Value::as_str)
                    && seen_refs.insert(reference.to_owned())
                {
                    if let Some(name) = reference.strip_prefix(SCHEMA_PREFIX) {
                        names.insert(name.to_owned());
                    }
                    if let Some(target) = reference
                        .strip_prefix('#')
                        .and_then(|p| document.pointer(p))
                    {
                        stack.push(target);
                    }
                }
                stack.extend(object.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// The Rust names of the component schemas reached from requests only (never read back).
pub fn request_only_types(
    document: &Value,
    type_name: &dyn Fn(&str) -> String,
) -> BTreeSet<String> {
    let read = reached(document, Side::Response);
    reached(document, Side::Request)
        .difference(&read)
        .map(|name| type_name(name))
        .collect()
}

/// Makes every optional member of the types a client reads lenient in type as well as in
/// presence (`cutout_runtime::lenient::optional`): a value of an undocumented type reads as
/// absent instead of failing the whole answer. Types in `request_only` are left as they are.
/// Required members stay strict: a workflow needs them.
pub fn lenient_members(file: &mut syn::File, request_only: &BTreeSet<String>) {
    let Some(types) = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "types" => m.content.as_mut().map(|(_, items)| items),
        _ => None,
    }) else {
        return;
    };
    // A closed enum in a type that is read is a discriminator (every other one is open): it
    // must fail on another value, or each member of an untagged union would match any answer.
    let closed_enums: BTreeSet<String> = types
        .iter()
        .filter_map(|item| match item {
            syn::Item::Enum(e)
                if e.variants.iter().all(|v| v.ident != UNKNOWN_VARIANT)
                    && e.variants.iter().all(|v| v.fields.is_empty()) =>
            {
                Some(e.ident.to_string())
            }
            _ => None,
        })
        .collect();
    for item in types.iter_mut() {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        if request_only.contains(&item.ident.to_string()) || !derives(&item.attrs, "Deserialize") {
            continue;
        }
        let syn::Fields::Named(fields) = &mut item.fields else {
            continue;
        };
        for field in fields.named.iter_mut() {
            if !is_option(&field.ty) || mentions_any(&field.ty, &closed_enums) {
                continue;
            }
            let serde: Vec<String> = field
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("serde"))
                .map(|a| quote!(#a).to_string())
                .collect();
            if serde.iter().any(|a| {
                a.contains("deserialize_with") || a.contains("with") || a.contains("flatten")
            }) {
                continue;
            }
            let attr: syn::Attribute = if serde.iter().any(|a| a.contains("default")) {
                syn::parse_quote!(#[serde(deserialize_with = "cutout_runtime::lenient::optional")])
            } else {
                syn::parse_quote!(#[serde(default, deserialize_with = "cutout_runtime::lenient::optional")])
            };
            field.attrs.push(attr);
        }
    }
}

fn derives(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .any(|a| quote!(#a).to_string().contains(name))
}

/// Whether the type names one of `names` anywhere (`Option<Vec<Kind>>` names `Kind`).
fn mentions_any(ty: &syn::Type, names: &BTreeSet<String>) -> bool {
    quote!(#ty)
        .to_string()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| names.contains(word))
}

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path)
        if path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// Component enums and `(component, property)` pairs that act as discriminators.
#[derive(Default)]
struct Discriminators {
    components: BTreeSet<String>,
    properties: BTreeSet<(String, String)>,
}

fn discriminators(document: &Value) -> Discriminators {
    let mut found = Discriminators::default();
    let all = schemas(document);
    let mut stack: Vec<&Value> = vec![document];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(object) => {
                if let Some(property) = object
                    .get("discriminator")
                    .and_then(|d| d.get("propertyName"))
                    .and_then(Value::as_str)
                {
                    for keyword in ["oneOf", "anyOf"] {
                        for member in object
                            .get(keyword)
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let Some(name) = ref_name(member) else {
                                continue;
                            };
                            let target = all
                                .and_then(|s| s.get(name))
                                .and_then(|s| s.get("properties"))
                                .and_then(|p| p.get(property));
                            match target.and_then(ref_name) {
                                Some(enum_name) => {
                                    found.components.insert(enum_name.to_owned());
                                }
                                None => {
                                    found
                                        .properties
                                        .insert((name.to_owned(), property.to_owned()));
                                }
                            }
                        }
                    }
                }
                stack.extend(object.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Where a subschema sits relative to the schema being walked.
#[derive(Clone, Copy)]
enum Place<'a> {
    /// A direct property.
    Property(&'a str),
    /// The `items` of a direct array property.
    Items(&'a str),
    /// Anywhere else.
    Other,
}

/// The direct subschemas of `schema`: (child, pointer, property name, keyword).
fn children<'a>(
    schema: &'a Value,
    pointer: &str,
) -> Vec<(&'a Value, String, Option<&'a str>, &'static str)> {
    let mut out = Vec::new();
    let Some(object) = schema.as_object() else {
        return out;
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            out.push((
                property,
                format!("{pointer}/properties/{}", escape(name)),
                Some(name.as_str()),
                "properties",
            ));
        }
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(child) = object.get(keyword).filter(|c| c.is_object()) {
            out.push((child, format!("{pointer}/{keyword}"), None, keyword));
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for (i, child) in object
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((child, format!("{pointer}/{keyword}/{i}"), None, keyword));
        }
    }
    out
}

/// Calls `visit` with every subschema of `schema` (not `schema` itself), its pointer and place.
fn subschemas<'a>(
    schema: &'a Value,
    pointer: &str,
    visit: &mut dyn FnMut(&'a Value, &str, Place<'a>),
) {
    for (child, here, property, _) in children(schema, pointer) {
        visit(child, &here, property.map_or(Place::Other, Place::Property));
        for (grandchild, at, _, keyword) in children(child, &here) {
            let place = match (property, keyword) {
                (Some(p), "items") => Place::Items(p),
                _ => Place::Other,
            };
            visit(grandchild, &at, place);
            descend(grandchild, &at, visit);
        }
    }
}

fn descend<'a>(
    schema: &'a Value,
    pointer: &str,
    visit: &mut dyn FnMut(&'a Value, &str, Place<'a>),
) {
    for (child, here, _, _) in children(schema, pointer) {
        visit(child, &here, Place::Other);
        descend(child, &here, visit);
    }
}

/// Whether `schema` or anything it reaches (through component references too) holds an enum that
/// would be open on the response side.
fn holds_enum(document: &Value, name: &str, discriminators: &Discriminators) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_owned()];
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(schema) = schemas(document).and_then(|s| s.get(&name)) else {
            continue;
        };
        if string_values(schema).is_some() && !discriminators.components.contains(&name) {
            return true;
        }
        let mut found = false;
        subschemas(schema, "", &mut |child, _, property| {
            if let Some(target) = ref_name(child) {
                stack.push(target.to_owned());
            } else if string_values(child).is_some() {
                let closed = matches!(property, Place::Property(p)
                    if discriminators.properties.contains(&(name.clone(), p.to_owned())));
                found |= !closed;
            }
        });
        if found {
            return true;
        }
    }
    false
}

/// Step 1: response-side copies of schemas shared with requests that hold an enum.
fn split_shared(document: &mut Value, problems: &mut Vec<(String, String)>) {
    let requests = reached(document, Side::Request);
    let responses = reached(document, Side::Response);
    let discriminators = discriminators(document);
    let shared: BTreeSet<String> = requests
        .intersection(&responses)
        .filter(|name| holds_enum(document, name, &discriminators))
        .cloned()
        .collect();
    if shared.is_empty() {
        return;
    }
    let renamed: BTreeMap<String, String> = shared
        .iter()
        .map(|name| (name.clone(), format!("{name}{RECEIVED_SUFFIX}")))
        .collect();
    let Some(all) = schemas(document) else {
        return;
    };
    let mut copies = Vec::new();
    for (name, copy_name) in &renamed {
        if all.contains_key(copy_name) {
            problems.push((
                format!("/components/schemas/{}", escape(copy_name)),
                format!(
                    "`{name}` is used by requests and responses, so its response-side copy is \
                     named `{copy_name}`, but a schema of that name already exists; rename it"
                ),
            ));
            continue;
        }
        let mut copy = all[name].clone();
        retarget(&mut copy, &renamed);
        if let Some(object) = copy.as_object_mut() {
            let said = object
                .get("description")
                .and_then(Value::as_str)
                .map(|d| format!("{d}\n\n"))
                .unwrap_or_default();
            object.insert(
                "description".into(),
                json!(format!(
                    "{said}The response-side copy of `{name}` (that schema is also sent, and \
                     stays strict there): read tolerantly."
                )),
            );
        }
        copies.push((copy_name.clone(), copy));
    }
    // Point the response side at the copies.
    for root in roots(document, Side::Response) {
        if let Some(node) = document.pointer_mut(&root) {
            retarget(node, &renamed);
        }
    }
    let response_only: Vec<String> = responses.difference(&requests).cloned().collect();
    if let Some(all) = schemas_mut(document) {
        for name in response_only {
            if let Some(schema) = all.get_mut(&name) {
                retarget(schema, &renamed);
            }
        }
        for (name, copy) in copies {
            all.insert(name, copy);
        }
    }
}

/// Rewrites every `#/components/schemas/<old>` reference inside `node` to `<new>`.
fn retarget(node: &mut Value, renamed: &BTreeMap<String, String>) {
    match node {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(new) = reference
                    .strip_prefix(SCHEMA_PREFIX)
                    .and_then(|name| renamed.get(name))
            {
                *reference = format!("{SCHEMA_PREFIX}{new}");
            }
            for value in object.values_mut() {
                retarget(value, renamed);
            }
        }
        Value::Array(items) => {
            for item in items {
                retarget(item, renamed);
            }
        }
        _ => {}
    }
}

/// The schemas only responses reach (after the split, that is every response-side schema that
/// holds an enum).
fn response_only(document: &Value) -> BTreeSet<String> {
    let requests = reached(document, Side::Request);
    reached(document, Side::Response)
        .difference(&requests)
        .cloned()
        .collect()
}

/// Step 2: inline enums of response-only schemas become components.
fn hoist_inline_enums(document: &mut Value, problems: &mut Vec<(String, String)>) {
    let discriminators = discriminators(document);
    let mut hoist: Vec<(String, String, String)> = Vec::new(); // (pointer, new name, parent)
    {
        let Some(all) = schemas(document) else {
            return;
        };
        for name in response_only(document) {
            let Some(schema) = all.get(&name) else {
                continue;
            };
            let pointer = format!("/components/schemas/{}", escape(&name));
            subschemas(schema, &pointer, &mut |child, here, property| {
                if string_values(child).is_none() || child.get("$ref").is_some() {
                    return;
                }
                match property {
                    Place::Property(p)
                        if discriminators
                            .properties
                            .contains(&(name.clone(), p.to_owned())) => {}
                    Place::Property(p) | Place::Items(p) => {
                        let suffix = if matches!(property, Place::Items(_)) {
                            "Item"
                        } else {
                            ""
                        };
                        let new = format!("{name}{}{suffix}", p.to_upper_camel_case());
                        hoist.push((here.to_owned(), new, name.clone()));
                    }
                    Place::Other => problems.push((
                        here.to_owned(),
                        "an enum read from responses must be a named schema (under \
                         components/schemas) or a direct property of one, so that it can be \
                         generated open; give it a name"
                            .to_owned(),
                    )),
                }
            });
        }
        // Inline enums directly in operation responses have no name to keep either.
        for root in roots(document, Side::Response) {
            let Some(node) = document.pointer(&root) else {
                continue;
            };
            inline_response_enums(node, &root, problems);
        }
    }
    for (pointer, new, parent) in hoist {
        if schemas(document).is_some_and(|s| s.contains_key(&new)) {
            problems.push((
                pointer,
                format!(
                    "this enum of `{parent}` is read from responses and would be named `{new}`, \
                     but a schema of that name exists; name the enum yourself"
                ),
            ));
            continue;
        }
        let Some(node) = document.pointer_mut(&pointer) else {
            continue;
        };
        let mut reference = Map::new();
        reference.insert("$ref".into(), json!(format!("{SCHEMA_PREFIX}{new}")));
        if let Some(description) = node.get("description") {
            reference.insert("description".into(), description.clone());
        }
        let schema = std::mem::replace(node, Value::Object(reference));
        if let Some(all) = schemas_mut(document) {
            all.insert(new, schema);
        }
    }
}

/// Reports inline enums inside operation responses (outside component schemas).
fn inline_response_enums(node: &Value, pointer: &str, problems: &mut Vec<(String, String)>) {
    let Some(object) = node.as_object() else {
        return;
    };
    for (key, value) in object {
        let here = format!("{pointer}/{}", escape(key));
        if key == "schema" {
            let mut check = |child: &Value, at: &str| {
                if child.get("$ref").is_none() && string_values(child).is_some() {
                    problems.push((
                        at.to_owned(),
                        "an enum read from responses must be a named schema (under \
                         components/schemas), so that it can be generated open; give it a name"
                            .to_owned(),
                    ));
                }
            };
            check(value, &here);
            subschemas(value, &here, &mut |child, at, _| check(child, at));
        } else if value.is_object() {
            inline_response_enums(value, &here, problems);
        }
    }
}

/// Step 3: marks the response-only string enums that are not discriminators.
fn mark_open_enums(document: &mut Value) {
    let discriminators = discriminators(document);
    let open: Vec<String> = response_only(document)
        .into_iter()
        .filter(|name| !discriminators.components.contains(name))
        .filter(|name| {
            schemas(document)
                .and_then(|s| s.get(name))
                .and_then(string_values)
                .is_some()
        })
        .collect();
    if let Some(all) = schemas_mut(document) {
        for name in open {
            if let Some(Value::Object(schema)) = all.get_mut(&name) {
                schema.insert(OPEN_ENUM.into(), Value::Bool(true));
            }
        }
    }
}

/// Step 5: every `required` of a schema read from responses comes with its reasons.
fn check_required_reasons(document: &Value, problems: &mut Vec<(String, String)>) {
    let mut check = |schema: &Value, pointer: &str| {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let reasons = schema.get(REQUIRED_BECAUSE);
        if required.is_empty() {
            if reasons.is_some() {
                problems.push((
                    format!("{pointer}/{REQUIRED_BECAUSE}"),
                    "gives reasons, but nothing is required".to_owned(),
                ));
            }
            return;
        }
        let reasons = reasons.and_then(Value::as_object);
        for name in &required {
            let given = reasons
                .and_then(|r| r.get(*name))
                .and_then(Value::as_str)
                .is_some_and(|r| !r.trim().is_empty());
            if !given {
                problems.push((
                    format!("{pointer}/required"),
                    format!(
                        "`{name}` is required in a schema read from responses, but \
                         `{REQUIRED_BECAUSE}` does not say why: require only what the provider \
                         guarantees and a workflow needs (and say so), make the rest optional"
                    ),
                ));
            }
        }
        for name in reasons.into_iter().flat_map(|r| r.keys()) {
            if !required.contains(&name.as_str()) {
                problems.push((
                    format!("{pointer}/{REQUIRED_BECAUSE}/{}", escape(name)),
                    format!("gives a reason for `{name}`, which is not in `required`"),
                ));
            }
        }
    };
    if let Some(all) = schemas(document) {
        for name in reached(document, Side::Response) {
            let Some(schema) = all.get(&name) else {
                continue;
            };
            let pointer = format!("/components/schemas/{}", escape(&name));
            check(schema, &pointer);
            subschemas(schema, &pointer, &mut |child, at, _| check(child, at));
        }
    }
    for root in roots(document, Side::Response) {
        if let Some(node) = document.pointer(&root) {
            response_media_schemas(node, &root, &mut check);
        }
    }
}

fn response_media_schemas(node: &Value, pointer: &str, check: &mut dyn FnMut(&Value, &str)) {
    let Some(object) = node.as_object() else {
        return;
    };
    for (key, value) in object {
        let here = format!("{pointer}/{}", escape(key));
        if key == "schema" {
            check(value, &here);
            subschemas(value, &here, &mut |child, at, _| check(child, at));
        } else if value.is_object() {
            response_media_schemas(value, &here, check);
        }
    }
}

/// The Rust variant name of an enum value (`in-progress` → `InProgress`); a value that does not
/// start with a letter gets a `V` in front.
fn variant_name(value: &str) -> String {
    let name = value.to_upper_camel_case();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("V{name}")
    }
}

/// Replaces, inside `mod types`, each open enum's typify output (the enum and its `Display`,
/// `FromStr` and `TryFrom` impls) by an open enum with the same name, documentation and
/// variants. `type_name` maps a schema name to the Rust type name. Fails naming the enum when a
/// type is missing or two values would share a variant name.
pub fn rewrite(
    file: &mut syn::File,
    enums: &[OpenEnum],
    type_name: &dyn Fn(&str) -> String,
) -> std::result::Result<(), String> {
    if enums.is_empty() {
        return Ok(());
    }
    let Some(types) = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "types" => m.content.as_mut().map(|(_, items)| items),
        _ => None,
    }) else {
        return Err("the generated code has no `mod types` to put open enums in".to_owned());
    };
    for open in enums {
        let name = type_name(&open.schema);
        let position = types
            .iter()
            .position(|item| matches!(item, syn::Item::Enum(e) if e.ident == name))
            .ok_or_else(|| {
                format!(
                    "the schema `{}` should have been generated as the enum `{name}`, but there \
                     is no such enum",
                    open.schema
                )
            })?;
        let syn::Item::Enum(original) = types.remove(position) else {
            unreachable!("found as an enum just above")
        };
        let docs: Vec<syn::Attribute> = original
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        types.retain(|item| !is_replaced_impl(item, &name));
        let replacement = open_enum(&name, &docs, &open.values)
            .map_err(|e| format!("the open enum `{name}` (schema `{}`): {e}", open.schema))?;
        let position = position.min(types.len());
        types.splice(position..position, replacement.items);
    }
    Ok(())
}

/// typify's trait impls of an enum that the open enum provides itself.
fn is_replaced_impl(item: &syn::Item, name: &str) -> bool {
    let syn::Item::Impl(imp) = item else {
        return false;
    };
    let syn::Type::Path(self_ty) = &*imp.self_ty else {
        return false;
    };
    if !self_ty.path.is_ident(name) {
        return false;
    }
    let Some((trait_path, _)) = &imp.trait_ else {
        return false;
    };
    trait_path.segments.last().is_some_and(|s| {
        matches!(
            s.ident.to_string().as_str(),
            "Display" | "FromStr" | "TryFrom"
        )
    })
}

fn open_enum(
    name: &str,
    docs: &[syn::Attribute],
    values: &[String],
) -> std::result::Result<syn::File, String> {
    let ident = syn::Ident::new(name, Span::call_site());
    let unknown = syn::Ident::new(UNKNOWN_VARIANT, Span::call_site());
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut variants = Vec::new();
    for value in values {
        let variant = variant_name(value);
        if variant == UNKNOWN_VARIANT {
            return Err(format!(
                "the value `{value}` would take the name of the catch-all variant `{UNKNOWN_VARIANT}`"
            ));
        }
        if let Some(other) = seen.insert(variant.clone(), value) {
            return Err(format!(
                "the values `{other}` and `{value}` would both be the variant `{variant}`"
            ));
        }
        let variant = syn::parse_str::<syn::Ident>(&variant)
            .map_err(|_| format!("the value `{value}` gives no Rust name"))?;
        variants.push((variant, value.as_str()));
    }
    let variant_idents: Vec<&syn::Ident> = variants.iter().map(|(v, _)| v).collect();
    let variant_docs: Vec<String> = variants.iter().map(|(_, s)| format!("`{s}`")).collect();
    let wire: Vec<&str> = variants.iter().map(|(_, s)| *s).collect();
    let open_doc = format!(
        " Read tolerantly: a value not listed here is kept, exactly as the server sent it, in \
         [`{name}::{UNKNOWN_VARIANT}`], and written back unchanged."
    );
    let tokens: TokenStream = quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #open_doc]
        #[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
        // Values the provider documents later become variants: matches outside the crate keep a
        // `_` arm, as they would for any other new value.
        #[non_exhaustive]
        pub enum #ident {
            #(
                #[doc = #variant_docs]
                #variant_idents,
            )*
            /// A value this version of the client does not know, as the server sent it. Parsing
            /// never puts a listed value here.
            #unknown(::std::string::String),
        }

        impl #ident {
            /// Every value the API description lists, in its order.
            pub const KNOWN: &'static [&'static str] = &[#(#wire),*];

            /// The value as it travels on the wire (for an unknown value, exactly as received).
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#variant_idents => #wire, )*
                    Self::#unknown(value) => value.as_str(),
                }
            }

            /// Whether this is a value the API description does not list.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::#unknown(_))
            }
        }

        impl ::std::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::From<&str> for #ident {
            fn from(value: &str) -> Self {
                match value {
                    #( #wire => Self::#variant_idents, )*
                    other => Self::#unknown(other.to_owned()),
                }
            }
        }

        impl ::std::convert::From<::std::string::String> for #ident {
            fn from(value: ::std::string::String) -> Self {
                match value.as_str() {
                    #( #wire => Self::#variant_idents, )*
                    _ => Self::#unknown(value),
                }
            }
        }

        impl ::std::str::FromStr for #ident {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl ::serde::Serialize for #ident {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #ident {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                ::std::string::String::deserialize(deserializer).map(Self::from)
            }
        }
    };
    syn::parse2(tokens).map_err(|e| format!("the open enum does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(schemas: Value, paths: Value) -> Value {
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": paths, "components": {"schemas": schemas}})
    }

    fn get(schema: &str) -> Value {
        json!({"get": {"operationId": "get", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}}}})
    }

    #[test]
    fn a_response_enum_is_open_and_a_request_enum_closed() {
        let mut doc = document(
            json!({
                "State": {"type": "string", "enum": ["a", "b"]},
                "Kind": {"type": "string", "enum": ["x"]},
                "Job": {"type": "object", "required": ["state"],
                    "x-required-because": {"state": "the waiter needs it"},
                    "properties": {"state": {"$ref": "#/components/schemas/State"},
                        "color": {"type": "string", "enum": ["red"]}}},
                "New": {"type": "object", "properties": {"kind": {"$ref": "#/components/schemas/Kind"}}}
            }),
            json!({"/job": {
                "get": get("Job")["get"],
                "post": {"operationId": "post", "requestBody": {"content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/New"}}}},
                    "responses": {"204": {"description": "ok"}}}}}),
        );
        prepare(&mut doc, &|_| PathBuf::from("t")).unwrap();
        let open = open_enums(&doc);
        let names: Vec<&str> = open.iter().map(|e| e.schema.as_str()).collect();
        assert_eq!(names, ["JobColor", "State"]);
        assert_eq!(
            doc.pointer("/components/schemas/Job/properties/color/$ref"),
            Some(&json!("#/components/schemas/JobColor"))
        );
        assert!(
            doc.pointer("/components/schemas/Kind/x-open-enum")
                .is_none()
        );
    }

    #[test]
    fn a_shared_schema_is_split_and_discriminators_stay_closed() {
        let mut doc = document(
            json!({
                "State": {"type": "string", "enum": ["a", "b"]},
                "Filter": {"type": "object", "properties": {"state": {"$ref": "#/components/schemas/State"}}},
                "Done": {"type": "object", "properties": {"status": {"type": "string", "enum": ["done"]}}},
                "Answer": {"oneOf": [{"$ref": "#/components/schemas/Done"},
                    {"$ref": "#/components/schemas/Filter"}],
                    "discriminator": {"propertyName": "status"}}
            }),
            json!({"/f": {
                "post": {"operationId": "post", "requestBody": {"content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/Filter"}}}},
                    "responses": {"200": {"description": "ok", "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/Answer"}}}}}}}}),
        );
        prepare(&mut doc, &|_| PathBuf::from("t")).unwrap();
        assert_eq!(
            doc.pointer("/components/schemas/Answer/oneOf/1/$ref"),
            Some(&json!("#/components/schemas/FilterReceived"))
        );
        assert_eq!(
            doc.pointer("/components/schemas/FilterReceived/properties/state/$ref"),
            Some(&json!("#/components/schemas/StateReceived"))
        );
        let names: Vec<String> = open_enums(&doc).into_iter().map(|e| e.schema).collect();
        assert_eq!(names, ["StateReceived"]);
        // The request side keeps the closed original; the discriminator stays inline and closed.
        assert_eq!(
            doc.pointer("/components/schemas/Filter/properties/state/$ref"),
            Some(&json!("#/components/schemas/State"))
        );
        assert!(
            doc.pointer("/components/schemas/Done/properties/status/enum")
                .is_some()
        );
    }

    #[test]
    fn required_members_of_responses_need_reasons() {
        let mut doc = document(
            json!({"Job": {"type": "object", "required": ["id", "size"],
                "x-required-because": {"id": "polling needs it", "gone": "?"},
                "properties": {"id": {"type": "string"}, "size": {"type": "integer"}}}}),
            json!({"/job": get("Job")}),
        );
        let err = prepare(&mut doc, &|_| PathBuf::from("t.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 problems"), "{err}");
        assert!(
            err.contains("t.yaml: /components/schemas/Job/required: `size` is required"),
            "{err}"
        );
        assert!(
            err.contains("/components/schemas/Job/x-required-because/gone: gives a reason"),
            "{err}"
        );
    }

    #[test]
    fn variant_names() {
        assert_eq!(variant_name("remove_background"), "RemoveBackground");
        assert_eq!(variant_name("in-progress"), "InProgress");
        assert_eq!(variant_name("RemoveBG"), "RemoveBg");
        assert_eq!(variant_name("1x"), "V1x");
    }
}

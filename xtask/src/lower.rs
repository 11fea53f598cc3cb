//! Lowering OpenAPI 3.1 to 3.0.3, the version progenitor accepts.
//!
//! Only what 3.0.3 can express is rewritten; anything it cannot is reported with its JSON pointer
//! (never dropped silently, never a panic). A 3.0.x document passes through unchanged.
//!
//! | 3.1                                   | 3.0.3                                          |
//! |---------------------------------------|------------------------------------------------|
//! | `type: [T, "null"]`                   | `type: T, nullable: true`                      |
//! | `type: [T, U]`                        | `anyOf: [{type: T}, {type: U}]`                |
//! | `oneOf/anyOf: [X, {type: "null"}]`    | X with `nullable: true`                        |
//! | `const: v`                            | `enum: [v]`                                    |
//! | `examples: [a, …]` (in a schema)      | `example: a`                                   |
//! | `contentMediaType` / `contentEncoding`| `format: binary` / `format: byte`              |
//! | `exclusiveMinimum: n` (a number)      | `minimum: n, exclusiveMinimum: true` (and max) |
//! | `$ref` beside constraints             | `allOf: [{$ref}]` beside them                  |
//! | `$schema`, `$id`, `$comment`          | removed                                        |
//! | `info.summary`, `license.identifier`  | removed                                        |

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::error::{Error, Located, Result};
use crate::spec::escape;

/// The version the lowered document declares.
pub const TARGET_VERSION: &str = "3.0.3";

/// Schema keywords of JSON Schema 2020-12 that OpenAPI 3.0.3 has no way to say.
const UNLOWERABLE: &[&str] = &[
    "prefixItems",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "unevaluatedProperties",
    "unevaluatedItems",
    "patternProperties",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "$defs",
    "$dynamicRef",
    "$dynamicAnchor",
    "$anchor",
];

/// Keywords that may sit beside a `$ref` and still mean "just that reference" in 3.0.
const REF_ANNOTATIONS: &[&str] = &[
    "description",
    "summary",
    "title",
    "default",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Lowers `document` in place. `origin` names the input file a pointer came from.
pub fn lower(document: &mut Value, origin: &dyn Fn(&str) -> PathBuf) -> Result<()> {
    let mut lowering = Lowering {
        problems: Vec::new(),
    };
    lowering.document(document);
    if lowering.problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Spec(
            lowering
                .problems
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

struct Lowering {
    problems: Vec<(String, String)>,
}

impl Lowering {
    fn problem(&mut self, pointer: &str, message: impl Into<String>) {
        self.problems.push((pointer.to_owned(), message.into()));
    }

    fn document(&mut self, document: &mut Value) {
        let Some(object) = document.as_object_mut() else {
            self.problem("", "an OpenAPI document must be an object");
            return;
        };
        match object.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0.") => return,
            Some(v) if v.starts_with("3.1.") => {}
            Some(v) => {
                self.problem(
                    "/openapi",
                    format!("OpenAPI version `{v}` is not supported; use 3.0.x or 3.1.x"),
                );
                return;
            }
            None => {
                self.problem("/openapi", "missing `openapi` version field");
                return;
            }
        }
        object.insert("openapi".into(), json!(TARGET_VERSION));
        object.remove("jsonSchemaDialect");
        if let Some(info) = object.get_mut("info").and_then(Value::as_object_mut) {
            info.remove("summary");
            if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
                license.remove("identifier");
            }
        }
        if object.contains_key("webhooks") {
            self.problem(
                "/webhooks",
                "top-level `webhooks` cannot be expressed in OpenAPI 3.0.3; describe webhook payloads as component schemas instead",
            );
        }
        if object
            .get("components")
            .and_then(|c| c.get("pathItems"))
            .is_some()
        {
            self.problem(
                "/components/pathItems",
                "`components.pathItems` cannot be expressed in OpenAPI 3.0.3; inline the path items",
            );
        }
        object.entry("paths").or_insert_with(|| json!({}));
        for (key, value) in object.iter_mut() {
            self.container(value, &format!("/{}", escape(key)));
        }
    }

    /// A part of the document that is not a schema: finds the schemas inside it.
    fn container(&mut self, node: &mut Value, pointer: &str) {
        match node {
            Value::Object(object) => {
                let is_component_schemas = pointer == "/components/schemas";
                for (key, value) in object.iter_mut() {
                    let child = format!("{pointer}/{}", escape(key));
                    if is_component_schemas || key == "schema" {
                        self.schema(value, &child);
                    } else {
                        self.container(value, &child);
                    }
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter_mut().enumerate() {
                    self.container(value, &format!("{pointer}/{i}"));
                }
            }
            _ => {}
        }
    }

    fn schema(&mut self, node: &mut Value, pointer: &str) {
        let schema = match node {
            // `true`/`false` schemas: 3.0 has no boolean schemas; `{}` and `{not: {}}` say the same.
            Value::Bool(true) => {
                *node = json!({});
                return;
            }
            Value::Bool(false) => {
                *node = json!({"not": {}});
                return;
            }
            Value::Object(schema) => schema,
            _ => {
                self.problem(pointer, "a schema must be an object");
                return;
            }
        };

        for keyword in UNLOWERABLE {
            if schema.contains_key(*keyword) {
                self.problem(
                    &format!("{pointer}/{}", escape(keyword)),
                    format!("`{keyword}` (JSON Schema 2020-12) cannot be lowered to OpenAPI 3.0.3"),
                );
            }
        }
        for keyword in ["$schema", "$id", "$comment"] {
            schema.remove(keyword);
        }

        // Children first, so a `{type: "null"}` member is already recognisable below.
        self.children(schema, pointer);

        if let Some(Value::Array(_)) = schema.get("items") {
            self.problem(
                &format!("{pointer}/items"),
                "tuple `items` (an array of schemas) cannot be expressed in OpenAPI 3.0.3",
            );
        }
        self.type_array(schema, pointer);
        if let Some(value) = schema.remove("const") {
            if schema.contains_key("enum") {
                self.problem(
                    &format!("{pointer}/const"),
                    "`const` beside `enum` cannot be lowered; keep one of them",
                );
            } else {
                schema.insert("enum".into(), Value::Array(vec![value]));
            }
        }
        if let Some(examples) = schema.remove("examples") {
            match examples {
                Value::Array(mut list) if !list.is_empty() => {
                    schema
                        .entry("example")
                        .or_insert_with(|| list.swap_remove(0));
                }
                Value::Array(_) => {}
                _ => self.problem(
                    &format!("{pointer}/examples"),
                    "`examples` in a schema must be an array",
                ),
            }
        }
        self.content_keywords(schema, pointer);
        for (exclusive, inclusive) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if let Some(bound) = schema.get(exclusive).filter(|v| v.is_number()).cloned() {
                if schema.contains_key(inclusive) {
                    self.problem(
                        &format!("{pointer}/{exclusive}"),
                        format!("numeric `{exclusive}` beside `{inclusive}` cannot be lowered; keep one bound"),
                    );
                } else {
                    schema.insert(inclusive.into(), bound);
                    schema.insert(exclusive.into(), Value::Bool(true));
                }
            }
        }
        self.null_members(schema);
        self.ref_siblings(schema);
    }

    fn children(&mut self, schema: &mut Map<String, Value>, pointer: &str) {
        for keyword in ["items", "not", "additionalProperties"] {
            if let Some(child) = schema.get_mut(keyword)
                && !child.is_array()
            {
                if keyword == "additionalProperties" && child.is_boolean() {
                    continue; // booleans are valid 3.0 here
                }
                self.schema(child, &format!("{pointer}/{keyword}"));
            }
        }
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            for (name, child) in properties.iter_mut() {
                self.schema(child, &format!("{pointer}/properties/{}", escape(name)));
            }
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(members)) = schema.get_mut(keyword) {
                for (i, child) in members.iter_mut().enumerate() {
                    self.schema(child, &format!("{pointer}/{keyword}/{i}"));
                }
            }
        }
    }

    fn type_array(&mut self, schema: &mut Map<String, Value>, pointer: &str) {
        let types = match schema.get("type") {
            Some(Value::Array(types)) => types.clone(),
            Some(Value::String(t)) if t == "null" => {
                // A schema that only allows null.
                schema.remove("type");
                schema.insert("nullable".into(), Value::Bool(true));
                schema.insert("enum".into(), json!([null]));
                return;
            }
            _ => return,
        };
        let mut names = Vec::new();
        for t in &types {
            match t.as_str() {
                Some(name) => names.push(name.to_owned()),
                None => {
                    self.problem(
                        &format!("{pointer}/type"),
                        "every entry of a `type` array must be a string",
                    );
                    return;
                }
            }
        }
        let nullable = names.iter().any(|n| n == "null");
        names.retain(|n| n != "null");
        schema.remove("type");
        if nullable {
            schema.insert("nullable".into(), Value::Bool(true));
        }
        match names.as_slice() {
            [] => {
                schema.insert("enum".into(), json!([null]));
            }
            [one] => {
                schema.insert("type".into(), json!(one));
            }
            several => {
                if schema.contains_key("anyOf") {
                    self.problem(
                        &format!("{pointer}/type"),
                        "a `type` array beside `anyOf` cannot be lowered",
                    );
                    return;
                }
                let members = several.iter().map(|t| json!({"type": t})).collect();
                schema.insert("anyOf".into(), Value::Array(members));
            }
        }
    }

    fn content_keywords(&mut self, schema: &mut Map<String, Value>, pointer: &str) {
        let media_type = schema.remove("contentMediaType");
        let encoding = schema.remove("contentEncoding");
        if media_type.is_none() && encoding.is_none() {
            return;
        }
        let format = match encoding.as_ref().and_then(Value::as_str) {
            None => "binary",
            Some("base64") => "byte",
            Some(other) => {
                self.problem(
                    &format!("{pointer}/contentEncoding"),
                    format!(
                        "`contentEncoding: {other}` has no OpenAPI 3.0.3 format; only base64 does"
                    ),
                );
                return;
            }
        };
        schema.entry("type").or_insert_with(|| json!("string"));
        schema.insert("format".into(), json!(format));
    }

    /// `oneOf`/`anyOf` with a null member: drop the member, mark the schema nullable.
    fn null_members(&mut self, schema: &mut Map<String, Value>) {
        for keyword in ["oneOf", "anyOf"] {
            let Some(Value::Array(members)) = schema.get_mut(keyword) else {
                continue;
            };
            let before = members.len();
            members.retain(|m| !is_null_only(m));
            if members.len() == before {
                continue;
            }
            schema.insert("nullable".into(), Value::Bool(true));
            let Some(Value::Array(members)) = schema.get(keyword) else {
                continue;
            };
            if members.len() == 1 {
                // One real member left: it becomes the schema (a `$ref` through `allOf`, since
                // 3.0 ignores `nullable` beside a `$ref`).
                let member = members[0].clone();
                schema.remove(keyword);
                match member {
                    Value::Object(m) if m.contains_key("$ref") => {
                        schema.insert("allOf".into(), Value::Array(vec![Value::Object(m)]));
                    }
                    Value::Object(m) => {
                        for (k, v) in m {
                            schema.entry(k).or_insert(v);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// 3.0 ignores everything beside a `$ref`; keep the reference's meaning with `allOf`.
    fn ref_siblings(&mut self, schema: &mut Map<String, Value>) {
        if !schema.contains_key("$ref") {
            return;
        }
        let only_annotations = schema
            .keys()
            .all(|k| k == "$ref" || REF_ANNOTATIONS.contains(&k.as_str()));
        if only_annotations {
            return;
        }
        let reference = schema.remove("$ref").expect("checked above");
        schema.insert("allOf".into(), json!([{"$ref": reference}]));
    }
}

/// `{type: "null"}` as lowered above: nullable, nothing but `null` allowed.
fn is_null_only(schema: &Value) -> bool {
    schema.get("enum") == Some(&json!([null])) && schema.get("type").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowered(schema: Value) -> Value {
        let mut doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "components": {"schemas": {"S": schema}}});
        lower(&mut doc, &|_| PathBuf::from("t.json")).unwrap();
        doc["components"]["schemas"]["S"].take()
    }

    #[test]
    fn each_rule() {
        assert_eq!(
            lowered(json!({"type": ["string", "null"]})),
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            lowered(json!({"type": ["string", "integer"]})),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(lowered(json!({"const": "x"})), json!({"enum": ["x"]}));
        assert_eq!(
            lowered(json!({"type": "integer", "examples": [3, 4]})),
            json!({"type": "integer", "example": 3})
        );
        assert_eq!(
            lowered(json!({"type": "string", "contentMediaType": "image/png"})),
            json!({"type": "string", "format": "binary"})
        );
        assert_eq!(
            lowered(json!({"contentEncoding": "base64"})),
            json!({"type": "string", "format": "byte"})
        );
        assert_eq!(
            lowered(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})),
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true})
        );
        assert_eq!(
            lowered(json!({"oneOf": [{"$ref": "#/components/schemas/S"}, {"type": "null"}]})),
            json!({"allOf": [{"$ref": "#/components/schemas/S"}], "nullable": true})
        );
        assert_eq!(
            lowered(json!({"$ref": "#/components/schemas/S", "description": "d"})),
            json!({"$ref": "#/components/schemas/S", "description": "d"})
        );
        assert_eq!(
            lowered(json!({"$ref": "#/components/schemas/S", "maxLength": 3})),
            json!({"allOf": [{"$ref": "#/components/schemas/S"}], "maxLength": 3})
        );
        assert_eq!(
            lowered(
                json!({"type": "object", "properties": {"a": {"type": ["integer", "null"], "$comment": "c"}}})
            ),
            json!({"type": "object", "properties": {"a": {"type": "integer", "nullable": true}}})
        );
    }

    #[test]
    fn unlowerable_constructs_are_reported_by_pointer() {
        let mut doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "webhooks": {},
            "components": {"schemas": {"S": {"type": "object", "properties": {
                "p": {"prefixItems": [{"type": "integer"}]},
                "q": {"type": "string", "contentEncoding": "base32"}}}}}});
        let err = lower(&mut doc, &|_| PathBuf::from("t.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 problems"), "{err}");
        assert!(
            err.contains("t.json: /webhooks: top-level `webhooks`"),
            "{err}"
        );
        assert!(
            err.contains("t.json: /components/schemas/S/properties/p/prefixItems: `prefixItems`"),
            "{err}"
        );
        assert!(
            err.contains("/components/schemas/S/properties/q/contentEncoding"),
            "{err}"
        );
    }

    #[test]
    fn media_type_examples_are_left_alone() {
        let mut doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok", "content": {
                "application/json": {"schema": {"type": ["object", "null"]},
                "examples": {"one": {"value": {}}}}}}}}}}});
        lower(&mut doc, &|_| PathBuf::from("t.json")).unwrap();
        let media = &doc["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"];
        assert_eq!(media["examples"], json!({"one": {"value": {}}}));
        assert_eq!(media["schema"], json!({"type": "object", "nullable": true}));
        assert_eq!(doc["openapi"], "3.0.3");
    }
}

//! `multipart/form-data` operations, which progenitor rejects ("unexpected content type").
//!
//! [`partition`] takes them out of the document handed to progenitor and describes each one;
//! [`generate`] then writes them in progenitor's builder style on the same `Client`: a
//! `builder::<Operation>` struct with one setter per file part (a path, streamed, or bytes), the
//! text fields through `body`/`body_map` on the form's typify type (whose free-form
//! `additionalProperties`, if any, become extra text parts), and a `send()` returning the same
//! `ResponseValue`/`Error` types and running the same client hooks as every other operation.
//!
//! The form's component schema is kept for typify, minus its binary properties, which become
//! file parts instead.

use heck::{ToPascalCase, ToSnakeCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::error::{Error, Located, Result};
use crate::spec::escape;

pub(crate) const MULTIPART: &str = "multipart/form-data";
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One multipart operation, as far as code generation needs it.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId` as written in the spec.
    pub operation_id: String,
    /// HTTP method, lower case.
    pub method: String,
    /// Path template (no parameters are supported yet).
    pub path: String,
    /// Doc text: summary and description.
    pub doc: String,
    /// The component schema of the form's text fields.
    pub form_schema: String,
    /// The file parts.
    pub files: Vec<FilePart>,
    /// Whether the form takes free-form string fields (`additionalProperties: {type: string}`).
    pub free_form: bool,
    /// The success status and the component schema of its JSON body (None: no body).
    pub success: (u16, Option<String>),
    /// Documented error statuses.
    pub error_statuses: Vec<u16>,
    /// The one component schema every error body uses (None: no error bodies).
    pub error_schema: Option<String>,
}

/// A binary property of the form.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The form field name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Whether the form requires it.
    pub required: bool,
    /// Content types the spec's `encoding` allows, if it says.
    pub content_types: Vec<String>,
}

/// Removes every multipart operation from `document`, strips the binary properties from their
/// form schemas, and describes the operations for [`generate`]. Problems are located in `file`.
pub fn partition(document: &mut Value, file: &std::path::Path) -> Result<Vec<Operation>> {
    let mut problems = Vec::new();
    let mut operations = Vec::new();
    let mut forms_to_strip = Vec::new();
    let paths: Vec<String> = document
        .get("paths")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for path in paths {
        for method in METHODS {
            let pointer = format!("/paths/{}/{method}", escape(&path));
            let Some(op) = document.pointer(&pointer) else {
                continue;
            };
            let Some(content) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            else {
                continue;
            };
            if !content.contains_key(MULTIPART) {
                continue;
            }
            match describe(document, op, &path, method, &pointer) {
                Ok(operation) => {
                    forms_to_strip.push(operation.form_schema.clone());
                    operations.push(operation);
                    if let Some(item) = document
                        .pointer_mut(&format!("/paths/{}", escape(&path)))
                        .and_then(Value::as_object_mut)
                    {
                        item.remove(*method);
                    }
                }
                Err((location, message)) => problems.push(Located {
                    file: file.to_path_buf(),
                    location,
                    message,
                }),
            }
        }
    }
    // Path items left with no operation would make progenitor generate nothing useful.
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        paths.retain(|_, item| {
            item.as_object()
                .is_some_and(|i| METHODS.iter().any(|m| i.contains_key(*m)))
        });
    }
    if !problems.is_empty() {
        return Err(Error::Spec(problems));
    }
    for name in forms_to_strip {
        strip_binary(document, &name);
    }
    Ok(operations)
}

fn describe(
    document: &Value,
    op: &Value,
    path: &str,
    method: &str,
    pointer: &str,
) -> std::result::Result<Operation, (String, String)> {
    let fail = |at: &str, message: &str| Err((format!("{pointer}{at}"), message.to_owned()));
    let Some(operation_id) = op.get("operationId").and_then(Value::as_str) else {
        return fail(
            "",
            "a multipart operation needs an `operationId` to name its builder",
        );
    };
    if op
        .get("parameters")
        .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()))
        || path.contains('{')
    {
        return fail(
            "/parameters",
            "parameters on multipart operations are not supported by the xtask yet",
        );
    }
    let content = &op["requestBody"]["content"];
    if content.as_object().is_some_and(|c| c.len() > 1) {
        return fail(
            "/requestBody/content",
            "a multipart operation must offer only `multipart/form-data`",
        );
    }
    let media = &content[MULTIPART];
    let Some(reference) = media.pointer("/schema/$ref").and_then(Value::as_str) else {
        return fail(
            &format!("/requestBody/content/{}/schema", escape(MULTIPART)),
            "the form schema must be a `$ref` to a component schema (its name names the form's type)",
        );
    };
    let form_schema = reference.rsplit('/').next().unwrap_or_default().to_owned();
    let Some(schema) = document.pointer(&reference[1..]) else {
        return fail("/requestBody", "the form schema does not resolve");
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let free_form = match schema.get("additionalProperties") {
        None | Some(Value::Bool(false)) => false,
        Some(extra) if extra.get("type").and_then(Value::as_str) == Some("string") => true,
        Some(_) => {
            return Err((
                format!("{}/additionalProperties", &reference[1..]),
                "a form's `additionalProperties` must be `{type: string}` (every text part is a string) or absent".to_owned(),
            ));
        }
    };
    let mut files = Vec::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if property.get("format").and_then(Value::as_str) != Some("binary") {
                continue;
            }
            let content_types = media
                .pointer(&format!("/encoding/{}/contentType", escape(name)))
                .and_then(Value::as_str)
                .map(|s| s.split(',').map(|t| t.trim().to_owned()).collect())
                .unwrap_or_default();
            files.push(FilePart {
                name: name.clone(),
                description: property
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                required: required.contains(&name.as_str()),
                content_types,
            });
        }
    }

    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut success = None;
    let mut error_statuses = Vec::new();
    let mut error_schemas = Vec::new();
    for (status, response) in &responses {
        let Ok(code) = status.parse::<u16>() else {
            return fail(
                &format!("/responses/{status}"),
                "only numeric response codes are supported on multipart operations",
            );
        };
        let response = resolve(document, response);
        let schema = response
            .pointer("/content/application~1json/schema/$ref")
            .and_then(Value::as_str)
            .map(|r| r.rsplit('/').next().unwrap_or_default().to_owned());
        if response
            .get("content")
            .is_some_and(|c| c.as_object().is_some_and(|c| !c.is_empty()))
            && schema.is_none()
        {
            return fail(
                &format!("/responses/{status}"),
                "response bodies of multipart operations must be a JSON `$ref` to a component schema",
            );
        }
        if (200..300).contains(&code) {
            if success.is_some() {
                return fail(
                    "/responses",
                    "a multipart operation may document only one success response",
                );
            }
            success = Some((code, schema));
        } else {
            error_statuses.push(code);
            if let Some(schema) = schema
                && !error_schemas.contains(&schema)
            {
                error_schemas.push(schema);
            }
        }
    }
    let Some(success) = success else {
        return fail(
            "/responses",
            "a multipart operation must document a 2xx response",
        );
    };
    if error_schemas.len() > 1 {
        return fail(
            "/responses",
            "the error responses use several schemas; give them one named error schema",
        );
    }
    let doc = [op.get("summary"), op.get("description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n\n");
    Ok(Operation {
        operation_id: operation_id.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        doc,
        form_schema,
        files,
        free_form,
        success,
        error_statuses,
        error_schema: error_schemas.pop(),
    })
}

fn resolve<'a>(document: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with('#') => document.pointer(&r[1..]).unwrap_or(node),
        _ => node,
    }
}

fn strip_binary(document: &mut Value, schema_name: &str) {
    let pointer = format!("/components/schemas/{}", escape(schema_name));
    let Some(schema) = document
        .pointer_mut(&pointer)
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut removed = Vec::new();
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.retain(|name, property| {
            let binary = property.get("format").and_then(Value::as_str) == Some("binary");
            if binary {
                removed.push(name.clone());
            }
            !binary
        });
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r.as_str().is_none_or(|r| !removed.iter().any(|n| n == r)));
    }
    let note = format!(
        "\n\nThe text fields of the `multipart/form-data` form; the file part(s) {} are set on the operation's builder.",
        removed
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let description = schema
        .entry("description")
        .or_insert(Value::String(String::new()));
    if let Value::String(text) = description {
        text.push_str(&note);
        *text = text.trim().to_owned();
    }
}

/// Rust type name typify gives a component schema.
pub fn type_name(schema: &str) -> String {
    sanitize(schema).to_pascal_case()
}

fn method_name(operation_id: &str) -> String {
    sanitize(operation_id).to_snake_case()
}

fn sanitize(input: &str) -> String {
    input
        .replace('\'', "")
        .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-")
}

/// The builder methods (`impl Client`) and builder structs (`mod builder`) of the operations.
pub fn generate(operations: &[Operation]) -> (TokenStream, TokenStream) {
    let mut client_methods = TokenStream::new();
    let mut builders = TokenStream::new();
    for op in operations {
        let (method, builder) = operation(op);
        client_methods.extend(method);
        builders.extend(builder);
    }
    (client_methods, builders)
}

fn operation(op: &Operation) -> (TokenStream, TokenStream) {
    let method_ident = format_ident!("{}", method_name(&op.operation_id));
    let snake = method_name(&op.operation_id);
    let struct_ident = format_ident!("{}", snake.to_pascal_case());
    let form_type = format_ident!("{}", type_name(&op.form_schema));
    let http_method = format_ident!("{}", op.method);
    let path = &op.path;

    let success_type = match &op.success.1 {
        Some(schema) => {
            let t = format_ident!("{}", type_name(schema));
            quote! { types::#t }
        }
        None => quote! { () },
    };
    let error_type = match &op.error_schema {
        Some(schema) => {
            let t = format_ident!("{}", type_name(schema));
            quote! { types::#t }
        }
        None => quote! { () },
    };

    let file_fields: Vec<_> = op
        .files
        .iter()
        .map(|f| format_ident!("{}", f.name.to_snake_case()))
        .collect();
    let file_names: Vec<_> = op.files.iter().map(|f| f.name.as_str()).collect();
    let mut file_setters = TokenStream::new();
    let mut file_checks = TokenStream::new();
    for (file, field) in op.files.iter().zip(&file_fields) {
        let path_setter = format_ident!("{}_path", field);
        let bytes_setter = format_ident!("{}_bytes", field);
        let mut doc = format!("Sets the `{}` file part.", file.name);
        if !file.description.is_empty() {
            doc.push_str("\n\n");
            doc.push_str(&file.description);
        }
        if !file.content_types.is_empty() {
            doc.push_str(&format!(
                "\n\nAccepted content types: {}.",
                file.content_types.join(", ")
            ));
        }
        let path_doc = format!(
            "Sends the file at `path` as the `{}` part, streamed from disk when the request is sent. \
             The part's file name is the path's last component; its content type is guessed from the extension.",
            file.name
        );
        let bytes_doc = format!(
            "Sends `bytes` as the `{}` part, under `file_name` (which also sets the content type guess).",
            file.name
        );
        file_setters.extend(quote! {
            #[doc = #doc]
            pub fn #field<V>(mut self, value: V) -> Self
            where
                V: std::convert::Into<cutout_runtime::multipart::FilePart>,
            {
                self.#field = Some(value.into());
                self
            }

            #[doc = #path_doc]
            pub fn #path_setter<P>(self, path: P) -> Self
            where
                P: std::convert::Into<std::path::PathBuf>,
            {
                self.#field(cutout_runtime::multipart::FilePart::path(path))
            }

            #[doc = #bytes_doc]
            pub fn #bytes_setter<B, N>(self, bytes: B, file_name: N) -> Self
            where
                B: std::convert::Into<bytes::Bytes>,
                N: std::convert::Into<String>,
            {
                self.#field(cutout_runtime::multipart::FilePart::bytes(bytes, file_name))
            }
        });
        if file.required {
            let message = format!("the `{}` file part is required", file.name);
            file_checks.extend(quote! {
                if #field.is_none() {
                    return Err(Error::InvalidRequest(#message.to_string()));
                }
            });
        }
    }

    let mut arms = TokenStream::new();
    let success_code = op.success.0;
    arms.extend(if op.success.1.is_some() {
        quote! { #success_code => ResponseValue::from_response(response).await, }
    } else {
        quote! { #success_code => Ok(ResponseValue::empty(response)), }
    });
    for code in &op.error_statuses {
        arms.extend(if op.error_schema.is_some() {
            quote! { #code => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)), }
        } else {
            quote! { #code => Err(Error::ErrorResponse(ResponseValue::empty(response))), }
        });
    }

    // typify's builder treats the flattened `extra` map as unset (an error) by default.
    let body_default = if op.free_form {
        quote! { types::builder::#form_type::default().extra(::std::collections::HashMap::<String, String>::new()) }
    } else {
        quote! { ::std::default::Default::default() }
    };
    let extra_setter = op.free_form.then(|| {
        quote! {
            /// Adds a free-form text field (a setting without a typed field), sent as its own part
            /// after the typed fields. Fields set through `body`'s `extra` map are sent too.
            pub fn extra_field<N, V>(mut self, name: N, value: V) -> Self
            where
                N: std::convert::Into<String>,
                V: std::convert::Into<String>,
            {
                self.extra_fields.push((name.into(), value.into()));
                self
            }
        }
    });
    let (extra_field_decl, extra_field_init, extra_field_name, extra_field_send) = if op.free_form {
        (
            quote! { extra_fields: Vec<(String, String)>, },
            quote! { extra_fields: Vec::new(), },
            quote! { extra_fields, },
            quote! {
                for (name, value) in extra_fields {
                    form = form.text(name, value);
                }
            },
        )
    } else {
        Default::default()
    };
    let operation_id = snake.as_str();
    let client_doc = format!(
        "{}\n\nSends a `{}` request to `{}` as `multipart/form-data`.\n\n```ignore\nlet response = client.{}()\n{}    .body_map(|form| form)\n    .send()\n    .await;\n```",
        op.doc,
        op.method.to_uppercase(),
        op.path,
        snake,
        op.files
            .iter()
            .map(|f| format!("    .{}_path(\"input.jpg\")\n", f.name.to_snake_case()))
            .collect::<String>(),
    );
    let builder_doc =
        format!("Builder for [`Client::{snake}`]\n\n[`Client::{snake}`]: super::Client::{snake}");
    let send_doc = format!(
        "Sends a `{}` request to `{}`",
        op.method.to_uppercase(),
        op.path
    );
    let form_conversion_error = format!(
        "conversion to `{}` for body failed: {{}}",
        type_name(&op.form_schema)
    );

    let client_method = quote! {
        #[doc = #client_doc]
        pub fn #method_ident(&self) -> builder::#struct_ident<'_> {
            builder::#struct_ident::new(self)
        }
    };
    let builder = quote! {
        #[doc = #builder_doc]
        #[derive(Debug, Clone)]
        pub struct #struct_ident<'a> {
            client: &'a super::Client,
            #( #file_fields: Option<cutout_runtime::multipart::FilePart>, )*
            body: Result<types::builder::#form_type, String>,
            #extra_field_decl
        }

        impl<'a> #struct_ident<'a> {
            pub fn new(client: &'a super::Client) -> Self {
                Self {
                    client,
                    #( #file_fields: None, )*
                    body: Ok(#body_default),
                    #extra_field_init
                }
            }

            #file_setters

            #extra_setter

            /// Sets the form's text fields from a complete value.
            pub fn body<V>(mut self, value: V) -> Self
            where
                V: std::convert::TryInto<types::#form_type>,
                <V as std::convert::TryInto<types::#form_type>>::Error: std::fmt::Display,
            {
                self.body = value
                    .try_into()
                    .map(From::from)
                    .map_err(|s| format!(#form_conversion_error, s));
                self
            }

            /// Edits the form's text fields through their builder.
            pub fn body_map<F>(mut self, f: F) -> Self
            where
                F: std::ops::FnOnce(types::builder::#form_type) -> types::builder::#form_type,
            {
                self.body = self.body.map(f);
                self
            }

            #[doc = #send_doc]
            pub async fn send(self) -> Result<ResponseValue<#success_type>, Error<#error_type>> {
                let Self { client, #( #file_fields, )* body, #extra_field_name } = self;
                let body = body
                    .and_then(|v| types::#form_type::try_from(v).map_err(|e| e.to_string()))
                    .map_err(Error::InvalidRequest)?;
                #file_checks
                let mut form = cutout_runtime::multipart::Form::new()
                    .text_fields(&body)
                    .map_err(Error::InvalidRequest)?;
                #extra_field_send
                #(
                    if let Some(part) = #file_fields {
                        form = form.file(#file_names, part);
                    }
                )*
                let url = format!("{}{}", client.baseurl, #path);
                let info = OperationInfo { operation_id: #operation_id };
                let (form, url, info) = (&form, &url, &info);
                // Files are re-opened for every attempt rather than held in memory.
                let result = client
                    .inner
                    .execute_rebuilding(&client.baseurl, #operation_id, || async move {
                        let mut request = client
                            .client
                            .#http_method(url.as_str())
                            .header(
                                ::reqwest::header::ACCEPT,
                                ::reqwest::header::HeaderValue::from_static("application/json"),
                            )
                            .multipart(form.build().await.map_err(Error::InvalidRequest)?)
                            .build()?;
                        client.pre(&mut request, info).await?;
                        Ok::<_, Error<#error_type>>(request)
                    })
                    .await?;
                client.post(&result, info).await?;
                let response = result?;
                match response.status().as_u16() {
                    #arms
                    _ => Err(Error::UnexpectedResponse(response)),
                }
            }
        }
    };
    (client_method, builder)
}

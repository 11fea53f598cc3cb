//! One provider, from spec files to the text of its generated files (nothing is written here).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, Capabilities, Format, Output as Makes, Provider};
use crate::error::{Error, Located, Result};
use crate::{lower, multipart, spec, tolerant};

/// What generation produced for one provider: file contents keyed by path (relative to root).
#[derive(Debug)]
pub struct Output {
    /// Provider name.
    pub provider: String,
    /// `(path, content)` pairs.
    pub files: Vec<(PathBuf, String)>,
}

/// File names inside a provider crate.
pub const GENERATED_RS: &str = "src/generated.rs";
/// The patched and lowered spec, written next to the code it produced.
pub const EFFECTIVE_SPEC: &str = "openapi.effective.json";
/// The typed httpmock helpers, compiled behind each crate's `mock` feature.
pub const GENERATED_MOCK_RS: &str = "src/generated_mock.rs";

/// Builds the effective (patched, lowered) spec of `provider`.
pub fn effective_spec(root: &Path, provider: &Provider) -> Result<Value> {
    effective_spec_from(root, provider, spec::load(root, &provider.spec)?)
}

/// [`effective_spec`] from an upstream document already in memory (`cargo xtask spec update`
/// checks a new document this way before writing anything).
pub fn effective_spec_from(
    root: &Path,
    provider: &Provider,
    upstream: spec::Document,
) -> Result<Value> {
    let patch = provider
        .patch
        .as_ref()
        .map(|p| spec::load(root, p))
        .transpose()?;
    let mut document = upstream.value.clone();
    if let Some(patch) = &patch {
        spec::merge_patch(&mut document, &patch.value);
    }
    // A problem's pointer names the patch when the patch wrote that place, else the upstream file.
    let origin = |pointer: &str| -> PathBuf {
        match &patch {
            Some(p) if patch_touches(&p.value, pointer) => p.file.clone(),
            _ => upstream.file.clone(),
        }
    };
    spec::check_refs(&document, &origin)?;
    lower::lower(&mut document, &origin)?;
    tolerant::prepare(&mut document, &origin)?;
    // Whatever progenitor will choke on structurally, say it here with a pointer.
    let text = serde_json::to_string(&document).expect("a JSON value serializes");
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    if let Err(e) = serde_path_to_error::deserialize::<_, openapiv3::OpenAPI>(&mut deserializer) {
        let pointer = path_to_pointer(&e.path().to_string());
        return Err(Error::Spec(vec![Located {
            file: origin(&pointer),
            location: pointer,
            message: format!(
                "not a valid OpenAPI 3.0 document after lowering: {}",
                e.inner()
            ),
        }]));
    }
    Ok(document)
}

fn patch_touches(patch: &Value, pointer: &str) -> bool {
    // The deepest prefix of the pointer present in the patch, if it is a leaf or the full path.
    let mut node = patch;
    for segment in pointer.split('/').skip(1) {
        let segment = spec::unescape(segment);
        match node {
            Value::Object(map) => match map.get(&segment) {
                Some(child) => node = child,
                None => return false,
            },
            Value::Array(items) => match segment.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(child) => node = child,
                None => return false,
            },
            _ => return true,
        }
    }
    true
}

/// serde_path_to_error's `a.b[0].c` to a JSON pointer `/a/b/0/c`.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut pointer = String::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(open) = rest.find('[') {
            if open > 0 {
                pointer.push('/');
                pointer.push_str(&spec::escape(&rest[..open]));
            }
            let close = rest[open..].find(']').map_or(rest.len(), |c| open + c);
            pointer.push('/');
            pointer.push_str(&rest[open + 1..close]);
            rest = &rest[(close + 1).min(rest.len())..];
        }
        if !rest.is_empty() {
            pointer.push('/');
            pointer.push_str(&spec::escape(rest));
        }
    }
    pointer
}

/// Every operation named in `submissions` must exist, or a typo would silently make a paid
/// operation retryable.
fn check_submissions(provider: &Provider, document: &Value) -> Result<()> {
    use heck::ToSnakeCase;
    let known: Vec<String> = document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .map(|id| id.to_snake_case())
        .collect();
    for name in &provider.submissions {
        if !known.contains(name) {
            return Err(Error::Config {
                path: PathBuf::from(crate::config::CONFIG_PATH),
                message: format!(
                    "providers.{}.submissions names `{name}`, which is not an operation of the spec (known: {})",
                    provider.name,
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Generates the files of one provider.
pub fn generate(root: &Path, provider: &Provider) -> Result<Output> {
    generate_from(root, provider, spec::load(root, &provider.spec)?)
}

/// [`generate`] from an upstream document already in memory.
pub fn generate_from(root: &Path, provider: &Provider, upstream: spec::Document) -> Result<Output> {
    let effective = effective_spec_from(root, provider, upstream)?;
    check_submissions(provider, &effective)?;
    let effective_text =
        serde_json::to_string_pretty(&effective).expect("a JSON value serializes") + "\n";
    let hash = hex(&Sha256::digest(effective_text.as_bytes()));

    let mut for_progenitor = effective.clone();
    let effective_path = provider.crate_dir.join(EFFECTIVE_SPEC);
    let operations = multipart::partition(&mut for_progenitor, &effective_path)?;

    let (mut file, type_names) = run_progenitor(&provider.name, &for_progenitor)?;
    for op in &operations {
        for schema in std::iter::once(&op.form_schema)
            .chain(op.success.1.iter())
            .chain(op.error_schema.iter())
        {
            let name = multipart::type_name(schema);
            if !type_names.contains(&name) {
                return Err(Error::Generator {
                    provider: provider.name.clone(),
                    operation: Some(op.operation_id.clone()),
                    message: format!(
                        "expected the generator to name schema `{schema}` as `{name}`, but it has no such type"
                    ),
                });
            }
        }
    }
    // Enums read from responses become open (see `tolerant`); typify's closed ones are replaced.
    tolerant::rewrite(
        &mut file,
        &tolerant::open_enums(&effective),
        &multipart::type_name,
    )
    .map_err(|message| Error::Generator {
        provider: provider.name.clone(),
        operation: None,
        message,
    })?;
    // Optional members of what is read are lenient in type too (see `tolerant`).
    tolerant::lenient_members(
        &mut file,
        &tolerant::request_only_types(&effective, &multipart::type_name),
    );
    // Requests carry no header the provider does not document (see `requests`).
    crate::requests::drop_api_version(&mut file).map_err(|message| Error::Generator {
        provider: provider.name.clone(),
        operation: None,
        message,
    })?;
    let (client_methods, builders) = multipart::generate(&operations);
    merge_into(&mut file, client_methods, builders);
    // Every operation's URL is built from the parsed base URL, its path parameters and answers
    // without intermediate copies, a request of headers only without reqwest's builder, and
    // the request in a block that ends once it is sent (see `requests`).
    crate::requests::urls_from_parsed_base(&mut file)
        .and_then(|_| crate::requests::lighter_calls(&mut file))
        .and_then(|_| crate::requests::plain_requests(&mut file))
        .and_then(|_| crate::requests::scoped_requests(&mut file))
        .map_err(|message| Error::Generator {
            provider: provider.name.clone(),
            operation: None,
            message,
        })?;
    // No generated `Debug` prints a presigned link or a password (see `redact`).
    crate::redact::redacting_debug(&mut file).map_err(|message| Error::Generator {
        provider: provider.name.clone(),
        operation: None,
        message,
    })?;
    // Additive spec changes must not break user code (see `attributes`).
    crate::attributes::non_exhaustive(&mut file).map_err(|message| Error::Generator {
        provider: provider.name.clone(),
        operation: None,
        message,
    })?;
    let prelude = provider_items(provider);
    let prelude: syn::File = syn::parse2(prelude).expect("the xtask's own tokens parse");
    file.items.splice(0..0, prelude.items);
    // The provider crates warn on missing docs; what progenitor writes is documented by the spec.
    file.attrs.push(syn::parse_quote!(#![allow(missing_docs)]));

    let header = format!(
        "// @generated by `cargo xtask codegen {name}`. Do not edit by hand: change the spec and regenerate.\n\
         // Spec: {spec}{patch}\n\
         // Effective spec: {effective} (sha256 {hash})\n\n",
        name = provider.name,
        spec = provider.spec.display(),
        patch = provider
            .patch
            .as_ref()
            .map(|p| format!(" + merge patch {}", p.display()))
            .unwrap_or_default(),
        effective = effective_path.display(),
    );
    let code = header.clone() + &prettyplease::unparse(&file);
    let mock = header + &prettyplease::unparse(&mock_file(&provider.name, &effective)?);

    Ok(Output {
        provider: provider.name.clone(),
        files: vec![
            (provider.crate_dir.join(GENERATED_RS), code),
            (provider.crate_dir.join(GENERATED_MOCK_RS), mock),
            (effective_path, effective_text),
        ],
    })
}

/// progenitor's httpmock helpers (`MockServerExt` with a typed `When`/`Then` per operation).
/// Multipart operations are given to it without their request body, so they get helpers that
/// match method and path, and typed responses, like every other operation.
fn mock_file(provider: &str, effective: &Value) -> Result<syn::File> {
    let mut document = effective.clone();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                let multipart = operation
                    .get("requestBody")
                    .and_then(|body| body.pointer("/content"))
                    .and_then(Value::as_object)
                    .is_some_and(|content| content.contains_key(multipart::MULTIPART));
                if multipart {
                    operation.remove("requestBody");
                }
            }
        }
    }
    let generated = (|| {
        let spec: openapiv3::OpenAPI =
            serde_json::from_value(document).map_err(|e| e.to_string())?;
        let mut generator = progenitor::Generator::new(&generation_settings());
        let tokens = quietly(|| generator.httpmock(&spec, "crate"))?.map_err(|e| e.to_string())?;
        let tokens = quote! {
            //! Typed [httpmock](https://docs.rs/httpmock) helpers for this crate's operations
            //! (feature `mock`): `server.post_matting(|when, then| { then.ok(&value); })`.
            #![allow(missing_debug_implementations, missing_docs, clippy::all)]
            #tokens
        };
        syn::parse2::<syn::File>(tokens)
            .map_err(|e| format!("the mock generator produced code that does not parse: {e}"))
    })();
    generated.map_err(|message| Error::Generator {
        provider: provider.to_owned(),
        operation: None,
        message: format!("httpmock helpers: {message}"),
    })
}

/// Items every generated crate starts with: what the runtime needs to know about the provider,
/// the constructors, and the hooks through which every request is authenticated and retried.
fn provider_items(provider: &Provider) -> TokenStream {
    let base_url = &provider.base_url;
    let auth = match &provider.auth {
        AuthConfig::Header { header, prefix } => {
            let prefix = match prefix {
                Some(p) => quote! { Some(#p) },
                None => quote! { None },
            };
            quote! { cutout_runtime::AuthScheme::Header { name: #header, prefix: #prefix } }
        }
        AuthConfig::BodyField { body_field } => {
            quote! { cutout_runtime::AuthScheme::BodyField { field: #body_field } }
        }
    };
    let auth_doc = match &provider.auth {
        AuthConfig::Header {
            header,
            prefix: Some(p),
        } => format!("The API takes its key in the `{header}: {p} <key>` header."),
        AuthConfig::Header {
            header,
            prefix: None,
        } => format!("The API takes its key in the `{header}` header."),
        AuthConfig::BodyField { body_field } => {
            format!("The API takes its key in the `{body_field}` field of every JSON body.")
        }
    };
    let short_name = &provider.short_name;
    let key_env = &provider.key_env;
    let base_url_env = &provider.base_url_env;
    let submissions = &provider.submissions;
    let max_concurrent_jobs = match provider.max_concurrent_jobs {
        Some(n) => quote! { Some(#n) },
        None => quote! { None },
    };
    let capabilities = capability_tokens(&provider.capabilities);
    let from_env_doc = format!(
        " A client configured from the environment: the key from `{key_env}`, the base URL from \n `{base_url_env}` when set (otherwise [`DEFAULT_BASE_URL`])."
    );
    let provider_doc = format!(" What the shared runtime knows about this API. {auth_doc}");
    quote! {
        /// The production base URL of the API.
        pub const DEFAULT_BASE_URL: &str = #base_url;

        #[doc = #provider_doc]
        pub static PROVIDER: cutout_runtime::ProviderInfo = cutout_runtime::ProviderInfo {
            name: #short_name,
            key_env: #key_env,
            base_url_env: #base_url_env,
            default_base_url: DEFAULT_BASE_URL,
            auth: #auth,
            submissions: &[#( #submissions ),*],
            max_concurrent_jobs: #max_concurrent_jobs,
            capabilities: #capabilities,
        };

        impl cutout_runtime::FromParts for Client {
            const PROVIDER: &'static cutout_runtime::ProviderInfo = &PROVIDER;
            fn from_parts(base_url: &str, http: reqwest::Client, context: cutout_runtime::Context) -> Self {
                Self::new_with_client(base_url, http, context)
            }
        }

        impl Client {
            /// A builder for the key, base URL, retry policy, timeouts and HTTP client.
            pub fn builder() -> cutout_runtime::ClientBuilder<Self> {
                cutout_runtime::ClientBuilder::new()
            }

            #[doc = #from_env_doc]
            pub fn from_env() -> Result<Self, cutout_runtime::Error> {
                Self::builder().from_env().build()
            }

            /// A client for the production API ([`DEFAULT_BASE_URL`]), authenticating with `key`.
            pub fn with_key(key: impl Into<cutout_runtime::ApiKey>) -> Result<Self, cutout_runtime::Error> {
                Self::builder().key(key).build()
            }

            /// A client for another deployment of the API (a proxy, or a local simulator).
            /// `http://` is refused unless the host is loopback.
            pub fn with_base_url(base_url: &str, key: impl Into<cutout_runtime::ApiKey>) -> Result<Self, cutout_runtime::Error> {
                Self::builder().base_url(base_url).key(key).build()
            }

            /// The runtime state: provider, retry policy, timeouts.
            pub fn context(&self) -> &cutout_runtime::Context {
                &self.inner
            }
        }

        /// Every operation, generated or hand-written, is authenticated (only towards the
        /// client's own base URL), retried and traced here. (Plain functions returning futures
        /// rather than `async fn`s: an `async` layer would only move the request and the
        /// runtime's future into one more state machine on every call.)
        impl ClientHooks<cutout_runtime::Context> for Client {
            #[allow(refining_impl_trait)]
            fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                _info: &OperationInfo,
            ) -> std::future::Ready<Result<(), Error<E>>> {
                std::future::ready(
                    self.inner
                        .authorize(&self.baseurl, request)
                        .map_err(Error::InvalidRequest),
                )
            }

            #[allow(refining_impl_trait)]
            fn exec(
                &self,
                request: reqwest::Request,
                info: &OperationInfo,
            ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send {
                self.inner.execute(&self.baseurl, request, info.operation_id)
            }
        }
    }
}

/// `cutout_runtime::Capabilities { .. }` from the `capabilities` table; a limit the table leaves
/// out (undocumented) becomes `None`.
fn capability_tokens(capabilities: &Capabilities) -> TokenStream {
    let outputs = capabilities.outputs.iter().map(|output| match output {
        Makes::Cutout => quote! { cutout_runtime::CutoutKind::Rgba },
        Makes::Mask => quote! { cutout_runtime::CutoutKind::Mask },
    });
    let formats = capabilities
        .input_formats
        .iter()
        .map(|format| match format {
            Format::Jpeg => quote! { cutout_runtime::ImageFormat::Jpeg },
            Format::Png => quote! { cutout_runtime::ImageFormat::Png },
            Format::Webp => quote! { cutout_runtime::ImageFormat::Webp },
            Format::Tiff => quote! { cutout_runtime::ImageFormat::Tiff },
            Format::Gif => quote! { cutout_runtime::ImageFormat::Gif },
            Format::Bmp => quote! { cutout_runtime::ImageFormat::Bmp },
        });
    fn option<T: quote::ToTokens>(value: Option<T>) -> TokenStream {
        match value {
            Some(value) => quote! { Some(#value) },
            None => quote! { None },
        }
    }
    let local_files = capabilities.local_files;
    let max_upload_bytes = option(capabilities.max_upload_bytes);
    let max_side = option(capabilities.max_side);
    let max_pixels = option(capabilities.max_pixels);
    quote! {
        cutout_runtime::Capabilities {
            outputs: &[#( #outputs ),*],
            accepts_local_files: #local_files,
            input_formats: &[#( #formats ),*],
            max_upload_bytes: #max_upload_bytes,
            max_side: #max_side,
            max_pixels: #max_pixels,
        }
    }
}

/// Runs progenitor, turning its errors and panics into a message naming the operation.
fn run_progenitor(provider: &str, document: &Value) -> Result<(syn::File, Vec<String>)> {
    match progenitor_tokens(document) {
        Ok(found) => Ok(found),
        Err(message) => {
            // Narrow the failure down to one operation by generating each alone.
            let operation = find_failing_operation(document);
            Err(Error::Generator {
                provider: provider.to_owned(),
                operation,
                message,
            })
        }
    }
}

fn progenitor_tokens(document: &Value) -> std::result::Result<(syn::File, Vec<String>), String> {
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(document.clone()).map_err(|e| e.to_string())?;
    let mut generator = progenitor::Generator::new(&generation_settings());
    let tokens = quietly(|| generator.generate_tokens(&spec))?.map_err(|e| e.to_string())?;
    let names = generator
        .get_type_space()
        .iter_types()
        .map(|t| t.name())
        .collect();
    let file = syn::parse2::<syn::File>(tokens)
        .map_err(|e| format!("the generator produced code that does not parse: {e}"))?;
    Ok((file, names))
}

/// The progenitor settings every provider is generated with.
fn generation_settings() -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::new();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_inner_type(quote! { cutout_runtime::Context })
        .with_hooks(progenitor::HooksMode::Expected)
        .with_derive("PartialEq");
    settings
}

thread_local! {
    /// Set while this thread runs [`quietly`]: its panics are reported, not printed.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into its message without printing a backtrace. The panic hook is
/// replaced once, by one that stays silent only on a thread inside `quietly` (the hook is
/// process-wide: swapping it per call would race with other threads, e.g. parallel tests).
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|quiet| quiet.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was));
    result.map_err(|payload| {
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".to_owned());
        // Panic texts may carry a multi-line dump of the offending value; the first line says it.
        let first_line = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches(|c: char| c == '{' || c.is_whitespace() || c == ':');
        format!("the generator panicked: {first_line}")
    })
}

fn find_failing_operation(document: &Value) -> Option<String> {
    let paths = document.get("paths")?.as_object()?;
    for (path, item) in paths {
        for (method, op) in item.as_object()? {
            if !op.is_object() || method == "parameters" {
                continue;
            }
            let mut single = document.clone();
            let mut only = serde_json::Map::new();
            let mut only_item = serde_json::Map::new();
            if let Some(params) = item.get("parameters") {
                only_item.insert("parameters".into(), params.clone());
            }
            only_item.insert(method.clone(), op.clone());
            only.insert(path.clone(), Value::Object(only_item));
            single["paths"] = Value::Object(only);
            if progenitor_tokens(&single).is_err() {
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or("(no operationId)");
                return Some(format!("{id} ({} {path})", method.to_uppercase()));
            }
        }
    }
    None
}

/// Adds the multipart operations to progenitor's `impl Client` and `mod builder`.
fn merge_into(file: &mut syn::File, client_methods: TokenStream, builders: TokenStream) {
    if client_methods.is_empty() {
        return;
    }
    let methods: syn::ItemImpl = syn::parse2(quote! { impl Client { #client_methods } })
        .expect("the xtask's own tokens parse");
    let builders: syn::File = syn::parse2(builders).expect("the xtask's own tokens parse");
    let mut placed_methods = false;
    let mut placed_builders = false;
    for item in &mut file.items {
        match item {
            syn::Item::Impl(imp)
                if imp.trait_.is_none() && is_client(&imp.self_ty) && !placed_methods =>
            {
                imp.items.extend(methods.items.clone());
                placed_methods = true;
            }
            syn::Item::Mod(m) if m.ident == "builder" => {
                if let Some((_, items)) = &mut m.content {
                    items.extend(builders.items.clone());
                    placed_builders = true;
                }
            }
            _ => {}
        }
    }
    // A spec whose only operations are multipart leaves progenitor nothing to put them beside.
    if !placed_methods {
        file.items.push(syn::Item::Impl(methods));
    }
    if !placed_builders {
        let module: syn::ItemMod = syn::parse2(quote! {
            /// Types for composing operation parameters.
            #[allow(clippy::all)]
            pub mod builder {
                use super::types;
                #[allow(unused_imports)]
                use super::{ClientHooks, Error, OperationInfo, ResponseValue};
            }
        })
        .expect("the xtask's own tokens parse");
        let mut module = module;
        if let Some((_, items)) = &mut module.content {
            items.extend(builders.items);
        }
        file.items.push(syn::Item::Mod(module));
    }
}

fn is_client(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident("Client"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(
            path_to_pointer("paths./a/b.get.responses"),
            "/paths/~1a~1b/get/responses"
        );
        assert_eq!(path_to_pointer("servers[0].url"), "/servers/0/url");
        assert_eq!(path_to_pointer("."), "");
    }
}

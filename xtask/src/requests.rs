//! How the generated operations build their requests, where progenitor's way is changed.
//!
//! - **No `api-version` header.** progenitor stamps every request with `api-version: <the
//!   spec's info.version>`. None of our providers documents that header, and requests stay
//!   exactly as documented, so it is taken out of every operation here, once, rather than
//!   stripped from each request at run time. Codegen fails if the header is still mentioned
//!   afterwards (a progenitor upgrade that writes it another way); the wire tests check that no
//!   request carries it.
//! - **URLs from the parsed base URL.** progenitor formats `{baseurl}/path/{param}` and lets
//!   reqwest parse the whole text on every call. Each operation here hands that text to
//!   `Context::api_url` instead, which parses only the path onto the base URL it parsed once (the
//!   same URL; scheme, host and IDNA parsing were the largest cost of a small call), and reports
//!   a text that is not a URL as an invalid request rather than a failure to send. Path
//!   parameters are formatted through `cutout_runtime::PathSegment(&id)` where progenitor wrote
//!   `encode_path(&id.to_string())`: the same text, without two strings made per call; the
//!   text is written by `cutout_runtime::format_url` into a string allocated once.
//! - **Answers read without copying their headers.** `ResponseValue::from_response(response)`
//!   becomes `cutout_runtime::decode::from_response(response)`, which does the same but moves
//!   the headers out of the answer it consumes instead of copying them.
//! - **Header-only requests made directly.** An operation whose request has only headers (no
//!   body, no query: every status poll) makes it with `Context::new_request` and
//!   `headers_mut().append` instead of reqwest's `RequestBuilder`, which copies the request at
//!   each step and holds a reference to the client; the same request results (a URL with a
//!   user name still goes through the builder, which turns it into a header).
//! - **The request scoped to its sending.** progenitor declares the request, its URL and its
//!   path parameters at the top of `send`, so they keep their room in the operation's future
//!   while the answer is read. Each operation here builds its request in a block that ends once
//!   the request is sent: the future of Topaz's `get_status` operation went from 1,056 to 800
//!   bytes (with the runtime's smaller answer reader, `Job::status()`'s from 1,416 to 888), and
//!   every call's future is moved several times on its way to the caller.

use quote::ToTokens;
use syn::visit_mut::VisitMut;
use syn::{Expr, ImplItem, Item, Stmt};

const HEADER: &str = "\"api-version\"";

/// Removes the `api-version` header from every operation's `send` in `mod builder`. An
/// operation with no other header parameter loses its (then empty) header map too. Returns how
/// many operations were changed.
pub fn drop_api_version(file: &mut syn::File) -> Result<usize, String> {
    let mut changed = 0;
    for_each_send(file, |_, method| {
        if drop_from(&mut method.block.stmts) {
            changed += 1;
        }
        Ok(())
    })?;
    if file.to_token_stream().to_string().contains(HEADER) {
        return Err(
            "the generated code still sets the undocumented `api-version` header: progenitor \
             writes it in a way xtask/src/requests.rs does not know; teach it the new shape"
                .to_owned(),
        );
    }
    Ok(changed)
}

/// Makes every operation build its URL with `Context::api_url` (see the module's doc). Every
/// operation must build one request with `client.client.<method>(url)`: one that does not is
/// an error naming it, so that a progenitor upgrade cannot silently bring back the slow path.
pub fn urls_from_parsed_base(file: &mut syn::File) -> Result<usize, String> {
    let counts = rewrite_sends::<ApiUrl>(file)?;
    if let Some((owner, _)) = counts.iter().find(|(_, changed)| *changed == 0) {
        return Err(format!(
            "`{owner}::send` does not build its request with `client.client.<method>(url)`: \
             xtask/src/requests.rs does not know how it makes its URL"
        ));
    }
    Ok(counts.iter().map(|(_, changed)| changed).sum())
}

/// Makes every operation format its path parameters with `cutout_runtime::PathSegment` and
/// read its answers with `cutout_runtime::decode::from_response` (see the module's doc).
/// Returns how many calls were replaced.
pub fn lighter_calls(file: &mut syn::File) -> Result<usize, String> {
    let changed = rewrite_sends::<LighterCalls>(file)?
        .iter()
        .map(|(_, changed)| changed)
        .sum();
    let text = file.to_token_stream().to_string();
    // Any `from_response` but the runtime's (a turbofish `ResponseValue::<T>::from_response`
    // included): `Context::call` relies on the runtime's to know the status of a bad body.
    let foreign_decode =
        text.matches("from_response").count() != text.matches("decode :: from_response").count();
    for (found, name) in [
        (text.contains("encode_path ("), "`encode_path(…)`"),
        (
            foreign_decode,
            "a `from_response` other than `cutout_runtime::decode`'s",
        ),
    ] {
        if found {
            return Err(format!(
                "an operation still calls {name} in a form xtask/src/requests.rs does not know; \
                 teach it the new shape"
            ));
        }
    }
    Ok(changed)
}

/// Makes every operation whose request has only headers build it without reqwest's builder
/// (see the module's doc):
///
/// ```text
/// client.client.get(url)            {
///     .header(ACCEPT, value)    →       let mut request = client.inner.new_request(Method::GET, url)?;
///     .build()?                         request.headers_mut().append(ACCEPT, value);
///                                       request
///                                   }
/// ```
///
/// A request with a body or a query keeps the builder. Returns how many requests were changed.
pub fn plain_requests(file: &mut syn::File) -> Result<usize, String> {
    Ok(rewrite_sends::<PlainRequests>(file)?
        .iter()
        .map(|(_, changed)| changed)
        .sum())
}

/// See [`plain_requests`].
#[derive(Default)]
struct PlainRequests {
    changed: usize,
}

impl Rewrite for PlainRequests {
    fn changed(&self) -> usize {
        self.changed
    }
}

impl VisitMut for PlainRequests {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, expr);
        // `<chain>.build()?`
        let Expr::Try(tried) = expr else { return };
        let Expr::MethodCall(build) = &*tried.expr else {
            return;
        };
        if build.method != "build" || !build.args.is_empty() {
            return;
        }
        // `.header(name, value)` calls, innermost last.
        let mut headers = Vec::new();
        let mut link = &*build.receiver;
        while let Expr::MethodCall(call) = link
            && call.method == "header"
            && call.args.len() == 2
        {
            headers.push((&call.args[0], &call.args[1]));
            link = &*call.receiver;
        }
        // `client.client.<method>(url)`
        let Expr::MethodCall(start) = link else {
            return;
        };
        let on_http_client = matches!(
            &*start.receiver,
            Expr::Field(field)
                if matches!(&field.member, syn::Member::Named(name) if name == "client")
                && matches!(&*field.base, Expr::Path(path) if path.path.is_ident("client"))
        );
        let http_method = match start.method.to_string().as_str() {
            "get" => quote::quote!(GET),
            "post" => quote::quote!(POST),
            "put" => quote::quote!(PUT),
            "patch" => quote::quote!(PATCH),
            "delete" => quote::quote!(DELETE),
            "head" => quote::quote!(HEAD),
            _ => return,
        };
        if !on_http_client || start.args.len() != 1 {
            return;
        }
        let url = &start.args[0];
        let appends = headers.iter().rev().map(|(name, value)| {
            quote::quote! { request.headers_mut().append(#name, #value); }
        });
        *expr = syn::parse_quote! {
            {
                let mut request =
                    client.inner.new_request(::reqwest::Method::#http_method, #url)?;
                #(#appends)*
                request
            }
        };
        self.changed += 1;
    }
}

/// Makes every operation build and send its request in a block of its own (see the module's
/// doc):
///
/// ```text
/// let Self { client, … } = self;            let Self { client, … } = self;
/// …                                         let info = OperationInfo { … };
/// let mut request = ….build()?;       →     let result = {
/// let info = OperationInfo { … };               let request = { …; let mut request = …;
/// client.pre(&mut request, &info).await?;           client.pre(&mut request, &info).await?;
/// let result = client.exec(request, &info)          request };
///     .await;                                   client.exec(request, &info).await };
/// …                                         …
/// ```
///
/// The request is returned from an inner block because `pre` borrows it: a borrowed local
/// keeps its room until its block ends. Operations that send a rebuilt multipart form
/// (`execute_rebuilding`, which scopes its own request) are left as they are; any other shape
/// is an error naming the operation. Returns how many operations were changed.
pub fn scoped_requests(file: &mut syn::File) -> Result<usize, String> {
    let mut changed = 0;
    for_each_send(file, |owner, method| {
        let stmts = &mut method.block.stmts;
        let Some(exec) = stmts.iter().position(is_exec) else {
            if method
                .block
                .to_token_stream()
                .to_string()
                .contains("execute_rebuilding")
            {
                return Ok(());
            }
            return Err(format!(
                "`{owner}::send` does not send its request with \
                 `let result = client.exec(request, &info).await;`: xtask/src/requests.rs does \
                 not know its shape"
            ));
        };
        let info = stmts[..exec].iter().position(is_info_let);
        let destructures = stmts.first().is_some_and(
            |stmt| matches!(stmt, Stmt::Local(local) if mentions(stmt, "= self") && local.init.is_some()),
        );
        let (Some(info), true, true) = (info, destructures, exec >= 2 && is_pre(&stmts[exec - 1]))
        else {
            return Err(format!(
                "`{owner}::send` does not destructure `self`, make its `info` and call `pre` \
                 right before `exec` as xtask/src/requests.rs expects"
            ));
        };
        let rest = stmts.split_off(exec + 1);
        let exec_stmt = stmts.pop().expect("the exec statement");
        let info_stmt = stmts.remove(info);
        let building: Vec<Stmt> = stmts.drain(1..).collect();
        let Stmt::Local(syn::Local {
            init: Some(syn::LocalInit { expr: send, .. }),
            ..
        }) = exec_stmt
        else {
            unreachable!("is_exec matched a `let` with an initializer");
        };
        let scoped: Stmt = syn::parse_quote! {
            let result = {
                let request = {
                    #(#building)*
                    request
                };
                #send
            };
        };
        stmts.push(info_stmt);
        stmts.push(scoped);
        stmts.extend(rest);
        changed += 1;
        Ok(())
    })?;
    Ok(changed)
}

/// `let result = client.exec(request, &info).await;`
fn is_exec(stmt: &Stmt) -> bool {
    let Stmt::Local(local) = stmt else {
        return false;
    };
    matches!(&local.pat, syn::Pat::Ident(pat) if pat.ident == "result")
        && local.init.as_ref().is_some_and(|init| {
            let text = init.expr.to_token_stream().to_string();
            text == "client . exec (request , & info) . await"
        })
}

/// `client.pre(&mut request, &info).await?;`
fn is_pre(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Expr(expr, Some(_))
        if expr.to_token_stream().to_string() == "client . pre (& mut request , & info) . await ?")
}

/// `let info = OperationInfo { … };`
fn is_info_let(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Local(local)
        if matches!(&local.pat, syn::Pat::Ident(pat) if pat.ident == "info")
        && local.init.as_ref().is_some_and(|init| matches!(&*init.expr, Expr::Struct(s) if s.path.is_ident("OperationInfo"))))
}

/// `encode_path(&x.to_string())` → `cutout_runtime::PathSegment(&x)`;
/// `ResponseValue::from_response(r)` → `cutout_runtime::decode::from_response(r)`.
#[derive(Default)]
struct LighterCalls {
    changed: usize,
}

impl Rewrite for LighterCalls {
    fn changed(&self) -> usize {
        self.changed
    }
}

impl VisitMut for LighterCalls {
    /// Path parameters are inside `format!(…)`, whose arguments syn leaves as tokens.
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if !mac.path.is_ident("format") {
            return;
        }
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        let Ok(mut args) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) else {
            return;
        };
        for arg in args.iter_mut() {
            self.visit_expr_mut(arg);
        }
        mac.tokens = args.into_token_stream();
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, expr);
        // `format!("{}/path/{}", client.baseurl, …)`, the URL's text: written into a string
        // made large enough at once (format! starts from an empty one and grows it).
        if let Expr::Macro(mac) = expr
            && mac.mac.path.is_ident("format")
            && mac.mac.tokens.to_string().contains(", client . baseurl")
        {
            let args = &mac.mac.tokens;
            *expr = syn::parse_quote! { cutout_runtime::format_url(format_args!(#args)) };
            self.changed += 1;
            return;
        }
        let Expr::Call(call) = expr else { return };
        let Expr::Path(function) = &*call.func else {
            return;
        };
        if function.path.is_ident("encode_path")
            && let [Expr::Reference(reference)] = call.args.iter().collect::<Vec<_>>()[..]
            && let Expr::MethodCall(to_string) = &*reference.expr
            && to_string.method == "to_string"
            && to_string.args.is_empty()
        {
            let value = &to_string.receiver;
            *expr = syn::parse_quote! { cutout_runtime::PathSegment(&#value) };
            self.changed += 1;
        } else if function.path.segments.len() == 2
            && function.path.segments[0].ident == "ResponseValue"
            && function.path.segments[1].ident == "from_response"
            && function.path.segments[1].arguments.is_none()
        {
            let args = &call.args;
            // `ResponseValue::<T>::from_response` keeps its answer type.
            *expr = match &function.path.segments[0].arguments {
                syn::PathArguments::AngleBracketed(generics) => {
                    let answer = &generics.args;
                    syn::parse_quote! { cutout_runtime::decode::from_response::<#answer, _>(#args) }
                }
                _ => syn::parse_quote! { cutout_runtime::decode::from_response(#args) },
            };
            self.changed += 1;
        }
    }
}

/// A rewrite of the expressions of one operation's `send`, counting the expressions it changed.
trait Rewrite: VisitMut + Default {
    fn changed(&self) -> usize;
}

/// Runs a fresh `R` over every operation's `send`; returns each builder's name with the count.
fn rewrite_sends<R: Rewrite>(file: &mut syn::File) -> Result<Vec<(String, usize)>, String> {
    let mut counts = Vec::new();
    for_each_send(file, |owner, method| {
        let mut rewrite = R::default();
        rewrite.visit_block_mut(&mut method.block);
        counts.push((owner.to_owned(), rewrite.changed()));
        Ok(())
    })?;
    Ok(counts)
}

/// Runs `f` on every operation's `send` in `mod builder`, with the name of its builder.
fn for_each_send(
    file: &mut syn::File,
    mut f: impl FnMut(&str, &mut syn::ImplItemFn) -> Result<(), String>,
) -> Result<(), String> {
    for item in &mut file.items {
        let Item::Mod(module) = item else { continue };
        if module.ident != "builder" {
            continue;
        }
        let Some((_, items)) = &mut module.content else {
            continue;
        };
        for item in items {
            let Item::Impl(block) = item else { continue };
            let owner = block.self_ty.to_token_stream().to_string();
            for item in &mut block.items {
                if let ImplItem::Fn(method) = item
                    && method.sig.ident == "send"
                {
                    f(&owner, method)?;
                }
            }
        }
    }
    Ok(())
}

/// `client.client.get(url)` → `client.client.get(client.inner.api_url(&client.baseurl,
/// &url).map_err(Error::InvalidRequest)?)`, for every HTTP method.
#[derive(Default)]
struct ApiUrl {
    changed: usize,
}

impl Rewrite for ApiUrl {
    fn changed(&self) -> usize {
        self.changed
    }
}

impl VisitMut for ApiUrl {
    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        syn::visit_mut::visit_expr_method_call_mut(self, call);
        let is_http_method = ["get", "post", "put", "patch", "delete", "head"]
            .iter()
            .any(|m| call.method == m);
        let on_http_client = matches!(
            &*call.receiver,
            Expr::Field(field)
                if matches!(&field.member, syn::Member::Named(name) if name == "client")
                && matches!(&*field.base, Expr::Path(path) if path.path.is_ident("client"))
        );
        if is_http_method && on_http_client && call.args.len() == 1 {
            let url = match &call.args[0] {
                // Already a `&str` (the multipart operations pass `url.as_str()`).
                Expr::MethodCall(as_str) if as_str.method == "as_str" => call.args[0].clone(),
                url => syn::parse_quote! { &#url },
            };
            call.args[0] = syn::parse_quote! {
                client.inner.api_url(&client.baseurl, #url).map_err(Error::InvalidRequest)?
            };
            self.changed += 1;
        }
    }
}

/// Takes the header out of one `send` body; whether it was there.
fn drop_from(stmts: &mut Vec<Stmt>) -> bool {
    let before = stmts.len();
    stmts.retain(|stmt| !(is_header_map_call(stmt, "append") && mentions(stmt, HEADER)));
    if stmts.len() == before {
        return false;
    }
    let uses = stmts.iter().filter(|s| mentions(s, "header_map")).count();
    for stmt in stmts.iter_mut() {
        if let Stmt::Local(local) = stmt
            && is_header_map_let(local)
            && let Some(init) = &mut local.init
        {
            lower_capacity(&mut init.expr);
        }
    }
    // Only the map's creation and its `.headers(header_map)` are left: neither is needed.
    if uses == 2 {
        stmts.retain(|stmt| !matches!(stmt, Stmt::Local(local) if is_header_map_let(local)));
        for stmt in stmts.iter_mut() {
            if let Stmt::Local(local) = stmt
                && let Some(init) = &mut local.init
            {
                remove_method(&mut init.expr, "headers");
            }
        }
    }
    true
}

fn mentions(stmt: &Stmt, text: &str) -> bool {
    stmt.to_token_stream().to_string().contains(text)
}

/// `header_map.<method>(…);`
fn is_header_map_call(stmt: &Stmt, method: &str) -> bool {
    let Stmt::Expr(Expr::MethodCall(call), _) = stmt else {
        return false;
    };
    call.method == method
        && matches!(&*call.receiver, Expr::Path(path) if path.path.is_ident("header_map"))
}

/// `let mut header_map = …;`
fn is_header_map_let(local: &syn::Local) -> bool {
    match &local.pat {
        syn::Pat::Ident(pat) => pat.ident == "header_map",
        _ => false,
    }
}

/// `HeaderMap::with_capacity(N)` becomes `with_capacity(N - 1)`: the map holds one header less.
fn lower_capacity(expr: &mut Expr) {
    let Expr::Call(call) = expr else { return };
    let Some(Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(int),
        ..
    })) = call.args.first_mut()
    else {
        return;
    };
    if let Ok(n) = int.base10_parse::<usize>()
        && n > 0
    {
        *int = syn::LitInt::new(&format!("{}usize", n - 1), int.span());
    }
}

/// Removes `.method(…)` from a method chain (through `?` and `.await`).
fn remove_method(expr: &mut Expr, method: &str) -> bool {
    match expr {
        Expr::Try(inner) => remove_method(&mut inner.expr, method),
        Expr::Await(inner) => remove_method(&mut inner.base, method),
        Expr::MethodCall(call) if call.method == method => {
            let receiver = std::mem::replace(&mut *call.receiver, Expr::PLACEHOLDER);
            *expr = receiver;
            true
        }
        Expr::MethodCall(call) => remove_method(&mut call.receiver, method),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(body: &str) -> syn::File {
        syn::parse_str(&format!(
            "pub mod builder {{ impl<'a> Op<'a> {{ pub async fn send(self) -> R {{ {body} }} }} }}"
        ))
        .unwrap()
    }

    #[test]
    fn urls_are_built_by_the_runtime() {
        let mut file = send(
            "let url = format!(\"{}/status/{}\", client.baseurl, encode_path(&id.to_string()));
             let mut request = client.client.get(url).header(ACCEPT, v).build()?;
             client.exec(request, &info).await",
        );
        assert_eq!(urls_from_parsed_base(&mut file), Ok(1));
        let out = text(&file);
        let compact: String = out.split_whitespace().collect();
        assert!(
            compact.contains(
                ".get(client.inner.api_url(&client.baseurl,&url).map_err(Error::InvalidRequest)?,)"
            ),
            "{out}"
        );
    }

    #[test]
    fn path_parameters_and_answers_take_the_lighter_calls() {
        let mut file = send(
            "let url = format!(\"{}/status/{}\", client.baseurl, encode_path(&process_id.to_string()));
             let response = client.exec(request, &info).await?;
             match response.status().as_u16() {
                 200u16 => ResponseValue::from_response(response).await,
                 404u16 => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)),
                 _ => Err(Error::UnexpectedResponse(response)),
             }",
        );
        assert_eq!(lighter_calls(&mut file), Ok(4));
        let out: String = text(&file).split_whitespace().collect();
        assert!(
            out.contains("cutout_runtime::PathSegment(&process_id)"),
            "{out}"
        );
        assert!(
            out.contains(
                "cutout_runtime::format_url(format_args!(\"{}/status/{}\",client.baseurl,"
            ),
            "{out}"
        );
        assert_eq!(
            out.matches("cutout_runtime::decode::from_response(response)")
                .count(),
            2,
            "{out}"
        );
    }

    #[test]
    fn a_path_parameter_encoded_otherwise_fails_codegen() {
        let mut file =
            send("let url = format!(\"{}/x/{}\", client.baseurl, encode_path(id.as_str()));");
        let error = lighter_calls(&mut file).unwrap_err();
        assert!(error.contains("`encode_path(…)`"), "{error}");
        // Any other `from_response` (not a call, a method, another type's) is refused.
        let mut file = send("let decode = ResponseValue::from_response; decode(response).await");
        let error = lighter_calls(&mut file).unwrap_err();
        assert!(error.contains("`from_response`"), "{error}");
        // A turbofish keeps its type.
        let mut file = send("ResponseValue::<types::X>::from_response(response).await");
        assert_eq!(lighter_calls(&mut file), Ok(1));
        let out: String = text(&file).split_whitespace().collect();
        assert!(
            out.contains("cutout_runtime::decode::from_response::<types::X,_>(response)"),
            "{out}"
        );
    }

    #[test]
    fn an_operation_that_makes_its_url_otherwise_fails_codegen() {
        let mut file = send(
            "let mut request = client.client.request(Method::GET, url).build()?;
             client.exec(request, &info).await",
        );
        let error = urls_from_parsed_base(&mut file).unwrap_err();
        assert!(error.contains("Op < 'a >::send"), "{error}");
    }

    #[test]
    fn a_request_of_headers_only_is_made_without_the_builder() {
        let mut file = send(
            "let mut request = client.client.get(u).header(ACCEPT, json).header(X, y).build()?;
             let posted = client.client.post(u).header(ACCEPT, json).json(&body).build()?;
             let listed = client.client.get(u).header(ACCEPT, json).query(&q).build()?;
             let other = reqwest::Client::new().get(u).build()?;",
        );
        assert_eq!(plain_requests(&mut file), Ok(1));
        let out: String = text(&file).split_whitespace().collect();
        let expected: String = "let mut request = {
                 let mut request = client.inner.new_request(::reqwest::Method::GET, u)?;
                 request.headers_mut().append(ACCEPT, json);
                 request.headers_mut().append(X, y);
                 request
             };"
        .split_whitespace()
        .collect();
        assert!(out.contains(&expected), "{out}");
        // A body, a query or another client keep the builder.
        for kept in [
            "client.client.post(u).header(ACCEPT,json).json(&body).build()?",
            "client.client.get(u).header(ACCEPT,json).query(&q).build()?",
            "reqwest::Client::new().get(u).build()?",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
    }

    /// The statements of an operation as progenitor writes them, up to the answer.
    const PROGENITOR_SEND: &str = "let Self { client, process_id } = self;
         let process_id = process_id.map_err(Error::InvalidRequest)?;
         let url = format!(\"{}/status/{}\", client.baseurl, process_id);
         #[allow(unused_mut)]
         let mut request = client.client.get(url).build()?;
         let info = OperationInfo { operation_id: \"get_status\" };
         client.pre(&mut request, &info).await?;
         let result = client.exec(request, &info).await;
         client.post(&result, &info).await?;
         let response = result?;
         decode(response).await";

    #[test]
    fn the_request_is_built_and_sent_in_a_block_of_its_own() {
        let mut file = send(PROGENITOR_SEND);
        assert_eq!(scoped_requests(&mut file), Ok(1));
        let out: String = text(&file).split_whitespace().collect();
        let expected: String = "let Self { client, process_id } = self;
             let info = OperationInfo { operation_id: \"get_status\", };
             let result = {
                 let request = {
                     let process_id = process_id.map_err(Error::InvalidRequest)?;
                     let url = format!(\"{}/status/{}\", client.baseurl, process_id);
                     #[allow(unused_mut)]
                     let mut request = client.client.get(url).build()?;
                     client.pre(&mut request, &info).await?;
                     request
                 };
                 client.exec(request, &info).await
             };
             client.post(&result, &info).await?;
             let response = result?;
             decode(response).await"
            .split_whitespace()
            .collect();
        assert!(out.contains(&expected), "{out}");
    }

    #[test]
    fn a_rebuilt_multipart_send_is_left_alone_and_other_shapes_fail_codegen() {
        let multipart = "let Self { client, body } = self;
             let result = client.inner.execute_rebuilding(&client.baseurl, \"up\", || async move { build(client).await }).await?;
             decode(result?).await";
        let mut file = send(multipart);
        let before = text(&file);
        assert_eq!(scoped_requests(&mut file), Ok(0));
        assert_eq!(text(&file), before);

        // No `exec` as progenitor writes it.
        let mut file = send(&PROGENITOR_SEND.replace("client.exec(", "client.execute("));
        let error = scoped_requests(&mut file).unwrap_err();
        assert!(
            error.contains("Op < 'a >::send") && error.contains("exec"),
            "{error}"
        );
        // `pre` somewhere else than right before `exec`.
        let moved_pre = PROGENITOR_SEND
            .replace("client.pre(&mut request, &info).await?;", "")
            .replace(
                "let info = OperationInfo",
                "client.pre(&mut request, &info).await?; let info = OperationInfo",
            );
        let mut file = send(&moved_pre);
        let error = scoped_requests(&mut file).unwrap_err();
        assert!(error.contains("right before `exec`"), "{error}");
        // No `info`.
        let mut file = send(&PROGENITOR_SEND.replace("let info =", "let other ="));
        assert!(scoped_requests(&mut file).is_err());
    }

    fn text(file: &syn::File) -> String {
        prettyplease::unparse(file)
    }

    const API_VERSION: &str = r#"header_map.append(
        ::reqwest::header::HeaderName::from_static("api-version"),
        ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
    );"#;

    #[test]
    fn an_operation_without_header_parameters_loses_the_map() {
        let mut file = send(&format!(
            "let url = format!(\"{{}}/x\", client.baseurl);
             let mut header_map = ::reqwest::header::HeaderMap::with_capacity(1usize);
             {API_VERSION}
             let mut request = client.client.get(url).header(ACCEPT, v).headers(header_map).build()?;
             client.exec(request, &info).await"
        ));
        assert_eq!(drop_api_version(&mut file), Ok(1));
        let out = text(&file);
        assert!(!out.contains("header_map"), "{out}");
        assert!(
            out.contains(".get(url).header(ACCEPT, v).build()?"),
            "{out}"
        );
    }

    #[test]
    fn an_operation_with_header_parameters_keeps_them() {
        let mut file = send(&format!(
            "let mut header_map = ::reqwest::header::HeaderMap::with_capacity(2usize);
             {API_VERSION}
             header_map.append(\"x-trace\", x_trace.to_string().try_into()?);
             let mut request = client.client.get(url).headers(header_map).build()?;
             client.exec(request, &info).await"
        ));
        assert_eq!(drop_api_version(&mut file), Ok(1));
        let out = text(&file);
        assert!(!out.contains("api-version"), "{out}");
        assert!(out.contains("with_capacity(1usize)"), "{out}");
        assert!(out.contains("\"x-trace\""), "{out}");
        assert!(out.contains(".headers(header_map)"), "{out}");
    }

    #[test]
    fn a_header_written_another_way_fails_codegen() {
        let mut file = send(
            "let mut request = client.client.get(url).header(\"api-version\", \"1.0\").build()?;
             client.exec(request, &info).await",
        );
        let error = drop_api_version(&mut file).unwrap_err();
        assert!(error.contains("api-version"), "{error}");
    }
}

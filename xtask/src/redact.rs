//! `Debug` that never prints a secret.
//!
//! Generated types hold presigned download links (Topaz `DownloadResponse`, ModelsLab outputs,
//! Tengr results), input URLs that may carry `user:password@`, and webhook URLs with tokens. A
//! derived `Debug` prints them whole, and logging an answer with `{:?}` is routine. So every
//! generated struct, and every enum with data, that would derive `Debug` gets an impl instead
//! that prints each field through `cutout_runtime::validate::Redacted`, which shows URLs without
//! their userinfo, query and fragment. The layout of the output is what the derive would give.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;

/// The wrapper each field is printed through.
fn wrapper() -> TokenStream {
    quote! { ::cutout_runtime::validate::Redacted }
}

/// Replaces `derive(Debug)` by a redacting `Debug` impl on every struct and every enum with
/// data, in every module of `file`.
pub fn redacting_debug(file: &mut syn::File) -> Result<(), String> {
    rewrite_items(&mut file.items)
}

fn rewrite_items(items: &mut Vec<syn::Item>) -> Result<(), String> {
    let mut impls = Vec::new();
    for item in items.iter_mut() {
        match item {
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    rewrite_items(inner)?;
                }
            }
            syn::Item::Struct(item) => {
                let derived = take_debug_derive(&mut item.attrs)?;
                if derived {
                    impls.push(struct_debug(item));
                }
            }
            syn::Item::Enum(item) => {
                let has_data = item.variants.iter().any(|v| !v.fields.is_empty());
                if has_data && take_debug_derive(&mut item.attrs)? {
                    impls.push(enum_debug(item));
                }
            }
            _ => {}
        }
    }
    for tokens in impls {
        let item: syn::Item = syn::parse2(tokens)
            .map_err(|e| format!("a generated Debug impl does not parse: {e}"))?;
        items.push(item);
    }
    Ok(())
}

/// Removes `Debug` from the item's `derive`s; true when it was there.
fn take_debug_derive(attrs: &mut Vec<syn::Attribute>) -> Result<bool, String> {
    let mut found = false;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("derive") {
            kept.push(attr);
            continue;
        }
        let paths = attr
            .parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
            .map_err(|e| format!("a derive attribute does not parse: {e}"))?;
        let before = paths.len();
        let rest: Vec<syn::Path> = paths
            .into_iter()
            .filter(|path| path.segments.last().is_none_or(|s| s.ident != "Debug"))
            .collect();
        found |= rest.len() != before;
        if !rest.is_empty() {
            kept.push(syn::parse_quote!(#[derive(#(#rest),*)]));
        }
    }
    *attrs = kept;
    Ok(found)
}

/// `impl Debug` for a type with these generics: each type parameter must be `Debug` itself.
fn debug_impl(ident: &syn::Ident, generics: &syn::Generics, body: TokenStream) -> TokenStream {
    let mut generics = generics.clone();
    let params: Vec<syn::Ident> = generics.type_params().map(|p| p.ident.clone()).collect();
    if !params.is_empty() {
        let clause = generics.make_where_clause();
        for param in params {
            clause
                .predicates
                .push(syn::parse_quote!(#param: ::std::fmt::Debug));
        }
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    quote! {
        impl #impl_generics ::std::fmt::Debug for #ident #type_generics #where_clause {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                #body
            }
        }
    }
}

fn struct_debug(item: &syn::ItemStruct) -> TokenStream {
    let name = item.ident.to_string();
    let redacted = wrapper();
    let body = match &item.fields {
        syn::Fields::Named(fields) => {
            let calls = fields.named.iter().map(|field| {
                let ident = field.ident.as_ref().expect("named fields have names");
                let label = ident.to_string();
                let label = label.strip_prefix("r#").unwrap_or(&label);
                quote! { .field(#label, &#redacted(&self.#ident)) }
            });
            quote! { f.debug_struct(#name) #(#calls)* .finish() }
        }
        syn::Fields::Unnamed(fields) => {
            let calls = (0..fields.unnamed.len()).map(|index| {
                let index = syn::Index::from(index);
                quote! { .field(&#redacted(&self.#index)) }
            });
            quote! { f.debug_tuple(#name) #(#calls)* .finish() }
        }
        syn::Fields::Unit => quote! { f.write_str(#name) },
    };
    debug_impl(&item.ident, &item.generics, body)
}

fn enum_debug(item: &syn::ItemEnum) -> TokenStream {
    let redacted = wrapper();
    let arms = item.variants.iter().map(|variant| {
        let ident = &variant.ident;
        let name = ident.to_string();
        match &variant.fields {
            syn::Fields::Named(fields) => {
                let idents: Vec<&syn::Ident> = fields
                    .named
                    .iter()
                    .map(|f| f.ident.as_ref().expect("named fields have names"))
                    .collect();
                let labels = idents.iter().map(|i| i.to_string());
                quote! {
                    Self::#ident { #(#idents),* } => f.debug_struct(#name)
                        #(.field(#labels, &#redacted(#idents)))* .finish(),
                }
            }
            syn::Fields::Unnamed(fields) => {
                let bindings: Vec<syn::Ident> = (0..fields.unnamed.len())
                    .map(|i| format_ident!("field{i}"))
                    .collect();
                quote! {
                    Self::#ident(#(#bindings),*) => f.debug_tuple(#name)
                        #(.field(&#redacted(#bindings)))* .finish(),
                }
            }
            syn::Fields::Unit => quote! { Self::#ident => f.write_str(#name), },
        }
    });
    let body = quote! { match self { #(#arms)* } };
    debug_impl(&item.ident, &item.generics, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_debug_becomes_a_redacting_impl() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug, PartialEq)]
                pub struct Answer { pub download_url: String, pub r#type: Option<String> }
                #[derive(Debug)]
                pub enum Output { Link(String), Links { all: Vec<String> }, Nothing }
                #[derive(Clone, Copy, Debug)]
                pub enum Plain { A, B }
                pub mod builder {
                    #[derive(Debug)]
                    pub struct Op<'a, T> { client: &'a T, url: Result<String, String> }
                }
            }
        };
        redacting_debug(&mut file).unwrap();
        let text = prettyplease::unparse(&file);
        assert!(text.contains("#[derive(Clone, PartialEq)]"), "{text}");
        assert!(text.contains("#[derive(Clone, Copy, Debug)]"), "{text}");
        assert!(
            text.contains(r#".field("type", &::cutout_runtime::validate::Redacted(&self.r#type))"#),
            "{text}"
        );
        assert!(text.contains("Self::Links { all } =>"), "{text}");
        assert!(!text.contains("derive(Debug)"), "{text}");
        assert!(
            text.contains("impl<'a, T> ::std::fmt::Debug for Op<'a, T>"),
            "{text}"
        );
        assert!(text.contains("T: ::std::fmt::Debug"), "{text}");
        assert_eq!(text.matches("impl").count(), 3, "{text}");
    }
}

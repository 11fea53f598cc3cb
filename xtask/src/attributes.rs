//! Forward compatibility: the generated types that an additive spec change must not break.
//!
//! A provider adds a response field, an optional request field, an enum value or a `oneOf`
//! member without notice; regenerating the client then adds a field or a variant to a generated
//! type. That must not stop user code from compiling, so every **struct with named fields** and
//! every **enum** directly in the generated `types` module is `#[non_exhaustive]`:
//!
//! - outside the crate, such a struct is built with its builder (`X::builder().field(v)`, or an
//!   operation's `body_map(|b| b.field(v))`) rather than a struct literal, and destructured with
//!   `..`; its fields are read as usual;
//! - an enum's variants are still built as usual (`Mode::Alpha`); a `match` on it needs a `_`
//!   arm.
//!
//! Newtypes (tuple structs such as `StatusArray(pub Vec<StatusResponse>)`) are left as they are:
//! no additive change can add to a single wrapped value (a new field would make it a different
//! kind of type, which breaks users anyway), and marking them would only take away their public
//! constructor `X(value)` outside the crate. Builders (`types::builder`) have private fields and
//! are not touched; neither is progenitor's `types::error`.

use quote::ToTokens;

/// The doc paragraph appended to the generated `types` module.
pub const TYPES_DOC: &str = " Forward compatible: every struct with named fields and every enum here is \
`#[non_exhaustive]`, so a field, variant or enum value the provider adds later does not break your \
code. Build structs with their builder (`X::builder().field(value)`, or an operation's \
`body_map(|b| b.field(value))`), destructure them with `..`, and give every `match` on an enum a \
`_` arm. Newtypes (`X(value)`) hold one value and are left as they are.";

/// Marks the structs with named fields and the enums of `mod types` `#[non_exhaustive]` (once:
/// the open enums of [`crate::tolerant`] already are) and documents the rule on the module.
/// Fails when the file has no `types` module.
pub fn non_exhaustive(file: &mut syn::File) -> Result<(), String> {
    let types = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => Some(m),
            _ => None,
        })
        .ok_or("the generated code has no `types` module")?;
    // After the module's own doc lines, so the paragraph reads as part of them.
    let at = types
        .attrs
        .iter()
        .rposition(|a| a.path().is_ident("doc"))
        .map_or(0, |i| i + 1);
    types.attrs.splice(
        at..at,
        [
            syn::parse_quote!(#[doc = ""]),
            syn::parse_quote!(#[doc = #TYPES_DOC]),
        ],
    );
    let Some((_, items)) = &mut types.content else {
        return Err("the generated `types` module has no body".to_owned());
    };
    for item in items {
        let attrs = match item {
            syn::Item::Struct(s) if matches!(s.fields, syn::Fields::Named(_)) => &mut s.attrs,
            syn::Item::Enum(e) => &mut e.attrs,
            _ => continue,
        };
        if !attrs.iter().any(is_non_exhaustive) {
            attrs.push(syn::parse_quote!(#[non_exhaustive]));
        }
    }
    Ok(())
}

/// Whether `attr` is `#[non_exhaustive]`.
pub fn is_non_exhaustive(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("non_exhaustive")
        && attr.meta.to_token_stream().to_string() == "non_exhaustive"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(file: &syn::File, name: &str) -> usize {
        let syn::Item::Mod(types) = &file.items[0] else {
            panic!("not a module")
        };
        types
            .content
            .as_ref()
            .unwrap()
            .1
            .iter()
            .filter_map(|item| match item {
                syn::Item::Struct(s) if s.ident == name => Some(&s.attrs),
                syn::Item::Enum(e) if e.ident == name => Some(&e.attrs),
                _ => None,
            })
            .flat_map(|attrs| attrs.iter().filter(|a| is_non_exhaustive(a)))
            .count()
    }

    #[test]
    fn structs_and_enums_are_marked_once_newtypes_and_builders_are_not() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                pub struct Named { pub a: i64 }
                pub struct Empty {}
                pub struct Newtype(pub String);
                pub enum Closed { A, B }
                #[non_exhaustive]
                pub enum Open { A, Unknown(String) }
                pub mod builder {
                    pub struct Named { a: Result<i64, String> }
                }
            }
        };
        non_exhaustive(&mut file).unwrap();
        for (name, count) in [
            ("Named", 1),
            ("Empty", 1),
            ("Newtype", 0),
            ("Closed", 1),
            ("Open", 1),
        ] {
            assert_eq!(marked(&file, name), count, "{name}");
        }
        let text = prettyplease::unparse(&file);
        let builder = &text[text.find("pub mod builder").unwrap()..];
        assert!(!builder.contains("non_exhaustive"), "{builder}");
        assert!(text.contains("Forward compatible"), "{text}");
    }

    #[test]
    fn a_file_without_types_is_an_error() {
        let mut file: syn::File = syn::parse_quote! { pub struct Client; };
        assert!(non_exhaustive(&mut file).is_err());
    }
}

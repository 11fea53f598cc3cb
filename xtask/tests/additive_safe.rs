//! The workspace's own code survives an additive spec change.
//!
//! `#[non_exhaustive]` on the generated structs protects users, but not the code in the same
//! crate (the provider crates' hand-written modules), and a struct literal or an exhaustive
//! struct pattern of a generated type anywhere in the workspace stops compiling as soon as the
//! provider adds an optional field (an additive change: patch bump, the update PR must build).
//! So outside the generated files those types are built with their builders and matched with
//! `..`. The same holds for a value added to a generated enum (also additive): a `match` on it
//! needs a catch-all arm (or comparisons instead). This test reads the sources (no
//! compilation): it names every struct literal without a `..base`, every struct pattern without
//! `..` whose type is a generated struct, and every `match` whose arms name variants of a
//! generated enum without a catch-all arm.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Whether `path` is a file codegen writes (never edited by hand, allowed to use literals).
fn is_generated(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("generated") && n.ends_with(".rs"))
}

/// The structs with named fields and the value enums (those with a unit variant, not the
/// untagged unions) directly in the `types` module of a generated file.
fn generated_types(code: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let file = syn::parse_file(code).unwrap();
    let (mut names, mut enums) = (BTreeSet::new(), BTreeSet::new());
    for item in &file.items {
        if let syn::Item::Mod(m) = item
            && m.ident == "types"
            && let Some((_, items)) = &m.content
        {
            for item in items {
                match item {
                    syn::Item::Struct(s) if matches!(s.fields, syn::Fields::Named(_)) => {
                        names.insert(s.ident.to_string());
                    }
                    syn::Item::Enum(e)
                        if e.variants
                            .iter()
                            .any(|v| matches!(v.fields, syn::Fields::Unit)) =>
                    {
                        enums.insert(e.ident.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    (names, enums)
}

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Whether a path names something in a generated `types` module (`types::X`, `crate::types::X`,
/// `topaz_image::types::X`).
fn through_types(path: &syn::Path) -> bool {
    path.segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| s.ident == "types")
}

/// Finds the literals and patterns of one file.
struct Finder<'a> {
    /// Generated struct names.
    generated: &'a BTreeSet<String>,
    /// Generated enum names.
    enums: &'a BTreeSet<String>,
    /// Names this file imports from a `types` module: local name → generated name.
    imported: BTreeMap<String, String>,
    /// Whether the file glob-imports a `types` module.
    glob: bool,
    /// Names the file defines itself (a glob import never shadows them).
    own: BTreeSet<String>,
    /// The generated type `Self` stands for, inside an `impl` of one.
    self_type: Option<String>,
    /// The function being read (spans carry no line numbers here).
    function: String,
    /// What was found: `fn name: what`.
    found: Vec<String>,
}

impl Finder<'_> {
    /// The generated struct `path` refers to, if any.
    fn resolve(&self, path: &syn::Path) -> Option<String> {
        self.resolve_in(path, self.generated)
    }

    /// The generated type among `names` that `path` refers to, if any.
    fn resolve_in(&self, path: &syn::Path, names: &BTreeSet<String>) -> Option<String> {
        let last = path.segments.last()?.ident.to_string();
        if path.segments.len() == 1 {
            if last == "Self" {
                return self.self_type.clone().filter(|name| names.contains(name));
            }
            if let Some(name) = self.imported.get(&last) {
                return names.contains(name).then(|| name.clone());
            }
            if self.glob && !self.own.contains(&last) && names.contains(&last) {
                return Some(last);
            }
            return None;
        }
        (through_types(path) && names.contains(&last)).then_some(last)
    }

    /// The generated enum whose variant `pat` names (`types::E::V`, `E::V(..)`, `E::V { .. }`,
    /// `&E::V`, or alternatives of those).
    fn variant_of(&self, pat: &syn::Pat) -> Option<String> {
        let path = match pat {
            syn::Pat::Path(p) => &p.path,
            syn::Pat::TupleStruct(p) => &p.path,
            syn::Pat::Struct(p) => &p.path,
            syn::Pat::Reference(r) => return self.variant_of(&r.pat),
            syn::Pat::Paren(p) => return self.variant_of(&p.pat),
            syn::Pat::Guard(g) => return self.variant_of(&g.pat),
            syn::Pat::Or(or) => return or.cases.iter().find_map(|case| self.variant_of(case)),
            // A variant inside a tuple (`match (s, b)`) is matched all the same.
            syn::Pat::Tuple(t) => return t.elems.iter().find_map(|elem| self.variant_of(elem)),
            _ => return None,
        };
        let mut enum_path = path.clone();
        enum_path.segments.pop()?;
        enum_path.segments.pop_punct();
        self.resolve_in(&enum_path, self.enums)
            .or_else(|| match pat {
                // Not a generated enum's variant (`Some(..)`, `Ok(..)`): look inside.
                syn::Pat::TupleStruct(p) => p.elems.iter().find_map(|elem| self.variant_of(elem)),
                _ => None,
            })
    }

    /// An arm that takes whatever the others leave: `_`, a binding, or a tuple or a wrapper
    /// (`Some(_)`) of those. A guard makes it conditional.
    fn is_catch_all(&self, pat: &syn::Pat) -> bool {
        match pat {
            syn::Pat::Wild(_) => true,
            // `None` or a constant parses as an identifier too: bindings are lower case.
            syn::Pat::Ident(ident) => {
                ident.subpat.is_none() && !ident.ident.to_string().starts_with(char::is_uppercase)
            }
            syn::Pat::Paren(p) => self.is_catch_all(&p.pat),
            syn::Pat::Reference(r) => self.is_catch_all(&r.pat),
            syn::Pat::Tuple(t) => t.elems.iter().all(|elem| self.is_catch_all(elem)),
            syn::Pat::TupleStruct(p) => {
                self.variant_of(pat).is_none() && p.elems.iter().all(|e| self.is_catch_all(e))
            }
            _ => false,
        }
    }

    fn imports(&mut self, tree: &syn::UseTree, in_types: bool) {
        match tree {
            syn::UseTree::Path(p) => self.imports(&p.tree, in_types || p.ident == "types"),
            syn::UseTree::Name(n) if in_types => {
                self.imported
                    .insert(n.ident.to_string(), n.ident.to_string());
            }
            syn::UseTree::Rename(r) if in_types => {
                self.imported
                    .insert(r.rename.to_string(), r.ident.to_string());
            }
            syn::UseTree::Glob(_) if in_types => self.glob = true,
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.imports(tree, in_types);
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_use(&mut self, i: &'ast syn::ItemUse) {
        self.imports(&i.tree, false);
    }

    fn visit_item_struct(&mut self, i: &'ast syn::ItemStruct) {
        self.own.insert(i.ident.to_string());
        syn::visit::visit_item_struct(self, i);
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let outer = self.self_type.take();
        if let syn::Type::Path(p) = &*i.self_ty {
            self.self_type = self.resolve(&p.path);
        }
        syn::visit::visit_item_impl(self, i);
        self.self_type = outer;
    }

    fn visit_item_fn(&mut self, i: &'ast syn::ItemFn) {
        let outer = std::mem::replace(&mut self.function, i.sig.ident.to_string());
        syn::visit::visit_item_fn(self, i);
        self.function = outer;
    }

    fn visit_impl_item_fn(&mut self, i: &'ast syn::ImplItemFn) {
        let outer = std::mem::replace(&mut self.function, i.sig.ident.to_string());
        syn::visit::visit_impl_item_fn(self, i);
        self.function = outer;
    }

    fn visit_item_enum(&mut self, i: &'ast syn::ItemEnum) {
        self.own.insert(i.ident.to_string());
        syn::visit::visit_item_enum(self, i);
    }

    fn visit_expr_match(&mut self, i: &'ast syn::ExprMatch) {
        let catch_all = i.arms.iter().any(|arm| self.is_catch_all(&arm.pat));
        if !catch_all && let Some(name) = i.arms.iter().find_map(|arm| self.variant_of(&arm.pat)) {
            let place = &self.function;
            self.found.push(format!(
                "fn {place}: match on {name} without a catch-all arm"
            ));
        }
        syn::visit::visit_expr_match(self, i);
    }

    // Macro arguments are tokens to syn: read the usual comma-separated expressions
    // (`vec![…]`, `assert_eq!(…)`) and look at them too.
    fn visit_macro(&mut self, i: &'ast syn::Macro) {
        let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = i.parse_body_with(parser) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
        syn::visit::visit_macro(self, i);
    }

    fn visit_expr_struct(&mut self, i: &'ast syn::ExprStruct) {
        if i.dot2_token.is_none()
            && let Some(name) = self.resolve(&i.path)
        {
            let place = &self.function;
            self.found
                .push(format!("fn {place}: struct literal of {name}"));
        }
        syn::visit::visit_expr_struct(self, i);
    }

    fn visit_pat_struct(&mut self, i: &'ast syn::PatStruct) {
        if i.rest.is_none()
            && let Some(name) = self.resolve(&i.path)
        {
            let place = &self.function;
            self.found
                .push(format!("fn {place}: exhaustive pattern of {name}"));
        }
        syn::visit::visit_pat_struct(self, i);
    }
}

/// `fn name: what` for each literal or exhaustive pattern of a generated struct in `code`.
fn find(generated: &BTreeSet<String>, enums: &BTreeSet<String>, code: &str) -> Vec<String> {
    let file = syn::parse_file(code).unwrap();
    let mut finder = Finder {
        generated,
        enums,
        imported: BTreeMap::new(),
        glob: false,
        own: BTreeSet::new(),
        self_type: None,
        function: String::new(),
        found: Vec::new(),
    };
    // Imports and own items first: they apply to the whole file, wherever they appear.
    let mut prepass = Finder {
        found: Vec::new(),
        ..finder
    };
    prepass.visit_file(&file);
    finder = Finder {
        found: Vec::new(),
        self_type: None,
        ..prepass
    };
    finder.visit_file(&file);
    finder.found
}

#[test]
fn no_struct_literal_of_a_generated_type_outside_generated_code() {
    let root = workspace();
    let (mut generated, mut enums) = (BTreeSet::new(), BTreeSet::new());
    let mut files = Vec::new();
    for dir in ["crates", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    for file in files.iter().filter(|f| f.ends_with("src/generated.rs")) {
        let (structs, enum_names) = generated_types(&std::fs::read_to_string(file).unwrap());
        generated.extend(structs);
        enums.extend(enum_names);
    }
    // One struct per provider crate at least: the test reads the real generated files.
    assert!(generated.contains("AsyncResponse"), "{generated:?}");
    assert!(generated.contains("SegmentationRequest"), "{generated:?}");
    assert!(enums.contains("JobStatus"), "{enums:?}");

    let mut found = Vec::new();
    for file in files.iter().filter(|f| !is_generated(f)) {
        let code = std::fs::read_to_string(file).unwrap();
        for hit in find(&generated, &enums, &code) {
            found.push(format!(
                "{}, {hit}",
                file.strip_prefix(&root).unwrap().display()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "these break the build when the provider adds an optional field or an enum value (an \
         additive spec change); build with `types::X::builder()` + `try_into()`, match structs \
         with `..` and enums with a catch-all arm:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_finder_sees_every_form() {
    let generated: BTreeSet<String> = ["Req", "Resp"].map(String::from).into();
    let enums: BTreeSet<String> = ["Status"].map(String::from).into();
    let code = r#"
        use crate::types::{self, Resp as Answer};
        mod a {
            use topaz::types::*;
            struct Mine { x: u8 }
            fn f() { let _ = Req { a: 1 }; let _ = Mine { x: 1 }; }
        }
        fn g(r: types::Resp) {
            let types::Resp { a, b } = r;
            let types::Resp { a, .. } = r;
            let _ = Answer { a: 1 };
            let _ = types::Req { a: 1, ..Default::default() };
            let _ = other::Req { a: 1 };
        }
        impl types::Req { fn new() -> Self { Self { a: 1 } } }
        impl Other { fn new() -> Self { Self { a: 1 } } }
        fn h(s: &types::Status, o: Mine) {
            match s { types::Status::A | types::Status::B(_) => {} }
            match s { &types::Status::A => {} x => {} }
            match s { types::Status::A => {} _ if o.x > 0 => {} }
            match o { Mine::A => {} }
            match (s, o) { (types::Status::A, _) => {} }
            match (s, o) { (types::Status::A, _) => {} (_, _) => {} }
            match Some(s) { Some(types::Status::A) => {} None => {} }
            match Some(s) { Some(types::Status::A) => {} Some(_) => {} None => {} }
            let _ = vec![types::Req { a: 1 }];
            assert_eq!(r, types::Resp { a: 1, b: 2 });
        }
    "#;
    assert_eq!(
        find(&generated, &enums, code),
        [
            "fn f: struct literal of Req",
            "fn g: exhaustive pattern of Resp",
            "fn g: struct literal of Resp",
            "fn new: struct literal of Req",
            "fn h: match on Status without a catch-all arm",
            "fn h: match on Status without a catch-all arm",
            "fn h: match on Status without a catch-all arm",
            "fn h: match on Status without a catch-all arm",
            "fn h: struct literal of Req",
            "fn h: struct literal of Resp",
        ]
    );
}

//! Generates this fixture crate's client with the real codegen (the xtask library), from the spec
//! named after the package (`additive-fixture-v1` → provider `additive-v1` of
//! `xtask/tests/fixtures/additive/specs/providers.toml`), into `OUT_DIR`. Nothing generated is
//! committed.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../../../xtask/tests/fixtures/additive");
    let package = std::env::var("CARGO_PKG_NAME").expect("set by cargo");
    let name = package.trim_start_matches("additive-fixture-");
    let provider = format!("additive-{name}");
    let providers = xtask::config::select(
        xtask::config::load(&root).unwrap_or_else(|e| panic!("{e}")),
        &[provider],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = xtask::generate::generate(&root, &providers[0]).unwrap_or_else(|e| panic!("{e}"));
    let (_, code) = output
        .files
        .iter()
        .find(|(path, _)| path.ends_with(xtask::generate::GENERATED_RS))
        .expect("codegen writes generated.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let generated = out.join("generated.rs");
    std::fs::write(&generated, code).expect("OUT_DIR is writable");
    // The generated file is a module of its own (its inner attributes cannot be `include!`d):
    // `lib.rs` includes this declaration of it, as a provider crate declares `mod generated`.
    let module = format!(
        "#[path = {:?}]\nmod generated;\npub use generated::*;\n",
        generated.display().to_string()
    );
    std::fs::write(out.join("module.rs"), module).expect("OUT_DIR is writable");
    println!(
        "cargo::rerun-if-changed={}",
        root.join("specs/providers.toml").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        root.join(format!("{name}.yaml")).display()
    );
}

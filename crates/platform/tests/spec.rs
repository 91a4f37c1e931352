//! The checked-in model and opened spec are what the generator makes of the vendor's spec
//! (`cargo run --example import-spec -- SPEC` writes both).

use std::path::{Path, PathBuf};

use promote_platform::model::{self, import};

fn crate_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The vendor's spec, where this checkout can see it: `PROMOTE_PLATFORM_SPEC`, or the
/// `shared/platform/` directory beside the repository.
fn vendor_spec() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROMOTE_PLATFORM_SPEC") {
        return Some(PathBuf::from(p));
    }
    let beside = crate_file("../../../shared/platform/hub-promote.yaml");
    beside.exists().then_some(beside)
}

#[test]
fn the_checked_in_model_is_the_model_of_the_checked_in_opened_spec() {
    let opened = read_json(&crate_file("spec/hub-promote.json"));
    let derived = import::model(&opened).expect("the opened spec imports");
    assert!(
        &derived == model::tenant(),
        "crates/platform/src/model.json is not the model of crates/platform/spec/hub-promote.json: run `cargo run --example import-spec -- SPEC`"
    );
}

#[test]
fn the_checked_in_files_are_what_the_vendors_spec_gives() {
    let Some(path) = vendor_spec() else {
        eprintln!("the vendor's spec is not beside this checkout (set PROMOTE_PLATFORM_SPEC): compared with the opened spec only");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("the vendor's spec reads");
    let spec: serde_json::Value = serde_yaml::from_str(&text).expect("the vendor's spec is YAML");
    let model = import::model(&spec).expect("the vendor's spec imports");
    let stale = "run `cargo run --example import-spec -- SPEC` and review the diff";
    assert_eq!(
        import::model_text(&model),
        model::TEXT,
        "crates/platform/src/model.json differs from what {} gives: {stale}",
        path.display()
    );
    assert!(
        import::opened(&spec) == read_json(&crate_file("spec/hub-promote.json")),
        "crates/platform/spec/hub-promote.json differs from what {} gives: {stale}",
        path.display()
    );
}

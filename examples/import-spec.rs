//! Derives promote's model of the platform from the vendor's API description.
//!
//! ```text
//! cargo run --example import-spec -- ../shared/platform/hub-promote.yaml
//! cargo run --example import-spec -- ../shared/platform/hub-promote.yaml --check
//! ```
//!
//! Reads the spec (Swagger 2.0, YAML or JSON) and writes two generated files, both checked in:
//! - `crates/platform/src/model.json`: every object type of the tenant tree with its fields'
//!   JSON types, formats and enums, which the binary embeds (`promote_platform::model`);
//! - `crates/platform/spec/hub-promote.json`: the spec opened for conformance tools
//!   (schemathesis in `.ci/run`): no description texts, Go's `interface{}` read as any value,
//!   null accepted by every schema of a definition.
//!
//! With `--check` it writes nothing and exits 1 when either file differs from what the spec
//! gives. Taking in a newer spec is running this again and reviewing the diff.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use promote_platform::model::import;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let Some(spec) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: import-spec SPEC [--check]");
        return ExitCode::from(2);
    };
    match run(Path::new(spec), check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("import-spec: {spec}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes (or with `check`, compares) the generated files; returns whether they were current.
fn run(spec: &Path, check: bool) -> Result<bool, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(spec)?;
    let spec: serde_json::Value = serde_yaml::from_str(&text)?;
    let model = import::model(&spec)?;
    let opened = import::opened(&spec);
    let mut opened_text = serde_json::to_string_pretty(&opened)?;
    opened_text.push('\n');
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/platform");
    let outputs = [
        (root.join("src/model.json"), import::model_text(&model)),
        (root.join("spec/hub-promote.json"), opened_text),
    ];
    let mut current = true;
    for (path, text) in outputs {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old == text {
            eprintln!("{}: up to date", path.display());
            continue;
        }
        current = false;
        if check {
            eprintln!("{}: differs from what the spec gives", path.display());
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)?;
            eprintln!("{}: written", path.display());
        }
    }
    let fields: usize = model.types.values().map(|f| f.len()).sum();
    eprintln!(
        "{} object types, {fields} fields, from {}",
        model.types.len(),
        model.source
    );
    Ok(current || !check)
}

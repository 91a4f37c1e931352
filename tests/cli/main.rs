//! End-to-end tests of the `promote` binary: each test builds a configuration repository in a
//! temporary directory and runs the real binary in it (see `support.rs`).
//!
//! One test binary for all of them, so cargo links once; the modules follow the commands.

#![allow(clippy::unwrap_used)]

mod apply;
mod backup;
mod bad_input;
mod diff;
mod drift;
mod export;
mod live;
mod migrate;
mod plan;
mod remote;
mod render;
mod rollback;
mod support;
mod validate;

/// The modules declared above. A test file that is not declared here is never compiled, so its
/// tests would silently not run; `every_test_file_is_a_module` catches that.
const MODULES: &[&str] = &[
    "apply",
    "backup",
    "bad_input",
    "diff",
    "drift",
    "export",
    "live",
    "main",
    "migrate",
    "plan",
    "remote",
    "render",
    "rollback",
    "support",
    "validate",
];

#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    files.sort();
    assert_eq!(
        files, MODULES,
        "every .rs file in tests/cli/ must be declared as a module in main.rs and listed in MODULES"
    );
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let declared: Vec<&str> = main
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let expected: Vec<&str> = MODULES.iter().copied().filter(|m| *m != "main").collect();
    assert_eq!(
        declared, expected,
        "MODULES must list the `mod` lines of main.rs"
    );
}

//! End-to-end tests of the emulator: each test starts the real `promote serve` binary on an
//! ephemeral loopback port with a temporary data directory and speaks HTTP to it (see
//! `support.rs`); `embedded.rs` starts it in-process through the library instead.
//!
//! One test binary for all of them, so cargo links once; the modules follow the parts of the API.

#![allow(clippy::unwrap_used)]

mod concurrency;
mod credentials;
mod embedded;
mod export_import;
mod faults;
mod idempotency;
mod modes;
mod oauth;
mod openapi;
mod patches;
mod persistence;
mod robustness;
mod support;
mod validation;

/// The modules declared above. A test file that is not declared here is never compiled, so its
/// tests would silently not run; `every_test_file_is_a_module` catches that.
const MODULES: &[&str] = &[
    "concurrency",
    "credentials",
    "embedded",
    "export_import",
    "faults",
    "idempotency",
    "main",
    "modes",
    "oauth",
    "openapi",
    "patches",
    "persistence",
    "robustness",
    "support",
    "validation",
];

#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    files.sort();
    assert_eq!(
        files, MODULES,
        "every .rs file in tests/emulator/ must be declared as a module in main.rs and listed in MODULES"
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

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
mod model;
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
    "model",
    "modes",
    "oauth",
    "openapi",
    "patches",
    "persistence",
    "robustness",
    "support",
    "validation",
];

include!("../common/modules.rs");

#[test]
fn every_test_file_is_a_module() {
    check_modules("emulator", MODULES);
}

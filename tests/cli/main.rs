//! End-to-end tests of the `promote` binary: each test builds a configuration repository in a
//! temporary directory and runs the real binary in it (see `support.rs`).
//!
//! One test binary for all of them, so cargo links once; the modules follow the commands.

#![allow(clippy::unwrap_used)]

mod adopt;
mod apply;
mod audit;
mod backup;
mod bad_input;
mod ci;
mod corpus;
mod crash;
mod diff;
mod docs;
mod drift;
mod editor;
mod export;
mod filesystem;
mod ignore;
mod live;
mod lock;
mod logs;
mod material;
mod migrate;
mod plan;
mod remote;
mod render;
mod review;
mod rollback;
mod saved;
mod schema;
mod soak;
mod support;
mod surface;
mod tls;
mod validate;

/// The modules declared above. A test file that is not declared here is never compiled, so its
/// tests would silently not run; `every_test_file_is_a_module` catches that.
const MODULES: &[&str] = &[
    "adopt",
    "apply",
    "audit",
    "backup",
    "bad_input",
    "ci",
    "corpus",
    "crash",
    "diff",
    "docs",
    "drift",
    "editor",
    "export",
    "filesystem",
    "ignore",
    "live",
    "lock",
    "logs",
    "main",
    "material",
    "migrate",
    "plan",
    "remote",
    "render",
    "review",
    "rollback",
    "saved",
    "schema",
    "soak",
    "support",
    "surface",
    "tls",
    "validate",
];

include!("../common/modules.rs");

#[test]
fn every_test_file_is_a_module() {
    check_modules("cli", MODULES);
}

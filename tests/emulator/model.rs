//! The emulator takes what the platform's model says is valid: trees generated from the model
//! (every object type, optional fields present or not, awkward IDs; no credentials, material
//! or references, which the platform makes or checks itself) are imported with 204 and
//! exported back as they were written. With the emulator decoding writes against the same
//! model, this is where the two are seen to agree.

use promote_platform::arb::typed;
use promote_platform::credentials::{self, Scope};
use promote_platform::material;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{At, Server};

#[test]
fn trees_of_the_platforms_shapes_are_stored_as_written() {
    let s = Server::start();
    let token = s.acme();
    let at = At::tenant("acme");
    // One server for every case: each import replaces the whole tenant, and `mode=update`
    // overwrites the entries an earlier case left under the same IDs.
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&typed::tenant(), |tree| {
        let reply = s.import(&token, &at, &tree, "mode=update");
        prop_assert_eq!(reply.status, 204, "{}", reply);
        let mut back = s.export(&token, &at, false);
        // What the platform generates on import (signing keys, secrets, salts) is its own.
        credentials::strip(&mut back, Scope::Tenant);
        material::strip(&mut back, Scope::Tenant);
        prop_assert_eq!(back, tree);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

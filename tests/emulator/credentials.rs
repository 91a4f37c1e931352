//! `with_credentials`, credentials the platform generates on import, and credentials carried
//! over (never rotated) when a tree without them is imported again.

use serde_json::{json, Value};

use crate::support::{keys_named, At, Server};

/// A tenant with a confidential client, a public client and a private_key_jwt client.
fn tree() -> Value {
    json!({
        "name": "acme",
        "servers": {"w": {
            "name": "W",
            "clients": {
                "confidential": {"client_name": "c", "token_endpoint_auth_method": "client_secret_basic"},
                "default": {"client_name": "d"},
                "public": {"client_name": "p", "token_endpoint_auth_method": "none"},
                "jwt": {"client_name": "j", "token_endpoint_auth_method": "private_key_jwt"}
            }
        }}
    })
}

/// The credential fields of a tree, by pointer.
fn credential_pointers(tree: &Value) -> Vec<String> {
    let mut found = keys_named(
        tree,
        &[
            "client_secret",
            "secret",
            "subject_identifier_algorithm_salt",
        ],
    );
    // JWK private members.
    found.extend(
        keys_named(tree, &["d", "p", "q", "dp", "dq", "qi", "k"])
            .into_iter()
            .filter(|p| p.contains("/jwks/")),
    );
    found.sort();
    found
}

fn setup() -> (Server, String) {
    let s = Server::start();
    let token = s.acme();
    s.import(&token, &At::tenant("acme"), &tree(), "")
        .expect(204);
    (s, token)
}

#[test]
fn import_without_credentials_generates_them() {
    let (s, token) = setup();
    let t = s.export(&token, &At::tenant("acme"), true);
    let ws = &t["servers"]["w"];
    for secret in [
        &ws["clients"]["confidential"]["client_secret"],
        &ws["clients"]["default"]["client_secret"],
        &ws["secret"],
        &ws["subject_identifier_algorithm_salt"],
    ] {
        let s = secret.as_str().unwrap_or_else(|| panic!("missing in {t}"));
        assert!(s.len() >= 32, "{s}");
    }
    assert_ne!(
        ws["clients"]["confidential"]["client_secret"],
        ws["clients"]["default"]["client_secret"]
    );
    // Clients that authenticate without a secret get none.
    assert_eq!(
        ws["clients"]["public"],
        json!({"client_name": "p", "token_endpoint_auth_method": "none"})
    );
    assert!(ws["clients"]["jwt"].get("client_secret").is_none(), "{t}");
    // Signing keys, for the tenant and the workspace.
    for jwks in [&t["jwks"], &ws["jwks"]] {
        let key = &jwks["keys"][0];
        for member in ["d", "x", "y", "kid"] {
            assert!(
                key[member].as_str().is_some_and(|v| !v.is_empty()),
                "{member} in {jwks}"
            );
        }
        assert_eq!(key["kty"], "EC");
    }
    assert_ne!(t["jwks"]["keys"][0]["d"], ws["jwks"]["keys"][0]["d"]);
}

#[test]
fn export_without_credentials_has_none() {
    let (s, token) = setup();
    let without = s.export(&token, &At::tenant("acme"), false);
    assert_eq!(
        credential_pointers(&without),
        Vec::<String>::new(),
        "{without}"
    );
    // The public half of the signing keys stays.
    assert!(
        without["servers"]["w"]["jwks"]["keys"][0]["x"].is_string(),
        "{without}"
    );
    assert!(without["jwks"]["keys"][0]["kid"].is_string(), "{without}");
    // The default is without.
    let default = s.get(&At::tenant("acme").config(""), Some(&token));
    default.expect(200);
    assert_eq!(default.json, without);
    for at in [At::system("acme"), At::workspace("acme", "w")] {
        let export = s.export(&token, &at, false);
        assert_eq!(
            credential_pointers(&export),
            Vec::<String>::new(),
            "{export}"
        );
    }
    assert_eq!(
        s.export(&token, &At::workspace("acme", "w"), false),
        without["servers"]["w"]
    );
}

#[test]
fn export_with_credentials_has_them() {
    let (s, token) = setup();
    let with = s.export(&token, &At::tenant("acme"), true);
    assert_eq!(
        credential_pointers(&with),
        [
            "/jwks/keys/0/d",
            "/servers/w/clients/confidential/client_secret",
            "/servers/w/clients/default/client_secret",
            "/servers/w/jwks/keys/0/d",
            "/servers/w/secret",
            "/servers/w/subject_identifier_algorithm_salt",
        ]
    );
    let ws = s.export(&token, &At::workspace("acme", "w"), true);
    assert_eq!(ws, with["servers"]["w"]);
    assert_eq!(s.export(&token, &At::system("acme"), true), with);
}

#[test]
fn reimporting_an_export_without_credentials_keeps_the_same_secrets() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    let with = s.export(&token, &acme, true);
    let without = s.export(&token, &acme, false);
    for query in ["mode=update", "", "mode=ignore"] {
        s.import(&token, &acme, &without, query).expect(204);
        assert_eq!(s.export(&token, &acme, true), with, "{query}");
    }
    // Through the workspace endpoint too.
    let w = At::workspace("acme", "w");
    s.import(&token, &w, &without["servers"]["w"], "mode=update")
        .expect(204);
    assert_eq!(s.export(&token, &acme, true), with);
    // And through patches that replace a client without its secret.
    s.json_patch(
        &token,
        &w,
        &json!([{"op": "replace", "path": "/clients/confidential", "value": {"client_name": "c2"}}]),
        "",
    )
    .expect(204);
    let after = s.export(&token, &acme, true);
    assert_eq!(
        after["servers"]["w"]["clients"]["confidential"]["client_secret"],
        with["servers"]["w"]["clients"]["confidential"]["client_secret"]
    );
}

#[test]
fn credentials_given_in_an_import_are_kept() {
    let s = Server::start();
    let token = s.acme();
    let mut t = tree();
    t["servers"]["w"]["clients"]["confidential"]["client_secret"] =
        json!("my-own-client-secret-that-is-long-enough");
    t["servers"]["w"]["secret"] = json!("my-own-workspace-secret-0123456789abcdef");
    s.import(&token, &At::tenant("acme"), &t, "").expect(204);
    let with = s.export(&token, &At::tenant("acme"), true);
    assert_eq!(
        with["servers"]["w"]["clients"]["confidential"]["client_secret"],
        "my-own-client-secret-that-is-long-enough"
    );
    assert_eq!(
        with["servers"]["w"]["secret"],
        "my-own-workspace-secret-0123456789abcdef"
    );
}

#[test]
fn a_new_import_without_credentials_into_another_tenant_gets_fresh_ones() {
    let (s, token) = setup();
    let without = s.export(&token, &At::tenant("acme"), false);
    let other = s.other();
    s.import(&other, &At::tenant("other"), &without, "")
        .expect(204);
    let a = s.export(&token, &At::tenant("acme"), true);
    let o = s.export(&other, &At::tenant("other"), true);
    let secret = "/servers/w/clients/confidential/client_secret";
    assert!(o.pointer(secret).is_some_and(Value::is_string), "{o}");
    assert_ne!(a.pointer(secret), o.pointer(secret));
    assert_ne!(
        a.pointer("/servers/w/secret"),
        o.pointer("/servers/w/secret")
    );
}

//! Every promotion endpoint (tenant, workspace, system with `?tid=`) exports, imports and
//! patches; workspaces come into being by import; unknown workspaces are 404.

use serde_json::{json, Value};

use crate::support::{At, Server};

/// Exercises export, import, RFC 6902 and RFC 7396 at `at`; `prefix` is where the workspace's
/// `clients` are in the documents of that endpoint (`/servers/w` or empty).
fn round_trip(at: At, prefix: &str) {
    let s = Server::start();
    let token = s.acme();
    let workspace = json!({"clients": {"c1": {"client_name": "one"}}});
    let tree = if prefix.is_empty() {
        workspace
    } else {
        json!({"name": "acme", "servers": {"w": workspace}})
    };
    let empty = s.get(&at.config(""), Some(&token));
    if prefix.is_empty() {
        empty.error(404, "workspace_not_found");
    } else {
        empty.expect(200);
        assert_eq!(empty.json, json!({}));
    }

    s.import(&token, &at, &tree, "").expect(204);
    let name = |s: &Server| -> Value {
        let export = s.export(&token, &at, false);
        export
            .pointer(&format!("{prefix}/clients/c1/client_name"))
            .cloned()
            .unwrap_or_else(|| panic!("no client c1 in {export}"))
    };
    assert_eq!(name(&s), "one");

    s.json_patch(
        &token,
        &at,
        &json!([{"op": "replace", "path": format!("{prefix}/clients/c1/client_name"), "value": "two"}]),
        "",
    )
    .expect(204);
    assert_eq!(name(&s), "two");

    let mut doc = json!({"clients": {"c1": {"client_name": "three"}}});
    if !prefix.is_empty() {
        doc = json!({"servers": {"w": doc}});
    }
    s.merge_patch(&token, &at, &doc, "").expect(204);
    assert_eq!(name(&s), "three");

    // Every endpoint sees the same tenant.
    let tenant = s.export(&token, &At::tenant("acme"), true);
    assert_eq!(s.export(&token, &At::system("acme"), true), tenant);
    assert_eq!(
        s.export(&token, &At::workspace("acme", "w"), true),
        tenant["servers"]["w"]
    );
    assert_eq!(
        tenant["servers"]["w"]["clients"]["c1"]["client_name"],
        "three"
    );
}

#[test]
fn tenant_endpoints() {
    round_trip(At::tenant("acme"), "/servers/w");
}

#[test]
fn workspace_endpoints() {
    round_trip(At::workspace("acme", "w"), "");
}

#[test]
fn system_endpoints_with_tid() {
    round_trip(At::system("acme"), "/servers/w");
}

#[test]
fn system_endpoints_without_tid_are_400() {
    let s = Server::start();
    let token = s.acme();
    let body = json!({"name": "x"});
    let replies = [
        s.get("/api/hub/system/promote/config", Some(&token)),
        s.post("/api/hub/system/promote/config", Some(&token), &body),
        s.patch(
            "/api/hub/system/promote/config-rfc6902",
            Some(&token),
            "application/json-patch+json",
            &json!([]),
        ),
        s.patch(
            "/api/hub/system/promote/config-rfc7396",
            Some(&token),
            "application/merge-patch+json",
            &body,
        ),
        // Another query parameter is not a tenant.
        s.get(
            "/api/hub/system/promote/config?with_credentials=true",
            Some(&token),
        ),
        // Nor is a tenant given twice.
        s.get(
            "/api/hub/system/promote/config?tid=acme&tid=other",
            Some(&token),
        ),
    ];
    for r in replies {
        r.error(400, "bad_request");
    }
    assert_eq!(s.export(&token, &At::tenant("acme"), true), json!({}));
}

#[test]
fn import_into_an_unknown_workspace_creates_it() {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"old": {"name": "Old"}}}),
        "",
    )
    .expect(204);
    let new = At::workspace("acme", "new");
    s.get(&new.config(""), Some(&token))
        .error(404, "workspace_not_found");
    s.import(
        &token,
        &new,
        &json!({"name": "New", "clients": {"c": {}}}),
        "",
    )
    .expect(204);
    let export = s.export(&token, &new, false);
    assert_eq!(export["name"], "New");
    assert_eq!(export["clients"], json!({"c": {}}));
    // The other workspace is untouched.
    let tenant = s.export(&token, &At::tenant("acme"), false);
    let mut ids: Vec<&String> = tenant["servers"].as_object().unwrap().keys().collect();
    ids.sort();
    assert_eq!(ids, ["new", "old"]);
    assert_eq!(tenant["servers"]["old"]["name"], "Old");
}

#[test]
fn export_and_patch_of_an_unknown_workspace_are_404() {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &At::workspace("acme", "w"),
        &json!({"name": "W"}),
        "",
    )
    .expect(204);
    let before = s.export(&token, &At::tenant("acme"), true);
    let nope = At::workspace("acme", "nope");
    let r = s.get(&nope.config(""), Some(&token));
    assert!(r.error(404, "workspace_not_found").is_null(), "{r}");
    s.get(&nope.config("with_credentials=true"), Some(&token))
        .error(404, "workspace_not_found");
    s.merge_patch(&token, &nope, &json!({"name": "x"}), "")
        .error(404, "workspace_not_found");
    s.json_patch(
        &token,
        &nope,
        &json!([{"op": "add", "path": "/name", "value": "x"}]),
        "",
    )
    .error(404, "workspace_not_found");
    // Not even under dry_run or mode=update.
    s.merge_patch(
        &token,
        &nope,
        &json!({"name": "x"}),
        "mode=update&dry_run=true",
    )
    .error(404, "workspace_not_found");
    assert_eq!(s.export(&token, &At::tenant("acme"), true), before);
}

#[test]
fn exports_are_stable_bytes() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(
        &token,
        &acme,
        &json!({"z": 1, "a": {"y": 2, "b": 3}, "servers": {"w2": {}, "w1": {"clients": {"b": {}, "a": {}}}}}),
        "",
    )
    .expect(204);
    for creds in ["false", "true"] {
        let path = acme.config(&format!("with_credentials={creds}"));
        let first = s.get(&path, Some(&token));
        let second = s.get(&path, Some(&token));
        assert_eq!(first.text, second.text);
        // Keys are sorted.
        let a = first.text.find("\"a\"").unwrap();
        let z = first.text.find("\"z\"").unwrap();
        assert!(a < z, "{first}");
    }
}

#[test]
fn unknown_keys_are_carried_through() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    let tree = json!({
        "future_top_level": {"nested": [1, {"x": null}]},
        "servers": {"w": {
            "future_collection": {"x": {"y": true}},
            "clients": {"c": {"token_endpoint_auth_method": "none", "future_field": "kept"}}
        }}
    });
    s.import(&token, &acme, &tree, "").expect(204);
    let export = s.export(&token, &acme, false);
    assert_eq!(export["future_top_level"], tree["future_top_level"]);
    assert_eq!(
        export["servers"]["w"]["future_collection"],
        tree["servers"]["w"]["future_collection"]
    );
    assert_eq!(
        export["servers"]["w"]["clients"],
        tree["servers"]["w"]["clients"]
    );
}

/// "Never reject a key you do not know; carry it through untouched": numbers too.
#[test]
#[ignore = "bug: integers beyond 64 bits are carried as f64 and come back changed (12345678901234567890123 -> 1.2345678901234568e+22); serde_json without `arbitrary_precision` (Cargo.toml), used by src/emulator/api.rs parse_json and store.rs"]
fn large_numbers_are_carried_through_untouched() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.write(
        "POST",
        &acme.config(""),
        Some(&token),
        "application/json",
        r#"{"big": 12345678901234567890123, "precise": 0.30000000000000004}"#,
    )
    .expect(204);
    let r = s.get(&acme.config(""), Some(&token));
    r.expect(200);
    assert!(r.text.contains(r#""big":12345678901234567890123"#), "{r}");
    assert!(r.text.contains(r#""precise":0.30000000000000004"#), "{r}");
}

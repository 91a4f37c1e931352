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
        &json!({"metadata": {"z": 1, "a": {"y": 2, "b": 3}}, "servers": {"w2": {}, "w1": {"clients": {"b": {}, "a": {}}}}}),
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

/// The platform decodes writes into its typed structures: a field its model does not know is
/// dropped without a word (and a field named in another case takes the model's spelling).
#[test]
fn unknown_keys_are_dropped_as_the_platform_drops_them() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(&token, &acme, &future_tree(), "").expect(204);
    let export = s.export(&token, &acme, false);
    assert!(export.get("future_top_level").is_none(), "{export}");
    assert!(
        export["servers"]["w"].get("future_collection").is_none(),
        "{export}"
    );
    assert_eq!(
        export["servers"]["w"]["clients"],
        json!({"c": {"token_endpoint_auth_method": "none", "client_name": "app"}})
    );
    // Patches too, both kinds.
    let w = At::workspace("acme", "w");
    s.merge_patch(
        &token,
        &w,
        &json!({"clients": {"c": {"future_field": 1}}}),
        "",
    )
    .expect(204);
    s.json_patch(
        &token,
        &w,
        &json!([{"op": "add", "path": "/clients/c/token_endpoint_auth_methd", "value": "client_secret_basic"}]),
        "",
    )
    .expect(204);
    assert_eq!(
        s.export(&token, &w, false)["clients"]["c"],
        json!({"token_endpoint_auth_method": "none", "client_name": "app"})
    );
}

/// `promote serve --keep-unknown` stands in for a platform newer than its spec: what the model
/// does not know is carried through untouched.
#[test]
fn keep_unknown_carries_unknown_keys_through() {
    let s = Server::with_args(&["--keep-unknown"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    let tree = future_tree();
    s.import(&token, &acme, &tree, "").expect(204);
    let export = s.export(&token, &acme, false);
    assert_eq!(export["future_top_level"], tree["future_top_level"]);
    assert_eq!(
        export["servers"]["w"]["future_collection"],
        tree["servers"]["w"]["future_collection"]
    );
    let client = &export["servers"]["w"]["clients"]["c"];
    assert_eq!(client["future_field"], "kept");
    assert_eq!(client["client_name"], "app");
}

/// A tenant with fields the platform's model does not know, and one named in another case.
fn future_tree() -> Value {
    json!({
        "future_top_level": {"nested": [1, {"x": null}]},
        "servers": {"w": {
            "future_collection": {"x": {"y": true}},
            "clients": {"c": {
                "token_endpoint_auth_method": "none",
                "future_field": "kept",
                "Client_Name": "app"
            }}
        }}
    })
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
        r#"{"metadata": {"big": 12345678901234567890123, "precise": 0.30000000000000004}}"#,
    )
    .expect(204);
    let r = s.get(&acme.config(""), Some(&token));
    r.expect(200);
    assert!(r.text.contains(r#""big":12345678901234567890123"#), "{r}");
    assert!(r.text.contains(r#""precise":0.30000000000000004"#), "{r}");
}

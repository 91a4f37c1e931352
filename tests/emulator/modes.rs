//! Conflict modes (`ignore`, `fail`, `update`), their defaults per operation, and `dry_run`.
//!
//! Each test starts from workspace `w` holding clients `a` ("A") and `b` ("B"), and writes a
//! document that names `a` again (the conflict) and a new client `c`.

use serde_json::{json, Value};

use crate::support::{At, Server};

fn w() -> At {
    At::workspace("acme", "w")
}

/// A server whose acme has workspace `w` with clients `a` and `b`; returns it and a token.
fn setup() -> (Server, String) {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &w(),
        &json!({"name": "W", "clients": {"a": {"client_name": "A"}, "b": {"client_name": "B"}}}),
        "",
    )
    .expect(204);
    (s, token)
}

/// The client names of `w`, as `{id: name}`.
fn names(s: &Server, token: &str) -> Value {
    let export = s.export(token, &w(), false);
    let mut out = serde_json::Map::new();
    for (id, c) in export["clients"].as_object().unwrap() {
        out.insert(id.clone(), c["client_name"].clone());
    }
    Value::Object(out)
}

/// The whole tenant with credentials: what "nothing changed" compares.
fn everything(s: &Server, token: &str) -> Value {
    s.export(token, &At::tenant("acme"), true)
}

fn import_doc() -> Value {
    json!({"name": "W2", "clients": {"a": {"client_name": "A2"}, "c": {"client_name": "C"}}})
}

fn ops() -> Value {
    json!([
        {"op": "add", "path": "/clients/a", "value": {"client_name": "A2"}},
        {"op": "add", "path": "/clients/c", "value": {"client_name": "C"}}
    ])
}

fn merge_doc() -> Value {
    json!({"clients": {"a": {"client_name": "A2"}, "c": {"client_name": "C"}}})
}

#[test]
fn import_without_mode_is_ignore() {
    for query in ["", "mode=ignore"] {
        let (s, token) = setup();
        let secret_a =
            everything(&s, &token)["servers"]["w"]["clients"]["a"]["client_secret"].clone();
        s.import(&token, &w(), &import_doc(), query).expect(204);
        // a keeps the target's version, c is added, b is gone (import replaces everything).
        assert_eq!(names(&s, &token), json!({"a": "A", "c": "C"}), "{query}");
        let after = everything(&s, &token);
        assert_eq!(
            after["servers"]["w"]["clients"]["a"]["client_secret"],
            secret_a
        );
        // The workspace endpoint's document is the workspace itself, not an entry of it: its
        // own fields are the incoming ones.
        assert_eq!(after["servers"]["w"]["name"], "W2", "{query}");
    }
}

#[test]
fn tenant_import_without_mode_keeps_an_existing_workspace() {
    let (s, token) = setup();
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({"name": "acme", "servers": {"w": import_doc(), "w2": {"name": "W2"}}}),
        "",
    )
    .expect(204);
    let after = everything(&s, &token);
    // The workspace is an entry that exists on both sides: its own fields stay the target's,
    // while its clients are merged entry by entry.
    assert_eq!(after["name"], "acme");
    assert_eq!(after["servers"]["w"]["name"], "W");
    assert_eq!(names(&s, &token), json!({"a": "A", "c": "C"}));
    assert_eq!(after["servers"]["w2"]["name"], "W2");
}

#[test]
fn import_mode_fail_refuses_a_conflict_and_changes_nothing() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let details = s
        .import(&token, &w(), &import_doc(), "mode=fail")
        .error(409, "conflict")
        .clone();
    assert_eq!(details, json!(["/clients/a"]));
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn import_mode_fail_names_every_conflict_through_the_tenant_endpoint() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let r = s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"w": {"clients": {"a": {}, "b": {}, "c": {}}}, "w2": {}}}),
        "mode=fail",
    );
    assert_eq!(
        r.error(409, "conflict"),
        &json!(["/servers/w", "/servers/w/clients/a", "/servers/w/clients/b"])
    );
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn import_mode_fail_without_a_conflict_applies() {
    let (s, token) = setup();
    s.import(
        &token,
        &w(),
        &json!({"clients": {"c": {"client_name": "C"}}}),
        "mode=fail",
    )
    .expect(204);
    assert_eq!(names(&s, &token), json!({"c": "C"}));
}

#[test]
fn import_mode_update_takes_the_incoming() {
    let (s, token) = setup();
    let secret_a = everything(&s, &token)["servers"]["w"]["clients"]["a"]["client_secret"].clone();
    s.import(&token, &w(), &import_doc(), "mode=update")
        .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A2", "c": "C"}));
    let after = everything(&s, &token);
    assert_eq!(after["servers"]["w"]["name"], "W2");
    // The incoming client has no secret: the live one is carried over, not rotated.
    assert_eq!(
        after["servers"]["w"]["clients"]["a"]["client_secret"],
        secret_a
    );
}

#[test]
fn patch_6902_without_mode_is_update() {
    for query in ["", "mode=update"] {
        let (s, token) = setup();
        s.json_patch(&token, &w(), &ops(), query).expect(204);
        assert_eq!(
            names(&s, &token),
            json!({"a": "A2", "b": "B", "c": "C"}),
            "{query}"
        );
    }
}

#[test]
fn patch_6902_mode_ignore_skips_the_conflicting_op() {
    let (s, token) = setup();
    s.json_patch(&token, &w(), &ops(), "mode=ignore")
        .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A", "b": "B", "c": "C"}));
}

#[test]
fn patch_6902_mode_fail_refuses_and_changes_nothing() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let r = s.json_patch(&token, &w(), &ops(), "mode=fail");
    assert_eq!(r.error(409, "conflict"), &json!(["/clients/a"]));
    assert_eq!(everything(&s, &token), before);
    // Changing a field of an existing client is not a conflict.
    s.json_patch(
        &token,
        &w(),
        &json!([{"op": "add", "path": "/clients/a/client_name", "value": "A3"}]),
        "mode=fail",
    )
    .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A3", "b": "B"}));
}

#[test]
fn patch_7396_without_mode_is_update() {
    for query in ["", "mode=update"] {
        let (s, token) = setup();
        s.merge_patch(&token, &w(), &merge_doc(), query).expect(204);
        assert_eq!(
            names(&s, &token),
            json!({"a": "A2", "b": "B", "c": "C"}),
            "{query}"
        );
    }
}

#[test]
fn patch_7396_mode_ignore_keeps_the_target() {
    let (s, token) = setup();
    s.merge_patch(&token, &w(), &merge_doc(), "mode=ignore")
        .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A", "b": "B", "c": "C"}));
}

#[test]
fn patch_7396_mode_fail_refuses_and_changes_nothing() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let r = s.merge_patch(&token, &w(), &merge_doc(), "mode=fail");
    assert_eq!(r.error(409, "conflict"), &json!(["/clients/a"]));
    assert_eq!(everything(&s, &token), before);
    // Removing is never a conflict.
    s.merge_patch(&token, &w(), &json!({"clients": {"b": null}}), "mode=fail")
        .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A"}));
}

#[test]
fn bad_mode_is_400() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    // (An empty `mode=` is the default mode, as on the platform: robustness.rs.)
    for mode in ["overwrite", "FAIL", "update,fail"] {
        let q = format!("mode={mode}");
        s.import(&token, &w(), &import_doc(), &q)
            .error(400, "bad_request");
        s.json_patch(&token, &w(), &ops(), &q)
            .error(400, "bad_request");
        s.merge_patch(&token, &w(), &merge_doc(), &q)
            .error(400, "bad_request");
    }
    // A mode given twice is refused too.
    s.import(&token, &w(), &import_doc(), "mode=update&mode=fail")
        .error(400, "bad_request");
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn dry_run_import_answers_204_and_changes_nothing() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    for query in ["dry_run=true", "dry_run=true&mode=update", "dry_run=1"] {
        s.import(&token, &w(), &import_doc(), query).expect(204);
        s.import(&token, &At::tenant("acme"), &json!({}), query)
            .expect(204);
        s.import(&token, &At::workspace("acme", "new"), &json!({}), query)
            .expect(204);
        assert_eq!(everything(&s, &token), before, "{query}");
    }
    s.get(&At::workspace("acme", "new").config(""), Some(&token))
        .error(404, "workspace_not_found");
    // dry_run=false writes.
    s.import(&token, &w(), &import_doc(), "dry_run=false&mode=update")
        .expect(204);
    assert_eq!(names(&s, &token), json!({"a": "A2", "c": "C"}));
}

#[test]
fn dry_run_patches_answer_204_and_change_nothing() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    s.json_patch(&token, &w(), &ops(), "dry_run=true")
        .expect(204);
    s.merge_patch(&token, &w(), &merge_doc(), "dry_run=true")
        .expect(204);
    s.merge_patch(
        &token,
        &At::tenant("acme"),
        &json!({"servers": null}),
        "dry_run=true",
    )
    .expect(204);
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn dry_run_answers_the_error_the_write_would() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let dangling = json!({"idps": {"x": {"identity_pool_id": "nope"}}});
    let cases: Vec<(&str, Value, &str, u16, &str)> = vec![
        ("import", import_doc(), "mode=fail", 409, "conflict"),
        ("6902", ops(), "mode=fail", 409, "conflict"),
        ("7396", merge_doc(), "mode=fail", 409, "conflict"),
        ("import", dangling, "", 422, "validation_failed"),
        (
            "7396",
            json!({"services": {"s": {"apis": {"a": {"policy_id": "nope"}}}}}),
            "",
            422,
            "validation_failed",
        ),
        (
            "6902",
            json!([{"op": "test", "path": "/name", "value": "not W"}]),
            "",
            409,
            "precondition_failed",
        ),
        (
            "6902",
            json!([{"op": "replace", "path": "/clients/nope/client_name", "value": "x"}]),
            "",
            422,
            "patch_not_applicable",
        ),
    ];
    for (op, body, query, status, code) in cases {
        let send = |q: &str| match op {
            "import" => s.import(&token, &w(), &body, q),
            "6902" => s.json_patch(&token, &w(), &body, q),
            _ => s.merge_patch(&token, &w(), &body, q),
        };
        let dry_query = if query.is_empty() {
            "dry_run=true".to_owned()
        } else {
            format!("{query}&dry_run=true")
        };
        let dry = send(&dry_query);
        dry.error(status, code);
        let real = send(query);
        real.error(status, code);
        assert_eq!(dry.json["details"], real.json["details"], "{op} {query}");
        assert_eq!(everything(&s, &token), before, "{op} {query}");
    }
}

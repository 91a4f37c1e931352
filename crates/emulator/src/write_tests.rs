use proptest::prelude::*;
use serde_json::json;

use super::*;
use promote_platform::tree::{TENANT, WORKSPACE};

fn ops(v: Value) -> Vec<json_patch::PatchOperation> {
    serde_json::from_value(v).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn documented_rfc6902_example_with_the_array_append_quirk() {
    let ws = json!({"clients":{"sample-client-id":{"client_name":"sample-application","response_types":["code","token"]}}});
    let patch = ops(json!([
        {"op":"replace","path":"/clients/sample-client-id/client_name","value":"demo-application"},
        {"op":"add","path":"/clients/sample-client-id/response_types","value":"id_token"}
    ]));
    let out = apply_ops(&ws, &patch, &WORKSPACE, Mode::Update).unwrap();
    assert_eq!(
        out,
        json!({"clients":{"sample-client-id":{"client_name":"demo-application","response_types":["code","token","id_token"]}}})
    );
}

#[test]
fn adding_an_array_at_an_array_path_replaces_it_as_rfc6902_says() {
    let ws = json!({"clients":{"c":{"response_types":["code"]}}});
    let patch = ops(json!([{"op":"add","path":"/clients/c/response_types","value":["token"]}]));
    let out = apply_ops(&ws, &patch, &WORKSPACE, Mode::Update).unwrap();
    assert_eq!(out["clients"]["c"]["response_types"], json!(["token"]));
}

#[test]
fn documented_rfc7396_example() {
    let ws = json!({"clients":{"sample-client-id":{"client_name":"sample-application","response_types":["token"],"scopes":["email","profile","openid","offline_access"]},"demo-client-id":{"client_name":"demo-application"}}});
    let patch = obj(
        json!({"clients":{"sample-client-id":{"response_types":["code","token","id_token"],"scopes":["email","profile"]},"demo-client-id":null}}),
    );
    let out = merge(&ws, &patch, &WORKSPACE, Mode::Update).unwrap();
    assert_eq!(
        out,
        json!({"clients":{"sample-client-id":{"client_name":"sample-application","response_types":["code","token","id_token"],"scopes":["email","profile"]}}})
    );
}

fn tenant() -> Value {
    json!({
        "name": "Acme",
        "pools": {"staff": {"name": "Staff"}},
        "servers": {
            "default": {
                "name": "Default",
                "clients": {"web": {"client_name": "Web"}, "cli": {"client_name": "CLI"}},
                "claims": {"id_token": {"email": {"mapping": "email"}}}
            }
        }
    })
}

#[test]
fn import_modes_on_conflicting_entries() {
    let incoming = obj(json!({
        "name": "Acme 2",
        "servers": {
            "default": {
                "name": "Default 2",
                "clients": {"web": {"client_name": "Web 2"}, "new": {"client_name": "New"}},
                "claims": {"id_token": {"email": {"mapping": "mail"}, "sub": {"mapping": "id"}}}
            }
        }
    }));
    let t = tenant();
    let ignored = import(Some(&t), &incoming, &TENANT, Mode::Ignore).unwrap();
    assert_eq!(
        ignored,
        json!({
            "name": "Acme 2",
            "servers": {
                "default": {
                    "name": "Default",
                    "clients": {"web": {"client_name": "Web"}, "new": {"client_name": "New"}},
                    "claims": {"id_token": {"email": {"mapping": "email"}, "sub": {"mapping": "id"}}}
                }
            }
        }),
        "ignore keeps the target's entries and the existing workspace's own fields; the import drops what it lacks (pools, cli)"
    );
    let updated = import(Some(&t), &incoming, &TENANT, Mode::Update).unwrap();
    assert_eq!(updated, Value::Object(incoming.clone()));
    let Err(Refused::Conflicts(c)) = import(Some(&t), &incoming, &TENANT, Mode::Fail) else {
        panic!("fail must refuse");
    };
    assert_eq!(
        c,
        [
            "/servers/default",
            "/servers/default/clients/web",
            "/servers/default/claims/id_token/email"
        ]
    );
    // Into nothing: no conflicts in any mode.
    assert_eq!(
        import(None, &incoming, &TENANT, Mode::Fail).unwrap(),
        Value::Object(incoming)
    );
}

#[test]
fn merge_modes_on_conflicting_entries() {
    let t = tenant();
    let patch = obj(json!({
        "name": "Acme 2",
        "servers": {"default": {
            "name": "Default 2",
            "clients": {"web": {"client_name": "Web 2"}, "new": {"client_name": "New"}, "cli": null}
        }}
    }));
    let ignored = merge(&t, &patch, &TENANT, Mode::Ignore).unwrap();
    assert_eq!(ignored["name"], "Acme 2", "tenant scalars are no entry");
    assert_eq!(ignored["servers"]["default"]["name"], "Default");
    assert_eq!(
        ignored["servers"]["default"]["clients"],
        json!({"web": {"client_name": "Web"}, "new": {"client_name": "New"}})
    );
    let updated = merge(&t, &patch, &TENANT, Mode::Update).unwrap();
    let mut expected = t.clone();
    json_patch::merge(&mut expected, &Value::Object(patch.clone()));
    assert_eq!(updated, expected);
    assert_eq!(
        merge(&t, &patch, &TENANT, Mode::Fail),
        Err(Refused::Conflicts(vec![
            "/servers/default".into(),
            "/servers/default/clients/web".into()
        ]))
    );
    // Removing and adding only: fine under fail.
    let gentle = obj(json!({"servers": {"default": {"clients": {"cli": null, "new": {}}}}}));
    assert!(merge(&t, &gentle, &WORKSPACE, Mode::Fail).is_ok());
}

#[test]
fn ops_modes_conflict_on_adding_an_existing_entry() {
    let t = tenant();
    let add = ops(json!([
        {"op": "add", "path": "/servers/default/clients/web", "value": {"client_name": "Web 2"}},
        {"op": "add", "path": "/servers/default/clients/new", "value": {}}
    ]));
    let ignored = apply_ops(&t, &add, &TENANT, Mode::Ignore).unwrap();
    assert_eq!(
        ignored["servers"]["default"]["clients"]["web"]["client_name"],
        "Web"
    );
    assert!(ignored["servers"]["default"]["clients"]["new"].is_object());
    let updated = apply_ops(&t, &add, &TENANT, Mode::Update).unwrap();
    assert_eq!(
        updated["servers"]["default"]["clients"]["web"]["client_name"],
        "Web 2"
    );
    assert_eq!(
        apply_ops(&t, &add, &TENANT, Mode::Fail),
        Err(Refused::Conflicts(vec![
            "/servers/default/clients/web".into()
        ]))
    );
    // A replace inside an entry is an edit, not a conflict.
    let edit = ops(
        json!([{"op": "replace", "path": "/servers/default/clients/web/client_name", "value": "W"}]),
    );
    assert!(apply_ops(&t, &edit, &TENANT, Mode::Fail).is_ok());
}

#[test]
fn failed_test_and_missing_paths_are_refused_with_the_op() {
    let t = tenant();
    let test = ops(json!([
        {"op": "replace", "path": "/name", "value": "X"},
        {"op": "test", "path": "/name", "value": "Y"}
    ]));
    assert_eq!(
        apply_ops(&t, &test, &TENANT, Mode::Update),
        Err(Refused::TestFailed {
            op: 1,
            path: "/name".into()
        })
    );
    let missing = ops(json!([{"op": "remove", "path": "/servers/nope"}]));
    assert!(matches!(
        apply_ops(&t, &missing, &TENANT, Mode::Update),
        Err(Refused::NotApplicable { op: 0, .. })
    ));
}

#[test]
fn an_added_idp_naming_a_missing_pool_is_dropped() {
    let before = json!({"pools": {"p": {}}, "servers": {"w": {"idps": {"old": {"identity_pool_id": "gone"}}}}});
    let mut after = json!({"pools": {"p": {}}, "servers": {"w": {
        "pools": {"local": {}},
        "idps": {
            "old": {"identity_pool_id": "gone"},
            "ok": {"identity_pool_id": "p"},
            "local": {"identity_pool_id": "local"},
            "none": {},
            "bad": {"identity_pool_id": "missing"}
        }
    }}});
    drop_idps_without_pool(&before, &mut after);
    let ids: Vec<&String> = after["servers"]["w"]["idps"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(ids, ["local", "none", "ok", "old"]);
}

proptest! {
    #![proptest_config(promote_platform::arb::config())]

    /// Without keyed collections in play, the modes are plain RFC 7396 and plain import.
    #[test]
    fn plain_keys_follow_rfc7396_and_import_replaces(a in promote_platform::arb::object(), b in promote_platform::arb::object()) {
        let strip = |v: &Value| -> Map<String, Value> {
            v.as_object().unwrap().iter()
                .filter(|(k, _)| TENANT.collections.iter().all(|c| c.key != k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let (a, b) = (Value::Object(strip(&a)), strip(&b));
        for mode in [Mode::Ignore, Mode::Fail, Mode::Update] {
            let mut expected = a.clone();
            json_patch::merge(&mut expected, &Value::Object(b.clone()));
            prop_assert_eq!(merge(&a, &b, &TENANT, mode).unwrap(), expected);
            prop_assert_eq!(import(Some(&a), &b, &TENANT, mode).unwrap(), Value::Object(b.clone()));
        }
    }

    /// Under `update`, a merge patch of keyed entries is plain RFC 7396 too.
    #[test]
    fn update_mode_is_rfc7396(a in promote_platform::arb::object(), b in promote_platform::arb::object()) {
        let ws_a = json!({"clients": a});
        let ws_b = obj(json!({"clients": b}));
        let mut expected = ws_a.clone();
        json_patch::merge(&mut expected, &Value::Object(ws_b.clone()));
        prop_assert_eq!(merge(&ws_a, &ws_b, &WORKSPACE, Mode::Update).unwrap(), expected);
    }
}

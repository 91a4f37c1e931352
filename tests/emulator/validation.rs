//! Writes that would leave a broken configuration are refused with 422 naming the JSON pointer;
//! values of the wrong type with 400, as the platform's decoder refuses them; 6902 `test` ops
//! and inapplicable ops; the documented idp exception; secret markers.

use serde_json::{json, Value};

use crate::support::{At, Server};

/// acme with a tenant pool `customers`, and workspace `w` with a policy, a script, a workspace
/// pool `local`, a script execution point, a service API under the policy, and an idp on the
/// tenant pool.
fn setup() -> (Server, String) {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({
            "name": "acme",
            "pools": {"customers": {"name": "Customers"}},
            "themes": {"brand": {}},
            "servers": {"w": {
                "policies": {"allow": {"type": "cloud"}},
                "scripts": {"map": {"body": "module.exports = () => ({})"}},
                "pools": {"local": {}},
                "idps": {"corp": {"method": "oidc", "identity_pool_id": "customers"}},
                "services": {"orders": {"apis": {"list": {"policy_id": "allow"}}}},
                "script_execution_points": {"post_authn_ctx": {"corp": {"script_id": "map"}}},
                "theme_binding": {"theme_id": "brand"}
            }}
        }),
        "",
    )
    .expect(204);
    (s, token)
}

fn everything(s: &Server, token: &str) -> Value {
    s.export(token, &At::tenant("acme"), true)
}

/// Asserts a 422 `validation_failed` whose first problem is at `pointer` with `message`.
fn refused_at(r: &crate::support::Reply, pointer: &str, message: &str) {
    let details = r.error(422, "validation_failed");
    assert_eq!(details[0]["pointer"], pointer, "{r}");
    assert_eq!(details[0]["message"], message, "{r}");
    assert!(details[0].get("hint").is_some(), "{r}");
}

/// Asserts a 400 `bad_request` of the decoder naming exactly these values of the wrong type:
/// (pointer, the type the field holds, the type found).
fn wrong_types(r: &crate::support::Reply, want: &[(&str, &str, &str)]) {
    let details = r.error(400, "bad_request");
    let want: Vec<Value> = want
        .iter()
        .map(|(p, e, f)| json!({"pointer": p, "expected": e, "found": f}))
        .collect();
    assert_eq!(details, &Value::Array(want), "{r}");
}

#[test]
fn a_dangling_script_reference_is_422_with_the_workspace_pointer() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let w = At::workspace("acme", "w");
    let r = s.merge_patch(
        &token,
        &w,
        &json!({"script_execution_points": {"post_authn_ctx": {"corp": {"script_id": "gone"}}}}),
        "",
    );
    refused_at(
        &r,
        "/script_execution_points/post_authn_ctx/corp/script_id",
        "unknown script `gone`",
    );
    assert_eq!(r.json["details"].as_array().unwrap().len(), 1, "{r}");
    // Removing the script an execution point uses is refused the same way.
    let r = s.merge_patch(&token, &w, &json!({"scripts": {"map": null}}), "");
    refused_at(
        &r,
        "/script_execution_points/post_authn_ctx/corp/script_id",
        "unknown script `map`",
    );
    let r = s.json_patch(
        &token,
        &w,
        &json!([{"op": "remove", "path": "/scripts/map"}]),
        "",
    );
    refused_at(
        &r,
        "/script_execution_points/post_authn_ctx/corp/script_id",
        "unknown script `map`",
    );
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn a_dangling_reference_through_the_tenant_endpoint_names_the_tenant_pointer() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let acme = At::tenant("acme");
    let r = s.json_patch(
        &token,
        &acme,
        &json!([{"op": "replace", "path": "/servers/w/services/orders/apis/list/policy_id", "value": "deny"}]),
        "",
    );
    refused_at(
        &r,
        "/servers/w/services/orders/apis/list/policy_id",
        "unknown policy `deny`",
    );
    // Removing the tenant pool an existing idp uses.
    let r = s.merge_patch(&token, &acme, &json!({"pools": {"customers": null}}), "");
    refused_at(
        &r,
        "/servers/w/idps/corp/identity_pool_id",
        "unknown pool `customers`",
    );
    // A theme binding to a theme that is not there.
    let r = s.merge_patch(&token, &acme, &json!({"themes": null}), "");
    refused_at(
        &r,
        "/servers/w/theme_binding/theme_id",
        "unknown theme `brand`",
    );
    // A service API naming a policy that is not there.
    let r = s.merge_patch(
        &token,
        &acme,
        &json!({"servers": {"w": {"services": {"orders": {"apis": {"list": {"policy_id": "nope"}}}}}}}),
        "",
    );
    refused_at(
        &r,
        "/servers/w/services/orders/apis/list/policy_id",
        "unknown policy `nope`",
    );
    // And by import.
    let mut t = before.clone();
    t["servers"]["w"]["policies"] = json!({});
    let r = s.import(&token, &acme, &t, "mode=update");
    refused_at(
        &r,
        "/servers/w/services/orders/apis/list/policy_id",
        "unknown policy `allow`",
    );
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn every_problem_is_listed() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let r = s.merge_patch(
        &token,
        &At::workspace("acme", "w"),
        &json!({"policies": null, "scripts": null, "pools": {"": {}}}),
        "",
    );
    let details = r.error(422, "validation_failed");
    let mut pointers: Vec<&str> = details
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/pools/",
            "/script_execution_points/post_authn_ctx/corp/script_id",
            "/services/orders/apis/list/policy_id",
        ],
        "{r}"
    );
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn a_failing_test_op_is_409_precondition_failed_and_nothing_changes() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let w = At::workspace("acme", "w");
    let r = s.json_patch(
        &token,
        &w,
        &json!([
            {"op": "add", "path": "/scripts/new", "value": {"body": "new"}},
            {"op": "test", "path": "/policies/allow/type", "value": "not cloud"},
            {"op": "add", "path": "/name", "value": "changed"}
        ]),
        "",
    );
    assert_eq!(
        r.error(409, "precondition_failed"),
        &json!([{"op": 1, "pointer": "/policies/allow/type"}])
    );
    assert_eq!(everything(&s, &token), before);
    // A test that holds lets the patch through.
    s.json_patch(
        &token,
        &w,
        &json!([
            {"op": "test", "path": "/policies/allow/type", "value": "cloud"},
            {"op": "add", "path": "/name", "value": "changed"}
        ]),
        "",
    )
    .expect(204);
    assert_eq!(s.export(&token, &w, false)["name"], "changed");
}

#[test]
fn an_op_on_a_missing_path_is_422_patch_not_applicable() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let w = At::workspace("acme", "w");
    for (i, op) in [
        json!({"op": "replace", "path": "/clients/nope/client_name", "value": "x"}),
        json!({"op": "remove", "path": "/clients/nope"}),
        json!({"op": "add", "path": "/clients/nope/client_name", "value": "x"}),
        json!({"op": "move", "from": "/nope", "path": "/name"}),
        json!({"op": "add", "path": "/policies/allow/list/5", "value": "x"}),
    ]
    .into_iter()
    .enumerate()
    {
        let ops = json!([{"op": "add", "path": "/name", "value": "first"}, op]);
        let r = s.json_patch(&token, &w, &ops, "");
        let details = r.error(422, "patch_not_applicable");
        assert_eq!(details[0]["op"], 1, "case {i}: {r}");
        assert_eq!(details[0]["pointer"], op["path"], "case {i}: {r}");
        assert!(details[0]["message"].is_string(), "case {i}: {r}");
    }
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn a_patch_adding_an_idp_on_a_missing_pool_answers_204_and_creates_nothing() {
    let (s, token) = setup();
    let w = At::workspace("acme", "w");
    let acme = At::tenant("acme");
    s.merge_patch(
        &token,
        &w,
        &json!({"idps": {
            "ghost": {"method": "oidc", "identity_pool_id": "nope"},
            "tenant-pool": {"method": "oidc", "identity_pool_id": "customers"},
            "ws-pool": {"method": "oidc", "identity_pool_id": "local"}
        }}),
        "",
    )
    .expect(204);
    s.json_patch(
        &token,
        &w,
        &json!([
            {"op": "add", "path": "/idps/ghost2", "value": {"identity_pool_id": "nope"}},
            {"op": "add", "path": "/idps/pooled", "value": {"identity_pool_id": "customers"}}
        ]),
        "",
    )
    .expect(204);
    s.merge_patch(
        &token,
        &acme,
        &json!({"servers": {"w": {"idps": {"ghost3": {"identity_pool_id": "nope"}}}}}),
        "",
    )
    .expect(204);
    s.json_patch(
        &token,
        &acme,
        &json!([{"op": "add", "path": "/servers/w/idps/ghost4", "value": {"identity_pool_id": "nope"}}]),
        "",
    )
    .expect(204);
    let idps = &s.export(&token, &w, false)["idps"];
    let mut ids: Vec<&String> = idps.as_object().unwrap().keys().collect();
    ids.sort();
    assert_eq!(ids, ["corp", "pooled", "tenant-pool", "ws-pool"], "{idps}");
}

#[test]
fn an_import_adding_an_idp_on_a_missing_pool_is_422() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let mut t = before.clone();
    t["servers"]["w"]["idps"]["ghost"] = json!({"identity_pool_id": "nope"});
    let r = s.import(&token, &At::tenant("acme"), &t, "mode=update");
    refused_at(
        &r,
        "/servers/w/idps/ghost/identity_pool_id",
        "unknown pool `nope`",
    );
    assert_eq!(everything(&s, &token), before);
}

#[test]
fn a_secret_marker_in_a_credential_field_is_422() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let w = At::workspace("acme", "w");
    let r = s.merge_patch(
        &token,
        &w,
        &json!({"clients": {"web": {"client_secret": "<secret:WEB_SECRET>"}}}),
        "",
    );
    refused_at(
        &r,
        "/clients/web/client_secret",
        "unresolved secret reference (a `<secret:NAME>` marker)",
    );
    let r = s.merge_patch(
        &token,
        &w,
        &json!({"webhooks": {"h": {"url": "https://example.com", "api_key": "<secret:HOOK>"}}}),
        "",
    );
    refused_at(
        &r,
        "/webhooks/h/api_key",
        "unresolved secret reference (a `<secret:NAME>` marker)",
    );
    let r = s.merge_patch(
        &token,
        &w,
        &json!({"idps": {"corp": {"credentials": {"oidc": {"client_secret": "<secret:IDP>"}}}}}),
        "",
    );
    refused_at(
        &r,
        "/idps/corp/credentials",
        "unresolved secret reference (a `<secret:NAME>` marker)",
    );
    let r = s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"x": {"secret": "<secret:WS>"}}}),
        "",
    );
    refused_at(
        &r,
        "/servers/x/secret",
        "unresolved secret reference (a `<secret:NAME>` marker)",
    );
    assert_eq!(everything(&s, &token), before);
    // The same text outside a credential field is just text.
    s.merge_patch(
        &token,
        &w,
        &json!({"clients": {"web": {"description": "<secret:NOT_A_SECRET>"}}}),
        "",
    )
    .expect(204);
}

/// The platform decodes a write into typed structures: a value of the wrong JSON type in a
/// known field is 400, every one named with its pointer (into the document sent), the type the
/// field holds and the type found, whatever the route; nothing is changed.
#[test]
fn values_of_the_wrong_type_are_400_with_every_pointer() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let acme = At::tenant("acme");
    let w = At::workspace("acme", "w");
    let client = json!({"clients": {"c": {
        "client_uri": 42,
        "backchannel_logout_session_required": "yes",
        "redirect_uris": [1]
    }}});
    let found = [
        (
            "/clients/c/backchannel_logout_session_required",
            "a boolean",
            "a string",
        ),
        ("/clients/c/client_uri", "a string", "a number"),
        ("/clients/c/redirect_uris/0", "a string", "a number"),
    ];
    wrong_types(&s.merge_patch(&token, &w, &client, ""), &found);
    wrong_types(&s.import(&token, &w, &client, ""), &found);
    let in_tenant: Vec<(String, &str, &str)> = found
        .iter()
        .map(|(p, e, f)| (format!("/servers/w{p}"), *e, *f))
        .collect();
    let in_tenant: Vec<(&str, &str, &str)> = in_tenant
        .iter()
        .map(|(p, e, f)| (p.as_str(), *e, *f))
        .collect();
    wrong_types(
        &s.merge_patch(&token, &acme, &json!({"servers": {"w": client}}), ""),
        &in_tenant,
    );
    // A 6902 patch is decoded after it is applied, wherever its value lands.
    wrong_types(
        &s.json_patch(
            &token,
            &w,
            &json!([{"op": "add", "path": "/idps/corp/disabled", "value": "yes"}]),
            "",
        ),
        &[("/idps/corp/disabled", "a boolean", "a string")],
    );
    // Keyed collections are maps of objects, and a tenant is a map.
    wrong_types(
        &s.merge_patch(&token, &acme, &json!({"pools": ["a"]}), ""),
        &[("/pools", "a map", "a list")],
    );
    wrong_types(
        &s.merge_patch(&token, &w, &json!({"clients": {"bad": 3}}), ""),
        &[("/clients/bad", "a map", "a number")],
    );
    wrong_types(
        &s.json_patch(
            &token,
            &acme,
            &json!([{"op": "replace", "path": "", "value": [1]}]),
            "",
        ),
        &[("", "a map", "a list")],
    );
    wrong_types(
        &s.json_patch(
            &token,
            &w,
            &json!([{"op": "replace", "path": "", "value": "w"}]),
            "",
        ),
        &[("", "a map", "a string")],
    );
    // A dry run answers the same.
    wrong_types(&s.merge_patch(&token, &w, &client, "dry_run=true"), &found);
    assert_eq!(everything(&s, &token), before);
    // Null is no value: it leaves a field unset, whatever its type.
    s.merge_patch(
        &token,
        &w,
        &json!({"clients": {"c": {"trusted": null, "client_name": "c"}}}),
        "",
    )
    .expect(204);
}

/// The platform decodes the whole body before the mode decides what of it is kept: a wrong
/// type in a workspace that `mode=ignore` would keep as it is is still 400 (schemathesis found
/// it accepted).
#[test]
fn a_wrong_type_in_what_the_mode_ignores_is_400() {
    let (s, token) = setup();
    let before = everything(&s, &token);
    let mut t = before.clone();
    t["servers"]["w"]["styling"] = json!({"colors": {"background": 0}});
    wrong_types(
        &s.import(&token, &At::tenant("acme"), &t, "mode=ignore"),
        &[(
            "/servers/w/styling/colors/background",
            "a string",
            "a number",
        )],
    );
    wrong_types(
        &s.merge_patch(&token, &At::tenant("acme"), &t, "mode=ignore"),
        &[(
            "/servers/w/styling/colors/background",
            "a string",
            "a number",
        )],
    );
    assert_eq!(everything(&s, &token), before);
}

/// The values of an enum in the spec are the ones it knows: the platform adds values between
/// releases and stores a string outside them as any string (schemathesis's negative mode sends
/// them; its conformance run reads the enums as open).
#[test]
fn a_value_outside_a_known_enum_is_stored() {
    let (s, token) = setup();
    let w = At::workspace("acme", "w");
    let client = json!({"clients": {"c": {"id_token_encrypted_response_enc": "A512-FUTURE"}}});
    s.merge_patch(&token, &w, &client, "").expect(204);
    assert_eq!(
        s.export(&token, &w, false)["clients"]["c"]["id_token_encrypted_response_enc"],
        "A512-FUTURE"
    );
}

/// A field whose `metadata` the platform reads as any JSON value (Go's `interface{}`) takes
/// anything.
#[test]
fn any_value_goes_where_the_platform_takes_any() {
    let (s, token) = setup();
    let w = At::workspace("acme", "w");
    let metadata = json!({"owner": "team-a", "n": 3, "tags": ["x"], "deep": {"a": [null, true]}});
    s.merge_patch(
        &token,
        &w,
        &json!({"clients": {"c": {"metadata": metadata}}}),
        "",
    )
    .expect(204);
    assert_eq!(
        s.export(&token, &w, false)["clients"]["c"]["metadata"],
        metadata
    );
}

/// A tenant that is broken on disk (a workspace `w2` whose idp names a pool that is gone) can
/// be exported but not written; the 422 of a write through the endpoint of another workspace
/// names the problem where it is.
#[test]
fn a_problem_in_another_workspace_keeps_its_full_pointer() {
    let dir = crate::support::new_data_dir();
    let tenants = dir.path().join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    std::fs::write(
        tenants.join("acme.json"),
        json!({"servers": {
            "w": {"name": "W"},
            "w2": {"idps": {"x": {"identity_pool_id": "gone"}}}
        }})
        .to_string(),
    )
    .unwrap();
    let s = Server::on(dir, &[]);
    let token = s.acme();
    let export = s.export(&token, &At::tenant("acme"), true);
    assert_eq!(
        export["servers"]["w2"]["idps"]["x"]["identity_pool_id"],
        "gone"
    );
    let r = s.merge_patch(
        &token,
        &At::workspace("acme", "w"),
        &json!({"name": "W!"}),
        "",
    );
    let details = r.error(422, "validation_failed");
    assert_eq!(
        details[0]["pointer"], "/servers/w2/idps/x/identity_pool_id",
        "{r}"
    );
}

#[test]
fn a_broken_tenant_on_disk_can_be_exported_but_not_written() {
    let dir = crate::support::new_data_dir();
    let tenants = dir.path().join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    let broken = json!({"servers": {"w": {
        "services": {"s": {"apis": {"a": {"policy_id": "gone"}}}}
    }}});
    std::fs::write(tenants.join("acme.json"), broken.to_string()).unwrap();
    let s = Server::on(dir, &[]);
    let token = s.acme();
    assert_eq!(s.export(&token, &At::tenant("acme"), true), broken);
    let r = s.merge_patch(&token, &At::tenant("acme"), &json!({"name": "x"}), "");
    refused_at(
        &r,
        "/servers/w/services/s/apis/a/policy_id",
        "unknown policy `gone`",
    );
    // An import that repairs it is accepted.
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"w": {"policies": {"gone": {}}, "services": {"s": {"apis": {"a": {"policy_id": "gone"}}}}}}}),
        "mode=update",
    )
    .expect(204);
}

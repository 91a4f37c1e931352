//! The platform documentation's two patch examples, exactly, through the workspace endpoints,
//! and the RFC 6902 array quirk around them.

use serde_json::{json, Value};

use crate::support::{At, Server};

/// Imports `start` as workspace `w` of acme, applies `patch`, and returns the `clients` of the
/// export without credentials.
fn patched_clients(start: Value, rfc: u16, patch: Value) -> Value {
    let s = Server::start();
    let token = s.acme();
    let w = At::workspace("acme", "w");
    s.import(&token, &w, &start, "").expect(204);
    match rfc {
        6902 => s.json_patch(&token, &w, &patch, ""),
        _ => s.merge_patch(&token, &w, &patch, ""),
    }
    .expect(204);
    s.export(&token, &w, false)["clients"].clone()
}

#[test]
fn documented_rfc6902_example() {
    let clients = patched_clients(
        json!({"clients": {"sample-client-id": {
            "client_name": "sample-application",
            "response_types": ["code", "token"]
        }}}),
        6902,
        json!([
            {"op": "replace", "path": "/clients/sample-client-id/client_name", "value": "demo-application"},
            {"op": "add", "path": "/clients/sample-client-id/response_types", "value": "id_token"}
        ]),
    );
    assert_eq!(
        clients,
        json!({"sample-client-id": {
            "client_name": "demo-application",
            "response_types": ["code", "token", "id_token"]
        }})
    );
}

#[test]
fn documented_rfc7396_example() {
    let clients = patched_clients(
        json!({"clients": {
            "sample-client-id": {
                "client_name": "sample-application",
                "response_types": ["token"],
                "scopes": ["email", "profile", "openid", "offline_access"]
            },
            "demo-client-id": {"client_name": "demo-application"}
        }}),
        7396,
        json!({"clients": {
            "sample-client-id": {
                "response_types": ["code", "token", "id_token"],
                "scopes": ["email", "profile"]
            },
            "demo-client-id": null
        }}),
    );
    assert_eq!(
        clients,
        json!({"sample-client-id": {
            "client_name": "sample-application",
            "response_types": ["code", "token", "id_token"],
            "scopes": ["email", "profile"]
        }})
    );
}

#[test]
fn rfc6902_add_of_an_array_at_an_array_path_replaces_it() {
    let clients = patched_clients(
        json!({"clients": {"c": {"response_types": ["code", "token"]}}}),
        6902,
        json!([
            {"op": "add", "path": "/clients/c/response_types", "value": ["id_token"]},
            {"op": "add", "path": "/clients/c/client_name", "value": "app"},
            {"op": "add", "path": "/clients/c/response_types/0", "value": "code"}
        ]),
    );
    assert_eq!(
        clients,
        json!({"c": {
            "response_types": ["code", "id_token"],
            "client_name": "app"
        }})
    );
}

#[test]
fn the_same_examples_through_the_tenant_endpoint() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(
        &token,
        &acme,
        &json!({"servers": {"w": {"clients": {"sample-client-id": {
            "client_name": "sample-application",
            "response_types": ["code", "token"]
        }}}}}),
        "",
    )
    .expect(204);
    s.json_patch(
        &token,
        &acme,
        &json!([
            {"op": "replace", "path": "/servers/w/clients/sample-client-id/client_name", "value": "demo-application"},
            {"op": "add", "path": "/servers/w/clients/sample-client-id/response_types", "value": "id_token"}
        ]),
        "",
    )
    .expect(204);
    s.merge_patch(
        &token,
        &acme,
        &json!({"servers": {"w": {"clients": {"sample-client-id": {"scopes": ["email"]}}}}}),
        "",
    )
    .expect(204);
    assert_eq!(
        s.export(&token, &acme, false)["servers"]["w"]["clients"],
        json!({"sample-client-id": {
            "client_name": "demo-application",
            "response_types": ["code", "token", "id_token"],
            "scopes": ["email"]
        }})
    );
}

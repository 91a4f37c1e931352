//! OAuth2 client credentials against a tenant's System workspace, and what a token may do on
//! the API.

use serde_json::{json, Value};

use crate::support::{At, Server};

const GRANT: (&str, &str) = ("grant_type", "client_credentials");

/// A tree to write with, so that a refused write can be told from an applied one.
fn marker_tree() -> Value {
    json!({"name": "written"})
}

#[test]
fn discovery_document_names_the_tenant_token_endpoint() {
    let s = Server::start();
    let r = s.get("/acme/system/.well-known/openid-configuration", None);
    r.expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"), "{r}");
    let issuer = format!("{}/acme/system", s.url);
    assert_eq!(
        r.json,
        json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["manage_configuration", "read_configuration"],
            "response_types_supported": ["token"],
        })
    );
    // The endpoint it names is the one that issues tokens.
    let path = r.json["token_endpoint"]
        .as_str()
        .unwrap()
        .strip_prefix(&s.url)
        .unwrap()
        .to_owned();
    assert_eq!(path, "/acme/system/oauth2/token");
    let token = s.token_reply("acme", Some(("ci", "SECRET")), &[GRANT]);
    token.expect(200);

    s.get("/nobody/system/.well-known/openid-configuration", None)
        .error(404, "tenant_not_found");
}

#[test]
fn token_with_http_basic() {
    let s = Server::start();
    let r = s.token_reply("acme", Some(("ci", "SECRET")), &[GRANT]);
    r.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
    let token = r.json["access_token"].as_str().unwrap();
    assert!(token.len() >= 32, "{r}");
    assert_eq!(
        r.json,
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "manage_configuration read_configuration",
        })
    );
    s.get(&At::tenant("acme").config(""), Some(token))
        .expect(200);
    // Each request gets a token of its own.
    assert_ne!(s.acme(), token);
}

#[test]
fn token_with_form_post() {
    let s = Server::start();
    let r = s.token_reply(
        "acme",
        None,
        &[GRANT, ("client_id", "ci"), ("client_secret", "SECRET")],
    );
    r.expect(200);
    assert_eq!(r.json["scope"], "manage_configuration read_configuration");
    let token = r.json["access_token"].as_str().unwrap();
    s.import(token, &At::tenant("acme"), &marker_tree(), "")
        .expect(204);
}

#[test]
fn both_basic_and_form_credentials_is_invalid_request() {
    let s = Server::start();
    s.token_reply(
        "acme",
        Some(("ci", "SECRET")),
        &[GRANT, ("client_id", "ci"), ("client_secret", "SECRET")],
    )
    .oauth_error(400, "invalid_request");
}

#[test]
fn token_request_that_is_not_a_form_is_invalid_request() {
    let s = Server::start();
    s.write(
        "POST",
        "/acme/system/oauth2/token",
        None,
        "application/json",
        r#"{"grant_type":"client_credentials","client_id":"ci","client_secret":"SECRET"}"#,
    )
    .oauth_error(400, "invalid_request");
}

#[test]
fn scope_parameter_narrows_the_token() {
    let s = Server::start();
    let r = s.token_reply(
        "acme",
        Some(("ci", "SECRET")),
        &[GRANT, ("scope", "read_configuration")],
    );
    r.expect(200);
    assert_eq!(r.json["scope"], "read_configuration");
    let token = r.json["access_token"].as_str().unwrap();
    let acme = At::tenant("acme");
    s.get(&acme.config(""), Some(token)).expect(200);
    s.import(token, &acme, &marker_tree(), "")
        .error(403, "insufficient_scope");

    let r = s.token_reply(
        "acme",
        Some(("ci", "SECRET")),
        &[GRANT, ("scope", "manage_configuration")],
    );
    r.expect(200);
    assert_eq!(r.json["scope"], "manage_configuration");
}

#[test]
fn wrong_secret_is_invalid_client() {
    let s = Server::start();
    for (tid, id, secret) in [
        ("acme", "ci", "WRONG"),
        ("acme", "ci", ""),
        ("acme", "nobody", "SECRET"),
        // A client of another tenant is unknown here.
        ("acme", "ci", "SECRET2"),
        ("other", "ci", "SECRET"),
    ] {
        let r = s.token_reply(tid, Some((id, secret)), &[GRANT]);
        r.oauth_error(401, "invalid_client");
        assert_eq!(r.header("www-authenticate"), Some("Basic"), "{r}");
        let r = s.token_reply(
            tid,
            None,
            &[GRANT, ("client_id", id), ("client_secret", secret)],
        );
        r.oauth_error(401, "invalid_client");
    }
    // No client authentication at all.
    s.token_reply("acme", None, &[GRANT])
        .oauth_error(401, "invalid_client");
}

#[test]
fn unknown_grant_type_is_unsupported_grant_type() {
    let s = Server::start();
    for grant in ["password", "authorization_code", "refresh_token"] {
        s.token_reply("acme", Some(("ci", "SECRET")), &[("grant_type", grant)])
            .oauth_error(400, "unsupported_grant_type");
    }
    s.token_reply("acme", Some(("ci", "SECRET")), &[])
        .oauth_error(400, "invalid_request");
}

#[test]
fn asking_a_scope_the_client_lacks_is_invalid_scope() {
    let s = Server::start();
    s.token_reply(
        "acme",
        Some(("reader", "SECRET3")),
        &[GRANT, ("scope", "manage_configuration")],
    )
    .oauth_error(400, "invalid_scope");
    s.token_reply(
        "acme",
        Some(("reader", "SECRET3")),
        &[GRANT, ("scope", "read_configuration manage_configuration")],
    )
    .oauth_error(400, "invalid_scope");
    s.token_reply("acme", Some(("ci", "SECRET")), &[GRANT, ("scope", "admin")])
        .oauth_error(400, "invalid_scope");
    // What it has is granted.
    let r = s.token_reply(
        "acme",
        Some(("reader", "SECRET3")),
        &[GRANT, ("scope", "read_configuration")],
    );
    r.expect(200);
    assert_eq!(r.json["scope"], "read_configuration");
}

#[test]
fn token_endpoint_of_an_unknown_tenant_is_404() {
    let s = Server::start();
    s.token_reply("nobody", Some(("ci", "SECRET")), &[GRANT])
        .error(404, "tenant_not_found");
}

#[test]
fn api_without_a_token_is_401() {
    let s = Server::start();
    let acme = At::tenant("acme");
    let r = s.get(&acme.config(""), None);
    assert!(r.error(401, "unauthorized").is_null(), "{r}");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{r}");
    s.post(&acme.config(""), None, &marker_tree())
        .error(401, "unauthorized");
    s.patch(
        &acme.rfc7396(""),
        None,
        "application/merge-patch+json",
        &marker_tree(),
    )
    .error(401, "unauthorized");
    s.patch(
        &acme.rfc6902(""),
        None,
        "application/json-patch+json",
        &json!([]),
    )
    .error(401, "unauthorized");
    // Client credentials are not a bearer token.
    let basic = crate::support::basic_header("ci", "SECRET");
    s.send(
        "GET",
        &acme.config(""),
        &[("authorization", basic.as_str())],
        None,
    )
    .error(401, "unauthorized");
    assert_eq!(s.export(&s.acme(), &acme, true), json!({}));
}

#[test]
fn api_with_a_garbage_token_is_401() {
    let s = Server::start();
    let acme = At::tenant("acme");
    for token in ["garbage", "SECRET", "Bearer", "x".repeat(43).as_str()] {
        s.get(&acme.config(""), Some(token))
            .error(401, "unauthorized");
        s.import(token, &acme, &marker_tree(), "")
            .error(401, "unauthorized");
    }
    assert_eq!(s.export(&s.acme(), &acme, true), json!({}));
}

#[test]
fn a_token_of_one_tenant_is_refused_on_another() {
    let s = Server::start();
    let acme_token = s.acme();
    for at in [
        At::tenant("other"),
        At::workspace("other", "w"),
        At::system("other"),
    ] {
        s.get(&at.config(""), Some(&acme_token))
            .error(403, "forbidden");
        s.import(&acme_token, &at, &marker_tree(), "")
            .error(403, "forbidden");
        s.merge_patch(&acme_token, &at, &marker_tree(), "")
            .error(403, "forbidden");
        s.json_patch(&acme_token, &at, &json!([]), "")
            .error(403, "forbidden");
    }
    assert_eq!(s.export(&s.other(), &At::tenant("other"), true), json!({}));
    // And the other way round.
    s.get(&At::tenant("acme").config(""), Some(&s.other()))
        .error(403, "forbidden");
}

#[test]
fn read_configuration_token_cannot_write_but_can_export() {
    let s = Server::start();
    let writer = s.acme();
    let acme = At::tenant("acme");
    s.import(&writer, &acme, &json!({"name": "before"}), "")
        .expect(204);
    let reader = s.reader();
    for at in [acme.clone(), At::workspace("acme", "w"), At::system("acme")] {
        s.import(&reader, &at, &marker_tree(), "")
            .error(403, "insufficient_scope");
        s.merge_patch(&reader, &at, &marker_tree(), "")
            .error(403, "insufficient_scope");
        s.json_patch(
            &reader,
            &at,
            &json!([{"op": "replace", "path": "/name", "value": "x"}]),
            "",
        )
        .error(403, "insufficient_scope");
    }
    let seen = s.export(&reader, &acme, false);
    assert_eq!(seen["name"], "before", "nothing was written");
    assert_eq!(seen, s.export(&writer, &acme, false));
    assert_eq!(s.export(&reader, &At::system("acme"), false), seen);
}

#[test]
fn unknown_tenant_on_the_api_is_404() {
    let s = Server::start();
    let token = s.acme();
    for at in [
        At::tenant("nobody"),
        At::workspace("nobody", "w"),
        At::system("nobody"),
    ] {
        s.get(&at.config(""), Some(&token))
            .error(404, "tenant_not_found");
        s.import(&token, &at, &marker_tree(), "")
            .error(404, "tenant_not_found");
        s.merge_patch(&token, &at, &marker_tree(), "")
            .error(404, "tenant_not_found");
        s.json_patch(&token, &at, &json!([]), "")
            .error(404, "tenant_not_found");
    }
    // Not even without a token: the tenant is looked up first.
    s.get(&At::tenant("nobody").config(""), None)
        .error(404, "tenant_not_found");
}

#[test]
fn a_secret_with_odd_characters_works_both_ways() {
    let secret = "p@ss w+rd%41/é&=?";
    let spec = format!("acme:odd:{secret}");
    let s = Server::with_args(&["--client", &spec]);
    let r = s.token_reply("acme", Some(("odd", secret)), &[GRANT]);
    r.expect(200);
    let r = s.token_reply(
        "acme",
        None,
        &[GRANT, ("client_id", "odd"), ("client_secret", secret)],
    );
    r.expect(200);
    // Not what was registered: the secret is compared as a whole.
    s.token_reply("acme", Some(("odd", "p@ss w+rd%41/é&=")), &[GRANT])
        .oauth_error(401, "invalid_client");
}

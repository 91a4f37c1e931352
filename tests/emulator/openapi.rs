//! The OpenAPI document is served, and every operation it lists is a route the server answers.

use serde_json::Value;

use crate::support::{bearer, At, Server};

#[test]
fn the_openapi_document_is_served() {
    let s = Server::start();
    let r = s.get("/api/hub/openapi.json", None);
    r.expect(200);
    assert_eq!(r.header("content-type"), Some("application/json"), "{r}");
    assert!(
        r.json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{r}"
    );
    assert!(r.json["paths"].as_object().is_some_and(|p| p.len() >= 10));
}

#[test]
fn every_documented_operation_is_served() {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &At::workspace("acme", "w"),
        &serde_json::json!({}),
        "",
    )
    .expect(204);
    let doc = s.get("/api/hub/openapi.json", None).json;
    let auth = bearer(&token);
    let basic = crate::support::basic_header("ci", "SECRET");
    let mut called = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "put", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let mut url = path.replace("{tid}", "acme").replace("{wid}", "w");
            if url.starts_with("/api/hub/system/") {
                url.push_str("?tid=acme");
            }
            let (content_type, body, authorization) = match (method, url.as_str()) {
                ("post", u) if u.ends_with("/oauth2/token") => (
                    "application/x-www-form-urlencoded",
                    "grant_type=client_credentials",
                    basic.as_str(),
                ),
                (_, u) if u.contains("config-rfc6902") => {
                    ("application/json-patch+json", "[]", auth.as_str())
                }
                (_, u) if u.contains("config-rfc7396") => {
                    ("application/merge-patch+json", "{}", auth.as_str())
                }
                _ => (
                    "application/json",
                    "{\"servers\": {\"w\": {}}}",
                    auth.as_str(),
                ),
            };
            let upper = method.to_uppercase();
            let r = if method == "get" {
                s.send(&upper, &url, &[("authorization", authorization)], None)
            } else {
                s.send(
                    &upper,
                    &url,
                    &[
                        ("authorization", authorization),
                        ("content-type", content_type),
                    ],
                    Some(body.as_bytes().to_vec()),
                )
            };
            assert!(
                r.json.get("error_code") != Some(&Value::from("route_not_found"))
                    && r.status != 405,
                "{upper} {path} is documented but not served:\n{r}"
            );
            assert!(r.status < 300, "{upper} {path}:\n{r}");
            // What the document says it answers on success.
            let documented: Vec<&String> = op["responses"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            assert!(
                documented
                    .iter()
                    .any(|c| c.as_str() == r.status.to_string()),
                "{upper} {path} answered {} but documents {documented:?}",
                r.status
            );
            called += 1;
        }
    }
    assert_eq!(called, 15, "the document lists every route");
}

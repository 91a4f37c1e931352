//! The embedded emulator (`promote_emulator::Embedded`): started in-process by the library,
//! spoken to over HTTP like the binary.

use base64::Engine as _;
use serde_json::{json, Value};
use ureq::Agent;

use promote_emulator::Embedded;

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .build()
        .into()
}

/// Asks `embedded` for a token of `tid` with `(id, secret)`; returns the status and body.
fn token(agent: &Agent, embedded: &Embedded, tid: &str, id: &str, secret: &str) -> (u16, Value) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let mut r = agent
        .post(format!("{}/{tid}/system/oauth2/token", embedded.url))
        .header("authorization", format!("Basic {basic}"))
        .content_type("application/x-www-form-urlencoded")
        .send("grant_type=client_credentials")
        .unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_json().unwrap_or(Value::Null))
}

fn access_token(agent: &Agent, embedded: &Embedded, tid: &str) -> String {
    let (id, secret) = embedded
        .credentials(tid)
        .expect("credentials of the tenant");
    let (status, body) = token(agent, embedded, tid, id, secret);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn export(agent: &Agent, embedded: &Embedded, tid: &str, token: &str) -> Value {
    let mut r = agent
        .get(format!(
            "{}/api/hub/{tid}/promote/config?with_credentials=true",
            embedded.url
        ))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.body_mut().read_json().unwrap()
}

#[test]
fn embedded_serves_its_tenants_and_keeps_them_across_restarts() {
    let dir = crate::support::new_data_dir();
    let agent = agent();
    let tenants = vec!["t1".to_owned(), "t2".to_owned()];
    let (old_secret, written) = {
        let embedded = Embedded::start(dir.path(), &tenants).unwrap();
        assert!(
            embedded.url.starts_with("http://127.0.0.1:"),
            "{}",
            embedded.url
        );
        assert_eq!(embedded.url, format!("http://{}", embedded.addr));
        let (id, secret) = embedded.credentials("t1").unwrap();
        assert!(!id.is_empty() && secret.len() >= 32, "{id} {secret}");
        assert!(embedded.credentials("nobody").is_none());
        let token = access_token(&agent, &embedded, "t1");
        assert_eq!(export(&agent, &embedded, "t1", &token), json!({}));
        let r = agent
            .post(format!("{}/api/hub/t1/promote/config", embedded.url))
            .header("authorization", format!("Bearer {token}"))
            .content_type("application/json")
            .send(json!({"name": "t1", "servers": {"w": {"clients": {"c": {}}}}}).to_string())
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        // One tenant per token.
        let r = agent
            .get(format!("{}/api/hub/t2/promote/config", embedded.url))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        (secret.to_owned(), export(&agent, &embedded, "t1", &token))
    };
    assert_eq!(written["name"], "t1");
    assert!(dir.path().join("tenants/t1.json").is_file());

    let embedded = Embedded::start(dir.path(), &tenants).unwrap();
    let (id, secret) = embedded.credentials("t1").unwrap();
    assert_ne!(secret, old_secret, "each start provisions a new secret");
    let (status, body) = token(&agent, &embedded, "t1", id, &old_secret);
    assert_eq!(status, 401, "{body}");
    let token = access_token(&agent, &embedded, "t1");
    assert_eq!(export(&agent, &embedded, "t1", &token), written);
}

#[test]
fn two_embedded_emulators_run_side_by_side() {
    let (a, b) = (
        crate::support::new_data_dir(),
        crate::support::new_data_dir(),
    );
    let ea = Embedded::start(a.path(), &["t1".to_owned()]).unwrap();
    let eb = Embedded::start(b.path(), &["t1".to_owned()]).unwrap();
    assert_ne!(ea.addr, eb.addr);
    let agent = agent();
    // A token of one is unknown to the other.
    let token = access_token(&agent, &ea, "t1");
    let r = agent
        .get(format!("{}/api/hub/t1/promote/config", eb.url))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn embedded_refuses_an_invalid_tenant_id() {
    let dir = crate::support::new_data_dir();
    for bad in ["../x", "", "system", "a/b", "a b", &"x".repeat(65)] {
        let e = Embedded::start(dir.path(), &[bad.to_owned()]).unwrap_err();
        assert!(e.to_string().contains("cannot be a tenant"), "{bad}: {e:#}");
    }
    // Refused before anything was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The same tenant named twice: the credentials the library hands out must be ones the
/// emulator accepts (or start must refuse the list).
#[test]
fn a_tenant_listed_twice_still_gets_working_credentials() {
    let dir = crate::support::new_data_dir();
    let Ok(embedded) = Embedded::start(dir.path(), &["t1".to_owned(), "t1".to_owned()]) else {
        return;
    };
    let agent = agent();
    let (id, secret) = embedded.credentials("t1").unwrap();
    let (status, body) = token(&agent, &embedded, "t1", id, secret);
    assert_eq!(status, 200, "{body}");
}

//! `X-Idempotency-Key` on imports, and `X-Trace-ID` on every answer.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::{At, Server};

const KEY: &str = "0123456789abcdef0123456789abcdef-import-1";

fn import_with_key(
    s: &Server,
    token: &str,
    at: &At,
    body: &serde_json::Value,
    key: &str,
) -> crate::support::Reply {
    s.write_with(
        "POST",
        &at.config(""),
        Some(token),
        "application/json",
        body.to_string(),
        &[("x-idempotency-key", key)],
    )
}

#[test]
fn a_replayed_import_is_answered_again_and_not_applied_twice() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    let tree = json!({"name": "acme", "servers": {"w": {"clients": {"a": {}}}}});
    let first = import_with_key(&s, &token, &acme, &tree, KEY);
    first.expect(204);
    assert_eq!(first.header("x-idempotent-replayed"), None, "{first}");

    // Between the two: a patch adds a client. Applying the import again would remove it.
    s.merge_patch(
        &token,
        &acme,
        &json!({"servers": {"w": {"clients": {"b": {}}}}}),
        "",
    )
    .expect(204);
    let before = s.export(&token, &acme, true);

    let replay = import_with_key(&s, &token, &acme, &tree, KEY);
    replay.expect(204);
    assert_eq!(
        replay.header("x-idempotent-replayed"),
        Some("true"),
        "{replay}"
    );
    assert_eq!(s.export(&token, &acme, true), before);
    assert!(before["servers"]["w"]["clients"].get("b").is_some());

    // A new key is a new import.
    let fresh = import_with_key(&s, &token, &acme, &tree, &format!("{KEY}-2"));
    fresh.expect(204);
    assert_eq!(fresh.header("x-idempotent-replayed"), None);
    assert!(s.export(&token, &acme, true)["servers"]["w"]["clients"]
        .get("b")
        .is_none());
}

#[test]
fn a_replay_answers_the_first_error_again() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    let broken =
        json!({"servers": {"w": {"services": {"s": {"apis": {"a": {"policy_id": "gone"}}}}}}});
    let first = import_with_key(&s, &token, &acme, &broken, KEY);
    first.error(422, "validation_failed");
    let replay = import_with_key(&s, &token, &acme, &broken, KEY);
    replay.error(422, "validation_failed");
    assert_eq!(
        replay.header("x-idempotent-replayed"),
        Some("true"),
        "{replay}"
    );
    assert_eq!(replay.json, first.json);
}

#[test]
fn the_same_key_with_a_different_body_is_409() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    import_with_key(&s, &token, &acme, &json!({"name": "one"}), KEY).expect(204);
    let r = import_with_key(&s, &token, &acme, &json!({"name": "two"}), KEY);
    r.error(409, "idempotency_key_reused");
    assert_eq!(s.export(&token, &acme, false)["name"], "one");
    // Another query (here dry_run) is another request too.
    s.write_with(
        "POST",
        &acme.config("mode=update"),
        Some(&token),
        "application/json",
        json!({"name": "one"}).to_string(),
        &[("x-idempotency-key", KEY)],
    )
    .error(409, "idempotency_key_reused");
    // Keys are per tenant.
    import_with_key(
        &s,
        &s.other(),
        &At::tenant("other"),
        &json!({"name": "one"}),
        KEY,
    )
    .expect(204);
}

#[test]
fn a_key_of_the_wrong_length_is_400() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    let long = "k".repeat(256);
    for key in [
        "0123456789",
        "k",
        &"k".repeat(31),
        long.as_str(),
        "0123456789abcdef 0123456789abcdef",
    ] {
        import_with_key(&s, &token, &acme, &json!({"name": "x"}), key).error(400, "bad_request");
    }
    assert_eq!(s.export(&token, &acme, true), json!({}));
    import_with_key(&s, &token, &acme, &json!({"name": "x"}), &"k".repeat(32)).expect(204);
    import_with_key(&s, &token, &acme, &json!({"name": "y"}), &"j".repeat(255)).expect(204);
}

#[test]
fn every_answer_has_a_trace_id() {
    let s = Server::with_args(&["--max-body", "100"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    let replies = vec![
        s.get("/acme/system/.well-known/openid-configuration", None),
        s.token_reply(
            "acme",
            Some(("ci", "SECRET")),
            &[("grant_type", "client_credentials")],
        ),
        s.token_reply(
            "acme",
            Some(("ci", "WRONG")),
            &[("grant_type", "client_credentials")],
        ),
        s.get("/api/hub/openapi.json", None),
        s.get(&acme.config(""), Some(&token)),
        s.import(&token, &acme, &json!({"name": "x"}), ""),
        s.get(&acme.config(""), None),
        s.get(&At::tenant("nobody").config(""), Some(&token)),
        s.get("/no/such/route", None),
        s.get("/", None),
        s.send("DELETE", &acme.config(""), &[], None),
        s.write("POST", &acme.config(""), Some(&token), "text/plain", "x"),
        s.write(
            "POST",
            &acme.config(""),
            Some(&token),
            "application/json",
            "{",
        ),
        s.import(&token, &acme, &json!({"name": "x".repeat(200)}), ""),
        s.import(
            &token,
            &acme,
            &json!({"servers": {"w": {"services": {"s": {"apis": {"a": {"policy_id": "x"}}}}}}}),
            "",
        ),
    ];
    let mut ids = BTreeSet::new();
    for r in &replies {
        let id = r
            .header("x-trace-id")
            .unwrap_or_else(|| panic!("no X-Trace-ID:\n{r}"));
        assert!(
            id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), replies.len(), "trace IDs are per answer");
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 401, 200, 200, 204, 401, 404, 404, 404, 405, 415, 400, 413, 422]
    );
}

#[test]
fn concurrent_retries_with_one_key_apply_once() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    // Each applied import would set the name back; a patch after the first one changes it.
    let tree = json!({"name": "imported"});
    let barrier = std::sync::Barrier::new(8);
    let replayed: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let r = import_with_key(&s, &token, &acme, &tree, KEY);
                    r.expect(204);
                    r.header("x-idempotent-replayed") == Some("true")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replayed.iter().filter(|r| !**r).count(), 1, "{replayed:?}");
    s.json_patch(
        &token,
        &acme,
        &json!([{"op": "replace", "path": "/name", "value": "patched"}]),
        "",
    )
    .expect(204);
    import_with_key(&s, &token, &acme, &tree, KEY).expect(204);
    assert_eq!(s.export(&token, &acme, false)["name"], "patched");
}

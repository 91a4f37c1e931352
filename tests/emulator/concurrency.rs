//! Concurrent writes to one tenant are serialized: none is lost.

use std::sync::Barrier;

use serde_json::{json, Value};

use crate::support::{At, Server};

const WRITERS: usize = 16;

/// Runs `write(i)` for every writer at once (they start together) and returns the statuses.
fn all_at_once(write: impl Fn(usize) -> u16 + Sync) -> Vec<u16> {
    let barrier = Barrier::new(WRITERS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let barrier = &barrier;
                let write = &write;
                scope.spawn(move || {
                    barrier.wait();
                    write(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn setup() -> (Server, String) {
    let s = Server::start();
    let token = s.acme();
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"w": {"clients": {"c": {"metadata": {"a_list": []}}}}}}),
        "",
    )
    .expect(204);
    (s, token)
}

#[test]
fn concurrent_merge_patches_each_add_their_client() {
    let (s, token) = setup();
    let statuses = all_at_once(|i| {
        s.merge_patch(
            &token,
            &At::tenant("acme"),
            &json!({"servers": {"w": {"clients": {format!("client-{i:02}"): {"client_name": format!("app {i}")}}}}}),
            "",
        )
        .status
    });
    assert_eq!(statuses, vec![204; WRITERS]);
    let clients = &s.export(&token, &At::tenant("acme"), true)["servers"]["w"]["clients"];
    for i in 0..WRITERS {
        let c = &clients[format!("client-{i:02}")];
        assert_eq!(
            c["client_name"],
            json!(format!("app {i}")),
            "client {i} was lost: {clients}"
        );
        assert!(c["client_secret"].is_string(), "{c}");
    }
    assert_eq!(clients.as_object().unwrap().len(), WRITERS + 1);
}

#[test]
fn concurrent_json_patches_each_append() {
    let (s, token) = setup();
    let statuses = all_at_once(|i| {
        s.json_patch(
            &token,
            &At::workspace("acme", "w"),
            &json!([{"op": "add", "path": "/clients/c/metadata/a_list/-", "value": format!("item-{i}")}]),
            "",
        )
        .status
    });
    assert_eq!(statuses, vec![204; WRITERS]);
    let list = s.export(&token, &At::workspace("acme", "w"), false)["clients"]["c"]["metadata"]
        ["a_list"]
        .clone();
    let mut items: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    items.sort();
    let mut expected: Vec<String> = (0..WRITERS).map(|i| format!("item-{i}")).collect();
    expected.sort();
    assert_eq!(items, expected, "{list}");
}

#[test]
fn reads_during_writes_see_whole_versions() {
    let (s, token) = setup();
    let seen: Vec<Value> = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..20 {
                s.json_patch(
                    &token,
                    &At::workspace("acme", "w"),
                    &json!([
                        {"op": "add", "path": "/clients/c/metadata/a_list/-", "value": i},
                        {"op": "add", "path": "/clients/c/metadata/count", "value": i}
                    ]),
                    "",
                )
                .expect(204);
            }
        });
        let mut seen = Vec::new();
        while !writer.is_finished() {
            seen.push(
                s.export(&token, &At::workspace("acme", "w"), false)["clients"]["c"]["metadata"]
                    .clone(),
            );
        }
        writer.join().unwrap();
        seen
    });
    for c in seen {
        // A version has both ops of a patch or neither.
        let len = c["a_list"].as_array().unwrap().len();
        match c.get("count") {
            None => assert_eq!(len, 0, "{c}"),
            Some(n) => assert_eq!(n.as_u64().unwrap() as usize + 1, len, "{c}"),
        }
    }
}

//! Tenants persist in the data directory (`tenants/<tid>.json`) and survive a SIGKILL.

use serde_json::{json, Value};

use crate::support::{At, Server};

fn tree() -> Value {
    json!({
        "name": "acme",
        "pools": {"customers": {}},
        "servers": {"w": {"clients": {"a": {"client_name": "A"}}}}
    })
}

#[test]
fn a_restarted_server_keeps_what_was_written() {
    let mut s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(&token, &acme, &tree(), "").expect(204);
    s.merge_patch(
        &token,
        &At::workspace("acme", "w"),
        &json!({"clients": {"b": {"client_name": "B"}}}),
        "",
    )
    .expect(204);
    s.import(
        &s.other(),
        &At::tenant("other"),
        &json!({"name": "other"}),
        "",
    )
    .expect(204);
    let written = s.export(&token, &acme, true);
    let other = s.export(&s.other(), &At::tenant("other"), true);

    s.restart();
    // Tokens live in memory: the old one is gone.
    s.get(&acme.config(""), Some(&token))
        .error(401, "unauthorized");
    let token = s.acme();
    assert_eq!(s.export(&token, &acme, true), written);
    assert_eq!(s.export(&s.other(), &At::tenant("other"), true), other);
    // And it goes on from there.
    s.merge_patch(
        &token,
        &At::workspace("acme", "w"),
        &json!({"clients": {"a": null}}),
        "",
    )
    .expect(204);
    s.restart();
    let token = s.acme();
    let clients = &s.export(&token, &acme, false)["servers"]["w"]["clients"];
    assert_eq!(clients, &json!({"b": {"client_name": "B"}}));
}

#[test]
fn the_data_directory_holds_one_json_file_per_tenant() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(&token, &acme, &tree(), "").expect(204);
    let dir = s.data().join("tenants");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    // Only written tenants have a file; no temporary files are left behind.
    assert_eq!(files, ["acme.json"]);
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(dir.join("acme.json")).unwrap()).unwrap();
    assert_eq!(on_disk, s.export(&token, &acme, true));
}

#[test]
fn dry_runs_and_refused_writes_do_not_touch_the_disk() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(&token, &acme, &tree(), "").expect(204);
    let file = s.data().join("tenants/acme.json");
    let before = std::fs::read(&file).unwrap();
    s.import(&token, &acme, &json!({"name": "dry"}), "dry_run=true")
        .expect(204);
    s.merge_patch(
        &token,
        &acme,
        &json!({"servers": {"w": {"services": {"s": {"apis": {"a": {"policy_id": "nope"}}}}}}}),
        "",
    )
    .error(422, "validation_failed");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn a_tenant_only_on_disk_is_served_to_nobody_but_kept() {
    let dir = crate::support::new_data_dir();
    std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
    std::fs::write(
        dir.path().join("tenants/orphan.json"),
        json!({"name": "orphan"}).to_string(),
    )
    .unwrap();
    // A file that is not a tenant is left alone.
    std::fs::write(dir.path().join("tenants/notes.txt"), "hello").unwrap();
    let s = Server::on(dir, &[]);
    let token = s.acme();
    // The tenant exists (a token of acme is refused there, not 404).
    s.get(&At::tenant("orphan").config(""), Some(&token))
        .error(403, "forbidden");
    assert_eq!(
        std::fs::read_to_string(s.data().join("tenants/notes.txt")).unwrap(),
        "hello"
    );
}

/// `{"x": {"x": ... {"x": leaf}}}`, `depth` objects deep.
fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, _| json!({ "x": inner }))
}

/// A tree the server accepted must load again after a restart. Each request body is within the
/// JSON nesting limit, but a patch can put a deep value at a deep path; the stored file then
/// nests deeper than the limit the server reads it back with.
#[test]
fn what_was_accepted_loads_again_after_a_restart() {
    let mut s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(
        &token,
        &acme,
        &json!({"metadata": {"deep": nested(100, json!(1))}}),
        "",
    )
    .expect(204);
    let path = format!("/metadata/deep{}", "/x".repeat(100));
    let r = s.json_patch(
        &token,
        &acme,
        &json!([{"op": "replace", "path": path, "value": nested(100, json!(2))}]),
        "",
    );
    if r.status != 204 {
        // Refusing the write is a fine answer too.
        r.error(422, "validation_failed");
        return;
    }
    let export = s.get(&acme.config("with_credentials=true"), Some(&token));
    export.expect(200);
    s.restart();
    let token = s.acme();
    let again = s.get(&acme.config("with_credentials=true"), Some(&token));
    again.expect(200);
    assert_eq!(again.text, export.text);
}

/// Every write that was answered 204 was on disk before the answer: killing the server in the
/// middle of a stream of writes loses none of them, and leaves a file that loads.
#[test]
fn acknowledged_writes_survive_a_kill_in_the_middle_of_writing() {
    let mut s = Server::start();
    let token = s.acme();
    let w = At::workspace("acme", "w");
    s.import(
        &token,
        &w,
        &json!({"metadata": {"payload": {"list": []}}}),
        "",
    )
    .expect(204);
    let pid = s.pid();
    let acknowledged = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acknowledged = 0;
            for i in 0..10_000 {
                let auth = crate::support::bearer(&token);
                let r = s.try_send(
                    "PATCH",
                    &w.rfc6902(""),
                    &[
                        ("authorization", auth.as_str()),
                        ("content-type", "application/json-patch+json"),
                    ],
                    Some(
                        json!([{"op": "add", "path": "/metadata/payload/list/-", "value": i}])
                            .to_string()
                            .into_bytes(),
                    ),
                );
                match r {
                    Ok(r) if r.status == 204 => acknowledged += 1,
                    _ => break,
                }
            }
            acknowledged
        });
        // Kill it once a few writes went through, while the writer goes on.
        loop {
            let list = s.export(&token, &w, false)["metadata"]["payload"]["list"]
                .as_array()
                .unwrap()
                .len();
            // The writer sends a write only after the one before was answered: with 21
            // stored, at least 20 were acknowledged.
            if list >= 21 {
                break;
            }
        }
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        writer.join().unwrap()
    });
    assert!(acknowledged >= 20, "{acknowledged}");
    s.restart();
    let token = s.acme();
    let list = s.export(&token, &w, false)["metadata"]["payload"]["list"].clone();
    let list = list.as_array().unwrap();
    // Every acknowledged write is there, in order; at most the one in flight is there too.
    assert!(
        list.len() == acknowledged || list.len() == acknowledged + 1,
        "{acknowledged} acknowledged, {} stored",
        list.len()
    );
    for (i, v) in list.iter().enumerate() {
        assert_eq!(v, &json!(i));
    }
}

/// Two servers on one data directory would both accept writes and lose acknowledged ones: the
/// second is refused, names the directory and exits 1, and the first goes on.
#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    s.import(&token, &acme, &tree(), "").expect(204);
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_promote"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--client",
            "acme:ci:SECRET",
            "--data",
        ])
        .arg(s.data())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while second.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = second.kill();
            panic!("a second server runs on the same data directory");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another emulator")
            && stderr.contains(s.data().to_str().unwrap()),
        "{stderr}"
    );
    s.merge_patch(&token, &acme, &json!({"name": "still here"}), "")
        .expect(204);
    assert_eq!(s.export(&token, &acme, false)["name"], "still here");
}

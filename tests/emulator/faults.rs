//! Switchable, seeded faults (`--fault`, `--seed`) and the rate limit (`--rate`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{At, Server};

#[test]
fn fault_500_answers_every_api_call_with_internal_error() {
    let s = Server::with_args(&["--fault", "500=1"]);
    // The token endpoint is not an API call.
    let token = s.acme();
    let acme = At::tenant("acme");
    s.get(&acme.config(""), Some(&token))
        .error(500, "internal_error");
    s.import(&token, &acme, &json!({"name": "x"}), "")
        .error(500, "internal_error");
    s.merge_patch(&token, &acme, &json!({"name": "x"}), "")
        .error(500, "internal_error");
    s.json_patch(&token, &acme, &json!([]), "")
        .error(500, "internal_error");
    // Before anything else: even without a token.
    s.get(&acme.config(""), None).error(500, "internal_error");
    // Nothing was written.
    assert!(!s.data().join("tenants/acme.json").exists());
}

#[test]
fn fault_429_answers_with_retry_after() {
    let s = Server::with_args(&["--fault", "429=1"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    for r in [
        s.get(&acme.config(""), Some(&token)),
        s.import(&token, &acme, &json!({"name": "x"}), ""),
    ] {
        r.error(429, "too_many_requests");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1, "{r}");
    }
}

#[test]
fn fault_forbidden_answers_request_forbidden() {
    let s = Server::with_args(&["--fault", "forbidden=1"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    s.get(&acme.config(""), Some(&token))
        .error(403, "request_forbidden");
    s.merge_patch(&token, &acme, &json!({"name": "x"}), "")
        .error(403, "request_forbidden");
}

#[test]
fn fault_latency_delays_every_answer() {
    let s = Server::with_args(&["--fault", "latency=200ms"]);
    let started = Instant::now();
    let token = s.acme();
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    s.get(&At::tenant("acme").config(""), Some(&token))
        .expect(200);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
}

#[test]
fn fault_lose_answers_a_write_and_keeps_nothing_of_it() {
    let s = Server::with_args(&["--fault", "lose=1"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    let before = s.export(&token, &acme, false);
    s.merge_patch(&token, &acme, &json!({"name": "lost"}), "")
        .expect(204);
    s.import(&token, &acme, &json!({"name": "lost too"}), "mode=update")
        .expect(204);
    assert_eq!(s.export(&token, &acme, false), before);
}

#[test]
fn fault_drop_closes_the_connection_after_the_write_was_applied() {
    let s = Server::with_args(&["--fault", "drop=1"]);
    let token = s.acme();
    let acme = At::tenant("acme");
    let auth = crate::support::bearer(&token);
    let r = s.try_send(
        "PATCH",
        &acme.rfc7396(""),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/merge-patch+json"),
        ],
        Some(json!({"name": "dropped"}).to_string().into_bytes()),
    );
    assert!(r.is_err(), "expected no answer, got:\n{}", r.unwrap());
    // Exports are reads: never dropped. The write is there.
    assert_eq!(s.export(&token, &acme, false)["name"], "dropped");

    // An import retried with the same idempotency key gets the first answer, and is not applied
    // again (the patch in between survives).
    let key = "retry-after-a-dropped-connection-0001";
    let import = |name: &str| {
        s.try_send(
            "POST",
            &acme.config(""),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
                ("x-idempotency-key", key),
            ],
            Some(json!({"name": name}).to_string().into_bytes()),
        )
    };
    assert!(import("imported").is_err());
    assert_eq!(s.export(&token, &acme, false)["name"], "imported");
    assert!(s
        .try_send(
            "PATCH",
            &acme.rfc6902(""),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json-patch+json"),
            ],
            Some(
                json!([{"op": "add", "path": "/url", "value": "later"}])
                    .to_string()
                    .into_bytes()
            ),
        )
        .is_err());
    let retry = import("imported").expect("a replay is answered");
    retry.expect(204);
    assert_eq!(retry.header("x-idempotent-replayed"), Some("true"));
    let export = s.export(&token, &acme, false);
    assert_eq!(
        (export["name"].clone(), export["url"].clone()),
        (json!("imported"), json!("later"))
    );
    // A dry run writes nothing, so it is never dropped.
    s.merge_patch(&token, &acme, &json!({"name": "x"}), "dry_run=true")
        .expect(204);
}

/// The statuses of 40 sequential exports from a server with `--fault 500=0.5 --seed SEED`.
fn statuses(seed: &str) -> Vec<u16> {
    let s = Server::with_args(&["--fault", "500=0.5", "--seed", seed]);
    let token = s.acme();
    (0..40)
        .map(|_| s.get(&At::tenant("acme").config(""), Some(&token)).status)
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_faults() {
    let first = statuses("42");
    assert_eq!(statuses("42"), first);
    assert!(first.contains(&200) && first.contains(&500), "{first:?}");
    assert!(first.iter().all(|s| *s == 200 || *s == 500), "{first:?}");
    assert_ne!(statuses("43"), first);
}

#[test]
fn rate_limit_refuses_a_burst_with_retry_after() {
    let s = Server::with_args(&["--rate", "5/s"]);
    let token = s.acme();
    let replies: Vec<_> = (0..20)
        .map(|_| s.get(&At::tenant("acme").config(""), Some(&token)))
        .collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + limited.len(), 20);
    assert!((5..=10).contains(&ok), "{ok} of 20 passed at 5/s");
    for r in limited {
        r.error(429, "too_many_requests");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1, "{r}");
    }
    // The token endpoint is not limited.
    s.acme();
}

#[test]
fn bad_fault_specs_are_refused_at_startup() {
    for args in [
        &["--fault", "teapot=1"][..],
        &["--fault", "500=2"],
        &["--fault", "latency=fast"],
        &["--rate", "lots"],
        &["--client", "../x:ci:s"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_promote"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("PROMOTE_SERVE_CLIENTS")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // It must refuse at once; a server that starts anyway is killed, not waited for.
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?}: the server started");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("listening"),
            "{args:?}: {stderr}"
        );
    }
}

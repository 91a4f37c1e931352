//! Bad requests get a clear JSON error, change nothing, and the server goes on answering.

use serde_json::json;

use crate::support::{At, Reply, Server};

/// A server with a small body limit, a token, and a tenant with one workspace.
fn setup() -> (Server, String) {
    let s = Server::with_args(&["--max-body", "1000"]);
    let token = s.acme();
    s.import(
        &token,
        &At::tenant("acme"),
        &json!({"servers": {"w": {"name": "W"}}}),
        "",
    )
    .expect(204);
    (s, token)
}

/// The server still answers, and acme is what `setup` made it.
fn still_fine(s: &Server, token: &str) {
    let export = s.export(token, &At::tenant("acme"), false);
    assert_eq!(export["servers"]["w"]["name"], "W", "{export}");
}

#[test]
fn malformed_json_is_400_with_line_and_column() {
    let (s, token) = setup();
    let body = "{\n  \"name\": \"acme\",\n  \"servers\": ]\n}";
    let acme = At::tenant("acme");
    for r in [
        s.write(
            "POST",
            &acme.config(""),
            Some(&token),
            "application/json",
            body,
        ),
        s.write(
            "PATCH",
            &acme.rfc7396(""),
            Some(&token),
            "application/merge-patch+json",
            body,
        ),
        s.write(
            "PATCH",
            &acme.rfc6902(""),
            Some(&token),
            "application/json-patch+json",
            body,
        ),
    ] {
        assert_eq!(
            r.error(400, "bad_request"),
            &json!({"line": 3, "column": 14}),
            "{r}"
        );
    }
    for bad in ["", "{", "nul", "{\"a\": 1} trailing", "\u{feff}{}"] {
        s.write(
            "POST",
            &acme.config(""),
            Some(&token),
            "application/json",
            bad,
        )
        .error(400, "bad_request");
    }
    // Not UTF-8.
    s.write(
        "POST",
        &acme.config(""),
        Some(&token),
        "application/json",
        b"{\"name\": \"\xff\xfe\"}".to_vec(),
    )
    .error(400, "bad_request");
    still_fine(&s, &token);
}

#[test]
fn deeply_nested_json_is_refused_without_crashing() {
    let (s, token) = setup();
    let deep = format!("{}{}", "[".repeat(400), "]".repeat(400));
    let r = s.write(
        "PATCH",
        &At::tenant("acme").rfc6902(""),
        Some(&token),
        "application/json-patch+json",
        deep,
    );
    r.error(400, "bad_request");
    still_fine(&s, &token);
}

#[test]
fn wrong_content_type_is_415() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    let body = json!({"name": "x"}).to_string();
    for (method, path, ct) in [
        ("POST", acme.config(""), "text/plain"),
        ("POST", acme.config(""), "application/merge-patch+json"),
        ("POST", acme.config(""), "application/x-www-form-urlencoded"),
        ("PATCH", acme.rfc7396(""), "text/plain"),
        ("PATCH", acme.rfc7396(""), "application/json-patch+json"),
        ("PATCH", acme.rfc6902(""), "text/plain"),
        ("PATCH", acme.rfc6902(""), "application/merge-patch+json"),
    ] {
        s.write(method, &path, Some(&token), ct, body.clone())
            .error(415, "unsupported_media_type");
    }
    // No content type at all.
    let auth = crate::support::bearer(&token);
    s.send(
        "POST",
        &acme.config(""),
        &[("authorization", auth.as_str())],
        Some(body.clone().into_bytes()),
    )
    .error(415, "unsupported_media_type");
    // Parameters and case do not matter.
    s.write(
        "POST",
        &acme.config("dry_run=true"),
        Some(&token),
        "Application/JSON; charset=utf-8",
        body,
    )
    .expect(204);
    still_fine(&s, &token);
}

#[test]
fn a_body_over_max_body_is_413_with_content_length() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    let big = json!({"name": "x".repeat(2000)}).to_string();
    for (method, path, ct) in [
        ("POST", acme.config(""), "application/json"),
        ("PATCH", acme.rfc7396(""), "application/merge-patch+json"),
    ] {
        let r = s.write(method, &path, Some(&token), ct, big.clone());
        r.error(413, "payload_too_large");
    }
    still_fine(&s, &token);
    // Just under the limit is fine.
    let fits = json!({"servers": {"w": {"name": "W", "x": "y".repeat(900)}}}).to_string();
    assert!(fits.len() <= 1000);
    s.write(
        "POST",
        &acme.config("dry_run=true"),
        Some(&token),
        "application/json",
        fits,
    )
    .expect(204);
}

#[test]
fn a_chunked_body_over_max_body_is_413() {
    let (s, token) = setup();
    let auth = crate::support::bearer(&token);
    let big = json!({"name": "x".repeat(5000)}).to_string().into_bytes();
    let r = s.send_chunked(
        "POST",
        &At::tenant("acme").config(""),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        big,
    );
    r.error(413, "payload_too_large");
    still_fine(&s, &token);
    // A small chunked body is read as any other.
    let r = s.send_chunked(
        "POST",
        &At::tenant("acme").config("dry_run=true"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        b"{\"name\": \"chunked\"}".to_vec(),
    );
    r.expect(204);
}

#[test]
fn a_6902_body_that_is_not_an_array_of_ops_is_400() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    for body in [
        json!({"op": "add", "path": "/name", "value": "x"}),
        json!([{"op": "frobnicate", "path": "/name"}]),
        json!([{"op": "add", "path": "no-leading-slash", "value": 1}]),
        json!([{"op": "add", "value": 1}]),
        json!("add"),
        json!(null),
    ] {
        s.json_patch(&token, &acme, &body, "")
            .error(400, "bad_request");
    }
    still_fine(&s, &token);
}

#[test]
fn import_and_merge_bodies_that_are_not_objects_are_400() {
    let (s, token) = setup();
    for at in [At::tenant("acme"), At::workspace("acme", "w")] {
        for body in [
            json!([]),
            json!([{"name": "x"}]),
            json!("x"),
            json!(3),
            json!(null),
        ] {
            s.import(&token, &at, &body, "").error(400, "bad_request");
            s.merge_patch(&token, &at, &body, "")
                .error(400, "bad_request");
        }
    }
    still_fine(&s, &token);
}

#[test]
fn an_unknown_route_is_404_route_not_found() {
    let (s, token) = setup();
    for path in [
        "/",
        "/api/hub",
        "/api/hub/acme",
        "/api/hub/acme/promote",
        "/api/hub/acme/promote/config-rfc1234",
        "/api/hub/acme/workspaces/w/promote",
        "/api/hub/acme/workspaces/w/x/promote/config",
        "/acme/system/oauth2/authorize",
        "/api/hub/acme/promote/config/extra",
    ] {
        let r = s.get(path, Some(&token));
        assert!(r.error(404, "route_not_found").is_null(), "{r}");
    }
    still_fine(&s, &token);
}

#[test]
fn a_wrong_method_on_a_known_path_is_405() {
    let (s, token) = setup();
    let auth = crate::support::bearer(&token);
    let acme = At::tenant("acme");
    let cases = [
        ("PUT", acme.config("")),
        ("DELETE", acme.config("")),
        ("PATCH", acme.config("")),
        ("GET", acme.rfc6902("")),
        ("POST", acme.rfc7396("")),
        ("DELETE", At::workspace("acme", "w").config("")),
        ("PUT", At::system("acme").config("")),
        ("GET", "/acme/system/oauth2/token".to_owned()),
        (
            "POST",
            "/acme/system/.well-known/openid-configuration".to_owned(),
        ),
        ("POST", "/api/hub/openapi.json".to_owned()),
    ];
    for (method, path) in cases {
        let r: Reply = s.send(
            method,
            &path,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            Some(b"{}".to_vec()),
        );
        r.error(405, "method_not_allowed");
    }
    still_fine(&s, &token);
}

#[test]
fn bad_query_values_are_400() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    for q in [
        "with_credentials=maybe",
        "with_credentials=yes",
        "with_credentials=true&with_credentials=false",
    ] {
        s.get(&acme.config(q), Some(&token))
            .error(400, "bad_request");
        s.get(&At::workspace("acme", "w").config(q), Some(&token))
            .error(400, "bad_request");
    }
    s.import(&token, &acme, &json!({}), "dry_run=perhaps")
        .error(400, "bad_request");
    s.merge_patch(&token, &acme, &json!({}), "dry_run=perhaps")
        .error(400, "bad_request");
    // Unknown query parameters are ignored, as unknown keys are.
    s.get(&acme.config("future_param=1"), Some(&token))
        .expect(200);
    still_fine(&s, &token);
}

/// Booleans in the query are read as the platform's Go parser reads them, and an empty value
/// or an empty `mode` is the default.
#[test]
fn query_booleans_and_modes_read_as_the_platform_reads_them() {
    let (s, token) = setup();
    let acme = At::tenant("acme");
    let v = At::workspace("acme", "v");
    s.import(&token, &v, &json!({"name": "before"}), "")
        .expect(204);
    for yes in ["1", "t", "T", "TRUE", "true", "True"] {
        s.get(
            &acme.config(&format!("with_credentials={yes}")),
            Some(&token),
        )
        .expect(200);
        s.merge_patch(&token, &v, &json!({"name": "x"}), &format!("dry_run={yes}"))
            .expect(204);
    }
    assert_eq!(s.export(&token, &v, false)["name"], "before");
    for no in ["0", "f", "F", "FALSE", "false", "False", ""] {
        // `with_credentials` is a boolean, and "" is none; `dry_run` a string whose default
        // "false" an empty value takes.
        let status = if no.is_empty() { 400 } else { 200 };
        s.get(&v.config(&format!("with_credentials={no}")), Some(&token))
            .expect(status);
        let name = format!("no-{no}");
        s.merge_patch(&token, &v, &json!({"name": name}), &format!("dry_run={no}"))
            .expect(204);
        assert_eq!(s.export(&token, &v, false)["name"], json!(name));
    }
    for bad in ["abc", "yes", "tRUE", "2", "%20true"] {
        let r = s.get(
            &acme.config(&format!("with_credentials={bad}")),
            Some(&token),
        );
        assert!(r.error(400, "bad_request").is_null(), "no details: {r}");
        s.merge_patch(&token, &v, &json!({}), &format!("dry_run={bad}"))
            .error(400, "bad_request");
    }
    // An empty mode is the default: ignore for an import (the existing client stays) ...
    let client = |name: &str| json!({"clients": {"c": {"client_name": name}}});
    s.import(&token, &v, &client("one"), "mode=update")
        .expect(204);
    s.import(&token, &v, &client("two"), "mode=").expect(204);
    assert_eq!(
        s.export(&token, &v, false)["clients"]["c"]["client_name"],
        "one"
    );
    // ... and update for a patch.
    s.merge_patch(&token, &v, &client("three"), "mode=")
        .expect(204);
    assert_eq!(
        s.export(&token, &v, false)["clients"]["c"]["client_name"],
        "three"
    );
    still_fine(&s, &token);
}

/// A write without a body (and so without a Content-Type) lacks a required parameter: 400, as
/// the platform answers (schemathesis's negative mode sends them; the spec documents no 415).
#[test]
fn a_write_without_a_body_is_400() {
    let (s, token) = setup();
    let auth = format!("Bearer {token}");
    for at in [At::tenant("acme"), At::workspace("acme", "w")] {
        for (method, path) in [
            ("POST", at.config("")),
            ("PATCH", at.rfc6902("")),
            ("PATCH", at.rfc7396("")),
        ] {
            let r = s.send(method, &path, &[("authorization", auth.as_str())], None);
            r.error(400, "bad_request");
        }
    }
    // A body of the wrong type is still 415.
    s.write(
        "POST",
        &At::tenant("acme").config(""),
        Some(&token),
        "text/plain",
        "x",
    )
    .error(415, "unsupported_media_type");
    still_fine(&s, &token);
}

#[test]
fn odd_workspace_ids_round_trip() {
    let (s, token) = setup();
    // A percent-encoded slash and a space are part of the ID.
    for (encoded, id) in [
        ("a%2Fb", "a/b"),
        ("with%20space", "with space"),
        ("%C3%A9t%C3%A9", "été"),
    ] {
        let at = At::workspace("acme", encoded);
        s.import(&token, &at, &json!({"name": id}), "").expect(204);
        assert_eq!(s.export(&token, &at, false)["name"], id);
        assert_eq!(
            s.export(&token, &At::tenant("acme"), false)["servers"][id]["name"],
            id
        );
    }
    still_fine(&s, &token);
}

#[test]
fn a_garbage_connection_does_not_hurt_the_server() {
    use std::io::{Read, Write};
    let (s, token) = setup();
    for garbage in [
        &b"\x00\x01\x02 not http at all\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/hub/acme/promote/config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na",
    ] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        stream.write_all(garbage).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    still_fine(&s, &token);
}

/// Reads one HTTP/1.1 answer with a Content-Length body; returns what came before EOF if the
/// connection closes first.
fn read_answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return String::from_utf8_lossy(&buf).into_owned(),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    let _ = stream.read_exact(&mut body);
    buf.extend_from_slice(&body);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A client that keeps connections alive sends a request's headers, gets an error answer before
/// it has sent the body (the server refused without reading it), sends the body, then its next
/// request on the same connection. The server must either read and drop the rest of the body
/// and answer the next request, or say `Connection: close` in the error answer so the client
/// does not reuse the connection.
#[test]
fn an_early_error_answer_keeps_the_connection_or_says_close() {
    use std::io::Write;
    let (s, token) = setup();
    let auth = format!("Authorization: Bearer {token}\r\n");
    for (query, auth, content_type, status) in [
        ("mode=bad", auth.as_str(), "application/json", "400"),
        ("", "", "application/json", "401"),
        ("", auth.as_str(), "text/plain", "415"),
    ] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let body = b"{\"name\": \"x\"}";
        let head = format!(
            "POST /api/hub/acme/promote/config?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let first = read_answer(&mut stream);
        assert!(first.starts_with(&format!("HTTP/1.1 {status}")), "{first}");
        if first.to_lowercase().contains("\r\nconnection: close\r\n") {
            continue;
        }
        let sent = stream.write_all(body).and_then(|()| {
            stream.write_all(b"GET /api/hub/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        });
        let second = if sent.is_ok() {
            read_answer(&mut stream)
        } else {
            String::new()
        };
        assert!(
            second.starts_with("HTTP/1.1 200"),
            "after {first:?} without `Connection: close`, the connection was closed; next answer: {second:?}"
        );
    }
    still_fine(&s, &token);
}

/// Patches that each stay within the JSON nesting limit can stack values ever deeper; the server
/// must refuse at some depth rather than overflow its stack.
#[test]
fn trees_built_ever_deeper_by_patches_do_not_crash_the_server() {
    let s = Server::start();
    let token = s.acme();
    let acme = At::tenant("acme");
    // Within the 120 levels a stored tree may have, so the first import is accepted.
    let step = 100;
    let nested = |depth: usize| (0..depth).fold(json!(1), |inner, _| json!({ "x": inner }));
    s.import(
        &token,
        &acme,
        &json!({"servers": {"w": {"name": "W"}}, "deep": nested(step)}),
        "",
    )
    .expect(204);
    let auth = crate::support::bearer(&token);
    let mut depth = step;
    while depth < 200_000 {
        let path = format!("/deep{}", "/x".repeat(depth));
        let body = json!([{"op": "replace", "path": path, "value": nested(step)}]).to_string();
        let r = s.try_send(
            "PATCH",
            &acme.rfc6902(""),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json-patch+json"),
            ],
            Some(body.into_bytes()),
        );
        match r {
            Ok(r) if r.status == 204 => depth += step,
            Ok(r) => {
                // Refused: fine, as long as it says why and the server lives on.
                assert!(r.status >= 400 && r.status < 500, "{r}");
                break;
            }
            Err(e) => panic!("the server died at depth {depth}: {e}"),
        }
    }
    let r = s.get(&acme.config(""), Some(&token));
    assert!(r.status == 200, "{r}");
}

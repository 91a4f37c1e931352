//! The emulator's request handling: a few requests built from fuzz bytes, sent in-process to
//! the router `promote serve` uses (`promote_emulator::api::router`), on a fresh in-memory
//! emulator per input (so every finding reproduces from its input alone) without faults.
//!
//! Each input starts by getting bearer tokens from the token endpoint, as a client does (HTTP
//! Basic, `client_credentials`): one for `acme` (both scopes), one for acme's read-only client
//! and one for `other`. The requests then pick a method, a route shape with fuzzed tenant and
//! workspace IDs, a query string, Authorization / Content-Type / idempotency-key headers (a
//! valid token part of the time, so the import and patch handlers are reached) and a body.
//!
//! Checks: nothing panics; every answer is an HTTP response whose body can be read; no answer
//! is a 5xx (no fault is injected); a JSON answer is JSON, and an error answer carries its own
//! status code; after the requests, acme still exports (200, a JSON object): no write left the
//! tenant unreadable.

#![no_main]

#[path = "common/json.rs"]
mod json;

use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Result, Unstructured};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use base64::Engine as _;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use promote_emulator::{api, auth::OAuthClient, Config, Emulator};
use serde_json::{json, Value};
use tower::ServiceExt;

/// With PROMOTE_FUZZ_STATS=1, every answer's status is printed (`STAT 204 POST /api/...`), to see
/// what a corpus reaches: `PROMOTE_FUZZ_STATS=1 target/.../emulator_request -runs=0 corpus/...`.
fn stats() -> bool {
    static STATS: OnceLock<bool> = OnceLock::new();
    *STATS.get_or_init(|| std::env::var_os("PROMOTE_FUZZ_STATS").is_some())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

const CLIENTS: &[&str] = &[
    "acme:ci:SECRET",
    "other:ci:SECRET2",
    "acme:reader:SECRET3:read_configuration",
];

const TENANTS: &[&str] = &[
    "acme", "acme", "acme", "other", "nobody", "system", "ACME", "%61cme", "acme%2Fx", "a.b",
    "%FF", "..", "-", "_",
];
const WORKSPACES: &[&str] = &[
    "w", "w", "default", "x", "a%2Fb", "%7E", "~1", "x%20y", "%FF", "%C3%A9", "..", ".", "%2E",
    "servers",
];

/// Route shapes; `{tid}` and `{wid}` are filled from the input.
const ROUTES: &[&str] = &[
    "/{tid}/system/.well-known/openid-configuration",
    "/{tid}/system/oauth2/token",
    "/api/hub/openapi.json",
    "/api/hub/{tid}/promote/config",
    "/api/hub/{tid}/promote/config-rfc6902",
    "/api/hub/{tid}/promote/config-rfc7396",
    "/api/hub/{tid}/workspaces/{wid}/promote/config",
    "/api/hub/{tid}/workspaces/{wid}/promote/config-rfc6902",
    "/api/hub/{tid}/workspaces/{wid}/promote/config-rfc7396",
    "/api/hub/system/promote/config",
    "/api/hub/system/promote/config-rfc6902",
    "/api/hub/system/promote/config-rfc7396",
    "/api/hub/{tid}/workspaces/{wid}",
    "/api/hub/{tid}/promote/{wid}",
    "/{tid}",
];

const METHODS: &[&str] = &[
    "GET", "POST", "PATCH", "GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "FUZZ",
];

const QUERY_PARTS: &[&str] = &[
    "tid=acme",
    "tid=other",
    "tid=nobody",
    "tid=",
    "tid=system",
    "mode=ignore",
    "mode=fail",
    "mode=update",
    "mode=x",
    "dry_run=true",
    "dry_run=1",
    "dry_run",
    "dry_run=maybe",
    "with_credentials=true",
    "with_credentials=false",
    "with_credentials=%FF",
    "%FF=1",
    "=",
    "&",
    "tid=acme&tid=acme",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "",
    ";",
];

/// Byte-level percent-encoding of anything that is not unreserved, so the URI parses.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn segment(u: &mut Unstructured, known: &[&str]) -> Result<String> {
    if u.ratio(4u8, 5u8)? {
        Ok((*u.choose(known)?).to_owned())
    } else {
        let s: String = u.arbitrary()?;
        Ok(encode(&s.chars().take(16).collect::<String>()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Auth {
    None,
    Acme,
    Reader,
    Other,
    BasicAcme,
}

#[derive(Debug)]
struct Req {
    method: String,
    path: String,
    query: Option<String>,
    auth: Auth,
    raw_auth: Option<String>,
    content_type: Option<String>,
    idempotency_key: Option<String>,
    content_length: Option<String>,
    body: Vec<u8>,
}

fn tree_body(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => json!({"servers": {"w": {"name": "W"}}}),
        1 => json!({"name": "Acme", "pools": {"p": {"name": "P"}},
                    "servers": {"w": {"name": "W", "clients": {"c": {"client_name": "C"}}}}}),
        2 => {
            // A workspace-shaped or tenant-shaped tree with fuzzed contents.
            let inner = json::object(u)?;
            let wid = (*u.choose(&["w", "x", "a/b", "~", ""])?).to_owned();
            json!({"servers": {wid: inner}})
        }
        3 => json::value(u)?,
        _ => json::object(u)?,
    })
}

fn ops_body(u: &mut Unstructured) -> Result<Value> {
    let n = u.int_in_range(0usize..=4)?;
    let mut ops = Vec::new();
    for _ in 0..n {
        let op = *u.choose(&["add", "remove", "replace", "move", "copy", "test", "bogus"])?;
        let path = *u.choose(&[
            "", "/", "/name", "/servers", "/servers/w", "/servers/w/name", "/servers/w/clients",
            "/servers/w/clients/c", "/servers/x", "/servers/a~1b", "/pools/p", "/servers/w/-",
            "/servers/0", "/a/b/c", "/~2", "name",
        ])?;
        let mut o = json!({"op": op, "path": path});
        if u.arbitrary()? {
            o["value"] = json::value(u)?;
        }
        if u.arbitrary()? {
            o["from"] = json!(*u.choose(&["/name", "/servers/w", "/servers", "", "/x"])?);
        }
        ops.push(o);
    }
    Ok(Value::Array(ops))
}

fn body(u: &mut Unstructured) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => Vec::new(),
        1 => u.arbitrary::<Vec<u8>>()?,
        2 | 3 => tree_body(u)?.to_string().into_bytes(),
        4 => ops_body(u)?.to_string().into_bytes(),
        5 => (*u.choose(&[
            "grant_type=client_credentials",
            "grant_type=client_credentials&client_id=ci&client_secret=SECRET",
            "grant_type=client_credentials&client_id=ci&client_secret=SECRET&scope=read_configuration",
            "grant_type=client_credentials&scope=bogus",
            "grant_type=password",
            "grant_type=client_credentials&grant_type=client_credentials",
            "%FF=%FF",
        ])?)
        .as_bytes()
        .to_vec(),
        _ => {
            // Deep nesting, near serde_json's and the emulator's depth limits.
            let depth = u.int_in_range(100usize..=130)?;
            let mut s = String::from("{\"servers\":{\"w\":");
            s.push_str(&"{\"a\":".repeat(depth));
            s.push('1');
            s.push_str(&"}".repeat(depth));
            s.push_str("}}");
            s.into_bytes()
        }
    })
}

impl<'a> Arbitrary<'a> for Req {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let method = (*u.choose(METHODS)?).to_owned();
        let shape = *u.choose(ROUTES)?;
        let tid = segment(u, TENANTS)?;
        let wid = segment(u, WORKSPACES)?;
        let path = shape.replace("{tid}", &tid).replace("{wid}", &wid);
        let query = match u.int_in_range(0u8..=3)? {
            0 => None,
            1 => {
                let s: String = u.arbitrary()?;
                Some(encode(&s))
            }
            _ => {
                let n = u.int_in_range(1usize..=3)?;
                let mut parts = Vec::new();
                for _ in 0..n {
                    parts.push(*u.choose(QUERY_PARTS)?);
                }
                Some(parts.join("&"))
            }
        };
        let auth = *u.choose(&[
            Auth::Acme,
            Auth::Acme,
            Auth::Acme,
            Auth::None,
            Auth::Reader,
            Auth::Other,
            Auth::BasicAcme,
        ])?;
        let raw_auth = if u.ratio(1u8, 8u8)? {
            Some(u.arbitrary::<String>()?)
        } else {
            None
        };
        let content_type = match u.int_in_range(0u8..=5)? {
            0 => None,
            1 => Some(u.arbitrary::<String>()?),
            _ => Some((*u.choose(CONTENT_TYPES)?).to_owned()),
        };
        let idempotency_key = match u.int_in_range(0u8..=5)? {
            0 => Some("k".repeat(32)),
            1 => Some(format!("key-{:028}", u.int_in_range(0u8..=3)?)),
            2 => Some(u.arbitrary::<String>()?),
            _ => None,
        };
        let content_length = if u.ratio(1u8, 16u8)? {
            Some(u.arbitrary::<u64>()?.to_string())
        } else {
            None
        };
        Ok(Req {
            method,
            path,
            query,
            auth,
            raw_auth,
            content_type,
            idempotency_key,
            content_length,
            body: body(u)?,
        })
    }
}

#[derive(Debug)]
struct Input {
    requests: Vec<Req>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(1usize..=4)?;
        let mut requests = Vec::with_capacity(n);
        for _ in 0..n {
            if !requests.is_empty() && u.is_empty() {
                break;
            }
            requests.push(u.arbitrary()?);
        }
        Ok(Input { requests })
    }
}

struct Tokens {
    acme: String,
    reader: String,
    other: String,
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let what = format!("{} {}", req.method(), req.uri());
    let response: Response<Body> = app.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("Content-Type is text").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{what}: the answer's body cannot be read: {e}"))
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

async fn token(app: &Router, tid: &str, id: &str, secret: &str) -> String {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/{tid}/system/oauth2/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic(id, secret))
        .body(Body::from("grant_type=client_credentials"))
        .expect("token request");
    let a = send(app, req).await;
    assert_eq!(a.status, StatusCode::OK, "token endpoint refused {tid}/{id}");
    let v: Value = serde_json::from_slice(&a.body).expect("token answer is JSON");
    v["access_token"].as_str().expect("access_token").to_owned()
}

fn build(r: &Req, tokens: &Tokens) -> Option<Request<Body>> {
    let uri = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    let mut b = Request::builder()
        .method(Method::from_bytes(r.method.as_bytes()).ok()?)
        .uri(uri);
    let auth = match r.auth {
        Auth::None => None,
        Auth::Acme => Some(format!("Bearer {}", tokens.acme)),
        Auth::Reader => Some(format!("Bearer {}", tokens.reader)),
        Auth::Other => Some(format!("bearer {}", tokens.other)),
        Auth::BasicAcme => Some(basic("ci", "SECRET")),
    };
    let headers = b.headers_mut()?;
    if let Some(a) = r.raw_auth.as_ref().or(auth.as_ref()) {
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(a).ok()?);
    }
    if let Some(ct) = &r.content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).ok()?);
    }
    if let Some(k) = &r.idempotency_key {
        headers.insert("x-idempotency-key", HeaderValue::from_str(k).ok()?);
    }
    if let Some(n) = &r.content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_str(n).ok()?);
    }
    b.body(Body::from(r.body.clone())).ok()
}

fn check(what: &str, a: &Answer) {
    assert!(
        !a.status.is_server_error(),
        "{what}: answered {} with no fault injected: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    let json_answer = a
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with("application/json"));
    if json_answer && !what.starts_with("HEAD ") {
        let v: Value = serde_json::from_slice(&a.body).unwrap_or_else(|e| {
            panic!(
                "{what}: a JSON answer that is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&a.body)
            )
        });
        if a.status.is_client_error() {
            let code = v.get("status_code").and_then(Value::as_u64);
            assert_eq!(
                code,
                Some(u64::from(a.status.as_u16())),
                "{what}: error answer with the wrong status_code: {v}"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let emulator = Emulator::new(Config {
            clients: CLIENTS
                .iter()
                .map(|c| OAuthClient::parse(c).expect("client spec"))
                .collect(),
            ..Config::default()
        })
        .expect("in-memory emulator");
        let app = api::router(Arc::new(emulator));
        let tokens = Tokens {
            acme: token(&app, "acme", "ci", "SECRET").await,
            reader: token(&app, "acme", "reader", "SECRET3").await,
            other: token(&app, "other", "ci", "SECRET2").await,
        };
        for r in &input.requests {
            let Some(req) = build(r, &tokens) else {
                continue;
            };
            let what = format!("{} {}", req.method(), req.uri());
            let answer = send(&app, req).await;
            if stats() {
                eprintln!("STAT {} {what}", answer.status.as_u16());
            }
            check(&what, &answer);
        }
        // Whatever was written, the tenant still reads back.
        let req = Request::builder()
            .uri("/api/hub/acme/promote/config?with_credentials=true")
            .header(header::AUTHORIZATION, format!("Bearer {}", tokens.acme))
            .body(Body::empty())
            .expect("export request");
        let a = send(&app, req).await;
        check("final export", &a);
        assert_eq!(a.status, StatusCode::OK, "acme no longer exports");
        let tree: Value = serde_json::from_slice(&a.body).expect("export is JSON");
        assert!(tree.is_object(), "acme's export is not an object: {tree}");
    });
});

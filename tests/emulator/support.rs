//! The harness: the real `promote serve` binary on an ephemeral loopback port with its own data
//! directory, and an HTTP client that hands back every answer (4xx and 5xx included).
//!
//! A [`Server`] starts the binary with `--listen 127.0.0.1:0` and learns its port from the first
//! line the binary writes to stderr (`promote serve: listening on http://127.0.0.1:PORT (...`),
//! so no test sleeps waiting for it. A thread keeps reading stderr so the pipe never fills, and
//! notes whether the server panicked: dropping a [`Server`] kills it and fails the test if it
//! did. Every server has the same three clients ([`CLIENTS`]).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tempfile::TempDir;
use ureq::http::{self, HeaderMap};
use ureq::{Agent, SendBody};

/// The clients every server registers: `TENANT:ID:SECRET[:SCOPES]`.
pub const CLIENTS: &[&str] = &[
    "acme:ci:SECRET",
    "other:ci:SECRET2",
    "acme:reader:SECRET3:read_configuration",
];

/// How long a test waits for the server to say where it listens.
const STARTUP: Duration = Duration::from_secs(30);

/// What the binary writes first on stderr once it listens.
const LISTENING: &str = "promote serve: listening on ";

/// A `promote serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    dir: TempDir,
    extra: Vec<String>,
    stderr: Option<JoinHandle<()>>,
    panicked: Arc<AtomicBool>,
    agent: Agent,
}

impl Server {
    /// Starts a server with the standard clients and an empty data directory.
    pub fn start() -> Server {
        Server::with_args(&[])
    }

    /// Starts a server with extra arguments (`--fault ...`, `--seed N`, `--rate ...`,
    /// `--max-body N`).
    pub fn with_args(extra: &[&str]) -> Server {
        Server::on(new_data_dir(), extra)
    }

    /// Starts a server on `dir` as its data directory (which may hold tenants already).
    pub fn on(dir: TempDir, extra: &[&str]) -> Server {
        let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        let (child, url, stderr, panicked) = spawn(dir.path(), &extra);
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"));
        Server {
            child,
            url,
            port,
            dir,
            extra,
            stderr: Some(stderr),
            panicked,
            agent: agent(),
        }
    }

    /// The process ID of the running server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server with SIGKILL (no chance to finish anything) and starts a new one with the
    /// same arguments on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        let (child, url, stderr, panicked) = spawn(self.dir.path(), &self.extra);
        self.child = child;
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"));
        self.url = url;
        self.stderr = Some(stderr);
        self.panicked = panicked;
        self.agent = agent();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr.take() {
            let _ = reader.join();
        }
        assert!(
            std::thread::panicking() || !self.panicked.load(Ordering::SeqCst),
            "promote serve panicked (see its stderr above)"
        );
    }

    /// Sends one request; `Err` only when no HTTP answer came back (a dropped connection).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ureq::Error> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let response = match body {
            Some(bytes) => self.agent.run(builder.body(bytes).expect("request"))?,
            None => self.agent.run(builder.body(()).expect("request"))?,
        };
        Ok(Reply::read(method, path, response))
    }

    /// Sends a request with a chunked body (no Content-Length).
    pub fn send_chunked(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let body = SendBody::from_owned_reader(std::io::Cursor::new(body));
        let response = self
            .agent
            .run(builder.body(body).expect("request"))
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        Reply::read(method, path, response)
    }

    /// Sends one request and expects an HTTP answer.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
    }

    /// `GET path` with an optional bearer token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let auth = token.map(bearer);
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        self.send("GET", path, &headers, None)
    }

    /// A request with a bearer token and a body of the given content type.
    pub fn write(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        self.write_with(method, path, token, content_type, body, &[])
    }

    /// [`Server::write`] with extra headers.
    pub fn write_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let auth = token.map(bearer);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        headers.extend_from_slice(extra);
        self.send(method, path, &headers, Some(body.into()))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.write("POST", path, token, "application/json", body.to_string())
    }

    /// `PATCH path` with a JSON body of the given content type.
    pub fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &Value,
    ) -> Reply {
        self.write("PATCH", path, token, content_type, body.to_string())
    }

    /// Asks the token endpoint of `tid`: `basic` as HTTP Basic client authentication, `form`
    /// as the form fields.
    pub fn token_reply(
        &self,
        tid: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Reply {
        let auth = basic.map(|(id, secret)| basic_header(id, secret));
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        let body = serde_urlencoded::to_string(form).expect("form");
        self.send(
            "POST",
            &format!("/{tid}/system/oauth2/token"),
            &headers,
            Some(body.into_bytes()),
        )
    }

    /// A token for client `id` of `tid` (HTTP Basic), with `scope` if given.
    pub fn token(&self, tid: &str, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let r = self.token_reply(tid, Some((id, secret)), &form);
        r.expect(200);
        r.json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {r}"))
            .to_owned()
    }

    /// A token of `acme`'s client `ci` (both scopes).
    pub fn acme(&self) -> String {
        self.token("acme", "ci", "SECRET", None)
    }

    /// A token of `other`'s client `ci`.
    pub fn other(&self) -> String {
        self.token("other", "ci", "SECRET2", None)
    }

    /// A token of `acme`'s read-only client.
    pub fn reader(&self) -> String {
        self.token("acme", "reader", "SECRET3", None)
    }

    /// Exports at `at` and expects 200; returns the tree.
    pub fn export(&self, token: &str, at: &At, with_credentials: bool) -> Value {
        let r = self.get(
            &at.config(&format!("with_credentials={with_credentials}")),
            Some(token),
        );
        r.expect(200);
        assert_eq!(r.header("content-type"), Some("application/json"), "{r}");
        r.json
    }

    /// Imports `tree` at `at` with `query` (e.g. `mode=fail`; may be empty).
    pub fn import(&self, token: &str, at: &At, tree: &Value, query: &str) -> Reply {
        self.post(&at.config(query), Some(token), tree)
    }

    /// Applies RFC 6902 `ops` at `at` with `query`.
    pub fn json_patch(&self, token: &str, at: &At, ops: &Value, query: &str) -> Reply {
        self.patch(
            &at.rfc6902(query),
            Some(token),
            "application/json-patch+json",
            ops,
        )
    }

    /// Applies the RFC 7396 merge patch `doc` at `at` with `query`.
    pub fn merge_patch(&self, token: &str, at: &At, doc: &Value, query: &str) -> Reply {
        self.patch(
            &at.rfc7396(query),
            Some(token),
            "application/merge-patch+json",
            doc,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new, empty data directory.
pub fn new_data_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("promote-serve-test-")
        .tempdir()
        .expect("tempdir")
}

/// The client: every answer comes back as a response, and no connection is reused, because the
/// server closes a connection after answering an error before the request body arrived, without
/// saying `Connection: close` (see `robustness::an_early_error_answer_keeps_the_connection_or_says_close`),
/// which makes a pooled client fail its next request at random.
fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

type Spawned = (Child, String, JoinHandle<()>, Arc<AtomicBool>);

fn spawn(data: &Path, extra: &[String]) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promote"));
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data);
    for c in CLIENTS {
        cmd.args(["--client", c]);
    }
    let mut child = cmd
        .args(extra)
        .current_dir(data)
        .env("NO_COLOR", "1")
        .env_remove("PROMOTE_LOG")
        .env_remove("PROMOTE_SERVE_CLIENTS")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start promote serve");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    let panicked = Arc::new(AtomicBool::new(false));
    let flag = panicked.clone();
    let reader = std::thread::spawn(move || read_stderr(stderr, &tx, &flag));
    match rx.recv_timeout(STARTUP) {
        Ok(Ok(url)) => (child, url, reader, panicked),
        Ok(Err(stderr)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promote serve exited before listening; stderr:\n{stderr}")
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promote serve did not say where it listens within {STARTUP:?}: {e}")
        }
    }
}

/// Reads stderr to its end: sends the URL of the listening line (or, if stderr ends first,
/// everything it said), then keeps reading and discarding, noting a panic.
fn read_stderr(
    stderr: impl Read,
    tx: &mpsc::Sender<Result<String, String>>,
    panicked: &AtomicBool,
) {
    let mut reader = BufReader::new(stderr);
    let mut before = Some(String::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if text.contains("panicked") {
            panicked.store(true, Ordering::SeqCst);
            eprint!("promote serve: {text}");
        }
        if let Some(seen) = before.as_mut() {
            match text.strip_prefix(LISTENING) {
                Some(rest) => {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(Ok(url));
                    before = None;
                }
                None => seen.push_str(&text),
            }
        }
    }
    if let Some(seen) = before {
        let _ = tx.send(Err(seen));
    }
}

/// `Bearer TOKEN`
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 section 2.3.1).
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| serde_urlencoded::to_string([("", s)]).expect("encode")[1..].to_owned();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// Where a promotion request goes: a tenant, a workspace of a tenant, or the system endpoints
/// with `?tid=`.
#[derive(Debug, Clone)]
pub enum At {
    Tenant(String),
    Workspace(String, String),
    System(String),
}

impl At {
    pub fn tenant(tid: &str) -> At {
        At::Tenant(tid.to_owned())
    }

    pub fn workspace(tid: &str, wid: &str) -> At {
        At::Workspace(tid.to_owned(), wid.to_owned())
    }

    pub fn system(tid: &str) -> At {
        At::System(tid.to_owned())
    }

    fn path(&self, last: &str, query: &str) -> String {
        let (path, mut q) = match self {
            At::Tenant(t) => (format!("/api/hub/{t}/promote/{last}"), String::new()),
            At::Workspace(t, w) => (
                format!("/api/hub/{t}/workspaces/{w}/promote/{last}"),
                String::new(),
            ),
            At::System(t) => (
                format!("/api/hub/system/promote/{last}"),
                format!("tid={t}"),
            ),
        };
        if !query.is_empty() {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(query);
        }
        if q.is_empty() {
            path
        } else {
            format!("{path}?{q}")
        }
    }

    /// The export/import path, with `query` (may be empty).
    pub fn config(&self, query: &str) -> String {
        self.path("config", query)
    }

    pub fn rfc6902(&self, query: &str) -> String {
        self.path("config-rfc6902", query)
    }

    pub fn rfc7396(&self, query: &str) -> String {
        self.path("config-rfc7396", query)
    }
}

/// One HTTP answer.
pub struct Reply {
    /// `METHOD path`, for messages.
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `null` if it is not JSON.
    pub json: Value,
}

impl Reply {
    fn read(method: &str, path: &str, mut response: http::Response<ureq::Body>) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: cannot read the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            request: format!("{method} {path}"),
            status,
            headers,
            text,
            json,
        }
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status (and, for 204, an empty body).
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        if status == 204 {
            assert_eq!(self.text, "", "a 204 has no body:\n{self}");
        }
        self
    }

    /// Asserts the status, and that the body is a JSON object with exactly `keys`.
    fn status_and_keys(&self, status: u16, keys: &[&str]) {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        let found: BTreeSet<&str> = self
            .json
            .as_object()
            .unwrap_or_else(|| panic!("the error body is not a JSON object:\n{self}"))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(found, keys.iter().copied().collect(), "{self}");
    }

    /// Asserts an API error answer: `status`, the JSON body
    /// `{"status_code", "error", "error_code", "details"}` with exactly these keys (`details`
    /// only when there are some: never `null`, as the platform's `omitempty`), and
    /// `error_code`. Returns `details` (`Null` when absent).
    pub fn error(&self, status: u16, error_code: &str) -> &Value {
        if self.json.get("details").is_some() {
            assert!(
                !self.json["details"].is_null(),
                "`details` is null:\n{self}"
            );
            self.status_and_keys(status, &["details", "error", "error_code", "status_code"]);
        } else {
            self.status_and_keys(status, &["error", "error_code", "status_code"]);
        }
        assert_eq!(self.json["status_code"], json!(status), "{self}");
        assert_eq!(self.json["error_code"], json!(error_code), "{self}");
        assert!(
            self.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "`error` must say what went wrong:\n{self}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self}"
        );
        &self.json["details"]
    }

    /// Asserts an OAuth2 error answer of the token endpoint (RFC 6749 section 5.2, with the
    /// API's `status_code` and `error_code`).
    pub fn oauth_error(&self, status: u16, code: &str) -> &Self {
        self.status_and_keys(
            status,
            &["error", "error_code", "error_description", "status_code"],
        );
        assert_eq!(self.json["error"], json!(code), "{self}");
        assert_eq!(self.json["error_code"], json!(code), "{self}");
        assert_eq!(self.json["status_code"], json!(status), "{self}");
        assert!(
            self.json["error_description"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{self}"
        );
        self
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} -> {}", self.request, self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {}", v.to_str().unwrap_or("<bytes>"))?;
        }
        write!(f, "\n{}", self.text)
    }
}

/// Every JSON pointer in `tree` whose last key is one of `names`.
pub fn keys_named(tree: &Value, names: &[&str]) -> Vec<String> {
    fn walk(value: &Value, at: &str, names: &[&str], out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if names.contains(&k.as_str()) {
                        out.push(here.clone());
                    }
                    walk(v, &here, names, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), names, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, "", names, &mut out);
    out
}

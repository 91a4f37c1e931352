//! The platform's Configuration Promotion API, as a blocking HTTP client (ureq, rustls).
//!
//! - Tokens: discovery, then client credentials with HTTP Basic; cached per tenant and renewed a
//!   minute before they expire; a 401 renews the token once.
//! - Retries: 429, 5xx, 403 `request_forbidden` and transport failures are retried with
//!   exponential backoff and full jitter, honouring `Retry-After`, bounded in attempts and time.
//!   Retrying is safe for every request promote sends: exports are reads, imports carry an
//!   `X-Idempotency-Key` that stays the same across retries, RFC 7396 patches are idempotent, and
//!   RFC 6902 patches start with `test` ops, so one applied twice fails instead of applying twice.
//! - TLS certificates are verified; [`Options::insecure`] turns that off (and plain HTTP beyond
//!   loopback on), and the command line warns when it is used.
//! - Errors quote the platform's `error`, `error_code`, `details` and `X-Trace-ID`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

mod resolver;

use crate::connect::Connection;
use crate::patch::three_way::Mode;
use crate::patch::Patch;
use crate::scrub;

/// What a path segment keeps as it is (RFC 3986 unreserved); the rest is percent-encoded, so
/// an ID can never add a path segment or a query.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Skip TLS verification and allow plain HTTP to any host.
    pub insecure: bool,
    /// Longest time for one request, connecting included.
    pub timeout: Duration,
    /// Most attempts of one request.
    pub attempts: u32,
    /// Longest time spent retrying one request.
    pub retry_budget: Duration,
    /// First backoff; doubles with each retry up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How many requests run at once (the environment's `concurrency`): as many connections
    /// are kept open for reuse, so that each request does not connect anew.
    pub connections: usize,
    /// Largest answer read, in bytes: a bigger one is refused (never retried) instead of filling
    /// memory.
    pub max_response: u64,
    /// The certificate authorities to trust instead of the public ones (the environment's
    /// `target.ca_file`, for a platform with a private CA); `None`: the public ones.
    pub roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    /// Hosts besides the platform's own that may receive the client secret as the token
    /// endpoint (the environment's `target.token_hosts`: `name` or `name:port`).
    pub token_hosts: Vec<String>,
}

/// Reads the certificate authorities of a PEM file (`target.ca_file`): every `CERTIFICATE`
/// block in it; other blocks (a key put there by mistake) are ignored.
pub(crate) fn read_roots(
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = crate::files::read_input(path).map_err(|e| format!("cannot read it: {e}"))?;
    parse_roots(&pem)
}

/// The certificate authorities of PEM text (see [`read_roots`]).
pub(crate) fn parse_roots(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => roots.push(cert),
            Ok(_) => {}
            Err(e) => return Err(format!("not a PEM file of certificates: {e}")),
        }
    }
    if roots.is_empty() {
        return Err("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(roots)
}

/// The default [`Options::max_response`]: 64 MiB, a thousand times a large tenant's export.
pub(crate) const MAX_RESPONSE: u64 = 64 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: false,
            timeout: Duration::from_secs(60),
            attempts: 8,
            retry_budget: Duration::from_secs(120),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            connections: 16,
            max_response: MAX_RESPONSE,
            roots: None,
            token_hosts: Vec::new(),
        }
    }
}

/// Why a request failed, with what the platform said.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) struct RequestError {
    /// `GET /api/hub/acme/promote/config`, for messages.
    pub request: String,
    pub kind: RequestErrorKind,
    /// How many attempts were made.
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestErrorKind {
    /// The platform answered with an error.
    Api {
        status: u16,
        error: String,
        error_code: String,
        details: Value,
        trace_id: Option<String>,
    },
    /// No answer: connection refused, reset, timed out, ... (retried).
    Transport(String),
    /// The TLS handshake failed: an unverifiable certificate, or no TLS on the other side
    /// (never retried: it does not go away by itself).
    Tls(String),
    /// The answer was not what the API promises.
    Protocol(String),
}

impl RequestError {
    /// The HTTP status, when the platform answered.
    pub(crate) fn status(&self) -> Option<u16> {
        match &self.kind {
            RequestErrorKind::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tries = if self.attempts > 1 {
            format!(" (after {} attempts)", self.attempts)
        } else {
            String::new()
        };
        match &self.kind {
            RequestErrorKind::Api {
                status,
                error,
                error_code,
                details,
                trace_id,
            } => {
                write!(f, "{} answered {status}", self.request)?;
                if !error_code.is_empty() {
                    write!(f, " {error_code}")?;
                }
                if !error.is_empty() {
                    write!(f, ": {error}")?;
                }
                if !details.is_null() {
                    write!(f, "; details: {details}")?;
                }
                if let Some(t) = trace_id {
                    write!(f, " [X-Trace-ID {t}]")?;
                }
                write!(f, "{tries}")
            }
            RequestErrorKind::Transport(e) => write!(f, "{} failed: {e}{tries}", self.request),
            RequestErrorKind::Tls(e) => write!(
                f,
                "{} failed: TLS: {e} (the platform's certificate is verified; --insecure skips that, for a test platform only)",
                self.request
            ),
            RequestErrorKind::Protocol(e) => write!(f, "{}: {e}", self.request),
        }
    }
}

/// A cached token.
#[derive(Clone)]
struct Token {
    value: String,
    renew_at: Instant,
}

/// A client of one platform (or emulator).
pub struct PlatformClient {
    agent: ureq::Agent,
    url: String,
    /// Per tenant: client ID and secret (kept here only for the token endpoint).
    credentials: HashMap<String, (String, String)>,
    default_credentials: Option<(String, String)>,
    tokens: Mutex<HashMap<String, Token>>,
    options: Options,
}

impl fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Tenant(&'a str),
    Workspace(&'a str, &'a str),
    /// A tenant through the system endpoints (`?tid=`): self-hosted platforms, where an
    /// import there can create the tenant.
    System(&'a str),
}

impl Target<'_> {
    /// The tenant whose token endpoint issues the token for the request: the system tenant
    /// for the system endpoints (the platform's `setup` security), else the tenant itself.
    fn issuer(&self) -> &str {
        match self {
            Target::System(_) => "system",
            Target::Tenant(t) | Target::Workspace(t, _) => t,
        }
    }

    /// The path and query of an operation (`suffix`: `config`, `config-rfc6902`, ...).
    fn path(&self, suffix: &str, query: &str) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string();
        match self {
            Target::Tenant(t) => format!("/api/hub/{}/promote/{suffix}?{query}", enc(t)),
            Target::Workspace(t, w) => format!(
                "/api/hub/{}/workspaces/{}/promote/{suffix}?{query}",
                enc(t),
                enc(w)
            ),
            Target::System(t) => {
                format!("/api/hub/system/promote/{suffix}?tid={}&{query}", enc(t))
            }
        }
    }
}

/// The most JSON values (numbers, strings, lists, maps...) one answer of the platform may hold;
/// parsed, each takes tens of bytes. A large tenant's export holds a few hundred thousand.
pub(crate) const MAX_VALUES: usize = 1_000_000;

/// Returns about how many JSON values `bytes` holds (its commas, `[` and `{` outside strings,
/// plus one), without parsing it.
fn json_values(bytes: &[u8]) -> usize {
    let mut count = 1;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b'[' | b'{' => count += 1,
                _ => {}
            }
        }
    }
    count
}

/// The most characters of a platform's error text that promote shows.
const MAX_ERROR_TEXT: usize = 1000;

/// Returns a platform's text as promote shows it: control characters (terminal escapes,
/// carriage returns, new lines that would forge lines of a CI log) written as escapes, and at
/// most [`MAX_ERROR_TEXT`] characters.
fn printable(text: &str) -> String {
    crate::diagnostic::one_line(text, MAX_ERROR_TEXT)
}

/// The longest a token is kept, whatever the platform says.
const MAX_TOKEN_LIFETIME: u64 = 24 * 60 * 60;

/// The scheme, host and port of an absolute URL, lowercase, with the scheme's default port;
/// `None` when it is not one. Parsed as HTTP does, so `https://platform@evil.example/` is
/// `evil.example`.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = match (uri.port_u16(), scheme.as_str()) {
        (Some(p), _) => p,
        (None, "https") => 443,
        (None, "http") => 80,
        _ => return None,
    };
    Some((scheme, host, port))
}

fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") || rest.starts_with("[::1]")
}

impl PlatformClient {
    /// A client for `connection`'s platform, for `tenants` (platform IDs).
    pub(crate) fn new(
        connection: &Connection,
        tenants: &[String],
        options: Options,
    ) -> Result<PlatformClient, String> {
        let url = connection.url().trim_end_matches('/').to_owned();
        let clear_text_allowed = is_loopback(&url) || options.insecure;
        if !url.starts_with("https://") && !clear_text_allowed {
            return Err(format!(
                "{url} is plain HTTP: credentials would cross the network in clear; use https:// (or --insecure for a test platform)"
            ));
        }
        // A platform has one client for every tenant; an emulator one per tenant.
        let (credentials, default_credentials) = match connection {
            Connection::Platform {
                client_id,
                client_secret,
                ..
            } => (
                HashMap::new(),
                Some((client_id.clone(), client_secret.clone())),
            ),
            Connection::Emulator(e) => (
                tenants
                    .iter()
                    .filter_map(|tid| {
                        let (id, secret) = e.credentials(tid)?;
                        Some((tid.clone(), (id.to_owned(), secret.to_owned())))
                    })
                    .collect(),
                None,
            ),
        };
        for (_, secret) in credentials.values().chain(&default_credentials) {
            scrub::register(secret);
        }
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(options.insecure);
        if let Some(roots) = &options.roots {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(roots));
        }
        let tls = tls.build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(Duration::from_secs(10).min(options.timeout)))
            .max_redirects(0)
            .max_idle_connections(options.connections.max(1))
            .max_idle_connections_per_host(options.connections.max(1))
            .user_agent(concat!("promote/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            resolver::CachingResolver::default(),
        );
        Ok(PlatformClient {
            agent,
            url,
            credentials,
            default_credentials,
            tokens: Mutex::new(HashMap::new()),
            options,
        })
    }

    /// Exports a tenant or workspace tree.
    pub(crate) fn export(
        &self,
        target: Target<'_>,
        with_credentials: bool,
    ) -> Result<Value, RequestError> {
        self.export_bytes(target, with_credentials)
            .map(|(_, tree)| tree)
    }

    /// Exports a tree, with the platform's answer as it came (for a backup) beside it.
    pub(crate) fn export_bytes(
        &self,
        target: Target<'_>,
        with_credentials: bool,
    ) -> Result<(Vec<u8>, Value), RequestError> {
        let path = target.path("config", &format!("with_credentials={with_credentials}"));
        let body = self.send(target.issuer(), "GET", &path, None, None)?;
        let protocol = |why: String| RequestError {
            request: format!("GET {path}"),
            kind: RequestErrorKind::Protocol(why),
            attempts: 1,
        };
        let tree: Value = serde_json::from_slice(&body)
            .map_err(|e| protocol(format!("the export is not JSON: {e}")))?;
        let node = match target {
            Target::Workspace(..) => &crate::layout::WORKSPACE,
            Target::Tenant(_) | Target::System(_) => &crate::layout::TENANT,
        };
        if let Some(problem) = crate::layout::shape_problem(node, &tree) {
            return Err(protocol(format!(
                "the export is not a {} tree: {problem}",
                node.what
            )));
        }
        Ok((body, tree))
    }

    /// Imports a tree (replacing the configuration, conflicts per `mode`).
    pub(crate) fn import(
        &self,
        target: Target<'_>,
        tree: &Value,
        mode: Mode,
        dry_run: bool,
    ) -> Result<(), RequestError> {
        let path = target.path(
            "config",
            &format!("mode={}&dry_run={dry_run}", mode.as_str()),
        );
        let key = idempotency_key().map_err(|e| RequestError {
            request: format!("POST {path}"),
            kind: RequestErrorKind::Transport(format!("no randomness for an idempotency key: {e}")),
            attempts: 0,
        })?;
        let body = serde_json::to_vec(tree).unwrap_or_default();
        self.send(
            target.issuer(),
            "POST",
            &path,
            Some(("application/json", body)),
            Some(&key),
        )
        .map(drop)
    }

    /// Sends a patch in its own format.
    pub(crate) fn patch(
        &self,
        target: Target<'_>,
        patch: &Patch,
        mode: Mode,
        dry_run: bool,
    ) -> Result<(), RequestError> {
        let suffix = match patch.format() {
            crate::patch::Format::Merge7396 => "config-rfc7396",
            crate::patch::Format::Json6902 => "config-rfc6902",
        };
        let path = target.path(suffix, &format!("mode={}&dry_run={dry_run}", mode.as_str()));
        let body = serde_json::to_vec(&patch.to_json()).unwrap_or_default();
        self.send(
            target.issuer(),
            "PATCH",
            &path,
            Some((patch.format().content_type(), body)),
            None,
        )
        .map(drop)
    }

    fn credentials_of(&self, tid: &str) -> Option<&(String, String)> {
        self.credentials
            .get(tid)
            .or(self.default_credentials.as_ref())
    }

    /// A live token for `tid`, from the cache or the token endpoint.
    fn token(&self, tid: &str, renew: bool) -> Result<String, RequestError> {
        if !renew {
            let tokens = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = tokens.get(tid).filter(|t| t.renew_at > Instant::now()) {
                return Ok(t.value.clone());
            }
        }
        let enc = percent_encoding::utf8_percent_encode(tid, SEGMENT);
        let discovery = format!("/{enc}/system/.well-known/openid-configuration");
        let doc = self.send_raw("GET", &discovery, None, &[])?;
        let request = format!("POST token endpoint of tenant {tid}");
        let protocol = |e: String| RequestError {
            request: request.clone(),
            kind: RequestErrorKind::Protocol(e),
            attempts: 1,
        };
        let doc: Value = serde_json::from_slice(&doc)
            .map_err(|e| protocol(format!("the discovery document is not JSON: {e}")))?;
        let endpoint = doc["token_endpoint"]
            .as_str()
            .ok_or_else(|| protocol("the discovery document names no token_endpoint".into()))?;
        // The client secret goes only to the hosts the environment names.
        if !self.may_receive_secret(endpoint) {
            return Err(protocol(format!(
                "the discovery document names the token endpoint {endpoint}, which is not on {}; the client secret was not sent there (if the platform's token endpoint really is on another host, name that host in target.token_hosts)",
                self.url
            )));
        }
        let (id, secret) = self
            .credentials_of(tid)
            .ok_or_else(|| protocol(format!("no client credentials for tenant {tid}")))?;
        let form_enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_enc(id),
            form_enc(secret)
        ));
        scrub::register(&basic);
        scrub::register(&form_enc(secret));
        let basic = format!("Basic {basic}");
        let started = Instant::now();
        let body = self.send_raw(
            "POST",
            endpoint,
            Some((
                "application/x-www-form-urlencoded",
                b"grant_type=client_credentials&scope=manage_configuration%20read_configuration"
                    .to_vec(),
            )),
            &[("Authorization", basic.as_str())],
        )?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| protocol(format!("the token answer is not JSON: {e}")))?;
        let value = answer["access_token"]
            .as_str()
            .ok_or_else(|| protocol("the token answer has no access_token".into()))?
            .to_owned();
        scrub::register(&value);
        // A day at most: the platform's number is not trusted to be sane (2^64-1 seconds would
        // overflow an Instant).
        let lifetime = Duration::from_secs(
            answer["expires_in"]
                .as_u64()
                .unwrap_or(300)
                .min(MAX_TOKEN_LIFETIME),
        );
        // Renew a minute early, or halfway through a short-lived token.
        let margin = Duration::from_secs(60).min(lifetime / 2);
        let token = Token {
            value: value.clone(),
            renew_at: started + lifetime - margin,
        };
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tid.to_owned(), token);
        Ok(value)
    }

    /// Returns whether the client secret may be sent to `endpoint`: the platform's own scheme,
    /// host and port, or an `https` host of `token_hosts`.
    fn may_receive_secret(&self, endpoint: &str) -> bool {
        let Some((scheme, host, port)) = origin(endpoint) else {
            return false;
        };
        if origin(&self.url).is_some_and(|o| o == (scheme.clone(), host.clone(), port)) {
            return true;
        }
        scheme == "https"
            && self.options.token_hosts.iter().any(|named| {
                let named = named.trim().to_ascii_lowercase();
                match named.rsplit_once(':') {
                    Some((h, p)) if p.parse::<u16>().is_ok() => h == host && p.parse() == Ok(port),
                    _ => named == host && port == 443,
                }
            })
    }

    /// Sends an API request for tenant `tid` with its token; renews the token once on 401.
    fn send(
        &self,
        tid: &str,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<u8>, RequestError> {
        let mut renewed = false;
        loop {
            let bearer = format!("Bearer {}", self.token(tid, renewed)?);
            let mut headers = vec![("Authorization", bearer.as_str())];
            if let Some(key) = idempotency_key {
                headers.push(("X-Idempotency-Key", key));
            }
            match self.send_raw(method, path, body.clone(), &headers) {
                Err(f) if f.status() == Some(401) && !renewed => renewed = true,
                other => return other,
            }
        }
    }

    /// Sends one request, retrying what is worth retrying. `path` is absolute or below the base.
    fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, RequestError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        };
        let request = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let shown = self.log_line(method, path);
        let sent = body.as_ref().map_or(0, |(_, bytes)| bytes.len());
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let attempt_started = Instant::now();
            let outcome = self.once(method, &url, body.as_ref(), headers);
            let ms = attempt_started.elapsed().as_millis();
            let (failure, retry_after) = match outcome {
                Ok((status, bytes)) => {
                    let again = if attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    tracing::info!("{shown} {status} {ms}ms{again}");
                    tracing::debug!("{shown}: sent {sent} bytes, received {} bytes", bytes.len());
                    return Ok(bytes);
                }
                Err((kind, retry_after)) => (kind, retry_after),
            };
            let retryable = match &failure {
                RequestErrorKind::Transport(_) => true,
                RequestErrorKind::Api {
                    status, error_code, ..
                } => {
                    *status == 429
                        || *status >= 500
                        || (*status == 403 && error_code == "request_forbidden")
                }
                RequestErrorKind::Tls(_) | RequestErrorKind::Protocol(_) => false,
            };
            let backoff = retry_after.unwrap_or_else(|| self.backoff(attempt));
            let out_of_budget = started.elapsed() + backoff > self.options.retry_budget;
            let answer = answer_text(&failure, ms);
            if !retryable || attempt >= self.options.attempts || out_of_budget {
                let tries = if attempt > 1 {
                    format!(" (attempt {attempt}, giving up)")
                } else {
                    String::new()
                };
                tracing::info!("{shown} {answer}{tries}");
                return Err(RequestError {
                    request,
                    kind: failure,
                    attempts: attempt,
                });
            }
            tracing::info!(
                "{shown} {answer}; retrying in {}ms (attempt {attempt} of {})",
                backoff.as_millis(),
                self.options.attempts
            );
            std::thread::sleep(backoff);
        }
    }

    /// Returns how the log shows a request to `path` (below the base, or absolute): the method,
    /// the path (below the platform's URL when it is there, else with its scheme and host, never
    /// a user name), and the query with every value scrubbed of credentials.
    fn log_line(&self, method: &str, path: &str) -> String {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let path = match path.strip_prefix(self.url.as_str()) {
            Some(below) => below.to_owned(),
            None if path.contains("://") => match path.parse::<ureq::http::Uri>() {
                Ok(uri) => format!(
                    "{}://{}{}{}",
                    uri.scheme_str().unwrap_or_default(),
                    uri.host().unwrap_or_default(),
                    uri.port().map(|p| format!(":{p}")).unwrap_or_default(),
                    uri.path()
                ),
                Err(_) => "(an unparsable URL)".to_owned(),
            },
            None => path.to_owned(),
        };
        let query: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => format!("{k}={}", scrub::scrub(v)),
                None => scrub::scrub(pair).into_owned(),
            })
            .collect();
        let line = if query.is_empty() {
            format!("{method} {path}")
        } else {
            format!("{method} {path}?{}", query.join("&"))
        };
        printable(&line)
    }

    /// Exponential backoff with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .options
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.options.max_backoff);
        exp.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        body: Option<&(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), (RequestErrorKind, Option<Duration>)> {
        let transport = |e: ureq::Error| (transport_failure(&e), None);
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call().map_err(transport)?
            }
            (_, body) => {
                let mut r = match method {
                    "POST" => self.agent.post(url),
                    _ => self.agent.patch(url),
                };
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                match body {
                    Some((ct, bytes)) => r.header("Content-Type", *ct).send(&bytes[..]),
                    None => r.send_empty(),
                }
                .map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let trace_id = header("x-trace-id").map(|t| printable(&t));
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(60)));
        let limit = self.options.max_response;
        let too_big = |size: &str| {
            RequestErrorKind::Protocol(format!(
                "the platform's answer is {size} than the {} MiB promote reads",
                limit >> 20
            ))
        };
        let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = declared.filter(|n| *n > limit) {
            return Err((too_big(&format!("{n} bytes (Content-Length), more")), None));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => (too_big("larger"), None),
                other => transport(other),
            })?;
        // Parsed, JSON takes tens of times the bytes it came in: a 64 MiB answer of `0,0,0,...`
        // (64 KB gzipped) would take gigabytes. Count the values first.
        if json_values(&bytes) > MAX_VALUES {
            return Err((
                RequestErrorKind::Protocol(format!(
                    "the platform's answer holds more than {MAX_VALUES} JSON values; promote reads no more"
                )),
                None,
            ));
        }
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = |k: &str| {
            parsed
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut error = text("error");
        let mut error_code = text("error_code");
        if error.is_empty() && error_code.is_empty() {
            error = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            if bytes.len() > 300 {
                error.push('…');
            }
        }
        // OAuth2 errors: `error` is the code, `error_description` the message.
        if let Some(d) = parsed.get("error_description").and_then(Value::as_str) {
            if error_code.is_empty() {
                error_code = error.clone();
            }
            error = d.to_owned();
        }
        Err((
            RequestErrorKind::Api {
                status,
                error: printable(&error),
                error_code: printable(&error_code),
                details: {
                    // A platform may echo what it was sent: a webhook's `api_key`, a client's
                    // secret. Redacted by name here, and by value (`scrub`) when printed.
                    let mut details = parsed.get("details").cloned().unwrap_or(Value::Null);
                    crate::credentials::redact_by_name(&mut details);
                    details
                },
                trace_id,
            },
            retry_after,
        ))
    }
}

/// Returns what a failed attempt that took `ms` got, as a request's log line says it after
/// the path: the status, the platform's error code and the time (`422 validation_failed 8ms`),
/// or what went wrong on the way.
fn answer_text(failure: &RequestErrorKind, ms: u128) -> String {
    match failure {
        RequestErrorKind::Api {
            status, error_code, ..
        } if error_code.is_empty() => format!("{status} {ms}ms"),
        RequestErrorKind::Api {
            status, error_code, ..
        } => format!("{status} {error_code} {ms}ms"),
        RequestErrorKind::Transport(e) => format!("failed after {ms}ms: {e}"),
        RequestErrorKind::Tls(e) => format!("failed after {ms}ms: TLS: {e}"),
        RequestErrorKind::Protocol(e) => format!("{ms}ms, refused: {e}"),
    }
}

/// What a transport error means, in words that say what to check.
fn transport_failure(e: &ureq::Error) -> RequestErrorKind {
    let rustls = |io: &std::io::Error| {
        io.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| r.to_string())
    };
    match e {
        ureq::Error::HostNotFound => {
            RequestErrorKind::Transport("the host name does not resolve; check target.url".into())
        }
        ureq::Error::Timeout(t) => RequestErrorKind::Transport(format!("timed out ({t})")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            RequestErrorKind::Transport(
                "connection refused: is the platform reachable at target.url?".into(),
            )
        }
        ureq::Error::Io(io) => match rustls(io) {
            Some(r) if r.contains("InvalidContentType") => RequestErrorKind::Tls(format!(
                "{r}: the other side does not speak TLS (is target.url https:// on a plain HTTP port?)"
            )),
            Some(r) => RequestErrorKind::Tls(r),
            None => RequestErrorKind::Transport(e.to_string()),
        },
        ureq::Error::Rustls(r) => RequestErrorKind::Tls(r.to_string()),
        ureq::Error::Tls(r) => RequestErrorKind::Tls((*r).to_owned()),
        ureq::Error::Pem(r) => RequestErrorKind::Tls(r.to_string()),
        other => RequestErrorKind::Transport(other.to_string()),
    }
}

/// A fresh idempotency key: 32 random bytes, 43 characters.
fn idempotency_key() -> Result<String, getrandom::Error> {
    promote_platform::random::secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_quote_the_platform() {
        let f = RequestError {
            request: "PATCH /api/hub/acme/promote/config-rfc7396".into(),
            kind: RequestErrorKind::Api {
                status: 422,
                error: "the tenant would be broken".into(),
                error_code: "validation_failed".into(),
                details: serde_json::json!([{"pointer": "/servers/w"}]),
                trace_id: Some("abc".into()),
            },
            attempts: 1,
        };
        assert_eq!(
            f.to_string(),
            "PATCH /api/hub/acme/promote/config-rfc7396 answered 422 validation_failed: the tenant would be broken; details: [{\"pointer\":\"/servers/w\"}] [X-Trace-ID abc]"
        );
    }

    /// An emulator on a loopback port, in this process.
    fn emulator(faults: &[&str]) -> (tokio::runtime::Runtime, Connection) {
        use promote_emulator::{self as emulator, auth, faults::Faults};
        let mut f = Faults::default();
        for spec in faults {
            f.add(spec).unwrap();
        }
        let em = std::sync::Arc::new(
            emulator::Emulator::new(emulator::Config {
                clients: vec![auth::OAuthClient::parse("acme:ci:s3cret").unwrap()],
                faults: f,
                seed: 7,
                ..Default::default()
            })
            .unwrap(),
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(emulator::serve(listener, em, std::future::pending()));
        let conn = Connection::Platform {
            url,
            client_id: "ci".into(),
            client_secret: "s3cret".into(),
        };
        (rt, conn)
    }

    fn fast() -> Options {
        Options {
            attempts: 30,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            ..Options::default()
        }
    }

    /// A platform on loopback that answers discovery (with `token_endpoint`, relative to its
    /// own URL unless absolute), a token with `expires_in`, and every other request with `error`.
    fn canned(token_endpoint: &str, expires_in: &str, error: &'static str) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let endpoint = if token_endpoint.contains("://") {
            token_endpoint.to_owned()
        } else {
            format!("{base}{token_endpoint}")
        };
        let token = format!(r#"{{"access_token":"bearer-token-Zq93","expires_in":{expires_in}}}"#);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(20) {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let _ = reader.read_exact(&mut vec![0; length]);
                let (status, body) = if line.contains("openid-configuration") {
                    (200, format!(r#"{{"token_endpoint":"{endpoint}"}}"#))
                } else if line.contains("/oauth2/token") {
                    (200, token.clone())
                } else {
                    (422, error.to_owned())
                };
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        base
    }

    fn platform(url: String) -> Connection {
        Connection::Platform {
            url,
            client_id: "ci".into(),
            client_secret: "client-secret-canned-Kx7".into(),
        }
    }

    #[test]
    fn a_platforms_text_cannot_drive_the_terminal() {
        assert_eq!(
            printable("bad\x1b[2J\x1b]0;title\x07\r\nforged: line"),
            "bad\\u{1b}[2J\\u{1b}]0;title\\u{7}\\r\\nforged: line"
        );
        assert_eq!(
            printable(&"x".repeat(5000)).chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }

    #[test]
    fn json_values_are_counted_without_parsing() {
        assert_eq!(json_values(b"{}"), 2);
        assert_eq!(json_values(br#"{"a":[0,0,0],"b":"x,[{\"y"}"#), 6);
        let bomb = format!("[{}0]", "0,".repeat(MAX_VALUES));
        assert!(json_values(bomb.as_bytes()) > MAX_VALUES);
    }

    #[test]
    fn a_token_that_never_expires_is_kept_a_day() {
        let url = canned("/acme/system/oauth2/token", "18446744073709551615", "{}");
        let c = PlatformClient::new(&platform(url), &[], fast()).unwrap();
        assert_eq!(c.token("acme", false).unwrap(), "bearer-token-Zq93");
        assert_eq!(
            c.token("acme", false).unwrap(),
            "bearer-token-Zq93",
            "cached"
        );
    }

    #[test]
    fn a_token_endpoint_elsewhere_gets_no_secret() {
        let url = canned("https://collector.invalid/token", "60", "{}");
        let c = PlatformClient::new(&platform(url), &[], fast()).unwrap();
        let e = c.export(Target::Tenant("acme"), false).unwrap_err();
        assert!(e.to_string().contains("was not sent there"), "{e}");
    }

    #[test]
    fn echoed_credentials_in_error_details_are_redacted() {
        let echo = r#"{"error":"invalid webhook","error_code":"validation_failed","details":{"body":{"webhooks":{"h":{"url":"https://x","api_key":"webhook-key-Pq55"}}},"hint":"client-secret-canned-Kx7"}}"#;
        let url = canned("/acme/system/oauth2/token", "60", echo);
        let c = PlatformClient::new(&platform(url), &[], fast()).unwrap();
        let e = c
            .import(
                Target::Tenant("acme"),
                &serde_json::json!({}),
                Mode::Update,
                false,
            )
            .unwrap_err();
        let shown = scrub::scrub(&e.to_string()).into_owned();
        assert!(shown.contains("validation_failed"), "{shown}");
        for secret in [
            "webhook-key-Pq55",
            "client-secret-canned-Kx7",
            "bearer-token-Zq93",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn round_trip_through_the_emulator() {
        let (_rt, conn) = emulator(&[]);
        let c = PlatformClient::new(&conn, &["acme".into()], fast()).unwrap();
        let t = Target::Tenant("acme");
        c.import(t, &serde_json::json!({"name": "Acme"}), Mode::Update, false)
            .unwrap();
        let patch =
            crate::patch::Patch::Merge(serde_json::json!({"servers": {"w": {"name": "W"}}}));
        c.patch(t, &patch, Mode::Update, false).unwrap();
        let tree = c.export(t, false).unwrap();
        assert_eq!(tree["name"], "Acme");
        assert_eq!(tree["servers"]["w"]["name"], "W");
        let ws = c.export(Target::Workspace("acme", "w"), true).unwrap();
        assert!(
            ws["secret"].is_string(),
            "generated, exported with credentials"
        );
        // Dry run changes nothing.
        c.import(t, &serde_json::json!({}), Mode::Update, true)
            .unwrap();
        assert_eq!(c.export(t, false).unwrap(), tree);
    }

    #[test]
    fn retries_faults_and_drops_without_applying_twice() {
        let (_rt, conn) = emulator(&["500=0.2", "forbidden=0.2", "drop=0.3"]);
        let c = PlatformClient::new(&conn, &["acme".into()], fast()).unwrap();
        let t = Target::Tenant("acme");
        for i in 0..20 {
            // (Under `metadata`, where the platform takes any value: it drops unknown fields.)
            let tree = serde_json::json!({"name": format!("v{i}"), "servers": {"w": {"clients": {"c": {"metadata": {"n": i}}}}}});
            c.import(t, &tree, Mode::Update, false).unwrap();
            let patch = crate::patch::Patch::Merge(
                serde_json::json!({"servers": {"w": {"clients": {"c": {"metadata": {"m": i}}}}}}),
            );
            c.patch(t, &patch, Mode::Update, false).unwrap();
            let live = c.export(t, false).unwrap();
            assert_eq!(live["name"], format!("v{i}"));
            assert_eq!(
                live["servers"]["w"]["clients"]["c"],
                serde_json::json!({"metadata": {"n": i, "m": i}})
            );
        }
    }

    #[test]
    fn the_client_secret_goes_only_to_the_hosts_the_environment_names() {
        let platform = Connection::Platform {
            url: "https://platform.example".into(),
            client_id: "ci".into(),
            client_secret: "s".into(),
        };
        let options = Options {
            token_hosts: vec!["auth.example".into(), "login.example:8443".into()],
            ..Options::default()
        };
        let c = PlatformClient::new(&platform, &[], options).unwrap();
        for ok in [
            "https://platform.example/acme/system/oauth2/token",
            "https://PLATFORM.example:443/x",
            "https://auth.example/token",
            "https://login.example:8443/token",
        ] {
            assert!(c.may_receive_secret(ok), "{ok}");
        }
        for refused in [
            "https://evil.example/token",
            "https://platform.example@evil.example/token",
            "https://platform.example.evil.example/token",
            "http://platform.example/token",
            "https://platform.example:8443/token",
            "https://login.example/token",
            "http://auth.example/token",
            "/relative/token",
            "not a url",
        ] {
            assert!(!c.may_receive_secret(refused), "{refused}");
        }
    }

    #[test]
    fn errors_say_what_the_platform_said() {
        let (_rt, conn) = emulator(&[]);
        let Connection::Platform { url, .. } = &conn else {
            unreachable!()
        };
        let wrong = Connection::Platform {
            url: url.clone(),
            client_id: "ci".into(),
            client_secret: "nope".into(),
        };
        let c = PlatformClient::new(&wrong, &[], fast()).unwrap();
        let e = c.export(Target::Tenant("acme"), false).unwrap_err();
        assert_eq!(e.status(), Some(401));
        assert!(e.to_string().contains("invalid_client"), "{e}");
        assert!(
            !e.to_string().contains("nope"),
            "the secret is never quoted"
        );

        let c = PlatformClient::new(&conn, &[], fast()).unwrap();
        // A dangling reference (a wrong type would be the decoder's 400).
        let bad = serde_json::json!({"servers": {"w": {"services": {"s": {"apis": {"a": {"policy_id": "gone"}}}}}}});
        let e = c
            .import(Target::Tenant("acme"), &bad, Mode::Update, false)
            .unwrap_err();
        assert_eq!(e.status(), Some(422));
        assert!(
            e.to_string().contains("/servers") && e.to_string().contains("X-Trace-ID"),
            "{e}"
        );
        assert_eq!(e.attempts, 1, "a 422 is not retried");

        let closed = Connection::Platform {
            url: "http://127.0.0.1:9".into(),
            client_id: "ci".into(),
            client_secret: "x".into(),
        };
        let opts = Options {
            attempts: 2,
            ..fast()
        };
        let e = PlatformClient::new(&closed, &[], opts)
            .unwrap()
            .export(Target::Tenant("acme"), false)
            .unwrap_err();
        assert!(
            e.to_string().contains("refused") && e.to_string().contains("2 attempts"),
            "{e}"
        );

        let plain = Connection::Platform {
            url: "http://platform.example".into(),
            client_id: "ci".into(),
            client_secret: "x".into(),
        };
        assert!(PlatformClient::new(&plain, &[], fast())
            .unwrap_err()
            .contains("plain HTTP"));
    }

    #[test]
    fn request_log_lines_show_paths_and_never_a_credential() {
        let c = PlatformClient::new(&platform("http://127.0.0.1:9".into()), &[], fast()).unwrap();
        for (method, path, shown) in [
            (
                "GET",
                "/api/hub/acme/promote/config?with_credentials=false",
                "GET /api/hub/acme/promote/config?with_credentials=false",
            ),
            // The token endpoint, named absolute by discovery: below the platform's URL, or
            // with its host (never a user name or password in it).
            (
                "POST",
                "http://127.0.0.1:9/acme/system/oauth2/token",
                "POST /acme/system/oauth2/token",
            ),
            (
                "POST",
                "https://user:pw@login.example:8443/token?x=1",
                "POST https://login.example:8443/token?x=1",
            ),
            // A query value that is a credential this process holds is scrubbed.
            (
                "GET",
                "/x?tid=acme&key=client-secret-canned-Kx7",
                "GET /x?tid=acme&key=<redacted>",
            ),
            // A control character in a path cannot forge a line.
            ("GET", "/a\nINFO b", "GET /a\\nINFO b"),
        ] {
            assert_eq!(c.log_line(method, path), shown);
        }
        assert_eq!(
            answer_text(&RequestErrorKind::Transport("connection refused".into()), 3),
            "failed after 3ms: connection refused"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(is_loopback("http://127.0.0.1:8443"));
        assert!(is_loopback("http://localhost/x"));
        assert!(!is_loopback("http://example.com"));
        assert!(!is_loopback("http://127.0.0.1.evil.com"));
    }
}

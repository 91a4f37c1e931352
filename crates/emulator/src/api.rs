//! The HTTP handlers: discovery, token, export, import and the two patch formats.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use serde_json::{json, Map, Value};

use super::auth::{self, Grant};
use super::error::ApiError;
use super::faults::Roll;
use super::idempotency::{self, Answer, Seen};
use super::routes::{Op, Route, Scope, OPENAPI, ROUTES};
use super::store::Slot;
use super::write::{self, Mode, Refused};
use super::{generate, Emulator, Killer};
use promote_platform::credentials;
use promote_platform::model::WrongType;
use promote_platform::pointer;
use promote_platform::tree;

/// The router of every route in [`ROUTES`].
pub(crate) fn router(state: Arc<Emulator>) -> Router {
    let mut router = Router::new();
    for route in ROUTES {
        let filter = match route.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            _ => MethodFilter::PATCH,
        };
        router = router.route(
            route.path,
            on(filter, move |State(st): State<Arc<Emulator>>, req| {
                handle(st, route, req)
            }),
        );
    }
    router
        .fallback(|| async {
            ApiError::not_found(
                "route_not_found",
                "no such route; the routes are listed in /api/hub/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see /api/hub/openapi.json",
            )
        })
        .layer(axum::middleware::map_response(with_trace_id))
        .with_state(state)
}

async fn with_trace_id(mut response: Response) -> Response {
    let id = format!("{:032x}", fastrand::u128(..));
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-trace-id", v);
    }
    response
}

async fn handle(st: Arc<Emulator>, route: &'static Route, req: axum::extract::Request) -> Response {
    if req.method() == axum::http::Method::GET {
        return answer(st, route, req).await;
    }
    // A write runs to its end in a task of its own, as on a real platform: a client that goes
    // away mid-request (killed, timed out) does not cancel it halfway through persisting.
    let killer = req.extensions().get::<Killer>().cloned();
    let response = match tokio::spawn(answer(st, route, req)).await {
        Ok(response) => response,
        Err(e) => ApiError::internal(format!("the write failed: {e}")).into_response(),
    };
    if response.extensions().get::<Dropped>().is_some() {
        // The injected fault: the write was applied; the connection closes with no answer.
        if let Some(Killer(kill)) = killer {
            kill.notify_one();
            std::future::pending::<()>().await;
        }
    }
    response
}

/// Answers one request and logs it.
async fn answer(st: Arc<Emulator>, route: &'static Route, req: axum::extract::Request) -> Response {
    let started = Instant::now();
    if let Some(latency) = st.dice.faults.latency {
        tokio::time::sleep(latency).await;
    }
    let (mut parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let result = match route.op {
        Op::OpenApi => Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()),
        Op::Discovery => discovery(&st, &mut parts).await,
        Op::Token => token(&st, &mut parts, body).await,
        _ => promotion(&st, route, &mut parts, body).await,
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    // An error may be answered before the body was read; hyper then closes the connection, so
    // say so, or a keep-alive client would send its next request into a closed socket.
    if method != axum::http::Method::GET
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let changed = response.extensions().get::<Changed>().is_some_and(|c| c.0);
    let dropped = response.extensions().get::<Dropped>().is_some();
    tracing::info!(
        target: "promote::serve",
        %method,
        path,
        status = response.status().as_u16(),
        changed,
        dropped,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn path_params(parts: &mut Parts) -> Result<HashMap<String, String>, ApiError> {
    Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map(|Path(p)| p)
        .map_err(|e| ApiError::bad_request(format!("bad path: {e}")))
}

fn query(parts: &Parts) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter `{k}` is given twice"
            )));
        }
    }
    Ok(out)
}

/// Reads the boolean query parameter `name` as the platform does: Go's `strconv.ParseBool`
/// (`1 t T TRUE true True`, `0 f F FALSE false False`), anything else 400; absent is `false`,
/// the default of both. The spec declares `with_credentials` a boolean, so an empty value is
/// refused as `ParseBool` refuses it, and `dry_run` a string with the default `"false"`, which an
/// empty value takes.
fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(false),
        Some("") if name == "dry_run" => Ok(false),
        Some(raw) => go_bool(raw).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{name}={raw}`: write {name}=true or {name}=false (or 1, t, TRUE, 0, f, FALSE, ...)"
            ))
        }),
    }
}

/// Returns what Go's `strconv.ParseBool` makes of `raw`, or `None` where it answers an error.
fn go_bool(raw: &str) -> Option<bool> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn known_tenant(st: &Emulator, tid: &str) -> Result<Arc<Slot>, ApiError> {
    st.store.get(tid).ok_or_else(|| {
        ApiError::not_found("tenant_not_found", format!("there is no tenant `{tid}`"))
    })
}

/// Checks that `tid` can authenticate: a tenant, or the system tenant.
fn known_issuer(st: &Emulator, tid: &str) -> Result<(), ApiError> {
    if tid == auth::SYSTEM_TENANT {
        return Ok(());
    }
    known_tenant(st, tid).map(drop)
}

async fn discovery(st: &Emulator, parts: &mut Parts) -> Result<Response, ApiError> {
    let params = path_params(parts).await?;
    let tid = params.get("tid").map(String::as_str).unwrap_or_default();
    known_issuer(st, tid)?;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let issuer = format!("http://{host}/{tid}/system");
    Ok(axum::Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": auth::SCOPES,
        "response_types_supported": ["token"],
    }))
    .into_response())
}

fn oauth_error(status: StatusCode, code: &'static str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({
            "error": code,
            "error_description": description,
            "status_code": status.as_u16(),
            "error_code": code,
        })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    r
}

/// Largest token request body.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

async fn token(st: &Emulator, parts: &mut Parts, body: Body) -> Result<Response, ApiError> {
    let params = path_params(parts).await?;
    let tid = params.get("tid").map(String::as_str).unwrap_or_default();
    known_issuer(st, tid)?;
    if !content_type_is(&parts.headers, &["application/x-www-form-urlencoded"]) {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = read_body(body, &parts.headers, TOKEN_BODY_LIMIT).await?;
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form body cannot be decoded",
        ));
    };
    let mut form = HashMap::new();
    for (k, v) in pairs {
        if form.insert(k.clone(), v).is_some() {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("`{k}` is given twice"),
            ));
        }
    }
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match st.auth.token(tid, basic, &form) {
        Ok(issued) => {
            let mut r = axum::Json(json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            }))
            .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Err(e) => {
            let status = if e.code == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            Ok(oauth_error(status, e.code, &e.description))
        }
    }
}

fn content_type_is(headers: &HeaderMap, accepted: &[&str]) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    accepted.iter().any(|a| essence.eq_ignore_ascii_case(a))
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the request body: {inner}"))
        }
    })
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not valid JSON: {e}"))
            .with_details(json!({"line": e.line(), "column": e.column()}))
    })
}

/// Checks the bearer token: it must be live, of this tenant, and carry `scope`.
fn authorize(
    st: &Emulator,
    headers: &HeaderMap,
    tid: &str,
    write: bool,
    system: bool,
) -> Result<Grant, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(format!(
                "no bearer token; get one from /{tid}/system/oauth2/token"
            ))
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
    let grant = st
        .auth
        .grant(token.trim())
        .ok_or_else(|| ApiError::unauthorized("the token is unknown or expired; get a new one"))?;
    // A token of the system tenant may use the system endpoints on any tenant.
    if grant.tenant != tid && !(system && grant.tenant == auth::SYSTEM_TENANT) {
        return Err(ApiError::forbidden(format!(
            "this token was issued by tenant `{}` and cannot be used on tenant `{tid}`",
            grant.tenant
        )));
    }
    let allowed = if write {
        grant.allows(auth::MANAGE)
    } else {
        grant.allows(auth::MANAGE) || grant.allows(auth::READ)
    };
    if !allowed {
        let needed = if write { auth::MANAGE } else { auth::READ };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "this request needs the `{needed}` scope; the token has `{}`",
                grant.scopes.join(" ")
            ),
        ));
    }
    Ok(grant)
}

async fn promotion(
    st: &Emulator,
    route: &Route,
    parts: &mut Parts,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(limit) = &st.rate {
        limit.take().map_err(ApiError::too_many_requests)?;
    }
    match st.dice.before() {
        Roll::Pass => {}
        Roll::InternalError => return Err(ApiError::internal("injected fault: internal error")),
        Roll::TooManyRequests => return Err(ApiError::too_many_requests(1)),
        Roll::Forbidden => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "request_forbidden",
                "injected fault: request forbidden (burst)",
            ))
        }
    }
    let params = path_params(parts).await?;
    let query = query(parts)?;
    let tid = match route.scope {
        Scope::System => query.get("tid").cloned().ok_or_else(|| {
            ApiError::bad_request("the system endpoints need the `tid` query parameter")
        })?,
        _ => params.get("tid").cloned().unwrap_or_default(),
    };
    let wid = params.get("wid").cloned();
    let writes = route.op != Op::Export;
    let system = route.scope == Scope::System;
    let slot = match known_tenant(st, &tid) {
        Ok(slot) => {
            authorize(st, &parts.headers, &tid, writes, system)?;
            slot
        }
        // The vendor's migration procedure: an import through the system endpoint creates the
        // tenant, for a client of the system tenant. Anyone else learns only that it is not
        // there (the tenant is looked up before the token, as on every route).
        Err(not_found) if system && route.op == Op::Import && super::store::is_tenant_id(&tid) => {
            let creates = authorize(st, &parts.headers, &tid, writes, system)
                .is_ok_and(|grant| grant.tenant == auth::SYSTEM_TENANT);
            if !creates || flag(&query, "dry_run")? {
                return Err(not_found);
            }
            st.store.ensure(&tid);
            known_tenant(st, &tid)?
        }
        Err(not_found) => return Err(not_found),
    };
    if !writes {
        return export(st, &slot, wid.as_deref(), flag(&query, "with_credentials")?);
    }
    let accepted: &[&str] = match route.op {
        Op::Patch6902 => &["application/json-patch+json", "application/json"],
        Op::Patch7396 => &["application/merge-patch+json", "application/json"],
        _ => &["application/json"],
    };
    if !content_type_is(&parts.headers, accepted) {
        // Every write takes a required body: without one (and so without a type), the
        // platform's API answers 400, as to any other missing required parameter.
        if parts.headers.get(header::CONTENT_TYPE).is_none()
            && read_body(body, &parts.headers, st.max_body)
                .await?
                .is_empty()
        {
            return Err(ApiError::bad_request(format!(
                "the request has no body: send the {} as {}",
                match route.op {
                    Op::Patch6902 => "RFC 6902 operations",
                    Op::Patch7396 => "RFC 7396 merge patch",
                    _ => "configuration",
                },
                accepted.join(" or ")
            )));
        }
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("the body must be sent as {}", accepted.join(" or ")),
        ));
    }
    // An empty `mode=` is no mode: the platform reads the parameter as a plain string and
    // falls back to the default for "".
    let mode = match query.get("mode").filter(|m| !m.is_empty()) {
        None => {
            if route.op == Op::Import {
                Mode::Ignore
            } else {
                Mode::Update
            }
        }
        Some(m) => Mode::parse(m).ok_or_else(|| {
            ApiError::bad_request(format!("`mode={m}`: the modes are ignore, fail and update"))
        })?,
    };
    let dry_run = flag(&query, "dry_run")?;
    let key = match parts.headers.get(idempotency::KEY_HEADER) {
        Some(_) if route.op != Op::Import => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| idempotency::is_valid_key(k))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "X-Idempotency-Key must be 32 to 255 visible ASCII characters",
                    )
                })?;
            Some(key.to_owned())
        }
        None => None,
    };
    let bytes = read_body(body, &parts.headers, st.max_body).await?;
    let document = parse_json(&bytes)?;
    let fingerprint = idempotency::fingerprint(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &bytes,
    );

    let writer = slot.writer.lock().await;
    if let Some(key) = &key {
        match st.idempotency.seen(&tid, key, fingerprint) {
            Seen::New => {}
            Seen::Replay(answer) => return Ok(replay(answer)),
            Seen::Reused => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    "this X-Idempotency-Key was used in the last minute for a different request",
                ))
            }
        }
    }
    let outcome = write_tenant(
        &slot,
        route,
        wid.as_deref(),
        &document,
        mode,
        st.keep_unknown,
    );
    let (after, changed) = match outcome {
        Ok(written) => written,
        Err(e) => {
            remember(
                st,
                &tid,
                key.as_deref(),
                fingerprint,
                &e.clone().into_response_parts(),
            );
            return Err(e);
        }
    };
    let answer = Answer {
        status: StatusCode::NO_CONTENT,
        content_type: None,
        body: Bytes::new(),
    };
    if dry_run {
        remember(st, &tid, key.as_deref(), fingerprint, &answer);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if st.dice.lose_write() {
        // The injected fault of a platform that answers 204 and keeps nothing of the change.
        remember(st, &tid, key.as_deref(), fingerprint, &answer);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let version = st.store.publish(&slot, after);
    // Remembered before the writer lock is released, so a replay never applies twice.
    remember(st, &tid, key.as_deref(), fingerprint, &answer);
    drop(writer);
    st.store
        .persist(&slot, version)
        .await
        .map_err(|e| ApiError::internal(format!("cannot persist the tenant: {e:#}")))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(Changed(changed));
    if st.dice.drop_after_write() {
        response.extensions_mut().insert(Dropped);
    }
    Ok(response)
}

/// The connection of this write is to be closed without an answer (the `drop` fault).
#[derive(Debug, Clone, Copy)]
struct Dropped;

/// Whether a write changed the tenant's stored document, for the request log: a retried write
/// that changes nothing shows as `changed=false`.
#[derive(Debug, Clone, Copy)]
struct Changed(bool);

impl ApiError {
    fn into_response_parts(self) -> Answer {
        Answer {
            status: self.status,
            content_type: Some("application/json"),
            body: super::store::to_bytes(&self.body()),
        }
    }
}

/// Remembers an answer for an idempotency key; answers a retry should not see again (5xx,
/// 429) are not remembered.
fn remember(st: &Emulator, tid: &str, key: Option<&str>, fingerprint: u64, answer: &Answer) {
    if let Some(key) = key {
        if !answer.status.is_server_error() && answer.status != StatusCode::TOO_MANY_REQUESTS {
            st.idempotency
                .remember(tid, key, fingerprint, answer.clone());
        }
    }
}

fn replay(answer: Answer) -> Response {
    let mut r = (answer.status, answer.body).into_response();
    if let Some(ct) = answer.content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r.headers_mut().insert(
        idempotency::REPLAYED_HEADER,
        HeaderValue::from_static("true"),
    );
    r
}

fn export(
    st: &Emulator,
    slot: &Slot,
    wid: Option<&str>,
    with_credentials: bool,
) -> Result<Response, ApiError> {
    let doc = snapshot(slot)?;
    let bytes = match wid {
        None => doc.export(with_credentials, st.store.caches_exports()),
        Some(wid) => {
            let mut ws = doc
                .tree()
                .get_mut("servers")
                .and_then(|s| s.get_mut(wid))
                .map(std::mem::take)
                .filter(|ws| !ws.is_null())
                .ok_or_else(|| no_workspace(&slot.tid, wid))?;
            if !with_credentials {
                credentials::strip(&mut ws, credentials::Scope::Workspace);
            }
            super::store::to_bytes(&ws)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

fn snapshot(slot: &Slot) -> Result<std::sync::Arc<super::store::Doc>, ApiError> {
    slot.snapshot()
        .map_err(|e| ApiError::internal(format!("cannot read tenant `{}`: {e:#}", slot.tid)))
}

fn no_workspace(tid: &str, wid: &str) -> ApiError {
    ApiError::not_found(
        "workspace_not_found",
        format!("tenant `{tid}` has no workspace `{wid}`"),
    )
}

/// Computes the tenant tree a write leads to, or why it is refused. Changes nothing.
fn write_tenant(
    slot: &Slot,
    route: &Route,
    wid: Option<&str>,
    document: &Value,
    mode: Mode,
    keep_unknown: bool,
) -> Result<(Value, bool), ApiError> {
    let before = snapshot(slot)?.tree();
    let before = &before;
    let (node, current) = match wid {
        None => (&tree::TENANT, Some(before)),
        Some(wid) => (
            &tree::WORKSPACE,
            before.get("servers").and_then(|s| s.get(wid)),
        ),
    };
    let what = if wid.is_some() { "workspace" } else { "tenant" };
    // The platform decodes the whole body before a mode decides what of it is kept.
    if matches!(route.op, Op::Import | Op::Patch7396) {
        super::decode::sent(document, wid.is_some())
            .map_err(|wrong| wrong_types(&wrong, None, what))?;
    }
    let written = match route.op {
        Op::Import => write::import(current, tree_body(document, what)?, node, mode),
        Op::Patch7396 => {
            let current =
                current.ok_or_else(|| no_workspace(&slot.tid, wid.unwrap_or_default()))?;
            write::merge(current, tree_body(document, what)?, node, mode)
        }
        _ => {
            let current =
                current.ok_or_else(|| no_workspace(&slot.tid, wid.unwrap_or_default()))?;
            let ops =
                <Vec<json_patch::PatchOperation> as serde::Deserialize>::deserialize(document)
                    .map_err(|e| {
                        ApiError::bad_request(format!(
                            "the body must be an RFC 6902 array of operations: {e}"
                        ))
                    })?;
            write::apply_ops(current, &ops, node, mode)
        }
    }
    .map_err(refused)?;
    let mut after = match wid {
        None => written,
        Some(wid) => {
            let mut t = before.clone();
            if !t.is_object() {
                t = Value::Object(Map::new());
            }
            let servers = t
                .as_object_mut()
                .map(|m| m.entry("servers").or_insert_with(|| json!({})));
            match servers {
                Some(Value::Object(s)) => {
                    s.insert(wid.to_owned(), written);
                }
                _ => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "the tenant's `servers` is not a map",
                    ))
                }
            }
            t
        }
    };
    if depth(&after) > MAX_DEPTH {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("the {what} would be nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    // The platform decodes what it is sent into typed structures: the patched tree is read
    // as it would read it, before anything of its own (credentials) is added.
    let prefix = wid.map(|w| pointer::join("/servers", w));
    super::decode::decode(&mut after, keep_unknown)
        .map_err(|wrong| wrong_types(&wrong, prefix.as_deref(), what))?;
    if route.op != Op::Import {
        write::drop_idps_without_pool(before, &mut after);
    }
    generate::fill_tenant(Some(before), &mut after)
        .map_err(|e| ApiError::internal(format!("no randomness for new credentials: {e}")))?;
    let problems = super::check(&after);
    if !problems.is_empty() {
        let details: Vec<Value> = problems
            .iter()
            .map(|p| {
                let at = relative(&p.pointer, prefix.as_deref());
                json!({"pointer": at, "message": p.message, "hint": p.hint})
            })
            .collect();
        let first = &details[0];
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!(
                "the {what} would be broken: {} at {}{}",
                first["message"].as_str().unwrap_or_default(),
                first["pointer"].as_str().unwrap_or_default(),
                and_more(details.len(), " problems")
            ),
        )
        .with_details(Value::Array(details)));
    }
    // Only for the request log: the comparison is skipped when nothing logs it.
    let changed =
        tracing::enabled!(target: "promote::serve", tracing::Level::INFO) && after != *before;
    Ok((after, changed))
}

/// A pointer into the tenant tree as a pointer into the document sent, which is the workspace
/// at `prefix` for the workspace routes.
fn relative<'a>(at: &'a str, prefix: Option<&str>) -> &'a str {
    match prefix {
        // Only a whole-segment prefix: `/servers/w` is not a prefix of `/servers/w2/x`.
        Some(pre) => at
            .strip_prefix(pre)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(at),
        None => at,
    }
}

/// The platform's answer to values of the wrong type: 400, every one in `details` with its
/// pointer (into the document sent), the type the field holds and the type found.
fn wrong_types(wrong: &[WrongType], prefix: Option<&str>, what: &str) -> ApiError {
    let details: Vec<Value> = wrong
        .iter()
        .map(|w| {
            json!({
                "pointer": relative(&w.pointer, prefix),
                "expected": w.expected,
                "found": w.found,
            })
        })
        .collect();
    // `decode` answers Err only with at least one value of the wrong type.
    let first = &details[0];
    ApiError::bad_request(format!(
        "the {what} cannot be decoded: {} must be {}, not {}{}; nothing was changed",
        first["pointer"].as_str().unwrap_or_default(),
        first["expected"].as_str().unwrap_or_default(),
        first["found"].as_str().unwrap_or_default(),
        and_more(details.len(), "")
    ))
    .with_details(Value::Array(details))
}

/// ` (and N more{what})` after the first of `count` findings, or nothing when it is the only one.
fn and_more(count: usize, what: &str) -> String {
    if count > 1 {
        format!(" (and {} more{what})", count - 1)
    } else {
        String::new()
    }
}

/// Deepest nesting a stored tree may have: every tree read back must parse again (serde_json
/// stops at 128 levels), and no configuration comes near it.
const MAX_DEPTH: usize = 120;

/// How deeply `v` is nested. Bounded: stored trees are at most [`MAX_DEPTH`] deep and a request
/// body at most 128 (serde_json's limit), so the recursion is too.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The body of an import or merge patch: a tree, so a JSON object.
fn tree_body<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        ApiError::bad_request(format!(
            "the body must be a JSON object (a {what} tree), not {}",
            tree::kind(v)
        ))
    })
}

fn refused(r: Refused) -> ApiError {
    match r {
        Refused::Conflicts(pointers) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "mode=fail and {} entries exist on both sides, first {}; nothing was changed",
                pointers.len(),
                pointers.first().map(String::as_str).unwrap_or_default()
            ),
        )
        .with_details(json!(pointers)),
        Refused::TestFailed { op, path } => ApiError::new(
            StatusCode::CONFLICT,
            "precondition_failed",
            format!("test operation {op} at {path} did not hold; nothing was changed"),
        )
        .with_details(json!([{"op": op, "pointer": path}])),
        Refused::NotApplicable { op, path, reason } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "patch_not_applicable",
            format!("operation {op} at {path} cannot be applied: {reason}; nothing was changed"),
        )
        .with_details(json!([{"op": op, "pointer": path, "message": reason}])),
    }
}

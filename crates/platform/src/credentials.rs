//! Credential-bearing fields: the one list of where the platform keeps credentials in a tree.
//!
//! A credential must never reach git, a log, a plan or a report in plain text. The repository
//! names credentials with `secret("NAME")`, which renders as the marker `<secret:NAME>`; the
//! value is supplied at apply time. This module knows where credentials live in a tree
//! ([`TENANT_FIELDS`], [`WORKSPACE_FIELDS`]), recognises markers, finds plain-text values, and
//! redacts or strips them.

use std::sync::LazyLock;

use serde_json::Value;

use crate::pointer;
use matcher::Matcher;

pub(crate) mod matcher;

/// Where credentials live in a tenant tree, as `/`-separated patterns: `*` matches any key or
/// list index, `a|b` matches either name. Workspace patterns are relative to a workspace and
/// also apply under `servers/*` of a tenant.
pub const TENANT_FIELDS: &[&str] = &[
    "jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    // A server's key set holds keys outside `keys` too (`ServerJWKs` in the vendor's API
    // description): the next ones, and those revoked.
    "jwks/next_signing_key|next_encryption_key/d|p|q|dp|dq|qi|k|oth",
    "jwks/revoked_signing_keys|revoked_encryption_keys/*/d|p|q|dp|dq|qi|k|oth",
    "mfa_methods/*/auth",
    ANYWHERE_FIELDS,
];

/// Field names that are a credential wherever they are (`**` matches any number of keys): the
/// places above are where the platform documents credentials, and a field named so elsewhere
/// (an IdP's `config/client_secret`, a static user's `password`, an Okta supervisor client's
/// secret) holds one too. Over-treating a field as a credential keeps it out of git; missing one
/// puts it there.
pub const ANYWHERE_FIELDS: &str = "**/client_secret|password|private_key|signing_key|api_key";

/// The pattern segment that matches any number of keys (see [`ANYWHERE_FIELDS`]).
const ANY_DEPTH: &str = "**";

/// Credential fields of a workspace (see [`TENANT_FIELDS`]).
pub const WORKSPACE_FIELDS: &[&str] = &[
    "jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    "jwks/next_signing_key|next_encryption_key/d|p|q|dp|dq|qi|k|oth",
    "jwks/revoked_signing_keys|revoked_encryption_keys/*/d|p|q|dp|dq|qi|k|oth",
    "secret",
    "rotated_secrets",
    "subject_identifier_algorithm_salt",
    "clients/*/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "idps/*/client/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "gateways/*/client/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "custom_apps/*/client/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "server_consent/client/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "ciba_authentication_service/client/client_secret|hashed_secret|rotated_secrets|hashed_rotated_secrets|registration_token",
    "idps/*/credentials",
    // The private members of the keys of a client's JWKS (and a trust anchor's, and a DCR
    // payload's), which the model gives the same fields as a server's: a client's keys are
    // public, but a private member written there is a credential all the same.
    "clients/*/jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    "idps|gateways|custom_apps/*/client/jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    "server_consent|ciba_authentication_service/client/jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    "trust_anchor_configuration/jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    "dynamic_client_registration/payload/jws_payload/jwks/keys/*/d|p|q|dp|dq|qi|k|oth",
    // The salt of the identifiers a JIT-provisioning IdP derives, like a workspace's salt.
    "idps/*/jit/provisioning/identifier_salt",
    "webhooks/*/api_key",
    "ciba_authentication_service/external/credentials",
    ANYWHERE_FIELDS,
];

/// Credentials the platform makes up itself when a write leaves them out (DESIGN section 1: signing
/// keys, workspace secrets and salts, client secrets), as tenant patterns (see [`TENANT_FIELDS`]).
pub const GENERATED: &[&str] = &[
    "jwks",
    "servers/*/jwks",
    "servers/*/secret",
    "servers/*/subject_identifier_algorithm_salt",
    "servers/*/clients/*/client_secret",
];

/// What the marker of a secret reference looks like: `<secret:NAME>`.
pub const MARKER_PREFIX: &str = "<secret:";

/// Whether `text` holds [`MARKER_PREFIX`]. Most strings hold no `<` at all, which is looked
/// for first (as `memchr` looks for a byte): setting up a search for the whole prefix costs
/// more than reading a short string.
pub fn holds_marker(text: &str) -> bool {
    text.as_bytes().contains(&b'<') && text.contains(MARKER_PREFIX)
}

/// Whether `value` is or holds a `secret()` marker (`<secret:NAME>`, [`marker_name`]), at any
/// depth.
pub fn holds_secret(value: &Value) -> bool {
    match value {
        Value::String(s) => marker_name(s).is_some(),
        Value::Array(items) => items.iter().any(holds_secret),
        Value::Object(map) => map.values().any(holds_secret),
        _ => false,
    }
}

/// What a redacted plain-text credential is shown as.
pub const REDACTED: &str = "<redacted>";

/// Which kind of tree the patterns are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    Workspace,
}

/// A parsed pattern: one list of alternatives per segment.
pub(crate) type Pattern = Vec<Vec<&'static str>>;

static TENANT_PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    // The names that are credentials anywhere are matched once over the whole tree.
    let workspace = WORKSPACE_FIELDS
        .iter()
        .filter(|p| **p != ANYWHERE_FIELDS)
        .map(|p| format!("servers/*/{p}"));
    TENANT_FIELDS
        .iter()
        .map(|p| parse(p))
        .chain(workspace.map(|p| parse(Box::leak(p.into_boxed_str()))))
        .collect()
});

static WORKSPACE_PATTERNS: LazyLock<Vec<Pattern>> =
    LazyLock::new(|| WORKSPACE_FIELDS.iter().map(|p| parse(p)).collect());

static TENANT_MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::new(&TENANT_PATTERNS));

static WORKSPACE_MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::new(&WORKSPACE_PATTERNS));

/// The patterns of `scope`, compiled ([`mod@matcher`]).
fn matcher(scope: Scope) -> &'static Matcher {
    match scope {
        Scope::Tenant => &TENANT_MATCHER,
        Scope::Workspace => &WORKSPACE_MATCHER,
    }
}

/// Parses a `/`-separated pattern (see [`TENANT_FIELDS`]).
pub(crate) fn parse(pattern: &'static str) -> Pattern {
    pattern
        .split('/')
        .map(|seg| seg.split('|').collect())
        .collect()
}

#[cfg(test)]
fn patterns(scope: Scope) -> &'static [Pattern] {
    match scope {
        Scope::Tenant => &TENANT_PATTERNS,
        Scope::Workspace => &WORKSPACE_PATTERNS,
    }
}

/// Whether `key` is one of `alternatives` (or they hold `*`), as the platform would read it: it
/// decodes JSON as Go does, matching a field's name under Unicode case folding, so `JWKS`,
/// `Client_Secret`, `jwKs` (a Kelvin sign) or `client_ſecret` (a long s) in a write land in
/// `jwks` or `client_secret` ([`folds_to`]).
pub(crate) fn segment_matches(alternatives: &[&str], key: &str) -> bool {
    alternatives.iter().any(|a| *a == "*" || folds_to(key, a))
}

/// Whether `key` folds to the ASCII field name `name` as Go's `encoding/json` folds field
/// names: ASCII letters without regard to case, and the two non-ASCII letters whose simple case
/// folding is an ASCII one, the Kelvin sign (U+212A, `k`) and the long s (U+017F, `s`).
pub(crate) fn folds_to(key: &str, name: &str) -> bool {
    // The common case, and a fast one: every key of a tree is looked at.
    if key.is_ascii() {
        return key.eq_ignore_ascii_case(name);
    }
    let mut name = name.bytes();
    for c in key.chars() {
        let folded = match c {
            '\u{212A}' => b'k',
            '\u{017F}' => b's',
            c if c.is_ascii() => (c as u8).to_ascii_lowercase(),
            _ => return false,
        };
        if name.next().map(|b| b.to_ascii_lowercase()) != Some(folded) {
            return false;
        }
    }
    name.next().is_none()
}

/// Returns the marker that stands for secret `name`.
pub fn marker(name: &str) -> String {
    format!("{MARKER_PREFIX}{name}>")
}

/// Returns the secret name if `s` is a marker.
pub fn marker_name(s: &str) -> Option<&str> {
    let name = s.strip_prefix(MARKER_PREFIX)?.strip_suffix('>')?;
    is_secret_name(name).then_some(name)
}

/// Returns whether `name` may name a secret: `[A-Za-z0-9_]+`, so it maps onto an environment
/// variable `PROMOTE_SECRET_<NAME>`.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Returns whether a credential value holds no plain text: null, a marker, or a structure (an
/// IdP's `credentials`) whose strings are all markers. A number or a boolean is a value typed
/// into the repository like any other: as the whole field it is plain text (`api_key:
/// 4815162342`); inside a structure only booleans pass (flags such as a static user's
/// `email_verified`), a number could be a PIN.
pub fn is_safe(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => marker_name(s).is_some(),
        Value::Array(_) | Value::Object(_) => is_safe_inside(value),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn is_safe_inside(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(is_safe_inside),
        Value::Object(map) => map.values().all(is_safe_inside),
        Value::Null | Value::Bool(_) => true,
        Value::String(s) => marker_name(s).is_some(),
        Value::Number(_) => false,
    }
}

/// Returns the pointers of the `secret()` markers of `tree` that are not inside a credential
/// field. A secret's value is only ever sent in a credential field; elsewhere the marker would
/// reach the platform as the text `<secret:NAME>`, which nobody means.
pub fn stray_markers(tree: &Value, scope: Scope) -> Vec<String> {
    Fields::of(tree, scope).stray_markers()
}

/// The credential fields of a tree ([`for_each`]), found once for the checks that read them
/// ([`Fields::plain_text`], [`Fields::stray_markers`]).
#[derive(Debug)]
pub struct Fields<'a> {
    found: Vec<(String, &'a Value)>,
    /// The pointers of the strings and keys holding a marker, in tree order.
    markers: Vec<String>,
}

impl<'a> Fields<'a> {
    /// Finds the credential fields of `tree`, a tree of `scope`, and in the same walk its
    /// markers.
    pub fn of(tree: &'a Value, scope: Scope) -> Fields<'a> {
        Fields::find(tree, scope, true)
    }

    /// [`Fields::of`], for a tree the caller knows holds no marker (no string or key holding
    /// `<secret:`): its strings and keys are not searched for one.
    pub fn without_markers(tree: &'a Value, scope: Scope) -> Fields<'a> {
        Fields::find(tree, scope, false)
    }

    fn find(tree: &'a Value, scope: Scope, with_markers: bool) -> Fields<'a> {
        let mut all = Vec::new();
        let mut markers = Vec::new();
        matcher(scope).visit(tree, &mut |path, key, value, field| {
            if field {
                all.push((path.pointer(), value));
            }
            if !with_markers {
                return;
            }
            // A marker as a key is never a credential field's value.
            if key.is_some_and(holds_marker) {
                markers.push(path.pointer());
            }
            if matches!(value, Value::String(s) if holds_marker(s)) {
                markers.push(path.pointer());
            }
        });
        let mut found = Vec::new();
        outermost(all, |ptr, value| found.push((ptr, value)));
        Fields { found, markers }
    }

    /// Returns each field found, outermost only, in pointer order: its pointer and value.
    pub fn found(&self) -> impl Iterator<Item = (&str, &'a Value)> + '_ {
        self.found.iter().map(|(ptr, value)| (ptr.as_str(), *value))
    }

    /// Returns the pointers of the fields that hold plain text (see [`plain_text`]).
    pub fn plain_text(&self) -> Vec<String> {
        self.found
            .iter()
            .filter(|(ptr, v)| holds_plain_text(ptr, v))
            .map(|(ptr, _)| ptr.clone())
            .collect()
    }

    /// Returns the pointers of the markers outside the fields (see [`stray_markers`]).
    pub fn stray_markers(&self) -> Vec<String> {
        let inside = |at: &str| {
            self.found.iter().any(|(f, _)| {
                at == f || (at.starts_with(f.as_str()) && at.as_bytes()[f.len()] == b'/')
            })
        };
        self.markers
            .iter()
            .filter(|at| !inside(at))
            .cloned()
            .collect()
    }
}

/// Calls `found` with the JSON pointer and value of every credential field present in `tree`,
/// each once, and none inside another (an IdP's `credentials` holds a `client_secret`: the
/// whole structure is the credential).
pub fn for_each<'a>(tree: &'a Value, scope: Scope, found: impl FnMut(String, &'a Value)) {
    let mut all: Vec<(String, &'a Value)> = Vec::new();
    matcher(scope).find(tree, &mut |at, value| all.push((at, value)));
    outermost(all, found);
}

/// Calls `found` with each of `all` (pointers and values, in any order, maybe repeated) once,
/// in pointer order, leaving out those inside another.
fn outermost<'a>(mut all: Vec<(String, &'a Value)>, mut found: impl FnMut(String, &'a Value)) {
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|b, a| a.0 == b.0);
    // Sorted, a field comes before the fields inside it; `kept` is the chain of fields found
    // that may still hold the next one.
    let inside = |at: &str, outer: &str| {
        at.starts_with(outer) && at.as_bytes().get(outer.len()) == Some(&b'/')
    };
    let mut kept: Vec<String> = Vec::new();
    for (at, value) in all {
        while kept.last().is_some_and(|o| !at.starts_with(o.as_str())) {
            kept.pop();
        }
        if kept.iter().any(|o| inside(&at, o)) {
            continue;
        }
        kept.push(at.clone());
        found(at, value);
    }
}

/// Calls `found` with the pointer and value of everything in `value` (at `at`) that `pattern`
/// matches.
pub(crate) fn walk<'a>(
    value: &'a Value,
    pattern: &[Vec<&str>],
    at: String,
    found: &mut impl FnMut(String, &'a Value),
) {
    let Some((first, rest)) = pattern.split_first() else {
        found(at, value);
        return;
    };
    if first.as_slice() == [ANY_DEPTH] {
        if let [names] = rest {
            // The common case (`**/name`): no pointer is built until a name matches, since
            // every node of the tree is visited.
            let mut keys = Vec::new();
            anywhere(value, names, &at, &mut keys, found);
            return;
        }
        // No key here, or one more key and still any number.
        walk(value, rest, at.clone(), found);
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    walk(child, pattern, pointer::join(&at, key), found);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, pattern, pointer::join(&at, &i.to_string()), found);
                }
            }
            _ => {}
        }
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if segment_matches(first, key) {
                    walk(child, rest, pointer::join(&at, key), found);
                }
            }
        }
        Value::Array(items) if first.contains(&"*") => {
            for (i, child) in items.iter().enumerate() {
                walk(child, rest, pointer::join(&at, &i.to_string()), found);
            }
        }
        _ => {}
    }
}

/// Calls `found` with the pointer and value of every map entry under `value` (at `at`, then the
/// keys `keys`) whose key is one of `names`, at any depth.
fn anywhere<'a>(
    value: &'a Value,
    names: &[&str],
    at: &str,
    keys: &mut Vec<std::borrow::Cow<'a, str>>,
    found: &mut impl FnMut(String, &'a Value),
) {
    let pointer = |keys: &[std::borrow::Cow<'a, str>], last: &str| {
        let mut p = at.to_owned();
        for k in keys {
            p = pointer::join(&p, k);
        }
        pointer::join(&p, last)
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if segment_matches(names, key) {
                    found(pointer(keys, key), child);
                }
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    keys.push(std::borrow::Cow::Borrowed(key));
                    anywhere(child, names, at, keys, found);
                    keys.pop();
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    keys.push(std::borrow::Cow::Owned(i.to_string()));
                    anywhere(child, names, at, keys, found);
                    keys.pop();
                }
            }
        }
        _ => {}
    }
}

/// Credential fields whose value is a structure (an IdP's `credentials`, an MFA method's
/// `auth`, lists of rotated secrets); every other one is a single string.
const STRUCTURED: &[&str] = &[
    "credentials",
    "auth",
    "rotated_secrets",
    "hashed_rotated_secrets",
];

/// Returns the pointers of credential fields that hold plain text: anything but `null` or a
/// marker in a single-string field (`api_key: {sk_live_...: true}` hides a key in a map), and
/// anything [`is_safe`] refuses in a structured one.
pub fn plain_text(tree: &Value, scope: Scope) -> Vec<String> {
    let mut out = Vec::new();
    for_each(tree, scope, |ptr, v| {
        if holds_plain_text(&ptr, v) {
            out.push(ptr);
        }
    });
    out
}

/// Whether the credential field at `ptr` holds plain text (see [`plain_text`]): anything but
/// null and `secret()` markers.
pub fn holds_plain_text(ptr: &str, v: &Value) -> bool {
    let field = ptr.rsplit('/').next().unwrap_or_default();
    let safe = if STRUCTURED.contains(&field) {
        is_safe(v)
    } else {
        v.is_null() || v.as_str().is_some_and(|s| marker_name(s).is_some())
    };
    !safe
}

/// Returns `tree` with every plain-text credential value replaced by [`REDACTED`]; markers stay.
pub fn redact(tree: &Value, scope: Scope) -> Value {
    let mut out = tree.clone();
    redact_in_place(&mut out, scope);
    out
}

/// Replaces every plain-text credential of `tree` by [`REDACTED`].
pub fn redact_in_place(tree: &mut Value, scope: Scope) {
    redact_where(tree, scope, holds_plain_text);
}

/// Replaces by [`REDACTED`] every credential field of `tree` whose value `hide` (given its
/// pointer) says to hide: one walk of the tree.
pub fn redact_where(tree: &mut Value, scope: Scope, hide: impl Fn(&str, &Value) -> bool) {
    let mut found = Vec::new();
    for_each(tree, scope, |ptr, v| {
        if hide(&ptr, v) {
            found.push(ptr);
        }
    });
    for ptr in found {
        if let Some(v) = tree.pointer_mut(&ptr) {
            *v = Value::String(REDACTED.to_owned());
        }
    }
}

/// Returns whether `value`, at pointer `at`, can hold a credential: a credential field is at it,
/// above it, or below it (a field named as one anywhere, see [`ANYWHERE_FIELDS`], counts when
/// it is in `at` or inside `value`). Most values cannot, and are shown without redaction work.
pub fn may_hold(at: &str, value: &Value, scope: Scope) -> bool {
    place_may_hold(at, scope) || names_inside(value, scope)
}

/// Returns whether any value at pointer `at` can hold a credential, whatever the value: a
/// credential field is at it, above it or below it, or a key of `at` is named as one anywhere
/// ([`may_hold`] is this or [`names_inside`]). For the several values of one place.
pub fn place_may_hold(at: &str, scope: Scope) -> bool {
    matcher(scope).on_path(at).unwrap_or(true)
}

/// Returns the pointer of the credential field at or above pointer `at` (in a tree of `scope`),
/// as [`for_each`] finds fields: `None` when `at` lies in none, or is no pointer.
pub fn field_of(at: &str, scope: Scope) -> Option<String> {
    let keys = pointer::parse(at).ok()?;
    // The place alone: its credential fields are those on its path, the outermost first.
    let tree = alone_at(&keys, Value::Null);
    let mut field = None;
    for_each(&tree, scope, |ptr, _| {
        if field.is_none() {
            field = Some(ptr);
        }
    });
    field
}

/// Returns the pointer of the credential field `at` lies strictly inside ([`field_of`], below
/// it): `None` when at none, at the field itself, or no pointer.
pub fn field_holding(at: &str, scope: Scope) -> Option<String> {
    field_of(at, scope).filter(|field| field.len() < at.len())
}

/// [`place_may_hold`] for places asked one after the other, such as a plan's changes (which come
/// in tree order): the keys a place shares with the one asked before it are not matched again.
#[derive(Debug)]
pub struct Places {
    on: matcher::OnPaths<'static>,
}

impl Places {
    /// Places of a tree of `scope`.
    pub fn new(scope: Scope) -> Places {
        Places {
            on: matcher::OnPaths::new(matcher(scope)),
        }
    }

    /// [`place_may_hold`] of `at`.
    pub fn may_hold(&mut self, at: &str) -> bool {
        self.on.on_path(at).unwrap_or(true)
    }
}

/// Returns whether `value` has a key named as a credential anywhere ([`ANYWHERE_FIELDS`]), at
/// any depth.
pub fn names_inside(value: &Value, scope: Scope) -> bool {
    matcher(scope).has_key(value)
}

/// Replaces every credential of `tree` but null by [`REDACTED`], `secret()` markers included:
/// for a tree that is not the repository's rendering (an export, a baseline, a backup, a
/// record), where a string shaped like a marker may be a secret.
pub fn hide_in_place(tree: &mut Value, scope: Scope) {
    redact_where(tree, scope, |_, v| !v.is_null());
}

/// Returns `value`, found at `at` in a tree of `scope`, with the credentials inside it
/// redacted — for showing one changed value of a plan that the repository renders: its
/// `secret()` markers stay ([`hide_at`] for any other value).
pub fn redact_at(at: &str, value: &Value, scope: Scope) -> Value {
    at_place(at, value, scope, redact_in_place)
}

/// [`redact_at`], hiding `secret()` markers too ([`hide_in_place`]): for a value that is not
/// the repository's rendering.
pub fn hide_at(at: &str, value: &Value, scope: Scope) -> Value {
    at_place(at, value, scope, hide_in_place)
}

/// `value`, found at `at` in a tree of `scope`, as `redact` leaves it in a tree of its own.
fn at_place(at: &str, value: &Value, scope: Scope, redact: fn(&mut Value, Scope)) -> Value {
    let segments = match pointer::parse(at) {
        Ok(s) => s,
        Err(_) => return Value::String(REDACTED.to_owned()),
    };
    // Rebuild the value at its place in an otherwise empty tree, redact, and take it back out.
    let mut wrapped = alone_at(&segments, value.clone());
    redact(&mut wrapped, scope);
    let mut out = wrapped;
    for seg in &segments {
        out = match out {
            Value::Object(mut map) => map.remove(seg).unwrap_or(Value::Null),
            other => other,
        };
    }
    // A list index in the pointer was wrapped as a map key; the pattern `*` matches either.
    out
}

/// Returns a tree holding `value` at the place the pointer keys `keys` name, and nothing else
/// (a list index is a map's key there: the patterns' `*` matches either).
fn alone_at(keys: &[String], value: Value) -> Value {
    keys.iter().rev().fold(value, |inner, key| {
        let mut map = serde_json::Map::new();
        map.insert(key.clone(), inner);
        Value::Object(map)
    })
}

/// Names of the credential fields, whatever their place (the last segments of [`TENANT_FIELDS`]
/// and [`WORKSPACE_FIELDS`], less the JWK members, which are only credentials inside a key).
fn field_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = TENANT_FIELDS
        .iter()
        .chain(WORKSPACE_FIELDS)
        // A JWK's members are credentials only in a JWK (see `redact_by_name`).
        .filter(|p| !p.split('/').any(|s| s == "jwks"))
        .filter_map(|p| p.rsplit('/').next())
        .flat_map(|last| last.split('|'))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The field names that are a credential anywhere in a tree ([`ANYWHERE_FIELDS`]).
pub fn anywhere_names() -> impl Iterator<Item = &'static str> {
    parse(ANYWHERE_FIELDS).pop().unwrap_or_default().into_iter()
}

/// Returns whether `key` is the name of a credential field somewhere (JWK members aside), as
/// the platform reads names: without regard to case, the Kelvin sign and the long s folded
/// (`Client_Secret`, `paſsword`).
pub fn is_field_name(key: &str) -> bool {
    static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(field_names);
    matcher::fold(key).is_some_and(|key| NAMES.contains(&key.as_ref()))
}

/// Redacts, anywhere in `value`, every field named like a credential (and the private members
/// of anything that looks like a JWK, a map with `kty`). For trees whose root promote cannot
/// place (a single entry file given to `diff`): over-redacting is the safe side.
pub fn redact_by_name(value: &mut Value) {
    const JWK_PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k", "oth"];
    match value {
        Value::Object(map) => {
            let is_jwk = map.contains_key("kty");
            for (key, child) in map.iter_mut() {
                let named = is_field_name(key) || (is_jwk && JWK_PRIVATE.contains(&key.as_str()));
                if named && !is_safe(child) {
                    *child = Value::String(REDACTED.to_owned());
                } else {
                    redact_by_name(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_by_name),
        _ => {}
    }
}

/// Removes from a tenant `tree` the credentials the platform generated where `reference` has
/// none ([`GENERATED`]): what is left is what a write of `reference` can be expected to hold.
pub fn drop_generated(tree: &mut Value, reference: &Value) {
    let mut found = Vec::new();
    for p in GENERATED {
        walk(tree, &parse(p), String::new(), &mut |ptr, _| {
            if reference.pointer(&ptr).is_none() {
                found.push(ptr);
            }
        });
    }
    remove_all(tree, found);
}

/// Removes every credential field from `tree` (for what promote records or exports without
/// credentials).
pub fn strip(tree: &mut Value, scope: Scope) {
    let mut found = Vec::new();
    for_each(tree, scope, |ptr, _| found.push(ptr));
    remove_all(tree, found);
}

/// Removes the values at `found` (pointers into `tree`).
pub(crate) fn remove_all(tree: &mut Value, mut found: Vec<String>) {
    // Remove deepest first so list indices stay valid.
    found.sort_by(|a, b| b.cmp(a));
    for ptr in found {
        let Ok(segments) = pointer::parse(&ptr) else {
            continue;
        };
        let Some((last, parent)) = segments.split_last() else {
            continue;
        };
        let parent_ptr = pointer::from_keys(parent);
        match tree.pointer_mut(&parent_ptr) {
            Some(Value::Object(map)) => {
                map.remove(last);
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = last.parse::<usize>() {
                    if i < items.len() {
                        items.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> Value {
        json!({
            "name": "acme",
            "jwks": {"keys": [{"kty": "RSA", "n": "public", "d": "PRIVATE-D"}]},
            "mfa_methods": {"sms": {"auth": {"token": "PRIVATE-SMS"}}},
            "servers": {"w": {
                "secret": "PRIVATE-WS",
                "clients": {"c": {"client_name": "c", "client_secret": "<secret:C>", "hashed_secret": "PRIVATE-H"}},
                "idps": {"g": {"credentials": {"client_secret": "PRIVATE-IDP"}, "client": {"client_secret": "PRIVATE-IC"}}},
                "webhooks": {"h": {"api_key": null, "url": "https://x"}},
                "ciba_authentication_service": {"external": {"credentials": {"user": "<secret:U>"}}}
            }}
        })
    }

    proptest::proptest! {
        #[test]
        fn a_marker_is_held_where_the_prefix_is(
            text in "[<a-z:]{0,12}(<secret:)?[<a-z:é]{0,12}|.{0,20}"
        ) {
            proptest::prop_assert_eq!(holds_marker(&text), text.contains(MARKER_PREFIX));
        }
    }

    #[test]
    fn generated_credentials_are_dropped_where_the_reference_has_none() {
        let mut after = json!({
            "jwks": {"keys": []},
            "servers": {"w": {"secret": "made-up", "clients": {"c": {"client_secret": "made-up", "name": "c"}}}}
        });
        let reference =
            json!({"servers": {"w": {"clients": {"c": {"client_secret": "kept", "name": "c"}}}}});
        drop_generated(&mut after, &reference);
        assert_eq!(
            after,
            json!({"servers": {"w": {"clients": {"c": {"client_secret": "made-up", "name": "c"}}}}})
        );
    }

    /// A multi-prime RSA key's other primes (RFC 7518 section 6.3.2.7) are private, all of them.
    #[test]
    fn the_other_primes_of_a_key_are_private() {
        let tree = json!({"jwks": {"keys": [{"kty": "RSA", "n": "public", "oth": [{"r": "S1", "d": "S2", "t": "S3"}]}]}});
        assert_eq!(plain_text(&tree, Scope::Tenant), vec!["/jwks/keys/0/oth"]);
        let mut bare = json!({"keys": [{"kty": "RSA", "oth": [{"r": "S1"}]}]});
        redact_by_name(&mut bare);
        assert_eq!(bare["keys"][0]["oth"], json!(REDACTED));
    }

    #[test]
    fn the_field_of_a_place_is_the_outermost_on_its_path() {
        let of = |at: &str| field_of(at, Scope::Tenant);
        assert_eq!(
            of("/servers/w/idps/i/credentials/x/client_secret").as_deref(),
            Some("/servers/w/idps/i/credentials")
        );
        assert_eq!(
            of("/servers/w/clients/c/client_secret").as_deref(),
            Some("/servers/w/clients/c/client_secret")
        );
        assert_eq!(
            of("/servers/w/webhooks/h/API_KEY/sk_live").as_deref(),
            Some("/servers/w/webhooks/h/API_KEY")
        );
        assert_eq!(
            of("/metadata/a/password/b").as_deref(),
            Some("/metadata/a/password")
        );
        assert_eq!(of("/servers/w/clients/c/client_name"), None);
        assert_eq!(of("/servers/w/clients"), None);
        assert_eq!(of("no pointer"), None);
    }

    #[test]
    fn numbers_and_booleans_are_plain_text_credentials() {
        let tree = json!({"servers": {"w": {
            "webhooks": {"n": {"api_key": 4815162342_u64}, "b": {"api_key": true}},
            "idps": {
                "pin": {"credentials": {"static": {"users": [{"pin": 1234}]}}},
                "flag": {"credentials": {"static": {"users": [{"password": "<secret:P>", "email_verified": true}]}}}
            }
        }}});
        let mut found = plain_text(&tree, Scope::Tenant);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/servers/w/idps/pin/credentials",
                "/servers/w/webhooks/b/api_key",
                "/servers/w/webhooks/n/api_key",
            ]
        );
    }

    #[test]
    fn single_string_credentials_hold_a_marker_or_nothing() {
        let tree = json!({"servers": {"w": {
            "webhooks": {"m": {"api_key": {"sk_live_4815162342hunter2": true}}, "ok": {"api_key": "<secret:K>"}},
            "clients": {"c": {"client_secret": {"a": true}, "rotated_secrets": ["<secret:R>"]}}
        }}});
        let mut found = plain_text(&tree, Scope::Tenant);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/servers/w/clients/c/client_secret",
                "/servers/w/webhooks/m/api_key"
            ]
        );
    }

    #[test]
    fn markers_outside_credential_fields_are_stray() {
        let tree = json!({"name": "<secret:N>", "servers": {"w": {
            "clients": {"c": {"client_secret": "<secret:C>", "redirect_uris": ["<secret:R>"]}},
            "idps": {"g": {"credentials": {"x": "<secret:X>"}}, "k": {"metadata": {"<secret:K>": 1}}},
            "webhooks": {"a/b": {"url": "https://x/<secret:U>"}}
        }}});
        assert_eq!(
            stray_markers(&tree, Scope::Tenant),
            vec![
                "/name",
                "/servers/w/clients/c/redirect_uris/0",
                "/servers/w/idps/k/metadata/<secret:K>",
                "/servers/w/webhooks/a~1b/url"
            ]
        );
    }

    #[test]
    fn finds_every_plain_text_credential() {
        let mut found = plain_text(&tenant(), Scope::Tenant);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/jwks/keys/0/d",
                "/mfa_methods/sms/auth",
                "/servers/w/clients/c/hashed_secret",
                "/servers/w/idps/g/client/client_secret",
                "/servers/w/idps/g/credentials",
                "/servers/w/secret",
            ]
        );
    }

    #[test]
    fn redaction_leaves_no_plain_text() {
        let redacted = redact(&tenant(), Scope::Tenant).to_string();
        assert!(!redacted.contains("PRIVATE"), "{redacted}");
        assert!(redacted.contains("<secret:C>"));
        assert!(redacted.contains("public"));
    }

    #[test]
    fn redacts_a_value_at_its_place() {
        let client = json!({"client_name": "c", "client_secret": "PRIVATE"});
        assert_eq!(
            redact_at("/servers/w/clients/c", &client, Scope::Tenant),
            json!({"client_name": "c", "client_secret": REDACTED})
        );
        assert_eq!(
            redact_at("/servers/w/secret", &json!("PRIVATE"), Scope::Tenant),
            json!(REDACTED)
        );
        assert_eq!(
            redact_at("/servers/w/name", &json!("x"), Scope::Tenant),
            json!("x")
        );
    }

    /// A value that is not the repository's has its markers hidden too: a string shaped like
    /// one may be a secret (`<secret:sk_live_...>` in a baseline). Null stays: it holds none.
    #[test]
    fn hides_markers_of_a_value_not_the_repositorys() {
        let marker = json!("<secret:sk_live_4eC39HqLyjWDarjtT1zdp7dc>");
        let at = "/servers/w/webhooks/h/api_key";
        assert_eq!(redact_at(at, &marker, Scope::Tenant), marker);
        assert_eq!(hide_at(at, &marker, Scope::Tenant), json!(REDACTED));
        assert_eq!(hide_at(at, &Value::Null, Scope::Tenant), Value::Null);
        let client = json!({"client_name": "<secret:X>", "client_secret": "<secret:X>"});
        assert_eq!(
            hide_at("/servers/w/clients/c", &client, Scope::Tenant),
            json!({"client_name": "<secret:X>", "client_secret": REDACTED})
        );
        let mut tree = tenant();
        hide_in_place(&mut tree, Scope::Tenant);
        let hidden = tree.to_string();
        assert!(
            !hidden.contains("PRIVATE") && !hidden.contains("<secret:C>"),
            "{hidden}"
        );
        assert!(hidden.contains("public"));
    }

    #[test]
    fn knows_which_paths_may_hold_credentials() {
        for (path, may) in [
            ("/servers/w/clients/c/client_secret", true),
            ("/servers/w/clients/c", true),
            ("/servers", true),
            ("", true),
            ("/servers/w/idps/g/credentials/x", true),
            ("/servers/w/clients/c/client_name", false),
            ("/servers/w/name", false),
            ("/name", false),
            ("/settings/default_workspace_id", false),
        ] {
            assert_eq!(may_hold(path, &json!("x"), Scope::Tenant), may, "{path}");
        }
    }

    #[test]
    fn strips_credentials() {
        let mut t = tenant();
        strip(&mut t, Scope::Tenant);
        let s = t.to_string();
        assert!(!s.contains("PRIVATE") && !s.contains("<secret:"), "{s}");
        assert_eq!(t["servers"]["w"]["clients"]["c"]["client_name"], "c");
    }

    #[test]
    fn fields_named_as_credentials_are_credentials_wherever_they_are() {
        let t = json!({"servers": {"w": {
            "idps": {"g": {"config": {"client_id": "id", "client_secret": "PLAIN1",
                "supervisor_client": {"client_secret": "PLAIN2"}},
                "settings": {"users": [{"username": "u", "password": "PLAIN3"}]}}},
            "webhooks": {"h": {"api_key": "PLAIN4"}}
        }}});
        let found = plain_text(&t, Scope::Tenant);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.contains(&"/servers/w/idps/g/settings/users/0/password".to_owned()));
        let redacted = redact(&t, Scope::Tenant).to_string();
        assert!(!redacted.contains("PLAIN"), "{redacted}");
        assert_eq!(
            redact(&t, Scope::Tenant)["servers"]["w"]["idps"]["g"]["config"]["client_id"],
            "id"
        );
        let mut stripped = t.clone();
        strip(&mut stripped, Scope::Tenant);
        assert!(!stripped.to_string().contains("PLAIN"));
        let config = &t["servers"]["w"]["idps"]["g"]["config"];
        assert!(may_hold("/servers/w/idps/g/config", config, Scope::Tenant));
        assert!(may_hold(
            "/servers/w/idps/g/config/client_secret",
            &json!("x"),
            Scope::Tenant
        ));
        assert!(!may_hold(
            "/servers/w/idps/g/config/client_id",
            &json!("x"),
            Scope::Tenant
        ));
        let ws = t["servers"]["w"].clone();
        assert_eq!(plain_text(&ws, Scope::Workspace).len(), 4);
    }

    #[test]
    fn workspace_scope_matches_without_servers_prefix() {
        let ws = json!({"secret": "x", "clients": {"c": {"client_secret": "y"}}});
        assert_eq!(plain_text(&ws, Scope::Workspace).len(), 2);
    }

    #[test]
    fn redacts_by_name_where_the_place_is_unknown() {
        let mut v = json!({"client_name": "c", "client_secret": "PLAIN", "auth": {"token": "PLAIN"}, "jwk": {"kty": "RSA", "d": "PLAIN", "n": "pub"}, "d": "not-a-jwk"});
        redact_by_name(&mut v);
        assert!(!v.to_string().contains("PLAIN"), "{v}");
        assert_eq!(v["d"], "not-a-jwk");
        assert_eq!(v["jwk"]["n"], "pub");
    }

    #[test]
    fn markers() {
        assert_eq!(marker("A_1"), "<secret:A_1>");
        assert_eq!(marker_name("<secret:A_1>"), Some("A_1"));
        assert_eq!(marker_name("<secret:a b>"), None);
        assert_eq!(marker_name("secret"), None);
    }
}

//! Platform-maintained material: the one list of what the platform makes, keeps and rotates
//! itself in a tenant's tree, and which is therefore never the repository's.
//!
//! Signing keys, a workspace's hashing secret and salt, the hashes of client secrets, the
//! secrets kept during a rotation, registration tokens: the platform generates them when an
//! object is made (or a write leaves them out) and changes them on its own schedule. They
//! differ in every environment by design. A copy in the repository can only do harm: applied, it
//! replaces what the platform made (new signing keys invalidate every token issued; a new salt
//! changes every pairwise subject), and compared, it reports the platform's own rotation as
//! drift. So export leaves [`MATERIAL`] out, validate refuses it in a template, and the plan
//! strips it from the desired tree, the live tree and the last-applied record alike before it
//! compares them ([`strip`]).
//!
//! Most of it is also a credential ([`crate::credentials`]): a credential is what must never be
//! shown; material is what must never be written or compared. A client's `client_secret` is a
//! credential and not material: the repository may name it with `secret()`.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde_json::Value;

use crate::credentials::matcher::Matcher;
use crate::credentials::{self, Pattern, Scope};
use crate::pointer;

/// One kind of platform-maintained material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Material {
    /// Where it lives in a tenant tree: `/`-separated, `*` any key, `a|b` either name (the
    /// patterns of [`crate::credentials::TENANT_FIELDS`]).
    pub pattern: &'static str,
    /// What the platform does with it, for messages: "generates and rotates the signing keys".
    pub why: &'static str,
}

const KEYS: &str = "the platform generates and rotates the signing and encryption keys; a copy written back replaces them, and every token they signed stops being valid";
const WORKSPACE_SECRET: &str = "the platform generates the workspace's hashing secret when the workspace is made, a different one in each environment, and keeps the earlier ones while it rotates";
const SALT: &str = "the platform generates the salt of pairwise subjects; another value changes the subject every user has at every client";
const CLIENT: &str = "the platform derives the hashes of a client's secret, keeps the secrets a rotation replaced, issues the registration token of a dynamically registered client and records when it issued the client ID";

/// Every place of a tenant tree that holds platform-maintained material, with the reason.
/// Clients are listed wherever a client lives (on its own, and inside an idp, a gateway, a
/// custom app, the server consent and the CIBA service).
pub const MATERIAL: &[Material] = &[
    m("jwks", KEYS),
    m("servers/*/jwks", KEYS),
    m("servers/*/secret|rotated_secrets", WORKSPACE_SECRET),
    m("servers/*/subject_identifier_algorithm_salt", SALT),
    m("servers/*/clients/*/hashed_secret|hashed_rotated_secrets|rotated_secrets|registration_token|client_id_issued_at", CLIENT),
    m("servers/*/idps|gateways|custom_apps/*/client/hashed_secret|hashed_rotated_secrets|rotated_secrets|registration_token|client_id_issued_at", CLIENT),
    m("servers/*/server_consent|ciba_authentication_service/client/hashed_secret|hashed_rotated_secrets|rotated_secrets|registration_token|client_id_issued_at", CLIENT),
];

const fn m(pattern: &'static str, why: &'static str) -> Material {
    Material { pattern, why }
}

/// The patterns of [`MATERIAL`] for each scope: a workspace tree is matched without the
/// leading `servers/*`.
static PATTERNS: LazyLock<[Vec<(Pattern, &'static Material)>; 2]> = LazyLock::new(|| {
    let tenant = MATERIAL
        .iter()
        .map(|m| (credentials::parse(m.pattern), m))
        .collect();
    let workspace = MATERIAL
        .iter()
        .filter_map(|m| {
            m.pattern
                .strip_prefix("servers/*/")
                .map(|p| (credentials::parse(p), m))
        })
        .collect();
    [tenant, workspace]
});

/// The patterns of [`PATTERNS`], compiled ([`Matcher`]).
static MATCHERS: LazyLock<[Matcher; 2]> = LazyLock::new(|| {
    PATTERNS.each_ref().map(|patterns| {
        let patterns: Vec<Pattern> = patterns.iter().map(|(p, _)| p.clone()).collect();
        Matcher::new(&patterns)
    })
});

fn patterns(scope: Scope) -> &'static [(Pattern, &'static Material)] {
    match scope {
        Scope::Tenant => &PATTERNS[0],
        Scope::Workspace => &PATTERNS[1],
    }
}

fn matcher(scope: Scope) -> &'static Matcher {
    match scope {
        Scope::Tenant => &MATCHERS[0],
        Scope::Workspace => &MATCHERS[1],
    }
}

/// Calls `found` with the JSON pointer of every piece of material present in `tree`, and what
/// it is: pattern by pattern of [`MATERIAL`], each in tree order.
pub fn for_each(tree: &Value, scope: Scope, mut found: impl FnMut(String, &'static Material)) {
    let mut all: Vec<(usize, String)> = Vec::new();
    matcher(scope).find_each(tree, &mut |index, at, _| all.push((index, at)));
    // Stable: tree order stays within a pattern.
    all.sort_by_key(|(index, _)| *index);
    let patterns = patterns(scope);
    for (index, at) in all {
        // The matcher was compiled from these very patterns: every index is one of them.
        if let Some((_, material)) = patterns.get(index) {
            found(at, material);
        }
    }
}

/// Returns whether `tree` holds any material.
pub fn present(tree: &Value, scope: Scope) -> bool {
    let mut any = false;
    for_each(tree, scope, |_, _| any = true);
    any
}

/// Removes all material from `tree`: what is left is what the repository may say.
pub fn strip(tree: &mut Value, scope: Scope) {
    let mut found = Vec::new();
    for_each(tree, scope, |at, _| found.push(at));
    credentials::remove_all(tree, found);
}

/// Returns `tree` without material, borrowed when it holds none.
pub fn without(tree: &Value, scope: Scope) -> Cow<'_, Value> {
    if !present(tree, scope) {
        return Cow::Borrowed(tree);
    }
    let mut owned = tree.clone();
    strip(&mut owned, scope);
    Cow::Owned(owned)
}

/// Returns the material at or above pointer `at` (in a tree of `scope`): a value there is the
/// platform's.
pub fn covering(at: &str, scope: Scope) -> Option<&'static Material> {
    let segments = pointer::parse(at).ok()?;
    patterns(scope).iter().find_map(|(pattern, material)| {
        let inside = segments.len() >= pattern.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(alts, seg)| credentials::segment_matches(alts, seg));
        inside.then_some(*material)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> Value {
        json!({
            "name": "acme",
            "jwks": {"keys": [{"kty": "EC", "x": "public"}]},
            "servers": {"w": {
                "name": "w",
                "jwks": {"keys": []},
                "secret": "generated",
                "subject_identifier_algorithm_salt": "salt",
                "clients": {"c": {
                    "client_name": "c",
                    "client_secret": "<secret:C>",
                    "hashed_secret": "h",
                    "registration_token": "t",
                    "client_id_issued_at": 1700000000,
                    "jwks": {"keys": [{"kty": "RSA", "n": "the client's own key"}]}
                }},
                "idps": {"g": {"client": {"hashed_secret": "h"}, "jwks": "kept"}},
                "server_consent": {"client": {"rotated_secrets": ["r"]}}
            }}
        })
    }

    #[test]
    fn strips_every_kind_and_nothing_else() {
        let mut t = tenant();
        strip(&mut t, Scope::Tenant);
        assert_eq!(
            t,
            json!({
                "name": "acme",
                "servers": {"w": {
                    "name": "w",
                    "clients": {"c": {
                        "client_name": "c",
                        "client_secret": "<secret:C>",
                        "jwks": {"keys": [{"kty": "RSA", "n": "the client's own key"}]}
                    }},
                    "idps": {"g": {"client": {}, "jwks": "kept"}},
                    "server_consent": {"client": {}}
                }}
            })
        );
        assert!(!present(&t, Scope::Tenant));
    }

    #[test]
    fn a_workspace_tree_is_matched_without_servers() {
        let mut ws = tenant()["servers"]["w"].clone();
        assert!(present(&ws, Scope::Workspace));
        strip(&mut ws, Scope::Workspace);
        assert!(ws.get("jwks").is_none() && ws.get("secret").is_none());
        assert!(ws["clients"]["c"].get("hashed_secret").is_none());
    }

    #[test]
    fn without_borrows_a_tree_that_holds_none() {
        let clean = json!({"name": "acme", "servers": {"w": {"name": "w"}}});
        assert!(matches!(without(&clean, Scope::Tenant), Cow::Borrowed(_)));
        let full = tenant();
        let stripped = without(&full, Scope::Tenant);
        assert!(stripped.get("jwks").is_none());
    }

    #[test]
    fn knows_which_paths_are_the_platforms() {
        for (at, is) in [
            ("/jwks", true),
            ("/jwks/keys/0/x", true),
            ("/servers/w/secret", true),
            ("/servers/w/clients/c/registration_token", true),
            ("/servers/w/idps/g/client/hashed_secret", true),
            ("/servers", false),
            ("/servers/w/clients/c/client_secret", false),
            ("/servers/w/clients/c/jwks", false),
            ("/name", false),
        ] {
            assert_eq!(covering(at, Scope::Tenant).is_some(), is, "{at}");
        }
        assert_eq!(covering("/jwks", Scope::Tenant).unwrap().why, KEYS);
    }

    #[test]
    fn every_pattern_parses_into_names() {
        for m in MATERIAL {
            assert!(
                !m.pattern.is_empty() && !m.pattern.contains("//"),
                "{}",
                m.pattern
            );
            assert!(!m.why.is_empty());
        }
    }
}

//! promote's own tables checked against the platform's model (`model.json`, derived from the
//! vendor's spec): the layout (`tree.rs`) knows every keyed map of the tenant and workspace
//! levels, its collections and sidecars are where the model has them, and every field that
//! looks like a credential is covered by the credentials list or the material list. What the
//! tables leave out on purpose is listed here with the reason, so that a newer spec that adds a
//! keyed map or a credential fails a test instead of slipping through.

use promote_platform::credentials::{self, Scope};
use promote_platform::material;
use promote_platform::model::{self, Model, Shape};
use promote_platform::tree::{self, Entries, Node};
use serde_json::{json, Value};

/// Keyed maps of objects at the tenant or workspace level that the layout keeps inline in the
/// level's own file, with the reason.
const INLINE_KEYED_MAPS: &[(&str, &str, &str)] = &[(
    "TreeTenant",
    "features",
    "a feature flag is one `enabled` boolean: a file per flag would be noise, a list in tenant.yaml reads well",
)];

/// Fields whose names look like a credential and are not one, as `Type.field`, a field name of
/// any type, or `Type.prefix*`, with the reason.
const NOT_CREDENTIALS: &[(&str, &str)] = &[
    (
        "KeyDescriptors",
        "SAML metadata: the public certificates of an entity",
    ),
    (
        "SecureOptions.PublicKey",
        "a public key pin header, published to every browser",
    ),
    (
        "SecureOptions.SecureContextKey",
        "the name of a request context key, not a key",
    ),
    (
        "DynamicClientRegistrationSettings.initial_access_token",
        "whether DCR requires an initial access token, not the token",
    ),
    ("token_exchange", "settings of token exchange, no token"),
    (
        "TreeIDP.token_exchange_settings",
        "settings of token exchange, no token",
    ),
    ("TreeClient.token_ttls", "lifetimes of tokens"),
    (
        "TreeClient.backchannel_token_delivery_mode",
        "the name of a CIBA delivery mode",
    ),
    (
        "TreeServer.backchannel_token_delivery_modes_supported",
        "names of CIBA delivery modes",
    ),
    (
        "TreeServer.token_endpoint_auth_signing_alg_values",
        "names of signing algorithms",
    ),
    (
        "ExternalCredentials.api_key_in",
        "where the API key is sent (header, query), inside the IdP's credentials anyway",
    ),
    (
        "ExternalServiceCredentials.api_key_in",
        "where the API key is sent (header, query), inside the CIBA service's credentials anyway",
    ),
    (
        "Signature",
        "SAML metadata: the XML signature of the metadata, public",
    ),
    (
        "KeyDescriptor.KeyInfo",
        "SAML metadata: a public certificate",
    ),
    (
        "TreeClient.tls_client_auth_*",
        "the names a client certificate must carry (DN, SANs)",
    ),
    (
        "OtpSettings.reset_password",
        "how one-time passwords for a password reset are sent",
    ),
    (
        "TreePool.password_policy",
        "rules for passwords, no password",
    ),
    (
        "TreePool.password_settings",
        "how passwords are hashed, no password",
    ),
    (
        "TreePool.reset_credentials_settings",
        "how users reset their credentials, no credential",
    ),
];

/// Words of a field name (snake_case or CamelCase) that make it look like a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "secret",
    "secrets",
    "password",
    "passphrase",
    "private",
    "key",
    "token",
    "salt",
    "credentials",
    "credential",
    "auth",
    "hashed",
    "signature",
    "pin",
];

/// The private members of a JSON Web Key.
const JWK_PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k"];

fn model() -> &'static Model {
    model::tenant()
}

fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c == '_' || c == '-' {
            out.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    out.push(word);
    out.retain(|w| !w.is_empty());
    out
}

/// Whether a field of type `ty` named `name` with `shape` could hold a credential: its name
/// says so, and its shape can hold text (a boolean, a number, a duration, an ID or a value of
/// an enum cannot).
fn credential_like(ty: &str, name: &str, shape: &Shape) -> bool {
    let can_hold_text = match shape {
        Shape::String { format, values } => format.is_none() && values.is_empty(),
        Shape::Array(inner) => {
            matches!(
                **inner,
                Shape::String { ref format, ref values } if format.is_none() && values.is_empty()
            ) || matches!(**inner, Shape::Object(_))
        }
        Shape::Object(_) | Shape::Map(_) | Shape::Any => true,
        _ => false,
    };
    let jwk = ty.ends_with("JWK") && JWK_PRIVATE.contains(&name);
    can_hold_text
        && (jwk
            || words(name)
                .iter()
                .any(|w| CREDENTIAL_WORDS.contains(&w.as_str())))
}

/// Every field of the model reachable from the root, with a path of keys to it (`*` for a map
/// key or a list index); a type is not entered twice on one path.
fn fields(m: &Model) -> Vec<(Vec<String>, String, String, Shape)> {
    fn walk(
        m: &Model,
        shape: &Shape,
        path: &mut Vec<String>,
        seen: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, String, String, Shape)>,
    ) {
        match shape {
            Shape::Object(ty) if !seen.contains(ty) => {
                seen.push(ty.clone());
                for (name, field) in m.fields(ty) {
                    path.push(name.clone());
                    out.push((path.clone(), ty.clone(), name.clone(), field.clone()));
                    walk(m, field, path, seen, out);
                    path.pop();
                }
                seen.pop();
            }
            Shape::Array(inner) | Shape::Map(inner) => {
                path.push("*".into());
                walk(m, inner, path, seen, out);
                path.pop();
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(
        m,
        &Shape::Object(m.root.clone()),
        &mut Vec::new(),
        &mut Vec::new(),
        &mut out,
    );
    out
}

/// A tree holding a text at `path` (map keys `x`, list indexes 0), and that text's pointer.
fn tree_at(path: &[String]) -> (Value, String) {
    let mut value = json!("plain text");
    for (i, key) in path.iter().enumerate().rev() {
        // A `*` after a list-valued field is an index; the tree only has to reach the field.
        let list = key == "*" && i > 0 && is_list(&path[..i]);
        value = if list {
            json!([value])
        } else {
            let key = if key == "*" { "x" } else { key };
            json!({ key: value })
        };
    }
    let pointer = path
        .iter()
        .enumerate()
        .map(|(i, k)| match k.as_str() {
            "*" if is_list(&path[..i]) => "/0".to_owned(),
            "*" => "/x".to_owned(),
            k => format!("/{}", promote_platform::pointer::escape(k)),
        })
        .collect();
    (value, pointer)
}

fn is_list(path: &[String]) -> bool {
    matches!(model().shape_at(path), Some(Shape::Array(_)))
}

#[test]
fn every_keyed_map_of_a_tenant_or_workspace_is_a_collection_of_the_layout() {
    let m = model();
    let mut missing = Vec::new();
    for (ty, node) in [
        ("TreeTenant", &tree::TENANT),
        ("TreeServer", &tree::WORKSPACE),
    ] {
        for (name, shape) in m.fields(ty) {
            let keyed = match shape {
                Shape::Map(inner) => {
                    shape.keyed_object().is_some() || inner.keyed_object().is_some()
                }
                _ => false,
            };
            let known = node.collections.iter().any(|c| c.key == name)
                || INLINE_KEYED_MAPS
                    .iter()
                    .any(|(t, f, _)| *t == ty && f == name);
            if keyed && !known {
                missing.push(format!("{ty}.{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keyed maps the layout (crates/platform/src/tree.rs) does not know: {missing:?}; add them \
         to the layout or to INLINE_KEYED_MAPS with the reason"
    );
    for (ty, field, _) in INLINE_KEYED_MAPS {
        assert!(
            m.fields(ty)
                .get(*field)
                .is_some_and(|s| s.keyed_object().is_some()),
            "{ty}.{field} is no longer a keyed map of the model: drop the exception"
        );
    }
}

/// Checks that every collection of `node` (of model type `ty`) is a keyed map of that type
/// with entries of the right depth, and its sidecars are string fields of the entries.
fn check_node(m: &Model, node: &Node, ty: &str, problems: &mut Vec<String>) {
    for c in node.collections {
        let Some(shape) = m.fields(ty).get(c.key) else {
            problems.push(format!("{ty} has no field `{}`", c.key));
            continue;
        };
        let entry = match (&c.entries, shape) {
            (Entries::Files { levels: 2, .. }, Shape::Map(inner)) => inner.keyed_object(),
            (_, shape) => shape.keyed_object(),
        };
        let Some(entry) = entry else {
            problems.push(format!(
                "{ty}.{} is not a map of objects {} levels deep in the model",
                c.key,
                tree::levels(c)
            ));
            continue;
        };
        match &c.entries {
            Entries::Files { sidecars, .. } => {
                for s in *sidecars {
                    if !matches!(m.fields(entry).get(s.field), Some(Shape::String { .. })) {
                        problems.push(format!("sidecar field {entry}.{} is not a string", s.field));
                    }
                }
            }
            Entries::Nodes(child) => check_node(m, child, entry, problems),
        }
    }
}

#[test]
fn the_layouts_collections_and_sidecars_are_where_the_model_has_them() {
    let m = model();
    let mut problems = Vec::new();
    check_node(m, &tree::TENANT, &m.root, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_credential_like_field_is_a_credential_or_material_or_a_listed_exception() {
    let m = model();
    let mut missed = Vec::new();
    let mut used = vec![false; NOT_CREDENTIALS.len()];
    for (path, ty, name, shape) in fields(m) {
        if !credential_like(&ty, &name, &shape) {
            continue;
        }
        let full = format!("{ty}.{name}");
        let excepted = NOT_CREDENTIALS
            .iter()
            .position(|(what, _)| match what.strip_suffix('*') {
                Some(prefix) => full.starts_with(prefix),
                None => *what == name || *what == full,
            });
        if let Some(i) = excepted {
            used[i] = true;
            continue;
        }
        let (tree, at) = tree_at(&path);
        let mut covered = material::covering(&at, Scope::Tenant).is_some();
        credentials::for_each(&tree, Scope::Tenant, |found, _| {
            covered |= at == found || at.starts_with(&format!("{found}/"));
        });
        if !covered {
            missed.push(format!("{ty}.{name} at {}", path.join("/")));
        }
    }
    missed.dedup();
    assert!(
        missed.is_empty(),
        "credential-like fields neither crates/platform/src/credentials.rs nor material.rs covers \
         (add them there, or to NOT_CREDENTIALS with the reason): {missed:#?}"
    );
    let stale: Vec<_> = NOT_CREDENTIALS
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|((what, _), _)| *what)
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions the model no longer needs: {stale:?}"
    );
}

#[test]
fn words_split_as_names_are_written() {
    assert_eq!(words("KeyDescriptors"), ["key", "descriptors"]);
    assert_eq!(words("api_key_value"), ["api", "key", "value"]);
}

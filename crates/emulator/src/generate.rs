//! Credentials the platform makes itself when a write leaves them out.
//!
//! Importing a tree without credentials (an export made with `with_credentials=false`, or what
//! promote renders) must not leave a confidential client without a secret or a workspace without
//! a signing key. A credential missing from the written tree is carried over from the target
//! when the target has it (so re-importing an export never rotates live secrets), and generated
//! fresh otherwise: random client secrets of 43 characters, workspace `secret` and salt, and a
//! P-256 signing key in `jwks`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Private members of a JWK: present means the platform can sign with it.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k"];

/// Token endpoint authentication methods that need no client secret.
const SECRETLESS_AUTH: &[&str] = &[
    "none",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
];

pub use promote_platform::random::{random_bytes, secret};

/// A fresh P-256 signing key as a JWK with its private member `d`.
pub(crate) fn signing_key() -> Result<Value, getrandom::Error> {
    loop {
        // A random 32-byte string is a valid scalar unless it is zero or ≥ the group order,
        // which happens with probability below 2^-32; draw again then.
        let Ok(key) = p256::SecretKey::from_slice(&random_bytes::<32>()?) else {
            continue;
        };
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<12>()?);
        let mut jwk = serde_json::to_value(key.to_jwk()).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), json!(kid));
            m.insert("use".into(), json!("sig"));
            m.insert("alg".into(), json!("ES256"));
            return Ok(jwk);
        }
    }
}

/// Fills the credentials `after` lacks, from `before` or fresh. `after` is a tenant tree.
pub(crate) fn fill_tenant(
    before: Option<&Value>,
    after: &mut Value,
) -> Result<(), getrandom::Error> {
    let Value::Object(tenant) = after else {
        return Ok(());
    };
    fill_jwks(before.and_then(|b| b.get("jwks")), tenant)?;
    if let Some(Value::Object(servers)) = tenant.get_mut("servers") {
        for (wid, ws) in servers.iter_mut() {
            let was = before
                .and_then(|b| b.get("servers"))
                .and_then(|s| s.get(wid));
            fill_workspace(was, ws)?;
        }
    }
    Ok(())
}

/// Fills the credentials a workspace tree lacks.
pub(crate) fn fill_workspace(
    before: Option<&Value>,
    after: &mut Value,
) -> Result<(), getrandom::Error> {
    let Value::Object(ws) = after else {
        return Ok(());
    };
    fill_jwks(before.and_then(|b| b.get("jwks")), ws)?;
    for field in ["secret", "subject_identifier_algorithm_salt"] {
        fill_secret(before.and_then(|b| b.get(field)), ws, field)?;
    }
    if let Some(Value::Object(clients)) = ws.get_mut("clients") {
        for (id, client) in clients.iter_mut() {
            let Value::Object(c) = client else { continue };
            let auth = c.get("token_endpoint_auth_method").and_then(Value::as_str);
            if auth.is_some_and(|a| SECRETLESS_AUTH.contains(&a)) {
                continue;
            }
            let was = before
                .and_then(|b| b.get("clients"))
                .and_then(|cs| cs.get(id))
                .and_then(|c| c.get("client_secret"));
            fill_secret(was, c, "client_secret")?;
        }
    }
    Ok(())
}

fn missing(map: &Map<String, Value>, field: &str) -> bool {
    map.get(field).is_none_or(Value::is_null)
}

fn fill_secret(
    before: Option<&Value>,
    map: &mut Map<String, Value>,
    field: &str,
) -> Result<(), getrandom::Error> {
    if missing(map, field) {
        let value = match before {
            Some(v) if !v.is_null() => v.clone(),
            _ => Value::String(secret()?),
        };
        map.insert(field.to_owned(), value);
    }
    Ok(())
}

fn is_private(key: &Value) -> bool {
    PRIVATE_MEMBERS
        .iter()
        .any(|m| key.get(m).is_some_and(|v| !v.is_null()))
}

fn fill_jwks(before: Option<&Value>, map: &mut Map<String, Value>) -> Result<(), getrandom::Error> {
    let before_keys: &[Value] = before
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let has_keys = map
        .get("jwks")
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .is_some_and(|k| !k.is_empty());
    if !has_keys {
        let jwks = match before {
            Some(b) if before_keys.iter().any(is_private) => b.clone(),
            _ => json!({ "keys": [signing_key()?] }),
        };
        // Keep other members of a jwks map the write gave (there are none today).
        match map.get_mut("jwks") {
            Some(Value::Object(j)) => {
                if let Value::Object(fresh) = jwks {
                    j.extend(fresh);
                }
            }
            _ => {
                map.insert("jwks".into(), jwks);
            }
        }
        return Ok(());
    }
    let Some(Value::Array(keys)) = map.get_mut("jwks").and_then(|j| j.get_mut("keys")) else {
        return Ok(());
    };
    for key in keys.iter_mut() {
        if is_private(key) || !key.is_object() {
            continue;
        }
        let kid = key.get("kid");
        let old = before_keys
            .iter()
            .find(|k| kid.is_some() && k.get("kid") == kid && is_private(k));
        match (old, key) {
            (Some(Value::Object(old)), Value::Object(k)) => {
                for m in PRIVATE_MEMBERS {
                    if let Some(v) = old.get(*m) {
                        k.insert((*m).to_owned(), v.clone());
                    }
                }
            }
            (_, key) => *key = signing_key()?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tree_gets_every_credential() {
        let mut t = json!({"servers": {"w": {"clients": {
            "web": {"token_endpoint_auth_method": "client_secret_basic"},
            "spa": {"token_endpoint_auth_method": "none"},
            "default": {}
        }}}});
        fill_tenant(None, &mut t).unwrap();
        let ws = &t["servers"]["w"];
        for s in [
            &ws["secret"],
            &ws["subject_identifier_algorithm_salt"],
            &ws["clients"]["web"]["client_secret"],
            &ws["clients"]["default"]["client_secret"],
        ] {
            assert!(s.as_str().unwrap().len() >= 32, "{s}");
        }
        assert!(ws["clients"]["spa"].get("client_secret").is_none());
        for jwks in [&t["jwks"], &ws["jwks"]] {
            let key = &jwks["keys"][0];
            assert_eq!(key["kty"], "EC");
            assert_eq!(key["crv"], "P-256");
            assert!(key["d"].is_string() && key["x"].is_string() && key["kid"].is_string());
        }
        assert_ne!(ws["secret"], ws["subject_identifier_algorithm_salt"]);
    }

    #[test]
    fn credentials_the_target_has_are_carried_not_rotated() {
        let mut before = json!({"servers": {"w": {"clients": {"web": {}}}}});
        fill_tenant(None, &mut before).unwrap();
        let mut after = before.clone();
        promote_platform::credentials::strip(
            &mut after,
            promote_platform::credentials::Scope::Tenant,
        );
        assert!(after["servers"]["w"]["clients"]["web"]
            .get("client_secret")
            .is_none());
        fill_tenant(Some(&before), &mut after).unwrap();
        assert_eq!(after, before);
    }

    #[test]
    fn public_key_without_a_known_private_part_is_replaced() {
        let mut t =
            json!({"jwks": {"keys": [{"kty": "EC", "kid": "unknown", "x": "a", "y": "b"}]}});
        fill_tenant(None, &mut t).unwrap();
        assert!(t["jwks"]["keys"][0]["d"].is_string());
        assert_ne!(t["jwks"]["keys"][0]["kid"], "unknown");
    }
}

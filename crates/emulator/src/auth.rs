//! OAuth2 client credentials: registered clients, the tokens they get, and what a token may do.
//!
//! A token is opaque (32 random bytes), lives [`TOKEN_TTL`], and is bound to the one tenant
//! whose token endpoint issued it and to the scopes granted. Tokens live in memory only: a
//! restarted emulator asks clients to authenticate again, as a platform would after a key roll.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;

/// Scope needed to import and patch.
pub(crate) const MANAGE: &str = "manage_configuration";
/// Scope needed to export.
pub(crate) const READ: &str = "read_configuration";
/// Every scope the emulator knows.
pub(crate) const SCOPES: &[&str] = &[MANAGE, READ];

/// The tenant whose clients may use the system endpoints (`/system/promote/...?tid=`) on any
/// tenant, and create one by import: the platform's `setup` security.
pub const SYSTEM_TENANT: &str = "system";

/// How long a token is valid.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A registered OAuth2 client of one tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub tenant: String,
    pub id: String,
    pub secret: String,
    pub scopes: Vec<String>,
}

impl fmt::Debug for OAuthClient {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("secret", &promote_platform::credentials::REDACTED)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl OAuthClient {
    /// Parses `TENANT:ID:SECRET[:SCOPES]`, scopes separated by `+` or spaces (default: both).
    pub fn parse(spec: &str) -> Result<OAuthClient, String> {
        let mut parts = spec.splitn(4, ':');
        let (Some(tenant), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("a client is TENANT:ID:SECRET[:SCOPES]".into());
        };
        if !super::store::is_tenant_id(tenant) && tenant != SYSTEM_TENANT {
            return Err(format!(
                "`{tenant}` is not a tenant ID: 1 to 64 of A-Z a-z 0-9 - _ (or `system`, for the system endpoints)"
            ));
        }
        if id.is_empty() || secret.is_empty() {
            return Err("a client needs a non-empty ID and secret".into());
        }
        let scopes = match parts.next() {
            None => SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            Some(list) => {
                let scopes: Vec<String> = list
                    .split(['+', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                    return Err(format!(
                        "unknown scope `{bad}`; the scopes are {}",
                        SCOPES.join(", ")
                    ));
                }
                scopes
            }
        };
        Ok(OAuthClient {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            secret: secret.to_owned(),
            scopes,
        })
    }
}

/// What a valid token allows.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub tenant: String,
    pub scopes: Vec<String>,
    expires: Instant,
}

impl Grant {
    pub(crate) fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why the token endpoint refused (RFC 6749 section 5.2 codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub code: &'static str,
    pub description: String,
}

fn token_error(code: &'static str, description: impl Into<String>) -> TokenError {
    TokenError {
        code,
        description: description.into(),
    }
}

/// A token the endpoint issued.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub access_token: String,
    pub scope: String,
    pub expires_in: u64,
}

/// Registered clients and live tokens.
#[derive(Debug, Default)]
pub struct Auth {
    clients: HashMap<(String, String), OAuthClient>,
    tokens: Mutex<HashMap<String, Grant>>,
}

impl Auth {
    pub(crate) fn new(clients: Vec<OAuthClient>) -> Auth {
        Auth {
            clients: clients
                .into_iter()
                .map(|c| ((c.tenant.clone(), c.id.clone()), c))
                .collect(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The client credentials grant. `basic` is the `Authorization` header if any; `form` the
    /// decoded form fields.
    pub(crate) fn token(
        &self,
        tenant: &str,
        basic: Option<&str>,
        form: &HashMap<String, String>,
    ) -> Result<Issued, TokenError> {
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(token_error(
                    "unsupported_grant_type",
                    format!("grant type `{other}` is not supported; use client_credentials"),
                ))
            }
            None => return Err(token_error("invalid_request", "grant_type is required")),
        }
        let (id, secret) = match (basic, form.get("client_id"), form.get("client_secret")) {
            (Some(header), None, None) => basic_credentials(header)
                .ok_or_else(|| token_error("invalid_client", "malformed Basic authorization"))?,
            (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(token_error(
                    "invalid_request",
                    "use one client authentication method, not both Basic and form fields",
                ))
            }
            _ => {
                return Err(token_error(
                    "invalid_client",
                    "client authentication is required (HTTP Basic or client_id/client_secret form fields)",
                ))
            }
        };
        let client = self
            .clients
            .get(&(tenant.to_owned(), id))
            .filter(|c| bool::from(c.secret.as_bytes().ct_eq(secret.as_bytes())))
            .ok_or_else(|| token_error("invalid_client", "unknown client or wrong secret"))?;
        let scopes: Vec<String> = match form.get("scope") {
            None => client.scopes.clone(),
            Some(asked) => {
                let asked: Vec<String> = asked
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = asked.iter().find(|s| !client.scopes.contains(s)) {
                    return Err(token_error(
                        "invalid_scope",
                        format!("scope `{bad}` is not granted to this client"),
                    ));
                }
                if asked.is_empty() {
                    client.scopes.clone()
                } else {
                    asked
                }
            }
        };
        let access_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            super::generate::random_bytes::<32>()
                .map_err(|e| token_error("server_error", e.to_string()))?,
        );
        let now = Instant::now();
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() > 10_000 {
            tokens.retain(|_, g| g.expires > now);
        }
        tokens.insert(
            access_token.clone(),
            Grant {
                tenant: tenant.to_owned(),
                scopes: scopes.clone(),
                expires: now + TOKEN_TTL,
            },
        );
        Ok(Issued {
            access_token,
            scope: scopes.join(" "),
            expires_in: TOKEN_TTL.as_secs(),
        })
    }

    /// The grant of a bearer token, if it is live.
    pub(crate) fn grant(&self, token: &str) -> Option<Grant> {
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens
            .get(token)
            .filter(|g| g.expires > Instant::now())
            .cloned()
    }
}

/// Decodes `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 section 2.3.1).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_client_specs() {
        let c = OAuthClient::parse("acme:ci:s3cr:et:read_configuration").unwrap_err();
        assert!(c.contains("unknown scope"), "{c}");
        let c = OAuthClient::parse("acme:ci:s3cret:read_configuration").unwrap();
        assert_eq!(c.scopes, vec![READ]);
        assert_eq!(OAuthClient::parse("acme:ci:x").unwrap().scopes, SCOPES);
        assert!(OAuthClient::parse("../x:ci:x").is_err());
        assert!(OAuthClient::parse("acme:ci").is_err());
        assert!(
            !format!("{:?}", OAuthClient::parse("acme:ci:hunter2").unwrap()).contains("hunter2")
        );
    }

    #[test]
    fn basic_and_form_authentication_and_scopes() {
        let auth = Auth::new(vec![OAuthClient::parse("acme:ci:p@ss word").unwrap()]);
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ci:p%40ss+word")
        );
        let grant_type = [("grant_type", "client_credentials")];
        let t = auth
            .token("acme", Some(&header), &form(&grant_type))
            .unwrap();
        assert_eq!(t.scope, "manage_configuration read_configuration");
        let g = auth.grant(&t.access_token).unwrap();
        assert_eq!(g.tenant, "acme");
        let t = auth
            .token(
                "acme",
                None,
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "ci"),
                    ("client_secret", "p@ss word"),
                    ("scope", "read_configuration"),
                ]),
            )
            .unwrap();
        assert!(!auth.grant(&t.access_token).unwrap().allows(MANAGE));
        let e = auth
            .token("other", Some(&header), &form(&grant_type))
            .unwrap_err();
        assert_eq!(e.code, "invalid_client");
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ci:nope")
        );
        assert_eq!(
            auth.token("acme", Some(&wrong), &form(&grant_type))
                .unwrap_err()
                .code,
            "invalid_client"
        );
        assert_eq!(
            auth.token("acme", Some(&header), &form(&[]))
                .unwrap_err()
                .code,
            "invalid_request"
        );
        assert!(auth.grant("made-up").is_none());
    }
}

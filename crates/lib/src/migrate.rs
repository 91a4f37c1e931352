//! Migrate: one tenant of one environment into another environment, without the repository.
//!
//! The platform's documented procedure in one step: export the source tenant, rewrite what
//! names its environment (the tenant ID, the source target's URL and the values of variables
//! the two environments both define, as whole tokens, longest first), drop credentials so that
//! the destination generates fresh ones (unless they are to be copied), show the plan against
//! the destination, and import with the chosen mode. An import replaces the whole
//! configuration: the plan is made with the destination as its own last-applied record, so
//! what the source lacks shows as removed and follows apply's rule on removals. A destination
//! tenant the platform does
//! not know is reached through the system endpoints (`/system/promote/config?tid=`, with a
//! token of the system tenant), where the import creates it.
//!
//! What a person must check is listed, not guessed: every credential dropped (from the one
//! credentials list: the destination generates some afresh, such as client secrets and signing
//! keys; others, such as a webhook's `api_key` or an IDP's client secret, are simply absent until
//! supplied), and the redirect URIs the rewriting did not touch (one customised by hand cannot
//! be guessed).

use serde_json::{Map, Value};

use crate::baseline::Live;
use crate::client::Target;
use crate::credentials::{self, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::{Environment, Tenant};
use crate::export;
use crate::patch::three_way::Mode;
use crate::plan::TenantPlan;
use crate::prepare::{self, Desired};
use crate::render;
use crate::templatize::{longest_first, segments, Segment};

/// The string replacements of a migration: (from, to), longest `from` first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rewrites {
    pairs: Vec<(String, String)>,
}

impl Rewrites {
    /// What turns `from` (tenant of environment `from_env`) into `to` (of `to_env`).
    pub(crate) fn new(
        from_env: &Environment,
        from: &Tenant,
        to_env: &Environment,
        to: &Tenant,
    ) -> Self {
        let mut pairs = vec![(from.id.clone(), to.id.clone())];
        if let (Some(a), Some(b)) = (&from_env.file.target.url, &to_env.file.target.url) {
            pairs.push((
                a.trim_end_matches('/').to_owned(),
                b.trim_end_matches('/').to_owned(),
            ));
        }
        let a = render::context(from_env, from);
        let b = render::context(to_env, to);
        if let (Some(a), Some(b)) = (a.get("vars"), b.get("vars")) {
            same_places(a, b, &mut pairs);
        }
        pairs.retain(|(a, b)| a != b && !a.is_empty());
        longest_first(&mut pairs);
        Rewrites { pairs }
    }

    /// Rewrites every string of `tree` (values, not keys); returns how many strings changed.
    pub(crate) fn apply(&self, tree: &mut Value) -> usize {
        match tree {
            Value::String(s) => match self.rewrite(s) {
                Some(new) => {
                    *s = new;
                    1
                }
                None => 0,
            },
            Value::Array(items) => items.iter_mut().map(|v| self.apply(v)).sum(),
            Value::Object(map) => map.values_mut().map(|v| self.apply(v)).sum(),
            _ => 0,
        }
    }

    fn rewrite(&self, s: &str) -> Option<String> {
        let parts = segments(s, &self.pairs)?;
        Some(
            parts
                .iter()
                .map(|p| match p {
                    Segment::Text(t) => *t,
                    Segment::Value(i) => self.pairs[*i].1.as_str(),
                })
                .collect(),
        )
    }
}

/// Pairs of string values found at the same place in two variable trees.
fn same_places(a: &Value, b: &Value, out: &mut Vec<(String, String)>) {
    match (a, b) {
        (Value::String(x), Value::String(y)) => out.push((x.clone(), y.clone())),
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    same_places(v, w, out);
                }
            }
        }
        _ => {}
    }
}

/// A migration ready to send.
pub struct Prepared {
    /// The tree to import.
    pub tree: Value,
    /// The plan against the destination, for people (credentials redacted).
    pub report: TenantPlan,
    /// Redirect URIs the rewriting left as they were: (pointer, URI).
    pub untouched_redirects: Vec<(String, String)>,
    /// The source's credentials the migration does not copy (none with credentials copied).
    pub dropped: Vec<Dropped>,
    /// The destination platform does not know the tenant: it is imported through the system
    /// endpoints, which create it.
    pub new_tenant: bool,
}

/// A credential of the source that a migration without credentials does not copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// Where, as a JSON pointer into the tenant tree (a whole `jwks` for signing keys).
    pub at: String,
    /// Whether the destination generates a fresh one (signing keys, workspace secrets and
    /// salts, client secrets); otherwise nothing stands in its place until it is supplied.
    pub regenerated: bool,
}

/// The credentials of `tree` (an export with credentials) a migration without them drops, in
/// tree order; the private members of a signing key set are named once, as its `jwks`.
fn dropped(tree: &Value) -> Vec<Dropped> {
    let mut regenerated = tree.clone();
    credentials::drop_generated(&mut regenerated, &Value::Object(Map::new()));
    let mut out: Vec<Dropped> = Vec::new();
    credentials::for_each(tree, Scope::Tenant, |at, value| {
        let empty = match value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        };
        if empty {
            return;
        }
        let at = match at.find("/jwks/") {
            Some(i) => at[..i + "/jwks".len()].to_owned(),
            None => at,
        };
        if out.iter().any(|d| d.at == at) {
            return;
        }
        out.push(Dropped {
            regenerated: regenerated.pointer(&at).is_none(),
            at,
        });
    });
    out
}

/// The destination tenant as the platform holds it (without credentials), and whether the
/// platform does not know it: the tenant's own endpoints answer 404 for a tenant that does not
/// exist (its token endpoint among them), and the system endpoints then say whether it does.
fn destination_tree(live: &Live, to: &Tenant) -> Result<(Value, bool), Diagnostic> {
    let cannot = |f: crate::client::RequestError| {
        Diagnostic::new(format!(
            "cannot export the destination tenant `{}`: {f}",
            to.id
        ))
    };
    match live.client.export_bytes(Target::Tenant(&to.id), false) {
        Ok((_, tree)) => Ok((tree, false)),
        Err(f) if f.status() == Some(404) => {
            match live.client.export_bytes(Target::System(&to.id), false) {
                Ok((_, tree)) => Ok((tree, true)),
                Err(f) if f.status() == Some(404) => Ok((Value::Object(Map::new()), true)),
                Err(f) => Err(cannot(f).hint(
                    "the platform does not know the tenant; creating it goes through the system endpoints, which need the environment's client to be a client of the system tenant (self-hosted platforms), or create the tenant on the platform first",
                )),
            }
        }
        Err(f) => Err(cannot(f)),
    }
}

/// One end of a migration: a tenant of an environment, and the way to its platform.
pub struct Side<'a> {
    pub live: &'a Live,
    pub env: &'a Environment,
    pub tenant: &'a Tenant,
    /// The paths left alone in this tenant (its ignore rules): the destination's are honoured.
    pub ignore: &'a crate::ignore::Ignore,
}

/// Exports the source tenant and prepares its import into the destination.
pub fn prepare(
    source: &Side<'_>,
    destination: &Side<'_>,
    mode: Mode,
    with_credentials: bool,
    deletes: crate::apply::Deletes,
) -> Result<Prepared, Vec<Diagnostic>> {
    let ignore = destination.ignore;
    let (from_env, from, to_env, to) = (
        source.env,
        source.tenant,
        destination.env,
        destination.tenant,
    );
    // With credentials always: what is dropped is listed, and an export without them does
    // not say what it left out.
    let (_, mut tree) = source.live.export_bytes(from, true)?;
    let source_held = crate::apply::held_in(&[&tree]);
    let dropped = if with_credentials {
        Vec::new()
    } else {
        dropped(&tree)
    };
    export::clean(&mut tree, with_credentials);
    // The platform's own material (signing keys, workspace secrets and salts, client hashes) is
    // never copied, not even with credentials: the destination keeps its own, or makes them
    // for a tenant it creates. Copied, prod would sign with staging's keys and every token it
    // issued would stop working.
    promote_platform::material::strip(&mut tree, Scope::Tenant);
    if !with_credentials {
        // Signing keys, secrets and salts the destination is to generate afresh: a public key
        // without its private half would only be in the way.
        credentials::drop_generated(&mut tree, &Value::Object(Map::new()));
    }
    let rewrites = Rewrites::new(from_env, from, to_env, to);
    let before = tree.clone();
    rewrites.apply(&mut tree);
    let untouched_redirects = redirects(&tree)
        .into_iter()
        .filter(|(at, uri)| before.pointer(at).and_then(Value::as_str) == Some(uri))
        .collect();
    let (mut current, system) = destination_tree(destination.live, to)
        .map_err(|d| vec![d.context(&to_env.name, Some(&to.key))])?;
    // The import replaces the whole configuration: the destination's rules leave their paths as
    // the destination has them by sending its own values there.
    ignore.graft(&current, &mut tree);
    // What either side holds as credentials is shown of neither, wherever it is.
    let held = crate::apply::held_in(&[&current]).and(source_held);
    credentials::strip(&mut current, Scope::Tenant);
    let mut shown = tree.clone();
    credentials::strip(&mut shown, Scope::Tenant);
    if mode == Mode::Fail {
        let existing: std::collections::HashSet<String> =
            crate::layout::entries(&current).into_iter().collect();
        let both: Vec<String> = crate::layout::entries(&shown)
            .into_iter()
            .filter(|p| existing.contains(p))
            .collect();
        if !both.is_empty() {
            return Err(vec![Diagnostic::new(format!(
                "{} object(s) exist on both sides, first {}: with --mode fail the import would be refused",
                both.len(),
                both[0]
            ))
            .context(&to_env.name, Some(&to.key))
            .hint("--mode update overwrites them with the source's, --mode ignore keeps the destination's")]);
        }
    }
    // An import replaces the whole configuration: what the source lacks goes, as when live is
    // also the last-applied record. So the plan shows the removals, and they follow apply's
    // rules (--allow-delete, and --force above a fifth of the objects).
    let empty = current.as_object().is_some_and(Map::is_empty);
    let prepared = prepare::prepare(
        to,
        Desired::tree(shown),
        Some(&current),
        &current,
        prepare::Policy {
            mode,
            drift: crate::patch::three_way::DriftPolicy::Restore,
            ignore,
        },
        empty,
        None,
    )
    .map_err(|refused| vec![refused.error.context(&to_env.name, Some(&to.key))])?;
    crate::apply::check_removals(&current, &prepared.plan, deletes)
        .map_err(|d| {
            vec![d
                .context(&to_env.name, Some(&to.key))
                .hint("an import replaces the destination's whole configuration: what the source lacks is removed; with --allow-delete (and --force above a fifth of the objects) it may be")]
        })?;
    let mut report = prepared.report;
    report.scrub(&held);
    Ok(Prepared {
        tree,
        report,
        untouched_redirects,
        dropped,
        new_tenant: system,
    })
}

/// Imports a prepared migration into tenant `to`: through the tenant's endpoint, or through the
/// system endpoint (which can create it) when the platform does not know the tenant.
pub fn send(
    destination: &Live,
    to: &Tenant,
    prepared: &Prepared,
    mode: Mode,
    dry_run: bool,
) -> Result<(), Diagnostic> {
    let client = &destination.client;
    let result = if prepared.new_tenant {
        client.import(Target::System(&to.id), &prepared.tree, mode, dry_run)
    } else {
        client.import(Target::Tenant(&to.id), &prepared.tree, mode, dry_run)
    };
    result.map_err(|f| {
        let hint = match f.status() {
            Some(404) if dry_run && prepared.new_tenant => "a dry run creates nothing, and the platform checks an import only into a tenant that exists: run without --dry-run to create it",
            Some(404) => "the tenant does not exist on the destination and its system endpoint cannot create it: create the tenant there first",
            Some(409) => "the destination has conflicting objects: choose --mode update or --mode ignore",
            Some(422) => "the destination refused the configuration (a reference the source had and the destination lacks?)",
            _ => "nothing was imported unless the message says otherwise",
        };
        Diagnostic::new(format!("the import into `{}` failed: {f}", to.id)).hint(hint)
    })
}

/// Every redirect URI of every client: (pointer, URI).
fn redirects(tree: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(servers) = tree.get("servers").and_then(Value::as_object) else {
        return out;
    };
    for (wid, ws) in servers {
        let Some(clients) = ws.get("clients").and_then(Value::as_object) else {
            continue;
        };
        for (cid, client) in clients {
            for field in ["redirect_uris", "post_logout_redirect_uris"] {
                let Some(Value::Array(uris)) = client.get(field) else {
                    continue;
                };
                for (i, uri) in uris.iter().enumerate() {
                    if let Value::String(u) = uri {
                        let at = crate::patch::pointer::from_keys(&[
                            "servers",
                            wid.as_str(),
                            "clients",
                            cid.as_str(),
                            field,
                            &i.to_string(),
                        ]);
                        out.push((at, u.clone()));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str, text: &str) -> Environment {
        Environment::parse(name, &format!("environments/{name}.yaml"), text).unwrap()
    }

    #[test]
    fn every_credential_dropped_is_listed_and_said_whether_it_is_regenerated() {
        let tree = json!({
            "jwks": {"keys": [{"kty": "RSA", "n": "public", "d": "private", "p": "private"}]},
            "mfa_methods": {"sms": {"auth": {"token": "t"}}},
            "servers": {"w": {
                "secret": "s",
                "clients": {"c": {"client_secret": "cs", "hashed_secret": ""}},
                "webhooks": {"h": {"url": "https://x", "api_key": "k"}},
                "idps": {"i": {"credentials": null}}
            }}
        });
        let listed: Vec<(String, bool)> = dropped(&tree)
            .into_iter()
            .map(|d| (d.at, d.regenerated))
            .collect();
        let expected = [
            ("/jwks", true),
            ("/mfa_methods/sms/auth", false),
            ("/servers/w/secret", true),
            ("/servers/w/clients/c/client_secret", true),
            ("/servers/w/webhooks/h/api_key", false),
        ];
        for (at, regenerated) in expected {
            assert!(
                listed.contains(&(at.to_owned(), regenerated)),
                "{at}: {listed:?}"
            );
        }
        assert_eq!(
            listed.len(),
            expected.len(),
            "empty values are not listed: {listed:?}"
        );
    }

    #[test]
    fn rewrites_ids_urls_and_variables_as_whole_tokens() {
        let a = env(
            "staging",
            "target:\n  url: https://staging.example.com/\nvars:\n  domain: staging.acme.com\n  nested: { host: api.staging.acme.com }\n  same: kept\ntenants:\n  acme: { id: acme-staging }\n",
        );
        let b = env(
            "prod",
            "target:\n  url: https://prod.example.com\nvars:\n  domain: acme.com\n  nested: { host: api.acme.com }\n  same: kept\ntenants:\n  acme: { id: acme-prod }\n",
        );
        let templates = ["acme".to_string()];
        let (ta, tb) = (
            &a.tenants(&templates).unwrap()[0],
            &b.tenants(&templates).unwrap()[0],
        );
        let r = Rewrites::new(&a, ta, &b, tb);
        let mut tree = json!({
            "name": "acme-staging",
            "servers": {"w": {"issuer": "https://staging.example.com/acme-staging/w",
                "clients": {"c": {"redirect_uris": ["https://app.staging.acme.com/cb", "https://api.staging.acme.com/x", "https://custom.example.org/cb", "https://xacme-staging.com"]}}}}
        });
        r.apply(&mut tree);
        assert_eq!(tree["name"], "acme-prod");
        assert_eq!(
            tree["servers"]["w"]["issuer"],
            "https://prod.example.com/acme-prod/w"
        );
        assert_eq!(
            tree["servers"]["w"]["clients"]["c"]["redirect_uris"],
            json!([
                "https://app.acme.com/cb",
                "https://api.acme.com/x",
                "https://custom.example.org/cb",
                "https://xacme-staging.com"
            ])
        );
    }
}

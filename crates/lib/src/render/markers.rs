//! Secret markers templates cannot forge.
//!
//! The rest of promote recognises `<secret:NAME>` in a rendered tree as "the value of secret
//! NAME", and apply substitutes the real value there. Such a marker must come from `secret()`,
//! which checks the name, not from text a template wrote (`'<secret:PROD_DB>'` typed by hand,
//! built with `~`, spelt with YAML escapes as `"\x3csecret:PROD_DB>"`, or taken from a
//! variable). So while rendering, `secret("NAME")` writes `<secret:NAME:NONCE>`, with a nonce
//! that digests the repository's files ([`nonce`]: no file can hold it); once the rendered
//! files are parsed into the tenant's tree, every string holding `<secret:` must hold only such
//! markers, which then become the canonical `<secret:NAME>`. Anything else there is an error.
//! A tenant none of whose files can hold `<secret:` is not searched
//! (`Rendered::may_hold_markers`): a tree a shape built knows whether its own text or what its
//! slots wrote holds it.
//!
//! A template does see the nonce in what `secret()` returns, and could copy it into a marker of
//! its own (`secret("A") | replace(from="A", to="B")`). That gains nothing: the name is checked
//! again here, and a marker made from a real one names a secret the template could have named
//! with `secret()` anyway. What the nonce rules out is a marker that never went through
//! `secret()`: from the environment's variables, from text, from an escape.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use crate::credentials::{self, holds_marker, MARKER_PREFIX};

/// Returns the nonce of a repository's files (32 hexadecimal digits): a digest of all of them.
/// A template sees it in what `secret()` returns, so it must not be a random source (what a
/// plan showed and what an apply sends would differ); and a template cannot hold it, since it
/// would change with that very template.
pub(crate) fn nonce(files: &crate::source::RepoFiles) -> String {
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    for (kind, map) in [("t", &files.templates), ("e", &files.environments)] {
        for (name, text) in map {
            for part in [kind, name.as_str(), text.as_str()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Returns `secret("NAME")` for templates: checks the name and renders the marker with `nonce`.
pub(crate) fn secret(nonce: String) -> impl Fn(&HashMap<String, Value>) -> tera::Result<Value> {
    move |args: &HashMap<String, Value>| {
        // One argument, the name: another (`secret("A", x=1)`) would be ignored unseen.
        let name = args
            .get("name")
            .filter(|_| args.len() == 1)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                tera::Error::msg("secret() takes one argument, the secret's name: secret(\"NAME\")")
            })?;
        if !credentials::is_secret_name(name) {
            return Err(tera::Error::msg(format!(
                "secret name `{name}` must use letters, digits and '_' (it is read from PROMOTE_SECRET_{name})"
            )));
        }
        Ok(Value::String(format!("{MARKER_PREFIX}{name}:{nonce}>")))
    }
}

/// A string of the tree holding `<secret:` that did not come from `secret()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forged {
    /// JSON pointer of the value, or of the key's value when it is a key.
    pub pointer: String,
    /// The name the marker gives, when it gives one.
    pub name: Option<String>,
    /// Whether the string is a key (which `secret()` never writes: a file's or a directory's
    /// name, or a key a template wrote).
    pub key: bool,
}

/// Rewrites the markers `secret()` wrote in `tree` (values and keys) to `<secret:NAME>`, and
/// returns the strings that hold `<secret:` otherwise.
pub(crate) fn settle(tree: &mut Value, nonce: &str) -> Vec<Forged> {
    // Most strings hold no marker: find those that do without touching the rest.
    let mut found = Vec::new();
    find(tree, &mut Vec::new(), &mut found);
    let mut forged = Vec::new();
    // Last found first: what lies under a key is settled before the key is renamed.
    for (path, key) in found.into_iter().rev() {
        let pointer = pointer_of(&path);
        let Some(at) = tree.pointer_mut(&pointer) else {
            forged.push(Forged {
                pointer,
                name: None,
                key: false,
            });
            continue;
        };
        match (at, key) {
            (Value::String(s), None) => match canonical(s, nonce) {
                Ok(c) => *s = c.into_owned(),
                Err(name) => forged.push(Forged {
                    pointer,
                    name,
                    key: false,
                }),
            },
            (Value::Object(map), Some(key)) => match canonical(&key, nonce) {
                Ok(c) => {
                    if let Some(v) = map.remove(&key) {
                        map.insert(c.into_owned(), v);
                    }
                }
                Err(name) => forged.push(Forged {
                    pointer: format!("{pointer}{}", pointer_of(&[key])),
                    name,
                    key: true,
                }),
            },
            _ => {}
        }
    }
    // Pointers as they read once keys are settled (and without the nonce).
    let ours = format!(":{nonce}>");
    for f in &mut forged {
        f.pointer = f.pointer.replace(&ours, ">");
    }
    forged.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    forged
}

/// Whether a string or a key of `tree` holds `<secret:`: a tree without any has nothing to
/// [`settle`].
pub(crate) fn held(tree: &Value) -> bool {
    match tree {
        Value::String(s) => holds_marker(s),
        Value::Array(items) => items.iter().any(held),
        Value::Object(map) => map.iter().any(|(k, v)| holds_marker(k) || held(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// One step of a path into a tree.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Collects the paths of the strings holding `<secret:`: (path of the value, or of the map
/// and the key, when it is a key).
fn find<'a>(
    value: &'a Value,
    path: &mut Vec<Step<'a>>,
    found: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let owned = |path: &[Step]| -> Vec<String> {
        path.iter()
            .map(|s| match s {
                Step::Key(k) => (*k).to_owned(),
                Step::Index(i) => i.to_string(),
            })
            .collect()
    };
    match value {
        Value::String(s) if holds_marker(s) => found.push((owned(path), None)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                find(item, path, found);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if holds_marker(k) {
                    found.push((owned(path), Some(k.clone())));
                }
                path.push(Step::Key(k));
                find(item, path, found);
                path.pop();
            }
        }
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn pointer_of(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Returns `s` with each `<secret:NAME:NONCE>` written `<secret:NAME>`, or, when `s` holds
/// `<secret:` otherwise, the name that follows it (if it is one, whole: followed by `:` or `>`).
fn canonical<'a>(s: &'a str, nonce: &str) -> Result<Cow<'a, str>, Option<String>> {
    if !holds_marker(s) {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(MARKER_PREFIX) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARKER_PREFIX.len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let ours = tail
            .strip_prefix(':')
            .and_then(|t| t.strip_prefix(nonce))
            .and_then(|t| t.strip_prefix('>'));
        match ours {
            Some(next) if credentials::is_secret_name(name) => {
                out.push_str(&credentials::marker(name));
                rest = next;
            }
            // A name cut short by a character no name has (`<secret:my-key>`) is no name.
            _ => {
                let whole = tail.starts_with([':', '>']);
                return Err((whole && credentials::is_secret_name(name)).then(|| name.to_owned()));
            }
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_nonce_is_the_repositorys_digest() {
        let files = |template: &str| crate::source::RepoFiles {
            templates: [("a/tenant.yaml".to_owned(), template.to_owned())].into(),
            environments: [("e".to_owned(), "target: {url: https://x}\n".to_owned())].into(),
            origin: crate::source::Origin::WorkTree,
            parsed: Default::default(),
        };
        let a = nonce(&files("name: a\n"));
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            nonce(&files("name: a\n")),
            "the same files, the same nonce"
        );
        assert_ne!(a, nonce(&files("name: b\n")));
    }

    #[test]
    fn secret_markers_carry_the_nonce_and_settle_to_the_canonical_form() {
        let f = secret("n0nce".into());
        let args: HashMap<String, Value> = [("name".to_owned(), json!("A_1"))].into();
        let marker = f(&args).unwrap();
        assert_eq!(marker, json!("<secret:A_1:n0nce>"));
        let bad: HashMap<String, Value> = [("name".to_owned(), json!("a b"))].into();
        assert!(f(&bad).is_err());
        // One argument, the name.
        let more: HashMap<String, Value> =
            [("name".to_owned(), json!("A")), ("x".to_owned(), json!(1))].into();
        assert!(f(&more).is_err());
        let other: HashMap<String, Value> = [("value".to_owned(), json!("A"))].into();
        assert!(f(&other).is_err());

        let mut tree = json!({
            "c": {"client_secret": marker, "list": ["x <secret:B:n0nce> y"]},
            "<secret:K:n0nce>": 1,
            "plain": "no marker"
        });
        assert!(settle(&mut tree, "n0nce").is_empty());
        assert_eq!(
            tree,
            json!({
                "c": {"client_secret": "<secret:A_1>", "list": ["x <secret:B> y"]},
                "<secret:K>": 1,
                "plain": "no marker"
            })
        );
    }

    #[test]
    fn markers_not_written_by_secret_are_found() {
        let mut tree = json!({
            "ok": "<secret:A:n0nce>",
            "typed": "<secret:PROD_DB>",
            "other_nonce": "<secret:PROD_DB:0ther>",
            "in_list": ["<secret:X:n0nce>", "<secret:a b>"],
            "cut": "<secret:my-key>",
            "keys": {"<secret:K>": 1},
            "<secret:R:n0nce>": {"under": "<secret:U>", "<secret:V:n0nce>": "<secret:W:n0nce>"}
        });
        let forged = settle(&mut tree, "n0nce");
        let found: Vec<(&str, Option<&str>, bool)> = forged
            .iter()
            .map(|f| (f.pointer.as_str(), f.name.as_deref(), f.key))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/<secret:R>/under", Some("U"), false),
                ("/cut", None, false),
                ("/in_list/1", None, false),
                ("/keys/<secret:K>", Some("K"), true),
                ("/other_nonce", Some("PROD_DB"), false),
                ("/typed", Some("PROD_DB"), false),
            ]
        );
        assert_eq!(tree["ok"], json!("<secret:A>"));
        assert_eq!(tree["<secret:R>"]["<secret:V>"], json!("<secret:W>"));
    }
}

//! Every field of a tenant tree typed as the platform types it ([`promote_platform::model`],
//! derived from the vendor's API description).
//!
//! The platform decodes a write into typed structures: a value of the wrong JSON type makes it
//! refuse the whole write (400), so that is an error; a field it does not know is dropped
//! without a word, and a value outside the values its description lists may be one it added
//! since, so those are warnings. Null is accepted anywhere (it leaves the field unset).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::Problem;
use crate::credentials::{self, Scope};
use crate::patch::pointer;
use promote_platform::model::{self, Model, Shape};
use promote_platform::tree::{Entries, Node, TENANT};

/// How many of a field's known values an enum warning lists.
const LISTED: usize = 12;

/// Adds the wrong types of `tree` to `errors`, and its unknown fields, fields in another case
/// and values outside an enum to `warnings`, each at its pointer, in tree order. Returns the
/// fields in another case, which the platform reads as its own ([`model::rename_folded`]).
pub(super) fn check(
    tree: &Value,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Vec<model::Folded> {
    let m = model::tenant();
    let decoded = model::decode(m, tree);
    for wrong in decoded.wrong_types {
        // A secret's value is a string (docs/credentials.md): a marker is typed as the string
        // it becomes, and says so where that is the wrong type.
        let is_marker = tree
            .pointer(&wrong.pointer)
            .and_then(Value::as_str)
            .and_then(credentials::marker_name)
            .is_some();
        let found = if is_marker {
            "a secret() (whose value is a string)"
        } else {
            &wrong.found
        };
        errors.push(Problem {
            message: format!(
                "{} must be {}, not {found}: the platform refuses the whole tenant (400)",
                subject(m, &wrong.pointer),
                wrong.expected
            ),
            hint: tree
                .pointer(&wrong.pointer)
                .and_then(|v| type_hint(m, &wrong.pointer, v)),
            pointer: wrong.pointer,
        });
    }
    for unknown in decoded.unknown {
        let hint = match &unknown.nearest {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "the platform's fields of {} are completed by an editor with promote's schema (docs/editor.md)",
                unknown.in_type
            ),
        };
        // A key inside a credential field may be the secret (`credentials: {sk_live_...: x}`):
        // neither it nor its pointer is repeated. Unless it holds a secret() (a field the
        // model does not know yet, written as a credential is), it is refused: a secret
        // written as a key would be in git in plain text, and a structured credential field
        // takes `true` and null below its keys.
        if let Some(field) = credentials::field_holding(&unknown.pointer, Scope::Tenant) {
            let name = field.rsplit('/').next().unwrap_or_default();
            let pointer = format!("{field}/{}", credentials::REDACTED);
            let holds_secret = tree
                .pointer(&unknown.pointer)
                .is_some_and(credentials::holds_secret);
            if holds_secret {
                warnings.push(Problem {
                    message: format!(
                        "a key inside the credential field `{name}` is not a field of {}: the platform drops it (the key is not shown: it may be the secret)",
                        what(&unknown.in_type)
                    ),
                    hint: Some(hint),
                    pointer,
                });
            } else {
                errors.push(Problem {
                    message: format!(
                        "a key inside the credential field `{name}` is not a field of {}, and holds no secret(): the key may be a secret written in plain text (it is not shown)",
                        what(&unknown.in_type)
                    ),
                    hint: Some(format!("{hint}; a credential's value is written `{{{{ secret(\"NAME\") }}}}` under one of the platform's fields, never as a key")),
                    pointer,
                });
            }
            continue;
        }
        if let Some(near) = misspelled_credential(tree, &unknown) {
            // Its value is shown and sent as any unknown field's: plain text meant as a
            // credential must not be, so it is refused as a credential field's would be.
            errors.push(Problem {
                message: format!(
                    "`{}` is not a field of {}, and holds plain text where `{near}`, a credential, is meant",
                    crate::diagnostic::quoted(&unknown.field),
                    what(&unknown.in_type)
                ),
                hint: Some(format!("write `{near}: {{{{ secret(\"NAME\") }}}}` and supply PROMOTE_SECRET_NAME at apply time; a plain-text value would be shown in plans and sent to a platform that drops it")),
                pointer: unknown.pointer,
            });
            continue;
        }
        warnings.push(Problem {
            message: format!(
                "`{}` is not a field of {}: the platform drops it",
                crate::diagnostic::quoted(&unknown.field),
                what(&unknown.in_type)
            ),
            hint: Some(hint),
            pointer: unknown.pointer,
        });
    }
    for folded in &decoded.folded {
        let also = if folded.duplicate {
            format!(", and this map also has `{}`: which of the two the platform keeps depends on their order", folded.canonical)
        } else {
            String::new()
        };
        warnings.push(Problem {
            message: format!(
                "`{}` is `{}` in another case: the platform reads it as `{}`{also}",
                crate::diagnostic::quoted(&folded.field),
                folded.canonical,
                folded.canonical
            ),
            hint: Some(format!(
                "write `{}`, as the platform spells it (its exports do)",
                folded.canonical
            )),
            pointer: folded.pointer.clone(),
        });
    }
    for outside in decoded.outside_enum {
        let mut known: Vec<&str> = outside
            .known
            .iter()
            .take(LISTED)
            .map(String::as_str)
            .collect();
        if outside.known.len() > LISTED {
            known.push("…");
        }
        // A value that may be a credential is not quoted (none of the platform's credential
        // fields lists values today; this keeps it so if one does).
        let value = Value::String(outside.value);
        let shown = if credentials::may_hold(&outside.pointer, &value, Scope::Tenant) {
            String::new()
        } else {
            format!(
                " `{}`",
                crate::diagnostic::quoted(value.as_str().unwrap_or_default())
            )
        };
        warnings.push(Problem {
            message: format!(
                "{} is{shown}, a value the platform's API description does not list",
                subject(m, &outside.pointer)
            ),
            hint: Some(format!(
                "known values: {}; the platform adds values between releases, so check that yours knows this one",
                known.join(", ")
            )),
            pointer: outside.pointer,
        });
    }
    decoded.folded
}

/// The credential field `unknown` is probably a misspelling of, when it holds plain text (a
/// `secret()` there is refused as one outside a credential field): the nearest field of its
/// object when that is a credential there, or a name that is a credential anywhere
/// ([`credentials::ANYWHERE_FIELDS`]) written nearly so (`apiKye`, `passwrod`, `clientSecret`).
fn misspelled_credential<'m>(tree: &Value, unknown: &'m model::Unknown) -> Option<&'m str> {
    let value = tree.pointer(&unknown.pointer)?;
    let plain = match value {
        Value::String(s) => credentials::marker_name(s).is_none(),
        Value::Null => false,
        _ => true,
    };
    if !plain {
        return None;
    }
    if let Some(near) = unknown.nearest.as_deref() {
        let mut tokens = pointer::parse(&unknown.pointer).ok()?;
        tokens.pop();
        tokens.push(near.to_owned());
        let meant = pointer::from_keys(&tokens);
        if credentials::may_hold(&meant, &Value::String(String::new()), Scope::Tenant) {
            return Some(near);
        }
    }
    credential_name_near(&unknown.field)
}

/// The name that is a credential anywhere which `field` nearly is, ignoring case, `_` and `-`.
fn credential_name_near(field: &str) -> Option<&'static str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let field = squash(field);
    credentials::anywhere_names().find(|name| {
        let name = squash(name);
        let allowed = if name.len() >= 6 { 2 } else { 0 };
        field.len().abs_diff(name.len()) <= allowed && strsim::levenshtein(&field, &name) <= allowed
    })
}

/// What to write instead of `value`, a value of the wrong type for the field at `at`, when a
/// likely mistake explains it.
fn type_hint(m: &Model, at: &str, value: &Value) -> Option<String> {
    let tokens = pointer::parse(at).ok()?;
    let shape = m.shape_at(&tokens)?;
    Some(match (&shape, value) {
        (Shape::Boolean, Value::String(s))
            if ["yes", "no", "on", "off", "y", "n", "true", "false"]
                .contains(&s.to_ascii_lowercase().as_str()) =>
        {
            "promote reads YAML 1.2, where only true and false are booleans: write true or false, unquoted".into()
        }
        (Shape::Integer { .. } | Shape::Number, Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            "write the number without quotes (from a variable: without quotes around `{{ }}`)".into()
        }
        (Shape::Integer { unsigned: true }, Value::Number(n)) if n.as_i64().is_some_and(|i| i < 0) => {
            "this field takes no negative number".into()
        }
        (Shape::Integer { .. }, Value::Number(_)) => "write a whole number".into(),
        (Shape::String { .. }, Value::Number(_) | Value::Bool(_)) => {
            "quote the value to make it a string".into()
        }
        (Shape::Array(_), Value::String(_) | Value::Number(_) | Value::Bool(_)) => {
            "write a list, even of one item: `[value]` or one `- value` line per item".into()
        }
        (Shape::Map(_) | Shape::Object(_), _) => "write a map of `key: value` lines".into(),
        _ => return None,
    })
}

/// Returns how a message names the value at `at`: `` `client_uri` ``, `` item 1 of
/// `grant_types` ``, or `` `clients/web` `` for an entry of a map.
fn subject(m: &Model, at: &str) -> String {
    let Ok(tokens) = pointer::parse(at) else {
        return format!("`{at}`");
    };
    let Some((last, parents)) = tokens.split_last() else {
        return "a tenant".to_owned();
    };
    let Some(parent) = parents.last() else {
        return format!("`{last}`");
    };
    match m.shape_at(parents) {
        Some(Shape::Array(_)) => format!("item {last} of `{parent}`"),
        Some(Shape::Map(_)) => format!("`{parent}/{last}`"),
        _ => format!("`{last}`"),
    }
}

/// Returns how a message names an object type: `a client (TreeClient)` where the layout has a
/// word for it, else the type's name.
fn what(ty: &str) -> String {
    match WORDS.get(ty) {
        Some(word) => format!("{} {word} ({ty})", article(word)),
        None => ty.to_owned(),
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Words for the object types the layout names: the tenant, the workspace, and the entries of
/// each collection ("client" for the entries of `clients`).
static WORDS: LazyLock<BTreeMap<String, String>> = LazyLock::new(|| {
    let m = model::tenant();
    let mut words = BTreeMap::new();
    name_node(m, &TENANT, &m.root, &mut words);
    words
});

fn name_node(m: &Model, node: &Node, ty: &str, words: &mut BTreeMap<String, String>) {
    words.insert(ty.to_owned(), node.what.to_owned());
    for collection in node.collections {
        let Some((_, mut shape)) = m.field(ty, collection.key) else {
            continue;
        };
        while let Shape::Map(inner) = shape {
            shape = inner;
        }
        let Shape::Object(entry) = shape else {
            continue;
        };
        match &collection.entries {
            Entries::Nodes(inner) => name_node(m, inner, entry, words),
            Entries::Files { .. } => {
                words
                    .entry(entry.clone())
                    .or_insert_with(|| singular(collection.key));
            }
        }
    }
}

/// `policies` → `policy`, `mfa_methods` → `mfa method`, `scopes_without_service` → `scope
/// without service`: the plural word is the last one when the key ends in `s`, else the first.
fn singular(key: &str) -> String {
    let mut words: Vec<String> = key.split('_').map(str::to_owned).collect();
    let plural = if key.ends_with('s') {
        words.len() - 1
    } else {
        words.iter().position(|w| w.ends_with('s')).unwrap_or(0)
    };
    let word = &mut words[plural];
    if let Some(stem) = word.strip_suffix("ies") {
        *word = format!("{stem}y");
    } else if let Some(stem) = word.strip_suffix('s') {
        *word = stem.to_owned();
    }
    if key.ends_with('s') {
        words.join(" ")
    } else {
        // `scopes_without_service`: the entries are scopes, also where a service holds them.
        words.swap_remove(plural)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_give_their_entries_a_word() {
        assert_eq!(singular("policies"), "policy");
        assert_eq!(singular("mfa_methods"), "mfa method");
        assert_eq!(singular("scopes_without_service"), "scope");
        assert_eq!(what("TreeClient"), "a client (TreeClient)");
        assert_eq!(what("TreeServer"), "a workspace (TreeServer)");
        assert_eq!(what("TreeTenant"), "a tenant (TreeTenant)");
        assert_eq!(what("TreeIDP"), "an idp (TreeIDP)");
        assert_eq!(what("TenantSettings"), "TenantSettings");
    }
}

//! The fields of a workspace that name an entry of a collection (a policy, a script, a pool, a
//! theme), and how the platform words a reference that names nothing: promote's `validate`
//! and the emulator's checks both read them from here.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::model::{self, Model, Shape};
use crate::{pointer, tree};

/// A reference that names nothing, or is not a string: where, what is wrong, what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub pointer: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Which collection a reference names an entry of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The referring workspace's own collection.
    Workspace,
    /// The tenant's collection.
    Tenant,
    /// The tenant's collection or the workspace's own.
    Either,
}

/// The kinds of ID whose references promote checks: the `format` the model gives a string
/// field that names an entry, the word for what it names, its collection, and where that
/// collection is.
///
/// The model has more kinds of ID (`schemaID`, `clientID`, `serviceID`, `gatewayID`, `idpID`,
/// `customAppID`, `serverID`, `apiID`); they are not checked because they may name what the
/// platform makes itself and no template holds (built-in schemas, a workspace's default
/// clients and services) or what lives in another tenant (`apiID` of cross-tenant bindings),
/// and refusing a reference the platform takes would be worse than missing a broken one.
pub const KINDS: &[(&str, &str, &str, Scope)] = &[
    ("policyID", "policy", "policies", Scope::Workspace),
    ("scriptID", "script", "scripts", Scope::Workspace),
    ("poolID", "pool", "pools", Scope::Either),
    ("themeID", "theme", "themes", Scope::Tenant),
];

/// A field of a workspace that names an entry: the path to it below the workspace (`*` is any
/// key or list index), the word for what it names, the collection, and where that collection
/// is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: Vec<String>,
    pub what: &'static str,
    pub collection: &'static str,
    pub scope: Scope,
}

/// Every field of a workspace the model types as an ID of one of [`KINDS`], found once.
pub fn places() -> &'static [Reference] {
    static PLACES: LazyLock<Vec<Reference>> = LazyLock::new(|| {
        let model = model::tenant();
        let mut out = Vec::new();
        if let Some(ws) = model.shape_at(&["servers", "*"]) {
            let mut path = Vec::new();
            let mut types = Vec::new();
            find(model, &ws, &mut path, &mut types, &mut out);
        }
        out
    });
    &PLACES
}

/// Collects the places of [`KINDS`] below `shape`, `path` the keys to it and `types` the
/// object types on the way (a type that holds itself is not entered again).
fn find<'m>(
    model: &'m Model,
    shape: &'m Shape,
    path: &mut Vec<String>,
    types: &mut Vec<&'m str>,
    out: &mut Vec<Reference>,
) {
    match shape {
        Shape::String {
            format: Some(format),
            ..
        } => {
            if let Some((_, what, collection, scope)) = KINDS.iter().find(|k| k.0 == format) {
                out.push(Reference {
                    path: path.clone(),
                    what,
                    collection,
                    scope: *scope,
                });
            }
        }
        Shape::Array(inner) | Shape::Map(inner) => {
            path.push("*".into());
            find(model, inner, path, types, out);
            path.pop();
        }
        Shape::Object(ty) if !types.contains(&ty.as_str()) => {
            types.push(ty);
            for (field, inner) in model.fields(ty) {
                path.push(field.clone());
                find(model, inner, path, types, out);
                path.pop();
            }
            types.pop();
        }
        _ => {}
    }
}

fn keys(map: &Map<String, Value>, key: &str) -> BTreeSet<String> {
    match map.get(key) {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

/// Returns the references of workspace `ws` (at pointer `at`) of the tenant `root` that name
/// nothing, or are not strings, in the order of [`places`] and of the tree.
pub fn broken(root: &Map<String, Value>, ws: &Map<String, Value>, at: &str) -> Vec<Broken> {
    let mut out = Vec::new();
    references(root, ws, at, &mut out);
    out
}

fn references(root: &Map<String, Value>, ws: &Map<String, Value>, at: &str, out: &mut Vec<Broken>) {
    for Reference {
        path,
        what,
        collection,
        scope,
    } in places()
    {
        let mut found = Vec::new();
        in_map(ws, path, at, &mut found);
        // Most places are empty in a given tenant: their targets are not collected.
        if found.is_empty() {
            continue;
        }
        let targets = match scope {
            Scope::Workspace => keys(ws, collection),
            Scope::Tenant => keys(root, collection),
            Scope::Either => &keys(root, collection) | &keys(ws, collection),
        };
        for (here, value) in found {
            reference(value, &here, what, &targets, out);
        }
    }
}

/// Collects the values at `path` below `value` (`*` is any key or list index) with their
/// pointers. Names match as the platform matches them, without regard to case.
fn matches_in<'a>(value: &'a Value, path: &[String], at: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some((first, rest)) = path.split_first() else {
        out.push((at.to_owned(), value));
        return;
    };
    match value {
        Value::Object(map) => in_map(map, path, at, out),
        Value::Array(list) if first == "*" => {
            for (i, v) in list.iter().enumerate() {
                matches_in(v, rest, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// [`matches_in`] for the entries of a map.
fn in_map<'a>(
    map: &'a Map<String, Value>,
    path: &[String],
    at: &str,
    out: &mut Vec<(String, &'a Value)>,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    for (k, v) in map {
        if first == "*" || crate::credentials::folds_to(k, first) {
            matches_in(v, rest, &pointer::join(at, k), out);
        }
    }
}

fn reference(
    value: &Value,
    at: &str,
    what: &str,
    targets: &BTreeSet<String>,
    out: &mut Vec<Broken>,
) {
    let id = match value {
        Value::Null => return,
        Value::String(s) if s.is_empty() => return,
        Value::String(s) => s,
        other => {
            out.push(Broken {
                pointer: at.to_owned(),
                message: format!(
                    "a reference to a {what} must be a string, not {}",
                    tree::kind(other)
                ),
                hint: None,
            });
            return;
        }
    };
    if targets.contains(id) {
        return;
    }
    let plural = match what.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{what}s"),
    };
    let known: Vec<&str> = targets.iter().take(10).map(String::as_str).collect();
    let hint = if known.is_empty() {
        format!("there are no {plural} here")
    } else {
        let more = if targets.len() > 10 { ", ..." } else { "" };
        format!("{plural} here: {}{more}", known.join(", "))
    };
    out.push(Broken {
        pointer: at.to_owned(),
        // An ID is anyone's to write: quoted on one line, control characters escaped.
        message: format!("unknown {what} `{}`", id.escape_debug()),
        hint: Some(hint),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_places_come_from_the_models_id_formats() {
        let paths: Vec<String> = places().iter().map(|r| r.path.join("/")).collect();
        for expected in [
            "policy_execution_points/*",
            "clients/*/policy_execution_points/*",
            "script_execution_points/*/*/script_id",
            "services/*/apis/*/policy_id",
            "services/*/apis/*/graphql_types/*/fields/*/policy_id",
            "idps/*/identity_pool_id",
            "idps/*/jit/provisioning/pool_id",
            "theme_binding/theme_id",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} in {paths:#?}"
            );
        }
    }

    #[test]
    fn references_in_lists_and_maps_of_ids_are_checked() {
        let root = json!({"themes": {"brand": {}}});
        let ws = json!({
            "policies": {"allow": {}},
            "policy_execution_points": {"client_access": "allow", "login": "gone"},
            "services": {"s": {"apis": {"a": {"graphql_types": [{"fields": [{"policy_id": "nope"}]}]}}}},
            "Theme_Binding": {"theme_id": "brand"}
        });
        let found = broken(
            root.as_object().unwrap(),
            ws.as_object().unwrap(),
            "/servers/w",
        );
        let at: Vec<&str> = found.iter().map(|b| b.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/servers/w/policy_execution_points/login",
                "/servers/w/services/s/apis/a/graphql_types/0/fields/0/policy_id"
            ],
            "{found:?}"
        );
    }
}

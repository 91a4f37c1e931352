//! The fields of a workspace that name an entry of a collection (a policy, a script, a pool, a
//! theme), and how the platform words a reference that names nothing: promote's `validate`
//! and the emulator's checks both read them from here.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{pointer, tree};

/// A reference that names nothing, or is not a string: where, what is wrong, what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub pointer: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Which collection a reference names an entry of.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The referring workspace's own collection.
    Workspace,
    /// The tenant's collection.
    Tenant,
    /// The tenant's collection or the workspace's own.
    Either,
}

/// A field of a workspace that names an entry: the path to it below the workspace (`*` is any
/// key), the word for what it names, the collection, and where that collection is.
pub const REFERENCES: &[(&[&str], &str, &str, Scope)] = &[
    (
        &["policy_execution_points", "*"],
        "policy",
        "policies",
        Scope::Workspace,
    ),
    (
        &["script_execution_points", "*", "*", "script_id"],
        "script",
        "scripts",
        Scope::Workspace,
    ),
    (
        &["idps", "*", "identity_pool_id"],
        "pool",
        "pools",
        Scope::Either,
    ),
    (
        &["theme_binding", "theme_id"],
        "theme",
        "themes",
        Scope::Tenant,
    ),
    (
        &["services", "*", "apis", "*", "policy_id"],
        "policy",
        "policies",
        Scope::Workspace,
    ),
];

fn keys(map: &Map<String, Value>, key: &str) -> BTreeSet<String> {
    match map.get(key) {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

/// Returns the references of workspace `ws` (at pointer `at`) of the tenant `root` that name
/// nothing, or are not strings, in the order of [`REFERENCES`] and of the tree.
pub fn broken(root: &Map<String, Value>, ws: &Map<String, Value>, at: &str) -> Vec<Broken> {
    let mut out = Vec::new();
    references(root, ws, at, &mut out);
    out
}

fn references(root: &Map<String, Value>, ws: &Map<String, Value>, at: &str, out: &mut Vec<Broken>) {
    for (path, what, collection, scope) in REFERENCES {
        let targets = match scope {
            Scope::Workspace => keys(ws, collection),
            Scope::Tenant => keys(root, collection),
            Scope::Either => &keys(root, collection) | &keys(ws, collection),
        };
        let mut found = Vec::new();
        matches_in(ws, path, at, &mut found);
        for (here, value) in found {
            reference(value, &here, what, &targets, out);
        }
    }
}

/// Collects the values at `path` below `map` (`*` is any key) with their pointers.
fn matches_in<'a>(
    map: &'a Map<String, Value>,
    path: &[&str],
    at: &str,
    out: &mut Vec<(String, &'a Value)>,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let mut visit = |key: &str, value: &'a Value| {
        let here = pointer::join(at, key);
        match value {
            _ if rest.is_empty() => out.push((here, value)),
            Value::Object(inner) => matches_in(inner, rest, &here, out),
            _ => {}
        }
    };
    if *first == "*" {
        map.iter().for_each(|(k, v)| visit(k, v));
    } else if let Some(v) = map.get(*first) {
        visit(first, v);
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
        message: format!("unknown {what} `{id}`"),
        hint: Some(hint),
    });
}

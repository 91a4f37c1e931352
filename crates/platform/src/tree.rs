//! The platform's tenant tree: which of its maps are keyed collections of objects, and how the
//! repository lays each one out as a directory.
//!
//! A tenant holds its own fields, tenant-level collections (`pools`, `schemas`, ...) and its
//! workspaces (`servers`), each holding collections of its own (`clients`, `policies`, ...).
//! [`TENANT`] and [`WORKSPACE`] are the one table of them: the emulator stores and patches by
//! it, and promote's layout writes every collection of it as a directory.

use serde_json::Value;

/// A directory level of the layout: the YAML file holding its own keys, and its collections.
#[derive(Debug)]
pub struct Node {
    /// What this level is, for messages ("tenant", "workspace").
    pub what: &'static str,
    /// The file holding every key that is not a directory collection.
    pub file: &'static str,
    pub collections: &'static [Collection],
}

/// A keyed map of the tree written as a directory.
#[derive(Debug)]
pub struct Collection {
    /// Key in the tree.
    pub key: &'static str,
    /// Directory name.
    pub dir: &'static str,
    pub entries: Entries,
}

/// How the entries of a collection are stored.
#[derive(Debug)]
pub enum Entries {
    /// `<dir>/<id>.yaml`, or `<dir>/<k1>/<id>.yaml` for two-level maps (`levels: 2`).
    Files {
        levels: usize,
        sidecars: &'static [Sidecar],
    },
    /// `<dir>/<id>/` holding a nested node (workspaces).
    Nodes(&'static Node),
}

/// A string field of an entry kept in a file of its own: `<id>.<ext>`.
#[derive(Debug)]
pub struct Sidecar {
    pub field: &'static str,
    pub ext: &'static str,
}

const fn files(key: &'static str) -> Collection {
    Collection {
        key,
        dir: key,
        entries: Entries::Files {
            levels: 1,
            sidecars: &[],
        },
    }
}

const fn two_level(key: &'static str) -> Collection {
    Collection {
        key,
        dir: key,
        entries: Entries::Files {
            levels: 2,
            sidecars: &[],
        },
    }
}

const fn with_sidecar(key: &'static str, sidecar: &'static [Sidecar]) -> Collection {
    Collection {
        key,
        dir: key,
        entries: Entries::Files {
            levels: 1,
            sidecars: sidecar,
        },
    }
}

/// A tenant: `tenant.yaml`, tenant collections and `workspaces/<wid>/`.
pub static TENANT: Node = Node {
    what: "tenant",
    file: "tenant.yaml",
    collections: &[
        files("pools"),
        files("schemas"),
        files("mfa_methods"),
        files("themes"),
        files("translations"),
        Collection {
            key: "servers",
            dir: "workspaces",
            entries: Entries::Nodes(&WORKSPACE),
        },
    ],
};

/// A workspace (the tree calls it a server): `workspace.yaml` and its collections.
pub static WORKSPACE: Node = Node {
    what: "workspace",
    file: "workspace.yaml",
    collections: &[
        files("clients"),
        files("idps"),
        with_sidecar(
            "policies",
            &[Sidecar {
                field: "definition",
                ext: "rego",
            }],
        ),
        with_sidecar(
            "scripts",
            &[Sidecar {
                field: "body",
                ext: "js",
            }],
        ),
        files("services"),
        files("gateways"),
        files("custom_apps"),
        files("pools"),
        files("webhooks"),
        files("scopes_without_service"),
        two_level("claims"),
        two_level("script_execution_points"),
    ],
};

/// Returns the lengths of the prefixes of `tokens` (a JSON pointer, split) that point exactly at
/// a keyed entry of `node`: `["servers", "w", "clients", "c", "x"]` gives `[2, 4]` (the workspace
/// and the client).
pub fn entry_prefixes(node: &Node, tokens: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut node = node;
    let mut at = 0;
    while let Some(key) = tokens.get(at) {
        let Some(c) = node.collections.iter().find(|c| c.key == key.as_str()) else {
            break;
        };
        match &c.entries {
            Entries::Files { levels, .. } => {
                if tokens.len() > at + levels {
                    out.push(at + 1 + levels);
                }
                break;
            }
            Entries::Nodes(inner) => {
                if tokens.len() < at + 2 {
                    break;
                }
                out.push(at + 2);
                node = inner;
                at += 2;
            }
        }
    }
    out
}

/// Returns a word for a value's JSON type, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// How many levels of keys a collection has before its entries: 2 for `claims` (type → id →
/// entry), 1 otherwise.
pub fn levels(collection: &Collection) -> usize {
    match collection.entries {
        Entries::Files { levels, .. } => levels,
        Entries::Nodes(_) => 1,
    }
}

//! What a write does to a configuration tree: import, RFC 6902 and RFC 7396 patches under the
//! platform's conflict modes, and the platform quirks the emulator reproduces.
//!
//! A *conflict* is a keyed entry (a client, a policy, a workspace, a claim, ...) that exists
//! both in the target and in what is written. `ignore` keeps the target's entry, `fail` refuses
//! the whole write, `update` takes the incoming one. Which keys hold keyed entries comes from
//! the layout tables ([`promote_platform::tree::TENANT`], [`promote_platform::tree::WORKSPACE`]), the same tables that decide
//! which keys become directories.
//!
//! Entries that contain entries (workspaces) are handled level by level: a workspace that exists
//! on both sides is a conflict, and under `ignore` its own fields stay the target's while its
//! clients, policies, ... are merged entry by entry, so an import under `ignore` still adds the
//! clients a workspace lacks.
//!
//! These are pure functions on trees: no I/O, no locking, so they are tested directly.

use serde_json::{Map, Value};

use promote_platform::pointer;
use promote_platform::tree::{Entries, Node};

/// What to do with a keyed entry that exists on both sides: the API's `mode`.
pub use promote_platform::Mode;

/// Why a write was refused before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `mode=fail` and these entries exist on both sides (JSON pointers into the written document).
    Conflicts(Vec<String>),
    /// An RFC 6902 `test` op did not hold.
    TestFailed { op: usize, path: String },
    /// An RFC 6902 op could not be applied (a missing path, an index out of bounds, ...).
    NotApplicable {
        op: usize,
        path: String,
        reason: String,
    },
}

/// Imports `incoming` over `target`: the result is `incoming`, except for conflicting entries,
/// which follow `mode`. Entries the target has and `incoming` lacks are gone (an import replaces
/// the whole configuration).
pub(crate) fn import(
    target: Option<&Value>,
    incoming: &Map<String, Value>,
    node: &Node,
    mode: Mode,
) -> Result<Value, Refused> {
    let mut conflicts = Vec::new();
    let target = target.and_then(Value::as_object);
    let out = import_node(target, incoming, node, mode, "", true, &mut conflicts);
    refuse_conflicts(mode, conflicts)?;
    Ok(Value::Object(out))
}

fn refuse_conflicts(mode: Mode, conflicts: Vec<String>) -> Result<(), Refused> {
    if mode == Mode::Fail && !conflicts.is_empty() {
        return Err(Refused::Conflicts(conflicts));
    }
    Ok(())
}

fn collection<'a>(node: &'a Node, key: &str) -> Option<&'a Entries> {
    node.collections
        .iter()
        .find(|c| c.key == key)
        .map(|c| &c.entries)
}

/// How many key levels lead from a collection to its entries, and the node of each entry.
fn shape(entries: &Entries) -> (usize, Option<&'static Node>) {
    match entries {
        Entries::Files { levels, .. } => (*levels, None),
        Entries::Nodes(node) => (1, Some(node)),
    }
}

fn import_node(
    target: Option<&Map<String, Value>>,
    incoming: &Map<String, Value>,
    node: &Node,
    mode: Mode,
    at: &str,
    own_from_incoming: bool,
    conflicts: &mut Vec<String>,
) -> Map<String, Value> {
    let own = match target {
        Some(t) if !own_from_incoming => t,
        _ => incoming,
    };
    let mut out: Map<String, Value> = own
        .iter()
        .filter(|(k, _)| collection(node, k).is_none())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for c in node.collections {
        let Some(inc) = incoming.get(c.key) else {
            continue;
        };
        let here = pointer::join(at, c.key);
        let merged = match (inc, target.and_then(|t| t.get(c.key))) {
            (Value::Object(inc), Some(Value::Object(tgt))) => {
                let (levels, inner) = shape(&c.entries);
                Value::Object(import_entries(
                    tgt, inc, levels, inner, mode, &here, conflicts,
                ))
            }
            _ => inc.clone(),
        };
        out.insert(c.key.to_owned(), merged);
    }
    out
}

fn import_entries(
    target: &Map<String, Value>,
    incoming: &Map<String, Value>,
    levels: usize,
    inner: Option<&'static Node>,
    mode: Mode,
    at: &str,
    conflicts: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (id, inc) in incoming {
        let here = pointer::join(at, id);
        let value = match target.get(id) {
            None | Some(Value::Null) => inc.clone(),
            Some(tgt) => match (tgt, inc, inner) {
                (Value::Object(t), Value::Object(i), _) if levels > 1 => Value::Object(
                    import_entries(t, i, levels - 1, inner, mode, &here, conflicts),
                ),
                (Value::Object(t), Value::Object(i), Some(node)) => {
                    conflicts.push(here.clone());
                    Value::Object(import_node(
                        Some(t),
                        i,
                        node,
                        mode,
                        &here,
                        mode != Mode::Ignore,
                        conflicts,
                    ))
                }
                _ => {
                    conflicts.push(here.clone());
                    if mode == Mode::Ignore {
                        tgt.clone()
                    } else {
                        inc.clone()
                    }
                }
            },
        };
        out.insert(id.clone(), value);
    }
    out
}

/// Applies an RFC 7396 merge patch under `mode`. A `null` removes; removing is never a conflict.
pub(crate) fn merge(
    target: &Value,
    patch: &Map<String, Value>,
    node: &Node,
    mode: Mode,
) -> Result<Value, Refused> {
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut conflicts = Vec::new();
    merge_node(&mut out, patch, node, mode, "", true, &mut conflicts);
    refuse_conflicts(mode, conflicts)?;
    Ok(Value::Object(out))
}

fn merge_node(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    node: &Node,
    mode: Mode,
    at: &str,
    own_allowed: bool,
    conflicts: &mut Vec<String>,
) {
    for (key, value) in patch {
        let entries = collection(node, key);
        if entries.is_none() && !own_allowed {
            continue;
        }
        if let (Some(entries), Value::Object(p), Some(Value::Object(t))) =
            (entries, value, target.get_mut(key))
        {
            let (levels, inner) = shape(entries);
            let here = pointer::join(at, key);
            merge_entries(t, p, levels, inner, mode, &here, conflicts);
            continue;
        }
        merge_value(target, key, value);
    }
}

/// RFC 7396 for one key of a map.
fn merge_value(target: &mut Map<String, Value>, key: &str, value: &Value) {
    if value.is_null() {
        target.remove(key);
    } else {
        json_patch::merge(target.entry(key).or_insert(Value::Null), value);
    }
}

fn merge_entries(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    levels: usize,
    inner: Option<&'static Node>,
    mode: Mode,
    at: &str,
    conflicts: &mut Vec<String>,
) {
    for (id, value) in patch {
        let here = pointer::join(at, id);
        let existing = match target.get_mut(id) {
            Some(v) if !v.is_null() && !value.is_null() => v,
            _ => {
                merge_value(target, id, value);
                continue;
            }
        };
        match (existing, value, inner) {
            (Value::Object(t), Value::Object(p), _) if levels > 1 => {
                merge_entries(t, p, levels - 1, inner, mode, &here, conflicts);
            }
            (Value::Object(t), Value::Object(p), Some(node)) => {
                conflicts.push(here.clone());
                merge_node(t, p, node, mode, &here, mode != Mode::Ignore, conflicts);
            }
            (existing, value, _) => {
                conflicts.push(here);
                if mode != Mode::Ignore {
                    json_patch::merge(existing, value);
                }
            }
        }
    }
}

/// Applies RFC 6902 operations under `mode`, with the platform's quirk: an `add` of a value that
/// is not an array at a path holding an array appends to that array (plain RFC 6902 would
/// replace it). An `add`, `copy` or `move` onto a keyed entry that exists is a conflict.
pub(crate) fn apply_ops(
    target: &Value,
    ops: &[json_patch::PatchOperation],
    node: &Node,
    mode: Mode,
) -> Result<Value, Refused> {
    use json_patch::PatchOperation as Op;
    let mut doc = target.clone();
    if !doc.is_object() {
        doc = Value::Object(Map::new());
    }
    for (i, op) in ops.iter().enumerate() {
        let mut op = op.clone();
        if let Op::Add(add) = &mut op {
            if !add.value.is_array()
                && matches!(doc.pointer(add.path.as_str()), Some(Value::Array(_)))
            {
                add.path.push_back("-");
            }
        }
        let destination = match &op {
            Op::Add(o) => Some(&o.path),
            Op::Copy(o) => Some(&o.path),
            Op::Move(o) => Some(&o.path),
            _ => None,
        };
        if let Some(path) = destination {
            let tokens: Vec<String> = path.tokens().map(|t| t.decoded().into_owned()).collect();
            if is_entry(node, &tokens) && doc.pointer(path.as_str()).is_some() {
                match mode {
                    Mode::Ignore => continue,
                    Mode::Fail => return Err(Refused::Conflicts(vec![path.to_string()])),
                    Mode::Update => {}
                }
            }
        }
        if let Err(e) = json_patch::patch_unsafe(&mut doc, std::slice::from_ref(&op)) {
            let path = op.path().to_string();
            return Err(match e.kind {
                json_patch::PatchErrorKind::TestFailed => Refused::TestFailed { op: i, path },
                kind => Refused::NotApplicable {
                    op: i,
                    path,
                    reason: kind.to_string(),
                },
            });
        }
    }
    Ok(doc)
}

/// Returns whether `tokens` point exactly at a keyed entry of `node`.
fn is_entry(node: &Node, tokens: &[String]) -> bool {
    promote_platform::tree::entry_prefixes(node, tokens).last() == Some(&tokens.len())
}

/// The platform's documented exception: a patch that adds an idp whose `identity_pool_id`
/// names a pool that does not exist is answered 204 and the idp is silently not created.
/// Removes such idps from `after` (idps that `before` already had are left to validation).
pub(crate) fn drop_idps_without_pool(before: &Value, after: &mut Value) {
    let tenant_pools = keys(after.get("pools"));
    let Some(Value::Object(servers)) = after.get_mut("servers") else {
        return;
    };
    for (wid, ws) in servers.iter_mut() {
        let had = before
            .get("servers")
            .and_then(|s| s.get(wid))
            .and_then(|w| w.get("idps"));
        let ws_pools = keys(ws.get("pools"));
        let Some(Value::Object(idps)) = ws.get_mut("idps") else {
            continue;
        };
        idps.retain(|id, idp| {
            if had.and_then(|h| h.get(id)).is_some() {
                return true;
            }
            match idp.get("identity_pool_id") {
                Some(Value::String(pool)) if !pool.is_empty() => {
                    tenant_pools.contains(pool) || ws_pools.contains(pool)
                }
                _ => true,
            }
        });
    }
}

fn keys(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;

//! RFC 7396 JSON merge patches: the compact, readable patch format, used whenever it can say
//! exactly what changed.
//!
//! A merge patch cannot say everything. Its `null` means "delete", so it can never *set* a
//! `null`, and an object in a patch is merged (not assigned), so a `null` nested anywhere
//! through objects of a new object is dropped on the way in. [`diff`] computes the minimal body
//! and, while it builds it, whether applying that body to `old` gives back `new` exactly
//! ([`MergePatch::exact`]); the caller falls back to RFC 6902 when it does not
//! (see [`super::auto`]).
//!
//! The exact condition: the body is exact unless (a) it sets a member to `null` (a key added
//! or changed to `null`), or (b) it carries a whole object value, i.e. one where `old` had no
//! object to recurse into, that contains a `null` reachable through objects only (nulls inside
//! arrays are fine: arrays are copied as they are), or (c) `old == new` and `old` is not an
//! object (the empty body `{}` would turn a scalar or array into `{}`). A non-object `new` at
//! the root, `null` included, is exact: a non-object patch replaces the document wholesale.

use serde_json::{Map, Value};

/// A merge patch body and whether it reproduces `new` exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MergePatch {
    /// The RFC 7396 document: `{}` when nothing changed.
    pub body: Value,
    /// `true` when `json_patch::merge(old, body)` gives exactly `new`.
    pub exact: bool,
}

/// The minimal RFC 7396 patch from `old` to `new`: only changed keys, recursing into keys that
/// are objects on both sides, `null` for removed keys, anything else (arrays, scalars, objects
/// replacing non-objects) copied whole.
pub(crate) fn diff(old: &Value, new: &Value) -> MergePatch {
    match (old, new) {
        // One walk builds a body, taking its values (a copy of `new` here: a plan's patch,
        // the hot caller, gives its own tree to `diff_objects_into`).
        (Value::Object(old), Value::Object(new)) => diff_objects_into(old, new.clone()),
        _ if old == new => MergePatch {
            body: Value::Object(Map::new()),
            exact: false,
        },
        // A non-object patch replaces the whole document, `null` included.
        (_, Value::Object(_)) => set(new),
        _ => MergePatch {
            body: new.clone(),
            exact: true,
        },
    }
}

/// The body setting `value` over something that is not an object.
fn set(value: &Value) -> MergePatch {
    MergePatch {
        body: value.clone(),
        exact: survives_merge(value),
    }
}

/// [`diff`] between two objects, taking `new`: its values move into the body instead of being
/// copied (the body of a plan's patch is most of what the plan changes).
pub(crate) fn diff_objects_into(old: &Map<String, Value>, new: Map<String, Value>) -> MergePatch {
    let mut exact = true;
    let body = objects_into(old, new, &mut exact);
    MergePatch {
        body: Value::Object(body),
        exact,
    }
}

/// The merge body between two objects, made of `new`'s values; clears `exact` when a member
/// cannot be expressed.
fn objects_into(
    old: &Map<String, Value>,
    new: Map<String, Value>,
    exact: &mut bool,
) -> Map<String, Value> {
    let mut body = Map::new();
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        body.insert(key.clone(), Value::Null);
    }
    for (key, now) in new {
        match (old.get(&key), now) {
            (Some(Value::Object(was)), Value::Object(now)) => {
                let inner = objects_into(was, now, exact);
                if !inner.is_empty() {
                    body.insert(key, Value::Object(inner));
                }
            }
            (Some(was), now) if *was == now => {}
            (_, now) => {
                *exact &= survives_merge(&now);
                body.insert(key, now);
            }
        }
    }
    body
}

/// Whether [`diff`] between two objects is exact, found without building its body: a member
/// of `new` makes it inexact only when it does not survive a merge (a null, or an object holding
/// one where `old` has no object to merge it into) and is not `old`'s own value. Most members
/// survive, and are neither looked up in `old` nor compared.
pub(crate) fn objects_exact(old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    new.iter().all(|(key, now)| match now {
        Value::Null => old.get(key) == Some(&Value::Null),
        Value::Object(inner) => match old.get(key) {
            Some(Value::Object(was)) => objects_exact(was, inner),
            // Nothing to merge into (an object never equals a non-object).
            _ => survives_merge(now),
        },
        _ => true,
    })
}

/// Whether merging `value` into a non-object (or a missing member) yields `value` itself:
/// not `null`, and no `null` reachable through objects (merge drops those keys).
pub(crate) fn survives_merge(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(map) => map.values().all(survives_merge),
        _ => true,
    }
}

/// Whether `value` holds a null at any depth: in a merge patch, one that removes a key where
/// it is reached through objects.
pub fn holds_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(holds_null),
        Value::Object(map) => map.values().any(holds_null),
        _ => false,
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;

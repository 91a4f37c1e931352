//! RFC 6902 JSON patches: the fallback format that can say everything a merge patch cannot
//! (setting `null`, replacing an object that holds nulls) and that can guard itself.
//!
//! [`diff`] emits the minimal ops in sorted key order: it recurses into keys that are objects
//! on both sides and emits `add` for new keys, `remove` for removed keys and `replace` for
//! changed values. Arrays are leaves replaced whole, so no op ever addresses an array element
//! (and nothing depends on how a server treats `add` at an array index or `-`).
//!
//! With `with_tests`, the patch starts with one `test` op per `replace` and `remove`, asserting
//! the value the patch was computed from. All tests come before the first change, so a patch
//! computed from a stale baseline fails before it changes anything even on a server that does
//! not roll back. (`json_patch::patch` itself is atomic too: it keeps an undo stack and reverts
//! the applied ops when a later op fails.) RFC 6902 cannot test that a key is *absent*, so an
//! `add` is not guarded.

use std::cmp::Ordering;

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};
use serde_json::{Map, Value};

/// The minimal RFC 6902 patch from `old` to `new`, with `test` ops first when `with_tests`.
/// When `old` and `new` are not both objects and differ, it is one `replace` at `""`.
pub(crate) fn diff(old: &Value, new: &Value, with_tests: bool) -> Patch {
    let mut ops = Ops {
        with_tests,
        tests: Vec::new(),
        changes: Vec::new(),
    };
    let mut path = PointerBuf::root();
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => ops.objects(&mut path, old, new),
        _ if old == new => {}
        _ => ops.replace(&path, old, new),
    }
    let mut all = ops.tests;
    all.append(&mut ops.changes);
    Patch(all)
}

/// The ops collected so far: tests and changes are kept apart so tests can lead.
struct Ops {
    with_tests: bool,
    tests: Vec<PatchOperation>,
    changes: Vec<PatchOperation>,
}

impl Ops {
    /// Diffs two objects at `path`, key by key in sorted order.
    fn objects(
        &mut self,
        path: &mut PointerBuf,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) {
        for (key, side) in union(old, new) {
            path.push_back(key);
            match side {
                (Some(was), None) => self.remove(path, was),
                (None, Some(now)) => self.add(path, now),
                (Some(Value::Object(was)), Some(Value::Object(now))) => {
                    self.objects(path, was, now);
                }
                (Some(was), Some(now)) if was != now => self.replace(path, was, now),
                _ => {}
            }
            path.pop_back();
        }
    }

    fn add(&mut self, path: &PointerBuf, now: &Value) {
        self.changes.push(PatchOperation::Add(AddOperation {
            path: path.clone(),
            value: now.clone(),
        }));
    }

    fn remove(&mut self, path: &PointerBuf, was: &Value) {
        self.test(path, was);
        self.changes.push(PatchOperation::Remove(RemoveOperation {
            path: path.clone(),
        }));
    }

    fn replace(&mut self, path: &PointerBuf, was: &Value, now: &Value) {
        self.test(path, was);
        self.changes.push(PatchOperation::Replace(ReplaceOperation {
            path: path.clone(),
            value: now.clone(),
        }));
    }

    fn test(&mut self, path: &PointerBuf, was: &Value) {
        if self.with_tests {
            self.tests.push(PatchOperation::Test(TestOperation {
                path: path.clone(),
                value: was.clone(),
            }));
        }
    }
}

/// Both objects' keys in sorted order, with the value on each side: one merge of the two
/// sorted key sequences (a `Map` keeps its keys sorted), no lookups.
pub(crate) fn union<'a>(
    old: &'a Map<String, Value>,
    new: &'a Map<String, Value>,
) -> impl Iterator<Item = (&'a str, (Option<&'a Value>, Option<&'a Value>))> {
    let mut old = old.iter().peekable();
    let mut new = new.iter().peekable();
    std::iter::from_fn(move || {
        let order = match (old.peek(), new.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        let (key, sides) = match order {
            Ordering::Less => old.next().map(|(k, v)| (k, (Some(v), None)))?,
            Ordering::Greater => new.next().map(|(k, v)| (k, (None, Some(v))))?,
            Ordering::Equal => {
                let (k, was) = old.next()?;
                (k, (Some(was), new.next().map(|(_, v)| v)))
            }
        };
        Some((key.as_str(), sides))
    })
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;

//! What a plan file may send: exactly what the plan's commit renders.
//!
//! A plan file is read back from wherever CI kept it, and its description (the changes a
//! report shows, the counts) and its patch are separate texts: an edited file could show one
//! change and send another, or send a removal that its description hides from the
//! `--allow-delete` gate. [`check`] ties the patch to the desired tree rendered again from the
//! plan's commit (the repository is what was reviewed): every value the patch writes is the
//! repository's value there, every path it removes is one the repository does not have, every
//! workspace it imports is the repository's, and the description names every path the patch
//! writes, as it writes it (a removal as a removal), so that the report and the gate read what
//! is sent. `secret()` markers are accepted only where the repository has a credential field:
//! a marker anywhere else would send a credential's value into a plain field.

use serde_json::{Map, Value};

use super::SavedChange;
use crate::credentials::{self, Scope};
use crate::patch::pointer;
use crate::patch::three_way::{Change, ChangeKind};

/// One place a saved change writes: the path, how (`add`, `replace`, `remove`, or `import` for a
/// new workspace), and what the tenant holds there afterwards as the repository holds it
/// (without credential fields; `None`: nothing).
pub(crate) struct Written {
    pub path: String,
    pub op: &'static str,
    pub value: Option<Value>,
}

/// Every place `change` writes, in the order it sends them: its patch's ops (its `test` ops
/// write nothing), then the workspaces it imports. Both the check against the plan's commit
/// ([`check`]) and the check that a tenant already holds the plan
/// ([`SavedChange::already_applied`]) compare a tree with these.
///
/// # Errors
/// An op promote never writes, in words.
pub(crate) fn written(change: &SavedChange) -> Result<Vec<Written>, String> {
    let mut out = Vec::new();
    for op in &change.patch {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let (op, value) = match op.get("op").and_then(Value::as_str) {
            Some("test") => continue,
            Some("add") => ("add", Some(value_of(op))),
            Some("replace") => ("replace", Some(value_of(op))),
            Some("remove") => ("remove", None),
            other => {
                return Err(format!(
                    "its patch has an op ({}) promote never writes",
                    crate::diagnostic::quoted(other.unwrap_or("none"))
                ))
            }
        };
        out.push(Written {
            path: path.to_owned(),
            op,
            value: value.and_then(|v| as_repository_holds(path, v, change)),
        });
    }
    for (wid, workspace) in &change.workspaces {
        let path = pointer::join("/servers", wid);
        out.push(Written {
            value: as_repository_holds(&path, workspace.clone(), change),
            path,
            op: "import",
        });
    }
    Ok(out)
}

/// The value an `add` or `replace` op writes (`null` when it names none).
fn value_of(op: &Value) -> Value {
    op.get("value").cloned().unwrap_or(Value::Null)
}

/// Checks that `change` sends only what `desired` (the plan's commit rendered again, without
/// credentials, the platform's material and ignored paths) holds, and describes what it sends.
///
/// # Errors
/// The first place where the file sends something else, in words.
pub(crate) fn check(change: &SavedChange, desired: &Value) -> Result<(), String> {
    for w in written(change)? {
        let shown = crate::diagnostic::pointer_text(&w.path);
        let holds = w.value.as_ref() == desired.pointer(&w.path);
        match w.op {
            "import" if !holds => {
                let wid = pointer::parse(&w.path)
                    .ok()
                    .and_then(|keys| keys.last().cloned())
                    .unwrap_or_default();
                return Err(format!(
                    "it creates workspace {} other than the plan's commit has it",
                    crate::diagnostic::quoted(&wid)
                ));
            }
            "import" => {}
            "remove" if !holds => {
                return Err(format!(
                    "its patch removes {shown}, which the plan's commit holds"
                ))
            }
            "remove" => {
                if !described(&change.changes, &w.path, |c| c.kind == ChangeKind::Remove) {
                    return Err(format!(
                        "its patch removes {shown}, which its changes do not show as removed"
                    ));
                }
            }
            _ if !holds => {
                return Err(format!(
                    "its patch writes at {shown} what the plan's commit does not hold there"
                ))
            }
            kind => {
                if !described(&change.changes, &w.path, |c| c.kind != ChangeKind::Remove) {
                    return Err(format!(
                        "its patch writes at {shown} ({kind}), which its changes do not show"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `value`, put at `path` of an otherwise empty tenant with the workspaces `change` imports
/// under it (they are sent after the patch), as the repository's tree holds it there: without
/// the credential fields (the desired tree keeps `secret()` markers apart), so that a marker in
/// a credential field compares equal and a marker anywhere else does not.
fn as_repository_holds(path: &str, value: Value, change: &SavedChange) -> Option<Value> {
    let Ok(tokens) = pointer::parse(path) else {
        return None;
    };
    let mut tree = Value::Object(Map::new());
    crate::apply::put(&mut tree, &tokens, Some(value));
    for (wid, workspace) in &change.workspaces {
        let at = pointer::join("/servers", wid);
        if at == path || at.starts_with(&format!("{path}/")) || path.is_empty() {
            crate::apply::put(
                &mut tree,
                &["servers".to_owned(), wid.clone()],
                Some(workspace.clone()),
            );
        }
    }
    credentials::strip(&mut tree, Scope::Tenant);
    tree.pointer(path).cloned()
}

/// Whether a change of `changes` at `path`, or at a path above or below it, is `as_sent`.
fn described(changes: &[Change], path: &str, as_sent: impl Fn(&Change) -> bool) -> bool {
    let related = |c: &Change| {
        c.path == path
            || path.starts_with(&format!("{}/", c.path))
            || c.path.starts_with(&format!("{path}/"))
    };
    changes.iter().any(|c| related(c) && as_sent(c))
}

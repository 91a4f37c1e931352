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

/// Checks that `change` sends only what `desired` (the plan's commit rendered again, without
/// credentials, the platform's material and ignored paths) holds, and describes what it sends.
///
/// # Errors
/// The first place where the file sends something else, in words.
pub(crate) fn check(change: &SavedChange, desired: &Value) -> Result<(), String> {
    for op in &change.patch {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let shown = crate::diagnostic::pointer_text(path);
        match op.get("op").and_then(Value::as_str) {
            Some("test") => {}
            Some(kind @ ("add" | "replace")) => {
                let value = op.get("value").cloned().unwrap_or(Value::Null);
                if as_repository_holds(path, value, change).as_ref() != desired.pointer(path) {
                    return Err(format!(
                        "its patch writes at {shown} what the plan's commit does not hold there"
                    ));
                }
                if !described(&change.changes, path, |c| c.kind != ChangeKind::Remove) {
                    return Err(format!(
                        "its patch writes at {shown} ({kind}), which its changes do not show"
                    ));
                }
            }
            Some("remove") => {
                if desired.pointer(path).is_some() {
                    return Err(format!(
                        "its patch removes {shown}, which the plan's commit holds"
                    ));
                }
                if !described(&change.changes, path, |c| c.kind == ChangeKind::Remove) {
                    return Err(format!(
                        "its patch removes {shown}, which its changes do not show as removed"
                    ));
                }
            }
            other => {
                return Err(format!(
                    "its patch has an op ({}) promote never writes",
                    crate::diagnostic::quoted(other.unwrap_or("none"))
                ))
            }
        }
    }
    for (wid, workspace) in &change.workspaces {
        let path = pointer::join("/servers", wid);
        let held = as_repository_holds(&path, workspace.clone(), change);
        if held.as_ref() != desired.pointer(&path) {
            return Err(format!(
                "it creates workspace {} other than the plan's commit has it",
                crate::diagnostic::quoted(wid)
            ));
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

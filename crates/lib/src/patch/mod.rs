//! Patches between configuration trees: what `promote diff` prints and `promote apply` sends.
//!
//! The platform accepts two patch formats, and each is right some of the time:
//!
//! - RFC 7396 merge patches ([`merge`]) mirror the tree itself, so they are small and easy to
//!   review, but they cannot set `null` and they drop nulls nested in a new object.
//! - RFC 6902 op lists ([`ops`]) say anything, and can begin with `test` ops that make a patch
//!   computed from a stale baseline fail instead of corrupting the tenant.
//!
//! [`auto`] picks the merge patch whenever it reproduces the target exactly and falls back to
//! ops otherwise. [`three_way`] plans what to change from last-applied, desired and live trees;
//! [`mod@pointer`] builds and reads the JSON Pointers that name every path. Trees are
//! `serde_json::Value`s whose objects keep their keys sorted, so every output is deterministic.

pub(crate) mod merge;
pub(crate) mod ops;
pub use promote_platform::pointer;
pub mod three_way;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};

/// The wire format of a tenant patch, with its body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "format", content = "patch")]
pub enum Patch {
    /// An RFC 7396 merge document.
    #[serde(rename = "rfc7396")]
    Merge(Value),
    /// An RFC 6902 operation list.
    #[serde(rename = "rfc6902")]
    Ops(json_patch::Patch),
}

/// The two patch formats the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Format {
    /// RFC 7396 JSON merge patch.
    #[serde(rename = "rfc7396")]
    Merge7396,
    /// RFC 6902 JSON patch.
    #[serde(rename = "rfc6902")]
    Json6902,
}

/// Applying a patch failed; the document is left unchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PatchError {
    /// An RFC 6902 op failed (a `test` mismatch or a path that does not exist).
    #[error("RFC 6902 patch failed: {0}")]
    Ops(#[from] json_patch::PatchError),
}

/// The requested format cannot express the change exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an RFC 7396 merge patch cannot express this change exactly (it sets null, or sets an object holding nulls); use RFC 6902")]
pub struct NotExpressible;

impl Patch {
    /// The patch's format.
    pub(crate) fn format(&self) -> Format {
        match self {
            Patch::Merge(_) => Format::Merge7396,
            Patch::Ops(_) => Format::Json6902,
        }
    }

    /// Whether the patch changes nothing: no ops, or the merge body `{}` (a no-op on an object
    /// document; [`auto`] never returns `{}` for anything but a no-op).
    pub fn is_empty(&self) -> bool {
        match self {
            Patch::Merge(body) => body.as_object().is_some_and(Map::is_empty),
            Patch::Ops(ops) => ops.is_empty(),
        }
    }

    /// The request body to send.
    pub fn to_json(&self) -> Value {
        match self {
            Patch::Merge(body) => body.clone(),
            Patch::Ops(ops) => Value::Array(ops.iter().map(op_json).collect()),
        }
    }

    /// [`Patch::to_json`], without a copy of a merge document.
    pub fn into_json(self) -> Value {
        match self {
            Patch::Merge(body) => body,
            ops @ Patch::Ops(_) => ops.to_json(),
        }
    }

    /// Applies the patch to `doc` in place. A merge patch cannot fail; an RFC 6902 patch that
    /// fails leaves `doc` unchanged (`json_patch::patch` undoes the ops already applied).
    ///
    /// # Errors
    /// [`PatchError::Ops`] when an op fails: a `test` that does not match, or a path that does
    /// not exist.
    pub(crate) fn apply(&self, doc: &mut Value) -> Result<(), PatchError> {
        match self {
            Patch::Merge(body) => json_patch::merge(doc, body),
            Patch::Ops(ops) => json_patch::patch(doc, ops)?,
        }
        Ok(())
    }
}

/// One op as the JSON object RFC 6902 specifies, built by hand so it cannot fail.
fn op_json(op: &json_patch::PatchOperation) -> Value {
    use json_patch::PatchOperation as Op;
    let (name, value, from) = match op {
        Op::Add(op) => ("add", Some(&op.value), None),
        Op::Remove(_) => ("remove", None, None),
        Op::Replace(op) => ("replace", Some(&op.value), None),
        Op::Move(op) => ("move", None, Some(&op.from)),
        Op::Copy(op) => ("copy", None, Some(&op.from)),
        Op::Test(op) => ("test", Some(&op.value), None),
    };
    let mut map = Map::new();
    map.insert("op".into(), name.into());
    if let Some(from) = from {
        map.insert("from".into(), from.as_str().into());
    }
    map.insert("path".into(), op.path().as_str().into());
    if let Some(value) = value {
        map.insert("value".into(), value.clone());
    }
    Value::Object(map)
}

impl Format {
    /// The HTTP `Content-Type` of a patch body in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Merge7396 => "application/merge-patch+json",
            Format::Json6902 => "application/json-patch+json",
        }
    }

    /// The RFC number, as `promote diff --format` spells it: `7396` or `6902`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Merge7396 => "7396",
            Format::Json6902 => "6902",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RFC {}", self.as_str())
    }
}

/// A string that names no patch format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown patch format {0:?} (expected 7396 or 6902)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Accepts `7396`/`rfc7396`/`merge` and `6902`/`rfc6902`/`json-patch`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "7396" | "rfc7396" | "merge" => Ok(Format::Merge7396),
            "6902" | "rfc6902" | "json-patch" => Ok(Format::Json6902),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// Returns the smallest patch from `old` to `new`: RFC 7396 when it expresses the change
/// exactly, else RFC 6902 (with `test` ops when `with_tests`).
///
/// An empty patch always means "no change": identical object trees give `{}`, and the one
/// exact merge body that would look empty without being a no-op (`{}` turning a non-object
/// root into `{}`) is sent as ops instead.
pub fn auto(old: &Value, new: &Value, with_tests: bool) -> Patch {
    let merge = merge::diff(old, new);
    let looks_empty = merge.body.as_object().is_some_and(Map::is_empty);
    if merge.exact && (old.is_object() || !looks_empty) {
        Patch::Merge(merge.body)
    } else {
        Patch::Ops(ops::diff(old, new, with_tests))
    }
}

/// [`auto`], taking `new`: when both are objects and RFC 7396 says the change exactly (a plan's
/// patch, nearly always), the body is made of `new`'s values, not of copies.
pub fn auto_into(old: &Value, new: Value, with_tests: bool) -> Patch {
    match (old, new) {
        (Value::Object(was), Value::Object(now)) if merge::objects_exact(was, &now) => {
            let merge = merge::diff_objects_into(was, now);
            debug_assert!(merge.exact);
            Patch::Merge(merge.body)
        }
        (old, new) => auto(old, &new, with_tests),
    }
}

/// The patch from `old` to `new` in the given format, for `promote diff --format`.
///
/// # Errors
/// [`NotExpressible`] when RFC 7396 is asked for and cannot express the change exactly.
pub fn in_format(
    old: &Value,
    new: &Value,
    format: Format,
    with_tests: bool,
) -> Result<Patch, NotExpressible> {
    match format {
        Format::Json6902 => Ok(Patch::Ops(ops::diff(old, new, with_tests))),
        Format::Merge7396 => {
            let merge = merge::diff(old, new);
            if merge.exact {
                Ok(Patch::Merge(merge.body))
            } else {
                Err(NotExpressible)
            }
        }
    }
}

#[cfg(test)]
pub use promote_platform::arb;
#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;

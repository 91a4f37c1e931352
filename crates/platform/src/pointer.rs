//! JSON Pointers (RFC 6901): the path syntax of RFC 6902 ops and of every change in a plan.
//!
//! Configuration keys are IDs chosen by people and by the platform, so they may contain `/`
//! and `~` (and be empty). A pointer token escapes `~` as `~0` and `/` as `~1`; getting this
//! wrong silently addresses the wrong key, so all pointer building and reading in `promote`
//! goes through this module.

use std::borrow::Cow;

use serde_json::Value;

/// A string that is not a valid JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// A non-empty pointer must start with `/`.
    #[error("JSON pointer {0:?} must be empty or start with '/'")]
    NoLeadingSlash(String),
    /// `~` must be followed by `0` or `1`.
    #[error("JSON pointer {0:?} has a '~' not followed by '0' or '1'")]
    BadEscape(String),
}

/// Escapes one key as a pointer token: `~` becomes `~0`, `/` becomes `~1`.
pub fn escape(key: &str) -> Cow<'_, str> {
    // Bytes, not chars: every key of every walk comes through here, and both are ASCII.
    if key.bytes().any(|b| b == b'~' || b == b'/') {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// Unescapes one pointer token (the inverse of [`escape`]); `None` if a `~` is not followed by
/// `0` or `1`.
pub fn unescape(token: &str) -> Option<Cow<'_, str>> {
    if !token.contains('~') {
        return Some(Cow::Borrowed(token));
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(Cow::Owned(out))
}

/// The pointer to child `key` of the value at `parent` (`""` is the root).
pub fn join(parent: &str, key: &str) -> String {
    let key = escape(key);
    let mut out = String::with_capacity(parent.len() + 1 + key.len());
    out.push_str(parent);
    out.push('/');
    out.push_str(&key);
    out
}

/// Makes `at` the pointer to its child `key`, in place: for walks that keep one pointer and
/// truncate it back to its length before, instead of building one string per key.
pub fn push(at: &mut String, key: &str) {
    at.push('/');
    at.push_str(&escape(key));
}

/// The pointer made of `keys` (the inverse of [`parse`]).
pub fn from_keys<S: AsRef<str>>(keys: &[S]) -> String {
    keys.iter()
        .fold(String::new(), |acc, k| join(&acc, k.as_ref()))
}

/// Splits a pointer into its unescaped keys: `""` is the root (no keys), `"/"` is the empty key.
///
/// # Errors
/// [`PointerError`] when `ptr` is neither empty nor starts with `/`, or has a bad `~` escape.
pub fn parse(ptr: &str) -> Result<Vec<String>, PointerError> {
    Ok(tokens(ptr)?.into_iter().map(Cow::into_owned).collect())
}

/// Like [`parse`], borrowing from `ptr` the keys that have no escape: for walks along many
/// pointers, where most keys have none.
///
/// # Errors
/// As [`parse`].
pub fn tokens(ptr: &str) -> Result<Vec<Cow<'_, str>>, PointerError> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(PointerError::NoLeadingSlash(ptr.to_owned()));
    };
    // Room for the keys of most pointers of a tree at once (collecting through `Option` would
    // grow the list key by key).
    let mut keys = Vec::with_capacity(8);
    for token in rest.split('/') {
        keys.push(unescape(token).ok_or_else(|| PointerError::BadEscape(ptr.to_owned()))?);
    }
    Ok(keys)
}

/// The value at `ptr` in `doc`; `None` if the pointer is invalid or addresses nothing.
/// Array elements are addressed by decimal index without leading zeros (`/items/0`).
pub fn get<'a>(doc: &'a Value, ptr: &str) -> Option<&'a Value> {
    parse(ptr)
        .ok()?
        .iter()
        .try_fold(doc, |node, key| child(node, key))
}

/// Like [`get`], mutably.
pub fn get_mut<'a>(doc: &'a mut Value, ptr: &str) -> Option<&'a mut Value> {
    parse(ptr)
        .ok()?
        .iter()
        .try_fold(doc, |node, key| match node {
            Value::Object(map) => map.get_mut(key),
            Value::Array(items) => items.get_mut(array_index(key)?),
            _ => None,
        })
}

/// The child of `node` named by one unescaped `key` (an object key or an array index).
pub fn child<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(array_index(key)?),
        _ => None,
    }
}

/// RFC 6901 array index: `0` or a decimal number without a leading zero or sign.
fn array_index(key: &str) -> Option<usize> {
    let valid = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if valid {
        key.parse().ok()
    } else {
        None
    }
}

/// Converts a pointer built by this module into the `json_patch` path type; `None` if `ptr` is
/// not a valid pointer.
pub fn to_buf(ptr: &str) -> Option<json_patch::jsonptr::PointerBuf> {
    let keys = parse(ptr).ok()?;
    Some(json_patch::jsonptr::PointerBuf::from_tokens(keys))
}

#[cfg(test)]
#[path = "pointer_tests.rs"]
mod tests;

//! Trees of the platform's own shapes, generated from its model ([`crate::model::tenant`]):
//! every object type can appear, each optional field present or not, every value of its
//! field's shape (enum values from the spec's list, dates and durations as the platform writes
//! them), keyed by awkward IDs (dots, slashes, percent signs, spaces, unicode, leading dashes).
//!
//! What the model says is valid and the platform would store as written, so a round trip
//! through it can be compared exactly: no nulls (the platform drops a null field), no
//! read-only fields (it ignores them on writes), no credentials or platform-maintained material
//! (it generates them: see [`crate::credentials`], [`crate::material`]), and no reference
//! between entries (a random ID names nothing, which the platform refuses: see
//! [`crate::references`]). Fields where promote's tables and the model disagree are left out
//! too, each with its reason ([`DISAGREEMENTS`]).
//!
//! A tree is built from a list of choice bytes read in turn, so that proptest shrinks a failing
//! case by shrinking the bytes toward zero, which means smaller trees: byte 0 leaves a field
//! out and makes a collection empty. Depth and size are bounded so a case stays fast.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::credentials::{self, Scope};
use crate::model::{Model, Shape};
use crate::{material, model, pointer, references};

/// How many object levels a tree has at most (the tenant is level 0).
const MAX_DEPTH: usize = 9;

/// How many values a tree has at most, for speed.
const MAX_VALUES: usize = 400;

/// How many fields of an object are present, about, when it has many.
const FIELDS_PER_OBJECT: usize = 8;

/// Fields left out of generated trees, as (type, field, reason): where promote's tables and
/// the model disagree, so that a tree holding the field as the model has it is refused today.
pub const DISAGREEMENTS: &[(&str, &str, &str)] = &[(
    "TreeServer",
    "policy_execution_points",
    "the model has a map of policy IDs (`server_user_token: a-policy`); promote's references, \
     the emulator's checks and the example hold entries `{policy_id: a-policy}` \
     (tree::INLINE_WORKSPACE_COLLECTIONS, references::REFERENCES)",
)];

/// IDs a user or the platform might choose that are awkward for files, pointers and URLs.
pub const AWKWARD_IDS: &[&str] = &[
    "a",
    "web.app",
    "a/b",
    "50%",
    "with space",
    "-leading-dash",
    "ünïcødé",
    "日本",
    "~tilde",
    "UPPER",
    "0",
    "x.y.z",
];

/// Texts that exercise YAML and Tera quoting.
const AWKWARD_TEXTS: &[&str] = &[
    "",
    "plain",
    "yes",
    "~",
    "1.5",
    " leading space",
    "a\nb\n",
    "# not a comment",
    "'quoted'",
    "{{ not a template }}",
    "{% raw %}",
    "ü",
];

/// Tenant trees of the platform's shapes, from the embedded model.
pub fn tenant() -> impl Strategy<Value = Value> {
    prop::collection::vec(any::<u8>(), 16..1024).prop_map(|bytes| build(model::tenant(), &bytes))
}

/// The tenant tree the choice `bytes` make of `model` (see the module's documentation).
pub fn build(model: &Model, bytes: &[u8]) -> Value {
    let mut tree = unstripped(model, bytes);
    credentials::strip(&mut tree, Scope::Tenant);
    material::strip(&mut tree, Scope::Tenant);
    drop_references(&mut tree);
    tree
}

/// The tree `bytes` make, credentials, material and references included.
fn unstripped(model: &Model, bytes: &[u8]) -> Value {
    let mut g = Gen {
        model,
        bytes,
        at: 0,
        values: 0,
    };
    g.object(&model.root, 0)
}

struct Gen<'a> {
    model: &'a Model,
    bytes: &'a [u8],
    at: usize,
    values: usize,
}

impl Gen<'_> {
    /// The next choice: the bytes in turn, then zeros (the smallest choice) once they run out.
    fn next(&mut self) -> u8 {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.next()) % from.len()]
    }

    fn object(&mut self, ty: &str, depth: usize) -> Value {
        let mut map = Map::new();
        let fields = self.model.fields(ty);
        if depth > MAX_DEPTH {
            return Value::Object(map);
        }
        // A field is present with odds of FIELDS_PER_OBJECT in its object's field count, three
        // times that for a field of objects (so that every type is reached); byte 0 leaves it
        // out.
        let odds = FIELDS_PER_OBJECT * 256 / fields.len().max(1);
        for (name, shape) in fields {
            let disagreed = DISAGREEMENTS.iter().any(|(t, f, _)| *t == ty && f == name);
            if disagreed || self.model.is_read_only(ty, name) || self.values >= MAX_VALUES {
                continue;
            }
            let nested = matches!(shape, Shape::Object(_))
                || matches!(shape, Shape::Array(s) | Shape::Map(s) if matches!(**s, Shape::Object(_)));
            let odds = if nested { odds * 3 } else { odds };
            let byte = usize::from(self.next());
            if byte == 0 || byte > odds {
                continue;
            }
            let value = self.value(shape, depth);
            map.insert(name.clone(), value);
        }
        Value::Object(map)
    }

    fn value(&mut self, shape: &Shape, depth: usize) -> Value {
        self.values += 1;
        match shape {
            Shape::Any => match self.next() % 4 {
                0 => json!(self.pick(AWKWARD_TEXTS)),
                1 => json!(i64::from(self.next())),
                2 => json!([true, "x"]),
                _ => json!({"a": {"b": [1, "c"]}}),
            },
            Shape::Boolean => json!(self.next() % 2 == 1),
            Shape::Integer { unsigned: true } => json!(u64::from(self.next()) * 1000),
            Shape::Integer { unsigned: false } => json!(i64::from(self.next()) - 100),
            Shape::Number => json!(f64::from(self.next()) / 4.0 - 10.0),
            Shape::String { format, values } => {
                if !values.is_empty() {
                    let i = usize::from(self.next()) % values.len();
                    return json!(values[i]);
                }
                match format.as_deref() {
                    Some("date-time") => json!("2026-12-05T10:11:12Z"),
                    Some("duration") => json!(self.pick(&["10m0s", "1h0m0s", "720h0m0s"])),
                    _ => json!(self.pick(AWKWARD_TEXTS)),
                }
            }
            Shape::Array(items) => {
                let n = self.next() % 3;
                Value::Array((0..n).map(|_| self.value(items, depth)).collect())
            }
            Shape::Map(values) => {
                let n = self.next() % 3;
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.pick(AWKWARD_IDS).to_owned();
                    let value = self.value(values, depth);
                    map.insert(key, value);
                }
                Value::Object(map)
            }
            Shape::Object(ty) => self.object(ty, depth + 1),
        }
    }
}

/// Removes every reference between entries ([`references::places`]) from the workspaces of
/// `tree`.
fn drop_references(tree: &mut Value) {
    let Some(Value::Object(servers)) = tree.get_mut("servers") else {
        return;
    };
    for ws in servers.values_mut() {
        for place in references::places() {
            let path: Vec<&str> = place.path.iter().map(String::as_str).collect();
            remove_at(ws, &path);
        }
    }
}

fn remove_at(value: &mut Value, path: &[&str]) {
    let Value::Object(map) = value else { return };
    match path {
        [] => {}
        [last] if *last == "*" => map.clear(),
        [last] => {
            map.remove(*last);
        }
        [first, rest @ ..] if *first == "*" => map.values_mut().for_each(|v| remove_at(v, rest)),
        [first, rest @ ..] => {
            if let Some(v) = map.get_mut(*first) {
                remove_at(v, rest);
            }
        }
    }
}

/// The pointers of every value of `tree`, for tests that look for what a round trip lost.
pub fn pointers(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(v, pointer::join(&at, k), out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }
    walk(tree, String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode;
    use std::collections::BTreeSet;

    fn types_in(model: &Model, tree: &Value, out: &mut BTreeSet<String>) {
        fn walk(model: &Model, shape: &Shape, v: &Value, out: &mut BTreeSet<String>) {
            match (shape, v) {
                (Shape::Object(ty), Value::Object(m)) => {
                    out.insert(ty.clone());
                    for (k, v) in m {
                        if let Some((_, s)) = model.field(ty, k) {
                            walk(model, s, v, out);
                        }
                    }
                }
                (Shape::Array(s), Value::Array(items)) => {
                    items.iter().for_each(|v| walk(model, s, v, out))
                }
                (Shape::Map(s), Value::Object(m)) => {
                    m.values().for_each(|v| walk(model, s, v, out))
                }
                _ => {}
            }
        }
        walk(model, &Shape::Object(model.root.clone()), tree, out);
    }

    proptest! {
        #![proptest_config(crate::arb::config())]

        #[test]
        fn generated_trees_are_what_the_model_calls_clean(tree in tenant()) {
            let found = decode(model::tenant(), &tree);
            prop_assert!(found.is_clean(), "{found:?}");
        }
    }

    /// Every object type appears in 1,500 trees (before credentials and material,
    /// which hold some types of their own, are taken out).
    #[test]
    fn many_cases_reach_every_object_type() {
        let model = model::tenant();
        let mut seen = BTreeSet::new();
        // Deterministic bytes: a simple linear congruential sequence per case.
        for case in 0u32..1500 {
            let mut x = case.wrapping_mul(2_654_435_761).wrapping_add(1);
            let bytes: Vec<u8> = (0..1024)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            types_in(model, &unstripped(model, &bytes), &mut seen);
        }
        let missing: Vec<_> = model.types.keys().filter(|t| !seen.contains(*t)).collect();
        assert!(missing.is_empty(), "types that never appear: {missing:?}");
    }

    #[test]
    fn no_bytes_make_an_empty_tenant() {
        assert_eq!(build(model::tenant(), &[]), json!({}));
    }
}

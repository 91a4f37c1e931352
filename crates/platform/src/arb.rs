//! Proptest strategies for configuration-like JSON trees, shared by the patch tests.
//!
//! Keys come from a small awkward alphabet (`~`, `/`, empty, escapes, unicode, index-like
//! keys) so that independently generated trees overlap, and [`related`] derives several trees
//! from one base by random edits so that three-way cases (same path changed on two sides)
//! are common rather than rare. [`typed`] generates trees of the platform's own shapes instead,
//! from its model.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

pub mod typed;

/// Proptest settings for the patch properties: moderate, the build machine is shared.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Keys that exercise pointer escaping and array-like names.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "~", "/", "", "~1", "a/b", "é", "0", "-", "日本"])
            .prop_map(str::to_owned),
        1 => "[a-c~/0]{0,3}",
    ]
}

/// Scalars, null included.
pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        Just(json!(1.5)),
        prop::sample::select(vec!["", "x", "null", "ü", "~0"]).prop_map(Value::from),
    ]
}

/// Trees of objects (up to 4 levels) with arrays and nulls among the leaves.
pub fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            4 => prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Trees whose root is an object, as tenant trees are.
pub fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), tree(), 0..5)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// Edits `base` by the choices in `bytes` (cycled), drawing new values from `pool`.
pub fn mutate(base: &Value, bytes: &[u8], pool: &[Value]) -> Value {
    let mut edits = Edits { bytes, pool, at: 0 };
    edits.value(base)
}

struct Edits<'a> {
    bytes: &'a [u8],
    pool: &'a [Value],
    at: usize,
}

impl Edits<'_> {
    fn next(&mut self) -> u8 {
        let byte = self
            .bytes
            .get(self.at % self.bytes.len().max(1))
            .copied()
            .unwrap_or(255);
        self.at += 1;
        byte
    }

    fn pick(&mut self) -> Value {
        let i = usize::from(self.next());
        self.pool
            .get(i % self.pool.len().max(1))
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(self.object(map)),
            _ if self.next().is_multiple_of(6) => self.pick(),
            _ => value.clone(),
        }
    }

    fn object(&mut self, map: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in map {
            match self.next() % 8 {
                0 => {}
                1 => {
                    out.insert(key.clone(), self.pick());
                }
                2 => {
                    out.insert(key.clone(), Value::Null);
                }
                _ => {
                    out.insert(key.clone(), self.value(value));
                }
            }
        }
        if self.next().is_multiple_of(4) {
            let keys = ["a", "b", "~", "/", "", "new"];
            let key = keys[usize::from(self.next()) % keys.len()];
            let value = self.pick();
            out.insert(key.to_owned(), value);
        }
        out
    }
}

/// `n` object trees derived from one random base by independent random edits.
pub fn related(n: usize) -> impl Strategy<Value = Vec<Value>> {
    (
        object(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..48), n),
        prop::collection::vec(tree(), 1..5),
    )
        .prop_map(|(base, edits, pool)| {
            edits
                .iter()
                .map(|bytes| mutate(&base, bytes, &pool))
                .collect()
        })
}

/// A pair `(old, new)`: related object trees, or arbitrary trees (any root type) now and then.
pub fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        4 => related(2).prop_map(|v| (v[0].clone(), v[1].clone())),
        1 => (tree(), tree()),
        1 => tree().prop_map(|v| (v.clone(), v)),
    ]
}

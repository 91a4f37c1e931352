//! Patch generation: for two JSON trees `old` and `new`, the patches promote computes turn `old`
//! into `new`. The properties are the proptests of src/patch/{mod,ops,merge}_tests.rs, on trees
//! drawn from fuzz bytes (related pairs, where `new` is an edit of `old`, most of the time).
//!
//! - `patch::auto(old, new, with_tests)` applied to `old` gives `new`, for both `with_tests`;
//!   it is empty iff `old == new`; its wire form (`to_json`) means the same thing; it is a merge
//!   patch iff the merge diff is exact (and not the `{}` look-alike of a non-object root);
//! - `patch::ops::diff` applied gives `new`; tests lead, one per replace/remove, each asserting
//!   the old value; every op's parent is an object of `old`; a guarded patch applied to a tree
//!   that changed at a tested path fails and leaves it unchanged (atomic and unsafe apply);
//! - `patch::merge::diff`: `exact` iff merging the body into `old` gives `new`; exact whenever
//!   `new` holds no null (except the `{}` no-op on a non-object); the body is minimal.

#![no_main]

#[path = "common/json.rs"]
mod json;

use arbitrary::{Arbitrary, Result, Unstructured};
use json_patch::PatchOperation;
use libfuzzer_sys::fuzz_target;
use promote_lib::patch::{self, merge, ops, pointer, Format};
use serde_json::{json, Value};

#[derive(Debug)]
struct Input {
    old: Value,
    new: Value,
    /// Which test op of the guarded patch to invalidate.
    pick: usize,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let (old, new) = match u.int_in_range(0u8..=5)? {
            0..=3 => {
                let old = json::object(u)?;
                let new = json::mutate(u, &old)?;
                (old, new)
            }
            4 => (json::value(u)?, json::value(u)?),
            _ => {
                let v = json::value(u)?;
                (v.clone(), v)
            }
        };
        let (old, new) = if u.arbitrary()? { (new, old) } else { (old, new) };
        Ok(Input {
            old,
            new,
            pick: u.arbitrary()?,
        })
    }
}

fn contains_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().any(contains_null),
        Value::Array(items) => items.iter().any(contains_null),
        _ => false,
    }
}

fn merged(old: &Value, body: &Value) -> Value {
    let mut doc = old.clone();
    json_patch::merge(&mut doc, body);
    doc
}

fn assert_minimal(old: &Value, new: &Value, body: &Value) {
    let (Value::Object(old), Value::Object(new), Value::Object(body)) = (old, new, body) else {
        return;
    };
    for key in old.keys().chain(new.keys()) {
        let (was, now) = (old.get(key), new.get(key));
        assert_eq!(body.contains_key(key), was != now, "merge body minimal at key {key:?}");
        match (was, now, body.get(key)) {
            (Some(w @ Value::Object(_)), Some(n @ Value::Object(_)), Some(b)) => {
                assert_minimal(w, n, b)
            }
            (_, None, Some(b)) => assert_eq!(b, &Value::Null),
            (_, Some(n), Some(b)) => assert_eq!(b, n),
            _ => {}
        }
    }
}

fn check_auto(old: &Value, new: &Value) {
    for with_tests in [false, true] {
        let patch = patch::auto(old, new, with_tests);
        let mut doc = old.clone();
        patch
            .apply(&mut doc)
            .unwrap_or_else(|e| panic!("auto patch fails on its own old tree: {e}\npatch: {}", patch.to_json()));
        assert_eq!(&doc, new, "auto patch gives the wrong tree\npatch: {}", patch.to_json());
        assert_eq!(patch.is_empty(), old == new, "is_empty\npatch: {}", patch.to_json());
        let mut wire = old.clone();
        match patch.format() {
            Format::Merge7396 => json_patch::merge(&mut wire, &patch.to_json()),
            Format::Json6902 => {
                let ops: json_patch::Patch = serde_json::from_value(patch.to_json())
                    .unwrap_or_else(|e| panic!("wire ops do not parse: {e}\n{}", patch.to_json()));
                json_patch::patch(&mut wire, &ops)
                    .unwrap_or_else(|e| panic!("wire ops fail: {e}\n{}", patch.to_json()));
            }
        }
        assert_eq!(&wire, new, "wire form gives the wrong tree\npatch: {}", patch.to_json());
    }
    let patch = patch::auto(old, new, false);
    let m = merge::diff(old, new);
    let lookalike = m.body == json!({}) && !old.is_object();
    assert_eq!(
        patch.format() == Format::Merge7396,
        m.exact && !lookalike,
        "auto picks merge iff exact"
    );
}

fn is_test(op: &PatchOperation) -> bool {
    matches!(op, PatchOperation::Test(_))
}

fn check_ops(old: &Value, new: &Value, pick: usize) {
    for with_tests in [false, true] {
        let p = ops::diff(old, new, with_tests);
        let mut doc = old.clone();
        json_patch::patch(&mut doc, &p).unwrap_or_else(|e| panic!("ops fail on old: {e}"));
        assert_eq!(&doc, new, "ops give the wrong tree");
    }
    let p = ops::diff(old, new, true);
    let tests = p.iter().take_while(|op| is_test(op)).count();
    assert!(p[tests..].iter().all(|op| !is_test(op)), "tests lead");
    let guarded = p
        .iter()
        .filter(|op| matches!(op, PatchOperation::Replace(_) | PatchOperation::Remove(_)))
        .count();
    assert_eq!(tests, guarded, "one test per replace/remove");
    assert_eq!(p.is_empty(), old == new, "empty iff no change");
    for op in p.iter() {
        let path = op.path().as_str();
        if let PatchOperation::Test(test) = op {
            assert_eq!(pointer::get(old, path), Some(&test.value), "test asserts old at {path}");
        }
        if let Some((parent, _)) = op.path().split_back() {
            assert!(
                pointer::get(old, parent.as_str()).is_some_and(Value::is_object),
                "op parent is an object of old: {path}"
            );
        }
    }
    let tested: Vec<_> = p
        .iter()
        .filter_map(|op| match op {
            PatchOperation::Test(t) => Some(t),
            _ => None,
        })
        .collect();
    if tested.is_empty() {
        return;
    }
    let test = tested[pick % tested.len()];
    let mut moved = old.clone();
    *pointer::get_mut(&mut moved, test.path.as_str()).expect("tested path exists") =
        json!({"moved": test.value.clone()});
    for atomic in [true, false] {
        let mut doc = moved.clone();
        let result = if atomic {
            json_patch::patch(&mut doc, &p)
        } else {
            json_patch::patch_unsafe(&mut doc, &p)
        };
        assert!(result.is_err(), "guarded patch applies to a moved tree (atomic={atomic})");
        assert_eq!(doc, moved, "failed guarded patch changed the tree (atomic={atomic})");
    }
}

fn check_merge(old: &Value, new: &Value) {
    let m = merge::diff(old, new);
    assert_eq!(merged(old, &m.body) == *new, m.exact, "exact iff merge reproduces; body {}", m.body);
    if !contains_null(new) && (old.is_object() || old != new) {
        assert!(m.exact, "exact without nulls; body {}", m.body);
    }
    let empty = json!({});
    assert_eq!(
        m.body == empty,
        old == new || (*new == empty && !old.is_object()),
        "body is {{}} iff no change; body {}",
        m.body
    );
    assert_minimal(old, new, &m.body);
    // The forced formats agree with auto.
    match patch::in_format(old, new, Format::Merge7396, false) {
        Ok(p) => assert_eq!(merged(old, &p.to_json()), *new, "forced merge patch"),
        Err(_) => assert!(!m.exact),
    }
}

fuzz_target!(|input: Input| {
    let Input { old, new, pick } = input;
    check_auto(&old, &new);
    check_ops(&old, &new, pick);
    check_merge(&old, &new);
});

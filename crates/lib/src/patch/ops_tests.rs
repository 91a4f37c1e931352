#![allow(clippy::unwrap_used)]

use json_patch::PatchOperation;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::patch::{arb, pointer};

fn ops_json(patch: &Patch) -> Value {
    serde_json::to_value(patch).unwrap()
}

#[test]
fn table() {
    // (old, new, ops without tests, ops with tests)
    let cases = [
        (json!({"a": 1}), json!({"a": 1}), json!([]), json!([])),
        (json!(1), json!(1), json!([]), json!([])),
        (
            json!({"a": 1, "b": 2, "d": {"x": 1}}),
            json!({"b": 3, "c": null, "d": {"x": 1}}),
            json!([
                {"op": "remove", "path": "/a"},
                {"op": "replace", "path": "/b", "value": 3},
                {"op": "add", "path": "/c", "value": null},
            ]),
            json!([
                {"op": "test", "path": "/a", "value": 1},
                {"op": "test", "path": "/b", "value": 2},
                {"op": "remove", "path": "/a"},
                {"op": "replace", "path": "/b", "value": 3},
                {"op": "add", "path": "/c", "value": null},
            ]),
        ),
        (
            json!({"x/y": {"~": [1, 2], "": 0}}),
            json!({"x/y": {"~": [1, 2, 3], "": 0}}),
            json!([{"op": "replace", "path": "/x~1y/~0", "value": [1, 2, 3]}]),
            json!([
                {"op": "test", "path": "/x~1y/~0", "value": [1, 2]},
                {"op": "replace", "path": "/x~1y/~0", "value": [1, 2, 3]},
            ]),
        ),
        (
            json!({"": {"a": 1}}),
            json!({"": {"b": null}}),
            json!([{"op": "remove", "path": "//a"}, {"op": "add", "path": "//b", "value": null}]),
            json!([
                {"op": "test", "path": "//a", "value": 1},
                {"op": "remove", "path": "//a"},
                {"op": "add", "path": "//b", "value": null},
            ]),
        ),
        (
            json!({"a": {"b": 1}}),
            json!({"a": "flat"}),
            json!([{"op": "replace", "path": "/a", "value": "flat"}]),
            json!([
                {"op": "test", "path": "/a", "value": {"b": 1}},
                {"op": "replace", "path": "/a", "value": "flat"},
            ]),
        ),
        (
            json!([1]),
            json!({"a": 1}),
            json!([{"op": "replace", "path": "", "value": {"a": 1}}]),
            json!([
                {"op": "test", "path": "", "value": [1]},
                {"op": "replace", "path": "", "value": {"a": 1}},
            ]),
        ),
    ];
    for (old, new, plain, tested) in cases {
        for (with_tests, want) in [(false, plain), (true, tested)] {
            let patch = diff(&old, &new, with_tests);
            assert_eq!(ops_json(&patch), want, "{old} -> {new}, tests {with_tests}");
            let mut doc = old.clone();
            json_patch::patch(&mut doc, &patch).unwrap();
            assert_eq!(doc, new);
        }
    }
}

/// A stale baseline: the tenant changed at a tested path after the patch was computed.
#[test]
fn stale_baseline_fails_before_changing_anything() {
    let old = json!({"a": 1, "b": 2, "c": {"d": 3}});
    let new = json!({"a": 5, "c": {"d": 4}, "e": 6});
    let patch = diff(&old, &new, true);
    let mut live = json!({"a": 1, "b": 2, "c": {"d": 99}});
    let before = live.clone();
    let err = json_patch::patch_unsafe(&mut live, &patch).unwrap_err();
    assert!(
        matches!(err.kind, json_patch::PatchErrorKind::TestFailed),
        "{err}"
    );
    assert_eq!(live, before);
}

fn is_test(op: &PatchOperation) -> bool {
    matches!(op, PatchOperation::Test(_))
}

proptest! {
    #![proptest_config(arb::config())]

    #[test]
    fn applying_gives_new((old, new) in arb::pair()) {
        for with_tests in [false, true] {
            let patch = diff(&old, &new, with_tests);
            let mut doc = old.clone();
            json_patch::patch(&mut doc, &patch).unwrap();
            prop_assert_eq!(&doc, &new);
        }
    }

    /// Tests lead, one per replace/remove on the old value; no op addresses an array
    /// element; with no change there is no op at all.
    #[test]
    fn shape((old, new) in arb::pair()) {
        let patch = diff(&old, &new, true);
        let tests = patch.iter().take_while(|op| is_test(op)).count();
        prop_assert!(patch[tests..].iter().all(|op| !is_test(op)));
        let guarded = patch.iter().filter(|op| matches!(op, PatchOperation::Replace(_) | PatchOperation::Remove(_))).count();
        prop_assert_eq!(tests, guarded);
        prop_assert_eq!(patch.is_empty(), old == new);
        for op in patch.iter() {
            let path = op.path().as_str();
            if let PatchOperation::Test(test) = op {
                prop_assert_eq!(pointer::get(&old, path), Some(&test.value));
            }
            if let Some((parent, _)) = op.path().split_back() {
                prop_assert!(pointer::get(&old, parent.as_str()).is_some_and(Value::is_object), "{}", path);
            }
        }
    }

    /// A guarded patch applied to a tree that moved at a tested path fails and leaves the
    /// tree as it was, even with the non-atomic `patch_unsafe`: the tests come first.
    #[test]
    fn guarded_patch_refuses_moved_tree((old, new) in arb::pair(), pick in any::<prop::sample::Index>()) {
        let patch = diff(&old, &new, true);
        let tested: Vec<_> = patch.iter().filter_map(|op| match op {
            PatchOperation::Test(test) => Some(test),
            _ => None,
        }).collect();
        if tested.is_empty() {
            return Ok(());
        }
        let test = tested[pick.index(tested.len())];
        let mut moved = old.clone();
        *pointer::get_mut(&mut moved, test.path.as_str()).unwrap() = json!({"moved": test.value.clone()});
        for atomic in [true, false] {
            let mut doc = moved.clone();
            let result = if atomic { json_patch::patch(&mut doc, &patch) } else { json_patch::patch_unsafe(&mut doc, &patch) };
            prop_assert!(result.is_err());
            prop_assert_eq!(&doc, &moved);
        }
    }

    /// The merge of sorted keys gives what collecting, sorting and looking up both sides gave.
    #[test]
    fn union_is_the_sorted_keys_of_both((old, new) in arb::pair()) {
        let (Value::Object(old), Value::Object(new)) = (old, new) else {
            return Ok(());
        };
        let mut keys: Vec<&str> = old.keys().chain(new.keys()).map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let before: Vec<_> = keys.into_iter().map(|k| (k, (old.get(k), new.get(k)))).collect();
        prop_assert_eq!(union(&old, &new).collect::<Vec<_>>(), before);
    }
}

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::patch::arb;

fn merged(old: &Value, body: &Value) -> Value {
    let mut doc = old.clone();
    json_patch::merge(&mut doc, body);
    doc
}

/// The design's example: a client's arrays change and another client is deleted.
#[test]
fn design_example() {
    let old = json!({
        "name": "acme",
        "clients": {
            "sample-client-id": {"name": "Sample", "response_types": ["code"], "scopes": ["email"]},
            "demo-client-id": {"name": "Demo", "scopes": []},
        },
    });
    let new = json!({
        "name": "acme",
        "clients": {
            "sample-client-id": {
                "name": "Sample",
                "response_types": ["code", "token", "id_token"],
                "scopes": ["email", "profile"],
            },
        },
    });
    let patch = diff(&old, &new);
    let want = r#"{"clients":{"demo-client-id":null,"sample-client-id":{"response_types":["code","token","id_token"],"scopes":["email","profile"]}}}"#;
    assert_eq!(patch.body, serde_json::from_str::<Value>(want).unwrap());
    assert!(patch.exact);
    assert_eq!(merged(&old, &patch.body), new);
}

#[test]
fn table() {
    // (old, new, body, exact)
    let cases = [
        (json!({}), json!({}), json!({}), true),
        (
            json!({"a": {"b": 1}}),
            json!({"a": {"b": 1}}),
            json!({}),
            true,
        ),
        (
            json!({"a": 1, "b": 2}),
            json!({"a": 1, "b": 3}),
            json!({"b": 3}),
            true,
        ),
        (json!({"a": 1}), json!({}), json!({"a": null}), true),
        (json!({"a": null}), json!({}), json!({"a": null}), true),
        (json!({"a": null}), json!({"a": 1}), json!({"a": 1}), true),
        (
            json!({}),
            json!({"a": [1, null]}),
            json!({"a": [1, null]}),
            true,
        ),
        (
            json!({"a": {"x": 1, "y": 2}}),
            json!({"a": {"x": 1, "y": 3}}),
            json!({"a": {"y": 3}}),
            true,
        ),
        (
            json!({"a": {"b": 1}}),
            json!({"a": [1]}),
            json!({"a": [1]}),
            true,
        ),
        (
            json!({"a": 1}),
            json!({"a": {"b": {"c": 2}}}),
            json!({"a": {"b": {"c": 2}}}),
            true,
        ),
        (
            json!({"a": [{"b": 1}]}),
            json!({"a": [{"b": null}]}),
            json!({"a": [{"b": null}]}),
            true,
        ),
        // Setting null cannot be said.
        (
            json!({"a": 1}),
            json!({"a": null}),
            json!({"a": null}),
            false,
        ),
        (json!({}), json!({"a": null}), json!({"a": null}), false),
        (
            json!({"a": {"b": 1}}),
            json!({"a": {"b": null}}),
            json!({"a": {"b": null}}),
            false,
        ),
        // A whole new object holding a null loses the null on the way in.
        (
            json!({}),
            json!({"a": {"b": null}}),
            json!({"a": {"b": null}}),
            false,
        ),
        (
            json!({"a": 1}),
            json!({"a": {"b": {"c": null}}}),
            json!({"a": {"b": {"c": null}}}),
            false,
        ),
        // Roots that are not both objects.
        (json!(1), json!(2), json!(2), true),
        (json!({"a": 1}), json!(null), json!(null), true),
        (json!({"a": 1}), json!([1]), json!([1]), true),
        (json!(1), json!({"a": 1}), json!({"a": 1}), true),
        (json!([1]), json!({"a": null}), json!({"a": null}), false),
        (json!(1), json!(1), json!({}), false),
        (json!(null), json!(null), json!({}), false),
    ];
    for (old, new, body, exact) in cases {
        let patch = diff(&old, &new);
        assert_eq!(patch.body, body, "{old} -> {new}");
        assert_eq!(patch.exact, exact, "{old} -> {new}");
        assert_eq!(merged(&old, &patch.body) == new, exact, "{old} -> {new}");
    }
}

/// Between two objects the body names exactly the keys that differ, recursing where both
/// sides are objects.
fn assert_minimal(old: &Value, new: &Value, body: &Value) -> Result<(), TestCaseError> {
    let (Value::Object(old), Value::Object(new), Value::Object(body)) = (old, new, body) else {
        return Ok(());
    };
    for key in old.keys().chain(new.keys()) {
        let (was, now) = (old.get(key), new.get(key));
        prop_assert_eq!(body.contains_key(key), was != now, "key {:?}", key);
        match (was, now, body.get(key)) {
            (Some(w @ Value::Object(_)), Some(n @ Value::Object(_)), Some(b)) => {
                assert_minimal(w, n, b)?
            }
            (_, None, Some(b)) => prop_assert_eq!(b, &Value::Null),
            (_, Some(n), Some(b)) => prop_assert_eq!(b, n),
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(arb::config())]

    /// `exact` is precisely "merging the body into old gives new".
    #[test]
    fn exact_iff_merge_reproduces((old, new) in arb::pair()) {
        let patch = diff(&old, &new);
        prop_assert_eq!(merged(&old, &patch.body) == new, patch.exact, "body {}", patch.body);
    }

    /// Without nulls in new, the merge patch is always exact (except the `{}` no-op on a
    /// non-object, which would turn it into `{}`).
    #[test]
    fn exact_without_nulls((old, new) in arb::pair()) {
        if !holds_null(&new) && (old.is_object() || old != new) {
            prop_assert!(diff(&old, &new).exact);
        }
    }

    #[test]
    fn body_is_minimal((old, new) in arb::pair()) {
        let patch = diff(&old, &new);
        let empty = json!({});
        prop_assert_eq!(patch.body == empty, old == new || (new == empty && !old.is_object()));
        assert_minimal(&old, &new, &patch.body)?;
    }
}

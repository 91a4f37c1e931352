#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;

#[test]
fn auto_prefers_merge_when_exact() {
    let cases = [
        (json!({"a": 1}), json!({"a": 2}), Format::Merge7396),
        (json!({"a": 1}), json!({}), Format::Merge7396),
        (json!({"a": 1}), json!({"a": 1}), Format::Merge7396),
        (json!({"a": 1}), json!({"a": null}), Format::Json6902),
        (json!({}), json!({"a": {"b": null}}), Format::Json6902),
        (json!(1), json!(1), Format::Json6902),
        // `{}` is exact here, but an empty patch must mean "no change".
        (json!(1), json!({}), Format::Json6902),
    ];
    for (old, new, format) in cases {
        let patch = auto(&old, &new, true);
        assert_eq!(patch.format(), format, "{old} -> {new}");
        let mut doc = old.clone();
        patch.apply(&mut doc).unwrap();
        assert_eq!(doc, new);
    }
}

#[test]
fn fallback_carries_tests() {
    let patch = auto(&json!({"a": 1}), &json!({"a": null}), true);
    assert_eq!(
        patch.to_json(),
        json!([{"op": "test", "path": "/a", "value": 1}, {"op": "replace", "path": "/a", "value": null}])
    );
    let patch = auto(&json!({"a": 1}), &json!({"a": null}), false);
    assert_eq!(
        patch.to_json(),
        json!([{"op": "replace", "path": "/a", "value": null}])
    );
}

#[test]
fn is_empty() {
    assert!(Patch::Merge(json!({})).is_empty());
    assert!(!Patch::Merge(json!({"a": null})).is_empty());
    assert!(!Patch::Merge(json!(null)).is_empty());
    assert!(Patch::Ops(json_patch::Patch::default()).is_empty());
    assert!(auto(&json!({"a": [1]}), &json!({"a": [1]}), true).is_empty());
    assert!(auto(&json!("x"), &json!("x"), true).is_empty());
    assert!(!auto(&json!({"a": 1}), &json!({"a": null}), true).is_empty());
}

#[test]
fn to_json_and_serialize() {
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/a~1b", "value": 1},
        {"op": "add", "path": "/c", "value": [1]},
        {"op": "remove", "path": "/d"},
        {"op": "replace", "path": "", "value": {}},
        {"op": "move", "from": "/e", "path": "/f"},
        {"op": "copy", "from": "/g", "path": "/h"},
    ]))
    .unwrap();
    let patch = Patch::Ops(ops.clone());
    assert_eq!(patch.to_json(), serde_json::to_value(&ops).unwrap());
    assert_eq!(
        serde_json::to_value(Patch::Merge(json!({"a": null}))).unwrap(),
        json!({"format": "rfc7396", "patch": {"a": null}})
    );
    assert_eq!(
        serde_json::to_value(&patch).unwrap()["format"],
        json!("rfc6902")
    );
    assert_eq!(Patch::Merge(json!({"a": 1})).to_json(), json!({"a": 1}));
}

#[test]
fn failed_apply_leaves_doc_unchanged() {
    let patch = auto(&json!({"a": 1, "b": 1}), &json!({"a": null, "b": 2}), true);
    let mut doc = json!({"a": 1, "b": 7});
    let before = doc.clone();
    let err = patch.apply(&mut doc).unwrap_err();
    assert!(err.to_string().contains("/b"), "{err}");
    assert_eq!(doc, before);
}

#[test]
fn formats() {
    for (text, format) in [
        ("7396", Format::Merge7396),
        ("RFC7396", Format::Merge7396),
        ("merge", Format::Merge7396),
        ("6902", Format::Json6902),
        ("rfc6902", Format::Json6902),
        ("json-patch", Format::Json6902),
    ] {
        assert_eq!(text.parse::<Format>().unwrap(), format);
    }
    assert_eq!("auto".parse::<Format>(), Err(UnknownFormat("auto".into())));
    assert_eq!(Format::Merge7396.to_string(), "RFC 7396");
    assert_eq!(Format::Json6902.as_str(), "6902");
    assert_eq!(
        Format::Json6902.content_type(),
        "application/json-patch+json"
    );
    assert_eq!(
        Format::Merge7396.content_type(),
        "application/merge-patch+json"
    );
    assert_eq!(
        serde_json::to_value(Format::Json6902).unwrap(),
        json!("rfc6902")
    );
}

#[test]
fn forced_format() {
    let (old, new) = (json!({"a": 1}), json!({"a": null}));
    assert_eq!(
        in_format(&old, &new, Format::Merge7396, false),
        Err(NotExpressible)
    );
    let ops = in_format(&old, &new, Format::Json6902, false).unwrap();
    assert_eq!(ops.format(), Format::Json6902);
    let merge = in_format(&old, &json!({"a": 2}), Format::Merge7396, true).unwrap();
    assert_eq!(merge, Patch::Merge(json!({"a": 2})));
}

proptest! {
    #![proptest_config(arb::config())]

    #[test]
    fn auto_applies((old, new) in arb::pair()) {
        for with_tests in [false, true] {
            let patch = auto(&old, &new, with_tests);
            let mut doc = old.clone();
            patch.apply(&mut doc).unwrap();
            prop_assert_eq!(&doc, &new);
            prop_assert_eq!(patch.is_empty(), old == new);
            // The body on the wire means the same thing.
            let mut wire = old.clone();
            match patch.format() {
                Format::Merge7396 => json_patch::merge(&mut wire, &patch.to_json()),
                Format::Json6902 => {
                    let ops: json_patch::Patch = serde_json::from_value(patch.to_json()).unwrap();
                    json_patch::patch(&mut wire, &ops).unwrap();
                }
            }
            prop_assert_eq!(&wire, &new);
        }
    }

    #[test]
    fn the_patch_taking_new_is_the_patch_copying_it((old, new) in arb::pair()) {
        for with_tests in [false, true] {
            prop_assert_eq!(auto_into(&old, new.clone(), with_tests), auto(&old, &new, with_tests));
        }
        if let (Value::Object(was), Value::Object(now)) = (&old, &new) {
            prop_assert_eq!(merge::objects_exact(was, now), merge::diff(&old, &new).exact);
        }
    }

    #[test]
    fn merge_chosen_iff_exact((old, new) in arb::pair()) {
        let patch = auto(&old, &new, false);
        let merge = merge::diff(&old, &new);
        let no_op_lookalike = merge.body == json!({}) && !old.is_object();
        prop_assert_eq!(patch.format() == Format::Merge7396, merge.exact && !no_op_lookalike);
    }
}

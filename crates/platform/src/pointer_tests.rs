#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::arb;

#[test]
fn escape_and_unescape() {
    let cases = [
        ("plain", "plain"),
        ("", ""),
        ("a/b", "a~1b"),
        ("~", "~0"),
        ("~1", "~01"),
        ("/~", "~1~0"),
        ("é/日本", "é~1日本"),
    ];
    for (key, token) in cases {
        assert_eq!(escape(key), token, "escape {key:?}");
        assert_eq!(unescape(token).unwrap(), key, "unescape {token:?}");
    }
    for bad in ["~", "~2", "a~", "~~0"] {
        assert_eq!(unescape(bad), None, "{bad:?}");
    }
}

#[test]
fn join_escapes_the_key() {
    assert_eq!(join("", "a"), "/a");
    assert_eq!(join("", ""), "/");
    assert_eq!(join("/", ""), "//");
    assert_eq!(join("/clients", "a/b~c"), "/clients/a~1b~0c");
}

#[test]
fn parse_pointers() {
    let ok: [(&str, &[&str]); 5] = [
        ("", &[]),
        ("/", &[""]),
        ("//", &["", ""]),
        ("/a~1b/~0", &["a/b", "~"]),
        ("/~01", &["~1"]),
    ];
    for (ptr, keys) in ok {
        assert_eq!(parse(ptr).unwrap(), keys, "{ptr:?}");
    }
    assert_eq!(parse("a"), Err(PointerError::NoLeadingSlash("a".into())));
    assert_eq!(parse("/a/~"), Err(PointerError::BadEscape("/a/~".into())));
}

#[test]
fn get_objects_and_arrays() {
    let doc = json!({"a": {"b/c": [10, {"d": true}]}, "": 1, "o": {"0": "key"}});
    let cases: [(&str, Option<Value>); 10] = [
        ("", Some(doc.clone())),
        ("/", Some(json!(1))),
        ("/a/b~1c/0", Some(json!(10))),
        ("/a/b~1c/1/d", Some(json!(true))),
        ("/a/b~1c/2", None),
        ("/a/b~1c/01", None),
        ("/a/b~1c/-", None),
        ("/o/0", Some(json!("key"))),
        ("/missing", None),
        ("no-slash", None),
    ];
    for (ptr, want) in cases {
        assert_eq!(get(&doc, ptr).cloned(), want, "{ptr:?}");
    }
    let mut doc = doc;
    *get_mut(&mut doc, "/a/b~1c/1/d").unwrap() = json!(false);
    assert_eq!(doc["a"]["b/c"][1]["d"], json!(false));
}

#[test]
fn to_buf_matches_the_string() {
    for ptr in ["", "/", "/a~1b/~0", "/x/0"] {
        assert_eq!(to_buf(ptr).unwrap().as_str(), ptr);
    }
    assert_eq!(to_buf("x"), None);
}

/// Every (pointer, value) pair of a tree, through objects and arrays.
fn all_paths(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
    out.push((path.clone(), value.clone()));
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                all_paths(child, join(&path, key), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                all_paths(child, join(&path, &i.to_string()), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(arb::config())]

    #[test]
    fn escape_round_trips(keys in prop::collection::vec(arb::key(), 0..4)) {
        let ptr = from_keys(&keys);
        prop_assert_eq!(parse(&ptr).unwrap(), keys);
        let buf = to_buf(&ptr).unwrap();
        prop_assert_eq!(buf.as_str(), ptr.as_str());
    }

    #[test]
    fn get_finds_every_path(doc in arb::tree()) {
        let mut paths = Vec::new();
        all_paths(&doc, String::new(), &mut paths);
        for (ptr, value) in paths {
            prop_assert_eq!(get(&doc, &ptr), Some(&value));
            // serde_json agrees on every pointer this module builds.
            prop_assert_eq!(doc.pointer(&ptr), Some(&value));
        }
    }
}

//! Bounded JSON trees from fuzz bytes, shared by the fuzz targets.
//!
//! Keys come mostly from a small awkward alphabet (`~`, `/`, empty, pointer escapes, `..`, names
//! the layout treats specially) so that independently drawn trees overlap, with an arbitrary
//! string now and then. Trees are at most `MAX_DEPTH` deep and hold at most `MAX_NODES` values.

#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

pub const MAX_DEPTH: usize = 5;
pub const MAX_NODES: usize = 64;

/// Keys that exercise pointer escaping, file-name encoding and the layout's special names.
pub const KEYS: &[&str] = &[
    "a", "b", "c", "~", "/", "", "~0", "~1", "a/b", "é", "0", "-", "日本", "..", ".", ".git",
    "../../x", "<<", "<<:0", "<< ", "body", "definition", "name", "servers", "clients", "pools", "scripts",
    "policies", "claims", "id_token", "w", "x y", "100%", "null", "true", "1.5", "#", " x",
];

/// Strings a YAML writer or a patch has to be careful with.
pub const STRINGS: &[&str] = &[
    "", "x", "null", "~", "yes", "no", "1.5", "0x10", "1e3", " x", "x ", "a\nb\n", "a\nb", "#",
    "'q'", "\"q\"", "<<: x", "x\n<<: y\n", "? x", "--- |\n  x", "- a", ": x", "\t", "\u{85}", "\u{feff}", "~0", "ü",
    "@", "`", "|", ">", "&a", "*a", "!tag", "%YAML", "---", "...", "\r\n", "a\r\nb",
];

pub fn key(u: &mut Unstructured) -> Result<String> {
    if u.ratio(3u8, 4u8)? {
        Ok((*u.choose(KEYS)?).to_owned())
    } else {
        let s: String = u.arbitrary()?;
        Ok(s.chars().take(16).collect())
    }
}

pub fn string(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1u8, 2u8)? {
        Ok((*u.choose(STRINGS)?).to_owned())
    } else {
        let s: String = u.arbitrary()?;
        Ok(s.chars().take(40).collect())
    }
}

pub fn scalar(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.int_in_range(-3i64..=3)?),
        3 => Value::from(u.arbitrary::<i64>()?),
        4 => Value::from(u.arbitrary::<u64>()?),
        5 => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
        _ => Value::String(string(u)?),
    })
}

/// Any JSON value (any root type).
pub fn value(u: &mut Unstructured) -> Result<Value> {
    let mut budget = MAX_NODES;
    value_in(u, MAX_DEPTH, &mut budget)
}

/// A JSON object (tenant trees are objects).
pub fn object(u: &mut Unstructured) -> Result<Value> {
    let mut budget = MAX_NODES;
    Ok(Value::Object(map_in(u, MAX_DEPTH, &mut budget)?))
}

fn value_in(u: &mut Unstructured, depth: usize, budget: &mut usize) -> Result<Value> {
    if *budget == 0 || depth == 0 || u.is_empty() {
        return scalar(u);
    }
    *budget -= 1;
    Ok(match u.int_in_range(0u8..=7)? {
        0 => {
            let n = u.int_in_range(0usize..=3)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value_in(u, depth - 1, budget)?);
            }
            Value::Array(items)
        }
        1..=3 => Value::Object(map_in(u, depth - 1, budget)?),
        _ => scalar(u)?,
    })
}

fn map_in(u: &mut Unstructured, depth: usize, budget: &mut usize) -> Result<Map<String, Value>> {
    let n = u.int_in_range(0usize..=5)?;
    let mut map = Map::new();
    for _ in 0..n {
        if u.is_empty() {
            break;
        }
        let k = key(u)?;
        let v = value_in(u, depth, budget)?;
        map.insert(k, v);
    }
    Ok(map)
}

/// Edits `base` by choices drawn from `u`: drops keys, sets nulls, replaces values with new ones,
/// adds keys. Gives trees related to `base`, so that diffs are small and nested.
pub fn mutate(u: &mut Unstructured, base: &Value) -> Result<Value> {
    let mut budget = MAX_NODES;
    mutate_in(u, base, &mut budget)
}

fn mutate_in(u: &mut Unstructured, base: &Value, budget: &mut usize) -> Result<Value> {
    match base {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match u.int_in_range(0u8..=7)? {
                    0 => {}
                    1 => {
                        out.insert(k.clone(), value_in(u, 2, budget)?);
                    }
                    2 => {
                        out.insert(k.clone(), Value::Null);
                    }
                    _ => {
                        out.insert(k.clone(), mutate_in(u, v, budget)?);
                    }
                }
            }
            if u.ratio(1u8, 4u8)? {
                let k = key(u)?;
                let v = value_in(u, 2, budget)?;
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
        _ if u.ratio(1u8, 6u8)? => value_in(u, 2, budget),
        _ => Ok(base.clone()),
    }
}

//! A JSON baseline read against the desired tree: what both hold alike is never built.
//!
//! A plan against a directory baseline compares each tenant's desired tree with the tree in its
//! JSON file, and most of the two are alike: reading the whole file into a tree (every key and
//! string allocated, compared, then dropped) cost more than the rest of the comparison. [`read`]
//! reads the text against the desired tree instead, with serde_json's reader and its rules (the
//! last of two equal keys wins; numbers as [`Value`] makes them): a value equal to desired's at
//! the same place is compared as it is read and not built, and only what differs is.
//!
//! The keys whose values are equal on both sides are then taken out of the desired tree too.
//! Without a last-applied record (which a directory baseline never has) a plan of the two trees
//! left is the plan of the whole ones: the three-way walk ([`crate::patch::three_way`]) plans
//! nothing for a key both sides hold alike, a change is never below such a key (its parents
//! differ), and a collection both hold alike has no entry a plan could remove. What the plan
//! checks of the baseline's shape ([`crate::layout::shape_problem`]) is checked on what is left:
//! the parts taken out are desired's, which validation checked.
//!
//! Reading the text costs about what it did: serde_json's scanning, not the building, is most
//! of it (a reader of our own that compared plain strings itself and left the rest to
//! serde_json measured 2% more instructions for a plan, and was not kept); what is saved is
//! the building, the dropping and the comparing again of what is alike.
//!
//! A tenant of a pattern is read in place ([`read_in_place`]): desired is its pattern's
//! laid-out tree and the values of its holes ([`crate::render::filled`]), read through a
//! [`View`], and only what is left of it (what differs from the text, or is not in it) is
//! built; most of a fleet's tenant trees are never built whole.
//!
//! `PROMOTE_NO_CACHE=1` reads the whole file instead, and anything the reader refuses is read
//! again that way, for the same error.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use promote_platform::sorted::Ahead;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::render::filled::View;

/// serde_json's private key for a raw value in a map: its own reader treats a map whose first
/// key it is apart, so such a file is read the whole way.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The live tree read from `text` against `desired`, with the keys both hold alike taken out of
/// both: `desired` is left with what differs from the text or is not in it.
///
/// # Errors
/// serde_json's error for a text it cannot read; `desired` is then unchanged. The caller reads
/// the text the whole way for the error it reports (the same error, with its position).
pub(crate) fn read(text: &str, desired: &mut Value) -> Result<Value, serde_json::Error> {
    let read = read_against(text, View::whole(desired))?;
    Ok(match read {
        Read::Same => match desired {
            // Alike as a whole: nothing of either is left.
            Value::Object(map) => {
                map.clear();
                Value::Object(Map::new())
            }
            other => other.clone(),
        },
        Read::Differs(live, prune) => {
            if let Value::Object(map) = desired {
                prune.take_out(map);
            }
            live
        }
    })
}

/// The live tree read from `text` against `desired`, a tenant's tree read in place ([`View`]),
/// and what is left of desired: the keys both hold alike are taken out of both, and only what
/// is left of desired is built.
///
/// # Errors
/// As [`read`].
pub(crate) fn read_in_place(
    text: &str,
    desired: View<'_>,
) -> Result<(Value, Value), serde_json::Error> {
    Ok(match read_against(text, desired)? {
        Read::Same => match desired.value() {
            Value::Object(_) => (Value::Object(Map::new()), Value::Object(Map::new())),
            _ => {
                let value = desired.to_value().into_owned();
                (value.clone(), value)
            }
        },
        Read::Differs(live, prune) => match desired.value() {
            Value::Object(map) => (live, Value::Object(prune.left(desired, map))),
            _ => (live, desired.to_value().into_owned()),
        },
    })
}

/// Reads `text` against `desired`, the whole of it.
fn read_against<'de>(text: &'de str, desired: View<'_>) -> Result<Read<'de>, serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_str(text);
    let read = Against(Some(desired)).deserialize(&mut reader)?;
    reader.end()?;
    Ok(read)
}

/// A value of the text read against desired's at the same place.
enum Read<'de> {
    /// Equal to desired's: not built.
    Same,
    /// Different: the text's value, built without the keys it holds alike with desired's, and
    /// those keys, to take out of desired's.
    Differs(Value, Prune<'de>),
}

/// The keys to take out of one object of the desired tree: those alike on both sides, and the
/// objects below that are alike in part.
#[derive(Default)]
struct Prune<'de> {
    same: Vec<Cow<'de, str>>,
    below: BTreeMap<Cow<'de, str>, Prune<'de>>,
}

impl Prune<'_> {
    fn is_empty(&self) -> bool {
        self.same.is_empty() && self.below.is_empty()
    }

    /// Takes the keys out of `map`, desired's object. Each key of `same` and of `below` is one
    /// of its keys (read alike or in part alike with its value), and all three are in
    /// increasing order (a map without `preserve_order` is sorted, and a test checks that it is):
    /// a few keys are taken out one by one, more by walking the object once and keeping the rest
    /// where they are (building it again from what is left measured slower: its nodes were
    /// freed and made anew).
    fn take_out(self, map: &mut Map<String, Value>) {
        if self.same.len() * 4 < map.len() {
            for key in &self.same {
                map.remove(key.as_ref());
            }
            for (key, below) in self.below {
                if let Some(Value::Object(inner)) = map.get_mut(key.as_ref()) {
                    below.take_out(inner);
                }
            }
            return;
        }
        let mut same = self.same.iter().peekable();
        let mut below = self.below.into_iter().peekable();
        map.retain(|key, value| {
            if same.next_if(|s| s.as_ref() == key).is_some() {
                return false;
            }
            if let Some((_, prune)) = below.next_if(|(b, _)| b.as_ref() == key) {
                if let Value::Object(inner) = value {
                    prune.take_out(inner);
                }
            }
            true
        });
        debug_assert!(same.next().is_none() && below.next().is_none());
    }

    /// What is left of `map`, desired's object read in place as `view`, without the keys: the
    /// others built, as [`Prune::take_out`] leaves them.
    fn left(self, view: View<'_>, map: &Map<String, Value>) -> Map<String, Value> {
        let mut same = self.same.iter().peekable();
        let mut below = self.below.into_iter().peekable();
        let mut members = view.members();
        // Built in the map's order: collected without a search per key.
        let out = map
            .iter()
            .filter(|(key, _)| same.next_if(|s| s.as_ref() == *key).is_none())
            .map(|(key, value)| {
                let member = members.get(key, value);
                let pruned = below.next_if(|(b, _)| b.as_ref() == key);
                let value = match (pruned, member.value()) {
                    (Some((_, prune)), Value::Object(inner)) => {
                        Value::Object(prune.left(member, inner))
                    }
                    _ => member.to_value().into_owned(),
                };
                (key.clone(), value)
            })
            .collect();
        debug_assert!(same.next().is_none() && below.next().is_none());
        out
    }
}

/// Reads one value against desired's value at its place (`None`: desired has none there).
struct Against<'v>(Option<View<'v>>);

impl Against<'_> {
    fn leaf<'de>(self, value: Value) -> Read<'de> {
        if self.0.is_some_and(|want| want.equals(&value)) {
            Read::Same
        } else {
            Read::Differs(value, Prune::default())
        }
    }

    /// Desired's string here, if it has one (a collection with holes below is none).
    fn str(&self) -> Option<&str> {
        self.0.and_then(|want| want.value().as_str())
    }

    fn string<'de>(self, s: &str, owned: impl FnOnce() -> String) -> Read<'de> {
        match self.str() {
            Some(want) if want == s => Read::Same,
            _ => Read::Differs(Value::String(owned()), Prune::default()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Against<'_> {
    type Value = Read<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Read<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// The values as serde_json's own `Value` builds them (`serde_json::value::de`), compared
/// with desired's.
impl<'de> Visitor<'de> for Against<'_> {
    type Value = Read<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Read<'de>, E> {
        Ok(self.leaf(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Read<'de>, E> {
        Ok(self.leaf(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Read<'de>, E> {
        Ok(self.leaf(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Read<'de>, E> {
        Ok(self.leaf(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Read<'de>, E> {
        Ok(self.string(v, || v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Read<'de>, E> {
        let same = self.str() == Some(v.as_str());
        Ok(if same {
            Read::Same
        } else {
            Read::Differs(Value::String(v), Prune::default())
        })
    }

    fn visit_none<E>(self) -> Result<Read<'de>, E> {
        Ok(self.leaf(Value::Null))
    }

    fn visit_unit<E>(self) -> Result<Read<'de>, E> {
        Ok(self.leaf(Value::Null))
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Read<'de>, D::Error> {
        Ok(self.leaf(Value::deserialize(d)?))
    }

    // Lists are leaves to a plan, compared whole: built (comparing them as they are read
    // measured no faster).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(self.leaf(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Read<'de>, A::Error> {
        match self.0.map(|view| (view, view.value())) {
            Some((view, Value::Object(want))) => object(view, want, map),
            // Nothing to compare with: built as serde_json builds it.
            _ => {
                let value = Value::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Read::Differs(value, Prune::default()))
            }
        }
    }
}

/// Reads an object of the text against desired's object `want`, read in place as `view`.
fn object<'de, A: MapAccess<'de>>(
    view: View<'_>,
    want: &Map<String, Value>,
    mut map: A,
) -> Result<Read<'de>, A::Error> {
    let mut live = Map::new();
    let mut prune = Prune::default();
    // While the keys come in increasing order (as promote and serde_json write them), none is
    // written twice; from the first that does not, each is looked for among those read (in
    // `live`, or among those read alike, borrowed from the text), and an earlier value of it
    // forgotten.
    let mut previous: Option<Cow<'de, str>> = None;
    let mut alike: Option<BTreeSet<Cow<'de, str>>> = None;
    // Desired's keys are in byte order too: while the text's come in that order, the value a
    // key names is found by walking on through desired's, not looked up, and so are the holes
    // below it when desired is read in place.
    let mut ahead = Ahead::new(want.iter());
    let mut members = view.members();
    while let Some(key) = map.next_key_seed(Key)? {
        match &previous {
            None if key == RAW_VALUE_TOKEN => {
                return Err(de::Error::custom("a raw value: read the whole text"));
            }
            Some(p) if alike.is_none() && key.as_ref() <= p.as_ref() => {
                alike = Some(prune.same.iter().cloned().collect());
            }
            _ => {}
        }
        if let Some(alike) = &mut alike {
            alike.remove(key.as_ref());
            live.remove(key.as_ref());
            prune.below.remove(key.as_ref());
        }
        let here = match ahead.find(&key) {
            Some((_, value)) => Some(value),
            None => want.get(key.as_ref()),
        };
        let here = here.map(|value| members.get(&key, value));
        match map.next_value_seed(Against(here))? {
            Read::Same => {
                if let Some(alike) = &mut alike {
                    alike.insert(key.clone());
                }
                prune.same.push(key.clone());
            }
            Read::Differs(value, below) => {
                if !below.is_empty() {
                    prune.below.insert(key.clone(), below);
                }
                live.insert(key.clone().into_owned(), value);
            }
        }
        previous = Some(key);
    }
    if let Some(alike) = alike {
        prune.same = alike.into_iter().collect();
    }
    // Every key read alike was desired's, once: all alike when they are all desired's.
    if live.is_empty() && prune.below.is_empty() && prune.same.len() == want.len() {
        return Ok(Read::Same);
    }
    Ok(Read::Differs(Value::Object(live), prune))
}

/// A key of the text, borrowed from it unless it holds escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::three_way::{plan, Mode};
    use proptest::prelude::*;
    use serde_json::json;

    /// Reads `text` against `desired` both ways and checks that the plans of what each leaves
    /// are the same (changes and the patch sent), and so is the check of the baseline's shape.
    fn same_plan(desired: &Value, text: &str) {
        let whole: Value = serde_json::from_str(text).unwrap();
        let mut pruned = desired.clone();
        let live = read(text, &mut pruned).unwrap();
        same_plans(desired, &whole, (&pruned, &live), text);
    }

    /// Checks that the plan of `pruned` against `live` (what [`read`] left of `desired` and of
    /// `text`) is the plan of `desired` against `whole` (serde_json's reading of `text`).
    fn same_plans(desired: &Value, whole: &Value, (pruned, live): (&Value, &Value), text: &str) {
        let (p1, t1) = plan(None, desired, whole, Mode::Update).unwrap();
        let (p2, t2) = plan(None, pruned, live, Mode::Update).unwrap();
        assert_eq!(
            p1, p2,
            "desired {desired}\ntext {text}\nleft {pruned} / {live}"
        );
        assert_eq!(t1.patch(true), t2.patch(true));
        assert_eq!(p1.removed_objects(whole), p2.removed_objects(live));
        if crate::layout::shape_problem(&crate::layout::TENANT, desired).is_none() {
            assert_eq!(
                crate::layout::shape_problem(&crate::layout::TENANT, whole),
                crate::layout::shape_problem(&crate::layout::TENANT, live),
            );
        }
    }

    #[test]
    fn maps_are_sorted_by_key() {
        // `Prune::take_out` and `Ahead` walk maps in key order: a dependency that turned on
        // serde_json's `preserve_order` would make them keep insertion order.
        let map: Map<String, Value> = serde_json::from_str(r#"{"b": 1, "a": 2, "c": 3}"#).unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn what_is_alike_is_taken_out_of_both() {
        let mut desired =
            json!({"a": 1, "b": {"c": "x", "d": [1, 2], "e": {"f": true}}, "g": "new"});
        let text = r#"{"a": 1, "b": {"c": "y", "d": [1, 2], "e": {"f": true}}, "h": null}"#;
        let live = read(text, &mut desired).unwrap();
        assert_eq!(desired, json!({"b": {"c": "x"}, "g": "new"}));
        assert_eq!(live, json!({"b": {"c": "y"}, "h": null}));
    }

    #[test]
    fn trees_alike_as_a_whole_leave_nothing() {
        let mut desired = json!({"a": {"b": [1, {"c": 2.5}]}, "d": "\u{e9}"});
        let text = "{\n  \"d\": \"\\u00e9\",\n  \"a\": {\"b\": [1, {\"c\": 2.5}]}\n}";
        assert_eq!(read(text, &mut desired).unwrap(), json!({}));
        assert_eq!(desired, json!({}));
    }

    /// serde_json keeps the last of two equal keys; so does the read, whatever the first said
    /// and in whichever order the keys come.
    #[test]
    fn the_last_of_two_equal_keys_counts() {
        let desired = json!({"a": {"x": 1, "y": 2}, "b": 2, "c": 3});
        for text in [
            r#"{"a": {"x": 1, "y": 2}, "b": 2, "c": 3, "a": {"x": 1, "y": 9}}"#,
            r#"{"a": {"x": 1, "y": 9}, "b": 2, "c": 3, "a": {"x": 1, "y": 2}}"#,
            r#"{"c": 3, "b": 1, "a": {"x": 1, "y": 2}, "b": 2}"#,
            r#"{"c": 3, "b": 2, "a": 5, "b": 1, "a": {"y": 2, "x": 1, "y": 3}}"#,
            r#"{"b": 2, "c": 3, "a": {"x": 1, "y": 3}, "a": 5}"#,
            r#"{"b": 2, "c": 3, "a": {"x": 1, "y": 3}, "a": {"y": 2}}"#,
        ] {
            same_plan(&desired, text);
        }
    }

    /// A list is compared whole: one that differs is read whole, and nothing is taken out of
    /// desired's.
    #[test]
    fn lists_are_compared_whole() {
        let desired = json!({"l": [{"a": 1, "b": [2]}, "x"], "m": [{"a": 1}]});
        let text = r#"{"l": [{"b": [2], "a": 1, "b": [3]}, "x"], "m": [{"a": 1}]}"#;
        let mut left = desired.clone();
        let live = read(text, &mut left).unwrap();
        assert_eq!(live, json!({"l": [{"a": 1, "b": [3]}, "x"]}));
        assert_eq!(left, json!({"l": [{"a": 1, "b": [2]}, "x"]}));
        for text in [
            r#"{"l": [{"a": 1, "b": [2]}], "m": [{"a": 1}, 2]}"#,
            r#"{"l": [{"a": 1, "b": [2]}, "x", null], "m": {"a": 1}}"#,
            r#"{"l": [], "m": [{"a": 1, "c": 2}]}"#,
        ] {
            same_plan(&desired, text);
        }
    }

    /// Numbers as serde_json's `Value` holds them: `1` and `1.0` differ, `-0` is an integer.
    #[test]
    fn numbers_are_compared_as_serde_json_reads_them() {
        let desired = json!({"i": 1, "f": 1.0, "n": -1, "z": 0, "big": 18446744073709551615u64});
        for text in [
            r#"{"i": 1.0, "f": 1, "n": -1.0, "z": -0, "big": 1.8446744073709552e19}"#,
            r#"{"i": 1, "f": 1.0, "n": -1, "z": 0, "big": 18446744073709551615}"#,
            r#"{"i": 1e0, "f": 10e-1, "n": -1, "z": 0.0, "big": 18446744073709551616}"#,
        ] {
            same_plan(&desired, text);
        }
    }

    /// What serde_json refuses is refused, and desired is left as it was.
    #[test]
    fn a_text_serde_json_refuses_is_refused() {
        let desired = json!({"a": 1, "b": {"c": 2}});
        for text in [
            r#"{"a": 1, "b": {"c": 2}"#,
            r#"{"a": 1, "b": {"c": 2}} x"#,
            r#"{"a": 1 "b": {}}"#,
            r#"{"a": tru}"#,
            r#"{"$serde_json::private::RawValue": "1"}"#,
            "{\"a\": \"x\u{1}\"}",
            r#"{"a": 1,}"#,
            r#"{"a": [1,], "b": {"c": 2}}"#,
            r#"{"a": 01, "b": {"c": 2}}"#,
            r#"{"a": 1, "b": {"c": "\ud800"}}"#,
            r#"{"a": 1, "b": {"c": "\x"}}"#,
            r#"{"a": 1, "b": {"c": 2, }}"#,
            r#"{"a": 1, "b": {"c" 2}}"#,
            r#"{"a": 1, "b": {2: 2}}"#,
            r#"{"a": true1, "b": {"c": 2}}"#,
            r#"{"a": nul, "b": {"c": 2}}"#,
            r#"{"a": 1, "b": {"c": 2}, "d": [1 2]}"#,
            "\u{feff}{\"a\": 1}",
            "{\"a\": 1,\u{a0}\"b\": {\"c\": 2}}",
            "",
            "  ",
        ] {
            let mut d = desired.clone();
            assert!(read(text, &mut d).is_err(), "{text}");
            assert_eq!(d, desired);
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(read(&deep, &mut desired.clone()).is_err());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        let deep = format!(
            "{{\"a\": 2, \"b\": {}1{}}}",
            "{\"c\": ".repeat(130),
            "}".repeat(130)
        );
        assert!(read(&deep, &mut desired.clone()).is_err());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
    }

    /// What serde_json reads with whitespace of every kind, escapes and numbers in every form.
    #[test]
    fn what_serde_json_reads_is_read_alike() {
        let desired = json!({"a": 1, "b": {"c": "x\"y", "d": [1.5, -2, {"e": null}]}, "f": true});
        for text in [
            "{\r\n\t\"a\" :\t1 ,\"b\":{\"c\":\"x\\\"y\",\"d\":[1.5,-2,{\"e\":null}]},\"f\":true}\n",
            r#"{"a": 1.0, "b": {"c": "x\u0022y", "d": [15e-1, -2, {"e": null}]}, "f": false}"#,
            r#"{"\u0061": 1, "b": {"d": [1.5, -2.0, {"e": 0}], "c": "x\"y"}, "f": true}"#,
            r#"{"a": -0, "b": {"c": "x\"y", "d": [1.5, -2, {"e": null}], "d": 3}, "f": null}"#,
            r#"{"a": 1E0, "b": [], "f": {"g": [true, false, null, "\/"]}}"#,
            r#"{"a": 18446744073709551616, "b": {"c": "é\u00e9😀\ud83d\ude00"}}"#,
        ] {
            same_plan(&desired, text);
        }
    }

    /// A tree as a tenant's is: an object, with objects in it.
    fn arb_tree() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(arb_key(), arb_value(), 1..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(|n| json!(n)),
            prop_oneof![Just(1.0f64), Just(0.5), Just(-0.0)].prop_map(|f| json!(f)),
            prop_oneof![Just("x"), Just("y"), Just("\u{e9}\"\\/\n"), Just("")]
                .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(arb_key(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("clients".to_owned()),
            Just("servers".to_owned()),
            Just("k\"\u{e9}".to_owned()),
            "[a-c]{1,2}",
        ]
    }

    /// `value` changed here and there, at random (`picks` decides where and how).
    fn changed(value: &Value, picks: &mut impl Iterator<Item = u8>) -> Value {
        let pick = picks.next().unwrap_or(0);
        match (value, pick % 8) {
            (Value::Object(map), 0..=4) => {
                let mut out = Map::new();
                for (k, v) in map {
                    match picks.next().unwrap_or(0) % 6 {
                        0 => {}
                        1 => {
                            out.insert(k.clone(), json!("other"));
                        }
                        2 => {
                            out.insert(format!("{k}+"), v.clone());
                            out.insert(k.clone(), v.clone());
                        }
                        _ => {
                            out.insert(k.clone(), changed(v, picks));
                        }
                    }
                }
                Value::Object(out)
            }
            (Value::Array(items), 0..=4) => {
                let mut out: Vec<Value> = items.iter().map(|v| changed(v, picks)).collect();
                match picks.next().unwrap_or(0) % 4 {
                    0 => {
                        out.pop();
                    }
                    1 => out.push(json!({"a": [1]})),
                    _ => {}
                }
                Value::Array(out)
            }
            (_, 5) => json!({"new": 1}),
            (_, 6) => json!("changed"),
            _ => value.clone(),
        }
    }

    /// `value` written as JSON with its keys in an order `picks` decides, a key now and then
    /// written twice (an earlier, other value first), and characters escaped that need not be.
    fn written(value: &Value, picks: &mut impl Iterator<Item = u8>, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                if picks.next().unwrap_or(0).is_multiple_of(2) {
                    entries.reverse();
                }
                out.push('{');
                let mut first = true;
                for (k, v) in entries {
                    let twice = picks.next().unwrap_or(0).is_multiple_of(5);
                    let earlier = match picks.next().unwrap_or(0) % 2 {
                        0 => json!([v.clone()]),
                        _ => changed(v, picks),
                    };
                    for (v, last) in [(twice.then_some(&earlier), false), (Some(v), true)] {
                        let Some(v) = v else { continue };
                        if !std::mem::take(&mut first) {
                            out.push_str(", ");
                        }
                        let key = serde_json::to_string(k).unwrap();
                        out.push_str(&key.replace('a', "\\u0061"));
                        out.push_str(": ");
                        // The earlier value as serde_json writes it: it holds `v`, whose
                        // objects would each be written twice again.
                        if last {
                            written(v, picks, out);
                        } else {
                            out.push_str(&serde_json::to_string(v).unwrap());
                        }
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    written(item, picks, out);
                }
                out.push(']');
            }
            Value::Number(n)
                if n.as_f64() == Some(1.0) && picks.next().unwrap_or(0).is_multiple_of(2) =>
            {
                out.push_str(if n.is_f64() { "1e0" } else { "1" });
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
    }

    /// `desired` changed and written as JSON as `picks` decide ([`changed`], [`written`]); the
    /// root stays an object, as a tenant's does: what is below it changes.
    fn changed_text(desired: &Value, picks: Vec<u8>) -> String {
        let mut picks = picks.into_iter().cycle();
        let live = match changed(desired, &mut picks) {
            live @ Value::Object(_) => live,
            _ => desired.clone(),
        };
        let mut text = String::new();
        written(&live, &mut picks, &mut text);
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The plan of what the read leaves is the plan of the whole trees, whatever the text:
        /// keys in any order, written twice, escaped, numbers written otherwise.
        #[test]
        fn the_plan_of_what_is_left_is_the_plan_of_the_whole(
            desired in arb_tree(),
            picks in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let text = changed_text(&desired, picks);
            same_plan(&desired, &text);
        }

        /// A tenant read in place (its pattern's laid-out tree and its holes' values) leaves
        /// what the whole tree leaves, and the same live tree; a text refused is refused.
        #[test]
        fn a_tenant_read_in_place_leaves_what_its_whole_tree_leaves(
            desired in arb_tree(),
            picks in prop::collection::vec(any::<u8>(), 0..64),
            holes in prop::collection::vec(any::<bool>(), 0..48),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut text = changed_text(&desired, picks);
            if holes.first() == Some(&true) {
                // Now and then a text cut short, which both refuse.
                let mut at = cut.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            let tenant = in_place(&desired, &holes);
            let mut pruned = desired.clone();
            match (read(&text, &mut pruned), read_in_place(&text, tenant.view())) {
                (Ok(live), Ok((live_in_place, left))) => {
                    prop_assert_eq!(live, live_in_place);
                    prop_assert_eq!(pruned, left);
                }
                (Err(_), Err(_)) => {}
                (whole, in_place) => {
                    prop_assert!(false, "{text}: {whole:?} / {in_place:?}");
                }
            }
        }
    }

    /// `tree` as a tenant of a pattern whose holes are the values `holes` picks (in tree order,
    /// a value picked whole with what is below it).
    fn in_place(tree: &Value, holes: &[bool]) -> crate::render::filled::Filled {
        use crate::render::filled::{marker, Filled, Laid};
        fn walk(v: &mut Value, holes: &[bool], at: &mut usize, values: &mut Vec<Value>) {
            let pick = holes.get(*at).copied().unwrap_or(false);
            *at += 1;
            if pick && *at > 1 {
                values.push(std::mem::replace(v, json!(marker(values.len()))));
                return;
            }
            match v {
                Value::Object(map) => map.values_mut().for_each(|v| walk(v, holes, at, values)),
                Value::Array(items) => items.iter_mut().for_each(|v| walk(v, holes, at, values)),
                _ => {}
            }
        }
        let mut pattern = tree.clone();
        let mut values = Vec::new();
        walk(&mut pattern, holes, &mut 0, &mut values);
        let laid = Laid::of(pattern, values.len()).expect("each marker once");
        Filled::new(std::sync::Arc::new(laid), values).expect("a value per hole")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever bytes a text has wrong, a read either stops, desired untouched, or reads
        /// what serde_json reads: never a text serde_json refuses, never another tree.
        #[test]
        fn a_read_either_stops_or_reads_what_serde_json_reads(
            desired in arb_tree(),
            picks in prop::collection::vec(any::<u8>(), 0..64),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), any::<bool>(), 0..3usize, 0..14usize),
                1..4,
            ),
        ) {
            const BYTES: &[&str] = &[
                ",", "}", "]", "{", "[", ":", "\"", "\\", " ", "\u{1}", "0", "e", "\u{a0}", "n",
            ];
            let mut text = changed_text(&desired, picks);
            for (at, by_mark, kind, byte) in edits {
                // Half the edits next to a byte of JSON's own, where the reader decides most.
                let marks: Vec<usize> = text
                    .char_indices()
                    .filter(|(_, c)| "{}[],:\"".contains(*c))
                    .flat_map(|(i, _)| [i, i + 1])
                    .collect();
                let mut at = if by_mark && !marks.is_empty() {
                    marks[at.index(marks.len())]
                } else {
                    at.index(text.len() + 1)
                };
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match kind {
                    0 => text.insert_str(at, BYTES[byte]),
                    _ if at < text.len() => {
                        text.remove(at);
                        if kind == 2 {
                            text.insert_str(at, BYTES[byte]);
                        }
                    }
                    _ => {}
                }
            }
            let mut pruned = desired.clone();
            match read(&text, &mut pruned) {
                Ok(left) => {
                    let whole: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("serde_json refuses {text:?}: {e}"));
                    same_plans(&desired, &whole, (&pruned, &left), &text);
                }
                Err(_) => prop_assert_eq!(pruned, desired),
            }
        }
    }
}

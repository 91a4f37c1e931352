//! A tenant's tree as its pattern's tree and the values of its holes, read without being built.
//!
//! The tenants of one [`super::Pattern`] have trees alike but in their holes: the scalars that
//! hold a slot, and the texts of files that are not YAML. [`Laid`] is a pattern's tree laid out
//! once, each hole a [`marker`], and the place of each hole; a tenant is then [`Filled`]: that
//! tree, shared and read only, and one value per hole. [`View`] reads it as the tree it stands
//! for: what reads a tenant's tree in part (validation at the holes, a baseline read against
//! it) builds only what it keeps, and the tenant's whole tree is never made.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::shape::{CLOSE, OPEN};

/// The marker of hole `n` in a laid-out pattern: a string no tenant's tree holds (a template
/// whose text holds these characters has no shape), and that [`super::is_hole`] takes for a
/// hole, as it takes a slot's token.
pub(crate) fn marker(n: usize) -> String {
    format!("{OPEN}#{n}{CLOSE}")
}

/// The number of the hole `s` marks, when it is a [`marker`].
fn marked(s: &str) -> Option<usize> {
    let digits = s
        .strip_prefix(OPEN)?
        .strip_prefix('#')?
        .strip_suffix(CLOSE)?;
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    plain.then(|| digits.parse().ok()).flatten()
}

/// A pattern's tree laid out as its tenants' trees are, each hole a [`marker`], and where the
/// holes are.
#[derive(Debug)]
pub(crate) struct Laid {
    tree: Value,
    /// The place of every hole, from the root (none without holes).
    holes: Option<Place>,
    /// How many holes: each tenant has one value for each.
    count: usize,
    /// How many values the tree holds.
    size: usize,
}

/// How many values `value` holds, itself included.
fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Object(map) => map.values().map(nodes).sum(),
        Value::Array(items) => items.iter().map(nodes).sum(),
        _ => 0,
    }
}

/// Where holes are in a value of the laid-out tree.
#[derive(Debug)]
enum Place {
    /// The value is hole `n`.
    Hole(usize),
    /// The members (keys, or list indexes written in decimal) below which holes are, sorted.
    Below(Vec<(String, Place)>),
}

impl Laid {
    /// Reads `tree`, a pattern laid out with the markers of holes `0..count`: `None` unless
    /// each is in it exactly once, as a value (never as a key), and no other string of it holds
    /// a slot's token.
    pub(crate) fn of(tree: Value, count: usize) -> Option<Laid> {
        let mut seen = vec![false; count];
        let holes = place_of(&tree, &mut seen)?;
        let size = nodes(&tree);
        seen.iter().all(|s| *s).then_some(Laid {
            tree,
            holes,
            count,
            size,
        })
    }

    /// How many values the tree holds: what it costs to keep.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The laid-out tree, each hole a [`marker`].
    pub(crate) fn tree(&self) -> &Value {
        &self.tree
    }

    /// How many holes it has.
    pub(crate) fn count(&self) -> usize {
        self.count
    }
}

/// The place of the holes in `value`, `None` below it when there are none; `None` when a
/// string holds a token that is no marker of a hole not yet seen, or a key holds one.
fn place_of(value: &Value, seen: &mut [bool]) -> Option<Option<Place>> {
    let mut below = Vec::new();
    match value {
        Value::String(s) if s.contains(OPEN) => {
            let n = marked(s)?;
            let first = seen.get_mut(n).filter(|s| !**s)?;
            *first = true;
            return Some(Some(Place::Hole(n)));
        }
        Value::Object(map) => {
            for (key, v) in map {
                if key.contains(OPEN) {
                    return None;
                }
                if let Some(place) = place_of(v, seen)? {
                    below.push((key.clone(), place));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if let Some(place) = place_of(v, seen)? {
                    below.push((i.to_string(), place));
                }
            }
            below.sort_by(|a, b| a.0.cmp(&b.0));
        }
        _ => {}
    }
    Some((!below.is_empty()).then_some(Place::Below(below)))
}

/// A tenant of a pattern: its laid-out tree and the values of its holes.
#[derive(Debug)]
pub(crate) struct Filled {
    laid: Arc<Laid>,
    values: Vec<Value>,
}

impl Filled {
    /// The tenant of `laid` whose holes hold `values`, in order; `None` unless there is one
    /// value for each hole.
    #[cfg(test)]
    pub(crate) fn new(laid: Arc<Laid>, values: Vec<Value>) -> Option<Filled> {
        (values.len() == laid.count).then_some(Filled { laid, values })
    }

    /// The tenant of `laid` whose holes hold `values`, whose number [`Parts`](super::Parts)
    /// checked.
    pub(super) fn of_counted(laid: Arc<Laid>, values: Vec<Value>) -> Filled {
        debug_assert_eq!(values.len(), laid.count);
        Filled { laid, values }
    }

    /// The tree, read where it is.
    pub(crate) fn view(&self) -> View<'_> {
        View::at(&self.laid.tree, self.laid.holes.as_ref(), &self.values)
    }

    /// The tree, built: the laid-out tree with each hole's value in its place.
    pub(crate) fn into_value(self) -> Value {
        self.view().to_value().into_owned()
    }
}

/// The place below member `key`, if any.
fn find<'p>(below: &'p [(String, Place)], key: &str) -> Option<&'p Place> {
    below
        .binary_search_by(|(k, _)| k.as_str().cmp(key))
        .ok()
        .map(|at| &below[at].1)
}

/// The members of a collection read in place, asked for in order ([`View::members`]).
pub(crate) struct Members<'a> {
    view: View<'a>,
    /// Where the places below are walked to.
    at: usize,
}

impl<'a> Members<'a> {
    /// Member `key`, whose value in the collection is `value`: while the keys come in
    /// increasing order, found by walking on through the places below, not searched.
    pub(crate) fn get(&mut self, key: &str, value: &'a Value) -> View<'a> {
        let Some(below) = self.view.below else {
            return View::whole(value);
        };
        let behind = self
            .at
            .checked_sub(1)
            .and_then(|last| below.get(last))
            .is_some_and(|(last, _)| last.as_str() >= key);
        if behind {
            return self.view.member(key, value);
        }
        while below.get(self.at).is_some_and(|(k, _)| k.as_str() < key) {
            self.at += 1;
        }
        match below.get(self.at) {
            Some((k, place)) if k == key => {
                self.at += 1;
                View::at(value, Some(place), self.view.values)
            }
            _ => View::whole(value),
        }
    }
}

/// A value of a tenant's tree, read in its pattern's laid-out tree and its holes' values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// The value here: the pattern's, or the hole's when this is a hole.
    value: &'a Value,
    /// The holes below, when the pattern's value here holds some.
    below: Option<&'a [(String, Place)]>,
    values: &'a [Value],
}

impl<'a> View<'a> {
    /// A tree as it is, with no holes.
    pub(crate) fn whole(value: &'a Value) -> View<'a> {
        View {
            value,
            below: None,
            values: &[],
        }
    }

    fn at(value: &'a Value, place: Option<&'a Place>, values: &'a [Value]) -> View<'a> {
        match place {
            None => View {
                value,
                below: None,
                values,
            },
            // `Filled::new` checked that there is a value for every hole.
            Some(Place::Hole(n)) => View::whole(values.get(*n).unwrap_or(&Value::Null)),
            Some(Place::Below(below)) => View {
                value,
                below: Some(below),
                values,
            },
        }
    }

    /// The value here as the pattern has it: the whole value unless holes are below it, a
    /// collection whose members are then read with [`View::member`] or [`View::members`].
    pub(crate) fn value(self) -> &'a Value {
        self.value
    }

    /// Whether holes are below (the collection [`View::value`] then holds their markers).
    #[cfg(test)]
    pub(crate) fn holds_holes(self) -> bool {
        self.below.is_some()
    }

    /// Member `key` of this collection, whose value in [`View::value`] is `value`.
    pub(crate) fn member(self, key: &str, value: &'a Value) -> View<'a> {
        match self.below {
            None => View::whole(value),
            Some(below) => View::at(value, find(below, key), self.values),
        }
    }

    /// The members of this collection, to be asked for in increasing order of their keys (as
    /// a map holds them) with [`Members::get`].
    pub(crate) fn members(self) -> Members<'a> {
        Members { view: self, at: 0 }
    }

    /// Member `key` (an object's key, or a list's index as RFC 6901 writes it).
    pub(crate) fn child(self, key: &str) -> Option<View<'a>> {
        // A list's index is found only written in decimal without leading zeros, as
        // `place_of` writes it.
        let value = promote_platform::pointer::child(self.value, key)?;
        Some(self.member(key, value))
    }

    /// The value, built when holes are below.
    pub(crate) fn to_value(self) -> Cow<'a, Value> {
        match self.below {
            None => Cow::Borrowed(self.value),
            Some(below) => Cow::Owned(self.build(below)),
        }
    }

    fn build(self, below: &'a [(String, Place)]) -> Value {
        match self.value {
            Value::Object(map) => {
                let mut members = self.members();
                // Built in the map's order: collected without a search per key.
                Value::Object(
                    map.iter()
                        .map(|(key, v)| (key.clone(), members.get(key, v).to_value().into_owned()))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let member = View::at(v, find(below, &i.to_string()), self.values);
                        member.to_value().into_owned()
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Whether the value is `other`, as `==` of the built value says.
    pub(crate) fn equals(self, other: &Value) -> bool {
        let Some(below) = self.below else {
            return self.value == other;
        };
        match (self.value, other) {
            (Value::Object(mine), Value::Object(theirs)) => {
                let mut members = self.members();
                // Both maps hold their keys in order.
                mine.len() == theirs.len()
                    && mine
                        .iter()
                        .zip(theirs)
                        .all(|((key, v), (k, t))| key == k && members.get(key, v).equals(t))
            }
            (Value::Array(mine), Value::Array(theirs)) => {
                mine.len() == theirs.len()
                    && mine.iter().zip(theirs).enumerate().all(|(i, (v, t))| {
                        View::at(v, find(below, &i.to_string()), self.values).equals(t)
                    })
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Map};

    /// `tree` with some of its scalars (picked by `picks`) made holes, and their values.
    fn holed(tree: &Value, picks: &[bool]) -> (Value, Vec<Value>) {
        fn walk(v: &mut Value, picks: &[bool], at: &mut usize, values: &mut Vec<Value>) {
            match v {
                Value::Object(map) => map.values_mut().for_each(|v| walk(v, picks, at, values)),
                Value::Array(items) => items.iter_mut().for_each(|v| walk(v, picks, at, values)),
                scalar => {
                    if picks.get(*at).copied().unwrap_or(false) {
                        values.push(std::mem::replace(scalar, json!(marker(values.len()))));
                    }
                    *at += 1;
                }
            }
        }
        let mut pattern = tree.clone();
        let mut values = Vec::new();
        walk(&mut pattern, picks, &mut 0, &mut values);
        (pattern, values)
    }

    fn arb_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]{1,2}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Reads `view` member by member, as a reader walking the tree would.
    fn read(view: View<'_>) -> Value {
        match view.value() {
            Value::Object(map) if view.holds_holes() => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), read(view.member(k, v))))
                    .collect(),
            ),
            Value::Array(items) if view.holds_holes() => Value::Array(
                (0..items.len())
                    .map(|i| read(view.child(&i.to_string()).expect("an item")))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Reads `view` through [`View::members`], each map's keys asked for in the order `order`
    /// picks (increasing, decreasing, or each twice), as a reader of a text might.
    fn read_members(view: View<'_>, order: u8) -> Value {
        match view.value() {
            Value::Object(map) => {
                let mut members = view.members();
                let mut keys: Vec<(&String, &Value)> = map.iter().collect();
                match order % 3 {
                    0 => {}
                    1 => keys.reverse(),
                    _ => keys = keys.into_iter().flat_map(|k| [k, k]).collect(),
                }
                let mut out = Map::new();
                for (k, v) in keys {
                    out.insert(k.clone(), read_members(members.get(k, v), order));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                (0..items.len())
                    .map(|i| read_members(view.child(&i.to_string()).expect("an item"), order))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    proptest! {
        /// Whatever scalars are holes, the tree read, built and compared through the view is the
        /// tree itself.
        #[test]
        fn a_filled_pattern_reads_as_its_tree(
            tree in arb_tree(),
            picks in prop::collection::vec(any::<bool>(), 0..64),
            other in arb_tree(),
            order in any::<u8>(),
        ) {
            let (pattern, values) = holed(&tree, &picks);
            let laid = Arc::new(Laid::of(pattern, values.len()).expect("each marker once"));
            let filled = Filled::new(Arc::clone(&laid), values.clone()).expect("a value per hole");
            let view = filled.view();
            prop_assert_eq!(view.to_value().into_owned(), tree.clone());
            prop_assert_eq!(read(view), tree.clone());
            prop_assert_eq!(read_members(view, order), tree.clone());
            prop_assert!(view.equals(&tree));
            prop_assert_eq!(view.equals(&other), other == tree);
            prop_assert_eq!(Filled::new(laid, values).expect("same").into_value(), tree);
        }
    }

    #[test]
    fn a_pattern_is_refused_unless_each_hole_is_in_it_once() {
        let ok = json!({"a": marker(0), "b": [1, marker(1)], "c": {"d": "x"}});
        assert!(Laid::of(ok.clone(), 2).is_some());
        // A hole missing, one met twice, a token that is no marker, a key holding one.
        assert!(Laid::of(ok.clone(), 3).is_none());
        assert!(Laid::of(json!([marker(0), marker(0)]), 1).is_none());
        assert!(Laid::of(json!({"a": "\u{E000}0\u{E001}"}), 1).is_none());
        assert!(Laid::of(json!({"a": format!("{OPEN}#01{CLOSE}")}), 2).is_none());
        assert!(Laid::of(json!({ marker(0): 1 }), 1).is_none());
        // More values than holes.
        let laid = Arc::new(Laid::of(ok, 2).expect("laid"));
        assert!(Filled::new(laid, vec![json!(1)]).is_none());
        // A pattern that is a hole as a whole.
        let laid = Arc::new(Laid::of(json!(marker(0)), 1).expect("laid"));
        let filled = Filled::new(laid, vec![json!({"a": 1})]).expect("filled");
        assert_eq!(filled.view().value(), &json!({"a": 1}));
        assert_eq!(filled.into_value(), json!({"a": 1}));
    }
}

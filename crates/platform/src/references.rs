//! The fields of a workspace that name an entry of a collection (a policy, a script, a pool, a
//! theme), and how the platform words a reference that names nothing: promote's `validate`
//! and the emulator's checks both read them from here.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::model::{self, Model, Shape};
use crate::{pointer, tree};

/// A reference that names nothing, or is not a string: where, what is wrong, what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub pointer: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Which collection a reference names an entry of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The referring workspace's own collection.
    Workspace,
    /// The tenant's collection.
    Tenant,
    /// The tenant's collection or the workspace's own.
    Either,
}

/// The kinds of ID whose references promote checks: the `format` the model gives a string
/// field that names an entry, the word for what it names, its collection, and where that
/// collection is.
///
/// The model has more kinds of ID (`schemaID`, `clientID`, `serviceID`, `gatewayID`, `idpID`,
/// `customAppID`, `serverID`, `apiID`); they are not checked because they may name what the
/// platform makes itself and no template holds (built-in schemas, a workspace's default
/// clients and services) or what lives in another tenant (`apiID` of cross-tenant bindings),
/// and refusing a reference the platform takes would be worse than missing a broken one.
pub const KINDS: &[(&str, &str, &str, Scope)] = &[
    ("policyID", "policy", "policies", Scope::Workspace),
    ("scriptID", "script", "scripts", Scope::Workspace),
    ("poolID", "pool", "pools", Scope::Either),
    ("themeID", "theme", "themes", Scope::Tenant),
];

/// A field of a workspace that names an entry: the path to it below the workspace (`*` is any
/// key or list index), the word for what it names, the collection, and where that collection
/// is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: Vec<String>,
    pub what: &'static str,
    pub collection: &'static str,
    pub scope: Scope,
}

/// Every field of a workspace the model types as an ID of one of [`KINDS`], found once.
pub fn places() -> &'static [Reference] {
    static PLACES: LazyLock<Vec<Reference>> = LazyLock::new(|| {
        let model = model::tenant();
        let mut out = Vec::new();
        if let Some(ws) = model.shape_at(&["servers", "*"]) {
            let mut path = Vec::new();
            let mut types = Vec::new();
            find(model, &ws, &mut path, &mut types, &mut out);
        }
        out
    });
    &PLACES
}

/// Collects the places of [`KINDS`] below `shape`, `path` the keys to it and `types` the
/// object types on the way (a type that holds itself is not entered again).
fn find<'m>(
    model: &'m Model,
    shape: &'m Shape,
    path: &mut Vec<String>,
    types: &mut Vec<&'m str>,
    out: &mut Vec<Reference>,
) {
    match shape {
        Shape::String {
            format: Some(format),
            ..
        } => {
            if let Some((_, what, collection, scope)) = KINDS.iter().find(|k| k.0 == format) {
                out.push(Reference {
                    path: path.clone(),
                    what,
                    collection,
                    scope: *scope,
                });
            }
        }
        Shape::Array(inner) | Shape::Map(inner) => {
            path.push("*".into());
            find(model, inner, path, types, out);
            path.pop();
        }
        Shape::Object(ty) if !types.contains(&ty.as_str()) => {
            types.push(ty);
            for (field, inner) in model.fields(ty) {
                path.push(field.clone());
                find(model, inner, path, types, out);
                path.pop();
            }
            types.pop();
        }
        _ => {}
    }
}

/// The collections a reference may name an entry of (the workspace's, the tenant's or both),
/// borrowed: most references name something, and only those that do not need the IDs listed.
struct Targets<'a> {
    collections: [Option<&'a Map<String, Value>>; 2],
}

impl<'a> Targets<'a> {
    fn of(
        scope: Scope,
        root: &'a Map<String, Value>,
        ws: &'a Map<String, Value>,
        collection: &str,
    ) -> Targets<'a> {
        let of = |map: &'a Map<String, Value>| match map.get(collection) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let collections = match scope {
            Scope::Workspace => [of(ws), None],
            Scope::Tenant => [of(root), None],
            Scope::Either => [of(root), of(ws)],
        };
        Targets { collections }
    }

    fn contains(&self, id: &str) -> bool {
        self.collections
            .iter()
            .flatten()
            .any(|m| m.contains_key(id))
    }

    /// Every ID, once, in order.
    fn ids(&self) -> BTreeSet<&'a str> {
        self.collections
            .iter()
            .flatten()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }
}

/// Returns the references of workspace `ws` (at pointer `at`) of the tenant `root` that name
/// nothing, or are not strings, in the order of [`places`] and of the tree.
pub fn broken(root: &Map<String, Value>, ws: &Map<String, Value>, at: &str) -> Vec<Broken> {
    let mut out = Vec::new();
    references(root, ws, at, &|_| false, &mut out, &mut Vec::new());
    out
}

/// A reference whose value is a hole ([`broken_around`]): its keys (and list indices) below
/// the workspace, and which of [`places`] it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub path: Vec<String>,
    pub place: usize,
}

/// [`broken`] of a workspace some of whose values stand for values not known yet (those
/// `is_hole` says so of): the broken references among its other values, and the references
/// whose values are holes. Where the references are, and what they may name, depends only on
/// the keys: a workspace that differs from this one only in the holes' values has those broken
/// references, and those of its holes' values that [`names`] says name nothing.
pub fn broken_around(
    root: &Map<String, Value>,
    ws: &Map<String, Value>,
    at: &str,
    is_hole: &dyn Fn(&Value) -> bool,
) -> (Vec<Broken>, Vec<Hole>) {
    let mut out = Vec::new();
    let mut holes = Vec::new();
    references(root, ws, at, is_hole, &mut out, &mut holes);
    (out, holes)
}

/// Whether `value`, a reference at [`places`]`[place]` of workspace `ws` of the tenant `root`,
/// names what it may (or nothing at all: null, `""`), as [`broken`] reads it.
pub fn names(
    root: &Map<String, Value>,
    ws: &Map<String, Value>,
    place: usize,
    value: &Value,
) -> bool {
    let Some(Reference {
        what,
        collection,
        scope,
        ..
    }) = places().get(place)
    else {
        return false;
    };
    let mut out = Vec::new();
    let targets = Targets::of(*scope, root, ws, collection);
    reference(value, String::new, what, &targets, &mut out);
    out.is_empty()
}

fn references(
    root: &Map<String, Value>,
    ws: &Map<String, Value>,
    at: &str,
    is_hole: &dyn Fn(&Value) -> bool,
    out: &mut Vec<Broken>,
    holes: &mut Vec<Hole>,
) {
    let mut found = Vec::new();
    Trie::of_places().in_map(ws, &mut Vec::new(), &mut found);
    // By place, in the order of the places; each place's values stay in tree order.
    found.sort_by_key(|(place, _, _)| *place);
    let places = places();
    for group in found.chunk_by(|a, b| a.0 == b.0) {
        let Some((
            place,
            Reference {
                what,
                collection,
                scope,
                ..
            },
        )) = group
            .first()
            .and_then(|(place, _, _)| Some((*place, places.get(*place)?)))
        else {
            continue;
        };
        // Most places are empty in a given tenant: only those with values look for targets.
        let targets = Targets::of(*scope, root, ws, collection);
        for (_, steps, value) in group {
            if is_hole(value) {
                holes.push(Hole {
                    path: steps
                        .iter()
                        .map(|step| match step {
                            Step::Key(k) => (*k).to_owned(),
                            Step::Index(i) => i.to_string(),
                        })
                        .collect(),
                    place,
                });
                continue;
            }
            reference(value, || pointer_of(at, steps), what, &targets, out);
        }
    }
}

/// A key or list index on the way from a workspace to a value.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The pointer of the value `steps` below `at`.
fn pointer_of(at: &str, steps: &[Step<'_>]) -> String {
    let mut out = at.to_owned();
    for step in steps {
        match step {
            Step::Key(k) => out = pointer::join(&out, k),
            Step::Index(i) => out = format!("{out}/{i}"),
        }
    }
    out
}

/// The paths of [`places`] as a trie, so that a workspace is walked once for all of them: at
/// each level the names (which keys match without regard to case) and `*` (any key or list
/// index) lead on, and the places whose paths end there are listed.
#[derive(Debug, Default)]
struct Trie {
    names: Vec<(String, Trie)>,
    any: Option<Box<Trie>>,
    ends: Vec<usize>,
}

impl Trie {
    fn of_places() -> &'static Trie {
        static TRIE: LazyLock<Trie> = LazyLock::new(|| {
            let mut trie = Trie::default();
            for (n, place) in places().iter().enumerate() {
                let mut at = &mut trie;
                for name in &place.path {
                    at = if name == "*" {
                        at.any.get_or_insert_with(Box::default)
                    } else {
                        let i = match at.names.iter().position(|(n, _)| n == name) {
                            Some(i) => i,
                            None => {
                                at.names.push((name.clone(), Trie::default()));
                                at.names.len() - 1
                            }
                        };
                        &mut at.names[i].1
                    };
                }
                at.ends.push(n);
            }
            trie
        });
        &TRIE
    }

    /// Collects (place, steps, value) for the values of `value` (at `steps`) and below that
    /// the places of this node and below hold.
    fn in_value<'a>(
        &self,
        value: &'a Value,
        steps: &mut Vec<Step<'a>>,
        out: &mut Vec<(usize, Vec<Step<'a>>, &'a Value)>,
    ) {
        for place in &self.ends {
            out.push((*place, steps.clone(), value));
        }
        match value {
            Value::Object(map) => self.in_map(map, steps, out),
            Value::Array(list) => {
                if let Some(any) = &self.any {
                    for (i, v) in list.iter().enumerate() {
                        steps.push(Step::Index(i));
                        any.in_value(v, steps, out);
                        steps.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// [`Trie::in_value`] for the entries of a map.
    fn in_map<'a>(
        &self,
        map: &'a Map<String, Value>,
        steps: &mut Vec<Step<'a>>,
        out: &mut Vec<(usize, Vec<Step<'a>>, &'a Value)>,
    ) {
        if self.names.is_empty() && self.any.is_none() {
            return;
        }
        for (k, v) in map {
            steps.push(Step::Key(k));
            for (name, below) in &self.names {
                if crate::credentials::folds_to(k, name) {
                    below.in_value(v, steps, out);
                }
            }
            if let Some(any) = &self.any {
                any.in_value(v, steps, out);
            }
            steps.pop();
        }
    }
}

/// Collects the values at `path` below `value` (`*` is any key or list index) with their
/// pointers. Names match as the platform matches them, without regard to case.
#[cfg(test)]
fn matches_in<'a>(value: &'a Value, path: &[String], at: &str, out: &mut Vec<(String, &'a Value)>) {
    let Some((first, rest)) = path.split_first() else {
        out.push((at.to_owned(), value));
        return;
    };
    match value {
        Value::Object(map) => in_map(map, path, at, out),
        Value::Array(list) if first == "*" => {
            for (i, v) in list.iter().enumerate() {
                matches_in(v, rest, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// [`matches_in`] for the entries of a map.
#[cfg(test)]
fn in_map<'a>(
    map: &'a Map<String, Value>,
    path: &[String],
    at: &str,
    out: &mut Vec<(String, &'a Value)>,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    for (k, v) in map {
        if first == "*" || crate::credentials::folds_to(k, first) {
            matches_in(v, rest, &pointer::join(at, k), out);
        }
    }
}

/// Checks the reference `value`, whose pointer `at` makes (for what it finds broken).
fn reference(
    value: &Value,
    at: impl FnOnce() -> String,
    what: &str,
    targets: &Targets<'_>,
    out: &mut Vec<Broken>,
) {
    let id = match value {
        Value::Null => return,
        Value::String(s) if s.is_empty() => return,
        Value::String(s) => s,
        other => {
            out.push(Broken {
                pointer: at(),
                message: format!(
                    "a reference to a {what} must be a string, not {}",
                    tree::kind(other)
                ),
                hint: None,
            });
            return;
        }
    };
    if targets.contains(id) {
        return;
    }
    let plural = match what.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{what}s"),
    };
    let targets = targets.ids();
    let known: Vec<&str> = targets.iter().take(10).copied().collect();
    let hint = if known.is_empty() {
        format!("there are no {plural} here")
    } else {
        let more = if targets.len() > 10 { ", ..." } else { "" };
        format!("{plural} here: {}{more}", known.join(", "))
    };
    out.push(Broken {
        pointer: at(),
        // An ID is anyone's to write: quoted on one line, control characters escaped.
        message: format!("unknown {what} `{}`", id.escape_debug()),
        hint: Some(hint),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// [`broken`] as it was before the places were walked as a trie: each place's path walked
    /// on its own, in the order of the places.
    fn broken_place_by_place(
        root: &Map<String, Value>,
        ws: &Map<String, Value>,
        at: &str,
    ) -> Vec<Broken> {
        let mut out = Vec::new();
        for Reference {
            path,
            what,
            collection,
            scope,
        } in places()
        {
            let mut found = Vec::new();
            in_map(ws, path, at, &mut found);
            if found.is_empty() {
                continue;
            }
            let targets = Targets::of(*scope, root, ws, collection);
            for (here, value) in found {
                reference(value, || here, what, &targets, &mut out);
            }
        }
        out
    }

    /// A value planted at a place's path: `*` as one of a few keys or list indexes, names
    /// now and then in another case.
    fn plant(ws: &mut Value, path: &[String], choices: &[u8], value: Value) {
        let mut at = ws;
        for (n, name) in path.iter().enumerate() {
            let c = choices.get(n).copied().unwrap_or(0);
            let last = n + 1 == path.len();
            let next = if last {
                value.clone()
            } else {
                Value::Object(Map::new())
            };
            if name == "*" && c % 3 == 0 {
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let Value::Array(list) = at else { return };
                list.push(next);
                let i = list.len() - 1;
                at = &mut list[i];
                continue;
            }
            let key = match (name.as_str(), c % 4) {
                ("*", _) => ["a", "B", "c.d", "~1"][usize::from(c) % 4].to_owned(),
                (n, 1) => n.to_ascii_uppercase(),
                (n, _) => n.to_owned(),
            };
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else { return };
            at = map.entry(key).or_insert(next);
        }
    }

    proptest! {
        #[test]
        fn the_trie_finds_what_each_place_finds(
            plants in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 8), prop_oneof![
                    Just(json!("allow")), Just(json!("gone")), Just(json!("")), Just(json!(null)),
                    Just(json!(7)), Just(json!(["allow", "nope"])), Just(json!({"x": "allow"})),
                ]),
                0..12,
            ),
        ) {
            let root = json!({"themes": {"brand": {}}, "pools": {"p": {}}});
            let mut ws = json!({"policies": {"allow": {}}, "scripts": {"s": {}}, "pools": {"q": {}}});
            for (place, choices, value) in &plants {
                let place = &places()[place.index(places().len())];
                plant(&mut ws, &place.path, choices, value.clone());
            }
            let (Some(root), Some(ws)) = (root.as_object(), ws.as_object()) else {
                return Err(TestCaseError::fail("maps"));
            };
            let found = broken(root, ws, "/servers/w~1x");
            prop_assert_eq!(found, broken_place_by_place(root, ws, "/servers/w~1x"));
        }
    }

    proptest! {
        /// A workspace whose references are partly holes: the broken references found around
        /// the holes, and the holes' values that name nothing once filled, are the broken
        /// references of the filled workspace.
        #[test]
        fn references_around_holes_are_read_as_the_filled_tree_is(
            plants in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 8), prop_oneof![
                    Just(json!("allow")), Just(json!("gone")), Just(json!("")), Just(json!(null)),
                    Just(json!(7)), Just(json!("q")), Just(json!("brand")), Just(json!("p")),
                ], any::<bool>()),
                0..12,
            ),
        ) {
            let hole = |v: &Value| v.as_str().is_some_and(|s| s.starts_with('\u{E000}'));
            let root = json!({"themes": {"brand": {}}, "pools": {"p": {}}});
            let mut pattern = json!({"policies": {"allow": {}}, "scripts": {"s": {}}, "pools": {"q": {}}});
            let mut filled = pattern.clone();
            for (n, (place, choices, value, is_hole)) in plants.iter().enumerate() {
                let place = &places()[place.index(places().len())];
                let stands = if *is_hole { json!(format!("\u{E000}{n}")) } else { value.clone() };
                plant(&mut pattern, &place.path, choices, stands);
                plant(&mut filled, &place.path, choices, value.clone());
            }
            let (Some(root), Some(pattern), Some(filled)) =
                (root.as_object(), pattern.as_object(), filled.as_object())
            else {
                return Err(TestCaseError::fail("maps"));
            };
            let (around, holes) = broken_around(root, pattern, "/servers/w", &hole);
            let mut count = around.len();
            for h in &holes {
                let whole_ws = Value::Object(filled.clone());
                let value = h
                    .path
                    .iter()
                    .try_fold(&whole_ws, |v, k| crate::pointer::child(v, k));
                let Some(value) = value else {
                    return Err(TestCaseError::fail(format!("no value at {:?}", h.path)));
                };
                if !names(root, filled, h.place, value) {
                    count += 1;
                }
            }
            let whole = broken(root, filled, "/servers/w");
            prop_assert_eq!(count, whole.len(), "{:?} {:?}", around, holes);
            for b in &around {
                prop_assert!(whole.contains(b), "{:?}", b);
            }
        }
    }

    #[test]
    fn the_places_come_from_the_models_id_formats() {
        let paths: Vec<String> = places().iter().map(|r| r.path.join("/")).collect();
        for expected in [
            "policy_execution_points/*",
            "clients/*/policy_execution_points/*",
            "script_execution_points/*/*/script_id",
            "services/*/apis/*/policy_id",
            "services/*/apis/*/graphql_types/*/fields/*/policy_id",
            "idps/*/identity_pool_id",
            "idps/*/jit/provisioning/pool_id",
            "theme_binding/theme_id",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} in {paths:#?}"
            );
        }
    }

    #[test]
    fn references_in_lists_and_maps_of_ids_are_checked() {
        let root = json!({"themes": {"brand": {}}});
        let ws = json!({
            "policies": {"allow": {}},
            "policy_execution_points": {"client_access": "allow", "login": "gone"},
            "services": {"s": {"apis": {"a": {"graphql_types": [{"fields": [{"policy_id": "nope"}]}]}}}},
            "Theme_Binding": {"theme_id": "brand"}
        });
        let found = broken(
            root.as_object().unwrap(),
            ws.as_object().unwrap(),
            "/servers/w",
        );
        let at: Vec<&str> = found.iter().map(|b| b.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/servers/w/policy_execution_points/login",
                "/servers/w/services/s/apis/a/graphql_types/0/fields/0/policy_id"
            ],
            "{found:?}"
        );
    }
}

//! Validating the tenants of one pattern: their trees are alike but in their holes
//! ([`crate::render::Tree::pattern`]), so what [`super::rendered`] finds outside the holes is
//! found once, in the pattern's tree, and each tenant's tree is read only at its holes.
//!
//! Each check of a tree reads either its keys alone (the IDs, where the credential fields and
//! the platform's material are, which fields an object type has and how they are spelled) or
//! also values (their types and enums, what a credential field holds, what a reference names).
//! Reading a value against the model depends only on the value and on the shape of its place,
//! which the keys above it decide ([`model::decode_around`]); where the references are, and the
//! IDs they may name, are keys too ([`references::broken_around`]). So when the pattern's tree
//! has no finding outside its holes, a tenant's tree has none at all exactly when the value in
//! each hole reads as its place's shape, no credential field with a hole holds plain text, and
//! each reference that is a hole names what it may. Anything else sends the tenant to
//! [`super::rendered`], which finds and says it.

use serde_json::Value;

use serde_json::Map;

use crate::credentials::{self, Scope};
use crate::patch::pointer;
use crate::render::filled::View;
use promote_platform::model::{self, Shape};
use promote_platform::{material, references};

/// What validating a tenant of a pattern still reads: the places of the pattern's holes that
/// the model reads and its credential fields that hold one, and its references that are holes.
#[derive(Debug)]
pub(crate) struct Holes {
    places: Place,
    /// Each workspace's references that are holes, by the workspace's key.
    references: Vec<(String, references::Hole)>,
}

/// The places of holes, as a tree of keys (each key on the way to several is looked up once).
#[derive(Debug, Default)]
struct Place {
    /// The shape the value here is read as, when a hole is here.
    shape: Option<Shape>,
    /// The pointer of the credential field here, when it holds a hole.
    field: Option<String>,
    /// The places below, by key (or list index), in tree order.
    below: Vec<(String, Place)>,
}

impl Holes {
    /// Reads `pattern`, a tenant tree whose values for which `is_hole` holds are each tenant's
    /// own; `None` when what it holds outside them has a finding (each tenant's tree is then
    /// validated whole, and the finding said as it always is).
    pub(crate) fn of(pattern: &Value, is_hole: &dyn Fn(&Value) -> bool) -> Option<Holes> {
        let root = pattern.as_object()?;
        let (decoded, typed) = model::decode_around(model::tenant(), pattern, is_hole);
        if !decoded.is_clean() {
            return None;
        }
        let mut problems = Vec::new();
        super::check_all_ids(root, &mut problems);
        if !problems.is_empty() || material::present(pattern, Scope::Tenant) {
            return None;
        }
        let mut refs = Vec::new();
        for (wid, at, ws) in super::workspaces(root) {
            let (broken, holes) = references::broken_around(root, ws, &at, is_hole);
            if !broken.is_empty() {
                return None;
            }
            refs.extend(holes.into_iter().map(|h| (wid.to_owned(), h)));
        }
        let mut places = Place::default();
        for hole in typed {
            places.place(&hole.path).shape = Some(hole.shape);
        }
        for (ptr, value) in credentials::Fields::without_markers(pattern, Scope::Tenant).found() {
            // Material would be refused as material, not as plain text: there is none here.
            if material::covering(ptr, Scope::Tenant).is_some() {
                continue;
            }
            if holds(value, is_hole) {
                places.place(&pointer::parse(ptr).ok()?).field = Some(ptr.to_owned());
            } else if credentials::holds_plain_text(ptr, value) {
                return None;
            }
        }
        Some(Holes {
            places,
            references: refs,
        })
    }

    /// How many places it keeps: what it costs to keep.
    pub(crate) fn size(&self) -> usize {
        self.places.size() + self.references.len()
    }

    /// Whether validating `tree`, a tree of this pattern that holds no secret marker, finds
    /// nothing at all: then [`super::rendered`] would return no error, no warning and no field
    /// to rename. `false` says only that it must be validated whole.
    ///
    /// The tree is read where it is ([`View`]): a tenant of the pattern read in its laid-out
    /// tree and its holes' values, or a tree built whole. Only the values at the places are
    /// read; the keys around them are the pattern's, which no hole changes.
    pub(crate) fn clean(&self, tree: View<'_>) -> bool {
        let Some(root) = tree.value().as_object() else {
            return false;
        };
        self.places.clean_at(tree)
            && self.references.iter().all(|(wid, hole)| {
                let ws = tree.child("servers").and_then(|servers| servers.child(wid));
                ws.is_some_and(|ws| reference_names(root, ws, hole))
            })
    }
}

/// Whether the value of reference `hole` of workspace `ws` names what it may.
fn reference_names(root: &Map<String, Value>, ws: View<'_>, hole: &references::Hole) -> bool {
    let Some(ws_map) = ws.value().as_object() else {
        return false;
    };
    let value = hole
        .path
        .iter()
        .try_fold(ws, |v, key| v.child(key))
        .filter(|_| !hole.path.is_empty());
    value.is_some_and(|v| references::names(root, ws_map, hole.place, &v.to_value()))
}

impl Place {
    /// How many places it keeps.
    fn size(&self) -> usize {
        1 + self.below.iter().map(|(_, b)| b.size()).sum::<usize>()
    }

    /// The node of the place `keys` lead to, made when missing. Places come in tree order:
    /// the one wanted is looked for from the last.
    fn place(&mut self, keys: &[String]) -> &mut Place {
        keys.iter().fold(self, |node, key| {
            let at = match node.below.iter().rposition(|(k, _)| k == key) {
                Some(at) => at,
                None => {
                    node.below.push((key.clone(), Place::default()));
                    node.below.len() - 1
                }
            };
            &mut node.below[at].1
        })
    }

    /// Whether the value at this node's place, and the values at the places below, are clean.
    fn clean_at(&self, view: View<'_>) -> bool {
        let value = (self.shape.is_some() || self.field.is_some()).then(|| view.to_value());
        let value = value.as_deref().unwrap_or(&Value::Null);
        let typed = self
            .shape
            .as_ref()
            .is_none_or(|shape| model::tenant().decode_as(shape, value, "").is_clean());
        let field = self
            .field
            .as_deref()
            .is_none_or(|ptr| !credentials::holds_plain_text(ptr, value));
        typed
            && field
            && self
                .below
                .iter()
                .all(|(key, below)| view.child(key).is_some_and(|v| below.clean_at(v)))
    }
}

/// Whether `value` is a hole or holds one.
fn holds(value: &Value, is_hole: &dyn Fn(&Value) -> bool) -> bool {
    is_hole(value)
        || match value {
            Value::Object(map) => map.values().any(|v| holds(v, is_hole)),
            Value::Array(items) => items.iter().any(|v| holds(v, is_hole)),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A tenant tree with fields of every kind a hole may be in: typed and enum fields, lists,
    /// credential fields (one structured), references, free-form metadata.
    fn tenant() -> Value {
        json!({
            "name": "acme",
            "pools": {"customers": {"name": "C"}},
            "themes": {"brand": {"name": "B"}},
            "servers": {"w": {
                "name": "W",
                "access_token_ttl": "10m0s",
                "policies": {"allow": {"policy_name": "Allow", "language": "rego"}},
                "scripts": {"map": {"body": "x"}},
                "clients": {"web": {
                    "client_name": "Web",
                    "client_uri": "https://web.example",
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["implicit", "authorization_code"],
                    "redirect_uris": ["https://web.example/cb"],
                    "client_secret": null,
                    "metadata": {"tier": "gold", "n": 3},
                }},
                "idps": {
                    "pool": {"identity_pool_id": "customers", "name": "P"},
                    "google": {"name": "G", "credentials": {"google": {"client_secret": null}}},
                },
                "policy_execution_points": {"client_access": "allow"},
                "theme_binding": {"theme_id": "brand"},
            }}
        })
    }

    /// Every leaf of `tree` (its scalars), by its keys.
    fn leaves(tree: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match tree {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    leaves(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    leaves(v, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }

    fn slot(tree: &mut Value, keys: &[String], value: Value) {
        let ptr = pointer::from_keys(keys);
        if let Some(at) = tree.pointer_mut(&ptr) {
            *at = value;
        }
    }

    fn is_hole(v: &Value) -> bool {
        matches!(v, Value::String(s) if s.starts_with('\u{E000}'))
    }

    /// `pattern` (its holes written `\u{E000}n\u{E001}`) as a laid-out tree whose hole `n`
    /// holds the value of `picks[n]`; `None` when a later pick took an earlier one's place.
    fn in_place(
        pattern: &Value,
        picks: &[(prop::sample::Index, Value)],
    ) -> Option<crate::render::filled::Filled> {
        fn mark(v: &mut Value) {
            match v {
                Value::Object(map) => map.values_mut().for_each(mark),
                Value::Array(items) => items.iter_mut().for_each(mark),
                Value::String(s) if s.starts_with('\u{E000}') => {
                    let n: usize = s.trim_matches(['\u{E000}', '\u{E001}']).parse().unwrap();
                    *s = crate::render::filled::marker(n);
                }
                _ => {}
            }
        }
        let mut marked = pattern.clone();
        mark(&mut marked);
        let laid = crate::render::filled::Laid::of(marked, picks.len())?;
        let values = picks.iter().map(|(_, v)| v.clone()).collect();
        crate::render::filled::Filled::new(std::sync::Arc::new(laid), values)
    }

    fn fill() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(null)),
            Just(json!(true)),
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!(18446744073709551615u64)),
            Just(json!("")),
            Just(json!("none")),
            Just(json!("implicit")),
            Just(json!("telepathy")),
            Just(json!("allow")),
            Just(json!("gone")),
            Just(json!("customers")),
            Just(json!("brand")),
            Just(json!("https://x.example")),
            Just(json!("hunter2")),
            Just(json!("10m0s")),
        ]
    }

    proptest! {
        /// Wherever the holes are and whatever fills them, reading a tree at its holes says it
        /// is clean exactly when validating it whole finds nothing.
        #[test]
        fn holes_are_clean_exactly_when_the_whole_tree_is(
            picks in prop::collection::vec((any::<prop::sample::Index>(), fill()), 1..6),
            moved in prop::collection::vec((any::<prop::sample::Index>(), fill()), 0..3),
        ) {
            let base = tenant();
            let mut places = Vec::new();
            leaves(&base, &mut Vec::new(), &mut places);
            let mut pattern = base.clone();
            let mut filled = base.clone();
            for (n, (index, value)) in picks.iter().enumerate() {
                let keys = &places[index.index(places.len())];
                slot(&mut pattern, keys, json!(format!("\u{E000}{n}\u{E001}")));
                slot(&mut filled, keys, value.clone());
            }
            // Values outside the holes change the pattern itself.
            for (index, value) in &moved {
                let keys = &places[index.index(places.len())];
                if !pattern.pointer(&pointer::from_keys(keys)).is_some_and(is_hole) {
                    slot(&mut pattern, keys, value.clone());
                    slot(&mut filled, keys, value.clone());
                }
            }
            let whole = super::super::rendered(&filled, false);
            let nothing = whole == super::super::Findings::default();
            match Holes::of(&pattern, &is_hole) {
                Some(holes) => {
                    prop_assert_eq!(holes.clean(View::whole(&filled)), nothing, "{:#?}", whole);
                    // Read in place, as the pattern's laid-out tree and the holes' values.
                    if let Some(tenant) = in_place(&pattern, &picks) {
                        prop_assert_eq!(tenant.view().to_value().into_owned(), filled.clone());
                        prop_assert_eq!(holes.clean(tenant.view()), nothing);
                    }
                }
                // The pattern's own values have a finding: so has every tree of it.
                None => prop_assert!(!nothing, "{:#}", pattern),
            }
        }
    }

    #[test]
    fn the_tenant_is_valid() {
        assert_eq!(
            super::super::tenant(&tenant()),
            super::super::Findings::default()
        );
    }

    #[test]
    fn a_clean_pattern_reads_its_holes() {
        let mut pattern = tenant();
        pattern["servers"]["w"]["clients"]["web"]["client_uri"] = json!("\u{E000}0\u{E001}");
        pattern["servers"]["w"]["idps"]["google"]["credentials"]["google"]["client_secret"] =
            json!("\u{E000}1\u{E001}");
        let holes = Holes::of(&pattern, &is_hole).expect("clean outside its holes");
        // The root, servers/w, then clients/web/client_uri and idps/google/credentials/google/
        // client_secret: the keys on the way are kept once.
        assert_eq!(holes.size(), 1 + 2 + 3 + 5);
        let mut tree = tenant();
        assert!(holes.clean(View::whole(&tree)));
        tree["servers"]["w"]["clients"]["web"]["client_uri"] = json!(8443);
        assert!(!holes.clean(View::whole(&tree)));
        let mut tree = tenant();
        tree["servers"]["w"]["idps"]["google"]["credentials"]["google"]["client_secret"] =
            json!("hunter2");
        assert!(!holes.clean(View::whole(&tree)));
        // A pattern with plain text of its own is not read at its holes.
        pattern["servers"]["w"]["clients"]["web"]["client_secret"] = json!("hunter2");
        assert!(Holes::of(&pattern, &is_hole).is_none());
    }
}

//! A tree read against the model as the platform's decoder (Go's `encoding/json` into the
//! SDK's typed structures) reads it: a value of the wrong JSON type is refused (400), a field no
//! type has is dropped without a word, null is accepted anywhere (it leaves the field unset),
//! and names match without regard to case.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Model, Shape};
use crate::sorted::Ahead;
use crate::{pointer, tree};

/// A value of a known field with the wrong JSON type: the platform refuses the whole write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrongType {
    pub pointer: String,
    /// What the field holds ("a boolean").
    pub expected: String,
    /// What the value is ("a string").
    pub found: String,
}

/// A field its object type does not have: the platform drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unknown {
    pub pointer: String,
    /// The key as written.
    pub field: String,
    /// The object type it was found in.
    pub in_type: String,
    /// The known field nearest to it, when one is near enough to be what was meant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest: Option<String>,
}

/// A field written in another case than the platform's (`Client_Name`): the platform reads it
/// as its own field, and where the object also has that field, keeps whichever comes last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Folded {
    pub pointer: String,
    /// The key as written.
    pub field: String,
    /// The platform's spelling.
    pub canonical: String,
    /// Whether the object also has the field as the platform spells it.
    pub duplicate: bool,
}

/// A string outside the values the spec lists for its field: the platform may know more
/// values than its description (it adds them between releases), so this is only a doubt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideEnum {
    pub pointer: String,
    pub value: String,
    /// The values the spec lists.
    pub known: Vec<String>,
}

/// What reading a tree against the model found, each in tree order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decoded {
    pub wrong_types: Vec<WrongType>,
    pub unknown: Vec<Unknown>,
    pub folded: Vec<Folded>,
    pub outside_enum: Vec<OutsideEnum>,
}

impl Decoded {
    /// Whether the platform would take the tree as it is, every field known.
    pub fn is_clean(&self) -> bool {
        self.wrong_types.is_empty()
            && self.unknown.is_empty()
            && self.folded.is_empty()
            && self.outside_enum.is_empty()
    }
}

/// Reads a whole tenant tree against `model`.
pub fn decode(model: &Model, tree: &Value) -> Decoded {
    model.decode_as(&Shape::Object(model.root.clone()), tree, "")
}

/// A value of a tree that stands for one not known yet, found by [`decode_around`]: its place
/// (the keys and list indices from the root) and the shape the value will be read as there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub path: Vec<String>,
    pub shape: Shape,
}

/// [`decode`] of a tenant tree some of whose values stand for values not known yet (those
/// `is_hole` says so of): what reading the rest of the tree finds, and the holes, in tree
/// order. What reading a value finds depends only on the value and the shape of its place,
/// which depends only on the keys above it: a tree that differs from this one only in the
/// holes' values finds what this one finds, and what [`Model::decode_as`] finds in each
/// hole's value read as its shape.
pub fn decode_around<'m>(
    model: &'m Model,
    tree: &Value,
    is_hole: &'m dyn Fn(&Value) -> bool,
) -> (Decoded, Vec<Hole>) {
    let mut walk = Walk {
        model,
        at: "",
        path: Vec::new(),
        out: Decoded::default(),
        holes: Some((is_hole, Vec::new())),
    };
    walk.value(&Shape::Object(model.root.clone()), tree);
    let holes = walk.holes.map(|(_, holes)| holes).unwrap_or_default();
    (walk.out, holes)
}

impl Model {
    /// Reads `value`, found at pointer `at`, as a value of `shape`.
    pub fn decode_as(&self, shape: &Shape, value: &Value, at: &str) -> Decoded {
        let mut walk = Walk {
            model: self,
            at,
            path: Vec::new(),
            out: Decoded::default(),
            holes: None,
        };
        walk.value(shape, value);
        walk.out
    }
}

/// A key or index on the way from where a walk started.
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

/// One walk of a tree: the path is kept as borrowed steps, and a pointer is built only for
/// a finding, so a clean tree costs no allocation per value.
struct Walk<'m, 'v> {
    model: &'m Model,
    at: &'m str,
    path: Vec<Step<'v>>,
    out: Decoded,
    /// For [`decode_around`]: which values are holes, and the holes found.
    holes: Option<(IsHole<'m>, Vec<Hole>)>,
}

/// Says which values of a tree are holes ([`decode_around`]).
type IsHole<'m> = &'m dyn Fn(&Value) -> bool;

impl<'v> Walk<'_, 'v> {
    fn pointer(&self) -> String {
        let mut p = self.at.to_owned();
        for step in &self.path {
            match step {
                Step::Key(k) => p = pointer::join(&p, k),
                Step::Index(i) => p = format!("{p}/{i}"),
            }
        }
        p
    }

    fn value(&mut self, shape: &Shape, value: &'v Value) {
        if value.is_null() {
            return;
        }
        if let Some((is_hole, holes)) = &mut self.holes {
            if is_hole(value) {
                let path = self
                    .path
                    .iter()
                    .map(|step| match step {
                        Step::Key(k) => (*k).to_owned(),
                        Step::Index(i) => i.to_string(),
                    })
                    .collect();
                holes.push(Hole {
                    path,
                    shape: shape.clone(),
                });
                return;
            }
        }
        match (shape, value) {
            (Shape::Any, _)
            | (Shape::Boolean, Value::Bool(_))
            | (Shape::Number, Value::Number(_)) => {}
            (Shape::Integer { unsigned }, Value::Number(n)) => {
                let fits = if *unsigned {
                    n.as_u64().is_some()
                } else {
                    n.as_i64().is_some()
                };
                if !fits {
                    // Whole numbers past u64 are read as floating point: too large, not
                    // fractional.
                    let huge = n
                        .as_f64()
                        .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18);
                    let found = if huge {
                        "a number too large for it"
                    } else if n.is_f64() {
                        "a number with a fraction or an exponent"
                    } else if n.as_i64().is_some() {
                        "a negative number"
                    } else {
                        "a number too large for it"
                    };
                    self.wrong(shape, found);
                }
            }
            (Shape::String { values, .. }, Value::String(s)) => {
                if !values.is_empty() && !values.contains(s) {
                    let pointer = self.pointer();
                    self.out.outside_enum.push(OutsideEnum {
                        pointer,
                        value: s.clone(),
                        known: values.clone(),
                    });
                }
            }
            (Shape::Array(items), Value::Array(list)) => {
                for (i, item) in list.iter().enumerate() {
                    self.path.push(Step::Index(i));
                    self.value(items, item);
                    self.path.pop();
                }
            }
            (Shape::Map(values), Value::Object(map)) => {
                for (key, v) in map {
                    self.path.push(Step::Key(key));
                    self.value(values, v);
                    self.path.pop();
                }
            }
            (Shape::Object(ty), Value::Object(map)) => self.object(ty, map),
            _ => self.wrong(shape, tree::kind(value)),
        }
    }

    fn object(&mut self, ty: &str, map: &'v Map<String, Value>) {
        let model = self.model;
        let fields = model.fields(ty);
        // The keys and the fields are both in byte order (a map without `preserve_order` is
        // sorted): the field a key names exactly is found by walking on, not looked up. A key
        // the walk does not find (a field written in another case, one the type does not have,
        // or keys in another order) is looked up.
        let mut ahead = Ahead::new(fields.iter());
        for (key, v) in map {
            self.path.push(Step::Key(key));
            let exact = ahead.find(key).map(|(name, shape)| (name.as_str(), shape));
            match exact.or_else(|| super::field_in(fields, key)) {
                Some((name, shape)) => {
                    if name != key {
                        let pointer = self.pointer();
                        self.out.folded.push(Folded {
                            pointer,
                            field: key.clone(),
                            canonical: name.to_owned(),
                            duplicate: map.contains_key(name),
                        });
                    }
                    self.value(shape, v)
                }
                None => {
                    let pointer = self.pointer();
                    self.out.unknown.push(Unknown {
                        pointer,
                        field: key.clone(),
                        in_type: ty.to_owned(),
                        nearest: model.nearest(ty, key).map(str::to_owned),
                    });
                }
            }
            self.path.pop();
        }
    }

    fn wrong(&mut self, shape: &Shape, found: &str) {
        let pointer = self.pointer();
        self.out.wrong_types.push(WrongType {
            pointer,
            expected: shape.describe(),
            found: found.to_owned(),
        });
    }
}

/// Gives the fields `folded` (found by [`decode`] in `tree`) the platform's spelling, as the
/// platform reads them: where a map has both spellings, the one written in another case wins,
/// as it does when it comes last. Fields the model does not know are left as they are.
pub fn rename_folded(tree: &mut Value, folded: &[Folded]) {
    // Deepest first: [`decode`] lists a field before the fields inside it, so renaming in
    // reverse leaves the pointers of the fields still to rename valid.
    for f in folded.iter().rev() {
        let Ok(mut tokens) = pointer::parse(&f.pointer) else {
            continue;
        };
        tokens.pop();
        let parent = pointer::from_keys(&tokens);
        if let Some(Value::Object(map)) = tree.pointer_mut(&parent) {
            if let Some(v) = map.remove(&f.field) {
                map.insert(f.canonical.clone(), v);
            }
        }
    }
}

/// Makes `tree` what the platform stores of it: fields named without regard to case take the
/// model's spelling, and fields the model does not know are dropped unless `keep_unknown`.
/// Values of the wrong type are left as they are ([`decode`] finds them first).
pub fn canonicalize(model: &Model, tree: &mut Value, keep_unknown: bool) {
    let root = Shape::Object(model.root.clone());
    canonical(model, &root, tree, keep_unknown);
}

fn canonical(model: &Model, shape: &Shape, value: &mut Value, keep_unknown: bool) {
    match (shape, value) {
        (Shape::Array(items), Value::Array(list)) => {
            for item in list {
                canonical(model, items, item, keep_unknown);
            }
        }
        (Shape::Map(values), Value::Object(map)) => {
            for v in map.values_mut() {
                canonical(model, values, v, keep_unknown);
            }
        }
        (Shape::Object(ty), Value::Object(map)) => {
            let taken = std::mem::take(map);
            for (key, mut v) in taken {
                match model.field(ty, &key) {
                    Some((name, shape)) => {
                        canonical(model, shape, &mut v, keep_unknown);
                        // Go's decoder keeps the last of several keys naming one field.
                        map.insert(name.to_owned(), v);
                    }
                    None if keep_unknown => {
                        map.insert(key, v);
                    }
                    None => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tenant;
    use serde_json::json;

    fn tree() -> Value {
        json!({"name": "acme", "servers": {"w": {"clients": {"c": {
            "client_uri": 42,
            "backchannel_logout_session_required": "yes",
            "token_endpoint_auth_methd": "client_secret_basic",
            "grant_types": ["client_credentials", "telepathy"],
            "metadata": {"owner": {"any": ["thing"]}},
            "redirect_uris": null
        }}}}})
    }

    #[test]
    fn wrong_types_unknown_fields_and_enums_are_found_at_their_pointers() {
        let d = decode(tenant(), &tree());
        let at = "/servers/w/clients/c";
        assert_eq!(
            d.wrong_types,
            [
                WrongType {
                    pointer: format!("{at}/backchannel_logout_session_required"),
                    expected: "a boolean".into(),
                    found: "a string".into()
                },
                WrongType {
                    pointer: format!("{at}/client_uri"),
                    expected: "a string".into(),
                    found: "a number".into()
                },
            ]
        );
        assert_eq!(d.unknown.len(), 1);
        assert_eq!(
            d.unknown[0].pointer,
            format!("{at}/token_endpoint_auth_methd")
        );
        assert_eq!(
            d.unknown[0].nearest.as_deref(),
            Some("token_endpoint_auth_method")
        );
        assert_eq!(d.outside_enum.len(), 1, "{d:?}");
        assert!(d.folded.is_empty());
        assert_eq!(d.outside_enum[0].pointer, format!("{at}/grant_types/1"));
    }

    #[test]
    fn fields_in_another_case_are_read_as_the_platforms() {
        let d = decode(
            tenant(),
            &json!({"NAME": 5, "servers": {"w": {"Name": "a", "name": "b"}}}),
        );
        let folded: Vec<(&str, &str, bool)> = d
            .folded
            .iter()
            .map(|f| (f.pointer.as_str(), f.canonical.as_str(), f.duplicate))
            .collect();
        assert_eq!(
            folded,
            [("/NAME", "name", false), ("/servers/w/Name", "name", true)]
        );
        // Its type is the field's.
        assert_eq!(d.wrong_types[0].pointer, "/NAME");
    }

    #[test]
    fn folded_names_are_renamed_deepest_first() {
        let mut t =
            json!({"Servers": {"w": {"Clients": {"c": {"Client_Name": "a", "future": 1}}}}});
        let d = decode(tenant(), &t);
        rename_folded(&mut t, &d.folded);
        assert_eq!(
            t,
            json!({"servers": {"w": {"clients": {"c": {"client_name": "a", "future": 1}}}}})
        );
    }

    #[test]
    fn holes_are_left_for_their_values_and_the_rest_is_read() {
        let hole = |v: &Value| v.as_str().is_some_and(|s| s.starts_with('?'));
        let t = json!({"name": "?", "servers": {"w": {"clients": {"c": {
            "client_uri": "?", "grant_types": ["?", "telepathy"], "nope": "?"
        }}}}});
        let (found, holes) = decode_around(tenant(), &t, &hole);
        let at = "/servers/w/clients/c";
        assert_eq!(found.outside_enum.len(), 1);
        assert_eq!(found.outside_enum[0].pointer, format!("{at}/grant_types/1"));
        // An unknown field is found by its key, whatever it holds.
        assert_eq!(found.unknown.len(), 1);
        let places: Vec<String> = holes.iter().map(|h| h.path.join("/")).collect();
        assert_eq!(
            places,
            [
                "name",
                "servers/w/clients/c/client_uri",
                "servers/w/clients/c/grant_types/0"
            ]
        );
        // Each hole's value read as its shape finds what reading the whole tree would.
        let mut filled = t.clone();
        filled["servers"]["w"]["clients"]["c"]["client_uri"] = json!(42);
        filled["servers"]["w"]["clients"]["c"]["grant_types"][0] = json!("implicit");
        filled["name"] = json!("acme");
        let whole = decode(tenant(), &filled);
        let uri = &holes[1];
        let d = tenant().decode_as(&uri.shape, &json!(42), &format!("/{}", uri.path.join("/")));
        assert_eq!(d.wrong_types, whole.wrong_types);
        assert!(tenant()
            .decode_as(&holes[2].shape, &json!("implicit"), "")
            .is_clean());
    }

    #[test]
    fn integers_are_whole_numbers_in_range() {
        let m = tenant();
        let int = Shape::Integer { unsigned: false };
        let uint = Shape::Integer { unsigned: true };
        assert!(m.decode_as(&int, &json!(-3), "").is_clean());
        assert_eq!(m.decode_as(&int, &json!(1.5), "").wrong_types.len(), 1);
        assert_eq!(m.decode_as(&uint, &json!(-1), "").wrong_types.len(), 1);
        assert_eq!(
            m.decode_as(&int, &json!(u64::MAX), "").wrong_types[0].found,
            "a number too large for it"
        );
        assert_eq!(
            m.decode_as(&uint, &json!(1e20), "").wrong_types[0].found,
            "a number too large for it"
        );
    }

    #[test]
    fn canonical_form_takes_the_models_spelling_and_drops_unknown_fields() {
        let mut t = json!({"NAME": "acme", "nope": 1, "servers": {"w": {"Clients": {"c": {"Client_Uri": "x", "zz": 1}}}}});
        canonicalize(tenant(), &mut t, false);
        assert_eq!(
            t,
            json!({"name": "acme", "servers": {"w": {"clients": {"c": {"client_uri": "x"}}}}})
        );
        let mut kept = json!({"nope": 1});
        canonicalize(tenant(), &mut kept, true);
        assert_eq!(kept, json!({"nope": 1}));
    }
}

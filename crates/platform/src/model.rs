//! The platform's types of a tenant tree, as its API description declares them: every object
//! type with its fields, each field's JSON type, format and enum, and which maps are keyed by ID.
//!
//! The model is derived from the vendor's OpenAPI description (`hub-promote.yaml`) by
//! [`import`] (run by `cargo run --example import-spec -- SPEC`) and checked in as
//! `model.json`, which the build embeds: the build never needs the spec, and a newer spec is
//! taken in by running the generator again and reviewing the diff. [`tenant`] is the embedded
//! model; [`decode()`] walks a tree against it as the platform's decoder does.
//!
//! The spec is not the whole truth: the platform adds fields between releases, so a field the
//! model does not know is something the platform may drop, never an error by itself.

mod decode;
pub mod import;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use decode::{
    canonicalize, decode, decode_around, rename_folded, Decoded, Folded, Hole, OutsideEnum,
    Unknown, WrongType,
};

/// What a field holds: the JSON type the platform decodes it into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Any JSON value (Go's `interface{}`, which the spec writes as a bare `type: object`).
    Any,
    Boolean,
    /// A whole number; `unsigned` for the spec's `uint64`.
    Integer {
        #[serde(default, skip_serializing_if = "is_false")]
        unsigned: bool,
    },
    /// Any number.
    Number,
    String {
        /// The spec's `format` (`date-time`, `duration`, or an ID kind such as `policyID`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        /// The values the spec lists; the platform adds values between releases.
        #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
        values: Vec<String>,
    },
    /// A list of one shape.
    Array(Box<Shape>),
    /// A map from any key to one shape: a collection keyed by ID when the shape is an object.
    Map(Box<Shape>),
    /// An object type of the model, by name.
    Object(String),
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Shape {
    /// What a value of this shape is, for messages ("a string", "a map of client").
    pub fn describe(&self) -> String {
        match self {
            Shape::Any => "any value".into(),
            Shape::Boolean => "a boolean".into(),
            Shape::Integer { unsigned: false } => "an integer".into(),
            Shape::Integer { unsigned: true } => "a non-negative integer".into(),
            Shape::Number => "a number".into(),
            Shape::String { .. } => "a string".into(),
            Shape::Array(_) => "a list".into(),
            Shape::Map(_) | Shape::Object(_) => "a map".into(),
        }
    }

    /// The object type of the entries when this is a map of objects (a collection keyed by ID).
    pub fn keyed_object(&self) -> Option<&str> {
        match self {
            Shape::Map(inner) => match &**inner {
                Shape::Object(name) => Some(name),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An object type: its fields by name, as the platform spells them.
pub type Fields = BTreeMap<String, Shape>;

/// The platform's types of a tenant tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Where the model was derived from (the spec's title and version).
    pub source: String,
    /// The type of a whole tenant.
    pub root: String,
    /// Every object type reachable from [`Model::root`], by name.
    pub types: BTreeMap<String, Fields>,
    /// Fields the platform computes and ignores on writes, as `Type.field`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only: Vec<String>,
}

/// The checked-in model, as the generator wrote it.
pub const TEXT: &str = include_str!("model.json");

static TENANT: LazyLock<Model> = LazyLock::new(|| {
    // The embedded model is parsed by this crate's unit tests, so this cannot fail in a build
    // that passed them.
    serde_json::from_str(TEXT).expect("model.json is a model (checked by the unit tests)")
});

/// The embedded model of the platform's tenant tree.
pub fn tenant() -> &'static Model {
    &TENANT
}

impl Model {
    /// The fields of an object type (empty for a name the model does not have).
    pub fn fields(&self, ty: &str) -> &Fields {
        static NONE: Fields = BTreeMap::new();
        self.types.get(ty).unwrap_or(&NONE)
    }

    /// The field of `ty` that `key` names, as the platform's decoder matches it: the exact
    /// name, else a name equal to it without regard to case (Go's `encoding/json`). Returns
    /// the field's own spelling and its shape.
    pub fn field<'m>(&'m self, ty: &str, key: &str) -> Option<(&'m str, &'m Shape)> {
        field_in(self.fields(ty), key)
    }

    /// The shape at a path of keys from the root (map keys and list indexes included), or
    /// `None` where the path leaves the model.
    pub fn shape_at<S: AsRef<str>>(&self, path: &[S]) -> Option<Shape> {
        let mut shape = Shape::Object(self.root.clone());
        for key in path {
            shape = match shape {
                Shape::Object(ty) => self.field(&ty, key.as_ref())?.1.clone(),
                Shape::Map(inner) | Shape::Array(inner) => *inner,
                Shape::Any => return Some(Shape::Any),
                _ => return None,
            };
        }
        Some(shape)
    }

    /// The fields the model does not know in `value`, written at `path` (keys from the root),
    /// as the platform's decoder would drop them: `path` itself when its last key is not a
    /// field of its object, else every unknown field inside `value`.
    pub fn unknown_in<S: AsRef<str>>(&self, path: &[S], value: &Value) -> Vec<Unknown> {
        let at = crate::pointer::from_keys(path);
        if let Some(shape) = self.shape_at(path) {
            return self.decode_as(&shape, value, &at).unknown;
        }
        // The first key that leaves the model, if its parent is an object type.
        for len in 1..=path.len() {
            if self.shape_at(&path[..len]).is_some() {
                continue;
            }
            if let Some(Shape::Object(ty)) = self.shape_at(&path[..len - 1]) {
                let field = path[len - 1].as_ref();
                return vec![Unknown {
                    pointer: crate::pointer::from_keys(&path[..len]),
                    field: field.to_owned(),
                    nearest: self.nearest(&ty, field).map(str::to_owned),
                    in_type: ty,
                }];
            }
            break;
        }
        Vec::new()
    }

    /// The known field of `ty` nearest to the unknown `key`, when one is near enough to be
    /// what was meant.
    pub fn nearest(&self, ty: &str, key: &str) -> Option<&str> {
        // A key much longer or shorter than every name is near none of them, and costs
        // nothing: the distance is at least the difference in length, and at most 4 counts.
        let key = key.to_ascii_lowercase();
        self.fields(ty)
            .keys()
            .filter(|name| name.len().abs_diff(key.len()) <= 4)
            .map(|name| (strsim::levenshtein(&key, name), name))
            .filter(|(d, name)| *d <= (name.len().max(key.len()) / 3).clamp(1, 4))
            .min()
            .map(|(_, name)| name.as_str())
    }

    /// Whether `Type.field` is computed by the platform.
    pub fn is_read_only(&self, ty: &str, field: &str) -> bool {
        self.read_only
            .iter()
            .any(|f| f.split_once('.') == Some((ty, field)))
    }
}

/// The field of `fields` (an object type's) that `key` names (see [`Model::field`]): for a
/// walk that looks the type up once per object, not once per key.
pub fn field_in<'m>(fields: &'m Fields, key: &str) -> Option<(&'m str, &'m Shape)> {
    if let Some((name, shape)) = fields.get_key_value(key) {
        return Some((name, shape));
    }
    fields
        .iter()
        .find(|(name, _)| crate::credentials::folds_to(key, name))
        .map(|(name, shape)| (name.as_str(), shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_parses_and_reaches_every_type_it_names() {
        let m = tenant();
        assert!(m.types.contains_key(&m.root));
        fn names(s: &Shape, out: &mut Vec<String>) {
            match s {
                Shape::Object(n) => out.push(n.clone()),
                Shape::Array(i) | Shape::Map(i) => names(i, out),
                _ => {}
            }
        }
        for (ty, fields) in &m.types {
            for (f, shape) in fields {
                let mut out = Vec::new();
                names(shape, &mut out);
                for n in out {
                    assert!(m.types.contains_key(&n), "{ty}.{f} names unknown type {n}");
                }
            }
        }
    }

    #[test]
    fn fields_match_as_the_platforms_decoder_matches_them() {
        let m = tenant();
        assert_eq!(
            m.field("TreeClient", "client_uri").map(|f| f.0),
            Some("client_uri")
        );
        assert_eq!(
            m.field("TreeClient", "Client_URI").map(|f| f.0),
            Some("client_uri")
        );
        assert_eq!(m.field("TreeClient", "client_url"), None);
        assert_eq!(
            m.nearest("TreeClient", "token_endpoint_auth_methd"),
            Some("token_endpoint_auth_method")
        );
        assert_eq!(m.nearest("TreeClient", "zzzzzz"), None);
    }

    #[test]
    fn unknown_fields_are_found_at_a_path_or_inside_its_value() {
        let m = tenant();
        let found = m.unknown_in(
            &["servers", "w", "clients", "c", "token_endpoint_auth_methd"],
            &serde_json::json!("x"),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].pointer,
            "/servers/w/clients/c/token_endpoint_auth_methd"
        );
        assert_eq!(
            found[0].nearest.as_deref(),
            Some("token_endpoint_auth_method")
        );
        let inside = m.unknown_in(
            &["servers", "w", "clients", "c"],
            &serde_json::json!({"client_name": "c", "scopez": []}),
        );
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].pointer, "/servers/w/clients/c/scopez");
        assert!(m
            .unknown_in(&["metadata", "x", "y"], &serde_json::json!(1))
            .is_empty());
    }

    #[test]
    fn shapes_are_found_along_a_path() {
        let m = tenant();
        let at = |p: &str| m.shape_at(&p.split('/').collect::<Vec<_>>());
        assert_eq!(
            at("servers/w/clients/c/client_uri"),
            Some(Shape::String {
                format: None,
                values: vec![]
            })
        );
        assert_eq!(at("servers/w/clients/c/nope"), None);
        assert_eq!(at("metadata/anything/deep"), Some(Shape::Any));
        assert!(at("servers/w/clients").unwrap().keyed_object() == Some("TreeClient"));
    }
}

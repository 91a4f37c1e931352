//! The model derived from the vendor's API description (Swagger 2.0, `hub-promote.yaml`), and
//! the description "opened" for conformance tools: run by `cargo run --example import-spec`.
//!
//! Only facts are taken: names, JSON types, formats, enums, nesting and keyed maps, never the
//! description texts. One artifact of the vendor's generator is read right here and nowhere
//! else: Go's `interface{}` is written as a bare `type: object` (no `properties`, no
//! `additionalProperties`), which means any JSON value.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{Fields, Model, Shape};

/// The definition of a whole tenant.
pub const ROOT: &str = "TreeTenant";

/// A spec that cannot be read as the vendor writes it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(String);

/// Derives the model of the tenant tree from `spec` (the whole document, as JSON).
pub fn model(spec: &Value) -> Result<Model, ImportError> {
    let defs = spec
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError("the spec has no `definitions`".into()))?;
    let mut reader = Reader {
        defs,
        types: BTreeMap::new(),
        read_only: BTreeSet::new(),
        pending: vec![(ROOT.to_owned(), def(defs, ROOT)?.clone())],
    };
    while let Some((name, schema)) = reader.pending.pop() {
        if reader.types.contains_key(&name) {
            continue;
        }
        // Claimed before its fields are read, so a type that holds itself ends.
        reader.types.insert(name.clone(), Fields::new());
        let mut fields = Fields::new();
        let props = schema.get("properties").and_then(Value::as_object);
        for (field, s) in props.into_iter().flatten() {
            let shape = reader.shape(s, &format!("{name}.{field}"))?;
            if s.get("readOnly") == Some(&Value::Bool(true)) {
                reader.read_only.insert(format!("{name}.{field}"));
            }
            fields.insert(field.clone(), shape);
        }
        reader.types.insert(name, fields);
    }
    let info = spec.get("info");
    let text = |k: &str| {
        info.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .unwrap_or("?")
    };
    Ok(Model {
        source: format!(
            "{} (version {}): the definitions a tenant tree reaches from {ROOT}",
            text("title"),
            text("version")
        ),
        root: ROOT.to_owned(),
        types: reader.types,
        read_only: reader.read_only.into_iter().collect(),
    })
}

fn def<'a>(defs: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ImportError> {
    defs.get(name)
        .ok_or_else(|| ImportError(format!("`#/definitions/{name}` is not defined")))
}

struct Reader<'a> {
    defs: &'a Map<String, Value>,
    types: BTreeMap<String, Fields>,
    read_only: BTreeSet<String>,
    /// Object types still to read: their name and schema.
    pending: Vec<(String, Value)>,
}

impl Reader<'_> {
    /// The shape of `schema`; `name` names it if it is an object type written inline.
    fn shape(&mut self, schema: &Value, name: &str) -> Result<Shape, ImportError> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = r
                .strip_prefix("#/definitions/")
                .ok_or_else(|| ImportError(format!("`{r}` is not a reference to a definition")))?;
            let d = def(self.defs, target)?;
            return self.shape(d, target);
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let format = schema.get("format").and_then(Value::as_str);
        Ok(match ty {
            Some("string") => Shape::String {
                format: format.map(str::to_owned),
                values: schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            },
            Some("boolean") => Shape::Boolean,
            Some("integer") => Shape::Integer {
                unsigned: format == Some("uint64"),
            },
            Some("number") => Shape::Number,
            Some("array") => {
                let items = schema.get("items").unwrap_or(&Value::Null);
                Shape::Array(Box::new(self.shape(items, &format!("{name}[]"))?))
            }
            Some("object") if schema.get("properties").is_some() => {
                self.pending.push((name.to_owned(), schema.clone()));
                Shape::Object(name.to_owned())
            }
            Some("object") => match schema.get("additionalProperties") {
                Some(values @ Value::Object(_)) => {
                    Shape::Map(Box::new(self.shape(values, &format!("{name}{{}}"))?))
                }
                _ => Shape::Any,
            },
            None => Shape::Any,
            Some(other) => {
                return Err(ImportError(format!(
                    "`{name}` has type `{other}`, which the model does not know"
                )))
            }
        })
    }
}

/// The model as the checked-in file holds it: JSON with one field per line, so that a newer
/// spec shows as a reviewable diff.
pub fn model_text(model: &Model) -> String {
    let mut out = String::from("{\n");
    out.push_str(&format!("  \"source\": {},\n", js(&model.source)));
    out.push_str(&format!("  \"root\": {},\n", js(&model.root)));
    out.push_str(&format!("  \"read_only\": {},\n", js(&model.read_only)));
    out.push_str("  \"types\": {\n");
    let mut types = model.types.iter().peekable();
    while let Some((name, fields)) = types.next() {
        out.push_str(&format!("    {}: {{", js(name)));
        let mut fs = fields.iter().peekable();
        if fs.peek().is_some() {
            out.push('\n');
        }
        while let Some((field, shape)) = fs.next() {
            let comma = if fs.peek().is_some() { "," } else { "" };
            out.push_str(&format!("      {}: {}{comma}\n", js(field), js(shape)));
            if comma.is_empty() {
                out.push_str("    ");
            }
        }
        let comma = if types.peek().is_some() { "," } else { "" };
        out.push_str(&format!("}}{comma}\n"));
    }
    out.push_str("  }\n}\n");
    out
}

/// JSON text of a string, a list of strings or a shape, for [`model_text`].
fn js<T: serde::Serialize + ?Sized>(v: &T) -> String {
    // These serialize without fail: their map keys are strings.
    serde_json::to_string(v).unwrap_or_default()
}

/// Keys whose values are texts for people, left out of the opened spec.
const TEXTS: &[&str] = &["description", "example", "title", "summary"];

/// Keys whose values are maps of names (property names, definition names, paths), not schemas
/// or operations: their keys are never texts to strip.
const NAMED: &[&str] = &[
    "properties",
    "definitions",
    "paths",
    "responses",
    "securityDefinitions",
    "scopes",
];

/// The spec as a conformance tool should read it: description texts left out, every bare
/// `type: object` (Go's `interface{}`) opened to any value, and null accepted by every schema
/// of a definition (the platform's decoder takes null for any field and leaves it unset).
pub fn opened(spec: &Value) -> Value {
    let mut out = spec.clone();
    open(&mut out, None, false);
    // The spec's name stays: it is what the model says it was derived from.
    if let (Some(title), Some(info)) = (
        spec.pointer("/info/title"),
        out.get_mut("info").and_then(Value::as_object_mut),
    ) {
        info.insert("title".into(), title.clone());
    }
    out
}

fn open(v: &mut Value, parent: Option<&str>, in_definitions: bool) {
    match v {
        Value::Object(map) => {
            let named = parent.is_some_and(|p| NAMED.contains(&p));
            if !named {
                map.retain(|k, _| !TEXTS.contains(&k.as_str()));
                if is_schema(map) && in_definitions {
                    let bare = map.get("type").and_then(Value::as_str) == Some("object")
                        && !map.contains_key("properties")
                        && !map.contains_key("additionalProperties");
                    if bare {
                        map.remove("type");
                    }
                    if !map.contains_key("$ref") {
                        map.insert("x-nullable".into(), Value::Bool(true));
                    }
                }
            }
            for (k, child) in map.iter_mut() {
                let key = if named { None } else { Some(k.as_str()) };
                let inside = in_definitions || k == "definitions";
                open(child, key, inside);
            }
        }
        Value::Array(list) => {
            for item in list {
                open(item, parent, in_definitions);
            }
        }
        _ => {}
    }
}

/// Whether a map is a schema (it has a type or a reference).
fn is_schema(map: &Map<String, Value>) -> bool {
    map.contains_key("type") || map.contains_key("$ref")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        json!({
            "info": {"title": "T", "version": "1", "description": "long text"},
            "paths": {"/x": {"post": {"description": "d", "summary": "s"}}},
            "definitions": {
                "TreeTenant": {"type": "object", "properties": {
                    "name": {"type": "string", "description": "text", "x-nullable": false},
                    "title": {"type": "string"},
                    "metadata": {"$ref": "#/definitions/Metadata"},
                    "servers": {"$ref": "#/definitions/TreeServers"},
                    "ttl": {"$ref": "#/definitions/Duration"},
                    "styling": {"type": "object", "properties": {"colors": {"type": "object", "properties": {"primary": {"type": "string"}}}}},
                    "any": {"type": "object"},
                    "computed": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "readOnly": true}
                }},
                "Metadata": {"type": "object", "additionalProperties": {"type": "object"}},
                "TreeServers": {"type": "object", "additionalProperties": {"$ref": "#/definitions/TreeServer"}},
                "TreeServer": {"type": "object", "properties": {"parent": {"$ref": "#/definitions/TreeServer"}, "n": {"type": "integer", "format": "uint64"}}},
                "Duration": {"type": "integer", "format": "int64"},
                "Unreached": {"type": "object", "properties": {}}
            }
        })
    }

    #[test]
    fn the_model_follows_references_aliases_and_inline_objects() {
        let m = model(&spec()).unwrap();
        assert_eq!(
            m.types.keys().collect::<Vec<_>>(),
            [
                "TreeServer",
                "TreeTenant",
                "TreeTenant.styling",
                "TreeTenant.styling.colors"
            ]
        );
        let t = &m.types["TreeTenant"];
        assert_eq!(t["metadata"], Shape::Map(Box::new(Shape::Any)));
        assert_eq!(t["any"], Shape::Any);
        assert_eq!(t["ttl"], Shape::Integer { unsigned: false });
        assert_eq!(t["servers"].keyed_object(), Some("TreeServer"));
        assert_eq!(
            m.types["TreeServer"]["n"],
            Shape::Integer { unsigned: true }
        );
        assert_eq!(m.read_only, ["TreeTenant.computed"]);
        let text = model_text(&m);
        let back: Model = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        assert!(!text.contains("text"), "{text}");
    }

    #[test]
    fn the_opened_spec_has_no_texts_and_reads_interface_as_any_value() {
        let o = opened(&spec());
        let s = o.to_string();
        for text in ["long text", "\"d\"", "\"s\"", "\"text\""] {
            assert!(!s.contains(text), "{text} in {s}");
        }
        let defs = &o["definitions"];
        // A property named like a text key is a name, not a text.
        assert!(defs["TreeTenant"]["properties"].get("title").is_some());
        assert_eq!(
            defs["TreeTenant"]["properties"]["any"],
            json!({"x-nullable": true})
        );
        assert_eq!(
            defs["Metadata"]["additionalProperties"],
            json!({"x-nullable": true})
        );
        assert_eq!(
            defs["TreeTenant"]["properties"]["name"],
            json!({"type": "string", "x-nullable": true})
        );
    }
}

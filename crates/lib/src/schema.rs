//! JSON Schema documents for the YAML files of a configuration repository, for editors.
//!
//! One document per kind of file: `tenant.yaml`, `workspace.yaml`, the entries of each collection
//! of the layout (named by the collection's key: `clients`, `pools`, ...) and environment files.
//! They live in the repository's `schema/` directory ([`DIR`]), and files written by `export` and
//! `init` name theirs on their first line ([`modeline`]), which yaml-language-server (VS Code's
//! YAML extension, Neovim, Helix) reads to validate and complete as people type.
//!
//! The fields come from the platform's model ([`promote_platform::model`], derived from its API
//! description): every object type is a definition named as the model names it (`TreeClient`),
//! with every field's JSON type, its format, and the values its enum lists as completion
//! `examples` (never a closed `enum`: the platform adds values). A tenant's and a workspace's
//! file is its type without the collections the layout keeps as directories (those say where
//! their files are), and a collection's entry file is the entry type of that keyed map.
//! `schema/fields.yaml` adds only what is promote's own: the title of each kind, short
//! descriptions of some fields, and the environment file. This module adds what other tables
//! already say, so nothing is written twice: the credential and generated fields (from
//! [`crate::credentials`]) and the platform's material, null for every type (the platform
//! exports nulls), and `additionalProperties` left open (the platform adds keys in new
//! releases). Only environment files, which promote reads itself, are closed. No description
//! text of the vendor's spec is copied.

pub(crate) mod annotate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use promote_platform::model::{self, Model, Shape};

use crate::credentials;
use crate::diagnostic::{Doing, Result};
use crate::layout::{self, Entries, Node};

pub use annotate::{annotate_repository, Annotated};

/// The directory of the documents, relative to the repository.
pub(crate) const DIR: &str = "schema";

/// The directory of the documents in the repository `repo`: `schema`, not `./schema`, for the
/// current directory, as messages show it.
pub fn dir_of(repo: &Path) -> std::path::PathBuf {
    let dir = repo.join(DIR);
    match dir.strip_prefix(".") {
        Ok(rest) => rest.to_path_buf(),
        Err(_) => dir,
    }
}

/// The JSON Schema dialect of the documents: draft-07, the one every editor's YAML support knows.
const DIALECT: &str = "http://json-schema.org/draft-07/schema#";

/// What a credential field's description says.
const CREDENTIAL_NOTE: &str = "Credential: never in plain text in the repository. Write `{{ secret(\"NAME\") }}` (supplied as PROMOTE_SECRET_NAME at apply time), or leave it out.";

/// What a field the platform generates says.
const GENERATED_NOTE: &str = "Left out, the platform generates it.";

/// What a field of the platform's own material says.
const MATERIAL_NOTE: &str = "Maintained by the platform, never by the repository: leave it out (`promote validate` refuses it).";

/// The kind of environment files.
pub(crate) const ENVIRONMENT: &str = "environment";

/// What a Go duration field's description says (the spec's `format: duration`, which is not
/// JSON Schema's ISO 8601 one, so it is not written as a `format`).
const DURATION_NOTE: &str = "A duration such as 10m0s, 1h0m0s or 720h0m0s.";

/// Formats of the spec that are not JSON Schema's and are described rather than declared.
const DESCRIBED_FORMATS: &[&str] = &["duration"];

/// promote's own part of the documents: `schema/fields.yaml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// The document of environment files, whole.
    environment: Value,
    /// Title and description of each kind of the layout.
    kinds: BTreeMap<String, Map<String, Value>>,
    /// promote's short descriptions, by model type and field.
    fields: BTreeMap<String, BTreeMap<String, String>>,
}

fn table() -> Table {
    // The embedded table is parsed by the unit tests, so this cannot fail in a build that
    // passed them.
    serde_yaml::from_str(include_str!("schema/fields.yaml"))
        .expect("schema/fields.yaml is the table of schema.rs (checked by the unit tests)")
}

/// Every schema a document may hold: the kinds (lowercase, as [`kinds`] names them) and the
/// model's object types (as the model names them), completed.
static FIELDS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    let table = table();
    let model = model::tenant();
    let mut schemas = BTreeMap::new();
    for (ty, fields) in &model.types {
        let notes = table.fields.get(ty);
        let properties: Map<String, Value> = fields
            .iter()
            .map(|(name, shape)| {
                let mut schema = of_shape(shape);
                if let Some(text) = notes.and_then(|n| n.get(name)) {
                    describe(&mut schema, text);
                }
                (name.clone(), schema)
            })
            .collect();
        schemas.insert(
            ty.clone(),
            json!({"type": "object", "properties": properties, "additionalProperties": true}),
        );
    }
    for (kind, ty) in kind_types(model) {
        let mut body = match (kind, ty) {
            // A tenant's and a workspace's own file: its type, copied, so that its collections
            // can say where their files are.
            (k, Some(ty)) if k == layout::TENANT.what || k == layout::WORKSPACE.what => {
                schemas.get(&ty).cloned().unwrap_or_else(|| json!({}))
            }
            (_, Some(ty)) => reference(&ty),
            (_, None) => json!({}),
        };
        if let (Value::Object(body), Some(head)) = (&mut body, table.kinds.get(kind)) {
            body.extend(head.clone());
        }
        schemas.insert(kind.to_owned(), body);
    }
    schemas.insert(ENVIRONMENT.to_owned(), table.environment);
    complete(&mut schemas, model);
    schemas
});

/// The kinds of the layout's files with the model type of each (`clients` → `TreeClient`):
/// the root type for the tenant, and the entry type of each keyed map the layout writes as a
/// directory; `None` where the model does not have it (a test of the platform crate sees to it
/// that it does).
fn kind_types(model: &Model) -> Vec<(&'static str, Option<String>)> {
    fn walk(
        model: &Model,
        node: &'static Node,
        ty: Option<String>,
        out: &mut Vec<(&'static str, Option<String>)>,
    ) {
        out.push((node.what, ty.clone()));
        for c in node.collections {
            let shape = ty.as_deref().and_then(|t| model.fields(t).get(c.key));
            let entry = match (&c.entries, shape) {
                (Entries::Files { levels: 2, .. }, Some(Shape::Map(inner))) => inner.keyed_object(),
                (_, Some(shape)) => shape.keyed_object(),
                (_, None) => None,
            }
            .map(str::to_owned);
            match &c.entries {
                Entries::Files { .. } => {
                    if !out.iter().any(|(k, _)| *k == c.key) {
                        out.push((c.key, entry));
                    }
                }
                Entries::Nodes(child) => walk(model, child, entry, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(model, &layout::TENANT, Some(model.root.clone()), &mut out);
    out
}

/// The schema of a value of `shape`: its JSON type, the spec's format, and the values of its
/// enum as completion examples.
fn of_shape(shape: &Shape) -> Value {
    match shape {
        Shape::Any => json!({}),
        Shape::Boolean => json!({"type": "boolean"}),
        Shape::Integer { unsigned: false } => json!({"type": "integer"}),
        Shape::Integer { unsigned: true } => json!({"type": "integer", "minimum": 0}),
        Shape::Number => json!({"type": "number"}),
        Shape::String { format, values } => {
            let mut schema = json!({"type": "string"});
            match format.as_deref() {
                Some("duration") => {
                    schema["description"] = json!(DURATION_NOTE);
                    schema["examples"] = json!(["10m0s", "1h0m0s", "24h0m0s"]);
                }
                Some(f) if !DESCRIBED_FORMATS.contains(&f) => schema["format"] = json!(f),
                _ => {}
            }
            if !values.is_empty() {
                schema["examples"] = json!(values);
            }
            schema
        }
        Shape::Array(items) => json!({"type": "array", "items": of_shape(items)}),
        Shape::Map(values) => json!({"type": "object", "additionalProperties": of_shape(values)}),
        Shape::Object(ty) => reference(ty),
    }
}

/// Puts `text` before the description `schema` has.
fn describe(schema: &mut Value, text: &str) {
    let description = match schema.get("description").and_then(Value::as_str) {
        Some(d) => format!("{text} {d}"),
        None => text.to_owned(),
    };
    schema["description"] = json!(description);
}

/// One schema document: the file stem (its kind) and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: String,
    pub json: Value,
}

impl Document {
    /// The file name in [`DIR`].
    pub(crate) fn file_name(&self) -> String {
        format!("{}.json", self.kind)
    }

    /// The document as it is written: pretty JSON with a final newline.
    pub fn text(&self) -> String {
        // Serializing a `Value` cannot fail: its keys are strings.
        let mut text = serde_json::to_string_pretty(&self.json).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The kinds there are documents for: the layout's files, then environment files.
pub fn kinds() -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = kind_types(model::tenant())
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    kinds.push(ENVIRONMENT);
    kinds
}

/// Every document, in [`kinds`] order.
pub(crate) fn documents() -> Vec<Document> {
    kinds().into_iter().map(document).collect()
}

/// The document of one kind (one of [`kinds`]).
pub fn document(kind: &str) -> Document {
    let schemas = &*FIELDS;
    let mut json = match schemas.get(kind) {
        Some(Value::Object(body)) => body.clone(),
        _ => Map::new(),
    };
    let mut needed = BTreeSet::new();
    references(&Value::Object(json.clone()), schemas, &mut needed);
    if !needed.is_empty() {
        let definitions: Map<String, Value> = needed
            .into_iter()
            .filter_map(|name| schemas.get(&name).map(|s| (name, s.clone())))
            .collect();
        json.insert("definitions".into(), Value::Object(definitions));
    }
    json.insert("$schema".into(), json!(DIALECT));
    json.insert(
        "$comment".into(),
        json!(format!(
            "Generated by `promote schema` (promote {}); regenerate it with that command rather than editing it.",
            env!("CARGO_PKG_VERSION")
        )),
    );
    Document {
        kind: kind.to_owned(),
        json: Value::Object(json),
    }
}

/// The kind of a file of a tenant's directory, by its path relative to that directory
/// (`workspaces/default/clients/web.yaml` → `clients`); `None` for sidecars and anything the
/// layout does not write.
pub(crate) fn kind_of(path: &str) -> Option<&'static str> {
    kind_in(&layout::TENANT, path)
}

fn kind_in(node: &'static Node, path: &str) -> Option<&'static str> {
    if path == node.file {
        return Some(node.what);
    }
    let (dir, rest) = path.split_once('/')?;
    let collection = node.collections.iter().find(|c| c.dir == dir)?;
    match &collection.entries {
        Entries::Files { levels, .. } => (rest.matches('/').count() == levels - 1
            && rest.ends_with(".yaml"))
        .then_some(collection.key),
        Entries::Nodes(child) => kind_in(child, rest.split_once('/')?.1),
    }
}

/// The first line of a file of `kind` that is `depth` directories below the repository:
/// `# yaml-language-server: $schema=../../schema/clients.json`.
pub(crate) fn modeline(depth: usize, kind: &str) -> String {
    format!(
        "# yaml-language-server: $schema={}{DIR}/{kind}.json",
        "../".repeat(depth)
    )
}

/// Whether `text` already names a schema for yaml-language-server.
pub(crate) fn has_modeline(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("# yaml-language-server:") && l.contains("$schema="))
}

/// Gives the YAML files of a tenant directory (paths relative to it, as `layout::write` makes
/// them) their modeline, for a tenant directory `depth` directories below the repository.
pub fn add_modelines(files: &mut [layout::File], depth: usize) {
    for (path, text) in files.iter_mut() {
        if let Some(line) = modeline_of(path, depth) {
            text.insert_str(0, &format!("{line}\n"));
        }
    }
}

/// The modeline [`add_modelines`] gives the file at `path` of a tenant directory `depth`
/// directories below the repository, if it gives it one.
pub(crate) fn modeline_of(path: &str, depth: usize) -> Option<String> {
    kind_of(path).map(|kind| modeline(depth + path.matches('/').count(), kind))
}

/// How deep `dir` is below the repository `repo`, when it is inside it (both must exist).
pub(crate) fn depth_in(repo: &Path, dir: &Path) -> Option<usize> {
    let repo = repo.canonicalize().ok()?;
    let dir = dir.canonicalize().ok()?;
    dir.strip_prefix(&repo)
        .ok()
        .map(|rel| rel.components().count())
}

/// What [`fn@write`] did, by file name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Writes every document into `dir` (created if needed); files already up to date are left
/// alone, other files of the directory are never touched.
pub fn write(dir: &Path) -> Result<Written> {
    let mut written = Written::default();
    for doc in documents() {
        let name = doc.file_name();
        let path = dir.join(&name);
        let text = doc.text();
        // A symlink there is replaced, never read or written through.
        let old = std::fs::symlink_metadata(&path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|_| crate::files::read_input(&path).ok());
        let list = match old {
            Some(old) if old == text.as_bytes() => {
                written.unchanged.push(name);
                continue;
            }
            Some(_) => &mut written.changed,
            None if path.symlink_metadata().is_ok() => &mut written.changed,
            None => &mut written.added,
        };
        crate::files::write_under(dir, &name, text.as_bytes(), crate::files::WriteMode::COPY)
            .doing(|| format!("cannot write {}", path.display()))?;
        list.push(name);
    }
    Ok(written)
}

/// The documents of `dir` that are missing or differ from what this promote writes.
pub fn stale(dir: &Path) -> Vec<String> {
    documents()
        .into_iter()
        .filter(|doc| {
            crate::files::read_input(&dir.join(doc.file_name())).ok()
                != Some(doc.text().into_bytes())
        })
        .map(|doc| doc.file_name())
        .collect()
}

/// Completes the schemas: inline collections, credential notes, nulls, open objects.
fn complete(schemas: &mut BTreeMap<String, Value>, model: &Model) {
    let types: BTreeMap<&str, Option<String>> = kind_types(model).into_iter().collect();
    for node in [&layout::TENANT, &layout::WORKSPACE] {
        if let Some(Value::Object(kind)) = schemas.get_mut(node.what) {
            let properties = kind
                .entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(properties) = properties {
                for c in node.collections {
                    let entry = types.get(c.key).cloned().flatten();
                    properties.insert(c.key.into(), inline(c, entry.as_deref()));
                }
            }
        }
    }
    for kind in types.keys() {
        if let Some(Value::Object(body)) = schemas.get_mut(*kind) {
            body.entry("type").or_insert_with(|| json!("object"));
            body.entry("additionalProperties")
                .or_insert_with(|| json!(true));
        }
    }
    for pattern in credentials::TENANT_FIELDS {
        note(schemas, layout::TENANT.what, pattern, CREDENTIAL_NOTE);
    }
    for pattern in credentials::WORKSPACE_FIELDS {
        note(schemas, layout::WORKSPACE.what, pattern, CREDENTIAL_NOTE);
    }
    for pattern in credentials::GENERATED {
        note(schemas, layout::TENANT.what, pattern, GENERATED_NOTE);
    }
    for m in promote_platform::material::MATERIAL {
        note_material(schemas, m.pattern);
    }
    for (name, schema) in schemas.iter_mut() {
        if name != ENVIRONMENT {
            nullable(schema);
        }
    }
}

/// The schema of a collection written inline in its parent's file (when it is empty, or an ID
/// cannot be a file name), whose entries are of the model type `entry`.
fn inline(c: &layout::Collection, entry: Option<&str>) -> Value {
    let of_entry = entry.map_or_else(|| json!({}), reference);
    let (entry, shape) = match &c.entries {
        Entries::Nodes(child) => (reference(child.what), "one directory per entry"),
        Entries::Files { levels: 1, .. } => (of_entry, "one file per entry"),
        Entries::Files { .. } => (
            json!({"type": "object", "additionalProperties": of_entry}),
            "one directory per type, one file per entry",
        ),
    };
    json!({
        "type": "object",
        "description": format!(
            "Usually the directory `{}/` beside this file, {shape}; written here only when it is empty or an ID cannot be a file name.",
            c.dir
        ),
        "additionalProperties": entry,
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/definitions/{name}")})
}

/// The definition a `$ref` names.
fn referenced(schema: &Value) -> Option<&str> {
    let target = match schema.get("allOf") {
        Some(Value::Array(all)) if all.len() == 1 => &all[0],
        _ => schema,
    };
    target.get("$ref")?.as_str()?.strip_prefix("#/definitions/")
}

/// Adds to `out` every definition `schema` refers to, through any chain of references.
fn references(schema: &Value, schemas: &BTreeMap<String, Value>, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = referenced(schema) {
                if out.insert(name.to_owned()) {
                    if let Some(target) = schemas.get(name) {
                        references(target, schemas, out);
                    }
                }
            }
            for value in map.values() {
                references(value, schemas, out);
            }
        }
        Value::Array(items) => {
            for value in items {
                references(value, schemas, out);
            }
        }
        _ => {}
    }
}

/// Appends `text` to the description of the fields a credential pattern (`a/*/b|c`, as in
/// [`credentials`]) names, starting at the schema `name`, following references and creating
/// the fields the table does not list.
fn note(schemas: &mut BTreeMap<String, Value>, name: &str, pattern: &str, text: &str) {
    each_field(schemas, name, pattern, |map| {
        let description = match map.get("description").and_then(Value::as_str) {
            Some(d) if d.contains(text) => return,
            Some(d) => format!("{d} {text}"),
            None => text.to_owned(),
        };
        map.insert("description".into(), json!(description));
    });
}

/// Notes the fields of the platform's own material at `pattern`: [`MATERIAL_NOTE`] in place of
/// the credential note (a `secret()` there is refused too), and never suggested.
fn note_material(schemas: &mut BTreeMap<String, Value>, pattern: &str) {
    each_field(schemas, layout::TENANT.what, pattern, |map| {
        let before = map.get("description").and_then(Value::as_str).unwrap_or("");
        let kept = before.replace(CREDENTIAL_NOTE, "");
        let description = match kept.trim() {
            "" => MATERIAL_NOTE.to_owned(),
            d if d.contains(MATERIAL_NOTE) => d.to_owned(),
            d => format!("{d} {MATERIAL_NOTE}"),
        };
        map.insert("description".into(), json!(description));
        map.insert("doNotSuggest".into(), json!(true));
    });
}

/// Calls `edit` with the schema of every field `pattern` leads to from the schema `name`; a
/// pattern `**/a|b` names the fields `a` and `b` of every schema. Fields the schemas do not
/// have are left out.
fn each_field(
    schemas: &mut BTreeMap<String, Value>,
    name: &str,
    pattern: &str,
    mut edit: impl FnMut(&mut serde_json::Map<String, Value>),
) {
    let mut places = Vec::new();
    match pattern.strip_prefix("**/") {
        Some(names) => {
            for (schema, body) in schemas.iter().filter(|(n, _)| *n != ENVIRONMENT) {
                for field in names.split('|') {
                    if body.get("properties").and_then(|p| p.get(field)).is_some() {
                        places.push((
                            schema.clone(),
                            vec!["properties".to_owned(), field.to_owned()],
                        ));
                    }
                }
            }
        }
        None => {
            let segments: Vec<&str> = pattern.split('/').collect();
            locate(schemas, name, &[], &segments, &mut places);
        }
    }
    for (name, path) in places {
        let schema = schemas
            .get_mut(&name)
            .and_then(|s| path.iter().try_fold(s, |s, key| s.get_mut(key.as_str())));
        if let Some(map) = schema.and_then(Value::as_object_mut) {
            // Editors read a `$ref` as the schema it names and drop what is beside it (a note,
            // `doNotSuggest`): the reference goes inside an `allOf` so that both count.
            if let Some(target) = map.remove("$ref") {
                map.insert("allOf".into(), json!([{ "$ref": target }]));
            }
            edit(map);
        }
    }
}

/// Finds where `segments` lead from `path` inside the schema `name`: (schema name, path of
/// object keys) pairs, the last key being the field to note.
fn locate(
    schemas: &BTreeMap<String, Value>,
    name: &str,
    path: &[String],
    segments: &[&str],
    out: &mut Vec<(String, Vec<String>)>,
) {
    let Some((first, rest)) = segments.split_first() else {
        out.push((name.to_owned(), path.to_vec()));
        return;
    };
    let here = schemas
        .get(name)
        .and_then(|s| path.iter().try_fold(s, |s, k| s.get(k)));
    if let Some(target) = here.and_then(referenced) {
        return locate(schemas, target, &[], segments, out);
    }
    if *first == "*" {
        let key = match here.and_then(|s| s.get("type")).and_then(Value::as_str) {
            Some("array") => "items",
            _ => "additionalProperties",
        };
        let mut next = path.to_vec();
        next.push(key.into());
        return locate(schemas, name, &next, rest, out);
    }
    for field in first.split('|') {
        let mut next = path.to_vec();
        next.extend(["properties".to_owned(), field.to_owned()]);
        if rest.is_empty() {
            out.push((name.to_owned(), next));
        } else {
            locate(schemas, name, &next, rest, out);
        }
    }
}

/// Lets every typed schema under `schema` be null too.
fn nullable(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::String(ty)) = map.get("type") {
        let ty = ty.clone();
        map.insert("type".into(), json!([ty, "null"]));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for p in properties.values_mut() {
            nullable(p);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            nullable(inner);
        }
    }
}

#[cfg(test)]
mod tests;

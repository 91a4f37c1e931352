//! The repository layout: YAML directory ⇄ configuration tree.
//!
//! Which keys of a tree become directories is one table ([`TENANT`], [`WORKSPACE`]); anything not
//! in it stays in the parent YAML file, so keys the platform adds in a new release survive a
//! round trip untouched. The mapping is a bijection for every tree `write` accepts: `read(write(t))
//! == t`. The rules that make it one:
//!
//! - a collection becomes a directory only when it is a non-empty map whose keys all encode to
//!   file names (and, for two-level maps and workspaces, whose values are maps); otherwise it is
//!   written inline, so an empty map never becomes an empty directory git would drop;
//! - a sidecar (`scripts/<id>.js`, `policies/<id>.rego`) holds a string field of an entry that is
//!   a map, and that field is then absent from the entry's YAML;
//! - reading refuses anything writing would never produce: a key that is both a directory and a
//!   key of the parent file, a file name that is not a canonical key encoding, unknown files.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::keys;
use crate::patch::pointer;
use crate::yaml;

pub use promote_platform::tree::{
    entry_prefixes, kind, Collection, Entries, Node, Sidecar, TENANT, WORKSPACE,
};

/// An in-memory directory of text files, the input of [`read`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dir {
    pub files: BTreeMap<String, String>,
    pub dirs: BTreeMap<String, Dir>,
}

impl Dir {
    /// Returns a directory built from `(relative path with '/', content)` pairs (of a path
    /// given twice, the last content).
    pub fn from_files<I: IntoIterator<Item = (String, String)>>(files: I) -> Self {
        let mut files: Vec<(String, String)> = files.into_iter().collect();
        // Sorted, the paths under one directory are one run: each directory's maps are built
        // at once from its runs, not file by file (a tenant's files, for every tenant).
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Dir::from_sorted(files.into_iter().map(|(path, content)| (path, 0, content)))
    }

    /// [`Dir::from_files`] of entries sorted by path.
    fn from_sorted(entries: impl Iterator<Item = Entry>) -> Self {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        // The directory whose run this is, and its entries so far.
        let mut run: Option<(String, Vec<Entry>)> = None;
        for (mut path, start, content) in entries {
            let Some(slash) = path[start..].find('/') else {
                path.drain(..start);
                files.push((path, content));
                continue;
            };
            let name = &path[start..start + slash];
            if run.as_ref().is_none_or(|(dir, _)| dir != name) {
                let name = name.to_owned();
                if let Some((dir, below)) = run.replace((name, Vec::new())) {
                    dirs.push((dir, Dir::from_sorted(below.into_iter())));
                }
            }
            if let Some((_, below)) = &mut run {
                below.push((path, start + slash + 1, content));
            }
        }
        if let Some((dir, below)) = run {
            dirs.push((dir, Dir::from_sorted(below.into_iter())));
        }
        // Names come in the order of their paths, which is not always theirs (`a-b/` sorts
        // before `a/`): the maps sort them (and keep the last of a name given twice).
        Dir {
            files: files.into_iter().collect(),
            dirs: dirs.into_iter().collect(),
        }
    }

    /// Adds a file at a '/'-separated relative path: [`Dir::from_files`] one file at a time, as
    /// it was (the reference its tests compare it with).
    #[cfg(test)]
    fn insert(&mut self, path: &str, content: String) {
        match path.split_once('/') {
            Some((first, rest)) => {
                // Most files go into a directory made for an earlier one: its name is not
                // copied again.
                if !self.dirs.contains_key(first) {
                    self.dirs.insert(first.to_owned(), Dir::default());
                }
                if let Some(dir) = self.dirs.get_mut(first) {
                    dir.insert(rest, content);
                }
            }
            None => {
                self.files.insert(path.to_owned(), content);
            }
        }
    }
}

/// A file on its way into a [`Dir`]: its path, where the path below the directory being built
/// starts in it, and its content.
type Entry = (String, usize, String);

/// Returns the tree held by `dir` laid out as `node`; `base` prefixes file names in messages.
/// Every problem is reported, not only the first.
pub fn read(node: &Node, dir: &Dir, base: &str) -> Result<Value, Vec<Diagnostic>> {
    read_with(node, dir, base, &yaml::parse)
}

/// How [`read_with`] reads a YAML file: its text and its path (for messages) to its tree.
pub(crate) type Parse<'p> = &'p dyn Fn(&str, &str) -> Result<Value, Diagnostic>;

/// [`read`], with each YAML file read by `parse` instead of [`yaml::parse`]: rendering hands
/// over the trees it built without text ([`crate::render`]).
pub(crate) fn read_with(
    node: &Node,
    dir: &Dir,
    base: &str,
    parse: Parse<'_>,
) -> Result<Value, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let value = read_node(node, dir, base, parse, &mut problems);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems)
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}/{name}")
    }
}

fn read_node(
    node: &Node,
    dir: &Dir,
    base: &str,
    parse: Parse<'_>,
    problems: &mut Vec<Diagnostic>,
) -> Value {
    let file = join(base, node.file);
    let mut map = match dir.files.get(node.file) {
        None => {
            problems.push(
                Diagnostic::new(format!(
                    "missing {}: every {} directory has one",
                    node.file, node.what
                ))
                .in_file(&file)
                .hint(format!(
                    "create {file}, or `{{}}` if the {} has no keys of its own",
                    node.what
                )),
            );
            Map::new()
        }
        Some(text) => match parse(text, &file) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(other) => {
                problems.push(
                    Diagnostic::new(format!(
                        "{} must be a map of keys, not {}",
                        node.file,
                        kind(&other)
                    ))
                    .in_file(&file),
                );
                Map::new()
            }
            Err(d) => {
                problems.push(d);
                Map::new()
            }
        },
    };
    for name in dir.files.keys().filter(|n| n.as_str() != node.file) {
        problems.push(
            Diagnostic::new(format!("unexpected file in a {} directory", node.what))
                .in_file(join(base, name))
                .hint(format!(
                    "a {} directory holds {} and the directories {}",
                    node.what,
                    node.file,
                    dir_names(node)
                )),
        );
    }
    for (name, sub) in &dir.dirs {
        let path = join(base, name);
        let Some(collection) = node.collections.iter().find(|c| c.dir == name) else {
            problems.push(
                Diagnostic::new(format!("unexpected directory in a {} directory", node.what))
                    .in_file(&path)
                    .hint(format!("known directories here: {}", dir_names(node))),
            );
            continue;
        };
        if map.contains_key(collection.key) {
            problems.push(
                Diagnostic::new(format!(
                    "`{}` is both a directory and a key in {}",
                    collection.key, node.file
                ))
                .in_file(&file)
                .hint(format!(
                    "keep the entries in {path}/ and delete the key from {}",
                    node.file
                )),
            );
            continue;
        }
        let value = match &collection.entries {
            Entries::Files { levels, sidecars } => {
                read_files(sub, &path, *levels, sidecars, parse, problems)
            }
            Entries::Nodes(child) => {
                let mut entries = Map::new();
                for name in sub.files.keys() {
                    problems.push(
                        Diagnostic::new(format!(
                            "unexpected file: {} holds one directory per {}",
                            collection.dir, child.what
                        ))
                        .in_file(join(&path, name)),
                    );
                }
                for (name, child_dir) in &sub.dirs {
                    let child_path = join(&path, name);
                    match key_of(name, &child_path) {
                        Ok(key) => {
                            let value = read_node(child, child_dir, &child_path, parse, problems);
                            entries.insert(key, value);
                        }
                        Err(d) => problems.push(d),
                    }
                }
                Value::Object(entries)
            }
        };
        map.insert(collection.key.to_owned(), value);
    }
    Value::Object(map)
}

fn read_files(
    dir: &Dir,
    base: &str,
    levels: usize,
    sidecars: &[Sidecar],
    parse: Parse<'_>,
    problems: &mut Vec<Diagnostic>,
) -> Value {
    let mut entries = Map::new();
    if levels > 1 {
        for name in dir.files.keys() {
            problems.push(
                Diagnostic::new("unexpected file: this collection is a map of maps, one directory per first-level key")
                    .in_file(join(base, name)),
            );
        }
        for (name, sub) in &dir.dirs {
            let path = join(base, name);
            match key_of(name, &path) {
                Ok(key) => {
                    let value = read_files(sub, &path, levels - 1, sidecars, parse, problems);
                    entries.insert(key, value);
                }
                Err(d) => problems.push(d),
            }
        }
        return Value::Object(entries);
    }
    for name in dir.dirs.keys() {
        problems.push(
            Diagnostic::new("unexpected directory: entries are files").in_file(join(base, name)),
        );
    }
    // Entries first, then sidecars into them.
    for (name, text) in &dir.files {
        let Some(stem) = name.strip_suffix(".yaml") else {
            continue;
        };
        let path = join(base, name);
        let key = match key_of(stem, &path) {
            Ok(key) => key,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        match parse(text, &path) {
            Ok(value) => {
                entries.insert(key, value);
            }
            Err(d) => problems.push(d),
        }
    }
    for (name, text) in &dir.files {
        if name.ends_with(".yaml") {
            continue;
        }
        let path = join(base, name);
        let sidecar = sidecars.iter().find_map(|s| {
            name.strip_suffix(s.ext)
                .and_then(|n| n.strip_suffix('.'))
                .map(|stem| (s, stem))
        });
        let Some((sidecar, stem)) = sidecar else {
            let expected = std::iter::once(".yaml".to_owned())
                .chain(sidecars.iter().map(|s| format!(".{}", s.ext)))
                .collect::<Vec<_>>()
                .join(", ");
            problems.push(
                Diagnostic::new(format!("unexpected file: entries here end in {expected}"))
                    .in_file(&path)
                    .hint("the file stem is the entry's key, e.g. clients/my-app.yaml"),
            );
            continue;
        };
        let key = match key_of(stem, &path) {
            Ok(key) => key,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        match entries.get_mut(&key) {
            Some(Value::Object(entry)) => {
                if entry.contains_key(sidecar.field) {
                    problems.push(
                        Diagnostic::new(format!(
                            "`{}` is both in {} and in {stem}.yaml",
                            sidecar.field, name
                        ))
                        .in_file(join(base, &format!("{stem}.yaml")))
                        .hint(format!(
                            "keep it in {name} and delete the key from {stem}.yaml"
                        )),
                    );
                } else {
                    entry.insert(sidecar.field.to_owned(), Value::String(text.clone()));
                }
            }
            Some(_) => problems.push(
                Diagnostic::new(format!("{name} belongs to an entry that is not a map"))
                    .in_file(join(base, &format!("{stem}.yaml"))),
            ),
            None => problems.push(
                Diagnostic::new(format!("{name} has no entry file {stem}.yaml"))
                    .in_file(&path)
                    .hint(format!("create {stem}.yaml (at least `{{}}`) beside it")),
            ),
        }
    }
    Value::Object(entries)
}

fn key_of(name: &str, path: &str) -> Result<String, Diagnostic> {
    keys::decode(name).map_err(|e| {
        Diagnostic::new(e.to_string())
            .in_file(path)
            .hint("file names are keys: [A-Za-z0-9._-] as they are, other bytes %XX-encoded, no leading '.'")
    })
}

fn dir_names(node: &Node) -> String {
    node.collections
        .iter()
        .map(|c| format!("{}/", c.dir))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first place where `tree` does not have the shape of `node` (a map, whose collections
/// are maps of maps), as a message; `None` when it has it. Keys the layout does not know are
/// not looked at: the platform adds keys in new releases.
pub(crate) fn shape_problem(node: &Node, tree: &Value) -> Option<String> {
    shape_at(node, tree, "")
}

fn shape_at(node: &Node, tree: &Value, at: &str) -> Option<String> {
    let not_a_map = |v: &Value, at: &str| {
        format!(
            "`{}` is {}, not a map",
            if at.is_empty() { "/" } else { at },
            kind(v)
        )
    };
    // Paths are only spelt out for a problem: the walk itself allocates nothing.
    let here = |key: &str| format!("{at}/{}", pointer::escape(key));
    let Value::Object(map) = tree else {
        return Some(not_a_map(tree, at));
    };
    for collection in node.collections {
        let Some(value) = map.get(collection.key) else {
            continue;
        };
        let Value::Object(entries) = value else {
            return Some(not_a_map(value, &here(collection.key)));
        };
        let there = |id: &str| format!("{}/{}", here(collection.key), pointer::escape(id));
        for (id, entry) in entries {
            let problem = match (&collection.entries, entry) {
                // A workspace: a few per tenant, walked in turn.
                (Entries::Nodes(child), _) => shape_at(child, entry, &there(id)),
                (Entries::Files { levels: 1, .. }, Value::Object(_)) => None,
                (Entries::Files { .. }, Value::Object(inner)) => inner
                    .iter()
                    .find(|(_, v)| !v.is_object())
                    .map(|(k, v)| not_a_map(v, &format!("{}/{}", there(id), pointer::escape(k)))),
                (Entries::Files { .. }, other) => Some(not_a_map(other, &there(id))),
            };
            if problem.is_some() {
                return problem;
            }
        }
    }
    None
}

/// Returns whether a collection's value is written as a directory (see the module docs).
fn as_directory<'a>(collection: &Collection, value: &'a Value) -> Option<&'a Map<String, Value>> {
    let map = value.as_object().filter(|m| !m.is_empty())?;
    let keys_ok = map.keys().all(|k| keys::encode(k).is_ok());
    let values_ok = match &collection.entries {
        Entries::Files { levels, .. } => {
            *levels == 1 || map.values().all(|v| as_level(v, *levels - 1))
        }
        Entries::Nodes(_) => map.values().all(Value::is_object),
    };
    (keys_ok && values_ok).then_some(map)
}

fn as_level(value: &Value, levels: usize) -> bool {
    match value.as_object() {
        Some(map) if !map.is_empty() && map.keys().all(|k| keys::encode(k).is_ok()) => {
            levels == 1 || map.values().all(|v| as_level(v, levels - 1))
        }
        _ => false,
    }
}

/// The keyed entries (clients, workspaces, ...) of a tree, as pointers.
pub(crate) fn entries(tree: &Value) -> Vec<String> {
    fn walk(v: &Value, node: &Node, at: &str, out: &mut Vec<String>) {
        let Value::Object(map) = v else { return };
        for c in node.collections {
            let Some(Value::Object(coll)) = map.get(c.key) else {
                continue;
            };
            let here = pointer::join(at, c.key);
            match &c.entries {
                Entries::Files { levels: 2, .. } => {
                    for (group, inner) in coll {
                        if let Value::Object(inner) = inner {
                            let g = pointer::join(&here, group);
                            out.extend(inner.keys().map(|id| pointer::join(&g, id)));
                        }
                    }
                }
                Entries::Files { .. } => {
                    out.extend(coll.keys().map(|id| pointer::join(&here, id)));
                }
                Entries::Nodes(inner) => {
                    for (id, child) in coll {
                        let e = pointer::join(&here, id);
                        out.push(e.clone());
                        walk(child, inner, &e, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &TENANT, "", &mut out);
    out
}

/// A file the layout writes: a '/'-separated path relative to the node's directory.
pub(crate) type File = (String, String);

/// Returns the files that lay out `tree` as `node`. Fails only when the root is not a map.
pub fn write(node: &Node, tree: &Value) -> Result<Vec<File>, Diagnostic> {
    let map = tree.as_object().ok_or_else(|| {
        Diagnostic::new(format!(
            "a {} must be a map of keys, not {}",
            node.what,
            kind(tree)
        ))
    })?;
    let mut out = Vec::new();
    write_node(node, map, "", &mut out);
    Ok(out)
}

fn write_node(node: &Node, map: &Map<String, Value>, base: &str, out: &mut Vec<File>) {
    let mut own = Map::new();
    for (key, value) in map {
        let collection = node.collections.iter().find(|c| c.key == key);
        match collection.and_then(|c| as_directory(c, value).map(|m| (c, m))) {
            Some((collection, entries)) => {
                let dir = join(base, collection.dir);
                match &collection.entries {
                    Entries::Files { levels, sidecars } => {
                        write_files(entries, &dir, *levels, sidecars, out)
                    }
                    Entries::Nodes(child) => {
                        for (id, value) in entries {
                            let child_map = value
                                .as_object()
                                .unwrap_or_else(|| unreachable!("as_directory checked maps"));
                            write_node(child, child_map, &join(&dir, &encoded(id)), out);
                        }
                    }
                }
            }
            None => {
                own.insert(key.clone(), value.clone());
            }
        }
    }
    out.push((join(base, node.file), yaml::to_string(&Value::Object(own))));
}

fn write_files(
    entries: &Map<String, Value>,
    dir: &str,
    levels: usize,
    sidecars: &[Sidecar],
    out: &mut Vec<File>,
) {
    for (id, value) in entries {
        let name = encoded(id);
        if levels > 1 {
            let sub = value
                .as_object()
                .unwrap_or_else(|| unreachable!("as_level checked maps"));
            write_files(sub, &join(dir, &name), levels - 1, sidecars, out);
            continue;
        }
        let mut value = value.clone();
        if let Value::Object(entry) = &mut value {
            for sidecar in sidecars {
                if let Some(Value::String(text)) = entry.get(sidecar.field) {
                    // A text whose line breaks a review would not see stays in the entry file,
                    // where YAML writes them escaped: as a sidecar it would be refused.
                    if hidden_line_break(sidecar.ext, text).is_some() {
                        continue;
                    }
                    out.push((join(dir, &format!("{name}.{}", sidecar.ext)), text.clone()));
                    entry.remove(sidecar.field);
                }
            }
        }
        out.push((join(dir, &format!("{name}.yaml")), yaml::to_string(&value)));
    }
}

/// Where (a byte offset) the text of a sidecar with extension `ext` holds a line break that its
/// language reads and a review does not show, and which: a carriage return without a line feed
/// after it (`git diff` in a terminal prints the rest of the line over its start, hiding what
/// comes before), and in a script (`js`) U+2028 and U+2029 (line breaks to JavaScript, which
/// end a `//` comment: what follows runs). YAML is checked as it is read
/// ([`crate::yaml::parse`]).
pub(crate) fn hidden_line_break(ext: &str, text: &str) -> Option<(usize, char)> {
    let script = ext == "js";
    let bytes = text.as_bytes();
    text.char_indices().find(|&(i, c)| {
        (c == '\r' && bytes.get(i + 1) != Some(&b'\n'))
            || (script && matches!(c, '\u{2028}' | '\u{2029}'))
    })
}

fn encoded(key: &str) -> String {
    keys::encode(key).unwrap_or_else(|_| unreachable!("as_directory checked every key encodes"))
}

/// Returns the file (relative to the node's directory) that holds the value at `pointer` of
/// `tree` when it is laid out as `node`, and how many pointer segments the path consumed; for
/// a first-level key of a collection of two levels (`claims/id_token`), its directory.
pub(crate) fn file_of(node: &Node, tree: &Value, pointer: &[String]) -> (String, usize) {
    file_of_in(node, tree, pointer, "", 0)
}

fn file_of_in(
    node: &Node,
    tree: &Value,
    pointer: &[String],
    base: &str,
    used: usize,
) -> (String, usize) {
    let own = (join(base, node.file), used);
    let Some((first, rest)) = pointer.split_first() else {
        return own;
    };
    let Some(collection) = node.collections.iter().find(|c| c.key == first) else {
        return own;
    };
    let Some(entries) = tree.get(first).and_then(|v| as_directory(collection, v)) else {
        return own;
    };
    let dir = join(base, collection.dir);
    match &collection.entries {
        Entries::Nodes(child) => match rest.split_first() {
            Some((id, rest)) => match entries.get(id) {
                Some(value) => file_of_in(child, value, rest, &join(&dir, &encoded(id)), used + 2),
                None => own,
            },
            None => own,
        },
        Entries::Files { levels, sidecars } => {
            if rest.is_empty() {
                return own;
            }
            if rest.len() < *levels {
                // A first level of a collection of several: the directory of that key.
                let path = rest.iter().fold(dir, |path, id| join(&path, &encoded(id)));
                return (path, used + 1 + rest.len());
            }
            let mut path = dir;
            for id in &rest[..levels - 1] {
                path = join(&path, &encoded(id));
            }
            let id = &rest[levels - 1];
            if keys::encode(id).is_err() {
                return own;
            }
            let field = rest.get(*levels);
            let sidecar = sidecars
                .iter()
                .find(|s| field.is_some_and(|f| f == s.field));
            match sidecar {
                Some(s) => (
                    join(&path, &format!("{}.{}", encoded(id), s.ext)),
                    used + 2 + levels,
                ),
                None => (
                    join(&path, &format!("{}.yaml", encoded(id))),
                    used + 1 + levels,
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_entry_with_a_merge_key_like_line_round_trips() {
        // fuzz/regressions/layout_read/merge-key-line-in-block-scalar-entry
        let tree = json!({"a": null, "pools": {"/": "x\n<<: y\n", "p": "<<: y\n"}});
        assert_eq!(round_trip(&tree), tree);
    }

    #[test]
    fn shapes_are_checked_where_the_layout_has_collections() {
        let ok = json!({"name": "t", "new_key": [1], "servers": {"w": {"clients": {"c": {}}, "claims": {"id_token": {"n": {}}}}}});
        assert_eq!(shape_problem(&TENANT, &ok), None);
        for (tree, problem) in [
            (json!(42), "`/` is a number, not a map"),
            (json!({"servers": [1]}), "`/servers` is a list, not a map"),
            (
                json!({"servers": {"w": {"clients": {"c": "x"}}}}),
                "`/servers/w/clients/c` is a string, not a map",
            ),
            (
                json!({"servers": {"w": {"claims": {"id_token": {"n": 1}}}}}),
                "`/servers/w/claims/id_token/n` is a number, not a map",
            ),
            (
                json!({"servers": {"a/b": null}}),
                "`/servers/a~1b` is null, not a map",
            ),
        ] {
            assert_eq!(
                shape_problem(&TENANT, &tree).as_deref(),
                Some(problem),
                "{tree}"
            );
        }
    }
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn lists_every_keyed_entry() {
        let t = json!({"pools": {"p": {}}, "servers": {"w": {"clients": {"c": {}}, "claims": {"id_token": {"e": {}}}}}});
        assert_eq!(
            entries(&t),
            [
                "/pools/p",
                "/servers/w",
                "/servers/w/clients/c",
                "/servers/w/claims/id_token/e"
            ]
        );
    }

    fn round_trip(tree: &Value) -> Value {
        let files = write(&TENANT, tree).unwrap();
        read(&TENANT, &Dir::from_files(files), "t").unwrap()
    }

    #[test]
    fn writes_the_documented_layout() {
        let tree = json!({
            "name": "Acme",
            "pools": {"customers": {"name": "Customers"}},
            "servers": {"default": {
                "name": "Default",
                "clients": {"spa": {"client_name": "SPA"}, "a/b": {"x": 1}},
                "scripts": {"map": {"name": "map", "body": "module.exports = 1;\n"}},
                "policies": {"allow": {"language": "rego", "definition": "package x\n"}},
                "claims": {"id_token": {"email": {"mapping": "email"}}},
                "webhooks": {},
                "future_key": {"kept": true}
            }}
        });
        let files = write(&TENANT, &tree).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "pools/customers.yaml",
                "workspaces/default/claims/id_token/email.yaml",
                "workspaces/default/clients/a%2Fb.yaml",
                "workspaces/default/clients/spa.yaml",
                "workspaces/default/policies/allow.rego",
                "workspaces/default/policies/allow.yaml",
                "workspaces/default/scripts/map.js",
                "workspaces/default/scripts/map.yaml",
                "workspaces/default/workspace.yaml",
                "tenant.yaml",
            ]
        );
        let workspace = &files
            .iter()
            .find(|(n, _)| n == "workspaces/default/workspace.yaml")
            .unwrap()
            .1;
        assert!(workspace.contains("webhooks: {}"), "{workspace}");
        assert!(workspace.contains("future_key"), "{workspace}");
        assert_eq!(round_trip(&tree), tree);
    }

    /// A script or policy text holding a line break a review would not see (a lone `\r`; in a
    /// script U+2028 or U+2029) stays in its entry file, escaped, where it reads back as it was;
    /// as a sidecar the repository would refuse it.
    #[test]
    fn texts_with_line_breaks_a_review_would_not_see_stay_in_the_entry_file() {
        let tree = json!({"servers": {"w": {
            "scripts": {
                "ls": {"body": "// note\u{2028}run();\n"},
                "cr": {"body": "run();\r// note\n"},
                "crlf": {"body": "run();\r\n"},
            },
            "policies": {"p": {"language": "rego", "definition": "allow = true\r# note\n"},
                         "q": {"language": "rego", "definition": "package q\n# \u{2028}\n"}},
        }}});
        let files = write(&TENANT, &tree).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for kept in ["scripts/ls.js", "scripts/cr.js", "policies/p.rego"] {
            assert!(!names.iter().any(|n| n.ends_with(kept)), "{names:?}");
        }
        for sidecar in ["scripts/crlf.js", "policies/q.rego"] {
            assert!(names.iter().any(|n| n.ends_with(sidecar)), "{names:?}");
        }
        assert_eq!(round_trip(&tree), tree);
    }

    fn dir(files: &[(&str, &str)]) -> Dir {
        Dir::from_files(files.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    fn read_err(files: &[(&str, &str)]) -> String {
        read(&TENANT, &dir(files), "templates/t")
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn refuses_what_write_never_produces() {
        for (files, expected) in [
            (vec![("pools/x.yaml", "{}")], "missing tenant.yaml"),
            (
                vec![("tenant.yaml", "pools: {}\n"), ("pools/x.yaml", "{}")],
                "both a directory and a key",
            ),
            (
                vec![("tenant.yaml", "{}"), ("pools/a%2fb.yaml", "{}")],
                "templates/t/pools/a%2fb.yaml: `a%2fb` is not a valid key file name",
            ),
            (
                vec![("tenant.yaml", "{}"), ("pools/x.yml", "{}")],
                "unexpected file",
            ),
            (
                vec![("tenant.yaml", "{}"), ("stuff/x.yaml", "{}")],
                "templates/t/stuff: unexpected directory",
            ),
            (vec![("tenant.yaml", "[1]")], "must be a map of keys"),
            (
                vec![
                    ("tenant.yaml", "{}"),
                    ("workspaces/w/workspace.yaml", "{}"),
                    ("workspaces/w/scripts/s.js", "x"),
                ],
                "s.js has no entry file s.yaml",
            ),
            (
                vec![
                    ("tenant.yaml", "{}"),
                    ("workspaces/w/workspace.yaml", "{}"),
                    ("workspaces/w/scripts/s.js", "x"),
                    ("workspaces/w/scripts/s.yaml", "body: y"),
                ],
                "`body` is both in s.js and in s.yaml",
            ),
            (
                vec![("tenant.yaml", "a: [\n")],
                "templates/t/tenant.yaml:2:1: invalid YAML",
            ),
        ] {
            let err = read_err(&files);
            assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let err = read(
            &TENANT,
            &dir(&[
                ("tenant.yaml", "a: [\n"),
                ("pools/x.yaml", "b: [\n"),
                ("junk", ""),
            ]),
            "t",
        )
        .unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
    }

    #[test]
    fn maps_pointers_to_files() {
        let tree = json!({"name": "x", "servers": {"w": {"scripts": {"s": {"body": "b"}}, "clients": {"c": {"client_secret": "x"}}, "claims": {"id_token": {"e": {}}}}}});
        let ptr = |p: &str| p.split('/').skip(1).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/name")),
            ("tenant.yaml".into(), 0)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/clients/c/client_secret")),
            ("workspaces/w/clients/c.yaml".into(), 4)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/scripts/s/body")),
            ("workspaces/w/scripts/s.js".into(), 5)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/claims/id_token/e/x")),
            ("workspaces/w/claims/id_token/e.yaml".into(), 5)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/claims/id_token")),
            ("workspaces/w/claims/id_token".into(), 4)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/claims")),
            ("workspaces/w/workspace.yaml".into(), 2)
        );
        assert_eq!(
            file_of(&TENANT, &tree, &ptr("/servers/w/name")),
            ("workspaces/w/workspace.yaml".into(), 2)
        );
    }

    /// Arbitrary JSON with awkward keys, as the platform or a user might produce.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("yes"),
                Just("~"),
                Just("1.5"),
                Just(" x"),
                Just("a\nb\n"),
                Just("#"),
                Just("'q'")
            ]
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(arb_key(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,6}",
            "\\PC{0,8}",
            Just("..".to_owned()),
            Just(".git".to_owned()),
            Just("../../x".to_owned()),
            Just("a/b".to_owned()),
            Just(String::new()),
            Just("body".to_owned()),
            Just("definition".to_owned()),
        ]
    }

    fn arb_collection(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
        prop_oneof![
            inner.clone(),
            prop::collection::btree_map(arb_key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    }

    fn arb_workspace() -> impl Strategy<Value = Value> {
        let entry = arb_json().boxed();
        let keys: Vec<&str> = WORKSPACE
            .collections
            .iter()
            .map(|c| c.key)
            .chain(["name", "unknown_future"])
            .collect();
        let script = (prop::option::of("\\PC{0,20}"), arb_json()).prop_map(|(body, extra)| {
            let mut m = Map::new();
            if let Some(b) = body {
                m.insert("body".into(), json!(b));
            }
            m.insert("extra".into(), extra);
            Value::Object(m)
        });
        let two_level =
            prop::collection::btree_map(arb_key(), arb_collection(entry.clone()).boxed(), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()));
        (
            prop::collection::btree_map(
                prop::sample::select(keys),
                arb_collection(entry.clone()).boxed(),
                0..6,
            ),
            prop::collection::btree_map(arb_key(), script, 0..3),
            two_level,
        )
            .prop_map(|(fields, scripts, claims)| {
                let mut m: Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                m.insert(
                    "scripts".into(),
                    Value::Object(scripts.into_iter().collect()),
                );
                m.insert("claims".into(), claims);
                Value::Object(m)
            })
    }

    fn arb_tenant() -> impl Strategy<Value = Value> {
        let keys: Vec<&str> = TENANT
            .collections
            .iter()
            .map(|c| c.key)
            .chain(["name", "metadata", "jwks"])
            .collect();
        (
            prop::collection::btree_map(
                prop::sample::select(keys),
                arb_collection(arb_json().boxed()),
                0..5,
            ),
            prop::collection::btree_map(arb_key(), arb_workspace(), 0..3),
        )
            .prop_map(|(fields, servers)| {
                let mut m: Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                m.insert(
                    "servers".into(),
                    Value::Object(servers.into_iter().collect()),
                );
                Value::Object(m)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn tree_to_directory_to_tree_is_identity(tree in arb_tenant()) {
            let files = write(&TENANT, &tree).unwrap();
            for (path, _) in &files {
                prop_assert!(!path.split('/').any(|c| c == ".." || c == "." || c.is_empty() || c.starts_with('.')), "{path}");
            }
            let back = read(&TENANT, &Dir::from_files(files), "t");
            prop_assert_eq!(back.as_ref().ok(), Some(&tree), "{:?}", back.as_ref().err());
        }

        #[test]
        fn any_json_tree_round_trips(tree in prop::collection::btree_map(arb_key(), arb_json(), 0..6)) {
            let tree = Value::Object(tree.into_iter().collect());
            prop_assert_eq!(round_trip(&tree), tree);
        }

        /// A directory built from sorted runs is the one built file by file, whatever the
        /// paths (empty names, names that sort apart from their directory's, a path twice).
        #[test]
        fn a_directory_is_built_as_file_by_file(
            files in prop::collection::vec(
                (prop::collection::vec("a|a-b|a.yaml|b|/|", 1..4).prop_map(|p| p.join("/")), "[xy]"),
                0..12,
            ),
        ) {
            let mut one_by_one = Dir::default();
            for (path, content) in &files {
                one_by_one.insert(path, content.clone());
            }
            prop_assert_eq!(Dir::from_files(files), one_by_one);
        }

        /// Trees of the platform's own shapes: every object type of its model, awkward IDs.
        #[test]
        fn platform_shaped_trees_round_trip(tree in promote_platform::arb::typed::tenant()) {
            prop_assert_eq!(round_trip(&tree), tree);
        }
    }
}

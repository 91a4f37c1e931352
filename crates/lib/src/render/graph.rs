//! The template dependency graph of one repository snapshot, read from Tera's syntax trees:
//! which template file includes, imports or extends which, which macros each body calls, and
//! which files each template directory renders.
//!
//! One graph serves the sandbox's bounds (`bounds`: cycles, recursion, macro
//! namespaces) and `ci`'s affected tenants ([`crate::affected`]). It is read from the syntax
//! tree, not from the text, so a tag inside a comment, a `{% raw %}` block or a string is no
//! dependency. [`Graph::of`] reads the compiled templates of a [`super::Templates`];
//! [`Graph::parse`] parses a snapshot only for its graph (the base side of a change).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tera::ast::{Expr, ExprVal, Node};
use tera::Template;

use super::{instrument, scan};
use crate::source::RepoFiles;

/// What one body (a template file, or one macro of it) calls and reads while rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Calls {
    /// Template files it includes.
    pub includes: BTreeSet<String>,
    /// Macros it calls: (namespace, macro name).
    pub macros: BTreeSet<(String, String)>,
    /// The names it looks up, as written (`vars.plan`, `x[y]`), loop variables included.
    pub reads: BTreeSet<String>,
    /// Whether it sets a variable, or holds a block (whose `super()` renders a parent's).
    pub sets_or_blocks: bool,
}

/// Returns what `body` calls and reads, macro definitions in it included.
pub(crate) fn calls(body: &[Node]) -> Calls {
    let mut out = Calls::default();
    nodes(body, &mut out);
    out
}

/// What one template file depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Deps {
    /// The template it extends.
    pub extends: Option<String>,
    /// The macro files it imports: (file, namespace).
    pub imports: Vec<(String, String)>,
    /// What the whole file calls, its macro definitions and blocks included.
    pub body: Calls,
    /// What each macro it defines calls, by macro name.
    pub macros: BTreeMap<String, Calls>,
}

impl Deps {
    /// Returns the files this one uses: those it includes, imports and extends.
    pub(crate) fn uses(&self) -> impl Iterator<Item = &str> {
        self.body
            .includes
            .iter()
            .map(String::as_str)
            .chain(self.imports.iter().map(|(file, _)| file.as_str()))
            .chain(self.extends.as_deref())
    }
}

/// The dependency graph of the template files of one snapshot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// Template file (path relative to `templates/`) → what it depends on, for every file
    /// that parsed.
    files: BTreeMap<String, Deps>,
    /// Files Tera could not parse (or too large to): what they use is unknown.
    unparsed: BTreeSet<String>,
    /// Template directory → its files: (path relative to it, template file name).
    dirs: BTreeMap<String, Vec<(String, String)>>,
}

impl Graph {
    /// Returns the graph of compiled `templates`, by template file name.
    pub(crate) fn of(templates: &HashMap<String, Template>) -> Graph {
        let mut graph = Graph::with_dirs(templates.keys());
        graph.files = templates
            .iter()
            .map(|(name, template)| (name.clone(), deps(template)))
            .collect();
        graph
    }

    /// Returns the graph of `files`, parsing each template for it alone. A file without a
    /// `{%` tag depends on nothing; a file Tera cannot parse, or that breaks the scan's limits,
    /// is recorded as unparsed.
    pub(crate) fn parse(files: &RepoFiles) -> Graph {
        tracing::debug!(files = files.templates.len(), "template graph parsed");
        let mut graph = Graph::with_dirs(files.templates.keys());
        let mut total_tags = 0usize;
        for (name, source) in &files.templates {
            if !source.contains("{%") {
                graph.files.insert(name.clone(), Deps::default());
                continue;
            }
            // The same memory bound as compiling (see `Templates::compile`).
            let tags = scan::count_tags(source);
            total_tags += tags;
            let parsed = (tags <= scan::MAX_TAGS && total_tags <= scan::MAX_TOTAL_TAGS)
                .then(|| instrument::parse(name, source).ok())
                .flatten();
            match parsed {
                Some((template, _)) => {
                    graph.files.insert(name.clone(), deps(&template));
                }
                None => {
                    graph.unparsed.insert(name.clone());
                }
            }
        }
        graph
    }

    /// Returns a graph with the template directories of the files `names` and no edges.
    fn with_dirs<'n>(names: impl Iterator<Item = &'n String>) -> Graph {
        let mut dirs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for path in names {
            if let Some((dir, rel)) = path.split_once('/') {
                if !dir.starts_with('_') && !crate::ignore::is_template_settings(path) {
                    dirs.entry(dir.to_owned())
                        .or_default()
                        .push((rel.to_owned(), path.clone()));
                }
            }
        }
        for files in dirs.values_mut() {
            files.sort();
        }
        Graph {
            dirs,
            ..Graph::default()
        }
    }

    /// Returns the files of template directory `dir`, (path relative to it, template file
    /// name), in name order; `None` when there is no such directory.
    pub(crate) fn template_files(&self, dir: &str) -> Option<&[(String, String)]> {
        self.dirs.get(dir).map(Vec::as_slice)
    }

    /// Returns the names of the files of every template directory.
    pub(crate) fn all_template_files(&self) -> impl Iterator<Item = &str> {
        self.dirs.values().flatten().map(|(_, name)| name.as_str())
    }

    /// Returns every parsed file with what it depends on, in name order.
    pub(crate) fn files(&self) -> impl Iterator<Item = (&str, &Deps)> {
        self.files.iter().map(|(name, deps)| (name.as_str(), deps))
    }

    /// Returns what file `name` depends on, when it parsed.
    pub(crate) fn deps(&self, name: &str) -> Option<&Deps> {
        self.files.get(name)
    }

    /// Returns whether file `name` could not be parsed, so what it uses is unknown.
    #[cfg(test)]
    pub(crate) fn is_unparsed(&self, name: &str) -> bool {
        self.unparsed.contains(name)
    }

    /// Returns the files that could not be parsed.
    pub(crate) fn unparsed(&self) -> impl Iterator<Item = &str> {
        self.unparsed.iter().map(String::as_str)
    }

    /// Forgets file `name` (a template left out of the compiled set).
    pub(crate) fn remove(&mut self, name: &str) {
        self.files.remove(name);
    }

    /// For each file, its macro namespaces (`self`, `m`...) → the file defining them, as
    /// Tera's `MacroCollection` builds them: its own macros as `self`, its imports, the
    /// namespaces its imports import (unless it names them itself), then its parents'
    /// namespaces (likewise). Call only once `bounds::chains` found no cycle.
    pub(crate) fn namespaces(&self) -> HashMap<String, HashMap<String, String>> {
        fn of(
            name: &str,
            graph: &Graph,
            done: &mut HashMap<String, HashMap<String, String>>,
            depth: usize,
        ) -> HashMap<String, String> {
            if let Some(found) = done.get(name) {
                return found.clone();
            }
            let mut map = HashMap::new();
            let Some(deps) = graph.files.get(name) else {
                return map;
            };
            if depth > scan::MAX_NESTING + 1 {
                return map;
            }
            if !deps.macros.is_empty() {
                map.insert("self".to_owned(), name.to_owned());
            }
            for (file, ns) in &deps.imports {
                map.insert(ns.clone(), file.clone());
                for (inner_ns, inner_file) in of(file, graph, done, depth + 1) {
                    map.entry(inner_ns).or_insert(inner_file);
                }
            }
            if let Some(parent) = &deps.extends {
                for (inner_ns, inner_file) in of(parent, graph, done, depth + 1) {
                    map.entry(inner_ns).or_insert(inner_file);
                }
            }
            done.insert(name.to_owned(), map.clone());
            map
        }
        let mut done = HashMap::new();
        for name in self.files.keys() {
            of(name, self, &mut done, 0);
        }
        done
    }
}

/// Returns what a parsed template depends on.
fn deps(template: &Template) -> Deps {
    let body = calls(&template.ast);
    let macros = template
        .macros
        .iter()
        .map(|(name, definition)| (name.clone(), calls(&definition.body)))
        .collect();
    Deps {
        extends: template.parent.clone(),
        imports: template.imported_macro_files.clone(),
        body,
        macros,
    }
}

fn nodes(body: &[Node], out: &mut Calls) {
    for node in body {
        match node {
            Node::VariableBlock(_, e) => expr(e, out),
            Node::MacroDefinition(_, d, _) => nodes(&d.body, out),
            Node::Include(_, files, _) => out.includes.extend(files.iter().cloned()),
            Node::Set(_, set) => {
                out.sets_or_blocks = true;
                expr(&set.value, out);
            }
            Node::FilterSection(_, section, _) => {
                section.filter.args.values().for_each(|e| expr(e, out));
                nodes(&section.body, out);
            }
            Node::Block(_, block, _) => {
                out.sets_or_blocks = true;
                nodes(&block.body, out);
            }
            Node::Forloop(_, f, _) => {
                expr(&f.container, out);
                nodes(&f.body, out);
                if let Some(empty) = &f.empty_body {
                    nodes(empty, out);
                }
            }
            Node::If(i, _) => {
                for (_, condition, body) in &i.conditions {
                    expr(condition, out);
                    nodes(body, out);
                }
                if let Some((_, body)) = &i.otherwise {
                    nodes(body, out);
                }
            }
            Node::Super => out.sets_or_blocks = true,
            Node::Text(_)
            | Node::Extends(..)
            | Node::ImportMacro(..)
            | Node::Raw(..)
            | Node::Break(_)
            | Node::Continue(_)
            | Node::Comment(..) => {}
        }
    }
}

fn expr(e: &Expr, out: &mut Calls) {
    for filter in &e.filters {
        filter.args.values().for_each(|a| expr(a, out));
    }
    value(&e.val, out);
}

fn value(v: &ExprVal, out: &mut Calls) {
    match v {
        ExprVal::MacroCall(call) => {
            out.macros
                .insert((call.namespace.clone(), call.name.clone()));
            call.args.values().for_each(|a| expr(a, out));
        }
        ExprVal::FunctionCall(call) => call.args.values().for_each(|a| expr(a, out)),
        ExprVal::Math(m) => {
            expr(&m.lhs, out);
            expr(&m.rhs, out);
        }
        ExprVal::Logic(l) => {
            expr(&l.lhs, out);
            expr(&l.rhs, out);
        }
        ExprVal::Test(t) => {
            out.reads.insert(t.ident.clone());
            t.args.iter().for_each(|a| expr(a, out));
        }
        ExprVal::Array(items) => items.iter().for_each(|a| expr(a, out)),
        ExprVal::StringConcat(c) => c.values.iter().for_each(|v| value(v, out)),
        ExprVal::In(i) => {
            expr(&i.lhs, out);
            expr(&i.rhs, out);
        }
        ExprVal::Ident(path) => {
            out.reads.insert(path.clone());
        }
        ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    fn snapshot(templates: &[(&str, &str)]) -> RepoFiles {
        RepoFiles {
            templates: templates
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            environments: BTreeMap::new(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    fn uses(graph: &Graph, file: &str) -> Vec<String> {
        let mut out: Vec<String> = graph
            .deps(file)
            .map(|d| d.uses().map(str::to_owned).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    #[test]
    fn dependencies_are_read_from_the_syntax_tree() {
        let graph = Graph::parse(&snapshot(&[(
            "a/t.yaml",
            "{% extends \"p\" %}{%- import 'm.tera' as m -%}{% block b %}{% include \"x.yaml\" %}{% if a %}{{ \"include\" }}{% include [\"y\", 'z'] ignore missing %}{% endif %}{% endblock b %}",
        )]));
        assert_eq!(
            uses(&graph, "a/t.yaml"),
            ["m.tera", "p", "x.yaml", "y", "z"]
        );
    }

    #[test]
    fn tags_in_comments_raw_blocks_and_strings_are_no_dependency() {
        // A text scan of `{% ... %}` counted all of these.
        let graph = Graph::parse(&snapshot(&[
            (
                "a/comment.yaml",
                "{# {% include \"_shared/x.yaml\" %} #}name: a\n",
            ),
            (
                "a/raw.yaml",
                "{% raw %}{% include \"_shared/x.yaml\" %}{% endraw %}\n",
            ),
            (
                "a/string.yaml",
                "s: \"{{ '{% include \"_shared/x.yaml\" %}' }}\"\n",
            ),
            (
                "a/set.yaml",
                "{% set s = '{% import \"_shared/m.tera\" as m %}' %}x: 1\n",
            ),
        ]));
        for file in [
            "a/comment.yaml",
            "a/raw.yaml",
            "a/string.yaml",
            "a/set.yaml",
        ] {
            assert!(
                uses(&graph, file).is_empty(),
                "{file}: {:?}",
                uses(&graph, file)
            );
        }
    }

    #[test]
    fn tags_after_an_unclosed_looking_comment_are_dependencies() {
        // A text scan took `{%` in the comment for a tag's start and missed the include.
        let graph = Graph::parse(&snapshot(&[(
            "a/t.yaml",
            "{# {% #}{% include \"_shared/x.yaml\" %}\n{%- include ['_shared/y.yaml'] -%}\n",
        )]));
        assert_eq!(
            uses(&graph, "a/t.yaml"),
            ["_shared/x.yaml", "_shared/y.yaml"]
        );
    }

    #[test]
    fn macro_calls_are_per_body_and_directories_list_their_files() {
        let graph = Graph::parse(&snapshot(&[
            ("a/t.yaml", "{% import \"_m.tera\" as m %}{{ m::f() }}"),
            ("a/w/c.yaml", "x: 1\n"),
            ("_m.tera", "{% macro f() %}{{ self::g() }}{% endmacro f %}{% macro g() %}{% include \"a/w/c.yaml\" %}{% endmacro g %}"),
            ("broken/t.yaml", "{% if %}"),
        ]));
        let m = graph.deps("_m.tera").unwrap();
        assert!(m.macros["f"].macros.contains(&("self".into(), "g".into())));
        assert!(m.macros["g"].includes.contains("a/w/c.yaml"));
        assert_eq!(graph.namespaces()["a/t.yaml"]["m"], "_m.tera");
        assert!(graph.is_unparsed("broken/t.yaml"));
        let files: Vec<&str> = graph
            .template_files("a")
            .unwrap()
            .iter()
            .map(|(rel, _)| rel.as_str())
            .collect();
        assert_eq!(files, ["t.yaml", "w/c.yaml"]);
        assert!(graph.template_files("_m.tera").is_none());
    }
}

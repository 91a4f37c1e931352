//! Limits that keep rendering finite: a template is code, and a broken or hostile one must
//! fail quickly with a message, not spin for minutes, fill memory or overflow the stack.
//!
//! - Recursion is refused before anything renders: a macro that calls itself (directly or
//!   through other macros) or a template that includes itself would recurse until the stack
//!   overflows, which aborts the process. Configuration does not need recursion.
//! - `range()` replaces Tera's own: at most [`MAX_RANGE`] items per call and [`RANGE_BUDGET`]
//!   per tenant over all calls (nested loops multiply), and `step_by=0` is an error (Tera's
//!   loops forever).
//! - Imports and `extends` form no cycle and chain at most [`MAX_NESTING`] templates
//!   ([`chains`]): Tera follows both recursively, without a guard against cycles.
//! - Rendering nests at most [`MAX_NESTING`] levels ([`depth`]), counting tags inside tags,
//!   expressions inside expressions, and the macros and templates called or included on the
//!   way: Tera renders recursively, and a chain of a thousand macros that each call the next
//!   overflows the stack without any recursion.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tera::ast::{Expr, ExprVal, Node};
use tera::Tera;

use super::graph::{Calls, Graph};
use super::scan::MAX_NESTING;

/// Most items one `range()` call gives.
pub(crate) const MAX_RANGE: usize = 10_000;

/// Most items all `range()` calls of one tenant's rendering give together.
pub(crate) const RANGE_BUDGET: usize = 100_000;

thread_local! {
    /// Items `range()` may still give in the rendering running on this thread.
    static RANGE_LEFT: Cell<usize> = const { Cell::new(RANGE_BUDGET) };
}

/// Starts a tenant's rendering on this thread: the `range()` budget and the sandbox's budget
/// ([`super::sandbox`]: steps, output, time) are full again.
pub(crate) fn start_tenant() {
    RANGE_LEFT.with(|left| left.set(RANGE_BUDGET));
    super::sandbox::start_tenant();
}

/// What the rendering on this thread has counted so far: steps, output bytes ([`super::sandbox`])
/// and `range()` items. For counting a rendering again without running it
/// ([`super::shape`]).
pub(crate) fn counted() -> Counted {
    let (steps, bytes) = super::sandbox::counted();
    Counted {
        steps,
        bytes,
        range: RANGE_BUDGET - RANGE_LEFT.with(Cell::get),
    }
}

/// Counts `c` more, and the time `took`, as if what counted it ran again: false (nothing
/// recorded) when that passes a limit or the time is up.
pub(crate) fn count_again(c: Counted, took: std::time::Duration) -> bool {
    let left = RANGE_LEFT.with(Cell::get);
    if c.range > left || !super::sandbox::count_again(c.steps, c.bytes, took) {
        return false;
    }
    RANGE_LEFT.with(|l| l.set(left - c.range));
    true
}

/// What a rendering counted, or the difference of two such counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counted {
    pub steps: u64,
    pub bytes: usize,
    pub range: usize,
}

impl Counted {
    /// What was counted between `before` and `self`.
    pub(crate) fn since(self, before: Counted) -> Counted {
        Counted {
            steps: self.steps.saturating_sub(before.steps),
            bytes: self.bytes.saturating_sub(before.bytes),
            range: self.range.saturating_sub(before.range),
        }
    }
}

/// `range(end=N, start=0, step_by=1)`, as Tera's, within the limits above.
pub(crate) fn range(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let number = |name: &str, default: Option<usize>| -> tera::Result<usize> {
        match args.get(name) {
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                tera::Error::msg(format!(
                    "range(): `{name}` must be a whole number of 0 or more, not {v}"
                ))
            }),
            None => default.ok_or_else(|| tera::Error::msg("range() needs `end`")),
        }
    };
    let end = number("end", None)?;
    let start = number("start", Some(0))?;
    let step = number("step_by", Some(1))?;
    if step == 0 {
        return Err(tera::Error::msg("range(): `step_by` must be 1 or more"));
    }
    if start > end {
        return Err(tera::Error::msg(format!(
            "range(): `start` ({start}) is greater than `end` ({end})"
        )));
    }
    let count = (end - start).div_ceil(step);
    if count > MAX_RANGE {
        return Err(tera::Error::msg(format!(
            "range() would give {count} items; promote allows at most {MAX_RANGE} per call"
        )));
    }
    let left = RANGE_LEFT.with(Cell::get);
    if count > left {
        return Err(tera::Error::msg(format!(
            "the loops of this tenant's templates would run more than {RANGE_BUDGET} times in all; nested range() loops multiply"
        )));
    }
    RANGE_LEFT.with(|l| l.set(left - count));
    Ok(Value::Array(
        (start..end).step_by(step).map(Value::from).collect(),
    ))
}

/// A place that can be entered while rendering: a template file, or a macro of one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    File(String),
    Macro(String, String),
}

impl Place {
    fn file(&self) -> &str {
        match self {
            Place::File(f) | Place::Macro(f, _) => f,
        }
    }

    fn text(&self) -> String {
        match self {
            Place::File(f) => f.clone(),
            Place::Macro(f, m) => format!("{f}::{m}()"),
        }
    }
}

/// Every recursion among the templates of `graph`: (the template file to blame, the message).
pub(crate) fn recursion(graph: &Graph) -> Vec<(String, String)> {
    let namespaces = graph.namespaces();
    let mut edges: BTreeMap<Place, BTreeSet<Place>> = BTreeMap::new();
    for (name, deps) in graph.files() {
        let resolve =
            |ns: &str| -> Option<String> { namespaces.get(name).and_then(|n| n.get(ns)).cloned() };
        edges.insert(
            Place::File(name.to_owned()),
            to_places(&deps.body, &resolve),
        );
        for (macro_name, calls) in &deps.macros {
            edges.insert(
                Place::Macro(name.to_owned(), macro_name.clone()),
                to_places(calls, &resolve),
            );
        }
    }
    cycles(&edges)
}

/// A graph whose nodes nest: node → (its own depth, the nodes it enters with the depth at
/// which it enters them).
type Nesting<K> = BTreeMap<K, (usize, Vec<(K, usize)>)>;

/// The longest weighted path below each node of a graph (node → (own depth, edges with their
/// offsets)), and the cycles met (each as a path). Iterative: the graph comes from user input.
fn longest<K: Ord + Clone>(graph: &Nesting<K>) -> (BTreeMap<K, usize>, Vec<Vec<K>>) {
    let mut depth: BTreeMap<K, usize> = BTreeMap::new();
    let mut open: BTreeSet<K> = BTreeSet::new();
    let mut cycles = Vec::new();
    for start in graph.keys() {
        if depth.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&K, usize)> = vec![(start, 0)];
        open.insert(start.clone());
        while let Some(&(node, next)) = stack.last() {
            let Some((own, edges)) = graph.get(node) else {
                stack.pop();
                continue;
            };
            if let Some((child, _)) = edges.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let Some((child, _)) = graph.get_key_value(child) else {
                    continue;
                };
                if depth.contains_key(child) {
                    continue;
                }
                if open.contains(child) {
                    let from = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    let mut path: Vec<K> =
                        stack[from..].iter().map(|(n, _)| (*n).clone()).collect();
                    path.push(child.clone());
                    cycles.push(path);
                    continue;
                }
                open.insert(child.clone());
                stack.push((child, 0));
                continue;
            }
            let deepest = edges
                .iter()
                .filter_map(|(child, offset)| depth.get(child).map(|d| offset + d))
                .fold(*own, usize::max);
            open.remove(node);
            depth.insert(node.clone(), deepest);
            stack.pop();
        }
    }
    (depth, cycles)
}

/// The nodes where a path first goes deeper than `limit` (their children all stay within it),
/// each with the deepest path below it.
fn frontier<K: Ord + Clone>(
    graph: &Nesting<K>,
    depth: &BTreeMap<K, usize>,
    limit: usize,
) -> Vec<Vec<K>> {
    let mut out = Vec::new();
    for (node, d) in depth {
        if *d <= limit {
            continue;
        }
        let edges = graph
            .get(node)
            .map(|(_, e)| e.as_slice())
            .unwrap_or_default();
        if edges
            .iter()
            .any(|(c, _)| depth.get(c).is_some_and(|cd| *cd > limit))
        {
            continue;
        }
        let mut path = vec![node.clone()];
        let mut at = node;
        while path.len() <= limit + 1 {
            let next = graph
                .get(at)
                .map(|(_, e)| e.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|(c, o)| depth.get(c).map(|d| (o + d, c)))
                .max_by_key(|(d, _)| *d);
            match next {
                Some((_, c)) if !path.contains(c) => {
                    path.push(c.clone());
                    at = c;
                }
                _ => break,
            }
        }
        out.push(path);
    }
    out
}

fn shown<T: AsRef<str>>(path: &[T]) -> String {
    let names: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    if names.len() <= 8 {
        return names.join(" → ");
    }
    format!(
        "{} → … → {}",
        names[..4].join(" → "),
        names[names.len() - 3..].join(" → ")
    )
}

/// Cycles and overlong chains of imports and `extends`, before Tera follows them:
/// (the template file to blame, the message).
pub(crate) fn chains(templates: &Graph) -> Vec<(String, String)> {
    let graph: Nesting<String> = templates
        .files()
        .map(|(name, deps)| {
            let edges = deps
                .imports
                .iter()
                .map(|(file, _)| file.clone())
                .chain(deps.extends.clone())
                .map(|file| (file, 1))
                .collect();
            (name.to_owned(), (1, edges))
        })
        .collect();
    let (depth, cycles) = longest(&graph);
    let mut out: Vec<(String, String)> = cycles
        .into_iter()
        .map(|path| {
            (
                path[0].clone(),
                format!(
                    "imports and extends go round in a cycle: {} (promote refuses it: Tera would follow it until the stack overflows)",
                    shown(&path)
                ),
            )
        })
        .collect();
    if out.is_empty() {
        for path in frontier(&graph, &depth, MAX_NESTING) {
            out.push((
                path[0].clone(),
                format!(
                    "imports and extends chain more than {MAX_NESTING} templates: {} (promote's limit)",
                    shown(&path)
                ),
            ));
        }
    }
    out
}

/// A place whose rendering nests: a template, a macro, a block of a template, or any block of
/// that name (a block renders the definition of the template being rendered).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Nest {
    File(String),
    Macro(String, String),
    BlockOf(String, String),
    Block(String),
}

impl Nest {
    fn file(&self) -> Option<&str> {
        match self {
            Nest::File(f) | Nest::Macro(f, _) | Nest::BlockOf(f, _) => Some(f),
            Nest::Block(_) => None,
        }
    }
}

impl AsRef<str> for Nest {
    fn as_ref(&self) -> &str {
        match self {
            Nest::File(f) => f,
            Nest::Macro(_, m) | Nest::BlockOf(_, m) | Nest::Block(m) => m,
        }
    }
}

/// Templates whose rendering would nest more than [`MAX_NESTING`] levels:
/// (the template file to blame, the message). Call after [`recursion`] found none.
pub(crate) fn depth(tera: &Tera, templates: &Graph) -> Vec<(String, String)> {
    let namespaces = templates.namespaces();
    let mut graph: Nesting<Nest> = BTreeMap::new();
    let mut blocks: BTreeMap<String, Vec<Nest>> = BTreeMap::new();
    for (name, template) in &tera.templates {
        let empty = HashMap::new();
        let cx = Cx {
            file: name,
            namespaces: namespaces.get(name).unwrap_or(&empty),
            tera,
            block: None,
        };
        graph.insert(Nest::File(name.clone()), cx.body(&template.ast));
        for (macro_name, definition) in &template.macros {
            graph.insert(
                Nest::Macro(name.clone(), macro_name.clone()),
                cx.body(&definition.body),
            );
        }
        for (block_name, block) in &template.blocks {
            let cx = Cx {
                block: Some(block_name.as_str()),
                ..cx
            };
            let at = Nest::BlockOf(name.clone(), block_name.clone());
            graph.insert(at.clone(), cx.body(&block.body));
            blocks.entry(block_name.clone()).or_default().push(at);
        }
    }
    for (name, definitions) in blocks {
        graph.insert(
            Nest::Block(name),
            (0, definitions.into_iter().map(|d| (d, 0)).collect()),
        );
    }
    let (depth, _) = longest(&graph);
    let mut out = Vec::new();
    for path in frontier(&graph, &depth, MAX_NESTING) {
        let Some(file) = path.iter().find_map(Nest::file) else {
            continue;
        };
        let names: Vec<String> = path
            .iter()
            .map(|n| match n {
                Nest::File(f) => f.clone(),
                Nest::Macro(f, m) => format!("{f}::{m}()"),
                Nest::BlockOf(f, b) => format!("{f} (block {b})"),
                Nest::Block(b) => format!("block {b}"),
            })
            .collect();
        out.push((
            file.to_owned(),
            format!(
                "rendering nests more than {MAX_NESTING} levels deep here, counting tags in tags, expressions in expressions, and macro calls and includes: {} (promote's limit: Tera renders recursively)",
                shown(&names)
            ),
        ));
    }
    out
}

/// What nesting is measured in: one body of one template.
#[derive(Clone, Copy)]
struct Cx<'a> {
    file: &'a str,
    namespaces: &'a HashMap<String, String>,
    tera: &'a Tera,
    /// The block whose body this is (for `{{ super() }}`).
    block: Option<&'a str>,
}

impl Cx<'_> {
    /// The depth a body nests by itself, and where it goes on (with the depth there).
    fn body(&self, body: &[Node]) -> (usize, Vec<(Nest, usize)>) {
        let mut out = (0, Vec::new());
        self.nodes(body, 0, &mut out);
        out
    }

    fn nodes(&self, body: &[Node], level: usize, out: &mut (usize, Vec<(Nest, usize)>)) {
        out.0 = out.0.max(level);
        for node in body {
            let inner = level + 1;
            match node {
                Node::VariableBlock(_, e) => self.expr(e, inner, out),
                Node::Set(_, set) => self.expr(&set.value, inner, out),
                Node::Forloop(_, f, _) => {
                    self.expr(&f.container, inner, out);
                    self.nodes(&f.body, inner, out);
                    if let Some(empty) = &f.empty_body {
                        self.nodes(empty, inner, out);
                    }
                }
                Node::If(i, _) => {
                    for (_, condition, body) in &i.conditions {
                        self.expr(condition, inner, out);
                        self.nodes(body, inner, out);
                    }
                    if let Some((_, body)) = &i.otherwise {
                        self.nodes(body, inner, out);
                    }
                }
                Node::FilterSection(_, section, _) => {
                    for arg in section.filter.args.values() {
                        self.expr(arg, inner, out);
                    }
                    self.nodes(&section.body, inner, out);
                }
                Node::Block(_, block, _) => out.1.push((Nest::Block(block.name.clone()), inner)),
                Node::Include(_, files, _) => {
                    for file in files {
                        out.1.push((Nest::File(file.clone()), inner));
                    }
                }
                Node::Super => {
                    out.0 = out.0.max(inner);
                    if let Some(block) = self.block {
                        // The nearest parent defining the block renders next.
                        let parents = self
                            .tera
                            .templates
                            .get(self.file)
                            .map(|t| t.parents.as_slice())
                            .unwrap_or_default();
                        let next = parents.iter().find(|p| {
                            self.tera
                                .templates
                                .get(*p)
                                .is_some_and(|t| t.blocks.contains_key(block))
                        });
                        if let Some(parent) = next {
                            out.1
                                .push((Nest::BlockOf(parent.clone(), block.to_owned()), inner));
                        }
                    }
                }
                Node::MacroDefinition(..)
                | Node::Text(_)
                | Node::Raw(..)
                | Node::Comment(..)
                | Node::Extends(..)
                | Node::ImportMacro(..)
                | Node::Break(_)
                | Node::Continue(_) => {}
            }
        }
    }

    fn expr(&self, e: &Expr, level: usize, out: &mut (usize, Vec<(Nest, usize)>)) {
        out.0 = out.0.max(level);
        for filter in &e.filters {
            for arg in filter.args.values() {
                self.expr(arg, level + 1, out);
            }
        }
        self.value(&e.val, level, out);
    }

    fn value(&self, v: &ExprVal, level: usize, out: &mut (usize, Vec<(Nest, usize)>)) {
        let inner = level + 1;
        match v {
            ExprVal::MacroCall(call) => {
                if let Some(file) = self.namespaces.get(&call.namespace) {
                    out.1
                        .push((Nest::Macro(file.clone(), call.name.clone()), inner));
                }
                call.args.values().for_each(|a| self.expr(a, inner, out));
            }
            ExprVal::FunctionCall(call) => {
                call.args.values().for_each(|a| self.expr(a, inner, out))
            }
            ExprVal::Math(m) => {
                self.expr(&m.lhs, inner, out);
                self.expr(&m.rhs, inner, out);
            }
            ExprVal::Logic(l) => {
                self.expr(&l.lhs, inner, out);
                self.expr(&l.rhs, inner, out);
            }
            ExprVal::Test(t) => t.args.iter().for_each(|a| self.expr(a, inner, out)),
            ExprVal::Array(items) => items.iter().for_each(|a| self.expr(a, inner, out)),
            ExprVal::StringConcat(c) => c.values.iter().for_each(|v| self.value(v, inner, out)),
            ExprVal::In(i) => {
                self.expr(&i.lhs, inner, out);
                self.expr(&i.rhs, inner, out);
            }
            ExprVal::String(_)
            | ExprVal::Int(_)
            | ExprVal::Float(_)
            | ExprVal::Bool(_)
            | ExprVal::Ident(_) => {}
        }
    }
}

/// The places a body enters: the files it includes and the macros it calls, resolved through
/// its file's namespaces.
fn to_places(calls: &Calls, resolve: &dyn Fn(&str) -> Option<String>) -> BTreeSet<Place> {
    let mut out: BTreeSet<Place> = calls.includes.iter().cloned().map(Place::File).collect();
    for (ns, name) in &calls.macros {
        if let Some(file) = resolve(ns) {
            out.insert(Place::Macro(file, name.clone()));
        }
    }
    out
}

/// The cycles of the graph, one message per cycle found (each place in at most one).
fn cycles(edges: &BTreeMap<Place, BTreeSet<Place>>) -> Vec<(String, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&Place, Mark> = BTreeMap::new();
    let mut out = Vec::new();
    for start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative depth-first search: the graph comes from user input.
        let mut path: Vec<&Place> = vec![start];
        let mut stack: Vec<std::collections::btree_set::Iter<Place>> = vec![edges[start].iter()];
        marks.insert(start, Mark::Open);
        while let Some(next) = stack.last_mut().map(Iterator::next) {
            match next {
                Some(to) => match marks.get(to) {
                    Some(Mark::Open) => {
                        let from = path.iter().position(|p| *p == to).unwrap_or(0);
                        let mut names: Vec<String> =
                            path[from..].iter().map(|p| p.text()).collect();
                        names.push(to.text());
                        out.push((
                            to.file().to_owned(),
                            format!(
                                "recursion: {} (promote refuses recursive macros and includes: they would never end on some input)",
                                names.join(" → ")
                            ),
                        ));
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(to, Mark::Open);
                        path.push(to);
                        stack.push(edges.get(to).map(|e| e.iter()).unwrap_or_default());
                    }
                },
                None => {
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                    stack.pop();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tera(templates: &[(&str, &str)]) -> Tera {
        let mut tera = Tera::default();
        tera.register_function("range", range);
        tera.add_raw_templates(templates.iter().copied()).unwrap();
        tera
    }

    #[test]
    fn recursive_macros_and_includes_are_found() {
        let t = tera(&[
            ("m.tera", "{% macro f(n) %}{{ self::g(n=n) }}{% endmacro f %}{% macro g(n) %}{{ self::f(n=n) }}{% endmacro g %}{% macro ok() %}x{% endmacro ok %}"),
            ("a.yaml", "{% import \"m.tera\" as m %}{{ m::ok() }}"),
            ("i.yaml", "{% if x %}{% include \"j.yaml\" %}{% endif %}"),
            ("j.yaml", "{% for a in b %}{% include \"i.yaml\" %}{% endfor %}"),
        ]);
        let found = recursion(&Graph::of(&t.templates));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found.iter().any(
                |(f, m)| f == "m.tera" && m.contains("m.tera::f() → m.tera::g() → m.tera::f()")
            ),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("i.yaml → j.yaml → i.yaml")
                    || m.contains("j.yaml → i.yaml → j.yaml")),
            "{found:?}"
        );
        let fine = tera(&[
            ("m.tera", "{% macro ok() %}x{% endmacro ok %}"),
            (
                "a.yaml",
                "{% import \"m.tera\" as m %}{{ m::ok() }}{{ m::ok() }}",
            ),
        ]);
        assert!(recursion(&Graph::of(&fine.templates)).is_empty());
    }

    #[test]
    fn range_is_bounded() {
        let t = tera(&[
            ("ok", "{% for i in range(end=5, start=1, step_by=2) %}{{ i }}{% endfor %}"),
            ("big", "{% for i in range(end=10000000) %}{% endfor %}"),
            ("zero", "{% for i in range(end=3, step_by=0) %}{% endfor %}"),
            ("nested", "{% for i in range(end=1000) %}{% for j in range(end=1000) %}{% endfor %}{% endfor %}"),
        ]);
        let ctx = tera::Context::new();
        start_tenant();
        assert_eq!(t.render("ok", &ctx).unwrap(), "13");
        let err = |name: &str| {
            start_tenant();
            format!("{:?}", t.render(name, &ctx).unwrap_err())
        };
        assert!(
            err("big").contains("at most 10000 per call"),
            "{}",
            err("big")
        );
        assert!(err("zero").contains("step_by"), "{}", err("zero"));
        assert!(
            err("nested").contains("more than 100000 times"),
            "{}",
            err("nested")
        );
    }
}

//! Limits that keep rendering finite: a template is code, and a broken or hostile one must
//! fail quickly with a message, not spin for minutes, fill memory or overflow the stack.
//!
//! - Recursion is refused before anything renders: a macro that calls itself (directly or
//!   through other macros) or a template that includes itself would recurse until the stack
//!   overflows, which aborts the process. Configuration does not need recursion.
//! - `range()` replaces Tera's own: at most [`MAX_RANGE`] items per call and [`RANGE_BUDGET`]
//!   per tenant over all calls (nested loops multiply), and `step_by=0` is an error (Tera's
//!   loops forever).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tera::ast::{Expr, ExprVal, Node};
use tera::Tera;

/// Most items one `range()` call gives.
pub const MAX_RANGE: usize = 10_000;

/// Most items all `range()` calls of one tenant's rendering give together.
pub const RANGE_BUDGET: usize = 100_000;

thread_local! {
    /// Items `range()` may still give in the rendering running on this thread.
    static RANGE_LEFT: Cell<usize> = const { Cell::new(RANGE_BUDGET) };
}

/// Starts a tenant's rendering on this thread: the `range()` budget is full again.
pub fn start_tenant() {
    RANGE_LEFT.with(|left| left.set(RANGE_BUDGET));
}

/// `range(end=N, start=0, step_by=1)`, as Tera's, within the limits above.
pub fn range(args: &HashMap<String, Value>) -> tera::Result<Value> {
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

/// Every recursion among the compiled templates: (the template file to blame, the message).
pub fn recursion(tera: &Tera) -> Vec<(String, String)> {
    let mut edges: BTreeMap<Place, BTreeSet<Place>> = BTreeMap::new();
    for name in tera.get_template_names() {
        let Ok(template) = tera.get_template(name) else {
            continue;
        };
        let namespaces: HashMap<&str, &str> = template
            .imported_macro_files
            .iter()
            .map(|(file, ns)| (ns.as_str(), file.as_str()))
            .collect();
        let resolve = |ns: &str| -> Option<String> {
            if ns == "self" {
                Some(name.to_owned())
            } else {
                namespaces.get(ns).map(|f| (*f).to_owned())
            }
        };
        let mut calls = Vec::new();
        nodes(&template.ast, &mut calls);
        edges.insert(Place::File(name.to_owned()), to_places(calls, &resolve));
        for (macro_name, definition) in &template.macros {
            let mut calls = Vec::new();
            nodes(&definition.body, &mut calls);
            edges.insert(
                Place::Macro(name.to_owned(), macro_name.clone()),
                to_places(calls, &resolve),
            );
        }
    }
    cycles(&edges)
}

/// What a body refers to: a macro call (namespace, name) or an include (file names).
enum Call {
    Macro(String, String),
    Include(Vec<String>),
}

fn to_places(calls: Vec<Call>, resolve: &dyn Fn(&str) -> Option<String>) -> BTreeSet<Place> {
    let mut out = BTreeSet::new();
    for call in calls {
        match call {
            Call::Macro(ns, name) => {
                if let Some(file) = resolve(&ns) {
                    out.insert(Place::Macro(file, name));
                }
            }
            Call::Include(files) => out.extend(files.into_iter().map(Place::File)),
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

fn nodes(body: &[Node], out: &mut Vec<Call>) {
    for node in body {
        match node {
            Node::VariableBlock(_, e) => expr(e, out),
            Node::MacroDefinition(_, d, _) => nodes(&d.body, out),
            Node::Include(_, files, _) => out.push(Call::Include(files.clone())),
            Node::Set(_, set) => expr(&set.value, out),
            Node::FilterSection(_, section, _) => {
                section.filter.args.values().for_each(|e| expr(e, out));
                nodes(&section.body, out);
            }
            Node::Block(_, block, _) => nodes(&block.body, out),
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
            Node::Super
            | Node::Text(_)
            | Node::Extends(..)
            | Node::ImportMacro(..)
            | Node::Raw(..)
            | Node::Break(_)
            | Node::Continue(_)
            | Node::Comment(..) => {}
        }
    }
}

fn expr(e: &Expr, out: &mut Vec<Call>) {
    for filter in &e.filters {
        filter.args.values().for_each(|a| expr(a, out));
    }
    value(&e.val, out);
}

fn value(v: &ExprVal, out: &mut Vec<Call>) {
    match v {
        ExprVal::MacroCall(call) => {
            out.push(Call::Macro(call.namespace.clone(), call.name.clone()));
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
        ExprVal::Test(t) => t.args.iter().for_each(|a| expr(a, out)),
        ExprVal::Array(items) => items.iter().for_each(|a| expr(a, out)),
        ExprVal::StringConcat(c) => c.values.iter().for_each(|v| value(v, out)),
        ExprVal::In(i) => {
            expr(&i.lhs, out);
            expr(&i.rhs, out);
        }
        ExprVal::String(_)
        | ExprVal::Int(_)
        | ExprVal::Float(_)
        | ExprVal::Bool(_)
        | ExprVal::Ident(_) => {}
    }
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
        let found = recursion(&t);
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
        assert!(recursion(&fine).is_empty());
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

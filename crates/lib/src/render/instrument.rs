//! Compiling a template for the sandbox ([`super::sandbox`]): parse it with Tera, check what
//! it calls and how complex its expressions are, and rewrite its syntax tree so that rendering
//! checks the budget as it goes.
//!
//! Checks, reported with the file, line and column of the tag:
//! - it calls only [`sandbox::FUNCTIONS`];
//! - one expression has at most [`MAX_TERMS`] variables, calls and filters (so one step cannot
//!   multiply memory: `[s, s, s, ...]`, `s ~ s ~ s ...`) and nests at most
//!   [`scan::MAX_NESTING`] levels;
//! - number literals are finite and small enough to add (Tera panics on an infinite one).
//!
//! Rewrites (each renders exactly what the original renders, or fails where Tera would panic):
//! - the body of every `{% for %}`, macro and `{% block %}`, and every template, starts with
//!   `{{ __promote_tick(p=N) }}`, which renders nothing and counts a step and the static text of
//!   the body;
//! - `{{ e }}` becomes `{{ e | __promote_out(p=N) }}` (counts what it writes);
//! - `{% set x = e %}` and macro arguments get `| __promote_value(p=N)` (value limits);
//! - `{% for x in e %}` loops over `e | __promote_iter(p=N)` (value limits; strings as their
//!   characters, where Tera panics on combining characters);
//! - `{% filter f %}` applies `f` through `__promote_section`, which counts its output;
//! - operands of `+` and `-` go through the filter `__promote_num`, and so does a macro call
//!   used as a number (Tera panics on an overflowing sum and on a macro call in arithmetic);
//! - in a condition, `not a ~ b` and `a ~ b | f` go through `__promote_truthy` (Tera panics
//!   when such a condition is not a string).

use std::collections::{HashMap, HashSet};

use tera::ast::{Block, Expr, ExprVal, FunctionCall, LogicOperator, MacroDefinition, Node, WS};
use tera::Template;

use super::sandbox::{self, Place, What};
use super::scan::{self, Kind, Tag, MAX_NESTING};

/// Most variables, function calls, macro calls, filters and tests in one expression.
pub(crate) const MAX_TERMS: usize = 64;

/// The largest number literal (half the largest `f64`): the sum of two is still finite. A
/// larger one reads as infinity, on which Tera panics.
pub(crate) const MAX_LITERAL: f64 = f64::MAX / 2.0;

/// A problem found in a template before it renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Byte offset in the template's source, when known.
    pub at: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// Why a template cannot be compiled.
#[derive(Debug)]
pub(crate) enum CompileError {
    /// Tera's parser refused it (its error, chained as `Failed to parse 'NAME'`).
    Syntax(tera::Error),
    Problems(Vec<Problem>),
}

/// Returns template `name` compiled for the sandbox, its places appended to `places`.
/// `filters` are the filters that exist.
pub(crate) fn compile(
    name: &str,
    source: &str,
    filters: &HashSet<String>,
    places: &mut Vec<Place>,
) -> Result<Template, CompileError> {
    let (mut template, scanned) = parse(name, source)?;
    let mut walk = Walk {
        file: name,
        source,
        tags: Cursors::new(&scanned.tags, &template.ast),
        places,
        problems: Vec::new(),
        filters,
    };
    let mut ast = std::mem::take(&mut template.ast);
    walk.body(
        &mut ast,
        (template.parent.is_none()).then_some(What::Template),
        None,
    );
    if !walk.problems.is_empty() {
        return Err(CompileError::Problems(walk.problems));
    }
    template.ast = ast;
    // Tera renders macros and blocks from these copies: make them the rewritten ones.
    template.macros = template
        .ast
        .iter()
        .filter_map(|node| match node {
            Node::MacroDefinition(_, definition, _) => {
                Some((definition.name.clone(), definition.clone()))
            }
            _ => None,
        })
        .collect();
    let mut blocks = HashMap::new();
    find_blocks(&template.ast, &mut blocks);
    template.blocks = blocks;
    Ok(template)
}

/// Returns template `name` parsed by Tera as written, with the tags the scan found in it, or
/// why it cannot be: nesting the scan refuses (Tera's parser would overflow the stack on it)
/// or Tera's syntax error. `secret("NAME")` is read as `secret(name="NAME")`.
pub(crate) fn parse(name: &str, source: &str) -> Result<(Template, scan::Scan), CompileError> {
    let mut scanned = scan::scan(source);
    if let Some((at, message)) = scanned.problem.take() {
        return Err(CompileError::Problems(vec![Problem {
            at: Some(at),
            message,
            hint: Some("write it flatter: set intermediate values with {% set %}, or move parts into macros".into()),
        }]));
    }
    let rewritten = scan::positional_secret(source, &scanned.tags);
    let text = rewritten.as_deref().unwrap_or(source);
    let template = Template::new(name, None, text).map_err(|e| {
        CompileError::Syntax(tera::Error::chain(format!("Failed to parse '{name}'"), e))
    })?;
    Ok((template, scanned))
}

/// The blocks of a template the way Tera finds them: top level, and blocks in blocks.
fn find_blocks(ast: &[Node], blocks: &mut HashMap<String, Block>) {
    for node in ast {
        if let Node::Block(_, block, _) = node {
            blocks.insert(block.name.clone(), block.clone());
            find_blocks(&block.body, blocks);
        }
    }
}

/// Which tags a node of the syntax tree comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Output,
    For,
    If,
    Set,
    Macro,
    Block,
    Filter,
}

/// The positions of the tags of each role, in source order; nodes of the syntax tree take them
/// in the same order. Empty when the counts differ (positions are then unknown).
struct Cursors {
    by_role: HashMap<Role, std::vec::IntoIter<usize>>,
}

impl Cursors {
    fn new(tags: &[Tag], ast: &[Node]) -> Cursors {
        let mut by_role: HashMap<Role, Vec<usize>> = HashMap::new();
        for tag in tags {
            let role = match (tag.kind, tag.keyword.as_str()) {
                (Kind::Expression, _) => Role::Output,
                (Kind::Statement, "for") => Role::For,
                (Kind::Statement, "if" | "elif") => Role::If,
                (Kind::Statement, "set" | "set_global") => Role::Set,
                (Kind::Statement, "macro") => Role::Macro,
                (Kind::Statement, "block") => Role::Block,
                (Kind::Statement, "filter") => Role::Filter,
                _ => continue,
            };
            by_role.entry(role).or_default().push(tag.start);
        }
        let mut counts: HashMap<Role, usize> = HashMap::new();
        count_roles(ast, &mut counts);
        let same = counts
            .iter()
            .all(|(role, n)| by_role.get(role).map_or(0, Vec::len) == *n)
            && by_role
                .iter()
                .all(|(role, v)| counts.get(role).copied().unwrap_or(0) == v.len());
        if !same {
            by_role.clear();
        }
        Cursors {
            by_role: by_role
                .into_iter()
                .map(|(k, v)| (k, v.into_iter()))
                .collect(),
        }
    }

    fn next(&mut self, role: Role) -> Option<usize> {
        self.by_role.get_mut(&role).and_then(Iterator::next)
    }
}

fn count_roles(body: &[Node], counts: &mut HashMap<Role, usize>) {
    fn add(counts: &mut HashMap<Role, usize>, role: Role) {
        *counts.entry(role).or_default() += 1;
    }
    for node in body {
        match node {
            Node::VariableBlock(..) | Node::Super => add(counts, Role::Output),
            Node::Set(..) => add(counts, Role::Set),
            Node::Forloop(_, f, _) => {
                add(counts, Role::For);
                count_roles(&f.body, counts);
                if let Some(empty) = &f.empty_body {
                    count_roles(empty, counts);
                }
            }
            Node::If(i, _) => {
                for (_, _, body) in &i.conditions {
                    add(counts, Role::If);
                    count_roles(body, counts);
                }
                if let Some((_, body)) = &i.otherwise {
                    count_roles(body, counts);
                }
            }
            Node::FilterSection(_, f, _) => {
                add(counts, Role::Filter);
                count_roles(&f.body, counts);
            }
            Node::Block(_, b, _) => {
                add(counts, Role::Block);
                count_roles(&b.body, counts);
            }
            Node::MacroDefinition(_, d, _) => {
                add(counts, Role::Macro);
                count_roles(&d.body, counts);
            }
            Node::Text(_)
            | Node::Raw(..)
            | Node::Comment(..)
            | Node::Extends(..)
            | Node::Include(..)
            | Node::ImportMacro(..)
            | Node::Break(_)
            | Node::Continue(_) => {}
        }
    }
}

/// Where an expression is evaluated, which decides which of Tera's code paths evaluate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Value,
    /// A condition, or an operand of `and`/`or` (`eval_as_bool`).
    Condition,
    /// An operand of arithmetic or of `<`, `>`... (`eval_as_number`).
    Number,
}

/// What the check of one tag's expressions counted.
#[derive(Default)]
struct Tally {
    terms: usize,
    too_deep: bool,
}

struct Walk<'a> {
    file: &'a str,
    source: &'a str,
    tags: Cursors,
    places: &'a mut Vec<Place>,
    problems: Vec<Problem>,
    filters: &'a HashSet<String>,
}

impl Walk<'_> {
    fn place(&mut self, what: What, at: Option<usize>, bytes: usize) -> Expr {
        self.places.push(Place {
            file: self.file.to_owned(),
            at,
            what,
            bytes,
        });
        int(self.places.len() - 1)
    }

    /// Walks a body; with `tick`, the body then starts with a tick for it.
    fn body(&mut self, body: &mut Vec<Node>, tick: Option<What>, at: Option<usize>) {
        for node in body.iter_mut() {
            self.node(node);
        }
        if let Some(what) = tick {
            let p = self.place(what, at, static_bytes(body));
            body.insert(
                0,
                Node::VariableBlock(WS::default(), call(sandbox::TICK, vec![("p", p)])),
            );
        }
    }

    fn node(&mut self, node: &mut Node) {
        match node {
            Node::VariableBlock(_, e) => {
                let at = self.tags.next(Role::Output);
                if self.check(&[&*e], at) {
                    self.rewrite(e, Position::Value, at);
                    let p = self.place(What::Output, at, 0);
                    add_filter(e, sandbox::OUT, p);
                }
            }
            Node::Super => {
                self.tags.next(Role::Output);
            }
            Node::Set(_, set) => {
                let at = self.tags.next(Role::Set);
                if self.check(&[&set.value], at) {
                    self.rewrite(&mut set.value, Position::Value, at);
                    let p = self.place(What::Value, at, 0);
                    add_filter(&mut set.value, sandbox::VALUE, p);
                }
            }
            Node::Forloop(_, f, _) => {
                let at = self.tags.next(Role::For);
                if self.check(&[&f.container], at) {
                    self.rewrite(&mut f.container, Position::Value, at);
                    let p = self.place(What::List, at, 0);
                    add_filter(&mut f.container, sandbox::ITER, p);
                }
                self.body(&mut f.body, Some(What::Loop), at);
                if let Some(empty) = &mut f.empty_body {
                    self.body(empty, None, None);
                }
            }
            Node::If(i, _) => {
                for (_, condition, body) in &mut i.conditions {
                    let at = self.tags.next(Role::If);
                    if self.check(&[&*condition], at) {
                        self.rewrite(condition, Position::Condition, at);
                    }
                    self.body(body, None, None);
                }
                if let Some((_, body)) = &mut i.otherwise {
                    self.body(body, None, None);
                }
            }
            Node::FilterSection(_, section, _) => {
                let at = self.tags.next(Role::Filter);
                let args: Vec<&Expr> = section.filter.args.values().collect();
                if self.check(&args, at) {
                    for arg in section.filter.args.values_mut() {
                        self.rewrite(arg, Position::Value, at);
                    }
                    let name = section.filter.name.clone();
                    // `safe` is not a filter (Tera writes the body as it is, counted already);
                    // an unknown one stays for Tera to report.
                    if name != "safe" && self.filters.contains(&name) {
                        section.filter.name = sandbox::SECTION.to_owned();
                        section.filter.args.insert(
                            sandbox::SECTION_FILTER.to_owned(),
                            Expr::new(ExprVal::String(name)),
                        );
                    }
                }
                self.body(&mut section.body, None, None);
            }
            Node::Block(_, block, _) => {
                let at = self.tags.next(Role::Block);
                let what = What::Block(block.name.clone());
                self.body(&mut block.body, Some(what), at);
            }
            Node::MacroDefinition(_, definition, _) => {
                let at = self.tags.next(Role::Macro);
                self.check_defaults(definition, at);
                let what = What::Macro(definition.name.clone());
                self.body(&mut definition.body, Some(what), at);
            }
            Node::Text(_)
            | Node::Raw(..)
            | Node::Comment(..)
            | Node::Extends(..)
            | Node::Include(..)
            | Node::ImportMacro(..)
            | Node::Break(_)
            | Node::Continue(_) => {}
        }
    }

    fn problem(&mut self, at: Option<usize>, needle: Option<&str>, message: String, hint: &str) {
        // Point at the word in the tag, when it is there.
        let at = match (at, needle) {
            (Some(at), Some(needle)) => self
                .source
                .get(at..)
                .and_then(|rest| rest.find(needle))
                .map(|offset| at + offset)
                .or(Some(at)),
            _ => at,
        };
        self.problems.push(Problem {
            at,
            message,
            hint: Some(hint.to_owned()),
        });
    }

    /// Checks the expressions of one tag; returns whether they may be rewritten.
    fn check(&mut self, exprs: &[&Expr], at: Option<usize>) -> bool {
        let before = self.problems.len();
        let mut tally = Tally::default();
        for e in exprs {
            self.check_expr(e, 1, &mut tally, at);
        }
        if tally.too_deep {
            self.problem(
                at,
                None,
                format!(
                    "an expression nested more than {MAX_NESTING} levels deep (promote's limit)"
                ),
                "split it into steps with {% set %}",
            );
        } else if tally.terms > MAX_TERMS {
            self.problem(
                at,
                None,
                format!("an expression with more than {MAX_TERMS} variables, calls and filters (promote's limit)"),
                "split it into steps with {% set %}",
            );
        }
        self.problems.len() == before
    }

    fn check_expr(&mut self, e: &Expr, depth: usize, tally: &mut Tally, at: Option<usize>) {
        if depth > MAX_NESTING {
            // Deeper levels are not visited: the tree may be very deep.
            tally.too_deep = true;
            return;
        }
        tally.terms += e.filters.len();
        for filter in &e.filters {
            for arg in filter.args.values() {
                self.check_expr(arg, depth + 1, tally, at);
            }
        }
        self.check_val(&e.val, depth, tally, at);
    }

    fn check_val(&mut self, val: &ExprVal, depth: usize, tally: &mut Tally, at: Option<usize>) {
        match val {
            ExprVal::Ident(_) => tally.terms += 1,
            ExprVal::FunctionCall(call) => {
                tally.terms += 1;
                self.check_function(call, at);
                for arg in call.args.values() {
                    self.check_expr(arg, depth + 1, tally, at);
                }
            }
            ExprVal::MacroCall(call) => {
                tally.terms += 1;
                for arg in call.args.values() {
                    self.check_expr(arg, depth + 1, tally, at);
                }
            }
            ExprVal::Test(test) => {
                tally.terms += 1;
                for arg in &test.args {
                    self.check_expr(arg, depth + 1, tally, at);
                }
            }
            ExprVal::Math(m) => {
                self.check_expr(&m.lhs, depth + 1, tally, at);
                self.check_expr(&m.rhs, depth + 1, tally, at);
            }
            ExprVal::Logic(l) => {
                self.check_expr(&l.lhs, depth + 1, tally, at);
                self.check_expr(&l.rhs, depth + 1, tally, at);
            }
            ExprVal::In(i) => {
                self.check_expr(&i.lhs, depth + 1, tally, at);
                self.check_expr(&i.rhs, depth + 1, tally, at);
            }
            ExprVal::Array(items) => {
                for item in items {
                    self.check_expr(item, depth + 1, tally, at);
                }
            }
            ExprVal::StringConcat(concat) => {
                for value in &concat.values {
                    self.check_val(value, depth + 1, tally, at);
                }
            }
            ExprVal::Float(f) => self.check_float(*f, at),
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Bool(_) => {}
        }
    }

    fn check_function(&mut self, call: &FunctionCall, at: Option<usize>) {
        if sandbox::FUNCTIONS.contains(&call.name.as_str()) {
            return;
        }
        let allowed: Vec<String> = sandbox::FUNCTIONS
            .iter()
            .map(|f| format!("{f}()"))
            .collect();
        self.problem(
            at,
            Some(&call.name),
            format!(
                "`{}()` is not available: promote templates can call only {}",
                call.name,
                allowed.join(" and ")
            ),
            "templates cannot read the process environment, the clock or random numbers: put values in the environment's `vars`, and name credentials with secret(\"NAME\")",
        );
    }

    fn check_float(&mut self, f: f64, at: Option<usize>) {
        if !f.is_finite() || f.abs() > MAX_LITERAL {
            self.problem(
                at,
                None,
                format!("a number literal too large (promote allows at most {MAX_LITERAL:e})"),
                "write a smaller number",
            );
        }
    }

    fn check_defaults(&mut self, definition: &MacroDefinition, at: Option<usize>) {
        for default in definition.args.values().flatten() {
            if let ExprVal::Float(f) = default.val {
                self.check_float(f, at);
            }
        }
    }

    /// Rewrites an expression (already checked) evaluated at `position`.
    fn rewrite(&mut self, e: &mut Expr, position: Position, at: Option<usize>) {
        match &mut e.val {
            ExprVal::Math(m) => {
                self.rewrite(&mut m.lhs, Position::Number, at);
                self.rewrite(&mut m.rhs, Position::Number, at);
                // Every operator: `+` and `-` overflow on large floats, `%` and `/` on
                // `i64::MIN` and -1, and Tera panics.
                let p = self.place(What::Value, at, 0);
                guard_operand(&mut m.lhs, p.clone());
                guard_operand(&mut m.rhs, p);
            }
            ExprVal::Logic(l) => {
                let operands = match l.operator {
                    LogicOperator::And | LogicOperator::Or => Position::Condition,
                    LogicOperator::Eq | LogicOperator::NotEq => Position::Value,
                    LogicOperator::Gt
                    | LogicOperator::Gte
                    | LogicOperator::Lt
                    | LogicOperator::Lte => Position::Number,
                };
                self.rewrite(&mut l.lhs, operands, at);
                self.rewrite(&mut l.rhs, operands, at);
            }
            ExprVal::MacroCall(call) => {
                for arg in call.args.values_mut() {
                    self.rewrite(arg, Position::Value, at);
                    let p = self.place(What::Value, at, 0);
                    add_filter(arg, sandbox::VALUE, p);
                }
            }
            ExprVal::FunctionCall(call) => {
                for arg in call.args.values_mut() {
                    self.rewrite(arg, Position::Value, at);
                }
            }
            ExprVal::Test(test) => {
                for arg in &mut test.args {
                    self.rewrite(arg, Position::Value, at);
                }
            }
            ExprVal::Array(items) => {
                for item in items {
                    self.rewrite(item, Position::Value, at);
                }
            }
            ExprVal::In(i) => {
                self.rewrite(&mut i.lhs, Position::Value, at);
                self.rewrite(&mut i.rhs, Position::Value, at);
            }
            ExprVal::StringConcat(concat) => {
                // Values of a concatenation must stay strings, numbers, names or calls.
                for value in &mut concat.values {
                    if let ExprVal::FunctionCall(call) = value {
                        for arg in call.args.values_mut() {
                            self.rewrite(arg, Position::Value, at);
                        }
                    }
                }
            }
            ExprVal::String(_)
            | ExprVal::Int(_)
            | ExprVal::Float(_)
            | ExprVal::Bool(_)
            | ExprVal::Ident(_) => {}
        }
        for filter in &mut e.filters {
            for arg in filter.args.values_mut() {
                self.rewrite(arg, Position::Value, at);
            }
        }
        match position {
            // `eval_as_bool` unwraps the string of a concatenation, which negation or a
            // filter may have turned into something else; it has no case for arrays.
            Position::Condition
                if matches!(e.val, ExprVal::StringConcat(_))
                    && (e.negated || !e.filters.is_empty())
                    || matches!(e.val, ExprVal::Array(_)) =>
            {
                let negated = e.negated;
                e.negated = false;
                wrap(e, sandbox::TRUTHY, vec![]);
                e.negated = negated;
            }
            // `eval_as_number` has no case for these (without filters) and panics; with a
            // filter, Tera evaluates the expression and checks the result is a number.
            Position::Number
                if e.filters.is_empty()
                    && matches!(
                        e.val,
                        ExprVal::MacroCall(_)
                            | ExprVal::Logic(_)
                            | ExprVal::In(_)
                            | ExprVal::Array(_)
                    ) =>
            {
                let p = self.place(What::Value, at, 0);
                number_filter(e, None, p);
            }
            _ => {}
        }
    }
}

/// Makes an operand of arithmetic go through [`sandbox::NUM`], unless it cannot overflow.
fn guard_operand(operand: &mut Expr, p: Expr) {
    let safe = match &operand.val {
        ExprVal::Int(i) => operand.filters.is_empty() && *i != i64::MIN,
        ExprVal::Float(f) => operand.filters.is_empty() && f.abs() <= MAX_LITERAL,
        _ => operand
            .filters
            .last()
            .is_some_and(|f| f.name == sandbox::NUM),
    };
    if !safe {
        let name = match (&operand.val, operand.filters.is_empty()) {
            (ExprVal::Ident(name), true) => Some(name.clone()),
            _ => None,
        };
        number_filter(operand, name, p);
    }
}

/// Adds [`sandbox::NUM`] to the filters of `e`.
fn number_filter(e: &mut Expr, name: Option<String>, p: Expr) {
    let mut args = HashMap::from([("p".to_owned(), p)]);
    if let Some(name) = name {
        args.insert("n".to_owned(), Expr::new(ExprVal::String(name)));
    }
    e.filters.push(FunctionCall {
        name: sandbox::NUM.to_owned(),
        args,
    });
}

/// Adds `filter(p=P)` to the filters of `e`. Tera applies filters after it evaluates the value
/// and before negation, so the value of `e` is what it was (`not x` counts `x`).
fn add_filter(e: &mut Expr, filter: &str, p: Expr) {
    e.filters.push(FunctionCall {
        name: filter.to_owned(),
        args: HashMap::from([("p".to_owned(), p)]),
    });
}

/// Replaces `e` by `function(v=e, args...)`.
fn wrap(e: &mut Expr, function: &str, mut args: Vec<(&str, Expr)>) {
    let inner = std::mem::replace(e, Expr::new(ExprVal::Bool(false)));
    args.push(("v", inner));
    *e = call(function, args);
}

fn call(function: &str, args: Vec<(&str, Expr)>) -> Expr {
    Expr::new(ExprVal::FunctionCall(FunctionCall {
        name: function.to_owned(),
        args: args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }))
}

fn int(n: usize) -> Expr {
    Expr::new(ExprVal::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Bytes of static text a body writes each time it runs, not counting the bodies that count
/// their own (loops, macros, blocks); all branches of an `if` count.
fn static_bytes(body: &[Node]) -> usize {
    body.iter()
        .map(|node| match node {
            Node::Text(s) | Node::Raw(_, s, _) => s.len(),
            Node::If(i, _) => {
                i.conditions
                    .iter()
                    .map(|(_, _, b)| static_bytes(b))
                    .sum::<usize>()
                    + i.otherwise.as_ref().map_or(0, |(_, b)| static_bytes(b))
            }
            Node::FilterSection(_, section, _) => static_bytes(&section.body),
            Node::Forloop(_, f, _) => f.empty_body.as_deref().map_or(0, static_bytes),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(source: &str) -> Result<Template, Vec<Problem>> {
        let filters = tera::Tera::default().filters.keys().cloned().collect();
        compile("a/t.yaml", source, &filters, &mut Vec::new()).map_err(|f| match f {
            CompileError::Problems(p) => p,
            CompileError::Syntax(e) => panic!("{e:?}"),
        })
    }

    fn problems(source: &str) -> Vec<(usize, String)> {
        compiled(source)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.at.unwrap_or(usize::MAX), p.message))
            .collect()
    }

    #[test]
    fn only_secret_and_range_can_be_called() {
        let found = problems("a: 1\nb: {{ get_env(name='PROMOTE_PROD_CLIENT_SECRET') }}\n{% if now() %}{% endif %}{% set x = 'a' ~ get_random(end=2) %}{{ throw(message='x') }}{{ secret('A') }}{% for i in range(end=2) %}{% endfor %}");
        let names: Vec<&str> = found
            .iter()
            .map(|(_, m)| m.split('`').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            vec!["get_env()", "now()", "get_random()", "throw()"],
            "{found:?}"
        );
        assert_eq!(found[0].0, 11, "points at the name: {found:?}");
        assert!(found[0]
            .1
            .contains("promote templates can call only secret() and range()"));
    }

    #[test]
    fn expressions_are_bounded() {
        let many = format!("{{{{ [{}] }}}}", vec!["s"; 65].join(", "));
        assert!(problems(&many)[0].1.contains("more than 64 variables"));
        let fine = format!("{{{{ [{}] }}}}", vec!["s"; 64].join(", "));
        assert!(problems(&fine).is_empty());
        let chain = format!("{{{{ s{} }}}}", " ~ s".repeat(64));
        assert!(problems(&chain)[0].1.contains("more than 64 variables"));
        let sum = format!("{{{{ 1{} }}}}", " + 1".repeat(64));
        assert!(problems(&sum)[0].1.contains("nested more than 64 levels"));
        let literal = format!("{{{{ 1{}.0 }}}}", "0".repeat(400));
        assert!(problems(&literal)[0].1.contains("number literal too large"));
    }

    #[test]
    fn bodies_start_with_a_tick_and_outputs_are_wrapped() {
        let t =
            compiled("x{% for i in xs %}ab{{ i }}{% endfor %}{% macro m(a) %}cd{% endmacro m %}")
                .unwrap();
        let Node::VariableBlock(_, tick) = &t.ast[0] else {
            panic!("{:?}", t.ast)
        };
        assert!(matches!(&tick.val, ExprVal::FunctionCall(c) if c.name == sandbox::TICK));
        let Node::Forloop(_, f, _) = &t.ast[2] else {
            panic!("{:?}", t.ast)
        };
        assert_eq!(f.container.filters[0].name, sandbox::ITER);
        assert!(
            matches!(&f.body[0], Node::VariableBlock(_, e) if matches!(&e.val, ExprVal::FunctionCall(c) if c.name == sandbox::TICK))
        );
        assert!(
            matches!(&f.body[2], Node::VariableBlock(_, e) if e.filters[0].name == sandbox::OUT)
        );
        let body = &t.macros["m"].body;
        assert!(
            matches!(&body[0], Node::VariableBlock(_, e) if matches!(&e.val, ExprVal::FunctionCall(c) if c.name == sandbox::TICK))
        );
    }

    #[test]
    fn places_know_their_tags() {
        let mut places = Vec::new();
        let filters = HashSet::new();
        let source = "a\n{% for i in xs %}\n  {{ i }}\n{% endfor %}";
        compile("a/t.yaml", source, &filters, &mut places).unwrap();
        let at = |what: What| places.iter().find(|p| p.what == what).and_then(|p| p.at);
        assert_eq!(at(What::Loop), Some(2));
        assert_eq!(at(What::Output), Some(22));
        assert_eq!(
            places
                .iter()
                .find(|p| p.what == What::Loop)
                .map(|p| p.bytes),
            Some(4)
        );
        assert_eq!(
            places
                .iter()
                .find(|p| p.what == What::Template)
                .map(|p| p.bytes),
            Some(2)
        );
    }
}

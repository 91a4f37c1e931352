//! Each template file's shape, parsed once per run instead of once per tenant.
//!
//! Most of what a fleet renders differs between tenants only in scalar values: a client file
//! holds `tenant.id` in two URLs, a policy says `gold` or `silver`. Parsing the rendered YAML
//! of every file of every tenant was most of a plan's time. So when templates are compiled, each
//! YAML file of a template directory is read once as a *shape*:
//!
//! - its syntax tree (includes of plain files spliced in) is split into text and *slots*: the
//!   tags that write something (`{{ }}`, an inline `{% if %}`, ...). Tags that write nothing are
//!   left out of the text (comments, macro definitions and imports) or kept for their effect
//!   (`{% set %}`, and the sandbox's own counting);
//! - the text with each slot as a token (`U+E000 n U+E001`, private-use characters no template
//!   holds) is parsed by serde_yaml, exactly as a rendering is: the shape's tree;
//! - saphyr's parser tells, for each scalar that holds tokens, how it is written (plain, quoted,
//!   block), whether it is a key, and whether it sits in a flow collection; its value must be
//!   the very string serde_yaml read, or the file has no shape.
//!
//! For a tenant, one small template renders only the slots, separated by `U+E002`; each
//! scalar's text is put together from its literal parts and those outputs, and the shape's
//! tree is copied with those scalars in place. A plain scalar is typed as YAML types it (`yes`
//! is a string, `0x1F` the number 31, `~` null: [`crate::yaml::plain_scalar`]). Mostly, Tera
//! does not run that template either ([`render_direct`]): a slot that is a plain variable
//! (`{{ tenant.id }}`) is looked up and written as Tera writes it, and any other slot is
//! rendered by Tera on its own once for each set of values it reads and remembered ([`Memo`]);
//! the sandbox counts what it would have counted.
//!
//! A top-level `{% if %}` whose branches are lines of text (`{% if vars.plan == "gold" %}` and
//! three more features under it), with conditions that read only the context, is a
//! *selector*: the file has one shape per choice of its selectors' texts (at most
//! [`MAX_VARIANTS`]), each parsed once, and for a tenant each selector is rendered on its own
//! (remembered by the values it reads, as a [`Memo`]); its text picks the shape. A choice
//! whose text has no shape (it is no YAML, say) sends the file down the straight path.
//!
//! A file that is not YAML (a policy's `.rego`, a script's `.js`) whose tags are all variables
//! written as they are is a [`Text`]: its text is put together from its own and the variables'
//! values, as Tera writes them, without running Tera.
//!
//! That is only the same as rendering the file and parsing it when no output can change how the
//! text around it reads: an output with a line break, a quote of its own scalar's kind, a
//! backslash in double quotes, `: ` or ` #` in a plain scalar, or anything else that
//! [`fits`] does not accept, sends that file down the straight path (render the text, parse
//! it) for that tenant; so does any key that would be written twice, any file that would be too
//! big or deep for [`crate::yaml::parse`], and any `<<`. Whatever fails while rendering the
//! slots (an undefined variable, a limit of the sandbox) sends the whole tenant down the
//! straight path, which reports it as it always has. The straight path stays available for all
//! tenants with `PROMOTE_NO_CACHE=1`; a property test checks that both give the same trees and
//! the same errors.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;
use tera::ast::{ExprVal, Node};
use tera::{Context, Template, Tera};

use super::bounds::{self, Counted};
use super::graph;
use super::markers;
use super::sandbox::{self, Place};
use crate::credentials::holds_marker;
use crate::yaml;

/// Opens a slot's token in a shape's text.
pub(super) const OPEN: char = '\u{E000}';
/// Closes a slot's token.
pub(super) const CLOSE: char = '\u{E001}';
/// Ends each slot's output in the rendering of a shape's slots.
const SEP: char = '\u{E002}';

/// Most levels of plain included files spliced into one shape.
const MAX_SPLICE: usize = 8;

/// The longest key (as written, in characters) a shape builds: libyaml refuses a key whose `:`
/// is more than 1,024 characters after its start (unless written with `? `).
const MAX_KEY: usize = 900;

/// A YAML file of a template directory, parsed once with its slots as tokens: once for each
/// text its selectors can give when it has some.
#[derive(Debug)]
pub(crate) struct Shape {
    /// The file's `{% if %}` blocks that choose between lines of text (none for most files):
    /// each is rendered on its own for a tenant, and what it gives picks the variant.
    selectors: Vec<Selector>,
    /// The file for each choice of its selectors' texts (the first selector's choice the most
    /// significant); `None` where that text has no shape.
    variants: Vec<Option<Variant>>,
    /// Tenants this shape built, and tenants it sent down the straight path.
    hits: AtomicU32,
    misses: AtomicU32,
}

/// A top-level `{% if %}` whose every branch is text and holds a line break (which no slot
/// takes: a slot's output is part of one scalar), and whose conditions read only the context.
#[derive(Debug)]
struct Selector {
    /// The tag alone, rendered and remembered by the values it reads.
    memo: Memo,
    /// What it can give: each branch's text, in order, then the text of `else` (or nothing).
    texts: Vec<String>,
}

/// The file with each selector's tag replaced by one of its texts, parsed with its slots as
/// tokens.
#[derive(Debug)]
struct Variant {
    /// The name of the template that renders the slots only.
    slots_template: String,
    /// How many slots the file has (and outputs that rendering gives).
    slots: usize,
    /// The slots template's nodes, when each is a variable written as it is or the sandbox's
    /// counting: then they are rendered without Tera, as Tera renders them.
    direct: Option<Vec<Direct>>,
    /// The tree of the file with tokens for slots.
    tree: Value,
    /// The scalars that hold tokens: values first, then keys, deepest first.
    scalars: Vec<Scalar>,
    /// [`yaml::node_count`] of the file's text without its slots.
    nodes: usize,
    /// How deep `[` and `{` nest in the file's text without its slots.
    depth: usize,
    /// Whether a string or a key of `tree` holds `<secret:` (its tokens' text included).
    marked: bool,
    /// Whether no key holds a slot: the trees it builds then differ only in the strings of
    /// `tree` that hold tokens ([`Built::Holes`]).
    values_only: bool,
}

/// A scalar of a shape's tree that holds tokens.
#[derive(Debug)]
struct Scalar {
    /// Where it is: the value's path, or the path of the map whose key it is.
    path: Vec<Step>,
    /// The key as the shape's tree holds it (with its tokens), when the scalar is a key.
    key: Option<String>,
    /// How many characters the scalar takes as written, without its tokens.
    written: usize,
    style: Style,
    /// Whether it is inside a flow collection (`[...]`, `{...}`).
    flow: bool,
    parts: Vec<Part>,
}

/// What a tenant's files are built with: the compiled templates (`tera`), the sandbox's places
/// of them, the tenant's context, and its values of the variables the shapes write
/// ([`Variables::of`]).
#[derive(Clone, Copy)]
pub(crate) struct Rendering<'r> {
    pub tera: &'r Tera,
    pub places: &'r [Place],
    pub context: &'r Context,
    pub values: &'r [Option<&'r Value>],
}

/// The variables the shapes write as they are (`{{ tenant.id }}`), each by a number: a tenant's
/// values of them are looked up once ([`Variables::of`]), not at each slot that writes one.
#[derive(Debug, Default)]
pub(crate) struct Variables {
    paths: Vec<String>,
    numbers: HashMap<String, usize>,
}

impl Variables {
    /// The number of variable `path`, given it if it has none yet.
    fn number(&mut self, path: &str) -> usize {
        if let Some(n) = self.numbers.get(path) {
            return *n;
        }
        self.paths.push(path.to_owned());
        self.numbers.insert(path.to_owned(), self.paths.len() - 1);
        self.paths.len() - 1
    }

    /// The values of the variables in `context`, by number (`None` where it has none).
    pub(crate) fn of<'c>(&self, context: &'c Context) -> Vec<Option<&'c Value>> {
        self.paths.iter().map(|p| lookup(context, p)).collect()
    }
}

/// The most variants a file's selectors may give (the product of their numbers of texts).
const MAX_VARIANTS: usize = 16;

/// The most outputs one slot remembers ([`Memo`]).
const MAX_MEMO: usize = 64;

/// A node of a slots template that renders without running Tera on the whole template.
#[derive(Debug)]
enum Direct {
    /// The sandbox's counting call ([`sandbox::TICK`]) at a place.
    Tick(Option<usize>),
    /// `{{ path }}` (instrumented: `{{ path | __promote_out(p=N) }}`), counted at a place;
    /// the path by its number among the variables the shapes write ([`Variables`]).
    Variable(usize, Option<usize>),
    /// Any other slot (an inline `{% if %}`, a filter...), rendered by Tera on its own and
    /// remembered by the values it reads.
    Memo(Box<Memo>),
    /// The end of a slot's output ([`SEP`]).
    End,
    /// Text written as it is (in a [`Text`] file).
    Text(String),
}

/// A slot whose output depends only on the context values it names (no `{% set %}` before or
/// inside it, no macro, no include): what it rendered, by those values, with what the sandbox
/// counted while rendering it and how long it took, both counted again when it is reused (a
/// tenant's time limit is spent as if it had rendered everything).
#[derive(Debug)]
struct Memo {
    /// The template holding only this slot.
    template: String,
    /// The variables it reads, as written (`vars.plan`).
    reads: Vec<String>,
    /// Output, count and the time it took, by the values of `reads` ([`Memo::key`]).
    seen: Mutex<HashMap<Vec<u8>, (String, Counted, Duration)>>,
    hits: AtomicU32,
    misses: AtomicU32,
}

impl Memo {
    /// Returns the memo of `node` of `template`, adding the template of `node` alone (named
    /// `name`) to `templates`; `None` when what it renders may depend on more than the context
    /// values it reads ([`reads_only_context`]).
    fn of(
        template: &Template,
        node: &Node,
        name: String,
        templates: &mut Vec<Template>,
    ) -> Option<Memo> {
        let reads = reads_only_context(node)?;
        let alone = with_ast(template, name, vec![node.clone()]);
        let memo = Memo {
            template: alone.name.clone(),
            reads: reads.into_iter().collect(),
            seen: Mutex::default(),
            hits: AtomicU32::new(0),
            misses: AtomicU32::new(0),
        };
        templates.push(alone);
        Some(memo)
    }

    /// Whether remembering is worth it: not when the values it reads differ for most tenants
    /// (`{% if tenant.id == ... %}`); then the whole slots template is rendered by Tera.
    fn is_useful(&self) -> bool {
        let misses = self.misses.load(Ordering::Relaxed);
        misses <= MAX_MEMO as u32 || misses <= self.hits.load(Ordering::Relaxed)
    }

    /// Renders this slot with `context`, or reuses what the same values rendered; `None` when
    /// Tera fails or the count passes a limit.
    fn render(&self, tera: &Tera, context: &Context) -> Option<String> {
        match self.key(context) {
            Some(key) => self.render_by(key, tera, context),
            // Values too large to remember by: rendered each time, as the straight path does.
            None => tera.render(&self.template, context).ok(),
        }
    }

    /// [`Memo::render`], the values it reads in `context` written as `key` ([`Memo::key`]).
    fn render_by(&self, key: Vec<u8>, tera: &Tera, context: &Context) -> Option<String> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some((output, counted, took)) = seen {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return bounds::count_again(counted, took).then_some(output);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (before, start) = (bounds::counted(), Instant::now());
        let output = tera.render(&self.template, context).ok()?;
        let (counted, took) = (bounds::counted().since(before), start.elapsed());
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() < MAX_MEMO && output.len() <= MAX_MEMO_BYTES && remember(&key, &output) {
            seen.insert(key, (output.clone(), counted, took));
        }
        Some(output)
    }

    /// What this slot is remembered by in `context`: the values it reads, written as JSON
    /// (missing ones as [`OPEN`]); `None` past [`MAX_MEMO_BYTES`], where writing the key would
    /// cost about what rendering the slot does (a 4 MB string read by a thousand slots).
    fn key(&self, context: &Context) -> Option<Vec<u8>> {
        let mut key = Bounded(Vec::new());
        let mut budget = MAX_MEMO_BYTES;
        for path in &self.reads {
            match lookup(context, path) {
                // Written JSON is no shorter than its strings: a long one is not written.
                Some(value) if !within(value, &mut budget) => return None,
                Some(value) => serde_json::to_writer(&mut key, value).ok()?,
                None => key.push(OPEN),
            }
            key.push(SEP);
        }
        (key.0.len() <= MAX_MEMO_BYTES).then_some(key.0)
    }
}

/// Whether `value`'s strings and keys, a byte each for its other parts, fit in `budget` (what
/// is left of it is taken away): a lower bound of the length of its JSON, found without
/// walking past the budget.
fn within(value: &Value, budget: &mut usize) -> bool {
    fn spend(budget: &mut usize, n: usize) -> bool {
        budget.checked_sub(n).map(|left| *budget = left).is_some()
    }
    match value {
        Value::String(s) => spend(budget, s.len()),
        Value::Array(items) => spend(budget, 1) && items.iter().all(|v| within(v, budget)),
        Value::Object(map) => {
            spend(budget, 1)
                && map
                    .iter()
                    .all(|(k, v)| spend(budget, k.len()) && within(v, budget))
        }
        _ => spend(budget, 1),
    }
}

/// The most bytes of values a memo is keyed by, and of output it remembers ([`Memo`]).
const MAX_MEMO_BYTES: usize = 4096;

/// The most bytes of keys and outputs all memos of a process remember: without it, a file of a
/// thousand slots, each remembering 64 outputs of 4 KiB by keys of 4 KiB, would hold 512 MiB.
const MAX_REMEMBERED: usize = 64 << 20;

/// Takes the room `key` and `output` need from what all memos may remember; false when it is
/// used up (they are then not remembered: the slot is rendered each time).
fn remember(key: &[u8], output: &str) -> bool {
    static REMEMBERED: AtomicUsize = AtomicUsize::new(0);
    let size = key.len() + output.len();
    REMEMBERED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(size).filter(|n| *n <= MAX_REMEMBERED)
        })
        .is_ok()
}

/// A memo's key as it is written: refuses to grow past [`MAX_MEMO_BYTES`].
struct Bounded(Vec<u8>);

impl Bounded {
    fn push(&mut self, c: char) {
        let mut buf = [0; 4];
        self.0.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_MEMO_BYTES {
            return Err(std::io::Error::other("too large to remember by"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Block,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Slot(usize),
}

/// What building a tenant's file from its shape gave.
pub(crate) enum Built {
    /// The file's tree, [`yaml::node_count`] of the text it stands for, and whether a string
    /// or a key of it may hold `<secret:` (false only when none does): a variant some of whose
    /// keys hold slots built it.
    Tree(Value, usize, bool),
    /// The values of the holes of a variant whose keys hold no slot: the file's tree is that
    /// variant's with only its holes filled ([`Shape::tree`]).
    Holes(Holes),
    /// The text of a file that is not YAML ([`Text`]).
    Text(String),
    /// An output the shape cannot take: render and parse this file.
    Straight,
    /// Rendering the slots failed (or reached a limit): render the whole tenant straight.
    Failed,
}

/// A file of a tenant built from a variant whose keys hold no slot: the tree is the variant's
/// with the value of each of its holes in place.
pub(crate) struct Holes {
    /// The number of the variant.
    pub variant: usize,
    /// The value of each scalar that holds a token, in the variant's order.
    pub values: Vec<Value>,
    /// [`yaml::node_count`] of the text the tree stands for.
    pub nodes: usize,
    /// Whether a string of the tree may hold `<secret:` (false only when none does).
    pub marked: bool,
}

/// Whether `value` is a string of a shape's tree that holds a slot's token, or the marker of
/// a hole ([`super::filled::marker`]). No other string of a shape's tree holds one: a file whose
/// text holds our characters has no shape.
pub(crate) fn is_hole(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.contains(OPEN))
}

impl Shape {
    /// Returns the shape of template file `name` (compiled for the sandbox, in `tera`) and the
    /// templates it renders, to be added to `tera`: for each variant, the one of all its slots
    /// (named `slots_template`, then `#` and the variant's number when the file has selectors)
    /// and those of single slots, and each selector alone; or `None` when the file has no
    /// shape (its tags make structure other than selectors, it is not YAML with tokens in
    /// scalars, or it uses inheritance).
    pub(crate) fn of(
        name: &str,
        tera: &Tera,
        slots_template: String,
        variables: &mut Variables,
    ) -> Option<(Shape, Vec<Template>)> {
        let (template, nodes) = spliced(name, tera)?;
        let mut templates = Vec::new();
        let chosen: Vec<(usize, Vec<String>)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(at, node)| selector_texts(node).map(|texts| (at, texts)))
            .collect();
        let count = chosen
            .iter()
            .try_fold(1usize, |n, (_, texts)| n.checked_mul(texts.len()))
            .filter(|n| *n <= MAX_VARIANTS);
        let (selectors, variants) = match count {
            Some(count) if !chosen.is_empty() => {
                let mut variants = Vec::with_capacity(count);
                for number in 0..count {
                    let mut nodes = nodes.clone();
                    let mut rest = number;
                    for (at, texts) in chosen.iter().rev() {
                        nodes[*at] = Node::Text(texts[rest % texts.len()].clone());
                        rest /= texts.len();
                    }
                    let name = format!("{slots_template}#{number}");
                    let variant = Variant::of(template, nodes, name, &mut templates, variables);
                    variants.push(variant);
                }
                let selectors = chosen
                    .into_iter()
                    .enumerate()
                    .map(|(n, (at, texts))| {
                        let name = format!("{slots_template}/if{n}");
                        let memo = Memo::of(template, &nodes[at], name, &mut templates)?;
                        Some(Selector { memo, texts })
                    })
                    .collect::<Option<Vec<_>>>()?;
                (selectors, variants)
            }
            _ => {
                let variant =
                    Variant::of(template, nodes, slots_template, &mut templates, variables);
                (Vec::new(), vec![variant])
            }
        };
        if variants.iter().all(Option::is_none) {
            return None;
        }
        let shape = Shape {
            selectors,
            variants,
            hits: AtomicU32::new(0),
            misses: AtomicU32::new(0),
        };
        Some((shape, templates))
    }

    /// Whether this shape is worth trying: not when it has sent most tenants down the straight
    /// path (a `{% for %}` writing list items in a scalar's place, say).
    pub(crate) fn is_useful(&self) -> bool {
        let misses = self.misses.load(Ordering::Relaxed);
        misses < 16 || misses <= 4 * self.hits.load(Ordering::Relaxed)
    }

    /// Whether the slots of each of its variants render without Tera.
    pub(crate) fn is_direct(&self) -> bool {
        self.variants.iter().flatten().all(|v| v.direct.is_some())
    }

    /// Whether it renders its selectors before its slots, where the straight path renders all
    /// in the order of the file: a limit of the sandbox reached while building it may then be
    /// another than the one the straight path reaches first.
    pub(crate) fn has_selectors(&self) -> bool {
        !self.selectors.is_empty()
    }

    /// How many tenants' trees this shape built.
    #[cfg(test)]
    pub(crate) fn hits(&self) -> u32 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Builds a tenant's tree of this file from its slots, in the variant its selectors pick.
    pub(crate) fn build(&self, r: Rendering<'_>) -> Built {
        let built = match self.variant(r.tera, r.context) {
            Ok(Some((number, variant))) => match variant.build(r) {
                Built::Holes(holes) => Built::Holes(Holes {
                    variant: number,
                    ..holes
                }),
                other => other,
            },
            Ok(None) => Built::Straight,
            Err(()) => Built::Failed,
        };
        let counter = match built {
            Built::Tree(..) | Built::Holes(_) => &self.hits,
            _ => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        built
    }

    /// The variant the texts of the selectors pick for `context`: `None` when that text has no
    /// shape or a selector's values differ for most tenants, an error when a selector fails or
    /// reaches a limit of the sandbox.
    fn variant(&self, tera: &Tera, context: &Context) -> Result<Option<(usize, &Variant)>, ()> {
        let mut number = 0;
        for selector in &self.selectors {
            if !selector.memo.is_useful() {
                return Ok(None);
            }
            let text = selector.memo.render(tera, context).ok_or(())?;
            let Some(k) = selector.texts.iter().position(|t| *t == text) else {
                return Ok(None);
            };
            number = number * selector.texts.len() + k;
        }
        Ok(self
            .variants
            .get(number)
            .and_then(Option::as_ref)
            .map(|v| (number, v)))
    }

    /// The tree of the file `holes` stands for: its variant's with each hole's value in place.
    pub(crate) fn tree(&self, holes: Holes) -> Value {
        match self.variants.get(holes.variant).and_then(Option::as_ref) {
            Some(variant) => variant.tree_with(holes.values),
            // `build` gave the number of one of its variants.
            None => Value::Null,
        }
    }

    /// The tree of variant `number` with the [`super::filled::marker`] of hole `first + k` in
    /// the place of its `k`th scalar that holds a token, and how many those are; `None` when a
    /// key of it holds a slot. Each tree that variant builds is this one with each marker
    /// replaced by a value ([`Shape::tree`]), and nothing else changed.
    pub(crate) fn marked(&self, number: usize, first: usize) -> Option<(Value, usize)> {
        let variant = self.variants.get(number)?.as_ref()?;
        if !variant.values_only {
            return None;
        }
        let markers = (first..first + variant.scalars.len())
            .map(|n| Value::String(super::filled::marker(n)))
            .collect();
        Some((variant.tree_with(markers), variant.scalars.len()))
    }
}

/// A file of a template directory that is not YAML (a policy, a script), whose tags are all
/// variables written as they are (`{{ tenant.id }}`): its text for a tenant is put together from
/// its own text and the variables' values as Tera writes them, counted as the sandbox counts
/// them, without running Tera ([`render_direct`]).
#[derive(Debug)]
pub(crate) struct Text {
    nodes: Vec<Direct>,
}

impl Text {
    /// Returns the text shape of template file `name` (compiled for the sandbox, in `tera`),
    /// or `None` when a tag of it is more than a variable (or it uses inheritance).
    pub(crate) fn of(name: &str, tera: &Tera, variables: &mut Variables) -> Option<Text> {
        let (_, spliced) = spliced(name, tera)?;
        let mut nodes = Vec::with_capacity(spliced.len());
        for node in &spliced {
            match node {
                Node::Text(t) | Node::Raw(_, t, _) => nodes.push(Direct::Text(t.clone())),
                Node::Comment(..) => {}
                Node::VariableBlock(..) => match direct(node, variables)? {
                    d @ (Direct::Tick(_) | Direct::Variable(..)) => nodes.push(d),
                    _ => return None,
                },
                _ => return None,
            }
        }
        Some(Text { nodes })
    }

    /// The file's text for a tenant ([`Built::Text`]); [`Built::Straight`] when Tera must
    /// render it (a variable holds a list or a map), [`Built::Failed`] when a variable is
    /// missing or a limit of the sandbox is reached (the tenant is then rendered straight).
    pub(crate) fn build(&self, r: Rendering<'_>) -> Built {
        match render_direct(&self.nodes, r) {
            Some(Ok(text)) => Built::Text(text),
            Some(Err(())) => Built::Failed,
            None => Built::Straight,
        }
    }
}

impl Variant {
    /// Returns the variant of `template` whose (spliced) syntax tree is `nodes`, adding the
    /// templates it renders to `templates`: its slots template (named `slots_template`) and
    /// those of single slots; `None` when it has no shape.
    fn of(
        template: &Template,
        nodes: Vec<Node>,
        slots_template: String,
        templates: &mut Vec<Template>,
        variables: &mut Variables,
    ) -> Option<Variant> {
        let mut text = String::new();
        let mut ast = Vec::new();
        let mut slots = 0usize;
        let mut blank = true;
        for node in nodes {
            match node {
                Node::Text(t) | Node::Raw(_, t, _) => {
                    blank &= t.trim().is_empty();
                    text.push_str(&t);
                }
                Node::Comment(..) | Node::MacroDefinition(..) | Node::ImportMacro(..) => {}
                Node::Set(..) => ast.push(node),
                Node::VariableBlock(_, ref e) if is_tick(&e.val) => ast.push(node),
                Node::VariableBlock(..)
                | Node::If(..)
                | Node::Forloop(..)
                | Node::FilterSection(..)
                | Node::Include(..) => {
                    ast.push(node);
                    ast.push(Node::Text(SEP.to_string()));
                    text.push(OPEN);
                    text.push_str(&slots.to_string());
                    text.push(CLOSE);
                    slots += 1;
                }
                _ => return None,
            }
        }
        let ours = |c: &char| matches!(*c, OPEN | CLOSE | SEP);
        if blank || text.chars().filter(ours).count() != 2 * slots {
            // Only white space and slots: the file is left out when it renders to nothing,
            // which only its text tells. Or the file's own text holds our characters.
            return None;
        }
        let tree = yaml::parse(&text, &template.name).ok()?;
        let written = written_scalars(&text)?;
        let scalars = scalars(&tree, &written, slots)?;
        // A slot alone renders as it does among the others unless a `{% set %}` precedes it:
        // a set (at the top, or inside a slot) is itself neither direct nor read-only, so a
        // file with one has no direct nodes at all (`direct` is `None`).
        let direct = ast
            .iter()
            .enumerate()
            .map(|(n, node)| {
                direct(node, variables).or_else(|| {
                    let name = format!("{slots_template}/{n}");
                    let memo = Memo::of(template, node, name, templates)?;
                    Some(Direct::Memo(Box::new(memo)))
                })
            })
            .collect();
        templates.push(with_ast(template, slots_template.clone(), ast));
        Some(Variant {
            slots_template,
            slots,
            direct,
            values_only: scalars.iter().all(|s| s.key.is_none()),
            scalars,
            nodes: yaml::node_count(&text),
            depth: flow_depth(&text),
            marked: markers::held(&tree),
            tree,
        })
    }

    /// Builds a tenant's tree of this variant from its slots.
    fn build(&self, r: Rendering<'_>) -> Built {
        let direct = self
            .direct
            .as_deref()
            .and_then(|nodes| render_direct(nodes, r));
        let rendered = match direct {
            Some(Ok(rendered)) => rendered,
            Some(Err(())) => return Built::Failed,
            None => match r.tera.render(&self.slots_template, r.context) {
                Ok(rendered) => rendered,
                Err(_) => return Built::Failed,
            },
        };
        self.fill(&rendered)
    }

    /// Builds the tree from the rendered slots (each output followed by [`SEP`]).
    fn fill(&self, rendered: &str) -> Built {
        let mut outputs: Vec<&str> = Vec::with_capacity(self.slots + 1);
        outputs.extend(rendered.split(SEP));
        if outputs.len() != self.slots + 1 || outputs.pop() != Some("") {
            return Built::Straight;
        }
        let mut nodes = self.nodes;
        let mut depth = self.depth;
        for output in &outputs {
            nodes += yaml::node_count(output);
            depth += output.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
        }
        if nodes > yaml::MAX_NODES || depth > yaml::MAX_FLOW_DEPTH {
            return Built::Straight;
        }
        // Every other string and key of the tree is the shape's own.
        let mut marked = self.marked;
        let mut values = Vec::with_capacity(self.scalars.len());
        for scalar in &self.scalars {
            let Some(value) = scalar.value(&outputs) else {
                return Built::Straight;
            };
            marked |= matches!(&value, Value::String(s) if holds_marker(s));
            values.push(value);
        }
        if self.values_only {
            return Built::Holes(Holes {
                // The shape that picked this variant says its number.
                variant: 0,
                values,
                nodes,
                marked,
            });
        }
        let mut tree = self.tree.clone();
        for (scalar, value) in self.scalars.iter().zip(values) {
            if !scalar.put(&mut tree, value) {
                return Built::Straight;
            }
        }
        Built::Tree(tree, nodes, marked)
    }

    /// The tree with `values` in the places of its scalars, when no key holds a slot.
    fn tree_with(&self, values: Vec<Value>) -> Value {
        let mut tree = self.tree.clone();
        for (scalar, value) in self.scalars.iter().zip(values) {
            // Each is a value in a place of the tree (no key holds a slot), and putting one
            // replaces only that value: the others' places are still there.
            let put = scalar.put(&mut tree, value);
            debug_assert!(put, "a value's place is in its variant's tree");
        }
        tree
    }
}

impl Scalar {
    /// Returns what this scalar reads as with `outputs` in its slots, when they fit it.
    fn value(&self, outputs: &[&str]) -> Option<Value> {
        let mut text = String::new();
        let mut written = self.written;
        for part in &self.parts {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::Slot(n) => {
                    let output = outputs.get(*n)?;
                    if !fits(self.style, self.flow, output) {
                        return None;
                    }
                    text.push_str(output);
                    written += output.chars().count();
                }
            }
        }
        // A merge key once the outputs are in place (`<{{ x }}:`): the straight path's error.
        if text.contains("<<") || (self.key.is_some() && written >= MAX_KEY) {
            return None;
        }
        let value = match self.style {
            Style::Plain => {
                if !plain_reads_as_one_scalar(&text, self.flow) {
                    return None;
                }
                yaml::plain_scalar(&text)?
            }
            Style::Block if !block_fits(&self.parts, outputs) => return None,
            _ => Value::String(text),
        };
        match &self.key {
            None => Some(value),
            Some(_) => yaml::key_text(value).ok().map(Value::String),
        }
    }

    /// Puts `value` in `tree` where this scalar is; false when the place is gone or a key would
    /// be written twice.
    fn put(&self, tree: &mut Value, value: Value) -> bool {
        let Some(at) = walk(tree, &self.path) else {
            return false;
        };
        match (&self.key, value) {
            (None, value) => {
                *at = value;
                true
            }
            (Some(old), Value::String(new)) => {
                let Value::Object(map) = at else {
                    return false;
                };
                if map.contains_key(&new) {
                    return false;
                }
                let Some(v) = map.remove(old) else {
                    return false;
                };
                map.insert(new, v);
                true
            }
            (Some(_), _) => false,
        }
    }
}

/// Whether `output` may stand in a scalar of `style` without changing how the text around it
/// reads: one line of printable characters that do not end the scalar.
fn fits(style: Style, flow: bool, output: &str) -> bool {
    let printable = |c: char| {
        !(c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
            ))
    };
    if !output.chars().all(printable) {
        return false;
    }
    match style {
        Style::Double => !output.contains(['"', '\\']),
        Style::Single => !output.contains('\''),
        Style::Block => true,
        Style::Plain => !(flow && output.contains([',', '[', ']', '{', '}'])),
    }
}

/// Whether `text`, on one line, reads as one plain scalar with exactly that text: nothing that
/// starts another token (an indicator first, `: `, ` #`, with a tab as with a space: YAML's
/// blanks are both), no white space at either end, no document marker.
fn plain_reads_as_one_scalar(text: &str, flow: bool) -> bool {
    let flow_indicator = |c: char| matches!(c, ',' | '[' | ']' | '{' | '}');
    let Some(first) = text.chars().next() else {
        return false;
    };
    let second = text[first.len_utf8()..].chars().next();
    let starts_clean = match first {
        // In a flow collection libyaml reads `?` and `:` first as indicators, whatever follows.
        '?' | ':' if flow => false,
        '-' | '?' | ':' => {
            second.is_some_and(|c| !(c.is_whitespace() || flow && flow_indicator(c)))
        }
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => false,
        c => !c.is_whitespace(),
    };
    let ends_early = text.ends_with([' ', '\t', ':'])
        || [": ", ":\t", " #", "\t#"].iter().any(|p| text.contains(p))
        || (flow && text.contains(":?"));
    let document_marker = text.starts_with("---") || text.starts_with("...");
    starts_clean && !ends_early && !document_marker
}

/// Whether the outputs of a block scalar's slots keep its lines as they are: none empty (a line
/// that becomes empty changes what the block keeps at its end) and none starting or ending with
/// a space (a line's indentation decides where the block's text starts and how it folds).
fn block_fits(parts: &[Part], outputs: &[&str]) -> bool {
    parts.iter().all(|part| match part {
        Part::Text(_) => true,
        Part::Slot(n) => outputs.get(*n).is_some_and(|o| {
            !o.is_empty()
                && !o.starts_with(char::is_whitespace)
                && !o.ends_with(char::is_whitespace)
        }),
    })
}

/// Returns `node` of a slots template as a node rendered without Tera, when it is one.
fn direct(node: &Node, variables: &mut Variables) -> Option<Direct> {
    // The place argument of an instrumented call (`p=N`).
    let place = |call: &tera::ast::FunctionCall| -> Option<Option<usize>> {
        match call.args.iter().next() {
            None => Some(None),
            Some((name, arg)) if call.args.len() == 1 && name == "p" && arg.filters.is_empty() => {
                match arg.val {
                    ExprVal::Int(n) => Some(usize::try_from(n).ok()),
                    _ => None,
                }
            }
            Some(_) => None,
        }
    };
    match node {
        Node::Text(t) if t.len() == SEP.len_utf8() && t.starts_with(SEP) => Some(Direct::End),
        Node::VariableBlock(_, e) if !e.negated && e.filters.is_empty() => match &e.val {
            ExprVal::FunctionCall(call) if call.name == sandbox::TICK => {
                place(call).map(Direct::Tick)
            }
            _ => None,
        },
        Node::VariableBlock(_, e) if !e.negated => match (&e.val, e.filters.as_slice()) {
            (ExprVal::Ident(path), [out]) if out.name == sandbox::OUT && is_context_path(path) => {
                place(out).map(|p| Direct::Variable(variables.number(path), p))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Renders the nodes of a slots template as Tera renders them, counting what the sandbox
/// counts in the same order: `None` when a variable holds a list or a map (Tera renders those
/// in its own way: let it) or a slot's values differ for most tenants or are too large to
/// remember it by, an error when a variable
/// is missing, a slot fails or a limit is reached (the tenant is then rendered straight, which
/// reports it).
fn render_direct(nodes: &[Direct], r: Rendering<'_>) -> Option<Result<String, ()>> {
    let mut values = Vec::with_capacity(nodes.len());
    let mut keys = Vec::new();
    for node in nodes {
        if let Direct::Memo(memo) = node {
            // A slot not worth remembering: Tera renders all the slots at once, as the
            // straight path renders them with the file.
            if !memo.is_useful() {
                return None;
            }
            keys.push(memo.key(r.context)?);
        }
        if let Direct::Variable(number, _) = node {
            let Some(&Some(value)) = r.values.get(*number) else {
                return Some(Err(()));
            };
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                return None;
            }
            values.push(value);
        }
    }
    let mut values = values.into_iter();
    let mut keys = keys.into_iter();
    // Sized for the text and a short value per slot: grown a few times at most, not from empty.
    let size = nodes
        .iter()
        .map(|node| match node {
            Direct::Text(text) => text.len(),
            _ => 16,
        })
        .sum();
    let mut out = String::with_capacity(size);
    for node in nodes {
        match node {
            Direct::Tick(place) => {
                if sandbox::count_tick(r.places, *place).is_err() {
                    return Some(Err(()));
                }
            }
            Direct::Variable(_, place) => {
                // One value was looked up for each variable, in this order.
                let value = values.next()?;
                if sandbox::count_out(value, *place).is_err() {
                    return Some(Err(()));
                }
                write_value(value, &mut out);
            }
            // One key was written for each slot remembered, in this order.
            Direct::Memo(memo) => match memo.render_by(keys.next()?, r.tera, r.context) {
                Some(output) => out.push_str(&output),
                None => return Some(Err(())),
            },
            Direct::End => out.push(SEP),
            Direct::Text(text) => out.push_str(text),
        }
    }
    Some(Ok(out))
}

/// Returns the variables `node` reads (every name it looks up, loop variables included: more
/// than it needs is only a less useful memo), or `None` when what it renders may depend on more
/// than their values: a macro (which sees the whole context), an include, a `{% set %}`, a
/// block, a subscript (`a[b]`, evaluated inside) or Tera's dump of the context.
fn reads_only_context(node: &Node) -> Option<BTreeSet<String>> {
    let calls = graph::calls(std::slice::from_ref(node));
    let only = calls.includes.is_empty()
        && calls.macros.is_empty()
        && !calls.sets_or_blocks
        && calls.reads.iter().all(|path| is_context_path(path));
    only.then_some(calls.reads)
}

/// The texts `node` can render when it is a selector: an `{% if %}` whose branches are all
/// text (comments aside), one of which holds a line break, and whose conditions read only the
/// context. Each branch's text in order, then the text of `else` (or nothing).
fn selector_texts(node: &Node) -> Option<Vec<String>> {
    let Node::If(i, _) = node else {
        return None;
    };
    let text = |body: &[Node]| -> Option<String> {
        let mut text = String::new();
        for node in body {
            match node {
                Node::Text(t) | Node::Raw(_, t, _) => text.push_str(t),
                Node::Comment(..) => {}
                _ => return None,
            }
        }
        Some(text)
    };
    let mut texts = i
        .conditions
        .iter()
        .map(|(_, _, body)| text(body))
        .collect::<Option<Vec<_>>>()?;
    texts.push(match &i.otherwise {
        Some((_, body)) => text(body)?,
        None => String::new(),
    });
    let structural = texts.iter().any(|t| t.contains('\n'));
    (structural && reads_only_context(node).is_some()).then_some(texts)
}

/// Whether `path` is looked up in the context as it is written: not `a[b]` (evaluated
/// inside), `a~1b` (escaped), or Tera's dump of the whole context.
fn is_context_path(path: &str) -> bool {
    !path.contains(['[', '~']) && !path.starts_with("__tera_context")
}

/// Looks `path` (`a.b.c`, `a.0`) up in `context` as Tera does for a variable of the
/// template's context (`Context::get` of its first name, then `tera::dotted_pointer`), for a
/// path that [`is_context_path`] passes: with no `[`, quote or `~` in it, the names are its
/// parts between dots, with nothing to unescape, and none is copied.
fn lookup<'c>(context: &'c Context, path: &str) -> Option<&'c Value> {
    let mut names = path.split('.');
    let root = context.get(names.next()?)?;
    names.try_fold(root, |value, name| match value {
        Value::Object(map) => map.get(name),
        Value::Array(items) => list_index(name).and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The index a name is in a list, as `tera::dotted_pointer` reads it: digits, with no sign
/// and no leading zero.
fn list_index(name: &str) -> Option<usize> {
    if name.starts_with('+') || (name.starts_with('0') && name.len() != 1) {
        return None;
    }
    name.parse().ok()
}

/// Writes a scalar as Tera writes it in `{{ }}`: strings as they are, numbers as integers
/// when they are, booleans as words, null as nothing.
fn write_value(value: &Value, out: &mut String) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = match value {
        Value::String(s) => {
            out.push_str(s);
            Ok(())
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => write!(out, "{i}"),
            (_, Some(u), _) => write!(out, "{u}"),
            (_, _, Some(f)) => write!(out, "{f}"),
            _ => Ok(()),
        },
        Value::Bool(b) => write!(out, "{b}"),
        Value::Null | Value::Array(_) | Value::Object(_) => Ok(()),
    };
}

/// A template named `name` like `template` (its macros, imports and blocks), whose syntax tree
/// is `ast`: `template`'s own tree is not copied (a file with a thousand slots has a thousand
/// templates of one slot each).
fn with_ast(template: &Template, name: String, ast: Vec<Node>) -> Template {
    Template {
        name,
        path: template.path.clone(),
        ast,
        from_extend: template.from_extend,
        macros: template.macros.clone(),
        imported_macro_files: template.imported_macro_files.clone(),
        parent: template.parent.clone(),
        blocks: template.blocks.clone(),
        parents: template.parents.clone(),
        blocks_definitions: template.blocks_definitions.clone(),
    }
}

/// Whether `e` is the sandbox's counting call, which writes nothing ([`sandbox::TICK`]).
fn is_tick(e: &ExprVal) -> bool {
    matches!(e, ExprVal::FunctionCall(call) if call.name == sandbox::TICK)
}

/// Template file `name` of `tera` and its syntax tree with the includes of plain files spliced
/// in ([`splice`]); `None` when it uses inheritance or an include cannot be followed.
fn spliced<'t>(name: &str, tera: &'t Tera) -> Option<(&'t Template, Vec<Node>)> {
    let template = tera.templates.get(name)?;
    if template.parent.is_some() {
        return None;
    }
    let mut nodes = Vec::new();
    splice(&template.ast, tera, 0, &mut nodes)?;
    Some((template, nodes))
}

/// Appends `ast` to `out` with every include of a plain file replaced by that file's nodes:
/// one that sets no variable (an include has its own), defines and imports no macro and extends
/// nothing. `None` where an include cannot be followed.
fn splice(ast: &[Node], tera: &Tera, depth: usize, out: &mut Vec<Node>) -> Option<()> {
    for node in ast {
        if let Node::Include(_, names, false) = node {
            if let [name] = names.as_slice() {
                let included = tera.templates.get(name)?;
                if depth < MAX_SPLICE
                    && included.parent.is_none()
                    && included.macros.is_empty()
                    && included.imported_macro_files.is_empty()
                    && !sets_anything(&included.ast)
                {
                    splice(&included.ast, tera, depth + 1, out)?;
                    continue;
                }
            }
        }
        out.push(node.clone());
    }
    Some(())
}

/// Whether a syntax tree sets a variable anywhere.
fn sets_anything(ast: &[Node]) -> bool {
    ast.iter().any(|node| match node {
        Node::Set(..) => true,
        Node::Forloop(_, f, _) => {
            sets_anything(&f.body) || f.empty_body.as_deref().is_some_and(sets_anything)
        }
        Node::If(i, _) => {
            i.conditions.iter().any(|(_, _, body)| sets_anything(body))
                || i.otherwise
                    .as_ref()
                    .is_some_and(|(_, body)| sets_anything(body))
        }
        Node::FilterSection(_, f, _) => sets_anything(&f.body),
        Node::Block(_, b, _) => sets_anything(&b.body),
        Node::MacroDefinition(_, m, _) => sets_anything(&m.body),
        _ => false,
    })
}

/// A scalar holding tokens, as saphyr's parser read it.
struct Written {
    value: String,
    /// Characters from its start to its end as written, its tokens included.
    chars: usize,
    style: Style,
    key: bool,
    flow: bool,
}

/// Returns the scalars of `text` that hold tokens, or `None` when one of them is written in a
/// way the shape does not follow: over several lines (outside a block scalar), with a tag or an
/// anchor, in a collection with a tag or an anchor (whose indicator, `[` or `{`, is then not
/// where the collection starts), or when saphyr's parser refuses the text.
fn written_scalars(text: &str) -> Option<Vec<Written>> {
    enum Frame {
        Seq { flow: bool },
        Map { flow: bool, key_next: bool },
    }
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<Frame> = Vec::new();
    let mut found = Vec::new();
    // A node ends: the map it is in expects a key or a value next.
    fn ended(stack: &mut [Frame]) {
        if let Some(Frame::Map { key_next, .. }) = stack.last_mut() {
            *key_next = !*key_next;
        }
    }
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let in_flow = stack.iter().any(|f| match f {
            Frame::Seq { flow } | Frame::Map { flow, .. } => *flow,
        });
        let opens_flow = |c: char| chars.get(span.start.index()) == Some(&c);
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let key = matches!(stack.last(), Some(Frame::Map { key_next: true, .. }));
                if value.contains(OPEN) {
                    let style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::Single,
                        ScalarStyle::DoubleQuoted => Style::Double,
                        ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                    };
                    let one_line = span.start.line() == span.end.line();
                    if anchor != 0 || tag.is_some() || (style != Style::Block && !one_line) {
                        return None;
                    }
                    found.push(Written {
                        chars: span.end.index().saturating_sub(span.start.index()),
                        value: value.into_owned(),
                        style,
                        key,
                        flow: in_flow,
                    });
                }
                ended(&mut stack);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None
            }
            Event::SequenceStart(..) => stack.push(Frame::Seq {
                flow: in_flow || opens_flow('['),
            }),
            Event::MappingStart(..) => stack.push(Frame::Map {
                flow: in_flow || opens_flow('{'),
                key_next: true,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                ended(&mut stack);
            }
            Event::Alias(_) => ended(&mut stack),
            _ => {}
        }
    }
    Some(found)
}

/// Returns the scalars of `tree` that hold tokens, each matched with how it is written; `None`
/// unless every slot is in exactly one of them and both parsers read each the same.
fn scalars(tree: &Value, written: &[Written], slots: usize) -> Option<Vec<Scalar>> {
    let mut found = Vec::new();
    collect(tree, &mut Vec::new(), &mut found);
    // By text: a file may hold as many templated scalars as it holds tags (20,000).
    let by_text: std::collections::HashMap<(&str, bool), &Written> = written
        .iter()
        .map(|w| ((w.value.as_str(), w.key), w))
        .collect();
    let mut seen = vec![false; slots];
    let mut values = Vec::new();
    let mut keys = Vec::new();
    for (path, key, text) in found {
        let parts = parts(&text)?;
        for part in &parts {
            if let Part::Slot(n) = part {
                if std::mem::replace(seen.get_mut(*n)?, true) {
                    return None;
                }
            }
        }
        let w = by_text.get(&(text.as_str(), key))?;
        let tokens: usize = parts
            .iter()
            .map(|p| match p {
                Part::Slot(n) => 2 + n.to_string().len(),
                Part::Text(_) => 0,
            })
            .sum();
        let scalar = Scalar {
            key: key.then(|| text.clone()),
            written: w.chars.saturating_sub(tokens),
            path,
            style: w.style,
            flow: w.flow,
            parts,
        };
        if key {
            keys.push(scalar);
        } else {
            values.push(scalar);
        }
    }
    if seen.iter().any(|s| !s) || written.len() != values.len() + keys.len() {
        return None;
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.path.len()));
    values.extend(keys);
    Some(values)
}

/// Collects (path, is a key, text) of every string and key of `value` holding a token.
fn collect(value: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, bool, String)>) {
    match value {
        Value::String(s) if s.contains(OPEN) => out.push((path.clone(), false, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                collect(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k.contains(OPEN) {
                    out.push((path.clone(), true, k.clone()));
                }
                path.push(Step::Key(k.clone()));
                collect(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Splits a string of a shape's tree into its text and its slots.
fn parts(text: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + OPEN.len_utf8()..];
        let close = after.find(CLOSE)?;
        parts.push(Part::Slot(after[..close].parse().ok()?));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Some(parts)
}

/// Returns the value at `path` in `tree`.
fn walk<'t>(tree: &'t mut Value, path: &[Step]) -> Option<&'t mut Value> {
    path.iter().try_fold(tree, |at, step| match (at, step) {
        (Value::Object(map), Step::Key(k)) => map.get_mut(k),
        (Value::Array(items), Step::Index(i)) => items.get_mut(*i),
        _ => None,
    })
}

/// How deep `[` and `{` nest in `text`, counted as [`yaml::parse`] counts them (quotes are
/// not looked at).
fn flow_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn memo(reads: &[&str]) -> Memo {
        Memo {
            template: "t".into(),
            reads: reads.iter().map(|r| (*r).to_owned()).collect(),
            seen: Mutex::default(),
            hits: AtomicU32::new(0),
            misses: AtomicU32::new(0),
        }
    }

    fn context(vars: Value) -> Context {
        Context::from_value(json!({ "vars": vars })).expect("an object")
    }

    #[test]
    fn a_memo_is_keyed_by_small_values_only() {
        let m = memo(&["vars.a", "vars.missing"]);
        let small = m.key(&context(json!({"a": "gold"})));
        assert_eq!(
            small.as_deref(),
            Some("\"gold\"\u{E002}\u{E000}\u{E002}".as_bytes())
        );
        assert_ne!(small, m.key(&context(json!({"a": "silver"}))));
        // Past the bound the key is not written at all, however large the value.
        let edge = "x".repeat(MAX_MEMO_BYTES - 10);
        assert!(m.key(&context(json!({ "a": edge }))).is_none());
        let huge = "x".repeat(4 << 20);
        assert!(m.key(&context(json!({ "a": huge }))).is_none());
        assert!(m.key(&context(json!({"a": {"k": [huge]}}))).is_none());
    }
}

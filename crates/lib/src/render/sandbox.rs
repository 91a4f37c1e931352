//! The sandbox templates render in. Templates are untrusted code (CI renders the templates of
//! any pull request, with production secrets in the environment), so rendering one tenant is
//! bounded in what it can call, how long it runs, and how much it produces:
//!
//! - Functions: only [`FUNCTIONS`] (Tera's `get_env`, `now`, `get_random` and `throw` are
//!   removed; calls to anything else are refused when templates are compiled).
//! - Steps: every loop iteration, macro call, template and block rendered counts one step;
//!   at most [`MAX_STEPS`] per tenant.
//! - Time: at most [`MAX_TIME`] per tenant, checked at every output and after every filter
//!   and test (which may work long in a condition that writes nothing).
//! - Output: every byte a tenant's templates produce counts, wherever it goes (the rendered
//!   file, a macro's result, the body of a `{% filter %}`, a value `{% set %}` keeps, a loop's
//!   list); at most [`MAX_OUTPUT`] per tenant. Memory held by rendering stays within it.
//! - Values: one value (a string, a list...) holds at most [`MAX_VALUE`] bytes and nests at
//!   most [`MAX_VALUE_DEPTH`] levels. Filters that can multiply sizes (`replace`, `indent`,
//!   `join`, `concat`, `split`, `json_encode`) compute the size of their result before they
//!   build it.
//!
//! The templates are instrumented when they are compiled ([`super::instrument`]): calls to the
//! internal functions and filters below are inserted into their syntax tree. The budget is per thread (a
//! tenant renders on one thread) and [`start_tenant`] fills it again.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tera::{Filter, Tera};

/// Most loop iterations, macro calls, templates and blocks rendered for one tenant.
pub(crate) const MAX_STEPS: u64 = 1_000_000;

/// Most bytes one tenant's templates produce: rendered text, macro results, `{% filter %}`
/// bodies, values kept by `{% set %}` and lists looped over all count.
pub(crate) const MAX_OUTPUT: usize = 64 << 20;

/// Most bytes in one value: its strings (keys included) plus [`ITEM_BYTES`] per item.
pub(crate) const MAX_VALUE: usize = 4 << 20;

/// Most levels one value nests (`[[[...]]]`): deeper values would overflow the stack when
/// they are copied or dropped.
pub(crate) const MAX_VALUE_DEPTH: usize = 128;

/// Longest one tenant's templates may render.
pub(crate) const MAX_TIME: Duration = Duration::from_secs(10);

/// What each item of a value (a string, number, list, map...) counts toward its size, on top of
/// the bytes of its strings: a list of a million empty strings is not free.
pub(crate) const ITEM_BYTES: usize = 8;

/// The functions templates may call.
pub(crate) const FUNCTIONS: &[&str] = &["secret", "range"];

/// A function: counts a step and the static text of the body it starts (`p`: its place).
pub(crate) const TICK: &str = "__promote_tick";
/// A filter, last of a `{{ }}`'s: returns its value, counted as output of place `p`. (A filter
/// gets its value by reference, a function's arguments are copies.)
pub(crate) const OUT: &str = "__promote_out";
/// A filter, last of a `{% set %}` value's or a macro argument's: returns its value once it is
/// within the value limits, counted as output.
pub(crate) const VALUE: &str = "__promote_value";
/// A filter, last of a `{% for %}` list's: returns the list within the value limits, a string
/// as the list of its characters.
pub(crate) const ITER: &str = "__promote_iter";
/// A filter: returns the number it is given once it is safe to add or subtract (`n`: the
/// variable's name, `p`: the place). A filter, not a function: Tera keeps only the outermost
/// message of an error inside arithmetic, so this one passes what it refuses on (Tera then
/// fails) and records why ([`Limit::Invalid`]).
pub(crate) const NUM: &str = "__promote_num";
/// Returns whether `v` is truthy, as Tera decides it.
pub(crate) const TRUTHY: &str = "__promote_truthy";
/// The filter of a `{% filter %}` section: applies [`SECTION_FILTER`] and counts its output.
pub(crate) const SECTION: &str = "__promote_section";
/// The argument of [`SECTION`] naming the filter (not an identifier: templates cannot pass it).
pub(crate) const SECTION_FILTER: &str = "promote:filter";

/// What an instrumented place of a template is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum What {
    /// The start of a template (its top-level text).
    Template,
    /// The body of a `{% for %}`.
    Loop,
    /// The body of a macro.
    Macro(String),
    /// The body of a `{% block %}`.
    Block(String),
    /// A `{{ }}`.
    Output,
    /// A `{% set %}`, or the arguments of a macro call.
    Value,
    /// The list of a `{% for %}`.
    List,
}

/// A place of a template where the sandbox checks its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// The template (path relative to `templates/`).
    pub file: String,
    /// Byte offset of its tag in the template's source, when known.
    pub at: Option<usize>,
    pub what: What,
    /// Bytes of static text a step here produces (ticks only).
    pub bytes: usize,
}

/// Which limit a tenant's rendering reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Limit {
    Steps,
    Output,
    Time,
    /// A value (made by the named filter, if any) larger than [`MAX_VALUE`].
    Value(Option<String>),
    /// A value nested deeper than [`MAX_VALUE_DEPTH`].
    Depth,
    /// Not a limit: something the sandbox refuses where Tera would panic, or where Tera's
    /// message would be lost (this one).
    Invalid(String),
}

/// A limit reached, and where (an index into the places, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trip {
    pub limit: Limit,
    pub place: Option<usize>,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Steps => write!(
                f,
                "the loops and macro calls of this tenant's templates ran more than {MAX_STEPS} times (promote's limit)"
            ),
            Limit::Output => write!(
                f,
                "this tenant's templates produced more than {} (promote's limit; rendered text, macro results and values kept by set all count)",
                mib(MAX_OUTPUT)
            ),
            Limit::Time => write!(
                f,
                "rendering this tenant's templates took more than {} s (promote's limit)",
                MAX_TIME.as_secs()
            ),
            Limit::Value(None) => write!(
                f,
                "a value of more than {} (promote's limit on one value)",
                mib(MAX_VALUE)
            ),
            Limit::Value(Some(filter)) => write!(
                f,
                "filter `{filter}` would make a value of more than {} (promote's limit on one value)",
                mib(MAX_VALUE)
            ),
            Limit::Depth => write!(
                f,
                "a value nested more than {MAX_VALUE_DEPTH} levels deep (promote's limit)"
            ),
            Limit::Invalid(message) => f.write_str(message),
        }
    }
}

impl Limit {
    /// What to do about it.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Limit::Steps => "nested loops multiply (ten loops over ten items run ten billion times), and so do macros that call other macros in loops: loop over the data you need",
            Limit::Output | Limit::Value(_) => "something grows in a loop or a chain of macros: a value that doubles (`{% set_global s = s ~ s %}`) or a macro that calls another twice grows exponentially; build the text you need directly",
            Limit::Time => "look for large or nested loops, or large values processed in a loop",
            Limit::Depth => "`{% set_global x = [x] %}` in a loop nests one level deeper on every iteration: build flat lists instead",
            Limit::Invalid(_) => return None,
        })
    }
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes >> 20)
}

/// The budget of the tenant rendering on this thread.
struct Budget {
    steps: Cell<u64>,
    bytes: Cell<usize>,
    deadline: Cell<Option<Instant>>,
    trip: Cell<Option<Trip>>,
}

thread_local! {
    static BUDGET: Budget = const {
        Budget {
            steps: Cell::new(0),
            bytes: Cell::new(0),
            deadline: Cell::new(None),
            trip: Cell::new(None),
        }
    };
}

/// Starts a tenant's rendering on this thread: the budget is full again and the clock starts.
pub(crate) fn start_tenant() {
    BUDGET.with(|b| {
        b.steps.set(0);
        b.bytes.set(0);
        b.deadline.set(Instant::now().checked_add(MAX_TIME));
        b.trip.set(None);
    });
}

/// The steps and output bytes counted since the tenant started.
pub(crate) fn counted() -> (u64, usize) {
    BUDGET.with(|b| (b.steps.get(), b.bytes.get()))
}

/// Counts `steps`, `bytes` and the time `took` more without a place, for a rendering reused
/// instead of run again: false (nothing recorded, no trip) when that passes a limit or the time
/// is up. The time is taken off what is left, as if the rendering had run again.
pub(crate) fn count_again(steps: u64, bytes: usize, took: Duration) -> bool {
    BUDGET.with(|b| {
        let steps = b.steps.get().saturating_add(steps);
        let bytes = b.bytes.get().saturating_add(bytes);
        let deadline = match b.deadline.get() {
            Some(d) => match d.checked_sub(took) {
                Some(earlier) => Some(earlier),
                None => return false,
            },
            None => None,
        };
        if steps > MAX_STEPS || bytes > MAX_OUTPUT || deadline.is_some_and(|d| Instant::now() > d) {
            return false;
        }
        b.steps.set(steps);
        b.bytes.set(bytes);
        b.deadline.set(deadline);
        true
    })
}

/// Returns the first limit reached since the tenant started, and forgets it. A limit is
/// reported even when Tera swallowed the error (`{% if x | f %}` reads a failing filter as
/// false).
pub(crate) fn take_trip() -> Option<Trip> {
    BUDGET.with(|b| b.trip.take())
}

/// Records that `limit` was reached at `place`, and returns the error that stops rendering.
fn trip(limit: Limit, place: Option<usize>) -> tera::Error {
    let message = limit.to_string();
    BUDGET.with(|b| {
        let first = b.trip.take();
        b.trip.set(first.or(Some(Trip { limit, place })));
    });
    tera::Error::msg(message)
}

/// Counts `bytes` of output and checks the clock.
fn produce(bytes: usize, place: Option<usize>) -> tera::Result<()> {
    BUDGET.with(|b| {
        let total = b.bytes.get().saturating_add(bytes);
        b.bytes.set(total);
        if total > MAX_OUTPUT {
            return Err(trip(Limit::Output, place));
        }
        if b.deadline.get().is_some_and(|d| Instant::now() > d) {
            return Err(trip(Limit::Time, place));
        }
        Ok(())
    })
}

/// Counts a step.
fn step(place: Option<usize>) -> tera::Result<()> {
    BUDGET.with(|b| {
        let steps = b.steps.get() + 1;
        b.steps.set(steps);
        if steps > MAX_STEPS {
            return Err(trip(Limit::Steps, place));
        }
        Ok(())
    })
}

/// Why a value is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Size,
    Depth,
}

/// Returns the size of `value` (the bytes of its strings and keys plus [`ITEM_BYTES`] per
/// item), or which limit it passes first. Iterative: the value may be deep.
pub(crate) fn measure(value: &Value, max_size: usize, max_depth: usize) -> Result<usize, Over> {
    // Most values are strings and numbers: no stack for them.
    let flat = match value {
        Value::String(s) => Some(ITEM_BYTES + s.len()),
        Value::Null | Value::Bool(_) | Value::Number(_) => Some(ITEM_BYTES),
        Value::Array(_) | Value::Object(_) => None,
    };
    if let Some(size) = flat {
        return if max_depth == 0 {
            Err(Over::Depth)
        } else if size > max_size {
            Err(Over::Size)
        } else {
            Ok(size)
        };
    }
    let mut size = 0usize;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = stack.pop() {
        if depth > max_depth {
            return Err(Over::Depth);
        }
        size += ITEM_BYTES;
        match v {
            Value::String(s) => size += s.len(),
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => {
                for (k, item) in map {
                    size += k.len();
                    stack.push((item, depth + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if size > max_size {
            return Err(Over::Size);
        }
    }
    Ok(size)
}

/// Returns the size of `value` once it is within the value limits.
fn checked(value: &Value, place: Option<usize>, filter: Option<&str>) -> tera::Result<usize> {
    match measure(value, MAX_VALUE, MAX_VALUE_DEPTH) {
        Ok(size) => Ok(size),
        Err(Over::Size) => Err(trip(Limit::Value(filter.map(str::to_owned)), place)),
        Err(Over::Depth) => Err(trip(Limit::Depth, place)),
    }
}

fn place_of(args: &HashMap<String, Value>) -> Option<usize> {
    args.get("p")
        .and_then(Value::as_u64)
        .and_then(|p| usize::try_from(p).ok())
}

fn argument<'a>(args: &'a HashMap<String, Value>, name: &str) -> tera::Result<&'a Value> {
    args.get(name)
        .ok_or_else(|| tera::Error::msg(format!("promote's sandbox: `{name}` is missing")))
}

/// [`TICK`].
fn tick(places: &[Place], args: &HashMap<String, Value>) -> tera::Result<Value> {
    count_tick(places, place_of(args))?;
    Ok(Value::String(String::new()))
}

/// Counts what [`TICK`] at `place` counts: a step and the static text of its body. For
/// rendering without Tera what Tera would render ([`super::shape`]).
pub(crate) fn count_tick(places: &[Place], place: Option<usize>) -> tera::Result<()> {
    step(place)?;
    let bytes = place
        .and_then(|p| places.get(p))
        .map_or(0, |place| place.bytes);
    produce(bytes, place)
}

/// [`OUT`].
fn out(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    count_out(value, place_of(args))?;
    Ok(value.clone())
}

/// Counts what [`OUT`] at `place` counts: the value written.
pub(crate) fn count_out(value: &Value, place: Option<usize>) -> tera::Result<()> {
    let size = match value {
        Value::String(s) if s.len() <= MAX_VALUE => s.len(),
        _ => checked(value, place, None)?,
    };
    produce(size, place)
}

/// [`VALUE`].
fn value(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let place = place_of(args);
    let size = checked(value, place, None)?;
    produce(size, place)?;
    Ok(value.clone())
}

/// [`ITER`]. A string becomes the list of its characters: Tera counts a string's characters
/// but walks its grapheme clusters, and panics on a string where they differ (a letter with a
/// combining accent, `\r\n`); it also walks them again from the start at every iteration.
/// Tera checks the type of what it gets (list, map, with or without a key) after this.
fn iter(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let place = place_of(args);
    let list = match value {
        Value::String(s) => {
            if s.len() > MAX_VALUE {
                return Err(trip(Limit::Value(None), place));
            }
            Value::Array(s.chars().map(|c| Value::String(c.into())).collect())
        }
        other => other.clone(),
    };
    let size = checked(&list, place, None)?;
    produce(size, place)?;
    Ok(list)
}

/// [`NUM`]: Tera adds and subtracts floating-point numbers with `from_f64(a + b).unwrap()`,
/// which panics when the sum overflows; a number at most half the largest cannot overflow.
/// Anything else goes on unchanged for Tera to refuse, the reason recorded.
fn num(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let place = place_of(args);
    let refuse = |message: String| {
        BUDGET.with(|b| {
            let first = b.trip.take();
            b.trip.set(first.or(Some(Trip {
                limit: Limit::Invalid(message),
                place,
            })));
        });
    };
    match value {
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.abs() > f64::MAX / 2.0) => {
            refuse(format!("the number {n} is too large to add or subtract"));
            Ok(Value::Null)
        }
        // `i64::MIN % -1` and `i64::MIN / -1` overflow, and Tera panics.
        Value::Number(n) if n.as_i64() == Some(i64::MIN) => {
            refuse(format!("the number {n} is too large for math"));
            Ok(Value::Null)
        }
        Value::Number(_) => Ok(value.clone()),
        other => {
            refuse(match args.get("n").and_then(Value::as_str) {
                Some(name) => {
                    format!("Variable `{name}` was used in a math operation but is not a number")
                }
                None if other.as_str() == Some("NaN") => {
                    "a math operation gave no number (NaN) where another one needs a number"
                        .to_owned()
                }
                None => format!(
                    "a math operation needs a number, not {}",
                    shorten(&other.to_string())
                ),
            });
            Ok(value.clone())
        }
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// [`TRUTHY`].
fn truthy(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let value = argument(args, "v")?;
    Ok(Value::Bool(is_truthy(value)))
}

/// Whether Tera reads `value` as true.
pub(crate) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i != 0,
            (_, Some(u), _) => u != 0,
            (_, _, Some(f)) => f != 0.0 && !f.is_nan(),
            _ => false,
        },
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

type Args = HashMap<String, Value>;

/// What a filter's guard says before the filter runs.
enum Guard {
    Go,
    /// The result would be this large.
    Makes(usize),
    /// The arguments are wrong (a message for people).
    Refuse(String),
}

/// A filter within the value limits: input and result at most [`MAX_VALUE`], and with a guard
/// that computes the size of the result (or refuses bad arguments) before the filter runs.
struct Bounded {
    name: String,
    inner: Arc<dyn Filter>,
    guard: Option<fn(&Value, &Args) -> Guard>,
}

impl Filter for Bounded {
    fn filter(&self, value: &Value, args: &Args) -> tera::Result<Value> {
        let name = Some(self.name.as_str());
        // A value given to a filter is too large by itself, whatever the filter would make
        // of it (`length` makes a number).
        checked(value, None, None)?;
        match self.guard.map_or(Guard::Go, |g| g(value, args)) {
            Guard::Go => {}
            Guard::Makes(size) if size <= MAX_VALUE => {}
            Guard::Makes(_) => return Err(trip(Limit::Value(Some(self.name.clone())), None)),
            Guard::Refuse(message) => return Err(trip(Limit::Invalid(message), None)),
        }
        let result = self.inner.filter(value, args)?;
        checked(&result, None, name)?;
        // A filter may work long and write nothing (in an `{% if %}`'s condition): the clock
        // is read after each.
        produce(0, None)?;
        Ok(result)
    }

    fn is_safe(&self) -> bool {
        self.inner.is_safe()
    }
}

/// One of Tera's tests, followed by a reading of the clock.
struct Clocked(Arc<dyn tera::Test>);

impl tera::Test for Clocked {
    fn test(&self, value: Option<&Value>, args: &[Value]) -> tera::Result<bool> {
        let result = self.0.test(value, args)?;
        produce(0, None)?;
        Ok(result)
    }
}

fn string<'a>(args: &'a Args, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// How many times `pattern` matches in `s` the way `str::replace` and `str::split` count
/// (an empty pattern matches at every character boundary).
fn matches(s: &str, pattern: &str) -> usize {
    if pattern.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(pattern).count()
    }
}

/// `join` and `split` read `\n` and `\t` written as two characters as the characters.
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}

fn replace_guard(value: &Value, args: &Args) -> Guard {
    match (value.as_str(), string(args, "from"), string(args, "to")) {
        (Some(s), Some(from), Some(to)) => Guard::Makes(
            s.len()
                .saturating_add(matches(s, from).saturating_mul(to.len())),
        ),
        _ => Guard::Go,
    }
}

fn indent_guard(value: &Value, args: &Args) -> Guard {
    let prefix = args
        .get("prefix")
        .map_or(Some(4), |p| p.as_str().map(str::len));
    match (value.as_str(), prefix) {
        (Some(s), Some(prefix)) => {
            let lines = s.bytes().filter(|b| *b == b'\n').count() + 1;
            Guard::Makes(s.len().saturating_add(lines.saturating_mul(prefix)))
        }
        _ => Guard::Go,
    }
}

fn join_guard(value: &Value, args: &Args) -> Guard {
    let sep = string(args, "sep").map_or(0, |s| unescape(s).len());
    match value {
        Value::Array(items) => {
            // Items render at most about as long as they measure (numbers up to 24 bytes);
            // the result is measured again once made.
            let items_size = measure(value, usize::MAX, usize::MAX).unwrap_or(usize::MAX);
            Guard::Makes(
                items_size.saturating_add(items.len().saturating_sub(1).saturating_mul(sep)),
            )
        }
        _ => Guard::Go,
    }
}

fn concat_guard(value: &Value, args: &Args) -> Guard {
    match args.get("with") {
        Some(with) => {
            let a = measure(value, usize::MAX, usize::MAX).unwrap_or(usize::MAX);
            let b = measure(with, usize::MAX, usize::MAX).unwrap_or(usize::MAX);
            Guard::Makes(a.saturating_add(b))
        }
        None => Guard::Go,
    }
}

fn split_guard(value: &Value, args: &Args) -> Guard {
    match (value.as_str(), string(args, "pat")) {
        (Some(s), Some(pat)) => {
            let pieces = matches(s, &unescape(pat)) + 1;
            Guard::Makes(s.len().saturating_add(pieces.saturating_mul(ITEM_BYTES)))
        }
        _ => Guard::Go,
    }
}

fn truncate_guard(value: &Value, args: &Args) -> Guard {
    match (value.as_str(), string(args, "end")) {
        (Some(s), Some(end)) => Guard::Makes(s.len().saturating_add(end.len())),
        _ => Guard::Go,
    }
}

/// Tera's `int` passes `base` to `from_str_radix`, which panics outside 2..=36.
fn int_guard(_: &Value, args: &Args) -> Guard {
    match args.get("base").and_then(Value::as_u64) {
        Some(base) if !(2..=36).contains(&base) => Guard::Refuse(format!(
            "Filter `int`: `base` must be between 2 and 36, not {base}"
        )),
        _ => Guard::Go,
    }
}

/// A writer that holds at most `left` more bytes.
struct Limited {
    out: Vec<u8>,
    left: usize,
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("too large"));
        }
        self.left -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tera's `json_encode`, writing at most [`MAX_VALUE`] bytes: pretty-printing indents every
/// line by its depth, so the text can be much larger than the value. Its strings are YAML's
/// double-quoted scalars too, with the characters YAML does not read as themselves there
/// escaped ([`crate::yaml::is_escaped_in_quotes`]: serde_json leaves U+007F to U+009F, U+2028
/// and U+2029 bare, and YAML 1.1 folds a bare U+0085 to a space and refuses the others).
fn json_encode(value: &Value, args: &Args) -> tera::Result<Value> {
    let pretty = args.get("pretty").and_then(Value::as_bool).unwrap_or(false);
    let mut out = Limited {
        out: Vec::new(),
        left: MAX_VALUE,
    };
    let written = if pretty {
        serde_json::to_writer_pretty(&mut out, value)
    } else {
        serde_json::to_writer(&mut out, value)
    };
    match written {
        Ok(()) => String::from_utf8(out.out)
            .map(|text| Value::String(escaped_for_yaml(text)))
            .map_err(tera::Error::msg),
        Err(_) => Err(trip(Limit::Value(Some("json_encode".into())), None)),
    }
}

/// `json`, JSON text, with the characters [`crate::yaml::is_escaped_in_quotes`] names written
/// `\uXXXX`: none is JSON's syntax, so each is inside a string, where the escape means it.
fn escaped_for_yaml(json: String) -> String {
    // From U+007F: serde_json escapes those below, and a pretty text's own line breaks are
    // among them.
    let escaped = |c: char| c >= '\u{7f}' && crate::yaml::is_escaped_in_quotes(c);
    if !json.contains(escaped) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest pattern of the `matching` test.
pub(crate) const MAX_PATTERN: usize = 1000;

/// Longest text the `matching` test looks at: a regular expression takes time that grows with
/// the text's length times the pattern's size.
pub(crate) const MAX_MATCHED: usize = 64 << 10;

/// Tera's `matching(pattern)` test with a pattern of at most [`MAX_PATTERN`] characters and
/// 64 KiB compiled, on a text of at most [`MAX_MATCHED`] bytes, within the tenant's time.
fn matching(value: Option<&Value>, params: &[Value]) -> tera::Result<bool> {
    let refuse = |why: String| {
        BUDGET.with(|b| {
            let first = b.trip.take();
            b.trip.set(first.or(Some(Trip {
                limit: Limit::Invalid(why.clone()),
                place: None,
            })));
        });
        tera::Error::msg(why)
    };
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| tera::Error::msg("`matching` tests a string"))?;
    let pattern = params
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| tera::Error::msg("`matching` takes a pattern: matching(\"^a\")"))?;
    if pattern.chars().count() > MAX_PATTERN {
        return Err(refuse(format!(
            "a `matching` pattern of more than {MAX_PATTERN} characters (promote's limit)"
        )));
    }
    if text.len() > MAX_MATCHED {
        return Err(refuse(format!(
            "`matching` on a text of more than {} KiB (promote's limit)",
            MAX_MATCHED >> 10
        )));
    }
    let regex = regex::RegexBuilder::new(pattern)
        .size_limit(64 << 10)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| refuse(format!("`matching`: {e}")))?;
    let found = regex.is_match(text);
    produce(0, None)?;
    Ok(found)
}

/// Makes `tera` a sandbox: only [`FUNCTIONS`] (of which `range` is promote's bounded one; the
/// caller registers `secret`) and the internal functions, and every filter within the value
/// limits. `places` are the instrumented places of the compiled templates.
pub(crate) fn install(tera: &mut Tera, places: Arc<Vec<Place>>) {
    tera.functions.clear();
    tera.register_function("range", super::bounds::range);
    tera.register_function(TICK, move |args: &Args| tick(&places, args));
    tera.register_function(TRUTHY, truthy);

    let builtin: Vec<(String, Arc<dyn Filter>)> = tera.filters.drain().collect();
    for (name, inner) in builtin {
        let inner: Arc<dyn Filter> = if name == "json_encode" {
            Arc::new(json_encode)
        } else {
            inner
        };
        let guard: Option<fn(&Value, &Args) -> Guard> = match name.as_str() {
            "replace" => Some(replace_guard),
            "indent" => Some(indent_guard),
            "join" => Some(join_guard),
            "concat" => Some(concat_guard),
            "split" => Some(split_guard),
            "truncate" => Some(truncate_guard),
            "int" => Some(int_guard),
            _ => None,
        };
        let bounded = Bounded {
            name: name.clone(),
            inner,
            guard,
        };
        tera.filters.insert(name, Arc::new(bounded));
    }
    // A test may work long and write nothing: the clock is read after each.
    let testers: Vec<(String, Arc<dyn tera::Test>)> = tera.testers.drain().collect();
    for (name, inner) in testers {
        tera.testers.insert(name, Arc::new(Clocked(inner)));
    }
    tera.register_tester("matching", matching);
    tera.register_filter(NUM, num);
    tera.register_filter(OUT, out);
    tera.register_filter(VALUE, value);
    tera.register_filter(ITER, iter);
    let filters = tera.filters.clone();
    tera.register_filter(SECTION, move |value: &Value, args: &Args| {
        let name = args
            .get(SECTION_FILTER)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let filter = filters
            .get(name)
            .ok_or_else(|| tera::Error::msg(format!("Filter '{name}' not found")))?;
        let mut rest = args.clone();
        rest.remove(SECTION_FILTER);
        let result = filter.filter(value, &rest)?;
        let size = checked(&result, None, Some(name))?;
        produce(size, None)?;
        Ok(result)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(pairs: &[(&str, Value)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn sandbox() -> Tera {
        let mut tera = Tera::default();
        install(&mut tera, Arc::new(Vec::new()));
        tera
    }

    #[test]
    fn only_the_documented_functions_exist() {
        let tera = sandbox();
        for f in ["get_env", "now", "get_random", "throw"] {
            assert!(tera.get_function(f).is_err(), "{f}");
        }
        assert!(tera.get_function("range").is_ok());
    }

    #[test]
    fn measures_values_without_recursion() {
        assert_eq!(measure(&json!("abc"), 100, 10), Ok(11));
        assert_eq!(
            measure(&json!({"ab": [1, "x"]}), 100, 10),
            Ok(8 + 2 + 8 + 8 + 9)
        );
        assert_eq!(measure(&json!("abc"), 10, 10), Err(Over::Size));
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(measure(&deep, usize::MAX, 128), Err(Over::Depth));
        // Dropping it would overflow the stack; take it apart level by level.
        while let Value::Array(mut items) = deep {
            deep = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn filters_that_multiply_refuse_before_they_build() {
        let tera = sandbox();
        let big = "a".repeat(1 << 20);
        start_tenant();
        let replace = tera.get_filter("replace").unwrap();
        let err = replace
            .filter(
                &json!(big),
                &args(&[("from", json!("a")), ("to", json!("bbbbbbbb"))]),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("filter `replace` would make a value of more than 4 MiB"),
            "{err}"
        );
        assert_eq!(
            take_trip().map(|t| t.limit),
            Some(Limit::Value(Some("replace".into())))
        );
        // A value too large before any filter (from an environment's vars) is said to be,
        // not blamed on the filter (found by an independent try: `length` makes a number).
        let huge = json!("a".repeat(MAX_VALUE + 1));
        let err = tera.get_filter("length").unwrap().filter(&huge, &args(&[]));
        assert!(err.is_err());
        assert_eq!(take_trip().map(|t| t.limit), Some(Limit::Value(None)));
        let ok = replace
            .filter(
                &json!("a-a"),
                &args(&[("from", json!("-")), ("to", json!("+"))]),
            )
            .unwrap();
        assert_eq!(ok, json!("a+a"));

        let lines = "x\n".repeat(1 << 16);
        let indent = tera.get_filter("indent").unwrap();
        assert!(indent
            .filter(&json!(lines), &args(&[("prefix", json!(" ".repeat(100)))]))
            .is_err());
        let join = tera.get_filter("join").unwrap();
        let items = json!(vec!["x"; 1000]);
        assert!(join
            .filter(&items, &args(&[("sep", json!(big.clone()))]))
            .is_err());
        assert_eq!(
            join.filter(&json!(["a", 1]), &args(&[("sep", json!(", "))]))
                .unwrap(),
            json!("a, 1")
        );
        let concat = tera.get_filter("concat").unwrap();
        let half = json!(vec![big.clone(); 3]);
        assert!(concat
            .filter(&half, &args(&[("with", half.clone())]))
            .is_err());
        let split = tera.get_filter("split").unwrap();
        assert!(split
            .filter(&json!(big), &args(&[("pat", json!(""))]))
            .is_err());
        let int = tera.get_filter("int").unwrap();
        assert!(int
            .filter(&json!("10"), &args(&[("base", json!(1))]))
            .unwrap_err()
            .to_string()
            .contains("between 2 and 36"));
        assert_eq!(
            int.filter(&json!("ff"), &args(&[("base", json!(16))]))
                .unwrap(),
            json!(255)
        );
        take_trip();
    }

    #[test]
    fn json_encode_is_tera_s_within_the_limit() {
        let tera = sandbox();
        let f = tera.get_filter("json_encode").unwrap();
        let v = json!({"a": [1, "x\u{1}"]});
        assert_eq!(
            f.filter(&v, &Args::new()).unwrap(),
            json!(serde_json::to_string(&v).unwrap())
        );
        assert_eq!(
            f.filter(&v, &args(&[("pretty", json!(true))])).unwrap(),
            json!(serde_json::to_string_pretty(&v).unwrap())
        );
        // 120 levels of one-item lists around 20,000 numbers: small as a value, over 4 MiB
        // once every line is indented by its depth.
        let mut nested = json!(vec![1; 20_000]);
        for _ in 0..120 {
            nested = json!([nested]);
        }
        start_tenant();
        assert!(f
            .filter(&nested, &args(&[("pretty", json!(true))]))
            .is_err());
        assert_eq!(
            take_trip().map(|t| t.limit),
            Some(Limit::Value(Some("json_encode".into())))
        );
    }

    #[test]
    fn budget_counts_steps_output_and_time() {
        let places = vec![Place {
            file: "a/x.yaml".into(),
            at: None,
            what: What::Loop,
            bytes: 1 << 20,
        }];
        start_tenant();
        let p = args(&[("p", json!(0))]);
        for _ in 0..64 {
            tick(&places, &p).unwrap();
        }
        assert!(tick(&places, &p).is_err());
        assert_eq!(
            take_trip(),
            Some(Trip {
                limit: Limit::Output,
                place: Some(0)
            })
        );

        start_tenant();
        let empty = vec![Place {
            bytes: 0,
            ..places[0].clone()
        }];
        for _ in 0..MAX_STEPS {
            tick(&empty, &p).unwrap();
        }
        assert!(tick(&empty, &p).is_err());
        assert_eq!(take_trip().map(|t| t.limit), Some(Limit::Steps));

        start_tenant();
        BUDGET.with(|b| b.deadline.set(Some(Instant::now())));
        std::thread::sleep(Duration::from_millis(2));
        assert!(out(&json!("x"), &Args::new()).is_err());
        assert_eq!(take_trip().map(|t| t.limit), Some(Limit::Time));
        start_tenant();
    }

    /// A condition that writes nothing reads the clock at each of its filters and tests:
    /// regression (found by an independent try) for `{% if %}`s whose chains of `replace` on
    /// large values wrote nothing and rendered for as long as they had tags, past the limit.
    #[test]
    fn filters_and_tests_that_write_nothing_read_the_clock() {
        let mut context = tera::Context::new();
        context.insert("s", "a");
        for template in [
            r#"{% if s | upper == "b" %}x{% endif %}"#,
            r#"{% if s is starting_with("b") %}x{% endif %}"#,
        ] {
            let mut tera = sandbox();
            tera.add_raw_template("t", template).expect("compiles");
            start_tenant();
            assert_eq!(
                tera.render("t", &context).ok().as_deref(),
                Some(""),
                "{template}"
            );
            BUDGET.with(|b| b.deadline.set(Some(Instant::now())));
            std::thread::sleep(Duration::from_millis(2));
            assert!(tera.render("t", &context).is_err(), "{template}");
            assert_eq!(
                take_trip().map(|t| t.limit),
                Some(Limit::Time),
                "{template}"
            );
            start_tenant();
        }
    }

    /// A rendering reused instead of run again counts its steps, its output and its time:
    /// regression (found by an independent try) for reused slots that spent no time, so that
    /// a tenant whose renderings take longer than the limit passed when others had run them.
    #[test]
    fn a_reused_rendering_counts_again() {
        start_tenant();
        assert!(count_again(
            MAX_STEPS / 2,
            MAX_OUTPUT / 2,
            MAX_TIME / 2 - Duration::from_millis(50)
        ));
        assert_eq!(counted(), (MAX_STEPS / 2, MAX_OUTPUT / 2));
        // What passes a limit is not counted, and nothing is recorded: the tenant is then
        // rendered from the start, which reports the limit where it is reached.
        assert!(!count_again(MAX_STEPS / 2 + 1, 0, Duration::ZERO));
        assert!(!count_again(0, MAX_OUTPUT / 2 + 1, Duration::ZERO));
        assert!(!count_again(0, 0, MAX_TIME / 2 + Duration::from_millis(50)));
        assert_eq!(counted(), (MAX_STEPS / 2, MAX_OUTPUT / 2));
        assert_eq!(take_trip(), None);
        // The time spent is taken off what is left.
        assert!(count_again(0, 0, MAX_TIME / 2 - Duration::from_millis(100)));
        assert!(!count_again(0, 0, Duration::from_millis(200)));
        start_tenant();
    }

    #[test]
    fn values_are_bounded_in_size_and_depth() {
        start_tenant();
        let big = json!("a".repeat(MAX_VALUE + 1));
        assert!(value(&big, &Args::new()).is_err());
        assert!(out(&big, &Args::new()).is_err());
        let mut deep = json!(1);
        for _ in 0..MAX_VALUE_DEPTH {
            deep = json!([deep]);
        }
        assert!(value(&deep, &Args::new()).is_err());
        assert_eq!(take_trip().map(|t| t.limit), Some(Limit::Value(None)));
        assert!(value(&deep, &Args::new()).is_err());
        assert_eq!(take_trip().map(|t| t.limit), Some(Limit::Depth));
        start_tenant();
    }

    #[test]
    fn loops_see_strings_as_characters() {
        start_tenant();
        let list = |v: Value| iter(&v, &Args::new());
        assert_eq!(
            list(json!("e\u{301}x")).unwrap(),
            json!(["e", "\u{301}", "x"])
        );
        assert_eq!(list(json!([1])).unwrap(), json!([1]));
        assert_eq!(list(json!({"a": 1})).unwrap(), json!({"a": 1}));
        assert!(list(json!("a".repeat(MAX_VALUE / 2))).is_err());
        start_tenant();
    }

    #[test]
    fn numbers_are_safe_to_add() {
        start_tenant();
        assert_eq!(num(&json!(1e300), &Args::new()).unwrap(), json!(1e300));
        assert_eq!(
            num(&json!(u64::MAX), &Args::new()).unwrap(),
            json!(u64::MAX)
        );
        assert!(take_trip().is_none());
        assert_eq!(num(&json!(1.7e308), &Args::new()).unwrap(), Value::Null);
        assert_eq!(
            take_trip().map(|t| t.limit.to_string()),
            Some("the number 1.7e+308 is too large to add or subtract".into())
        );
        assert_eq!(
            num(&json!("x"), &args(&[("n", json!("a"))])).unwrap(),
            json!("x")
        );
        assert_eq!(
            take_trip().map(|t| t.limit.to_string()),
            Some("Variable `a` was used in a math operation but is not a number".into())
        );
        assert_eq!(truthy(&args(&[("v", json!(""))])).unwrap(), json!(false));
        assert_eq!(truthy(&args(&[("v", json!(0.5))])).unwrap(), json!(true));
    }
}

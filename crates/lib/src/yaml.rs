//! YAML in and out, with positions in errors and one stable output style.
//!
//! Trees are `serde_json::Value` throughout promote; YAML is only the file format. Output is
//! deterministic (serde_json's map is sorted) so that an unchanged tree writes identical bytes.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Diagnostic, Location};

mod stream;

/// Returns the tree a YAML document holds, or a diagnostic naming `file`, line and column.
/// An empty document is `null`.
pub fn parse(text: &str, file: &str) -> Result<Value, Diagnostic> {
    if let Some((offset, problem)) = too_big(text) {
        let (line, column) = crate::diagnostic::line_column(text, offset);
        return Err(Diagnostic::new(format!("invalid YAML: {problem}"))
            .at(Location::at(file, line, column))
            .hint("configuration is not that large or deep: check what produced this file"));
    }
    if let Some(d) = unseen_break_error(text, file) {
        return Err(d);
    }
    if let Some((line, column)) = plain_merge_key(text) {
        return Err(Diagnostic::new(
            "invalid YAML: merge keys (`<<`) are not supported: write the keys out, or share them with a Tera include or macro",
        )
        .at(Location::at(file, line, column))
        .hint("a key that is really named `<<` is written quoted: \"<<\":"));
    }
    serde_yaml::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| {
            let message = strip_position(&e.to_string()).to_owned();
            let location = match e.location() {
                Some(l) => {
                    let (line, column) = duplicate_key_position(text, &message, l.line())
                        .unwrap_or((l.line(), l.column()));
                    Location::at(file, line, column)
                }
                None => Location::file(file),
            };
            let message = without_credentials(&message);
            Diagnostic::new(format!("invalid YAML: {message}")).at(location)
        })
}

/// serde_yaml's message names the path to the problem (`a.b[0].c: ...`) and may quote a key or
/// a value found there (``duplicate key `K` ``, `invalid value: string "V"`): inside a
/// credential field (one by its place, in a tenant's or a workspace's tree, or by its name) that
/// would show the credential in a diagnostic. There the path ends at the field, and nothing
/// found in it is quoted; the line and column still say where.
fn without_credentials(message: &str) -> std::borrow::Cow<'_, str> {
    use crate::credentials::{self, Scope};
    let Some((path, _)) = message.split_once(": ") else {
        return message.into();
    };
    let mut keys = Vec::new();
    // Where the segment ends in `path`: the path up to it is what is shown.
    let mut shown = 0;
    for (i, segment) in path.split('.').enumerate() {
        shown += segment.len() + usize::from(i > 0);
        let mut parts = segment.split('[');
        let key = parts.next().unwrap_or_default();
        keys.push(key.to_owned());
        keys.extend(parts.map(|index| index.trim_end_matches(']').to_owned()));
        let at = promote_platform::pointer::from_keys(&keys);
        let inside = credentials::is_field_name(key)
            || [Scope::Tenant, Scope::Workspace]
                .iter()
                .any(|scope| credentials::field_of(&at, *scope).is_some());
        if inside {
            return format!(
                "{}: invalid inside this credential field (what it holds is not shown)",
                &path[..shown]
            )
            .into();
        }
    }
    message.into()
}

/// Returns the tree a YAML document holds, read as the parser goes instead of from all its
/// events at once (a large file takes a fraction of the memory), or `None` where [`parse`] is
/// to be asked: for what that reading leaves to serde_yaml ([`stream`]), and for every text
/// [`parse`] refuses. What it returns is what [`parse`] returns.
pub(crate) fn read_streaming(text: &str) -> Option<Value> {
    if too_big(text).is_some() || unseen_break(text).is_some() || plain_merge_key(text).is_some() {
        return None;
    }
    stream::read(text)
}

/// Most levels of `[` and `{` a YAML text may open: the parser refuses deeper ones only after
/// reading the whole text, in time that grows with the square of its length.
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// The characters YAML 1.1 reads as line breaks and YAML 1.2 does not.
const YAML_1_1_BREAKS: [char; 3] = ['\u{85}', '\u{2028}', '\u{2029}'];

/// Most nodes (about: its `[`, `{`, `,`, `:`, `-` and new lines) a YAML text may hold: parsed,
/// each takes a few hundred bytes, so 2 bytes of `0,` would take 500 times their size.
pub(crate) const MAX_NODES: usize = 1_000_000;

/// Returns about how many nodes a YAML text holds (an upper bound; see [`MAX_NODES`]).
pub(crate) fn node_count(text: &str) -> usize {
    text.bytes().filter(|b| is_node_byte(*b)).count()
}

/// Whether `b` is one of the bytes that [`MAX_NODES`] counts.
fn is_node_byte(b: u8) -> bool {
    matches!(b, b'[' | b'{' | b',' | b':' | b'-' | b'\n')
}

/// Returns where and why `text` is refused before it is parsed: lists and maps nested deeper
/// than [`MAX_FLOW_DEPTH`] or more than [`MAX_NODES`] nodes. Quotes are not looked at, so both
/// counts are upper bounds; a text whose `[` and `{` (inside quotes, comments and block
/// scalars too) nest too deep by that count is read by saphyr's parser, which tells the real
/// depth (and stops past 255 levels, so that reading is not slow either).
fn too_big(text: &str) -> Option<(usize, String)> {
    let mut depth = 0usize;
    let mut nodes = 0usize;
    let mut depth_known = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                nodes += 1;
                if depth > MAX_FLOW_DEPTH && !depth_known {
                    let deep =
                        || format!("`[` and `{{` nested more than {MAX_FLOW_DEPTH} levels deep");
                    let nested =
                        || format!("lists and maps nested more than {MAX_FLOW_DEPTH} levels deep");
                    match nested_deeper(text, MAX_FLOW_DEPTH) {
                        Ok(None) => depth_known = true,
                        Ok(Some(at)) => return Some((at, nested())),
                        // Past saphyr's own limit of `[` and `{` (255).
                        Err(Some(at)) => return Some((at, deep())),
                        // Refused by that parser for something else: refused here, where the
                        // count said.
                        Err(None) => return Some((i, deep())),
                    }
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b if is_node_byte(b) => nodes += 1,
            _ => continue,
        }
        if nodes > MAX_NODES {
            return Some((i, format!("more than {MAX_NODES} values in one file")));
        }
    }
    None
}

/// Where (a byte offset) the lists and maps of `text` first nest more than `max` deep as YAML
/// reads them, `None` if they never do; `Err` if saphyr's parser refuses the text, with where
/// when it refuses it for nesting past its own limit.
///
/// saphyr reads YAML 1.2, serde_yaml's parser YAML 1.1, and they must not disagree on where a
/// comment or a scalar ends: YAML 1.1 ends a line at U+0085, U+2028 and U+2029 too, so a `[`
/// after one, in what 1.2 reads as a comment, would be nesting to serde_yaml. saphyr reads the
/// text with those as line breaks (one character for one: positions stay the same).
fn nested_deeper(text: &str, max: usize) -> Result<Option<usize>, Option<usize>> {
    use saphyr_parser::{Event, Parser};
    // The parser counts characters; the offset is in bytes.
    let offset = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i)
    };
    let as_yaml_1_1: std::borrow::Cow<str> = if text.contains(YAML_1_1_BREAKS) {
        text.replace(YAML_1_1_BREAKS, "\n").into()
    } else {
        text.into()
    };
    let mut depth = 0usize;
    for event in Parser::new_from_str(&as_yaml_1_1) {
        let (event, span) = event.map_err(|e| {
            (e.info() == "recursion limit exceeded").then(|| offset(e.marker().index()))
        })?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > max {
                    return Ok(Some(offset(span.start.index())));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(None)
}

/// The error for a line break YAML reads and a review does not show ([`unseen_break`]), if
/// `text` holds one: where it is, and which; it quotes nothing of the text (the secrets file
/// shows it as it is).
pub(crate) fn unseen_break_error(text: &str, file: &str) -> Option<Diagnostic> {
    let (offset, c) = unseen_break(text)?;
    let (line, column) = crate::diagnostic::line_column(text, offset);
    let what = match c {
        '\r' => "a carriage return (U+000D) without a line feed after it, where YAML ends a line and reviews show none (`git diff` in a terminal prints the rest of the line over its start)".to_owned(),
        c => format!(
            "U+{:04X} ({}) where YAML 1.1, which promote reads, ends a line and editors and reviews show no line break",
            u32::from(c),
            match c {
                '\u{85}' => "next line",
                '\u{2028}' => "line separator",
                _ => "paragraph separator",
            }
        ),
    };
    Some(
        Diagnostic::new(format!(
            "invalid YAML: {what}: what follows it would be read as YAML that no one sees"
        ))
        .at(Location::at(file, line, column))
        .hint(format!(
            "remove it, or write it in a double-quoted value as \\u{:04x} (promote's own files write it so)",
            u32::from(c)
        )),
    )
}

/// Where (a byte offset) `text` holds, outside a quoted scalar, one of the characters YAML 1.1
/// reads as a line break and YAML 1.2, editors and code review do not (U+0085, U+2028,
/// U+2029), or a carriage return not followed by a line feed (a line break to YAML, which
/// `git diff` in a terminal shows by printing the rest of the line over its start).
///
/// serde_yaml's parser reads YAML 1.1: after such a character in a comment, a plain scalar or a
/// block scalar, the rest of what looks like the same line is a new line to it, so `# note` then
/// U+2028 then `evil: {...}` is a comment to a reviewer and a key to promote. Inside single or
/// double quotes a line break ends nothing (the scalar goes on to its closing quote), so those
/// are allowed (promote's exports of platform data hold them there). The two readings agree up
/// to the first such character, so whether it is inside quotes is the same to both; if it is,
/// both read on to the same closing quote, and agree again after it. saphyr's parser,
/// reading the text as a reviewer sees it (each such character a space, one for one: positions
/// hold), says where the quoted scalars are; a text it cannot read is refused at its first such
/// character after where it stopped.
fn unseen_break(text: &str) -> Option<(usize, char)> {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    // Their UTF-8: C2 85, E2 80 A8, E2 80 A9, and 0D not before 0A. Most texts hold none: one
    // look at the bytes.
    let bytes = text.as_bytes();
    let bare_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    let held = bytes.windows(3).any(|w| {
        (w[0] == 0xC2 && w[1] == 0x85)
            || (w[0] == 0xE2 && w[1] == 0x80 && matches!(w[2], 0xA8 | 0xA9))
    }) || bytes.ends_with(&[0xC2, 0x85])
        || carriage_returns(bytes).any(bare_cr);
    if !held {
        return None;
    }
    let unseen =
        |offset: usize, c: char| YAML_1_1_BREAKS.contains(&c) || (c == '\r' && bare_cr(offset));
    let as_seen: String = text
        .char_indices()
        .map(|(offset, c)| if unseen(offset, c) { ' ' } else { c })
        .collect();
    let chars: Vec<char> = as_seen.chars().collect();
    // The quoted scalars, as ranges of characters (the parser counts characters), in order.
    let mut quoted: Vec<(usize, usize)> = Vec::new();
    let mut read_to = usize::MAX;
    for event in Parser::new_from_str(&as_seen) {
        match event {
            Ok((
                Event::Scalar(
                    _,
                    style @ (ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted),
                    ..,
                ),
                span,
            )) => {
                // The span starts at the opening quote; where it ends the parser's scanner has
                // gone on past spaces and a comment: the closing quote is found here.
                let start = span.start.index();
                quoted.push((
                    start,
                    closing_quote(&chars, start, style == ScalarStyle::DoubleQuoted),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                read_to = e.marker().index();
                break;
            }
        }
    }
    let mut spans = quoted.into_iter().peekable();
    for (n, (offset, c)) in text.char_indices().enumerate() {
        if !unseen(offset, c) {
            continue;
        }
        while spans.next_if(|(_, end)| *end <= n).is_some() {}
        let inside = spans
            .peek()
            .is_some_and(|(start, end)| *start < n && n < *end);
        if !inside || n >= read_to {
            return Some((offset, c));
        }
    }
    None
}

/// The index just past the quote that closes the quoted scalar opening at `chars[start]` (a
/// `\"` does not close a double-quoted one, a `''` does not close a single-quoted one), or
/// the end of the text.
fn closing_quote(chars: &[char], start: usize, double: bool) -> usize {
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if double => i += 2,
            '"' if double => return i + 1,
            '\'' if !double && chars.get(i + 1) == Some(&'\'') => i += 2,
            '\'' if !double => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// The offsets of the carriage returns of `bytes`.
fn carriage_returns(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\r')
        .map(|(i, _)| i)
}

/// A tree read strictly: a key written twice in one map is an error (serde_json's own `Value`
/// would silently keep the last one), and scalar keys such as `200:` or `true:` become strings.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a number JSON can hold")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(Key(key)) = access.next_key()? {
            let Strict(value) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Where the first unquoted `<<` key is (line and column, from 1): a YAML merge key, which
/// serde_yaml would read as a plain key named `<<` instead of merging. A quoted `"<<"` is a key
/// like any other.
fn plain_merge_key(text: &str) -> Option<(usize, usize)> {
    merge_keys(text)
        .next()
        .map(|(n, column)| (n + 1, column + 1))
}

/// The unquoted `<<` keys of a YAML text: (line index, byte column), outside block scalars.
fn merge_keys(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    // Most texts have no `<<` at all: one fast search instead of a scan of every line.
    let text = if text.contains("<<") { text } else { "" };
    // Inside a block scalar (`|`, `>-`, ...) lines indented deeper than its key are text.
    let mut block: Option<usize> = None;
    text.lines().enumerate().filter_map(move |(n, line)| {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(key_indent) = block {
            if line.trim().is_empty() || indent > key_indent {
                return None;
            }
            block = None;
        }
        let header = line.split_whitespace().last().unwrap_or("");
        let trimmed = line.trim_start();
        // A block scalar's header ends a map value, a list item, a complex key, or stands alone
        // (a string document, as serde_yaml writes a multi-line string entry).
        if header.starts_with(['|', '>'])
            && header.chars().all(|c| "|>+-0123456789".contains(c))
            && (line.contains(": ")
                || trimmed.starts_with("- ")
                || trimmed.starts_with("? ")
                || trimmed.starts_with("--- ")
                || trimmed == header)
        {
            block = Some(indent);
        }
        let mut rest = line.trim_start();
        while let Some(after) = rest.strip_prefix("- ") {
            rest = after.trim_start();
        }
        // `<<:` then a space or the end of the line (`<<:0` is a plain key of its own).
        let is_merge = rest
            .strip_prefix("<<")
            .and_then(|r| r.trim_start().strip_prefix(':'))
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']));
        is_merge.then(|| (n, line.len() - rest.len()))
    })
}

/// A map key: a string, or a scalar written as one.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        key_text(deserializer.deserialize_any(StrictVisitor)?)
            .map(Key)
            .map_err(de::Error::custom)
    }
}

/// Returns the text of a map key read as `value`: a string as it is, a number or a boolean as
/// written by serde_json (`0x1F:` is the key `"31"`), or why it cannot be a key.
pub(crate) fn key_text(value: Value) -> Result<String, &'static str> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("a map key cannot be empty or null"),
        _ => Err("a map key must be a string, not a list or a map"),
    }
}

/// Returns what the plain (unquoted, untagged) scalar `text` is, exactly as [`parse`] reads it
/// inside a document: null, a boolean, a number or a string; `None` where [`parse`] would refuse
/// it (a number JSON cannot hold). `text` is one line that YAML reads as one plain scalar.
pub(crate) fn plain_scalar(text: &str) -> Option<Value> {
    // Only these can be anything but a string (serde_yaml's resolution: the YAML 1.2 core
    // schema's null, booleans, and numbers, which start with a sign, a digit or a dot): the
    // rest need no parser.
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let maybe_not_string = text.is_empty()
        || matches!(
            text,
            "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        )
        || unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if !maybe_not_string {
        return Some(Value::String(text.to_owned()));
    }
    // The most common of those, as serde_yaml resolves them, without a parser: null, the
    // booleans, and whole numbers written in decimal with no sign or leading zero that fit any
    // integer type (a template's counts, ports, TTLs).
    match text {
        "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let decimal = (text == "0" || (text.len() <= 18 && !text.starts_with('0')))
        && text.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = decimal.then(|| text.parse::<u64>().ok()).flatten() {
        return Some(Value::from(n));
    }
    serde_yaml::from_str::<Strict>(text).ok().map(|s| s.0)
}

/// Returns the YAML text of a tree, ending in a newline.
pub(crate) fn to_string(value: &Value) -> String {
    let text = written(value);
    if !text.contains(WRITTEN_ESCAPED) {
        return text;
    }
    with_breaks_escaped(value, &text)
}

/// `value` as serde_yaml writes it, with a key named `<<` quoted.
fn written(value: &Value) -> String {
    // Serializing a serde_json::Value to YAML cannot fail: every key is a string and every
    // number is finite.
    let text =
        serde_yaml::to_string(value).unwrap_or_else(|e| unreachable!("YAML serialization: {e}"));
    // serde_yaml writes a key named `<<` plain, which YAML reads as a merge key: quote it.
    let merges: Vec<(usize, usize)> = merge_keys(&text).collect();
    if merges.is_empty() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 2 * merges.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        match merges.iter().find(|(m, _)| *m == n) {
            Some((_, column)) => {
                out.push_str(&line[..*column]);
                out.push_str("'<<'");
                out.push_str(&line[column + 2..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The characters promote writes escaped, in double quotes, wherever a string holds them: the
/// line breaks a review does not show, and the carriage return (serde_yaml writes a string
/// holding `\n` as a block scalar with them bare inside it, where YAML reads `\r\n` as `\n`).
const WRITTEN_ESCAPED: [char; 4] = ['\r', '\u{85}', '\u{2028}', '\u{2029}'];

/// `value` written with every string (key or value) that holds one of [`WRITTEN_ESCAPED`] in
/// double quotes, those characters escaped: bare, [`parse`] refuses some ([`unseen_break`]) and
/// YAML changes others; escaped, a reviewer sees them. `text` is serde_yaml's writing of
/// `value`: such strings are written as tokens it does not hold, then the tokens replaced.
fn with_breaks_escaped(value: &Value, text: &str) -> String {
    // No string holds the prefix: `text` holds every string, and a token has no space at which
    // serde_yaml could fold it.
    let prefix = (0u64..)
        .map(|n| format!("promote-escaped-{n}-"))
        .find(|p| !text.contains(p.as_str()))
        .unwrap_or_else(|| unreachable!("a text holds finitely many prefixes"));
    let quoted = std::cell::RefCell::new(Vec::new());
    let tokens = crate::scrub::with_texts(value.clone(), &|s| {
        if !s.contains(WRITTEN_ESCAPED) {
            return s.into();
        }
        let mut quoted = quoted.borrow_mut();
        quoted.push(double_quoted(s));
        format!("{prefix}{}-end", quoted.len() - 1).into()
    });
    let mut out = written(&tokens);
    // Each token once, and none inside another (`-1-end` is not in `-11-end`).
    for (i, q) in quoted.into_inner().iter().enumerate() {
        out = out.replacen(&format!("{prefix}{i}-end"), q, 1);
    }
    out
}

/// `s` as a YAML double-quoted scalar, every character YAML does not allow bare (or reads as a
/// line break) escaped.
fn double_quoted(s: &str) -> String {
    format!("\"{}\"", double_quoted_body(s))
}

/// `s` as the inside of a YAML double-quoted scalar: [`double_quoted`] without its quotes.
pub(crate) fn double_quoted_body(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_escaped_in_quotes(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Whether a character is written escaped inside double quotes: YAML does not allow it bare
/// (the controls, U+FEFF, U+FFFE, U+FFFF), or YAML 1.1 reads it as a line break (U+0085, folded
/// to a space there) or a reviewer would not see it (U+2028, U+2029). `\uXXXX` means the
/// character in JSON too.
pub(crate) fn is_escaped_in_quotes(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// Returns where a duplicate key is written the second time, at or after the line of the map
/// serde_yaml reports, so the error points at the line to delete.
fn duplicate_key_position(text: &str, message: &str, from_line: usize) -> Option<(usize, usize)> {
    let key = message.split("duplicate key `").nth(1)?.split('`').next()?;
    let mut seen = 0;
    for (n, line) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(key).or_else(|| {
            trimmed
                .strip_prefix(&format!("\"{key}\""))
                .or_else(|| trimmed.strip_prefix(&format!("'{key}'")))
        });
        if rest.is_some_and(|r| r.trim_start().starts_with(':')) {
            seen += 1;
            if seen == 2 {
                return Some((n + 1, line.len() - trimmed.len() + 1));
            }
        }
    }
    None
}

/// Returns a parser's message (serde_yaml's or serde_json's) without its own
/// " at line L column C" suffix, which [`Location`] already carries.
pub(crate) fn strip_position(message: &str) -> &str {
    match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A key or a value inside a credential field is not quoted in a parse error, wherever the
    /// field is and however its name is written; elsewhere the message is serde_yaml's.
    #[test]
    fn parse_errors_quote_nothing_inside_a_credential_field() {
        for text in [
            "servers:\n  w:\n    webhooks:\n      h:\n        api_key: {SEKRET: 1, SEKRET: 2}\n",
            "password: !!int SEKRET\n",
            "Client_Secret: !!bool SEKRET\n",
            "idps:\n  g:\n    credentials:\n      SEKRET: !!int SEKRET\n",
            "client_secret:\n  SEKRET:\n    a: 1\n    a: 2\n",
            "jwks:\n  keys:\n    - d: !!int SEKRET\n",
            "auth:\n  SEKRET: !!float x\n",
        ] {
            let e = parse(text, "f.yaml").unwrap_err().to_string();
            assert!(!e.contains("SEKRET"), "{text}: {e}");
            assert!(
                e.contains("invalid inside this credential field"),
                "{text}: {e}"
            );
            assert!(e.contains("f.yaml:"), "{text}: {e}");
        }
        // Keys that are empty or not ASCII before the field: the path is cut where it ends.
        let e = parse(
            "\"\":\n  \u{e9}:\n    pa\u{17f}sword: !!int SEKRET\n",
            "f.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(".\u{e9}.pa\u{17f}sword: invalid inside"), "{e}");
        let e = parse("name: !!int plain\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("name: invalid value: string \"plain\""), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// A plain scalar is what serde_yaml reads as the value of a key written plain.
        #[test]
        fn a_plain_scalar_is_what_serde_yaml_reads(
            text in "[0-9]{1,22}|[+-]?[0-9][0-9._]{0,5}|[.][0-9]{1,3}|(~|null|Null|NULL|nULL|true|True|TRUE|tRUE|false|False|FALSE|yes|no|on|off|y|n)|0[xob][0-9a-fA-F]{1,4}|[.]?(inf|Inf|INF|nan|NaN|NAN)|[0-9]{1,4}[eE][+-]?[0-9]{1,3}|[a-z0-9]{1,6}"
        ) {
            let read = serde_yaml::from_str::<Strict>(&format!("k: {text}\n"))
                .ok()
                .and_then(|s| s.0.get("k").cloned());
            prop_assert_eq!(plain_scalar(&text), read, "{:?}", text);
        }
    }

    #[test]
    fn deep_or_huge_texts_are_refused_before_they_are_parsed() {
        let started = std::time::Instant::now();
        let deep = format!("a: {}", "{a: ".repeat(200_000));
        let err = parse(&deep, "d.yaml").unwrap_err().to_string();
        assert!(err.starts_with("d.yaml:1:"), "{err}");
        assert!(err.contains("nested more than 128 levels"), "{err}");
        let huge = format!("a: [{}0]", "0,".repeat(MAX_NODES));
        let err = parse(&huge, "h.yaml").unwrap_err().to_string();
        assert!(err.contains("more than 1000000 values"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let fine = format!("a: {}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&fine, "f.yaml").is_ok());
        // Deep by a count that does not read quotes, and past what saphyr reads (255).
        let quoted = format!(
            "a: [[[\"{}\"]]]\nb: {}1{}",
            "[".repeat(300),
            "[".repeat(300),
            "]".repeat(300)
        );
        let err = parse(&quoted, "q.yaml").unwrap_err().to_string();
        assert!(err.starts_with("q.yaml:2:"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Regression: `[` and `{` inside quotes, comments and block scalars added up over a file:
    /// 70 tenants whose variables each held `{{` made a valid environment "nested more than 128
    /// levels deep".
    #[test]
    fn brackets_inside_quotes_comments_and_block_scalars_are_not_nesting() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "k{i}: {{ template: t, vars: {{ n: \"u {{{{\", m: 'x [' }} }} # {{ [\n"
            ));
        }
        text.push_str("s: |\n  {{ [[[\n");
        let tree = parse(&text, "e.yaml").unwrap();
        assert_eq!(tree["k199"]["vars"]["n"], "u {{");
        assert_eq!(tree["s"], "{{ [[[\n");
        assert!(read_streaming(&text).is_none_or(|streamed| streamed == tree));
        // Regression: YAML 1.1 (serde_yaml's parser) ends a line, and so a comment, at U+2028,
        // U+0085 and U+2029; saphyr (1.2) did not, and let nesting after one through.
        for separator in ['\u{2028}', '\u{85}', '\u{2029}'] {
            let hidden = format!(
                "a: 1 # {}\n# c{separator}b: {}\n",
                "[".repeat(200),
                "[".repeat(100_000)
            );
            let err = parse(&hidden, "h.yaml").unwrap_err().to_string();
            assert!(err.contains("nested more than 128 levels"), "{err}");
        }
        // Really nested lists are still refused, where they go too deep.
        let deep = format!("{text}d: {}1{}\n", "[".repeat(129), "]".repeat(129));
        let err = parse(&deep, "e.yaml").unwrap_err().to_string();
        assert!(err.starts_with("e.yaml:203:"), "{err}");
        assert!(err.contains("nested more than 128 levels"), "{err}");
    }

    #[test]
    fn error_names_file_line_and_column() {
        let err = parse("a: 1\nb: [1, 2\n", "t/x.yaml").unwrap_err();
        let loc = err.location.clone().unwrap();
        assert_eq!(loc.file, "t/x.yaml");
        assert!(loc.line.is_some(), "{err}");
        assert!(err.message.starts_with("invalid YAML"), "{err}");
        assert!(!err.message.contains(" at line "), "{err}");
    }

    #[test]
    fn merge_keys_are_refused_and_a_key_named_like_one_round_trips() {
        let err = parse("base: &b {x: 1}\nc:\n  <<: *b\n", "m.yaml").unwrap_err();
        assert!(err.message.contains("merge keys"), "{err}");
        let loc = err.location.unwrap();
        assert_eq!((loc.line, loc.column), (Some(3), Some(3)));
        assert!(parse("- <<: x\n", "m.yaml").is_err());
        assert!(parse("t: |\n  <<: text\nu: 1\n", "m.yaml").is_ok());
        // Found by fuzzing (fuzz/regressions/layout_read): a string document whose text has a
        // `<<: ` line was rewritten by to_string and refused by parse.
        for text in ["x\n<<: y\n", "<<: y\n", "x\n<<: y"] {
            let v = json!(text);
            assert_eq!(parse(&to_string(&v), "m.yaml").unwrap(), v, "{text:?}");
        }
        assert!(parse("|\n  x\n  <<: y\n", "m.yaml").is_ok());
        assert!(parse("--- |\n  x\n  <<: y\n", "m.yaml").is_ok());
        assert!(parse("? |\n  <<: k\n: v\n", "m.yaml").is_ok());
        assert!(parse("a: 1\n<<: *b\n", "m.yaml").is_err());
        assert!(parse("- |\n  <<: x\n- <<: y\n", "m.yaml").is_err());
        let tree =
            json!({"a": {"<<": null, "<<x": 1, "<<:0": 2}, "l": [{"<<": 1}], "t": "x\n<<: y\n"});
        let text = to_string(&tree);
        assert_eq!(parse(&text, "m.yaml").unwrap(), tree, "{text}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n", "x.yaml").unwrap_err();
        assert!(err.message.contains("duplicate"), "{err}");
        assert_eq!(err.location.unwrap().line, Some(2));
    }

    #[test]
    fn scalar_keys_become_strings() {
        assert_eq!(
            parse("200: ok\ntrue: 1\n", "x").unwrap(),
            serde_json::json!({"200": "ok", "true": 1})
        );
        assert!(parse("[a]: 1\n", "x").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep, "x").is_err());
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("", "x.yaml").unwrap(), Value::Null);
    }

    /// Regression (independent try): `# note` then U+2028 then a tenant was a comment in an
    /// editor and a review, and a tenant to promote. Each of the three characters YAML 1.1 reads
    /// as a line break is refused outside quotes, where it is, and read inside them.
    #[test]
    fn line_breaks_only_yaml_1_1_sees_are_refused_outside_quotes() {
        for c in ['\u{2028}', '\u{85}', '\u{2029}'] {
            for (text, line, column) in [
                (format!("a: 1\n# note{c}hooli: {{id: x}}\n"), 2, 7),
                (format!("a: 1 # note{c}b: 2\n"), 1, 12),
                (format!("a: plain{c}b: 2\n"), 1, 9),
                (format!("s: |\n  one\n  two{c}b: 2\n"), 3, 6),
                (format!("k{c}: 1\n"), 1, 2),
                (format!("l:\n  - x{c}- y\n"), 2, 6),
                (format!("a: \"quoted\" # {c}\nb: 'q'\n"), 1, 15),
                (format!("{c}\na: 1\n"), 1, 1),
                // Quotes that close where a careless reading would not.
                (format!("a: \"x\\\\\" # {c}b: 2\n"), 1, 12),
                (format!("a: 'it''s' # {c}b: 2\n"), 1, 14),
                (format!("a: \"q\" # \"{c}b: 2\"\n"), 1, 11),
            ] {
                let err = parse(&text, "e.yaml").unwrap_err();
                let shown = err.to_string();
                assert!(
                    shown.starts_with(&format!("e.yaml:{line}:{column}: invalid YAML: U+")),
                    "{text:?}: {shown}"
                );
                assert!(shown.contains("no line break"), "{shown}");
                assert!(read_streaming(&text).is_none());
            }
            // Inside quotes YAML 1.1 folds lines: U+0085 is read as a line break like `\n`
            // (folded to a space), U+2028 and U+2029 are kept; either way only the value is
            // different from what a reviewer sees, nothing around it.
            let folded = |a: &str, b: &str| match c {
                '\u{85}' => format!("{a} {b}"),
                _ => format!("{a}{c}{b}"),
            };
            for (text, want) in [
                // Regression (independent try): on one line, as a reviewer sees it, it was
                // refused as if outside quotes.
                (format!("a: 'x{c}y'\n"), json!({"a": folded("x", "y")})),
                (format!("a: \"x{c}y\"\n"), json!({"a": folded("x", "y")})),
                (format!("a: 'x{c}  y'\n"), json!({"a": folded("x", "y")})),
                (
                    format!("a: \"x\\\"{c}y\"\n"),
                    json!({"a": folded("x\"", "y")}),
                ),
                (
                    format!("a: 'it''s{c}y'\n"),
                    json!({"a": folded("it's", "y")}),
                ),
                (format!("a: \"x{c}  y\"\n"), json!({"a": folded("x", "y")})),
                (
                    format!("a: \"x\\u{:04x}y\"\n", u32::from(c)),
                    json!({"a": format!("x{c}y")}),
                ),
                (
                    format!("{{k: [\"v{c} w\", '{c}']}}\n"),
                    json!({"k": [folded("v", "w"), folded("", "")]}),
                ),
            ] {
                assert_eq!(parse(&text, "e.yaml").unwrap(), want, "{text:?}");
            }
        }
    }

    /// Regression (independent try): a carriage return without a line feed is a line break to
    /// YAML, and `git diff` in a terminal prints what follows it over the start of its line: a
    /// tenant before a long comment was not seen. It is refused outside quotes; `\r\n` is a line
    /// break like any other.
    #[test]
    fn a_carriage_return_alone_is_refused_outside_quotes() {
        for (text, line, column) in [
            (
                "tenants:\n  a: {id: a}\n  b: {id: x}\r  # a comment longer than the line\n",
                3,
                13,
            ),
            ("a: 1 # x\rb: 2\n", 1, 9),
            ("a: plain\rb: 2\n", 1, 9),
            ("a: 1\r", 1, 5),
        ] {
            let shown = parse(text, "e.yaml").unwrap_err().to_string();
            assert!(
                shown.starts_with(&format!(
                    "e.yaml:{line}:{column}: invalid YAML: a carriage return (U+000D) without a line feed"
                )),
                "{text:?}: {shown}"
            );
            assert!(read_streaming(text).is_none());
        }
        assert_eq!(
            parse("a: 1\r\nb: |\r\n  x\r\n", "e.yaml").unwrap(),
            json!({"a": 1, "b": "x\n"})
        );
        assert_eq!(
            parse("a: \"x\r  y\"\n", "e.yaml").unwrap(),
            json!({"a": "x y"})
        );
        // Inside quotes a carriage return ends nothing: YAML folds it to a space there.
        assert_eq!(parse("a: 'x\ry'\n", "e.yaml").unwrap(), json!({"a": "x y"}));
    }

    /// What promote writes it reads back, whatever line breaks a string holds: serde_yaml writes
    /// the three that only YAML 1.1 reads as breaks inside quotes (or escaped), never bare.
    #[test]
    fn strings_holding_yaml_1_1_line_breaks_round_trip() {
        for c in ['\u{2028}', '\u{85}', '\u{2029}'] {
            for s in [
                format!("{c}"),
                format!("a{c}b"),
                format!("a{c}"),
                format!("{c}a"),
                format!("one\ntwo{c}three\n"),
                format!("one\n{c}\n"),
                format!("  x{c}  y  "),
                format!("# c{c}k: v"),
                format!("\"q\" \\ {c}\t\u{86}\u{7f}\u{feff}\u{1}\r\n"),
                format!("promote-escaped-0-0-end{c}"),
                format!("long {}{c}", "word ".repeat(40)),
                format!("one\r\ntwo{c}\r"),
                "crlf\r\nonly\r\n".to_owned(),
                "cr\ralone".to_owned(),
            ] {
                let v = json!({"s": s, "l": [s], s.clone(): 1, "m": {"n": s}});
                let text = to_string(&v);
                assert_eq!(parse(&text, "x").unwrap(), v, "{text:?}");
            }
        }
    }

    #[test]
    fn round_trips_awkward_strings() {
        let v = json!({"a": "yes", "b": "1.0", "c": "~", "d": " x", "e": "multi\nline\n", "f": null, "g": [1, 2.5, -3], "h": "", "i": "#x", "j": "@"});
        assert_eq!(parse(&to_string(&v), "x").unwrap(), v);
    }
}

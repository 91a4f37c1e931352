//! Reading a YAML text into a tree as the parser goes, without holding its events.
//!
//! serde_yaml reads a whole document's events (each with its position, about fifteen times the
//! text) before it builds anything; for an environment file of 10,000 tenants that is 25 MB at
//! once, and the largest thing promote holds while it loads. This reader builds the tree from
//! saphyr's parser event by event, so it holds only the tree.
//!
//! It reads what configuration is written with (maps with scalar keys, lists, plain, quoted and
//! block scalars) and gives up on anything else: tags, anchors and aliases, several documents,
//! a key that is a list or a map or that YAML reads as null, a key written twice, a number JSON
//! cannot hold, deep nesting, and any text the parser refuses; and where YAML 1.2 (saphyr) and
//! YAML 1.1 (serde_yaml's parser, libyaml) part ways: tabs, document markers, plain scalars
//! starting with an indicator or written on several lines, flow collections on several lines or
//! with a `:` not followed by a space, block scalars ending the text. The caller then reads the
//! text with [`super::parse`] (serde_yaml), which gives the tree or the error it always gave:
//! what this reader returns is what serde_yaml returns (property tests below hold it to that),
//! and errors are never its own.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};

/// Most levels of lists and maps this reader reads; deeper texts are left to serde_yaml, which
/// refuses more than 128.
const MAX_DEPTH: usize = 100;

/// The furthest, in bytes from a key's start, its `:` may be for this reader to read it:
/// serde_yaml's parser refuses a key whose `:` is more than 1,024 bytes after its start.
const MAX_KEY: usize = 1_000;

/// A list or a map being read.
enum Open {
    List(Vec<Value>),
    /// The map so far, and the key whose value comes next.
    Map(Map<String, Value>, Option<String>),
}

/// A list or a map being read, and the line of the `[` or `{` that holds it, if it is written
/// in flow style or inside a collection that is.
struct Frame {
    open: Open,
    flow_line: Option<usize>,
}

/// Returns the tree `text` holds, or `None` where it is not read here (see the module's
/// documentation). An empty text is `null`.
pub(super) fn read(text: &str) -> Option<Value> {
    if !is_plain_text(text) {
        return None;
    }
    let mut open: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    let mut source = Source::new(text);
    let ends_with_break = text.ends_with('\n');
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let flow_line = open.last().and_then(|f| f.flow_line);
        // Flow collections (`[...]`, `{...}`) on more than one line, and what YAML 1.2 reads
        // in them that YAML 1.1 does not, are left to serde_yaml.
        if flow_line.is_some_and(|line| line != span.start.line() || line != span.end.line()) {
            return None;
        }
        let value = match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Alias(_) => return None,
            Event::Scalar(_, _, anchor, ref tag) if anchor != 0 || tag.is_some() => return None,
            Event::Scalar(text, style, ..) => {
                let plain = style == ScalarStyle::Plain;
                let is_block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                // serde_yaml's parser ends a block scalar that ends the text without a line
                // break, where saphyr's adds one, and reads the lines of one that is the whole
                // document only if they are indented; the parsers fold the lines of a plain or quoted
                // scalar written on several lines differently around blank lines.
                let on_lines = span.start.line() != span.end.line();
                if is_block && (!ends_with_break || open.is_empty())
                    || !is_block && on_lines
                    || plain && starts_with_indicator(&text)
                {
                    return None;
                }
                if let Some(Frame {
                    open: Open::Map(map, key @ None),
                    ..
                }) = open.last_mut()
                {
                    // A key on more than one line, or whose `:` comes more than 1,024 bytes after
                    // its start (saphyr counts characters, and not at all in `{...}`), is
                    // refused by serde_yaml's parser.
                    let written = span.end.index() - span.start.index();
                    if on_lines || !source.colon_within(span.start.index(), written, MAX_KEY) {
                        return None;
                    }
                    let name = key_of(&text, style)?;
                    if map.contains_key(&name) {
                        return None;
                    }
                    *key = Some(name);
                    continue;
                }
                match style {
                    ScalarStyle::Plain => super::plain_scalar(&text)?,
                    _ => Value::String(text.into_owned()),
                }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_key = matches!(
                    open.last(),
                    Some(Frame {
                        open: Open::Map(_, None),
                        ..
                    })
                );
                if anchor != 0 || tag.is_some() || is_key || open.len() >= MAX_DEPTH {
                    return None;
                }
                let list = matches!(event, Event::SequenceStart(..));
                let bracket = source.char_at(span.start.index())?;
                let line = source.rest_of_line(span.start.index())?;
                let written_flow = bracket == if list { '[' } else { '{' };
                // A map inside a flow list without its braces (`[a: 1]`); a `:` with no space
                // after it (`{a:1}`, `{"a":1}`, `[a:]`), which YAML 1.2 reads as a key's end
                // and serde_yaml's parser refuses.
                if flow_line.is_some() && !written_flow
                    || flow_line.is_none() && written_flow && has_tight_colon(line)
                {
                    return None;
                }
                open.push(Frame {
                    open: if list {
                        Open::List(Vec::new())
                    } else {
                        Open::Map(Map::new(), None)
                    },
                    flow_line: flow_line.or(written_flow.then(|| span.start.line())),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop()?.open {
                Open::List(items) => Value::Array(items),
                // A map ends after a value, never between a key and its value.
                Open::Map(map, None) => Value::Object(map),
                Open::Map(_, Some(_)) => return None,
            },
        };
        match open.last_mut().map(|f| &mut f.open) {
            Some(Open::List(items)) => items.push(value),
            Some(Open::Map(map, key)) => {
                map.insert(key.take()?, value);
            }
            None if root.is_none() => root = Some(value),
            None => return None,
        }
    }
    if !open.is_empty() {
        return None;
    }
    Some(root.unwrap_or(Value::Null))
}

/// The text, read forward by character index (saphyr's positions count characters).
struct Source<'t> {
    /// The text from the character at index `at` on.
    rest: &'t str,
    at: usize,
}

impl<'t> Source<'t> {
    fn new(text: &'t str) -> Source<'t> {
        Source { rest: text, at: 0 }
    }

    /// Returns the text from the character at `index` on; `None` for an index before one
    /// asked for already.
    fn from(&mut self, index: usize) -> Option<&'t str> {
        let skip = index.checked_sub(self.at)?;
        let bytes = self
            .rest
            .char_indices()
            .nth(skip)
            .map_or(self.rest.len(), |(b, _)| b);
        self.rest = &self.rest[bytes..];
        self.at = index;
        Some(self.rest)
    }

    /// Returns the character at `index` (see [`Source::from`]).
    fn char_at(&mut self, index: usize) -> Option<char> {
        self.from(index)?.chars().next()
    }

    /// The text after the character at `index`, to the end of its line (see [`Source::from`]).
    fn rest_of_line(&mut self, index: usize) -> Option<&'t str> {
        let mut rest = self.from(index)?.chars();
        rest.next();
        let rest = rest.as_str();
        Some(rest.split('\n').next().unwrap_or(rest))
    }

    /// Whether the key written in the `written` characters from `index` has its `:` on the
    /// same line, at most `max` bytes from the key's start.
    fn colon_within(&mut self, index: usize, written: usize, max: usize) -> bool {
        let Some(from) = self.from(index) else {
            return false;
        };
        let key = from
            .char_indices()
            .nth(written)
            .map_or(from.len(), |(b, _)| b);
        let after = from[key..].trim_start_matches(' ');
        let colon = from.len() - after.len();
        after.starts_with(':') && colon < max
    }
}

/// Whether a `:` in `text` is followed by something other than a space.
fn has_tight_colon(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0] == b':' && w[1] != b' ')
        || text.ends_with(':')
}

/// Whether `text` holds nothing on which YAML's versions or its two parsers part ways: tabs,
/// characters that YAML 1.1 reads as line breaks or byte order marks, characters serde_yaml's
/// parser refuses anywhere (controls, `U+FFFE`, `U+FFFF`) and saphyr's reads, directives, and
/// document markers (`---`, `...`) at the start of a line.
fn is_plain_text(text: &str) -> bool {
    let odd = |c: char| {
        matches!(c, '\t' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}') || !is_printable(c)
    };
    !text.contains(odd)
        && !text
            .split('\n')
            .any(|line| line.starts_with(['%', '-', '.']) && is_marker_or_directive(line))
}

/// Whether serde_yaml's parser (libyaml) accepts `c` in a text: line breaks, tab, and the
/// printable characters of YAML 1.1 (not the C0 and C1 controls, `DEL`, surrogates, `U+FFFE`
/// and `U+FFFF`).
fn is_printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
        | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Whether a line that starts with `%`, `-` or `.` is a directive or a document marker.
fn is_marker_or_directive(line: &str) -> bool {
    line.starts_with('%') || line.starts_with("---") || line.starts_with("...")
}

/// Whether a plain scalar starts with a character YAML gives a meaning to (`-`, `:`, `?`, ...):
/// YAML 1.2 reads some of these as text where serde_yaml's parser does not.
fn starts_with_indicator(text: &str) -> bool {
    text.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ])
}

/// Returns the map key a scalar written in `style` is, as serde_yaml's reading and
/// [`super::key_text`] make it; `None` for a key that is null, or that YAML reads as a number
/// or a boolean (`200:`, `0x1F:`): a strict reading writes those as JSON would (`"31"`), a typed
/// one as they are written (`"0x1F"`), so they are left to serde_yaml.
fn key_of(text: &str, style: ScalarStyle) -> Option<String> {
    match style {
        ScalarStyle::Plain => match super::plain_scalar(text)? {
            Value::String(s) => Some(s),
            _ => None,
        },
        _ => Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What serde_yaml's strict reading (the one [`super::super::parse`] falls back to) makes of
    /// `text`.
    fn strict(text: &str) -> Result<Value, String> {
        serde_yaml::from_str::<super::super::Strict>(text)
            .map(|s| s.0)
            .map_err(|e| e.to_string())
    }

    /// Holds `read` to serde_yaml: whatever it reads, serde_yaml reads alike.
    fn same(text: &str) -> Result<bool, TestCaseError> {
        let Some(tree) = read(text) else {
            return Ok(false);
        };
        match strict(text) {
            Ok(expected) => prop_assert_eq!(&tree, &expected, "{:?}", text),
            Err(e) => prop_assert!(false, "read {text:?} as {tree}; serde_yaml refuses it: {e}"),
        }
        Ok(true)
    }

    #[test]
    fn reads_configuration_as_serde_yaml_does() {
        let text = "target:\n  emulator: .promote/x\nvars:\n  n: 5\n  f: 1.5\n  b: true\n  s: 'it''s'\n  d: \"a\\tb\"\n  l: [1, x, ~]\n  m: {a: 1}\n  t: |\n    one\n    two\n  e:\ntenants:\n  acme:\n    vars: {plan: gold}\n  beta: ~\n";
        assert_eq!(read(text), strict(text).ok());
        assert_eq!(read(text).unwrap()["vars"]["t"], json!("one\ntwo\n"));
        let keys = "\"a b\": 1\n'c': 2\nd  : 3\ne: {\"f\": 4, 'g' : 5}\n";
        assert_eq!(read(keys), strict(keys).ok());
        assert!(read(keys).is_some());
        assert_eq!(read(""), Some(Value::Null));
        assert_eq!(read("# only a comment\n"), Some(Value::Null));
    }

    #[test]
    fn leaves_to_serde_yaml_what_it_does_not_read() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: !custom 1\n",
            "a: 1\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "? [a]\n: 1\n",
            "a: 1\na: 2\n",
            "200: ok\n",
            "0x1F: ok\n",
            "~: x\n",
            "a: 18446744073709551616\n",
            "a: .nan\n",
            "a: [1, 2\n",
            "--- x\n...\n",
            "a: |\n  x",
            "a:\n\tb: 1\n",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(read(&deep), None);
        let fine = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(read(&fine), strict(&fine).ok());
    }

    /// Found by the independent try: saphyr's parser reads what serde_yaml's refuses, so these
    /// are left to serde_yaml, which refuses them: control characters anywhere (even in a
    /// comment), and keys whose `:` is more than 1,024 bytes from their start (in a flow map,
    /// in characters of more than one byte, or after spaces).
    #[test]
    fn what_serde_yaml_refuses_is_left_to_it() {
        let mut texts: Vec<String> = ["# \u{1}\n", "a: a\u{1b}b\n", "a: '\u{7f}'\n", "a: \u{9b}\n"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        texts.push("a: \u{fffe}\n".to_owned());
        texts.push(format!("v: {{{}: 1}}\n", "k".repeat(1_025)));
        texts.push(format!("v: {{'{}': 1}}\n", "k".repeat(1_023)));
        texts.push(format!("{}: 1\n", "é".repeat(513)));
        texts.push(format!("k{}: 1\n", " ".repeat(1_030)));
        for text in &texts {
            assert!(strict(text).is_err(), "{text:?}");
            assert_eq!(read(text), None, "{text:?}");
        }
        // Just within the limit, both read it.
        let long = format!("{}: 1\n", "é".repeat(450));
        assert_eq!(read(&long), strict(&long).ok());
        assert!(read(&long).is_some());
    }

    /// Texts made to hurt a parser: deep block nesting (no `[` or `{` for the depth check to
    /// count), long keys, many entries; each is read or left alike, and none overflows the stack.
    #[test]
    fn hostile_texts_are_read_or_left_as_serde_yaml_reads_them() {
        let mut deep_map = String::new();
        for level in 0..5_000 {
            deep_map.push_str(&" ".repeat(level));
            deep_map.push_str("a:\n");
        }
        let deep_list = format!("{}x\n", "- ".repeat(5_000));
        let long_key = format!("{}: 1\n", "k".repeat(1 << 20));
        let many: String = (0..50_000).map(|n| format!("k{n}: {n}\n")).collect();
        // Past MAX_DEPTH, and a key longer than YAML's 1,024 characters (both parsers refuse
        // it), are left; the many entries are read.
        for (text, is_read) in [
            (&deep_map, false),
            (&deep_list, false),
            (&long_key, false),
            (&many, true),
        ] {
            let read = read(text);
            if let Some(tree) = &read {
                assert_eq!(Some(tree), strict(text).ok().as_ref());
            }
            assert_eq!(read.is_some(), is_read, "{}", &text[..40]);
        }
        assert!(strict(&long_key).is_err());
    }

    /// Scalars that YAML reads in more than one way, or that quoting and plain writing treat
    /// differently.
    const AWKWARD: &[&str] = &[
        "x",
        "yes",
        "no",
        "on",
        "1.0",
        "~",
        "null",
        "Null",
        "NULL",
        "true",
        "False",
        "0x1F",
        "-0o7",
        "0b101",
        "+5",
        "-5",
        "1e3",
        "1E-3",
        ".inf",
        "-.Inf",
        ".NaN",
        "1_000",
        "007",
        "-0",
        "-0.0",
        "0.",
        ".5",
        "+.5",
        "12:30",
        "1:2",
        "a: b",
        "a:b",
        "a #b",
        "a#b",
        "#c",
        "- x",
        "-x",
        "[x]",
        "{y}",
        "'q'",
        "\"d\"",
        "é",
        "\u{2028}",
        "\u{feff}",
        "\t",
        " lead",
        "trail ",
        "",
        "a\nb",
        "a\n\nb",
        "@x",
        "`x",
        "%p",
        "!t",
        "&a",
        "*a",
        "?",
        ":",
        ",",
        "-",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.7976931348623157e309",
        "x\ty",
        "a\\b",
        "\\",
        "\"",
        "'",
        "---",
        "...",
        "<<",
        "a,b",
        "a, b",
        "|",
        ">",
        "0o",
        "0x",
        "+",
        "+-1",
        "--1",
    ];

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => proptest::sample::select(AWKWARD).prop_map(str::to_owned),
            4 => "[a-z0-9 .:#'\"-]{0,6}",
            // Around the 1,024 bytes a key may take.
            1 => (1_000usize..1_030).prop_map(|n| "k".repeat(n)),
            1 => (500usize..520).prop_map(|n| "é".repeat(n)),
        ]
    }

    /// How a scalar is written.
    #[derive(Debug, Clone, Copy)]
    enum Style {
        Plain,
        Single,
        Double,
        Literal,
        Folded,
    }

    fn style() -> impl Strategy<Value = Style> {
        prop_oneof![
            4 => Just(Style::Plain),
            1 => Just(Style::Single),
            1 => Just(Style::Double),
            1 => Just(Style::Literal),
            1 => Just(Style::Folded),
        ]
    }

    /// A tree to write, with how each part is written.
    #[derive(Debug, Clone)]
    enum Doc {
        Scalar(String, Style),
        List(Vec<Doc>, bool),
        Map(Vec<(String, Style, Doc)>, bool),
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let leaf = (scalar(), style()).prop_map(|(s, st)| Doc::Scalar(s, st));
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..5), any::<bool>())
                    .prop_map(|(items, flow)| Doc::List(items, flow)),
                (
                    prop::collection::vec((scalar(), style(), inner), 0..5),
                    any::<bool>()
                )
                    .prop_map(|(entries, flow)| Doc::Map(entries, flow)),
            ]
        })
    }

    fn write_scalar(s: &str, style: Style, indent: usize, flow: bool, out: &mut String) {
        let block = !flow && !s.is_empty();
        match style {
            Style::Single => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            Style::Double => out.push_str(&serde_json::to_string(s).unwrap()),
            Style::Literal | Style::Folded if block => {
                out.push_str(if matches!(style, Style::Literal) {
                    "|"
                } else {
                    ">"
                });
                out.push('\n');
                for line in s.split('\n') {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent));
            }
            _ => out.push_str(s),
        }
    }

    fn write(doc: &Doc, indent: usize, flow: bool, out: &mut String) {
        let pad = " ".repeat(indent);
        match doc {
            Doc::Scalar(s, style) => write_scalar(s, *style, indent, flow, out),
            Doc::List(items, as_flow) if flow || *as_flow || items.is_empty() => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    write(item, indent, true, out);
                }
                out.push(']');
            }
            Doc::Map(entries, as_flow) if flow || *as_flow || entries.is_empty() => {
                out.push('{');
                for (n, (k, style, v)) in entries.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    write_scalar(k, *style, indent, true, out);
                    out.push_str(": ");
                    write(v, indent, true, out);
                }
                out.push('}');
            }
            Doc::List(items, _) => {
                out.push('\n');
                for item in items {
                    out.push_str(&pad);
                    out.push_str("- ");
                    write(item, indent + 2, false, out);
                    out.push('\n');
                }
            }
            Doc::Map(entries, _) => {
                out.push('\n');
                for (k, style, v) in entries {
                    out.push_str(&pad);
                    write_scalar(k, *style, indent, true, out);
                    out.push_str(": ");
                    write(v, indent + 2, false, out);
                    out.push('\n');
                }
            }
        }
    }

    /// Lines that make texts YAML reads, refuses or reads in surprising ways.
    const LINES: &[&str] = &[
        "a: 1",
        "a: x",
        "b: 'q'",
        "c: \"d\\te\"",
        "- 1",
        "- x: 2",
        "  - y",
        "  k: v",
        "    k: v",
        "a:",
        "b:",
        "  c: |",
        "    text",
        "  d: >-",
        "   folded",
        "# comment",
        "---",
        "...",
        "",
        "\ta: 1",
        "a:\t1",
        "a: [1, 2]",
        "a: {x: 1}",
        "a: [1,",
        "  2]",
        "a: 'open",
        "  more'",
        "? a",
        ": b",
        "a: &x 1",
        "b: *x",
        "a: !!str 1",
        "a: b: c",
        "- - 1",
        "a: 0x1F",
        "a: 1e3",
        "a: ~",
        "a: null",
        "a: yes",
        "é: ü",
        "a: # c",
        "a: b #c",
        "key with spaces: v",
        "\"q\": 1",
        "'s': 2",
        "a: -",
        "a: '",
        "a: \"",
        "[1, 2]",
        "{a: 1}",
        "x",
        "a: |2",
        "   two",
        "a: >+",
        "",
        "%YAML 1.2",
        "a: 1 # c",
        "a: |-",
        "a: | # c",
        "  line ",
        "   ",
        "  # not a comment",
        "a: \"x",
        "  y\"",
        "a: 'x",
        "  y'",
        "- |",
        "- >",
        "  - [a, {b: c}]",
        "a: [b, c]",
        "a: {b}",
        "a: {b: }",
        "a: [,]",
        "a: {,}",
        "a: [a, ]",
        "a: ? b",
        "a: 1:",
        "a : 1",
        "a:1",
        "a: b : c",
        "- a: 1",
        "  b: 2",
        "a: \"\\u00e9\\x41\\N\\_\\L\\P\\/\"",
        "a: 'é\u{a0}'",
        "a: \u{a0}x",
        "a: \u{1}",
        "# \u{7f}",
        "a: '\u{9f}'",
        "a: \u{fffe}",
        "b: \u{10000}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Valid trees, written in every style: read as serde_yaml reads them, and mostly read
        /// at all.
        #[test]
        fn trees_read_as_serde_yaml_reads_them(doc in doc()) {
            let mut text = String::new();
            write(&doc, 0, false, &mut text);
            same(&text)?;
        }

        /// Any text built of such lines: whatever is read, serde_yaml reads alike (and refuses
        /// nothing that is read).
        #[test]
        fn texts_read_as_serde_yaml_reads_them(
            lines in prop::collection::vec(proptest::sample::select(LINES), 0..12),
            crlf in any::<bool>(),
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            same(&text)?;
        }

        /// Valid trees with one character put in, changed or taken out: whatever is read,
        /// serde_yaml reads alike.
        #[test]
        fn damaged_trees_read_as_serde_yaml_reads_them(
            doc in doc(),
            at in any::<prop::sample::Index>(),
            what in proptest::sample::select(&[
                "", " ", "  ", "\n", "\r\n", ":", ": ", "-", "- ", "#", " #", "'", "\"", "[", "]",
                "{", "}", ",", "|", ">", "?", "\\", "x", "0", "é", "\u{a0}", "\u{1}", "\u{7f}", "\u{85}", "\u{9b}",
            ][..]),
            replace in any::<bool>(),
        ) {
            let mut text = String::new();
            write(&doc, 0, false, &mut text);
            let mut bytes = text.into_bytes();
            let at = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
            if replace && at < bytes.len() {
                bytes.remove(at);
            }
            bytes.splice(at..at, what.bytes());
            if let Ok(text) = String::from_utf8(bytes) {
                same(&text)?;
            }
        }
    }

    /// Most generated trees are read here, not left to serde_yaml (the property above would
    /// hold of a reader that reads nothing).
    #[test]
    fn most_valid_trees_are_read_here() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut valid, mut read_here) = (0, 0);
        for _ in 0..2000 {
            let doc = doc().new_tree(&mut runner).unwrap().current();
            let mut text = String::new();
            write(&doc, 0, false, &mut text);
            if strict(&text).is_ok() {
                valid += 1;
                read_here += usize::from(read(&text).is_some());
            }
        }
        assert!(valid > 500, "{valid} valid texts");
        assert!(
            read_here * 10 > valid * 7,
            "{read_here} of {valid} read here"
        );
    }
}

#[cfg(test)]
mod corpus {
    use super::*;

    /// Every YAML file under the directories `$YAML_CORPUS` names (`:`-separated); prints how
    /// many were read here and fails on the first that is read differently.
    #[test]
    #[ignore = "reads a corpus named by YAML_CORPUS"]
    fn corpus_reads_as_serde_yaml_reads_it() {
        let dirs = std::env::var("YAML_CORPUS").unwrap_or_default();
        let (mut total, mut here, mut refused) = (0, 0, 0);
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            for entry in walkdir::WalkDir::new(dir)
                .into_iter()
                .filter_map(Result::ok)
            {
                let path = entry.path();
                if !matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                ) {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(path) else {
                    continue;
                };
                total += 1;
                let expected = serde_yaml::from_str::<super::super::Strict>(&text).map(|s| s.0);
                match read(&text) {
                    Some(tree) => {
                        here += 1;
                        assert_eq!(Some(&tree), expected.as_ref().ok(), "{}", path.display());
                    }
                    None => refused += usize::from(expected.is_err()),
                }
            }
        }
        println!("{total} files, {here} read here, {refused} refused by serde_yaml");
    }
}

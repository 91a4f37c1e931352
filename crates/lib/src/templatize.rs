//! Exported text as Tera templates: literal template syntax escaped, and (with `--templatize`)
//! environment-specific values replaced by the expressions that render them.
//!
//! Every file of the repository is a Tera template, so an exported value holding `{{`, `{%` or
//! `{#` (a script body, a policy) is written as an expression that renders those characters
//! ([`escape`]). With substitutions, the tenant ID and the values of the environment's and the
//! tenant's variables become `{{ tenant.id }}` and `{{ vars.NAME }}` wherever they stand as
//! whole tokens in a string (not next to a letter, digit, `_` or `-`), longest value first.
//!
//! Substituting is done on the tree, not on text: a string holding a value is replaced whole by
//! a placeholder, the tree is laid out as YAML, and each placeholder becomes the string written
//! as a template: a double-quoted YAML scalar in YAML files (so YAML never reads the rendered
//! value as a number, a comment or a flow), the raw text in sidecars. Only values that are
//! plain inside double quotes take part. The caller still renders each templatized file back
//! ([`Substitutions::render`]) and keeps the plain file wherever the result differs.

use serde_json::Value;

/// Marks the start and end of a placeholder (Unicode private use: never in configuration, and
/// YAML writes them as they are).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Values shorter than this are not substituted: two-letter values such as a region `eu` would
/// turn every such token of every description into an expression.
pub(crate) const MIN_LEN: usize = 3;

/// Writes `text` so that Tera renders it back unchanged: `{{`, `{%` and `{#` become expressions
/// that print them.
pub(crate) fn escape(text: &str) -> String {
    if !text.contains('{') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some(c @ ('{' | '%' | '#')) => {
                out.push_str("{{ \"{");
                out.push(c);
                out.push_str("\" }}");
                rest = &after[1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The inverse of [`escape`]: the expressions `escape` writes become the text they print
/// again; everything else is left as it is. Reads an export (or a backup) as the tree it holds,
/// and leaves plain YAML alone unless it spells those very expressions.
pub(crate) fn unescape(text: &str) -> String {
    if !text.contains("{{ \"{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{ \"{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "{{ \"{".len()..];
        match after.chars().next() {
            Some(c @ ('{' | '%' | '#')) if after[1..].starts_with("\" }}") => {
                out.push('{');
                out.push(c);
                rest = &after[1 + "\" }}".len()..];
            }
            _ => {
                out.push_str("{{ \"{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The values to replace by expressions, longest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Substitutions {
    /// (value, expression) pairs, longest value first.
    pairs: Vec<(String, String)>,
    /// The context the expressions render in.
    context: Value,
}

/// The strings a [`Substitutions::mark`] replaced, by placeholder number: each as a template,
/// raw (for a sidecar) and as a double-quoted YAML scalar.
#[derive(Debug, Clone, Default)]
pub(crate) struct Marked {
    strings: Vec<(String, String)>,
}

impl Marked {
    pub(crate) fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

impl Substitutions {
    /// Substitutions for a tenant rendered with `context` (the renderer's: `tenant.id`, `vars`).
    /// Only string variables with plain names (`[A-Za-z_][A-Za-z0-9_]*`) and values of at
    /// least [`MIN_LEN`] characters without quotes, backslashes, braces or control characters
    /// take part.
    pub(crate) fn new(context: Value) -> Substitutions {
        Substitutions::with_pairs(context, true)
    }

    /// Substitutions for a tenant rendered with `context` that turn no value into an
    /// expression: every value is written as it is (its `{{` escaped, so that it renders back).
    pub(crate) fn literal(context: Value) -> Substitutions {
        Substitutions::with_pairs(context, false)
    }

    fn with_pairs(context: Value, templated: bool) -> Substitutions {
        if !templated {
            return Substitutions {
                pairs: Vec::new(),
                context,
            };
        }
        let mut pairs = Vec::new();
        if let Some(id) = context.pointer("/tenant/id").and_then(Value::as_str) {
            pairs.push((id.to_owned(), "tenant.id".to_owned()));
        }
        if let Some(vars) = context.get("vars").and_then(Value::as_object) {
            for (name, value) in vars {
                if let Some(v) = value.as_str() {
                    if is_identifier(name) {
                        pairs.push((v.to_owned(), format!("vars.{name}")));
                    }
                }
            }
        }
        pairs.retain(|(v, _)| {
            v.chars().count() >= MIN_LEN
                && !v.chars().any(|c| {
                    matches!(c, '"' | '\\' | '{' | '}' | OPEN | CLOSE)
                        || crate::yaml::is_escaped_in_quotes(c)
                })
        });
        // On a tie the tenant ID, then the variables by name (the order above).
        longest_first(&mut pairs);
        Substitutions { pairs, context }
    }

    /// Whether there is anything to substitute.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Replaces every string of `tree` (not keys) holding a value as a whole token by a
    /// placeholder. A tree that already holds placeholder characters is left alone.
    pub(crate) fn mark(&self, tree: &mut Value) -> Marked {
        let mut marked = Marked::default();
        if !self.pairs.is_empty() && !holds_markers(tree) {
            self.mark_in(tree, &mut marked);
        }
        marked
    }

    fn mark_in(&self, v: &mut Value, marked: &mut Marked) {
        match v {
            Value::String(s) => {
                if let Some(segments) = segments(s, &self.pairs) {
                    let raw = self.template(&segments, false);
                    let quoted = self.template(&segments, true);
                    *s = format!("{OPEN}{}{CLOSE}", marked.strings.len());
                    marked.strings.push((raw, quoted));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.mark_in(i, marked)),
            Value::Object(map) => map.values_mut().for_each(|i| self.mark_in(i, marked)),
            _ => {}
        }
    }

    /// The template of a string made of `segments`: literal text escaped for Tera (and for a
    /// YAML double-quoted scalar when `quoted`), values as expressions.
    fn template(&self, segments: &[Segment<'_>], quoted: bool) -> String {
        let mut out = String::new();
        if quoted {
            out.push('"');
        }
        for (n, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Text(text) => {
                    let text = if quoted {
                        crate::yaml::double_quoted_body(text)
                    } else {
                        (*text).to_owned()
                    };
                    let mut escaped = escape(&text);
                    // A `{` just before an expression would open a tag with it.
                    let before_expression = matches!(segments.get(n + 1), Some(Segment::Value(_)));
                    if before_expression && escaped.ends_with('{') {
                        escaped.pop();
                        escaped.push_str("{{ \"{\" }}");
                    }
                    out.push_str(&escaped);
                }
                Segment::Value(i) => {
                    out.push_str("{{ ");
                    out.push_str(&self.pairs[*i].1);
                    out.push_str(" }}");
                }
            }
        }
        if quoted {
            out.push('"');
        }
        out
    }

    /// Turns the placeholders of `text` (the [`escape`]d text of a file laid out from a marked
    /// tree) into the marked strings' templates: quoted in a YAML file, raw in a sidecar.
    pub(crate) fn expressions(&self, text: &str, marked: &Marked, yaml: bool) -> String {
        if !text.contains(OPEN) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(OPEN) {
            out.push_str(&rest[..i]);
            let after = &rest[i + OPEN.len_utf8()..];
            let Some(end) = after.find(CLOSE) else {
                out.push_str(&rest[i..]);
                return out;
            };
            let string = after[..end]
                .parse::<usize>()
                .ok()
                .and_then(|n| marked.strings.get(n));
            match string {
                Some((raw, quoted)) => out.push_str(if yaml { quoted } else { raw }),
                None => out.push_str(&rest[i..i + OPEN.len_utf8() + end + CLOSE.len_utf8()]),
            }
            rest = &after[end + CLOSE.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    /// Renders `template` in the tenant's context.
    pub(crate) fn render(&self, template: &str) -> Result<String, tera::Error> {
        let context = tera::Context::from_value(self.context.clone())?;
        tera::Tera::one_off(template, &context, false)
    }
}

/// A piece of a string: literal text, or the value of pair `n`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Value(usize),
}

/// Whether `name` is a plain variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn holds_markers(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains([OPEN, CLOSE]),
        Value::Array(items) => items.iter().any(holds_markers),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains([OPEN, CLOSE]) || holds_markers(v)),
        _ => false,
    }
}

/// Whether `c` continues a token: letters, digits, `_` and `-`. A value is replaced only where
/// neither the character before it nor the one after it continues a token, so `contoso` is
/// replaced in `contoso.example`, `https://x/contoso/cb` and `ops@contoso.example`, but not in
/// `contoso-eu`, `contoso-group.example` or `xcontoso`: a hyphen joins names (a host label, an
/// ID), where `.`, `/`, `@` and `:` separate them.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Orders (value, replacement) pairs for [`segments`]: each value once (its first pair), longest
/// first, ties in their order.
pub(crate) fn longest_first(pairs: &mut Vec<(String, String)>) {
    let mut seen = std::collections::HashSet::new();
    pairs.retain(|(v, _)| seen.insert(v.clone()));
    pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
}

/// `s` cut into literal text and whole-token occurrences of the values (longest first), or
/// `None` when no value occurs.
pub(crate) fn segments<'a>(s: &'a str, pairs: &[(String, String)]) -> Option<Vec<Segment<'a>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < s.len() {
        let starts_token = !s[..i].chars().next_back().is_some_and(is_word);
        let found = if starts_token {
            pairs.iter().position(|(v, _)| {
                s[i..].starts_with(v.as_str())
                    && !s[i + v.len()..].chars().next().is_some_and(is_word)
            })
        } else {
            None
        };
        match found {
            Some(n) => {
                if copied < i {
                    out.push(Segment::Text(&s[copied..i]));
                }
                out.push(Segment::Value(n));
                i += pairs[n].0.len();
                copied = i;
            }
            None => i += s[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if out.is_empty() {
        return None;
    }
    if copied < s.len() {
        out.push(Segment::Text(&s[copied..]));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn subs() -> Substitutions {
        Substitutions::new(json!({
            "tenant": {"id": "acme-prod", "key": "acme"},
            "vars": {"domain": "acme.example.com", "region": "eu", "base": "example.com", "port": 8080, "bad-name": "whatever"}
        }))
    }

    fn templatized(s: &Substitutions, value: &str) -> String {
        let mut v = json!(value);
        let marked = s.mark(&mut v);
        s.expressions(&escape(v.as_str().unwrap()), &marked, false)
    }

    #[test]
    fn whole_tokens_longest_first() {
        let s = subs();
        assert_eq!(
            templatized(&s, "https://acme.example.com/cb"),
            "https://{{ vars.domain }}/cb"
        );
        assert_eq!(templatized(&s, "mail.example.com"), "mail.{{ vars.base }}");
        assert_eq!(
            templatized(&s, "acme-prod admin and xacme-prod"),
            "{{ tenant.id }} admin and xacme-prod"
        );
        // Too short, not a string, not an identifier: never substituted.
        assert_eq!(templatized(&s, "eu 8080 whatever"), "eu 8080 whatever");
    }

    /// Regression (production safety, finding 10c): `contoso` was replaced inside
    /// `iam-team@contoso-group.example`. A hyphen continues a token; `.`, `/`, `@`, `:` and
    /// spaces end one.
    #[test]
    fn only_whole_tokens_are_replaced() {
        let s = Substitutions::new(json!({
            "tenant": {"id": "contoso"},
            "vars": {"host": "contoso.example"}
        }));
        for (text, expected) in [
            (
                "iam-team@contoso-group.example",
                "iam-team@contoso-group.example",
            ),
            ("contoso-eu", "contoso-eu"),
            ("eu-contoso", "eu-contoso"),
            ("contoso_eu", "contoso_eu"),
            ("xcontoso", "xcontoso"),
            ("contoso2", "contoso2"),
            ("ops@contoso.example", "ops@{{ vars.host }}"),
            ("contoso@mail.example", "{{ tenant.id }}@mail.example"),
            (
                "https://contoso.example/contoso/cb?t=contoso",
                "https://{{ vars.host }}/{{ tenant.id }}/cb?t={{ tenant.id }}",
            ),
            (
                "https://api.contoso.example:8443",
                "https://api.{{ vars.host }}:8443",
            ),
            // The longer value is not whole here; the tenant ID, a whole label, is.
            ("contoso.example-eu", "{{ tenant.id }}.example-eu"),
            ("urn:contoso:users", "urn:{{ tenant.id }}:users"),
            ("Contoso", "Contoso"),
        ] {
            assert_eq!(templatized(&s, text), expected, "{text}");
            assert_eq!(s.render(&templatized(&s, text)).unwrap(), text);
        }
    }

    #[test]
    fn template_syntax_is_escaped_and_renders_back() {
        let s = subs();
        for text in [
            "plain",
            "{{ not a var }} {% if %} {# c #} {{{",
            "a { b } {",
            "function f() { return `${x}` }",
            "{",
            "}}",
        ] {
            let escaped = escape(text);
            assert_eq!(s.render(&escaped).unwrap(), text, "{escaped}");
        }
    }

    #[test]
    fn expressions_render_to_the_values() {
        let s = subs();
        let t = templatized(&s, "id acme-prod at https://acme.example.com {{x}}");
        assert_eq!(
            s.render(&t).unwrap(),
            "id acme-prod at https://acme.example.com {{x}}"
        );
    }

    #[test]
    fn a_tree_holding_placeholder_characters_is_left_alone() {
        let s = subs();
        let mut v = json!({"a": "acme-prod", "b": "\u{E000}0\u{E001}"});
        assert!(s.mark(&mut v).is_empty());
        assert_eq!(v["a"], "acme-prod");
    }

    #[test]
    fn yaml_reads_a_templated_scalar_as_the_string_it_was() {
        let s = Substitutions::new(json!({
            "tenant": {"id": "t1"},
            "vars": {"color": "#d564c7", "port": "8080", "flag": "true", "seq": "[a, b]"}
        }));
        let tree = json!({
            "a": "#d564c7", "b": "8080", "c": "true", "d": "[a, b]",
            "e": "multi\nline \"quoted\" \\ #d564c7 {{x}}", "f": ["8080"]
        });
        let mut marked_tree = tree.clone();
        let marked = s.mark(&mut marked_tree);
        assert!(!marked.is_empty());
        let text = s.expressions(
            &escape(&crate::yaml::to_string(&marked_tree)),
            &marked,
            true,
        );
        let rendered = s.render(&text).unwrap();
        assert_eq!(
            crate::yaml::parse(&rendered, "t.yaml").unwrap(),
            tree,
            "{text}"
        );
        assert!(text.contains("\"{{ vars.color }}\""), "{text}");
    }

    proptest! {
        #[test]
        fn marked_strings_render_back(text in "[a-z{}%# .\\-]{0,40}(acme-prod|example\\.com)?[a-z{}%# .\\-]{0,20}") {
            let s = subs();
            let t = templatized(&s, &text);
            prop_assert_eq!(s.render(&t).unwrap(), text);
        }

        #[test]
        fn unescape_undoes_escape(text in "[a-z{}%#\" \\n]{0,60}") {
            prop_assert_eq!(unescape(&escape(&text)), text);
        }
    }

    #[test]
    fn unescape_leaves_other_text_alone() {
        for plain in [
            "{{ vars.x }}",
            "{{ \"{x\" }}",
            "a {{ \"{",
            "{{ \"{{\" }",
            "{%- if %}",
        ] {
            assert_eq!(unescape(plain), plain);
        }
        assert_eq!(unescape("Hello {{ \"{{\" }} user }}"), "Hello {{ user }}");
    }
}

//! A light lexer of template source, run before Tera's parser: where each tag is, so that
//! problems found in the parsed template can name a line and column (Tera's syntax tree has no
//! positions), and limits that keep Tera's recursive parser within the stack.
//!
//! It knows only what decides where tags begin and end: `{{ }}`, `{% %}` and `{# #}`, the
//! three kinds of string literals inside tags (which may hold `}}` or `%}`), and `{% raw %}`,
//! whose content is text. It never fails: on text it does not understand (an unclosed tag) it
//! stops, and Tera's parser reports the syntax error.

/// Most levels templates nest: tags inside tags (`if`, `for`, `macro`, `block`, `filter`),
/// brackets inside an expression, and, while rendering, macro calls and includes. Each level is
/// a few frames of Tera's recursive parser and renderer; a limit keeps both far from the end of
/// the stack (which would abort the process), and no configuration needs more.
pub(crate) const MAX_NESTING: usize = 64;

/// Most bytes of one tag outside its string literals. A long chain of operators
/// (`{{ 1 + 1 + ... }}`) parses into a tree as deep as it is long, which Tera walks (and Rust
/// drops) recursively; a tag this long is already far beyond any real expression.
pub(crate) const MAX_TAG_CODE: usize = 16 << 10;

/// The kind of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `{{ ... }}`, including `{{ super() }}`.
    Expression,
    /// `{% keyword ... %}`.
    Statement,
    /// `{# ... #}`.
    Comment,
}

/// One tag of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    /// Byte offset of its opening `{`.
    pub start: usize,
    /// Byte offset just after its closing `}`.
    pub end: usize,
    pub kind: Kind,
    /// The statement's keyword (`for`, `endif`, `set_global`...), empty for other kinds.
    pub keyword: String,
}

/// Most tags (`{{ }}`, `{% %}`, `{# #}`) in one template: compiled, each takes a few KiB.
pub(crate) const MAX_TAGS: usize = 20_000;

/// Most tags in all the templates of a repository.
pub(crate) const MAX_TOTAL_TAGS: usize = 200_000;

/// Returns about how many tags `source` opens, without scanning it properly.
pub(crate) fn count_tags(source: &str) -> usize {
    ["{{", "{%", "{#"]
        .iter()
        .map(|open| source.matches(open).count())
        .sum()
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub tags: Vec<Tag>,
    /// The first limit the source breaks: (byte offset, message).
    pub problem: Option<(usize, String)>,
}

/// Returns the tags of `source`, in order, and the first limit it breaks.
pub(crate) fn scan(source: &str) -> Scan {
    let bytes = source.as_bytes();
    let mut out = Scan::default();
    let mut nesting = 0usize;
    let mut at = 0usize;
    while let Some(found) = find_open(bytes, at) {
        let start = found;
        let kind = match bytes.get(start + 1) {
            Some(b'{') => Kind::Expression,
            Some(b'%') => Kind::Statement,
            _ => Kind::Comment,
        };
        if kind == Kind::Comment {
            let Some(close) = find(bytes, b"#}", start + 2) else {
                break;
            };
            at = close + 2;
            out.tags.push(Tag {
                start,
                end: at,
                kind,
                keyword: String::new(),
            });
            continue;
        }
        let closing: &[u8] = if kind == Kind::Expression {
            b"}}"
        } else {
            b"%}"
        };
        let Some(body) = tag_body(bytes, start + 2, closing) else {
            break;
        };
        let end = body.end + 2;
        let keyword = if kind == Kind::Statement {
            keyword(&source[start + 2..body.end])
        } else {
            String::new()
        };
        if out.problem.is_none() {
            if body.code > MAX_TAG_CODE {
                out.problem = Some((
                    start,
                    format!("a tag of more than {MAX_TAG_CODE} bytes outside its strings (promote's limit)"),
                ));
            } else if body.brackets > MAX_NESTING {
                out.problem = Some((
                    start,
                    format!("brackets nested more than {MAX_NESTING} deep (promote's limit)"),
                ));
            }
        }
        match keyword.as_str() {
            "if" | "for" | "macro" | "block" | "filter" => {
                nesting += 1;
                if nesting > MAX_NESTING && out.problem.is_none() {
                    out.problem = Some((
                        start,
                        format!("tags nested more than {MAX_NESTING} deep (promote's limit)"),
                    ));
                }
            }
            "endif" | "endfor" | "endmacro" | "endblock" | "endfilter" => {
                nesting = nesting.saturating_sub(1);
            }
            _ => {}
        }
        out.tags.push(Tag {
            start,
            end,
            kind,
            keyword: keyword.clone(),
        });
        at = end;
        if keyword == "raw" {
            // The content up to `{% endraw %}` is text, whatever it holds.
            match find_endraw(source, at) {
                Some((endraw_start, endraw_end)) => {
                    out.tags.push(Tag {
                        start: endraw_start,
                        end: endraw_end,
                        kind: Kind::Statement,
                        keyword: "endraw".into(),
                    });
                    at = endraw_end;
                }
                None => break,
            }
        }
    }
    out
}

/// The inside of a tag: where it ends, its bytes outside strings, its deepest brackets.
struct Body {
    end: usize,
    code: usize,
    brackets: usize,
}

/// Reads a tag's inside from `from` up to `closing` outside string literals.
fn tag_body(bytes: &[u8], from: usize, closing: &[u8]) -> Option<Body> {
    let mut i = from;
    let mut code = 0usize;
    let mut depth = 0usize;
    let mut deepest = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if bytes[i..].starts_with(closing) {
            return Some(Body {
                end: i,
                code,
                brackets: deepest,
            });
        }
        match b {
            b'"' | b'\'' | b'`' => {
                let close = bytes[i + 1..].iter().position(|c| *c == b)?;
                i += close + 2;
                continue;
            }
            b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        code += 1;
        i += 1;
    }
    None
}

/// The first word of a statement's inside (`{%- for x in y %}` → `for`).
fn keyword(inside: &str) -> String {
    inside
        .trim_start_matches('-')
        .trim_start()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The next `{{`, `{%` or `{#` at or after `from`.
fn find_open(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && matches!(bytes[i + 1], b'{' | b'%' | b'#') {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn find(bytes: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The next `{% endraw %}` (any `-` and white space) at or after `from`: (start, end).
fn find_endraw(source: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = source.as_bytes();
    let mut at = from;
    while let Some(start) = find(bytes, b"{%", at) {
        let rest = source.get(start + 2..)?;
        let inner = rest.strip_prefix('-').unwrap_or(rest).trim_start();
        if let Some(after) = inner.strip_prefix("endraw") {
            let after = after.trim_start();
            let after = after.strip_prefix('-').unwrap_or(after);
            if after.starts_with("%}") {
                let end = source.len() - after.len() + 2;
                return Some((start, end));
            }
        }
        at = start + 2;
    }
    None
}

/// Returns `source` with `secret("NAME")` written as `secret(name="NAME")` inside tags: Tera 1
/// functions take only named arguments, and the positional form is the one people write. Text
/// outside tags and string literals inside them are left alone.
pub(crate) fn positional_secret(source: &str, tags: &[Tag]) -> Option<String> {
    const CALL: &str = "secret(";
    if !source.contains(CALL) {
        return None;
    }
    let mut out = String::with_capacity(source.len() + 16);
    let mut copied = 0usize;
    let bytes = source.as_bytes();
    for tag in tags.iter().filter(|t| t.kind != Kind::Comment) {
        let mut i = tag.start + 2;
        while i < tag.end {
            match bytes[i] {
                b'"' | b'\'' | b'`' => {
                    let quote = bytes[i];
                    match bytes[i + 1..tag.end].iter().position(|c| *c == quote) {
                        Some(close) => i += close + 2,
                        None => break,
                    }
                }
                _ if bytes[i..tag.end].starts_with(CALL.as_bytes()) => {
                    let word_before = source[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_');
                    let after = &source[i + CALL.len()..tag.end];
                    if !word_before && after.trim_start().starts_with(['"', '\'', '`']) {
                        out.push_str(&source[copied..i + CALL.len()]);
                        out.push_str("name=");
                        copied = i + CALL.len();
                    }
                    i += CALL.len();
                }
                _ => i += 1,
            }
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&source[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(Kind, String, &str)> {
        scan(source)
            .tags
            .into_iter()
            .map(|t| (t.kind, t.keyword, &source[t.start..t.end]))
            .collect()
    }

    #[test]
    fn finds_tags_strings_comments_and_raw() {
        let source = "a {{ x | replace(from=\"}}\", to='%}') }}\n{%- for i in y -%}{# {{ no } #}{% raw %}{{ text }}{% endfor %}{%- endraw %}{% endfor %}";
        let found = kinds(source);
        let shown: Vec<(Kind, &str, &str)> =
            found.iter().map(|(k, w, t)| (*k, w.as_str(), *t)).collect();
        assert_eq!(
            shown,
            vec![
                (
                    Kind::Expression,
                    "",
                    "{{ x | replace(from=\"}}\", to='%}') }}"
                ),
                (Kind::Statement, "for", "{%- for i in y -%}"),
                (Kind::Comment, "", "{# {{ no } #}"),
                (Kind::Statement, "raw", "{% raw %}"),
                (Kind::Statement, "endraw", "{%- endraw %}"),
                (Kind::Statement, "endfor", "{% endfor %}"),
            ]
        );
        assert!(scan(source).problem.is_none());
    }

    #[test]
    fn unclosed_tags_end_the_scan() {
        assert_eq!(kinds("{{ x }} {{ y").len(), 1);
        assert_eq!(kinds("{{ 'x }}").len(), 0);
        assert_eq!(kinds("{% raw %}{{ x }}").len(), 1);
        assert_eq!(kinds("{").len(), 0);
    }

    #[test]
    fn nesting_and_long_tags_are_refused() {
        let deep = format!(
            "{}x{}",
            "{% if a %}".repeat(MAX_NESTING + 1),
            "{% endif %}".repeat(MAX_NESTING + 1)
        );
        let (at, message) = scan(&deep).problem.unwrap();
        assert_eq!(at, 10 * MAX_NESTING);
        assert!(
            message.contains("tags nested more than 64 deep"),
            "{message}"
        );
        let fine = format!("{}x{}", "{% if a %}".repeat(64), "{% endif %}".repeat(64));
        assert!(scan(&fine).problem.is_none());
        let sequential = "{% if a %}{% endif %}".repeat(1000);
        assert!(scan(&sequential).problem.is_none());

        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(65), ")".repeat(65));
        assert!(scan(&parens).problem.unwrap().1.contains("brackets"));
        let long = format!("{{{{ 1{} }}}}", " + 1".repeat(5000));
        assert!(scan(&long).problem.unwrap().1.contains("16384 bytes"));
        let long_string = format!("{{{{ \"{}\" }}}}", "x".repeat(100_000));
        assert!(scan(&long_string).problem.is_none());
    }

    #[test]
    fn secret_takes_a_positional_name_inside_tags_only() {
        let source = "a: {{ secret(\"X\") }} {{ secret( 'Y') }} {{ secret(name=\"Z\") }} {{ mysecret(\"W\") }}\n# secret(\"T\") {{ \"secret('S')\" }}";
        let tags = scan(source).tags;
        assert_eq!(
            positional_secret(source, &tags).unwrap(),
            "a: {{ secret(name=\"X\") }} {{ secret(name= 'Y') }} {{ secret(name=\"Z\") }} {{ mysecret(\"W\") }}\n# secret(\"T\") {{ \"secret('S')\" }}"
        );
        assert_eq!(positional_secret("no call", &[]), None);
        let named = "{{ secret(name='A') }}";
        assert_eq!(positional_secret(named, &scan(named).tags), None);
    }
}

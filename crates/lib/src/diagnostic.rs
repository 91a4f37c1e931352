//! Errors for people.
//!
//! A [`Diagnostic`] says what is wrong, where (file, line, column), for which environment and
//! tenant, and what to do about it. Commands collect every diagnostic of a run before they stop,
//! so a user fixes all problems in one pass instead of one per run.

use std::fmt;

use serde::Serialize;

/// A place in a file of the configuration repository (or any input file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Path as the user should see it: relative to the repository when inside it.
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    /// Returns a location that names only a file.
    pub(crate) fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// Returns a location with a line and column.
    pub(crate) fn at(file: impl Into<String>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A file name is anyone's to choose (a pull request's): shown escaped like a message.
        f.write_str(&one_line_unscrubbed(&self.file, MAX_MESSAGE))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// One problem found in the user's input, with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What is wrong, one sentence.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Environment being processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Tenant key being processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// JSON pointer into the tenant tree, when the problem is about a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Returns a diagnostic with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        // A message may quote what a platform answered or what a library said: no credential
        // value this process holds survives into it, wherever the diagnostic is shown (stderr,
        // a report, the step summary a pull request shows).
        let message = printable(&message);
        Diagnostic {
            message,
            location: None,
            env: None,
            tenant: None,
            pointer: None,
            hint: None,
        }
    }

    /// Sets the location.
    pub(crate) fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets the location to a whole file.
    pub(crate) fn in_file(self, file: impl Into<String>) -> Self {
        self.at(Location::file(file))
    }

    /// Sets the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(printable(&hint.into()));
        self
    }

    /// Sets the JSON pointer.
    pub(crate) fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// Sets environment and tenant where they are not set yet.
    pub fn context(mut self, env: &str, tenant: Option<&str>) -> Self {
        self.env.get_or_insert_with(|| env.to_owned());
        if let Some(tenant) = tenant {
            self.tenant.get_or_insert_with(|| tenant.to_owned());
        }
        self
    }
}

impl std::error::Error for Diagnostic {}

/// The result of the library's functions: a value, or a diagnostic for people.
pub(crate) type Result<T, E = Diagnostic> = std::result::Result<T, E>;

/// git's own message, for `?` where the operation says enough; otherwise use [`Doing::doing`].
impl From<git2::Error> for Diagnostic {
    fn from(e: git2::Error) -> Self {
        Diagnostic::new(e.to_string())
    }
}

/// A key that cannot be a file name says why.
impl From<crate::keys::KeyError> for Diagnostic {
    fn from(e: crate::keys::KeyError) -> Self {
        Diagnostic::new(e.to_string())
    }
}

/// The operating system's message, for `?` where the operation says enough (the errors of
/// `promote_fs` name their path); otherwise use [`Doing::doing`].
impl From<std::io::Error> for Diagnostic {
    fn from(e: std::io::Error) -> Self {
        Diagnostic::new(e.to_string())
    }
}

/// Turns any error into a [`Diagnostic`] that says what was being done: `cannot read x.yaml:
/// No such file or directory`. The library's one way from a lower layer's error (I/O, git,
/// serde) to its own.
pub(crate) trait Doing<T> {
    /// The error as a diagnostic whose message is `what`, a colon, and the error.
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, Diagnostic>;
}

impl<T, E: fmt::Display> Doing<T> for Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, Diagnostic> {
        self.map_err(|e| Diagnostic::new(format!("{}: {e}", what())))
    }
}

/// The most characters of a message: what a template or a platform put into one can be large.
pub(crate) const MAX_MESSAGE: usize = 4000;

/// Returns `text` as a message shows it, whatever template or platform text it quotes: control
/// characters (terminal escapes, carriage returns) written as escapes, every line after the
/// first indented (so that none can pass for a line of its own, such as a CI system's
/// `::error::` command), and at most [`MAX_MESSAGE`] characters.
pub(crate) fn printable(text: &str) -> String {
    escaped(text, MAX_MESSAGE, Some("\n  "))
}

/// Returns `text` on one line: every control character, new lines included, written as an
/// escape, and at most `max` characters (for text of others that promote quotes inside a line,
/// such as a platform's error).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    escaped(text, max, None)
}

/// Returns `text` with control characters escaped, new lines written as `newline` (escaped when
/// `None`), and at most `max` characters, then `…`.
fn escaped(text: &str, max: usize, newline: Option<&str>) -> String {
    // Scrubbed before it is cut: a credential cut in half no longer matches its value.
    escaped_only(&crate::scrub::scrub(text), max, newline)
}

/// [`one_line`] without the scrubbing, for text that holds no credential value by
/// construction (the keys of a path) and is shown often: scrubbing looks for every value
/// registered, and an apply registers some for every tenant.
pub(crate) fn one_line_unscrubbed(text: &str, max: usize) -> String {
    escaped_only(text, max, None)
}

/// A key or value of a tree as a message quotes it: on one line, whatever it holds.
pub(crate) fn quoted(text: &str) -> String {
    one_line_unscrubbed(text, 200)
}

/// A JSON pointer as messages and reports show it: `/` for the root, its keys (which
/// templates, file names and the platform choose) escaped on one line.
pub(crate) fn pointer_text(p: &str) -> String {
    if p.is_empty() {
        "/".to_owned()
    } else {
        one_line_unscrubbed(p, MAX_MESSAGE)
    }
}

fn escaped_only(text: &str, max: usize, newline: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut line_start = true;
    for (i, (at, c)) in text.char_indices().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        let rest = &text[at..];
        match (c, newline) {
            ('\n', Some(newline)) => {
                out.push_str(newline);
                line_start = true;
                continue;
            }
            (c, _) if c.is_control() || is_invisible_or_reordering(c) => {
                out.extend(c.escape_default())
            }
            // CI runners read `::command::` at the start of a line, whatever its indent
            // (GitHub), and `##[command]` or `##vso[command]` anywhere in it (GitHub's older
            // form, Azure's): the first character is escaped so that no text promote shows is
            // one.
            _ if (line_start && rest.starts_with("::"))
                || rest.starts_with("##[")
                || rest.starts_with("##vso[") =>
            {
                out.push('\\');
                out.push(c);
            }
            (c, _) => out.push(c),
        }
        line_start = line_start && c.is_whitespace();
    }
    out
}

/// Characters that reorder the text around them on a terminal (Unicode's bidirectional
/// controls), break a line where a terminal or a log viewer may (the line and paragraph
/// separators), or show as nothing (the zero-width space, joiners and no-break space, the word
/// joiner, the soft hyphen: `na<U+200B>me` reads as `name`): shown as escapes, so that what a
/// message shows is what it says.
pub(crate) fn is_invisible_or_reordering(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
    )
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.message)?;
        match (&self.env, &self.tenant) {
            (Some(env), Some(tenant)) => write!(f, " (env {env}, tenant {tenant})")?,
            (Some(env), None) => write!(f, " (env {env})")?,
            (None, Some(tenant)) => write!(f, " (tenant {tenant})")?,
            (None, None) => {}
        }
        if let Some(pointer) = &self.pointer {
            // Shown escaped like the message (the JSON output keeps it as it is).
            write!(f, "\n  at {}", pointer_text(pointer))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Returns the 1-based (line, column) of a byte offset in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Returns where the YAML key path `keys` is written in `text`, by following the keys down
/// through increasing indentation. Used to point at a value of a rendered tree in its source
/// template; it is a best effort (templates may build keys dynamically), so it may return None.
pub(crate) fn locate_yaml_keys(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    walk_yaml_keys(text, keys, false)
}

/// As [`locate_yaml_keys`], but strictly: every key must be written, the first at the root of
/// the file and each other one at the indentation of its parent's keys, inside its parent's
/// block. Where new keys can be inserted under a map (`promote adopt`).
pub(crate) fn locate_yaml_keys_exactly(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    walk_yaml_keys(text, keys, true)
}

fn walk_yaml_keys(text: &str, keys: &[&str], exact: bool) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let mut found = None;
    let mut min_indent = 0usize;
    let mut start_line = 0usize;
    for key in keys {
        // Exactly: the indentation of the parent's keys (the root's: 0).
        let expected = match (exact, found) {
            (false, _) => None,
            (true, None) => Some(0),
            (true, Some(_)) => lines
                .iter()
                .skip(start_line)
                .find(|l| content(l))
                .map(|l| indent_of(l))
                .filter(|i| *i >= min_indent),
        };
        if exact && expected.is_none() {
            return None;
        }
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().skip(start_line) {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if let Some(expected) = expected {
                if content(line) && indent < expected {
                    break;
                }
                if indent != expected || trimmed.starts_with("- ") {
                    continue;
                }
            }
            let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
            let body = body.trim_start();
            let matches_key = [
                format!("{key}:"),
                format!("\"{key}\":"),
                format!("'{key}':"),
            ]
            .iter()
            .any(|k| body.starts_with(k.as_str()));
            if matches_key && indent >= min_indent {
                hit = Some((n, indent + (trimmed.len() - body.len())));
                break;
            }
        }
        match hit {
            Some((n, col)) => {
                found = Some((n + 1, col + 1));
                start_line = n + 1;
                min_indent = col + 1;
            }
            None if exact => return None,
            // Keys that are not written in this file (the file stem, a directory) are skipped.
            None => continue,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 18, the re-check): a file name with a new line was shown raw, and
    /// Azure's `##vso[` commands passed everywhere.
    #[test]
    fn a_file_name_is_shown_escaped() {
        let d = Diagnostic::new("bad ##vso[task.setvariable variable=x]y").at(Location::file(
            "templates/raw\n::error file=r::rawname.yaml",
        ));
        let shown = d.to_string();
        assert_eq!(
            shown,
            "templates/raw\\n::error file=r::rawname.yaml: bad \\##vso[task.setvariable variable=x]y"
        );
    }

    /// Regression (issue 18, the independent try): the pointer line under a message was shown
    /// raw, and a file name or a quoted key chosen by a pull request forged CI log commands.
    #[test]
    fn a_pointer_is_shown_escaped() {
        let d = Diagnostic::new("bad").pointer(
            "/servers/w/clients/evil\n::error file=README.md::Forged\n##[error]x\u{202E}\u{2028}\u{200B}",
        );
        let shown = d.to_string();
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(
            shown.ends_with("at /servers/w/clients/evil\\n::error file=README.md::Forged\\n\\##[error]x\\u{202e}\\u{2028}\\u{200b}"),
            "{shown}"
        );
    }

    #[test]
    fn quoted_text_cannot_drive_a_terminal_or_a_ci_log() {
        let d = Diagnostic::new("secret name `A\n::error file=x::INJECTED\x1b[31mRED\r` is bad")
            .hint("x".repeat(5000));
        let shown = d.to_string();
        assert!(
            shown.starts_with(
                "secret name `A\n  \\::error file=x::INJECTED\\u{1b}[31mRED\\r` is bad"
            ),
            "{shown}"
        );
        // GitHub's runner trims a line before it looks for `::`; `##[` counts anywhere.
        assert!(
            !shown.lines().any(|l| l.trim_start().starts_with("::")),
            "{shown}"
        );
        let older = Diagnostic::new("a ##[error]forged and \u{202E}reversed").to_string();
        assert_eq!(older, "a \\##[error]forged and \\u{202e}reversed");
        assert!(shown.chars().count() < MAX_MESSAGE + 100, "{}", shown.len());
    }

    #[test]
    fn a_credential_is_scrubbed_before_the_text_is_cut() {
        let secret = "S3cr3tValueABCDEFGHIJKLMNOPQRST-cut";
        crate::scrub::register(secret);
        let text = format!("{}myclient:{secret}", "X".repeat(965));
        let shown = one_line(&text, 1000);
        assert!(!shown.contains(&secret[..12]), "{shown}");
        assert!(shown.ends_with("myclient:<redacted>"), "{shown}");
    }

    #[test]
    fn displays_location_context_and_hint() {
        let d = Diagnostic::new("plain-text credential")
            .at(Location::at("templates/acme/x.yaml", 12, 3))
            .context("prod", Some("acme"))
            .pointer("/client_secret")
            .hint("use secret(\"NAME\")");
        assert_eq!(
            d.to_string(),
            "templates/acme/x.yaml:12:3: plain-text credential (env prod, tenant acme)\n  at /client_secret\n  hint: use secret(\"NAME\")"
        );
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn locates_nested_keys() {
        let text = "name: x\ncredentials:\n  type: a\n  client_secret: s\nclient_secret: top\n";
        assert_eq!(
            locate_yaml_keys(text, &["credentials", "client_secret"]),
            Some((4, 3))
        );
        assert_eq!(locate_yaml_keys(text, &["name"]), Some((1, 1)));
        assert_eq!(locate_yaml_keys(text, &["nothing"]), None);
        // Exactly: at the parent's indentation, never skipping a key.
        let nested = "settings:\n  metadata:\n    x: 1\nmetadata:\n  team: web\n";
        assert_eq!(locate_yaml_keys(nested, &["metadata"]), Some((2, 3)));
        assert_eq!(
            locate_yaml_keys_exactly(nested, &["metadata"]),
            Some((4, 1))
        );
        assert_eq!(
            locate_yaml_keys_exactly(nested, &["settings", "metadata", "x"]),
            Some((3, 5))
        );
        assert_eq!(
            locate_yaml_keys_exactly(nested, &["settings", "team"]),
            None
        );
        assert_eq!(
            locate_yaml_keys_exactly(nested, &["nothing", "metadata"]),
            None
        );
    }
}

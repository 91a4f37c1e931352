//! Changes and conflicts as the lines text and markdown reports show, every value whole.
//!
//! A short value is shown on the change's line; a long or multi-line string as a line diff
//! (`@@` hunks of the changed lines with [`CONTEXT`] lines around them); an object as the
//! fields that change (an added object as every field, one per line, however short); an array
//! as the items that change. No value is cut in the middle: one over [`HUGE`] bytes is summarised by its
//! size and digest, and the JSON report holds it whole. Every line is escaped like a message
//! (control characters, bidirectional controls, CI log commands), so no value ends a line, a
//! code block or a log line early.

use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::patch::pointer;
use crate::patch::three_way::{Change, ChangeKind, Conflict, Reason};

/// Unchanged lines (or items) shown around a changed one.
pub(crate) const CONTEXT: usize = 2;

/// Longest value kept on the line of its change; a longer one gets lines of its own.
const INLINE: usize = 160;

/// Bytes past which a value is summarised instead of shown.
pub(crate) const HUGE: usize = 64 * 1024;

/// How long the diff of two long texts may take before a coarser one is shown.
pub(crate) const DIFF_TIME: std::time::Duration = std::time::Duration::from_millis(100);

/// What a line is: its mark in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Something added (`+`).
    Add,
    /// Something removed (`-`).
    Remove,
    /// A change on one line, or the head of a change shown below it (`~`).
    Replace,
    /// An unchanged line shown for context.
    Context,
    /// The head of a hunk of a line diff (`@@ -a,b +c,d @@`, in the text).
    Hunk,
    /// A conflict or a remark (`!`).
    Note,
}

/// One line of a report: its mark, how deep it is nested under the change it belongs to, and
/// its text (escaped, on one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub mark: Mark,
    pub depth: usize,
    pub text: String,
}

impl Line {
    fn new(mark: Mark, depth: usize, text: impl Into<String>) -> Line {
        Line {
            mark,
            depth,
            text: text.into(),
        }
    }
}

/// How a replace of one short value is shown: on one line (`~ path: old → new`, text) or as a
/// pair of lines (`- path = old`, `+ path = new`, markdown's diff blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    OneLine,
    Pair,
}

/// `text` escaped to stay on one line, whole.
fn escaped(text: &str) -> String {
    crate::diagnostic::one_line_unscrubbed(text, usize::MAX)
}

/// One line of a multi-line value, escaped like [`escaped`] but with its tabs as they are: a
/// tab cannot end a line nor change a terminal's state, and `\t` in every line of an indented
/// script reads badly. (Each run between tabs is escaped on its own: `::` after a tab is
/// escaped as at the start of a line.)
fn escaped_line(line: &str) -> String {
    line.split('\t').map(escaped).collect::<Vec<_>>().join("\t")
}

/// A value as text and markdown reports show it, on one line: compact JSON (which escapes
/// control characters), with the characters JSON leaves as they are but a terminal or a CI
/// log reads (bidirectional controls, line separators, `##[`) escaped too. Never cut: a value
/// over [`HUGE`] bytes is summarised as its size and digest.
pub(crate) fn value_text(v: &Value, values: Values) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.len() > HUGE {
        return huge(&s, values);
    }
    escaped(&s)
}

/// Whose values a report shows: a tenant's, or a group's with each tenant's own values as
/// placeholders ([`super::group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    Real,
    Placeholders,
}

/// The summary of a value too large to show: its size, lines and digest, which a reader finds
/// again in the JSON report. A value with placeholders (`{{`) has neither: each tenant's
/// differs, and the text with placeholders is no tenant's.
pub(crate) fn huge(s: &str, values: Values) -> String {
    if values == Values::Placeholders && s.contains("{{") {
        return format!(
            "(over {} bytes, with each tenant's own values: see each tenant's in --output json)",
            super::group::thousands(HUGE)
        );
    }
    let digest = Sha1::digest(s.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "({} bytes, {} lines, sha1 {}; see --output json)",
        s.len(),
        s.lines().count(),
        &hex[..12]
    )
}

/// The text after a change's path that says why it is planned.
pub(crate) fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Desired => "",
        Reason::Drift => " (drift: restores the repository's value)",
        Reason::Conflict => " (conflict: repository wins)",
    }
}

/// The lines of change `c`.
pub(crate) fn change(c: &Change, replace: Replace, values: Values) -> Vec<Line> {
    let mut out = Vec::new();
    let reason = reason_text(c.reason);
    match c.kind {
        ChangeKind::Remove => out.push(Line::new(
            Mark::Remove,
            0,
            format!("{}{reason}", escaped_path(&c.path)),
        )),
        _ => diff(
            &c.path,
            c.old.as_ref(),
            c.new.as_ref(),
            (replace, values),
            0,
            &mut out,
        ),
    }
    if !reason.is_empty() && c.kind != ChangeKind::Remove {
        // On the line of the new value of a pair, else on the first line.
        let pair = matches!(out.as_slice(), [a, b, ..] if a.mark == Mark::Remove && b.mark == Mark::Add && a.depth == 0 && b.depth == 0);
        if let Some(line) = out.get_mut(usize::from(pair)) {
            line.text.push_str(reason);
        }
    }
    out
}

/// What `--mode` did with a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// `--mode update`: the repository's value is sent.
    RepositoryWins,
    /// `--mode ignore`: the platform's value stays.
    PlatformKept,
    /// `--mode fail`: the tenant is refused.
    Refused,
}

impl Resolution {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Resolution::RepositoryWins => "repository wins, --mode update",
            Resolution::PlatformKept => super::KEPT_WHY,
            Resolution::Refused => "refused, --mode fail",
        }
    }
}

/// The lines of conflict `c`: its path and what `--mode` did, then the three values (the last
/// applied, the platform's, the repository's). Long values are shown as what each side changed
/// since the last apply.
pub(crate) fn conflict(
    c: &Conflict,
    did: Resolution,
    replace: Replace,
    values: Values,
) -> Vec<Line> {
    let mut out = vec![Line::new(
        Mark::Note,
        0,
        format!("{} (conflict: {})", escaped_path(&c.path), did.text()),
    )];
    let short = |v: &Option<Value>| match v {
        None => Some("(absent)".to_owned()),
        Some(v) => inline(v, values),
    };
    let sides = [
        ("last applied", &c.last_applied),
        ("platform", &c.live),
        ("repository", &c.desired),
    ];
    let all_short: Option<Vec<String>> = sides.iter().map(|(_, v)| short(v)).collect();
    match all_short {
        Some(shown) => {
            for ((label, _), text) in sides.iter().zip(shown) {
                out.push(Line::new(Mark::Note, 1, format!("{label}: {text}")));
            }
        }
        None => {
            let last = c.last_applied.as_ref();
            out.push(Line::new(
                Mark::Note,
                1,
                "platform, against the last applied:",
            ));
            diff("", last, c.live.as_ref(), (replace, values), 2, &mut out);
            out.push(Line::new(
                Mark::Note,
                1,
                "repository, against the last applied:",
            ));
            diff("", last, c.desired.as_ref(), (replace, values), 2, &mut out);
        }
    }
    out
}

/// The lines of drift `c` that `--drift keep` left as the platform has it (`c` is the change
/// that would have restored the repository's value): its path and what was done, then the
/// platform's value and the repository's, or what the platform changed.
pub(crate) fn kept_drift(c: &Change, values: Values) -> Vec<Line> {
    let mut out = vec![Line::new(
        Mark::Note,
        0,
        format!("{} ({})", escaped_path(&c.path), super::KEPT_DRIFT),
    )];
    let short = |v: &Option<Value>| match v {
        None => Some("(absent)".to_owned()),
        Some(v) => inline(v, values),
    };
    match (short(&c.old), short(&c.new)) {
        (Some(platform), Some(repository)) => {
            out.push(Line::new(Mark::Note, 1, format!("platform: {platform}")));
            out.push(Line::new(
                Mark::Note,
                1,
                format!("repository: {repository}"),
            ));
        }
        _ => {
            out.push(Line::new(
                Mark::Note,
                1,
                "platform, against the repository:",
            ));
            diff(
                "",
                c.new.as_ref(),
                c.old.as_ref(),
                (Replace::Pair, values),
                2,
                &mut out,
            );
        }
    }
    out
}

/// The lines of a path the platform changed since the last apply (drift's report): on one
/// line when both values are short (`path: applied X, now Y`), else a head line and the line
/// diff from what was applied to what the platform holds. `note` follows the path's text.
pub(crate) fn drifted(
    path: &str,
    applied: Option<&Value>,
    live: Option<&Value>,
    note: &str,
) -> Vec<Line> {
    let short =
        |v: Option<&Value>| v.map_or(Some("(absent)".to_owned()), |v| inline(v, Values::Real));
    let shown = escaped_path(path);
    if let (Some(a), Some(b)) = (short(applied), short(live)) {
        return vec![Line::new(
            Mark::Note,
            0,
            format!("{shown}: applied {a}, now {b}{note}"),
        )];
    }
    let mut out = vec![Line::new(
        Mark::Note,
        0,
        format!("{shown}: changed on the platform{note}, from what was applied:"),
    )];
    diff(
        path,
        applied,
        live,
        (Replace::Pair, Values::Real),
        1,
        &mut out,
    );
    out
}

/// A path in the text of a line (relative paths under a head are shown without their `/`).
fn escaped_path(p: &str) -> String {
    crate::diagnostic::pointer_text(p)
}

/// `v` on one line when it is short enough to share the line of its change.
fn inline(v: &Value, values: Values) -> Option<String> {
    if matches!(v, Value::String(s) if s.contains('\n')) {
        return None;
    }
    let text = value_text(v, values);
    (text.chars().count() <= INLINE).then_some(text)
}

/// The lines that take `old` to `new` at `path` (`None`: absent), nested `depth` deep.
fn diff(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    (replace, values): (Replace, Values),
    depth: usize,
    out: &mut Vec<Line>,
) {
    match (old, new) {
        (None, None) => {}
        (None, Some(new)) => whole(Mark::Add, path, new, values, depth, out),
        (Some(old), None) => whole(Mark::Remove, path, old, values, depth, out),
        (Some(old), Some(new)) if old == new => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) if !a.is_empty() && !b.is_empty() => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for k in keys {
                diff(
                    &pointer::join(path, k),
                    a.get(k),
                    b.get(k),
                    (replace, values),
                    depth,
                    out,
                );
            }
        }
        (Some(old), Some(new)) => {
            if let (Some(a), Some(b)) = (inline(old, values), inline(new, values)) {
                let path = escaped_path(path);
                match replace {
                    Replace::OneLine => out.push(Line::new(
                        Mark::Replace,
                        depth,
                        format!("{path}: {a} → {b}"),
                    )),
                    Replace::Pair => {
                        out.push(Line::new(Mark::Remove, depth, format!("{path} = {a}")));
                        out.push(Line::new(Mark::Add, depth, format!("{path} = {b}")));
                    }
                }
                return;
            }
            match (as_lines(old, values), as_lines(new, values)) {
                (Some(a), Some(b)) if old.is_array() == new.is_array() => {
                    let (count, unit) = match old {
                        Value::Array(_) => (b.len(), "item(s)"),
                        _ => (b.len(), "line(s)"),
                    };
                    out.push(Line::new(
                        Mark::Replace,
                        depth,
                        format!("{}: ({count} {unit})", escaped_path(path)),
                    ));
                    hunks(&a, &b, depth + 1, out);
                }
                _ => {
                    whole(Mark::Remove, path, old, values, depth, out);
                    whole(Mark::Add, path, new, values, depth, out);
                }
            }
        }
    }
}

/// `v` as lines for a line diff: a multi-line string's lines, or an array's items one per
/// line; `None` for other values, and for a value over [`HUGE`].
fn as_lines(v: &Value, values: Values) -> Option<Vec<String>> {
    match v {
        Value::String(s) if s.contains('\n') && s.len() <= HUGE => {
            Some(s.split('\n').map(escaped_line).collect())
        }
        Value::Array(items) if !items.is_empty() => {
            let lines: Vec<String> = items.iter().map(|v| value_text(v, values)).collect();
            (lines.iter().map(String::len).sum::<usize>() <= HUGE).then_some(lines)
        }
        _ => None,
    }
}

/// All of `v` at `path`, marked `mark`: an object or array as its fields, one per line (under
/// a head line, by path relative to it), a multi-line string as its lines.
fn whole(mark: Mark, path: &str, v: &Value, values: Values, depth: usize, out: &mut Vec<Line>) {
    shown_whole(mark, &escaped_path(path), v, values, depth, out);
}

/// [`whole`] under `head`, the path as shown.
fn shown_whole(
    mark: Mark,
    head: &str,
    v: &Value,
    values: Values,
    depth: usize,
    out: &mut Vec<Line>,
) {
    match v {
        // An object field by field, however short; an array item by item unless it is a short
        // list of scalars.
        Value::Object(_) | Value::Array(_) if !is_empty(v) && !short_list(v, values) => {
            out.push(Line::new(mark, depth, format!("{head}:")));
            leaves(mark, "", v, values, depth + 1, out);
        }
        Value::String(s) if s.contains('\n') && s.len() <= HUGE => {
            out.push(Line::new(mark, depth, format!("{head}:")));
            for line in s.split('\n') {
                out.push(Line::new(
                    mark,
                    depth + 1,
                    format!("| {}", escaped_line(line)),
                ));
            }
        }
        _ => out.push(Line::new(
            mark,
            depth,
            format!("{head} = {}", value_text(v, values)),
        )),
    }
}

/// Whether `v` is an array of scalars short enough for one line.
fn short_list(v: &Value, values: Values) -> bool {
    let scalars = match v {
        Value::Array(a) => a.iter().all(|v| !v.is_object() && !v.is_array()),
        _ => false,
    };
    scalars && inline(v, values).is_some()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The fields of `v` under relative pointer `rel`, one per line, shown by their path relative
/// to the head above them (`name`, `redirect_uris/0`).
fn leaves(mark: Mark, rel: &str, v: &Value, values: Values, depth: usize, out: &mut Vec<Line>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                leaves(mark, &pointer::join(rel, k), child, values, depth, out);
            }
        }
        // A short array of scalars reads best on one line.
        Value::Array(a) if !a.is_empty() && !short_list(v, values) => {
            for (i, child) in a.iter().enumerate() {
                leaves(
                    mark,
                    &pointer::join(rel, &i.to_string()),
                    child,
                    values,
                    depth,
                    out,
                );
            }
        }
        _ => {
            let head = escaped_path(rel);
            let head = head.strip_prefix('/').unwrap_or(&head);
            shown_whole(mark, head, v, values, depth, out);
        }
    }
}

/// The hunks of a line diff of `old` against `new`: the changed lines, [`CONTEXT`] lines
/// around them.
fn hunks(old: &[String], new: &[String], depth: usize, out: &mut Vec<Line>) {
    let deadline = std::time::Instant::now() + DIFF_TIME;
    let ops =
        similar::capture_diff_slices_deadline(similar::Algorithm::Myers, old, new, Some(deadline));
    for group in similar::group_diff_ops(ops, CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o, n) = (
            first.old_range().start..last.old_range().end,
            first.new_range().start..last.new_range().end,
        );
        out.push(Line::new(
            Mark::Hunk,
            depth,
            format!(
                "@@ -{},{} +{},{} @@",
                o.start + 1,
                o.len(),
                n.start + 1,
                n.len()
            ),
        ));
        for op in &group {
            let (tag, o, n) = op.as_tag_tuple();
            match tag {
                similar::DiffTag::Equal => {
                    for line in &old[o] {
                        out.push(Line::new(Mark::Context, depth, line.clone()));
                    }
                }
                _ => {
                    for line in &old[o] {
                        out.push(Line::new(Mark::Remove, depth, line.clone()));
                    }
                    for line in &new[n] {
                        out.push(Line::new(Mark::Add, depth, line.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let mark = match l.mark {
                    Mark::Add => "+",
                    Mark::Remove => "-",
                    Mark::Replace => "~",
                    Mark::Context => " ",
                    Mark::Hunk => "",
                    Mark::Note => "!",
                };
                format!("{}{mark}{}", "  ".repeat(l.depth), l.text)
            })
            .collect()
    }

    fn replace(path: &str, old: Value, new: Value) -> Change {
        Change {
            path: path.to_owned(),
            kind: ChangeKind::Replace,
            old: Some(old),
            new: Some(new),
            reason: Reason::Desired,
        }
    }

    #[test]
    fn one_number_changed_deep_in_a_rego_shows_that_line() {
        let old: String = (1..=60)
            .map(|i| format!("rule_{i} if input.n < {i}\n"))
            .collect::<String>()
            + "max_amount := 5000\n"
            + &(61..=120)
                .map(|i| format!("rule_{i} if input.n < {i}\n"))
                .collect::<String>();
        let new = old.replace("max_amount := 5000", "max_amount := 5001");
        let lines = texts(&change(
            &replace("/policies/p/definition", json!(old), json!(new)),
            Replace::OneLine,
            Values::Real,
        ));
        assert_eq!(
            lines,
            [
                "~/policies/p/definition: (122 line(s))",
                "  @@ -59,5 +59,5 @@",
                "   rule_59 if input.n < 59",
                "   rule_60 if input.n < 60",
                "  -max_amount := 5000",
                "  +max_amount := 5001",
                "   rule_61 if input.n < 61",
                "   rule_62 if input.n < 62",
            ]
        );
    }

    #[test]
    fn short_values_stay_on_one_line_or_a_pair() {
        let c = replace("/name", json!("one"), json!("two"));
        assert_eq!(
            texts(&change(&c, Replace::OneLine, Values::Real)),
            ["~/name: \"one\" → \"two\""]
        );
        assert_eq!(
            texts(&change(&c, Replace::Pair, Values::Real)),
            ["-/name = \"one\"", "+/name = \"two\""]
        );
    }

    #[test]
    fn a_long_single_line_string_is_shown_whole_on_both_sides() {
        let old = format!("{}5000{}", "a".repeat(300), "b".repeat(300));
        let new = old.replace("5000", "5001");
        let lines = texts(&change(
            &replace("/d", json!(old), json!(new)),
            Replace::OneLine,
            Values::Real,
        ));
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("-/d = \"") && lines[0].contains("5000"));
        assert!(lines[1].starts_with("+/d = \"") && lines[1].contains("5001"));
        assert!(!lines.concat().contains('…'));
    }

    #[test]
    fn an_object_shows_the_fields_that_change() {
        let long = "x".repeat(200);
        let c = replace(
            "/servers/s/clients/c",
            json!({"name": "a", "same": long, "gone": 1, "deep": {"n": 1, "k": true}}),
            json!({"name": "b", "same": long, "new": [1, 2], "deep": {"n": 2, "k": true}}),
        );
        assert_eq!(
            texts(&change(&c, Replace::OneLine, Values::Real)),
            [
                "~/servers/s/clients/c/deep/n: 1 → 2",
                "-/servers/s/clients/c/gone = 1",
                "~/servers/s/clients/c/name: \"a\" → \"b\"",
                "+/servers/s/clients/c/new = [1,2]",
            ]
        );
    }

    #[test]
    fn an_added_object_shows_every_field_on_a_line_of_its_own() {
        let c = Change {
            path: "/servers/s/clients/new".to_owned(),
            kind: ChangeKind::Add,
            old: None,
            new: Some(json!({
                "name": "New",
                "redirect_uris": ["https://a.example.com/".repeat(5), "https://b.example.com/".repeat(5)],
                "script": "line 1\nline 2",
                "pad": "p".repeat(150),
            })),
            reason: Reason::Desired,
        };
        let lines = texts(&change(&c, Replace::OneLine, Values::Real));
        assert_eq!(lines[0], "+/servers/s/clients/new:");
        assert!(
            lines.contains(&"  +name = \"New\"".to_owned()),
            "{lines:#?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.starts_with("  +redirect_uris/1 = \"https://b")));
        assert!(lines.contains(&"  +script:".to_owned()), "{lines:#?}");
        assert!(lines.contains(&"    +| line 2".to_owned()), "{lines:#?}");
    }

    #[test]
    fn arrays_show_the_items_that_change() {
        let old: Vec<String> = (0..30)
            .map(|i| format!("https://host{i}.example.com/"))
            .collect();
        let mut new = old.clone();
        new[15] = "https://other.example.com/".to_owned();
        let lines = texts(&change(
            &replace("/uris", json!(old), json!(new)),
            Replace::Pair,
            Values::Real,
        ));
        assert_eq!(lines[0], "~/uris: (30 item(s))");
        assert_eq!(lines[1], "  @@ -14,5 +14,5 @@");
        assert!(lines.contains(&"  -\"https://host15.example.com/\"".to_owned()));
        assert!(lines.contains(&"  +\"https://other.example.com/\"".to_owned()));
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn huge_values_are_summarised_not_cut() {
        let v = json!("y".repeat(HUGE + 1));
        let text = value_text(&v, Values::Real);
        assert!(text.starts_with("(65539 bytes, 1 lines, sha1 "), "{text}");
        assert!(text.ends_with("; see --output json)"));
        let big: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let lines = texts(&change(
            &replace("/s", json!(big.clone()), json!(big + "x")),
            Replace::OneLine,
            Values::Real,
        ));
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].contains("sha1") && lines[1].contains("sha1"));
    }

    #[test]
    fn lines_are_escaped() {
        let old = "a\n::error::x\nb\n##[warning]y\n\u{202E}z\u{1b}[31m";
        let new = old.replace('b', "c");
        let lines = texts(&change(
            &replace("/s", json!(old), json!(new)),
            Replace::OneLine,
            Values::Real,
        ));
        let all = lines.join("\n");
        assert!(all.contains("  \\::error::x"), "{all}");
        assert!(all.contains("\\##[warning]y"), "{all}");
        assert!(all.contains("\\u{202e}z\\u{1b}[31m"), "{all}");
        assert!(!all.contains('\u{1b}') && !all.contains('\u{202E}'));
    }

    #[test]
    fn a_conflict_shows_the_three_values_and_what_the_mode_did() {
        let c = Conflict {
            path: "/settings/locale".to_owned(),
            last_applied: Some(json!("en-US")),
            live: Some(json!("de-DE")),
            desired: None,
        };
        assert_eq!(
            texts(&conflict(
                &c,
                Resolution::Refused,
                Replace::OneLine,
                Values::Real
            )),
            [
                "!/settings/locale (conflict: refused, --mode fail)",
                "  !last applied: \"en-US\"",
                "  !platform: \"de-DE\"",
                "  !repository: (absent)",
            ]
        );
        let text = |n: u32| -> String { (0..20).map(|i| format!("{}\n", i * n)).collect() };
        let c = Conflict {
            path: "/p".to_owned(),
            last_applied: Some(json!(text(1))),
            live: Some(json!(text(1).replace("\n7\n", "\n70\n"))),
            desired: Some(json!(text(1).replace("\n12\n", "\n120\n"))),
        };
        let lines = texts(&conflict(
            &c,
            Resolution::RepositoryWins,
            Replace::OneLine,
            Values::Real,
        ));
        assert_eq!(lines[1], "  !platform, against the last applied:");
        assert!(lines.contains(&"      +70".to_owned()), "{lines:#?}");
        assert!(lines.contains(&"      +120".to_owned()), "{lines:#?}");
    }

    /// Regression: a short added object was shown on one line (`+ /clients/new = {"a":1}`).
    #[test]
    fn a_short_added_object_is_field_by_field() {
        let c = Change {
            path: "/clients/new-two".to_owned(),
            kind: ChangeKind::Add,
            old: None,
            new: Some(json!({"client_name": "Two", "scopes": ["a", "b"], "grants": [{"t": 1}]})),
            reason: Reason::Desired,
        };
        assert_eq!(
            texts(&change(&c, Replace::OneLine, Values::Real)),
            [
                "+/clients/new-two:",
                "  +client_name = \"Two\"",
                "  +grants/0/t = 1",
                "  +scopes = [\"a\",\"b\"]",
            ]
        );
    }

    /// Regression: a tab in a multi-line value was `\t` in every diff line.
    #[test]
    fn tabs_in_diff_lines_are_kept() {
        let old = "package p\n\tallow := true\n\tdeny := false\n";
        let new = old.replace("deny := false", "deny := true");
        let lines = texts(&change(
            &replace("/s", json!(old), json!(new)),
            Replace::OneLine,
            Values::Real,
        ));
        assert!(
            lines.contains(&"  +\tdeny := true".to_owned()),
            "{lines:#?}"
        );
        // What can forge a line or a log command is still escaped, after a tab too.
        assert_eq!(
            escaped_line("a\t::error::x\u{1b}"),
            "a\t\\::error::x\\u{1b}"
        );
    }
}

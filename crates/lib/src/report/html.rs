//! The plan as one self-contained HTML page for review: a summary table of the tenants, then
//! per distinct change (one tenant, or a group of tenants with the same change, see
//! [`super::group`]) each changed object with its values side by side (before, after), and
//! each conflict with its three values. No script, no
//! style sheet or font from the network: the page opens the same offline, in a CI artifact or
//! attached to a change request. Values come from the plan, which has redacted credentials.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::Value;

use super::group::{Group, Groups};
use super::lines::{self, Values};
use super::{
    counts_text, html_escape, status_word, summary_text, worth_detailing, Sink, PLACEHOLDERS,
};
use crate::layout;
use crate::patch::pointer;
use crate::patch::three_way::{ChangeKind, Mode, Reason};
use crate::plan::{Counts, Header, Status, Summary, TenantPlan};

/// Most distinct changes whose details the page holds; the summary table lists every tenant.
const MAX_DETAILED: usize = 500;

/// Most bytes of the plans the page holds for its details.
const MAX_HELD: usize = 64 << 20;

/// A row of the summary table: a tenant.
struct TenantRow {
    key: String,
    id: String,
    status: &'static str,
    error: bool,
    counts: Counts,
}

/// The HTML page, built as the plan goes and written at the end.
pub struct Html<W: Write> {
    out: W,
    header: Option<Header>,
    rows: Vec<TenantRow>,
    groups: Groups,
}

impl<W: Write> Html<W> {
    pub fn new(out: W) -> Self {
        Html {
            out,
            header: None,
            rows: Vec::new(),
            groups: Groups::new(MAX_HELD),
        }
    }
}

/// The anchor of tenant `key`: on its details, or on its name in its group's.
fn anchor(key: &str) -> String {
    format!("t-{}", html_escape(key).replace(' ', "_"))
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1f24}\
h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right}code,pre{font:12px/1.35 ui-monospace,monospace}\
pre{margin:0;white-space:pre-wrap;word-break:break-all}\
.add{background:#e6ffec}.remove{background:#ffebe9}.replace{background:#fff8c5}.kept{background:#f6f0ff}\
.del{background:#ffcecb}.ins{background:#abf2bc}.fold{color:#656d76;font-style:italic}\
.error{color:#cf222e;font-weight:600}details{margin:.5em 0}summary{cursor:pointer;font-weight:600}\
h3{font-size:1em;margin:.8em 0 .2em}";

/// The object a change belongs to: the deepest collection entry of its path (`/servers/app/
/// clients/web`), or the tenant itself.
fn object_of(path: &str) -> String {
    let tokens = pointer::parse(path).unwrap_or_default();
    match layout::entry_prefixes(&layout::TENANT, &tokens).last() {
        Some(&n) => tokens[..n]
            .iter()
            .fold(String::new(), |acc, t| pointer::join(&acc, t)),
        None => "tenant".to_owned(),
    }
}

fn cell(v: &Option<Value>, values: Values) -> String {
    match v {
        Some(v) => format!("<pre>{}</pre>", html_escape(&pretty(v, values))),
        None => String::new(),
    }
}

/// Unchanged lines shown around a changed one; longer runs of unchanged lines are folded.
const CONTEXT: usize = 3;

/// The before and after cells of a change. When both sides have a value, what changed is
/// marked: removed lines (or words, when both are one line) in `del` on the left, added ones in
/// `ins` on the right (words are split at whitespace), and runs of unchanged lines longer than a few are folded, so that the
/// one changed line of a long script stands out.
fn cells(old: &Option<Value>, new: &Option<Value>, values: Values) -> (String, String) {
    let (Some(old), Some(new)) = (old, new) else {
        return (cell(old, values), cell(new, values));
    };
    let (old, new) = (pretty(old, values), pretty(new, values));
    let lines = old.contains('\n') || new.contains('\n');
    let mut config = similar::TextDiff::configure();
    // A pathological pair of texts gets a coarser diff, not a slow page.
    config.timeout(lines::DIFF_TIME);
    let diff = if lines {
        config.diff_lines(&old, &new)
    } else {
        config.diff_words(&old, &new)
    };
    let changes: Vec<(similar::ChangeTag, &str)> = diff
        .iter_all_changes()
        .map(|c| (c.tag(), c.value()))
        .collect();
    let (mut before, mut after) = (String::new(), String::new());
    let mut start = 0;
    while start < changes.len() {
        let tag = changes[start].0;
        let end = changes[start..]
            .iter()
            .position(|(t, _)| *t != tag)
            .map_or(changes.len(), |n| start + n);
        let run: Vec<&str> = changes[start..end].iter().map(|(_, v)| *v).collect();
        match tag {
            similar::ChangeTag::Equal => {
                let text = if lines {
                    folded(&run, start == 0, end == changes.len())
                } else {
                    html_escape(&run.concat())
                };
                before.push_str(&text);
                after.push_str(&text);
            }
            similar::ChangeTag::Delete => before.push_str(&marked("del", &run)),
            similar::ChangeTag::Insert => after.push_str(&marked("ins", &run)),
        }
        start = end;
    }
    (
        format!("<pre>{before}</pre>"),
        format!("<pre>{after}</pre>"),
    )
}

/// A run of changed lines or words in a span of `class`, line ends outside it.
fn marked(class: &str, run: &[&str]) -> String {
    let text = run.concat();
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let end = if body.len() < text.len() { "\n" } else { "" };
    format!("<span class={class}>{}</span>{end}", html_escape(body))
}

/// A run of unchanged lines, the middle folded when it is long: `CONTEXT` lines are kept next
/// to each change (none at the start or end of the text).
fn folded(run: &[&str], first: bool, last: bool) -> String {
    let head = if first { 0 } else { CONTEXT };
    let tail = if last { 0 } else { CONTEXT };
    if run.len() <= head + tail + 1 {
        return html_escape(&run.concat());
    }
    format!(
        "{}<span class=fold>… {} unchanged line(s) …</span>\n{}",
        html_escape(&run[..head].concat()),
        run.len() - head - tail,
        html_escape(&run[run.len() - tail..].concat())
    )
}

/// A value for a cell: a multi-line string as its text (so that a change deep in a script or a
/// policy shows), other scalars as JSON, structures indented; never cut: one over
/// [`lines::HUGE`] bytes is summarised, as in text and markdown.
fn pretty(v: &Value, values: Values) -> String {
    let text = match v {
        Value::String(s) if s.contains('\n') => s.clone(),
        Value::Object(_) | Value::Array(_) => serde_json::to_string_pretty(v).unwrap_or_default(),
        _ => serde_json::to_string(v).unwrap_or_default(),
    };
    if text.len() > lines::HUGE {
        lines::huge(&text, values)
    } else {
        text
    }
}

impl<W: Write> Sink for Html<W> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        self.header = Some(h.clone());
        Ok(())
    }

    fn tenant(&mut self, t: &TenantPlan) -> io::Result<()> {
        if !worth_detailing(t) {
            return Ok(());
        }
        self.groups.add(t);
        self.rows.push(TenantRow {
            key: t.key.clone(),
            id: t.id.clone(),
            status: status_word(t),
            error: t.status == Status::Error,
            counts: t.counts,
        });
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        let (title, what) = match &self.header {
            Some(h) => (
                format!(
                    "promote {}: {} against {}",
                    h.action.as_deref().unwrap_or("plan"),
                    h.env,
                    h.against
                ),
                format!(" (mode {})", h.mode.as_str()),
            ),
            None => ("promote plan".to_owned(), String::new()),
        };
        write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
<meta name=viewport content=\"width=device-width\"><title>{t}</title><style>{STYLE}</style></head>\n\
<body><h1>{t}</h1>\n<p>{}{what}.</p>\n",
            html_escape(&summary_text(s)),
            t = html_escape(&title),
        )?;
        if let Some(h) = &self.header {
            let lines = h.policy_lines();
            if !lines.is_empty() {
                writeln!(self.out, "<pre>{}</pre>", html_escape(&lines.join("\n")))?;
            }
        }
        if self.rows.is_empty() {
            writeln!(self.out, "<p>No changes.</p>")?;
        } else {
            let mut rows = String::new();
            for r in &self.rows {
                rows.push_str(&format!(
                    "<tr><td><a href=\"#{}\"><code>{}</code></a></td><td><code>{}</code></td><td{}>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>\n",
                    anchor(&r.key),
                    html_escape(&r.key),
                    html_escape(&r.id),
                    if r.error { " class=error" } else { "" },
                    r.status,
                    r.counts.add,
                    r.counts.replace,
                    r.counts.remove
                ));
            }
            writeln!(
                self.out,
                "<table id=tenants><tr><th>tenant</th><th>id</th><th>status</th><th>add</th><th>change</th><th>remove</th></tr>\n{rows}</table>"
            )?;
            let mode = self.header.as_ref().map_or(Mode::Update, |h| h.mode);
            let mut left_out = 0;
            for (i, g) in self.groups.ordered().enumerate() {
                match g.shown().filter(|_| i < MAX_DETAILED) {
                    Some(t) => self.out.write_all(block(g, &t, i, mode).as_bytes())?,
                    None => left_out += g.tenants.len(),
                }
            }
            if left_out > 0 {
                writeln!(
                    self.out,
                    "<p>The changes of {left_out} more tenant(s) are not on this page: see <code>promote plan --output json</code>.</p>"
                )?;
            }
        }
        writeln!(self.out, "</body></html>")?;
        self.out.flush()
    }
}

/// The details of group `g`, showing plan `t`: its errors, its changes by object, its
/// conflicts with their three values and what `--mode` did.
fn block(g: &Group, t: &TenantPlan, index: usize, mode: Mode) -> String {
    let status = status_word(t);
    let values = g.values();
    let (id, who) = match g.tenants.as_slice() {
        [(key, id)] => (
            anchor(key),
            format!("<code>{}</code> ({})", html_escape(key), html_escape(id)),
        ),
        _ => (format!("g-{index}"), html_escape(&g.names(20))),
    };
    let mut block = format!(
        "<details id=\"{id}\" open><summary>{who} — {status}: {}</summary>\n",
        counts_text(t.counts)
    );
    if g.tenants.len() > 1 {
        // Every tenant by name, each the anchor its row in the table links to.
        let all: Vec<String> = g
            .tenants
            .iter()
            .map(|(k, _)| format!("<code id=\"{}\">{}</code>", anchor(k), html_escape(k)))
            .collect();
        block.push_str(&format!("<p>{}</p>\n", all.join(", ")));
        if g.shows_placeholders() {
            block.push_str(&format!(
                "<p class=fold>{}</p>\n",
                html_escape(PLACEHOLDERS)
            ));
        }
    }
    for e in &t.errors {
        block.push_str(&format!(
            "<pre class=error>{}</pre>\n",
            html_escape(&e.to_string())
        ));
    }
    let mut objects: BTreeMap<String, Vec<&crate::patch::three_way::Change>> = BTreeMap::new();
    for c in &t.changes {
        objects.entry(object_of(&c.path)).or_default().push(c);
    }
    for (object, changes) in objects {
        block.push_str(&format!(
            "<h3><code>{}</code></h3>\n<table><tr><th>path</th><th>before</th><th>after</th><th>why</th></tr>\n",
            html_escape(&object)
        ));
        for c in changes {
            let class = match c.kind {
                ChangeKind::Add => "add",
                ChangeKind::Replace => "replace",
                ChangeKind::Remove => "remove",
            };
            let why = match c.reason {
                Reason::Desired => "repository",
                Reason::Drift => "drift: restores the repository's value",
                Reason::Conflict => "conflict: repository wins",
            };
            let (before, after) = cells(&c.old, &c.new, values);
            block.push_str(&format!(
                "<tr class={class}><td><code>{}</code></td><td>{before}</td><td>{after}</td><td>{why}</td></tr>\n",
                html_escape(if c.path.is_empty() { "/" } else { &c.path }),
            ));
        }
        block.push_str("</table>\n");
    }
    if !t.conflicts.is_empty() {
        let did = match mode {
            Mode::Update => "the repository's value is sent: --mode update",
            Mode::Ignore => {
                "the platform's value is kept, the repository's is not sent: --mode ignore"
            }
            Mode::Fail => "refused: --mode fail",
        };
        block.push_str("<h3>conflicts</h3>\n<table><tr><th>path</th><th>last applied</th><th>platform</th><th>repository</th><th>--mode</th></tr>\n");
        for c in &t.conflicts {
            let (platform, repository) = cells(&c.live, &c.desired, values);
            block.push_str(&format!(
                "<tr class=kept><td><code>{}</code></td><td>{}</td><td>{platform}</td><td>{repository}</td><td>{did}</td></tr>\n",
                html_escape(if c.path.is_empty() { "/" } else { &c.path }),
                cell(&c.last_applied, values),
            ));
        }
        block.push_str("</table>\n");
    }
    if !t.kept.is_empty() {
        block.push_str("<h3>drift kept</h3>\n<table><tr><th>path</th><th>platform</th><th>repository</th><th>--drift</th></tr>\n");
        for c in &t.kept {
            let (platform, repository) = cells(&c.old, &c.new, values);
            block.push_str(&format!(
                "<tr class=kept><td><code>{}</code></td><td>{platform}</td><td>{repository}</td><td>{}</td></tr>\n",
                html_escape(if c.path.is_empty() { "/" } else { &c.path }),
                super::KEPT_DRIFT,
            ));
        }
        block.push_str("</table>\n");
    }
    if !t.secrets.is_empty() {
        block.push_str(&format!(
            "<p>Secrets sent to: <code>{}</code></p>\n",
            html_escape(&t.secrets.join(", "))
        ));
    }
    block.push_str("</details>\n");
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_grouped_by_the_object_they_belong_to() {
        assert_eq!(
            object_of("/servers/app/clients/web/redirect_uris/0"),
            "/servers/app/clients/web"
        );
        assert_eq!(object_of("/servers/app/name"), "/servers/app");
        assert_eq!(object_of("/pools/users/description"), "/pools/users");
        assert_eq!(object_of("/name"), "tenant");
        assert_eq!(
            object_of("/servers/a~1b/clients/c"),
            "/servers/a~1b/clients/c"
        );
    }

    #[test]
    fn one_changed_line_of_a_long_text_is_marked_and_the_rest_folded() {
        let old: String = (1..=40).map(|i| format!("line {i};\n")).collect();
        let new = old.replace("line 20;", "line <20>;");
        let (before, after) = cells(
            &Some(Value::from(old)),
            &Some(Value::from(new)),
            Values::Real,
        );
        assert!(
            before.contains("<span class=del>line 20;</span>\n"),
            "{before}"
        );
        assert!(
            after.contains("<span class=ins>line &lt;20&gt;;</span>\n"),
            "{after}"
        );
        for side in [&before, &after] {
            assert!(
                side.starts_with("<pre><span class=fold>… 16 unchanged line(s) …</span>\nline 17;"),
                "{side}"
            );
            assert!(
                side.contains("line 23;\n<span class=fold>… 17 unchanged line(s) …</span>\n</pre>"),
                "{side}"
            );
            assert!(!side.contains("line 5;"));
        }
    }

    #[test]
    fn one_line_values_mark_the_changed_words() {
        let (before, after) = cells(
            &Some(Value::from("Initech (10 seats, silver)")),
            &Some(Value::from("Initech (12 seats, silver)")),
            Values::Real,
        );
        assert_eq!(
            before,
            "<pre>&quot;Initech <span class=del>(10</span> seats, silver)&quot;</pre>"
        );
        assert_eq!(
            after,
            "<pre>&quot;Initech <span class=ins>(12</span> seats, silver)&quot;</pre>"
        );
        // An added or removed value is shown whole.
        let (before, after) = cells(&None, &Some(Value::from(3)), Values::Real);
        assert_eq!((before.as_str(), after.as_str()), ("", "<pre>3</pre>"));
    }
}

//! The plan as one self-contained HTML page for review: a summary table of the tenants, then
//! per tenant each changed object with its values side by side (before, after). No script, no
//! style sheet or font from the network: the page opens the same offline, in a CI artifact or
//! attached to a change request. Values come from the plan, which has redacted credentials.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::Value;

use super::{counts_text, html_escape, status_word, summary_text, Sink};
use crate::layout;
use crate::patch::pointer;
use crate::patch::three_way::{ChangeKind, Reason};
use crate::plan::{Header, Status, Summary, TenantPlan};

/// Most tenants whose details the page holds; the summary table lists them all.
const MAX_DETAILED: usize = 500;

/// The HTML page, built as the plan goes and written at the end.
pub struct Html<W: Write> {
    out: W,
    header: Option<Header>,
    rows: String,
    details: String,
    detailed: usize,
    left_out: usize,
}

impl<W: Write> Html<W> {
    pub fn new(out: W) -> Self {
        Html {
            out,
            header: None,
            rows: String::new(),
            details: String::new(),
            detailed: 0,
            left_out: 0,
        }
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1f24}\
h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right}code,pre{font:12px/1.35 ui-monospace,monospace}\
pre{margin:0;white-space:pre-wrap;word-break:break-all}\
.add{background:#e6ffec}.remove{background:#ffebe9}.replace{background:#fff8c5}\
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

fn cell(v: &Option<Value>) -> String {
    match v {
        Some(v) => format!("<pre>{}</pre>", html_escape(&pretty(v))),
        None => String::new(),
    }
}

/// A value for a cell: a multi-line string as its text (so that a change deep in a script or a
/// policy shows), other scalars as JSON, structures indented; long ones cut.
fn pretty(v: &Value) -> String {
    let text = match v {
        Value::String(s) if s.contains('\n') => s.clone(),
        Value::Object(_) | Value::Array(_) => serde_json::to_string_pretty(v).unwrap_or_default(),
        _ => serde_json::to_string(v).unwrap_or_default(),
    };
    if text.chars().count() > 4000 {
        format!("{}…", text.chars().take(4000).collect::<String>())
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
        if t.status == Status::Unchanged && t.secrets.is_empty() {
            return Ok(());
        }
        let status = status_word(t);
        let anchor = format!("t-{}", html_escape(&t.key).replace(' ', "_"));
        self.rows.push_str(&format!(
            "<tr><td><a href=\"#{anchor}\"><code>{}</code></a></td><td><code>{}</code></td><td{}>{status}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>\n",
            html_escape(&t.key),
            html_escape(&t.id),
            if t.status == Status::Error { " class=error" } else { "" },
            t.counts.add,
            t.counts.replace,
            t.counts.remove
        ));
        if self.detailed >= MAX_DETAILED {
            self.left_out += 1;
            return Ok(());
        }
        self.detailed += 1;
        let mut block = format!(
            "<details id=\"{anchor}\" open><summary><code>{}</code> ({}) — {status}: {}</summary>\n",
            html_escape(&t.key),
            html_escape(&t.id),
            counts_text(t.counts)
        );
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
                block.push_str(&format!(
                    "<tr class={class}><td><code>{}</code></td><td>{}</td><td>{}</td><td>{why}</td></tr>\n",
                    html_escape(if c.path.is_empty() { "/" } else { &c.path }),
                    cell(&c.old),
                    cell(&c.new)
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
        self.details.push_str(&block);
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
        if self.rows.is_empty() {
            writeln!(self.out, "<p>No changes.</p>")?;
        } else {
            writeln!(
                self.out,
                "<table id=tenants><tr><th>tenant</th><th>id</th><th>status</th><th>add</th><th>change</th><th>remove</th></tr>\n{}</table>",
                self.rows
            )?;
            self.out.write_all(self.details.as_bytes())?;
            if self.left_out > 0 {
                writeln!(
                    self.out,
                    "<p>The changes of {} more tenant(s) are not on this page: see <code>promote plan --output json</code>.</p>",
                    self.left_out
                )?;
            }
        }
        writeln!(self.out, "</body></html>")?;
        self.out.flush()
    }
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
}
